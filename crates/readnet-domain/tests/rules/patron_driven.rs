//! Patron-driven acquisition (你读书我买单): catalogued for the library and lent at once.

use chrono::Duration;
use readnet_domain::pb::{self, Acquisition, CreditTier};
use readnet_domain::{
    Command, DeskWork, Fen, ItemStatus, MAX_PRICE_FEN, NewBook, PatronRef, Payload, Rejection,
    RejectionKind, StreamId,
};

use crate::support::fixtures::*;
use crate::support::*;

fn bought(patron: &PatronRef, book: NewBook) -> Command {
    Command::PatronDrivenAcquisition {
        bookstore: None,
        patron: patron.clone(),
        book,
    }
}

fn catalogued_and_lent(patron: &PatronRef) -> Vec<readnet_domain::NewEvent> {
    vec![
        item_event(
            "JN-P-0001",
            Payload::ItemCatalogued(pb::ItemCatalogued {
                item: "JN-P-0001".into(),
                isbn: "9787020024759".into(),
                title: "围城".into(),
                author: "钱锺书".into(),
                owner_library: "JN-LIXIA-03".into(),
                price_fen: Some(3600),
                acquisition: Acquisition::PatronDriven as i32,
                placed_at: "JN-LIXIA-03".into(),
                in_booth: false,
            }),
        ),
        item_event(
            "JN-P-0001",
            Payload::PatronDrivenPurchaseRecorded(pb::PatronDrivenPurchaseRecorded {
                item: "JN-P-0001".into(),
                library: "JN-LIXIA-03".into(),
                bookstore: String::new(),
                patron_id: patron.patron_id.clone().into(),
                price_fen: 3600,
                budget_year: 2026,
                month: "2026-03".into(),
            }),
        ),
        item_event(
            "JN-P-0001",
            Payload::ItemLoaned(pb::ItemLoaned {
                item: "JN-P-0001".into(),
                patron_id: patron.patron_id.clone().into(),
                library: "JN-LIXIA-03".into(),
                due_at_us: us(shanghai(2026, 4, 1, 23, 59, 59)) + 999_999,
                patron_home_city: patron.city.clone().into(),
                owner_library: "JN-LIXIA-03".into(),
            }),
        ),
    ]
}

#[test]
fn first_acquisition_enrols_catalogues_for_the_library_and_lends_to_the_patron() {
    let patron = wang_fang();
    let mut expected = vec![patron_event(
        &patron,
        Payload::PatronEnrolled(pb::PatronEnrolled {
            patron_id: patron.patron_id.clone().into(),
            home_city: "zibo".into(),
            tier: CreditTier::Standard as i32,
        }),
    )];
    expected.extend(catalogued_and_lent(&patron));
    let after = given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&patron, book("JN-P-0001", "围城", Some(3600))),
        )
        .then_events(expected);
    assert_eq!(
        after.status("JN-P-0001"),
        &ItemStatus::OnLoan {
            patron_id: patron.patron_id.clone(),
            library: "JN-LIXIA-03".into(),
            due_at: shanghai(2026, 4, 1, 23, 59, 59) + Duration::microseconds(999_999),
            renewals: 0,
        }
    );
    assert_eq!(after.ledger().items["JN-P-0001"].price_fen, Some(Fen(3600)));
    assert_eq!(after.loans(&patron), ["JN-P-0001"]);
    assert_eq!(after.version(&StreamId::Item("JN-P-0001".into())), 3);
}

#[test]
fn acquisition_for_a_known_patron_does_not_enrol_again() {
    let patron = li_wei();
    given(network_jinan_zibo())
        .and([enrolled(&patron, CreditTier::Standard)])
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&patron, book("JN-P-0001", "围城", Some(3600))),
        )
        .then_events(catalogued_and_lent(&patron));
}

#[test]
fn returned_acquisition_joins_the_librarys_collection() {
    let after = given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&li_wei(), book("JN-P-0001", "围城", Some(3600))),
        )
        .when_at(t0() + days(9), Some("JN-LIXIA-03"), give_back("JN-P-0001"))
        .then_accepted();
    assert_eq!(
        after.status("JN-P-0001"),
        &ItemStatus::OnShelf {
            library: "JN-LIXIA-03".into(),
            homebound: false
        }
    );
}

