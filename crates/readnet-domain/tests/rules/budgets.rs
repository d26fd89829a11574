//! Acquisition budgets (ADR 0019): a library's budget per year, its patron-driven share, the
//! price cap, the per-reader monthly quota and the partner bookstores.

use readnet_domain::pb::{self};
use readnet_domain::{Command, Fen, NewBook, PatronRef, Payload, Rejection, RejectionKind};

use crate::support::fixtures::*;
use crate::support::*;

fn budget(library: &str, year: i32, budget_fen: i64, share_bp: Option<u32>) -> Command {
    Command::SetAcquisitionBudget {
        library: library.into(),
        year,
        budget_fen: Fen(budget_fen),
        patron_driven_share_bp: share_bp,
    }
}

fn policy(library: &str, max_fen: i64, quota: u32) -> Command {
    Command::SetAcquisitionPolicy {
        library: library.into(),
        max_item_price_fen: Fen(max_fen),
        monthly_quota_per_reader: quota,
    }
}

fn partner(library: &str, bookstore: &str) -> Command {
    Command::RegisterBookstore {
        library: library.into(),
        bookstore: bookstore.into(),
        name: "新华书店".into(),
    }
}

fn buy(patron: &PatronRef, item: &str, price_fen: i64, bookstore: Option<&str>) -> Command {
    Command::PatronDrivenAcquisition {
        patron: patron.clone(),
        book: NewBook {
            isbn: String::new(),
            ..book(item, "围城", Some(price_fen))
        },
        bookstore: bookstore.map(str::to_owned),
    }
}

const LIXIA: Option<&str> = Some("JN-LIXIA-03");

#[test]
fn a_budget_records_the_year_and_the_default_twenty_percent_share() {
    given(network_jinan_zibo())
        .when_at(t0(), None, budget("JN-LIXIA-03", 2026, 500_000, None))
        .then_events(vec![network_event(Payload::AcquisitionBudgetSet(
            pb::AcquisitionBudgetSet {
                library: "JN-LIXIA-03".into(),
                year: 2026,
                budget_fen: 500_000,
                patron_driven_share_bp: 2000,
            },
        ))]);
}

#[test]
fn a_patron_driven_purchase_is_refused_once_the_share_is_spent() {
    // A 10,000 fen budget: a 2,000 fen share. 1,500 fits; another 600 does not; 500 does.
    let after = given(network_jinan_zibo())
        .after(t0(), None, budget("JN-LIXIA-03", 2026, 10_000, None))
        .after(t0(), LIXIA, buy(&li_wei(), "JN-P-1", 1500, None));
    assert_eq!(
        after.ledger().network.budgets[&("JN-LIXIA-03".into(), 2026)].patron_driven_spent_fen,
        Fen(1500)
    );
    let after = after
        .clone()
        .when_at(t0(), LIXIA, buy(&wang_fang(), "JN-P-2", 600, None))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::PatronDrivenShareSpent {
                library: "JN-LIXIA-03".into(),
                year: 2026,
                share_fen: Fen(2000),
                spent_fen: Fen(1500),
                price_fen: Fen(600),
            },
            "library JN-LIXIA-03's patron-driven share for 2026 is 2000 fen, 1500 fen of it spent: a book of 600 fen does not fit (rule: patron-driven purchases stop when the share is spent)",
        );
    let _ = after;
    given(network_jinan_zibo())
        .after(t0(), None, budget("JN-LIXIA-03", 2026, 10_000, None))
        .after(t0(), LIXIA, buy(&li_wei(), "JN-P-1", 1500, None))
        .when_at(t0(), LIXIA, buy(&wang_fang(), "JN-P-2", 500, None))
        .then_accepted();
}

#[test]
fn the_share_is_per_budget_year_and_a_year_without_a_budget_has_none() {
    let jan_2027 = shanghai(2027, 1, 4, 10, 0, 0);
    let budgeted = given(network_jinan_zibo())
        .after(t0(), None, budget("JN-LIXIA-03", 2026, 10_000, None))
        .after(t0(), LIXIA, buy(&li_wei(), "JN-P-1", 2000, None));
    budgeted
        .clone()
        .when_at(jan_2027, LIXIA, buy(&wang_fang(), "JN-P-2", 500, None))
        .then_rejected(Rejection::NoAcquisitionBudget {
            library: "JN-LIXIA-03".into(),
            year: 2027,
        });
    budgeted
        .after(jan_2027, None, budget("JN-LIXIA-03", 2027, 10_000, None))
        .when_at(jan_2027, LIXIA, buy(&wang_fang(), "JN-P-2", 500, None))
        .then_accepted();
}

#[test]
fn a_library_that_never_had_a_budget_buys_as_before() {
    given(network_jinan_zibo())
        .when_at(t0(), LIXIA, buy(&li_wei(), "JN-P-1", 9000, None))
        .then_accepted();
}

#[test]
fn a_budget_is_not_set_below_what_its_share_has_spent() {
    given(network_jinan_zibo())
        .after(t0(), None, budget("JN-LIXIA-03", 2026, 10_000, None))
        .after(t0(), LIXIA, buy(&li_wei(), "JN-P-1", 1800, None))
        .when_at(t0(), None, budget("JN-LIXIA-03", 2026, 10_000, Some(1000)))
        .then_rejected(Rejection::BudgetBelowSpend {
            library: "JN-LIXIA-03".into(),
            year: 2026,
            share_fen: Fen(1000),
            spent_fen: Fen(1800),
        });
}

