//! A library's staff work lists: copies to send home, in transit to and from it, its hold shelf
//! (ready, and cleared today), its overdue loans.

use chrono::Duration;
use readnet_domain::pb::{self, HoldEndReason, TransferReason, TransitDirection};
use readnet_domain::{Command, HoldTarget, PatronRef};
use readnet_ledger::history::card;

use crate::support::*;

fn hold_on_santi(net: &mut Net, patron: PatronRef, pickup: &str) {
    net.system(Command::PlaceHold {
        patron,
        target: HoldTarget::Title {
            isbn: SANTI_ISBN.into(),
            title: String::new(),
            author: String::new(),
        },
        pickup_library: pickup.into(),
    });
}

fn items<'a>(copies: impl Iterator<Item = &'a pb::WorkListCopy>) -> Vec<&'a str> {
    copies.map(|c| c.item.as_str()).collect()
}

#[test]
fn copies_returned_away_from_their_owner_are_on_the_send_home_list_with_their_owner() {
    let mut net = Net::new();
    for item in ["ZB-2", "ZB-1"] {
        net.catalogue("ZB-CENTRAL", santi(item));
        net.checkout("ZB-CENTRAL", item, li_wei());
        net.return_at("JN-CENTRAL", item);
    }
    // Returned at its owner: stays, not on any list.
    net.catalogue("JN-CENTRAL", santi("JN-1"));
    net.checkout("JN-CENTRAL", "JN-1", li_wei());
    net.return_at("JN-CENTRAL", "JN-1");
    let state = net.fold();

    let list = state.homebound_list("JN-CENTRAL", "", 100).unwrap();
    assert_eq!(list.total, 2);
    let rows: Vec<_> = list
        .entries
        .iter()
        .map(|e| {
            (
                e.copy.as_ref().unwrap().item.as_str(),
                e.next_library.as_str(),
            )
        })
        .collect();
    assert_eq!(rows, [("ZB-1", "ZB-CENTRAL"), ("ZB-2", "ZB-CENTRAL")]);
    assert_eq!(
        list.entries[0].via_centre, "",
        "Jinan has no distribution centre yet"
    );
    assert!(
        state
            .homebound_list("ZB-CENTRAL", "", 100)
            .unwrap()
            .entries
            .is_empty()
    );

    let first = state.homebound_list("JN-CENTRAL", "", 1).unwrap();
    assert_eq!(
        items(first.entries.iter().filter_map(|e| e.copy.as_ref())),
        ["ZB-1"]
    );
    assert_eq!(first.next_item, "ZB-1");
    let second = state
        .homebound_list("JN-CENTRAL", &first.next_item, 1)
        .unwrap();
    assert_eq!(
        items(second.entries.iter().filter_map(|e| e.copy.as_ref())),
        ["ZB-2"]
    );
    assert_eq!(second.next_item, "", "the last page says nothing follows");

    // Sent home: off the list, on the van's lists.
    net.dispatch(
        "JN-CENTRAL",
        "ZB-1",
        "ZB-CENTRAL",
        TransferReason::Repatriation,
    );
    let state = net.fold();
    assert_eq!(
        state.homebound_list("JN-CENTRAL", "", 100).unwrap().total,
        1
    );
    let from = state
        .transit_list("JN-CENTRAL", TransitDirection::From, "", 100)
        .unwrap();
    assert_eq!(
        items(from.entries.iter().filter_map(|e| e.copy.as_ref())),
        ["ZB-1"]
    );
    assert_eq!(from.entries[0].reason, TransferReason::Repatriation as i32);
    assert_eq!(from.entries[0].hold, 0);
}

