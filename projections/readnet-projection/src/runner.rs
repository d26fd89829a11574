//! Keeping a projection up to date: load its snapshot, follow `$all` from there, save snapshots.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use readnet_domain::StreamId;
use readnet_store::{AllFrom, Direction, EventStore, Position, SubscriptionMessage};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::{DecodeError, ProjectedEvent, Projection, Writer};
use futures::StreamExt as _;

/// Events applied under one lock at most.
const APPLY_BATCH: usize = 1024;

/// When a runner saves its projection's state. A save costs time proportional to the state, so
/// both thresholds grow with it: a save comes after `every_events` new events or half as many
/// as the state has seen, whichever is more; and, once caught up, after `every` or twenty times
/// the last save's duration, whichever is longer. Saves thus take a bounded share of the work.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotPolicy {
    pub every_events: u64,
    pub every: Duration,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            every_events: 50_000,
            every: Duration::from_secs(10),
        }
    }
}

/// What a snapshot file begins with, whatever its format.
const MAGIC: &[u8] = b"readnet-snapshot\0";

/// The snapshot format this build writes and reads.
const FORMAT: u32 = 3;

/// The longest header read: a header is a name, a few numbers and an id.
const HEADER_MAX_BYTES: u32 = 4096;

/// A snapshot's header, after [`MAGIC`] and its own length (4 bytes, little-endian), in the
/// canonical encoding: which projection, which fold version, which position, the log event at
/// that position, and the length and CRC32C of the body that follows.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    name: String,
    version: u32,
    position: Position,
    /// The id of the event at `position` (absent at position 0): the snapshot is of this log,
    /// not of another that reached the same length.
    event_id: Option<uuid::Uuid>,
    body_bytes: u64,
    body_crc32c: u32,
}

/// Where a projection's snapshots live: `<dir>/<name>.snapshot`.
///
/// A file is [`MAGIC`], a header ([`Header`]) and the body: the state's canonical encoding
/// ([`crate::encode_state`]). A snapshot is used only if its header is of this format,
/// projection and fold version, its position is in the log and the log's event there has the
/// id the header names, the body has the length and CRC32C the header gives, and it decodes to a
/// state at the header's position: a file torn, damaged or edited on disk, or left from another
/// log, is rebuilt from the log, never served. Snapshots of earlier formats (`<name>.json`) are
/// not read: the projection is rebuilt, and the old file removed when the new one is saved.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

/// Why a projection stopped following the log.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the store failed: {0}")]
    Store(#[from] readnet_store::StoreError),
    #[error("the log's subscription ended")]
    Ended,
    #[error(transparent)]
    Keys(#[from] readnet_ledger::keys::KeyStoreError),
}

/// A snapshot file read and checked against itself (not yet against the log).
#[derive(Debug)]
pub struct SavedSnapshot {
    pub version: u32,
    pub position: Position,
    pub event_id: Option<uuid::Uuid>,
    /// The state's canonical encoding ([`crate::decode_state`] reads it).
    pub state: Vec<u8>,
}

/// Why a saved snapshot is not used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotRefused {
    #[error("unreadable: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a snapshot of format {FORMAT}: {0}")]
    Format(String),
    #[error(
        "the body's CRC32C is {actual:08x}, the header says {expected:08x}: the file was damaged or edited"
    )]
    Checksum { expected: u32, actual: u32 },
}

