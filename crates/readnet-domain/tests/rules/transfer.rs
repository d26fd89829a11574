//! Transfers: dispatch from where the item is, receive at the destination; homebound items go home.

use readnet_domain::pb::{self, TransferReason};
use readnet_domain::{Command, ItemStatus, Payload, Rejection, RejectionKind, Whereabouts};

use crate::support::fixtures::*;
use crate::support::*;

use TransferReason::{Hold, Rebalance, Repatriation};

/// ZB-000123 (owned by ZB-CENTRAL) borrowed in Zibo by Li Wei and returned at JN-LIXIA-03:
/// on the shelf there, homebound.
fn zb_000123_homebound_at_lixia() -> Scenario {
    given(network_jinan_zibo())
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
        .after(t0() + days(5), Some("JN-LIXIA-03"), give_back("ZB-000123"))
}

fn dispatched(
    item: &str,
    from: &str,
    to: &str,
    reason: TransferReason,
    owner: &str,
) -> Vec<readnet_domain::NewEvent> {
    vec![item_event(
        item,
        Payload::TransferDispatched(pb::TransferDispatched {
            item: item.into(),
            from_library: from.into(),
            to_library: to.into(),
            reason: reason as i32,
            owner_library: owner.into(),
            hold: 0,
        }),
    )]
}

fn received(item: &str, from: &str, to: &str, in_booth: bool) -> Vec<readnet_domain::NewEvent> {
    vec![item_event(
        item,
        Payload::TransferReceived(pb::TransferReceived {
            item: item.into(),
            from_library: from.into(),
            to_library: to.into(),
            in_booth,
            homebound: false,
        }),
    )]
}

#[test]
fn dispatch_from_the_items_library_puts_it_in_transit() {
    let after = given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", Rebalance),
        )
        .then_events(dispatched(
            "JN-000002",
            "JN-CENTRAL",
            "JN-LIXIA-03",
            Rebalance,
            "JN-CENTRAL",
        ));
    assert_eq!(
        after.status("JN-000002"),
        &ItemStatus::InTransit {
            from: "JN-CENTRAL".into(),
            to: "JN-LIXIA-03".into(),
            reason: Rebalance,
        }
    );
}

#[test]
fn dispatch_from_another_library_than_the_items_is_refused() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            dispatch("JN-000002", "ZB-CENTRAL", Hold),
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::ItemNotAtLibrary {
                item: "JN-000002".into(),
                library: "JN-LIXIA-03".into(),
                whereabouts: Whereabouts::OnShelf {
                    library: "JN-CENTRAL".into(),
                    homebound_to: None,
                },
            },
            "item JN-000002 is not at JN-LIXIA-03 to dispatch: it is on the shelf at JN-CENTRAL",
        );
}

#[test]
fn dispatch_of_an_item_on_loan_is_refused() {
    given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", Rebalance),
        )
        .then_rejected(Rejection::ItemNotAtLibrary {
            item: "JN-000002".into(),
            library: "JN-CENTRAL".into(),
            whereabouts: Whereabouts::OnLoan {
                library: "JN-CENTRAL".into(),
                due_date: date(2026, 4, 1),
            },
        });
}

#[test]
fn dispatch_without_a_reason_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", TransferReason::Unspecified),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::TransferReasonRequired,
            "reason: repatriation, hold or rebalance is required",
        );
}

#[test]
fn dispatch_without_an_acting_library_is_invalid() {
    given(network_jinan_zibo())
        .when_at(t0(), None, dispatch("JN-000002", "JN-LIXIA-03", Rebalance))
        .then_rejected(Rejection::ActingLibraryMissing);
}

#[test]
fn dispatch_to_the_same_library_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-CENTRAL", Rebalance),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::TransferToItself {
                library: "JN-CENTRAL".into(),
            },
            "to_library: JN-CENTRAL is where the item already is",
        );
}

#[test]
fn dispatch_to_an_unknown_library_is_not_found() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-NOWHERE", Rebalance),
        )
        .then_rejected(Rejection::LibraryNotRegistered {
            field: "to_library",
            library: "JN-NOWHERE".into(),
        });
}

#[test]
fn dispatch_to_a_closed_library_is_refused() {
    given(network_jinan_zibo())
        .and([library_closed("JN-LIXIA-03")])
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", Rebalance),
        )
        .then_rejected(Rejection::LibraryClosed {
            library: "JN-LIXIA-03".into(),
        });
}

#[test]
fn a_closed_library_can_still_send_its_stock_away() {
    // Closing a library must not strand the books on its shelves.
    let after = given(network_jinan_zibo())
        .and([library_closed("JN-LIXIA-03")])
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            dispatch("JN-000003", "JN-CENTRAL", Rebalance),
        )
        .then_accepted();
    assert!(matches!(
        &after.ledger().items["JN-000003"].status,
        ItemStatus::InTransit { from, to, .. } if from == "JN-LIXIA-03" && to == "JN-CENTRAL"
    ));
}

