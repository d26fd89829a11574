//! KurrentDB's official Rust client (`kurrentdb`) against `readnet serve`: the Streams protocol on
//! readnet's listener.

use kurrentdb::{
    AppendToStreamOptions, Client, CurrentRevision, EventData, Position, ReadAllOptions,
    ReadStreamOptions, ResolvedEvent, StreamPosition, StreamState, SubscribeToAllOptions,
    SubscribeToStreamOptions, SubscriptionEvent, SubscriptionFilter,
};
use readnet_e2e::v1::AvailabilityServiceGetItemRequest;
use readnet_e2e::v1::availability_service_client::AvailabilityServiceClient;
use readnet_e2e::*;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{AllFrom, Direction, EventStore};
use serde_json::json;
use uuid::Uuid;

/// The official client, with the first administrator's credentials (KurrentDB's way: basic
/// credentials in the connection string, the principal's name and token).
fn kurrent(fixture: &Fixture) -> Client {
    let url = format!(
        "kurrentdb://admin:{}@{}?tls=false",
        fixture.server.admin_token(),
        fixture.server.addr()
    );
    Client::new(url.parse().expect("a connection string")).expect("a KurrentDB client")
}

fn event(event_type: &str, n: u64) -> EventData {
    EventData::json(event_type, &json!({ "n": n }))
        .expect("json")
        .id(Uuid::new_v4())
}

/// Two JSON events, A and B, starting stream `orders-1`.
async fn append_two_orders(client: &Client) {
    client
        .append_to_stream(
            "orders-1",
            &options(StreamState::NoStream),
            vec![event("A", 0), event("B", 1)],
        )
        .await
        .expect("append");
}

fn options(state: StreamState) -> AppendToStreamOptions {
    AppendToStreamOptions::default().stream_state(state)
}

async fn collect(mut stream: kurrentdb::ReadStream) -> Vec<ResolvedEvent> {
    let mut events = Vec::new();
    while let Some(event) = stream.next().await.expect("a read event") {
        events.push(event);
    }
    events
}

async fn read_stream(
    client: &Client,
    stream: &str,
    options: &ReadStreamOptions,
) -> Vec<ResolvedEvent> {
    collect(
        client
            .read_stream(stream, options)
            .await
            .expect("ReadStream"),
    )
    .await
}

async fn read_all(client: &Client, options: &ReadAllOptions) -> Vec<ResolvedEvent> {
    collect(client.read_all(options).await.expect("Read $all")).await
}

fn revisions(events: &[ResolvedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.get_original_event().revision)
        .collect()
}

async fn next_event(subscription: &mut kurrentdb::Subscription) -> SubscriptionEvent {
    tokio::time::timeout(WAIT, subscription.next_subscription_event())
        .await
        .expect("a subscription message in time")
        .expect("a subscription message")
}

