//! Malformed requests are refused at the edge with INVALID_ARGUMENT naming the field; refusals
//! write nothing but the rules' recorded refusals, and the server keeps serving.

use chrono::{TimeZone, Utc};
use readnet_e2e::v1::{
    self, Acquisition, BookDescription, LibraryTier, ReadDirection, event::Payload,
};
use readnet_e2e::*;
use tonic::Code;
use uuid::Uuid;

fn checkout(item: &str, card: Option<v1::Card>) -> v1::CheckoutRequest {
    v1::CheckoutRequest {
        command_id: Uuid::new_v4().to_string(),
        item: item.to_owned(),
        card,
        ..Default::default()
    }
}

#[tokio::test]
async fn malformed_input_gets_invalid_argument_naming_the_field_and_the_server_keeps_serving() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let desk = net.at(JN_CENTRAL);
    let mut circulation = net.circulation.clone();
    let mut admin = net.admin.clone();
    let mut ledger = net.ledger.clone();
    let item = JN_BOOKS[0];
    let patron = || Some(card(JINAN, "370102199001011234"));
    let head = net.head_position().await;

    // command_id
    let mut bad = checkout(item, patron());
    bad.command_id = "not-a-uuid".to_owned();
    invalid_field(
        circulation.checkout(desk.request_as_is(bad)).await,
        "command_id",
        "a malformed command id",
    );
    let mut missing = checkout(item, patron());
    missing.command_id.clear();
    invalid_field(
        circulation.checkout(desk.request_as_is(missing)).await,
        "command_id",
        "no command id",
    );
    let mut bad = checkout(item, patron());
    bad.correlation_id = "42".to_owned();
    invalid_field(
        circulation.checkout(desk.request(bad)).await,
        "correlation_id",
        "a malformed correlation id",
    );

    // item
    invalid_field(
        circulation
            .checkout(desk.request(checkout("", patron())))
            .await,
        "item",
        "an empty item",
    );
    invalid_field(
        circulation
            .checkout(desk.request(checkout("JN 000001", patron())))
            .await,
        "item",
        "an item id with a space",
    );
    invalid_field(
        circulation
            .checkout(desk.request(checkout(&"X".repeat(65), patron())))
            .await,
        "item",
        "an item id of 65 characters",
    );

    // card
    invalid_field(
        circulation
            .checkout(desk.request(checkout(item, None)))
            .await,
        "card",
        "no card",
    );
    invalid_field(
        circulation
            .checkout(desk.request(checkout(item, Some(card("Jinan", "370102199001011234")))))
            .await,
        "card.city",
        "a city code in capitals",
    );
    invalid_field(
        circulation
            .checkout(desk.request(checkout(item, Some(card(JINAN, "")))))
            .await,
        "card.number",
        "an empty card number",
    );
    invalid_field(
        circulation
            .checkout(desk.request(checkout(item, Some(card(JINAN, "3701-0219")))))
            .await,
        "card.number",
        "a card number with a dash",
    );

    // price_fen
    let catalogue = |price_fen: Option<i64>| v1::CatalogueItemRequest {
        item: "JN-NEW-000001".to_owned(),
        title: "新书".to_owned(),
        owner_library: JN_CENTRAL.to_owned(),
        price_fen,
        acquisition: Acquisition::Purchase as i32,
        ..Default::default()
    };
    invalid_field(
        circulation
            .catalogue_item(desk.request(catalogue(Some(-100))))
            .await,
        "price_fen",
        "a negative price",
    );
    let message = invalid_field(
        circulation
            .catalogue_item(desk.request(catalogue(Some(i64::MAX))))
            .await,
        "item.price_fen",
        "a price beyond the bound",
    );
    assert!(
        message.contains("9223372036854775807") && message.contains("maximum price of 10000000"),
        "{message}"
    );
    let mut no_acquisition = catalogue(Some(100));
    no_acquisition.acquisition = Acquisition::Unspecified as i32;
    invalid_field(
        circulation
            .catalogue_item(desk.request(no_acquisition))
            .await,
        "acquisition",
        "no acquisition",
    );
    let mut no_title = catalogue(Some(100));
    no_title.title.clear();
    invalid_field(
        circulation.catalogue_item(desk.request(no_title)).await,
        "item.title",
        "no title",
    );
    let mut disguised = catalogue(Some(100));
    disguised.title = "新书\u{202E}txt.exe".to_owned();
    let message = invalid_field(
        circulation.catalogue_item(desk.request(disguised)).await,
        "title",
        "a title with a bidi override",
    );
    assert!(message.contains("U+202E"), "{message}");
    let mut escaped = catalogue(Some(100));
    escaped.author = "\u{1b}[31m鲁迅".to_owned();
    invalid_field(
        circulation.catalogue_item(desk.request(escaped)).await,
        "author",
        "an author with an escape sequence",
    );
    let huge = "X".repeat(100_000);
    let message = invalid_field(
        circulation
            .checkout(desk.request(checkout(&huge, patron())))
            .await,
        "item",
        "a 100,000-character item id",
    );
    assert!(
        message.len() < 300,
        "the answer quotes a short prefix: {} bytes",
        message.len()
    );

    // occurred_at
    let at = |seconds: i64, nanos: i32| {
        let mut request = checkout(item, patron());
        request.occurred_at = Some(prost_types::Timestamp { seconds, nanos });
        request
    };
    let in_an_hour = Utc::now().timestamp() + 3600;
    invalid_field(
        circulation.checkout(desk.request(at(in_an_hour, 0))).await,
        "occurred_at",
        "an hour in the future",
    );
    let in_1999 = Utc
        .with_ymd_and_hms(1999, 12, 31, 12, 0, 0)
        .unwrap()
        .timestamp();
    invalid_field(
        circulation.checkout(desk.request(at(in_1999, 0))).await,
        "occurred_at",
        "before 2000",
    );
    invalid_field(
        circulation
            .checkout(desk.request(at(Utc::now().timestamp(), -1)))
            .await,
        "occurred_at",
        "negative nanos",
    );
    // A tariff change happens now: it may not be backdated, nor take effect in the past.
    let yesterday = Utc::now() - chrono::Duration::days(1);
    let backdated_tariff = readnet_e2e::v1::SetTariffRequest {
        kind: readnet_e2e::v1::ChargeKind::Loan as i32,
        amount_fen: 150,
        occurred_at: Some(timestamp(yesterday)),
        ..Default::default()
    };
    invalid_field(
        net.admin
            .clone()
            .set_tariff(net.system().request(backdated_tariff))
            .await,
        "occurred_at",
        "a backdated tariff change",
    );
    let effective_yesterday = readnet_e2e::v1::SetTariffRequest {
        kind: readnet_e2e::v1::ChargeKind::Loan as i32,
        amount_fen: 150,
        effective_from: Some(timestamp(yesterday)),
        ..Default::default()
    };
    invalid_field(
        net.admin
            .clone()
            .set_tariff(net.system().request(effective_yesterday))
            .await,
        "effective_from",
        "a tariff effective in the past",
    );
    let huge_tariff = readnet_e2e::v1::SetTariffRequest {
        kind: readnet_e2e::v1::ChargeKind::Shipping as i32,
        amount_fen: i64::MAX,
        ..Default::default()
    };
    let message = invalid_field(
        net.admin
            .clone()
            .set_tariff(net.system().request(huge_tariff))
            .await,
        "amount_fen",
        "a tariff beyond the bound",
    );
    assert!(message.contains("maximum tariff of 100000"), "{message}");

    // metadata
    let pigeon = net.acting(Some(JN_CENTRAL), Some("carrier-pigeon"));
    invalid_field(
        circulation
            .checkout(pigeon.request(checkout(item, patron())))
            .await,
        "x-readnet-channel",
        "an unknown channel",
    );
    let nobody = net.acting(None, None);
    invalid_field(
        circulation
            .checkout(nobody.request(checkout(item, patron())))
            .await,
        "x-readnet-library",
        "a checkout with no acting library",
    );
    invalid_field(
        circulation
            .checkout(
                net.acting(Some("JN CENTRAL"), None)
                    .request(checkout(item, patron())),
            )
            .await,
        "x-readnet-library",
        "a malformed library code",
    );

    // other commands' fields
    invalid_field(
        circulation
            .booth_swap(net.booth(JN_BOOTH).request(v1::BoothSwapRequest {
                take_item: item.to_owned(),
                card: patron(),
                deposit: None,
                ..Default::default()
            }))
            .await,
        "deposit",
        "a swap without a deposit",
    );
    invalid_field(
        circulation
            .patron_driven_acquisition(desk.request(v1::PatronDrivenAcquisitionRequest {
                card: patron(),
                book: Some(BookDescription {
                    item: "JN-PDA-1".to_owned(),
                    title: "书".to_owned(),
                    price_fen: Some(-1),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await,
        "book.price_fen",
        "a negative price paid",
    );
    invalid_field(
        circulation
            .dispatch_transfer(desk.request(v1::DispatchTransferRequest {
                item: item.to_owned(),
                to_library: JN_LIXIA.to_owned(),
                reason: 99,
                ..Default::default()
            }))
            .await,
        "reason",
        "an unknown transfer reason",
    );
    invalid_field(
        admin
            .register_library(net.system().request(v1::RegisterLibraryRequest {
                library: "JN-NEW".to_owned(),
                city: JINAN.to_owned(),
                tier: LibraryTier::Unspecified as i32,
                ..Default::default()
            }))
            .await,
        "tier",
        "a library without a tier",
    );
    invalid_field(
        admin
            .join_city(net.system().request(v1::JoinCityRequest {
                city: "qingdao".to_owned(),
                name: "青岛".to_owned(),
                time_zone: "Mars/Olympus_Mons".to_owned(),
                ..Default::default()
            }))
            .await,
        "time_zone",
        "an unknown time zone",
    );
    invalid_field(
        ledger
            .read_stream(v1::ReadStreamRequest {
                stream: String::new(),
                ..Default::default()
            })
            .await,
        "stream",
        "a read of no stream",
    );
    invalid_field(
        ledger
            .read_all(v1::ReadAllRequest {
                direction: 7,
                ..Default::default()
            })
            .await,
        "direction",
        "an unknown read direction",
    );
    invalid_field(
        ledger
            .get_item(v1::GetItemRequest {
                item: String::new(),
            })
            .await,
        "item",
        "GetItem of no item",
    );

    // A request malformed at the edge writes nothing; one the rules refuse (a required value
    // missing, an amount out of bounds) writes only its refusal, for retries (ADR 0010).
    let written = net.read_all_from(head + 1).await;
    assert!(
        written.iter().all(|e| matches!(
            payload_of(e),
            Payload::CommandRefused(r) if r.kind() == v1::RefusalKind::InvalidArgument
        )),
        "refused requests write nothing but their refusals: {written:?}"
    );
    assert_eq!(net.head_position().await, head + written.len() as u64);

    // The server keeps serving: a valid command succeeds.
    let receipt = accepted(
        circulation
            .checkout(desk.request(checkout(item, patron())))
            .await,
        "a valid checkout after the malformed ones",
    )
    .into_inner()
    .into_receipt();
    assert!(matches!(
        receipt
            .events
            .last()
            .and_then(|e| e.event.as_ref()?.payload.as_ref()),
        Some(Payload::ItemLoaned(_))
    ));

    // Well-formed but about things that do not exist, or exist already.
    refused(
        desk.checkout("JN-999999", card(JINAN, "370102199001011234"))
            .await,
        Code::NotFound,
        "JN-999999",
        "checkout of an unknown item",
    );
    refused(
        net.try_item("JN-999999").await,
        Code::NotFound,
        "JN-999999",
        "GetItem of an unknown item",
    );
    refused(
        net.at("XX-NOWHERE")
            .checkout(JN_BOOKS[1], card(JINAN, "370102199001011234"))
            .await,
        Code::NotFound,
        "XX-NOWHERE",
        "checkout at an unregistered library",
    );
    refused(
        net.system().join_city(JINAN, "济南").await,
        Code::AlreadyExists,
        JINAN,
        "JoinCity jinan twice",
    );
    refused(
        net.system()
            .register_library(JN_CENTRAL, JINAN, LibraryTier::Central, "")
            .await,
        Code::AlreadyExists,
        JN_CENTRAL,
        "RegisterLibrary twice",
    );
    refused(
        desk.catalogue(JN_BOOKS[1], JN_CENTRAL).await,
        Code::AlreadyExists,
        JN_BOOKS[1],
        "catalogue twice",
    );
    refused(
        desk.checkout(JN_BOOKS[1], card("beijing", "110101199001011234"))
            .await,
        Code::FailedPrecondition,
        "beijing",
        "a card from a city outside the network",
    );
    let empty = ledger
        .read_stream(v1::ReadStreamRequest {
            stream: "item-JN-999999".to_owned(),
            direction: ReadDirection::Forwards as i32,
            ..Default::default()
        })
        .await;
    if let Ok(response) = &empty {
        assert!(
            response.get_ref().events.is_empty(),
            "no events in a stream that does not exist"
        );
    }
}
