//! Concurrent appends: expectations decide exactly one winner; positions stay dense.

use std::collections::HashMap;
use std::sync::Arc;

use readnet_store::{EventStore, Position, Revision, StoreError, StreamState};

use crate::common::{event, open, read_everything};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_fifty_appends_expecting_the_same_revision_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()).await);
    store
        .append(
            "race",
            StreamState::NoStream,
            vec![event("0"), event("1"), event("2")],
        )
        .await
        .unwrap();

    // All fifty start at once, so that many of them meet in one group commit.
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                store
                    .append(
                        "race",
                        StreamState::Revision(Revision::new(2)),
                        vec![event(&format!("w{i}"))],
                    )
                    .await
            })
        })
        .collect();
    let mut won = vec![];
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(result) => won.push(result),
            Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                assert_eq!(
                    actual,
                    readnet_store::CurrentRevision::Current(Revision::new(3))
                );
                refused += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!((won.len(), refused), (1, 49));
    assert_eq!(won[0].next_expected_revision, Revision::new(3));
    assert_eq!(won[0].position, Position::new(4));
    assert_eq!(store.head_position(), Position::new(4));
    assert_eq!(
        store.stream_revision("race").await.unwrap(),
        Some(Revision::new(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_to_different_streams_all_succeed_with_dense_positions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()).await);
    const WRITERS: u64 = 20;
    const APPENDS: u64 = 25;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let stream = format!("writer-{w}");
                for r in 0..APPENDS {
                    let expected = match r {
                        0 => StreamState::NoStream,
                        r => StreamState::Revision(Revision::new(r - 1)),
                    };
                    let result = store
                        .append(&stream, expected, vec![event(&format!("{w}/{r}"))])
                        .await
                        .unwrap();
                    assert_eq!(result.next_expected_revision, Revision::new(r));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let all = read_everything(&*store).await;
    assert_eq!(store.head_position(), Position::new(WRITERS * APPENDS));
    let positions: Vec<u64> = all.iter().map(|e| e.position.get()).collect();
    assert_eq!(positions, (1..=WRITERS * APPENDS).collect::<Vec<_>>());
    // Each stream's revisions are dense and in $all order, with the data written for them.
    let mut next: HashMap<&str, u64> = HashMap::new();
    for e in &all {
        let revision = next.entry(e.stream.as_str()).or_default();
        assert_eq!(e.revision, Revision::new(*revision));
        let w = e.stream.strip_prefix("writer-").unwrap();
        assert_eq!(e.data, format!("{w}/{revision}").into_bytes());
        *revision += 1;
    }
    assert_eq!(next.len() as u64, WRITERS);
}
