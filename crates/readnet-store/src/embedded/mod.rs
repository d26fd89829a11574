//! The embedded store: an append-only log of segment files in a data directory.
//!
//! Layout: `LOCK` (held with an exclusive file lock while a store has the directory open),
//! `segments/<first position, 20 digits>.seg`, `index/<first position>.idx` and
//! `index/checkpoint`. A segment is a sequence of records framed as `[u32 LE body length][u32 LE
//! CRC32C of (length bytes + body)][protobuf body]`. An index file holds what a scan of (a
//! prefix of) its segment would find, so that open reads it instead of the segment; the
//! checkpoint holds the whole index as it was at the last clean close, so that open reads each
//! stream once. Both are caches, checked against the segments and ignored when they do not fit.
//!
//! One writer thread group-commits appends: it validates every waiting append against the
//! committed index plus the batch so far, writes the batch with one write, fdatasyncs, then
//! publishes to the in-memory index and acknowledges. The index (rebuilt on open by scanning the
//! segments) maps positions to record locations and streams to positions; readers look up there
//! under a short read lock and read the records with positional reads outside it.

mod acknowledged;
mod checkpoint;
mod copy;
mod index;
mod index_file;
mod record;
mod recovery;
mod salvage;
mod subscription;
mod witness;
mod writer;

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};

use crate::bounded::Bounds;
use crate::{
    AllFrom, AppendResult, Direction, EventStore, MAX_STREAM_NAME_BYTES, Position, RecordedEvent,
    Revision, SUBSCRIPTION_BOUNDS, StoreError, StreamFrom, StreamWrite, Subscription,
};
pub use copy::{LogCut, cut};
pub use salvage::{
    Examination, Repaired, Salvaged, Scanned, SegmentReport, examine, repair, salvage, scan,
};

use acknowledged::{Mark, Marker};
use index::{Index, ReadPlan};
use index_file::INDEX_DIR;
use record::{BODY_OVERHEAD_BOUND, MAX_BODY_LEN};
use recovery::{Mode, SEGMENTS_DIR, recover, sync_dir};
use writer::{Command, Writer};

/// The name of the lock file in the data directory.
const LOCK_FILE: &str = "LOCK";

/// Appends waiting for the writer; beyond this, appenders wait to enqueue (backpressure).
const REQUEST_QUEUE: usize = 1024;

/// Segments roll over at this size by default.
const DEFAULT_SEGMENT_SIZE_BYTES: u64 = 256 * 1024 * 1024;
// The largest record must fit in a segment of the default size: a batch never spans segments.
const _: () =
    assert!(record::MAX_BODY_LEN as u64 + record::HEADER_LEN as u64 <= DEFAULT_SEGMENT_SIZE_BYTES);

/// Settings of an [`EmbeddedStore`].
#[derive(Clone)]
pub struct EmbeddedOptions {
    /// A segment is closed and a new one started once the next batch would take it past this
    /// size (a batch is never split, so a segment can exceed it by one batch).
    /// Default 256 MiB.
    pub segment_size_bytes: u64,
    /// Group commit takes waiting appends into one write and one sync until the batch holds at
    /// least this many events. Default 4096.
    pub max_batch_events: usize,
    /// How long the writer may hold a batch open for more appends when fewer are waiting than
    /// took part in recent batches (appenders woken by the last sync are on their way back), but
    /// never longer than the last sync took. Zero: sync whatever is waiting at once.
    /// Default 200 µs; a lone appender never waits (its recent batches held one append).
    pub max_commit_delay: Duration,
    /// What each subscription's channel holds at most, in messages and in bytes of events.
    /// Default [`SUBSCRIPTION_BOUNDS`] (1024 messages, 256 KiB).
    pub subscription_buffer: Bounds,
    /// The time stamped on committed events (`recorded_at_us`), microseconds since the Unix
    /// epoch. Default: the system clock.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// Called before each write and sync the store makes to its files, for fault-injection
    /// tests: an error returned here is taken as that step's I/O error (the step is not done).
    /// Default: none.
    pub faults: Option<FaultHook>,
}

