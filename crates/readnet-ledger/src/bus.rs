//! The write side: one task owns the domain state and decides every command in turn.
//!
//! Commands queue on a bounded channel. The task takes what is waiting (up to a bound),
//! decides each against the state (applying accepted events at once, so the next command in the
//! batch sees them), appends the whole batch to the store in one atomic `append_multi` whose
//! expectations are the stream versions the decisions were made on, and replies once the store
//! has synced. One decider makes the cross-stream rules hold (an item is on at most one loan, a
//! patron stays within their limit) without locks; the expectations make the store refuse the
//! batch if anything else wrote to those streams. See docs/adr/0002.
//!
//! Events decided elsewhere ([`Decided`]: a settlement close, decided on the settlement
//! projection's statement) queue with the commands and are staged the same way, after the bus
//! has checked that their stream is still as their decision saw it. Nothing else appends ledger
//! streams (ADR 0008).
//!
//! A command id has one outcome. An accepted command's is its events; a refused one's is its
//! refusal, recorded as a `CommandRefused` in the stream `refusal-<command id>` and staged in the
//! batch like an acceptance's events, in decision order (ADR 0010). A retry with the same request
//! is answered from the log with that outcome, whatever the state has become since: an
//! acceptance's receipt at any time, a refusal within its retry window
//! ([`REFUSAL_RETRY_WINDOW`] unless the bus is started with another). A refused command's retry
//! after the window is refused as late and never decided again. The same id with another request
//! is refused as a reuse.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use readnet_domain::access::AccessView;
use readnet_domain::pb::Channel;
use readnet_domain::{
    Command, CommandContext, Ledger, LibraryCode, NewEvent, PatronKey, Payload, Refusal, Rejection,
    StreamId, decide,
};
use readnet_store::{
    AllFrom, CurrentRevision, Direction, EventData, EventStore, Position, RecordedEvent, Revision,
    StoreError, StreamState, StreamWrite,
};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::envelope::{self, DecodeError, Envelope};
use crate::error::LedgerError;
use crate::keys::KeyStore;
use crate::sealing::{KeyWork, Sealing};

/// The most commands decided and appended as one batch.
const MAX_BATCH_COMMANDS: usize = 512;
/// Commands waiting for the decider; senders wait when it is full.
const QUEUE_CAPACITY: usize = 4096;
/// Reads of the decider's state waiting to be answered; readers wait when it is full.
const READ_QUEUE_CAPACITY: usize = 1024;
/// Page size when rebuilding state from the log.
const LOAD_PAGE_EVENTS: usize = 4096;

/// How long a refused command's retries are answered with its refusal, from the moment it was
/// refused, by the server's clock: a week, so that a kiosk resending after a lost answer, a
/// night or a holiday's closure still hears what its first send was told (ADR 0010).
pub const REFUSAL_RETRY_WINDOW: TimeDelta = TimeDelta::days(7);

// A full batch must fit in the queue that feeds it, or the decider could wait on senders that
// wait on it.
const _: () = assert!(MAX_BATCH_COMMANDS > 0 && MAX_BATCH_COMMANDS <= QUEUE_CAPACITY);

/// A command ready to decide.
#[derive(Debug)]
pub struct Submission {
    pub command_id: Uuid,
    pub correlation_id: Option<Uuid>,
    /// Tells a retry from a reuse of the command id: see [`digest`].
    pub digest: [u8; 32],
    pub command: Command,
    pub ctx: CommandContext,
    /// When the server took the request, by its clock (not the desk's `ctx.occurred_at`, which a
    /// client may backdate): a refusal records it, and a retry's window is measured on it.
    pub received_at: DateTime<Utc>,
}

/// What a command wrote.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub command_id: Uuid,
    /// The command id had been carried out before: these are the original events.
    pub duplicate: bool,
    pub events: Vec<RecordedEvent>,
}

/// An event decided outside [`decide`] and recorded through the bus, which stays the ledger's one
/// writer: a settlement close, decided on the settlement projection's statement.
#[derive(Debug, Clone)]
pub struct Decided {
    pub command_id: Uuid,
    pub correlation_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    /// The principal that decided it (checked by the edge that asked).
    pub principal: String,
    /// Only the `settlement` stream takes decided events: `decide` owns every other stream.
    pub stream: StreamId,
    /// What the decision saw of the stream. If the stream has changed since, the event is
    /// refused with [`StoreError::WrongExpectedVersion`] and nothing else in its batch suffers.
    pub expected: StreamState,
    /// The event's id, chosen by the decider: a close's id names its period, so that two servers
    /// closing the same period write the same event and the store takes the second as a retry.
    pub event_id: Uuid,
    pub payload: Payload,
}

