//! Digital lending (ADR 0019): licensed e-resources, digital loans against the licence, their
//! end at expiry, and who may borrow what.

use readnet_domain::pb::{self, DigitalLoanEndReason, EResourceKind};
use readnet_domain::{
    Command, LibraryCode, PatronRef, Payload, Rejection, RejectionKind, StreamId,
};

use crate::support::fixtures::*;
use crate::support::*;

fn license(
    resource: &str,
    owner: Option<&str>,
    shared: bool,
    kind: EResourceKind,
    licences: u32,
) -> Command {
    Command::LicenseEResource {
        resource: resource.into(),
        title: "三体".into(),
        kind,
        owner_library: owner.map(LibraryCode::from),
        shared,
        licences,
        loan_days: 14,
    }
}

fn borrow(resource: &str, patron: &PatronRef) -> Command {
    Command::BorrowDigital {
        resource: resource.into(),
        patron: patron.clone(),
    }
}

fn a_third_reader() -> PatronRef {
    card("jinan", "370102199505055555")
}

const JN: Option<&str> = Some("JN-CENTRAL");
const ZB: Option<&str> = Some("ZB-CENTRAL");

fn ebook_with_two_licences() -> crate::support::Scenario {
    given(network_jinan_zibo()).after(
        t0(),
        None,
        license(
            "EB-SANTI",
            Some("JN-CENTRAL"),
            true,
            EResourceKind::Ebook,
            2,
        ),
    )
}

#[test]
fn a_digital_loan_is_recorded_with_its_expiry_in_the_patrons_stream() {
    let reader = wang_fang();
    let after = ebook_with_two_licences()
        .after(t0(), ZB, checkout("ZB-000123", &reader))
        .when_at(t0(), ZB, borrow("EB-SANTI", &reader))
        .then_events(vec![patron_event(
            &reader,
            Payload::DigitalLoaned(pb::DigitalLoaned {
                resource: "EB-SANTI".into(),
                patron_id: reader.patron_id.clone().into(),
                patron_home_city: "zibo".into(),
                owner_library: "JN-CENTRAL".into(),
                library: "ZB-CENTRAL".into(),
                expires_at_us: us(t0() + days(14)),
            }),
        )]);
    // Not a physical loan: the patron's loans are what they were.
    assert_eq!(after.loans(&reader), ["ZB-000123"]);
    assert_eq!(after.patron(&reader).digital_loans.len(), 1);
    assert_eq!(
        after.version(&StreamId::Patron(reader.patron_id.to_string())),
        2
    );
}

#[test]
fn the_third_reader_is_refused_until_a_licence_expires() {
    let full = ebook_with_two_licences()
        .after(t0(), JN, borrow("EB-SANTI", &li_wei()))
        .after(t0() + days(1), ZB, borrow("EB-SANTI", &wang_fang()));
    full.clone()
        .when_at(t0() + days(2), JN, borrow("EB-SANTI", &a_third_reader()))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::NoLicenceFree {
                resource: "EB-SANTI".into(),
                licences: 2,
                next_free: t0() + days(14),
            },
            &format!(
                "e-resource EB-SANTI has all its 2 licences on loan; the first comes free at {} (rule: digital loans count against the licence)",
                (t0() + days(14)).to_rfc3339()
            ),
        );
    // At the first expiry that loan ends, at its expiry, and the third reader borrows.
    let li = li_wei();
    let third = a_third_reader();
    let at = t0() + days(14);
    let after = full
        .when_at(at, JN, borrow("EB-SANTI", &third))
        .then_accepted();
    let tail = &after.history()[after.history().len() - 3..];
    assert_eq!(
        tail[0],
        Payload::DigitalLoanEnded(pb::DigitalLoanEnded {
            resource: "EB-SANTI".into(),
            patron_id: li.patron_id.clone().into(),
            reason: DigitalLoanEndReason::Expired as i32,
            at_us: us(at),
        })
    );
    assert!(matches!(tail[1], Payload::PatronEnrolled(_)));
    assert!(
        matches!(&tail[2], Payload::DigitalLoaned(e) if e.patron_id == third.patron_id.as_str())
    );
    assert!(after.patron(&li).digital_loans.is_empty());
}

