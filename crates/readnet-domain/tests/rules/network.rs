//! Cities, libraries, closures, return policies, tariffs and patron tiers.

use readnet_domain::pb::{self, ChargeKind, CreditTier, LibraryTier, ReturnPolicy};
use readnet_domain::{
    Command, Fen, LibraryCode, MAX_TARIFF_FEN, Payload, Rejection, RejectionKind, StreamId,
};

use crate::support::fixtures::*;
use crate::support::*;

fn join(city: &str, time_zone: &str) -> Command {
    Command::JoinCity {
        city: city.into(),
        name: "淄博".into(),
        time_zone: time_zone.into(),
    }
}

fn register(library: &str, city: &str, tier: LibraryTier, parent: Option<&str>) -> Command {
    Command::RegisterLibrary {
        library: library.into(),
        name: "周村区图书馆".into(),
        city: city.into(),
        tier,
        parent: parent.map(LibraryCode::from),
    }
}

fn close(library: &str) -> Command {
    Command::CloseLibrary {
        library: library.into(),
        reason: "renovation".into(),
    }
}

fn set_tariff(
    kind: ChargeKind,
    amount_fen: i64,
    effective_from: chrono::DateTime<chrono::Utc>,
) -> Command {
    Command::SetTariff {
        kind,
        amount_fen: Fen(amount_fen),
        effective_from,
    }
}

#[test]
fn join_city_records_the_city_with_its_time_zone() {
    let after = given([])
        .when_at(t0(), None, join("zibo", "Asia/Shanghai"))
        .then_events(vec![network_event(Payload::CityJoined(pb::CityJoined {
            city: "zibo".into(),
            name: "淄博".into(),
            time_zone: "Asia/Shanghai".into(),
        }))]);
    assert_eq!(
        after.ledger().network.cities["zibo"].time_zone,
        chrono_tz::Asia::Shanghai
    );
    assert_eq!(after.version(&StreamId::Network), 1);
}

#[test]
fn join_city_without_time_zone_defaults_to_asia_shanghai() {
    given([])
        .when_at(t0(), None, join("zibo", ""))
        .then_events(vec![network_event(Payload::CityJoined(pb::CityJoined {
            city: "zibo".into(),
            name: "淄博".into(),
            time_zone: "Asia/Shanghai".into(),
        }))]);
}

#[test]
fn join_city_with_an_unknown_time_zone_is_invalid() {
    given([])
        .when_at(t0(), None, join("zibo", "Asia/Zibo"))
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::UnknownTimeZone {
                time_zone: "Asia/Zibo".into(),
            },
            "time_zone: \"Asia/Zibo\" is not an IANA time zone name",
        );
}

#[test]
fn join_city_twice_already_exists() {
    given(network_jinan_zibo())
        .when_at(t0(), None, join("zibo", "Asia/Shanghai"))
        .then_rejected_saying(
            RejectionKind::AlreadyExists,
            Rejection::CityAlreadyJoined {
                city: "zibo".into(),
            },
            "city zibo has already joined the network",
        );
}

#[test]
fn register_library_records_it_under_its_parent() {
    let after = given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            register(
                "ZB-WANGCUN-11",
                "zibo",
                LibraryTier::ServicePoint,
                Some("ZB-ZHOUCUN-07"),
            ),
        )
        .then_events(vec![network_event(Payload::LibraryRegistered(
            pb::LibraryRegistered {
                library: "ZB-WANGCUN-11".into(),
                name: "周村区图书馆".into(),
                city: "zibo".into(),
                tier: LibraryTier::ServicePoint as i32,
                parent: "ZB-ZHOUCUN-07".into(),
            },
        ))]);
    let library = &after.ledger().network.libraries["ZB-WANGCUN-11"];
    assert_eq!(
        library.parent.as_ref().map(LibraryCode::as_str),
        Some("ZB-ZHOUCUN-07")
    );
    assert_eq!(
        library.return_policy,
        ReturnPolicy::ReturnHome,
        "return_home is the default"
    );
    assert!(!library.closed);
}

#[test]
fn register_library_without_parent_records_an_empty_parent() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            register("ZB-SELF-01", "zibo", LibraryTier::SelfService, None),
        )
        .then_events(vec![network_event(Payload::LibraryRegistered(
            pb::LibraryRegistered {
                library: "ZB-SELF-01".into(),
                name: "周村区图书馆".into(),
                city: "zibo".into(),
                tier: LibraryTier::SelfService as i32,
                parent: String::new(),
            },
        ))]);
}

#[test]
fn register_library_in_a_city_outside_the_network_is_not_found() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            register("QD-CENTRAL", "qingdao", LibraryTier::Central, None),
        )
        .then_rejected_saying(
            RejectionKind::NotFound,
            Rejection::CityNotJoined {
                city: "qingdao".into(),
            },
            "city: city qingdao has not joined the network",
        );
}

