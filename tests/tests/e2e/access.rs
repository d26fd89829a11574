//! Access control end to end: the authorisation matrix (`tests/access/matrix.txt`) called RPC by
//! RPC and role by role, and the stories the matrix cannot tell: a revoked token stops at once,
//! patron ids are private, KurrentDB's clients are refused without credentials.

use std::collections::BTreeMap;

use readnet_e2e::v1::{
    self, access_service_client::AccessServiceClient, account_service_client::AccountServiceClient,
    audit_service_client::AuditServiceClient,
    availability_service_client::AvailabilityServiceClient,
    backup_service_client::BackupServiceClient, notice_service_client::NoticeServiceClient,
    settlement_service_client::SettlementServiceClient,
    statistics_service_client::StatisticsServiceClient,
};
use readnet_e2e::*;
use readnet_proto::kurrentdb::gossip::gossip_client::GossipClient;
use readnet_proto::kurrentdb::server_features::server_features_client::ServerFeaturesClient;
use readnet_proto::kurrentdb::shared::Empty;
use readnet_proto::kurrentdb::streams::{
    AppendReq, BatchAppendReq, DeleteReq, ReadReq, TombstoneReq, streams_client::StreamsClient,
};
use tonic::{Code, Status};
use uuid::Uuid;

const MATRIX: &str = include_str!("../../access/matrix.txt");

/// The roles, in the matrix's column order.
const ROLES: [&str; 8] = [
    "network-admin",
    "city-admin",
    "desk",
    "kiosk",
    "booth",
    "settlement-clerk",
    "auditor",
    "analytics",
];

/// A 24-hour self-service library the kiosk acts for.
const JN_24H: &str = "JN-24H";

/// Where a call is aimed: a library and its city.
#[derive(Clone, Copy, Debug)]
struct Place {
    library: &'static str,
    city: &'static str,
}

const AWAY: Place = Place {
    library: ZB_CENTRAL,
    city: ZIBO,
};

/// A role's principal in the test and the place inside its scope.
struct Caller {
    role: &'static str,
    name: String,
    net: Net,
    home: Place,
    scoped: bool,
}

fn grant(role: v1::Role, city: &str, libraries: &[&str]) -> v1::Grant {
    v1::Grant {
        role: role as i32,
        city: city.to_owned(),
        libraries: libraries.iter().map(|l| (*l).to_owned()).collect(),
    }
}

/// One principal per role, added by the first administrator.
async fn callers(admin: &Net) -> Vec<Caller> {
    let jinan = |library| Place {
        library,
        city: JINAN,
    };
    let mut callers = vec![Caller {
        role: "network-admin",
        name: "admin".to_owned(),
        net: admin.clone(),
        home: jinan(JN_CENTRAL),
        scoped: false,
    }];
    for (role, pb, city, libraries, home, scoped) in [
        (
            "city-admin",
            v1::Role::CityAdmin,
            JINAN,
            &[][..],
            JN_CENTRAL,
            true,
        ),
        (
            "desk",
            v1::Role::Desk,
            "",
            &[JN_CENTRAL][..],
            JN_CENTRAL,
            true,
        ),
        ("kiosk", v1::Role::Kiosk, "", &[JN_24H][..], JN_24H, true),
        (
            "booth",
            v1::Role::Booth,
            "",
            &[JN_BOOTH][..],
            JN_BOOTH,
            true,
        ),
        (
            "settlement-clerk",
            v1::Role::SettlementClerk,
            "",
            &[][..],
            JN_CENTRAL,
            false,
        ),
        ("auditor", v1::Role::Auditor, "", &[][..], JN_CENTRAL, false),
        (
            "analytics",
            v1::Role::Analytics,
            "",
            &[][..],
            JN_CENTRAL,
            false,
        ),
    ] {
        let name = format!("matrix-{role}");
        let net = admin.principal(&name, grant(pb, city, libraries)).await;
        callers.push(Caller {
            role,
            name,
            net,
            home: jinan(home),
            scoped,
        });
    }
    callers
}

/// The matrix: rpc → one cell per role.
fn matrix() -> BTreeMap<&'static str, Vec<&'static str>> {
    MATRIX
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace();
            let rpc = words.next().expect("an rpc");
            let cells: Vec<&str> = words.collect();
            assert_eq!(cells.len(), ROLES.len(), "a cell per role: {line}");
            assert!(
                cells
                    .iter()
                    .all(|c| ["ok", "any", "no", "open"].contains(c)),
                "{line}"
            );
            (rpc, cells)
        })
        .collect()
}

/// A card number no other call of the test uses (each patron has at most 5 open holds).
fn unique_card() -> String {
    format!("9{}", &Uuid::new_v4().as_u128().to_string()[..15])
}

fn unique(what: &str) -> String {
    format!("{what}-{}", &Uuid::new_v4().simple().to_string()[..8]).to_ascii_uppercase()
}

