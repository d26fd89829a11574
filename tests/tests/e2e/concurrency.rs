//! Many desks at once: the ledger's cross-stream rules hold under concurrent commands.

use std::sync::Arc;

use readnet_e2e::v1::{CommandReceipt, CreditTier, ItemStatus, event::Payload};
use readnet_e2e::*;
use tokio::sync::Barrier;
use tonic::{Code, Status};

/// Runs every command at once (released together by a barrier) and returns their answers in order.
async fn all_at_once<F, Fut>(commands: Vec<F>) -> Vec<Result<CommandReceipt, Status>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<CommandReceipt, Status>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(commands.len()));
    let tasks: Vec<_> = commands
        .into_iter()
        .map(|command| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                command().await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(
            tokio::time::timeout(WAIT, task)
                .await
                .expect("a command answered in time")
                .expect("the task did not panic"),
        );
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_checkouts_of_one_item_from_different_desks_exactly_one_succeeds() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let item = JN_BOOKS[0];
    let head_before = net.head_position().await;

    // 40 patrons at JN-CENTRAL, where the book is on the shelf, and 10 at other desks.
    let elsewhere = [JN_LIXIA, JN_BOOTH, ZB_CENTRAL, ZB_ZHOUCUN, JN_LIXIA];
    let commands: Vec<_> = (0..50)
        .map(|i| {
            let (library, city) = if i < 40 {
                (JN_CENTRAL, if i % 3 == 0 { ZIBO } else { JINAN })
            } else {
                (elsewhere[i % elsewhere.len()], JINAN)
            };
            let desk = net.at(library);
            let patron = card(city, &format!("3701021990{i:08}"));
            move || async move { desk.checkout(item, patron).await }
        })
        .collect();
    let answers = all_at_once(commands).await;

    let winners: Vec<&CommandReceipt> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one checkout succeeds");
    for (i, answer) in answers.iter().enumerate() {
        if let Err(status) = answer {
            assert_eq!(
                status.code(),
                Code::FailedPrecondition,
                "checkout {i} lost the race and should be FAILED_PRECONDITION: {}",
                status.message()
            );
        }
    }
    let winner = winners[0];
    assert_eq!(event_types(winner), ["PatronEnrolled", "ItemLoaned"]);
    let loaned = payload!(winner.events[1], ItemLoaned);
    assert_eq!(loaned.library, JN_CENTRAL);

    let state = net.item(item).await;
    assert_eq!(state.status, ItemStatus::OnLoan as i32);
    assert_eq!(state.patron_id, loaned.patron_id, "on loan to the winner");

    let loans = net
        .read_stream(&format!("item-{item}"))
        .await
        .iter()
        .filter(|e| e.event_type == "ItemLoaned")
        .count();
    assert_eq!(loans, 1, "the item's stream has exactly one ItemLoaned");
    // The refused checkouts wrote nothing but their refusals (ADR 0010), not even an enrolment.
    let written = net.read_all_from(head_before + 1).await;
    let (refusals, facts): (Vec<_>, Vec<_>) = written
        .iter()
        .partition(|e| e.event_type == "CommandRefused");
    assert_eq!(
        facts
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["PatronEnrolled", "ItemLoaned"],
        "only the winner's facts were written"
    );
    assert_eq!(refusals.len(), 49, "one refusal per losing checkout");
    assert!(
        refusals
            .iter()
            .all(|e| e.stream == format!("refusal-{}", e.command_id))
    );
    assert_eq!(net.head_position().await, head_before + 2 + 49);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patron_at_limit_is_refused_under_concurrent_checkouts() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let desk = net.at(JN_CENTRAL);
    let patron = card(JINAN, "370102199001011234");

    // The first checkout enrols the patron; then the network restricts them to 3 loans.
    let first = accepted(
        desk.checkout(JN_BOOKS[0], patron.clone()).await,
        "first checkout",
    );
    let patron_id = payload!(first.events[0], PatronEnrolled).patron_id.clone();
    let tier = accepted(
        net.system()
            .set_patron_tier(patron.clone(), CreditTier::Restricted)
            .await,
        "SetPatronTier restricted",
    );
    assert_eq!(
        payload!(tier.events[0], PatronTierChanged).tier,
        CreditTier::Restricted as i32
    );

    let items: Vec<String> = (1..=12).map(|i| format!("JN-LIMIT-{i:04}")).collect();
    for item in &items {
        accepted(desk.catalogue(item, JN_CENTRAL).await, "catalogue");
    }
    let commands: Vec<_> = items
        .iter()
        .map(|item| {
            let (desk, patron, item) = (desk.clone(), patron.clone(), item.clone());
            move || async move { desk.checkout(&item, patron).await }
        })
        .collect();
    let answers = all_at_once(commands).await;

    let granted = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(granted, 2, "one loan before, two more reach the limit of 3");
    for answer in &answers {
        if let Err(status) = answer {
            assert_eq!(
                status.code(),
                Code::FailedPrecondition,
                "{}",
                status.message()
            );
            assert!(
                status.message().contains("limit") && status.message().contains('3'),
                "the refusal names the limit: {}",
                status.message()
            );
        }
    }

    let loans_in_log = net
        .read_all()
        .await
        .iter()
        .filter(|e| matches!(payload_of(e), Payload::ItemLoaned(l) if l.patron_id == patron_id))
        .count();
    assert_eq!(loans_in_log, 3, "$all holds exactly 3 loans to the patron");
    let on_loan = {
        let mut count = 0;
        for item in items.iter().map(String::as_str).chain([JN_BOOKS[0]]) {
            let state = net.item(item).await;
            if state.status == ItemStatus::OnLoan as i32 {
                assert_eq!(state.patron_id, patron_id);
                count += 1;
            }
        }
        count
    };
    assert_eq!(on_loan, 3, "3 items are on loan");

    // The limit counts loans now, not loans ever: after a return there is room for one more.
    accepted(desk.return_item(JN_BOOKS[0]).await, "return");
    let shelf: Vec<&String> = {
        let mut shelf = Vec::new();
        for item in &items {
            if net.item(item).await.status == ItemStatus::OnShelf as i32 {
                shelf.push(item);
            }
        }
        shelf
    };
    accepted(
        desk.checkout(shelf[0], patron.clone()).await,
        "checkout after a return",
    );
    refused(
        desk.checkout(shelf[1], patron).await,
        Code::FailedPrecondition,
        "limit",
        "checkout beyond the limit",
    );
}