/// What a job asks the decider to record.
enum Work {
    Command(Submission),
    Decided(Decided),
}

/// Decided events carry no request digest: a command id used for one cannot be reused.
const NO_DIGEST: [u8; 32] = [0; 32];

impl Work {
    fn command_id(&self) -> Uuid {
        match self {
            Work::Command(s) => s.command_id,
            Work::Decided(d) => d.command_id,
        }
    }

    fn digest(&self) -> [u8; 32] {
        match self {
            Work::Command(s) => s.digest,
            Work::Decided(_) => NO_DIGEST,
        }
    }

    /// When the server took the work, by its clock.
    fn received_at(&self) -> DateTime<Utc> {
        match self {
            Work::Command(s) => s.received_at,
            Work::Decided(d) => d.occurred_at,
        }
    }

    /// The envelope of the work's `index`-th event.
    fn envelope(&self, index: usize) -> Envelope<'_> {
        match self {
            Work::Command(s) => Envelope {
                occurred_at: s.ctx.occurred_at,
                acting_library: s
                    .ctx
                    .acting_library
                    .as_ref()
                    .map_or("", LibraryCode::as_str),
                channel: s.ctx.channel,
                command_id: Some(s.command_id),
                correlation_id: s.correlation_id,
                command_digest: (index == 0).then_some(&s.digest),
                principal: s.ctx.caller.principal_name(),
            },
            Work::Decided(d) => Envelope {
                occurred_at: d.occurred_at,
                acting_library: "",
                channel: Channel::System,
                command_id: Some(d.command_id),
                correlation_id: d.correlation_id,
                command_digest: None,
                principal: &d.principal,
            },
        }
    }

    fn event_id(&self, index: usize) -> Uuid {
        match self {
            Work::Command(s) => envelope::event_id(s.command_id, index as u32),
            Work::Decided(d) => d.event_id,
        }
    }
}

struct Job {
    work: Work,
    reply: Reply,
}

/// A read of the decider's state, answered between batches: the state then is the one every
/// acknowledged command left (no decided-but-unwritten event is in it), or the reason there is
/// none to read.
type Read = Box<dyn FnOnce(Result<&Ledger, LedgerError>) + Send>;

/// Where a command's events are in `$all`.
#[derive(Debug, Clone, Copy)]
struct CommandRecord {
    first_position: Position,
    count: u32,
    digest: [u8; 32],
    /// When the command was refused, if it was: its one event is its `CommandRefused`.
    refused_at: Option<DateTime<Utc>>,
}

/// The handle the services use to run commands.
#[derive(Clone)]
pub struct CommandBus {
    queue: mpsc::Sender<Job>,
    reads: mpsc::Sender<Read>,
    writable: watch::Receiver<bool>,
    access: watch::Receiver<Arc<AccessView>>,
}

impl CommandBus {
    /// Rebuilds the state from the store's log and starts the decider task, answering retries
    /// of refused commands for [`REFUSAL_RETRY_WINDOW`].
    pub async fn start(store: Arc<dyn EventStore>) -> Result<Self, LedgerError> {
        Self::start_with(store, REFUSAL_RETRY_WINDOW).await
    }

    /// [`CommandBus::start`], answering retries of refused commands with their refusal for
    /// `refusal_window` after each refusal.
    ///
    /// # Panics
    /// If `refusal_window` is not positive.
    pub async fn start_with(
        store: Arc<dyn EventStore>,
        refusal_window: TimeDelta,
    ) -> Result<Self, LedgerError> {
        Self::start_sealed(store, refusal_window, None).await
    }

    /// [`CommandBus::start_with`], sealing every patron id it records under the patrons' keys
    /// in `keys` (ADR 0018). Without a key store, ids are recorded in the clear, and a log that
    /// holds sealed ids does not load.
    ///
    /// # Panics
    /// If `refusal_window` is not positive.
    pub async fn start_sealed(
        store: Arc<dyn EventStore>,
        refusal_window: TimeDelta,
        keys: Option<Arc<KeyStore>>,
    ) -> Result<Self, LedgerError> {
        assert!(
            refusal_window > TimeDelta::zero(),
            "a refusal's retry window is positive"
        );
        let model = WriteModel::load(store.as_ref(), keys).await?;
        tracing::info!(
            events = store.head_position().get(),
            items = model.ledger.items.len(),
            patrons = model.ledger.patrons.len(),
            "state rebuilt from the log"
        );
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let (reads, read_jobs) = mpsc::channel(READ_QUEUE_CAPACITY);
        let (writable, writable_watch) = watch::channel(true);
        let (access, access_watch) =
            watch::channel(Arc::new(AccessView::of(&model.ledger.network)));
        let decider = Decider {
            published_network_version: model.ledger.network.version,
            refusal_window,
            store,
            model,
            writable,
            access,
            failed: None,
            stale: None,
        };
        tokio::spawn(run(decider, jobs, read_jobs));
        Ok(Self {
            queue,
            reads,
            writable: writable_watch,
            access: access_watch,
        })
    }

