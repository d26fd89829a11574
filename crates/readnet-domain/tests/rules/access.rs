//! Who may give which command: roles, scopes, channels, and the rules of the grants themselves.

use std::collections::BTreeSet;

use chrono::Duration;
use readnet_domain::access::{Act, Denial, Target};
use readnet_domain::pb::{self, Channel, CreditTier, LibraryTier};
use readnet_domain::{
    Authority, Command, Grant, LibraryCode, Payload, Rejection, RejectionKind, Role, Scope,
    StreamId, TokenGrant,
};

use crate::support::fixtures::*;
use crate::support::*;

fn libraries(codes: &[&str]) -> Scope {
    Scope::Libraries(codes.iter().map(|c| LibraryCode::from(*c)).collect())
}

fn authority(name: &str, role: Role, scope: Scope) -> Authority {
    Authority {
        principal: name.into(),
        grant: Grant { role, scope },
    }
}

fn desk_of(codes: &[&str]) -> Authority {
    authority("desk-jn", Role::Desk, libraries(codes))
}

fn admin() -> Authority {
    authority("admin", Role::NetworkAdmin, Scope::Network)
}

fn jinan_admin() -> Authority {
    authority("jinan-admin", Role::CityAdmin, Scope::City("jinan".into()))
}

fn token(id: &str) -> TokenGrant {
    TokenGrant {
        id: id.into(),
        expires_at: None,
    }
}

fn add(name: &str, role: Role, scope: Scope) -> Command {
    Command::AddPrincipal {
        principal: name.into(),
        grant: Grant { role, scope },
        token: token(&format!("t-{name}")),
    }
}

/// The network with an administrator named `admin`.
fn network_with_admin() -> Scenario {
    given(network_jinan_zibo()).after(t0(), None, add("admin", Role::NetworkAdmin, Scope::Network))
}

#[track_caller]
fn refused_for(rejection: &Rejection) -> (Denial, Option<Target>) {
    match rejection {
        Rejection::NotPermitted(refused) => (refused.why, refused.target.clone()),
        other => panic!("expected NotPermitted, got {other:?}"),
    }
}

#[test]
fn a_desk_checks_out_at_its_own_library() {
    given(network_jinan_zibo())
        .when_by(
            &desk_of(&["JN-CENTRAL"]),
            t0(),
            Some("JN-CENTRAL"),
            Channel::Desk,
            checkout("JN-000002", &li_wei()),
        )
        .then_accepted();
}

#[test]
fn a_desk_may_not_check_out_at_another_library() {
    let rejection = given(network_jinan_zibo())
        .when_by(
            &desk_of(&["JN-CENTRAL"]),
            t0(),
            Some("ZB-CENTRAL"),
            Channel::Desk,
            checkout("ZB-000123", &li_wei()),
        )
        .then_refused(
            RejectionKind::PermissionDenied,
            "principal desk-jn (desk of library JN-CENTRAL) may not Checkout for library ZB-CENTRAL: it is outside its scope",
        );
    assert_eq!(
        refused_for(&rejection),
        (Denial::Scope, Some(Target::Library("ZB-CENTRAL".into())))
    );
}

#[test]
fn a_desk_over_several_libraries_acts_at_each_of_them() {
    let desk = desk_of(&["JN-CENTRAL", "JN-LIXIA-03"]);
    given(network_jinan_zibo())
        .when_by(
            &desk,
            t0(),
            Some("JN-LIXIA-03"),
            Channel::Desk,
            checkout("JN-000003", &li_wei()),
        )
        .then_accepted();
}

#[test]
fn a_desk_catalogues_only_into_libraries_it_acts_for() {
    let command = Command::CatalogueItem {
        book: book("ZB-NEW-1", "新书", Some(3000)),
        owner_library: "ZB-CENTRAL".into(),
        acquisition: pb::Acquisition::Purchase,
    };
    let rejection = given(network_jinan_zibo())
        .when_by(
            &desk_of(&["JN-CENTRAL"]),
            t0(),
            Some("JN-CENTRAL"),
            Channel::Desk,
            command,
        )
        .then_refused(
            RejectionKind::PermissionDenied,
            "CatalogueItem for library ZB-CENTRAL",
        );
    assert_eq!(refused_for(&rejection).0, Denial::Scope);
}

#[test]
fn a_desk_withdraws_and_declares_lost_only_items_its_libraries_own() {
    let desk = desk_of(&["JN-CENTRAL"]);
    for command in [withdraw("ZB-000123"), declare_lost("ZB-000123")] {
        let rejection = given(network_jinan_zibo())
            .when_by(&desk, t0(), Some("JN-CENTRAL"), Channel::Desk, command)
            .then_refused(RejectionKind::PermissionDenied, "for library ZB-CENTRAL");
        assert_eq!(refused_for(&rejection).0, Denial::Scope);
    }
    given(network_jinan_zibo())
        .when_by(
            &desk,
            t0(),
            Some("JN-CENTRAL"),
            Channel::Desk,
            withdraw("JN-000002"),
        )
        .then_accepted();
}

