//! The writer: one OS thread that owns the active segment, validates appends, writes them in
//! group commits and publishes them to the index once they are synced.
//!
//! Blocking I/O and fdatasync stay on this thread, off the async runtime. Readers are never
//! behind it: the index lock is taken for reading while a batch is validated and for writing
//! only to publish a synced batch.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::acknowledged::{Mark, Marker};
use super::checkpoint;
use super::index::{Entry, Index, SegmentHandle};
use super::index_file;
use super::record::{RecordBody, encode_frame};
use super::recovery::{segment_path, sync_dir};
use super::{FaultHook, IoStep, Shared};
use crate::{
    AppendResult, ContentType, CurrentRevision, Position, Revision, StoreError, StreamState,
    StreamWrite,
};

/// The reply to an append.
pub(crate) type AppendReply = oneshot::Sender<Result<Vec<AppendResult>, StoreError>>;

/// What the store asks of its writer.
pub(crate) enum Command {
    /// An `append_multi`, arguments already checked.
    Append {
        writes: Vec<StreamWrite>,
        reply: AppendReply,
    },
    /// Stop; `done` is told once the writer has let go of its files.
    Close { done: oneshot::Sender<()> },
}

/// The segment appends go to.
struct ActiveSegment {
    path: PathBuf,
    first_position: u64,
    file: File,
    len: u64,
    /// How much of it its index file covers.
    indexed_len: u64,
}

/// The writer thread's state.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    segments_dir: PathBuf,
    index_dir: PathBuf,
    segment_size: u64,
    max_batch_events: usize,
    max_commit_delay: Duration,
    /// How many appends recent batches held (decaying peak): what a batch waits for.
    recent_appends: usize,
    /// How long the last sync took: the most a batch waits for more appends.
    last_sync: Duration,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// The committed head, for subscriptions; updated after each publish.
    head: watch::Sender<u64>,
    active: Option<ActiveSegment>,
    /// Set when a write or sync failed: what is on disk is then unknown, so nothing more is
    /// appended (and fsync is not retried: after a failed fsync the kernel may have dropped the
    /// dirty pages, and a second fsync would report success for data that is gone).
    poisoned: Option<String>,
    /// The batch's encoded records; kept to reuse its allocation.
    buf: Vec<u8>,
    /// Threads writing the index files of finished segments; joined before the writer exits.
    indexers: Vec<std::thread::JoinHandle<()>>,
    /// The head the index checkpoint on disk describes, if known: a close with nothing
    /// appended since need not write it again.
    checkpoint_head: Option<u64>,
    /// Where each synced batch is recorded before it is acknowledged.
    marker: Marker,
    /// Fault injection (tests): asked before each write and sync.
    faults: Option<FaultHook>,
    /// Operations' measures of each commit (ADR 0021), registered once.
    meters: CommitMeters,
}

/// What the writer measures per commit: handles taken once from the process's metrics recorder,
/// so that a commit records numbers and formats no names.
struct CommitMeters {
    batch_events: metrics::Histogram,
    batch_appends: metrics::Histogram,
    fsync_seconds: metrics::Histogram,
}

impl CommitMeters {
    fn new() -> Self {
        Self {
            batch_events: metrics::histogram!("readnet_store_commit_batch_events"),
            batch_appends: metrics::histogram!("readnet_store_commit_batch_appends"),
            fsync_seconds: metrics::histogram!("readnet_store_fsync_seconds"),
        }
    }
}

/// One append waiting in a batch for the sync, with what it will be told.
struct Pending {
    reply: AppendReply,
    result: Result<Vec<AppendResult>, StoreError>,
}