    /// Who may do what, as of the last recorded `network` event: the principals, their grants
    /// and tokens, and each library's city. A new view is published before the command that
    /// changed it is answered, so a revoked token is refused from the moment its revocation is
    /// acknowledged.
    pub fn access(&self) -> watch::Receiver<Arc<AccessView>> {
        self.access.clone()
    }

    /// Whether commands can be recorded: `false` while the store cannot be reached and for good
    /// once it stops taking appends; closes if the decider ended.
    pub fn writable(&self) -> watch::Receiver<bool> {
        self.writable.clone()
    }

    /// Decides and records a command; returns its receipt, the original one for a retry.
    pub async fn submit(&self, submission: Submission) -> Result<Receipt, LedgerError> {
        self.send(Work::Command(submission)).await
    }

    /// Records an event decided outside the domain's rules (see [`Decided`]); returns its
    /// receipt, the original one for a retry of the command id.
    ///
    /// # Panics
    /// If `decided.stream` is not the `settlement` stream: every other stream is the domain's.
    pub async fn record(&self, decided: Decided) -> Result<Receipt, LedgerError> {
        assert_eq!(
            decided.stream,
            StreamId::Settlement,
            "only settlement closes are decided outside the domain"
        );
        self.send(Work::Decided(decided)).await
    }

    /// Runs `query` on the state commands are decided on, between two batches: it sees every
    /// command acknowledged before the call and nothing decided but not yet written. For small
    /// answers (a patron's account): the decider waits while it runs.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Ledger) -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        let (reply, answer) = oneshot::channel();
        let read: Read = Box::new(move |ledger| {
            let _ = reply.send(ledger.map(query));
        });
        self.reads
            .send(read)
            .await
            .map_err(|_| LedgerError::ShuttingDown)?;
        answer.await.map_err(|_| LedgerError::ShuttingDown)?
    }

    async fn send(&self, work: Work) -> Result<Receipt, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { work, reply })
            .await
            .map_err(|_| LedgerError::ShuttingDown)?;
        answer.await.map_err(|_| LedgerError::ShuttingDown)?
    }
}

/// The decider's state: the domain state and the index of command ids already carried out.
struct WriteModel {
    ledger: Ledger,
    commands: HashMap<Uuid, CommandRecord>,
    sealing: Option<Sealing>,
}

impl WriteModel {
    async fn load(
        store: &dyn EventStore,
        keys: Option<Arc<KeyStore>>,
    ) -> Result<Self, LedgerError> {
        let mut model = WriteModel {
            ledger: Ledger::default(),
            commands: HashMap::new(),
            sealing: keys.map(Sealing::new),
        };
        let mut next = Position::FIRST;
        loop {
            let page = store
                .read_all(
                    AllFrom::Position(next),
                    Direction::Forwards,
                    LOAD_PAGE_EVENTS,
                )
                .await?;
            let Some(last) = page.last() else { break };
            next = last.position.next();
            for (stream, event) in page
                .iter()
                .filter_map(|e| StreamId::parse(&e.stream).map(|stream| (stream, e)))
            {
                let (mut decoded, digest) = envelope::decode_with_digest(event)?;
                let loaded = match model.sealing.as_mut() {
                    Some(sealing) => Some(sealing.open(&stream, &mut decoded.payload)?),
                    None => {
                        if readnet_domain::personal::patron_ids_mut(&mut decoded.payload)
                            .iter()
                            .any(|id| readnet_domain::personal::is_sealed(id))
                        {
                            return Err(crate::keys::KeyStoreError::Unreadable(format!(
                                "the event at position {} holds a sealed patron id, and the ledger was started without the data directory's patron key store",
                                event.position
                            ))
                            .into());
                        }
                        None
                    }
                };
                match &loaded {
                    Some(loaded) if !loaded.check_revision => {
                        model.ledger.apply_at(&decoded.payload, decoded.occurred_at)
                    }
                    Some(loaded) => model.ledger.apply_recorded_at(
                        &loaded.stream,
                        event.revision.get(),
                        &decoded.payload,
                        decoded.occurred_at,
                    ),
                    None => model.ledger.apply_recorded_at(
                        &stream,
                        event.revision.get(),
                        &decoded.payload,
                        decoded.occurred_at,
                    ),
                }
                if let (Some(sealing), Some(patron)) = (
                    model.sealing.as_ref(),
                    loaded.and_then(|l| l.unfinished_forget),
                ) {
                    tracing::warn!(
                        position = event.position.get(),
                        "a patron was forgotten but their key was not destroyed (a crash came between): destroying it now"
                    );
                    sealing.keys().destroy(&patron)?;
                }
                if let Some(command_id) = decoded.command_id {
                    let refused_at = match &decoded.payload {
                        Payload::CommandRefused(refused) => Some(
                            Refusal::from_event(refused)
                                .map_err(|source| DecodeError {
                                    position: event.position,
                                    source,
                                })?
                                .refused_at,
                        ),
                        _ => None,
                    };
                    let record = model.commands.entry(command_id).or_insert(CommandRecord {
                        first_position: event.position,
                        count: 0,
                        digest: NO_DIGEST,
                        refused_at,
                    });
                    record.count += 1;
                    if let Some(digest) = digest {
                        record.digest = digest;
                    }
                }
            }
        }
        Ok(model)
    }
}