impl Snapshots {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snapshot"))
    }

    /// Where format 2 kept the snapshot (a JSON header line and JSON state).
    fn json_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The saved state of `P`, if there is one of this version that `store`'s log vouches for
    /// (see [`Snapshots`]); otherwise a fresh state (the projection is rebuilt from the first
    /// event), with the reason logged.
    pub async fn load<P: Projection>(&self, store: &dyn EventStore) -> P {
        let path = self.path(P::NAME);
        let saved = match self.read_checked(P::NAME) {
            Ok(Some(saved)) => saved,
            Ok(None) => {
                if self.json_path(P::NAME).exists() {
                    tracing::info!(
                        projection = P::NAME,
                        "the snapshot is of format 2 (JSON), which this build does not read; rebuilding from the first event"
                    );
                }
                return P::default();
            }
            Err(e) => {
                tracing::warn!(projection = P::NAME, path = %path.display(), reason = %e, "snapshot refused; rebuilding from the first event");
                return P::default();
            }
        };
        if saved.version != P::VERSION {
            tracing::info!(
                projection = P::NAME,
                saved_version = saved.version,
                version = P::VERSION,
                "snapshot is of another fold version; rebuilding from the first event"
            );
            return P::default();
        }
        if let Err(reason) = vouched(store, saved.position, saved.event_id).await {
            tracing::warn!(projection = P::NAME, path = %path.display(), position = saved.position.get(), reason = %reason, "snapshot is not of this log; rebuilding from the first event");
            return P::default();
        }
        match crate::decode_state::<P>(&saved.state) {
            Ok(state) if state.position() == saved.position => {
                tracing::info!(
                    projection = P::NAME,
                    position = saved.position.get(),
                    "snapshot loaded"
                );
                state
            }
            Ok(_) => {
                tracing::warn!(
                    projection = P::NAME,
                    "snapshot state is not at its header's position; rebuilding"
                );
                P::default()
            }
            Err(e) => {
                tracing::warn!(projection = P::NAME, error = %e, "snapshot does not decode; rebuilding");
                P::default()
            }
        }
    }

    /// The saved snapshot of `name` as it is on disk, if any, whatever its version, with its
    /// length and checksum checked (for `replay --check` and `readnet doctor`).
    pub fn read_checked(&self, name: &str) -> Result<Option<SavedSnapshot>, SnapshotRefused> {
        let bytes = match std::fs::read(self.path(name)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (header, body) = split(&bytes)?;
        if header.format != FORMAT || header.name != name {
            return Err(SnapshotRefused::Format(format!(
                "format {} of {}",
                header.format, header.name
            )));
        }
        if body.len() as u64 != header.body_bytes {
            return Err(SnapshotRefused::Format(format!(
                "the body holds {} bytes, the header says {}: the file is torn",
                body.len(),
                header.body_bytes
            )));
        }
        let actual = crc32c::crc32c(body);
        if actual != header.body_crc32c {
            return Err(SnapshotRefused::Checksum {
                expected: header.body_crc32c,
                actual,
            });
        }
        Ok(Some(SavedSnapshot {
            version: header.version,
            position: header.position,
            event_id: header.event_id,
            state: body.to_vec(),
        }))
    }

    /// Saves a state atomically: a temporary file, synced, renamed over the old one, and the
    /// directory synced. `event_id` is the id of the log's event at the state's position.
    pub fn save<P: Projection>(
        &self,
        state: &P,
        event_id: Option<uuid::Uuid>,
    ) -> std::io::Result<()> {
        self.write(P::NAME, &encode(state, event_id)?)
    }

    /// Saves the state behind a lock: encoded under the read lock (no copy of the state), written
    /// after it is released.
    fn save_locked<P: Projection>(
        &self,
        state: &RwLock<P>,
        event_id: Option<uuid::Uuid>,
    ) -> std::io::Result<()> {
        let bytes = encode(&*state.read().expect("projection lock"), event_id)?;
        self.write(P::NAME, &bytes)
    }

    fn write(&self, name: &str, encoded: &Encoded) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(name);
        let temporary = path.with_extension("snapshot.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&encoded.head)?;
            file.write_all(&encoded.body)?;
            file.sync_all()?;
        }
        std::fs::rename(&temporary, &path)?;
        // The format 2 file this one replaces, if any: never read again.
        match std::fs::remove_file(self.json_path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        sync_dir(&self.dir)
    }
}

/// A snapshot file's header and body, the header decoded (nothing checked yet).
fn split(bytes: &[u8]) -> Result<(Header, &[u8]), SnapshotRefused> {
    let format = |what: &str| SnapshotRefused::Format(what.to_owned());
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| format("it does not begin as a snapshot does"))?;
    let (length, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| format("the header is torn"))?;
    let length = u32::from_le_bytes(*length);
    if length > HEADER_MAX_BYTES || length as usize > rest.len() {
        return Err(format("the header's length is past the file's end"));
    }
    let (header, body) = rest.split_at(length as usize);
    let header: Header =
        crate::decode_state(header).map_err(|e| SnapshotRefused::Format(format!("header: {e}")))?;
    Ok((header, body))
}

