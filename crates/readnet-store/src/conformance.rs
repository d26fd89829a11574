//! The store conformance suite: what every [`EventStore`] must do, written once and run against
//! each backend (feature `conformance`).
//!
//! Each case takes a fresh, empty store. A backend's test crate names a factory that makes one
//! and expands [`conformance_suite!`](crate::conformance_suite), which writes one `#[tokio::test]`
//! per case:
//!
//! ```ignore
//! async fn fresh() -> readnet_store::conformance::Subject { /* open an empty store */ }
//! readnet_store::conformance_suite!(fresh());
//! ```
//!
//! Stream names carry a random suffix, so stores that share a server (KurrentDB journals on one
//! node) do not see each other's streams.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::{
    AllFrom, AppendResult, CallOptions, ContentType, CurrentRevision, Direction, EventData,
    EventStore, Position, RecordedEvent, Revision, StoreError, StreamFrom, StreamState,
    StreamWrite, Subscription, SubscriptionMessage,
};
use futures::StreamExt as _;

/// How long one wait of a case may take before the case fails instead of hanging.
const WAIT: Duration = Duration::from_secs(30);

/// A fresh, empty store, and whatever must live as long as it (a temporary directory, a
/// server process).
pub struct Subject {
    pub store: Arc<dyn EventStore>,
    _keep: Box<dyn Any + Send>,
}

impl Subject {
    pub fn new(store: Arc<dyn EventStore>, keep: impl Any + Send) -> Subject {
        Subject {
            store,
            _keep: Box::new(keep),
        }
    }
}

/// Writes one `#[tokio::test]` per conformance case, each on the store `$fresh` (an expression
/// of type `impl Future<Output = Subject>`, evaluated once per case).
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:expr) => {
        $crate::conformance_suite!(@cases $fresh;
            no_stream_starts_a_stream_at_revision_zero_and_position_one,
            no_stream_on_an_existing_stream_is_refused_naming_stream_expected_and_actual,
            stream_exists_is_refused_on_a_missing_stream_and_holds_on_an_existing_one,
            a_revision_expectation_holds_only_at_the_stream_s_last_revision,
            any_appends_whatever_the_stream_s_state,
            a_retried_append_returns_the_original_result_and_writes_nothing,
            calls_past_their_deadline_are_refused_and_write_nothing,
            a_retry_with_some_ids_already_written_and_some_new_is_refused,
            a_multi_stream_append_with_one_failed_expectation_writes_nothing,
            a_multi_stream_append_lands_its_writes_in_order_with_dense_positions,
            malformed_appends_are_refused_as_invalid_arguments,
            a_stream_reads_forwards_and_backwards_from_start_end_and_a_revision,
            all_reads_forwards_and_backwards_with_dense_positions,
            a_missing_stream_reads_empty_and_has_no_revision,
            content_type_metadata_and_data_read_back_exactly,
            a_subscription_from_zero_delivers_the_past_caught_up_once_then_live_events,
            a_subscription_from_a_checkpoint_starts_after_it,
            a_subscription_to_an_empty_store_is_caught_up_at_zero,
            of_racing_appends_with_one_expectation_exactly_one_wins,
        );
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let subject: $crate::conformance::Subject = $fresh.await;
                $crate::conformance::$case(::std::sync::Arc::clone(&subject.store)).await;
            }
        )*
    };
}

/// A stream name no other case or run uses.
pub fn stream(name: &str) -> String {
    format!("{name}-{}", Uuid::new_v4().simple())
}

/// A binary event with a fresh id; `data` is its data and, prefixed, its metadata.
pub fn event(data: &str) -> EventData {
    EventData {
        event_id: Uuid::new_v4(),
        event_type: "Tested".into(),
        content_type: ContentType::Binary,
        metadata: format!("meta:{data}").into_bytes().into(),
        data: data.as_bytes().to_vec().into(),
    }
}

fn events(data: &[&str]) -> Vec<EventData> {
    data.iter().map(|d| event(d)).collect()
}

