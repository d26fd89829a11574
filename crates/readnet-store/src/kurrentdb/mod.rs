//! The KurrentDB backend: readnet's events in a KurrentDB cluster, through the official client.
//!
//! KurrentDB appends atomically to one stream only and numbers `$all` by byte offsets, so the
//! backend keeps every readnet event in **one journal stream** (`readnet-ledger` by default), in
//! commit order: an `append_multi` is one KurrentDB append to the journal, expecting the journal
//! revision the backend last saw. That expectation fences out every other writer, which makes the
//! per-stream expectations, checked against the backend's in-memory index, sound. Journal
//! revision `r` is readnet position `r + 1`, so positions are dense as the trait promises.
//!
//! After the journal append, each target stream gets a link event (`$>`, `"<revision>@<journal>"`)
//! per event, so `item-42` exists in the cluster for KurrentDB's own tools; `read_stream` reads
//! those links with links resolved. See `docs/adr/0006-kurrentdb-backend.md`.

mod deadline;
mod envelope;
mod index;
mod subscription;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, ReadStreamOptions, ResolvedEvent, StreamPosition,
};
use tokio::sync::{Mutex, watch};
use uuid::Uuid;

use crate::{
    AllFrom, AppendResult, CallOptions, CurrentRevision, Direction, EventStore, Position,
    RecordedEvent, Revision, StoreError, StreamFrom, StreamState, StreamWrite, Subscription,
};
use deadline::Deadline;
use envelope::Envelope;
use index::{Index, Plan};

/// The journal stream's default name: not `$`-prefixed (a user stream), not a ledger stream.
pub const DEFAULT_JOURNAL: &str = "readnet-ledger";

/// How many times an append is retried after the journal moved under it (another writer
/// appended) before giving up; each retry means another writer made progress.
const MAX_FENCE_RETRIES: usize = 16;

/// What an append does when another writer has appended to the journal since this backend
/// last read it (the journal fence tripped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fence {
    /// Refuse the append with `WrongExpectedVersion` on the journal stream, after reading the
    /// other writer's events: whoever decided the append did so without them. This keeps
    /// invariants that span streams (a patron's loan limit) with several readnet servers on one
    /// cluster; the command bus rebuilds its state and the command is retried. readnet serves with
    /// this.
    #[default]
    Journal,
    /// Read the other writer's events and check the append's own stream expectations again: refuse
    /// only if one of them fails, else append. Exactly the trait's per-stream guarantee, as the
    /// embedded store gives it, for tools that append independent streams.
    Streams,
}

/// Settings of a [`KurrentDbStore`].
#[derive(Clone)]
pub struct KurrentDbOptions {
    /// The journal stream. Default [`DEFAULT_JOURNAL`]. One journal is one readnet store.
    pub journal_stream: String,
    /// See [`Fence`]. Default [`Fence::Journal`].
    pub fence: Fence,
    /// What each subscription's channel holds at most, in messages and in bytes of events.
    /// Default [`crate::SUBSCRIPTION_BOUNDS`] (1024 messages, 256 KiB).
    pub subscription_buffer: crate::bounded::Bounds,
    /// The time stamped on committed events (`recorded_at_us`), microseconds since the Unix
    /// epoch. Default: the system clock.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Default for KurrentDbOptions {
    fn default() -> Self {
        KurrentDbOptions {
            journal_stream: DEFAULT_JOURNAL.to_owned(),
            fence: Fence::default(),
            subscription_buffer: crate::SUBSCRIPTION_BOUNDS,
            clock: Arc::new(|| {
                let since_epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
            }),
        }
    }
}

impl fmt::Debug for KurrentDbOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KurrentDbOptions")
            .field("journal_stream", &self.journal_stream)
            .field("fence", &self.fence)
            .field("subscription_buffer", &self.subscription_buffer)
            .finish_non_exhaustive()
    }
}

/// The links of one stream still to be written: `targets` are (journal revision, event id) of
/// the stream's revisions from `first_revision` on.
#[derive(Debug)]
struct LinkWrite {
    stream: String,
    first_revision: Revision,
    targets: Vec<(u64, Uuid)>,
}

/// Where one event landed: what the index and the links need of it.
#[derive(Debug)]
struct Placed {
    stream: String,
    revision: Revision,
    position: Position,
    event_id: Uuid,
}

