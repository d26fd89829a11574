//! The library tree: tier rules, parents in the same city, no cycles, and corrections
//! (LibraryMoved, LibraryRenamed, LibraryTierChanged) checked again.

use readnet_domain::pb::{self, LibraryTier};
use readnet_domain::{Command, LibraryCode, Payload, Rejection, RejectionKind};

use crate::support::fixtures::*;
use crate::support::*;

fn register(library: &str, city: &str, tier: LibraryTier, parent: Option<&str>) -> Command {
    Command::RegisterLibrary {
        library: library.into(),
        name: format!("{library} library"),
        city: city.into(),
        tier,
        parent: parent.map(LibraryCode::from),
    }
}

fn move_to(library: &str, parent: Option<&str>) -> Command {
    Command::MoveLibrary {
        library: library.into(),
        parent: parent.map(LibraryCode::from),
    }
}

fn change_tier(library: &str, tier: LibraryTier) -> Command {
    Command::ChangeLibraryTier {
        library: library.into(),
        tier,
    }
}

#[test]
fn a_second_central_library_in_a_city_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), None, register("JN-CENTRAL-2", "jinan", LibraryTier::Central, None))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::SecondCentralLibrary {
                library: "JN-CENTRAL-2".into(),
                city: "jinan".into(),
                central: "JN-CENTRAL".into(),
            },
            "library JN-CENTRAL-2: city jinan has its central library already, JN-CENTRAL (rule: one central library per city)",
        );
}

#[test]
fn a_central_library_under_a_booth_is_refused() {
    given(network_jinan_zibo())
        .and([
            city_joined("tongling", "铜陵", "Asia/Shanghai"),
            library_registered("TL-BOOTH-01", "tongling", LibraryTier::Booth, None),
        ])
        .when_at(t0(), None, register("TL-CENTRAL", "tongling", LibraryTier::Central, Some("TL-BOOTH-01")))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::ParentTierNotAllowed {
                library: "TL-CENTRAL".into(),
                tier: LibraryTier::Central,
                parent: "TL-BOOTH-01".into(),
                parent_tier: LibraryTier::Booth,
            },
            "parent: a central library cannot be under TL-BOOTH-01, a booth library (rule: a central library has no parent)",
        );
    given(network_jinan_zibo())
        .when_at(t0(), None, register("JN-NEW", "jinan", LibraryTier::Branch, Some("JN-BOOTH-01")))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::ParentTierNotAllowed {
                library: "JN-NEW".into(),
                tier: LibraryTier::Branch,
                parent: "JN-BOOTH-01".into(),
                parent_tier: LibraryTier::Booth,
            },
            "parent: a branch library cannot be under JN-BOOTH-01, a booth library (rule: a branch is under a general or the central library)",
        );
}

#[test]
fn a_parent_in_another_city_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), None, register("JN-LICHENG-01", "jinan", LibraryTier::Branch, Some("ZB-CENTRAL")))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::ParentInOtherCity {
                library: "JN-LICHENG-01".into(),
                city: "jinan".into(),
                parent: "ZB-CENTRAL".into(),
                parent_city: "zibo".into(),
            },
            "parent: ZB-CENTRAL is in city zibo, JN-LICHENG-01 in jinan (rule: a library's parent is in its own city)",
        );
}

#[test]
fn every_tier_finds_its_place_in_the_tree() {
    given(network_jinan_zibo())
        .after(
            t0(),
            None,
            register("JN-G01", "jinan", LibraryTier::General, Some("JN-CENTRAL")),
        )
        .after(
            t0(),
            None,
            register("JN-G01-B01", "jinan", LibraryTier::Branch, Some("JN-G01")),
        )
        .after(
            t0(),
            None,
            register(
                "JN-G01-SP1",
                "jinan",
                LibraryTier::ServicePoint,
                Some("JN-G01-B01"),
            ),
        )
        .after(
            t0(),
            None,
            register(
                "JN-24H-01",
                "jinan",
                LibraryTier::SelfService,
                Some("JN-G01-SP1"),
            ),
        )
        .after(
            t0(),
            None,
            register("JN-BOOTH-02", "jinan", LibraryTier::Booth, Some("JN-G01")),
        )
        .when_at(
            t0(),
            None,
            register(
                "JN-24H-02",
                "jinan",
                LibraryTier::SelfService,
                Some("JN-24H-01"),
            ),
        )
        .then_refused(
            RejectionKind::FailedPrecondition,
            "24-hour libraries and booths are under any library but",
        );
}

#[test]
fn a_general_library_is_under_the_central_library_only() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            register("JN-G02", "jinan", LibraryTier::General, Some("JN-LIXIA-03")),
        )
        .then_refused(
            RejectionKind::FailedPrecondition,
            "a general library is under its city's central library",
        );
}

#[test]
fn moving_a_library_records_its_new_and_old_parent() {
    let after = given(network_jinan_zibo())
        .after(
            t0(),
            None,
            register("JN-G01", "jinan", LibraryTier::General, Some("JN-CENTRAL")),
        )
        .when_at(t0(), None, move_to("JN-BOOTH-01", Some("JN-G01")))
        .then_events(vec![network_event(Payload::LibraryMoved(
            pb::LibraryMoved {
                library: "JN-BOOTH-01".into(),
                parent: "JN-G01".into(),
                previous_parent: "JN-LIXIA-03".into(),
            },
        ))]);
    assert_eq!(
        after.ledger().network.libraries["JN-BOOTH-01"].parent,
        Some("JN-G01".into())
    );
}

