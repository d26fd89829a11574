//! Command ids: a retry returns the original receipt and writes nothing; a reuse is refused.

use readnet_e2e::v1::{self, CommandReceipt, ItemStatus};
use readnet_e2e::*;
use tonic::Code;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_command_id_returns_the_original_receipt_and_writes_nothing() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let desk = net.at(ZB_CENTRAL);
    let command_id = Uuid::new_v4().to_string();
    let checkout = v1::CheckoutRequest {
        command_id: command_id.clone(),
        item: ZB_BOOKS[0].to_owned(),
        card: Some(card(JINAN, "370102199001011234")),
        ..Default::default()
    };
    let send = |request: v1::CheckoutRequest| {
        let (desk, mut client) = (desk.clone(), net.circulation.clone());
        async move {
            client
                .checkout(desk.request(request))
                .await
                .map(|r| r.into_inner().into_receipt())
        }
    };

    let first = accepted(send(checkout.clone()).await, "first send");
    assert!(!first.duplicate);
    assert_eq!(first.command_id, command_id);
    assert_eq!(event_types(&first), ["PatronEnrolled", "ItemLoaned"]);
    let head = net.head_position().await;
    assert_eq!(head, first.position);

    let retry = accepted(send(checkout.clone()).await, "retry");
    assert!(retry.duplicate, "a retry is marked duplicate");
    assert_eq!(retry.command_id, command_id);
    assert_eq!(retry.position, first.position);
    assert_eq!(
        retry.events, first.events,
        "the retry returns the original events: ids, positions, envelopes"
    );
    assert_eq!(net.head_position().await, head, "a retry writes nothing");

    // The same id for a different request is refused, naming command_id, and writes nothing.
    let mut other_item = checkout.clone();
    other_item.item = ZB_BOOKS[1].to_owned();
    let message = refused(
        send(other_item).await,
        Code::AlreadyExists,
        "command_id",
        "the command id reused for another item",
    );
    assert!(
        message.contains(&command_id),
        "the message names the id: {message}"
    );
    refused(
        net.circulation
            .clone()
            .checkout(net.at(ZB_ZHOUCUN).request(checkout.clone()))
            .await,
        Code::AlreadyExists,
        "command_id",
        "the command id reused at another library",
    );
    refused(
        net.circulation
            .clone()
            .r#return(desk.request(v1::ReturnRequest {
                command_id: command_id.clone(),
                item: ZB_BOOKS[0].to_owned(),
                ..Default::default()
            }))
            .await,
        Code::AlreadyExists,
        "command_id",
        "the command id reused for another RPC",
    );
    assert_eq!(
        net.head_position().await,
        head,
        "refused reuses write nothing"
    );
    assert_eq!(
        net.item(ZB_BOOKS[1]).await.status,
        ItemStatus::OnShelf as i32
    );
    assert_eq!(
        net.item(ZB_BOOKS[0]).await.status,
        ItemStatus::OnLoan as i32
    );

    // Ten concurrent sends of one new command: one set of events.
    let concurrent = v1::CheckoutRequest {
        command_id: Uuid::new_v4().to_string(),
        item: ZB_BOOKS[2].to_owned(),
        ..checkout.clone()
    };
    let tasks: Vec<_> = (0..10)
        .map(|_| tokio::spawn(send(concurrent.clone())))
        .collect();
    let mut receipts: Vec<CommandReceipt> = Vec::new();
    for task in tasks {
        let answer = tokio::time::timeout(WAIT, task)
            .await
            .expect("answered in time")
            .expect("no panic");
        receipts.push(accepted(answer, "one of ten concurrent sends"));
    }
    assert_eq!(
        receipts.iter().filter(|r| !r.duplicate).count(),
        1,
        "exactly one of the concurrent sends is the original"
    );
    assert_eq!(event_types(&receipts[0]), ["ItemLoaned"]);
    for receipt in &receipts[1..] {
        assert_eq!(
            receipt.events, receipts[0].events,
            "every send sees the same events"
        );
    }
    assert_eq!(
        net.head_position().await,
        head + 1,
        "ten sends of one command wrote one event"
    );
    let loans = net
        .read_stream(&format!("item-{}", ZB_BOOKS[2]))
        .await
        .iter()
        .filter(|e| e.event_type == "ItemLoaned")
        .count();
    assert_eq!(loans, 1);
}
