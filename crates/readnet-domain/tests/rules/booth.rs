//! Booth swaps: take a book from the booth, leave one of your own.

use readnet_domain::pb::{self, Acquisition, CreditTier, LibraryTier};
use readnet_domain::{
    Command, Fen, ItemStatus, MAX_PRICE_FEN, NewBook, PatronRef, Payload, Rejection, RejectionKind,
    StreamId, Whereabouts,
};

use crate::support::fixtures::*;
use crate::support::*;

fn swap(take: &str, patron: &PatronRef, deposit: NewBook) -> Command {
    Command::BoothSwap {
        take_item: take.into(),
        patron: patron.clone(),
        deposit,
    }
}

fn swap_events(patron: &PatronRef) -> Vec<readnet_domain::NewEvent> {
    vec![
        item_event(
            "JN-B-0001",
            Payload::BoothSwapped(pb::BoothSwapped {
                booth: "JN-BOOTH-01".into(),
                patron_id: patron.patron_id.clone().into(),
                item_taken: "JN-B-0001".into(),
                item_deposited: "JN-B-0002".into(),
            }),
        ),
        item_event(
            "JN-B-0002",
            Payload::ItemCatalogued(pb::ItemCatalogued {
                item: "JN-B-0002".into(),
                isbn: "9787020024759".into(),
                title: "围城".into(),
                author: "钱锺书".into(),
                owner_library: "JN-BOOTH-01".into(),
                price_fen: None,
                acquisition: Acquisition::BoothDeposit as i32,
                placed_at: "JN-BOOTH-01".into(),
                in_booth: true,
            }),
        ),
    ]
}

#[test]
fn first_swap_enrols_the_patron_records_the_swap_and_catalogues_the_deposit() {
    let patron = wang_fang();
    let mut expected = vec![patron_event(
        &patron,
        Payload::PatronEnrolled(pb::PatronEnrolled {
            patron_id: patron.patron_id.clone().into(),
            home_city: "zibo".into(),
            tier: CreditTier::Standard as i32,
        }),
    )];
    expected.extend(swap_events(&patron));
    let after = given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &patron, book("JN-B-0002", "围城", None)),
        )
        .then_events(expected);
    assert_eq!(after.status("JN-B-0001"), &ItemStatus::ExchangedOut);
    assert_eq!(
        after.status("JN-B-0002"),
        &ItemStatus::InBooth {
            booth: "JN-BOOTH-01".into()
        }
    );
    let deposit = &after.ledger().items["JN-B-0002"];
    assert_eq!(deposit.owner_library, "JN-BOOTH-01");
    assert_eq!(deposit.acquisition, Acquisition::BoothDeposit);
    assert!(after.loans(&patron).is_empty(), "a swap is not a loan");
    assert_eq!(after.version(&StreamId::Item("JN-B-0001".into())), 2);
    assert_eq!(after.version(&StreamId::Item("JN-B-0002".into())), 1);
}

#[test]
fn swap_by_a_known_patron_does_not_enrol_again() {
    let patron = wang_fang();
    given(network_jinan_zibo())
        .and([enrolled(&patron, CreditTier::Standard)])
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &patron, book("JN-B-0002", "围城", None)),
        )
        .then_events(swap_events(&patron));
}

#[test]
fn the_deposited_book_can_be_taken_by_the_next_patron() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &wang_fang(), book("JN-B-0002", "围城", None)),
        )
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap(
                "JN-B-0002",
                &li_wei(),
                book("JN-B-0003", "活着", Some(2000)),
            ),
        )
        .then_accepted();
}

#[test]
fn swap_away_from_a_booth_is_refused() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-LIXIA-03"),
            swap("JN-000003", &li_wei(), book("JN-B-0002", "围城", None)),
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::NotABooth {
                library: "JN-LIXIA-03".into(),
            },
            "JN-LIXIA-03 is not a book-exchange booth: swaps happen only at booths",
        );
}

#[test]
fn swap_without_an_acting_library_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            swap("JN-B-0001", &li_wei(), book("JN-B-0002", "围城", None)),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::ActingLibraryMissing,
            "x-readnet-library: this command needs the acting library in request metadata",
        );
}

