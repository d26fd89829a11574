//! Checkout: the item on the shelf here, the patron from a member city, not blocked, below limit.

use chrono::Duration;
use readnet_domain::pb::{self, CreditTier, LibraryTier, TransferReason};
use readnet_domain::{
    DeskWork, Fen, ItemStatus, PatronRef, Payload, Rejection, RejectionKind, StreamId, Whereabouts,
};

use crate::support::fixtures::*;
use crate::support::*;

fn enrolment(patron: &PatronRef) -> readnet_domain::NewEvent {
    patron_event(
        patron,
        Payload::PatronEnrolled(pb::PatronEnrolled {
            patron_id: patron.patron_id.clone().into(),
            home_city: patron.city.clone().into(),
            tier: CreditTier::Standard as i32,
        }),
    )
}

/// JN-000002 lent by JN-CENTRAL to Li Wei at t0: due 2026-04-01 23:59:59.999999 in Jinan.
fn li_wei_borrowed_jn_000002() -> Scenario {
    given(network_jinan_zibo()).after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
}

fn jn_000002_due() -> chrono::DateTime<chrono::Utc> {
    shanghai(2026, 4, 1, 23, 59, 59) + Duration::microseconds(999_999)
}

#[test]
fn first_checkout_enrols_the_patron_then_lends() {
    let patron = li_wei();
    let after = given(network_jinan_zibo())
        .when_at(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &patron))
        .then_events(vec![
            enrolment(&patron),
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
    assert_eq!(
        after.status("ZB-000123"),
        &ItemStatus::OnLoan {
            patron_id: patron.patron_id.clone(),
            library: "ZB-CENTRAL".into(),
            due_at: shanghai(2026, 4, 1, 23, 59, 59) + Duration::microseconds(999_999),
            renewals: 0,
        }
    );
    let enrolled = after.patron(&patron);
    assert_eq!(enrolled.home_city, "jinan");
    assert_eq!(enrolled.tier, CreditTier::Standard);
    assert_eq!(after.loans(&patron), ["ZB-000123"]);
    assert_eq!(
        after.version(&StreamId::Patron(patron.patron_id.clone().into())),
        1
    );
    assert_eq!(after.version(&StreamId::Item("ZB-000123".into())), 2);
}

#[test]
fn the_patron_stream_is_named_by_the_keyed_hash_and_the_card_is_never_recorded() {
    let patron = li_wei();
    let after = given(network_jinan_zibo())
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &patron))
        .then_accepted();
    let name = StreamId::Patron(patron.patron_id.clone().into()).name();
    assert_eq!(name, format!("patron-{}", patron.patron_id));
    assert_eq!(patron.patron_id.as_str().len(), 32, "16 bytes of HMAC, hex");
    let recorded = format!("{:?}", after.history());
    assert!(
        !recorded.contains("370102199001011234"),
        "the card number is never recorded"
    );
}

#[test]
fn second_checkout_does_not_enrol_again() {
    let patron = li_wei();
    let after = li_wei_borrowed_jn_000002()
        .when_at(
            t0() + days(1),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &patron),
        )
        .then_events(vec![item_event(
            "JN-000001",
            Payload::ItemLoaned(pb::ItemLoaned {
                item: "JN-000001".into(),
                patron_id: patron.patron_id.clone().into(),
                library: "JN-CENTRAL".into(),
                due_at_us: us(shanghai(2026, 4, 2, 23, 59, 59)) + 999_999,
                patron_home_city: "jinan".into(),
                owner_library: "JN-CENTRAL".into(),
            }),
        )]);
    assert_eq!(after.loans(&patron), ["JN-000001", "JN-000002"]);
    assert_eq!(
        after.version(&StreamId::Patron(patron.patron_id.clone().into())),
        1
    );
}

