//! Forgetting a patron (ADR 0018): only once nothing of theirs is open, by the card city's
//! administrator or a network administrator; afterwards nothing of them stays in the state.

use readnet_domain::pb::{self, Channel, CreditTier, ForgetReason};
use readnet_domain::{
    Authority, Command, Grant, HoldTarget, PatronRef, Payload, RejectionKind, Role, Scope, StreamId,
};

use crate::support::fixtures::*;
use crate::support::*;

fn forget(patron: &PatronRef) -> Command {
    Command::ForgetPatron {
        patron: patron.clone(),
        reason: ForgetReason::Request,
    }
}

fn admin_of(city: &str) -> Authority {
    Authority {
        principal: format!("{city}-admin").as_str().into(),
        grant: Grant {
            role: Role::CityAdmin,
            scope: Scope::City(city.into()),
        },
    }
}

/// Li Wei borrowed ZB-000123 at ZB-CENTRAL and returned it: nothing of theirs is open.
fn li_wei_borrowed_and_returned() -> Scenario {
    given(network_jinan_zibo())
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
        .after(t0() + days(3), Some("ZB-CENTRAL"), give_back("ZB-000123"))
}

#[test]
fn forgetting_a_patron_with_nothing_open_records_patron_forgotten_naming_only_their_city() {
    let patron = li_wei();
    let after = li_wei_borrowed_and_returned()
        .when_at(t0() + days(4), None, forget(&patron))
        .then_events(vec![patron_event(
            &patron,
            Payload::PatronForgotten(pb::PatronForgotten {
                patron_id: patron.patron_id.clone().into(),
                city: "jinan".into(),
                reason: ForgetReason::Request as i32,
            }),
        )]);
    assert!(
        !after.ledger().patrons.contains_key(&patron.patron_id),
        "a forgotten patron is gone from the decider's state"
    );
}

#[test]
fn a_forgotten_card_used_again_enrols_a_new_patron() {
    let patron = li_wei();
    let after = li_wei_borrowed_and_returned()
        .after(t0() + days(4), None, forget(&patron))
        .when_at(
            t0() + days(5),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &patron),
        )
        .then_accepted();
    let again = after.patron(&patron);
    assert_eq!(again.tier, CreditTier::Standard);
    assert_eq!(again.loans.len(), 1, "only the new loan is theirs");
}

#[test]
fn forgetting_a_patron_with_an_item_on_loan_is_refused_naming_the_item() {
    given(network_jinan_zibo())
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
        .when_at(t0() + days(1), None, forget(&li_wei()))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "cannot be forgotten: 1 item(s) on loan (ZB-000123) (rule: a patron with loans, open holds or debts is not forgotten)",
        );
}

#[test]
fn forgetting_a_patron_with_an_unpaid_lost_item_is_refused_until_it_is_paid() {
    let lost = given(network_jinan_zibo())
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
        .after(t0() + days(20), None, declare_lost("ZB-000123"));
    lost.clone()
        .when_at(t0() + days(21), None, forget(&li_wei()))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "an unpaid debt for lost item(s) (ZB-000123)",
        );
    lost.after(t0() + days(21), Some("ZB-CENTRAL"), pay("ZB-000123", 4500))
        .when_at(t0() + days(22), None, forget(&li_wei()))
        .then_accepted();
}

#[test]
fn forgetting_a_patron_with_an_open_hold_is_refused_naming_the_hold() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("ZB-CENTRAL"),
            checkout("ZB-000123", &wang_fang()),
        )
        .after(
            t0(),
            Some("JN-CENTRAL"),
            Command::PlaceHold {
                patron: li_wei(),
                target: HoldTarget::Item("ZB-000123".into()),
                pickup_library: "JN-CENTRAL".into(),
            },
        )
        .when_at(t0() + days(1), None, forget(&li_wei()))
        .then_refused(RejectionKind::FailedPrecondition, "1 open hold(s) (1)");
}

#[test]
fn forgetting_a_card_never_used_is_not_found() {
    given(network_jinan_zibo())
        .when_at(t0(), None, forget(&li_wei()))
        .then_refused(RejectionKind::NotFound, "has not been used yet");
}

#[test]
fn forgetting_without_a_reason_is_refused_naming_the_field() {
    li_wei_borrowed_and_returned()
        .when_at(
            t0() + days(4),
            None,
            Command::ForgetPatron {
                patron: li_wei(),
                reason: ForgetReason::Unspecified,
            },
        )
        .then_refused(RejectionKind::InvalidArgument, "reason:");
}

#[test]
fn a_city_admin_forgets_readers_of_its_own_city_only() {
    li_wei_borrowed_and_returned()
        .when_by(
            &admin_of("jinan"),
            t0() + days(4),
            None,
            Channel::Desk,
            forget(&li_wei()),
        )
        .then_accepted();
    li_wei_borrowed_and_returned()
        .when_by(
            &admin_of("zibo"),
            t0() + days(4),
            None,
            Channel::Desk,
            forget(&li_wei()),
        )
        .then_refused(RejectionKind::PermissionDenied, "for city jinan");
}

#[test]
fn a_desk_may_not_forget_a_reader() {
    let desk = Authority {
        principal: "desk-zb".into(),
        grant: Grant {
            role: Role::Desk,
            scope: Scope::Libraries(["ZB-CENTRAL".into()].into_iter().collect()),
        },
    };
    li_wei_borrowed_and_returned()
        .when_by(
            &desk,
            t0() + days(4),
            Some("ZB-CENTRAL"),
            Channel::Desk,
            forget(&li_wei()),
        )
        .then_refused(RejectionKind::PermissionDenied, "ForgetPatron");
}

#[test]
fn forgetting_closes_the_patrons_stream() {
    let patron = li_wei();
    let before = li_wei_borrowed_and_returned();
    let version = before.version(&StreamId::Patron(patron.patron_id.clone().into()));
    assert_eq!(version, 1, "the enrolment");
    let after = before
        .when_at(t0() + days(4), None, forget(&patron))
        .then_accepted();
    assert_eq!(
        after.version(&StreamId::Patron(patron.patron_id.clone().into())),
        0,
        "the stream is closed: the ledger names the next one after a new key"
    );
}

#[test]
fn the_retention_policy_picks_patrons_inactive_since_the_cut_off_with_nothing_open() {
    use readnet_domain::retention_candidates;
    // Li Wei was last active (enrolled) on day 3; Wang Fang has a book on loan.
    let scenario = given(network_jinan_zibo())
        .and_at(t0() + days(3), [enrolled(&li_wei(), CreditTier::Standard)])
        .after(
            t0() + days(10),
            Some("ZB-ZHOUCUN-07"),
            checkout("ZB-000124", &wang_fang()),
        );
    let ledger = scenario.ledger();
    assert!(retention_candidates(ledger, t0() + days(3), 10).is_empty());
    let due = retention_candidates(ledger, t0() + days(400), 10);
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].patron_id, li_wei().patron_id);
    assert_eq!(due[0].masked_card, "a patron of jinan");
    assert!(retention_candidates(ledger, t0() + days(400), 0).is_empty());
    // What it picks, ForgetPatron accepts.
    scenario
        .when_at(
            t0() + days(400),
            None,
            Command::ForgetPatron {
                patron: due[0].clone(),
                reason: ForgetReason::Retention,
            },
        )
        .then_accepted();
}
