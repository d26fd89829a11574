//! Local days, day ranges, and city and network rows.

use chrono::{TimeZone, Utc};
use readnet_statistics::By::{OwningLibrary, TransactionLibrary};
use readnet_statistics::{DayRange, StatisticsError, city_days, library_days, network_days};

use crate::support::*;

#[test]
fn an_event_at_23_30_in_shanghai_counts_on_that_local_day() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-2", "", "Teahouse"));
    // 15:30 UTC is 23:30 on 20 March in Shanghai; 16:30 UTC is already 21 March there.
    checkout(
        &mut h,
        Utc.with_ymd_and_hms(2026, 3, 20, 15, 30, 0).unwrap(),
        JN_CENTRAL,
        "JN-1",
        li_wei(),
    );
    checkout(
        &mut h,
        Utc.with_ymd_and_hms(2026, 3, 20, 16, 30, 0).unwrap(),
        JN_CENTRAL,
        "JN-2",
        li_wei(),
    );
    let s = fold(h.events());
    let range = DayRange::parse("2026-03-19", "2026-03-22").unwrap();
    let days: Vec<_> = library_days(&s, JN_CENTRAL, &range, TransactionLibrary)
        .unwrap()
        .into_iter()
        .map(|r| (r.day, r.counters.loans))
        .collect();
    assert_eq!(
        days,
        [("2026-03-20".to_owned(), 1), ("2026-03-21".to_owned(), 1)]
    );
}

#[test]
fn each_library_counts_in_its_own_citys_time_zone() {
    let mut h = network();
    catalogue(&mut h, t0(), UR_CENTRAL, book("UR-1", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    // 17:30 UTC on 20 March: 23:30 in Urumqi, already 01:30 on the 21st in Jinan.
    let at = Utc.with_ymd_and_hms(2026, 3, 20, 17, 30, 0).unwrap();
    checkout(&mut h, at, UR_CENTRAL, "UR-1", li_wei());
    checkout(&mut h, at, JN_CENTRAL, "JN-1", zhao_lei());
    let s = fold(h.events());
    assert_eq!(
        row(&s, UR_CENTRAL, "2026-03-20", TransactionLibrary)
            .counters
            .loans,
        1
    );
    assert_eq!(
        row(&s, JN_CENTRAL, "2026-03-21", TransactionLibrary)
            .counters
            .loans,
        1
    );
    // The network's 20 March and 21 March each hold one library's local day.
    let range = DayRange::parse("2026-03-20", "2026-03-21").unwrap();
    let network: Vec<_> = network_days(&s, &range, TransactionLibrary)
        .into_iter()
        .map(|r| (r.day, r.counters.loans))
        .collect();
    assert_eq!(
        network,
        [("2026-03-20".to_owned(), 1), ("2026-03-21".to_owned(), 1)]
    );
}

#[test]
fn a_city_row_sums_its_libraries_and_counts_a_patron_active_at_two_of_them_once() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    catalogue(&mut h, t0(), JN_LIXIA, book("JN-2", "", "Teahouse"));
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-1", "", "Teahouse"));
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    checkout(&mut h, t0(), JN_LIXIA, "JN-2", li_wei());
    checkout(&mut h, t0(), ZB_CENTRAL, "ZB-1", wang_fang());
    let s = fold(h.events());
    let today = day(t0());
    let range = DayRange::parse(&today, &today).unwrap();
    for by in [TransactionLibrary, OwningLibrary] {
        let jinan = city_days(&s, "jinan", &range, by).unwrap();
        assert_eq!(jinan.len(), 1);
        let jinan = &jinan[0];
        assert_eq!(
            (
                jinan.counters.loans,
                jinan.counters.enrolments,
                jinan.on_loan_at_day_end,
                jinan.active_patrons
            ),
            (2, 1, 2, 1),
            "{by:?}"
        );
        let network = &network_days(&s, &range, by)[0];
        assert_eq!(
            (
                network.counters.loans,
                network.counters.enrolments,
                network.active_patrons
            ),
            (3, 2, 2),
            "{by:?}"
        );
    }
}

#[test]
fn bad_day_ranges_are_refused_naming_the_field() {
    let invalid = |from: &str, to: &str| match DayRange::parse(from, to) {
        Err(StatisticsError::InvalidArgument(message)) => message,
        other => panic!("{from}..{to}: {other:?}"),
    };
    assert!(invalid("2026-3-1", "2026-03-02").starts_with("from_day:"));
    assert!(invalid("2026-03-01", "2026-02-30").starts_with("to_day:"));
    assert!(invalid("2026-03-02", "2026-03-01").contains("before from_day"));
    assert!(invalid("2026-01-01", "2027-01-02").contains("at most 366"));
    assert!(DayRange::parse("2026-01-01", "2027-01-01").is_ok());
}

#[test]
fn unknown_libraries_and_cities_are_not_found_naming_the_field() {
    let s = fold(network().events());
    let range = DayRange::parse("2026-03-01", "2026-03-01").unwrap();
    assert_eq!(
        library_days(&s, "QD-CENTRAL", &range, TransactionLibrary),
        Err(StatisticsError::NotFound(
            "library: QD-CENTRAL is not registered".into()
        ))
    );
    assert!(matches!(
        city_days(&s, "qingdao", &range, TransactionLibrary),
        Err(StatisticsError::NotFound(m)) if m.starts_with("city:")
    ));
}