fn due_at_us_of_checkout_at(at: chrono::DateTime<chrono::Utc>, library: &str, item: &str) -> i64 {
    let after = given(network_jinan_zibo())
        .and([
            city_joined("urumqi", "乌鲁木齐", "Asia/Urumqi"),
            library_registered("UQ-CENTRAL", "urumqi", LibraryTier::Central, None),
            catalogued("UQ-000001", "UQ-CENTRAL", Some(3000)),
        ])
        .when_at(at, Some(library), checkout(item, &li_wei()))
        .then_accepted();
    match after.status(item) {
        ItemStatus::OnLoan { due_at, .. } => us(*due_at),
        other => panic!("{item} is not on loan: {other:?}"),
    }
}

#[test]
fn due_date_is_the_end_of_the_thirtieth_day_in_the_librarys_time_zone() {
    // 1 March 23:59:59 in Jinan is 15:59:59 UTC, the same UTC day: due 31 March, local end of day.
    let due = due_at_us_of_checkout_at(shanghai(2026, 3, 1, 23, 59, 59), "JN-CENTRAL", "JN-000002");
    assert_eq!(
        due, 1_774_972_799_999_999,
        "2026-03-31T23:59:59.999999+08:00"
    );
}

#[test]
fn due_date_counts_from_the_local_day_not_the_utc_day() {
    // 2 March 00:00:30 in Jinan is still 1 March in UTC: the loan day is 2 March.
    let due = due_at_us_of_checkout_at(shanghai(2026, 3, 2, 0, 0, 30), "JN-CENTRAL", "JN-000002");
    assert_eq!(
        due, 1_775_059_199_999_999,
        "2026-04-01T23:59:59.999999+08:00"
    );
}

#[test]
fn due_date_follows_the_lending_librarys_city_not_shanghai() {
    // 1 March 23:30 in Urumqi (UTC+6) is already 2 March in Shanghai.
    let at = shanghai(2026, 3, 2, 1, 30, 0);
    let due = due_at_us_of_checkout_at(at, "UQ-CENTRAL", "UQ-000001");
    assert_eq!(
        due, 1_774_979_999_999_999,
        "2026-03-31T23:59:59.999999+06:00"
    );
}

#[test]
fn card_from_a_city_outside_the_network_is_refused() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &qingdao_card()),
        )
        .then_rejected(Rejection::CardCityNotMember {
            card: "qingdao:****3456".into(),
            city: "qingdao".into(),
        });
}

#[test]
fn unknown_item_is_not_found() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-999999", &li_wei()))
        .then_rejected(Rejection::ItemNotCatalogued {
            item: "JN-999999".into(),
        });
}

#[test]
fn checkout_without_an_acting_library_is_invalid() {
    given(network_jinan_zibo())
        .when_at(t0(), None, checkout("JN-000002", &li_wei()))
        .then_rejected(Rejection::ActingLibraryMissing);
}

#[test]
fn checkout_at_an_unregistered_library_is_not_found() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-NOWHERE"), checkout("JN-000002", &li_wei()))
        .then_rejected(Rejection::LibraryNotRegistered {
            field: "x-readnet-library",
            library: "JN-NOWHERE".into(),
        });
}

#[test]
fn checkout_at_a_booth_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-BOOTH-01"), checkout("JN-B-0001", &li_wei()))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::BoothIsNotADesk {
                booth: "JN-BOOTH-01".into(),
                work: DeskWork::Loans,
            },
            "JN-BOOTH-01 is a book-exchange booth: booths take no loans, only swaps",
        );
}

#[test]
fn item_on_the_shelf_of_another_library_is_refused_naming_where_it_is() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-LIXIA-03"), checkout("JN-000002", &li_wei()))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::ItemNotOnShelf {
                item: "JN-000002".into(),
                library: "JN-LIXIA-03".into(),
                whereabouts: Whereabouts::OnShelf {
                    library: "JN-CENTRAL".into(),
                    homebound_to: None,
                },
            },
            "item JN-000002 is not on the shelf at JN-LIXIA-03: it is on the shelf at JN-CENTRAL",
        );
}

#[test]
fn item_on_loan_is_refused_naming_the_due_date() {
    li_wei_borrowed_jn_000002()
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang_fang()),
        )
        .then_rejected(Rejection::ItemNotOnShelf {
            item: "JN-000002".into(),
            library: "JN-CENTRAL".into(),
            whereabouts: Whereabouts::OnLoan {
                library: "JN-CENTRAL".into(),
                due_date: date(2026, 4, 1),
            },
        });
}