impl From<RecordedEvent> for Placed {
    fn from(event: RecordedEvent) -> Self {
        Placed {
            stream: event.stream,
            revision: event.revision,
            position: event.position,
            event_id: event.event_id,
        }
    }
}

/// Adds the links of `events` (journal order) to `pending`, one write per stream.
fn add_links(pending: &mut Vec<LinkWrite>, events: &[Placed]) {
    for event in events {
        let target = (journal_revision(event.position), event.event_id);
        match pending.iter_mut().find(|w| w.stream == event.stream) {
            Some(write) => write.targets.push(target),
            None => pending.push(LinkWrite {
                stream: event.stream.clone(),
                first_revision: event.revision,
                targets: vec![target],
            }),
        }
    }
}

/// The journal revision that holds `position` (position p is journal revision p - 1).
fn journal_revision(position: Position) -> u64 {
    position
        .previous()
        .expect("a placed event has a position after the start")
        .get()
}

/// What the store, its appends and its subscriptions share.
pub(crate) struct Inner {
    settings: ClientSettings,
    /// The connection string without credentials, for messages.
    endpoint: String,
    client: RwLock<Client>,
    options: KurrentDbOptions,
    index: RwLock<Index>,
    /// The index's head, readable without the lock.
    head: AtomicU64,
    /// One append at a time; holds the links not yet written.
    writer: Mutex<Vec<LinkWrite>>,
}

/// The KurrentDB event store. See the [module docs](self).
///
/// Dropping it ends its subscriptions.
pub struct KurrentDbStore {
    inner: Arc<Inner>,
    /// Dropped with the store: subscriptions see the channel close and end.
    closed: watch::Sender<()>,
}

impl fmt::Debug for KurrentDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KurrentDbStore")
            .field("endpoint", &self.inner.endpoint)
            .field("journal", &self.inner.options.journal_stream)
            .field("head", &self.head_position())
            .finish_non_exhaustive()
    }
}

impl KurrentDbStore {
    /// Connects to KurrentDB (`kurrentdb://host:port?tls=false`, `esdb://…`,
    /// `kurrentdb+discover://…`), reads the whole journal into the index, and writes the links
    /// of the journal's last append again (they may have been cut off by a crash).
    pub async fn connect(
        connection_string: &str,
        options: KurrentDbOptions,
    ) -> Result<KurrentDbStore, StoreError> {
        let endpoint = redact(connection_string);
        if options.journal_stream.is_empty() || options.journal_stream.starts_with('$') {
            return Err(StoreError::InvalidArgument(format!(
                "journal stream {:?}: it must be a non-empty user stream name (no leading $)",
                options.journal_stream
            )));
        }
        if options.subscription_buffer.messages == 0 || options.subscription_buffer.bytes == 0 {
            return Err(StoreError::InvalidArgument(
                "the subscription buffer must be positive".into(),
            ));
        }
        let settings: ClientSettings = connection_string.parse().map_err(|e| {
            StoreError::InvalidArgument(format!("KurrentDB connection string {endpoint}: {e}"))
        })?;
        let client = new_client(&settings, &endpoint)?;
        let inner = Arc::new(Inner {
            settings,
            endpoint,
            client: RwLock::new(client),
            options,
            index: RwLock::new(Index::default()),
            head: AtomicU64::new(0),
            writer: Mutex::new(Vec::new()),
        });
        let started = Instant::now();
        let last_append = inner.load().await?;
        tracing::info!(
            endpoint = %inner.endpoint,
            journal = %inner.options.journal_stream,
            events = inner.head.load(Ordering::Acquire),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "read the journal"
        );
        {
            let mut pending = inner.writer.lock().await;
            add_links(&mut pending, &last_append);
            inner.write_links(&mut pending, &Deadline::NONE).await?;
        }
        let (closed, _) = watch::channel(());
        Ok(KurrentDbStore { inner, closed })
    }

    /// The journal stream this store reads and appends.
    pub fn journal_stream(&self) -> &str {
        &self.inner.options.journal_stream
    }
}

fn new_client(settings: &ClientSettings, endpoint: &str) -> Result<Client, StoreError> {
    Client::new(settings.clone()).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot create a KurrentDB client for {endpoint}: {e}"
        ))
    })
}