#[test]
fn acquisition_without_a_price_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&li_wei(), book("JN-P-0001", "围城", None)),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::PurchasePriceRequired { price_fen: None },
            "book.price_fen: what the library paid the bookstore is required and must be positive",
        );
}

#[test]
fn acquisition_at_price_zero_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&li_wei(), book("JN-P-0001", "围城", Some(0))),
        )
        .then_rejected(Rejection::PurchasePriceRequired {
            price_fen: Some(Fen(0)),
        });
}

#[test]
fn acquisition_at_a_negative_price_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&li_wei(), book("JN-P-0001", "围城", Some(-100))),
        )
        .then_rejected(Rejection::PurchasePriceRequired {
            price_fen: Some(Fen(-100)),
        });
}

#[test]
fn acquisition_without_a_title_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&li_wei(), book("JN-P-0001", "", Some(3600))),
        )
        .then_rejected(Rejection::TitleRequired { field: "book" });
}

#[test]
fn acquisition_under_a_catalogued_id_already_exists() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&li_wei(), book("JN-000003", "围城", Some(3600))),
        )
        .then_rejected(Rejection::ItemAlreadyCatalogued {
            field: "book",
            item: "JN-000003".into(),
        });
}

#[test]
fn acquisition_for_a_patron_at_the_limit_is_refused_and_nothing_is_catalogued() {
    let patron = li_wei();
    let mut scenario = given(network_jinan_zibo())
        .and(shelf_items("JN-LIXIA-03", "JN-T", 3))
        .and([enrolled(&patron, CreditTier::Restricted)]);
    for i in 1..=3 {
        scenario = scenario.after(
            t0(),
            Some("JN-LIXIA-03"),
            checkout(&item_code("JN-T", i), &patron),
        );
    }
    let outcome = scenario.clone().when_at(
        t0(),
        Some("JN-LIXIA-03"),
        bought(&patron, book("JN-P-0001", "围城", Some(3600))),
    );
    outcome.then_rejected(Rejection::LoanLimitReached {
        card: "jinan:****1234".into(),
        on_loan: 3,
        limit: 3,
        tier: CreditTier::Restricted,
    });
    assert!(!scenario.ledger().items.contains_key("JN-P-0001"));
}

#[test]
fn acquisition_for_a_blocked_patron_is_refused() {
    given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .after(t0() + days(1), None, declare_lost("JN-000002"))
        .when_at(
            t0() + days(2),
            Some("JN-LIXIA-03"),
            bought(&li_wei(), book("JN-P-0001", "围城", Some(3600))),
        )
        .then_rejected(Rejection::PatronBlockedLost {
            card: "jinan:****1234".into(),
            item: "JN-000002".into(),
            owed_fen: Fen(3900),
        });
}

#[test]
fn acquisition_at_a_booth_is_refused() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            bought(&li_wei(), book("JN-P-0001", "围城", Some(3600))),
        )
        .then_rejected(Rejection::BoothIsNotADesk {
            booth: "JN-BOOTH-01".into(),
            work: DeskWork::PatronDrivenAcquisitions,
        });
}

#[test]
fn acquisition_for_a_card_from_outside_the_network_is_refused() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&qingdao_card(), book("JN-P-0001", "围城", Some(3600))),
        )
        .then_rejected(Rejection::CardCityNotMember {
            card: "qingdao:****3456".into(),
            city: "qingdao".into(),
        });
}

#[test]
fn acquisition_above_the_maximum_price_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            bought(&li_wei(), book("JN-P-0001", "围城", Some(i64::MAX))),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::PriceTooHigh {
                field: "book",
                price_fen: Fen(i64::MAX),
                max_fen: MAX_PRICE_FEN,
            },
            "book.price_fen: 9223372036854775807 fen is more than the maximum price of 10000000 fen",
        );
}
