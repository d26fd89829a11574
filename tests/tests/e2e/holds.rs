//! Holds end to end (ADR 0013): a Zibo reader orders a book online whose only copy is on a shelf
//! in Jinan; it is pulled, travels through Jinan's distribution centre to the Zibo reading point
//! the reader chose, waits there for the holder only, and settlement charges the cross-city leg.

use readnet_e2e::v1::{
    self, ChargeKind, GetHoldRequest, GetStatementRequest, HoldPhase, LibraryShelfRequest,
    PickListRequest, TransferReason, TransitDirection, TransitListRequest,
    availability_service_client::AvailabilityServiceClient,
    settlement_service_client::SettlementServiceClient,
};
use readnet_e2e::*;
use tonic::Code;

/// 边城 (沈从文): one copy in the network, on the shelf of JN-LIXIA-03.
const ISBN: &str = "9787532734023";
const COPY: &str = "JN-BC-0001";
const JN_DC: &str = "JN-DC";
const ZB_READING: &str = "ZB-READING-01";

/// Runs a `readnet` read subcommand against the fixture's server with `--json`, as its
/// network-admin, and parses what it prints.
fn cli_json(fixture: &Fixture, args: &[&str]) -> serde_json::Value {
    let data = fixture.server.data_dir().to_str().expect("a UTF-8 path");
    let url = fixture.server.url();
    let output = std::process::Command::new(readnet_binary())
        .args(args)
        .args(["--server", &url, "--data", data, "--json"])
        .output()
        .expect("readnet runs");
    assert!(
        output.status.success(),
        "readnet {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

#[tokio::test]
async fn a_zibo_readers_hold_on_a_jinan_copy_travels_through_the_centre_to_their_reading_point() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let system = net.system();
    system
        .register_library(JN_DC, JINAN, v1::LibraryTier::General, JN_CENTRAL)
        .await
        .expect("RegisterLibrary JN-DC");
    system
        .set_library_roles(JN_DC, false, true)
        .await
        .expect("JN-DC is Jinan's distribution centre");
    system
        .register_library(ZB_READING, ZIBO, v1::LibraryTier::ServicePoint, ZB_CENTRAL)
        .await
        .expect("RegisterLibrary ZB-READING-01");
    system
        .set_library_roles(ZB_READING, true, false)
        .await
        .expect("ZB-READING-01 is a delivery point");
    let lixia = net.at(JN_LIXIA);
    accepted(
        lixia
            .circulation()
            .catalogue_item(lixia.request(v1::CatalogueItemRequest {
                item: COPY.to_owned(),
                isbn: ISBN.to_owned(),
                title: "边城".to_owned(),
                author: "沈从文".to_owned(),
                owner_library: JN_LIXIA.to_owned(),
                price_fen: Some(2500),
                acquisition: v1::Acquisition::Purchase as i32,
                ..Default::default()
            }))
            .await,
        "CatalogueItem 边城",
    );
    let reader = card(ZIBO, "370303199202023456");
    let other = card(ZIBO, "370303198808083333");

    // Bad requests first: nothing is placed.
    let app = net.acting(None, Some("app"));
    refused(
        app.place_hold(reader.clone(), ISBN, "ZB-NOWHERE").await,
        Code::NotFound,
        "ZB-NOWHERE",
        "a pickup library that does not exist",
    );
    refused(
        app.place_hold(reader.clone(), ISBN, JN_BOOTH).await,
        Code::FailedPrecondition,
        "is not a pickup point",
        "a booth is no pickup point",
    );
    refused(
        app.place_hold(reader.clone(), "9787000000000", ZB_READING)
            .await,
        Code::NotFound,
        "no copy of it is catalogued",
        "a title the network does not have",
    );

    // The reader orders it on their phone, for the Zibo reading point.
    let placed = accepted(
        app.place_hold(reader.clone(), ISBN, ZB_READING).await,
        "PlaceHold",
    );
    let receipt = placed.receipt.expect("a receipt");
    assert_eq!(
        event_types(&receipt),
        ["PatronEnrolled", "HoldPlaced", "HoldAssigned"]
    );
    let hold = placed.hold;
    assert!(hold > 0, "the answer names the hold");

    // It is on Jinan Lixia's pick list, to go to the distribution centre first.
    let availability = AvailabilityServiceClient::new(net.channel.clone());
    let picks = availability
        .clone()
        .pick_list(PickListRequest {
            library: JN_LIXIA.to_owned(),
            min_position: Some(receipt.position),
        })
        .await
        .expect("PickList")
        .into_inner();
    let entries: Vec<_> = picks
        .entries
        .iter()
        .map(|e| {
            (
                e.hold,
                e.item.as_str(),
                e.next_library.as_str(),
                e.pickup_library.as_str(),
            )
        })
        .collect();
    assert_eq!(entries, [(hold, COPY, JN_DC, ZB_READING)]);

    // A hold transfer with no hold behind it is refused.
    refused(
        net.at(JN_CENTRAL)
            .dispatch(JN_BOOKS[0], ZB_CENTRAL, TransferReason::Hold)
            .await,
        Code::FailedPrecondition,
        "no hold transfer without a hold",
        "a hold transfer without a hold",
    );

    // Leg one: Lixia → the centre (same city); leg two: the centre → the reading point.
    let to_centre = accepted(
        lixia.dispatch(COPY, JN_DC, TransferReason::Hold).await,
        "dispatch to the centre",
    );
    // The van's manifest at the centre names the copy and its hold.
    let inbound = availability
        .clone()
        .transit_list(TransitListRequest {
            library: JN_DC.to_owned(),
            direction: TransitDirection::To as i32,
            min_position: Some(to_centre.position),
            ..Default::default()
        })
        .await
        .expect("TransitList")
        .into_inner();
    let legs: Vec<_> = inbound
        .entries
        .iter()
        .map(|e| {
            (
                e.copy.as_ref().map(|c| c.item.as_str()),
                e.from_library.as_str(),
                e.hold,
                e.pickup_library.as_str(),
            )
        })
        .collect();
    assert_eq!(legs, [(Some(COPY), JN_LIXIA, hold, ZB_READING)]);
    // The same manifest from the sending side, through the CLI.
    let outbound = cli_json(&fixture, &["transit", JN_LIXIA, "--from"]);
    assert_eq!(outbound["direction"], "from");
    assert_eq!(outbound["total"], 1);
    assert_eq!(outbound["entries"][0]["copy"]["item"], COPY);
    assert_eq!(outbound["entries"][0]["to_library"], JN_DC);
    assert_eq!(outbound["entries"][0]["reason"], "hold");
    let overdue = cli_json(&fixture, &["overdue", JN_CENTRAL]);
    assert_eq!(
        (
            overdue["total"].as_u64(),
            overdue["loans"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    let homebound = cli_json(&fixture, &["homebound", JN_LIXIA]);
    assert_eq!(homebound["total"], 0);
    accepted(net.at(JN_DC).receive(COPY).await, "received at the centre");
    let at_centre = accepted(
        net.at(JN_DC)
            .dispatch(COPY, ZB_READING, TransferReason::Hold)
            .await,
        "dispatch to the reading point",
    );
    let phase = availability
        .clone()
        .get_hold(GetHoldRequest {
            hold,
            min_position: Some(at_centre.position),
        })
        .await
        .expect("GetHold")
        .into_inner();
    assert_eq!(phase.phase(), HoldPhase::InTransit);
    assert_eq!(phase.item, COPY);

    let arrived = accepted(
        net.at(ZB_READING).receive(COPY).await,
        "received at the reading point",
    );
    assert_eq!(event_types(&arrived), ["TransferReceived", "HoldReady"]);
    let ready = availability
        .clone()
        .get_hold(GetHoldRequest {
            hold,
            min_position: Some(arrived.position),
        })
        .await
        .expect("GetHold")
        .into_inner();
    assert_eq!(ready.phase(), HoldPhase::Ready);
    assert!(ready.pickup_by_us > 0, "a pickup deadline");
    let shelf = availability
        .clone()
        .library_shelf(LibraryShelfRequest {
            library: ZB_READING.to_owned(),
            min_position: Some(arrived.position),
            ..Default::default()
        })
        .await
        .expect("LibraryShelf")
        .into_inner()
        .totals
        .expect("totals");
    assert_eq!((shelf.on_shelf, shelf.held), (1, 1), "on the hold shelf");
    // The reading point's hold shelf work list, through the CLI as a desk script reads it.
    let hold_shelf = cli_json(
        &fixture,
        &[
            "hold-shelf",
            ZB_READING,
            "--min-position",
            &arrived.position.to_string(),
        ],
    );
    assert_eq!(hold_shelf["ready"][0]["hold"], hold);
    assert_eq!(hold_shelf["ready"][0]["copy"]["item"], COPY);
    assert_eq!(hold_shelf["ready"][0]["past_pickup_by"], false);
    assert_eq!(hold_shelf["cleared_today"], serde_json::json!([]));

    // Another reader may not take it; the holder does.
    let desk = net.at(ZB_READING);
    refused(
        desk.checkout(COPY, other).await,
        Code::FailedPrecondition,
        "only the holder may check it out",
        "a checkout by someone else",
    );
    let loan = accepted(desk.checkout(COPY, reader).await, "the holder's checkout");
    assert_eq!(event_types(&loan), ["HoldFilled", "ItemLoaned"]);
    refused(
        availability
            .clone()
            .get_hold(GetHoldRequest {
                hold,
                min_position: Some(loan.position),
            })
            .await,
        Code::NotFound,
        "is not open",
        "a filled hold",
    );

    // Settlement: one cross-city leg (centre → reading point: Zibo owes Jinan the shipping)
    // and the cross-city loan; the Jinan leg costs nothing.
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let statement = SettlementServiceClient::new(net.channel.clone())
        .get_statement(GetStatementRequest {
            period: now.format("%Y-%m").to_string(),
            min_position: Some(loan.position),
        })
        .await
        .expect("a statement")
        .into_inner()
        .statement
        .expect("the response holds the statement");
    let lines: Vec<_> = statement
        .lines
        .iter()
        .map(|l| {
            (
                l.debtor_city.as_str(),
                l.creditor_city.as_str(),
                l.kind(),
                l.count,
                l.amount_fen,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (ZIBO, JINAN, ChargeKind::Loan, 1, 100),
            (ZIBO, JINAN, ChargeKind::Shipping, 1, 800),
        ]
    );
}

#[tokio::test]
async fn the_server_ends_a_hold_whose_time_is_up_by_its_own_sweep() {
    let mut fixture = network_jinan_zibo().await;
    fixture
        .restart_with(&[STORY_FLAGS, &["--hold-sweep-secs", "1"]].concat())
        .await;
    let net = &fixture.net;
    let desk = net.at(JN_CENTRAL);
    accepted(
        desk.checkout(JN_BOOKS[0], card(JINAN, "370102199001011234"))
            .await,
        "a loan, so that no copy is to be had",
    );
    // Placed at a kiosk that was offline for 100 days: it expired unfilled 10 days ago.
    let placed = accepted(
        desk.holds()
            .place_hold(desk.request(v1::PlaceHoldRequest {
                occurred_at: Some(timestamp(chrono::Utc::now() - chrono::Duration::days(100))),
                card: Some(card(ZIBO, "370303199202023456")),
                wanted: Some(v1::HoldWanted {
                    item: JN_BOOKS[0].to_owned(),
                    ..Default::default()
                }),
                pickup_library: ZB_CENTRAL.to_owned(),
                ..Default::default()
            }))
            .await,
        "PlaceHold",
    )
    .into_inner();
    let deadline = std::time::Instant::now() + WAIT;
    let ended = loop {
        let log = net
            .read_all_from(placed.receipt.as_ref().unwrap().position)
            .await;
        if let Some(ended) = log.iter().find(|e| e.event_type == "HoldEnded") {
            break ended.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sweep ended the hold: {log:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let v1::event::Payload::HoldEnded(e) = payload_of(&ended) else {
        panic!("a HoldEnded")
    };
    assert_eq!(
        (e.hold, e.reason()),
        (placed.hold, v1::HoldEndReason::ExpiredUnfilled)
    );
    assert!(ended.principal.is_empty(), "the server's own act");
}