#[test]
fn repatriation_goes_to_the_owner() {
    zb_000123_homebound_at_lixia()
        .when_at(
            t0() + days(5),
            Some("JN-LIXIA-03"),
            dispatch("ZB-000123", "ZB-CENTRAL", Repatriation),
        )
        .then_events(dispatched(
            "ZB-000123",
            "JN-LIXIA-03",
            "ZB-CENTRAL",
            Repatriation,
            "ZB-CENTRAL",
        ));
}

#[test]
fn repatriation_to_another_library_than_the_owner_is_refused() {
    zb_000123_homebound_at_lixia()
        .when_at(
            t0() + days(5),
            Some("JN-LIXIA-03"),
            dispatch("ZB-000123", "ZB-ZHOUCUN-07", Repatriation),
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::RepatriationNotToOwner {
                owner: "ZB-CENTRAL".into(),
                to: "ZB-ZHOUCUN-07".into(),
            },
            "a repatriation goes to the item's owner ZB-CENTRAL, not to ZB-ZHOUCUN-07",
        );
}

#[test]
fn homebound_item_can_only_be_dispatched_as_repatriation() {
    zb_000123_homebound_at_lixia()
        .when_at(
            t0() + days(5),
            Some("JN-LIXIA-03"),
            dispatch("ZB-000123", "JN-CENTRAL", Hold),
        )
        .then_rejected_saying(RejectionKind::FailedPrecondition, Rejection::HomeboundOnlyRepatriation { item: "ZB-000123".into(), owner: "ZB-CENTRAL".into() }, "item ZB-000123 is homebound to ZB-CENTRAL: it can only be dispatched home (repatriation)");
}

#[test]
fn homebound_item_cannot_be_rebalanced_even_to_its_owner() {
    zb_000123_homebound_at_lixia()
        .when_at(
            t0() + days(5),
            Some("JN-LIXIA-03"),
            dispatch("ZB-000123", "ZB-CENTRAL", Rebalance),
        )
        .then_rejected(Rejection::HomeboundOnlyRepatriation {
            item: "ZB-000123".into(),
            owner: "ZB-CENTRAL".into(),
        });
}

#[test]
fn item_in_transit_cannot_be_returned() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", Rebalance),
        )
        .when_at(t0(), Some("JN-LIXIA-03"), give_back("JN-000002"))
        .then_rejected(Rejection::ItemNotOnLoan {
            item: "JN-000002".into(),
            whereabouts: Whereabouts::InTransit {
                from: "JN-CENTRAL".into(),
                to: "JN-LIXIA-03".into(),
            },
        });
}

#[test]
fn item_in_transit_cannot_be_dispatched_again() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", Rebalance),
        )
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "ZB-CENTRAL", Hold),
        )
        .then_rejected(Rejection::ItemNotAtLibrary {
            item: "JN-000002".into(),
            library: "JN-CENTRAL".into(),
            whereabouts: Whereabouts::InTransit {
                from: "JN-CENTRAL".into(),
                to: "JN-LIXIA-03".into(),
            },
        });
}

#[test]
fn receive_at_the_destination_puts_it_on_the_shelf_there() {
    let after = given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", Rebalance),
        )
        .when_at(t0() + days(1), Some("JN-LIXIA-03"), receive("JN-000002"))
        .then_events(received("JN-000002", "JN-CENTRAL", "JN-LIXIA-03", false));
    assert_eq!(
        after.status("JN-000002"),
        &ItemStatus::OnShelf {
            library: "JN-LIXIA-03".into(),
            homebound: false
        }
    );
}

#[test]
fn receive_elsewhere_than_the_destination_is_refused() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", Rebalance),
        )
        .when_at(t0() + days(1), Some("ZB-CENTRAL"), receive("JN-000002"))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::InTransitElsewhere {
                item: "JN-000002".into(),
                to: "JN-LIXIA-03".into(),
                library: "ZB-CENTRAL".into(),
            },
            "item JN-000002 is in transit to JN-LIXIA-03, not to ZB-CENTRAL",
        );
}

#[test]
fn receive_of_an_item_not_in_transit_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-CENTRAL"), receive("JN-000002"))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::ItemNotInTransit {
                item: "JN-000002".into(),
                whereabouts: Whereabouts::OnShelf {
                    library: "JN-CENTRAL".into(),
                    homebound_to: None,
                },
            },
            "item JN-000002 is not in transit: it is on the shelf at JN-CENTRAL",
        );
}

#[test]
fn an_item_in_transit_to_a_library_that_closed_meanwhile_can_still_arrive() {
    // The parcel is at the door: receiving it records where the book is, so it can be sent on.
    let after = given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", Rebalance),
        )
        .and([library_closed("JN-LIXIA-03")])
        .when_at(t0() + days(1), Some("JN-LIXIA-03"), receive("JN-000002"))
        .then_accepted();
    assert!(matches!(
        &after.ledger().items["JN-000002"].status,
        ItemStatus::OnShelf { library, .. } if library == "JN-LIXIA-03"
    ));
}

