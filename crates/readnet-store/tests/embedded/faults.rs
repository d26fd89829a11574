//! Storage faults, injected deterministically. For every write and sync the store makes during
//! a workload, fail it, or crash there (and, at the sync, tear the write it would have made
//! durable); reopen; every acknowledged append must be there, whole, in order, nothing
//! unacknowledged half visible, and the store must take new appends. Then bit flips and
//! truncations at random offsets in every kind of file of a closed store: each open either
//! refuses with damage or corruption named, or serves exactly the log that was written.
//!
//! A bounded number of seeds runs with the suite; `READNET_FAULT_SEEDS=N` runs N.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore, FaultHook, IoStep};
use readnet_store::{AllFrom, Direction, EventData, EventStore, StoreError, StreamState};
use uuid::Uuid;

use crate::common::{options, read_everything};

/// Seeds run by default: each is one workload, every step of it faulted three ways, and
/// [`FLIPS_PER_SEED`] damaged copies.
const DEFAULT_SEEDS: u64 = 2;
const FLIPS_PER_SEED: usize = 40;
const APPENDS: usize = 16;

fn seeds() -> u64 {
    std::env::var("READNET_FAULT_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_SEEDS)
}

/// xorshift64*: the same faults for the same seed on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone)]
struct Append {
    stream: String,
    events: Vec<EventData>,
}

fn workload(seed: u64) -> Vec<Append> {
    let mut rng = Rng::new(seed);
    (0..APPENDS)
        .map(|i| Append {
            stream: format!("s-{}", rng.below(4)),
            events: (0..1 + rng.below(3))
                .map(|j| EventData {
                    event_id: Uuid::from_u64_pair(seed, (i as u64) << 8 | j),
                    event_type: "Faulted".into(),
                    content_type: readnet_store::ContentType::Binary,
                    metadata: format!("{i}/{j}").into_bytes().into(),
                    data: crate::common::noise(rng.next(), 20 + rng.below(1500) as usize).into(),
                })
                .collect(),
        })
        .collect()
}

/// Small segments, so that the workload starts several; no commit delay, so that each append
/// is a batch of its own.
fn small(faults: Option<FaultHook>) -> EmbeddedOptions {
    EmbeddedOptions {
        segment_size_bytes: 4 * 1024,
        max_commit_delay: Duration::ZERO,
        faults,
        ..options()
    }
}

/// Runs the workload until an append fails; the indices of the acknowledged appends.
async fn run(dir: &Path, appends: &[Append], faults: Option<FaultHook>) -> Vec<usize> {
    let store = EmbeddedStore::open(dir, small(faults)).await.expect("open");
    let mut acknowledged = Vec::new();
    for (i, append) in appends.iter().enumerate() {
        match store
            .append(&append.stream, StreamState::Any, append.events.clone())
            .await
        {
            Ok(_) => acknowledged.push(i),
            Err(_) => break,
        }
    }
    store.close().await;
    acknowledged
}

/// The store in `dir` holds every acknowledged append whole, any other append whole or not at
/// all, in workload order, and takes a new append.
async fn check(dir: &Path, appends: &[Append], acknowledged: &[usize], case: &str) {
    let store = EmbeddedStore::open(dir, options())
        .await
        .unwrap_or_else(|e| panic!("{case}: the store does not open: {e}"));
    let read = read_everything(&store).await;
    let mut at = 0;
    for (i, append) in appends.iter().enumerate() {
        let present = read[at..]
            .iter()
            .take(append.events.len())
            .zip(&append.events)
            .take_while(|(r, e)| r.event_id == e.event_id)
            .count();
        assert!(
            present == 0 || present == append.events.len(),
            "{case}: append {i} is half there ({present} of {} events)",
            append.events.len()
        );
        if present == 0 {
            assert!(
                !acknowledged.contains(&i),
                "{case}: acknowledged append {i} is missing"
            );
            continue;
        }
        for (r, e) in read[at..at + present].iter().zip(&append.events) {
            assert_eq!(
                (&r.stream, &r.data, &r.metadata),
                (&append.stream, &e.data, &e.metadata),
                "{case}: append {i} reads back different"
            );
        }
        at += present;
    }
    assert_eq!(at, read.len(), "{case}: events nobody appended");
    store
        .append(
            "after",
            StreamState::Any,
            vec![crate::common::event("again")],
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: no append after reopening: {e}"));
    store.close().await;
}

/// Counts the writer's steps (index files and the checkpoint are written beside it, on other
/// threads or at close, and are faulted separately).
fn is_append_step(step: IoStep) -> bool {
    !matches!(step, IoStep::WriteIndexFile | IoStep::WriteCheckpoint)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else if let Ok(bytes) = std::fs::read(&path) {
            std::fs::write(&target, bytes).unwrap();
        }
    }
}

fn newest_segment(dir: &Path) -> Option<PathBuf> {
    crate::common::segments(dir).pop()
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The step returns an I/O error; the process goes on.
    Fail,
    /// The process dies just before the step: the directory as it is then.
    Crash,
    /// As `Crash`, and at a sync, only part of the unsynced write reached the disk.
    Tear,
}

/// The hook for `fault` at append step `k`: the crash state goes to `crashed`.
fn hook(k: usize, fault: Fault, dir: PathBuf, crashed: PathBuf, seed: u64) -> FaultHook {
    let steps = AtomicUsize::new(0);
    // The newest segment's length when the last batch was synced.
    let synced: Mutex<HashMap<PathBuf, u64>> = Mutex::new(HashMap::new());
    Arc::new(move |step| {
        if !is_append_step(step) {
            return Ok(());
        }
        if step == IoStep::RecordAcknowledged
            && let Some(segment) = newest_segment(&dir)
        {
            let len = std::fs::metadata(&segment).unwrap().len();
            synced.lock().unwrap().insert(segment, len);
        }
        if steps.fetch_add(1, Ordering::SeqCst) != k {
            return Ok(());
        }
        if !matches!(fault, Fault::Fail) {
            copy_dir(&dir, &crashed);
        }
        if let (Fault::Tear, IoStep::SyncRecords) = (fault, step)
            && let Some(segment) = newest_segment(&dir)
        {
            let durable = synced.lock().unwrap().get(&segment).copied().unwrap_or(0);
            let len = std::fs::metadata(&segment).unwrap().len();
            let kept = durable + Rng::new(seed ^ k as u64).below(len - durable);
            let copy = crashed.join("segments").join(segment.file_name().unwrap());
            std::fs::OpenOptions::new()
                .write(true)
                .open(copy)
                .unwrap()
                .set_len(kept)
                .unwrap();
        }
        Err(std::io::Error::other(format!(
            "injected {fault:?} at {step:?}"
        )))
    })
}

#[tokio::test]
async fn every_step_of_an_append_failed_or_crashed_loses_nothing_acknowledged() {
    for seed in 1..=seeds() {
        let appends = workload(seed);
        // How many steps the workload takes, and of which kinds.
        let counted = Arc::new(Mutex::new(Vec::new()));
        let counter = Arc::clone(&counted);
        let dir = tempfile::tempdir().unwrap();
        let all = run(
            dir.path(),
            &appends,
            Some(Arc::new(move |step| {
                if is_append_step(step) {
                    counter.lock().unwrap().push(step);
                }
                Ok(())
            })),
        )
        .await;
        assert_eq!(all.len(), APPENDS);
        let steps = counted.lock().unwrap().clone();
        assert!(
            steps.contains(&IoStep::CreateSegment)
                && steps
                    .iter()
                    .filter(|s| **s == IoStep::CreateSegment)
                    .count()
                    > 2,
            "the workload starts several segments: {steps:?}"
        );
        for (k, step) in steps.iter().enumerate() {
            for fault in [Fault::Fail, Fault::Crash, Fault::Tear] {
                if matches!(fault, Fault::Tear) && *step != IoStep::SyncRecords {
                    continue;
                }
                let scratch = tempfile::tempdir().unwrap();
                let (dir, crashed) = (scratch.path().join("live"), scratch.path().join("crashed"));
                let acknowledged = run(
                    &dir,
                    &appends,
                    Some(hook(k, fault, dir.clone(), crashed.clone(), seed)),
                )
                .await;
                assert!(
                    acknowledged.len() < APPENDS,
                    "seed {seed}: step {k} was faulted"
                );
                let case = format!("seed {seed}, {fault:?} at step {k} ({step:?})");
                let reopened = match fault {
                    Fault::Fail => &dir,
                    Fault::Crash | Fault::Tear => &crashed,
                };
                check(reopened, &appends, &acknowledged, &case).await;
            }
        }
    }
}

#[tokio::test]
async fn index_files_and_checkpoints_that_cannot_be_written_cost_nothing() {
    let appends = workload(99);
    let dir = tempfile::tempdir().unwrap();
    let refused = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&refused);
    let acknowledged = run(
        dir.path(),
        &appends,
        Some(Arc::new(move |step| {
            if is_append_step(step) {
                return Ok(());
            }
            count.fetch_add(1, Ordering::SeqCst);
            Err(std::io::Error::other("disk full"))
        })),
    )
    .await;
    assert_eq!(acknowledged.len(), APPENDS);
    assert!(
        refused.load(Ordering::SeqCst) > 2,
        "index files were attempted"
    );
    check(dir.path(), &appends, &acknowledged, "no index files").await;
}

