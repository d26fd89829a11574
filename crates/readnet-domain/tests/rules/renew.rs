//! Renew: the borrower only, at most twice, not while blocked; due 30 days from the renewal.

use chrono::Duration;
use readnet_domain::pb;
use readnet_domain::{Fen, ItemStatus, Payload, Rejection, RejectionKind, Whereabouts};

use crate::support::fixtures::*;
use crate::support::*;

fn li_wei_borrowed_jn_000002() -> Scenario {
    given(network_jinan_zibo()).after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
}

fn end_of_day(y: i32, m: u32, d: u32) -> chrono::DateTime<chrono::Utc> {
    shanghai(y, m, d, 23, 59, 59) + Duration::microseconds(999_999)
}

#[test]
fn renewal_moves_the_due_date_to_thirty_days_from_the_renewal() {
    let patron = li_wei();
    // Renewed on 22 March: due 21 April, not 30 days after the old due date of 1 April.
    let after = li_wei_borrowed_jn_000002()
        .when_at(
            shanghai(2026, 3, 22, 9, 0, 0),
            Some("JN-LIXIA-03"),
            renew("JN-000002", &patron),
        )
        .then_events(vec![item_event(
            "JN-000002",
            Payload::ItemRenewed(pb::ItemRenewed {
                item: "JN-000002".into(),
                patron_id: patron.patron_id.clone().into(),
                due_at_us: us(end_of_day(2026, 4, 21)),
                renewal_count: 1,
            }),
        )]);
    assert_eq!(
        after.status("JN-000002"),
        &ItemStatus::OnLoan {
            patron_id: patron.patron_id.clone(),
            library: "JN-CENTRAL".into(),
            due_at: end_of_day(2026, 4, 21),
            renewals: 1,
        }
    );
    assert_eq!(after.loans(&patron), ["JN-000002"]);
}

#[test]
fn second_renewal_is_counted_as_the_second() {
    let patron = li_wei();
    li_wei_borrowed_jn_000002()
        .after(t0() + days(20), None, renew("JN-000002", &patron))
        .when_at(
            shanghai(2026, 4, 15, 20, 0, 0),
            None,
            renew("JN-000002", &patron),
        )
        .then_events(vec![item_event(
            "JN-000002",
            Payload::ItemRenewed(pb::ItemRenewed {
                item: "JN-000002".into(),
                patron_id: patron.patron_id.clone().into(),
                due_at_us: us(end_of_day(2026, 5, 15)),
                renewal_count: 2,
            }),
        )]);
}

#[test]
fn third_renewal_is_refused() {
    let patron = li_wei();
    li_wei_borrowed_jn_000002()
        .after(t0() + days(20), None, renew("JN-000002", &patron))
        .after(t0() + days(40), None, renew("JN-000002", &patron))
        .when_at(t0() + days(60), None, renew("JN-000002", &patron))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::RenewalLimitReached {
                item: "JN-000002".into(),
                renewals: 2,
                max: 2,
            },
            "item JN-000002 has been renewed 2 times, the most allowed is 2",
        );
}

#[test]
fn only_the_borrower_may_renew() {
    li_wei_borrowed_jn_000002()
        .when_at(t0() + days(1), None, renew("JN-000002", &wang_fang()))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::NotTheBorrower {
                item: "JN-000002".into(),
            },
            "item JN-000002 is on loan to another patron: only the borrower may renew it",
        );
}

#[test]
fn patron_blocked_by_an_overdue_item_cannot_renew_it() {
    let due = end_of_day(2026, 4, 1);
    li_wei_borrowed_jn_000002()
        .when_at(due + days(31), None, renew("JN-000002", &li_wei()))
        .then_rejected(Rejection::PatronBlockedOverdue {
            card: "jinan:****1234".into(),
            item: "JN-000002".into(),
            due_date: date(2026, 4, 1),
            days: 30,
        });
}

#[test]
fn patron_blocked_by_a_lost_item_cannot_renew_another() {
    li_wei_borrowed_jn_000002()
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &li_wei()))
        .after(t0() + days(3), None, declare_lost("JN-000001"))
        .when_at(t0() + days(4), None, renew("JN-000002", &li_wei()))
        .then_rejected(Rejection::PatronBlockedLost {
            card: "jinan:****1234".into(),
            item: "JN-000001".into(),
            owed_fen: Fen(3000),
        });
}

#[test]
fn overdue_item_within_thirty_days_can_still_be_renewed() {
    li_wei_borrowed_jn_000002()
        .when_at(
            end_of_day(2026, 4, 1) + days(10),
            None,
            renew("JN-000002", &li_wei()),
        )
        .then_accepted();
}

#[test]
fn item_not_on_loan_cannot_be_renewed() {
    given(network_jinan_zibo())
        .when_at(t0(), None, renew("JN-000002", &li_wei()))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::ItemNotOnLoan {
                item: "JN-000002".into(),
                whereabouts: Whereabouts::OnShelf {
                    library: "JN-CENTRAL".into(),
                    homebound_to: None,
                },
            },
            "item JN-000002 is not on loan: it is on the shelf at JN-CENTRAL",
        );
}

#[test]
fn renewing_an_unknown_item_is_not_found() {
    given(network_jinan_zibo())
        .when_at(t0(), None, renew("JN-999999", &li_wei()))
        .then_rejected(Rejection::ItemNotCatalogued {
            item: "JN-999999".into(),
        });
}