#[test]
fn register_library_twice_already_exists() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            register("ZB-ZHOUCUN-07", "zibo", LibraryTier::Branch, None),
        )
        .then_rejected_saying(
            RejectionKind::AlreadyExists,
            Rejection::LibraryAlreadyRegistered {
                library: "ZB-ZHOUCUN-07".into(),
            },
            "library ZB-ZHOUCUN-07 is already registered",
        );
}

#[test]
fn register_library_under_an_unknown_parent_is_not_found() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            register(
                "ZB-WANGCUN-11",
                "zibo",
                LibraryTier::ServicePoint,
                Some("ZB-NOWHERE"),
            ),
        )
        .then_rejected(Rejection::LibraryNotRegistered {
            field: "parent",
            library: "ZB-NOWHERE".into(),
        });
}

#[test]
fn register_library_without_tier_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            register("ZB-WANGCUN-11", "zibo", LibraryTier::Unspecified, None),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::LibraryTierRequired,
            "tier: a library tier is required",
        );
}

#[test]
fn close_library_records_the_closure() {
    let after = given(network_jinan_zibo())
        .when_at(t0(), None, close("ZB-ZHOUCUN-07"))
        .then_events(vec![network_event(Payload::LibraryClosed(
            pb::LibraryClosed {
                library: "ZB-ZHOUCUN-07".into(),
                reason: "renovation".into(),
            },
        ))]);
    assert!(after.ledger().network.libraries["ZB-ZHOUCUN-07"].closed);
}

#[test]
fn close_an_unknown_library_is_not_found() {
    given(network_jinan_zibo())
        .when_at(t0(), None, close("ZB-NOWHERE"))
        .then_rejected(Rejection::LibraryNotRegistered {
            field: "library",
            library: "ZB-NOWHERE".into(),
        });
}

#[test]
fn close_a_closed_library_is_refused() {
    given(network_jinan_zibo())
        .and([library_closed("ZB-ZHOUCUN-07")])
        .when_at(t0(), None, close("ZB-ZHOUCUN-07"))
        .then_rejected(Rejection::LibraryClosed {
            library: "ZB-ZHOUCUN-07".into(),
        });
}

#[test]
fn checkout_at_a_closed_library_is_refused() {
    given(network_jinan_zibo())
        .and([library_closed("ZB-ZHOUCUN-07")])
        .when_at(
            t0(),
            Some("ZB-ZHOUCUN-07"),
            checkout("ZB-000124", &wang_fang()),
        )
        .then_rejected(Rejection::LibraryClosed {
            library: "ZB-ZHOUCUN-07".into(),
        });
}

#[test]
fn return_at_a_closed_library_is_refused() {
    given(network_jinan_zibo())
        .after(
            t0(),
            Some("ZB-CENTRAL"),
            checkout("ZB-000123", &wang_fang()),
        )
        .and([library_closed("ZB-ZHOUCUN-07")])
        .when_at(
            t0() + days(3),
            Some("ZB-ZHOUCUN-07"),
            give_back("ZB-000123"),
        )
        .then_rejected(Rejection::LibraryClosed {
            library: "ZB-ZHOUCUN-07".into(),
        });
}

#[test]
fn set_return_policy_records_the_policy_for_the_owners_items() {
    let after = given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            Command::SetReturnPolicy {
                library: "JN-CENTRAL".into(),
                policy: ReturnPolicy::FloatInCity,
            },
        )
        .then_events(vec![network_event(Payload::ReturnPolicySet(
            pb::ReturnPolicySet {
                library: "JN-CENTRAL".into(),
                policy: ReturnPolicy::FloatInCity as i32,
            },
        ))]);
    assert_eq!(
        after.ledger().network.libraries["JN-CENTRAL"].return_policy,
        ReturnPolicy::FloatInCity
    );
}

#[test]
fn set_return_policy_without_a_policy_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            Command::SetReturnPolicy {
                library: "JN-CENTRAL".into(),
                policy: ReturnPolicy::Unspecified,
            },
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::ReturnPolicyRequired,
            "policy: return_home or float_in_city is required",
        );
}

#[test]
fn set_return_policy_of_an_unknown_library_is_not_found() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            Command::SetReturnPolicy {
                library: "JN-NOWHERE".into(),
                policy: ReturnPolicy::FloatInCity,
            },
        )
        .then_rejected(Rejection::LibraryNotRegistered {
            field: "library",
            library: "JN-NOWHERE".into(),
        });
}

