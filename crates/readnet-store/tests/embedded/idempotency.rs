//! Retries: an append whose events are already in place returns the original result.

use std::sync::Arc;

use readnet_store::{
    AppendResult, EventData, EventStore, Position, Revision, StoreError, StreamState, StreamWrite,
};

use crate::common::{event, open, read_everything};

/// What a retry of `original` answers: the same places, and no commit time (the store does not
/// look up the original's).
fn as_retry(original: AppendResult) -> AppendResult {
    AppendResult {
        recorded_at_us: None,
        ..original
    }
}

#[tokio::test]
async fn repeating_an_append_returns_the_original_result_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .append("other", StreamState::Any, vec![event("o")])
        .await
        .unwrap();

    let cases = [
        ("no-stream", StreamState::NoStream),
        ("any", StreamState::Any),
        ("revision", StreamState::Revision(Revision::FIRST)),
        ("exists", StreamState::StreamExists),
    ];
    for (stream, expected) in cases {
        if matches!(
            expected,
            StreamState::Revision(_) | StreamState::StreamExists
        ) {
            store
                .append(stream, StreamState::NoStream, vec![event("first")])
                .await
                .unwrap();
        }
        let events = vec![event("x"), event("y")];
        let original = store
            .append(stream, expected, events.clone())
            .await
            .unwrap();
        let head = store.head_position();
        // Something else is appended in between: still a retry of the original.
        store
            .append("other", StreamState::Any, vec![event("o")])
            .await
            .unwrap();
        let head_after_other = store.head_position();
        assert_eq!(head_after_other, head.next());

        let retried = store.append(stream, expected, events).await.unwrap();
        assert_eq!(retried, as_retry(original), "retry of the {stream} append");
        assert_eq!(store.head_position(), head_after_other);
    }
    assert_eq!(
        read_everything(&store).await.len() as u64,
        store.head_position().get()
    );
}

#[tokio::test]
async fn a_retry_is_recognised_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let events = vec![event("a"), event("b")];
    let multi = |events: &[EventData]| {
        vec![
            StreamWrite {
                stream: "m1".into(),
                expected: StreamState::NoStream,
                events: events[..1].to_vec(),
            },
            StreamWrite {
                stream: "m2".into(),
                expected: StreamState::Any,
                events: events[1..].to_vec(),
            },
        ]
    };
    let (original, original_multi, head) = {
        let store = open(dir.path()).await;
        store
            .append("s", StreamState::Any, vec![event("0")])
            .await
            .unwrap();
        let original = store
            .append("s", StreamState::Revision(Revision::FIRST), events.clone())
            .await
            .unwrap();
        let original_multi = store.append_multi(multi(&events)).await.unwrap();
        (original, original_multi, store.head_position())
    };
    let store = open(dir.path()).await;
    let retried = store
        .append("s", StreamState::Revision(Revision::FIRST), events.clone())
        .await
        .unwrap();
    assert_eq!(retried, as_retry(original));
    assert_eq!(
        store.append_multi(multi(&events)).await.unwrap(),
        original_multi.into_iter().map(as_retry).collect::<Vec<_>>()
    );
    assert_eq!(store.head_position(), head);
}

#[tokio::test]
async fn a_retry_with_only_some_ids_in_place_is_an_idempotency_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (a, b, c) = (event("a"), event("b"), event("c"));
    store
        .append("s", StreamState::NoStream, vec![a.clone(), b.clone()])
        .await
        .unwrap();
    fn mismatch<T>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::IdempotencyMismatch { ref stream }) if stream == "s")
    }
    // The first id in place, the second not.
    assert!(mismatch(
        store
            .append("s", StreamState::NoStream, vec![a.clone(), c.clone()])
            .await
    ));
    assert!(mismatch(
        store
            .append("s", StreamState::Any, vec![a.clone(), c.clone()])
            .await
    ));
    // All in place, but the write has more events than followed them.
    assert!(mismatch(
        store
            .append("s", StreamState::StreamExists, vec![b.clone(), c.clone()])
            .await
    ));
    assert!(mismatch(
        store
            .append(
                "s",
                StreamState::NoStream,
                vec![a.clone(), b.clone(), c.clone()]
            )
            .await
    ));
    // A multi append of which one write is in place and one is not.
    let r = store
        .append_multi(vec![
            StreamWrite {
                stream: "s".into(),
                expected: StreamState::NoStream,
                events: vec![a, b],
            },
            StreamWrite {
                stream: "t".into(),
                expected: StreamState::Any,
                events: vec![c],
            },
        ])
        .await;
    assert!(mismatch(r));
    assert_eq!(store.head_position(), Position::new(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_appends_racing_are_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()).await);
    let events = vec![event("once"), event("twice")];
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, events) = (Arc::clone(&store), events.clone());
            tokio::spawn(async move { store.append("s", StreamState::Any, events).await })
        })
        .collect();
    let mut results = vec![];
    for task in tasks {
        results.push(task.await.unwrap().unwrap());
    }
    // One of them wrote the events; every other one was answered as a retry of it.
    let written: Vec<_> = results
        .iter()
        .filter(|r| r.recorded_at_us.is_some())
        .collect();
    assert_eq!(written.len(), 1, "exactly one append wrote");
    assert!(
        results
            .iter()
            .all(|r| as_retry(*r) == as_retry(*written[0]))
    );
    assert_eq!(store.head_position(), Position::new(2));
    assert_eq!(
        store.stream_revision("s").await.unwrap(),
        Some(Revision::new(1))
    );
}
