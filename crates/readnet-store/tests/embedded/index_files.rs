//! Index files: open uses them instead of scanning, but only while they fit the log; a file
//! that does not is ignored (and deleted), never trusted.

use std::path::Path;

use readnet_store::embedded::EmbeddedOptions;
use readnet_store::{Direction, EventStore, ReadFrom, RecordedEvent, StoreError, StreamState};

use crate::common::{
    event, flip_byte, index_files, open, open_with, options, read_everything, record_offsets,
    segments,
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
        .read_stream("s-1", ReadFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(s1.len(), 5);
    assert!(s1.iter().enumerate().all(|(r, e)| e.revision == r as u64));
    // Appends continue from the index files' state: revisions and positions stay dense.
    let next = store
        .append("s-1", StreamState::Revision(4), vec![event("after")])
        .await
        .unwrap();
    assert_eq!(next.position, 31);
}

#[tokio::test]
async fn given_a_damaged_index_file_when_opening_then_it_is_ignored_and_the_segment_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let before = thirty_events(dir.path()).await;
    let files = index_files(dir.path());
    let intact = std::fs::read(&files[1]).unwrap();
    flip_byte(&files[1], 40);

    let store = open_with(dir.path(), small_segments()).await;
    assert_eq!(read_everything(&store).await, before);
    // The scan of the finished segment wrote its index file anew.
    assert_eq!(std::fs::read(&files[1]).unwrap(), intact);
}

#[tokio::test]
async fn given_an_index_file_whose_last_record_is_gone_when_opening_then_it_is_not_trusted() {
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

    let store = open(dir.path()).await;
    let events = read_everything(&store).await;
    assert_eq!(
        events.len(),
        4,
        "the four whole appends left, not the index file's six"
    );
    assert_eq!(store.head_position(), 4);
}

#[tokio::test]
async fn given_damage_inside_the_part_an_index_file_covers_when_read_then_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    thirty_events(dir.path()).await;
    let first = segments(dir.path())[0].clone();
    let offsets = record_offsets(&first);
    flip_byte(&first, offsets[1] + 12);

    // Open trusts the index file for the middle of the segment; the read meets the damage.
    let store = open_with(dir.path(), small_segments()).await;
    match store
        .read_all(ReadFrom::Start, Direction::Forwards, 100)
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
        Err(StoreError::Corrupt { path, offset, .. }) => assert_eq!((path, offset), (first, last)),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