fn data(events: &[RecordedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect()
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position.get()).collect()
}

fn write(stream: &str, expected: StreamState, events: Vec<EventData>) -> StreamWrite {
    StreamWrite {
        stream: stream.to_owned(),
        expected,
        events,
    }
}

async fn everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store
        .read_all(AllFrom::Start, Direction::Forwards, usize::MAX)
        .await
        .expect("read $all")
}

async fn whole(store: &dyn EventStore, stream: &str) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, StreamFrom::Start, Direction::Forwards, usize::MAX)
        .await
        .expect("read the stream")
}

fn assert_wrong_version(
    result: Result<impl std::fmt::Debug, StoreError>,
    stream: &str,
    expected: StreamState,
    actual: CurrentRevision,
) {
    match result {
        Err(StoreError::WrongExpectedVersion {
            stream: s,
            expected: e,
            actual: a,
        }) => {
            assert_eq!((s.as_str(), e, a), (stream, expected, actual));
        }
        other => panic!("expected a wrong expected version on {stream}, got {other:?}"),
    }
}

/// The next subscription message, within the suite's wait; an error or an end fails the test.
pub async fn next(subscription: &mut Subscription) -> SubscriptionMessage {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("a subscription message within the wait")
        .expect("the subscription is open")
        .expect("no subscription error")
}

