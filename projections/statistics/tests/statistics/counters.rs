//! Each counter of a library-day, by transaction library and by owning library.

use readnet_domain::pb::TransferReason;
use readnet_domain::{Command, Fen, NewBook};
use readnet_statistics::By::{OwningLibrary, TransactionLibrary};
use readnet_statistics::Counters;

use crate::support::*;

#[test]
fn a_cross_city_loan_counts_at_the_lending_library_by_transaction_and_at_the_owner_by_owning_library()
 {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    // Zibo sends the book to Jinan (a rebalance: a hold leg needs a hold, ADR 0013); Li Wei (a
    // Jinan card) borrows it there.
    transfer(
        &mut h,
        t0(),
        ZB_CENTRAL,
        JN_CENTRAL,
        "ZB-1",
        TransferReason::Rebalance,
    );
    checkout(&mut h, t0() + minutes(120), JN_CENTRAL, "ZB-1", li_wei());
    let s = fold(h.events());
    let today = day(t0());

    let lender = row(&s, JN_CENTRAL, &today, TransactionLibrary);
    assert_eq!(
        (lender.counters.loans, lender.counters.cross_city_loans),
        (1, 1)
    );
    assert_eq!(
        row(&s, ZB_CENTRAL, &today, TransactionLibrary)
            .counters
            .loans,
        0
    );

    let owner = row(&s, ZB_CENTRAL, &today, OwningLibrary);
    assert_eq!(
        (owner.counters.loans, owner.counters.cross_city_loans),
        (1, 1)
    );
    assert_eq!(row(&s, JN_CENTRAL, &today, OwningLibrary).counters.loans, 0);
}

#[test]
fn a_loan_to_a_patron_of_the_owners_city_is_not_cross_city() {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    checkout(&mut h, t0(), ZB_CENTRAL, "ZB-1", wang_fang());
    let s = fold(h.events());
    let r = row(&s, ZB_CENTRAL, &day(t0()), TransactionLibrary);
    assert_eq!((r.counters.loans, r.counters.cross_city_loans), (1, 0));
}

#[test]
fn returns_of_other_libraries_items_count_at_the_returning_library_and_for_the_owner() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_LIXIA, book("JN-2", "", "Camel Xiangzi"));
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    checkout(&mut h, t0(), JN_LIXIA, "JN-2", li_wei());
    // JN-1 comes back to a branch, JN-2 to its own library.
    return_at(&mut h, t0() + minutes(60), JN_LIXIA, "JN-1");
    return_at(&mut h, t0() + minutes(60), JN_LIXIA, "JN-2");
    let s = fold(h.events());
    let today = day(t0());

    let branch = row(&s, JN_LIXIA, &today, TransactionLibrary).counters;
    assert_eq!(
        (
            branch.returns,
            branch.returns_of_other_libraries_items,
            branch.cross_city_returns
        ),
        (2, 1, 0)
    );
    let central_owner = row(&s, JN_CENTRAL, &today, OwningLibrary).counters;
    assert_eq!(
        (
            central_owner.returns,
            central_owner.returns_of_other_libraries_items
        ),
        (1, 1)
    );
    let branch_owner = row(&s, JN_LIXIA, &today, OwningLibrary).counters;
    assert_eq!(
        (
            branch_owner.returns,
            branch_owner.returns_of_other_libraries_items
        ),
        (1, 0)
    );
    assert_eq!(
        row(&s, JN_CENTRAL, &today, TransactionLibrary)
            .counters
            .returns,
        0,
        "nothing was returned at JN-CENTRAL"
    );
}

#[test]
fn a_return_in_another_city_is_a_cross_city_return_for_both_libraries() {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    checkout(&mut h, t0(), ZB_CENTRAL, "ZB-1", li_wei());
    return_at(&mut h, t0() + minutes(30), JN_LIXIA, "ZB-1");
    let s = fold(h.events());
    let today = day(t0());
    for (library, by) in [(JN_LIXIA, TransactionLibrary), (ZB_CENTRAL, OwningLibrary)] {
        let c = row(&s, library, &today, by).counters;
        assert_eq!(
            (
                c.returns,
                c.cross_city_returns,
                c.returns_of_other_libraries_items
            ),
            (1, 1, 1),
            "{library} {by:?}"
        );
    }
}

