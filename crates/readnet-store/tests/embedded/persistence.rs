//! What was appended is there after reopening, across segment files.

use readnet_store::embedded::EmbeddedOptions;
use readnet_store::{
    AllFrom, ContentType, Direction, EventStore, Position, Revision, StoreError, StreamFrom,
    StreamState,
};

use crate::common::{event, open, open_with, options, read_everything, segments};

#[tokio::test]
async fn reads_are_identical_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (all, stream) = {
        let store = open(dir.path()).await;
        for i in 0..20 {
            let stream = format!("s{}", i % 3);
            store
                .append(
                    &stream,
                    StreamState::Any,
                    vec![event(&format!("{i}a")), event(&format!("{i}b"))],
                )
                .await
                .unwrap();
        }
        let stream = store
            .read_stream("s1", StreamFrom::End, Direction::Backwards, 100)
            .await
            .unwrap();
        (read_everything(&store).await, stream)
    };
    let store = open(dir.path()).await;
    assert_eq!(store.head_position(), Position::new(40));
    assert_eq!(read_everything(&store).await, all);
    let reread = store
        .read_stream("s1", StreamFrom::End, Direction::Backwards, 100)
        .await
        .unwrap();
    assert_eq!(reread, stream);
    assert_eq!(
        store.stream_revision("s1").await.unwrap(),
        Some(Revision::new(13))
    );
}

#[tokio::test]
async fn a_json_event_reads_back_as_json_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        let mut json = event("{\"a\":1}");
        json.content_type = ContentType::Json;
        store
            .append("mixed", StreamState::NoStream, vec![json, event("bytes")])
            .await
            .unwrap();
    }
    let store = open(dir.path()).await;
    let read = store
        .read_stream("mixed", StreamFrom::Start, Direction::Forwards, 10)
        .await
        .unwrap();
    let types: Vec<_> = read.iter().map(|e| e.content_type).collect();
    assert_eq!(types, [ContentType::Json, ContentType::Binary]);
}

#[tokio::test]
async fn a_small_segment_size_rotates_segments_and_reopening_reads_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let small = || EmbeddedOptions {
        segment_size_bytes: 1024,
        ..options()
    };
    let all = {
        let store = open_with(dir.path(), small()).await;
        for i in 0..60u64 {
            let expected = match i {
                0 => StreamState::NoStream,
                i => StreamState::Revision(Revision::new(i - 1)),
            };
            store
                .append("big", expected, vec![event(&format!("{i:0>100}"))])
                .await
                .unwrap();
        }
        read_everything(&store).await
    };
    let files = segments(dir.path());
    assert!(files.len() >= 5, "only {} segments", files.len());
    // Each segment is named by the first position it holds.
    let first_positions: Vec<u64> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(first_positions[0], 1);
    assert!(first_positions.windows(2).all(|w| w[0] < w[1]));
    assert!(
        first_positions
            .iter()
            .all(|p| all.iter().any(|e| e.position == Position::new(*p)))
    );

    let store = open_with(dir.path(), small()).await;
    assert_eq!(read_everything(&store).await, all);
    let backwards = store
        .read_all(AllFrom::End, Direction::Backwards, 1000)
        .await
        .unwrap();
    assert_eq!(backwards.iter().rev().cloned().collect::<Vec<_>>(), all);
    // Appends continue the positions and revisions.
    let r = store
        .append(
            "big",
            StreamState::Revision(Revision::new(59)),
            vec![event("next")],
        )
        .await
        .unwrap();
    assert_eq!(
        (r.next_expected_revision, r.position),
        (Revision::new(60), Position::new(61))
    );
    assert_eq!(
        store
            .read_all(AllFrom::Position(Position::new(61)), Direction::Forwards, 1)
            .await
            .unwrap()[0]
            .data,
        &b"next"[..]
    );
}

#[tokio::test]
async fn closing_stops_appends_keeps_reads_and_frees_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .append("s", StreamState::Any, vec![event("kept")])
        .await
        .unwrap();
    store.close().await;
    assert!(matches!(
        store
            .append("s", StreamState::Any, vec![event("late")])
            .await,
        Err(StoreError::Closed)
    ));
    assert_eq!(read_everything(&store).await.len(), 1);

    let reopened = open(dir.path()).await;
    assert_eq!(read_everything(&reopened).await[0].data, &b"kept"[..]);
    reopened
        .append(
            "s",
            StreamState::Revision(Revision::FIRST),
            vec![event("more")],
        )
        .await
        .unwrap();
}
