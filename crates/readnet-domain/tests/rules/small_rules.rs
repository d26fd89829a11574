//! Small rules found while testing: ISBN check digits, a renewal that changes nothing.

use chrono::Duration;
use readnet_domain::pb::Acquisition;
use readnet_domain::{Command, NewBook, Rejection, RejectionKind};

use crate::support::fixtures::*;
use crate::support::*;

fn catalogue_isbn(item: &str, isbn: &str) -> Command {
    Command::CatalogueItem {
        book: NewBook {
            isbn: isbn.into(),
            ..book(item, "围城", Some(2800))
        },
        owner_library: "JN-CENTRAL".into(),
        acquisition: Acquisition::Purchase,
    }
}

#[test]
fn an_isbn_with_a_wrong_check_digit_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-CENTRAL"), catalogue_isbn("JN-100001", "9787020024758"))
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::InvalidIsbn {
                field: "isbn",
                isbn: "9787020024758".into(),
                why: "its ISBN-13 check digit is wrong",
            },
            "isbn: \"9787020024758\" is not a valid ISBN: its ISBN-13 check digit is wrong (rule: ISBN-10 and ISBN-13 check digits are checked)",
        );
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            catalogue_isbn("JN-100001", "7-02-002475-X"),
        )
        .then_refused(
            RejectionKind::InvalidArgument,
            "its ISBN-10 check digit is wrong",
        );
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            catalogue_isbn("JN-100001", "97870200247"),
        )
        .then_refused(
            RejectionKind::InvalidArgument,
            "an ISBN has 10 or 13 digits",
        );
}

#[test]
fn valid_isbns_with_hyphens_and_no_isbn_at_all_are_accepted() {
    for isbn in ["978-7-02-002475-9", "0-306-40615-2", "080442957X", ""] {
        given(network_jinan_zibo())
            .when_at(t0(), Some("JN-CENTRAL"), catalogue_isbn("JN-100001", isbn))
            .then_accepted();
    }
}

#[test]
fn a_deposit_and_a_bookstore_purchase_have_their_isbns_checked_too() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            Command::PatronDrivenAcquisition {
                bookstore: None,
                patron: li_wei(),
                book: NewBook {
                    isbn: "9787020024750".into(),
                    ..book("JN-P-0001", "围城", Some(3900))
                },
            },
        )
        .then_refused(
            RejectionKind::InvalidArgument,
            "book.isbn: \"9787020024750\" is not a valid ISBN",
        );
}

#[test]
fn a_renewal_on_the_day_of_the_loan_changes_nothing_and_is_refused() {
    let lent = given(network_jinan_zibo()).after(
        t0(),
        Some("JN-CENTRAL"),
        checkout("JN-000001", &li_wei()),
    );
    lent.clone()
        .when_at(t0() + Duration::hours(3), Some("JN-CENTRAL"), renew("JN-000001", &li_wei()))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::RenewalChangesNothing {
                item: "JN-000001".into(),
                due_date: date(2026, 4, 1),
            },
            "item JN-000001 is due 2026-04-01 already: a renewal now would not move its due date (rule: a renewal that changes nothing is not recorded)",
        );
    lent.when_at(
        t0() + Duration::days(1),
        Some("JN-CENTRAL"),
        renew("JN-000001", &li_wei()),
    )
    .then_accepted();
}
