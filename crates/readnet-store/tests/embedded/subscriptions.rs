//! Catch-up subscriptions: every position once, in order, across the hand-over to live.

use std::sync::Arc;
use std::time::Duration;

use readnet_store::bounded::Bounds;
use readnet_store::embedded::EmbeddedOptions;
use readnet_store::{EventStore, Position, Revision, StreamState, SubscriptionMessage};

use crate::common::{event, open, open_with, options};
use futures::StreamExt as _;

const WAIT: Duration = Duration::from_secs(10);

/// The next message, failing the test if none comes in time.
async fn next(sub: &mut readnet_store::Subscription) -> SubscriptionMessage {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a message in time")
        .expect("the subscription is open")
        .expect("no error")
}

async fn append_n(store: &impl EventStore, n: usize) {
    for i in 0..n {
        store
            .append("s", StreamState::Any, vec![event(&i.to_string())])
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_from_zero_sees_every_position_once_in_order_through_catch_up_and_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        open_with(
            dir.path(),
            EmbeddedOptions {
                subscription_buffer: Bounds {
                    messages: 32,
                    bytes: 1 << 20,
                },
                ..options()
            },
        )
        .await,
    );
    // More than one page of history to catch up on.
    for _ in 0..150 {
        store
            .append("s", StreamState::Any, vec![event("h1"), event("h2")])
            .await
            .unwrap();
    }
    let mut sub = store.subscribe_all(Position::START);
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for i in 0..300 {
                store
                    .append("w", StreamState::Any, vec![event(&i.to_string())])
                    .await
                    .unwrap();
            }
        })
    };

    let mut seen = Vec::new();
    let mut caught_up = Vec::new();
    // Until caught up, while the writer keeps appending.
    while caught_up.is_empty() {
        match next(&mut sub).await {
            SubscriptionMessage::Event(e) => seen.push(e.position.get()),
            SubscriptionMessage::CaughtUp { position } => caught_up.push((position, seen.len())),
        }
    }
    writer.await.unwrap();
    // Then live: these are appended after the subscriber caught up.
    append_n(&*store, 20).await;
    let total = 300 + 300 + 20;
    while seen.len() < total {
        match next(&mut sub).await {
            SubscriptionMessage::Event(e) => seen.push(e.position.get()),
            SubscriptionMessage::CaughtUp { position } => caught_up.push((position, seen.len())),
        }
    }
    assert_eq!(seen, (1..=total as u64).collect::<Vec<_>>());
    assert_eq!(caught_up.len(), 1);
    let (position, delivered_before) = caught_up[0];
    assert_eq!(
        position,
        Position::new(delivered_before as u64),
        "CaughtUp names the last position delivered"
    );
    // Nothing more than what was appended.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), sub.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_subscriber_from_a_checkpoint_starts_right_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    append_n(&store, 50).await;
    let mut sub = store.subscribe_all(Position::new(20));
    for expected in 21..=50 {
        match next(&mut sub).await {
            SubscriptionMessage::Event(e) => assert_eq!(e.position, Position::new(expected)),
            other => panic!("expected event {expected}, got {other:?}"),
        }
    }
    assert_eq!(
        next(&mut sub).await,
        SubscriptionMessage::CaughtUp {
            position: Position::new(50)
        }
    );
    append_n(&store, 1).await;
    match next(&mut sub).await {
        SubscriptionMessage::Event(e) => assert_eq!(
            (e.position, e.revision),
            (Position::new(51), Revision::new(50))
        ),
        other => panic!("expected event 51, got {other:?}"),
    }
}

#[tokio::test]
async fn a_subscriber_to_an_empty_store_is_caught_up_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let mut sub = store.subscribe_all(Position::START);
    assert_eq!(
        next(&mut sub).await,
        SubscriptionMessage::CaughtUp {
            position: Position::START
        }
    );
}