impl WriteModel {
    /// The key store the model seals with, for a reload.
    fn key_store(&self) -> Option<Arc<KeyStore>> {
        self.sealing.as_ref().map(Sealing::key_store)
    }

    /// Whether a decided event's stream is still as its decision saw it.
    fn expectation_holds(&self, decided: &Decided) -> Result<(), LedgerError> {
        let version = self.ledger.stream_version(&decided.stream);
        let holds = match decided.expected {
            StreamState::Any => true,
            StreamState::NoStream => version == 0,
            StreamState::StreamExists => version > 0,
            StreamState::Revision(r) => version == r.count(),
        };
        if holds {
            return Ok(());
        }
        Err(LedgerError::Store(StoreError::WrongExpectedVersion {
            stream: decided.stream.name(),
            expected: decided.expected,
            actual: match version {
                0 => CurrentRevision::NoStream,
                v => CurrentRevision::Current(Revision::new(v - 1)),
            },
        }))
    }
}

/// A command decided in the current batch whose outcome the batch records: accepted (its
/// events) or refused (its `CommandRefused`).
struct Recorded {
    job: Job,
    event_count: usize,
    /// What the caller is told once the batch is committed, if the command was refused.
    refusal: Option<Refusal>,
    /// Later submissions of the same command id in this batch: they get the same outcome.
    followers: Vec<Job>,
}

/// One batch: what was decided, what it writes, and the answers that wait for its commit.
#[derive(Default)]
struct Batch {
    recorded: Vec<Recorded>,
    recorded_ids: HashMap<Uuid, usize>,
    writes: Vec<StreamWrite>,
    touched: HashSet<StreamId>,
    /// Answers that record nothing (a role's refusal, a reused id) decided after the batch's
    /// first recorded decision may rest on it: they are sent only once it is committed (and
    /// turned into the batch's failure if it is not).
    held: Vec<(Reply, LedgerError)>,
    /// Keys to make durable before the append, and to destroy after it (ADR 0018).
    keys: KeyWork,
}

type Reply = oneshot::Sender<Result<Receipt, LedgerError>>;

impl Batch {
    fn refuse(&mut self, reply: Reply, error: LedgerError) {
        if self.recorded.is_empty() {
            let _ = reply.send(Err(error));
        } else {
            self.held.push((reply, error));
        }
    }
}

/// The decider task's state.
struct Decider {
    store: Arc<dyn EventStore>,
    model: WriteModel,
    /// `false` once the store cannot take appends; the server then reports NOT_SERVING.
    writable: watch::Sender<bool>,
    /// The access view of the recorded state, and the network version it was made from.
    access: watch::Sender<Arc<AccessView>>,
    published_network_version: u64,
    /// How long a refused command's retries are answered with its refusal.
    refusal_window: TimeDelta,
    /// Why appends are impossible, once they are.
    failed: Option<String>,
    /// Set when a networked store became unreachable during an append: whether that batch was
    /// recorded is unknown, so the state is rebuilt from the log before the next decision.
    stale: Option<String>,
}

