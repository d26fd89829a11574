//! Measurements of the embedded store: durable appends, group commit, opening a log, its size.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventData, EventStore, Revision, StreamState, StreamWrite};
use serde::Serialize;
use uuid::Uuid;

use crate::{BenchError, EVENT_DATA_BYTES, EVENT_TYPE, Latency};

/// Events written per append while filling a log for [`open_time`]: filling is not measured.
const FILL_BATCH: usize = 256;
/// Streams a filled log spreads its events over, like items in a real ledger.
const FILL_STREAMS: usize = 1024;

/// An event of the benchmark's shape: a fresh id, [`EVENT_TYPE`], [`EVENT_DATA_BYTES`] of data.
pub fn bench_event(seed: u64) -> EventData {
    EventData {
        event_id: Uuid::new_v4(),
        event_type: EVENT_TYPE.to_owned(),
        content_type: readnet_store::ContentType::Binary,
        metadata: Vec::new().into(),
        data: payload(seed).into(),
    }
}

/// [`EVENT_DATA_BYTES`] bytes that differ from event to event.
pub fn payload(seed: u64) -> Vec<u8> {
    seed.to_le_bytes()
        .iter()
        .copied()
        .cycle()
        .take(EVENT_DATA_BYTES)
        .collect()
}

/// One writer appends single events to one stream of a fresh store in `dir` for `window`, each
/// expecting the previous revision, and waits for each to be durable before the next.
pub async fn durable_append(dir: &Path, window: Duration) -> Result<Latency, BenchError> {
    group_commit(dir, 1, window).await.map(|g| g.latency)
}

/// Group commit under load: how many concurrent writers and what they achieved together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GroupCommit {
    pub writers: usize,
    /// Over every writer's appends: `count` appends in `elapsed` (the window, plus the appends
    /// in flight when it closed).
    pub latency: Latency,
}

/// `writers` concurrent tasks each append single events to a stream of their own in a fresh
/// store in `dir`, one durable append at a time, until `window` has passed; the store
/// group-commits what is waiting. A window of seconds makes the rate a sustained one: a burst
/// of a few thousand appends fits in the store's first batches and the page cache.
pub async fn group_commit(
    dir: &Path,
    writers: usize,
    window: Duration,
) -> Result<GroupCommit, BenchError> {
    let store = Arc::new(EmbeddedStore::open(dir, EmbeddedOptions::default()).await?);
    let started = Instant::now();
    let until = started + window;
    let mut tasks = Vec::with_capacity(writers);
    for writer in 0..writers {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            append_one_by_one(&store, &format!("bench-{writer}"), until).await
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        let writer = task.await.map_err(|e| BenchError::Writer(e.to_string()))?;
        latencies.extend(writer?);
    }
    let elapsed = started.elapsed();
    store.close().await;
    Ok(GroupCommit {
        writers,
        latency: Latency::from_samples(latencies, elapsed),
    })
}

/// Appends to `stream` one durable event at a time until `until`; each append's latency.
async fn append_one_by_one(
    store: &EmbeddedStore,
    stream: &str,
    until: Instant,
) -> Result<Vec<Duration>, BenchError> {
    let mut latencies = Vec::new();
    let mut expected = StreamState::NoStream;
    let mut revision = 0;
    while Instant::now() < until {
        let event = bench_event(revision);
        let started = Instant::now();
        let result = store.append(stream, expected, vec![event]).await?;
        latencies.push(started.elapsed());
        assert_eq!(
            result.next_expected_revision,
            Revision::new(revision),
            "revisions are dense"
        );
        expected = StreamState::Revision(result.next_expected_revision);
        revision += 1;
    }
    Ok(latencies)
}

/// Opening a log of `events` events, `opens` times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OpenTime {
    /// Events in the log opened.
    pub events: u64,
    /// One sample per open: lock, scan the segments into the index, start the writer.
    pub latency: Latency,
}

/// Fills a fresh store in `dir` with `events` events over many streams (batched; not timed),
/// closes it, then times `opens` opens of it (each closed again before the next).
pub async fn open_time(dir: &Path, events: usize, opens: usize) -> Result<OpenTime, BenchError> {
    fill(dir, events).await?;
    let mut latencies = Vec::with_capacity(opens);
    let mut head = 0;
    let started = Instant::now();
    for _ in 0..opens {
        let open_started = Instant::now();
        let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).await?;
        latencies.push(open_started.elapsed());
        // Positions are dense from 1: the head is the number of events.
        head = store.head_position().get();
        drop(store);
    }
    let elapsed = started.elapsed();
    assert_eq!(head, events as u64, "the reopened log holds every event");
    Ok(OpenTime {
        events: head,
        latency: Latency::from_samples(latencies, elapsed),
    })
}

async fn fill(dir: &Path, events: usize) -> Result<(), BenchError> {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).await?;
    let mut written = 0;
    while written < events {
        let batch = FILL_BATCH.min(events - written);
        let writes = (written..written + batch)
            .map(|i| StreamWrite {
                stream: format!("fill-{}", i % FILL_STREAMS),
                expected: StreamState::Any,
                events: vec![bench_event(i as u64)],
            })
            .collect();
        store.append_multi(writes).await?;
        written += batch;
    }
    store.close().await;
    Ok(())
}

/// The log's size on disk for the events it holds: the segments (the events) apart from the
/// index files and checkpoint (which only speed up an open and can be rebuilt from them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BytesPerEvent {
    pub events: u64,
    /// Sum of the segment files' lengths.
    pub segment_bytes: u64,
    /// Sum of the files in `index/`: per-segment index files and the index checkpoint.
    pub index_bytes: u64,
    /// Segment bytes per event.
    pub bytes_per_event: f64,
}

/// Sums the segment files and the index files of the (closed) store in `dir` and divides by
/// its events.
pub async fn bytes_per_event(dir: &Path) -> Result<BytesPerEvent, BenchError> {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).await?;
    // Positions are dense from 1: the head is the number of events.
    let events = store.head_position().get();
    store.close().await;
    drop(store);
    let segment_bytes = file_bytes(&dir.join("segments"))?;
    let index_bytes = file_bytes(&dir.join("index"))?;
    Ok(BytesPerEvent {
        events,
        segment_bytes,
        index_bytes,
        bytes_per_event: segment_bytes as f64 / events.max(1) as f64,
    })
}

/// The lengths of the files directly in `dir`, summed.
fn file_bytes(dir: &Path) -> Result<u64, BenchError> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let metadata = entry?.metadata()?;
        if metadata.is_file() {
            bytes += metadata.len();
        }
    }
    Ok(bytes)
}