impl Writer {
    /// A writer appending to `active` (the last segment, its first position and its length),
    /// of which `indexed_len` bytes have an index file, or to a new segment
    /// when there is none.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        segments_dir: PathBuf,
        index_dir: PathBuf,
        segment_size: u64,
        max_batch_events: usize,
        max_commit_delay: Duration,
        clock: Arc<dyn Fn() -> i64 + Send + Sync>,
        head: watch::Sender<u64>,
        active: Option<(PathBuf, u64, u64)>,
        indexed_len: u64,
        checkpoint_head: Option<u64>,
        marker: Marker,
        faults: Option<FaultHook>,
    ) -> io::Result<Writer> {
        let active = match active {
            Some((path, first_position, len)) => Some(ActiveSegment {
                file: OpenOptions::new().write(true).open(&path)?,
                path,
                first_position,
                len,
                indexed_len,
            }),
            None => None,
        };
        Ok(Writer {
            shared,
            segments_dir,
            index_dir,
            segment_size,
            max_batch_events,
            max_commit_delay,
            recent_appends: 0,
            last_sync: Duration::ZERO,
            clock,
            head,
            active,
            poisoned: None,
            buf: Vec::new(),
            indexers: Vec::new(),
            checkpoint_head,
            marker,
            faults,
            meters: CommitMeters::new(),
        })
    }

    /// Asks the fault hook, if any, whether `step` may happen.
    fn step(&self, step: IoStep) -> io::Result<()> {
        match &self.faults {
            Some(hook) => hook(step),
            None => Ok(()),
        }
    }

    /// Writes the index file of the active segment as far as it is synced (unless one already
    /// covers it), waits for the finished segments' index files, then writes the index
    /// checkpoint: the next open then reads one file and scans nothing. Failure only costs that
    /// open time.
    fn write_index_files(&mut self) {
        if self.poisoned.is_none()
            && let Err(e) = self.marker.sync()
        {
            tracing::warn!(file = %self.marker.path().display(), error = %e, "the acknowledged head was not synced at close");
        }
        if let Some(active) = &self.active
            && self.poisoned.is_none()
            && active.len > active.indexed_len
        {
            let written = self
                .step(IoStep::WriteIndexFile)
                .and_then(|()| {
                    index_file::summarise(&active.path, active.first_position, active.len)
                })
                .and_then(|summary| index_file::write(&self.index_dir, &summary));
            if let Err(e) = written {
                tracing::warn!(segment = %active.path.display(), error = %e, "no index file written");
            }
        }
        for indexer in self.indexers.drain(..) {
            if indexer.join().is_err() {
                tracing::error!("an index file writer panicked");
            }
        }
        if self.poisoned.is_some() {
            return;
        }
        let index = self.shared.read_index();
        let head = index.head();
        if head == 0 || self.checkpoint_head == Some(head) {
            return;
        }
        let started = Instant::now();
        match self
            .step(IoStep::WriteCheckpoint)
            .and_then(|()| checkpoint::write(&self.index_dir, &index))
        {
            Ok(written) => tracing::debug!(
                head,
                written,
                took_ms = started.elapsed().as_millis() as u64,
                "index checkpoint"
            ),
            Err(e) => tracing::warn!(error = %e, "no index checkpoint written"),
        }
    }

    /// Writes the index file of a segment that was just finished, on a thread of its own so
    /// that appends do not wait for it.
    fn index_in_background(&mut self, finished: &ActiveSegment) {
        self.indexers.retain(|indexer| !indexer.is_finished());
        let (path, first_position, len) =
            (finished.path.clone(), finished.first_position, finished.len);
        let index_dir = self.index_dir.clone();
        let faults = self.faults.clone();
        let spawned = std::thread::Builder::new()
            .name("readnet-store-indexer".into())
            .spawn(move || {
                let written = faults
                    .map_or(Ok(()), |hook| hook(IoStep::WriteIndexFile))
                    .and_then(|()| index_file::summarise(&path, first_position, len))
                    .and_then(|summary| index_file::write(&index_dir, &summary));
                if let Err(e) = written {
                    tracing::warn!(segment = %path.display(), error = %e, "no index file written");
                }
            });
        match spawned {
            Ok(indexer) => self.indexers.push(indexer),
            Err(e) => tracing::warn!(error = %e, "no thread to write an index file"),
        }
    }

    /// Serves commands until told to close or until the store is dropped; returns the close
    /// request to acknowledge, if any, once the writer's files are closed.
    pub(crate) fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
    ) -> Option<oneshot::Sender<()>> {
        let mut batch: Vec<(Vec<StreamWrite>, AppendReply)> = Vec::new();
        while let Some(first) = commands.blocking_recv() {
            let mut close = None;
            let mut events = 0;
            let mut take = |command: Command, batch: &mut Vec<_>, close: &mut Option<_>| {
                match command {
                    Command::Append { writes, reply } => {
                        events += writes.iter().map(|w| w.events.len()).sum::<usize>();
                        batch.push((writes, reply));
                    }
                    Command::Close { done } => *close = Some(done),
                }
                events
            };
            let mut events_now = take(first, &mut batch, &mut close);
            // Group commit: take everything already waiting, up to the bound, so that one
            // sync serves every append that arrived while the previous one ran.
            let mut waiting_since = None;
            loop {
                if close.is_some() || events_now >= self.max_batch_events {
                    break;
                }
                match commands.try_recv() {
                    Ok(command) => events_now = take(command, &mut batch, &mut close),
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        // Appenders acknowledged by the last sync are still on their way back:
                        // hold the batch briefly rather than sync a fraction of them.
                        if batch.len() >= self.recent_appends {
                            break;
                        }
                        let since = *waiting_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.max_commit_delay.min(self.last_sync) {
                            break;
                        }
                        std::thread::yield_now();
                    }
                }
            }
            self.recent_appends = batch
                .len()
                .max(self.recent_appends - self.recent_appends.div_ceil(8));
            if !batch.is_empty() {
                self.meters.batch_appends.record(batch.len() as f64);
                self.meters.batch_events.record(events_now as f64);
                self.commit(&mut batch);
            }
            if close.is_some() {
                self.write_index_files();
                return close;
            }
        }
        self.write_index_files();
        None
    }

    /// Validates, writes, syncs and publishes one batch, then replies to each of its appends.
    fn commit(&mut self, batch: &mut Vec<(Vec<StreamWrite>, AppendReply)>) {
        if let Some(reason) = &self.poisoned {
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(StoreError::Poisoned(reason.clone())));
            }
            return;
        }
        let recorded_at_us = (self.clock)();
        self.buf.clear();
        let mut pending = Vec::with_capacity(batch.len());
        let staged = {
            let index = self.shared.read_index();
            let mut view = BatchView::new(&index);
            for (writes, reply) in batch.drain(..) {
                let result = view.stage(writes, recorded_at_us, &mut self.buf);
                pending.push(Pending { reply, result });
            }
            view.into_staged()
        };

        if !staged.records.is_empty()
            && let Err(e) = self.write_and_publish(staged)
        {
            let reason = format!("writing the log failed: {e}");
            tracing::error!(error = %e, "the event store stops accepting appends");
            self.poisoned = Some(reason.clone());
            for p in pending {
                let _ = p.reply.send(Err(StoreError::Io(io::Error::new(
                    e.kind(),
                    reason.clone(),
                ))));
            }
            return;
        }
        // Replies only now: even a retry or a refusal may rest on events of this batch.
        for p in pending {
            let _ = p.reply.send(p.result);
        }
    }

    /// Writes the staged records with one write, syncs them, then makes them visible.
    fn write_and_publish(&mut self, staged: Staged) -> io::Result<()> {
        let batch_len = self.buf.len() as u64;
        // A batch stays within one segment, so one sync covers it and a segment always ends
        // at the end of an append.
        let rotate = match &self.active {
            None => true,
            Some(active) => active.len > 0 && active.len + batch_len > self.segment_size,
        };
        let mut new_segment = None;
        if rotate {
            let path = segment_path(&self.segments_dir, staged.first_position);
            // A leftover index file of this name (from a segment that was cut away) must never
            // be taken for the new segment's.
            self.step(IoStep::CreateSegment)?;
            index_file::remove(&self.index_dir, staged.first_position)?;
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            // The new file's directory entry must be durable before anything in it is
            // acknowledged.
            self.step(IoStep::SyncSegmentsDir)?;
            sync_dir(&self.segments_dir)?;
            let reader = File::open(&path)?;
            new_segment = Some(Arc::new(SegmentHandle {
                path: path.clone(),
                file: reader,
            }));
            let previous = self.active.replace(ActiveSegment {
                path,
                first_position: staged.first_position,
                file,
                len: 0,
                indexed_len: 0,
            });
            if let Some(finished) = previous
                && finished.len > finished.indexed_len
            {
                self.index_in_background(&finished);
            }
        }
        self.step(IoStep::WriteRecords)?;
        let active = self.active.as_ref().expect("a segment is open");
        active.file.write_all_at(&self.buf, active.len)?;
        self.step(IoStep::SyncRecords)?;
        let syncing = Instant::now();
        active.file.sync_data()?;
        self.last_sync = syncing.elapsed();
        self.meters
            .fsync_seconds
            .record(self.last_sync.as_secs_f64());
        let active = self.active.as_mut().expect("a segment is open");
        let base = active.len;
        active.len += batch_len;
        let mark = Mark {
            head: staged.first_position + staged.records.len() as u64 - 1,
            segment: active.first_position,
            end: active.len,
        };
        // Recorded before anything is acknowledged: from now on the log must reach this far.
        self.step(IoStep::RecordAcknowledged)?;
        self.marker.record(mark)?;

        let mut index = self.shared.write_index();
        if let Some(segment) = new_segment {
            index.segments.push(segment);
        }
        let segment = (index.segments.len() - 1) as u32;
        assert_eq!(
            index.head() + 1,
            staged.first_position,
            "positions stay dense"
        );
        let mut offset = base;
        index.entries.reserve(staged.records.len());
        for record in &staged.records {
            index.entries.push(Entry {
                offset,
                event_id: record.event_id,
                segment,
                len: record.len,
            });
            offset += u64::from(record.len);
        }
        debug_assert_eq!(offset, base + batch_len);
        for (stream, positions) in staged.streams {
            index
                .streams
                .entry(stream)
                .or_default()
                .extend(positions.iter().copied());
        }
        let head = index.head();
        self.shared.head.store(head, Ordering::Release);
        drop(index);
        self.head.send_replace(head);
        Ok(())
    }
}