#[test]
fn the_sweep_ends_loans_whose_time_is_up_and_nothing_else() {
    let lent = ebook_with_two_licences()
        .after(t0(), JN, borrow("EB-SANTI", &li_wei()))
        .after(t0() + days(3), ZB, borrow("EB-SANTI", &wang_fang()));
    lent.clone()
        .when_at(t0() + days(13), None, Command::ExpireDigitalLoans)
        .then_rejected(Rejection::NoDigitalLoanDue {
            at: t0() + days(13),
        });
    let after = lent
        .when_at(t0() + days(15), None, Command::ExpireDigitalLoans)
        .then_events(vec![patron_event(
            &li_wei(),
            Payload::DigitalLoanEnded(pb::DigitalLoanEnded {
                resource: "EB-SANTI".into(),
                patron_id: li_wei().patron_id.into(),
                reason: DigitalLoanEndReason::Expired as i32,
                at_us: us(t0() + days(14)),
            }),
        )]);
    assert_eq!(after.ledger().network.eresources["EB-SANTI"].loans.len(), 1);
    assert!(!Rejection::NoDigitalLoanDue { at: t0() }.is_recorded());
}

#[test]
fn a_reader_gives_a_loan_back_early_and_its_licence_is_free() {
    let reader = li_wei();
    ebook_with_two_licences()
        .after(t0(), JN, borrow("EB-SANTI", &reader))
        .when_at(
            t0() + days(2),
            JN,
            Command::ReturnDigital {
                resource: "EB-SANTI".into(),
                patron: reader.clone(),
            },
        )
        .then_events(vec![patron_event(
            &reader,
            Payload::DigitalLoanEnded(pb::DigitalLoanEnded {
                resource: "EB-SANTI".into(),
                patron_id: reader.patron_id.clone().into(),
                reason: DigitalLoanEndReason::Returned as i32,
                at_us: us(t0() + days(2)),
            }),
        )]);
}

#[test]
fn one_reader_holds_one_loan_of_a_resource() {
    ebook_with_two_licences()
        .after(t0(), JN, borrow("EB-SANTI", &li_wei()))
        .when_at(t0() + days(1), JN, borrow("EB-SANTI", &li_wei()))
        .then_refused(RejectionKind::FailedPrecondition, "on loan already");
}

#[test]
fn a_library_resource_not_shared_is_for_its_citys_readers_only() {
    let net = given(network_jinan_zibo()).after(
        t0(),
        None,
        license(
            "DB-CNKI-JN",
            Some("JN-CENTRAL"),
            false,
            EResourceKind::Database,
            5,
        ),
    );
    net.clone()
        .when_at(t0(), ZB, borrow("DB-CNKI-JN", &wang_fang()))
        .then_rejected(Rejection::EResourceNotShared {
            resource: "DB-CNKI-JN".into(),
            owner: "JN-CENTRAL".into(),
            owner_city: "jinan".into(),
            card: wang_fang().masked_card,
        });
    net.when_at(t0(), JN, borrow("DB-CNKI-JN", &li_wei()))
        .then_accepted();
}

#[test]
fn a_network_resource_is_lent_to_any_member_citys_reader_and_open_access_has_no_limit() {
    let mut net = given(network_jinan_zibo()).after(
        t0(),
        None,
        license("OA-GUJI", None, false, EResourceKind::OpenAccess, 0),
    );
    assert!(net.ledger().network.eresources["OA-GUJI"].shared);
    for n in 0..30 {
        net = net.after(
            t0(),
            ZB,
            borrow("OA-GUJI", &card("zibo", &format!("37030319900101{n:04}"))),
        );
    }
    net.when_at(t0(), JN, borrow("OA-GUJI", &li_wei()))
        .then_accepted();
    given(network_jinan_zibo())
        .after(
            t0(),
            None,
            license("OA-GUJI", None, false, EResourceKind::OpenAccess, 0),
        )
        .when_at(t0(), JN, borrow("OA-GUJI", &qingdao_card()))
        .then_refused(RejectionKind::FailedPrecondition, "qingdao");
}

#[test]
fn a_digital_loan_counts_against_no_physical_limit_but_a_block_still_stops_it() {
    let reader = li_wei();
    // A restricted reader (3 items) at their limit still borrows an e-book.
    let mut net = given(network_jinan_zibo())
        .after(
            t0(),
            None,
            set_tier(&reader, readnet_domain::pb::CreditTier::Restricted),
        )
        .and(shelf_items("JN-CENTRAL", "JN-L", 3))
        .after(
            t0(),
            None,
            license("EB-SANTI", None, true, EResourceKind::Ebook, 1),
        );
    for i in 1..=3 {
        net = net.after(t0(), JN, checkout(&item_code("JN-L", i), &reader));
    }
    net.clone()
        .when_at(t0(), JN, borrow("EB-SANTI", &reader))
        .then_accepted();
    // Overdue by more than 30 days: blocked from digital loans too.
    net.when_at(t0() + days(70), JN, borrow("EB-SANTI", &reader))
        .then_refused(RejectionKind::FailedPrecondition, "overdue");
}

