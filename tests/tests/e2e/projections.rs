//! The read models over gRPC: availability, statistics and settlement, with read-your-writes.

use readnet_e2e::v1::availability_service_client::AvailabilityServiceClient;
use readnet_e2e::v1::{
    AvailabilityProximity, AvailabilityServiceGetItemRequest, AvailabilityTitle, FindTitleRequest,
    ItemStatus,
};
use readnet_e2e::*;
use tonic::{Code, Request};

fn availability(net: &Net) -> AvailabilityServiceClient<AuthChannel> {
    AvailabilityServiceClient::new(net.channel.clone())
}

#[tokio::test]
async fn a_checkouts_position_makes_the_next_availability_query_see_it() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let mut client = availability(net);
    // Every command answered, every next query asks for its position: each must see its loan,
    // however far the projection lags behind the log at that moment.
    for (n, item) in JN_BOOKS.iter().enumerate() {
        let receipt = net
            .at(JN_CENTRAL)
            .checkout(item, card(JINAN, &format!("37010219900101{n:04}")))
            .await
            .expect("checkout");
        let answer = client
            .get_item(AvailabilityServiceGetItemRequest {
                item: item.to_string(),
                min_position: Some(receipt.position),
            })
            .await
            .expect("availability answers")
            .into_inner();
        assert!(answer.applied_position >= receipt.position);
        let state = answer.item.expect("the item");
        assert_eq!(state.status(), ItemStatus::OnLoan, "{item} seen on loan");
        assert_eq!(state.library, JN_CENTRAL);
    }
}

#[tokio::test]
async fn a_position_not_reached_within_the_deadline_is_deadline_exceeded_naming_the_position() {
    let fixture = network_jinan_zibo().await;
    let head = fixture.net.head_position().await;
    let mut request = Request::new(AvailabilityServiceGetItemRequest {
        item: JN_BOOKS[0].to_owned(),
        min_position: Some(head + 1000),
    });
    request.set_timeout(std::time::Duration::from_millis(300));
    let status = availability(&fixture.net)
        .get_item(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("not yet {}", head + 1000)),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn where_to_get_a_title_starts_at_the_library_then_its_city_then_other_cities() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let head = net.head_position().await;
    // Every fixture book is one title (one ISBN); JN-LIXIA-03 has no copy of its own.
    let answer = availability(net)
        .find_title(FindTitleRequest {
            title: Some(AvailabilityTitle {
                isbn: "9787020002207".into(),
                ..Default::default()
            }),
            from_library: JN_LIXIA.into(),
            min_position: Some(head),
            max_libraries: 10,
        })
        .await
        .expect("find title")
        .into_inner();
    let places: Vec<_> = answer
        .libraries
        .iter()
        .map(|l| (l.library.as_str(), l.proximity(), l.lendable))
        .collect();
    assert_eq!(
        places,
        [
            (JN_CENTRAL, AvailabilityProximity::SameCity, 3),
            (ZB_CENTRAL, AvailabilityProximity::OtherCity, 3),
            (ZB_ZHOUCUN, AvailabilityProximity::OtherCity, 2),
        ]
    );
}

#[tokio::test]
async fn projections_pick_up_where_they_were_after_a_crash() {
    let mut fixture = network_jinan_zibo().await;
    let receipt = fixture
        .net
        .at(ZB_CENTRAL)
        .checkout(ZB_BOOKS[0], card(JINAN, "370102199001010001"))
        .await
        .expect("checkout");
    fixture.crash_and_restart().await;
    let answer = availability(&fixture.net)
        .get_item(AvailabilityServiceGetItemRequest {
            item: ZB_BOOKS[0].to_owned(),
            min_position: Some(receipt.position),
        })
        .await
        .expect("availability answers after the restart")
        .into_inner();
    assert_eq!(answer.item.expect("the item").status(), ItemStatus::OnLoan);
}

/// What the current month and the days around today are in the settlement time zone.
fn month_and_days() -> (String, String, String) {
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let day = |d: chrono::DateTime<chrono_tz::Tz>| d.format("%Y-%m-%d").to_string();
    (
        now.format("%Y-%m").to_string(),
        day(now - chrono::Duration::days(1)),
        day(now + chrono::Duration::days(1)),
    )
}

