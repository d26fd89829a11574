//! Index files: open uses them instead of scanning, but only while they fit the log; a file
//! that does not is ignored (and deleted), never trusted.

use std::path::Path;

use readnet_store::embedded::EmbeddedOptions;
use readnet_store::{
    AllFrom, Direction, EventStore, Position, RecordedEvent, Revision, StoreError, StreamFrom,
    StreamState,
};

use crate::common::{
    checkpoint, event, flip_byte, forget_checkpoint, forget_index_files, index_files, open,
    open_with, options, read_everything, record_offsets, segments,
};

/// Small segments, so a log of a few dozen events spans several.
fn small_segments() -> EmbeddedOptions {
    EmbeddedOptions {
        segment_size_bytes: 600,
        ..options()
    }
}

/// Appends 30 events over three streams (some atomic pairs), closes, and returns them.
async fn thirty_events(dir: &Path) -> Vec<RecordedEvent> {
    let store = open_with(dir, small_segments()).await;
    for i in 0..15 {
        let stream = format!("s-{}", i % 3);
        store
            .append(&stream, StreamState::Any, vec![event(&format!("{i:0>30}"))])
            .await
            .unwrap();
        store
            .append_multi(vec![readnet_store::StreamWrite {
                stream: "pairs".into(),
                expected: StreamState::Any,
                events: vec![event(&format!("pair {i}"))],
            }])
            .await
            .unwrap();
    }
    store.close().await;
    read_everything(&open_with(dir, small_segments()).await).await
}

#[tokio::test]
async fn given_a_closed_store_when_reopened_then_every_segment_has_an_index_file_and_reads_match() {
    let dir = tempfile::tempdir().unwrap();
    let before = thirty_events(dir.path()).await;
    assert!(segments(dir.path()).len() >= 3);
    assert_eq!(index_files(dir.path()).len(), segments(dir.path()).len());

    let store = open_with(dir.path(), small_segments()).await;
    assert_eq!(read_everything(&store).await, before);
    let s1 = store
        .read_stream("s-1", StreamFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(s1.len(), 5);
    assert!(
        s1.iter()
            .enumerate()
            .all(|(r, e)| e.revision == Revision::new(r as u64))
    );
    // Appends continue from the index files' state: revisions and positions stay dense.
    let next = store
        .append(
            "s-1",
            StreamState::Revision(Revision::new(4)),
            vec![event("after")],
        )
        .await
        .unwrap();
    assert_eq!(next.position, Position::new(31));
}

#[tokio::test]
async fn given_a_damaged_index_file_when_opening_then_it_is_ignored_and_the_segment_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let before = thirty_events(dir.path()).await;
    let files = index_files(dir.path());
    let intact = std::fs::read(&files[1]).unwrap();
    flip_byte(&files[1], 40);
    forget_checkpoint(dir.path());

    let store = open_with(dir.path(), small_segments()).await;
    assert_eq!(read_everything(&store).await, before);
    // The scan of the finished segment wrote its index file anew.
    assert_eq!(std::fs::read(&files[1]).unwrap(), intact);
}