/// The next `count` messages, which must all be events.
async fn next_events(subscription: &mut Subscription, count: usize) -> Vec<RecordedEvent> {
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        match next(subscription).await {
            SubscriptionMessage::Event(e) => events.push(e),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    events
}

/// Nothing more arrives for a short while (no repeats, no second `CaughtUp`).
async fn assert_quiet(subscription: &mut Subscription) {
    if let Ok(message) = tokio::time::timeout(Duration::from_millis(300), subscription.next()).await
    {
        panic!("expected nothing more, got {message:?}");
    }
}

pub async fn no_stream_starts_a_stream_at_revision_zero_and_position_one(
    store: Arc<dyn EventStore>,
) {
    let s = stream("fresh");
    let result = store
        .append(&s, StreamState::NoStream, events(&["a", "b"]))
        .await
        .unwrap();
    assert_eq!(
        (
            result.next_expected_revision.get(),
            result.first_position.get(),
            result.position.get()
        ),
        (1, 1, 2)
    );
    assert_eq!(
        store.stream_revision(&s).await.unwrap(),
        Some(Revision::new(1))
    );
    assert_eq!(store.head_position().get(), 2);
    let read = whole(store.as_ref(), &s).await;
    assert_eq!(data(&read), ["a", "b"]);
    assert_eq!(
        read.iter()
            .map(|e| (e.revision.get(), e.position.get()))
            .collect::<Vec<_>>(),
        [(0, 1), (1, 2)]
    );
}

pub async fn no_stream_on_an_existing_stream_is_refused_naming_stream_expected_and_actual(
    store: Arc<dyn EventStore>,
) {
    let s = stream("taken");
    store
        .append(&s, StreamState::NoStream, events(&["a", "b", "c"]))
        .await
        .unwrap();
    let refused = store
        .append(&s, StreamState::NoStream, events(&["d"]))
        .await;
    let message = refused.as_ref().map(|_| ()).unwrap_err().to_string();
    assert!(
        message.contains(&s) && message.contains("no stream") && message.contains("revision 2"),
        "the message names stream, expectation and current revision: {message}"
    );
    assert_wrong_version(
        refused,
        &s,
        StreamState::NoStream,
        CurrentRevision::Current(Revision::new(2)),
    );
    assert_eq!(store.head_position().get(), 3, "nothing was written");
}

pub async fn stream_exists_is_refused_on_a_missing_stream_and_holds_on_an_existing_one(
    store: Arc<dyn EventStore>,
) {
    let s = stream("exists");
    assert_wrong_version(
        store
            .append(&s, StreamState::StreamExists, events(&["a"]))
            .await,
        &s,
        StreamState::StreamExists,
        CurrentRevision::NoStream,
    );
    assert_eq!(store.head_position().get(), 0);
    store
        .append(&s, StreamState::NoStream, events(&["a"]))
        .await
        .unwrap();
    let result = store
        .append(&s, StreamState::StreamExists, events(&["b"]))
        .await
        .unwrap();
    assert_eq!(
        (result.next_expected_revision.get(), result.position.get()),
        (1, 2)
    );
}

pub async fn a_revision_expectation_holds_only_at_the_stream_s_last_revision(
    store: Arc<dyn EventStore>,
) {
    let s = stream("revision");
    assert_wrong_version(
        store
            .append(&s, StreamState::Revision(Revision::FIRST), events(&["a"]))
            .await,
        &s,
        StreamState::Revision(Revision::FIRST),
        CurrentRevision::NoStream,
    );
    store
        .append(&s, StreamState::NoStream, events(&["a", "b"]))
        .await
        .unwrap();
    for stale in [0, 2, 7] {
        assert_wrong_version(
            store
                .append(
                    &s,
                    StreamState::Revision(Revision::new(stale)),
                    events(&["x"]),
                )
                .await,
            &s,
            StreamState::Revision(Revision::new(stale)),
            CurrentRevision::Current(Revision::new(1)),
        );
    }
    let result = store
        .append(&s, StreamState::Revision(Revision::new(1)), events(&["c"]))
        .await
        .unwrap();
    assert_eq!(
        (result.next_expected_revision.get(), result.position.get()),
        (2, 3)
    );
    assert_eq!(data(&whole(store.as_ref(), &s).await), ["a", "b", "c"]);
}

pub async fn any_appends_whatever_the_stream_s_state(store: Arc<dyn EventStore>) {
    let s = stream("any");
    let first = store
        .append(&s, StreamState::Any, events(&["a"]))
        .await
        .unwrap();
    let second = store
        .append(&s, StreamState::Any, events(&["b", "c"]))
        .await
        .unwrap();
    assert_eq!(first.next_expected_revision, Revision::FIRST);
    assert_eq!(
        (
            second.next_expected_revision.get(),
            second.first_position.get(),
            second.position.get()
        ),
        (2, 2, 3)
    );
}

/// A deadline that has passed refuses the call before it starts; an ample one changes nothing.
pub async fn calls_past_their_deadline_are_refused_and_write_nothing(store: Arc<dyn EventStore>) {
    let s = stream("deadline");
    let head = store.head_position();
    let passed = CallOptions {
        deadline: Some(std::time::Instant::now() - Duration::from_millis(1)),
    };
    let refused = store
        .append_multi_with(
            vec![StreamWrite {
                stream: s.clone(),
                expected: StreamState::Any,
                events: events(&["late"]),
            }],
            &passed,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::DeadlineExceeded { .. })),
        "{refused:?}"
    );
    let read = store
        .read_all_with(AllFrom::Start, Direction::Forwards, 10, &passed)
        .await;
    assert!(matches!(read, Err(StoreError::DeadlineExceeded { .. })));
    // Within a deadline, calls answer as they would without one.
    let ample = CallOptions::timeout(WAIT);
    store
        .append_multi_with(
            vec![StreamWrite {
                stream: s.clone(),
                expected: StreamState::NoStream,
                events: events(&["in time"]),
            }],
            &ample,
        )
        .await
        .unwrap();
    let read = store
        .read_stream_with(&s, StreamFrom::Start, Direction::Forwards, 10, &ample)
        .await
        .unwrap();
    assert_eq!(data(&read), ["in time"], "the late append wrote nothing");
    assert_eq!(store.head_position(), head.next());
}