#[tokio::test]
async fn appended_events_read_back_forwards_and_backwards_with_their_ids_and_types() {
    let fixture = Fixture::start().await;
    // A new server's log starts with its first administrator's grant.
    let base = fixture.net.head_position().await;
    let client = kurrent(&fixture);
    let events = vec![
        event("OrderPlaced", 0),
        event("OrderPaid", 1),
        event("OrderShipped", 2),
    ];
    let written = client
        .append_to_stream("orders-1", &options(StreamState::NoStream), events)
        .await
        .expect("append");
    assert_eq!(written.next_expected_version, 2);
    assert_eq!(
        written.position.commit,
        base + 3,
        "positions in $all are readnet's, dense from 1"
    );

    let forwards = read_stream(&client, "orders-1", &ReadStreamOptions::default()).await;
    assert_eq!(revisions(&forwards), [0, 1, 2]);
    let first = forwards[0].get_original_event();
    assert_eq!(first.event_type, "OrderPlaced");
    assert!(first.is_json);
    assert_eq!(
        first.as_json::<serde_json::Value>().unwrap(),
        json!({ "n": 0 })
    );
    assert_eq!(
        first.position,
        Position {
            commit: base + 1,
            prepare: base + 1
        }
    );

    let backwards = ReadStreamOptions::default()
        .backwards()
        .position(StreamPosition::Position(1));
    assert_eq!(
        revisions(&read_stream(&client, "orders-1", &backwards).await),
        [1, 0],
        "a backwards read from revision 1 includes it"
    );
    let missing = client
        .read_stream("orders-2", &ReadStreamOptions::default())
        .await
        .expect("the call")
        .next()
        .await;
    assert!(
        matches!(missing, Err(kurrentdb::Error::ResourceNotFound)),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_stale_expected_revision_is_a_wrong_expected_version_naming_both() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    append_two_orders(&client).await;
    let error = client
        .append_to_stream(
            "orders-1",
            &options(StreamState::StreamRevision(0)),
            event("C", 2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            kurrentdb::Error::WrongExpectedVersion {
                expected: StreamState::StreamRevision(0),
                current: CurrentRevision::Current(1),
            }
        ),
        "{error:?}"
    );
    let error = client
        .append_to_stream(
            "orders-9",
            &options(StreamState::StreamExists),
            event("C", 2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            kurrentdb::Error::WrongExpectedVersion {
                current: CurrentRevision::NoStream,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_identical_retry_returns_the_original_result_and_writes_nothing() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    let events = vec![event("A", 0), event("B", 1)];
    let first = client
        .append_to_stream("orders-1", &options(StreamState::NoStream), events.clone())
        .await
        .expect("append");
    let retry = client
        .append_to_stream("orders-1", &options(StreamState::NoStream), events)
        .await
        .expect("the retry succeeds");
    assert_eq!(retry.next_expected_version, first.next_expected_version);
    assert_eq!(retry.position, first.position);
    let orders = read_all(&client, &ReadAllOptions::default())
        .await
        .into_iter()
        .filter(|e| e.get_original_event().stream_id() == "orders-1")
        .count();
    assert_eq!(orders, 2, "no duplicates");
}

#[tokio::test]
async fn a_filtered_all_read_passes_only_matching_streams_and_backwards_excludes_its_position() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    for (n, stream) in ["orders-1", "audit-1", "orders-2", "audit-2"]
        .iter()
        .enumerate()
    {
        client
            .append_to_stream(*stream, &options(StreamState::Any), event("E", n as u64))
            .await
            .expect("append");
    }
    let filter = SubscriptionFilter::on_stream_name().add_prefix("audit-");
    let audited = read_all(&client, &ReadAllOptions::default().filter(filter)).await;
    let streams: Vec<_> = audited
        .iter()
        .map(|e| e.get_original_event().stream_id().to_owned())
        .collect();
    assert_eq!(streams, ["audit-1", "audit-2"]);

    let before_3 = ReadAllOptions::default()
        .backwards()
        .position(StreamPosition::Position(Position {
            commit: 3,
            prepare: 3,
        }));
    let positions: Vec<u64> = read_all(&client, &before_3)
        .await
        .iter()
        .map(|e| e.get_original_event().position.commit)
        .collect();
    assert_eq!(
        positions,
        [2, 1],
        "as in KurrentDB, a backwards $all read starts before its position"
    );
}

#[tokio::test]
async fn an_all_subscription_delivers_old_events_then_caught_up_then_live_ones() {
    let fixture = Fixture::start().await;
    let base = fixture.net.head_position().await;
    let client = kurrent(&fixture);
    append_two_orders(&client).await;
    let mut subscription = client
        .subscribe_to_all(&SubscribeToAllOptions::default())
        .await;
    assert!(matches!(
        next_event(&mut subscription).await,
        SubscriptionEvent::Confirmed(_)
    ));
    let mut old = Vec::new();
    loop {
        match next_event(&mut subscription).await {
            SubscriptionEvent::EventAppeared(e)
                if e.get_original_event().stream_id() == "orders-1" =>
            {
                old.push(e.get_original_event().revision)
            }
            SubscriptionEvent::EventAppeared(_) => {}
            SubscriptionEvent::CaughtUp(Some(caught_up)) => {
                assert_eq!(caught_up.position.map(|p| p.commit), Some(base + 2));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(old, [0, 1]);
    client
        .append_to_stream(
            "orders-1",
            &options(StreamState::StreamRevision(1)),
            event("C", 2),
        )
        .await
        .expect("append");
    match next_event(&mut subscription).await {
        SubscriptionEvent::EventAppeared(e) => assert_eq!(e.get_original_event().event_type, "C"),
        other => panic!("expected the live event, got {other:?}"),
    }

    let from_1 = SubscribeToAllOptions::default().position(StreamPosition::Position(Position {
        commit: base + 1,
        prepare: base + 1,
    }));
    let mut after = client.subscribe_to_all(&from_1).await;
    assert_eq!(
        after
            .next()
            .await
            .expect("an event")
            .get_original_event()
            .position
            .commit,
        base + 2,
        "a subscription from a position starts after it"
    );
}

#[tokio::test]
async fn a_stream_subscription_starts_after_its_revision_and_follows_only_that_stream() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    append_two_orders(&client).await;
    let from_0 = SubscribeToStreamOptions::default().start_from(StreamPosition::Position(0));
    let mut subscription = client.subscribe_to_stream("orders-1", &from_0).await;
    assert_eq!(
        subscription
            .next()
            .await
            .expect("an event")
            .get_original_event()
            .revision,
        1
    );
    client
        .append_to_stream("orders-2", &options(StreamState::Any), event("Other", 0))
        .await
        .expect("append elsewhere");
    client
        .append_to_stream("orders-1", &options(StreamState::Any), event("C", 2))
        .await
        .expect("append");
    let live = subscription.next().await.expect("the live event");
    assert_eq!(live.get_original_event().stream_id(), "orders-1");
    assert_eq!(live.get_original_event().revision, 2);
}

#[tokio::test]
async fn links_resolve_to_their_targets_when_asked() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    append_two_orders(&client).await;
    let link = EventData::binary("$>", "1@orders-1".into()).id(Uuid::new_v4());
    client
        .append_to_stream("paid-orders", &options(StreamState::NoStream), link)
        .await
        .expect("append a link");

    let resolved = read_stream(
        &client,
        "paid-orders",
        &ReadStreamOptions::default().resolve_link_tos(),
    )
    .await;
    let target = resolved[0].event.as_ref().expect("the resolved event");
    assert_eq!(
        (
            target.stream_id(),
            target.revision,
            target.event_type.as_str()
        ),
        ("orders-1", 1, "B")
    );
    let link = resolved[0].link.as_ref().expect("the link");
    assert_eq!(
        (link.stream_id(), link.event_type.as_str()),
        ("paid-orders", "$>")
    );

    let unresolved = read_stream(&client, "paid-orders", &ReadStreamOptions::default()).await;
    assert!(unresolved[0].link.is_none());
    assert_eq!(unresolved[0].get_original_event().event_type, "$>");
}

#[tokio::test]
async fn an_append_to_a_ledger_stream_is_refused_naming_the_stream_and_the_rule() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    let error = client
        .append_to_stream(
            "item-JN-000001",
            &options(StreamState::Any),
            event("ItemCatalogued", 0),
        )
        .await
        .unwrap_err();
    let kurrentdb::Error::Grpc { code, message } = &error else {
        panic!("expected a gRPC status with its message, got {error:?}");
    };
    assert_eq!(*code, tonic::Code::FailedPrecondition);
    assert!(
        message.contains("item-JN-000001") && message.contains("ledger streams"),
        "{message}"
    );
    let system = client
        .append_to_stream("$settings", &options(StreamState::Any), event("x", 0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            system,
            kurrentdb::Error::Grpc {
                code: tonic::Code::FailedPrecondition,
                ..
            }
        ),
        "{system:?}"
    );
    let deleted = client
        .delete_stream("orders-1", &Default::default())
        .await
        .unwrap_err();
    assert!(deleted.is_unsupported_feature(), "{deleted:?}");
}

#[tokio::test]
async fn readnet_events_are_readable_as_stored_and_foreign_streams_leave_the_ledger_working() {
    let mut fixture = network_jinan_zibo().await;
    let client = kurrent(&fixture);
    client
        .append_to_stream(
            "orders-1",
            &options(StreamState::NoStream),
            vec![event("A", 0), event("B", 1)],
        )
        .await
        .expect("a foreign append");
    let receipt = fixture
        .net
        .at(JN_CENTRAL)
        .checkout(JN_BOOKS[0], card(JINAN, "370102199001011234"))
        .await
        .expect("a checkout after foreign events");
    let seen = AvailabilityServiceClient::new(fixture.net.channel.clone())
        .get_item(AvailabilityServiceGetItemRequest {
            item: JN_BOOKS[0].to_owned(),
            min_position: Some(receipt.position),
        })
        .await
        .expect("availability passes over foreign events")
        .into_inner();
    assert!(seen.applied_position >= receipt.position);

    let through_kurrentdb = read_all(&client, &ReadAllOptions::default()).await;
    let ledger = fixture.net.read_all().await;
    assert_eq!(
        through_kurrentdb.len(),
        ledger.len() + 2,
        "the ledger's events and the two foreign ones"
    );
    let checkout = through_kurrentdb
        .iter()
        .map(|e| e.get_original_event())
        .find(|e| e.event_type == "ItemLoaned")
        .expect("the checkout through KurrentDB");
    assert!(!checkout.is_json, "readnet's events are protobuf");
    assert_eq!(
        checkout.metadata["content-type"],
        "application/octet-stream"
    );

    // Every byte as stored: compare with the store itself once the server is gone.
    fixture.server.kill_hard();
    {
        let store = EmbeddedStore::open(
            fixture.server.data_dir().join("log"),
            EmbeddedOptions::default(),
        )
        .await
        .expect("the store opens");
        let stored = store
            .read_all(AllFrom::Start, Direction::Forwards, 10_000)
            .await
            .expect("read");
        assert_eq!(stored.len(), through_kurrentdb.len());
        for (stored, read) in stored.iter().zip(&through_kurrentdb) {
            let read = read.get_original_event();
            assert_eq!(stored.event_id, read.id);
            assert_eq!(stored.stream, read.stream_id());
            assert_eq!(
                (stored.revision.get(), stored.position.get()),
                (read.revision, read.position.commit)
            );
            assert_eq!(stored.event_type, read.event_type);
            assert_eq!(
                stored.data,
                read.data.as_ref(),
                "data of {}",
                stored.event_type
            );
            assert_eq!(stored.metadata, read.custom_metadata.as_ref());
            assert_eq!(
                read.created.timestamp_micros() / 1_000_000,
                stored.recorded_at_us / 1_000_000
            );
        }
    }
    fixture.crash_and_restart().await;
    let item = fixture.net.item(JN_BOOKS[0]).await;
    assert_eq!(
        item.status(),
        v1::ItemStatus::OnLoan,
        "the ledger reloads beside foreign streams"
    );
    let client = kurrent(&fixture);
    assert_eq!(
        revisions(&read_stream(&client, "orders-1", &Default::default()).await),
        [0, 1]
    );
}

#[tokio::test]
async fn an_event_above_grpc_s_default_message_size_is_taken_up_to_kurrentdb_s_append_limit() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    // 6 MiB: over tonic's default 4 MiB message limit, under KurrentDB's 16 MiB append limit.
    let big = vec![7u8; 6 * 1024 * 1024];
    client
        .append_to_stream(
            "attachments-1",
            &options(StreamState::NoStream),
            EventData::binary("Scan", big.clone().into()).id(Uuid::new_v4()),
        )
        .await
        .expect("the append is taken");
    let events = read_stream(&client, "attachments-1", &ReadStreamOptions::default()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].get_original_event().data.len(), big.len());

    // Over the limit (but within one message's framing room): refused naming the limit.
    let too_big = vec![7u8; 16 * 1024 * 1024 + 512 * 1024];
    let refused = client
        .append_to_stream(
            "attachments-1",
            &options(StreamState::Any),
            EventData::binary("Scan", too_big.into()).id(Uuid::new_v4()),
        )
        .await
        .expect_err("over 16 MiB");
    assert!(
        refused.to_string().contains("maximum append size"),
        "{refused:?}"
    );
}
