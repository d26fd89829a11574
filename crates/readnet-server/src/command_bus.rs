//! The write side: one task owns the domain state and decides every command in turn.
//!
//! Commands queue on a bounded channel. The task takes what is waiting (up to a bound),
//! decides each against the state (applying accepted events at once, so the next command in the
//! batch sees them), appends the whole batch to the store in one atomic `append_multi` whose
//! expectations are the stream versions the decisions were made on, and replies once the store
//! has synced. One decider makes the cross-stream rules hold (an item is on at most one loan, a
//! patron stays within their limit) without locks; the expectations make the store refuse the
//! batch if anything else wrote to those streams. See docs/adr/0002.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use readnet_domain::codec::{self, CURRENT_SCHEMA_VERSION};
use readnet_domain::pb::EventMetadata;
use readnet_domain::{
    Command, CommandContext, Ledger, LibraryCode, NewEvent, PatronKey, StreamId, decide,
};
use readnet_store::{
    Direction, EventData, EventStore, ReadFrom, RecordedEvent, StoreError, StreamState, StreamWrite,
};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::error::ServerError;

/// The most commands decided and appended as one batch.
const MAX_BATCH_COMMANDS: usize = 512;
/// Commands waiting for the decider; senders wait when it is full.
const QUEUE_CAPACITY: usize = 4096;
/// Page size when rebuilding state from the log.
const LOAD_PAGE_EVENTS: usize = 4096;

/// A command ready to decide.
#[derive(Debug)]
pub struct Submission {
    pub command_id: Uuid,
    pub correlation_id: Option<Uuid>,
    /// Tells a retry from a reuse of the command id: see [`digest`].
    pub digest: [u8; 32],
    pub command: Command,
    pub ctx: CommandContext,
}

/// What a command wrote.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub command_id: Uuid,
    /// The command id had been carried out before: these are the original events.
    pub duplicate: bool,
    pub events: Vec<RecordedEvent>,
}

struct Job {
    submission: Submission,
    reply: Reply,
}

/// Where a command's events are in `$all`.
#[derive(Debug, Clone, Copy)]
struct CommandRecord {
    first_position: u64,
    count: u32,
    digest: [u8; 32],
}

/// The handle the services use to run commands.
#[derive(Clone)]
pub struct CommandBus {
    queue: mpsc::Sender<Job>,
    writable: watch::Receiver<bool>,
}

impl CommandBus {
    /// Rebuilds the state from the store's log and starts the decider task.
    pub async fn start(store: Arc<dyn EventStore>) -> Result<Self, ServerError> {
        let model = WriteModel::load(store.as_ref()).await?;
        tracing::info!(
            events = store.head_position(),
            items = model.ledger.items.len(),
            patrons = model.ledger.patrons.len(),
            "state rebuilt from the log"
        );
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let (writable, writable_watch) = watch::channel(true);
        let decider = Decider {
            store,
            model,
            writable,
            failed: None,
            stale: None,
        };
        tokio::spawn(run(decider, jobs));
        Ok(Self {
            queue,
            writable: writable_watch,
        })
    }

    /// Whether commands can be recorded: `false` while the store cannot be reached and for good
    /// once it stops taking appends; closes if the decider ended.
    pub fn writable(&self) -> watch::Receiver<bool> {
        self.writable.clone()
    }

    /// Decides and records a command; returns its receipt, the original one for a retry.
    pub async fn submit(&self, submission: Submission) -> Result<Receipt, ServerError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { submission, reply })
            .await
            .map_err(|_| ServerError::ShuttingDown)?;
        answer.await.map_err(|_| ServerError::ShuttingDown)?
    }
}

/// The decider's state: the domain state and the index of command ids already carried out.
struct WriteModel {
    ledger: Ledger,
    commands: HashMap<Uuid, CommandRecord>,
}