/// Every file of a closed store, by kind.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.metadata().unwrap().len() > 0 {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn bit_flips_and_truncations_anywhere_are_refused_or_harmless_never_read_as_data() {
    let (mut refused, mut harmless) = (0, 0);
    for seed in 1..=seeds() {
        let appends = workload(seed);
        let pristine = tempfile::tempdir().unwrap();
        let all = run(pristine.path(), &appends, None).await;
        let candidates = files(pristine.path());
        assert!(
            candidates
                .iter()
                .any(|p| p.to_string_lossy().contains("index")),
            "index files to damage: {candidates:?}"
        );
        let mut rng = Rng::new(seed);
        for trial in 0..FLIPS_PER_SEED {
            let scratch = tempfile::tempdir().unwrap();
            copy_dir(pristine.path(), scratch.path());
            let victim = &candidates[rng.below(candidates.len() as u64) as usize];
            let relative = victim.strip_prefix(pristine.path()).unwrap();
            let target = scratch.path().join(relative);
            let len = std::fs::metadata(&target).unwrap().len();
            let offset = rng.below(len);
            let what = if rng.below(3) == 0 {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&target)
                    .unwrap()
                    .set_len(offset)
                    .unwrap();
                format!("{} cut at byte {offset} of {len}", relative.display())
            } else {
                let bit = rng.below(8);
                let mut bytes = std::fs::read(&target).unwrap();
                bytes[offset as usize] ^= 1 << bit;
                std::fs::write(&target, bytes).unwrap();
                format!("{} bit {bit} of byte {offset} flipped", relative.display())
            };
            let case = format!("seed {seed}, trial {trial}: {what}");
            match EmbeddedStore::open(scratch.path(), options()).await {
                Ok(store) => {
                    // Opened from its index checkpoint, the store checks each record's CRC
                    // as it reads it: damage there is found by the read.
                    let read = match store
                        .read_all(AllFrom::Start, Direction::Forwards, usize::MAX)
                        .await
                    {
                        Ok(read) => read,
                        Err(StoreError::Corrupt { path, .. }) => {
                            refused += 1;
                            assert!(path.starts_with(scratch.path()), "{case}: names {path:?}");
                            continue;
                        }
                        Err(other) => panic!("{case}: a read failed otherwise: {other}"),
                    };
                    harmless += 1;
                    let mut expected = Vec::new();
                    for &i in &all {
                        for e in &appends[i].events {
                            expected.push((&appends[i].stream, e));
                        }
                    }
                    assert_eq!(
                        read.len(),
                        expected.len(),
                        "{case}: a different log is served"
                    );
                    for (r, (stream, e)) in read.iter().zip(expected) {
                        assert_eq!(
                            (&r.event_id, &r.stream, &r.data, &r.metadata),
                            (&e.event_id, stream, &e.data, &e.metadata),
                            "{case}: different data is served"
                        );
                    }
                    store.close().await;
                }
                Err(StoreError::Damaged(damage)) => {
                    refused += 1;
                    assert!(
                        damage.to_string().contains("readnet doctor"),
                        "{case}: {damage}"
                    );
                }
                Err(StoreError::Corrupt { path, .. }) => {
                    refused += 1;
                    assert!(path.starts_with(scratch.path()), "{case}: names {path:?}");
                }
                Err(other) => panic!("{case}: neither served nor refused as damage: {other}"),
            }
        }
    }
    // Both outcomes occur: damage to the log is refused, damage to caches is harmless.
    assert!(
        refused > 0 && harmless > 0,
        "refused {refused}, harmless {harmless}"
    );
}
