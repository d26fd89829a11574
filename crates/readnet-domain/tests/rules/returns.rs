//! Return at any library of any member city but a booth; where the item goes next.

use readnet_domain::pb::{self, ReturnPolicy};
use readnet_domain::{DeskWork, Fen, ItemStatus, LostDebt, Payload, Rejection, Whereabouts};

use crate::support::fixtures::*;
use crate::support::*;

/// JN-000002 (owned by JN-CENTRAL) lent at JN-CENTRAL to Li Wei, with JN-CENTRAL's return policy.
fn jn_000002_lent_under(policy: ReturnPolicy) -> Scenario {
    given(network_jinan_zibo())
        .and([return_policy_set("JN-CENTRAL", policy)])
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
}

fn returned(library: &str, homebound: bool, was_lost: bool) -> Vec<readnet_domain::NewEvent> {
    vec![item_event(
        "JN-000002",
        Payload::ItemReturned(pb::ItemReturned {
            item: "JN-000002".into(),
            patron_id: li_wei().patron_id.into(),
            library: library.into(),
            owner_library: "JN-CENTRAL".into(),
            homebound,
            was_lost,
        }),
    )]
}

fn on_shelf(library: &str, homebound: bool) -> ItemStatus {
    ItemStatus::OnShelf {
        library: library.into(),
        homebound,
    }
}

#[test]
fn return_at_the_owner_puts_it_on_the_shelf_at_home() {
    let after = jn_000002_lent_under(ReturnPolicy::ReturnHome)
        .when_at(t0() + days(7), Some("JN-CENTRAL"), give_back("JN-000002"))
        .then_events(returned("JN-CENTRAL", false, false));
    assert_eq!(after.status("JN-000002"), &on_shelf("JN-CENTRAL", false));
    assert!(after.loans(&li_wei()).is_empty());
}

#[test]
fn return_in_the_owners_city_under_float_in_city_stays_where_returned() {
    let after = jn_000002_lent_under(ReturnPolicy::FloatInCity)
        .when_at(t0() + days(7), Some("JN-LIXIA-03"), give_back("JN-000002"))
        .then_events(returned("JN-LIXIA-03", false, false));
    assert_eq!(after.status("JN-000002"), &on_shelf("JN-LIXIA-03", false));
}

#[test]
fn an_item_floated_to_a_branch_is_lent_from_there() {
    jn_000002_lent_under(ReturnPolicy::FloatInCity)
        .after(t0() + days(7), Some("JN-LIXIA-03"), give_back("JN-000002"))
        .when_at(
            t0() + days(8),
            Some("JN-LIXIA-03"),
            checkout("JN-000002", &wang_fang()),
        )
        .then_accepted();
}

#[test]
fn return_in_the_owners_city_under_return_home_makes_item_homebound() {
    let after = jn_000002_lent_under(ReturnPolicy::ReturnHome)
        .when_at(t0() + days(7), Some("JN-LIXIA-03"), give_back("JN-000002"))
        .then_events(returned("JN-LIXIA-03", true, false));
    assert_eq!(after.status("JN-000002"), &on_shelf("JN-LIXIA-03", true));
}

#[test]
fn return_home_is_the_default_policy() {
    given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .when_at(t0() + days(7), Some("JN-LIXIA-03"), give_back("JN-000002"))
        .then_events(returned("JN-LIXIA-03", true, false));
}

#[test]
fn return_in_another_city_makes_item_homebound_even_under_float_in_city() {
    let after = jn_000002_lent_under(ReturnPolicy::FloatInCity)
        .when_at(
            t0() + days(7),
            Some("ZB-ZHOUCUN-07"),
            give_back("JN-000002"),
        )
        .then_events(returned("ZB-ZHOUCUN-07", true, false));
    assert_eq!(after.status("JN-000002"), &on_shelf("ZB-ZHOUCUN-07", true));
}

#[test]
fn return_at_a_booth_is_refused() {
    jn_000002_lent_under(ReturnPolicy::FloatInCity)
        .when_at(t0() + days(7), Some("JN-BOOTH-01"), give_back("JN-000002"))
        .then_rejected(Rejection::BoothIsNotADesk {
            booth: "JN-BOOTH-01".into(),
            work: DeskWork::Returns,
        });
}

#[test]
fn return_without_an_acting_library_is_invalid() {
    jn_000002_lent_under(ReturnPolicy::ReturnHome)
        .when_at(t0() + days(7), None, give_back("JN-000002"))
        .then_rejected(Rejection::ActingLibraryMissing);
}

#[test]
fn return_of_an_item_not_on_loan_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-CENTRAL"), give_back("JN-000002"))
        .then_rejected(Rejection::ItemNotOnLoan {
            item: "JN-000002".into(),
            whereabouts: Whereabouts::OnShelf {
                library: "JN-CENTRAL".into(),
                homebound_to: None,
            },
        });
}

#[test]
fn return_of_an_unknown_item_is_not_found() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-CENTRAL"), give_back("JN-999999"))
        .then_rejected(Rejection::ItemNotCatalogued {
            item: "JN-999999".into(),
        });
}

#[test]
fn lost_item_that_turns_up_is_returned_and_its_debt_stays() {
    let patron = li_wei();
    let after = jn_000002_lent_under(ReturnPolicy::ReturnHome)
        .after(t0() + days(40), None, declare_lost("JN-000002"))
        .when_at(t0() + days(50), Some("JN-CENTRAL"), give_back("JN-000002"))
        .then_events(returned("JN-CENTRAL", false, true));
    assert_eq!(after.status("JN-000002"), &on_shelf("JN-CENTRAL", false));
    assert_eq!(
        after.ledger().items["JN-000002"].lost_debt().cloned(),
        Some(LostDebt {
            patron_id: patron.patron_id.clone(),
            outstanding_fen: Fen(3900)
        })
    );
    assert!(after.patron(&patron).unsettled_lost.contains("JN-000002"));
    assert!(after.loans(&patron).is_empty());
}

#[test]
fn patron_whose_lost_item_turned_up_stays_blocked_until_paid() {
    let patron = li_wei();
    let turned_up = jn_000002_lent_under(ReturnPolicy::ReturnHome)
        .after(t0() + days(40), None, declare_lost("JN-000002"))
        .after(t0() + days(50), Some("JN-CENTRAL"), give_back("JN-000002"));
    turned_up
        .clone()
        .when_at(
            t0() + days(50),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &patron),
        )
        .then_rejected(Rejection::PatronBlockedLost {
            card: "jinan:****1234".into(),
            item: "JN-000002".into(),
            owed_fen: Fen(3900),
        });
    turned_up
        .after(t0() + days(51), Some("JN-CENTRAL"), pay("JN-000002", 3900))
        .when_at(
            t0() + days(51),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &patron),
        )
        .then_accepted();
}