async fn run(mut decider: Decider, mut jobs: mpsc::Receiver<Job>, mut reads: mpsc::Receiver<Read>) {
    let mut pending: VecDeque<Job> = VecDeque::with_capacity(MAX_BATCH_COMMANDS);
    let mut reads_open = true;
    loop {
        // Reads that arrived during the last batch see its outcome, before the next one starts.
        for _ in 0..READ_QUEUE_CAPACITY {
            match reads.try_recv() {
                Ok(read) => decider.answer(read),
                Err(_) => break,
            }
        }
        if pending.is_empty() {
            let mut arrived = Vec::with_capacity(MAX_BATCH_COMMANDS);
            tokio::select! {
                count = jobs.recv_many(&mut arrived, MAX_BATCH_COMMANDS) => {
                    if count == 0 {
                        return;
                    }
                    pending.extend(arrived);
                }
                read = reads.recv(), if reads_open => {
                    match read {
                        Some(read) => decider.answer(read),
                        None => reads_open = false,
                    }
                    continue;
                }
            }
        }
        while pending.len() < MAX_BATCH_COMMANDS {
            match jobs.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => break,
            }
        }
        if decider.stale.is_some() {
            decider.reload().await;
        }
        if let Some(reason) = decider.failed.as_ref().or(decider.stale.as_ref()) {
            for job in pending.drain(..) {
                let _ = job
                    .reply
                    .send(Err(LedgerError::Unavailable(reason.clone())));
            }
            continue;
        }
        let batch = decider.decide_batch(&mut pending);
        decider.commit_batch(batch).await;
    }
}

impl Decider {
    /// Answers a read with the state as the last batch left it, unless there is no state to
    /// trust (the store failed, or an append's outcome is unknown).
    fn answer(&self, read: Read) {
        match self.failed.as_ref().or(self.stale.as_ref()) {
            Some(reason) => read(Err(LedgerError::Unavailable(reason.clone()))),
            None => read(Ok(&self.model.ledger)),
        }
    }

    /// Decides waiting commands until the batch is full or a command touches a stream the
    /// batch already writes (that one waits for the next batch).
    fn decide_batch(&mut self, pending: &mut VecDeque<Job>) -> Batch {
        let mut batch = Batch::default();
        while let Some(job) = pending.pop_front() {
            let id = job.work.command_id();
            if let Some(record) = self.model.commands.get(&id).copied() {
                answer_duplicate(&self.store, record, self.refusal_window, job);
                continue;
            }
            if let Some(&first) = batch.recorded_ids.get(&id) {
                let first = &mut batch.recorded[first];
                if first.job.work.digest() == job.work.digest() {
                    first.followers.push(job);
                } else {
                    batch.refuse(job.reply, reused(id));
                }
                continue;
            }
            let decision = match &job.work {
                // Forgetting destroys a key: a patron whose history is in the clear has none
                // that would hide it (checked once the caller is known to be allowed).
                Work::Command(
                    s @ Submission {
                        command: Command::ForgetPatron { patron, .. },
                        ..
                    },
                ) if readnet_domain::access::authorize(&self.model.ledger, &s.command, &s.ctx)
                    .is_ok()
                    && self
                        .model
                        .sealing
                        .as_ref()
                        .is_none_or(|sealing| sealing.in_the_clear(patron.patron_id.as_str())) =>
                {
                    Err(LedgerError::from(Rejection::PatronRecordedInTheClear {
                        card: patron.masked_card.clone(),
                    }))
                }
                Work::Command(s) => match decide(&self.model.ledger, &s.command, &s.ctx) {
                    Ok(events) => Ok((events, None)),
                    // Recorded like an acceptance, in the same atomic append and in decision
                    // order: it is answered only once written, and its position follows
                    // exactly the events its decision saw.
                    Err(rejection) if rejection.is_recorded() => {
                        let refusal = Refusal::of(&s.command, &rejection, s.received_at);
                        let event = NewEvent {
                            stream: StreamId::Refusal(id.to_string()),
                            payload: Payload::CommandRefused(refusal.to_event()),
                        };
                        Ok((vec![event], Some(refusal)))
                    }
                    Err(rejection) => Err(LedgerError::from(rejection)),
                },
                Work::Decided(d) => self.model.expectation_holds(d).map(|()| {
                    let event = NewEvent {
                        stream: d.stream.clone(),
                        payload: d.payload.clone(),
                    };
                    (vec![event], None)
                }),
            };
            match decision {
                Ok((events, refusal)) => {
                    debug_assert!(
                        !events.is_empty(),
                        "a recorded decision records at least one event"
                    );
                    // A batch writes each stream once (one expectation per stream): a command
                    // touching a stream already in the batch starts the next batch, decided
                    // again then against the committed state.
                    if events.iter().any(|e| batch.touched.contains(&e.stream)) {
                        pending.push_front(job);
                        break;
                    }
                    batch
                        .touched
                        .extend(events.iter().map(|e| e.stream.clone()));
                    stage(
                        &mut self.model.ledger,
                        self.model.sealing.as_ref(),
                        &job.work,
                        &events,
                        &mut batch.writes,
                        &mut batch.keys,
                    );
                    batch.recorded_ids.insert(id, batch.recorded.len());
                    batch.recorded.push(Recorded {
                        job,
                        event_count: events.len(),
                        refusal,
                        followers: Vec::new(),
                    });
                    if batch.recorded.len() == MAX_BATCH_COMMANDS {
                        break;
                    }
                }
                Err(unrecorded) => batch.refuse(job.reply, unrecorded),
            }
        }
        batch
    }