/// The id of the log's event at `position` (none at position 0).
pub async fn event_id_at(
    store: &dyn EventStore,
    position: Position,
) -> Result<Option<uuid::Uuid>, readnet_store::StoreError> {
    if position == Position::START {
        return Ok(None);
    }
    let page = store
        .read_all(AllFrom::Position(position), Direction::Forwards, 1)
        .await?;
    Ok(page
        .first()
        .filter(|e| e.position == position)
        .map(|e| e.event_id))
}

/// Whether the log holds `event_id` at `position`; the reason when it does not.
pub async fn vouched(
    store: &dyn EventStore,
    position: Position,
    event_id: Option<uuid::Uuid>,
) -> Result<(), String> {
    if position > store.head_position() {
        return Err(format!(
            "it is at position {position}, the log ends at {}",
            store.head_position()
        ));
    }
    match event_id_at(store, position).await {
        Ok(found) if found == event_id => Ok(()),
        Ok(found) => Err(format!(
            "the log's event at position {position} is {found:?}, the snapshot names {event_id:?}"
        )),
        Err(e) => Err(format!(
            "the log cannot be read at position {position}: {e}"
        )),
    }
}

fn encode<P: Projection>(state: &P, event_id: Option<uuid::Uuid>) -> std::io::Result<Encoded> {
    let body = crate::encode_state(state).map_err(std::io::Error::other)?;
    let header = Header {
        format: FORMAT,
        name: P::NAME.to_owned(),
        version: P::VERSION,
        position: state.position(),
        event_id,
        body_bytes: body.len() as u64,
        body_crc32c: crc32c::crc32c(&body),
    };
    let header = crate::encode_state(&header).map_err(std::io::Error::other)?;
    let length = u32::try_from(header.len()).expect("a header is a few bytes");
    let mut head = Vec::with_capacity(MAGIC.len() + 4 + header.len());
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&length.to_le_bytes());
    head.extend_from_slice(&header);
    Ok(Encoded { head, body })
}