#[test]
fn licences_are_checked_when_licensed() {
    let net = given(network_jinan_zibo());
    net.clone()
        .when_at(
            t0(),
            None,
            license("EB-X", None, true, EResourceKind::Ebook, 0),
        )
        .then_refused(RejectionKind::InvalidArgument, "licences: 0");
    net.clone()
        .when_at(
            t0(),
            None,
            license("EB-X", None, true, EResourceKind::Unspecified, 2),
        )
        .then_refused(RejectionKind::InvalidArgument, "kind:");
    net.clone()
        .when_at(
            t0(),
            None,
            license("EB X", None, true, EResourceKind::Ebook, 2),
        )
        .then_refused(RejectionKind::InvalidArgument, "resource:");
    net.clone()
        .after(
            t0(),
            None,
            license("EB-X", None, true, EResourceKind::Ebook, 2),
        )
        .when_at(
            t0(),
            None,
            license("EB-X", None, true, EResourceKind::Ebook, 2),
        )
        .then_refused(RejectionKind::AlreadyExists, "EB-X");
    net.when_at(t0(), JN, borrow("EB-NONE", &li_wei()))
        .then_refused(RejectionKind::NotFound, "EB-NONE");
}

#[test]
fn a_reader_with_a_digital_loan_open_is_not_forgotten() {
    ebook_with_two_licences()
        .after(t0(), JN, borrow("EB-SANTI", &li_wei()))
        .when_at(
            t0() + days(1),
            None,
            Command::ForgetPatron {
                patron: li_wei(),
                reason: pb::ForgetReason::Request,
            },
        )
        .then_refused(
            RejectionKind::FailedPrecondition,
            "cannot be forgotten: 1 digital loan(s) (EB-SANTI)",
        );
}

/// Once their keys are gone, forgotten readers' sealed ids all read as one anonymous patron
/// (ADR 0018). Two of them may have had loans of one e-book at once: the state counts those
/// loans instead of keying them, and the licences come free as they end.
#[test]
fn forgotten_readers_loans_of_one_resource_fold_and_free_their_licences() {
    let forgotten = |payload: fn(pb::DigitalLoaned) -> Payload, at: i64| {
        payload(pb::DigitalLoaned {
            resource: "EB-SANTI".into(),
            patron_id: readnet_domain::personal::FORGOTTEN_PATRON.into(),
            patron_home_city: "jinan".into(),
            owner_library: "JN-CENTRAL".into(),
            library: "JN-CENTRAL".into(),
            expires_at_us: at,
        })
    };
    let ended = |at: i64| {
        Payload::DigitalLoanEnded(pb::DigitalLoanEnded {
            resource: "EB-SANTI".into(),
            patron_id: readnet_domain::personal::FORGOTTEN_PATRON.into(),
            reason: DigitalLoanEndReason::Expired as i32,
            at_us: at,
        })
    };
    let expiry = us(t0() + days(14));
    let enrolled = || {
        Payload::PatronEnrolled(pb::PatronEnrolled {
            patron_id: readnet_domain::personal::FORGOTTEN_PATRON.into(),
            home_city: "jinan".into(),
            tier: pb::CreditTier::Standard as i32,
        })
    };
    let both = ebook_with_two_licences().and([
        enrolled(),
        enrolled(),
        forgotten(Payload::DigitalLoaned, expiry),
        forgotten(Payload::DigitalLoaned, expiry),
    ]);
    let resource = &both.ledger().network.eresources["EB-SANTI"];
    assert_eq!(resource.open_loans(), 2, "both licences are taken");
    both.clone()
        .when_at(t0() + days(1), JN, borrow("EB-SANTI", &a_third_reader()))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "has all its 2 licences on loan",
        );
    let freed = both.and([ended(expiry), ended(expiry)]);
    assert_eq!(
        freed.ledger().network.eresources["EB-SANTI"].open_loans(),
        0
    );
    freed
        .when_at(t0() + days(15), JN, borrow("EB-SANTI", &a_third_reader()))
        .then_accepted();
}