/// One write or sync of the store's files, as a [`FaultHook`] sees it, in the order an append
/// makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoStep {
    /// Creating a new segment file (the batch would not fit the last one).
    CreateSegment,
    /// Syncing the segments directory, so that the new file's name lasts.
    SyncSegmentsDir,
    /// Writing a batch's records to the segment.
    WriteRecords,
    /// fdatasync of the segment after the write: once it returns, the batch is durable.
    SyncRecords,
    /// Recording the new acknowledged head (before anything is acknowledged).
    RecordAcknowledged,
    /// Writing a segment's index file (a cache).
    WriteIndexFile,
    /// Writing the index checkpoint at close (a cache).
    WriteCheckpoint,
}

/// See [`EmbeddedOptions::faults`].
pub type FaultHook = Arc<dyn Fn(IoStep) -> std::io::Result<()> + Send + Sync>;

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            segment_size_bytes: DEFAULT_SEGMENT_SIZE_BYTES,
            max_batch_events: 4096,
            max_commit_delay: Duration::from_micros(200),
            subscription_buffer: SUBSCRIPTION_BOUNDS,
            clock: Arc::new(system_clock_us),
            faults: None,
        }
    }
}

impl fmt::Debug for EmbeddedOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedOptions")
            .field("segment_size_bytes", &self.segment_size_bytes)
            .field("max_batch_events", &self.max_batch_events)
            .field("max_commit_delay", &self.max_commit_delay)
            .field("subscription_buffer", &self.subscription_buffer)
            .field("faults", &self.faults.is_some())
            .finish_non_exhaustive()
    }
}

fn system_clock_us() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// What the writer, readers and subscriptions share.
pub(crate) struct Shared {
    index: RwLock<Index>,
    /// The committed head, readable without the lock.
    head: AtomicU64,
}

impl Shared {
    fn read_index(&self) -> RwLockReadGuard<'_, Index> {
        // Only the writer writes, and a panic there is a bug that leaves the index unknown.
        self.index.read().expect("the index lock is not poisoned")
    }

    fn write_index(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().expect("the index lock is not poisoned")
    }
}

