//! Cataloguing purchases and donations.

use readnet_domain::pb::{self, Acquisition};
use readnet_domain::{Command, ItemStatus, NewBook, Payload, RejectionKind, StreamId};

use crate::support::fixtures::*;
use crate::support::*;

fn catalogue(book: NewBook, owner: &str, acquisition: Acquisition) -> Command {
    Command::CatalogueItem {
        book,
        owner_library: owner.into(),
        acquisition,
    }
}

fn catalogued_event(
    owner: &str,
    acquisition: Acquisition,
    price_fen: Option<i64>,
    in_booth: bool,
) -> Vec<readnet_domain::NewEvent> {
    vec![item_event(
        "ZB-000200",
        Payload::ItemCatalogued(pb::ItemCatalogued {
            item: "ZB-000200".into(),
            isbn: "9787020024759".into(),
            title: "围城".into(),
            author: "钱锺书".into(),
            owner_library: owner.into(),
            price_fen,
            acquisition: acquisition as i32,
            placed_at: owner.into(),
            in_booth,
        }),
    )]
}

#[test]
fn a_purchase_is_placed_on_its_owners_shelf() {
    let after = given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", Some(3600)),
                "ZB-ZHOUCUN-07",
                Acquisition::Purchase,
            ),
        )
        .then_events(catalogued_event(
            "ZB-ZHOUCUN-07",
            Acquisition::Purchase,
            Some(3600),
            false,
        ));
    assert_eq!(
        after.status("ZB-000200"),
        &ItemStatus::OnShelf {
            library: "ZB-ZHOUCUN-07".into(),
            homebound: false
        }
    );
    assert_eq!(after.version(&StreamId::Item("ZB-000200".into())), 1);
}

#[test]
fn a_donation_without_price_is_catalogued() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", None),
                "ZB-CENTRAL",
                Acquisition::Donation,
            ),
        )
        .then_events(catalogued_event(
            "ZB-CENTRAL",
            Acquisition::Donation,
            None,
            false,
        ));
}

#[test]
fn cataloguing_for_a_booth_places_the_item_in_the_booth() {
    let after = given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", None),
                "JN-BOOTH-01",
                Acquisition::Donation,
            ),
        )
        .then_events(catalogued_event(
            "JN-BOOTH-01",
            Acquisition::Donation,
            None,
            true,
        ));
    assert_eq!(
        after.status("ZB-000200"),
        &ItemStatus::InBooth {
            booth: "JN-BOOTH-01".into()
        }
    );
}

#[test]
fn cataloguing_a_patron_driven_book_directly_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", Some(3600)),
                "ZB-CENTRAL",
                Acquisition::PatronDriven,
            ),
        )
        .then_rejected(
            RejectionKind::InvalidArgument,
            &["acquisition", "PatronDrivenAcquisition"],
        );
}

#[test]
fn cataloguing_a_booth_deposit_directly_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", None),
                "JN-BOOTH-01",
                Acquisition::BoothDeposit,
            ),
        )
        .then_rejected(
            RejectionKind::InvalidArgument,
            &["acquisition", "BoothSwap"],
        );
}

#[test]
fn cataloguing_without_an_acquisition_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", None),
                "ZB-CENTRAL",
                Acquisition::Unspecified,
            ),
        )
        .then_rejected(
            RejectionKind::InvalidArgument,
            &["acquisition", "purchase or donation"],
        );
}

#[test]
fn cataloguing_a_catalogued_id_already_exists() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000123", "围城", None),
                "ZB-CENTRAL",
                Acquisition::Purchase,
            ),
        )
        .then_rejected(
            RejectionKind::AlreadyExists,
            &["item ZB-000123", "already catalogued"],
        );
}

#[test]
fn cataloguing_for_an_unknown_owner_is_not_found() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", None),
                "ZB-NOWHERE",
                Acquisition::Purchase,
            ),
        )
        .then_rejected(RejectionKind::NotFound, &["owner_library", "ZB-NOWHERE"]);
}

#[test]
fn cataloguing_for_a_closed_owner_is_refused() {
    given(network_jinan_zibo())
        .and([library_closed("ZB-ZHOUCUN-07")])
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", None),
                "ZB-ZHOUCUN-07",
                Acquisition::Purchase,
            ),
        )
        .then_rejected(
            RejectionKind::FailedPrecondition,
            &["ZB-ZHOUCUN-07 is closed"],
        );
}

#[test]
fn cataloguing_at_a_negative_price_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", Some(-1)),
                "ZB-CENTRAL",
                Acquisition::Purchase,
            ),
        )
        .then_rejected(
            RejectionKind::InvalidArgument,
            &["item.price_fen", "negative"],
        );
}

#[test]
fn cataloguing_without_a_title_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "", None),
                "ZB-CENTRAL",
                Acquisition::Purchase,
            ),
        )
        .then_rejected(RejectionKind::InvalidArgument, &["item.title"]);
}