#[test]
fn a_desk_may_not_set_a_tariff_or_close_a_library() {
    let desk = desk_of(&["JN-CENTRAL"]);
    let tariff = Command::SetTariff {
        kind: pb::ChargeKind::Loan,
        amount_fen: readnet_domain::Fen(1),
        effective_from: t0() + Duration::days(1),
    };
    let rejection = given(network_jinan_zibo())
        .when_by(&desk, t0(), Some("JN-CENTRAL"), Channel::Desk, tariff)
        .then_refused(
            RejectionKind::PermissionDenied,
            "may not SetTariff for library JN-CENTRAL: only network-admin may",
        );
    assert_eq!(refused_for(&rejection).0, Denial::Role);
    let close = Command::CloseLibrary {
        library: "JN-CENTRAL".into(),
        reason: "none".into(),
    };
    given(network_jinan_zibo())
        .when_by(&desk, t0(), Some("JN-CENTRAL"), Channel::Desk, close)
        .then_refused(
            RejectionKind::PermissionDenied,
            "only network-admin, city-admin may",
        );
}

#[test]
fn a_kiosk_lends_on_the_kiosk_channel_only_and_does_not_catalogue() {
    let kiosk = authority("kiosk-lixia", Role::Kiosk, libraries(&["JN-LIXIA-03"]));
    given(network_jinan_zibo())
        .when_by(
            &kiosk,
            t0(),
            Some("JN-LIXIA-03"),
            Channel::Kiosk,
            checkout("JN-000003", &li_wei()),
        )
        .then_accepted();
    let rejection = given(network_jinan_zibo())
        .when_by(
            &kiosk,
            t0(),
            Some("JN-LIXIA-03"),
            Channel::Desk,
            checkout("JN-000003", &li_wei()),
        )
        .then_refused(RejectionKind::PermissionDenied, "on the desk channel");
    assert!(matches!(rejection, Rejection::ChannelNotPermitted { .. }));
    let catalogue = Command::CatalogueItem {
        book: book("JN-NEW-1", "新书", Some(3000)),
        owner_library: "JN-LIXIA-03".into(),
        acquisition: pb::Acquisition::Purchase,
    };
    let rejection = given(network_jinan_zibo())
        .when_by(&kiosk, t0(), Some("JN-LIXIA-03"), Channel::Kiosk, catalogue)
        .then_refused(
            RejectionKind::PermissionDenied,
            "only network-admin, desk may",
        );
    assert_eq!(refused_for(&rejection).0, Denial::Role);
}

#[test]
fn no_principal_acts_on_the_system_channel() {
    given(network_jinan_zibo())
        .when_by(
            &admin(),
            t0(),
            None,
            Channel::System,
            set_tier(&li_wei(), CreditTier::Trusted),
        )
        .then_refused(RejectionKind::PermissionDenied, "on the system channel");
}

#[test]
fn a_city_admin_manages_its_city_and_no_other() {
    let jinan = jinan_admin();
    given(network_jinan_zibo())
        .when_by(
            &jinan,
            t0(),
            None,
            Channel::Desk,
            Command::RegisterLibrary {
                library: "JN-NEW".into(),
                name: "新馆".into(),
                city: "jinan".into(),
                tier: LibraryTier::Branch,
                parent: Some("JN-CENTRAL".into()),
            },
        )
        .then_accepted();
    let rejection = given(network_jinan_zibo())
        .when_by(
            &jinan,
            t0(),
            None,
            Channel::Desk,
            Command::CloseLibrary {
                library: "ZB-CENTRAL".into(),
                reason: "none".into(),
            },
        )
        .then_refused(
            RejectionKind::PermissionDenied,
            "CloseLibrary for library ZB-CENTRAL",
        );
    assert_eq!(refused_for(&rejection).0, Denial::Scope);
    // A patron's tier belongs to the card's city.
    given(network_jinan_zibo())
        .and([enrolled(&li_wei(), CreditTier::Standard)])
        .when_by(
            &jinan,
            t0(),
            None,
            Channel::Desk,
            set_tier(&li_wei(), CreditTier::Trusted),
        )
        .then_accepted();
    given(network_jinan_zibo())
        .when_by(
            &jinan,
            t0(),
            None,
            Channel::Desk,
            set_tier(&qingdao_card(), CreditTier::Trusted),
        )
        .then_refused(RejectionKind::PermissionDenied, "for city qingdao");
}