/// The connection string with any password replaced, for messages and logs.
fn redact(connection_string: &str) -> String {
    match connection_string.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, hosts)) if !user.contains('/') => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{hosts}")
            }
            _ => connection_string.to_owned(),
        },
        None => connection_string.to_owned(),
    }
}

impl Inner {
    fn journal(&self) -> &str {
        &self.options.journal_stream
    }

    fn client(&self) -> Client {
        self.client
            .read()
            .expect("the client lock is not poisoned")
            .clone()
    }

    /// Maps a client error; `what` says what was being done. A client whose connection task
    /// gave up (it stops after failing to reach the node) is replaced, so the next call connects
    /// afresh.
    fn error(&self, what: &str, error: kurrentdb::Error) -> StoreError {
        use kurrentdb::Error as E;
        let message = format!("{what} on {}: {error}", self.endpoint);
        match error {
            E::AccessDenied => StoreError::AccessDenied(format!(
                "{message} (check the user and password in the connection string)"
            )),
            E::ConnectionClosed | E::GrpcConnectionError(_) => {
                if let Ok(client) = new_client(&self.settings, &self.endpoint) {
                    *self
                        .client
                        .write()
                        .expect("the client lock is not poisoned") = client;
                }
                StoreError::Unavailable(message)
            }
            // What a node going away, a leader change or a reset stream looks like: worth a retry
            // (and a subscription reconnects on these).
            E::ServerError(_)
            | E::DeadlineExceeded
            | E::NotLeaderException(_)
            | E::IllegalStateError(_)
            | E::InternalClientError
            | E::Grpc {
                code:
                    tonic::Code::Unavailable
                    | tonic::Code::Cancelled
                    | tonic::Code::Aborted
                    | tonic::Code::Unknown,
                ..
            } => StoreError::Unavailable(message),
            _ => StoreError::Backend(message),
        }
    }

    /// Maps a client error of a call within `deadline`: the deadline running out is
    /// [`StoreError::DeadlineExceeded`], anything else as [`Inner::error`] says.
    fn call_error(&self, what: &str, error: kurrentdb::Error, deadline: &Deadline) -> StoreError {
        if deadline.ran_out(&error) {
            deadline.exceeded()
        } else {
            self.error(what, error)
        }
    }

    /// Reads `stream` with `options` within `deadline`; a stream that does not exist reads as
    /// empty.
    async fn read(
        &self,
        stream: &str,
        options: ReadStreamOptions,
        deadline: &Deadline,
    ) -> Result<Vec<ResolvedEvent>, StoreError> {
        let options = deadline.read_options(options)?;
        let what = || format!("reading {stream}");
        let read = async {
            let mut read = match self.client().read_stream(stream, &options).await {
                Ok(read) => read,
                Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
                Err(e) => return Err(self.call_error(&what(), e, deadline)),
            };
            let mut events = Vec::new();
            loop {
                match read.next().await {
                    Ok(Some(event)) => events.push(event),
                    Ok(None) => return Ok(events),
                    Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
                    Err(e) => return Err(self.call_error(&what(), e, deadline)),
                }
            }
        };
        deadline.wait(read, deadline.exceeded()).await?
    }

    /// Reads up to `max` journal events from journal revision `from` on, as readnet events
    /// with their append-end marks.
    pub(crate) async fn read_journal(
        &self,
        from: u64,
        max: usize,
        deadline: &Deadline,
    ) -> Result<Vec<(RecordedEvent, bool)>, StoreError> {
        let options = ReadStreamOptions::default()
            .position(StreamPosition::Position(from))
            .forwards()
            .max_count(max);
        self.read(self.journal(), options, deadline)
            .await?
            .iter()
            .map(|resolved| envelope::recorded_event(self.journal(), resolved.get_original_event()))
            .collect()
    }

    /// Builds the index from the whole journal; returns the events of the last append (those
    /// after the last append-end mark but one), whose links may be missing.
    async fn load(&self) -> Result<Vec<Placed>, StoreError> {
        const PAGE: usize = 4096;
        let mut last_append = Vec::new();
        let mut last_closed = false;
        let mut next = 0;
        loop {
            let page = self.read_journal(next, PAGE, &Deadline::NONE).await?;
            let full = page.len() == PAGE;
            let mut index = self.index.write().expect("the index lock is not poisoned");
            for (event, append_end) in page {
                index.push(
                    &event.stream,
                    event.revision,
                    event.position,
                    event.event_id,
                )?;
                if last_closed {
                    last_append.clear();
                }
                last_closed = append_end;
                // Position p is journal revision p - 1: the next page starts at revision p.
                next = event.position.get();
                last_append.push(Placed::from(event));
            }
            self.head.store(index.head(), Ordering::Release);
            if !full {
                return Ok(last_append);
            }
        }
    }