#[test]
fn set_tariff_records_an_effective_dated_tariff() {
    let from = shanghai(2026, 4, 1, 0, 0, 0);
    given(network_jinan_zibo())
        .when_at(t0(), None, set_tariff(ChargeKind::Shipping, 1000, from))
        .then_events(vec![network_event(Payload::TariffSet(pb::TariffSet {
            kind: ChargeKind::Shipping as i32,
            amount_fen: 1000,
            effective_from_us: us(from),
        }))]);
}

#[test]
fn set_tariff_with_a_negative_amount_is_invalid() {
    given(network_jinan_zibo())
        .when_at(t0(), None, set_tariff(ChargeKind::Loan, -1, t0()))
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::NegativeTariff {
                amount_fen: Fen(-1),
            },
            "amount_fen: -1 is negative",
        );
}

#[test]
fn a_tariff_cannot_take_effect_before_it_is_set() {
    let set_at = t0();
    given(network_jinan_zibo())
        .when_at(
            set_at,
            None,
            set_tariff(ChargeKind::Loan, 150, set_at - chrono::Duration::days(7)),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::TariffInThePast {
                effective_from: set_at - chrono::Duration::days(7),
                set_at,
            },
            "effective_from: 2026-02-23T02:00:00+00:00 is before the tariff is set \
             (2026-03-02T02:00:00+00:00); a tariff takes effect from now on, never in the past",
        );
    given(network_jinan_zibo())
        .when_at(set_at, None, set_tariff(ChargeKind::Loan, 150, set_at))
        .then_accepted();
}

#[test]
fn set_tariff_without_a_kind_is_invalid() {
    given(network_jinan_zibo())
        .when_at(t0(), None, set_tariff(ChargeKind::Unspecified, 100, t0()))
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::ChargeKindRequired,
            "kind: a charge kind (loan, return, shipping, lost) is required",
        );
}

/// JN-000001 has no price: its lost debt falls back to the lost tariff in force when it is lost.
fn lent_unpriced_book_with_lost_tariff_from(
    effective_from: chrono::DateTime<chrono::Utc>,
) -> Scenario {
    given(network_jinan_zibo())
        .after(
            t0(),
            None,
            set_tariff(ChargeKind::Lost, 5000, effective_from),
        )
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &li_wei()))
}

fn lost_debt(
    item: &str,
    patron: &readnet_domain::PatronRef,
    debt_fen: i64,
) -> Vec<readnet_domain::NewEvent> {
    vec![item_event(
        item,
        Payload::ItemDeclaredLost(pb::ItemDeclaredLost {
            item: item.into(),
            patron_id: patron.patron_id.clone().into(),
            owner_library: "JN-CENTRAL".into(),
            patron_home_city: patron.city.clone().into(),
            debt_fen,
        }),
    )]
}

#[test]
fn lost_fallback_before_a_tariffs_effective_date_is_the_default() {
    let effective = shanghai(2026, 4, 1, 0, 0, 0);
    lent_unpriced_book_with_lost_tariff_from(effective)
        .when_at(
            effective - chrono::Duration::microseconds(1),
            None,
            declare_lost("JN-000001"),
        )
        .then_events(lost_debt("JN-000001", &li_wei(), 3000));
}

#[test]
fn lost_fallback_from_a_tariffs_effective_date_is_that_tariff() {
    let effective = shanghai(2026, 4, 1, 0, 0, 0);
    lent_unpriced_book_with_lost_tariff_from(effective)
        .when_at(effective, None, declare_lost("JN-000001"))
        .then_events(lost_debt("JN-000001", &li_wei(), 5000));
}

#[test]
fn lost_fallback_uses_the_latest_effective_tariff_not_the_latest_set() {
    // Set later but effective earlier: the April tariff is in force in May.
    lent_unpriced_book_with_lost_tariff_from(shanghai(2026, 4, 1, 0, 0, 0))
        .after(
            t0(),
            None,
            set_tariff(ChargeKind::Lost, 4000, shanghai(2026, 3, 15, 0, 0, 0)),
        )
        .when_at(
            shanghai(2026, 5, 1, 0, 0, 0),
            None,
            declare_lost("JN-000001"),
        )
        .then_events(lost_debt("JN-000001", &li_wei(), 5000));
}

#[test]
fn of_two_tariffs_effective_at_the_same_instant_the_later_set_wins() {
    let effective = shanghai(2026, 3, 2, 12, 0, 0);
    lent_unpriced_book_with_lost_tariff_from(effective)
        .after(t0(), None, set_tariff(ChargeKind::Lost, 4200, effective))
        .when_at(effective + days(1), None, declare_lost("JN-000001"))
        .then_events(lost_debt("JN-000001", &li_wei(), 4200));
}

#[test]
fn a_tariff_of_another_kind_leaves_the_lost_fallback_alone() {
    given(network_jinan_zibo())
        .after(t0(), None, set_tariff(ChargeKind::Shipping, 9900, t0()))
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &li_wei()))
        .when_at(t0() + days(1), None, declare_lost("JN-000001"))
        .then_events(lost_debt("JN-000001", &li_wei(), 3000));
}

