//! Honest time: nothing is dated before the item, library or city it is about existed.

use chrono::Duration;
use readnet_domain::pb::LibraryTier;
use readnet_domain::{Command, Rejection, RejectionKind};

use crate::support::fixtures::*;
use crate::support::*;

/// The network as the server knows it: every event with the time it happened.
fn network_joined_a_month_ago() -> crate::support::Scenario {
    given([]).and_at(t0() - Duration::days(30), network_jinan_zibo())
}

#[test]
fn a_loan_dated_before_its_item_was_catalogued_is_refused() {
    let catalogued_at = t0() - Duration::minutes(5);
    let scenario = network_joined_a_month_ago().and_at(
        catalogued_at,
        [catalogued("JN-NEW-0001", "JN-CENTRAL", Some(2000))],
    );
    let long_ago = shanghai(2015, 6, 1, 10, 0, 0);
    scenario
        .clone()
        .when_at(long_ago, Some("JN-CENTRAL"), checkout("JN-NEW-0001", &li_wei()))
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::BeforeItExisted {
                what: "item",
                name: "JN-NEW-0001".into(),
                verb: "was catalogued",
                since: catalogued_at,
                occurred_at: long_ago,
            },
            "occurred_at: 2015-06-01T02:00:00+00:00 is before item JN-NEW-0001 was catalogued (2026-03-02T01:55:00+00:00); nothing of it happens before that",
        );
    // A kiosk's loan synced late, but after the cataloguing, is fine.
    scenario
        .when_at(
            t0() - Duration::minutes(1),
            Some("JN-CENTRAL"),
            checkout("JN-NEW-0001", &li_wei()),
        )
        .then_accepted();
}

#[test]
fn nothing_happens_at_a_library_before_it_was_registered_or_in_a_city_before_it_joined() {
    let scenario = network_joined_a_month_ago();
    scenario
        .clone()
        .when_at(
            t0() - Duration::days(31),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_refused(
            RejectionKind::InvalidArgument,
            "before item JN-000001 was catalogued",
        );
    scenario
        .clone()
        .when_at(
            t0() - Duration::days(31),
            None,
            Command::RegisterLibrary {
                library: "JN-NEW".into(),
                name: "新馆".into(),
                city: "jinan".into(),
                tier: LibraryTier::Branch,
                parent: None,
            },
        )
        .then_refused(
            RejectionKind::InvalidArgument,
            "before city jinan joined the network",
        );
    scenario
        .when_at(
            t0() - Duration::days(31),
            None,
            Command::SetReturnPolicy {
                library: "JN-CENTRAL".into(),
                policy: readnet_domain::pb::ReturnPolicy::FloatInCity,
            },
        )
        .then_refused(
            RejectionKind::InvalidArgument,
            "before library JN-CENTRAL was registered",
        );
}

#[test]
fn events_folded_without_their_time_are_not_checked() {
    // A state built from payloads alone (a test, an old tool) knows no times: nothing to check.
    given(network_jinan_zibo())
        .when_at(
            shanghai(2015, 6, 1, 10, 0, 0),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_accepted();
}