#[test]
fn renewals_count_where_renewed_or_at_the_lender_when_renewed_in_the_app() {
    // A renewal moves the due date, so the two are a day apart (one the same day as the other
    // would change nothing and is refused).
    let mut h = network();
    let lent_at = t0() - minutes(60);
    let tomorrow_at = t0() + chrono::Duration::days(1);
    catalogue(&mut h, lent_at, JN_CENTRAL, book("JN-1", "", "Teahouse"));
    checkout(&mut h, lent_at, JN_CENTRAL, "JN-1", li_wei());
    let renew = || Command::Renew {
        item: "JN-1".into(),
        patron: li_wei(),
    };
    h.run(tomorrow_at, Some(JN_LIXIA), renew());
    h.run(tomorrow_at + chrono::Duration::days(1), None, renew());
    let s = fold(h.events());
    let (first, second) = (
        day(tomorrow_at),
        day(tomorrow_at + chrono::Duration::days(1)),
    );
    assert_eq!(
        row(&s, JN_LIXIA, &first, TransactionLibrary)
            .counters
            .renewals,
        1
    );
    assert_eq!(
        row(&s, JN_CENTRAL, &second, TransactionLibrary)
            .counters
            .renewals,
        1,
        "the app renewal counts at the lender"
    );
    assert_eq!(
        row(&s, JN_CENTRAL, &first, OwningLibrary).counters.renewals
            + row(&s, JN_CENTRAL, &second, OwningLibrary)
                .counters
                .renewals,
        2
    );
}

#[test]
fn transfers_count_out_at_the_dispatcher_in_at_the_receiver_and_both_for_the_owner() {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    transfer(
        &mut h,
        t0(),
        ZB_CENTRAL,
        JN_CENTRAL,
        "ZB-1",
        TransferReason::Rebalance,
    );
    transfer(
        &mut h,
        t0() + minutes(180),
        JN_CENTRAL,
        JN_LIXIA,
        "ZB-1",
        TransferReason::Rebalance,
    );
    let s = fold(h.events());
    let today = day(t0());
    let counts = |library, by| {
        let c = row(&s, library, &today, by).counters;
        (c.transfers_out, c.transfers_in)
    };
    assert_eq!(counts(ZB_CENTRAL, TransactionLibrary), (1, 0));
    assert_eq!(counts(JN_CENTRAL, TransactionLibrary), (1, 1));
    assert_eq!(counts(JN_LIXIA, TransactionLibrary), (0, 1));
    assert_eq!(counts(ZB_CENTRAL, OwningLibrary), (2, 2));
    assert_eq!(counts(JN_CENTRAL, OwningLibrary), (0, 0));
}

#[test]
fn a_booth_swap_counts_at_the_booth_and_for_the_owner_of_the_book_taken() {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    transfer(
        &mut h,
        t0(),
        ZB_CENTRAL,
        ZB_BOOTH,
        "ZB-1",
        TransferReason::Rebalance,
    );
    h.run(
        t0() + minutes(120),
        Some(ZB_BOOTH),
        Command::BoothSwap {
            take_item: "ZB-1".into(),
            patron: wang_fang(),
            deposit: book("DEP-1", "", "Four Generations"),
        },
    );
    let s = fold(h.events());
    let today = day(t0());
    let booth = row(&s, ZB_BOOTH, &today, TransactionLibrary);
    assert_eq!((booth.counters.booth_swaps, booth.active_patrons), (1, 1));
    assert_eq!(
        row(&s, ZB_CENTRAL, &today, OwningLibrary)
            .counters
            .booth_swaps,
        1
    );
    assert_eq!(
        row(&s, ZB_BOOTH, &today, OwningLibrary)
            .counters
            .booth_swaps,
        0,
        "the booth owns the deposit, not the book taken"
    );
    assert_eq!(
        row(&s, ZB_BOOTH, &today, TransactionLibrary)
            .counters
            .enrolments,
        1,
        "Wang Fang's first use of her card was the swap"
    );
}

#[test]
fn a_patron_driven_acquisition_counts_an_acquisition_and_a_loan() {
    let mut h = network();
    h.run(
        t0(),
        Some(JN_LIXIA),
        Command::PatronDrivenAcquisition {
            bookstore: None,
            patron: li_wei(),
            book: NewBook {
                price_fen: Some(Fen(3900)),
                ..book("PD-1", "978-7-02-000001-2", "Cat Country")
            },
        },
    );
    let s = fold(h.events());
    for by in [TransactionLibrary, OwningLibrary] {
        let r = row(&s, JN_LIXIA, &day(t0()), by);
        assert_eq!(
            r.counters,
            Counters {
                loans: 1,
                patron_driven_acquisitions: 1,
                patron_driven_spent_fen: 3900,
                enrolments: 1,
                loans_by_hour: lent_at_hour(10),
                ..Counters::default()
            },
            "{by:?}"
        );
        assert_eq!((r.active_patrons, r.on_loan_at_day_end), (1, 1));
    }
}