#[tokio::test]
async fn after_the_demo_every_read_model_answers_what_the_story_implies() {
    use readnet_e2e::v1::settlement_service_client::SettlementServiceClient;
    use readnet_e2e::v1::statistics_service_client::StatisticsServiceClient;
    use readnet_e2e::v1::{
        BoothStockRequest, ChargeKind, ClosePeriodRequest, GetStatementRequest, MonitorRequest,
        NetworkDaysRequest, StatementStatus, StatisticsBy,
    };

    let fixture = Fixture::start().await;
    let (ok, stdout, stderr) = crate::service::play_demo(&fixture.server).await;
    assert!(ok, "the demo ran\n{stdout}\n{stderr}");
    let net = &fixture.net;
    let head = net.head_position().await;
    let log = net.read_all().await;
    let count = |event_type: &str| log.iter().filter(|e| e.event_type == event_type).count() as u64;
    let (month, yesterday, tomorrow) = month_and_days();

    // Settlement: the worked example (100 + 50 + 800), the Zibo reader's loan in Jinan (100),
    // and the held copy's leg from Jinan's distribution centre to Zhoucun (800, owed by the
    // destination's city) with its loan there (100).
    let statement = SettlementServiceClient::new(net.channel.clone())
        .get_statement(GetStatementRequest {
            period: month.clone(),
            min_position: Some(head),
        })
        .await
        .expect("a statement")
        .into_inner()
        .statement
        .expect("the response holds the statement");
    assert_eq!(statement.status(), StatementStatus::Provisional);
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
            (JINAN, ZIBO, ChargeKind::Loan, 1, 100),
            (ZIBO, JINAN, ChargeKind::Loan, 2, 200),
            (ZIBO, JINAN, ChargeKind::Return, 1, 50),
            (ZIBO, JINAN, ChargeKind::Shipping, 2, 1600),
        ]
    );
    let nets: Vec<_> = statement
        .nets
        .iter()
        .map(|n| (n.city.as_str(), n.net_fen))
        .collect();
    assert_eq!(nets, [(JINAN, 1750), (ZIBO, -1750)]);
    assert_eq!(statement.digest.len(), 64);
    // The month is not over: it cannot be closed yet, and saying so writes nothing.
    let refused = SettlementServiceClient::new(net.channel.clone())
        .close_period(ClosePeriodRequest {
            command_id: uuid::Uuid::new_v4().to_string(),
            period: month.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("has not ended"),
        "{}",
        refused.message()
    );
    assert_eq!(net.head_position().await, head);

    // Statistics: the network's days count what the log holds.
    let days = StatisticsServiceClient::new(net.channel.clone())
        .network_days(NetworkDaysRequest {
            min_position: Some(head),
            from_day: yesterday,
            to_day: tomorrow,
            by: StatisticsBy::TransactionLibrary as i32,
        })
        .await
        .expect("network days")
        .into_inner()
        .days;
    let total = |f: fn(&readnet_e2e::v1::StatisticsDay) -> u64| days.iter().map(f).sum::<u64>();
    assert_eq!(total(|d| d.loans), count("ItemLoaned"));
    assert_eq!(total(|d| d.returns), count("ItemReturned"));
    assert_eq!(total(|d| d.renewals), count("ItemRenewed"));
    assert_eq!(total(|d| d.booth_swaps), count("BoothSwapped"));
    // A card first used in the app is enrolled at no library, so no library's day counts it.
    let enrolled_at_libraries = log
        .iter()
        .filter(|e| e.event_type == "PatronEnrolled" && !e.acting_library.is_empty())
        .count() as u64;
    assert!(
        enrolled_at_libraries < count("PatronEnrolled"),
        "the app enrolled one"
    );
    assert_eq!(total(|d| d.enrolments), enrolled_at_libraries);
    assert_eq!(total(|d| d.patron_driven_acquisitions), 1);

    // The monitoring centre saw ZB-CENTRAL act.
    let monitor = StatisticsServiceClient::new(net.channel.clone())
        .monitor(MonitorRequest {
            min_position: Some(head),
            library: ZB_CENTRAL.into(),
        })
        .await
        .expect("monitor")
        .into_inner()
        .snapshot
        .expect("the response holds the snapshot");
    let zb = &monitor.libraries[0];
    assert_eq!(zb.library, ZB_CENTRAL);
    assert!(
        zb.last_recorded_at.is_some() && zb.events_last_hour > 0,
        "{zb:?}"
    );

    // Availability: the booth holds the book the reader left.
    let booth = availability(net)
        .booth_stock(BoothStockRequest {
            booth: JN_BOOTH.into(),
            min_position: Some(head),
            ..Default::default()
        })
        .await
        .expect("booth stock")
        .into_inner();
    assert_eq!(booth.item_count, 1);
    assert_eq!(
        booth.items[0].acquisition(),
        readnet_e2e::v1::Acquisition::BoothDeposit
    );
}
