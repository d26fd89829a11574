//! The gRPC service over a shared handle: read-your-writes waits, and errors that name the field.

use std::time::Duration;

use readnet_availability::{Availability, AvailabilityService};
use readnet_domain::pb::{self, availability_service_server::AvailabilityService as _};
use readnet_projection::shared;
use tonic::{Code, Request};

use crate::support::*;

fn title_isbn(isbn: &str) -> Option<pb::AvailabilityTitle> {
    Some(pb::AvailabilityTitle {
        isbn: isbn.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn a_query_ahead_of_the_projection_waits_until_it_has_applied_that_position() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    let before_loan = net.history.events().len();
    net.checkout("JN-CENTRAL", "JN-0001", li_wei());
    let events = net.history.events().to_vec();
    let loan_position = events.last().unwrap().position;

    let (writer, handle) = shared(Availability::default());
    writer.apply(&events[..before_loan]);
    let service = AvailabilityService::new(handle, clock_at(t0()));
    let query = tokio::spawn(async move {
        service
            .get_item(authed(pb::AvailabilityServiceGetItemRequest {
                item: "JN-0001".into(),
                min_position: Some(loan_position.get()),
            }))
            .await
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!query.is_finished(), "the loan is not applied yet");

    writer.apply(&events[before_loan..]);
    let answer = query.await.unwrap().unwrap().into_inner();
    assert_eq!(answer.applied_position, loan_position.get());
    let item = answer.item.unwrap();
    assert_eq!(item.status, pb::ItemStatus::OnLoan as i32);
    assert_eq!(item.library, "JN-CENTRAL");
}

#[tokio::test]
async fn every_query_answers_with_the_position_it_reflects() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.stock_booth("ZB-CENTRAL", "ZB-BOOTH-01", santi("ZB-0001"));
    let (writer, handle) = shared(Availability::default());
    writer.apply(net.history.events());
    let head = net.history.events().len() as u64;
    let service = AvailabilityService::new(handle, clock_at(t0()));

    let found = service
        .find_title(authed(pb::FindTitleRequest {
            title: title_isbn(SANTI_ISBN),
            from_library: "ZB-ZHOUCUN-07".into(),
            min_position: Some(head),
            max_libraries: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.applied_position, head);
    let libraries: Vec<_> = found.libraries.iter().map(|l| l.library.as_str()).collect();
    assert_eq!(libraries, ["ZB-BOOTH-01", "JN-CENTRAL"]);

    let shelf = service
        .library_shelf(authed(pb::LibraryShelfRequest {
            library: "JN-CENTRAL".into(),
            per_title: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shelf.applied_position, head);
    assert_eq!(shelf.totals.unwrap().on_shelf, 1);
    assert_eq!(shelf.titles.len(), 1);

    let booth = service
        .booth_stock(authed(pb::BoothStockRequest {
            booth: "ZB-BOOTH-01".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(booth.applied_position, head);
    assert_eq!(booth.items[0].item, "ZB-0001");
}

#[tokio::test]
async fn an_answer_reflects_positions_passed_over_after_the_last_fact() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    let (writer, handle) = shared(Availability::default());
    writer.apply(net.history.events());
    let last_fact = net.history.events().last().unwrap().position;
    // Two events that are not facts (refusals, another writer's stream) follow.
    let passed = last_fact.next().next();
    writer.pass(passed);
    let answer = AvailabilityService::new(handle, clock_at(t0()))
        .get_item(authed(pb::AvailabilityServiceGetItemRequest {
            item: "JN-0001".into(),
            min_position: Some(passed.get()),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.applied_position, passed.get());
}

#[tokio::test]
async fn a_position_that_does_not_come_within_the_deadline_is_deadline_exceeded() {
    let (_writer, handle) = shared(Availability::default());
    let service = AvailabilityService::new(handle, clock_at(t0()));
    let mut request = authed(pb::AvailabilityServiceGetItemRequest {
        item: "JN-0001".into(),
        min_position: Some(7),
    });
    request
        .metadata_mut()
        .insert("grpc-timeout", "30m".parse().unwrap());
    let status = service.get_item(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(
        status.message().contains("not yet 7"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn unknown_items_and_libraries_are_not_found_and_bad_fields_invalid_by_name() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    let (writer, handle) = shared(Availability::default());
    writer.apply(net.history.events());
    let service = AvailabilityService::new(handle, clock_at(t0()));

    let unknown_item = service
        .get_item(authed(pb::AvailabilityServiceGetItemRequest {
            item: "JN-9999".into(),
            min_position: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(unknown_item.code(), Code::NotFound);
    assert_eq!(unknown_item.message(), "item JN-9999 is not catalogued");

    let empty_item = service
        .get_item(authed(pb::AvailabilityServiceGetItemRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(empty_item.code(), Code::InvalidArgument);
    assert_eq!(empty_item.message(), "item: an item id is required");

    let find = |title: Option<pb::AvailabilityTitle>, from: &str| {
        service.find_title(authed(pb::FindTitleRequest {
            title,
            from_library: from.into(),
            ..Default::default()
        }))
    };
    let unknown_library = find(title_isbn(SANTI_ISBN), "QD-CENTRAL")
        .await
        .unwrap_err();
    assert_eq!(unknown_library.code(), Code::NotFound);
    assert!(
        unknown_library
            .message()
            .starts_with("from_library: library QD-CENTRAL")
    );

    let both = find(
        Some(pb::AvailabilityTitle {
            isbn: SANTI_ISBN.into(),
            title: "三体".into(),
            author: String::new(),
        }),
        "JN-CENTRAL",
    )
    .await
    .unwrap_err();
    assert_eq!(both.code(), Code::InvalidArgument);
    assert!(both.message().starts_with("title: "), "{}", both.message());

    let not_isbn = find(title_isbn("ISBN 三体"), "JN-CENTRAL")
        .await
        .unwrap_err();
    assert_eq!(not_isbn.code(), Code::InvalidArgument);
    assert!(
        not_isbn.message().starts_with("title.isbn: "),
        "{}",
        not_isbn.message()
    );

    let no_title = find(None, "JN-CENTRAL").await.unwrap_err();
    assert_eq!(no_title.code(), Code::InvalidArgument);
    assert!(
        no_title.message().starts_with("title: "),
        "{}",
        no_title.message()
    );

    let shelf_both = service
        .library_shelf(authed(pb::LibraryShelfRequest {
            library: "JN-CENTRAL".into(),
            title: title_isbn(SANTI_ISBN),
            per_title: true,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(shelf_both.code(), Code::InvalidArgument);
    assert!(shelf_both.message().starts_with("per_title: "));

    let not_a_booth = service
        .booth_stock(authed(pb::BoothStockRequest {
            booth: "JN-CENTRAL".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(not_a_booth.code(), Code::InvalidArgument);
    assert!(not_a_booth.message().starts_with("booth: JN-CENTRAL"));
}

/// A request as the authentication layer passes it on: from a auditor principal.
fn authed<T>(message: T) -> Request<T> {
    let tester = readnet_domain::access::Authenticated::network_wide(
        "tester",
        readnet_domain::Role::Auditor,
    );
    readnet_projection::access::request_from(&tester, message)
}
