//! Storage faults that lose acknowledged events are damage, never a torn write: the open is
//! refused, names the file, the offset and the positions affected, and changes nothing. And a
//! read-only open changes nothing in the directory, whatever it finds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use readnet_store::embedded::EmbeddedStore;
use readnet_store::{Damage, EventStore, Position, StoreError, StreamState};

use crate::common::{event, flip_byte, open, options, read_everything, record_offsets, segments};

/// 218 events, as in the fault report, appended one at a time, the store left open as a
/// killed server would leave it (no index checkpoint written) unless `close`.
async fn acknowledged_218(dir: &Path, close: bool) {
    let store = open(dir).await;
    for i in 0..218 {
        store
            .append(
                &format!("s-{}", i % 7),
                StreamState::Any,
                vec![event(&format!("{i:0>30}"))],
            )
            .await
            .unwrap();
    }
    store.close().await;
    if !close {
        // As a kill -9 leaves it: no checkpoint, no index file for the active (only) segment;
        // the acknowledged head is what witnesses the log.
        crate::common::forget_index_files(dir);
    }
}

/// Every file under `dir` with its bytes and modification time.
fn state(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path, (bytes, meta.modified().unwrap()));
            }
        }
    }
    files
}

/// What a crash during an append leaves: a record header and part of its body.
fn torn_tail() -> Vec<u8> {
    let mut tail = 100u32.to_le_bytes().to_vec();
    tail.extend_from_slice(&crate::common::noise(7, 33));
    tail
}

async fn damaged(dir: &Path) -> Damage {
    match EmbeddedStore::open(dir, options()).await {
        Err(StoreError::Damaged(damage)) => *damage,
        other => panic!("expected Damaged, got {:?}", other.map(|_| ())),
    }
}

/// Opens writable and read-only, expecting the same damage from both and no change to any file.
async fn refused_unchanged(dir: &Path) -> Damage {
    let before = state(dir);
    let damage = damaged(dir).await;
    let read_only = match EmbeddedStore::open_read_only(dir, options()).await {
        Err(StoreError::Damaged(damage)) => *damage,
        other => panic!("expected Damaged, got {:?}", other.map(|_| ())),
    };
    assert_eq!(damage, read_only);
    // A second refusal finds the same: nothing was cut, moved or rewritten.
    assert_eq!(damaged(dir).await, damage);
    let after = state(dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert!(before == after, "a refused open changed a file");
    let message = StoreError::Damaged(Box::new(damage.clone())).to_string();
    for advice in ["readnet doctor", "--salvage", "readnet repair"] {
        assert!(message.contains(advice), "{message}");
    }
    damage
}

#[tokio::test]
async fn a_halved_last_segment_is_damage_naming_the_missing_positions() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), false).await;
    let segment = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);

    let damage = refused_unchanged(dir.path()).await;
    assert_eq!(damage.path, segment);
    let (head, witness) = damage.witnessed.clone().unwrap();
    assert_eq!(head, 218);
    assert!(witness.ends_with("acknowledged"), "{witness:?}");
    assert!(
        (100..=110).contains(&damage.intact_through),
        "{}",
        damage.intact_through
    );
    let message = StoreError::Damaged(Box::new(damage.clone())).to_string();
    assert!(
        message.contains(&format!("positions {}..=218", damage.intact_through + 1)),
        "{message}"
    );
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_acknowledged_record_is_damage_not_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), false).await;
    let segment = segments(dir.path()).pop().unwrap();
    let offsets = record_offsets(&segment);
    let last = *offsets.last().unwrap();
    flip_byte(&segment, last + 8 + 10);

    let damage = refused_unchanged(dir.path()).await;
    assert_eq!((damage.path.clone(), damage.offset), (segment, last));
    assert_eq!(damage.intact_through, 217);
    assert!(damage.reason.contains("CRC"), "{}", damage.reason);
    assert_eq!(damage.witnessed.unwrap().0, 218);
}

#[tokio::test]
async fn deleting_every_segment_is_damage_not_a_new_ledger() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), true).await;
    for segment in segments(dir.path()) {
        std::fs::remove_file(segment).unwrap();
    }
    let damage = refused_unchanged(dir.path()).await;
    assert_eq!(damage.intact_through, 0);
    assert!(
        damage.reason.contains("no segment files"),
        "{}",
        damage.reason
    );
    assert_eq!(damage.witnessed.clone().unwrap().0, 218);

    // Without the acknowledged head and the index files, the checkpoint written at close still
    // witnesses the log.
    std::fs::remove_file(dir.path().join("acknowledged")).unwrap();
    let index_files: Vec<(PathBuf, Vec<u8>)> = crate::common::index_files(dir.path())
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            (path, bytes)
        })
        .collect();
    assert!(!index_files.is_empty());
    let damage = refused_unchanged(dir.path()).await;
    let (head, witness) = damage.witnessed.unwrap();
    assert_eq!(head, 218);
    assert!(witness.ends_with("checkpoint"), "{witness:?}");

    // And with an index file alone.
    std::fs::remove_file(dir.path().join("index/checkpoint")).unwrap();
    for (path, bytes) in index_files {
        std::fs::write(path, bytes).unwrap();
    }
    let damage = refused_unchanged(dir.path()).await;
    let (head, witness) = damage.witnessed.unwrap();
    assert_eq!(head, 218);
    assert_eq!(witness.extension().unwrap(), "idx");

    // A repair that keeps nothing takes the orphaned index files with it: the store opens.
    readnet_store::embedded::repair(dir.path(), 0).unwrap();
    assert!(crate::common::index_files(dir.path()).is_empty());
    let store = open(dir.path()).await;
    assert_eq!(store.head_position(), Position::new(0));
}

