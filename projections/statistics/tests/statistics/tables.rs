//! The whole tables the exports write hold the same figures as the bounded queries.

use readnet_domain::pb::TransferReason;
use readnet_domain::{Command, HoldTarget};
use readnet_statistics::table::{
    city_day_rows, flow_rows, hold_day_rows, library_day_rows, network_day_rows, title_month_rows,
};
use readnet_statistics::{
    By, DayRange, HoldScope, city_days, flow_matrix, hold_statistics, library_days, network_days,
    top_titles,
};

use crate::support::*;

const ISBN: &str = "9787020002207";

#[test]
fn whole_tables_equal_the_queries_row_for_row() {
    let mut h = network();
    for (item, owner) in [
        ("JN-1", JN_CENTRAL),
        ("JN-2", JN_LIXIA),
        ("ZB-1", ZB_CENTRAL),
    ] {
        catalogue(&mut h, t0(), owner, book(item, "", item));
    }
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    checkout(&mut h, t0() + minutes(5), JN_LIXIA, "JN-2", wang_fang());
    checkout(&mut h, t0() + minutes(6), ZB_CENTRAL, "ZB-1", zhao_lei());
    // Li Wei's hold at JN-CENTRAL, picked up an hour after it was placed.
    catalogue(&mut h, t0(), JN_CENTRAL, book("H-1", ISBN, "Teahouse"));
    h.run(
        t0() + minutes(10),
        None,
        Command::PlaceHold {
            patron: li_wei(),
            target: HoldTarget::Title {
                isbn: ISBN.into(),
                title: String::new(),
                author: String::new(),
            },
            pickup_library: JN_CENTRAL.into(),
        },
    );
    checkout(&mut h, t0() + minutes(70), JN_CENTRAL, "H-1", li_wei());
    // A day later: returns in another library and another city.
    return_at(&mut h, t0() + minutes(24 * 60), JN_LIXIA, "JN-1");
    return_at(&mut h, t0() + minutes(24 * 60 + 1), JN_CENTRAL, "ZB-1");
    transfer(
        &mut h,
        t0() + minutes(24 * 60 + 2),
        JN_CENTRAL,
        ZB_CENTRAL,
        "ZB-1",
        TransferReason::Repatriation,
    );
    let state = fold(h.events());
    let march = DayRange::parse("2026-03-01", "2026-03-31").unwrap();

    for by in [By::TransactionLibrary, By::OwningLibrary] {
        let rows = library_day_rows(&state, by);
        assert!(rows.len() >= 4, "{rows:?}");
        for library in [JN_CENTRAL, JN_LIXIA, ZB_CENTRAL, ZB_BOOTH, UR_CENTRAL] {
            let table: Vec<_> = rows
                .iter()
                .filter(|r| r.library == library)
                .map(|r| r.figures.clone())
                .collect();
            assert_eq!(table, library_days(&state, library, &march, by).unwrap());
        }
        let cities = city_day_rows(&state, by);
        for city in ["jinan", "zibo", "urumqi"] {
            let table: Vec<_> = cities
                .iter()
                .filter(|(c, _)| c == city)
                .map(|(_, f)| f.clone())
                .collect();
            assert_eq!(table, city_days(&state, city, &march, by).unwrap());
        }
        assert_eq!(
            network_day_rows(&state, by),
            network_days(&state, &march, by)
        );
    }
    let loans: u64 = library_day_rows(&state, By::TransactionLibrary)
        .iter()
        .map(|r| r.figures.counters.loans)
        .sum();
    assert_eq!(loans, 4);

    let flows = flow_rows(&state);
    assert!(!flows.is_empty());
    assert!(flows.iter().all(|(month, _)| month == "2026-03"));
    let cells: Vec<_> = flows.into_iter().map(|(_, cell)| cell).collect();
    assert_eq!(cells, flow_matrix(&state, "2026-03"));

    let titles = title_month_rows(&state);
    for city in ["jinan", "zibo"] {
        let table: Vec<_> = titles
            .iter()
            .filter(|r| r.city == city && r.month == "2026-03")
            .map(|r| r.title.clone())
            .collect();
        assert_eq!(table, top_titles(&state, city, "2026-03", 100).unwrap());
    }
    assert_eq!(
        titles.iter().map(|r| r.rank).collect::<Vec<_>>(),
        [1, 2, 3, 1],
        "ranked within each city and month"
    );

    // Holds: every day's row adds up to what the query sums over the month.
    let holds = hold_day_rows(&state);
    for library in [JN_CENTRAL, ZB_CENTRAL] {
        let figures = hold_statistics(&state, HoldScope::Library(library), &march).unwrap();
        let placed: u64 = holds
            .iter()
            .filter(|r| r.library == library)
            .map(|r| r.figures.placed)
            .sum();
        assert_eq!(placed, figures.placed);
    }
    let jn: Vec<_> = holds.iter().filter(|r| r.library == JN_CENTRAL).collect();
    assert_eq!(jn.len(), 1, "{holds:?}");
    assert_eq!(
        (
            jn[0].figures.placed,
            jn[0].figures.filled,
            jn[0].fill_minutes_total
        ),
        (1, 1, 60)
    );
    assert_eq!(jn[0].figures.fill_minutes_median, Some(60));
}
