//! Acquisition budgets and digital loans in the statistics (ADR 0019): the budget, the
//! patron-driven share and what was spent per library and city; digital loans beside physical
//! ones.

use readnet_domain::pb::EResourceKind;
use readnet_domain::{Command, Fen, NewBook};
use readnet_statistics::By::{OwningLibrary, TransactionLibrary};
use readnet_statistics::query::{BudgetScope, acquisition_budgets};

use crate::support::*;

fn bought(h: &mut readnet_ledger::history::History, item: &str, price_fen: i64) {
    h.run(
        t0(),
        Some(JN_LIXIA),
        Command::PatronDrivenAcquisition {
            patron: li_wei(),
            book: NewBook {
                price_fen: Some(Fen(price_fen)),
                ..book(item, "", item)
            },
            bookstore: None,
        },
    );
}

#[test]
fn a_years_budget_share_spend_and_remainder_per_library_and_city() {
    let mut h = network();
    h.run(
        t0(),
        None,
        Command::SetAcquisitionBudget {
            library: JN_LIXIA.into(),
            year: 2026,
            budget_fen: Fen(100_000),
            patron_driven_share_bp: Some(2500),
        },
    );
    bought(&mut h, "PD-1", 3900);
    bought(&mut h, "PD-2", 6100);
    // An ordinary purchase (4500 fen) at the central library, which has no budget.
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    let s = fold(h.events());

    let (libraries, cities, total) =
        acquisition_budgets(&s, 2026, BudgetScope::City("jinan")).unwrap();
    let by_library: Vec<_> = libraries
        .iter()
        .map(|b| {
            (
                b.library.as_str(),
                b.budget_set,
                b.budget_fen,
                b.patron_driven_share_fen,
                b.patron_driven_spent_fen,
                b.patron_driven_remaining_fen(),
                b.patron_driven_books,
                b.purchases_spent_fen,
                b.remaining_fen(),
            )
        })
        .collect();
    assert_eq!(
        by_library,
        [
            (JN_CENTRAL, false, 0, 0, 0, 0, 0, 4500, -4500),
            (
                JN_LIXIA, true, 100_000, 25_000, 10_000, 15_000, 2, 0, 90_000
            ),
        ]
    );
    assert_eq!(cities.len(), 1);
    assert_eq!(
        (
            cities[0].city.as_str(),
            cities[0].spent_fen(),
            cities[0].budget_fen
        ),
        ("jinan", 14_500, 100_000)
    );
    assert_eq!(total.spent_fen(), 14_500);
    // Another year has nothing; an unknown city is NOT_FOUND.
    assert!(
        acquisition_budgets(&s, 2027, BudgetScope::Network)
            .unwrap()
            .0
            .is_empty()
    );
    assert!(acquisition_budgets(&s, 2026, BudgetScope::City("harbin")).is_err());
    // The days count what patron-driven books cost.
    let r = row(&s, JN_LIXIA, &day(t0()), TransactionLibrary);
    assert_eq!(r.counters.patron_driven_spent_fen, 10_000);
}

#[test]
fn digital_loans_count_beside_physical_ones_cross_city_by_the_owners_city() {
    let mut h = network();
    h.run(
        t0(),
        None,
        Command::LicenseEResource {
            resource: "EB-1".into(),
            title: "Camel Xiangzi".into(),
            kind: EResourceKind::Ebook,
            owner_library: Some(JN_CENTRAL.into()),
            shared: true,
            licences: 5,
            loan_days: 14,
        },
    );
    for (library, patron) in [(JN_CENTRAL, li_wei()), (ZB_CENTRAL, wang_fang())] {
        h.run(
            t0(),
            Some(library),
            Command::BorrowDigital {
                resource: "EB-1".into(),
                patron,
            },
        );
    }
    let s = fold(h.events());
    let jinan = row(&s, JN_CENTRAL, &day(t0()), TransactionLibrary);
    let zibo = row(&s, ZB_CENTRAL, &day(t0()), TransactionLibrary);
    assert_eq!(
        (
            jinan.counters.digital_loans,
            jinan.counters.cross_city_digital_loans
        ),
        (1, 0)
    );
    assert_eq!(
        (
            zibo.counters.digital_loans,
            zibo.counters.cross_city_digital_loans
        ),
        (1, 1)
    );
    assert_eq!((jinan.counters.loans, zibo.counters.loans), (0, 0));
    let owner = row(&s, JN_CENTRAL, &day(t0()), OwningLibrary);
    assert_eq!(
        (
            owner.counters.digital_loans,
            owner.counters.cross_city_digital_loans
        ),
        (2, 1)
    );
}