#[tokio::test]
async fn a_witness_whose_own_crc_fails_is_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), true).await;
    for segment in segments(dir.path()) {
        std::fs::remove_file(segment).unwrap();
    }
    std::fs::remove_file(dir.path().join("acknowledged")).unwrap();
    std::fs::remove_file(dir.path().join("index/checkpoint")).unwrap();
    for entry in std::fs::read_dir(dir.path().join("index")).unwrap() {
        let path = entry.unwrap().path();
        let len = std::fs::metadata(&path).unwrap().len();
        flip_byte(&path, len - 1);
    }
    // Nothing believable says the log held anything: an empty ledger, as for a new directory.
    let store = open(dir.path()).await;
    assert_eq!(store.head_position(), Position::START);
}

#[tokio::test]
async fn a_torn_write_after_the_acknowledged_head_is_still_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), false).await;
    let segment = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    // Half a record after the last acknowledged append: the batch a crash interrupted.
    let tail = torn_tail();
    crate::common::append_bytes(&segment, &tail);
    let store = open(dir.path()).await;
    assert_eq!(store.head_position(), Position::new(218));
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), len);
}

#[tokio::test]
async fn pages_of_an_unacknowledged_batch_out_of_order_are_a_torn_write() {
    for close in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        acknowledged_218(dir.path(), close).await;
        let segment = segments(dir.path()).pop().unwrap();
        let len = std::fs::metadata(&segment).unwrap().len();
        // After a power cut: the batch's later pages reached the disk, its first did not (a
        // hole of zeros with data after it), all after the last acknowledged append.
        let mut tail = vec![0u8; 4096];
        tail.extend_from_slice(&crate::common::noise(11, 700));
        crate::common::append_bytes(&segment, &tail);
        let store = open(dir.path()).await;
        assert_eq!(store.head_position(), Position::new(218), "close: {close}");
        assert_eq!(read_everything(&store).await.len(), 218);
        store.close().await;
        assert_eq!(std::fs::metadata(&segment).unwrap().len(), len);
        let kept_aside = std::fs::read_dir(segment.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".torn-")
            })
            .count();
        assert_eq!(kept_aside, 1, "the cut bytes are kept beside the segment");
    }
}

#[tokio::test]
async fn the_same_hole_before_the_acknowledged_head_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), false).await;
    let segment = segments(dir.path()).pop().unwrap();
    let offsets = record_offsets(&segment);
    // Zeros over the last acknowledged record's header: bad bytes with data after them, before
    // the acknowledged end.
    let at = offsets[offsets.len() - 1];
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[0u8; 8], at).unwrap();
    crate::common::append_bytes(&segment, &crate::common::noise(5, 300));
    let damage = refused_unchanged(dir.path()).await;
    assert_eq!(damage.intact_through, 217);
}

#[tokio::test]
async fn a_log_from_before_the_acknowledged_head_opens_and_gains_one() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), false).await;
    std::fs::remove_file(dir.path().join("acknowledged")).unwrap();
    let segment = segments(dir.path()).pop().unwrap();
    crate::common::append_bytes(&segment, &torn_tail());
    let store = open(dir.path()).await;
    assert_eq!(store.head_position(), Position::new(218));
    drop(store);
    assert!(dir.path().join("acknowledged").exists());
    // Now it witnesses the log.
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len - 10).unwrap();
    assert_eq!(damaged(dir.path()).await.witnessed.unwrap().0, 218);
}

#[tokio::test]
async fn a_read_only_open_changes_nothing_and_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), false).await;
    let segment = segments(dir.path()).pop().unwrap();
    // A torn tail and a stale index file: a writable open would cut the one and delete the
    // other.
    crate::common::append_bytes(&segment, &torn_tail());
    let stale = dir.path().join("index/00000000000000000001.idx");
    std::fs::write(&stale, b"RNIDX001 not an index file").unwrap();
    let before = state(dir.path());

    let store = EmbeddedStore::open_read_only(dir.path(), options())
        .await
        .unwrap();
    let events = read_everything(&store).await;
    assert_eq!(events.len(), 218);
    assert_eq!(store.head_position(), Position::new(218));
    match store
        .append("s-0", StreamState::Any, vec![event("x")])
        .await
    {
        Err(StoreError::ReadOnly) => {}
        other => panic!("expected ReadOnly, got {:?}", other.map(|_| ())),
    }
    // A subscription delivers the log and ends.
    let mut subscription = store.subscribe_all(Position::START);
    let mut seen = 0;
    while let Some(message) = futures::StreamExt::next(&mut subscription).await {
        if let readnet_store::SubscriptionMessage::Event(_) = message.unwrap() {
            seen += 1;
        }
    }
    assert_eq!(seen, 218);
    drop(store);
    assert!(
        before == state(dir.path()),
        "a read-only open changed a file"
    );

    // Beside a writer holding the directory: no lock is taken, and it sees the log as opened.
    let writer = open(dir.path()).await;
    writer
        .append("s-0", StreamState::Any, vec![event("more")])
        .await
        .unwrap();
    let reader = EmbeddedStore::open_read_only(dir.path(), options())
        .await
        .unwrap();
    assert_eq!(reader.head_position(), Position::new(219));
    assert_eq!(read_everything(&reader).await.len(), 219);
}

