//! A refusal as the ledger records it (ADR 0010): what a `CommandRefused` keeps of a rejection,
//! and that a recorded refusal is no fact: no later decision depends on it.

use chrono::Duration;
use readnet_domain::{Payload, Refusal, RejectionKind};

use crate::support::fixtures::*;
use crate::support::*;

#[test]
fn a_refused_checkout_is_recorded_with_its_rule_its_code_and_its_words() {
    let rejection = given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang_fang()),
        )
        .then_refused(RejectionKind::FailedPrecondition, "is not on the shelf");
    // The server's clock, a minute after the desk says it happened (a backdated request).
    let refused_at = t0() + Duration::minutes(1);
    let refusal = Refusal::of(&checkout("JN-000002", &wang_fang()), &rejection, refused_at);
    assert_eq!(refusal.command, "Checkout");
    assert_eq!(refusal.rule, "ItemNotOnShelf");
    assert_eq!(refusal.kind, RejectionKind::FailedPrecondition);
    assert_eq!(
        refusal.message,
        rejection.to_string(),
        "the words the caller read"
    );
    assert_eq!(refusal.to_string(), refusal.message);
    assert_eq!(refusal.refused_at, refused_at);
    let event = refusal.to_event();
    assert_eq!(
        event.kind(),
        readnet_domain::pb::RefusalKind::FailedPrecondition
    );
    assert_eq!(Refusal::from_event(&event).unwrap(), refusal);
}

#[test]
fn a_recorded_refusal_changes_no_later_decision() {
    let on_loan = given(network_jinan_zibo()).after(
        t0(),
        Some("JN-CENTRAL"),
        checkout("JN-000002", &li_wei()),
    );
    let rejection = on_loan
        .clone()
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang_fang()),
        )
        .then_refused(RejectionKind::FailedPrecondition, "on loan");
    let refused = Payload::CommandRefused(
        Refusal::of(&checkout("JN-000002", &wang_fang()), &rejection, t0()).to_event(),
    );

    // Given the loan, its refused rival and the return, the same checkout under a new command
    // id is decided on the item as it is, exactly as if the refusal had not been recorded.
    let later = t0() + Duration::hours(1);
    let without = on_loan
        .clone()
        .after(later, Some("JN-CENTRAL"), give_back("JN-000002"))
        .when_at(
            later,
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang_fang()),
        )
        .then_accepted();
    let with = given(on_loan.history().iter().cloned())
        .and([refused])
        .after(later, Some("JN-CENTRAL"), give_back("JN-000002"))
        .when_at(
            later,
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang_fang()),
        )
        .then_accepted();
    assert_eq!(with.ledger(), without.ledger());
}