/// Makes the call `rpc` as `net` aimed at `place`; the answer's status only. Set-up the call
/// needs (a library to close, an item to withdraw, a principal to revoke) is done by `admin`;
/// `head` is the log's head position just before the call itself.
async fn call(
    rpc: &str,
    net: &Net,
    admin: &Net,
    place: Place,
    head: &mut u64,
) -> Result<(), Status> {
    *head = admin.head_position().await;
    let at = net.acting(Some(place.library), None);
    let plain = net.acting(None, None);
    let card = || Some(card(place.city, "370102000099"));
    let book = |item: String| {
        Some(v1::BookDescription {
            item,
            isbn: "9787020002207".to_owned(),
            title: "呐喊".to_owned(),
            author: "鲁迅".to_owned(),
            price_fen: Some(2000),
        })
    };
    let channel = net.channel.clone();
    let (admin_net, admin_desk) = (admin.clone(), admin.acting(Some(place.library), None));
    match rpc {
        "readnet.v1.NetworkAdminService/JoinCity" => plain
            .admin()
            .join_city(plain.request(v1::JoinCityRequest {
                city: unique("c").to_ascii_lowercase(),
                name: "城".to_owned(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/RegisterLibrary" => plain
            .admin()
            .register_library(plain.request(v1::RegisterLibraryRequest {
                library: unique("L"),
                name: "新馆".to_owned(),
                city: place.city.to_owned(),
                tier: v1::LibraryTier::Branch as i32,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/CloseLibrary" => {
            let library = unique("L");
            admin_net
                .system()
                .register_library(&library, place.city, v1::LibraryTier::Branch, "")
                .await
                .expect("a library to close");
            *head = admin_net.head_position().await;
            plain
                .admin()
                .close_library(plain.request(v1::CloseLibraryRequest {
                    library,
                    reason: "matrix".to_owned(),
                    ..Default::default()
                }))
                .await
                .map(drop)
        }
        "readnet.v1.NetworkAdminService/SetReturnPolicy" => plain
            .admin()
            .set_return_policy(plain.request(v1::SetReturnPolicyRequest {
                library: place.library.to_owned(),
                policy: v1::ReturnPolicy::ReturnHome as i32,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/SetTariff" => plain
            .admin()
            .set_tariff(plain.request(v1::SetTariffRequest {
                kind: v1::ChargeKind::Loan as i32,
                amount_fen: 100,
                effective_from: Some(timestamp(chrono::Utc::now() + chrono::Duration::days(30))),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/SetPatronTier" => plain
            .admin()
            .set_patron_tier(plain.request(v1::SetPatronTierRequest {
                card: card(),
                tier: v1::CreditTier::Trusted as i32,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/ForgetPatron" => plain
            .admin()
            .forget_patron(plain.request(v1::ForgetPatronRequest {
                card: card(),
                reason: v1::ForgetReason::Request as i32,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/MoveLibrary" => {
            let library = unique("L");
            admin_net
                .system()
                .register_library(&library, place.city, v1::LibraryTier::SelfService, "")
                .await
                .expect("a library to move");
            *head = admin_net.head_position().await;
            plain
                .admin()
                .move_library(plain.request(v1::MoveLibraryRequest {
                    library,
                    parent: place.library.to_owned(),
                    ..Default::default()
                }))
                .await
                .map(drop)
        }
        "readnet.v1.NetworkAdminService/RenameLibrary" => plain
            .admin()
            .rename_library(plain.request(v1::RenameLibraryRequest {
                library: place.library.to_owned(),
                name: unique("名"),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/ChangeLibraryTier" => {
            let library = unique("L");
            admin_net
                .system()
                .register_library(&library, place.city, v1::LibraryTier::Branch, "")
                .await
                .expect("a library to change");
            *head = admin_net.head_position().await;
            plain
                .admin()
                .change_library_tier(plain.request(v1::ChangeLibraryTierRequest {
                    library,
                    tier: v1::LibraryTier::ServicePoint as i32,
                    ..Default::default()
                }))
                .await
                .map(drop)
        }
        "readnet.v1.NetworkAdminService/SetCalendar" => plain
            .admin()
            .set_calendar(plain.request(v1::SetCalendarRequest {
                library: place.library.to_owned(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/CloseLibraryTemporarily" => {
            let library = unique("L");
            admin_net
                .system()
                .register_library(&library, place.city, v1::LibraryTier::Branch, "")
                .await
                .expect("a library to close");
            *head = admin_net.head_position().await;
            plain
                .admin()
                .close_library_temporarily(plain.request(v1::CloseLibraryTemporarilyRequest {
                    library,
                    reason: "matrix".to_owned(),
                    until_date: "2099-01-01".to_owned(),
                    ..Default::default()
                }))
                .await
                .map(drop)
        }
        "readnet.v1.NetworkAdminService/ReopenLibrary" => {
            let library = unique("L");
            let system = admin_net.system();
            system
                .register_library(&library, place.city, v1::LibraryTier::Branch, "")
                .await
                .expect("a library to reopen");
            system
                .admin()
                .close_library_temporarily(system.request(v1::CloseLibraryTemporarilyRequest {
                    library: library.clone(),
                    reason: "matrix".to_owned(),
                    until_date: "2099-01-01".to_owned(),
                    ..Default::default()
                }))
                .await
                .expect("a closure to end");
            *head = admin_net.head_position().await;
            plain
                .admin()
                .reopen_library(plain.request(v1::ReopenLibraryRequest {
                    library,
                    ..Default::default()
                }))
                .await
                .map(drop)
        }
        "readnet.v1.NetworkAdminService/SetAcquisitionBudget" => plain
            .admin()
            .set_acquisition_budget(plain.request(v1::SetAcquisitionBudgetRequest {
                library: place.library.to_owned(),
                year: 2099,
                budget_fen: 100_000,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/SetAcquisitionPolicy" => plain
            .admin()
            .set_acquisition_policy(plain.request(v1::SetAcquisitionPolicyRequest {
                library: place.library.to_owned(),
                max_item_price_fen: 20_000,
                monthly_quota_per_reader: 5,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/RegisterBookstore" => plain
            .admin()
            .register_bookstore(plain.request(v1::RegisterBookstoreRequest {
                library: place.library.to_owned(),
                bookstore: unique("BS"),
                name: "新华书店".to_owned(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.NetworkAdminService/LicenseEResource"
        | "readnet.v1.NetworkAdminService/LicenseEResource(network)" => plain
            .admin()
            .license_e_resource(plain.request(v1::LicenseEResourceRequest {
                resource: unique("EB"),
                title: "三体".to_owned(),
                kind: v1::EResourceKind::Ebook as i32,
                owner_library: if rpc.ends_with("(network)") {
                    String::new()
                } else {
                    place.library.to_owned()
                },
                licences: 2,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/BorrowDigital" => at
            .circulation()
            .borrow_digital(at.request(v1::BorrowDigitalRequest {
                resource: unique("NOPE"),
                card: card(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/ReturnDigital" => at
            .circulation()
            .return_digital(at.request(v1::ReturnDigitalRequest {
                resource: unique("NOPE"),
                card: card(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/ExpireDigitalLoans" => plain
            .circulation()
            .expire_digital_loans(plain.request(v1::ExpireDigitalLoansRequest::default()))
            .await
            .map(drop),
        "readnet.v1.CirculationService/CatalogueItem" => at
            .circulation()
            .catalogue_item(at.request(v1::CatalogueItemRequest {
                item: unique("I"),
                title: "呐喊".to_owned(),
                owner_library: place.library.to_owned(),
                price_fen: Some(2000),
                acquisition: v1::Acquisition::Purchase as i32,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/Checkout" => at
            .circulation()
            .checkout(at.request(v1::CheckoutRequest {
                item: unique("NOPE"),
                card: card(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/Renew" => at
            .circulation()
            .renew(at.request(v1::RenewRequest {
                item: unique("NOPE"),
                card: card(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/Return" => at
            .circulation()
            .r#return(at.request(v1::ReturnRequest {
                item: unique("NOPE"),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/DispatchTransfer" => at
            .circulation()
            .dispatch_transfer(at.request(v1::DispatchTransferRequest {
                item: unique("NOPE"),
                to_library: JN_LIXIA.to_owned(),
                reason: v1::TransferReason::Rebalance as i32,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/ReceiveTransfer" => at
            .circulation()
            .receive_transfer(at.request(v1::ReceiveTransferRequest {
                item: unique("NOPE"),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/BoothSwap" => at
            .circulation()
            .booth_swap(at.request(v1::BoothSwapRequest {
                take_item: unique("NOPE"),
                card: card(),
                deposit: book(unique("D")),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/PatronDrivenAcquisition" => at
            .circulation()
            .patron_driven_acquisition(at.request(v1::PatronDrivenAcquisitionRequest {
                card: card(),
                book: book(unique("P")),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.CirculationService/ReportFootfall" => {
            let now = chrono::Utc::now();
            let ts = |at: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
                seconds: at.timestamp(),
                nanos: 0,
            };
            at.circulation()
                .report_footfall(at.request(v1::ReportFootfallRequest {
                    gate: format!("gate-{}", uuid::Uuid::new_v4().simple()),
                    interval_start: Some(ts(now - chrono::Duration::minutes(30))),
                    interval_end: Some(ts(now - chrono::Duration::minutes(15))),
                    visits: 3,
                    ..Default::default()
                }))
                .await
                .map(drop)
        }
        "readnet.v1.CirculationService/PayLostItem" => at
            .circulation()
            .pay_lost_item(at.request(v1::PayLostItemRequest {
                item: unique("NOPE"),
                amount_fen: 100,
                ..Default::default()
            }))
            .await
            .map(drop),
        // These aim at the item's owner: an item of the place's library, catalogued for the call.
        "readnet.v1.CirculationService/DeclareLost"
        | "readnet.v1.CirculationService/WaiveLostItemDebt"
        | "readnet.v1.CirculationService/Withdraw" => {
            let item = unique("OWN");
            admin_desk
                .catalogue(&item, place.library)
                .await
                .expect("an item of the place's library");
            *head = admin_net.head_position().await;
            let circulation = at.circulation();
            match rpc {
                "readnet.v1.CirculationService/DeclareLost" => circulation
                    .clone()
                    .declare_lost(at.request(v1::DeclareLostRequest {
                        item,
                        ..Default::default()
                    }))
                    .await
                    .map(drop),
                "readnet.v1.CirculationService/WaiveLostItemDebt" => circulation
                    .clone()
                    .waive_lost_item_debt(at.request(v1::WaiveLostItemDebtRequest {
                        item,
                        reason: "matrix".to_owned(),
                        ..Default::default()
                    }))
                    .await
                    .map(drop),
                _ => circulation
                    .clone()
                    .withdraw(at.request(v1::WithdrawRequest {
                        item,
                        reason: "matrix".to_owned(),
                        ..Default::default()
                    }))
                    .await
                    .map(drop),
            }
        }
        "readnet.v1.HoldService/PlaceHold" => at
            .holds()
            .place_hold(at.request(v1::PlaceHoldRequest {
                card: Some(readnet_e2e::card(place.city, &unique_card())),
                wanted: Some(v1::HoldWanted {
                    item: unique("NOPE"),
                    ..Default::default()
                }),
                pickup_library: place.library.to_owned(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.HoldService/CancelHold" => at
            .holds()
            .cancel_hold(at.request(v1::CancelHoldRequest {
                hold: u64::MAX,
                card: card(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.HoldService/CancelHold(staff)" => {
            // A hold picked up at the place's library (a booth is none: JN-CENTRAL then), placed
            // for the call on an item catalogued there.
            let pickup = if place.library == JN_BOOTH {
                JN_CENTRAL
            } else {
                place.library
            };
            let item = unique("HELD");
            let pickup_desk = admin_net.at(pickup);
            pickup_desk
                .catalogue(&item, pickup)
                .await
                .expect("an item to hold");
            let placed = pickup_desk
                .holds()
                .place_hold(pickup_desk.request(v1::PlaceHoldRequest {
                    card: Some(readnet_e2e::card(place.city, &unique_card())),
                    wanted: Some(v1::HoldWanted {
                        item,
                        ..Default::default()
                    }),
                    pickup_library: pickup.to_owned(),
                    ..Default::default()
                }))
                .await
                .expect("a hold to cancel")
                .into_inner();
            *head = admin_net.head_position().await;
            at.holds()
                .cancel_hold(at.request(v1::CancelHoldRequest {
                    hold: placed.hold,
                    note: "matrix".to_owned(),
                    ..Default::default()
                }))
                .await
                .map(drop)
        }
        "readnet.v1.HoldService/ExpireHolds" => plain
            .holds()
            .expire_holds(plain.request(v1::ExpireHoldsRequest::default()))
            .await
            .map(drop),
        "readnet.v1.NoticeService/SubscribeNotices" => NoticeServiceClient::new(channel)
            .subscribe_notices(v1::SubscribeNoticesRequest {
                gateway: "wechat".to_owned(),
            })
            .await
            .map(drop),
        "readnet.v1.NoticeService/AcknowledgeNotices" => NoticeServiceClient::new(channel)
            .acknowledge_notices(plain.request(v1::AcknowledgeNoticesRequest {
                gateway: "wechat".to_owned(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.HoldService/SetLibraryRoles" => plain
            .holds()
            .set_library_roles(plain.request(v1::SetLibraryRolesRequest {
                library: place.library.to_owned(),
                // JN-24H stays the delivery point the test made it.
                delivery_point: place.library == JN_24H,
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.AccessService/AddPrincipal" => plain
            .access()
            .add_principal(plain.request(v1::AddPrincipalRequest {
                principal: unique("p").to_ascii_lowercase(),
                grant: Some(victim_grant(place.library)),
                ..Default::default()
            }))
            .await
            .map(drop),
        "readnet.v1.AccessService/ChangePrincipal"
        | "readnet.v1.AccessService/RevokePrincipal"
        | "readnet.v1.AccessService/IssueToken" => {
            // A principal of the place's library, added for the call.
            let victim = unique("victim").to_ascii_lowercase();
            admin_net
                .add_principal(&victim, victim_grant(place.library))
                .await
                .expect("a principal to manage");
            *head = admin_net.head_position().await;
            let access = plain.access();
            match rpc {
                "readnet.v1.AccessService/ChangePrincipal" => access
                    .clone()
                    .change_principal(plain.request(v1::ChangePrincipalRequest {
                        principal: victim,
                        grant: Some(victim_grant(place.library)),
                        ..Default::default()
                    }))
                    .await
                    .map(drop),
                "readnet.v1.AccessService/RevokePrincipal" => access
                    .clone()
                    .revoke_principal(plain.request(v1::RevokePrincipalRequest {
                        principal: victim,
                        ..Default::default()
                    }))
                    .await
                    .map(drop),
                _ => access
                    .clone()
                    .issue_token(plain.request(v1::IssueTokenRequest {
                        principal: victim,
                        ..Default::default()
                    }))
                    .await
                    .map(drop),
            }
        }
        "readnet.v1.AccessService/ListPrincipals" => AccessServiceClient::new(channel)
            .list_principals(v1::ListPrincipalsRequest {})
            .await
            .map(drop),
        "readnet.v1.AccessService/WhoAmI" => AccessServiceClient::new(channel)
            .who_am_i(v1::WhoAmIRequest {})
            .await
            .map(drop),
        "readnet.v1.LedgerService/ReadStream" | "readnet.v1.LedgerService/ReadStream(patron)" => {
            let stream = if rpc.ends_with("(patron)") {
                "patron-0123456789abcdef".to_owned()
            } else {
                "network".to_owned()
            };
            net.ledger
                .clone()
                .read_stream(v1::ReadStreamRequest {
                    stream,
                    max_count: 1,
                    ..Default::default()
                })
                .await
                .map(drop)
        }
        "readnet.v1.LedgerService/ReadAll" => net
            .ledger
            .clone()
            .read_all(v1::ReadAllRequest {
                max_count: 1,
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.LedgerService/SubscribeAll" => net
            .ledger
            .clone()
            .subscribe_all(v1::SubscribeAllRequest { after_position: 0 })
            .await
            .map(drop),
        "readnet.v1.LedgerService/GetItem" => net
            .ledger
            .clone()
            .get_item(v1::GetItemRequest {
                item: JN_BOOKS[0].to_owned(),
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/GetItem" => AvailabilityServiceClient::new(channel)
            .get_item(v1::AvailabilityServiceGetItemRequest {
                item: JN_BOOKS[0].to_owned(),
                min_position: None,
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/FindTitle" => AvailabilityServiceClient::new(channel)
            .find_title(v1::FindTitleRequest {
                title: Some(v1::AvailabilityTitle {
                    title: "呐喊".to_owned(),
                    ..Default::default()
                }),
                from_library: place.library.to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/LibraryShelf" => AvailabilityServiceClient::new(channel)
            .library_shelf(v1::LibraryShelfRequest {
                library: place.library.to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/BoothStock" => AvailabilityServiceClient::new(channel)
            .booth_stock(v1::BoothStockRequest {
                booth: JN_BOOTH.to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/PickList" => AvailabilityServiceClient::new(channel)
            .pick_list(v1::PickListRequest {
                library: place.library.to_owned(),
                min_position: None,
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/HomeboundList" => AvailabilityServiceClient::new(channel)
            .homebound_list(v1::HomeboundListRequest {
                library: place.library.to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/TransitList" => AvailabilityServiceClient::new(channel)
            .transit_list(v1::TransitListRequest {
                library: place.library.to_owned(),
                direction: v1::TransitDirection::To as i32,
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/HoldShelf" => AvailabilityServiceClient::new(channel)
            .hold_shelf(v1::HoldShelfRequest {
                library: place.library.to_owned(),
                min_position: None,
            })
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/OverdueLoans" => AvailabilityServiceClient::new(channel)
            .overdue_loans(v1::OverdueLoansRequest {
                library: place.library.to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.AccountService/GetAccount" => AccountServiceClient::new(channel)
            .get_account(at.request_as_is(v1::GetAccountRequest { card: card() }))
            .await
            .map(drop),
        "readnet.v1.AvailabilityService/GetHold" => AvailabilityServiceClient::new(channel)
            .get_hold(v1::GetHoldRequest {
                hold: 1,
                min_position: None,
            })
            .await
            .map(drop),
        "readnet.v1.StatisticsService/LibraryDays" => StatisticsServiceClient::new(channel)
            .library_days(v1::LibraryDaysRequest {
                library: place.library.to_owned(),
                from_day: "2026-12-01".to_owned(),
                to_day: "2026-12-02".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.StatisticsService/CityDays" => StatisticsServiceClient::new(channel)
            .city_days(v1::CityDaysRequest {
                city: place.city.to_owned(),
                from_day: "2026-12-01".to_owned(),
                to_day: "2026-12-02".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.StatisticsService/SubtreeDays" => StatisticsServiceClient::new(channel)
            .subtree_days(v1::SubtreeDaysRequest {
                library: place.library.to_owned(),
                from_day: "2026-12-01".to_owned(),
                to_day: "2026-12-02".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.StatisticsService/NetworkDays" => StatisticsServiceClient::new(channel)
            .network_days(v1::NetworkDaysRequest {
                from_day: "2026-12-01".to_owned(),
                to_day: "2026-12-02".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.StatisticsService/FlowMatrix" => StatisticsServiceClient::new(channel)
            .flow_matrix(v1::FlowMatrixRequest {
                month: "2026-12".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.StatisticsService/TopTitles" => StatisticsServiceClient::new(channel)
            .top_titles(v1::TopTitlesRequest {
                city: place.city.to_owned(),
                month: "2026-12".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.StatisticsService/HoldStatistics"
        | "readnet.v1.StatisticsService/HoldStatistics(city)" => {
            let (library, city) = if rpc.ends_with("(city)") {
                (String::new(), place.city.to_owned())
            } else {
                (place.library.to_owned(), String::new())
            };
            StatisticsServiceClient::new(channel)
                .hold_statistics(v1::HoldStatisticsRequest {
                    library,
                    city,
                    from_day: "2026-12-01".to_owned(),
                    to_day: "2026-12-02".to_owned(),
                    ..Default::default()
                })
                .await
                .map(drop)
        }
        "readnet.v1.StatisticsService/AcquisitionBudgets"
        | "readnet.v1.StatisticsService/AcquisitionBudgets(city)"
        | "readnet.v1.StatisticsService/AcquisitionBudgets(network)" => {
            let (library, city) = if rpc.ends_with("(city)") {
                (String::new(), place.city.to_owned())
            } else if rpc.ends_with("(network)") {
                (String::new(), String::new())
            } else {
                (place.library.to_owned(), String::new())
            };
            StatisticsServiceClient::new(channel)
                .acquisition_budgets(v1::AcquisitionBudgetsRequest {
                    library,
                    city,
                    year: 2026,
                    ..Default::default()
                })
                .await
                .map(drop)
        }
        "readnet.v1.StatisticsService/Monitor" | "readnet.v1.StatisticsService/Monitor(all)" => {
            let library = if rpc.ends_with("(all)") {
                String::new()
            } else {
                place.library.to_owned()
            };
            StatisticsServiceClient::new(channel)
                .monitor(v1::MonitorRequest {
                    library,
                    ..Default::default()
                })
                .await
                .map(drop)
        }
        "readnet.v1.StatisticsService/WatchMonitor"
        | "readnet.v1.StatisticsService/WatchMonitor(all)" => {
            let library = if rpc.ends_with("(all)") {
                String::new()
            } else {
                place.library.to_owned()
            };
            StatisticsServiceClient::new(channel)
                .watch_monitor(v1::WatchMonitorRequest {
                    library,
                    ..Default::default()
                })
                .await
                .map(drop)
        }
        "readnet.v1.SettlementService/ClosePeriod" => SettlementServiceClient::new(channel)
            .close_period(v1::ClosePeriodRequest {
                command_id: Uuid::new_v4().to_string(),
                period: "2026-01".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.SettlementService/GetStatement" => SettlementServiceClient::new(channel)
            .get_statement(v1::GetStatementRequest {
                period: "2026-01".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "readnet.v1.SettlementService/ListCharges" => SettlementServiceClient::new(channel)
            .list_charges(v1::ListChargesRequest {
                period: "2026-01".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        // The whole data directory would stream: the status is known once the stream opens.
        "readnet.v1.BackupService/Backup" => BackupServiceClient::new(channel)
            .backup(v1::BackupRequest {})
            .await
            .map(drop),
        "readnet.v1.AuditService/GetCheckpoint" => AuditServiceClient::new(channel)
            .get_checkpoint(v1::GetCheckpointRequest::default())
            .await
            .map(drop),
        "readnet.v1.AuditService/SignCheckpoint" => AuditServiceClient::new(channel)
            .sign_checkpoint(v1::SignCheckpointRequest {})
            .await
            .map(drop),
        "readnet.v1.AuditService/ProveInclusion" => AuditServiceClient::new(channel)
            .prove_inclusion(v1::ProveInclusionRequest {
                position: 1,
                tree_size: 1,
            })
            .await
            .map(drop),
        "readnet.v1.AuditService/ProveConsistency" => AuditServiceClient::new(channel)
            .prove_consistency(v1::ProveConsistencyRequest {
                old_size: 1,
                new_size: 1,
            })
            .await
            .map(drop),
        "readnet.v1.AuditService/ProveStatementLine" => AuditServiceClient::new(channel)
            .prove_statement_line(v1::ProveStatementLineRequest {
                period: "2026-01".to_owned(),
                ..Default::default()
            })
            .await
            .map(drop),
        "event_store.client.streams.Streams/Read" => StreamsClient::new(channel)
            .read(ReadReq::default())
            .await
            .map(drop),
        "event_store.client.streams.Streams/Append" => StreamsClient::new(channel)
            .append(tokio_stream::iter(vec![AppendReq::default()]))
            .await
            .map(drop),
        "event_store.client.streams.Streams/BatchAppend" => StreamsClient::new(channel)
            .batch_append(tokio_stream::iter(Vec::<BatchAppendReq>::new()))
            .await
            .map(drop),
        "event_store.client.streams.Streams/Delete" => StreamsClient::new(channel)
            .delete(DeleteReq::default())
            .await
            .map(drop),
        "event_store.client.streams.Streams/Tombstone" => StreamsClient::new(channel)
            .tombstone(TombstoneReq::default())
            .await
            .map(drop),
        "event_store.client.persistent_subscriptions.PersistentSubscriptions/Create" => {
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            let path = http::uri::PathAndQuery::from_static(
                "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Create",
            );
            grpc.unary::<Empty, Empty, _>(tonic::Request::new(Empty {}), path, tonic_prost_codec())
                .await
                .map(drop)
        }
        "event_store.client.server_features.ServerFeatures/GetSupportedMethods" => {
            ServerFeaturesClient::new(channel)
                .get_supported_methods(Empty {})
                .await
                .map(drop)
        }
        "event_store.client.gossip.Gossip/Read" => {
            GossipClient::new(channel).read(Empty {}).await.map(drop)
        }
        "grpc.health.v1.Health/Check" => {
            tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .map(drop)
        }
        other => panic!("the test does not know how to call {other}"),
    }
}

fn tonic_prost_codec() -> tonic::codec::ProstCodec<Empty, Empty> {
    tonic::codec::ProstCodec::default()
}

/// A grant over `library` that the rules accept: a booth's own principal for a booth, a desk
/// for any other library.
fn victim_grant(library: &str) -> v1::Grant {
    if library == JN_BOOTH {
        grant(v1::Role::Booth, "", &[library])
    } else {
        grant(v1::Role::Desk, "", &[library])
    }
}

fn allowed(answer: &Result<(), Status>) -> bool {
    !matches!(
        answer.as_ref().map_err(Status::code),
        Err(Code::PermissionDenied | Code::Unauthenticated)
    )
}

fn outcome(answer: &Result<(), Status>) -> String {
    match answer {
        Ok(()) => "OK".to_owned(),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

#[tokio::test]
async fn every_rpc_answers_every_role_as_the_matrix_says_and_a_refusal_writes_at_most_itself() {
    let fixture = network_jinan_zibo().await;
    let admin = fixture.net.clone();
    admin
        .system()
        .register_library(JN_24H, JINAN, v1::LibraryTier::SelfService, JN_CENTRAL)
        .await
        .expect("RegisterLibrary JN-24H");
    // Holds may be picked up at the 24-hour library (the kiosk's).
    admin
        .system()
        .set_library_roles(JN_24H, true, false)
        .await
        .expect("SetLibraryRoles JN-24H");
    let callers = callers(&admin).await;
    assert_eq!(callers.iter().map(|c| c.role).collect::<Vec<_>>(), ROLES);
    let revoked_name = "matrix-revoked";
    let revoked = admin
        .principal(revoked_name, grant(v1::Role::Desk, "", &[JN_CENTRAL]))
        .await;
    admin
        .access
        .clone()
        .revoke_principal(v1::RevokePrincipalRequest {
            command_id: Uuid::new_v4().to_string(),
            principal: revoked_name.to_owned(),
            reason: "left".to_owned(),
            ..Default::default()
        })
        .await
        .expect("RevokePrincipal");
    let strangers = [
        ("no token", admin.as_token(None)),
        (
            "an unknown token",
            admin.as_token(Some(&format!("rnt1.{}.{}", "0".repeat(16), "0".repeat(64)))),
        ),
        ("a revoked token", revoked),
    ];

    let matrix = matrix();
    assert!(matrix.len() >= 50, "every RPC has a row: {}", matrix.len());
    let mut wrong = Vec::new();
    let mut calls = 0;
    for (rpc, cells) in &matrix {
        for (caller, cell) in callers.iter().zip(cells) {
            let mut aims = vec![("in scope", caller.home, true)];
            if caller.scoped {
                aims.push(("out of scope", AWAY, false));
            }
            for (aim, place, inside) in aims {
                let mut head = 0;
                let answer = call(rpc, &caller.net, &admin, place, &mut head).await;
                calls += 1;
                let expected_allowed = match *cell {
                    "any" | "open" => true,
                    "ok" => inside,
                    _ => false,
                };
                let good = if expected_allowed {
                    allowed(&answer)
                } else {
                    matches!(&answer, Err(s) if s.code() == Code::PermissionDenied
                        && s.message().contains(&caller.name))
                };
                if !good {
                    wrong.push(format!(
                        "{rpc} as {} ({aim}): expected {}, got {}",
                        caller.role,
                        if expected_allowed {
                            "allowed"
                        } else {
                            "PERMISSION_DENIED naming the principal"
                        },
                        outcome(&answer)
                    ));
                }
                if !allowed(&answer) {
                    // A role that may never make the call writes nothing by asking. One that
                    // may, aimed outside its scope, has its command's refusal recorded, so that
                    // a retry is refused alike (ADR 0010); a read records nothing.
                    let grew = admin.head_position().await - head;
                    let written = admin.read_all_from(head + 1).await;
                    let recorded_refusal = matches!(
                        written.as_slice(),
                        [e] if e.event_type == "CommandRefused"
                            && e.stream.starts_with("refusal-")
                            && e.principal == caller.name
                    );
                    assert!(
                        grew == 0 || (grew == 1 && *cell == "ok" && !inside && recorded_refusal),
                        "{rpc} refused to {} ({aim}) wrote to the log: {written:?}",
                        caller.role
                    );
                }
            }
        }
        let open = cells.iter().all(|c| *c == "open");
        for (who, net) in &strangers {
            let mut head = 0;
            let answer = call(rpc, net, &admin, callers[0].home, &mut head).await;
            calls += 1;
            let good = if open {
                answer.is_ok()
            } else {
                matches!(&answer, Err(s) if s.code() == Code::Unauthenticated)
            };
            if !good {
                wrong.push(format!(
                    "{rpc} with {who}: expected {}, got {}",
                    if open { "OK" } else { "UNAUTHENTICATED" },
                    outcome(&answer)
                ));
            }
            if !open {
                assert_eq!(
                    admin.head_position().await,
                    head,
                    "{rpc} with {who} wrote to the log"
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {calls} calls did not answer as the matrix says:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn a_revoked_desk_token_stops_working_at_once_and_its_events_name_their_principal() {
    let fixture = network_jinan_zibo().await;
    let admin = &fixture.net;
    let desk = admin
        .principal(
            "jn-desk",
            grant(v1::Role::Desk, "", &[JN_CENTRAL, JN_LIXIA]),
        )
        .await;
    // A desk over two libraries names the one acting; the events record who acted.
    let receipt = desk
        .at(JN_LIXIA)
        .checkout(JN_BOOKS[0], card(JINAN, "370102000001"))
        .await;
    refused(
        receipt,
        Code::FailedPrecondition,
        "JN-LIXIA-03",
        "a loan at JN-LIXIA-03 of a book on the shelf at JN-CENTRAL",
    );
    let receipt = desk
        .at(JN_CENTRAL)
        .checkout(JN_BOOKS[0], card(JINAN, "370102000001"))
        .await
        .expect("the desk lends at its own library");
    assert!(receipt.events.iter().all(|e| e.principal == "jn-desk"));
    let unnamed = desk
        .acting(None, None)
        .checkout(JN_BOOKS[1], card(JINAN, "370102000001"))
        .await;
    let message = invalid_field(
        unnamed,
        "x-readnet-library",
        "a desk over two libraries naming none",
    );
    assert!(message.contains("JN-CENTRAL, JN-LIXIA-03"), "{message}");

    admin
        .access
        .clone()
        .revoke_principal(v1::RevokePrincipalRequest {
            command_id: Uuid::new_v4().to_string(),
            principal: "jn-desk".to_owned(),
            reason: "contract ended".to_owned(),
            ..Default::default()
        })
        .await
        .expect("RevokePrincipal");
    let head = admin.head_position().await;
    // The very next call, on the same connection, is refused.
    let after = desk
        .at(JN_CENTRAL)
        .checkout(JN_BOOKS[1], card(JINAN, "370102000001"))
        .await;
    refused(
        after,
        Code::Unauthenticated,
        "jn-desk is revoked",
        "a revoked desk's checkout",
    );
    assert_eq!(
        admin.head_position().await,
        head,
        "the refused call wrote nothing"
    );
    let revocation = admin
        .read_stream("network")
        .await
        .pop()
        .expect("the revocation");
    assert_eq!(revocation.event_type, "PrincipalRevoked");
    assert_eq!(revocation.principal, "admin");
}

#[tokio::test]
async fn patron_ids_reach_auditors_whole_and_analysts_as_pseudonyms_they_cannot_join() {
    let fixture = network_jinan_zibo().await;
    let admin = &fixture.net;
    admin
        .at(JN_CENTRAL)
        .checkout(JN_BOOKS[0], card(JINAN, "370102000001"))
        .await
        .expect("a loan");
    let auditor = admin
        .principal("auditor-1", grant(v1::Role::Auditor, "", &[]))
        .await;
    let analyst_a = admin
        .principal("analyst-a", grant(v1::Role::Analytics, "", &[]))
        .await;
    let analyst_b = admin
        .principal("analyst-b", grant(v1::Role::Analytics, "", &[]))
        .await;
    let loan_patron = |events: Vec<v1::RecordedEvent>| -> (String, String) {
        let loan = events
            .iter()
            .find(|e| e.event_type == "ItemLoaned")
            .expect("the loan");
        let v1::event::Payload::ItemLoaned(l) = payload_of(loan) else {
            unreachable!()
        };
        let enrolment = events
            .iter()
            .find(|e| e.event_type == "PatronEnrolled")
            .expect("the enrolment");
        (l.patron_id.clone(), enrolment.stream.clone())
    };
    let (real, real_stream) = loan_patron(auditor.read_all().await);
    let (a, a_stream) = loan_patron(analyst_a.read_all().await);
    let (b, _) = loan_patron(analyst_b.read_all().await);
    // The patron's stream is named after their key, not their id (ADR 0018).
    assert!(
        real_stream.starts_with("patron-") && !real_stream.contains(&real),
        "{real_stream}"
    );
    assert!(a.starts_with("p-") && b.starts_with("p-"), "{a} {b}");
    assert_ne!(a, real, "an analyst never sees the patron id");
    assert_ne!(
        a, b,
        "two analysts' pseudonyms differ, so their datasets do not join"
    );
    assert!(
        a_stream.starts_with("patron-p-") && a_stream != real_stream,
        "the stream name is pseudonymised too: {a_stream}"
    );
    let (again, _) = loan_patron(analyst_a.read_all().await);
    assert_eq!(again, a, "an analyst's pseudonym of a patron is stable");

    // The patron's own stream: the auditor reads it, the analyst may not.
    assert!(!auditor.read_stream(&real_stream).await.is_empty());
    let refusal = analyst_a
        .ledger
        .clone()
        .read_stream(v1::ReadStreamRequest {
            stream: real_stream.clone(),
            ..Default::default()
        })
        .await;
    refused(
        refusal,
        Code::PermissionDenied,
        "principal analyst-a (analytics) may not read a patron's stream",
        "an analyst reading a patron stream",
    );
    // A desk sees an item's state without the borrower.
    let desk = admin
        .principal("zb-desk", grant(v1::Role::Desk, "", &[ZB_CENTRAL]))
        .await;
    assert_eq!(desk.item(JN_BOOKS[0]).await.patron_id, "");
    assert_eq!(auditor.item(JN_BOOKS[0]).await.patron_id, real);
}

#[tokio::test]
async fn kurrentdb_clients_are_refused_without_credentials_and_an_auditor_reads_but_never_writes() {
    let fixture = Fixture::start().await;
    let admin = &fixture.net;
    let auditor_token = admin
        .add_principal("auditor-k", grant(v1::Role::Auditor, "", &[]))
        .await
        .expect("AddPrincipal");
    let client = |credentials: &str| {
        let url = format!(
            "kurrentdb://{credentials}{}?tls=false",
            fixture.server.addr()
        );
        kurrentdb::Client::new(url.parse().expect("a connection string")).expect("a client")
    };
    let event = || {
        kurrentdb::EventData::json("Noted", &serde_json::json!({ "n": 1 }))
            .expect("json")
            .id(Uuid::new_v4())
    };
    let head = admin.head_position().await;
    let anonymous = client("")
        .append_to_stream("notes-1", &Default::default(), event())
        .await;
    assert!(
        matches!(anonymous, Err(kurrentdb::Error::AccessDenied)),
        "{anonymous:?}"
    );
    let wrong = client(&format!(
        "auditor-k:rnt1.{}.{}@",
        "1".repeat(16),
        "1".repeat(64)
    ))
    .append_to_stream("notes-1", &Default::default(), event())
    .await;
    assert!(
        matches!(wrong, Err(kurrentdb::Error::AccessDenied)),
        "{wrong:?}"
    );
    let auditor = client(&format!("auditor-k:{auditor_token}@"));
    let written = auditor
        .append_to_stream("notes-1", &Default::default(), event())
        .await;
    assert!(
        matches!(written, Err(kurrentdb::Error::AccessDenied)),
        "an auditor writes nothing: {written:?}"
    );
    assert_eq!(
        admin.head_position().await,
        head,
        "no refused append was written"
    );
    let mut read = auditor
        .read_all(&Default::default())
        .await
        .expect("the auditor reads $all");
    let first = read.next().await.expect("a read").expect("an event");
    assert_eq!(first.get_original_event().event_type, "PrincipalAdded");
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(readnet_binary())
        .args(args)
        .output()
        .expect("readnet runs")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "readnet failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_cli_adds_lists_and_revokes_principals_and_an_analysts_export_matches_its_feed() {
    let fixture = network_jinan_zibo().await;
    let url = fixture.server.url();
    let data = fixture
        .server
        .data_dir()
        .to_str()
        .expect("a UTF-8 path")
        .to_owned();
    // `principal add` prints the token alone: a script keeps it as it is.
    let token = stdout(&cli(&[
        "principal",
        "add",
        "jn-desk",
        "--role",
        "desk",
        "--library",
        JN_CENTRAL,
        "--server",
        &url,
        "--data",
        &data,
    ]));
    let token = token.trim();
    assert!(
        token.starts_with("rnt1.") && !token.contains('\n'),
        "{token:?}"
    );
    let desk = fixture.net.as_token(Some(token));
    desk.at(JN_CENTRAL)
        .checkout(JN_BOOKS[0], card(JINAN, "370102000001"))
        .await
        .expect("the printed token acts as the desk");
    let analyst = stdout(&cli(&[
        "principal",
        "add",
        "analyst-a",
        "--role",
        "analytics",
        "--server",
        &url,
        "--data",
        &data,
        "--json",
    ]));
    let analyst: serde_json::Value = serde_json::from_str(&analyst).expect("a JSON object");
    assert_eq!(analyst["principal"], "analyst-a");
    let analyst = fixture
        .net
        .as_token(Some(analyst["token"].as_str().expect("a token")));
    let list = stdout(&cli(&[
        "principal",
        "list",
        "--server",
        &url,
        "--data",
        &data,
    ]));
    assert!(list.contains("jn-desk desk of JN-CENTRAL"), "{list}");
    assert!(list.contains("analyst-a analytics"), "{list}");
    stdout(&cli(&[
        "principal",
        "revoke",
        "jn-desk",
        "--reason",
        "left",
        "--server",
        &url,
        "--data",
        &data,
    ]));
    let list = stdout(&cli(&[
        "principal",
        "list",
        "--server",
        &url,
        "--data",
        &data,
    ]));
    assert!(
        list.contains("jn-desk desk of JN-CENTRAL (revoked)"),
        "{list}"
    );
    let refused_desk = desk
        .at(JN_CENTRAL)
        .checkout(JN_BOOKS[1], card(JINAN, "370102000001"))
        .await;
    refused(
        refused_desk,
        Code::Unauthenticated,
        "revoked",
        "the revoked desk",
    );
    // Without a token the CLI is refused, and says so.
    let anonymous = cli(&["principal", "whoami", "--server", &url]);
    assert!(!anonymous.status.success());
    assert!(
        String::from_utf8_lossy(&anonymous.stderr).contains("UNAUTHENTICATED"),
        "{}",
        String::from_utf8_lossy(&anonymous.stderr)
    );

    // What the analyst reads over gRPC, and what an export for it holds, use one pseudonym.
    let fed: Vec<String> = analyst
        .read_all()
        .await
        .iter()
        .filter_map(|e| match payload_of(e) {
            v1::event::Payload::ItemLoaned(l) => Some(l.patron_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(fed.len(), 1);
    let mut fixture = fixture;
    fixture.server.kill_hard();
    let export = stdout(&cli(&[
        "export",
        "events",
        "--data",
        &data,
        "--for-analyst",
        "analyst-a",
    ]));
    let exported: Vec<String> = export
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .filter(|e| e["event_type"] == "ItemLoaned")
        .map(|e| {
            e["data"]["patron_id"]
                .as_str()
                .expect("a patron id")
                .to_owned()
        })
        .collect();
    assert_eq!(exported, fed);
    let whole = stdout(&cli(&["export", "events", "--data", &data]));
    assert!(
        !whole.contains(&fed[0]),
        "a plain export holds the real ids, not a pseudonym"
    );
}