#[test]
fn receiving_a_repatriation_at_the_owner_clears_homebound() {
    let after = zb_000123_homebound_at_lixia()
        .after(
            t0() + days(5),
            Some("JN-LIXIA-03"),
            dispatch("ZB-000123", "ZB-CENTRAL", Repatriation),
        )
        .when_at(t0() + days(7), Some("ZB-CENTRAL"), receive("ZB-000123"))
        .then_events(received("ZB-000123", "JN-LIXIA-03", "ZB-CENTRAL", false));
    assert_eq!(
        after.status("ZB-000123"),
        &ItemStatus::OnShelf {
            library: "ZB-CENTRAL".into(),
            homebound: false
        }
    );
    after
        .when_at(
            t0() + days(7),
            Some("ZB-CENTRAL"),
            checkout("ZB-000123", &wang_fang()),
        )
        .then_accepted();
}

#[test]
fn restocking_a_booth_puts_the_item_in_the_booth() {
    let after = given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-LIXIA-03"),
            dispatch("JN-000003", "JN-BOOTH-01", Rebalance),
        )
        .when_at(t0() + days(1), Some("JN-BOOTH-01"), receive("JN-000003"))
        .then_events(received("JN-000003", "JN-LIXIA-03", "JN-BOOTH-01", true));
    assert_eq!(
        after.status("JN-000003"),
        &ItemStatus::InBooth {
            booth: "JN-BOOTH-01".into()
        }
    );
    after
        .when_at(
            t0() + days(1),
            Some("JN-BOOTH-01"),
            Command::BoothSwap {
                take_item: "JN-000003".into(),
                patron: li_wei(),
                deposit: book("JN-B-0009", "边城", None),
            },
        )
        .then_accepted();
}

#[test]
fn an_item_in_a_booth_can_be_dispatched_from_the_booth() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            dispatch("JN-B-0001", "JN-LIXIA-03", Rebalance),
        )
        .then_events(dispatched(
            "JN-B-0001",
            "JN-BOOTH-01",
            "JN-LIXIA-03",
            Rebalance,
            "JN-BOOTH-01",
        ));
}

/// ZB-000123 homebound at JN-LIXIA-03, and JN-DC Jinan's distribution centre.
fn homebound_with_a_jinan_centre() -> Scenario {
    given(network_jinan_zibo())
        .and([
            library_registered(
                "JN-DC",
                "jinan",
                readnet_domain::pb::LibraryTier::General,
                None,
            ),
            Payload::LibraryRolesSet(pb::LibraryRolesSet {
                library: "JN-DC".into(),
                delivery_point: false,
                distribution_centre: true,
            }),
        ])
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
        .after(t0() + days(5), Some("JN-LIXIA-03"), give_back("ZB-000123"))
}

#[test]
fn a_homebound_copy_goes_home_through_its_citys_distribution_centre() {
    let at_centre = homebound_with_a_jinan_centre()
        .after(
            t0() + days(5),
            Some("JN-LIXIA-03"),
            dispatch("ZB-000123", "JN-DC", Repatriation),
        )
        .after(t0() + days(6), Some("JN-DC"), receive("ZB-000123"));
    assert_eq!(
        at_centre.ledger().items["ZB-000123"].status,
        ItemStatus::OnShelf {
            library: "JN-DC".into(),
            homebound: true,
        },
        "still away from home at the centre"
    );
    // The centre sends it on home; elsewhere than home it may not go.
    at_centre
        .clone()
        .when_at(
            t0() + days(6),
            Some("JN-DC"),
            dispatch("ZB-000123", "ZB-ZHOUCUN-07", Repatriation),
        )
        .then_rejected(Rejection::RepatriationNotToOwner {
            owner: "ZB-CENTRAL".into(),
            to: "ZB-ZHOUCUN-07".into(),
        });
    at_centre
        .when_at(
            t0() + days(6),
            Some("JN-DC"),
            dispatch("ZB-000123", "ZB-CENTRAL", Repatriation),
        )
        .then_events(dispatched(
            "ZB-000123",
            "JN-DC",
            "ZB-CENTRAL",
            Repatriation,
            "ZB-CENTRAL",
        ));
}

#[test]
fn only_a_homebound_copy_goes_to_the_centre_as_a_repatriation() {
    // JN-000001 is at home: a repatriation can only be a no-op to its owner, never the centre.
    homebound_with_a_jinan_centre()
        .when_at(
            t0() + days(5),
            Some("JN-CENTRAL"),
            dispatch("JN-000001", "JN-DC", Repatriation),
        )
        .then_rejected(Rejection::RepatriationNotToOwner {
            owner: "JN-CENTRAL".into(),
            to: "JN-DC".into(),
        });
}
