//! Holds per pickup library and city: placed, filled, ended unfilled, fill times.

use chrono::Duration;
use readnet_domain::pb::TransferReason;
use readnet_domain::{Command, HoldTarget, PatronRef};
use readnet_ledger::history::History;
use readnet_statistics::{DayRange, HoldFigures, HoldScope, hold_statistics};

use crate::support::*;

const ISBN: &str = "9787020002207";

fn place(h: &mut History, at: chrono::DateTime<chrono::Utc>, patron: PatronRef, pickup: &str) {
    h.run(
        at,
        None,
        Command::PlaceHold {
            patron,
            target: HoldTarget::Title {
                isbn: ISBN.into(),
                title: String::new(),
                author: String::new(),
            },
            pickup_library: pickup.into(),
        },
    );
}

fn march() -> DayRange {
    DayRange::parse("2026-03-01", "2026-03-31").unwrap()
}

#[test]
fn holds_are_counted_at_their_pickup_library_with_fill_times() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", ISBN, "Teahouse"));
    catalogue(&mut h, t0(), JN_LIXIA, book("JN-2", ISBN, "Teahouse"));
    // Li Wei's hold at JN-CENTRAL is ready at once and picked up an hour later.
    place(&mut h, t0(), li_wei(), JN_CENTRAL);
    checkout(&mut h, t0() + minutes(60), JN_CENTRAL, "JN-1", li_wei());
    // Wang Fang's hold at ZB-CENTRAL takes JN-2 from Lixia: a day's journey, picked up after
    // three hours on the shelf.
    place(&mut h, t0() + minutes(1), wang_fang(), ZB_CENTRAL);
    transfer(
        &mut h,
        t0() + minutes(2),
        JN_LIXIA,
        ZB_CENTRAL,
        "JN-2",
        TransferReason::Hold,
    );
    let picked = t0() + Duration::days(1) + minutes(1 + 180);
    checkout(&mut h, picked, ZB_CENTRAL, "JN-2", wang_fang());
    // Zhao Lei queues at JN-CENTRAL and cancels.
    place(&mut h, t0() + minutes(3), zhao_lei(), JN_CENTRAL);
    h.run(
        t0() + minutes(4),
        None,
        Command::CancelHold {
            hold: 3,
            patron: Some(zhao_lei()),
            note: String::new(),
        },
    );
    let state = fold(h.events());

    let jn = hold_statistics(&state, HoldScope::Library(JN_CENTRAL), &march()).unwrap();
    assert_eq!(
        jn,
        HoldFigures {
            placed: 2,
            filled: 1,
            cancelled: 1,
            fill_minutes_median: Some(60),
            fill_minutes_p90: Some(60),
            ..HoldFigures::default()
        }
    );
    let zb = hold_statistics(&state, HoldScope::Library(ZB_CENTRAL), &march()).unwrap();
    assert_eq!((zb.placed, zb.filled), (1, 1));
    assert_eq!(zb.fill_minutes_median, Some(24 * 60 + 180));
    let jinan = hold_statistics(&state, HoldScope::City("jinan"), &march()).unwrap();
    assert_eq!((jinan.placed, jinan.filled, jinan.cancelled), (2, 1, 1));
    let lixia = hold_statistics(&state, HoldScope::Library(JN_LIXIA), &march()).unwrap();
    assert_eq!(
        lixia,
        HoldFigures::default(),
        "counted at the pickup, not the origin"
    );

    // Only the days asked for: the second fill was on 3 March.
    let first_day = DayRange::parse("2026-03-02", "2026-03-02").unwrap();
    let zb = hold_statistics(&state, HoldScope::Library(ZB_CENTRAL), &first_day).unwrap();
    assert_eq!((zb.placed, zb.filled, zb.fill_minutes_median), (1, 0, None));
}

#[test]
fn holds_that_expire_or_are_not_picked_up_are_counted_apart() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", ISBN, "Teahouse"));
    place(&mut h, t0(), li_wei(), JN_CENTRAL);
    // Hold 1 is ready at once and never fetched; hold 2 waits behind it.
    place(&mut h, t0() + minutes(1), zhao_lei(), JN_CENTRAL);
    h.run(t0() + Duration::days(9), None, Command::ExpireHolds);
    let state = fold(h.events());
    let jn = hold_statistics(&state, HoldScope::Library(JN_CENTRAL), &march()).unwrap();
    assert_eq!(
        (jn.placed, jn.not_picked_up, jn.expired_unfilled),
        (2, 1, 0)
    );

    // The copy went to hold 2, ready at once; nobody fetches it either.
    let later = DayRange::parse("2026-03-01", "2026-06-30").unwrap();
    h.run(t0() + Duration::days(20), None, Command::ExpireHolds);
    let state = fold(h.events());
    let jn = hold_statistics(&state, HoldScope::Library(JN_CENTRAL), &later).unwrap();
    assert_eq!((jn.placed, jn.not_picked_up), (2, 2));
}

#[test]
fn hold_statistics_name_an_unknown_library_or_city() {
    let state = fold(network().events());
    let err = hold_statistics(&state, HoldScope::Library("XX"), &march()).unwrap_err();
    assert!(err.to_string().contains("XX"), "{err}");
    assert!(hold_statistics(&state, HoldScope::City("nowhere"), &march()).is_err());
}

/// Since version 6 every field is encoded, so that a format that is not self-describing
/// (postcard) decodes the state: a log without holds has empty hold figures, not missing ones.
#[test]
fn a_log_without_holds_encodes_empty_hold_figures() {
    let mut h = network();
    catalogue(&mut h, t0(), JN_CENTRAL, book("JN-1", ISBN, "Teahouse"));
    checkout(&mut h, t0(), JN_CENTRAL, "JN-1", li_wei());
    let encoded = serde_json::to_string(&fold(h.events())).unwrap();
    assert!(
        encoded.contains(r#""open_holds":{},"hold_days":[]"#),
        "{encoded}"
    );
}
