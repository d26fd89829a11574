//! The patron's account (issue 10, item 4): a pure view of the state. Given a history, the
//! account at an instant shows loans soonest due first with renewals left and days overdue,
//! holds with their place in the title's queue, unsettled debts, and the block the circulation
//! rules refuse a checkout for.

use readnet_domain::{AccountHoldPhase, Block, Command, HoldTarget, PatronRef, RejectionKind};

use crate::support::fixtures::*;
use crate::support::*;

fn item_hold(patron: &PatronRef, item: &str) -> Command {
    Command::PlaceHold {
        patron: patron.clone(),
        target: HoldTarget::Item(item.into()),
        pickup_library: "JN-CENTRAL".into(),
    }
}

#[test]
fn an_account_lists_loans_soonest_due_first_with_renewals_left_and_days_overdue() {
    let desk = Some("JN-CENTRAL");
    let scenario = given(network_jinan_zibo())
        .after(t0(), desk, checkout("JN-000001", &li_wei()))
        .after(t0() + days(1), desk, checkout("JN-000002", &li_wei()))
        .after(t0() + days(10), desk, renew("JN-000002", &li_wei()));
    // 33 days after the first loan: JN-000001 (due at the end of day 30) is 3 days overdue.
    let at = t0() + days(33);
    let account = scenario
        .ledger()
        .account(li_wei().patron_id.as_str(), at)
        .expect("enrolled");
    let items: Vec<&str> = account.loans.iter().map(|l| l.item.as_str()).collect();
    assert_eq!(items, ["JN-000001", "JN-000002"]);
    assert_eq!(account.loans[0].days_overdue, 3);
    assert_eq!(account.loans[0].renewals_left, 2);
    assert_eq!(account.loans[0].due_date, date(2026, 4, 1));
    assert_eq!(account.loans[1].days_overdue, 0);
    assert_eq!(account.loans[1].renewals_left, 1);
    assert_eq!(account.overdue().count(), 1);
    assert_eq!(account.block, None, "3 days overdue is not yet a block");
    assert!(
        scenario
            .ledger()
            .account(wang_fang().patron_id.as_str(), at)
            .is_none()
    );
}

#[test]
fn the_accounts_block_is_the_one_a_checkout_is_refused_for() {
    let desk = Some("JN-CENTRAL");
    let scenario = given(network_jinan_zibo()).after(t0(), desk, checkout("JN-000001", &li_wei()));
    let at = t0() + days(62);
    let account = scenario
        .ledger()
        .account(li_wei().patron_id.as_str(), at)
        .unwrap();
    assert_eq!(
        account.block,
        Some(Block::Overdue {
            item: "JN-000001".into(),
            due_date: date(2026, 4, 1)
        })
    );
    scenario
        .when_at(at, desk, checkout("JN-000002", &li_wei()))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "JN-000001 was due 2026-04-01",
        );

    let lost = given(network_jinan_zibo())
        .after(t0(), desk, checkout("JN-000002", &li_wei()))
        .after(t0() + days(1), desk, declare_lost("JN-000002"))
        .after(t0() + days(2), desk, pay("JN-000002", 900));
    let account = lost
        .ledger()
        .account(li_wei().patron_id.as_str(), t0() + days(3))
        .unwrap();
    assert!(account.loans.is_empty());
    assert_eq!(account.debts.len(), 1);
    assert_eq!(account.debts[0].owed_fen, account.owed_fen);
    assert!(matches!(
        &account.block,
        Some(Block::LostUnpaid { item, owed_fen }) if item == "JN-000002" && *owed_fen == account.owed_fen
    ));
}

#[test]
fn holds_show_their_place_in_the_titles_queue() {
    let desk = Some("JN-CENTRAL");
    let scenario = given(network_jinan_zibo())
        .after(t0(), desk, checkout("JN-000002", &li_wei()))
        .after(t0(), desk, item_hold(&wang_fang(), "JN-000002"))
        .after(
            t0(),
            desk,
            item_hold(&card("jinan", "370102000000000042"), "JN-000002"),
        );
    let second = card("jinan", "370102000000000042");
    let account = scenario
        .ledger()
        .account(second.patron_id.as_str(), t0())
        .unwrap();
    assert_eq!(account.holds.len(), 1);
    match &account.holds[0].phase {
        AccountHoldPhase::Waiting {
            position,
            queue_length,
            ..
        } => assert_eq!((*position, *queue_length), (2, 2)),
        other => panic!("{other:?}"),
    }
    let first = scenario
        .ledger()
        .account(wang_fang().patron_id.as_str(), t0())
        .unwrap();
    assert!(matches!(
        first.holds[0].phase,
        AccountHoldPhase::Waiting {
            position: 1,
            queue_length: 2,
            ..
        }
    ));
    // The book comes back at its pickup library: the first hold is ready, the second is first.
    let back = scenario.after(t0() + days(1), desk, give_back("JN-000002"));
    let first = back
        .ledger()
        .account(wang_fang().patron_id.as_str(), t0() + days(1))
        .unwrap();
    assert!(
        matches!(first.holds[0].phase, AccountHoldPhase::Ready { .. }),
        "{first:?}"
    );
    let account = back
        .ledger()
        .account(second.patron_id.as_str(), t0() + days(1))
        .unwrap();
    assert!(matches!(
        account.holds[0].phase,
        AccountHoldPhase::Waiting {
            position: 1,
            queue_length: 1,
            ..
        }
    ));
}