impl WriteModel {
    async fn load(store: &dyn EventStore) -> Result<Self, ServerError> {
        let mut model = WriteModel {
            ledger: Ledger::default(),
            commands: HashMap::new(),
        };
        let mut next = 1;
        loop {
            let page = store
                .read_all(ReadFrom::At(next), Direction::Forwards, LOAD_PAGE_EVENTS)
                .await?;
            let Some(last) = page.last() else { break };
            next = last.position + 1;
            for (stream, event) in page
                .iter()
                .filter_map(|e| StreamId::parse(&e.stream).map(|stream| (stream, e)))
            {
                let (metadata, payload) = decode(event)?;
                model
                    .ledger
                    .apply_recorded(&stream, event.revision, &payload);
                if let Ok(command_id) = Uuid::from_slice(&metadata.command_id) {
                    let record = model.commands.entry(command_id).or_insert(CommandRecord {
                        first_position: event.position,
                        count: 0,
                        digest: [0; 32],
                    });
                    record.count += 1;
                    if let Ok(digest) = <[u8; 32]>::try_from(metadata.command_digest.as_slice()) {
                        record.digest = digest;
                    }
                }
            }
        }
        Ok(model)
    }
}

/// Decodes a stored event's metadata and payload.
pub fn decode(
    event: &RecordedEvent,
) -> Result<(EventMetadata, readnet_domain::Payload), ServerError> {
    let unreadable = |e: codec::CodecError| ServerError::Unreadable {
        position: event.position,
        reason: e.to_string(),
    };
    let metadata = codec::decode_metadata(&event.metadata).map_err(unreadable)?;
    let payload = codec::decode(&event.event_type, metadata.schema_version, &event.data)
        .map_err(unreadable)?;
    Ok((metadata, payload))
}

/// A command accepted in the current batch.
struct Accepted {
    job: Job,
    event_count: usize,
    /// Later submissions of the same command id in this batch: they get the same receipt.
    followers: Vec<Job>,
}

/// One batch: what was accepted, what it writes, and the answers that wait for its commit.
#[derive(Default)]
struct Batch {
    accepted: Vec<Accepted>,
    accepted_ids: HashMap<Uuid, usize>,
    writes: Vec<StreamWrite>,
    touched: HashSet<StreamId>,
    /// Refusals decided after the batch's first acceptance may rest on it: they are sent only
    /// once it is committed (and turned into the batch's failure if it is not).
    held: Vec<(Reply, ServerError)>,
}

type Reply = oneshot::Sender<Result<Receipt, ServerError>>;

impl Batch {
    fn refuse(&mut self, reply: Reply, error: ServerError) {
        if self.accepted.is_empty() {
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
    /// Why appends are impossible, once they are.
    failed: Option<String>,
    /// Set when a networked store became unreachable during an append: whether that batch was
    /// recorded is unknown, so the state is rebuilt from the log before the next decision.
    stale: Option<String>,
}

async fn run(mut decider: Decider, mut jobs: mpsc::Receiver<Job>) {
    let mut pending: VecDeque<Job> = VecDeque::with_capacity(MAX_BATCH_COMMANDS);
    loop {
        if pending.is_empty() {
            let mut arrived = Vec::with_capacity(MAX_BATCH_COMMANDS);
            if jobs.recv_many(&mut arrived, MAX_BATCH_COMMANDS).await == 0 {
                return;
            }
            pending.extend(arrived);
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
                    .send(Err(ServerError::Unavailable(reason.clone())));
            }
            continue;
        }
        let batch = decider.decide_batch(&mut pending);
        decider.commit_batch(batch).await;
    }
}

impl Decider {
    /// Decides waiting commands until the batch is full or a command touches a stream the
    /// batch already writes (that one waits for the next batch).
    fn decide_batch(&mut self, pending: &mut VecDeque<Job>) -> Batch {
        let mut batch = Batch::default();
        while let Some(job) = pending.pop_front() {
            let id = job.submission.command_id;
            if let Some(record) = self.model.commands.get(&id).copied() {
                answer_duplicate(&self.store, record, job);
                continue;
            }
            if let Some(&first) = batch.accepted_ids.get(&id) {
                let first = &mut batch.accepted[first];
                if first.job.submission.digest == job.submission.digest {
                    first.followers.push(job);
                } else {
                    batch.refuse(job.reply, reused(id));
                }
                continue;
            }
            match decide(
                &self.model.ledger,
                &job.submission.command,
                &job.submission.ctx,
            ) {
                Ok(events) => {
                    debug_assert!(
                        !events.is_empty(),
                        "an accepted command records at least one event"
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
                        &job.submission,
                        &events,
                        &mut batch.writes,
                    );
                    batch.accepted_ids.insert(id, batch.accepted.len());
                    batch.accepted.push(Accepted {
                        job,
                        event_count: events.len(),
                        followers: Vec::new(),
                    });
                    if batch.accepted.len() == MAX_BATCH_COMMANDS {
                        break;
                    }
                }
                Err(rejection) => batch.refuse(job.reply, rejection.into()),
            }
        }
        batch
    }