pub async fn a_retried_append_returns_the_original_result_and_writes_nothing(
    store: Arc<dyn EventStore>,
) {
    let s = stream("retry");
    let first = events(&["a", "b"]);
    let original = store
        .append(&s, StreamState::NoStream, first.clone())
        .await
        .unwrap();
    let second = events(&["c"]);
    let original_second = store
        .append(&s, StreamState::Revision(Revision::new(1)), second.clone())
        .await
        .unwrap();
    let third = events(&["d"]);
    let original_third = store
        .append(&s, StreamState::Any, third.clone())
        .await
        .unwrap();
    let head = store.head_position();

    // A retry's result places the events where the original did; the commit time is the
    // original's, which the result leaves out (None) rather than inventing.
    let as_retry = |r: AppendResult| AppendResult {
        recorded_at_us: None,
        ..r
    };
    for original in [original, original_second, original_third] {
        assert!(
            original.recorded_at_us.is_some(),
            "a new append says when it was recorded"
        );
    }
    let retried = store.append(&s, StreamState::NoStream, first).await;
    assert_eq!(
        retried.unwrap(),
        as_retry(original),
        "retry under no stream"
    );
    let retried = store
        .append(&s, StreamState::Revision(Revision::new(1)), second)
        .await;
    assert_eq!(
        retried.unwrap(),
        as_retry(original_second),
        "retry under a revision"
    );
    let retried = store.append(&s, StreamState::Any, third).await;
    assert_eq!(
        retried.unwrap(),
        as_retry(original_third),
        "retry under any"
    );

    assert_eq!(store.head_position(), head, "nothing was written");
    assert_eq!(data(&whole(store.as_ref(), &s).await), ["a", "b", "c", "d"]);
}

pub async fn a_retry_with_some_ids_already_written_and_some_new_is_refused(
    store: Arc<dyn EventStore>,
) {
    let s = stream("mismatch");
    let written = events(&["a", "b"]);
    store
        .append(&s, StreamState::NoStream, written.clone())
        .await
        .unwrap();
    let half = vec![written[0].clone(), event("new")];
    match store.append(&s, StreamState::NoStream, half).await {
        Err(StoreError::IdempotencyMismatch { stream: named }) => assert_eq!(named, s),
        other => panic!("expected an idempotency mismatch, got {other:?}"),
    }
    assert_eq!(store.head_position().get(), 2);
}

pub async fn a_multi_stream_append_with_one_failed_expectation_writes_nothing(
    store: Arc<dyn EventStore>,
) {
    let (a, b) = (stream("atomic-a"), stream("atomic-b"));
    store
        .append(&b, StreamState::NoStream, events(&["b0"]))
        .await
        .unwrap();
    let refused = store
        .append_multi(vec![
            write(&a, StreamState::NoStream, events(&["a0", "a1"])),
            write(&b, StreamState::NoStream, events(&["b1"])),
        ])
        .await;
    assert_wrong_version(
        refused,
        &b,
        StreamState::NoStream,
        CurrentRevision::Current(Revision::FIRST),
    );
    assert_eq!(store.head_position().get(), 1);
    assert_eq!(store.stream_revision(&a).await.unwrap(), None);
    assert!(whole(store.as_ref(), &a).await.is_empty());
    assert_eq!(data(&everything(store.as_ref()).await), ["b0"]);
}

pub async fn a_multi_stream_append_lands_its_writes_in_order_with_dense_positions(
    store: Arc<dyn EventStore>,
) {
    let (a, b) = (stream("multi-a"), stream("multi-b"));
    store
        .append(&b, StreamState::NoStream, events(&["b0"]))
        .await
        .unwrap();
    let results = store
        .append_multi(vec![
            write(&a, StreamState::NoStream, events(&["a0", "a1"])),
            write(&b, StreamState::Revision(Revision::FIRST), events(&["b1"])),
        ])
        .await
        .unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| {
                (
                    r.next_expected_revision.get(),
                    r.first_position.get(),
                    r.position.get(),
                )
            })
            .collect::<Vec<_>>(),
        [(1, 2, 3), (1, 4, 4)]
    );
    let all = everything(store.as_ref()).await;
    assert_eq!(data(&all), ["b0", "a0", "a1", "b1"]);
    assert_eq!(positions(&all), [1, 2, 3, 4]);
    assert_eq!(
        all.iter()
            .map(|e| (e.stream == a, e.revision.get()))
            .collect::<Vec<_>>(),
        [(false, 0), (true, 0), (true, 1), (false, 1)]
    );
    assert_eq!(
        store.stream_revision(&b).await.unwrap(),
        Some(Revision::new(1))
    );
}

