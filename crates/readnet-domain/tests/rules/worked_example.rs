//! domain.md's worked example, at the level of events.

use readnet_domain::pb::{self, CreditTier, TransferReason};
use readnet_domain::{ItemStatus, Ledger, Payload, StreamId};

use crate::support::fixtures::*;
use crate::support::*;

#[test]
fn jinan_patron_borrows_in_zibo_returns_in_jinan_and_the_book_goes_home() {
    let patron = li_wei();

    // A Jinan patron borrows a Zibo-owned book at Zibo's central library.
    let borrowed = given(network_jinan_zibo())
        .when_at(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &patron))
        .then_events(vec![
            patron_event(
                &patron,
                Payload::PatronEnrolled(pb::PatronEnrolled {
                    patron_id: patron.patron_id.clone().into(),
                    home_city: "jinan".into(),
                    tier: CreditTier::Standard as i32,
                }),
            ),
            item_event(
                "ZB-000123",
                Payload::ItemLoaned(pb::ItemLoaned {
                    item: "ZB-000123".into(),
                    patron_id: patron.patron_id.clone().into(),
                    library: "ZB-CENTRAL".into(),
                    due_at_us: us(shanghai(2026, 4, 1, 23, 59, 59)) + 999_999,
                    patron_home_city: "jinan".into(),
                    owner_library: "ZB-CENTRAL".into(),
                }),
            ),
        ]);

    // Returns it at a Jinan branch: it must go home.
    let returned = borrowed
        .when_at(t0() + days(12), Some("JN-LIXIA-03"), give_back("ZB-000123"))
        .then_events(vec![item_event(
            "ZB-000123",
            Payload::ItemReturned(pb::ItemReturned {
                item: "ZB-000123".into(),
                patron_id: patron.patron_id.clone().into(),
                library: "JN-LIXIA-03".into(),
                owner_library: "ZB-CENTRAL".into(),
                homebound: true,
                was_lost: false,
            }),
        )]);
    assert!(returned.loans(&patron).is_empty());

    // The branch ships it home.
    let shipped = returned
        .when_at(
            t0() + days(13),
            Some("JN-LIXIA-03"),
            dispatch("ZB-000123", "ZB-CENTRAL", TransferReason::Repatriation),
        )
        .then_events(vec![item_event(
            "ZB-000123",
            Payload::TransferDispatched(pb::TransferDispatched {
                item: "ZB-000123".into(),
                from_library: "JN-LIXIA-03".into(),
                to_library: "ZB-CENTRAL".into(),
                reason: TransferReason::Repatriation as i32,
                owner_library: "ZB-CENTRAL".into(),
                hold: 0,
            }),
        )]);

    // Zibo's central library receives it: on its shelf, no longer homebound.
    let home = shipped
        .when_at(t0() + days(15), Some("ZB-CENTRAL"), receive("ZB-000123"))
        .then_events(vec![item_event(
            "ZB-000123",
            Payload::TransferReceived(pb::TransferReceived {
                item: "ZB-000123".into(),
                from_library: "JN-LIXIA-03".into(),
                to_library: "ZB-CENTRAL".into(),
                in_booth: false,
                homebound: false,
            }),
        )]);
    assert_eq!(
        home.status("ZB-000123"),
        &ItemStatus::OnShelf {
            library: "ZB-CENTRAL".into(),
            homebound: false
        }
    );
    assert_eq!(home.version(&StreamId::Item("ZB-000123".into())), 5);
    assert_eq!(
        home.version(&StreamId::Patron(patron.patron_id.clone().into())),
        1
    );
    assert_eq!(home.version(&StreamId::Network), 7);

    // The events carry what settlement needs: Jinan +750, Zibo −750 at the default tariffs.
    assert_eq!(
        settle_defaults(home.ledger(), home.history()),
        [("jinan", 750), ("zibo", -750)]
    );
}

/// Each city's net under the default tariffs, from the facts the events carry.
fn settle_defaults(ledger: &Ledger, history: &[Payload]) -> Vec<(&'static str, i64)> {
    let city = |library: &str| {
        ledger
            .network
            .library_city(library)
            .expect("registered")
            .to_string()
    };
    let mut jinan = 0;
    let mut charge = |debtor: String, creditor: String, amount: i64| {
        if debtor == creditor {
            return;
        }
        if creditor == "jinan" {
            jinan += amount;
        }
        if debtor == "jinan" {
            jinan -= amount;
        }
    };
    for event in history {
        match event {
            Payload::ItemLoaned(e) => {
                charge(e.patron_home_city.clone(), city(&e.owner_library), 100)
            }
            Payload::ItemReturned(e) => charge(city(&e.owner_library), city(&e.library), 50),
            Payload::TransferDispatched(e) if e.reason == TransferReason::Repatriation as i32 => {
                charge(city(&e.owner_library), city(&e.from_library), 800)
            }
            _ => {}
        }
    }
    vec![("jinan", jinan), ("zibo", -jinan)]
}