/// A record encoded in the batch buffer, in position order.
struct StagedRecord {
    event_id: Uuid,
    len: u32,
}

/// What a batch adds to the index once synced.
struct Staged {
    first_position: u64,
    records: Vec<StagedRecord>,
    /// Positions added to each stream, ascending.
    streams: HashMap<String, Vec<u64>>,
}

/// The log as an append in a batch sees it: the committed index plus what the appends before
/// it in the same batch added. Validating against this (not the index alone) is what makes two
/// appends with the same expectation in one batch conflict.
struct BatchView<'a> {
    index: &'a Index,
    staged: Staged,
}

/// How a write relates to its stream.
enum Class {
    /// Its events are already there: the result of the original append.
    Retry(AppendResult),
    /// Its expectation holds: write it.
    New,
}

impl<'a> BatchView<'a> {
    fn new(index: &'a Index) -> Self {
        BatchView {
            index,
            staged: Staged {
                first_position: index.head() + 1,
                records: Vec::new(),
                streams: HashMap::new(),
            },
        }
    }

    fn into_staged(self) -> Staged {
        self.staged
    }

    fn next_position(&self) -> u64 {
        self.staged.first_position + self.staged.records.len() as u64
    }

    /// A stream's committed and staged positions.
    fn positions(&self, stream: &str) -> (&[u64], &[u64]) {
        let committed = self.index.streams.get(stream).map_or(&[][..], |p| &p[..]);
        let staged = self.staged.streams.get(stream).map_or(&[][..], |p| &p[..]);
        (committed, staged)
    }