/// A snapshot file's bytes: magic, header length and header, then the body (kept apart so that
/// the body, the bulk, is never copied).
struct Encoded {
    head: Vec<u8>,
    body: Vec<u8>,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The projections following the log in this process, by name, with the position each has
/// published: what operations compare with the log's head (projection lag, ADR 0021).
static FOLLOWING: std::sync::Mutex<Vec<(&'static str, watch::Receiver<Position>)>> =
    std::sync::Mutex::new(Vec::new());

/// Each projection that [`follow`] is running in this process and the position it has read the
/// log through, by name.
pub fn following() -> Vec<(&'static str, Position)> {
    let mut following = FOLLOWING.lock().expect("not poisoned");
    // A stopped runner's writer is gone: its watch says so.
    following.retain(|(_, position)| position.has_changed().is_ok());
    following
        .iter()
        .map(|(name, position)| (*name, *position.borrow()))
        .collect()
}

/// Follows the log for one projection until the store's subscription ends or an event cannot be
/// read (it is never skipped). Saves snapshots as `policy` says.
pub async fn follow<P: Projection>(
    store: Arc<dyn EventStore>,
    writer: Writer<P>,
    snapshots: Snapshots,
    policy: SnapshotPolicy,
) -> Result<(), RunnerError> {
    follow_opened(store, writer, snapshots, policy, None).await
}

/// [`follow`], with every sealed patron id opened with `keys` before the projection sees it
/// (ADR 0018): for a projection that addresses patrons (the notices), never for one whose
/// digest auditors replay without the keys.
pub async fn follow_opened<P: Projection>(
    store: Arc<dyn EventStore>,
    writer: Writer<P>,
    snapshots: Snapshots,
    policy: SnapshotPolicy,
    keys: Option<Arc<readnet_ledger::keys::KeyStore>>,
) -> Result<(), RunnerError> {
    let start = writer.snapshot_position();
    {
        let mut following = FOLLOWING.lock().expect("not poisoned");
        following.retain(|(name, _)| *name != P::NAME);
        following.push((P::NAME, writer.watch_position()));
    }
    let mut subscription = store.subscribe_all(start);
    let mut batch: Vec<ProjectedEvent> = Vec::with_capacity(APPLY_BATCH);
    let (mut saved_position, mut saved_at) = (start, Instant::now());
    let mut save_took = Duration::ZERO;
    let mut caught_up = false;
    let mut passed = Position::START;
    loop {
        let interval = policy.every.max(save_took * 20);
        let unsaved = caught_up && writer.snapshot_position() > saved_position;
        let save_in = interval.saturating_sub(saved_at.elapsed());
        // Wait for the next event, or, caught up with unsaved changes, until a save is due.
        let message = tokio::select! {
            message = subscription.next() => Some(message.ok_or(RunnerError::Ended)??),
            () = tokio::time::sleep(save_in), if unsaved => None,
        };
        match message {
            Some(SubscriptionMessage::Event(event)) => {
                if StreamId::holds_facts(&event.stream) {
                    let mut decoded = readnet_ledger::envelope::decode(&event)?;
                    if let Some(keys) = &keys {
                        keys.open_payload(&mut decoded.payload)?;
                    }
                    batch.push(decoded);
                } else {
                    passed = event.position;
                }
            }
            Some(SubscriptionMessage::CaughtUp { position }) => {
                caught_up = true;
                tracing::info!(
                    projection = P::NAME,
                    position = position.get(),
                    "caught up with the log"
                );
            }
            None => {}
        }
        // While catching up, apply in batches; once caught up, as events come.
        if batch.len() >= APPLY_BATCH || (caught_up && !batch.is_empty()) {
            writer.apply(&batch);
            batch.clear();
        }
        // Events that are not facts (refusals, other writers' streams) move the position once
        // everything before them is applied; the state itself only records the last fact.
        if batch.is_empty() && passed > writer.snapshot_position() {
            writer.pass(passed);
        }
        let position = writer.snapshot_position();
        let new_events = position.events_since(saved_position);
        let due = new_events >= policy.every_events.max(saved_position.get() / 2)
            || (caught_up && new_events > 0 && saved_at.elapsed() >= interval);
        if due {
            let (state, to) = (Arc::clone(&writer.state), snapshots.clone());
            let started = Instant::now();
            // The state cannot move meanwhile: only this task applies to it. The snapshot names
            // the state's own position, the last fact applied, and so that event's id, not the
            // id of a refusal or another writer's event passed over after it.
            let applied = writer.state.read().expect("projection lock").position();
            let event_id = event_id_at(store.as_ref(), applied).await?;
            match tokio::task::spawn_blocking(move || to.save_locked(&state, event_id)).await {
                Ok(Ok(())) => tracing::debug!(
                    projection = P::NAME,
                    position = position.get(),
                    "snapshot saved"
                ),
                Ok(Err(e)) => {
                    tracing::warn!(projection = P::NAME, error = %e, "snapshot not saved")
                }
                Err(e) => tracing::warn!(projection = P::NAME, error = %e, "snapshot task failed"),
            }
            save_took = started.elapsed();
            // A failed save is tried again after the next interval, not at every event.
            (saved_position, saved_at) = (position, Instant::now());
        }
    }
}

/// Folds the whole log (through `through`, if given) into a fresh `P`, offline: what an auditor
/// replays. The log is read and decoded here while `P` folds on a thread of its own
/// ([`crate::Pipeline`]). `progress` is told each position decoded.
pub async fn replay<P: Projection>(
    store: &dyn EventStore,
    through: Option<Position>,
    progress: impl FnMut(Position),
) -> Result<P, RunnerError> {
    let mut pipeline = crate::Pipeline::new();
    let folding = pipeline.fold::<P>();
    pipeline.run(store, through, progress).await?;
    let folded = folding
        .finish()
        .await
        .expect("the replay fed the fold through its end");
    Ok(folded.state)
}