#[test]
fn a_hold_leg_is_in_transit_from_its_origin_and_to_its_destination_naming_its_hold() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("S-1"));
    hold_on_santi(&mut net, wang_fang(), "ZB-ZHOUCUN-07");
    net.dispatch("JN-CENTRAL", "S-1", "ZB-ZHOUCUN-07", TransferReason::Hold);
    let state = net.fold();

    let to = state
        .transit_list("ZB-ZHOUCUN-07", TransitDirection::To, "", 100)
        .unwrap();
    assert_eq!(to.total, 1);
    let e = &to.entries[0];
    assert_eq!(
        (
            e.from_library.as_str(),
            e.to_library.as_str(),
            e.hold,
            e.pickup_library.as_str()
        ),
        ("JN-CENTRAL", "ZB-ZHOUCUN-07", 1, "ZB-ZHOUCUN-07")
    );
    assert_eq!(e.reason, TransferReason::Hold as i32);
    let from = state
        .transit_list("JN-CENTRAL", TransitDirection::From, "", 100)
        .unwrap();
    assert_eq!(from.total, 1);
    assert!(
        state
            .transit_list("JN-CENTRAL", TransitDirection::To, "", 100)
            .unwrap()
            .entries
            .is_empty()
    );

    net.receive("ZB-ZHOUCUN-07", "S-1");
    let state = net.fold();
    assert_eq!(
        state
            .transit_list("ZB-ZHOUCUN-07", TransitDirection::To, "", 100)
            .unwrap()
            .total,
        0,
        "received: no longer in transit"
    );
}

#[test]
fn the_hold_shelf_lists_ready_copies_and_today_the_ones_not_picked_up() {
    let mut net = Net::new();
    net.catalogue("ZB-CENTRAL", santi("S-1"));
    // Ready at once at ZB-CENTRAL for Wang Fang; Li Wei queues behind her there.
    hold_on_santi(&mut net, wang_fang(), "ZB-CENTRAL");
    hold_on_santi(&mut net, li_wei(), "ZB-CENTRAL");
    let state = net.fold();
    let shelf = state.hold_shelf("ZB-CENTRAL", net.at).unwrap();
    let ready: Vec<_> = shelf
        .ready
        .iter()
        .map(|r| {
            (
                r.hold,
                r.copy.as_ref().unwrap().item.as_str(),
                r.past_pickup_by,
            )
        })
        .collect();
    assert_eq!(ready, [(1, "S-1", false)]);
    assert!(shelf.cleared_today.is_empty());
    let pickup_by = chrono::DateTime::from_timestamp_micros(shelf.ready[0].pickup_by_us).unwrap();
    assert!(state.hold_shelf("ZB-CENTRAL", pickup_by).unwrap().ready[0].past_pickup_by);

    // Not picked up: the sweep ends hold 1, the copy is ready again for hold 2.
    net.at = pickup_by + Duration::hours(1);
    net.system(Command::ExpireHolds);
    let state = net.fold();
    let shelf = state.hold_shelf("ZB-CENTRAL", net.at).unwrap();
    assert_eq!(shelf.ready.iter().map(|r| r.hold).collect::<Vec<_>>(), [2]);
    let cleared: Vec<_> = shelf
        .cleared_today
        .iter()
        .map(|c| {
            (
                c.hold,
                c.copy.as_ref().unwrap().item.as_str(),
                c.reason(),
                c.next_hold,
            )
        })
        .collect();
    assert_eq!(cleared, [(1, "S-1", HoldEndReason::NotPickedUp, 2)]);
    assert_eq!(shelf.cleared_today[0].next_pickup_library, "ZB-CENTRAL");

    // The next day it is no longer news; another library's shelf never had it.
    let tomorrow = net.at + Duration::days(1);
    assert!(
        state
            .hold_shelf("ZB-CENTRAL", tomorrow)
            .unwrap()
            .cleared_today
            .is_empty()
    );
    assert!(
        state
            .hold_shelf("JN-CENTRAL", net.at)
            .unwrap()
            .cleared_today
            .is_empty()
    );
}

