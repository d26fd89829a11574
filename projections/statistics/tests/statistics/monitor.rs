//! The monitoring centre, with "now" from a manual clock.

use chrono::Duration;
use readnet_domain::{Clock, Command, ManualClock};
use readnet_statistics::{LibraryMonitor, StatisticsError, monitor};

use crate::support::*;

fn library(snapshot: &readnet_statistics::MonitorSnapshot, code: &str) -> LibraryMonitor {
    snapshot
        .libraries
        .iter()
        .find(|l| l.library == code)
        .cloned()
        .unwrap_or_else(|| panic!("{code} is in the snapshot"))
}

#[test]
fn events_in_the_last_hour_roll_off_as_the_clock_moves() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-2", "", "Teahouse"));
    // Li Wei's first checkout enrols him: two events by JN-CENTRAL at t0, one more at t0+30'.
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    checkout(&mut h, t0() + minutes(30), JN_CENTRAL, "JN-2", li_wei());
    let s = fold(h.events());
    let clock = ManualClock::new(t0() + minutes(40));
    let events = |clock: &ManualClock| {
        library(&monitor(&s, None, clock.now()).unwrap(), JN_CENTRAL).events_last_hour
    };
    assert_eq!(events(&clock), 3);
    clock.set(t0() + minutes(59));
    assert_eq!(events(&clock), 3);
    clock.set(t0() + minutes(60));
    assert_eq!(events(&clock), 1, "the t0 events are an hour old");
    clock.advance(minutes(30));
    assert_eq!(events(&clock), 0);
    assert_eq!(
        library(&monitor(&s, None, clock.now()).unwrap(), JN_LIXIA).events_last_hour,
        0,
        "a library that never acted"
    );
}

#[test]
fn an_item_becomes_overdue_now_when_the_clock_passes_its_due_date() {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    // ZB-1 lent on 2 March (due at the end of 1 April), JN-1 on 10 March (due 9 April).
    checkout(&mut h, t0(), ZB_CENTRAL, "ZB-1", li_wei());
    checkout(
        &mut h,
        shanghai(2026, 3, 10, 9, 0),
        JN_CENTRAL,
        "JN-1",
        li_wei(),
    );
    let s = fold(h.events());
    let clock = ManualClock::new(shanghai(2026, 4, 1, 23, 59));
    let figures = |clock: &ManualClock, code: &str| {
        let l = library(&monitor(&s, None, clock.now()).unwrap(), code);
        (l.on_loan, l.overdue, l.owned_on_loan, l.owned_overdue)
    };
    assert_eq!(figures(&clock, ZB_CENTRAL), (1, 0, 1, 0));
    clock.set(shanghai(2026, 4, 2, 0, 0));
    assert_eq!(figures(&clock, ZB_CENTRAL), (1, 1, 1, 1));
    assert_eq!(figures(&clock, JN_CENTRAL), (1, 0, 1, 0));
    clock.set(shanghai(2026, 4, 10, 0, 0));
    assert_eq!(figures(&clock, JN_CENTRAL), (1, 1, 1, 1));
}

#[test]
fn overdue_now_follows_renewals_and_returns() {
    let mut h = network();
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Rickshaw Boy"));
    checkout(&mut h, t0(), ZB_CENTRAL, "ZB-1", li_wei());
    let after_due = shanghai(2026, 4, 2, 10, 0);
    h.run(
        after_due,
        None,
        Command::Renew {
            item: "ZB-1".into(),
            patron: li_wei(),
        },
    );
    let renewed = fold(h.events());
    let l = library(&monitor(&renewed, None, after_due).unwrap(), ZB_CENTRAL);
    assert_eq!((l.on_loan, l.overdue), (1, 0), "renewed: due in May");

    return_at(&mut h, after_due + minutes(5), JN_CENTRAL, "ZB-1");
    let returned = fold(h.events());
    let snapshot = monitor(&returned, None, after_due).unwrap();
    assert_eq!(
        (
            library(&snapshot, ZB_CENTRAL).owned_on_loan,
            library(&snapshot, ZB_CENTRAL).on_loan
        ),
        (0, 0)
    );
}