#[test]
fn a_city_admin_adds_desks_of_its_own_city_only() {
    let jinan = jinan_admin();
    network_with_admin()
        .when_by(
            &jinan,
            t0(),
            None,
            Channel::Desk,
            add(
                "desk-jn",
                Role::Desk,
                libraries(&["JN-CENTRAL", "JN-LIXIA-03"]),
            ),
        )
        .then_accepted();
    let rejection = network_with_admin()
        .when_by(
            &jinan,
            t0(),
            None,
            Channel::Desk,
            add(
                "desk-mixed",
                Role::Desk,
                libraries(&["JN-CENTRAL", "ZB-CENTRAL"]),
            ),
        )
        .then_refused(
            RejectionKind::PermissionDenied,
            "manage principals for principal desk-mixed",
        );
    assert_eq!(refused_for(&rejection).0, Denial::Scope);
    network_with_admin()
        .when_by(
            &jinan,
            t0(),
            None,
            Channel::Desk,
            add("auditor-2", Role::Auditor, Scope::Network),
        )
        .then_refused(RejectionKind::PermissionDenied, "it is outside its scope");
}

#[test]
fn adding_a_principal_records_its_grant_and_first_token_but_no_secret() {
    let after = network_with_admin()
        .when_by(
            &admin(),
            t0(),
            None,
            Channel::Desk,
            Command::AddPrincipal {
                principal: "desk-jn".into(),
                grant: Grant {
                    role: Role::Desk,
                    scope: libraries(&["JN-CENTRAL", "JN-LIXIA-03"]),
                },
                token: TokenGrant {
                    id: "0123abcd".into(),
                    expires_at: Some(t0() + Duration::days(90)),
                },
            },
        )
        .then_events(vec![
            network_event(Payload::PrincipalAdded(pb::PrincipalAdded {
                principal: "desk-jn".into(),
                role: pb::Role::Desk as i32,
                city: String::new(),
                libraries: vec!["JN-CENTRAL".into(), "JN-LIXIA-03".into()],
                granted_by: "admin".into(),
            })),
            network_event(Payload::TokenIssued(pb::TokenIssued {
                principal: "desk-jn".into(),
                token_id: "0123abcd".into(),
                expires_at_us: (t0() + Duration::days(90)).timestamp_micros(),
                issued_by: "admin".into(),
            })),
        ]);
    let desk = &after.ledger().network.principals["desk-jn"];
    assert_eq!(desk.granted_by.as_ref().map(|p| p.as_str()), Some("admin"));
    assert_eq!(desk.token.as_ref().map(|t| t.id.as_str()), Some("0123abcd"));
    assert_eq!(
        after.version(&StreamId::Network),
        network_with_admin().version(&StreamId::Network) + 2
    );
}

#[test]
fn a_principal_name_is_never_reused_even_after_revocation() {
    let scenario = network_with_admin()
        .after(
            t0(),
            None,
            add("desk-jn", Role::Desk, libraries(&["JN-CENTRAL"])),
        )
        .after(
            t0(),
            None,
            Command::RevokePrincipal {
                principal: "desk-jn".into(),
                reason: "left".into(),
            },
        );
    assert!(scenario.ledger().network.principals["desk-jn"].revoked);
    assert_eq!(scenario.ledger().network.principals["desk-jn"].token, None);
    scenario
        .when_at(
            t0(),
            None,
            add("desk-jn", Role::Desk, libraries(&["JN-CENTRAL"])),
        )
        .then_rejected(Rejection::PrincipalExists {
            principal: "desk-jn".into(),
        });
}

#[test]
fn the_last_network_admin_cannot_be_revoked_or_demoted() {
    network_with_admin()
        .when_at(
            t0(),
            None,
            Command::RevokePrincipal {
                principal: "admin".into(),
                reason: "oops".into(),
            },
        )
        .then_rejected(Rejection::LastNetworkAdmin {
            principal: "admin".into(),
        });
    network_with_admin()
        .when_at(
            t0(),
            None,
            Command::ChangePrincipal {
                principal: "admin".into(),
                grant: Grant::network(Role::Auditor),
            },
        )
        .then_rejected(Rejection::LastNetworkAdmin {
            principal: "admin".into(),
        });
    network_with_admin()
        .after(
            t0(),
            None,
            add("admin-2", Role::NetworkAdmin, Scope::Network),
        )
        .when_at(
            t0(),
            None,
            Command::RevokePrincipal {
                principal: "admin".into(),
                reason: "rotated".into(),
            },
        )
        .then_accepted();
}

