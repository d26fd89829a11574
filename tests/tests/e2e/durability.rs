//! SIGKILL and restart on the same data directory: what was acknowledged is there, and the
//! ledger carries on where it stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use readnet_e2e::v1::{self, CommandReceipt, ItemState, TransferReason};
use readnet_e2e::*;
use uuid::Uuid;

async fn all_items(net: &Net, items: &[&str]) -> Vec<ItemState> {
    let mut states = Vec::new();
    for item in items {
        states.push(net.item(item).await);
    }
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_state_and_acknowledged_events() {
    let mut fixture = network_jinan_zibo().await;
    let items: Vec<&str> = JN_BOOKS
        .iter()
        .chain(&ZB_BOOKS)
        .chain(&ZHOUCUN_BOOKS)
        .copied()
        .collect();

    // A story: a loan returned in another city and on its way home, a loan still out.
    let net = fixture.net.clone();
    let jinan_patron = card(JINAN, "370102199001011234");
    let checkout = v1::CheckoutRequest {
        command_id: Uuid::new_v4().to_string(),
        item: ZB_BOOKS[0].to_owned(),
        card: Some(jinan_patron.clone()),
        ..Default::default()
    };
    let original = accepted(
        net.circulation
            .clone()
            .checkout(net.at(ZB_CENTRAL).request(checkout.clone()))
            .await,
        "checkout before the crash",
    )
    .into_inner()
    .into_receipt();
    let patron_id = payload!(original.events[0], PatronEnrolled)
        .patron_id
        .clone();
    accepted(
        net.at(JN_LIXIA).return_item(ZB_BOOKS[0]).await,
        "return in Jinan",
    );
    accepted(
        net.at(JN_LIXIA)
            .dispatch(ZB_BOOKS[0], ZB_CENTRAL, TransferReason::Repatriation)
            .await,
        "dispatch home",
    );
    accepted(
        net.at(JN_CENTRAL)
            .checkout(JN_BOOKS[0], card(ZIBO, "370302199202023333"))
            .await,
        "a loan that stays out over the crash",
    );

    // A burst of commands acknowledged just before the crash.
    let burst: Vec<_> = (0..20)
        .map(|i| {
            let desk = net.at(JN_CENTRAL);
            tokio::spawn(async move {
                desk.catalogue(&format!("JN-BURST-{i:04}"), JN_CENTRAL)
                    .await
            })
        })
        .collect();
    let mut acknowledged: Vec<CommandReceipt> = Vec::new();
    for task in burst {
        acknowledged.push(accepted(
            task.await.expect("no panic"),
            "catalogue in the burst",
        ));
    }

    let events_before = net.read_all().await;
    let items_before = all_items(&net, &items).await;
    let head_before = net.head_position().await;
    assert_eq!(
        events_before.len() as u64,
        head_before,
        "positions are dense from 1"
    );

    fixture.crash_and_restart().await;
    let net = fixture.net.clone();

    assert_eq!(
        net.head_position().await,
        head_before,
        "the head survives the crash"
    );
    let events_after = net.read_all().await;
    assert_eq!(events_after.len(), events_before.len());
    assert_eq!(
        events_after, events_before,
        "the log is identical after the crash"
    );
    assert_eq!(
        all_items(&net, &items).await,
        items_before,
        "item states are identical"
    );
    for receipt in &acknowledged {
        for event in &receipt.events {
            let stored = &events_after[(event.position - 1) as usize];
            assert_eq!(
                stored, event,
                "an acknowledged event is stored as acknowledged"
            );
        }
    }

    // Commands carry on: the transfer is received, the loan out over the crash comes back.
    let received = accepted(
        net.at(ZB_CENTRAL).receive(ZB_BOOKS[0]).await,
        "receive after the restart",
    );
    assert_eq!(
        received.events[0].position,
        head_before + 1,
        "positions continue"
    );
    let returned = accepted(
        net.at(JN_LIXIA).return_item(JN_BOOKS[0]).await,
        "return after the restart",
    );
    assert_eq!(returned.events[0].position, head_before + 2);

    // A retry of a command from before the crash is recognised.
    let retry = accepted(
        net.circulation
            .clone()
            .checkout(net.at(ZB_CENTRAL).request(checkout))
            .await,
        "retry after the restart",
    )
    .into_inner()
    .into_receipt();
    assert!(retry.duplicate, "the command id survived the crash");
    assert_eq!(retry.events, original.events);
    assert_eq!(
        net.head_position().await,
        head_before + 2,
        "the retry wrote nothing"
    );

    // The network secret survived too: the same card is the same patron, not a new one.
    let again = accepted(
        net.at(ZB_CENTRAL).checkout(ZB_BOOKS[1], jinan_patron).await,
        "checkout by the same card after the restart",
    );
    assert_eq!(event_types(&again), ["ItemLoaned"], "no second enrolment");
    assert_eq!(payload!(again.events[0], ItemLoaned).patron_id, patron_id);

    // And a second crash right after that is no different.
    let events_before = net.read_all().await;
    fixture.crash_and_restart().await;
    assert_eq!(fixture.net.read_all().await, events_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_keeps_every_acknowledged_command_whole_and_retries_complete_the_rest() {
    let mut fixture = network_jinan_zibo().await;
    let net = fixture.net.clone();
    let lanes = 4;
    let per_lane = 15;
    let items: Vec<String> = (0..lanes * per_lane)
        .map(|i| format!("JN-CRASH-{i:04}"))
        .collect();
    let catalogued: Vec<_> = items
        .iter()
        .map(|item| {
            let (desk, item) = (net.at(JN_CENTRAL), item.clone());
            tokio::spawn(async move { desk.catalogue(&item, JN_CENTRAL).await })
        })
        .collect();
    for task in catalogued {
        accepted(task.await.expect("no panic"), "catalogue");
    }

    // Each command enrols a new patron and lends them a book: two streams in one append.
    let requests: Vec<v1::CheckoutRequest> = items
        .iter()
        .enumerate()
        .map(|(i, item)| v1::CheckoutRequest {
            command_id: Uuid::new_v4().to_string(),
            item: item.clone(),
            card: Some(card(JINAN, &format!("3701029{i:011}"))),
            ..Default::default()
        })
        .collect();
    let acks = Arc::new(AtomicUsize::new(0));
    let lane_tasks: Vec<_> = requests
        .chunks(per_lane)
        .map(|lane| {
            let (desk, client, lane) = (net.at(JN_CENTRAL), net.circulation.clone(), lane.to_vec());
            let acks = Arc::clone(&acks);
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for request in lane {
                    let answer = client.clone().checkout(desk.request(request)).await;
                    let failed = answer.is_err();
                    answers.push(answer.map(|r| r.into_inner().into_receipt()).ok());
                    if failed {
                        break;
                    }
                    acks.fetch_add(1, Ordering::SeqCst);
                }
                answers
            })
        })
        .collect();
    // Kill it mid-burst: once a third of the commands are acknowledged, the lanes are busy.
    let deadline = tokio::time::Instant::now() + WAIT;
    while acks.load(Ordering::SeqCst) < requests.len() / 3 {
        assert!(tokio::time::Instant::now() < deadline, "the burst stalled");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    fixture.server.kill_hard();
    let mut acknowledged: Vec<CommandReceipt> = Vec::new();
    for task in lane_tasks {
        let answers = tokio::time::timeout(WAIT, task)
            .await
            .expect("the lanes notice the crash")
            .expect("no panic");
        acknowledged.extend(answers.into_iter().flatten());
    }

    fixture.crash_and_restart().await;
    let net = fixture.net.clone();
    let log = net.read_all().await;
    let head = net.head_position().await;
    assert_eq!(
        log.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=head).collect::<Vec<_>>(),
        "positions are dense after the crash"
    );
    for receipt in &acknowledged {
        for event in &receipt.events {
            assert_eq!(
                &log[(event.position - 1) as usize],
                event,
                "acknowledged events survive SIGKILL"
            );
        }
    }
    // No command is half recorded: each checkout in the log has both its events.
    for request in &requests {
        let written: Vec<&str> = log
            .iter()
            .filter(|e| e.command_id == request.command_id)
            .map(|e| e.event_type.as_str())
            .collect();
        assert!(
            written.is_empty() || written == ["PatronEnrolled", "ItemLoaned"],
            "command {} is recorded whole or not at all: {written:?}",
            request.command_id
        );
    }

    let recorded_before_retries = log
        .iter()
        .filter(|e| e.event_type == "ItemLoaned" && e.stream.starts_with("item-JN-CRASH-"))
        .count();

    // The desks retry everything: acknowledged or not, each command takes effect exactly once.
    for request in &requests {
        let receipt = accepted(
            net.circulation
                .clone()
                .checkout(net.at(JN_CENTRAL).request(request.clone()))
                .await,
            "a retry after the crash",
        )
        .into_inner()
        .into_receipt();
        if let Some(original) = acknowledged
            .iter()
            .find(|r| r.command_id == request.command_id)
        {
            assert!(receipt.duplicate, "an acknowledged command is recognised");
            assert_eq!(receipt.events, original.events);
        }
    }
    let log = net.read_all().await;
    for item in &items {
        let state = net.item(item).await;
        assert_eq!(
            state.status,
            v1::ItemStatus::OnLoan as i32,
            "{item} is on loan"
        );
        let loans = log
            .iter()
            .filter(|e| e.stream == format!("item-{item}") && e.event_type == "ItemLoaned")
            .count();
        assert_eq!(loans, 1, "{item} was lent once");
    }
    eprintln!(
        "{} of {} checkouts were acknowledged before the crash, {} were recorded",
        acknowledged.len(),
        requests.len(),
        recorded_before_retries
    );
}