#[test]
fn last_activity_is_the_latest_occurred_at_and_the_latest_recorded_at() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_LIXIA, book("LX-1", "", "Cat Country"));
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    // The branch lends at t0+60'; then an offline kiosk there syncs a return three hours after
    // it happened, at t0+10'.
    let lent = t0() + minutes(60);
    checkout(&mut h, lent, JN_LIXIA, "LX-1", zhao_lei());
    let happened = t0() + minutes(10);
    let recorded = t0() + minutes(190);
    h.try_run_recorded_at(
        happened,
        recorded,
        Some(JN_LIXIA),
        Command::Return {
            item: "JN-1".into(),
        },
    )
    .unwrap();
    let s = fold(h.events());
    let snapshot = monitor(&s, Some(JN_LIXIA), recorded).unwrap();
    assert_eq!(snapshot.libraries.len(), 1);
    let branch = &snapshot.libraries[0];
    assert_eq!(
        (branch.last_occurred_at, branch.last_recorded_at),
        (Some(lent), Some(recorded)),
        "the late sync is the latest recorded, but the branch last acted at t0+60'"
    );
    assert_eq!(
        branch.events_last_hour, 0,
        "it all happened more than an hour before now"
    );
    let central = library(&monitor(&s, None, recorded).unwrap(), JN_CENTRAL);
    assert_eq!(central.last_occurred_at, Some(t0()));
    let booth = library(&monitor(&s, None, recorded).unwrap(), ZB_BOOTH);
    assert_eq!(
        (booth.last_occurred_at, booth.last_recorded_at),
        (None, None)
    );
}

#[test]
fn a_monitor_of_an_unknown_library_is_not_found() {
    let s = fold(network().events());
    assert_eq!(
        monitor(&s, Some("QD-CENTRAL"), t0()),
        Err(StatisticsError::NotFound(
            "library: QD-CENTRAL is not registered".into()
        ))
    );
    assert_eq!(
        monitor(&s, None, t0()).unwrap().libraries.len(),
        LIBRARIES.len()
    );
}

#[test]
fn the_monitor_shows_todays_loans_returns_footfall_and_items_in_transit() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-2", "", "Camel Xiangzi"));
    checkout(&mut h, t0() + minutes(10), JN_CENTRAL, "JN-1", li_wei());
    return_at(&mut h, t0() + minutes(20), JN_CENTRAL, "JN-1");
    checkout(&mut h, t0() + minutes(30), JN_CENTRAL, "JN-1", wang_fang());
    h.run(
        t0() + minutes(40),
        Some(JN_CENTRAL),
        Command::DispatchTransfer {
            item: "JN-2".into(),
            to_library: JN_LIXIA.into(),
            reason: readnet_domain::pb::TransferReason::Rebalance,
        },
    );
    // The gate of JN-LIXIA counts two quarters of an hour.
    for (start, visits) in [(0, 12), (15, 30)] {
        h.run(
            t0() + minutes(45),
            Some(JN_LIXIA),
            Command::ReportFootfall {
                gate: "main".into(),
                from: t0() + minutes(start),
                to: t0() + minutes(start + 15),
                visits,
            },
        );
    }
    let s = fold(h.events());
    let now = t0() + minutes(50);
    let snapshot = monitor(&s, None, now).unwrap();
    let central = library(&snapshot, JN_CENTRAL);
    assert_eq!(
        (central.loans_today, central.returns_today, central.on_loan),
        (2, 1, 1)
    );
    assert_eq!(central.today, "2026-03-02");
    let lixia = library(&snapshot, JN_LIXIA);
    assert_eq!((lixia.visits_today, lixia.in_transit), (42, 1));
    assert_eq!(lixia.parent, JN_CENTRAL);
    // The day's row keeps the visits, and loans by local hour (10:10 and 10:30).
    let figures = row(
        &s,
        JN_LIXIA,
        "2026-03-02",
        readnet_statistics::By::TransactionLibrary,
    );
    assert_eq!(figures.counters.visits, 42);
    let lent = row(
        &s,
        JN_CENTRAL,
        "2026-03-02",
        readnet_statistics::By::TransactionLibrary,
    );
    assert_eq!(lent.counters.loans_by_hour.0[10], 2);
    assert_eq!(lent.counters.loans_by_hour.0.iter().sum::<u64>(), 2);
    // Received: no longer in transit. The next day starts with no loans today.
    h.run(
        t0() + minutes(55),
        Some(JN_LIXIA),
        Command::ReceiveTransfer {
            item: "JN-2".into(),
        },
    );
    let s = fold(h.events());
    let tomorrow = monitor(&s, None, t0() + Duration::days(1)).unwrap();
    assert_eq!(library(&tomorrow, JN_LIXIA).in_transit, 0);
    assert_eq!(library(&tomorrow, JN_CENTRAL).loans_today, 0);
    // JN-CENTRAL acted every ten minutes: that is its rhythm.
    assert_eq!(library(&tomorrow, JN_CENTRAL).usual_gap_seconds, Some(600));
}