#[test]
fn budgets_shares_and_years_out_of_range_are_invalid() {
    let net = given(network_jinan_zibo());
    net.clone()
        .when_at(t0(), None, budget("JN-LIXIA-03", 1999, 10_000, None))
        .then_refused(RejectionKind::InvalidArgument, "year: 1999");
    net.clone()
        .when_at(t0(), None, budget("JN-LIXIA-03", 2026, -1, None))
        .then_refused(RejectionKind::InvalidArgument, "budget_fen: -1");
    net.clone()
        .when_at(
            t0(),
            None,
            budget("JN-LIXIA-03", 2026, 10_000, Some(10_001)),
        )
        .then_refused(
            RejectionKind::InvalidArgument,
            "patron_driven_share_bp: 10001",
        );
    net.when_at(t0(), None, budget("JN-NOWHERE", 2026, 10_000, None))
        .then_refused(RejectionKind::NotFound, "JN-NOWHERE");
}

#[test]
fn a_book_above_the_price_cap_is_refused() {
    let net = given(network_jinan_zibo());
    // The default cap: 20,000 fen.
    net.clone()
        .when_at(t0(), LIXIA, buy(&li_wei(), "JN-P-1", 20_001, None))
        .then_rejected(Rejection::PurchaseAboveCap {
            library: "JN-LIXIA-03".into(),
            price_fen: Fen(20_001),
            max_fen: Fen(20_000),
        });
    net.after(t0(), None, policy("JN-LIXIA-03", 8000, 5))
        .when_at(t0(), LIXIA, buy(&li_wei(), "JN-P-1", 8001, None))
        .then_refused(RejectionKind::FailedPrecondition, "cap of 8000 fen");
}

#[test]
fn a_reader_beyond_the_monthly_quota_is_refused_until_the_next_month() {
    let reader = li_wei();
    let net = given(network_jinan_zibo())
        .after(t0(), None, policy("JN-LIXIA-03", 8000, 2))
        .after(t0(), LIXIA, buy(&reader, "JN-P-1", 1000, None))
        .after(t0(), LIXIA, buy(&reader, "JN-P-2", 1000, None));
    let rejection = net
        .clone()
        .when_at(t0(), LIXIA, buy(&reader, "JN-P-3", 1000, None))
        .then_refused(RejectionKind::FailedPrecondition, "in 2026-03");
    assert!(matches!(
        rejection,
        Rejection::PurchaseQuotaReached {
            bought: 2,
            quota: 2,
            ..
        }
    ));
    // Another reader is not held to this one's quota; the reader again next month.
    net.clone()
        .when_at(t0(), LIXIA, buy(&wang_fang(), "JN-P-3", 1000, None))
        .then_accepted();
    net.when_at(
        shanghai(2026, 4, 1, 9, 0, 0),
        LIXIA,
        buy(&reader, "JN-P-3", 1000, None),
    )
    .then_accepted();
}

#[test]
fn a_purchase_names_a_partner_bookstore_once_the_library_has_partners() {
    let net = given(network_jinan_zibo()).after(t0(), None, partner("JN-LIXIA-03", "XINHUA-01"));
    net.clone()
        .when_at(t0(), LIXIA, buy(&li_wei(), "JN-P-1", 1000, None))
        .then_rejected(Rejection::BookstoreRequired {
            library: "JN-LIXIA-03".into(),
            partners: "XINHUA-01".into(),
        });
    net.clone()
        .when_at(
            t0(),
            LIXIA,
            buy(&li_wei(), "JN-P-1", 1000, Some("SANLIAN-09")),
        )
        .then_rejected(Rejection::BookstoreNotPartner {
            library: "JN-LIXIA-03".into(),
            bookstore: "SANLIAN-09".into(),
        });
    let after = net
        .when_at(
            t0(),
            LIXIA,
            buy(&li_wei(), "JN-P-1", 1000, Some("XINHUA-01")),
        )
        .then_accepted();
    let purchase = after
        .history()
        .iter()
        .find_map(|e| match e {
            Payload::PatronDrivenPurchaseRecorded(p) => Some(p.clone()),
            _ => None,
        })
        .expect("the purchase is recorded");
    assert_eq!(purchase.bookstore, "XINHUA-01");
    assert_eq!(purchase.price_fen, 1000);
    assert_eq!(
        (purchase.budget_year, purchase.month.as_str()),
        (2026, "2026-03")
    );
}

#[test]
fn a_bookstore_is_a_partner_once() {
    given(network_jinan_zibo())
        .after(t0(), None, partner("JN-LIXIA-03", "XINHUA-01"))
        .when_at(t0(), None, partner("JN-LIXIA-03", "XINHUA-01"))
        .then_refused(RejectionKind::AlreadyExists, "XINHUA-01");
    given(network_jinan_zibo())
        .when_at(t0(), None, partner("JN-LIXIA-03", "新华 01"))
        .then_refused(RejectionKind::InvalidArgument, "bookstore:");
}

#[test]
fn a_policy_needs_a_positive_cap_and_quota() {
    let net = given(network_jinan_zibo());
    net.clone()
        .when_at(t0(), None, policy("JN-LIXIA-03", 0, 5))
        .then_refused(RejectionKind::InvalidArgument, "max_item_price_fen");
    net.when_at(t0(), None, policy("JN-LIXIA-03", 5000, 0))
        .then_refused(RejectionKind::InvalidArgument, "monthly_quota_per_reader");
}
