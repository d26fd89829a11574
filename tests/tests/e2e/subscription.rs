//! SubscribeAll: catch up from a checkpoint, say so once, then stream live events.

use readnet_e2e::v1::{self, RecordedEvent, TransferReason, subscribe_all_response::Message};
use readnet_e2e::*;
use tonic::Streaming;

/// What a subscriber saw: events, and where CaughtUp came.
#[derive(Default)]
struct Seen {
    events: Vec<RecordedEvent>,
    /// (index in `events` at which it arrived, its position)
    caught_up: Vec<(usize, u64)>,
}

async fn subscribe(net: &Net, after_position: u64) -> Streaming<v1::SubscribeAllResponse> {
    net.ledger
        .clone()
        .subscribe_all(v1::SubscribeAllRequest { after_position })
        .await
        .expect("SubscribeAll")
        .into_inner()
}

/// Reads until an event at `position` has arrived (and, if `caught_up`, CaughtUp too).
async fn read_until(
    stream: &mut Streaming<v1::SubscribeAllResponse>,
    seen: &mut Seen,
    position: u64,
    caught_up: bool,
) {
    while seen.events.last().map_or(0, |e| e.position) < position
        || (caught_up && seen.caught_up.is_empty())
    {
        let Ok(answer) = tokio::time::timeout(WAIT, stream.message()).await else {
            panic!(
                "no message within {WAIT:?}; waiting for position {position}, got up to {:?}",
                seen.events.last().map(|e| e.position)
            )
        };
        let message = answer
            .expect("the subscription stays healthy")
            .expect("the subscription stays open");
        match message.message.expect("a message") {
            Message::Event(event) => seen.events.push(event),
            Message::CaughtUp(c) => seen.caught_up.push((seen.events.len(), c.position)),
        }
    }
}

#[track_caller]
fn assert_contiguous(events: &[RecordedEvent], first: u64, last: u64) {
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        (first..=last).collect::<Vec<u64>>(),
        "positions {first}..={last}, each once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_all_catches_up_then_streams_live() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    accepted(
        net.at(ZB_CENTRAL)
            .checkout(ZB_BOOKS[0], card(JINAN, "370102199001011234"))
            .await,
        "checkout",
    );
    let head = net.head_position().await;
    let log = net.read_all().await;

    // From the start: everything, then CaughtUp at the head.
    let mut stream = subscribe(net, 0).await;
    let mut seen = Seen::default();
    read_until(&mut stream, &mut seen, head, true).await;
    assert_eq!(
        seen.caught_up,
        [(head as usize, head)],
        "CaughtUp once, after the last event, at the head"
    );
    assert_eq!(
        seen.events, log,
        "the catch-up delivers the log as ReadAll reads it"
    );

    // Then live.
    let returned = accepted(net.at(JN_LIXIA).return_item(ZB_BOOKS[0]).await, "return");
    let dispatched = accepted(
        net.at(JN_LIXIA)
            .dispatch(ZB_BOOKS[0], ZB_CENTRAL, TransferReason::Repatriation)
            .await,
        "dispatch",
    );
    let received = accepted(net.at(ZB_CENTRAL).receive(ZB_BOOKS[0]).await, "receive");
    read_until(&mut stream, &mut seen, received.position, false).await;
    assert_contiguous(&seen.events, 1, received.position);
    let live: Vec<RecordedEvent> = [returned, dispatched, received]
        .into_iter()
        .flat_map(|r| r.events)
        .collect();
    assert_eq!(
        seen.events[head as usize..],
        live[..],
        "live events as the receipts had them"
    );
    assert_eq!(seen.caught_up.len(), 1, "CaughtUp only once");

    // From a checkpoint in the middle.
    let middle = head / 2;
    let now = net.head_position().await;
    let mut stream = subscribe(net, middle).await;
    let mut from_middle = Seen::default();
    read_until(&mut stream, &mut from_middle, now, true).await;
    assert_contiguous(&from_middle.events, middle + 1, now);
    assert_eq!(from_middle.caught_up, [((now - middle) as usize, now)]);
    assert_eq!(
        from_middle.events[..],
        seen.events[middle as usize..now as usize]
    );
    let more = accepted(
        net.at(ZB_CENTRAL)
            .catalogue("ZB-LIVE-0001", ZB_CENTRAL)
            .await,
        "catalogue",
    );
    read_until(&mut stream, &mut from_middle, more.position, false).await;
    assert_contiguous(&from_middle.events, middle + 1, more.position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_all_loses_and_repeats_nothing_while_commands_arrive_during_catch_up() {
    let fixture = network_jinan_zibo().await;
    let net = fixture.net.clone();
    let writes = 60;
    let writer = {
        let desk = net.at(JN_CENTRAL);
        tokio::spawn(async move {
            let mut last = 0;
            for i in 0..writes {
                last = desk
                    .catalogue(&format!("JN-RACE-{i:04}"), JN_CENTRAL)
                    .await
                    .expect("catalogue while subscribers catch up")
                    .position;
            }
            last
        })
    };
    // Subscribers start while the writer is busy, each from a different checkpoint.
    let mut subscribers = Vec::new();
    for after in [0, 3, 9] {
        subscribers.push((after, subscribe(&net, after).await, Seen::default()));
        tokio::task::yield_now().await;
    }
    let last = writer.await.expect("the writer finished");
    for (after, mut stream, mut seen) in subscribers {
        read_until(&mut stream, &mut seen, last, true).await;
        assert_contiguous(&seen.events, after + 1, last);
        assert_eq!(
            seen.caught_up.len(),
            1,
            "CaughtUp once (subscriber after {after})"
        );
        let (index, position) = seen.caught_up[0];
        assert_eq!(
            position,
            after + index as u64,
            "CaughtUp names the last position delivered before it"
        );
    }
}