    /// Appends the batch and answers every command in it.
    async fn commit_batch(&mut self, batch: Batch) {
        if batch.recorded.is_empty() {
            debug_assert!(
                batch.held.is_empty(),
                "only answers after a recorded decision are held"
            );
            return;
        }
        let total_events: usize = batch.recorded.iter().map(|a| a.event_count).sum();
        // A key is durable before the first event sealed under it is appended, and destroyed
        // only once the event recording its destruction is.
        let persisted = match self.model.sealing.as_ref() {
            Some(sealing) => sealing
                .keys()
                .persist(&batch.keys.new)
                .map_err(LedgerError::from),
            None => Ok(()),
        };
        let appended = match persisted {
            Ok(()) => commit(self.store.as_ref(), batch.writes, total_events).await,
            Err(error) => Err(error),
        };
        let destroyed = match (&appended, self.model.sealing.as_mut()) {
            (Ok(_), Some(sealing)) => sealing.forgotten(&batch.keys.forget),
            _ => Ok(()),
        };
        if let Err(error) = destroyed {
            // The events are recorded; the next start finishes the destruction from them.
            tracing::error!(%error, "a forgotten patron's key could not be destroyed");
            self.failed = Some(format!(
                "the ledger stopped taking commands: a forgotten patron's key could not be destroyed ({error}); restart it once the cause is fixed, and the start destroys it"
            ));
            let _ = self.writable.send(false);
        }
        match appended {
            Ok(mut recorded) => {
                self.publish_access();
                let mut rest = recorded.drain(..);
                for r in batch.recorded {
                    let events: Vec<RecordedEvent> = rest.by_ref().take(r.event_count).collect();
                    self.model.commands.insert(
                        r.job.work.command_id(),
                        CommandRecord {
                            first_position: events[0].position,
                            count: r.event_count as u32,
                            digest: r.job.work.digest(),
                            refused_at: r.refusal.as_ref().map(|refusal| refusal.refused_at),
                        },
                    );
                    if let Some(refusal) = r.refusal {
                        for follower in r.followers {
                            let _ = follower
                                .reply
                                .send(Err(LedgerError::Refused(refusal.clone())));
                        }
                        let _ = r.job.reply.send(Err(LedgerError::Refused(refusal)));
                        continue;
                    }
                    let receipt = Receipt {
                        command_id: r.job.work.command_id(),
                        duplicate: false,
                        events,
                    };
                    for follower in r.followers {
                        let _ = follower.reply.send(Ok(Receipt {
                            duplicate: true,
                            ..receipt.clone()
                        }));
                    }
                    let _ = r.job.reply.send(Ok(receipt));
                }
                for (reply, error) in batch.held {
                    let _ = reply.send(Err(error));
                }
            }
            Err(error) => {
                tracing::error!(%error, commands = batch.recorded.len(), "batch append failed");
                let failure = match &error {
                    LedgerError::Store(StoreError::WrongExpectedVersion { .. }) => {
                        LedgerError::Aborted(format!(
                            "another writer changed a stream this command read; retry: {error}"
                        ))
                    }
                    LedgerError::Store(StoreError::Unavailable(_)) => {
                        LedgerError::Unavailable(format!(
                            "the ledger lost its event store while recording the command ({error}): \
                             it may have been recorded; retry with the same command_id"
                        ))
                    }
                    _ => LedgerError::Unavailable(format!(
                        "the ledger could not record the command: {error}"
                    )),
                };
                let replies = batch
                    .recorded
                    .into_iter()
                    .flat_map(|r| std::iter::once(r.job).chain(r.followers))
                    .map(|job| job.reply)
                    .chain(batch.held.into_iter().map(|(reply, _)| reply));
                for reply in replies {
                    let _ = reply.send(Err(failure.for_each_command()));
                }
                self.recover(&error).await;
            }
        }
    }