    fn event_id(&self, position: u64) -> Uuid {
        if position < self.staged.first_position {
            self.index.entry(position).event_id
        } else {
            self.staged.records[(position - self.staged.first_position) as usize].event_id
        }
    }

    /// Checks and stages one `append_multi`: all its writes are retries (the original results
    /// are returned, nothing is written), or all are new and hold their expectations (their
    /// records are encoded into `buf`), or it fails whole.
    fn stage(
        &mut self,
        writes: Vec<StreamWrite>,
        recorded_at_us: i64,
        buf: &mut Vec<u8>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        let mut retries = Vec::new();
        let mut first_retry = None;
        for (i, write) in writes.iter().enumerate() {
            if let Class::Retry(result) = self.classify(write)? {
                first_retry.get_or_insert(i);
                retries.push(result);
            }
        }
        if retries.len() == writes.len() {
            return Ok(retries);
        }
        if let Some(i) = first_retry {
            // Part of the call was appended before and part was not: not a retry of one call.
            return Err(StoreError::IdempotencyMismatch {
                stream: writes[i].stream.clone(),
            });
        }

        let mut results = Vec::with_capacity(writes.len());
        let last_write = writes.len() - 1;
        for (w, write) in writes.into_iter().enumerate() {
            let (committed, staged) = self.positions(&write.stream);
            let first_revision = (committed.len() + staged.len()) as u64;
            let first_position = self.next_position();
            let count = write.events.len();
            // One body, refilled per event: the event's buffers move in, nothing is copied.
            let mut body = RecordBody {
                stream: write.stream,
                recorded_at_us,
                ..RecordBody::default()
            };
            for (i, event) in write.events.into_iter().enumerate() {
                body.position = self.next_position();
                body.revision = first_revision + i as u64;
                body.event_id.clear();
                body.event_id.extend_from_slice(event.event_id.as_bytes());
                body.event_type = event.event_type;
                body.json = event.content_type == ContentType::Json;
                body.metadata = event.metadata;
                body.data = event.data;
                body.append_end = w == last_write && i + 1 == count;
                let len = encode_frame(&body, buf);
                self.staged.records.push(StagedRecord {
                    event_id: event.event_id,
                    len,
                });
            }
            let last_position = self.next_position() - 1;
            self.staged
                .streams
                .entry(body.stream)
                .or_default()
                .extend(first_position..=last_position);
            results.push(AppendResult {
                next_expected_revision: Revision::new(first_revision + count as u64 - 1),
                first_position: Position::new(first_position),
                position: Position::new(last_position),
                recorded_at_us: Some(recorded_at_us),
            });
        }
        Ok(results)
    }