#[test]
fn item_in_transit_is_refused() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-CENTRAL"),
            dispatch("JN-000002", "JN-LIXIA-03", TransferReason::Rebalance),
        )
        .when_at(t0(), Some("JN-LIXIA-03"), checkout("JN-000002", &li_wei()))
        .then_rejected(Rejection::ItemNotOnShelf {
            item: "JN-000002".into(),
            library: "JN-LIXIA-03".into(),
            whereabouts: Whereabouts::InTransit {
                from: "JN-CENTRAL".into(),
                to: "JN-LIXIA-03".into(),
            },
        });
}

#[test]
fn lost_item_is_refused() {
    li_wei_borrowed_jn_000002()
        .after(t0() + days(2), None, declare_lost("JN-000002"))
        .when_at(
            t0() + days(3),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang_fang()),
        )
        .then_rejected(Rejection::ItemNotOnShelf {
            item: "JN-000002".into(),
            library: "JN-CENTRAL".into(),
            whereabouts: Whereabouts::Lost,
        });
}

#[test]
fn withdrawn_item_is_refused() {
    given(network_jinan_zibo())
        .after(t0(), None, withdraw("JN-000002"))
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .then_rejected(Rejection::ItemNotOnShelf {
            item: "JN-000002".into(),
            library: "JN-CENTRAL".into(),
            whereabouts: Whereabouts::Withdrawn,
        });
}

#[test]
fn item_exchanged_out_of_a_booth_is_refused() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("JN-BOOTH-01"),
            readnet_domain::Command::BoothSwap {
                take_item: "JN-B-0001".into(),
                patron: wang_fang(),
                deposit: book("JN-B-0002", "围城", None),
            },
        )
        .when_at(t0(), Some("JN-LIXIA-03"), checkout("JN-B-0001", &li_wei()))
        .then_rejected(Rejection::ItemNotOnShelf {
            item: "JN-B-0001".into(),
            library: "JN-LIXIA-03".into(),
            whereabouts: Whereabouts::ExchangedOut,
        });
}

#[test]
fn item_in_a_booth_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), Some("JN-LIXIA-03"), checkout("JN-B-0001", &li_wei()))
        .then_rejected(Rejection::ItemNotOnShelf {
            item: "JN-B-0001".into(),
            library: "JN-LIXIA-03".into(),
            whereabouts: Whereabouts::InBooth {
                booth: "JN-BOOTH-01".into(),
            },
        });
}

#[test]
fn homebound_item_is_not_lent_again_before_it_is_home() {
    // A Zibo book returned in Jinan waits at JN-LIXIA-03 for its trip home.
    given(network_jinan_zibo())
        .after(t0(), Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
        .after(t0() + days(5), Some("JN-LIXIA-03"), give_back("ZB-000123"))
        .when_at(
            t0() + days(5),
            Some("JN-LIXIA-03"),
            checkout("ZB-000123", &wang_fang()),
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::HomeboundNotLent {
                item: "ZB-000123".into(),
                owner: "ZB-CENTRAL".into(),
            },
            "item ZB-000123 is homebound to ZB-CENTRAL: it is not lent again until it is back home",
        );
}

/// A patron of `tier` with `on_loan` items from JN-CENTRAL, and one more item JN-T-<on_loan+1>
/// on its shelf.
fn patron_with_loans(patron: &PatronRef, tier: CreditTier, on_loan: usize) -> Scenario {
    let mut scenario = given(network_jinan_zibo())
        .and(shelf_items("JN-CENTRAL", "JN-T", on_loan + 1))
        .and([enrolled(patron, tier)]);
    for i in 1..=on_loan {
        scenario = scenario.after(
            t0(),
            Some("JN-CENTRAL"),
            checkout(&item_code("JN-T", i), patron),
        );
    }
    scenario
}

fn assert_limit(tier: CreditTier, word: &str, limit: usize) {
    let patron = li_wei();
    let next = item_code("JN-T", limit);
    let below = patron_with_loans(&patron, tier, limit - 1)
        .when_at(t0(), Some("JN-CENTRAL"), checkout(&next, &patron))
        .then_accepted();
    assert_eq!(below.loans(&patron).len(), limit);

    let next = item_code("JN-T", limit + 1);
    patron_with_loans(&patron, tier, limit)
        .when_at(t0(), Some("JN-CENTRAL"), checkout(&next, &patron))
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::LoanLimitReached {
                card: "jinan:****1234".into(),
                on_loan: limit,
                limit,
                tier,
            },
            &format!(
                "patron jinan:****1234 has {limit} items on loan, the limit of a {word} patron is {limit}"
            ),
        );
}