    /// Publishes a new access view if the recorded `network` stream has moved since the last.
    fn publish_access(&mut self) {
        let network = &self.model.ledger.network;
        if network.version != self.published_network_version {
            self.published_network_version = network.version;
            self.access.send_replace(Arc::new(AccessView::of(network)));
        }
    }

    /// After a failed append the state holds events the store did not take. Another writer
    /// (wrong expected version): rebuild the state from the log and go on. A networked store
    /// out of reach: the batch may or may not be recorded, so rebuild from the log once it is
    /// back (see [`Decider::reload`]). Anything else (I/O): the store takes no more appends, so
    /// stop writing and say so.
    async fn recover(&mut self, error: &LedgerError) {
        if let LedgerError::Store(StoreError::Unavailable(reason)) = error {
            self.stale = Some(format!(
                "the event store is out of reach ({reason}); commands are refused until it is \
                 back, and a command whose answer was lost may have been recorded: retry it with \
                 the same command_id"
            ));
            let _ = self.writable.send(false);
            return;
        }
        if matches!(
            error,
            LedgerError::Store(StoreError::WrongExpectedVersion { .. })
        ) {
            match WriteModel::load(self.store.as_ref(), self.model.key_store()).await {
                Ok(reloaded) => {
                    self.model = reloaded;
                    self.publish_access();
                    return;
                }
                Err(reload) => tracing::error!(%reload, "cannot rebuild state from the log"),
            }
        }
        self.failed = Some(format!(
            "the ledger stopped taking commands after a store failure ({error}); restart it once the cause is fixed"
        ));
        let _ = self.writable.send(false);
    }
}

impl Decider {
    /// Rebuilds the state from the log after the store was out of reach; on success commands
    /// are taken again. Tried before each batch while the store stays out of reach.
    async fn reload(&mut self) {
        match WriteModel::load(self.store.as_ref(), self.model.key_store()).await {
            Ok(reloaded) => {
                tracing::info!(
                    events = self.store.head_position().get(),
                    "the event store is back; state rebuilt from the log"
                );
                self.model = reloaded;
                self.publish_access();
                self.stale = None;
                let _ = self.writable.send(true);
            }
            Err(error) => tracing::warn!(%error, "the event store is still out of reach"),
        }
    }
}

fn reused(command_id: Uuid) -> LedgerError {
    LedgerError::CommandIdReused {
        command_id: command_id.to_string(),
    }
}

/// Answers a retry of a command already recorded, from the log, off the decider's task: the
/// original receipt, or the original refusal within its window (after it, a late retry).
fn answer_duplicate(
    store: &Arc<dyn EventStore>,
    record: CommandRecord,
    refusal_window: TimeDelta,
    job: Job,
) {
    if record.digest != job.work.digest() {
        let _ = job.reply.send(Err(reused(job.work.command_id())));
        return;
    }
    if let Some(refused_at) = record.refused_at {
        let retried_at = job.work.received_at();
        let window_ended_at = refused_at + refusal_window;
        if retried_at > window_ended_at {
            let _ = job.reply.send(Err(LedgerError::RetryAfterRefusalWindow {
                command_id: job.work.command_id().to_string(),
                refused_at,
                window_ended_at,
                retried_at,
            }));
            return;
        }
    }
    let store = Arc::clone(store);
    tokio::spawn(async move {
        let result = store
            .read_all(
                AllFrom::Position(record.first_position),
                Direction::Forwards,
                record.count as usize,
            )
            .await
            .map_err(LedgerError::from)
            .and_then(|events| {
                if record.refused_at.is_some() {
                    return Err(recorded_refusal(&events));
                }
                Ok(Receipt {
                    command_id: job.work.command_id(),
                    duplicate: true,
                    events,
                })
            });
        let _ = job.reply.send(result);
    });
}

/// The refusal a refused command's one event records, as its first answer said it.
fn recorded_refusal(events: &[RecordedEvent]) -> LedgerError {
    let event = events.first().expect("a refused command has its event");
    let refused = envelope::decode(event).and_then(|decoded| match decoded.payload {
        Payload::CommandRefused(refused) => {
            Refusal::from_event(&refused).map_err(|source| DecodeError {
                position: event.position,
                source,
            })
        }
        // Positions never change what they hold: the decider read a CommandRefused here.
        other => unreachable!(
            "position {} held a CommandRefused when the decider loaded the log; it now holds {}",
            event.position,
            readnet_domain::codec::event_type(&other)
        ),
    });
    match refused {
        Ok(refusal) => LedgerError::Refused(refusal),
        Err(unreadable) => LedgerError::Unreadable(unreadable),
    }
}

