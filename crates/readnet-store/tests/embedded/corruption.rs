//! Damage that a crash cannot cause fails the open (or the read) instead of being skipped.
//!
//! Open scans what no index file covers; damage inside a part an index file covers is found by
//! the read that meets it (see `index_files.rs`). The tests that expect open itself to find
//! damage in the middle of a segment therefore remove the index files first.

use std::path::Path;

use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{AllFrom, Direction, EventStore, StoreError, StreamState};

use crate::common::{
    append_bytes, event, flip_byte, forget_index_files, noise, open, options, record_offsets,
    segments,
};

/// Opens `dir` expecting `Damaged`; returns its path, offset and reason.
async fn open_corrupt(dir: &Path) -> (std::path::PathBuf, u64, String) {
    match EmbeddedStore::open(dir, options()).await {
        Err(StoreError::Damaged(damage)) => (damage.path, damage.offset, damage.reason),
        other => panic!("expected Damaged, got {other:?}"),
    }
}

async fn ten_events(dir: &Path, options: EmbeddedOptions) {
    let store = EmbeddedStore::open(dir, options).await.unwrap();
    for i in 0..10 {
        store
            .append("s", StreamState::Any, vec![event(&format!("{i:0>40}"))])
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_flipped_byte_in_an_early_record_fails_open_naming_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path(), options()).await;
    let segment = segments(dir.path()).pop().unwrap();
    let offsets = record_offsets(&segment);
    flip_byte(&segment, offsets[2] + 8 + 5);
    forget_index_files(dir.path());

    let (path, offset, reason) = open_corrupt(dir.path()).await;
    assert_eq!((path, offset), (segment, offsets[2]));
    assert!(reason.contains("CRC"), "{reason}");
}

#[tokio::test]
async fn a_flipped_byte_in_an_earlier_segment_fails_open_even_in_its_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let small = EmbeddedOptions {
        segment_size_bytes: 300,
        ..options()
    };
    ten_events(dir.path(), small).await;
    let files = segments(dir.path());
    assert!(files.len() >= 3);
    // In the last segment this would pass for a torn write; in an earlier one it cannot be.
    let offsets = record_offsets(&files[0]);
    let last = *offsets.last().unwrap();
    flip_byte(&files[0], last + 8 + 20);

    let (path, offset, _) = open_corrupt(dir.path()).await;
    assert_eq!((path, offset), (files[0].clone(), last));
}

#[tokio::test]
async fn a_bad_record_followed_by_valid_ones_in_the_last_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path(), options()).await;
    let segment = segments(dir.path()).pop().unwrap();
    let offsets = record_offsets(&segment);
    // The length itself is damaged: it still fits in the file, so the CRC catches it.
    flip_byte(&segment, offsets[8]);
    forget_index_files(dir.path());
    let (path, offset, _) = open_corrupt(dir.path()).await;
    assert_eq!((path, offset), (segment, offsets[8]));
}

/// Bad bytes after the end of the last acknowledged append are an unfinished write, whatever
/// follows them (`damage.rs`); without an acknowledged head (a log an older version wrote),
/// only the end-of-file rules of a torn write apply, and these fail the open.
fn forget_acknowledged_head(dir: &Path) {
    std::fs::remove_file(dir.join("acknowledged")).unwrap();
}

#[tokio::test]
async fn an_implausible_length_followed_by_data_fails_open_without_an_acknowledged_head() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path(), options()).await;
    forget_acknowledged_head(dir.path());
    let segment = segments(dir.path()).pop().unwrap();
    let end = std::fs::metadata(&segment).unwrap().len();
    let mut garbage = 0xffff_fff0u32.to_le_bytes().to_vec();
    garbage.extend_from_slice(&noise(3, 100));
    append_bytes(&segment, &garbage);
    let (path, offset, reason) = open_corrupt(dir.path()).await;
    assert_eq!((path, offset), (segment, end));
    assert!(reason.contains("implausible"), "{reason}");
}

#[tokio::test]
async fn a_valid_record_out_of_sequence_fails_open_even_at_the_end_without_an_acknowledged_head() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path(), options()).await;
    forget_acknowledged_head(dir.path());
    let segment = segments(dir.path()).pop().unwrap();
    let offsets = record_offsets(&segment);
    let bytes = std::fs::read(&segment).unwrap();
    let end = bytes.len() as u64;
    // A whole, CRC-valid copy of the first record: not torn, but position 1 again.
    append_bytes(&segment, &bytes[..offsets[1] as usize]);
    let (path, offset, reason) = open_corrupt(dir.path()).await;
    assert_eq!((path, offset), (segment, end));
    assert!(reason.contains("position"), "{reason}");
}

#[tokio::test]
async fn a_missing_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let small = EmbeddedOptions {
        segment_size_bytes: 300,
        ..options()
    };
    ten_events(dir.path(), small).await;
    let files = segments(dir.path());
    assert!(files.len() >= 3);
    std::fs::remove_file(&files[1]).unwrap();
    let (path, offset, _) = open_corrupt(dir.path()).await;
    assert_eq!((path, offset), (files[2].clone(), 0));
}

#[tokio::test]
async fn a_record_damaged_while_open_is_refused_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    for i in 0..3 {
        store
            .append("s", StreamState::Any, vec![event(&i.to_string())])
            .await
            .unwrap();
    }
    let segment = segments(dir.path()).pop().unwrap();
    let offsets = record_offsets(&segment);
    flip_byte(&segment, offsets[1] + 12);
    let read = store
        .read_all(AllFrom::Start, Direction::Forwards, 10)
        .await;
    match read {
        Err(StoreError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (segment, offsets[1]))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Other records still read.
    let first = store
        .read_all(AllFrom::Start, Direction::Forwards, 1)
        .await
        .unwrap();
    assert_eq!(first[0].data, &b"0"[..]);
}