#[test]
fn grants_must_have_their_roles_shape_and_name_what_exists() {
    let cases = [
        (
            add("k", Role::Kiosk, libraries(&["JN-CENTRAL", "JN-LIXIA-03"])),
            "a kiosk acts for one library, not 2",
        ),
        (
            add("k", Role::Kiosk, libraries(&["JN-BOOTH-01"])),
            "JN-BOOTH-01 is a book-exchange booth",
        ),
        (
            add("b", Role::Booth, libraries(&["JN-CENTRAL"])),
            "JN-CENTRAL is not a book-exchange booth",
        ),
        (
            add("d", Role::Desk, libraries(&[])),
            "a desk needs a library",
        ),
        (
            add("c", Role::CityAdmin, libraries(&["JN-CENTRAL"])),
            "a city-admin needs a city",
        ),
        (
            add("a", Role::Auditor, Scope::City("jinan".into())),
            "a auditor acts network-wide",
        ),
    ];
    for (command, message) in cases {
        network_with_admin()
            .when_at(t0(), None, command)
            .then_refused(RejectionKind::InvalidArgument, message);
    }
    network_with_admin()
        .when_at(t0(), None, add("d", Role::Desk, libraries(&["NOWHERE"])))
        .then_refused(RejectionKind::NotFound, "library NOWHERE is not registered");
    network_with_admin()
        .when_at(t0(), None, add("Bad Name", Role::Auditor, Scope::Network))
        .then_refused(RejectionKind::InvalidArgument, "not a valid principal name");
}

#[test]
fn a_new_token_replaces_the_last_and_must_expire_in_the_future() {
    let scenario = network_with_admin().after(
        t0(),
        None,
        Command::IssueToken {
            principal: "admin".into(),
            token: token("second"),
        },
    );
    assert_eq!(
        scenario.ledger().network.principals["admin"]
            .token
            .as_ref()
            .map(|t| t.id.as_str()),
        Some("second")
    );
    scenario
        .when_at(
            t0(),
            None,
            Command::IssueToken {
                principal: "admin".into(),
                token: TokenGrant {
                    id: "past".into(),
                    expires_at: Some(t0() - Duration::seconds(1)),
                },
            },
        )
        .then_refused(RejectionKind::InvalidArgument, "expires_at");
}

#[test]
fn every_act_names_at_least_one_role_and_network_admin_may_do_all() {
    let acts = [
        Act::JoinCity,
        Act::ReadLog,
        Act::ReadPatronStream,
        Act::WriteForeignStreams,
        Act::ClosePeriod,
        Act::BoothSwap,
    ];
    for act in acts {
        assert!(act.roles().contains(&Role::NetworkAdmin), "{act:?}");
    }
    assert!(!Act::ReadPatronStream.roles().contains(&Role::Analytics));
    assert!(
        Role::ALL
            .iter()
            .all(|r| Role::parse(r.as_str()) == Some(*r))
    );
    let names: BTreeSet<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(names.len(), Role::ALL.len(), "role names are distinct");
}

#[test]
#[should_panic(expected = "role 99 is not one this version knows")]
fn a_recorded_grant_of_an_unknown_role_is_never_read_as_another_roles_rights() {
    given([Payload::PrincipalAdded(pb::PrincipalAdded {
        principal: "from-the-future".into(),
        role: 99,
        ..Default::default()
    })]);
}

#[test]
fn every_refusal_is_recorded_but_a_role_denial() {
    let desk = desk_of(&["JN-CENTRAL"]);
    let role = given(network_jinan_zibo())
        .when_by(
            &desk,
            t0(),
            Some("JN-CENTRAL"),
            Channel::Desk,
            Command::CloseLibrary {
                library: "JN-CENTRAL".into(),
                reason: "none".into(),
            },
        )
        .then_refused(RejectionKind::PermissionDenied, "only network-admin");
    assert_eq!(refused_for(&role).0, Denial::Role);
    assert!(
        !role.is_recorded(),
        "a role that may never give the command writes nothing by asking"
    );
    let scope = given(network_jinan_zibo())
        .when_by(
            &desk,
            t0(),
            Some("ZB-CENTRAL"),
            Channel::Desk,
            checkout("ZB-000123", &li_wei()),
        )
        .then_refused(RejectionKind::PermissionDenied, "outside its scope");
    assert!(scope.is_recorded());
    let kiosk = authority("kiosk-lixia", Role::Kiosk, libraries(&["JN-LIXIA-03"]));
    let channel = given(network_jinan_zibo())
        .when_by(
            &kiosk,
            t0(),
            Some("JN-LIXIA-03"),
            Channel::Desk,
            checkout("JN-000003", &li_wei()),
        )
        .then_refused(RejectionKind::PermissionDenied, "on the desk channel");
    assert!(channel.is_recorded());
    let rule = given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000002", &li_wei()))
        .when_at(
            t0(),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang_fang()),
        )
        .then_refused(RejectionKind::FailedPrecondition, "is not on the shelf");
    assert_eq!(rule.rule(), "ItemNotOnShelf");
    assert!(rule.is_recorded());
}
