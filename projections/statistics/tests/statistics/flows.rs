//! The monthly return-flow matrix and the top titles.

use chrono::{TimeZone, Utc};
use readnet_availability::Availability;
use readnet_domain::pb::TransferReason;
use readnet_ledger::history::History;
use readnet_projection::Projection;
use readnet_statistics::{FlowCell, StatisticsError, flow_matrix, top_titles};

use crate::support::*;

fn cell(owner_city: &str, return_city: &str, returns: u64) -> FlowCell {
    FlowCell {
        owner_city: owner_city.into(),
        return_city: return_city.into(),
        returns,
    }
}

#[test]
fn the_flow_matrix_counts_returns_from_owner_city_to_return_city_by_shanghai_month() {
    let mut h = network();
    for item in ["ZB-1", "ZB-2", "ZB-3"] {
        catalogue(&mut h, t0(), ZB_CENTRAL, book(item, "", "Rickshaw Boy"));
        checkout(&mut h, t0(), ZB_CENTRAL, item, li_wei());
    }
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", "", "Teahouse"));
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    return_at(&mut h, t0() + minutes(60), JN_LIXIA, "ZB-1");
    return_at(&mut h, t0() + minutes(60), ZB_CENTRAL, "ZB-2");
    return_at(&mut h, t0() + minutes(60), JN_LIXIA, "JN-1");
    // 16:30 UTC on 31 March is 00:30 on 1 April in Shanghai: an April return.
    return_at(
        &mut h,
        Utc.with_ymd_and_hms(2026, 3, 31, 16, 30, 0).unwrap(),
        UR_CENTRAL,
        "ZB-3",
    );
    let s = fold(h.events());
    assert_eq!(
        flow_matrix(&s, "2026-03"),
        [
            cell("jinan", "jinan", 1),
            cell("zibo", "jinan", 1),
            cell("zibo", "zibo", 1),
        ]
    );
    assert_eq!(flow_matrix(&s, "2026-04"), [cell("zibo", "urumqi", 1)]);
    assert_eq!(flow_matrix(&s, "2026-05"), []);
}

/// Lends each `(item, isbn, title)` once at JN-CENTRAL (and JN-LIXIA for items starting "L").
fn lend_titles(books: &[(&str, &str, &str)]) -> History {
    let mut h = network();
    for (n, (item, isbn, title)) in books.iter().enumerate() {
        let library = if item.starts_with('L') {
            JN_LIXIA
        } else {
            JN_CENTRAL
        };
        catalogue(&mut h, t0(), library, book(item, isbn, title));
        // A different patron each time keeps everyone below the loan limit.
        let patron = readnet_ledger::history::card("jinan", &format!("37010219900101{n:04}"));
        checkout(&mut h, t0() + minutes(n as i64), library, item, patron);
    }
    h
}

#[test]
fn top_titles_rank_by_loans_and_break_ties_by_title_key() {
    let h = lend_titles(&[
        // Two copies of one ISBN, written two ways, one lent at the branch: 2 loans.
        ("A-1", "978-7-5063-0001-8", "Teahouse"),
        ("L-2", "9787506300018", "Teahouse (2nd printing)"),
        // Two titles without ISBN, keyed by title and author (normalised): 2 loans and 1 loan.
        ("B-1", "", "Rickshaw Boy"),
        ("B-2", "", "Rickshaw Boy"),
        ("C-1", "", "Cat Country"),
        // Another ISBN with 2 loans: ties with the first, and "isbn:..." keys sort before
        // "text:..." keys.
        ("D-1", "9787020000012", "Four Generations"),
        ("D-2", "9787020000012", "Four Generations"),
    ]);
    let s = fold(h.events());
    let ranked: Vec<_> = top_titles(&s, "jinan", "2026-03", 0)
        .unwrap()
        .into_iter()
        .map(|t| (t.title_key, t.title, t.loans))
        .collect();
    assert_eq!(
        ranked,
        [
            (
                "isbn:9787020000012".to_owned(),
                "Four Generations".to_owned(),
                2
            ),
            ("isbn:9787506300018".to_owned(), "Teahouse".to_owned(), 2),
            (
                r#"text:["rickshaw boy","lao she"]"#.to_owned(),
                "Rickshaw Boy".to_owned(),
                2
            ),
            (
                r#"text:["cat country","lao she"]"#.to_owned(),
                "Cat Country".to_owned(),
                1
            ),
        ]
    );
    let top_two: Vec<_> = top_titles(&s, "jinan", "2026-03", 2)
        .unwrap()
        .into_iter()
        .map(|t| t.title_key)
        .collect();
    assert_eq!(top_two, ["isbn:9787020000012", "isbn:9787506300018"]);
    // Folding the same history again ranks the same way.
    assert_eq!(
        top_titles(&fold(h.events()), "jinan", "2026-03", 0),
        top_titles(&s, "jinan", "2026-03", 0)
    );
}

#[test]
fn top_titles_use_availabilitys_title_keys() {
    // 《三体》 by its ISBN-10, its ISBN-13 with an "ISBN" label and hyphens, full width, and
    // bare; a title without ISBN written in two widths and cases.
    let books = [
        ("A-1", "7-5366-9293-5", "三体"),
        ("A-2", "ISBN 978-7-5366-9293-0", "三体"),
        (
            "A-3",
            "ＩＳＢＮ　９７８－７－５３６６－９２９３－０",
            "三体",
        ),
        ("A-4", "9787536692930", "三体"),
        ("B-1", "", "Rickshaw Boy"),
        ("B-2", "", "ＲＩＣＫＳＨＡＷ  boy"),
    ];
    let h = lend_titles(&books);
    let s = fold(h.events());
    let mut availability = Availability::default();
    for event in h.events() {
        availability.apply(event);
    }
    let key_in_availability = |item: &str| availability.item(item).unwrap().title_key.clone();

    let ranked: Vec<_> = top_titles(&s, "jinan", "2026-03", 0)
        .unwrap()
        .into_iter()
        .map(|t| (t.title_key, t.loans))
        .collect();
    assert_eq!(
        ranked,
        [
            (key_in_availability("A-1"), 4),
            (key_in_availability("B-1"), 2)
        ]
    );
    assert_eq!(ranked[0].0, "isbn:9787536692930");
    for (item, _, _) in books {
        let key = key_in_availability(item);
        assert!(
            ranked.iter().any(|(k, _)| *k == key),
            "{item}'s availability key {key} is among the top titles"
        );
    }
}

#[test]
fn top_titles_count_loans_in_the_lending_city_and_month() {
    let mut h = network();
    catalogue(
        &mut h,
        t0(),
        ZB_CENTRAL,
        book("ZB-1", "9787020000012", "Four Generations"),
    );
    // A Zibo book lent in Jinan counts for Jinan.
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
    assert_eq!(top_titles(&s, "jinan", "2026-03", 10).unwrap().len(), 1);
    assert_eq!(top_titles(&s, "zibo", "2026-03", 10).unwrap(), []);
    assert_eq!(top_titles(&s, "jinan", "2026-04", 10).unwrap(), []);
}

#[test]
fn top_titles_refuse_a_limit_over_one_hundred_and_an_unknown_city() {
    let s = fold(network().events());
    assert!(matches!(
        top_titles(&s, "jinan", "2026-03", 101),
        Err(StatisticsError::InvalidArgument(m)) if m.starts_with("limit:")
    ));
    assert!(matches!(
        top_titles(&s, "qingdao", "2026-03", 10),
        Err(StatisticsError::NotFound(m)) if m.starts_with("city:")
    ));
}