#[tokio::test]
async fn a_subscriber_that_never_reads_does_not_hold_up_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        dir.path(),
        EmbeddedOptions {
            subscription_buffer: Bounds {
                messages: 4,
                bytes: 1 << 20,
            },
            ..options()
        },
    )
    .await;
    let mut sub = store.subscribe_all(Position::START);
    tokio::time::timeout(WAIT, append_n(&store, 400))
        .await
        .expect("appends are not held up by the subscriber");
    assert_eq!(store.head_position(), Position::new(400));
    // Once it reads, it still gets everything, in order.
    let mut expected = 1;
    while expected <= 400 {
        if let SubscriptionMessage::Event(e) = next(&mut sub).await {
            assert_eq!(e.position, Position::new(expected));
            expected += 1;
        }
    }
}

#[tokio::test]
async fn a_subscription_ends_after_the_store_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    append_n(&store, 3).await;
    let mut sub = store.subscribe_all(Position::START);
    store.close().await;
    let mut positions = vec![];
    while let Some(message) = tokio::time::timeout(WAIT, sub.next()).await.unwrap() {
        if let SubscriptionMessage::Event(e) = message.unwrap() {
            positions.push(e.position.get());
        }
    }
    assert_eq!(positions, [1, 2, 3]);
}

/// `n` events of `bytes` bytes each, appended to stream `big` in appends of 16.
async fn append_large(store: &impl EventStore, n: usize, bytes: usize) {
    let data = "x".repeat(bytes);
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let events = chunk.iter().map(|_| event(&data)).collect();
        store.append("big", StreamState::Any, events).await.unwrap();
    }
}

/// Waits until the process's buffered bytes stop changing, and returns them.
async fn settled_buffered_bytes() -> u64 {
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = readnet_store::bounded::buffered_bytes();
        if now == last {
            return now;
        }
        last = now;
    }
}

// nextest runs each test in a process of its own, so the process-wide gauge is this test's.
#[tokio::test]
async fn stalled_subscribers_over_large_events_hold_at_most_their_byte_bound_each() {
    const EVENT_BYTES: usize = 64 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    append_large(&store, 256, EVENT_BYTES).await; // 16 MiB of events.
    let before = readnet_store::bounded::buffered_bytes();
    let mut stalled: Vec<_> = (0..20)
        .map(|_| store.subscribe_all(Position::START))
        .collect();
    let held = settled_buffered_bytes().await - before;
    let bound = readnet_store::SUBSCRIPTION_BOUNDS.bytes as u64;
    // Each holds its channel's bound, not the 16 MiB it is behind.
    assert!(held <= 20 * bound, "{held} bytes held by 20 subscribers");
    // Data and metadata (`event` repeats the data there) make an event count twice its data.
    assert!(
        held >= 20 * 2 * EVENT_BYTES as u64,
        "each holds an event at least: {held}"
    );
    // A stalled subscriber loses nothing: it reads on from where it stopped.
    let mut expected = 1;
    while expected <= 256 {
        if let SubscriptionMessage::Event(e) = next(&mut stalled[0]).await {
            assert_eq!(e.position, Position::new(expected));
            expected += 1;
        }
    }
}

#[tokio::test]
async fn an_event_larger_than_the_byte_bound_is_delivered_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bound = readnet_store::SUBSCRIPTION_BOUNDS.bytes;
    append_large(&store, 3, 4 * bound).await;
    let mut sub = store.subscribe_all(Position::START);
    let held = settled_buffered_bytes().await;
    // Data and metadata (`event` repeats the data there): 8 bounds an event.
    assert!(held >= 8 * bound as u64, "one event waits: {held}");
    assert!(held < 16 * bound as u64, "only one waits: {held}");
    for position in 1..=3 {
        match next(&mut sub).await {
            SubscriptionMessage::Event(e) => {
                assert_eq!(e.position, Position::new(position));
                assert_eq!(e.data.len(), 4 * bound);
            }
            other => panic!("{other:?}"),
        }
    }
}