/// Encodes a command's events into writes (consecutive events of one stream share a write, whose
/// expectation is the stream's version before them) and applies them to the state.
fn stage(
    ledger: &mut Ledger,
    sealing: Option<&Sealing>,
    work: &Work,
    events: &[NewEvent],
    writes: &mut Vec<StreamWrite>,
    keys: &mut KeyWork,
) {
    let mut previous_stream: Option<&StreamId> = None;
    for (index, event) in events.iter().enumerate() {
        let envelope = work.envelope(index);
        let (stream_name, data) = match sealing {
            Some(sealing) => {
                let (name, sealed) = sealing.seal(
                    ledger,
                    &event.stream,
                    &event.payload,
                    envelope.occurred_at,
                    keys,
                );
                let data = envelope::encode(&envelope, work.event_id(index), &sealed);
                (name, data)
            }
            None => (
                event.stream.name(),
                envelope::encode(&envelope, work.event_id(index), &event.payload),
            ),
        };
        if previous_stream == Some(&event.stream) {
            writes
                .last_mut()
                .expect("a write for the previous event")
                .events
                .push(data);
        } else {
            let version = ledger.stream_version(&event.stream);
            writes.push(StreamWrite {
                stream: stream_name,
                expected: if version == 0 {
                    StreamState::NoStream
                } else {
                    StreamState::Revision(Revision::new(version - 1))
                },
                events: vec![data],
            });
        }
        ledger.apply_at(&event.payload, work.envelope(index).occurred_at);
        previous_stream = Some(&event.stream);
    }
}

/// Appends a batch and returns what the store recorded: the staged events with the positions,
/// revisions and commit time the append result gives. Only when the store took the batch as a
/// retry of one already recorded (no commit time in its result) are the events read back.
async fn commit(
    store: &dyn EventStore,
    writes: Vec<StreamWrite>,
    total_events: usize,
) -> Result<Vec<RecordedEvent>, LedgerError> {
    // Cheap copies: the payloads are shared buffers.
    let staged: Vec<(String, Vec<EventData>)> = writes
        .iter()
        .map(|w| (w.stream.clone(), w.events.clone()))
        .collect();
    let results = store.append_multi(writes).await?;
    assert_eq!(results.len(), staged.len(), "one result per write");
    let first = results
        .first()
        .map(|r| r.first_position)
        .expect("a batch has writes");
    let last = results
        .last()
        .map(|r| r.position)
        .expect("a batch has writes");
    assert_eq!(
        last.events_since(first) as usize + 1,
        total_events,
        "a batch's events take consecutive $all positions"
    );
    if results.iter().any(|r| r.recorded_at_us.is_none()) {
        let recorded = store
            .read_all(AllFrom::Position(first), Direction::Forwards, total_events)
            .await?;
        assert_eq!(
            recorded.len(),
            total_events,
            "the store returns what it acknowledged"
        );
        return Ok(recorded);
    }
    let mut recorded = Vec::with_capacity(total_events);
    for ((stream, events), result) in staged.into_iter().zip(&results) {
        let count = events.len() as u64;
        assert_eq!(
            result.position.events_since(result.first_position) + 1,
            count,
            "a write's events take consecutive positions"
        );
        let first_revision = Revision::new(result.next_expected_revision.count() - count);
        let recorded_at_us = result.recorded_at_us.expect("checked above");
        for (offset, event) in (0..).zip(events) {
            recorded.push(RecordedEvent {
                stream: stream.clone(),
                revision: first_revision.after(offset),
                position: result.first_position.after(offset),
                event_id: event.event_id,
                event_type: event.event_type,
                content_type: event.content_type,
                recorded_at_us,
                metadata: event.metadata,
                data: event.data,
            });
        }
    }
    Ok(recorded)
}

/// The digest that tells a retry from a reuse of a command id: keyed with the network secret,
/// because the request holds the card number and the digest is stored in the log.
pub fn digest(key: &PatronKey, rpc: &str, ctx: &CommandContext, request: &[u8]) -> [u8; 32] {
    let library = ctx.acting_library.as_ref().map_or("", LibraryCode::as_str);
    let channel = (ctx.channel as i32).to_le_bytes();
    // A principal is part of the request: the same command id from another principal is a
    // reuse, not a retry. Commands of the server itself hash as they did before principals
    // existed, so digests already in a log still match their retries.
    match ctx.caller.principal_name() {
        "" => key.mac(&[rpc.as_bytes(), library.as_bytes(), &channel, request]),
        principal => key.mac(&[
            rpc.as_bytes(),
            library.as_bytes(),
            &channel,
            request,
            principal.as_bytes(),
        ]),
    }
}