#[test]
fn a_move_under_its_own_subtree_is_a_cycle() {
    given(network_jinan_zibo())
        .after(
            t0(),
            None,
            register("JN-G01", "jinan", LibraryTier::General, Some("JN-CENTRAL")),
        )
        .after(
            t0(),
            None,
            register("JN-G01-B01", "jinan", LibraryTier::Branch, Some("JN-G01")),
        )
        .after(
            t0(),
            None,
            register(
                "JN-G01-SP1",
                "jinan",
                LibraryTier::ServicePoint,
                Some("JN-G01-B01"),
            ),
        )
        .when_at(t0(), None, move_to("JN-G01-B01", Some("JN-G01-SP1")))
        .then_rejected(Rejection::TreeCycle {
            library: "JN-G01-B01".into(),
            parent: "JN-G01-SP1".into(),
        });
}

#[test]
fn a_move_to_the_same_parent_changes_nothing_and_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), None, move_to("JN-LIXIA-03", Some("JN-CENTRAL")))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::LibraryUnchanged {
                library: "JN-LIXIA-03".into(),
                what: "its parent",
                value: "JN-CENTRAL".into(),
            },
            "JN-LIXIA-03: its parent is already JN-CENTRAL; nothing to change",
        );
}

#[test]
fn a_move_to_another_city_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), None, move_to("JN-LIXIA-03", Some("ZB-CENTRAL")))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "rule: a library's parent is in its own city",
        );
}

#[test]
fn renaming_records_the_new_name() {
    let after = given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            Command::RenameLibrary {
                library: "JN-LIXIA-03".into(),
                name: "历下区图书馆".into(),
            },
        )
        .then_events(vec![network_event(Payload::LibraryRenamed(
            pb::LibraryRenamed {
                library: "JN-LIXIA-03".into(),
                name: "历下区图书馆".into(),
            },
        ))]);
    assert_eq!(
        after.ledger().network.libraries["JN-LIXIA-03"].name,
        "历下区图书馆"
    );
}

#[test]
fn a_tier_change_is_checked_against_parent_and_children() {
    // JN-LIXIA-03 (a branch under the central library) has the booth under it: it may become a
    // general library; a booth under it is still fine.
    let after = given(network_jinan_zibo())
        .when_at(t0(), None, change_tier("JN-LIXIA-03", LibraryTier::General))
        .then_events(vec![network_event(Payload::LibraryTierChanged(
            pb::LibraryTierChanged {
                library: "JN-LIXIA-03".into(),
                tier: LibraryTier::General as i32,
            },
        ))]);
    assert_eq!(
        after.ledger().network.libraries["JN-LIXIA-03"].tier,
        LibraryTier::General
    );
    // The booth under a branch cannot become a general library: those are under the central.
    given(network_jinan_zibo())
        .when_at(t0(), None, change_tier("JN-BOOTH-01", LibraryTier::General))
        .then_rejected(Rejection::ParentTierNotAllowed {
            library: "JN-BOOTH-01".into(),
            tier: LibraryTier::General,
            parent: "JN-LIXIA-03".into(),
            parent_tier: LibraryTier::Branch,
        });
    given(network_jinan_zibo())
        .and([library_registered(
            "JN-X",
            "jinan",
            LibraryTier::SelfService,
            Some("JN-CENTRAL"),
        )])
        .and([library_registered(
            "JN-Y",
            "jinan",
            LibraryTier::Booth,
            Some("JN-X"),
        )])
        .when_at(t0(), None, change_tier("JN-X", LibraryTier::ServicePoint))
        .then_accepted();
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            change_tier("JN-LIXIA-03", LibraryTier::SelfService),
        )
        .then_rejected(Rejection::ChildTierNotAllowed {
            library: "JN-LIXIA-03".into(),
            tier: LibraryTier::SelfService,
            child: "JN-BOOTH-01".into(),
            child_tier: LibraryTier::Booth,
        });
}

#[test]
fn a_central_library_cannot_become_a_second_one_by_tier_change() {
    given(network_jinan_zibo())
        .when_at(t0(), None, change_tier("JN-LIXIA-03", LibraryTier::Central))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "one central library per city",
        );
}

#[test]
fn old_registrations_that_break_the_tree_rules_still_replay() {
    // Recorded before the rules: two central libraries in a city, a branch under a booth in
    // another city. Folding them is fine; only new commands are checked.
    let after = given(network_jinan_zibo()).and([
        library_registered(
            "JN-CENTRAL-OLD",
            "jinan",
            LibraryTier::Central,
            Some("JN-BOOTH-01"),
        ),
        library_registered("ZB-ODD", "zibo", LibraryTier::Branch, Some("JN-BOOTH-01")),
    ]);
    assert_eq!(after.ledger().network.libraries.len(), 7);
    // A correction of such a library is checked by the rules of today.
    after
        .when_at(t0(), None, move_to("ZB-ODD", Some("ZB-CENTRAL")))
        .then_accepted();
}