    /// Appends the batch and answers every command in it.
    async fn commit_batch(&mut self, batch: Batch) {
        if batch.accepted.is_empty() {
            debug_assert!(
                batch.held.is_empty(),
                "only refusals after an acceptance are held"
            );
            return;
        }
        let total_events: usize = batch.accepted.iter().map(|a| a.event_count).sum();
        match commit(self.store.as_ref(), batch.writes, total_events).await {
            Ok(mut recorded) => {
                let mut rest = recorded.drain(..);
                for a in batch.accepted {
                    let events: Vec<RecordedEvent> = rest.by_ref().take(a.event_count).collect();
                    self.model.commands.insert(
                        a.job.submission.command_id,
                        CommandRecord {
                            first_position: events[0].position,
                            count: a.event_count as u32,
                            digest: a.job.submission.digest,
                        },
                    );
                    let receipt = Receipt {
                        command_id: a.job.submission.command_id,
                        duplicate: false,
                        events,
                    };
                    for follower in a.followers {
                        let _ = follower.reply.send(Ok(Receipt {
                            duplicate: true,
                            ..receipt.clone()
                        }));
                    }
                    let _ = a.job.reply.send(Ok(receipt));
                }
                for (reply, error) in batch.held {
                    let _ = reply.send(Err(error));
                }
            }
            Err(error) => {
                tracing::error!(%error, commands = batch.accepted.len(), "batch append failed");
                let failure = match &error {
                    ServerError::Store(StoreError::WrongExpectedVersion { .. }) => {
                        ServerError::Aborted(format!(
                            "another writer changed a stream this command read; retry: {error}"
                        ))
                    }
                    ServerError::Store(StoreError::Unavailable(_)) => {
                        ServerError::Unavailable(format!(
                            "the ledger lost its event store while recording the command ({error}): \
                             it may have been recorded; retry with the same command_id"
                        ))
                    }
                    _ => ServerError::Unavailable(format!(
                        "the ledger could not record the command: {error}"
                    )),
                };
                let replies = batch
                    .accepted
                    .into_iter()
                    .flat_map(|a| std::iter::once(a.job).chain(a.followers))
                    .map(|job| job.reply)
                    .chain(batch.held.into_iter().map(|(reply, _)| reply));
                for reply in replies {
                    let _ = reply.send(Err(failure.duplicate()));
                }
                self.recover(&error).await;
            }
        }
    }

