//! Cataloguing purchases and donations.

use readnet_domain::pb::{self, Acquisition};
use readnet_domain::{
    Command, Fen, ItemStatus, MAX_PRICE_FEN, NewBook, Payload, Rejection, RejectionKind, StreamId,
};

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
        .then_rejected_saying(RejectionKind::InvalidArgument, Rejection::AcquisitionHasItsOwnCommand { acquisition: Acquisition::PatronDriven }, "acquisition: patron-driven books and booth deposits are catalogued by PatronDrivenAcquisition and BoothSwap");
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
        .then_rejected(Rejection::AcquisitionHasItsOwnCommand {
            acquisition: Acquisition::BoothDeposit,
        });
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
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::AcquisitionRequired,
            "acquisition: purchase or donation is required",
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
        .then_rejected(Rejection::ItemAlreadyCatalogued {
            field: "item",
            item: "ZB-000123".into(),
        });
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
        .then_rejected_saying(
            RejectionKind::NotFound,
            Rejection::LibraryNotRegistered {
                field: "owner_library",
                library: "ZB-NOWHERE".into(),
            },
            "owner_library: library ZB-NOWHERE is not registered",
        );
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
        .then_rejected(Rejection::LibraryClosed {
            library: "ZB-ZHOUCUN-07".into(),
        });
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
        .then_rejected(Rejection::NegativePrice {
            field: "item",
            price_fen: Fen(-1),
        });
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
        .then_rejected(Rejection::TitleRequired { field: "item" });
}

#[test]
fn cataloguing_at_the_maximum_price_is_accepted() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", Some(MAX_PRICE_FEN.get())),
                "ZB-CENTRAL",
                Acquisition::Purchase,
            ),
        )
        .then_accepted();
}

#[test]
fn cataloguing_above_the_maximum_price_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            catalogue(
                book("ZB-000200", "围城", Some(i64::MAX)),
                "ZB-CENTRAL",
                Acquisition::Purchase,
            ),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::PriceTooHigh {
                field: "item",
                price_fen: Fen(i64::MAX),
                max_fen: MAX_PRICE_FEN,
            },
            "item.price_fen: 9223372036854775807 fen is more than the maximum price of 10000000 fen",
        );
}