pub async fn malformed_appends_are_refused_as_invalid_arguments(store: Arc<dyn EventStore>) {
    let s = stream("malformed");
    let cases = [
        ("no writes", vec![]),
        (
            "a stream twice",
            vec![
                write(&s, StreamState::Any, events(&["a"])),
                write(&s, StreamState::Any, events(&["b"])),
            ],
        ),
        (
            "a write with no events",
            vec![write(&s, StreamState::Any, vec![])],
        ),
        (
            "an empty stream name",
            vec![write("", StreamState::Any, events(&["a"]))],
        ),
        (
            "a stream name over the cap",
            vec![write(
                &"n".repeat(crate::MAX_STREAM_NAME_BYTES + 1),
                StreamState::Any,
                events(&["a"]),
            )],
        ),
    ];
    for (what, writes) in cases {
        match store.append_multi(writes).await {
            Err(StoreError::InvalidArgument(_)) => {}
            other => panic!("{what}: expected an invalid argument, got {other:?}"),
        }
    }
    assert_eq!(store.head_position().get(), 0);
}

pub async fn a_stream_reads_forwards_and_backwards_from_start_end_and_a_revision(
    store: Arc<dyn EventStore>,
) {
    let (s, other) = (stream("read"), stream("other"));
    for (i, d) in ["r0", "r1", "r2", "r3", "r4"].iter().enumerate() {
        store
            .append(&s, StreamState::Any, events(&[d]))
            .await
            .unwrap();
        // Interleave another stream so revisions and positions differ.
        store
            .append(&other, StreamState::Any, events(&[&format!("o{i}")]))
            .await
            .unwrap();
    }
    let read = |from, direction, max| {
        let (store, s) = (Arc::clone(&store), s.clone());
        async move { data(&store.read_stream(&s, from, direction, max).await.unwrap()) }
    };
    use Direction::{Backwards, Forwards};
    assert_eq!(
        read(StreamFrom::Start, Forwards, 100).await,
        ["r0", "r1", "r2", "r3", "r4"]
    );
    assert_eq!(read(StreamFrom::Start, Forwards, 2).await, ["r0", "r1"]);
    assert_eq!(
        read(StreamFrom::Revision(Revision::new(3)), Forwards, 100).await,
        ["r3", "r4"]
    );
    assert_eq!(
        read(StreamFrom::Revision(Revision::new(9)), Forwards, 100).await,
        Vec::<String>::new()
    );
    assert_eq!(
        read(StreamFrom::End, Forwards, 100).await,
        Vec::<String>::new()
    );
    assert_eq!(read(StreamFrom::End, Backwards, 2).await, ["r4", "r3"]);
    assert_eq!(
        read(StreamFrom::Revision(Revision::new(2)), Backwards, 100).await,
        ["r2", "r1", "r0"]
    );
    assert_eq!(
        read(StreamFrom::Revision(Revision::new(9)), Backwards, 1).await,
        ["r4"]
    );
    assert_eq!(read(StreamFrom::Start, Backwards, 100).await, ["r0"]);
    assert_eq!(
        read(StreamFrom::Start, Forwards, 0).await,
        Vec::<String>::new()
    );
    let events = whole(store.as_ref(), &s).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.revision.get(), e.position.get()))
            .collect::<Vec<_>>(),
        [(0, 1), (1, 3), (2, 5), (3, 7), (4, 9)]
    );
    assert!(events.iter().all(|e| e.stream == s));
}

