//! Holds (ADR 0013): placing, targeting, trapping, routing legs, the hold shelf, cancelling and
//! expiring, and the races between them.

use readnet_domain::pb::{self, Channel, HoldEndReason, LibraryTier, TransferReason};
use readnet_domain::{
    Command, HoldState, HoldTarget, ItemStatus, MAX_OPEN_HOLDS, PatronRef, Payload, Rejection,
    RejectionKind,
};

use crate::support::fixtures::*;
use crate::support::*;

const ISBN: &str = "9787020002207";

/// A copy of 边城 (one ISBN) owned by `owner`, on its shelf.
fn biancheng(item: &str, owner: &str) -> Payload {
    Payload::ItemCatalogued(pb::ItemCatalogued {
        item: item.into(),
        isbn: ISBN.into(),
        title: "边城".into(),
        author: "沈从文".into(),
        owner_library: owner.into(),
        price_fen: Some(2500),
        acquisition: pb::Acquisition::Purchase as i32,
        placed_at: owner.into(),
        in_booth: false,
    })
}

fn roles(library: &str, delivery_point: bool, distribution_centre: bool) -> Payload {
    Payload::LibraryRolesSet(pb::LibraryRolesSet {
        library: library.into(),
        delivery_point,
        distribution_centre,
    })
}

/// The test network plus a Jinan distribution centre, a Zibo reading point (service point,
/// marked as a delivery point) and an unmarked Zibo self-service library.
fn network() -> Vec<Payload> {
    let mut events = network_jinan_zibo();
    events.extend([
        library_registered("JN-DC", "jinan", LibraryTier::General, None),
        roles("JN-DC", false, true),
        library_registered(
            "ZB-READING-01",
            "zibo",
            LibraryTier::ServicePoint,
            Some("ZB-CENTRAL"),
        ),
        roles("ZB-READING-01", true, false),
        library_registered("ZB-24H-01", "zibo", LibraryTier::SelfService, None),
    ]);
    events
}

fn title_hold(patron: &PatronRef, pickup: &str) -> Command {
    Command::PlaceHold {
        patron: patron.clone(),
        target: HoldTarget::Title {
            isbn: ISBN.into(),
            title: String::new(),
            author: String::new(),
        },
        pickup_library: pickup.into(),
    }
}

fn item_hold(patron: &PatronRef, item: &str, pickup: &str) -> Command {
    Command::PlaceHold {
        patron: patron.clone(),
        target: HoldTarget::Item(item.into()),
        pickup_library: pickup.into(),
    }
}

fn cancel(hold: u64, patron: Option<&PatronRef>) -> Command {
    Command::CancelHold {
        hold,
        patron: patron.cloned(),
        note: String::new(),
    }
}

fn zhao() -> PatronRef {
    card("zibo", "370303199202023456")
}

fn state(s: &Scenario, hold: u64) -> Option<HoldState> {
    s.ledger().holds.get(&hold).map(|h| h.state.clone())
}

fn assigned(item: &str) -> Option<HoldState> {
    Some(HoldState::Assigned { item: item.into() })
}

fn is_ready(s: &Scenario, hold: u64, item: &str) -> bool {
    matches!(state(s, hold), Some(HoldState::Ready { item: i, .. }) if i.as_str() == item)
}

/// Wang Fang (Zibo) asks for 边城, whose only copy is on the shelf at JN-LIXIA-03, for pickup
/// at the Zibo reading point.
fn one_copy_in_jinan() -> Scenario {
    given(network())
        .and([biancheng("JN-BC-1", "JN-LIXIA-03")])
        .after(t0(), None, title_hold(&wang_fang(), "ZB-READING-01"))
}

#[test]
fn a_hold_on_a_title_with_a_copy_on_a_shelf_is_assigned_that_copy() {
    let s = one_copy_in_jinan();
    assert_eq!(state(&s, 1), assigned("JN-BC-1"));
    assert_eq!(s.ledger().items["JN-BC-1"].hold, Some(1));
    assert_eq!(s.patron(&wang_fang()).holds.len(), 1);
}

