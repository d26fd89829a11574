//! Evolve asserts what each event presupposes: an event the state rules out was written past
//! the rules, and `apply` refuses to fold it rather than ignore it.

use readnet_domain::pb::{self, LibraryTier};
use readnet_domain::{Ledger, Payload, StreamId};

use crate::support::fixtures::*;
use crate::support::*;

fn renewed(item: &str, patron_id: &str) -> Payload {
    Payload::ItemRenewed(pb::ItemRenewed {
        item: item.into(),
        patron_id: patron_id.into(),
        due_at_us: us(t0() + days(60)),
        renewal_count: 1,
    })
}

#[test]
#[should_panic(expected = "ItemRenewed cannot follow the state of item JN-000002")]
fn a_renewal_of_an_item_on_the_shelf_is_not_folded() {
    given(network_jinan_zibo()).and([renewed("JN-000002", li_wei().patron_id.as_str())]);
}

#[test]
#[should_panic(expected = "ItemRenewed cannot follow the state of item JN-000002")]
fn a_renewal_by_another_patron_than_the_borrower_is_not_folded() {
    given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .and([renewed("JN-000002", wang_fang().patron_id.as_str())]);
}

#[test]
#[should_panic(expected = "LostItemPaid cannot follow the state of item JN-000002")]
fn a_payment_without_a_lost_item_debt_is_not_folded() {
    given(network_jinan_zibo()).and([Payload::LostItemPaid(pb::LostItemPaid {
        item: "JN-000002".into(),
        patron_id: li_wei().patron_id.into(),
        amount_fen: 100,
    })]);
}

#[test]
#[should_panic(expected = "LostItemPaid cannot follow the state of item JN-000002")]
fn a_payment_above_the_debt_is_not_folded() {
    given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .after(t0(), None, declare_lost("JN-000002"))
        .and([Payload::LostItemPaid(pb::LostItemPaid {
            item: "JN-000002".into(),
            patron_id: li_wei().patron_id.into(),
            amount_fen: 3901,
        })]);
}

#[test]
#[should_panic(expected = "LibraryClosed cannot follow the ledger's state: library JN-NOWHERE")]
fn closing_an_unknown_library_is_not_folded() {
    given(network_jinan_zibo()).and([library_closed("JN-NOWHERE")]);
}

#[test]
#[should_panic(expected = "library ZB-ZHOUCUN-07 is closed already")]
fn closing_a_closed_library_is_not_folded() {
    given(network_jinan_zibo()).and([
        library_closed("ZB-ZHOUCUN-07"),
        library_closed("ZB-ZHOUCUN-07"),
    ]);
}

#[test]
#[should_panic(expected = "LibraryRegistered cannot follow the ledger's state")]
fn a_library_of_a_city_that_has_not_joined_is_not_folded() {
    given(network_jinan_zibo()).and([library_registered(
        "QD-CENTRAL",
        "qingdao",
        LibraryTier::Central,
        None,
    )]);
}

#[test]
#[should_panic(
    expected = "ItemWithdrawn cannot follow the ledger's state: item JN-999999 is not catalogued"
)]
fn an_event_of_an_item_never_catalogued_is_not_folded() {
    given(network_jinan_zibo()).and([Payload::ItemWithdrawn(pb::ItemWithdrawn {
        item: "JN-999999".into(),
        reason: "worn out".into(),
    })]);
}

#[test]
#[should_panic(expected = "ItemLoaned cannot follow the state of item JN-000002")]
fn an_item_on_loan_is_not_lent_again() {
    let scenario = given(network_jinan_zibo()).after(
        t0(),
        Some("JN-CENTRAL"),
        checkout("JN-000002", &li_wei()),
    );
    let loaned = scenario.history().last().cloned().expect("the loan");
    scenario.and([loaned]);
}

#[test]
fn events_read_back_at_their_revisions_are_folded() {
    let mut ledger = Ledger::default();
    for (revision, payload) in network_jinan_zibo()
        .iter()
        .filter(|p| !matches!(p, Payload::ItemCatalogued(_)))
        .enumerate()
    {
        ledger.apply_recorded(&StreamId::Network, revision as u64, payload);
    }
    ledger.apply_recorded(
        &StreamId::Item("JN-000002".into()),
        0,
        &catalogued("JN-000002", "JN-CENTRAL", Some(3900)),
    );
    assert_eq!(ledger.stream_version(&StreamId::Network), 7);
}

#[test]
#[should_panic(
    expected = "recorded at revision 3 of stream network leaves the stream at version 1"
)]
fn an_event_read_back_at_a_revision_its_stream_does_not_have_is_not_folded() {
    let mut ledger = Ledger::default();
    ledger.apply_recorded(
        &StreamId::Network,
        3,
        &city_joined("jinan", "济南", "Asia/Shanghai"),
    );
}

#[test]
#[should_panic(
    expected = "recorded at revision 0 of stream item-JN-000002 leaves the stream at version 0"
)]
fn an_event_read_back_from_another_stream_than_its_own_is_not_folded() {
    let mut ledger = Ledger::default();
    ledger.apply_recorded(
        &StreamId::Item("JN-000002".into()),
        0,
        &city_joined("jinan", "济南", "Asia/Shanghai"),
    );
}

fn refused() -> Payload {
    Payload::CommandRefused(readnet_domain::pb::CommandRefused {
        command: "Checkout".into(),
        rule: "ItemNotOnShelf".into(),
        kind: readnet_domain::pb::RefusalKind::FailedPrecondition as i32,
        message: "item JN-000002 is not on the shelf at JN-CENTRAL: it is withdrawn".into(),
        refused_at_us: 1_795_140_000_000_000,
    })
}

#[test]
fn a_refusal_read_back_changes_no_state() {
    let mut ledger = Ledger::from_events(&network_jinan_zibo());
    let before = ledger.clone();
    ledger.apply_recorded(&StreamId::Refusal("c-1".into()), 0, &refused());
    assert_eq!(ledger, before);
    assert_eq!(ledger.stream_version(&StreamId::Refusal("c-1".into())), 0);
}

#[test]
#[should_panic(expected = "CommandRefused recorded at revision 1 of stream refusal-c-1")]
fn a_refusal_stream_holds_one_event() {
    let mut ledger = Ledger::default();
    ledger.apply_recorded(&StreamId::Refusal("c-1".into()), 1, &refused());
}

#[test]
#[should_panic(expected = "CommandRefused recorded at revision 1 of stream item-JN-000002")]
fn a_refusal_in_a_stream_of_facts_is_not_folded() {
    // The item is catalogued: its stream's next event is at revision 1.
    let mut ledger = Ledger::from_events(&network_jinan_zibo());
    ledger.apply_recorded(&StreamId::Item("JN-000002".into()), 1, &refused());
}

#[test]
#[should_panic(expected = "CityJoined recorded at revision 0 of stream refusal-c-1")]
fn a_fact_in_a_refusal_stream_is_not_folded() {
    let mut ledger = Ledger::default();
    ledger.apply_recorded(
        &StreamId::Refusal("c-1".into()),
        0,
        &city_joined("jinan", "济南", "Asia/Shanghai"),
    );
}
