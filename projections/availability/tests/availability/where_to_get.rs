//! "Where can I get this title, starting from library L?"

use readnet_availability::{AvailabilityError, TitleQuery};
use readnet_domain::Command;
use readnet_domain::pb::{AvailabilityProximity as P, LibraryTier, TransferReason};

use crate::support::*;

/// (library, proximity, lendable, in_booth) of each row.
fn rows(answer: &readnet_domain::pb::FindTitleResponse) -> Vec<(&str, P, u32, u32)> {
    answer
        .libraries
        .iter()
        .map(|l| {
            (
                l.library.as_str(),
                P::try_from(l.proximity).unwrap(),
                l.lendable,
                l.in_booth,
            )
        })
        .collect()
}

/// A copy of 《三体》 on the shelf of every library, one more at ZB-CENTRAL, and one in each
/// booth.
fn santi_everywhere() -> Net {
    let mut net = Net::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("S-{n:04}")
    };
    for library in [
        "TA-CENTRAL",
        "JN-LIXIA-01",
        "ZB-CENTRAL",
        "JN-CENTRAL",
        "ZB-ZHOUCUN-07",
    ] {
        net.catalogue(library, santi(&next()));
    }
    net.catalogue("ZB-CENTRAL", santi(&next()));
    net.stock_booth("ZB-CENTRAL", "ZB-BOOTH-01", santi(&next()));
    net.stock_booth("JN-CENTRAL", "JN-BOOTH-01", santi(&next()));
    net
}

#[test]
fn the_starting_library_comes_first_then_its_city_then_other_cities() {
    let state = santi_everywhere().fold();
    let answer = state
        .find_title(&TitleQuery::isbn(SANTI_ISBN), "ZB-ZHOUCUN-07", 100)
        .unwrap();
    assert_eq!(
        rows(&answer),
        [
            ("ZB-ZHOUCUN-07", P::SameLibrary, 1, 0),
            ("ZB-BOOTH-01", P::SameCity, 0, 1),
            ("ZB-CENTRAL", P::SameCity, 2, 0),
            ("JN-BOOTH-01", P::OtherCity, 0, 1),
            ("JN-CENTRAL", P::OtherCity, 1, 0),
            ("JN-LIXIA-01", P::OtherCity, 1, 0),
            ("TA-CENTRAL", P::OtherCity, 1, 0),
        ]
    );
    assert_eq!(answer.libraries[1].tier, LibraryTier::Booth as i32);
    assert_eq!(answer.libraries[3].city, "jinan");
    assert!(!answer.truncated);
    assert_eq!(answer.titles.len(), 1);
    assert_eq!(answer.titles[0].title_key, SANTI_KEY);
    assert_eq!(answer.titles[0].network.unwrap().on_shelf, 6);
    assert_eq!(answer.applied_position, state_position(&state));
}

fn state_position(state: &readnet_availability::Availability) -> u64 {
    readnet_projection::Projection::position(state).get()
}

#[test]
fn from_a_library_without_a_copy_its_city_comes_first() {
    let state = santi_everywhere().fold();
    let answer = state
        .find_title(&TitleQuery::isbn(SANTI_ISBN), "TA-CENTRAL", 100)
        .unwrap();
    let order: Vec<_> = rows(&answer).iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(
        order,
        [
            ("TA-CENTRAL", P::SameLibrary),
            ("JN-BOOTH-01", P::OtherCity),
            ("JN-CENTRAL", P::OtherCity),
            ("JN-LIXIA-01", P::OtherCity),
            ("ZB-BOOTH-01", P::OtherCity),
            ("ZB-CENTRAL", P::OtherCity),
            ("ZB-ZHOUCUN-07", P::OtherCity),
        ]
    );

    let mut net = Net::new();
    net.catalogue("ZB-CENTRAL", santi("S-1"));
    net.catalogue("JN-CENTRAL", santi("S-2"));
    let answer = net
        .fold()
        .find_title(&TitleQuery::isbn(SANTI_ISBN), "JN-LIXIA-01", 100)
        .unwrap();
    assert_eq!(
        rows(&answer),
        [
            ("JN-CENTRAL", P::SameCity, 1, 0),
            ("ZB-CENTRAL", P::OtherCity, 1, 0)
        ]
    );
}