#[test]
fn placing_a_hold_records_it_in_the_patrons_stream_and_enrols_a_new_card() {
    let after = given(network())
        .and([biancheng("JN-BC-1", "JN-LIXIA-03")])
        .when_at(t0(), None, title_hold(&wang_fang(), "ZB-READING-01"))
        .then_accepted();
    let kinds: Vec<_> = after.history()[after.history().len() - 3..]
        .iter()
        .map(readnet_domain::codec::event_type)
        .collect();
    assert_eq!(kinds, ["PatronEnrolled", "HoldPlaced", "HoldAssigned"]);
}

#[test]
fn targeting_prefers_the_pickup_library_then_its_city_then_other_cities() {
    let copies = [
        biancheng("JN-BC-1", "JN-CENTRAL"),
        biancheng("ZB-BC-1", "ZB-ZHOUCUN-07"),
        biancheng("ZB-BC-2", "ZB-CENTRAL"),
    ];
    // Same library: ready at once, not on any pick list.
    let s = given(network()).and(copies.clone()).after(
        t0(),
        None,
        title_hold(&wang_fang(), "ZB-CENTRAL"),
    );
    assert!(is_ready(&s, 1, "ZB-BC-2"));
    // Same city before other cities.
    let s = given(network()).and(copies.clone()).after(
        t0(),
        None,
        title_hold(&wang_fang(), "ZB-READING-01"),
    );
    assert_eq!(state(&s, 1), assigned("ZB-BC-1"));
}

#[test]
fn targeting_ties_go_to_a_copy_at_its_owner_then_the_lowest_item_code() {
    // Both in Zibo: ZB-BC-2 is at its owner, ZB-BC-1 was returned to ZB-CENTRAL and floats.
    let s = given(network())
        .and([
            biancheng("ZB-BC-1", "ZB-ZHOUCUN-07"),
            biancheng("ZB-BC-2", "ZB-ZHOUCUN-07"),
            biancheng("ZB-BC-3", "ZB-CENTRAL"),
            return_policy_set("ZB-ZHOUCUN-07", pb::ReturnPolicy::FloatInCity),
        ])
        .after(t0(), Some("ZB-ZHOUCUN-07"), checkout("ZB-BC-1", &li_wei()))
        .after(t0(), Some("ZB-CENTRAL"), give_back("ZB-BC-1"))
        .after(t0(), None, title_hold(&wang_fang(), "ZB-READING-01"));
    // ZB-BC-1 (away from owner) and ZB-BC-3 (at owner) are both at ZB-CENTRAL; ZB-BC-2 is at
    // ZHOUCUN-07 (at owner). All in Zibo: owner-held copies first, then the lowest code.
    assert_eq!(state(&s, 1), assigned("ZB-BC-2"));
}

#[test]
fn a_second_patron_waits_in_the_queue_when_the_only_copy_is_taken() {
    let s = one_copy_in_jinan().after(t0(), None, title_hold(&zhao(), "ZB-CENTRAL"));
    assert_eq!(state(&s, 1), assigned("JN-BC-1"));
    assert_eq!(state(&s, 2), Some(HoldState::Queued));
}

#[test]
fn a_hold_for_pickup_at_an_unknown_library_is_not_found() {
    given(network())
        .and([biancheng("JN-BC-1", "JN-LIXIA-03")])
        .when_at(t0(), None, title_hold(&wang_fang(), "ZB-NOWHERE"))
        .then_refused(RejectionKind::NotFound, "ZB-NOWHERE");
}

#[test]
fn a_hold_on_an_unknown_title_or_item_is_not_found() {
    given(network())
        .when_at(t0(), None, title_hold(&wang_fang(), "ZB-CENTRAL"))
        .then_refused(RejectionKind::NotFound, "no copy of it is catalogued");
    given(network())
        .when_at(t0(), None, item_hold(&wang_fang(), "ZB-999", "ZB-CENTRAL"))
        .then_refused(RejectionKind::NotFound, "ZB-999");
}

