//! Appends and reads: directions, starting points, counts, expectations, atomicity.

use readnet_store::{
    AllFrom, AppendResult, CurrentRevision, Direction, EventStore, Position, Revision, StoreError,
    StreamFrom, StreamState, StreamWrite,
};

use crate::common::{event, open, read_everything};

fn revisions(events: &[readnet_store::RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.revision.get()).collect()
}

fn positions(events: &[readnet_store::RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position.get()).collect()
}

/// Five events in `a` and three in `b`, interleaved: a0 b0 a1 b1 a2 b2 a3 a4.
async fn interleaved(store: &impl EventStore) {
    for i in 0..5 {
        store
            .append("a", StreamState::Any, vec![event(&format!("a{i}"))])
            .await
            .unwrap();
        if i < 3 {
            store
                .append("b", StreamState::Any, vec![event(&format!("b{i}"))])
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn stream_reads_honour_start_end_at_direction_and_max_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    interleaved(&store).await;
    let read = |from, direction, max| store.read_stream("a", from, direction, max);

    let all = read(StreamFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(revisions(&all), [0, 1, 2, 3, 4]);
    assert_eq!(positions(&all), [1, 3, 5, 7, 8]);
    assert_eq!(all[2].data, &b"a2"[..]);
    assert_eq!(all[2].metadata, &b"meta:a2"[..]);
    assert_eq!(all[2].event_type, "Tested");
    assert!(all.iter().all(|e| e.stream == "a"));

    let f = |events: Vec<_>| revisions(&events);
    assert_eq!(
        f(read(StreamFrom::Start, Direction::Forwards, 2)
            .await
            .unwrap()),
        [0, 1]
    );
    assert_eq!(
        f(read(
            StreamFrom::Revision(Revision::new(3)),
            Direction::Forwards,
            100
        )
        .await
        .unwrap()),
        [3, 4]
    );
    assert_eq!(
        f(read(
            StreamFrom::Revision(Revision::new(1)),
            Direction::Forwards,
            2
        )
        .await
        .unwrap()),
        [1, 2]
    );
    assert!(
        read(
            StreamFrom::Revision(Revision::new(5)),
            Direction::Forwards,
            100
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert!(
        read(StreamFrom::End, Direction::Forwards, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        read(StreamFrom::Start, Direction::Forwards, 0)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        f(read(StreamFrom::End, Direction::Backwards, 100)
            .await
            .unwrap()),
        [4, 3, 2, 1, 0]
    );
    assert_eq!(
        f(read(StreamFrom::End, Direction::Backwards, 2)
            .await
            .unwrap()),
        [4, 3]
    );
    assert_eq!(
        f(read(
            StreamFrom::Revision(Revision::new(2)),
            Direction::Backwards,
            100
        )
        .await
        .unwrap()),
        [2, 1, 0]
    );
    assert_eq!(
        f(read(
            StreamFrom::Revision(Revision::new(99)),
            Direction::Backwards,
            1
        )
        .await
        .unwrap()),
        [4]
    );
    assert_eq!(
        f(read(StreamFrom::Start, Direction::Backwards, 100)
            .await
            .unwrap()),
        [0]
    );

    let missing = store
        .read_stream("nope", StreamFrom::Start, Direction::Forwards, 10)
        .await
        .unwrap();
    assert!(missing.is_empty());
}

#[tokio::test]
async fn all_reads_honour_start_end_at_direction_and_max_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    assert!(read_everything(&store).await.is_empty());
    interleaved(&store).await;
    assert_eq!(store.head_position(), Position::new(8));
    let read = |from, direction, max| store.read_all(from, direction, max);

    let all = read(AllFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(positions(&all), (1..=8).collect::<Vec<_>>());
    let streams: Vec<&str> = all.iter().map(|e| e.stream.as_str()).collect();
    assert_eq!(streams, ["a", "b", "a", "b", "a", "b", "a", "a"]);

    let f = |events: Vec<_>| positions(&events);
    assert_eq!(
        f(read(AllFrom::Start, Direction::Forwards, 3).await.unwrap()),
        [1, 2, 3]
    );
    assert_eq!(
        f(read(
            AllFrom::Position(Position::new(6)),
            Direction::Forwards,
            100
        )
        .await
        .unwrap()),
        [6, 7, 8]
    );
    // Positions start at 1: reading from 0 reads from the first event.
    assert_eq!(
        f(
            read(AllFrom::Position(Position::START), Direction::Forwards, 2)
                .await
                .unwrap()
        ),
        [1, 2]
    );
    assert!(
        read(
            AllFrom::Position(Position::new(9)),
            Direction::Forwards,
            100
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert!(
        read(AllFrom::End, Direction::Forwards, 100)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        f(read(AllFrom::End, Direction::Backwards, 3).await.unwrap()),
        [8, 7, 6]
    );
    assert_eq!(
        f(read(
            AllFrom::Position(Position::new(2)),
            Direction::Backwards,
            100
        )
        .await
        .unwrap()),
        [2, 1]
    );
    assert_eq!(
        f(read(
            AllFrom::Position(Position::new(50)),
            Direction::Backwards,
            2
        )
        .await
        .unwrap()),
        [8, 7]
    );
    assert_eq!(
        f(read(AllFrom::Start, Direction::Backwards, 5).await.unwrap()),
        [1]
    );
    assert!(
        read(AllFrom::Position(Position::START), Direction::Backwards, 5)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn recorded_at_comes_from_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .append("s", StreamState::Any, vec![event("1"), event("2")])
        .await
        .unwrap();
    store
        .append("s", StreamState::Any, vec![event("3")])
        .await
        .unwrap();
    let times: Vec<i64> = read_everything(&store)
        .await
        .iter()
        .map(|e| e.recorded_at_us)
        .collect();
    // One clock reading per commit: the first append's events share it.
    assert_eq!(times, [1_000_000, 1_000_000, 1_000_001]);
}

#[tokio::test]
async fn every_expectation_is_accepted_when_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let r = store
        .append("s", StreamState::NoStream, vec![event("0"), event("1")])
        .await
        .unwrap();
    assert_eq!(
        r,
        AppendResult {
            next_expected_revision: Revision::new(1),
            first_position: Position::new(1),
            position: Position::new(2),
            recorded_at_us: r.recorded_at_us,
        }
    );
    let read = read_everything(&store).await;
    assert_eq!(
        r.recorded_at_us,
        Some(read[0].recorded_at_us),
        "the result carries the time the events were recorded"
    );
    assert_eq!(read[0].recorded_at_us, read[1].recorded_at_us);
    let r = store
        .append(
            "s",
            StreamState::Revision(Revision::new(1)),
            vec![event("2")],
        )
        .await
        .unwrap();
    assert_eq!(
        (r.next_expected_revision, r.first_position, r.position),
        (Revision::new(2), Position::new(3), Position::new(3))
    );
    let r = store
        .append("s", StreamState::StreamExists, vec![event("3")])
        .await
        .unwrap();
    assert_eq!(r.next_expected_revision, Revision::new(3));
    let r = store
        .append("s", StreamState::Any, vec![event("4")])
        .await
        .unwrap();
    assert_eq!(r.next_expected_revision, Revision::new(4));
    let r = store
        .append("t", StreamState::Any, vec![event("t0")])
        .await
        .unwrap();
    assert_eq!(
        (r.next_expected_revision, r.position),
        (Revision::FIRST, Position::new(6))
    );
    assert_eq!(
        store.stream_revision("s").await.unwrap(),
        Some(Revision::new(4))
    );
    assert_eq!(
        store.stream_revision("t").await.unwrap(),
        Some(Revision::FIRST)
    );
    assert_eq!(store.stream_revision("u").await.unwrap(), None);
}

#[tokio::test]
async fn every_expectation_is_refused_with_the_actual_revision_when_it_does_not_hold() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let refused = |result: Result<AppendResult, StoreError>| match result {
        Err(StoreError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        }) => (stream, expected, actual),
        other => panic!("expected WrongExpectedVersion, got {other:?}"),
    };

    let r = store
        .append("s", StreamState::StreamExists, vec![event("x")])
        .await;
    assert_eq!(
        refused(r),
        (
            "s".into(),
            StreamState::StreamExists,
            CurrentRevision::NoStream
        )
    );
    let r = store
        .append(
            "s",
            StreamState::Revision(Revision::FIRST),
            vec![event("x")],
        )
        .await;
    assert_eq!(
        refused(r),
        (
            "s".into(),
            StreamState::Revision(Revision::FIRST),
            CurrentRevision::NoStream
        )
    );

    store
        .append("s", StreamState::NoStream, vec![event("0"), event("1")])
        .await
        .unwrap();
    let r = store
        .append("s", StreamState::NoStream, vec![event("x")])
        .await;
    assert_eq!(
        refused(r),
        (
            "s".into(),
            StreamState::NoStream,
            CurrentRevision::Current(Revision::new(1))
        )
    );
    let r = store
        .append(
            "s",
            StreamState::Revision(Revision::FIRST),
            vec![event("x")],
        )
        .await;
    assert_eq!(
        refused(r),
        (
            "s".into(),
            StreamState::Revision(Revision::FIRST),
            CurrentRevision::Current(Revision::new(1))
        )
    );
    let r = store
        .append(
            "s",
            StreamState::Revision(Revision::new(2)),
            vec![event("x")],
        )
        .await;
    assert_eq!(
        refused(r),
        (
            "s".into(),
            StreamState::Revision(Revision::new(2)),
            CurrentRevision::Current(Revision::new(1))
        )
    );
    assert_eq!(store.head_position(), Position::new(2));
    assert_eq!(read_everything(&store).await.len(), 2);
}

#[tokio::test]
async fn a_multi_stream_append_writes_every_stream_with_consecutive_positions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .append("a", StreamState::Any, vec![event("a0")])
        .await
        .unwrap();
    let results = store
        .append_multi(vec![
            StreamWrite {
                stream: "a".into(),
                expected: StreamState::Revision(Revision::FIRST),
                events: vec![event("a1"), event("a2")],
            },
            StreamWrite {
                stream: "b".into(),
                expected: StreamState::NoStream,
                events: vec![event("b0")],
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        results,
        [
            AppendResult {
                next_expected_revision: Revision::new(2),
                first_position: Position::new(2),
                position: Position::new(3),
                recorded_at_us: results[0].recorded_at_us,
            },
            AppendResult {
                next_expected_revision: Revision::FIRST,
                first_position: Position::new(4),
                position: Position::new(4),
                recorded_at_us: results[0].recorded_at_us,
            },
        ]
    );
    let b = store
        .read_stream("b", StreamFrom::Start, Direction::Forwards, 10)
        .await
        .unwrap();
    assert_eq!(
        (b[0].position, &b[0].data[..]),
        (Position::new(4), &b"b0"[..])
    );
}

#[tokio::test]
async fn a_multi_stream_append_with_one_unmet_expectation_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .append("a", StreamState::Any, vec![event("a0")])
        .await
        .unwrap();
    let result = store
        .append_multi(vec![
            StreamWrite {
                stream: "b".into(),
                expected: StreamState::NoStream,
                events: vec![event("b0")],
            },
            StreamWrite {
                stream: "a".into(),
                expected: StreamState::Revision(Revision::new(5)),
                events: vec![event("a1")],
            },
        ])
        .await;
    assert!(matches!(
        result,
        Err(StoreError::WrongExpectedVersion { ref stream, actual: CurrentRevision::Current(r), .. })
            if stream == "a" && r == Revision::FIRST
    ));
    assert_eq!(store.head_position(), Position::new(1));
    assert_eq!(store.stream_revision("b").await.unwrap(), None);
    assert_eq!(read_everything(&store).await.len(), 1);
    // The next append takes the next position: nothing was reserved.
    let r = store
        .append("b", StreamState::NoStream, vec![event("b0")])
        .await
        .unwrap();
    assert_eq!(r.position, Position::new(2));
}

#[tokio::test]
async fn malformed_appends_are_refused_as_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    fn invalid<T>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::InvalidArgument(_)))
    }

    assert!(invalid(
        store.append("", StreamState::Any, vec![event("x")]).await
    ));
    assert!(invalid(store.append("s", StreamState::Any, vec![]).await));
    let mut untyped = event("x");
    untyped.event_type.clear();
    assert!(invalid(
        store.append("s", StreamState::Any, vec![untyped]).await
    ));
    assert!(invalid(store.append_multi(vec![]).await));
    let twice = |e| StreamWrite {
        stream: "s".into(),
        expected: StreamState::Any,
        events: vec![e],
    };
    assert!(invalid(
        store
            .append_multi(vec![twice(event("1")), twice(event("2"))])
            .await
    ));
    let mut huge = event("x");
    huge.data = vec![0; 64 * 1024 * 1024].into();
    assert!(invalid(
        store.append("s", StreamState::Any, vec![huge]).await
    ));
    assert_eq!(store.head_position(), Position::START);
}