    /// Whether a write is a retry, new, or refused (expectation or partial id match).
    fn classify(&self, write: &StreamWrite) -> Result<Class, StoreError> {
        let (committed, staged) = self.positions(&write.stream);
        let position_at = |revision: u64| -> u64 {
            let r = revision as usize;
            if r < committed.len() {
                committed[r]
            } else {
                staged[r - committed.len()]
            }
        };
        let len = (committed.len() + staged.len()) as u64;
        let count = write.events.len() as u64;

        // Where the write's events would already be if it were a retry.
        let retry_from = match write.expected {
            StreamState::NoStream => Some(0),
            StreamState::Revision(n) => n.get().checked_add(1),
            StreamState::Any | StreamState::StreamExists => {
                let first_id = write.events[0].event_id;
                (0..len)
                    .rev()
                    .find(|&r| self.event_id(position_at(r)) == first_id)
            }
        };
        if let Some(start) = retry_from
            && start < len
        {
            let matched = write
                .events
                .iter()
                .zip(start..len)
                .filter(|(event, r)| self.event_id(position_at(*r)) == event.event_id)
                .count() as u64;
            if matched == count {
                return Ok(Class::Retry(AppendResult {
                    next_expected_revision: Revision::new(start + count - 1),
                    first_position: Position::new(position_at(start)),
                    position: Position::new(position_at(start + count - 1)),
                    recorded_at_us: None,
                }));
            }
            if matched > 0 {
                return Err(StoreError::IdempotencyMismatch {
                    stream: write.stream.clone(),
                });
            }
        }

        let holds = match write.expected {
            StreamState::Any => true,
            StreamState::NoStream => len == 0,
            StreamState::StreamExists => len > 0,
            StreamState::Revision(n) => len > 0 && len - 1 == n.get(),
        };
        if holds {
            Ok(Class::New)
        } else {
            Err(StoreError::WrongExpectedVersion {
                stream: write.stream.clone(),
                expected: write.expected,
                actual: match len {
                    0 => CurrentRevision::NoStream,
                    n => CurrentRevision::Current(Revision::new(n - 1)),
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(stream: &str, expected: StreamState, ids: &[u128]) -> Vec<StreamWrite> {
        vec![crate::test_write(stream, expected, ids)]
    }

    #[test]
    fn appends_in_one_batch_see_the_appends_before_them() {
        let index = Index::default();
        let mut view = BatchView::new(&index);
        let mut buf = vec![];
        let first = view.stage(write("s", StreamState::NoStream, &[1, 2]), 0, &mut buf);
        assert_eq!(
            first.unwrap(),
            [AppendResult {
                next_expected_revision: Revision::new(1),
                first_position: Position::new(1),
                position: Position::new(2),
                recorded_at_us: Some(0),
            }]
        );
        // Same expectation, other events: the first append took the place.
        let second = view.stage(write("s", StreamState::NoStream, &[3]), 0, &mut buf);
        assert!(matches!(
            second,
            Err(StoreError::WrongExpectedVersion {
                actual: CurrentRevision::Current(r),
                ..
            }) if r == Revision::new(1)
        ));
        // The same append again: a retry of one not yet synced, same result, nothing staged.
        let retry = view.stage(write("s", StreamState::NoStream, &[1, 2]), 0, &mut buf);
        assert_eq!(retry.unwrap()[0].position, Position::new(2));
        let expected = StreamState::Revision(Revision::new(1));
        let next = view.stage(write("s", expected, &[4]), 0, &mut buf);
        assert_eq!(next.unwrap()[0].position, Position::new(3));
        let staged = view.into_staged();
        assert_eq!(staged.records.len(), 3);
        assert_eq!(staged.streams["s"], [1, 2, 3]);
    }

    #[test]
    fn a_failed_write_fails_its_batch_and_poisons_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        File::create(&path).unwrap();
        let shared = Arc::new(Shared {
            index: std::sync::RwLock::new(Index::default()),
            head: std::sync::atomic::AtomicU64::new(0),
        });
        let (head, head_rx) = watch::channel(0);
        let clock = Arc::new(|| 0);
        let mut writer = Writer::new(
            Arc::clone(&shared),
            dir.path().to_path_buf(),
            dir.path().to_path_buf(),
            1 << 20,
            16,
            Duration::ZERO,
            clock,
            head,
            None,
            0,
            None,
            Marker::open(
                dir.path(),
                Mark {
                    head: 0,
                    segment: 0,
                    end: 0,
                },
            )
            .unwrap(),
            None,
        )
        .unwrap();
        // A read-only handle: the write fails as a full or failing disk would.
        writer.active = Some(ActiveSegment {
            file: File::open(&path).unwrap(),
            path,
            first_position: 1,
            len: 0,
            indexed_len: 0,
        });

        let (reply, mut failed) = oneshot::channel();
        writer.commit(&mut vec![(write("s", StreamState::Any, &[1]), reply)]);
        assert!(matches!(failed.try_recv().unwrap(), Err(StoreError::Io(_))));
        let (reply, mut refused) = oneshot::channel();
        writer.commit(&mut vec![(write("s", StreamState::Any, &[2]), reply)]);
        assert!(matches!(
            refused.try_recv().unwrap(),
            Err(StoreError::Poisoned(_))
        ));
        // Nothing was published.
        assert_eq!(shared.read_index().head(), 0);
        assert_eq!(*head_rx.borrow(), 0);
    }

    #[test]
    fn a_multi_append_partly_in_place_is_a_mismatch_and_stages_nothing() {
        let index = Index::default();
        let mut view = BatchView::new(&index);
        let mut buf = vec![];
        view.stage(write("a", StreamState::Any, &[1]), 0, &mut buf)
            .unwrap();
        let len = buf.len();
        let mut writes = write("a", StreamState::Any, &[1]);
        writes.extend(write("b", StreamState::Any, &[2]));
        assert!(matches!(
            view.stage(writes, 0, &mut buf),
            Err(StoreError::IdempotencyMismatch { stream }) if stream == "a"
        ));
        assert_eq!(buf.len(), len);
        assert_eq!(view.next_position(), 2);
    }
}