#[test]
fn a_pickup_point_must_have_a_desk_or_be_marked_as_a_delivery_point() {
    let s = given(network()).and([biancheng("JN-BC-1", "JN-LIXIA-03")]);
    s.clone()
        .when_at(t0(), None, title_hold(&wang_fang(), "ZB-24H-01"))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::NotAPickupPoint {
                library: "ZB-24H-01".into(),
            },
            "pickup_library: ZB-24H-01 is not a pickup point (rule: holds are picked up at an open central, general or branch library, or at one marked as a delivery point; never at a booth)",
        );
    s.clone()
        .when_at(t0(), None, title_hold(&wang_fang(), "JN-BOOTH-01"))
        .then_refused(RejectionKind::FailedPrecondition, "not a pickup point");
    // Marked, the self-service library is one.
    s.and([roles("ZB-24H-01", true, false)])
        .when_at(t0(), None, title_hold(&wang_fang(), "ZB-24H-01"))
        .then_accepted();
}

#[test]
fn open_holds_are_capped_per_patron() {
    let mut s = given(network());
    for i in 0..=MAX_OPEN_HOLDS {
        s = s.and([catalogued(&format!("ZB-H-{i}"), "ZB-CENTRAL", Some(100))]);
    }
    for i in 0..MAX_OPEN_HOLDS {
        s = s.after(
            t0(),
            None,
            item_hold(&wang_fang(), &format!("ZB-H-{i}"), "ZB-ZHOUCUN-07"),
        );
    }
    s.when_at(
        t0(),
        None,
        item_hold(
            &wang_fang(),
            &format!("ZB-H-{MAX_OPEN_HOLDS}"),
            "ZB-ZHOUCUN-07",
        ),
    )
    .then_rejected(Rejection::HoldLimitReached {
        card: wang_fang().masked_card,
        open: MAX_OPEN_HOLDS,
        limit: MAX_OPEN_HOLDS,
    });
}

#[test]
fn no_hold_on_an_item_or_title_the_patron_already_has() {
    let s = given(network())
        .and([biancheng("JN-BC-1", "JN-LIXIA-03")])
        .after(t0(), Some("JN-LIXIA-03"), checkout("JN-BC-1", &wang_fang()));
    s.clone()
        .when_at(t0(), None, item_hold(&wang_fang(), "JN-BC-1", "ZB-CENTRAL"))
        .then_rejected(Rejection::AlreadyHasItem {
            card: wang_fang().masked_card,
            item: "JN-BC-1".into(),
        });
    s.when_at(t0(), None, title_hold(&wang_fang(), "ZB-CENTRAL"))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "already has item JN-BC-1",
        );
}

#[test]
fn a_second_hold_for_the_same_title_is_refused() {
    one_copy_in_jinan()
        .when_at(t0(), None, title_hold(&wang_fang(), "ZB-CENTRAL"))
        .then_rejected(Rejection::HoldAlreadyPlaced {
            card: wang_fang().masked_card,
            hold: 1,
        });
}

#[test]
fn a_blocked_patron_or_one_at_their_limit_may_still_queue() {
    let mut s = given(network())
        .and([biancheng("JN-BC-1", "JN-LIXIA-03")])
        .and([enrolled(&wang_fang(), pb::CreditTier::Restricted)])
        .and(shelf_items("ZB-CENTRAL", "ZB-L", 3));
    for i in 1..=3 {
        s = s.after(
            t0(),
            Some("ZB-CENTRAL"),
            checkout(&item_code("ZB-L", i), &wang_fang()),
        );
    }
    // At the limit (3 of 3), and 31 days overdue: blocked.
    let later = t0() + days(62);
    let s = s
        .when_at(later, None, title_hold(&wang_fang(), "ZB-CENTRAL"))
        .then_accepted();
    assert_eq!(state(&s, 1), assigned("JN-BC-1"));
}

#[test]
fn a_hold_transfer_without_a_hold_is_refused() {
    given(network())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "ZB-CENTRAL", TransferReason::Hold),
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::HoldTransferWithoutHold {
                item: "JN-000002".into(),
            },
            "item JN-000002: a hold transfer needs a hold behind it, and no hold has this copy (rule: no hold transfer without a hold)",
        );
}

