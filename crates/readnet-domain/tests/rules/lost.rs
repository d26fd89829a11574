//! Declaring an item lost, and the borrower's debt: paid, partly paid, waived.

use readnet_domain::pb;
use readnet_domain::{
    Fen, ItemStatus, LostDebt, MAX_PAYMENT_FEN, PatronRef, Payload, Rejection, RejectionKind,
    Whereabouts,
};

use crate::support::fixtures::*;
use crate::support::*;

/// ZB-000123 (ZB-CENTRAL, 4500 fen) lent to Li Wei, a Jinan patron, at ZB-CENTRAL.
fn li_wei_borrowed_zb_000123() -> Scenario {
    given(network_jinan_zibo()).after(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
}

fn li_wei_lost_zb_000123() -> Scenario {
    li_wei_borrowed_zb_000123().after(t0() + days(20), None, declare_lost("ZB-000123"))
}

fn another_checkout_by(patron: &PatronRef, scenario: Scenario) -> super::support::Outcome {
    scenario.when_at(
        t0() + days(25),
        Some("JN-CENTRAL"),
        checkout("JN-000002", patron),
    )
}

#[test]
fn declare_lost_charges_the_borrower_the_items_price() {
    let patron = li_wei();
    let after = li_wei_borrowed_zb_000123()
        .when_at(t0() + days(20), None, declare_lost("ZB-000123"))
        .then_events(vec![item_event(
            "ZB-000123",
            Payload::ItemDeclaredLost(pb::ItemDeclaredLost {
                item: "ZB-000123".into(),
                patron_id: patron.patron_id.clone().into(),
                owner_library: "ZB-CENTRAL".into(),
                patron_home_city: "jinan".into(),
                debt_fen: 4500,
            }),
        )]);
    assert_eq!(
        after.status("ZB-000123"),
        &ItemStatus::Lost {
            patron_id: patron.patron_id.clone()
        }
    );
    assert_eq!(
        after.ledger().items["ZB-000123"].lost_debt().cloned(),
        Some(LostDebt {
            patron_id: patron.patron_id.clone(),
            outstanding_fen: Fen(4500)
        })
    );
    assert!(
        after.loans(&patron).is_empty(),
        "a lost item is no longer on loan"
    );
    assert_eq!(after.patron(&patron).unsettled_lost.len(), 1);
}

#[test]
fn declare_lost_of_an_item_without_price_charges_the_default_lost_tariff() {
    let patron = li_wei();
    given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &patron))
        .when_at(t0() + days(20), None, declare_lost("JN-000001"))
        .then_events(vec![item_event(
            "JN-000001",
            Payload::ItemDeclaredLost(pb::ItemDeclaredLost {
                item: "JN-000001".into(),
                patron_id: patron.patron_id.clone().into(),
                owner_library: "JN-CENTRAL".into(),
                patron_home_city: "jinan".into(),
                debt_fen: 3000,
            }),
        )]);
}

#[test]
fn declare_lost_of_an_item_not_on_loan_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), None, declare_lost("ZB-000123"))
        .then_rejected_saying(RejectionKind::FailedPrecondition, Rejection::LostItemNotOnLoan { item: "ZB-000123".into(), whereabouts: Whereabouts::OnShelf { library: "ZB-CENTRAL".into(), homebound_to: None } }, "item ZB-000123 is not on loan, so it cannot be declared lost: it is on the shelf at ZB-CENTRAL");
}

#[test]
fn declare_lost_twice_is_refused() {
    li_wei_lost_zb_000123()
        .when_at(t0() + days(21), None, declare_lost("ZB-000123"))
        .then_rejected(Rejection::LostItemNotOnLoan {
            item: "ZB-000123".into(),
            whereabouts: Whereabouts::Lost,
        });
}

#[test]
fn declare_lost_of_an_unknown_item_is_not_found() {
    given(network_jinan_zibo())
        .when_at(t0(), None, declare_lost("ZB-999999"))
        .then_rejected(Rejection::ItemNotCatalogued {
            item: "ZB-999999".into(),
        });
}

#[test]
fn partial_payment_lowers_the_debt_and_keeps_the_patron_blocked() {
    let patron = li_wei();
    let after = li_wei_lost_zb_000123()
        .when_at(t0() + days(21), Some("ZB-CENTRAL"), pay("ZB-000123", 1000))
        .then_events(vec![item_event(
            "ZB-000123",
            Payload::LostItemPaid(pb::LostItemPaid {
                item: "ZB-000123".into(),
                patron_id: patron.patron_id.clone().into(),
                amount_fen: 1000,
            }),
        )]);
    assert_eq!(
        after.ledger().items["ZB-000123"]
            .lost_debt()
            .map(|d| d.outstanding_fen),
        Some(Fen(3500))
    );
    another_checkout_by(&patron, after).then_rejected(Rejection::PatronBlockedLost {
        card: "jinan:****1234".into(),
        item: "ZB-000123".into(),
        owed_fen: Fen(3500),
    });
}

#[test]
fn payment_in_full_in_two_parts_settles_the_debt_and_unblocks() {
    let patron = li_wei();
    let after = li_wei_lost_zb_000123()
        .after(t0() + days(21), Some("ZB-CENTRAL"), pay("ZB-000123", 1000))
        .when_at(t0() + days(22), Some("ZB-CENTRAL"), pay("ZB-000123", 3500))
        .then_accepted();
    assert_eq!(after.ledger().items["ZB-000123"].lost_debt().cloned(), None);
    assert!(after.patron(&patron).unsettled_lost.is_empty());
    another_checkout_by(&patron, after).then_accepted();
}