    /// After a failed append the state holds events the store did not take. Another writer
    /// (wrong expected version): rebuild the state from the log and go on. A networked store
    /// out of reach: the batch may or may not be recorded, so rebuild from the log once it is
    /// back (see [`Decider::reload`]). Anything else (I/O): the store takes no more appends, so
    /// stop writing and say so.
    async fn recover(&mut self, error: &ServerError) {
        if let ServerError::Store(StoreError::Unavailable(reason)) = error {
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
            ServerError::Store(StoreError::WrongExpectedVersion { .. })
        ) {
            match WriteModel::load(self.store.as_ref()).await {
                Ok(reloaded) => {
                    self.model = reloaded;
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
        match WriteModel::load(self.store.as_ref()).await {
            Ok(reloaded) => {
                tracing::info!(
                    events = self.store.head_position(),
                    "the event store is back; state rebuilt from the log"
                );
                self.model = reloaded;
                self.stale = None;
                let _ = self.writable.send(true);
            }
            Err(error) => tracing::warn!(%error, "the event store is still out of reach"),
        }
    }
}

fn reused(command_id: Uuid) -> ServerError {
    ServerError::CommandIdReused {
        command_id: command_id.to_string(),
    }
}

/// Answers a retry of a command already recorded, from the log, off the decider's task.
fn answer_duplicate(store: &Arc<dyn EventStore>, record: CommandRecord, job: Job) {
    if record.digest != job.submission.digest {
        let _ = job.reply.send(Err(reused(job.submission.command_id)));
        return;
    }
    let store = Arc::clone(store);
    tokio::spawn(async move {
        let result = store
            .read_all(
                ReadFrom::At(record.first_position),
                Direction::Forwards,
                record.count as usize,
            )
            .await
            .map_err(ServerError::from)
            .map(|events| Receipt {
                command_id: job.submission.command_id,
                duplicate: true,
                events,
            });
        let _ = job.reply.send(result);
    });
}

/// Encodes a command's events into writes (consecutive events of one stream share a write, whose
/// expectation is the stream's version before them) and applies them to the state.
fn stage(
    ledger: &mut Ledger,
    submission: &Submission,
    events: &[NewEvent],
    writes: &mut Vec<StreamWrite>,
) {
    let mut previous_stream: Option<&StreamId> = None;
    for (index, event) in events.iter().enumerate() {
        let metadata = EventMetadata {
            occurred_at_us: submission.ctx.occurred_at.timestamp_micros(),
            acting_library: submission
                .ctx
                .acting_library
                .clone()
                .map(String::from)
                .unwrap_or_default(),
            channel: submission.ctx.channel as i32,
            command_id: submission.command_id.as_bytes().to_vec(),
            correlation_id: submission
                .correlation_id
                .map(|c| c.as_bytes().to_vec())
                .unwrap_or_default(),
            schema_version: CURRENT_SCHEMA_VERSION,
            command_digest: if index == 0 {
                submission.digest.to_vec()
            } else {
                Vec::new()
            },
        };
        let data = EventData {
            // Derived from the command id, so the store recognises a replayed append as a retry.
            event_id: Uuid::new_v5(&submission.command_id, &(index as u32).to_be_bytes()),
            event_type: codec::event_type(&event.payload).to_owned(),
            content_type: readnet_store::ContentType::Binary,
            metadata: codec::encode_metadata(&metadata),
            data: codec::encode(&event.payload),
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
                stream: event.stream.name(),
                expected: if version == 0 {
                    StreamState::NoStream
                } else {
                    StreamState::Revision(version - 1)
                },
                events: vec![data],
            });
        }
        ledger.apply(&event.payload);
        previous_stream = Some(&event.stream);
    }
}

/// Appends a batch and reads back what the store recorded (positions, recorded_at).
async fn commit(
    store: &dyn EventStore,
    writes: Vec<StreamWrite>,
    total_events: usize,
) -> Result<Vec<RecordedEvent>, ServerError> {
    let results = store.append_multi(writes).await?;
    let first = results
        .first()
        .map(|r| r.first_position)
        .expect("a batch has writes");
    let last = results
        .last()
        .map(|r| r.position)
        .expect("a batch has writes");
    assert_eq!(
        (last - first + 1) as usize,
        total_events,
        "a batch's events take consecutive $all positions"
    );
    let recorded = store
        .read_all(ReadFrom::At(first), Direction::Forwards, total_events)
        .await?;
    assert_eq!(
        recorded.len(),
        total_events,
        "the store returns what it acknowledged"
    );
    Ok(recorded)
}

/// The digest that tells a retry from a reuse of a command id: keyed with the network secret,
/// because the request holds the card number and the digest is stored in the log.
pub fn digest(key: &PatronKey, rpc: &str, ctx: &CommandContext, request: &[u8]) -> [u8; 32] {
    let library = ctx.acting_library.as_ref().map_or("", LibraryCode::as_str);
    let channel = (ctx.channel as i32).to_le_bytes();
    key.mac(&[rpc.as_bytes(), library.as_bytes(), &channel, request])
}