#[tokio::test]
async fn given_an_index_file_whose_last_record_is_gone_when_opening_then_the_log_is_refused_as_damaged()
 {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    for i in 0..6 {
        store
            .append("s", StreamState::Any, vec![event(&i.to_string())])
            .await
            .unwrap();
    }
    store.close().await;
    drop(store);
    // Cut the segment inside the covered part, as if it had been rewritten.
    let segment = segments(dir.path()).pop().unwrap();
    let offsets = record_offsets(&segment);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(offsets[4]).unwrap();

    // The scan finds the four whole appends left, not the index file's six; six were
    // acknowledged, so the open is refused as damage, not served short.
    match readnet_store::embedded::EmbeddedStore::open(dir.path(), options()).await {
        Err(StoreError::Damaged(damage)) => {
            assert_eq!(damage.intact_through, 4);
            assert_eq!(damage.witnessed.unwrap().0, 6);
        }
        other => panic!("expected Damaged, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn given_damage_inside_the_part_an_index_file_covers_when_read_then_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    thirty_events(dir.path()).await;
    let first = segments(dir.path())[0].clone();
    let offsets = record_offsets(&first);
    flip_byte(&first, offsets[1] + 12);

    // Open trusts the checkpoint for the middle of the segment; the read meets the damage.
    let store = open_with(dir.path(), small_segments()).await;
    match store
        .read_all(AllFrom::Start, Direction::Forwards, 100)
        .await
    {
        Err(StoreError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (first, offsets[1]))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn given_a_damaged_last_record_of_an_earlier_segment_when_opening_then_open_fails() {
    let dir = tempfile::tempdir().unwrap();
    thirty_events(dir.path()).await;
    let first = segments(dir.path())[0].clone();
    let last = *record_offsets(&first).last().unwrap();
    flip_byte(&first, last + 12);

    // The index file's check of its last record fails, so the segment is scanned, and a bad
    // record in a finished segment cannot be a torn write.
    match readnet_store::embedded::EmbeddedStore::open(dir.path(), small_segments()).await {
        Err(StoreError::Damaged(damage)) => {
            assert_eq!((damage.path, damage.offset), (first, last));
            assert_eq!(damage.witnessed.unwrap().0, 30);
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
}

/// Every stream of [`thirty_events`] read whole, and `$all`.
async fn everything_by_stream(store: &impl EventStore) -> Vec<Vec<RecordedEvent>> {
    let mut reads = vec![read_everything(store).await];
    for stream in ["s-0", "s-1", "s-2", "pairs"] {
        reads.push(
            store
                .read_stream(stream, StreamFrom::Start, Direction::Forwards, 100)
                .await
                .unwrap(),
        );
    }
    reads
}

#[tokio::test]
async fn given_a_cleanly_closed_store_when_reopened_then_the_checkpoint_gives_the_index_a_scan_would()
 {
    let dir = tempfile::tempdir().unwrap();
    thirty_events(dir.path()).await;
    assert!(segments(dir.path()).len() >= 3);
    assert!(checkpoint(dir.path()).exists());

    let store = open_with(dir.path(), small_segments()).await;
    assert!(store.opened_from_checkpoint());
    let from_checkpoint = everything_by_stream(&store).await;
    store.close().await;
    drop(store);

    forget_index_files(dir.path());
    let store = open_with(dir.path(), small_segments()).await;
    assert!(!store.opened_from_checkpoint());
    assert_eq!(everything_by_stream(&store).await, from_checkpoint);
    assert_eq!(from_checkpoint[1].len(), 5);
    store.close().await;
    drop(store);

    // Appends continue from the checkpoint's state: revisions and positions stay dense.
    let store = open_with(dir.path(), small_segments()).await;
    assert!(store.opened_from_checkpoint());
    let after = event("after");
    let next = store
        .append(
            "s-1",
            StreamState::Revision(Revision::new(4)),
            vec![after.clone()],
        )
        .await
        .unwrap();
    assert_eq!(
        (next.position, next.next_expected_revision),
        (Position::new(31), Revision::new(5))
    );
    store.close().await;
    drop(store);

    // The event ids come back from the checkpoint: a retry is recognised, not appended again.
    let store = open_with(dir.path(), small_segments()).await;
    assert!(store.opened_from_checkpoint());
    let retry = store
        .append("s-1", StreamState::Revision(Revision::new(4)), vec![after])
        .await
        .unwrap();
    assert_eq!(
        (retry.position, store.head_position()),
        (Position::new(31), Position::new(31))
    );
}

#[tokio::test]
async fn given_a_checkpoint_older_than_the_log_when_opening_then_the_segments_are_used() {
    let dir = tempfile::tempdir().unwrap();
    thirty_events(dir.path()).await;
    let older = std::fs::read(checkpoint(dir.path())).unwrap();
    let store = open_with(dir.path(), small_segments()).await;
    for i in 0..12 {
        store
            .append("later", StreamState::Any, vec![event(&format!("{i:0>40}"))])
            .await
            .unwrap();
    }
    store.close().await;
    drop(store);
    // As if the store had been killed after those appends: the checkpoint on disk is the one
    // written before them.
    std::fs::write(checkpoint(dir.path()), &older).unwrap();

    let store = open_with(dir.path(), small_segments()).await;
    assert!(!store.opened_from_checkpoint());
    assert_eq!(store.head_position(), Position::new(42));
    let later = store
        .read_stream("later", StreamFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(later.len(), 12);
    // The stale checkpoint stays until the next close replaces it.
    assert_eq!(std::fs::read(checkpoint(dir.path())).unwrap(), older);
    store.close().await;
    drop(store);
    assert_ne!(std::fs::read(checkpoint(dir.path())).unwrap(), older);
    assert!(
        open_with(dir.path(), small_segments())
            .await
            .opened_from_checkpoint()
    );
}

#[tokio::test]
async fn given_a_damaged_checkpoint_when_opening_then_it_is_deleted_and_the_index_files_used() {
    let dir = tempfile::tempdir().unwrap();
    let before = thirty_events(dir.path()).await;
    let len = std::fs::metadata(checkpoint(dir.path())).unwrap().len();
    // Past the header (so the segment table still fits the log), inside the records.
    flip_byte(&checkpoint(dir.path()), len / 2);

    let store = open_with(dir.path(), small_segments()).await;
    assert!(!store.opened_from_checkpoint());
    assert!(!checkpoint(dir.path()).exists());
    assert_eq!(read_everything(&store).await, before);
}

#[tokio::test]
async fn given_a_checkpoint_whose_segment_was_rewritten_with_the_same_length_then_it_is_not_trusted()
 {
    let dir = tempfile::tempdir().unwrap();
    thirty_events(dir.path()).await;
    // Swap the last two records of the last segment: same length, but its last record is no
    // longer the one the checkpoint names.
    let last = segments(dir.path()).pop().unwrap();
    let offsets = record_offsets(&last);
    let bytes = std::fs::read(&last).unwrap();
    let n = offsets.len();
    let (a, b) = (offsets[n - 2] as usize, offsets[n - 1] as usize);
    let mut swapped = bytes[..a].to_vec();
    swapped.extend_from_slice(&bytes[b..]);
    swapped.extend_from_slice(&bytes[a..b]);
    assert_eq!(swapped.len(), bytes.len());
    std::fs::write(&last, &swapped).unwrap();

    // The checkpoint is refused, and so is the segment's index file; the scan finds the
    // records out of sequence. The open changes nothing: the checkpoint stays, a witness of
    // how far the log reached.
    match readnet_store::embedded::EmbeddedStore::open(dir.path(), small_segments()).await {
        Err(StoreError::Damaged(damage)) => assert_eq!(damage.path, last),
        other => panic!("expected Damaged, got {:?}", other.map(|_| ())),
    }
    assert!(checkpoint(dir.path()).exists());
}