#[test]
fn a_held_copy_travels_only_as_a_hold_transfer_on_its_route() {
    let s = one_copy_in_jinan();
    s.clone()
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            dispatch("JN-BC-1", "JN-CENTRAL", TransferReason::Rebalance),
        )
        .then_rejected(Rejection::HeldItemOnlyHoldTransfer {
            item: "JN-BC-1".into(),
            hold: 1,
        });
    s.when_at(
        t0(),
        Some("JN-LIXIA-03"),
        dispatch("JN-BC-1", "ZB-CENTRAL", TransferReason::Hold),
    )
    .then_rejected(Rejection::HoldLegNotOnRoute {
        item: "JN-BC-1".into(),
        hold: 1,
        to: "ZB-CENTRAL".into(),
        pickup: "ZB-READING-01".into(),
        centre: Some("JN-DC".into()),
    });
}

/// The whole journey: origin → Jinan distribution centre → Zibo reading point → ready.
fn delivered() -> Scenario {
    let s = one_copy_in_jinan()
        .after(
            t0(),
            Some("JN-LIXIA-03"),
            dispatch("JN-BC-1", "JN-DC", TransferReason::Hold),
        )
        .after(t0() + days(1), Some("JN-DC"), receive("JN-BC-1"));
    // At the centre it waits for its next leg, still set aside.
    assert_eq!(state(&s, 1), assigned("JN-BC-1"));
    let s = s
        .after(
            t0() + days(1),
            Some("JN-DC"),
            dispatch("JN-BC-1", "ZB-READING-01", TransferReason::Hold),
        )
        .after(t0() + days(2), Some("ZB-READING-01"), receive("JN-BC-1"));
    assert!(is_ready(&s, 1, "JN-BC-1"));
    s
}

#[test]
fn a_held_copy_goes_through_the_distribution_centre_and_is_ready_at_the_pickup_point() {
    let s = delivered();
    let Some(HoldState::Ready { pickup_by, .. }) = state(&s, 1) else {
        panic!("ready")
    };
    // End of the 7th day after it arrived (2026-03-04), Zibo time.
    assert_eq!(
        pickup_by,
        shanghai(2026, 3, 11, 23, 59, 59) + chrono::Duration::microseconds(999_999)
    );
}

#[test]
fn a_held_copy_may_ship_straight_to_the_pickup_point() {
    let s = one_copy_in_jinan()
        .after(
            t0(),
            Some("JN-LIXIA-03"),
            dispatch("JN-BC-1", "ZB-READING-01", TransferReason::Hold),
        )
        .after(t0() + days(2), Some("ZB-READING-01"), receive("JN-BC-1"));
    assert!(is_ready(&s, 1, "JN-BC-1"));
}

#[test]
fn only_the_holder_may_check_out_a_ready_copy() {
    let s = delivered();
    s.clone()
        .when_at(
            t0() + days(3),
            Some("ZB-READING-01"),
            checkout("JN-BC-1", &zhao()),
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::HeldForAnother {
                item: "JN-BC-1".into(),
                hold: 1,
                pickup: "ZB-READING-01".into(),
            },
            "item JN-BC-1 is set aside for hold 1 (pickup at ZB-READING-01): only the holder may check it out (rule: a held copy is lent to its holder only)",
        );
    let s = s
        .when_at(
            t0() + days(3),
            Some("ZB-READING-01"),
            checkout("JN-BC-1", &wang_fang()),
        )
        .then_accepted();
    assert!(s.ledger().holds.is_empty());
    assert!(s.patron(&wang_fang()).holds.is_empty());
    assert_eq!(s.loans(&wang_fang()), ["JN-BC-1"]);
}

#[test]
fn a_copy_on_a_pick_list_is_not_lent_to_a_walk_in_patron() {
    one_copy_in_jinan()
        .when_at(t0(), Some("JN-LIXIA-03"), checkout("JN-BC-1", &li_wei()))
        .then_refused(RejectionKind::FailedPrecondition, "set aside for hold 1");
}