    /// The index's head.
    fn index_head(&self) -> u64 {
        self.index
            .read()
            .expect("the index lock is not poisoned")
            .head()
    }

    /// Publishes the index's head as [`EventStore::head_position`]. Called only once the links
    /// of every event up to it are written, so that whatever is at or below the head can be
    /// read from its stream too (a stream subscription reads the stream up to the head, then
    /// follows `$all` after it).
    fn publish_head(&self) {
        self.head.store(self.index_head(), Ordering::Release);
    }

    /// Reads the journal's events after the index's head (another writer's) into the index and
    /// queues their links. Returns the index's head before and after; the caller publishes it
    /// once the links are written.
    async fn refresh(
        &self,
        pending: &mut Vec<LinkWrite>,
        deadline: &Deadline,
    ) -> Result<(u64, u64), StoreError> {
        const PAGE: usize = 4096;
        let before = self.index_head();
        loop {
            let head = self.index_head();
            let page = self.read_journal(head, PAGE, deadline).await?;
            let full = page.len() == PAGE;
            let events: Vec<Placed> = page.into_iter().map(|(e, _)| e.into()).collect();
            {
                let mut index = self.index.write().expect("the index lock is not poisoned");
                for e in &events {
                    index.push(&e.stream, e.revision, e.position, e.event_id)?;
                }
            }
            add_links(pending, &events);
            if !full {
                return Ok((before, self.index_head()));
            }
        }
    }

    /// Writes the pending links, one append per stream, concurrently. Each append expects the
    /// stream's revision before its first link, so written links are an idempotent retry (same
    /// ids at the same place) and a link stream that is not where the journal says is an error.
    async fn write_links(
        &self,
        pending: &mut Vec<LinkWrite>,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        if pending.is_empty() {
            return Ok(());
        }
        let options = deadline.append_options(AppendToStreamOptions::default())?;
        let client = self.client();
        let writes = pending.iter().map(|write| {
            let expected = match write.first_revision.previous() {
                None => kurrentdb::StreamState::NoStream,
                Some(r) => kurrentdb::StreamState::StreamRevision(r.get()),
            };
            let links: Vec<_> = write
                .targets
                .iter()
                .map(|&(revision, id)| envelope::link(self.journal(), revision, id))
                .collect();
            let options = options.clone().stream_state(expected);
            let client = client.clone();
            async move {
                client
                    .append_to_stream(write.stream.as_str(), &options, links)
                    .await
            }
        });
        // Dropped at the deadline, the writes are still pending: written again, they are
        // recognised (same ids at the same place).
        let results = deadline
            .wait(futures::future::join_all(writes), deadline.exceeded())
            .await?;
        let mut first_error = None;
        let mut failed = Vec::new();
        for (write, result) in pending.drain(..).zip(results) {
            let Err(error) = result else { continue };
            if let kurrentdb::Error::WrongExpectedVersion { current, .. } = error {
                // Something other than this journal's writer writes that stream. The links are
                // a view for tools, derived from the journal, which stays the truth; retrying
                // could never succeed and would block every later append, so they are dropped.
                tracing::warn!(
                    stream = %write.stream,
                    endpoint = %self.endpoint,
                    journal = %self.journal(),
                    ?current,
                    first_revision = write.first_revision.get(),
                    "links not written: the stream is not where the journal says; something else writes it"
                );
                continue;
            }
            first_error.get_or_insert(self.call_error(
                &format!("writing the links of {}", write.stream),
                error,
                deadline,
            ));
            failed.push(write);
        }
        *pending = failed;
        first_error.map_or(Ok(()), Err)
    }