#[test]
fn a_patron_is_enrolled_once_at_the_library_of_the_first_checkout() {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    checkout(&mut h, t0(), ZB_CENTRAL, "ZB-1", li_wei());
    checkout(&mut h, t0() + minutes(60), JN_CENTRAL, "JN-1", li_wei());
    let s = fold(h.events());
    let today = day(t0());
    for by in [TransactionLibrary, OwningLibrary] {
        assert_eq!(
            row(&s, ZB_CENTRAL, &today, by).counters.enrolments,
            1,
            "{by:?}"
        );
        assert_eq!(
            row(&s, JN_CENTRAL, &today, by).counters.enrolments,
            0,
            "{by:?}"
        );
    }
}

#[test]
fn active_patrons_are_distinct_per_library_and_day() {
    let mut h = network();
    for n in 1..=3 {
        catalogue(
            &mut h,
            t0(),
            JN_CENTRAL,
            book(&format!("JN-{n}"), "", "Teahouse"),
        );
    }
    // Li Wei borrows twice and returns once; Zhao Lei borrows once: two patrons.
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    checkout(&mut h, t0(), JN_CENTRAL, "JN-2", li_wei());
    checkout(&mut h, t0() + minutes(10), JN_CENTRAL, "JN-3", zhao_lei());
    return_at(&mut h, t0() + minutes(20), JN_CENTRAL, "JN-1");
    // Next day, only Li Wei returns.
    return_at(&mut h, t0() + minutes(24 * 60), JN_CENTRAL, "JN-2");
    let s = fold(h.events());
    let first = row(&s, JN_CENTRAL, &day(t0()), TransactionLibrary);
    assert_eq!((first.counters.loans, first.active_patrons), (3, 2));
    let second = row(
        &s,
        JN_CENTRAL,
        &day(t0() + minutes(24 * 60)),
        TransactionLibrary,
    );
    assert_eq!((second.counters.returns, second.active_patrons), (1, 1));
}

#[test]
fn items_on_loan_and_overdue_at_day_end_are_those_of_the_library_after_its_last_change() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-2", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-3", "", "Teahouse"));
    // Lent on 2 March, due at the end of 1 April.
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    checkout(&mut h, t0(), JN_CENTRAL, "JN-2", zhao_lei());
    let s = fold(h.events());
    let lent = row(&s, JN_CENTRAL, "2026-03-02", TransactionLibrary);
    assert_eq!((lent.on_loan_at_day_end, lent.overdue_at_day_end), (2, 0));

    // On its due day a loan is not yet overdue at day end.
    checkout(
        &mut h,
        shanghai(2026, 4, 1, 9, 0),
        JN_CENTRAL,
        "JN-3",
        wang_fang(),
    );
    let s = fold(h.events());
    let due_day = row(&s, JN_CENTRAL, "2026-04-01", TransactionLibrary);
    assert_eq!(
        (due_day.on_loan_at_day_end, due_day.overdue_at_day_end),
        (3, 0)
    );

    // The next day both March loans are overdue; JN-2 comes back, leaving JN-1.
    return_at(&mut h, shanghai(2026, 4, 2, 9, 0), JN_LIXIA, "JN-2");
    let s = fold(h.events());
    let after = row(&s, JN_CENTRAL, "2026-04-02", TransactionLibrary);
    assert_eq!(after.counters.returns, 0, "returned at the branch");
    assert_eq!((after.on_loan_at_day_end, after.overdue_at_day_end), (2, 1));
    let owner = row(&s, JN_CENTRAL, "2026-04-02", OwningLibrary);
    assert_eq!((owner.on_loan_at_day_end, owner.overdue_at_day_end), (2, 1));
    let branch = row(&s, JN_LIXIA, "2026-04-02", TransactionLibrary);
    assert_eq!(
        (branch.on_loan_at_day_end, branch.overdue_at_day_end),
        (0, 0),
        "the branch lent nothing"
    );
}

#[test]
fn an_item_declared_lost_is_no_longer_on_loan() {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    checkout(&mut h, t0(), ZB_CENTRAL, "ZB-1", li_wei());
    h.run(
        shanghai(2026, 5, 10, 9, 0),
        Some(ZB_CENTRAL),
        Command::DeclareLost {
            item: "ZB-1".into(),
        },
    );
    let s = fold(h.events());
    for by in [TransactionLibrary, OwningLibrary] {
        let r = row(&s, ZB_CENTRAL, "2026-05-10", by);
        assert_eq!(
            (r.on_loan_at_day_end, r.overdue_at_day_end, r.counters),
            (0, 0, Counters::default()),
            "{by:?}"
        );
    }
}

/// One loan, in the local hour `hour`.
fn lent_at_hour(hour: usize) -> readnet_statistics::Hours {
    let mut hours = readnet_statistics::Hours::default();
    hours.0[hour] = 1;
    hours
}