#[test]
fn two_patrons_one_copy_the_second_gets_it_trapped_when_the_first_returns_it() {
    let s = delivered()
        .after(t0() + days(2), None, title_hold(&zhao(), "ZB-CENTRAL"))
        .after(
            t0() + days(3),
            Some("ZB-READING-01"),
            checkout("JN-BC-1", &wang_fang()),
        );
    assert_eq!(state(&s, 2), Some(HoldState::Queued));
    let returned = s
        .when_at(t0() + days(10), Some("ZB-ZHOUCUN-07"), give_back("JN-BC-1"))
        .then_accepted();
    let last = returned.history().last().unwrap();
    assert!(
        matches!(last, Payload::HoldAssigned(e) if e.hold == 2 && e.trapped),
        "the return receipt says the copy was trapped: {last:?}"
    );
    // Trapped: set aside for hold 2, not homebound although away from its owner.
    assert_eq!(state(&returned, 2), assigned("JN-BC-1"));
    assert_eq!(
        returned.status("JN-BC-1"),
        &ItemStatus::OnShelf {
            library: "ZB-ZHOUCUN-07".into(),
            homebound: false
        }
    );
}

#[test]
fn a_return_at_the_pickup_library_of_the_first_hold_makes_it_ready_at_once() {
    let s = given(network())
        .and([biancheng("JN-BC-1", "JN-LIXIA-03")])
        .after(t0(), Some("JN-LIXIA-03"), checkout("JN-BC-1", &li_wei()))
        .after(t0(), None, title_hold(&wang_fang(), "ZB-CENTRAL"));
    assert_eq!(state(&s, 1), Some(HoldState::Queued));
    let s = s
        .when_at(t0() + days(1), Some("ZB-CENTRAL"), give_back("JN-BC-1"))
        .then_accepted();
    assert!(is_ready(&s, 1, "JN-BC-1"));
}

#[test]
fn a_trapped_copy_whose_hold_is_cancelled_in_transit_goes_home_from_where_it_arrives() {
    let s = one_copy_in_jinan().after(
        t0(),
        Some("JN-LIXIA-03"),
        dispatch("JN-BC-1", "ZB-READING-01", TransferReason::Hold),
    );
    let s = s
        .when_at(t0(), None, cancel(1, Some(&wang_fang())))
        .then_accepted();
    assert!(s.ledger().holds.is_empty());
    assert_eq!(s.ledger().items["JN-BC-1"].hold, None);
    let s = s
        .when_at(t0() + days(2), Some("ZB-READING-01"), receive("JN-BC-1"))
        .then_accepted();
    assert_eq!(
        s.status("JN-BC-1"),
        &ItemStatus::OnShelf {
            library: "ZB-READING-01".into(),
            homebound: true
        }
    );
}

#[test]
fn a_copy_whose_hold_is_cancelled_in_transit_is_trapped_for_the_next_hold_on_arrival() {
    let s = one_copy_in_jinan()
        .after(t0(), None, title_hold(&zhao(), "ZB-CENTRAL"))
        .after(
            t0(),
            Some("JN-LIXIA-03"),
            dispatch("JN-BC-1", "ZB-READING-01", TransferReason::Hold),
        )
        .after(t0(), None, cancel(1, Some(&wang_fang())))
        .after(t0() + days(2), Some("ZB-READING-01"), receive("JN-BC-1"));
    assert_eq!(state(&s, 2), assigned("JN-BC-1"));
    // Its next leg goes to hold 2's pickup library.
    s.when_at(
        t0() + days(2),
        Some("ZB-READING-01"),
        dispatch("JN-BC-1", "ZB-CENTRAL", TransferReason::Hold),
    )
    .then_accepted();
}