#[test]
fn copies_on_loan_in_transit_or_homebound_are_not_offered() {
    let mut net = Net::new();
    net.catalogue("ZB-CENTRAL", santi("S-1"));
    net.catalogue("ZB-CENTRAL", santi("S-2"));
    net.catalogue("ZB-CENTRAL", santi("S-3"));
    net.checkout("ZB-CENTRAL", "S-1", wang_fang());
    net.checkout("ZB-CENTRAL", "S-2", li_wei());
    net.return_at("JN-CENTRAL", "S-2");
    net.dispatch(
        "ZB-CENTRAL",
        "S-3",
        "ZB-ZHOUCUN-07",
        TransferReason::Rebalance,
    );
    let state = net.fold();

    let answer = state
        .find_title(&TitleQuery::isbn(SANTI_ISBN), "JN-CENTRAL", 100)
        .unwrap();
    assert!(
        answer.libraries.is_empty(),
        "nothing can be had: {:?}",
        rows(&answer)
    );
    let network = answer.titles[0].network.unwrap();
    assert_eq!(
        (network.on_loan, network.homebound, network.in_transit_to),
        (1, 1, 1),
        "the title's counts still say where its copies are"
    );
}

#[test]
fn closed_libraries_are_not_offered() {
    let mut net = Net::new();
    net.catalogue("ZB-CENTRAL", santi("S-1"));
    net.catalogue("JN-CENTRAL", santi("S-2"));
    net.system(Command::CloseLibrary {
        library: "JN-CENTRAL".into(),
        reason: "renovation".into(),
    });
    let answer = net
        .fold()
        .find_title(&TitleQuery::isbn(SANTI_ISBN), "JN-CENTRAL", 100)
        .unwrap();
    assert_eq!(rows(&answer), [("ZB-CENTRAL", P::OtherCity, 1, 0)]);
}

#[test]
fn asking_by_title_and_author_finds_copies_with_and_without_an_isbn() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("S-1"));
    net.catalogue("ZB-CENTRAL", book("S-2", "", "三体", "刘慈欣"));
    net.catalogue("TA-CENTRAL", book("S-3", "7-5366-9293-5", "三体", "刘慈欣"));
    net.catalogue("TA-CENTRAL", book("S-4", "", "三体Ⅱ", "刘慈欣"));
    let state = net.fold();

    let answer = state
        .find_title(&TitleQuery::text(" 三体", "刘慈欣 "), "JN-CENTRAL", 100)
        .unwrap();
    let keys: Vec<_> = answer.titles.iter().map(|t| t.title_key.as_str()).collect();
    assert_eq!(keys, [SANTI_KEY, r#"text:["三体","刘慈欣"]"#]);
    assert_eq!(
        rows(&answer),
        [
            ("JN-CENTRAL", P::SameLibrary, 1, 0),
            ("TA-CENTRAL", P::OtherCity, 1, 0),
            ("ZB-CENTRAL", P::OtherCity, 1, 0),
        ]
    );

    let by_isbn = state
        .find_title(&TitleQuery::isbn("7536692935"), "JN-CENTRAL", 100)
        .unwrap();
    let libraries: Vec<_> = rows(&by_isbn).iter().map(|r| r.0).collect();
    assert_eq!(
        libraries,
        ["JN-CENTRAL", "TA-CENTRAL"],
        "an ISBN-10 finds the ISBN-13's copies, not the copy without an ISBN"
    );
}

#[test]
fn the_answer_is_bounded_and_says_so() {
    let state = santi_everywhere().fold();
    let answer = state
        .find_title(&TitleQuery::isbn(SANTI_ISBN), "ZB-ZHOUCUN-07", 2)
        .unwrap();
    assert_eq!(answer.libraries.len(), 2);
    assert!(answer.truncated);
    assert_eq!(answer.libraries[0].library, "ZB-ZHOUCUN-07");
}

#[test]
fn an_unknown_library_or_title_is_not_found_by_name() {
    let state = santi_everywhere().fold();
    assert_eq!(
        state.find_title(&TitleQuery::isbn(SANTI_ISBN), "QD-CENTRAL", 100),
        Err(AvailabilityError::NotFound(
            "from_library: library QD-CENTRAL is not registered".into()
        ))
    );
    assert_eq!(
        state.find_title(&TitleQuery::isbn("9787020002207"), "JN-CENTRAL", 100),
        Err(AvailabilityError::NotFound(
            "title.isbn: no copy with ISBN 9787020002207 is catalogued".into()
        ))
    );
    let Err(AvailabilityError::NotFound(message)) =
        state.find_title(&TitleQuery::text("红楼梦", "曹雪芹"), "JN-CENTRAL", 100)
    else {
        panic!("not found");
    };
    assert!(message.contains("红楼梦"), "{message}");
}