    /// Appends under the writer lock within `deadline`; see [`EventStore::append_multi`] and
    /// [`Fence`].
    async fn append(
        &self,
        writes: Vec<StreamWrite>,
        deadline: &Deadline,
    ) -> Result<Vec<AppendResult>, StoreError> {
        let mut pending = deadline
            .wait(self.writer.lock(), deadline.not_started())
            .await?;
        // Links an earlier append could not write come first: a stream read must not miss them.
        self.write_links(&mut pending, deadline).await?;
        self.publish_head();
        let mut fenced = 0;
        loop {
            let (plan, head) = {
                let index = self.index.read().expect("the index lock is not poisoned");
                (index.plan(&writes)?, index.head())
            };
            let first_revisions = match plan {
                Plan::Retry(results) => return Ok(results),
                Plan::New(first_revisions) => first_revisions,
            };
            let recorded_at_us = (self.options.clock)();
            let mut journal_events = Vec::new();
            let mut placed = Vec::new();
            let mut results = Vec::with_capacity(writes.len());
            let last_write = writes.len() - 1;
            for (w, (write, first_revision)) in writes.iter().zip(&first_revisions).enumerate() {
                let first_position = Position::new(head + placed.len() as u64 + 1);
                for (i, event) in write.events.iter().enumerate() {
                    let revision = Revision::new(first_revision.get() + i as u64);
                    let envelope = Envelope {
                        stream: write.stream.clone(),
                        revision: revision.get(),
                        recorded_at_us,
                        metadata: event.metadata.to_vec(),
                        append_end: w == last_write && i + 1 == write.events.len(),
                    };
                    journal_events.push(envelope::journal_event(event.clone(), &envelope)?);
                    placed.push(Placed {
                        stream: write.stream.clone(),
                        revision,
                        position: Position::new(head + placed.len() as u64 + 1),
                        event_id: event.event_id,
                    });
                }
                results.push(AppendResult {
                    next_expected_revision: Revision::new(
                        first_revision.get() + write.events.len() as u64 - 1,
                    ),
                    first_position,
                    position: Position::new(head + placed.len() as u64),
                    recorded_at_us: Some(recorded_at_us),
                });
            }
            let expected = match head {
                0 => kurrentdb::StreamState::NoStream,
                h => kurrentdb::StreamState::StreamRevision(h - 1),
            };
            let options =
                deadline.append_options(AppendToStreamOptions::default().stream_state(expected))?;
            let client = self.client();
            let appended = client.append_to_stream(self.journal(), &options, journal_events);
            match deadline.wait(appended, deadline.exceeded()).await? {
                Ok(written) => {
                    let new_head = head + placed.len() as u64;
                    if written.next_expected_version + 1 != new_head {
                        return Err(StoreError::Backend(format!(
                            "{} took an append expected at revision {} and ended at revision {}, \
                             not {}",
                            self.journal(),
                            head as i64 - 1,
                            written.next_expected_version,
                            new_head - 1
                        )));
                    }
                    {
                        let mut index = self.index.write().expect("the index lock is not poisoned");
                        for e in &placed {
                            index.push(&e.stream, e.revision, e.position, e.event_id)?;
                        }
                    }
                    // Acknowledged, and the head published, only once the links are there: a
                    // stream read after the append sees its events.
                    add_links(&mut pending, &placed);
                    self.write_links(&mut pending, deadline).await?;
                    self.publish_head();
                    return Ok(results);
                }
                Err(kurrentdb::Error::WrongExpectedVersion { .. }) => {
                    fenced += 1;
                    let (before, after) = self.refresh(&mut pending, deadline).await?;
                    self.write_links(&mut pending, deadline).await?;
                    self.publish_head();
                    tracing::debug!(before, after, "another writer appended to the journal");
                    if self.options.fence == Fence::Journal && after != before {
                        let index = self.index.read().expect("the index lock is not poisoned");
                        if let Plan::Retry(results) = index.plan(&writes)? {
                            return Ok(results);
                        }
                        return Err(StoreError::WrongExpectedVersion {
                            stream: self.journal().to_owned(),
                            expected: match before {
                                0 => StreamState::NoStream,
                                h => StreamState::Revision(Revision::new(h - 1)),
                            },
                            actual: CurrentRevision::Current(Revision::new(after - 1)),
                        });
                    }
                    if fenced > MAX_FENCE_RETRIES {
                        return Err(StoreError::Unavailable(format!(
                            "the journal {} on {} moved under {MAX_FENCE_RETRIES} attempts of one \
                             append; other writers are appending too fast",
                            self.journal(),
                            self.endpoint
                        )));
                    }
                }
                // The outcome is unknown; the next append's journal expectation finds out.
                Err(e) => {
                    let what = format!("appending to {}", self.journal());
                    return Err(self.call_error(&what, e, deadline));
                }
            }
        }
    }
}