#[test]
fn only_the_holder_or_staff_at_a_desk_may_cancel_a_hold() {
    let s = one_copy_in_jinan();
    s.clone()
        .when_at(t0(), None, cancel(1, Some(&zhao())))
        .then_rejected(Rejection::NotTheHolder { hold: 1 });
    s.clone()
        .when_at(t0(), None, cancel(1, None))
        .then_rejected(Rejection::HolderCardRequired {
            hold: 1,
            channel: Channel::System,
        });
    s.clone()
        .when_at(t0(), None, cancel(9, None))
        .then_refused(RejectionKind::NotFound, "hold 9");
    let after = s
        .when_at(t0(), Some("ZB-CENTRAL"), cancel(1, None))
        .then_accepted();
    assert!(matches!(
        after.history().last(),
        Some(Payload::HoldEnded(e)) if e.reason == HoldEndReason::CancelledByStaff as i32
    ));
    // The copy was still on its shelf at its owner: free again, not homebound.
    assert_eq!(
        after.status("JN-BC-1"),
        &ItemStatus::OnShelf {
            library: "JN-LIXIA-03".into(),
            homebound: false
        }
    );
}

#[test]
fn cancelling_a_hold_passes_its_copy_to_the_next_in_the_queue() {
    let s = one_copy_in_jinan()
        .after(t0(), None, title_hold(&zhao(), "JN-LIXIA-03"))
        .after(t0(), None, cancel(1, Some(&wang_fang())));
    assert!(is_ready(&s, 2, "JN-BC-1"));
}

#[test]
fn an_item_withdrawn_while_held_sends_its_hold_back_to_the_queue_or_to_another_copy() {
    let s = one_copy_in_jinan().after(t0(), None, withdraw("JN-BC-1"));
    assert_eq!(state(&s, 1), Some(HoldState::Queued));
    assert_eq!(s.status("JN-BC-1"), &ItemStatus::Withdrawn);

    let s = one_copy_in_jinan()
        .and([biancheng("ZB-BC-1", "ZB-ZHOUCUN-07")])
        .after(t0(), None, withdraw("JN-BC-1"));
    assert_eq!(state(&s, 1), assigned("ZB-BC-1"));
}

#[test]
fn a_patron_blocked_while_their_hold_is_on_the_shelf_cannot_check_it_out() {
    let s = given(network())
        .and([biancheng("ZB-BC-1", "ZB-CENTRAL")])
        .and(shelf_items("ZB-CENTRAL", "ZB-L", 1))
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-L-01", &wang_fang()))
        // Placed 60 days on: the copy is at the pickup library, ready at once.
        .after(
            t0() + days(60),
            None,
            title_hold(&wang_fang(), "ZB-CENTRAL"),
        );
    assert!(is_ready(&s, 1, "ZB-BC-1"));
    // Day 62: ZB-L-01 is more than 30 days overdue.
    s.when_at(
        t0() + days(62),
        Some("ZB-CENTRAL"),
        checkout("ZB-BC-1", &wang_fang()),
    )
    .then_refused(RejectionKind::FailedPrecondition, "ZB-L-01");
}

#[test]
fn a_ready_hold_not_picked_up_expires_and_its_copy_goes_to_the_next_request() {
    let s = delivered().after(t0() + days(2), None, title_hold(&zhao(), "ZB-CENTRAL"));
    given(s.history().to_vec())
        .when_at(t0() + days(5), None, Command::ExpireHolds)
        .then_rejected(Rejection::NoHoldDue { at: t0() + days(5) });
    let s = s
        .when_at(t0() + days(10), None, Command::ExpireHolds)
        .then_accepted();
    assert!(matches!(
        s.history().last(),
        Some(Payload::HoldEnded(e)) if e.hold == 1 && e.reason == HoldEndReason::NotPickedUp as i32
    ));
    assert_eq!(state(&s, 1), None);
    assert_eq!(state(&s, 2), assigned("JN-BC-1"));
}

#[test]
fn a_ready_hold_not_picked_up_with_no_one_waiting_sends_the_copy_home() {
    let s = delivered()
        .when_at(t0() + days(10), None, Command::ExpireHolds)
        .then_accepted();
    assert_eq!(
        s.status("JN-BC-1"),
        &ItemStatus::OnShelf {
            library: "ZB-READING-01".into(),
            homebound: true
        }
    );
}