#[test]
fn set_patron_tier_records_the_change_in_the_patrons_stream() {
    let patron = li_wei();
    let after = given(network_jinan_zibo())
        .and([enrolled(&patron, CreditTier::Standard)])
        .when_at(t0(), None, set_tier(&patron, CreditTier::Trusted))
        .then_events(vec![patron_event(
            &patron,
            Payload::PatronTierChanged(pb::PatronTierChanged {
                patron_id: patron.patron_id.clone().into(),
                tier: CreditTier::Trusted as i32,
            }),
        )]);
    assert_eq!(after.patron(&patron).tier, CreditTier::Trusted);
    assert_eq!(
        after.version(&StreamId::Patron(patron.patron_id.clone().into())),
        2
    );
}

#[test]
fn set_tier_of_a_card_never_used_enrols_the_patron_with_that_tier() {
    let patron = li_wei();
    let after = given(network_jinan_zibo())
        .when_at(t0(), None, set_tier(&patron, CreditTier::Restricted))
        .then_events(vec![patron_event(
            &patron,
            Payload::PatronEnrolled(pb::PatronEnrolled {
                patron_id: patron.patron_id.clone().into(),
                home_city: "jinan".into(),
                tier: CreditTier::Restricted as i32,
            }),
        )]);
    assert_eq!(after.patron(&patron).tier, CreditTier::Restricted);
    // The first checkout finds the patron enrolled: no second enrolment, the tier's limit.
    after
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &patron))
        .then_events(vec![item_event(
            "JN-000001",
            Payload::ItemLoaned(pb::ItemLoaned {
                item: "JN-000001".into(),
                patron_id: patron.patron_id.clone().into(),
                library: "JN-CENTRAL".into(),
                due_at_us: us(
                    shanghai(2026, 4, 1, 23, 59, 59) + chrono::Duration::microseconds(999_999)
                ),
                patron_home_city: "jinan".into(),
                owner_library: "JN-CENTRAL".into(),
            }),
        )]);
}

#[test]
fn set_tier_of_a_card_from_outside_the_network_is_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), None, set_tier(&qingdao_card(), CreditTier::Trusted))
        .then_rejected(Rejection::CardCityNotMember {
            card: "qingdao:****3456".into(),
            city: "qingdao".into(),
        });
}

#[test]
fn set_tier_without_a_tier_is_invalid() {
    let patron = li_wei();
    given(network_jinan_zibo())
        .and([enrolled(&patron, CreditTier::Standard)])
        .when_at(t0(), None, set_tier(&patron, CreditTier::Unspecified))
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::CreditTierRequired,
            "tier: restricted, standard or trusted is required",
        );
}

#[test]
fn a_patron_raised_to_trusted_may_borrow_an_eleventh_item() {
    let patron = li_wei();
    let mut scenario = given(network_jinan_zibo())
        .and(shelf_items("JN-CENTRAL", "JN-T", 11))
        .and([enrolled(&patron, CreditTier::Standard)]);
    for i in 1..=10 {
        scenario = scenario.after(
            t0(),
            Some("JN-CENTRAL"),
            checkout(&item_code("JN-T", i), &patron),
        );
    }
    let after = scenario
        .after(t0(), None, set_tier(&patron, CreditTier::Trusted))
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-T-11", &patron))
        .then_accepted();
    assert_eq!(after.loans(&patron).len(), 11);
}

#[test]
fn a_patron_lowered_to_restricted_may_not_borrow_a_fourth_item() {
    let patron = li_wei();
    given(network_jinan_zibo())
        .and(shelf_items("JN-CENTRAL", "JN-T", 4))
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-T-01", &patron))
        .after(t0(), None, set_tier(&patron, CreditTier::Restricted))
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-T-02", &patron))
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-T-03", &patron))
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-T-04", &patron))
        .then_rejected(Rejection::LoanLimitReached {
            card: "jinan:****1234".into(),
            on_loan: 3,
            limit: 3,
            tier: CreditTier::Restricted,
        });
}

#[test]
fn set_tariff_at_the_maximum_is_accepted() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            set_tariff(ChargeKind::Lost, MAX_TARIFF_FEN.get(), t0()),
        )
        .then_accepted();
}

#[test]
fn set_tariff_above_the_maximum_is_invalid() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            set_tariff(ChargeKind::Shipping, i64::MAX - 1, t0()),
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::TariffTooHigh {
                amount_fen: Fen(i64::MAX - 1),
                max_fen: MAX_TARIFF_FEN,
            },
            "amount_fen: 9223372036854775806 fen is more than the maximum tariff of 100000 fen",
        );
}