#[test]
fn paying_more_than_owed_is_refused() {
    li_wei_lost_zb_000123()
        .when_at(t0() + days(21), Some("ZB-CENTRAL"), pay("ZB-000123", 4501))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::PaymentExceedsDebt {
                item: "ZB-000123".into(),
                amount_fen: Fen(4501),
                owed_fen: Fen(4500),
            },
            "amount_fen: 4501 is more than the 4500 fen owed for item ZB-000123",
        );
}

#[test]
fn paying_nothing_is_invalid() {
    li_wei_lost_zb_000123()
        .when_at(t0() + days(21), Some("ZB-CENTRAL"), pay("ZB-000123", 0))
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::PaymentNotPositive { amount_fen: Fen(0) },
            "amount_fen: 0 is not a positive amount",
        );
}

#[test]
fn paying_for_an_item_without_debt_is_refused() {
    li_wei_borrowed_zb_000123()
        .when_at(t0() + days(21), Some("ZB-CENTRAL"), pay("ZB-000123", 100))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::NoLostItemDebt {
                item: "ZB-000123".into(),
            },
            "item ZB-000123 has no unsettled lost-item debt",
        );
}

#[test]
fn paying_a_settled_debt_again_is_refused() {
    li_wei_lost_zb_000123()
        .after(t0() + days(21), Some("ZB-CENTRAL"), pay("ZB-000123", 4500))
        .when_at(t0() + days(22), Some("ZB-CENTRAL"), pay("ZB-000123", 1))
        .then_rejected(Rejection::NoLostItemDebt {
            item: "ZB-000123".into(),
        });
}

#[test]
fn waiver_records_the_reason_and_unblocks() {
    let patron = li_wei();
    let after = li_wei_lost_zb_000123()
        .when_at(t0() + days(21), Some("ZB-CENTRAL"), waive("ZB-000123"))
        .then_events(vec![item_event(
            "ZB-000123",
            Payload::LostItemDebtWaived(pb::LostItemDebtWaived {
                item: "ZB-000123".into(),
                patron_id: patron.patron_id.clone().into(),
                reason: "hardship".into(),
            }),
        )]);
    assert_eq!(after.ledger().items["ZB-000123"].lost_debt().cloned(), None);
    assert!(after.patron(&patron).unsettled_lost.is_empty());
    another_checkout_by(&patron, after).then_accepted();
}

#[test]
fn waiving_when_nothing_is_owed_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), None, waive("ZB-000123"))
        .then_rejected(Rejection::NoLostItemDebt {
            item: "ZB-000123".into(),
        });
}

#[test]
fn a_second_loss_of_the_same_item_keeps_the_first_borrowers_debt() {
    // Li Wei loses JN-000002 (3900 fen); it turns up and is returned, debt unpaid; Wang Fang
    // borrows it and loses it too. Each owes 3900 fen, and each payment settles a real debt.
    let li = li_wei();
    let wang = wang_fang();
    let both_lost = given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li))
        .after(t0() + days(5), None, declare_lost("JN-000002"))
        .after(t0() + days(6), Some("JN-CENTRAL"), give_back("JN-000002"))
        .after(
            t0() + days(7),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang),
        )
        .after(t0() + days(8), None, declare_lost("JN-000002"));
    let settled = both_lost
        .after(t0() + days(9), Some("JN-CENTRAL"), pay("JN-000002", 3900))
        .when_at(t0() + days(9), Some("JN-CENTRAL"), pay("JN-000002", 3900))
        .then_accepted();
    assert!(
        settled.patron(&li).unsettled_lost.is_empty(),
        "Li Wei paid for his loss"
    );
    assert!(
        settled.patron(&wang).unsettled_lost.is_empty(),
        "Wang Fang paid for hers"
    );
    settled
        .when_at(
            t0() + days(10),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li),
        )
        .then_accepted();
}

#[test]
fn losing_an_item_priced_at_zero_does_not_block_the_borrower_for_ever() {
    // Either fix will do: a debt of 0 fen blocks nobody, or a price of 0 counts as unknown and
    // the lost tariff is charged. Whatever is owed, paying it unblocks.
    let patron = li_wei();
    let mut lost = given(network_jinan_zibo())
        .and([catalogued("JN-000009", "JN-CENTRAL", Some(0))])
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000009", &patron))
        .after(t0() + days(1), None, declare_lost("JN-000009"));
    let owed = lost.ledger().items["JN-000009"]
        .lost_debt()
        .map_or(Fen::ZERO, |d| d.outstanding_fen);
    if owed.is_positive() {
        lost = lost.after(
            t0() + days(2),
            Some("JN-CENTRAL"),
            pay("JN-000009", owed.get()),
        );
    }
    lost.when_at(
        t0() + days(2),
        Some("JN-CENTRAL"),
        checkout("JN-000002", &patron),
    )
    .then_accepted();
}

#[test]
fn paying_above_the_maximum_payment_is_invalid() {
    li_wei_lost_zb_000123()
        .when_at(
            t0() + days(21),
            Some("ZB-CENTRAL"),
            pay("ZB-000123", i64::MAX),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::PaymentTooHigh {
                amount_fen: Fen(i64::MAX),
                max_fen: MAX_PAYMENT_FEN,
            },
            "amount_fen: 9223372036854775807 fen is more than the maximum payment of 10000000 fen",
        );
}
