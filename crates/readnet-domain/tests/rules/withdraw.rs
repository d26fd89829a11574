//! Withdrawal: from a shelf, a booth, or the lost; never while lent or travelling.

use readnet_domain::pb::{self, TransferReason};
use readnet_domain::{ItemStatus, Payload, Rejection, RejectionKind, Whereabouts};

use crate::support::fixtures::*;
use crate::support::*;

fn withdrawn(item: &str) -> Vec<readnet_domain::NewEvent> {
    vec![item_event(
        item,
        Payload::ItemWithdrawn(pb::ItemWithdrawn {
            item: item.into(),
            reason: "worn out".into(),
        }),
    )]
}

#[test]
fn withdraw_from_the_shelf() {
    let after = given(network_jinan_zibo())
        .when_at(t0(), Some("JN-CENTRAL"), withdraw("JN-000002"))
        .then_events(withdrawn("JN-000002"));
    assert_eq!(after.status("JN-000002"), &ItemStatus::Withdrawn);
}

#[test]
fn withdraw_a_homebound_item_from_the_shelf_where_it_waits() {
    given(network_jinan_zibo())
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
        .after(t0() + days(3), Some("JN-LIXIA-03"), give_back("ZB-000123"))
        .when_at(t0() + days(4), None, withdraw("ZB-000123"))
        .then_events(withdrawn("ZB-000123"));
}

#[test]
fn withdraw_from_a_booth() {
    let after = given(network_jinan_zibo())
        .when_at(t0(), None, withdraw("JN-B-0001"))
        .then_events(withdrawn("JN-B-0001"));
    assert_eq!(after.status("JN-B-0001"), &ItemStatus::Withdrawn);
}

#[test]
fn withdraw_a_lost_item_keeps_its_debt() {
    let patron = li_wei();
    let after = given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &patron))
        .after(t0() + days(40), None, declare_lost("JN-000002"))
        .when_at(t0() + days(41), None, withdraw("JN-000002"))
        .then_events(withdrawn("JN-000002"));
    assert_eq!(after.status("JN-000002"), &ItemStatus::Withdrawn);
    assert!(after.ledger().items["JN-000002"].lost_debt().is_some());
    after
        .when_at(t0() + days(41), Some("JN-CENTRAL"), pay("JN-000002", 3900))
        .then_accepted();
}

#[test]
fn withdraw_while_on_loan_is_refused() {
    given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .when_at(t0(), None, withdraw("JN-000002"))
        .then_rejected_saying(RejectionKind::FailedPrecondition, Rejection::NotWithdrawable { item: "JN-000002".into(), whereabouts: Whereabouts::OnLoan { library: "JN-CENTRAL".into(), due_date: date(2026, 4, 1) } }, "item JN-000002 cannot be withdrawn now: it is on loan from JN-CENTRAL until 2026-04-01");
}

#[test]
fn withdraw_while_in_transit_is_refused() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "ZB-CENTRAL", TransferReason::Rebalance),
        )
        .when_at(t0(), None, withdraw("JN-000002"))
        .then_rejected(Rejection::NotWithdrawable {
            item: "JN-000002".into(),
            whereabouts: Whereabouts::InTransit {
                from: "JN-CENTRAL".into(),
                to: "ZB-CENTRAL".into(),
            },
        });
}

#[test]
fn withdraw_twice_is_refused() {
    given(network_jinan_zibo())
        .after(t0(), None, withdraw("JN-000002"))
        .when_at(t0(), None, withdraw("JN-000002"))
        .then_rejected(Rejection::NotWithdrawable {
            item: "JN-000002".into(),
            whereabouts: Whereabouts::Withdrawn,
        });
}

#[test]
fn withdraw_an_unknown_item_is_not_found() {
    given(network_jinan_zibo())
        .when_at(t0(), None, withdraw("JN-999999"))
        .then_rejected(Rejection::ItemNotCatalogued {
            item: "JN-999999".into(),
        });
}