/// Refuses malformed appends before they reach KurrentDB.
fn check_writes(writes: &[StreamWrite], journal: &str) -> Result<(), StoreError> {
    let invalid = |reason: String| Err(StoreError::InvalidArgument(reason));
    if writes.is_empty() {
        return invalid("an append needs at least one write".into());
    }
    for (i, write) in writes.iter().enumerate() {
        if write.stream.is_empty() || write.stream.starts_with('$') || write.stream == journal {
            return invalid(format!(
                "stream {:?}: readnet streams on KurrentDB are non-empty, not $-prefixed (system \
                 streams) and not the journal {journal}",
                write.stream
            ));
        }
        if write.stream.len() > crate::MAX_STREAM_NAME_BYTES {
            return invalid(format!(
                "stream name of {} bytes: at most {}",
                write.stream.len(),
                crate::MAX_STREAM_NAME_BYTES
            ));
        }
        if writes[..i].iter().any(|w| w.stream == write.stream) {
            return invalid(format!(
                "stream {} appears twice in one append",
                write.stream
            ));
        }
        if write.events.is_empty() {
            return invalid(format!("the write to {} has no events", write.stream));
        }
        if let Some(event) = write.events.iter().find(|e| e.event_type.is_empty()) {
            return invalid(format!(
                "event {} for {} has an empty type",
                event.event_id, write.stream
            ));
        }
    }
    Ok(())
}

impl KurrentDbStore {
    /// [`EventStore::read_stream`] within `deadline`.
    async fn read_stream_within(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max_count: usize,
        deadline: &Deadline,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if max_count == 0 || stream.is_empty() {
            return Ok(Vec::new());
        }
        let last = self
            .inner
            .index
            .read()
            .expect("the index lock is not poisoned")
            .revision(stream);
        let position = match (direction, from) {
            (Direction::Forwards, StreamFrom::End) => return Ok(Vec::new()),
            (Direction::Forwards, StreamFrom::Start) => StreamPosition::Start,
            (Direction::Backwards, StreamFrom::Start) => StreamPosition::Position(0),
            (Direction::Backwards, StreamFrom::End) => StreamPosition::End,
            // Reading backwards from past the end starts at the end.
            (Direction::Backwards, StreamFrom::Revision(r))
                if last.is_some_and(|last| r > last) =>
            {
                StreamPosition::End
            }
            (_, StreamFrom::Revision(r)) => StreamPosition::Position(r.get()),
        };
        let options = ReadStreamOptions::default().position(position);
        let options = match direction {
            Direction::Forwards => options.forwards(),
            Direction::Backwards => options.backwards(),
        }
        .resolve_link_tos()
        .max_count(max_count);
        let journal = self.inner.journal();
        self.inner
            .read(stream, options, deadline)
            .await?
            .into_iter()
            .map(|resolved| match (resolved.event, resolved.link) {
                (Some(event), Some(_)) if event.stream_id() == journal => {
                    let (recorded, _) = envelope::recorded_event(journal, &event)?;
                    if recorded.stream != stream {
                        return Err(StoreError::Backend(format!(
                            "a link in {stream} points at journal revision {}, an event of {}",
                            event.revision, recorded.stream
                        )));
                    }
                    Ok(recorded)
                }
                (_, Some(link)) => Err(StoreError::Backend(format!(
                    "link {} of {stream} does not resolve to an event of the journal {journal}",
                    link.revision
                ))),
                (Some(event), None) => Err(StoreError::Backend(format!(
                    "{stream} holds a {} event ({}) at revision {} that is not a link into the \
                     journal {journal}: readnet writes its streams only through the journal",
                    event.event_type, event.id, event.revision
                ))),
                (None, None) => Err(StoreError::Backend(format!(
                    "an empty read answer for {stream}"
                ))),
            })
            .collect()
    }