#[test]
fn swap_at_a_closed_booth_is_refused() {
    given(network_jinan_zibo())
        .and([library_closed("JN-BOOTH-01")])
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &li_wei(), book("JN-B-0002", "围城", None)),
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::LibraryClosed {
                library: "JN-BOOTH-01".into(),
            },
            "library JN-BOOTH-01 is closed",
        );
}

#[test]
fn taking_an_item_that_is_not_in_this_booth_is_refused() {
    given(network_jinan_zibo())
        .and([
            library_registered("ZB-BOOTH-02", "zibo", LibraryTier::Booth, None),
            catalogued("ZB-B-0001", "ZB-BOOTH-02", None),
        ])
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("ZB-B-0001", &li_wei(), book("JN-B-0002", "围城", None)),
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::ItemNotInBooth {
                item: "ZB-B-0001".into(),
                booth: "JN-BOOTH-01".into(),
                whereabouts: Whereabouts::InBooth {
                    booth: "ZB-BOOTH-02".into(),
                },
            },
            "item ZB-B-0001 is not in booth JN-BOOTH-01: it is in booth ZB-BOOTH-02",
        );
}

#[test]
fn taking_an_item_on_a_library_shelf_is_refused() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-000002", &li_wei(), book("JN-B-0002", "围城", None)),
        )
        .then_rejected(Rejection::ItemNotInBooth {
            item: "JN-000002".into(),
            booth: "JN-BOOTH-01".into(),
            whereabouts: Whereabouts::OnShelf {
                library: "JN-CENTRAL".into(),
                homebound_to: None,
            },
        });
}

#[test]
fn taking_an_unknown_item_is_not_found() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-9999", &li_wei(), book("JN-B-0002", "围城", None)),
        )
        .then_rejected_saying(
            RejectionKind::NotFound,
            Rejection::ItemNotCatalogued {
                item: "JN-B-9999".into(),
            },
            "item JN-B-9999 is not catalogued",
        );
}

#[test]
fn depositing_an_already_catalogued_id_already_exists() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &li_wei(), book("JN-000002", "围城", None)),
        )
        .then_rejected_saying(
            RejectionKind::AlreadyExists,
            Rejection::ItemAlreadyCatalogued {
                field: "deposit",
                item: "JN-000002".into(),
            },
            "deposit: item JN-000002 is already catalogued",
        );
}

#[test]
fn depositing_under_the_taken_items_id_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &li_wei(), book("JN-B-0001", "围城", None)),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::DepositIsTakenItem {
                item: "JN-B-0001".into(),
            },
            "deposit.item: the deposited book needs an id of its own",
        );
}

#[test]
fn depositing_without_a_title_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &li_wei(), book("JN-B-0002", "  ", None)),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::TitleRequired { field: "deposit" },
            "deposit.title: a title is required",
        );
}

#[test]
fn depositing_with_a_negative_price_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &li_wei(), book("JN-B-0002", "围城", Some(-5))),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::NegativePrice {
                field: "deposit",
                price_fen: Fen(-5),
            },
            "deposit.price_fen: must not be negative",
        );
}

#[test]
fn swap_with_a_card_from_outside_the_network_is_refused() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap(
                "JN-B-0001",
                &qingdao_card(),
                book("JN-B-0002", "围城", None),
            ),
        )
        .then_rejected_saying(RejectionKind::FailedPrecondition, Rejection::CardCityNotMember { card: "qingdao:****3456".into(), city: "qingdao".into() }, "card qingdao:****3456 was issued by qingdao, which is not a member city of the network");
}

#[test]
fn a_blocked_patron_may_still_swap_because_a_swap_is_not_a_loan() {
    given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .after(t0() + days(2), None, declare_lost("JN-000002"))
        .when_at(
            t0() + days(3),
            Some("JN-BOOTH-01"),
            swap("JN-B-0001", &li_wei(), book("JN-B-0002", "围城", None)),
        )
        .then_accepted();
}

#[test]
fn depositing_above_the_maximum_price_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-BOOTH-01"),
            swap(
                "JN-B-0001",
                &li_wei(),
                book("JN-B-0002", "围城", Some(MAX_PRICE_FEN.get() + 1)),
            ),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::PriceTooHigh {
                field: "deposit",
                price_fen: Fen(10_000_001),
                max_fen: MAX_PRICE_FEN,
            },
            "deposit.price_fen: 10000001 fen is more than the maximum price of 10000000 fen",
        );
}
