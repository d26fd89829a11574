//! Keeping a projection up to date: load its snapshot, follow `$all` from there, save snapshots.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use readnet_domain::StreamId;
use readnet_store::{AllFrom, Direction, EventStore, Position, SubscriptionMessage};
use serde::{Deserialize, Serialize};

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

/// A projection's state as saved: which projection, which version, which position.
#[derive(Serialize, Deserialize)]
struct Snapshot<P> {
    name: String,
    version: u32,
    position: Position,
    state: P,
}

/// Where a projection's snapshots live: `<dir>/<name>.json`.
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
}

impl Snapshots {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The saved state of `P`, if there is one of this version at or below `head`; otherwise a
    /// fresh state (the projection is rebuilt from the first event), with the reason logged.
    pub fn load<P: Projection>(&self, head: Position) -> P {
        let path = self.path(P::NAME);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return P::default(),
            Err(e) => {
                tracing::warn!(projection = P::NAME, path = %path.display(), error = %e, "snapshot unreadable; rebuilding");
                return P::default();
            }
        };
        match serde_json::from_slice::<Snapshot<P>>(&bytes) {
            Ok(s)
                if s.name == P::NAME
                    && s.version == P::VERSION
                    && s.position <= head
                    && s.state.position() == s.position =>
            {
                tracing::info!(
                    projection = P::NAME,
                    position = s.position.get(),
                    "snapshot loaded"
                );
                s.state
            }
            Ok(s) => {
                tracing::info!(
                    projection = P::NAME,
                    saved_version = s.version,
                    version = P::VERSION,
                    saved_position = s.position.get(),
                    head = head.get(),
                    "snapshot is of another version or ahead of the log; rebuilding from the first event"
                );
                P::default()
            }
            Err(e) => {
                tracing::warn!(projection = P::NAME, error = %e, "snapshot does not decode; rebuilding");
                P::default()
            }
        }
    }

    /// The saved state of `P` as it is on disk, if any, whatever its version (for `replay --check`).
    pub fn read_raw(
        &self,
        name: &str,
    ) -> std::io::Result<Option<(u32, Position, serde_json::Value)>> {
        match std::fs::read(self.path(name)) {
            Ok(bytes) => {
                let s: Snapshot<serde_json::Value> = serde_json::from_slice(&bytes)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                Ok(Some((s.version, s.position, s.state)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves a state atomically: a temporary file, synced, renamed over the old one, and the
    /// directory synced.
    pub fn save<P: Projection>(&self, state: &P) -> std::io::Result<()> {
        self.write(P::NAME, &encode(state)?)
    }

    /// Saves the state behind a lock: encoded under the read lock (no copy of the state), written
    /// after it is released.
    fn save_locked<P: Projection>(&self, state: &RwLock<P>) -> std::io::Result<()> {
        let bytes = encode(&*state.read().expect("projection lock"))?;
        self.write(P::NAME, &bytes)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(name);
        let temporary = path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&temporary, &path)?;
        sync_dir(&self.dir)
    }
}

fn encode<P: Projection>(state: &P) -> std::io::Result<Vec<u8>> {
    serde_json::to_vec(&Snapshot {
        name: P::NAME.to_owned(),
        version: P::VERSION,
        position: state.position(),
        state,
    })
    .map_err(std::io::Error::other)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Follows the log for one projection until the store's subscription ends or an event cannot be
/// read (it is never skipped). Saves snapshots as `policy` says.
pub async fn follow<P: Projection>(
    store: Arc<dyn EventStore>,
    writer: Writer<P>,
    snapshots: Snapshots,
    policy: SnapshotPolicy,
) -> Result<(), RunnerError> {
    let start = writer.snapshot_position();
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
                    batch.push(readnet_ledger::envelope::decode(&event)?);
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
            match tokio::task::spawn_blocking(move || to.save_locked(&state)).await {
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
/// replays. `progress` is told each position applied.
pub async fn replay<P: Projection>(
    store: &dyn EventStore,
    through: Option<Position>,
    mut progress: impl FnMut(Position),
) -> Result<P, RunnerError> {
    let mut state = P::default();
    let last = through.unwrap_or(Position::MAX).min(store.head_position());
    let mut next = Position::FIRST;
    while next <= last {
        let page = store
            .read_all(AllFrom::Position(next), Direction::Forwards, APPLY_BATCH)
            .await?;
        let Some(end) = page.last().map(|e| e.position) else {
            break;
        };
        let facts = page
            .iter()
            .take_while(|e| e.position <= last)
            .filter(|e| StreamId::holds_facts(&e.stream));
        for event in facts {
            state.apply(&readnet_ledger::envelope::decode(event)?);
        }
        progress(end.min(last));
        next = end.next();
    }
    Ok(state)
}