#[test]
fn a_hold_no_copy_was_found_for_expires_unfilled_but_not_one_with_a_copy_on_its_way() {
    let s = given(network())
        .and([biancheng("JN-BC-1", "JN-LIXIA-03")])
        .after(t0(), Some("JN-LIXIA-03"), checkout("JN-BC-1", &li_wei()))
        .after(t0(), None, title_hold(&wang_fang(), "ZB-CENTRAL"))
        .and([biancheng("JN-BC-2", "JN-LIXIA-03")])
        .after(t0(), None, title_hold(&zhao(), "ZB-CENTRAL"));
    assert_eq!(state(&s, 2), assigned("JN-BC-2"));
    let s = s
        .when_at(t0() + days(100), None, Command::ExpireHolds)
        .then_accepted();
    assert_eq!(state(&s, 1), None);
    assert_eq!(state(&s, 2), assigned("JN-BC-2"));
}

#[test]
fn one_sweep_expires_each_patrons_holds_in_separate_commands_when_they_share_a_stream() {
    let s = given(network())
        .and([
            biancheng("JN-BC-1", "JN-LIXIA-03"),
            catalogued("ZB-X", "ZB-CENTRAL", None),
        ])
        .after(t0(), Some("JN-LIXIA-03"), checkout("JN-BC-1", &li_wei()))
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-X", &li_wei()))
        .after(t0(), None, title_hold(&wang_fang(), "ZB-CENTRAL"))
        .after(t0(), None, item_hold(&wang_fang(), "ZB-X", "ZB-CENTRAL"));
    let s = s.after(t0() + days(100), None, Command::ExpireHolds);
    assert_eq!(s.patron(&wang_fang()).holds.len(), 1);
    let s = s.after(t0() + days(100), None, Command::ExpireHolds);
    assert!(s.patron(&wang_fang()).holds.is_empty());
}

#[test]
fn a_refusal_to_sweep_with_nothing_due_is_not_recorded() {
    assert!(
        !Rejection::NoHoldDue { at: t0() }.is_recorded(),
        "a sweep that finds nothing writes nothing"
    );
}

#[test]
fn a_copy_arriving_home_is_trapped_for_a_waiting_hold() {
    // Lent in Jinan, returned in Zibo: homebound; a Jinan reader waits for the title meanwhile.
    let s = given(network())
        .and([biancheng("JN-BC-1", "JN-LIXIA-03")])
        .after(t0(), Some("JN-LIXIA-03"), checkout("JN-BC-1", &wang_fang()))
        .after(t0() + days(3), Some("ZB-CENTRAL"), give_back("JN-BC-1"))
        .after(t0() + days(3), None, title_hold(&li_wei(), "JN-CENTRAL"));
    assert_eq!(
        state(&s, 1),
        Some(HoldState::Queued),
        "a homebound copy is not pulled"
    );
    let s = s
        .after(
            t0() + days(3),
            Some("ZB-CENTRAL"),
            dispatch("JN-BC-1", "JN-LIXIA-03", TransferReason::Repatriation),
        )
        .after(t0() + days(5), Some("JN-LIXIA-03"), receive("JN-BC-1"));
    assert_eq!(state(&s, 1), assigned("JN-BC-1"));
    // On JN-LIXIA-03's pick list now: it goes on as a hold transfer to JN-CENTRAL.
    s.when_at(
        t0() + days(5),
        Some("JN-LIXIA-03"),
        dispatch("JN-BC-1", "JN-CENTRAL", TransferReason::Hold),
    )
    .then_accepted();
}

#[test]
fn a_copy_in_a_booth_is_never_set_aside() {
    let s = given(network())
        .and([Payload::ItemCatalogued(pb::ItemCatalogued {
            item: "JN-B-BC".into(),
            isbn: ISBN.into(),
            title: "边城".into(),
            author: "沈从文".into(),
            owner_library: "JN-BOOTH-01".into(),
            price_fen: None,
            acquisition: pb::Acquisition::BoothDeposit as i32,
            placed_at: "JN-BOOTH-01".into(),
            in_booth: true,
        })])
        .after(t0(), None, title_hold(&wang_fang(), "JN-LIXIA-03"));
    assert_eq!(state(&s, 1), Some(HoldState::Queued));
    assert_eq!(s.ledger().items["JN-B-BC"].hold, None);
}