/// The embedded event store: a data directory, no server. See the [module docs](self).
///
/// Dropping it (or [`close`](EmbeddedStore::close)) stops the writer after the batch in hand;
/// appends still queued then fail with [`StoreError::Closed`].
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    /// `None` once dropping (the writer stops when the last sender is gone), and for a
    /// read-only store, which has no writer.
    commands: Option<mpsc::Sender<Command>>,
    read_only: bool,
    head: watch::Receiver<u64>,
    writer: Option<JoinHandle<()>>,
    runtime: Handle,
    subscription_buffer: Bounds,
    /// Held (locked) while this store may write to the directory.
    lock: Mutex<Option<File>>,
    from_checkpoint: bool,
    /// From an append's arrival to its acknowledgement (its wait for the batch, the write and
    /// the sync), for operations (ADR 0021).
    append_seconds: metrics::Histogram,
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("head", &self.head_position())
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`: takes the directory's lock, loads the
    /// index from the segments' index files and scans what they do not cover, truncates a torn write at the end of the log, and starts the
    /// writer thread. Must be called within a tokio runtime, which the store then uses for
    /// subscriptions and reads.
    ///
    /// Fails with [`StoreError::Locked`] if another store holds the directory and with
    /// [`StoreError::Corrupt`] if the log is damaged anywhere but at its very end.
    pub async fn open(
        dir: impl AsRef<Path>,
        options: EmbeddedOptions,
    ) -> Result<EmbeddedStore, StoreError> {
        if options.segment_size_bytes == 0
            || options.max_batch_events == 0
            || options.subscription_buffer.messages == 0
            || options.subscription_buffer.bytes == 0
        {
            return Err(StoreError::InvalidArgument(format!(
                "segment size, batch bound and subscription buffer must be positive: {options:?}"
            )));
        }
        let dir = dir.as_ref().to_path_buf();
        let runtime = Handle::current();
        let subscription_buffer = options.subscription_buffer;
        let (lock, shared, writer, head, from_checkpoint) =
            run_blocking(move || open_dir(dir, options)).await?;
        let writer = writer.expect("a writable open has a writer");
        let (commands, receiver) = mpsc::channel(REQUEST_QUEUE);
        let writer = std::thread::Builder::new()
            .name("readnet-store-writer".into())
            .spawn(move || {
                // Acknowledge a close only once the writer's files are closed.
                if let Some(done) = writer.run(receiver) {
                    let _ = done.send(());
                }
            })?;
        Ok(EmbeddedStore {
            shared,
            commands: Some(commands),
            read_only: false,
            head,
            writer: Some(writer),
            runtime,
            subscription_buffer,
            lock: Mutex::new(Some(lock)),
            from_checkpoint,
            append_seconds: metrics::histogram!("readnet_store_append_seconds"),
        })
    }

    /// Opens the store in `dir` for reading only, as an auditor must: nothing in the directory
    /// is created, written, renamed or deleted, and no lock is taken, so it works on a read-only
    /// copy or mount, and beside a server appending to the same directory (it then sees the log
    /// as it was when opened). A torn tail is left in place and not read; damage and missing
    /// acknowledged events fail the open exactly as [`open`](Self::open) does. Appends fail with
    /// [`StoreError::ReadOnly`]; subscriptions end once they have delivered the log.
    pub async fn open_read_only(
        dir: impl AsRef<Path>,
        options: EmbeddedOptions,
    ) -> Result<EmbeddedStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no event store in {}: not a directory", dir.display()),
            )));
        }
        let recovered = run_blocking(move || recover(&dir, Mode::Read)).await?;
        let head = recovered.index.head();
        let from_checkpoint = recovered.checkpoint_head.is_some();
        let shared = Arc::new(Shared {
            index: RwLock::new(recovered.index),
            head: AtomicU64::new(head),
        });
        // No sender: subscriptions see a store that will not grow.
        let (_, head_rx) = watch::channel(head);
        Ok(EmbeddedStore {
            shared,
            commands: None,
            read_only: true,
            head: head_rx,
            writer: None,
            runtime: Handle::current(),
            subscription_buffer: Bounds {
                messages: options.subscription_buffer.messages.max(1),
                bytes: options.subscription_buffer.bytes.max(1),
            },
            lock: Mutex::new(None),
            from_checkpoint,
            append_seconds: metrics::histogram!("readnet_store_append_seconds"),
        })
    }

    /// Whether open built the index from the index checkpoint (the store had been closed
    /// cleanly after its last append) rather than from the segments and their index files.
    pub fn opened_from_checkpoint(&self) -> bool {
        self.from_checkpoint
    }

    /// Stops the writer (after the batch in hand) and releases the directory's lock. Later
    /// appends fail with [`StoreError::Closed`]; reads keep working; subscriptions end after
    /// delivering everything committed.
    pub async fn close(&self) {
        if let Some(commands) = &self.commands {
            let (done, closed) = oneshot::channel();
            if commands.send(Command::Close { done }).await.is_ok() {
                let _ = closed.await;
            }
        }
        self.lock
            .lock()
            .expect("the lock mutex is not poisoned")
            .take();
    }

    fn commands(&self) -> Result<&mpsc::Sender<Command>, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        self.commands.as_ref().ok_or(StoreError::Closed)
    }

    async fn read(&self, plan: ReadPlan) -> Result<Vec<RecordedEvent>, StoreError> {
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        run_blocking(move || plan.execute()).await
    }
}

/// What opening a directory yields: its lock, the recovered index, a writer for it, and
/// whether the index came from the checkpoint.
type Opened = (
    File,
    Arc<Shared>,
    Option<Writer>,
    watch::Receiver<u64>,
    bool,
);

/// The blocking part of [`EmbeddedStore::open`].
fn open_dir(dir: PathBuf, options: EmbeddedOptions) -> Result<Opened, StoreError> {
    fs::create_dir_all(&dir)?;
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))?;
    take_lock(&lock, &dir)?;
    let segments_dir = dir.join(SEGMENTS_DIR);
    if !segments_dir.is_dir() {
        fs::create_dir(&segments_dir)?;
        sync_dir(&dir)?;
    }
    let index_dir = dir.join(INDEX_DIR);
    if !index_dir.is_dir() {
        fs::create_dir(&index_dir)?;
        sync_dir(&dir)?;
    }
    let recovered = recover(&dir, Mode::Write)?;
    let head = recovered.index.head();
    // From now on the log must reach this far.
    let (segment, end) = recovered
        .last_segment
        .as_ref()
        .map_or((0, 0), |(_, first, len)| (*first, *len));
    let marker = Marker::open(&dir, Mark { head, segment, end })?;
    let from_checkpoint = recovered.checkpoint_head.is_some();
    tracing::debug!(
        from_checkpoint,
        dir = %dir.display(),
        head,
        segments = recovered.index.segments.len(),
        streams = recovered.index.streams.len(),
        "opened the event store"
    );
    let shared = Arc::new(Shared {
        index: RwLock::new(recovered.index),
        head: AtomicU64::new(head),
    });
    let (head_tx, head_rx) = watch::channel(head);
    let writer = Writer::new(
        Arc::clone(&shared),
        segments_dir,
        index_dir,
        options.segment_size_bytes,
        options.max_batch_events,
        options.max_commit_delay,
        options.clock,
        head_tx,
        recovered.last_segment,
        recovered.last_indexed_len,
        recovered.checkpoint_head,
        marker,
        options.faults,
    )?;
    Ok((lock, shared, Some(writer), head_rx, from_checkpoint))
}

/// How long a held lock is waited for before the directory counts as in use.
const LOCK_PATIENCE: Duration = Duration::from_millis(250);

/// Takes the directory's exclusive lock (`flock`, so it is released when the process dies).
///
/// A lock that frees up within [`LOCK_PATIENCE`] is waited for: a child process forked by any
/// thread of this process holds a copy of the descriptor until it execs, so a store reopened
/// right after being dropped can find its own lock briefly still held.
fn take_lock(lock: &File, dir: &Path) -> Result<(), StoreError> {
    let deadline = Instant::now() + LOCK_PATIENCE;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: dir.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // The writer sees its channel close, finishes the batch in hand and exits; waiting for
        // it means the directory is free (files closed, lock released) once drop returns.
        self.commands.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the event store's writer thread panicked");
        }
    }
}

/// Runs blocking work (file I/O) off the async workers.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down.
        Err(_) => Err(StoreError::Closed),
    }
}

/// Refuses malformed appends before they reach the writer.
fn check_writes(writes: &[StreamWrite]) -> Result<(), StoreError> {
    let invalid = |reason: String| Err(StoreError::InvalidArgument(reason));
    if writes.is_empty() {
        return invalid("an append needs at least one write".into());
    }
    let mut streams = HashSet::with_capacity(writes.len());
    for write in writes {
        if write.stream.is_empty() {
            return invalid("empty stream name".into());
        }
        if write.stream.len() > MAX_STREAM_NAME_BYTES {
            return invalid(format!(
                "stream name of {} bytes: at most {MAX_STREAM_NAME_BYTES}",
                write.stream.len()
            ));
        }
        if !streams.insert(write.stream.as_str()) {
            return invalid(format!(
                "stream {} appears twice in one append",
                write.stream
            ));
        }
        if write.events.is_empty() {
            return invalid(format!("the write to {} has no events", write.stream));
        }
        for event in &write.events {
            if event.event_type.is_empty() {
                return invalid(format!("an event for {} has an empty type", write.stream));
            }
            let size = write.stream.len()
                + event.event_type.len()
                + event.metadata.len()
                + event.data.len()
                + BODY_OVERHEAD_BOUND;
            if size > MAX_BODY_LEN as usize {
                return invalid(format!(
                    "event {} for {} is too large ({size} bytes, at most {MAX_BODY_LEN})",
                    event.event_id, write.stream
                ));
            }
        }
    }
    Ok(())
}

#[async_trait]
impl EventStore for EmbeddedStore {
    async fn append_multi(
        &self,
        writes: Vec<StreamWrite>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        check_writes(&writes)?;
        let started = std::time::Instant::now();
        let (reply, result) = oneshot::channel();
        self.commands()?
            .send(Command::Append { writes, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        let result = result.await.map_err(|_| StoreError::Closed)?;
        self.append_seconds.record(started.elapsed().as_secs_f64());
        result
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let plan = self
            .shared
            .read_index()
            .plan_stream(stream, from, direction, max_count);
        self.read(plan).await
    }

    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let plan = self
            .shared
            .read_index()
            .plan_all(from, direction, max_count);
        self.read(plan).await
    }

    async fn stream_revision(&self, stream: &str) -> Result<Option<Revision>, StoreError> {
        let index = self.shared.read_index();
        Ok(index
            .streams
            .get(stream)
            .and_then(|positions| positions.len().checked_sub(1))
            .map(|revision| Revision::new(revision as u64)))
    }

    fn head_position(&self) -> Position {
        Position::new(self.shared.head.load(Ordering::Acquire))
    }

    fn subscribe_all(&self, checkpoint: Position) -> Subscription {
        let (tx, subscription) = crate::subscription(self.subscription_buffer);
        self.runtime.spawn(subscription::run(
            Arc::clone(&self.shared),
            self.head.clone(),
            checkpoint,
            tx,
        ));
        subscription
    }
}
