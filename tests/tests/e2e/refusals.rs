//! A refused command is remembered (ADR 0010): a retry of its command id gets the same refusal,
//! code and message, after a crash and whatever the state has become; the refusal is in the log
//! for auditors, and no read model changes for it.

use readnet_e2e::v1::availability_service_client::AvailabilityServiceClient;
use readnet_e2e::v1::{self, AvailabilityServiceGetItemRequest, ItemStatus};
use readnet_e2e::*;
use tonic::Code;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_checkout_retried_after_a_crash_and_a_return_gets_the_same_refusal() {
    let mut fixture = network_jinan_zibo().await;
    let borrower = card(JINAN, "370102199001011234");
    let other = card(ZIBO, "370302199202023333");
    accepted(
        fixture
            .net
            .at(ZB_CENTRAL)
            .checkout(ZB_BOOKS[0], borrower)
            .await,
        "the first loan",
    );

    // A kiosk's checkout of the book on loan is refused; say the answer is lost.
    let command_id = Uuid::new_v4().to_string();
    let checkout = v1::CheckoutRequest {
        command_id: command_id.clone(),
        item: ZB_BOOKS[0].to_owned(),
        card: Some(other.clone()),
        ..Default::default()
    };
    let send = |net: &Net| {
        let (desk, mut client) = (net.at(ZB_CENTRAL), net.circulation.clone());
        let request = checkout.clone();
        async move { client.checkout(desk.request(request)).await }
    };
    let first = refused(
        send(&fixture.net).await,
        Code::FailedPrecondition,
        "is not on the shelf at ZB-CENTRAL: it is on loan",
        "a checkout of a book on loan",
    );
    let refusal_position = fixture.net.head_position().await;

    // kill -9, then the book comes back.
    fixture.crash_and_restart().await;
    let net = fixture.net.clone();
    accepted(
        net.at(ZB_CENTRAL).return_item(ZB_BOOKS[0]).await,
        "the return",
    );
    assert_eq!(
        net.item(ZB_BOOKS[0]).await.status,
        ItemStatus::OnShelf as i32
    );

    // The kiosk resends: the original refusal, word for word, and nothing is written.
    let head = net.head_position().await;
    let again = refused(
        send(&net).await,
        Code::FailedPrecondition,
        "on loan",
        "the resent checkout",
    );
    assert_eq!(again, first, "the same message as the first time");
    assert_eq!(net.head_position().await, head, "a retry writes nothing");

    // The same id for another request is a reuse, as for an accepted command.
    let mut reuse = checkout.clone();
    reuse.item = ZB_BOOKS[1].to_owned();
    refused(
        net.circulation
            .clone()
            .checkout(net.at(ZB_CENTRAL).request(reuse))
            .await,
        Code::AlreadyExists,
        "command_id",
        "the refused command's id reused for another item",
    );

    // A new command id is decided on the state as it is now: the book is lent.
    let lent = accepted(
        net.at(ZB_CENTRAL).checkout(ZB_BOOKS[0], other).await,
        "a new checkout",
    );
    assert_eq!(event_types(&lent), ["PatronEnrolled", "ItemLoaned"]);

    // The refusal is in the log, in a stream of its own, with the command's envelope.
    let recorded = net.read_stream(&format!("refusal-{command_id}")).await;
    assert_eq!(recorded.len(), 1);
    let event = &recorded[0];
    assert_eq!(event.position, refusal_position);
    assert_eq!(event.event_type, "CommandRefused");
    assert_eq!(event.command_id, command_id);
    assert_eq!(event.acting_library, ZB_CENTRAL);
    assert_eq!(event.principal, "admin");
    let v1::event::Payload::CommandRefused(refusal) = payload_of(event) else {
        panic!("{event:?}");
    };
    assert_eq!(refusal.command, "Checkout");
    assert_eq!(refusal.rule, "ItemNotOnShelf");
    assert_eq!(refusal.kind(), v1::RefusalKind::FailedPrecondition);
    assert_eq!(refusal.message, first);
    assert!(refusal.refused_at_us > 0, "when the server refused it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_changes_no_read_model_and_queries_reach_its_position() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let refusal = net.at(ZB_CENTRAL).return_item(ZB_BOOKS[0]).await;
    refused(
        refusal,
        Code::FailedPrecondition,
        "is not on loan",
        "a return of a book on the shelf",
    );
    let head = net.head_position().await;
    let answer = AvailabilityServiceClient::new(net.channel.clone())
        .get_item(AvailabilityServiceGetItemRequest {
            item: ZB_BOOKS[0].to_owned(),
            min_position: Some(head),
        })
        .await
        .expect("a query waiting for the refusal's position is answered")
        .into_inner();
    assert!(answer.applied_position >= head);
    let item = answer.item.expect("the item");
    assert_eq!(item.status(), ItemStatus::OnShelf);
    assert_eq!(item.library, ZB_CENTRAL);

    // An analyst sees that a command was refused, and by which rule, but not the message
    // (it may name a card).
    let analyst = net
        .principal(
            "analyst",
            v1::Grant {
                role: v1::Role::Analytics as i32,
                ..Default::default()
            },
        )
        .await;
    let seen = analyst
        .read_all()
        .await
        .into_iter()
        .find(|e| e.event_type == "CommandRefused")
        .expect("the refusal");
    let v1::event::Payload::CommandRefused(refused) = payload_of(&seen) else {
        panic!("{seen:?}");
    };
    assert_eq!(refused.rule, "ItemNotOnLoan");
    assert_eq!(refused.message, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_that_may_never_give_a_command_writes_nothing_by_asking() {
    let fixture = network_jinan_zibo().await;
    let auditor = fixture
        .net
        .principal(
            "auditor",
            v1::Grant {
                role: v1::Role::Auditor as i32,
                ..Default::default()
            },
        )
        .await;
    let head = fixture.net.head_position().await;
    for _ in 0..3 {
        refused(
            auditor.at(ZB_CENTRAL).return_item(ZB_BOOKS[0]).await,
            Code::PermissionDenied,
            "principal auditor (auditor) may not",
            "an auditor's return",
        );
    }
    assert_eq!(fixture.net.head_position().await, head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_checkout_retried_after_its_window_is_refused_as_late_and_never_decided() {
    let mut fixture = network_jinan_zibo().await;
    let borrower = card(JINAN, "370102199001011234");
    let other = card(ZIBO, "370302199202023333");
    accepted(
        fixture
            .net
            .at(ZB_CENTRAL)
            .checkout(ZB_BOOKS[0], borrower)
            .await,
        "the first loan",
    );
    let command_id = Uuid::new_v4().to_string();
    let checkout = v1::CheckoutRequest {
        command_id: command_id.clone(),
        item: ZB_BOOKS[0].to_owned(),
        card: Some(other),
        ..Default::default()
    };
    let send = |net: &Net| {
        let (desk, mut client) = (net.at(ZB_CENTRAL), net.circulation.clone());
        let request = checkout.clone();
        async move { client.checkout(desk.request(request)).await }
    };
    refused(
        send(&fixture.net).await,
        Code::FailedPrecondition,
        "it is on loan",
        "a checkout of a book on loan",
    );
    let recorded = fixture
        .net
        .read_stream(&format!("refusal-{command_id}"))
        .await;
    let v1::event::Payload::CommandRefused(refusal) = payload_of(&recorded[0]) else {
        panic!("{recorded:?}");
    };
    let refused_at = chrono::DateTime::from_timestamp_micros(refusal.refused_at_us)
        .expect("a refusal records when it was refused");

    // A server whose refusals are repeated for one second; the book comes back, and the kiosk
    // resends once the second has passed.
    fixture.restart_with(&["--refusal-window-secs", "1"]).await;
    let net = fixture.net.clone();
    accepted(
        net.at(ZB_CENTRAL).return_item(ZB_BOOKS[0]).await,
        "the return",
    );
    let window_ended_at = refused_at + chrono::TimeDelta::seconds(1);
    let wait = window_ended_at - chrono::Utc::now() + chrono::TimeDelta::milliseconds(100);
    if let Ok(wait) = wait.to_std() {
        tokio::time::sleep(wait).await;
    }
    let head = net.head_position().await;
    let late = refused(
        send(&net).await,
        Code::FailedPrecondition,
        &format!("command_id {command_id}: the command was refused at"),
        "the checkout resent after the window",
    );
    assert!(
        late.contains("retry window") && late.contains("new command_id"),
        "{late}"
    );
    assert_eq!(
        net.head_position().await,
        head,
        "a late retry writes nothing"
    );
    assert_eq!(
        net.item(ZB_BOOKS[0]).await.status,
        ItemStatus::OnShelf as i32,
        "the refused checkout was not decided again: the book is not lent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_window_that_is_not_a_positive_number_of_seconds_stops_the_server_naming_the_flag()
 {
    for bad in ["0", "-5", "a-week", "31622401"] {
        let dir = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(readnet_binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--refusal-window-secs",
                bad,
            ])
            .arg("--data")
            .arg(dir.path().join("data"))
            .output()
            .expect("readnet runs");
        assert!(!output.status.success(), "--refusal-window-secs {bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--refusal-window-secs"),
            "--refusal-window-secs {bad}: {stderr}"
        );
    }
}