/// 60 events in segments of about 300 bytes (two or three events each), closed.
async fn sixty_in_small_segments(dir: &Path) -> Vec<readnet_store::RecordedEvent> {
    let small = readnet_store::embedded::EmbeddedOptions {
        segment_size_bytes: 300,
        ..options()
    };
    let store = EmbeddedStore::open(dir, small).await.unwrap();
    for i in 0..60 {
        store
            .append("s", StreamState::Any, vec![event(&format!("{i:0>40}"))])
            .await
            .unwrap();
    }
    let all = read_everything(&store).await;
    store.close().await;
    all
}

#[tokio::test]
async fn salvage_reads_past_mid_log_damage_and_repair_truncates_before_it() {
    use readnet_store::embedded::{examine, repair, salvage};
    let dir = tempfile::tempdir().unwrap();
    let all = sixty_in_small_segments(dir.path()).await;
    let files = segments(dir.path());
    assert!(files.len() > 10, "{} segments", files.len());
    // Damage the second record of a segment in the middle of the log.
    let middle = &files[files.len() / 2];
    let offsets = record_offsets(middle);
    flip_byte(middle, offsets[1] + 8 + 12);
    let damage = refused_unchanged(dir.path()).await;
    assert_eq!((&damage.path, damage.offset), (middle, offsets[1]));
    let lost = damage.intact_through + 1;

    // Doctor: the segment's damaged bytes, and the verdict.
    let examination = examine(dir.path()).unwrap();
    let report = examination
        .segments
        .iter()
        .find(|s| &s.path == middle)
        .unwrap();
    assert_eq!(report.damaged.len(), 1);
    assert_eq!(*report.damaged[0].0.start(), offsets[1]);
    assert_eq!(examination.verdict.as_ref().unwrap_err(), &damage);
    assert_eq!(examination.acknowledged, Ok(Some(60)));

    // Salvage: every other event, exactly as written, and the one position missing.
    let before = state(dir.path());
    let mut salvaged = Vec::new();
    let summary = salvage(dir.path(), |event| {
        salvaged.push(event);
        Ok(())
    })
    .unwrap();
    assert!(before == state(dir.path()), "salvage changed a file");
    assert_eq!(summary.missing, vec![lost..=lost]);
    assert_eq!(summary.events, 59);
    let expected: Vec<_> = all
        .iter()
        .filter(|e| e.position.get() != lost)
        .cloned()
        .collect();
    assert_eq!(salvaged, expected);

    // Repair: only with the position the log is intact through.
    match repair(dir.path(), damage.intact_through + 3) {
        Err(StoreError::InvalidArgument(reason)) => {
            assert!(reason.contains("intact through"), "{reason}")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    let repaired = repair(dir.path(), damage.intact_through).unwrap();
    assert_eq!(repaired.head, damage.intact_through);
    assert!(repaired.moved_to.is_dir());
    assert!(std::fs::read_dir(&repaired.moved_to).unwrap().count() >= 2);
    let log = std::fs::read_to_string(dir.path().join("repairs.log")).unwrap();
    assert!(
        log.contains(&format!("kept positions 1..={}", damage.intact_through)),
        "{log}"
    );

    // The store opens at the kept head and goes on.
    let store = open(dir.path()).await;
    assert_eq!(store.head_position(), Position::new(damage.intact_through));
    assert_eq!(
        read_everything(&store).await,
        all[..damage.intact_through as usize]
    );
    store
        .append("s", StreamState::Any, vec![event("after the repair")])
        .await
        .unwrap();
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(store.head_position(), Position::new(lost));
    drop(store);
    match repair(dir.path(), lost) {
        Err(StoreError::InvalidArgument(reason)) => {
            assert!(reason.contains("not damaged"), "{reason}")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[tokio::test]
async fn salvage_of_a_halved_log_names_the_acknowledged_positions_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_218(dir.path(), false).await;
    let segment = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len / 2).unwrap();
    let damage = damaged(dir.path()).await;
    let mut count = 0;
    let summary = readnet_store::embedded::salvage(dir.path(), |_| {
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, damage.intact_through);
    assert_eq!(summary.missing, vec![damage.intact_through + 1..=218]);
}