pub async fn all_reads_forwards_and_backwards_with_dense_positions(store: Arc<dyn EventStore>) {
    let (a, b) = (stream("all-a"), stream("all-b"));
    store
        .append(&a, StreamState::Any, events(&["1", "2"]))
        .await
        .unwrap();
    store
        .append(&b, StreamState::Any, events(&["3", "4", "5"]))
        .await
        .unwrap();
    let read = |from, direction, max| {
        let store = Arc::clone(&store);
        async move { positions(&store.read_all(from, direction, max).await.unwrap()) }
    };
    use Direction::{Backwards, Forwards};
    assert_eq!(read(AllFrom::Start, Forwards, 100).await, [1, 2, 3, 4, 5]);
    assert_eq!(
        read(AllFrom::Position(Position::START), Forwards, 2).await,
        [1, 2]
    );
    assert_eq!(
        read(AllFrom::Position(Position::new(4)), Forwards, 100).await,
        [4, 5]
    );
    assert_eq!(
        read(AllFrom::Position(Position::new(6)), Forwards, 100).await,
        Vec::<u64>::new()
    );
    assert_eq!(read(AllFrom::End, Forwards, 100).await, Vec::<u64>::new());
    assert_eq!(read(AllFrom::End, Backwards, 2).await, [5, 4]);
    assert_eq!(
        read(AllFrom::Position(Position::new(3)), Backwards, 100).await,
        [3, 2, 1]
    );
    assert_eq!(
        read(AllFrom::Position(Position::new(99)), Backwards, 1).await,
        [5]
    );
    assert_eq!(read(AllFrom::Start, Backwards, 100).await, [1]);
    assert_eq!(
        read(AllFrom::Position(Position::START), Backwards, 100).await,
        Vec::<u64>::new()
    );
    assert_eq!(read(AllFrom::Start, Forwards, 0).await, Vec::<u64>::new());
    let all = everything(store.as_ref()).await;
    assert_eq!(data(&all), ["1", "2", "3", "4", "5"]);
    assert_eq!(store.head_position().get(), 5);
}

pub async fn a_missing_stream_reads_empty_and_has_no_revision(store: Arc<dyn EventStore>) {
    let s = stream("missing");
    assert_eq!(store.stream_revision(&s).await.unwrap(), None);
    for direction in [Direction::Forwards, Direction::Backwards] {
        for from in [
            StreamFrom::Start,
            StreamFrom::End,
            StreamFrom::Revision(Revision::new(3)),
        ] {
            let read = store.read_stream(&s, from, direction, 10).await.unwrap();
            assert!(read.is_empty(), "{direction:?} from {from:?}");
        }
    }
    assert!(everything(store.as_ref()).await.is_empty());
    assert_eq!(store.head_position().get(), 0);
}

pub async fn content_type_metadata_and_data_read_back_exactly(store: Arc<dyn EventStore>) {
    let s = stream("content");
    let json = EventData {
        event_id: Uuid::new_v4(),
        event_type: "JsonThing".into(),
        content_type: ContentType::Json,
        metadata: vec![0, 1, 2, 255].into(),
        data: br#"{"title": "Dream of the Red Chamber", "copies": 3}"#
            .to_vec()
            .into(),
    };
    let binary = EventData {
        event_id: Uuid::new_v4(),
        event_type: "BinaryThing".into(),
        content_type: ContentType::Binary,
        metadata: vec![].into(),
        data: vec![0x0a, 0x03, 0xe7, 0xba, 0xa2, 0x00, 0xff].into(),
    };
    store
        .append(
            &s,
            StreamState::NoStream,
            vec![json.clone(), binary.clone()],
        )
        .await
        .unwrap();
    let from_stream = whole(store.as_ref(), &s).await;
    let from_all = everything(store.as_ref()).await;
    assert_eq!(from_stream, from_all, "both reads give the same records");
    for (read, written) in from_stream.iter().zip([&json, &binary]) {
        assert_eq!(
            (
                read.event_id,
                &read.event_type,
                read.content_type,
                &read.metadata,
                &read.data
            ),
            (
                written.event_id,
                &written.event_type,
                written.content_type,
                &written.metadata,
                &written.data
            )
        );
        assert!(read.recorded_at_us > 0, "stamped by the store's clock");
    }
}