#[test]
fn a_ready_copy_cancelled_away_from_its_owner_is_cleared_to_go_home() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("S-1"));
    hold_on_santi(&mut net, wang_fang(), "ZB-ZHOUCUN-07");
    net.dispatch("JN-CENTRAL", "S-1", "ZB-ZHOUCUN-07", TransferReason::Hold);
    net.receive("ZB-ZHOUCUN-07", "S-1");
    net.system(Command::CancelHold {
        hold: 1,
        patron: Some(wang_fang()),
        note: String::new(),
    });
    let state = net.fold();
    let shelf = state.hold_shelf("ZB-ZHOUCUN-07", net.at).unwrap();
    assert!(shelf.ready.is_empty());
    let c = &shelf.cleared_today[0];
    assert_eq!(
        (c.hold, c.reason(), c.next_hold, c.homebound),
        (1, HoldEndReason::CancelledByPatron, 0, true)
    );
    let home = state.homebound_list("ZB-ZHOUCUN-07", "", 100).unwrap();
    assert_eq!(home.entries[0].next_library, "JN-CENTRAL");

    // Once Zibo has a distribution centre, the copy may go home through it.
    net.system(Command::SetLibraryRoles {
        library: "ZB-CENTRAL".into(),
        delivery_point: false,
        distribution_centre: true,
    });
    let home = net.fold().homebound_list("ZB-ZHOUCUN-07", "", 100).unwrap();
    assert_eq!(home.entries[0].via_centre, "ZB-CENTRAL");
}

#[test]
fn overdue_loans_are_listed_longest_overdue_first_and_paged() {
    let mut net = Net::new();
    for item in ["S-3", "S-1", "S-2"] {
        net.catalogue("JN-CENTRAL", santi(item));
    }
    net.checkout("JN-CENTRAL", "S-2", li_wei());
    net.at += Duration::days(2);
    net.checkout("JN-CENTRAL", "S-1", wang_fang());
    net.checkout("JN-CENTRAL", "S-3", card("taian", "370902000001"));
    let state = net.fold();
    assert_eq!(
        state
            .overdue_loans("JN-CENTRAL", net.at, "", 100)
            .unwrap()
            .total,
        0
    );

    // 40 days after the first loan: all three are overdue, S-2 the longest.
    let now = t0() + Duration::days(40);
    let all = state.overdue_loans("JN-CENTRAL", now, "", 100).unwrap();
    let rows: Vec<_> = all
        .loans
        .iter()
        .map(|l| (l.copy.as_ref().unwrap().item.as_str(), l.days_overdue))
        .collect();
    assert_eq!(rows, [("S-2", 9), ("S-1", 7), ("S-3", 7)]);
    assert!(
        state
            .overdue_loans("ZB-CENTRAL", now, "", 100)
            .unwrap()
            .loans
            .is_empty()
    );

    let first = state.overdue_loans("JN-CENTRAL", now, "", 2).unwrap();
    assert_eq!(first.total, 3);
    assert_eq!(first.loans.len(), 2);
    let rest = state
        .overdue_loans("JN-CENTRAL", now, &first.next_page_token, 2)
        .unwrap();
    assert_eq!(
        rest.loans
            .iter()
            .map(|l| l.copy.as_ref().unwrap().item.as_str())
            .collect::<Vec<_>>(),
        ["S-3"]
    );
    assert!(rest.next_page_token.is_empty());
}

#[test]
fn work_lists_name_an_unknown_library_and_a_bad_page_token() {
    let state = Net::new().fold();
    let err = state.homebound_list("XX-NOWHERE", "", 100).unwrap_err();
    assert!(err.to_string().contains("XX-NOWHERE"), "{err}");
    assert!(state.hold_shelf("XX-NOWHERE", t0()).is_err());
    assert!(
        state
            .transit_list("XX-NOWHERE", TransitDirection::To, "", 100)
            .is_err()
    );
    let err = state
        .overdue_loans("JN-CENTRAL", t0(), "not-a-token", 100)
        .unwrap_err();
    assert!(err.to_string().starts_with("page_token:"), "{err}");
}