#[test]
fn restricted_patron_may_have_three_items_on_loan() {
    assert_limit(CreditTier::Restricted, "restricted", 3);
}

#[test]
fn standard_patron_may_have_ten_items_on_loan() {
    assert_limit(CreditTier::Standard, "standard", 10);
}

#[test]
fn trusted_patron_may_have_twenty_items_on_loan() {
    assert_limit(CreditTier::Trusted, "trusted", 20);
}

#[test]
fn items_returned_free_room_under_the_limit() {
    let patron = li_wei();
    patron_with_loans(&patron, CreditTier::Restricted, 3)
        .after(t0() + days(1), Some("JN-CENTRAL"), give_back("JN-T-01"))
        .when_at(
            t0() + days(1),
            Some("JN-CENTRAL"),
            checkout("JN-T-04", &patron),
        )
        .then_accepted();
}

#[test]
fn item_overdue_exactly_thirty_days_does_not_block() {
    li_wei_borrowed_jn_000002()
        .when_at(
            jn_000002_due() + days(30),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_accepted();
}

#[test]
fn item_overdue_more_than_thirty_days_blocks_checkout() {
    li_wei_borrowed_jn_000002()
        .when_at(
            jn_000002_due() + days(30) + Duration::microseconds(1),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_rejected_saying(RejectionKind::FailedPrecondition, Rejection::PatronBlockedOverdue { card: "jinan:****1234".into(), item: "JN-000002".into(), due_date: date(2026, 4, 1), days: 30 }, "patron jinan:****1234 is blocked: item JN-000002 was due 2026-04-01 and is overdue by more than 30 days");
}

#[test]
fn returning_the_overdue_item_unblocks() {
    let late = jn_000002_due() + days(45);
    li_wei_borrowed_jn_000002()
        .after(late, Some("JN-CENTRAL"), give_back("JN-000002"))
        .when_at(late, Some("JN-CENTRAL"), checkout("JN-000001", &li_wei()))
        .then_accepted();
}

fn li_wei_lost_jn_000002() -> Scenario {
    li_wei_borrowed_jn_000002().after(t0() + days(10), None, declare_lost("JN-000002"))
}

#[test]
fn unsettled_lost_item_blocks_checkout() {
    li_wei_lost_jn_000002()
        .when_at(
            t0() + days(11),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_rejected_saying(RejectionKind::FailedPrecondition, Rejection::PatronBlockedLost { card: "jinan:****1234".into(), item: "JN-000002".into(), owed_fen: Fen(3900) }, "patron jinan:****1234 is blocked: item JN-000002 was declared lost and 3900 fen is unpaid");
}

#[test]
fn payment_in_full_unblocks() {
    li_wei_lost_jn_000002()
        .after(t0() + days(11), Some("JN-CENTRAL"), pay("JN-000002", 3900))
        .when_at(
            t0() + days(11),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_accepted();
}

#[test]
fn waiver_unblocks() {
    li_wei_lost_jn_000002()
        .after(t0() + days(11), Some("JN-CENTRAL"), waive("JN-000002"))
        .when_at(
            t0() + days(11),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_accepted();
}

#[test]
fn a_blocked_patron_does_not_block_another() {
    li_wei_lost_jn_000002()
        .when_at(
            t0() + days(11),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &wang_fang()),
        )
        .then_accepted();
}