pub async fn a_subscription_from_zero_delivers_the_past_caught_up_once_then_live_events(
    store: Arc<dyn EventStore>,
) {
    let s = stream("sub");
    store
        .append(&s, StreamState::NoStream, events(&["1", "2", "3"]))
        .await
        .unwrap();
    let mut subscription = store.subscribe_all(Position::START);
    assert_eq!(
        positions(&next_events(&mut subscription, 3).await),
        [1, 2, 3]
    );
    assert_eq!(
        next(&mut subscription).await,
        SubscriptionMessage::CaughtUp {
            position: Position::new(3)
        }
    );
    store
        .append(&s, StreamState::Revision(Revision::new(2)), events(&["4"]))
        .await
        .unwrap();
    store
        .append(
            &stream("sub-other"),
            StreamState::NoStream,
            events(&["5", "6"]),
        )
        .await
        .unwrap();
    let live = next_events(&mut subscription, 3).await;
    assert_eq!(positions(&live), [4, 5, 6]);
    assert_eq!(data(&live), ["4", "5", "6"]);
    assert_eq!(live, everything(store.as_ref()).await[3..]);
    assert_quiet(&mut subscription).await;
}

pub async fn a_subscription_from_a_checkpoint_starts_after_it(store: Arc<dyn EventStore>) {
    let s = stream("checkpoint");
    store
        .append(&s, StreamState::NoStream, events(&["1", "2", "3", "4"]))
        .await
        .unwrap();
    let mut subscription = store.subscribe_all(Position::new(2));
    assert_eq!(positions(&next_events(&mut subscription, 2).await), [3, 4]);
    assert_eq!(
        next(&mut subscription).await,
        SubscriptionMessage::CaughtUp {
            position: Position::new(4)
        }
    );
    store
        .append(&s, StreamState::Revision(Revision::new(3)), events(&["5"]))
        .await
        .unwrap();
    assert_eq!(positions(&next_events(&mut subscription, 1).await), [5]);

    // A checkpoint at the head: nothing old, caught up there.
    let mut at_head = store.subscribe_all(Position::new(5));
    assert_eq!(
        next(&mut at_head).await,
        SubscriptionMessage::CaughtUp {
            position: Position::new(5)
        }
    );
    assert_quiet(&mut subscription).await;
}

pub async fn a_subscription_to_an_empty_store_is_caught_up_at_zero(store: Arc<dyn EventStore>) {
    let mut subscription = store.subscribe_all(Position::START);
    assert_eq!(
        next(&mut subscription).await,
        SubscriptionMessage::CaughtUp {
            position: Position::START
        }
    );
    store
        .append(&stream("first"), StreamState::NoStream, events(&["1"]))
        .await
        .unwrap();
    assert_eq!(positions(&next_events(&mut subscription, 1).await), [1]);
    assert_quiet(&mut subscription).await;
}

pub async fn of_racing_appends_with_one_expectation_exactly_one_wins(store: Arc<dyn EventStore>) {
    const WRITERS: usize = 8;
    let s = stream("race");
    store
        .append(&s, StreamState::NoStream, events(&["0"]))
        .await
        .unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, start, s) = (Arc::clone(&store), Arc::clone(&start), s.clone());
            tokio::spawn(async move {
                start.wait().await;
                store
                    .append(
                        &s,
                        StreamState::Revision(Revision::FIRST),
                        events(&[&format!("w{i}")]),
                    )
                    .await
            })
        })
        .collect();
    let mut won = Vec::new();
    for task in tasks {
        match task.await.expect("the writer task") {
            Ok(result) => won.push(result),
            refused => assert_wrong_version(
                refused,
                &s,
                StreamState::Revision(Revision::FIRST),
                CurrentRevision::Current(Revision::new(1)),
            ),
        }
    }
    assert_eq!(won.len(), 1, "exactly one writer wins");
    assert_eq!(
        (won[0].next_expected_revision.get(), won[0].position.get()),
        (1, 2)
    );
    assert_eq!(store.head_position().get(), 2);
    assert_eq!(whole(store.as_ref(), &s).await.len(), 2);
}