    /// [`EventStore::read_all`] within `deadline`.
    async fn read_all_within(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
        deadline: &Deadline,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let head = self.head_position().get();
        if max_count == 0 {
            return Ok(Vec::new());
        }
        // Position p is journal revision p - 1.
        let position = match (direction, from) {
            (Direction::Forwards, AllFrom::End) => return Ok(Vec::new()),
            (Direction::Forwards, AllFrom::Start) => StreamPosition::Start,
            (Direction::Forwards, AllFrom::Position(p)) => {
                StreamPosition::Position(p.get().max(1) - 1)
            }
            (Direction::Backwards, AllFrom::Start) => StreamPosition::Position(0),
            (Direction::Backwards, AllFrom::End) => StreamPosition::End,
            (Direction::Backwards, AllFrom::Position(p)) => match p.get() {
                0 => return Ok(Vec::new()),
                p if p > head => StreamPosition::End,
                p => StreamPosition::Position(p - 1),
            },
        };
        let options = ReadStreamOptions::default().position(position);
        let options = match direction {
            Direction::Forwards => options.forwards(),
            Direction::Backwards => options.backwards(),
        }
        .max_count(max_count);
        let journal = self.inner.journal();
        self.inner
            .read(journal, options, deadline)
            .await?
            .iter()
            .map(|resolved| {
                envelope::recorded_event(journal, resolved.get_original_event()).map(|(e, _)| e)
            })
            .collect()
    }
}

#[async_trait]
impl EventStore for KurrentDbStore {
    async fn append_multi(
        &self,
        writes: Vec<StreamWrite>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        check_writes(&writes, self.inner.journal())?;
        self.inner.append(writes, &Deadline::NONE).await
    }

    /// Passes the deadline on to every KurrentDB call the append makes.
    async fn append_multi_with(
        &self,
        writes: Vec<StreamWrite>,
        options: &CallOptions,
    ) -> Result<Vec<AppendResult>, StoreError> {
        let deadline = Deadline::of(options, "an append", ", it may still be recorded")?;
        check_writes(&writes, self.inner.journal())?;
        self.inner.append(writes, &deadline).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_within(stream, from, direction, max_count, &Deadline::NONE)
            .await
    }

    /// Passes the deadline on to the KurrentDB read.
    async fn read_stream_with(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max_count: usize,
        options: &CallOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let deadline = Deadline::of(options, "a stream read", "")?;
        self.read_stream_within(stream, from, direction, max_count, &deadline)
            .await
    }

    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_all_within(from, direction, max_count, &Deadline::NONE)
            .await
    }

    /// Passes the deadline on to the KurrentDB read.
    async fn read_all_with(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
        options: &CallOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let deadline = Deadline::of(options, "a read of $all", "")?;
        self.read_all_within(from, direction, max_count, &deadline)
            .await
    }

    async fn stream_revision(&self, stream: &str) -> Result<Option<Revision>, StoreError> {
        Ok(self
            .inner
            .index
            .read()
            .expect("the index lock is not poisoned")
            .revision(stream))
    }

    fn head_position(&self) -> Position {
        Position::new(self.inner.head.load(Ordering::Acquire))
    }

    fn subscribe_all(&self, checkpoint: Position) -> Subscription {
        let (tx, subscription) = crate::subscription(self.inner.options.subscription_buffer);
        tokio::spawn(subscription::run(
            Arc::clone(&self.inner),
            checkpoint,
            tx,
            self.closed.subscribe(),
        ));
        subscription
    }
}

/// Backoff between reconnection attempts of a subscription.
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_connection_string_is_not_shown() {
        assert_eq!(
            redact("kurrentdb://admin:changeit@db1:2113?tls=false"),
            "kurrentdb://admin:***@db1:2113?tls=false"
        );
        assert_eq!(
            redact("esdb://localhost:2113?tls=false"),
            "esdb://localhost:2113?tls=false"
        );
    }

    fn placed(stream: &str, revision: u64, position: u64, event_id: Uuid) -> Placed {
        Placed {
            stream: stream.into(),
            revision: Revision::new(revision),
            position: Position::new(position),
            event_id,
        }
    }

    #[test]
    fn links_of_one_stream_in_one_append_are_one_write() {
        let mut pending = Vec::new();
        let id = Uuid::from_u128;
        add_links(
            &mut pending,
            &[
                placed("a", 3, 10, id(1)),
                placed("b", 0, 11, id(2)),
                placed("a", 4, 12, id(3)),
            ],
        );
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].first_revision, Revision::new(3));
        assert_eq!(pending[0].targets, vec![(9, id(1)), (11, id(3))]);
    }
}
