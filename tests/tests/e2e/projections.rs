//! The read models over gRPC: availability, statistics and settlement, with read-your-writes.

use readnet_e2e::v1::availability_client::AvailabilityClient;
use readnet_e2e::v1::{
    AvailabilityItemRequest, AvailabilityProximity, AvailabilityTitle, FindTitleRequest, ItemStatus,
};
use readnet_e2e::*;
use tonic::{Code, Request};

fn availability(net: &Net) -> AvailabilityClient<tonic::transport::Channel> {
    AvailabilityClient::new(net.channel.clone())
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
            .get_item(AvailabilityItemRequest {
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
    let mut request = Request::new(AvailabilityItemRequest {
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
        .get_item(AvailabilityItemRequest {
            item: ZB_BOOKS[0].to_owned(),
            min_position: Some(receipt.position),
        })
        .await
        .expect("availability answers after the restart")
        .into_inner();
    assert_eq!(answer.item.expect("the item").status(), ItemStatus::OnLoan);
}
