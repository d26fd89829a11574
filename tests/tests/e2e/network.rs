//! The network as it really runs: the Tongling network of the source reports (four tiers,
//! 24-hour libraries and booths, a branch moved, a week's closure), honest time, and the small
//! rules, through the API and the CLI.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use readnet_e2e::v1::{self, LibraryTier};
use readnet_e2e::*;
use tonic::Code;

const TONGLING: &str = "tongling";
const TL_CENTRAL: &str = "TL-CENTRAL";
const TL_TONGGUAN: &str = "TL-TONGGUAN-G01";
const TL_YIAN: &str = "TL-YIAN-G02";
const TL_B01: &str = "TL-TONGGUAN-B01";
const TL_B02: &str = "TL-TONGGUAN-B02";
const TL_SP: &str = "TL-HENGGANG-SP01";
const TL_24H: &str = "TL-24H-01";
const TL_BOOTH: &str = "TL-BOOTH-01";

fn today() -> NaiveDate {
    Utc::now().with_timezone(&Shanghai).date_naive()
}

fn day(offset: i64) -> NaiveDate {
    if offset >= 0 {
        today().checked_add_days(Days::new(offset as u64))
    } else {
        today().checked_sub_days(Days::new(offset.unsigned_abs()))
    }
    .expect("a date")
}

/// The last microsecond of `date` in Shanghai.
fn end_of(date: NaiveDate) -> DateTime<Utc> {
    Shanghai
        .from_local_datetime(
            &date.and_time(NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).expect("a time")),
        )
        .single()
        .expect("Shanghai has no DST")
        .with_timezone(&Utc)
}

async fn register(desk: &Desk, library: &str, city: &str, tier: LibraryTier, parent: &str) {
    accepted(
        desk.register_library(library, city, tier, parent).await,
        &format!("RegisterLibrary {library}"),
    );
}

fn calendar(holidays: &[NaiveDate]) -> v1::SetCalendarRequest {
    v1::SetCalendarRequest {
        city: TONGLING.to_owned(),
        closed_dates: holidays.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn tongling_four_tiers_a_branch_moved_and_a_weeks_closure_that_shifts_due_dates_and_blocks_nobody()
 {
    let fixture = Fixture::start_with_args(STORY_FLAGS).await;
    let net = &fixture.net;
    let set_up_at = Utc::now() - SET_UP_BEFORE;
    let system = net.system().dated(set_up_at);
    accepted(
        system.join_city(TONGLING, "铜陵").await,
        "JoinCity tongling",
    );
    accepted(system.join_city(JINAN, "济南").await, "JoinCity jinan");
    register(&system, JN_CENTRAL, JINAN, LibraryTier::Central, "").await;
    // 中心馆, two 总馆 (county and district), 分馆, a village 服务点, a 24-hour library, a booth.
    register(&system, TL_CENTRAL, TONGLING, LibraryTier::Central, "").await;
    register(
        &system,
        TL_TONGGUAN,
        TONGLING,
        LibraryTier::General,
        TL_CENTRAL,
    )
    .await;
    register(&system, TL_YIAN, TONGLING, LibraryTier::General, TL_CENTRAL).await;
    register(&system, TL_B01, TONGLING, LibraryTier::Branch, TL_TONGGUAN).await;
    register(&system, TL_B02, TONGLING, LibraryTier::Branch, TL_TONGGUAN).await;
    register(&system, TL_SP, TONGLING, LibraryTier::ServicePoint, TL_B01).await;
    register(
        &system,
        TL_24H,
        TONGLING,
        LibraryTier::SelfService,
        TL_CENTRAL,
    )
    .await;
    register(&system, TL_BOOTH, TONGLING, LibraryTier::Booth, TL_YIAN).await;

    // What the new user could do before: refused now, each naming its rule.
    let admin = net.system();
    refused(
        admin
            .register_library("TL-CENTRAL-2", TONGLING, LibraryTier::Central, "")
            .await,
        Code::FailedPrecondition,
        "one central library per city",
        "a second central library",
    );
    refused(
        admin
            .register_library("TL-G03", TONGLING, LibraryTier::General, TL_BOOTH)
            .await,
        Code::FailedPrecondition,
        "a general library is under its city's central library",
        "a general library under a booth",
    );
    refused(
        admin
            .register_library("JN-LIXIA-09", JINAN, LibraryTier::Branch, TL_CENTRAL)
            .await,
        Code::FailedPrecondition,
        "a library's parent is in its own city",
        "a Jinan branch under the Tongling central library",
    );

    // A mistake corrected: the second branch belongs to 义安区's general library.
    let moved = accepted(
        admin
            .admin()
            .move_library(admin.request(v1::MoveLibraryRequest {
                library: TL_B02.to_owned(),
                parent: TL_YIAN.to_owned(),
                ..Default::default()
            }))
            .await,
        "MoveLibrary",
    )
    .into_inner()
    .receipt
    .expect("a receipt");
    let e = payload!(moved.events[0], LibraryMoved);
    assert_eq!(
        (
            e.library.as_str(),
            e.parent.as_str(),
            e.previous_parent.as_str()
        ),
        (TL_B02, TL_YIAN, TL_TONGGUAN)
    );
    refused(
        admin
            .admin()
            .move_library(admin.request(v1::MoveLibraryRequest {
                library: TL_TONGGUAN.to_owned(),
                parent: TL_SP.to_owned(),
                ..Default::default()
            }))
            .await,
        Code::FailedPrecondition,
        "rule: the library tree has no cycles",
        "a general library under its own service point",
    );

    // The district's 总馆 network, as the statistics see it after the move.
    let subtree = v1::statistics_service_client::StatisticsServiceClient::new(net.channel.clone())
        .subtree_days(v1::SubtreeDaysRequest {
            min_position: Some(moved.events[0].position),
            library: TL_TONGGUAN.to_owned(),
            from_day: day(-1).to_string(),
            to_day: day(0).to_string(),
            by: v1::StatisticsBy::TransactionLibrary as i32,
        })
        .await
        .expect("SubtreeDays")
        .into_inner();
    let tree: Vec<(&str, u32)> = subtree
        .libraries
        .iter()
        .map(|l| (l.library.as_str(), l.depth))
        .collect();
    assert_eq!(tree, [(TL_TONGGUAN, 0), (TL_B01, 1), (TL_SP, 2)]);

    for (library, items) in [
        (TL_CENTRAL, &["TL-C-0001", "TL-C-0002"][..]),
        (TL_B01, &["TL-B01-0001", "TL-B01-0002"][..]),
        (TL_24H, &["TL-24H-0001"][..]),
    ] {
        let desk = net.at(library).dated(set_up_at);
        for item in items {
            accepted(desk.catalogue(item, library).await, "CatalogueItem");
        }
    }

    // The city's holidays fall on the 30th and 31st day from today: a loan made today at the
    // central library is due on the 32nd; one at the 24-hour library keeps its 30th.
    accepted(
        admin
            .admin()
            .set_calendar(admin.request(calendar(&[day(30), day(31)])))
            .await,
        "SetCalendar tongling",
    );
    let reader = card(TONGLING, "340702199001011234");
    accepted(
        net.at(TL_CENTRAL)
            .checkout("TL-C-0001", reader.clone())
            .await,
        "a loan at the central library",
    );
    assert_eq!(
        instant(net.item("TL-C-0001").await.due_at.as_ref()),
        end_of(day(32))
    );
    accepted(
        net.at(TL_24H).checkout("TL-24H-0001", reader.clone()).await,
        "a loan at the 24-hour library",
    );
    assert_eq!(
        instant(net.item("TL-24H-0001").await.due_at.as_ref()),
        end_of(day(30))
    );

    // A loan at the branch 29 days ago (an offline kiosk's, synced now): due tomorrow.
    let neighbour = card(TONGLING, "340702198505052345");
    accepted(
        net.at(TL_B01)
            .checkout_at(
                "TL-B01-0001",
                neighbour.clone(),
                Utc::now() - chrono::Duration::days(29),
            )
            .await,
        "a loan 29 days ago",
    );
    let due = instant(net.item("TL-B01-0001").await.due_at.as_ref());

    // The branch closes for a week from today: the loan is due the day after it reopens.
    let closed = accepted(
        admin
            .admin()
            .close_library_temporarily(admin.request(v1::CloseLibraryTemporarilyRequest {
                library: TL_B01.to_owned(),
                reason: "疫情期间闭馆".to_owned(),
                until_date: day(6).to_string(),
                ..Default::default()
            }))
            .await,
        "CloseLibraryTemporarily",
    )
    .into_inner()
    .receipt
    .expect("a receipt");
    assert_eq!(
        event_types(&closed),
        ["LibraryClosedTemporarily", "LoanExtended"]
    );
    let extended = payload!(closed.events[1], LoanExtended);
    assert_eq!(extended.item, "TL-B01-0001");
    assert_eq!(extended.previous_due_at_us, due.timestamp_micros());
    assert_eq!(extended.due_at_us, end_of(day(7)).timestamp_micros());
    assert_eq!(
        instant(net.item("TL-B01-0001").await.due_at.as_ref()),
        end_of(day(7))
    );

    // The closed branch takes nothing back, and says when it opens.
    refused(
        net.at(TL_B01).return_item("TL-B01-0001").await,
        Code::FailedPrecondition,
        &format!(
            "library {TL_B01} is closed temporarily through {} (疫情期间闭馆): no returns until it opens again at {} 00:00 CST",
            day(6),
            day(7)
        ),
        "a return at the closed branch",
    );
    // Nobody is blocked: the neighbour borrows at the central library and returns there.
    accepted(
        net.at(TL_CENTRAL)
            .checkout("TL-C-0002", neighbour.clone())
            .await,
        "the neighbour borrows elsewhere",
    );
    accepted(
        net.at(TL_CENTRAL).return_item("TL-B01-0001").await,
        "the neighbour returns the branch's book at the central library",
    );

    // Reopened, the branch lends again.
    accepted(
        admin
            .admin()
            .reopen_library(admin.request(v1::ReopenLibraryRequest {
                library: TL_B01.to_owned(),
                ..Default::default()
            }))
            .await,
        "ReopenLibrary",
    );
    accepted(
        net.at(TL_B01).checkout("TL-B01-0002", neighbour).await,
        "a loan at the reopened branch",
    );
}

#[tokio::test]
async fn commands_dated_too_far_back_or_before_what_they_name_existed_are_refused() {
    // The default bound: 30 days.
    let fixture = Fixture::start().await;
    let system = fixture.net.system();
    accepted(system.join_city(JINAN, "济南").await, "JoinCity");
    accepted(
        system
            .register_library(JN_CENTRAL, JINAN, LibraryTier::Central, "")
            .await,
        "RegisterLibrary",
    );
    let desk = fixture.net.at(JN_CENTRAL);
    accepted(
        desk.catalogue(JN_BOOKS[0], JN_CENTRAL).await,
        "CatalogueItem",
    );
    let reader = card(JINAN, "370102199001011234");
    invalid_field(
        desk.checkout_at(
            JN_BOOKS[0],
            reader.clone(),
            Utc::now() - chrono::Duration::days(31),
        )
        .await,
        "occurred_at",
        "a loan 31 days ago",
    );
    let message = refused(
        desk.checkout_at(
            JN_BOOKS[0],
            reader.clone(),
            Utc::now() - chrono::Duration::days(1),
        )
        .await,
        Code::InvalidArgument,
        &format!("is before item {} was catalogued", JN_BOOKS[0]),
        "a loan dated before the book was catalogued",
    );
    assert!(message.starts_with("occurred_at: "), "{message}");
    accepted(desk.checkout(JN_BOOKS[0], reader).await, "a loan now");
}

#[tokio::test]
async fn isbn_typos_empty_renewals_and_a_tier_before_the_first_loan() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let desk = net.at(JN_CENTRAL);
    invalid_field(
        desk.circulation()
            .catalogue_item(desk.request(v1::CatalogueItemRequest {
                item: "JN-000099".to_owned(),
                isbn: "9787020002208".to_owned(),
                title: "呐喊".to_owned(),
                owner_library: JN_CENTRAL.to_owned(),
                price_fen: Some(2000),
                acquisition: v1::Acquisition::Purchase as i32,
                ..Default::default()
            }))
            .await,
        "isbn",
        "an ISBN with a wrong check digit",
    );

    let reader = card(JINAN, "370102199909094321");
    let enrolled = accepted(
        net.system()
            .set_patron_tier(reader.clone(), v1::CreditTier::Restricted)
            .await,
        "SetPatronTier before the first loan",
    );
    assert_eq!(event_types(&enrolled), ["PatronEnrolled"]);
    assert_eq!(
        payload!(enrolled.events[0], PatronEnrolled).tier,
        v1::CreditTier::Restricted as i32
    );

    accepted(desk.checkout(JN_BOOKS[0], reader.clone()).await, "a loan");
    refused(
        desk.renew(JN_BOOKS[0], reader).await,
        Code::FailedPrecondition,
        "a renewal that changes nothing is not recorded",
        "a renewal on the day of the loan",
    );
}

fn cli(args: &[&str]) -> String {
    let output = std::process::Command::new(readnet_binary())
        .args(args)
        .output()
        .expect("readnet runs");
    assert!(
        output.status.success(),
        "readnet {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_cli_corrects_the_tree_sets_calendars_and_closes_a_library_for_a_while() {
    let fixture = network_jinan_zibo().await;
    let url = fixture.server.url();
    let data = fixture
        .server
        .data_dir()
        .to_str()
        .expect("a UTF-8 path")
        .to_owned();
    let server = ["--server", url.as_str(), "--data", data.as_str()];
    let run = |args: &[&str]| cli(&[args, &server[..]].concat());
    run(&[
        "register-library",
        "JN-LIXIA-SP1",
        "--name",
        "姚家服务点",
        "--city",
        JINAN,
        "--tier",
        "service-point",
    ]);
    let moved = run(&["move-library", "JN-LIXIA-SP1", "--parent", JN_LIXIA]);
    assert!(moved.contains("LibraryMoved"), "{moved}");
    run(&["rename-library", "JN-LIXIA-SP1", "--name", "姚家街道服务点"]);
    // A branch is not under a branch; a 24-hour library may be.
    let refused_tier = std::process::Command::new(readnet_binary())
        .args(
            [
                &["change-library-tier", "JN-LIXIA-SP1", "--tier", "branch"][..],
                &server[..],
            ]
            .concat(),
        )
        .output()
        .expect("readnet runs");
    assert!(!refused_tier.status.success());
    assert!(
        String::from_utf8_lossy(&refused_tier.stderr)
            .contains("a branch is under a general or the central library"),
        "{}",
        String::from_utf8_lossy(&refused_tier.stderr)
    );
    run(&[
        "change-library-tier",
        "JN-LIXIA-SP1",
        "--tier",
        "self-service",
    ]);
    run(&[
        "set-calendar",
        "--city",
        JINAN,
        "--week",
        "09:00-21:00,09:00-21:00,09:00-21:00,09:00-21:00,09:00-21:00,09:00-21:00,09:00-21:00",
        "--closed-date",
        &day(40).to_string(),
    ]);
    let closed = run(&[
        "close-temporarily",
        JN_LIXIA,
        "--until",
        &day(3).to_string(),
        "--reason",
        "装修",
    ]);
    assert!(closed.contains("LibraryClosedTemporarily"), "{closed}");
    refused(
        fixture.net.at(JN_LIXIA).return_item(JN_BOOKS[0]).await,
        Code::FailedPrecondition,
        "is closed temporarily",
        "a return at the closed branch",
    );
    run(&["reopen", JN_LIXIA]);
    let tree = fixture.net.read_stream("network").await;
    let renamed = tree
        .iter()
        .find_map(|e| match payload_of(e) {
            v1::event::Payload::LibraryRenamed(r) => Some(r.name.clone()),
            _ => None,
        })
        .expect("a LibraryRenamed");
    assert_eq!(renamed, "姚家街道服务点");
}

/// A book the Tongling readers pick at the bookstore (no ISBN: keyed by title and author).
fn bookstore_book(item: &str, title: &str, price_fen: i64) -> v1::BookDescription {
    v1::BookDescription {
        item: item.to_owned(),
        title: title.to_owned(),
        author: "佚名".to_owned(),
        isbn: String::new(),
        price_fen: Some(price_fen),
    }
}

#[tokio::test]
async fn tongling_buys_for_its_readers_until_the_twenty_percent_share_is_spent_and_lends_an_ebook_with_two_licences_across_cities()
 {
    // The server's own sweep every second returns digital loans whose time is up.
    let fixture = network_jinan_zibo_with(&["--hold-sweep-secs", "1"]).await;
    let net = &fixture.net;
    let set_up_at = Utc::now() - SET_UP_BEFORE;
    let system = net.system().dated(set_up_at);
    accepted(
        system.join_city(TONGLING, "铜陵").await,
        "JoinCity tongling",
    );
    register(&system, TL_CENTRAL, TONGLING, LibraryTier::Central, "").await;
    let admin = net.system();
    let year = u32::try_from(chrono::Datelike::year(&today())).expect("a year");

    // 你读书我买单: 1,000 yuan for the year, 20 % of it (200 yuan) for the readers' picks, at
    // most 150 yuan a book, bought at the partner Xinhua bookstore.
    let budget = accepted(
        admin
            .admin()
            .set_acquisition_budget(admin.request(v1::SetAcquisitionBudgetRequest {
                library: TL_CENTRAL.to_owned(),
                year,
                budget_fen: 100_000,
                ..Default::default()
            }))
            .await,
        "SetAcquisitionBudget",
    )
    .into_inner()
    .receipt
    .expect("a receipt");
    assert_eq!(
        payload!(budget.events[0], AcquisitionBudgetSet).patron_driven_share_bp,
        2000
    );
    accepted(
        admin
            .admin()
            .set_acquisition_policy(admin.request(v1::SetAcquisitionPolicyRequest {
                library: TL_CENTRAL.to_owned(),
                max_item_price_fen: 15_000,
                monthly_quota_per_reader: 3,
                ..Default::default()
            }))
            .await,
        "SetAcquisitionPolicy",
    );
    accepted(
        admin
            .admin()
            .register_bookstore(admin.request(v1::RegisterBookstoreRequest {
                library: TL_CENTRAL.to_owned(),
                bookstore: "XINHUA-TL-01".to_owned(),
                name: "铜陵新华书店".to_owned(),
                ..Default::default()
            }))
            .await,
        "RegisterBookstore",
    );
    let desk = net.at(TL_CENTRAL);
    let reader = |n: &str| card(TONGLING, &format!("3407021990010{n}"));
    invalid_field(
        desk.patron_driven(reader("10001"), bookstore_book("TL-P-0001", "活着", 3000))
            .await,
        "bookstore",
        "a purchase that names no bookstore",
    );
    refused(
        desk.patron_driven_at(
            reader("10001"),
            bookstore_book("TL-P-0001", "全宋词", 16_000),
            "XINHUA-TL-01",
        )
        .await,
        Code::FailedPrecondition,
        "cap of 15000 fen",
        "a book above the cap",
    );
    let bought = accepted(
        desk.patron_driven_at(
            reader("10001"),
            bookstore_book("TL-P-0001", "平凡的世界", 12_000),
            "XINHUA-TL-01",
        )
        .await,
        "the first reader's pick",
    );
    assert_eq!(
        event_types(&bought),
        [
            "PatronEnrolled",
            "ItemCatalogued",
            "PatronDrivenPurchaseRecorded",
            "ItemLoaned"
        ]
    );
    let purchase = payload!(bought.events[2], PatronDrivenPurchaseRecorded);
    assert_eq!(
        (
            purchase.bookstore.as_str(),
            purchase.price_fen,
            purchase.budget_year
        ),
        ("XINHUA-TL-01", 12_000, year)
    );
    accepted(
        desk.patron_driven_at(
            reader("10002"),
            bookstore_book("TL-P-0002", "长安的荔枝", 7000),
            "XINHUA-TL-01",
        )
        .await,
        "the second reader's pick",
    );
    // 190 of the 200 yuan are spent: a 15-yuan book does not fit.
    refused(
        desk.patron_driven_at(
            reader("10003"),
            bookstore_book("TL-P-0003", "边城", 1500),
            "XINHUA-TL-01",
        )
        .await,
        Code::FailedPrecondition,
        &format!(
            "library {TL_CENTRAL}'s patron-driven share for {year} is 20000 fen, 19000 fen of it spent: a book of 1500 fen does not fit"
        ),
        "a pick once the share is spent",
    );
    let last = accepted(
        desk.patron_driven_at(
            reader("10003"),
            bookstore_book("TL-P-0003", "边城", 1000),
            "XINHUA-TL-01",
        )
        .await,
        "a 10-yuan pick that still fits",
    );

    // The budget, spend and what remains, per library and city, as the statistics fold them.
    let budgets = v1::statistics_service_client::StatisticsServiceClient::new(net.channel.clone())
        .acquisition_budgets(v1::AcquisitionBudgetsRequest {
            min_position: Some(*receipt_positions(&last).last().expect("a position")),
            year,
            city: TONGLING.to_owned(),
            ..Default::default()
        })
        .await
        .expect("AcquisitionBudgets")
        .into_inner();
    let central = &budgets.libraries[0];
    assert_eq!(budgets.libraries.len(), 1);
    assert_eq!(
        (
            central.library.as_str(),
            central.budget_fen,
            central.patron_driven_share_fen,
            central.patron_driven_spent_fen,
            central.patron_driven_remaining_fen,
            central.patron_driven_books,
            central.remaining_fen,
        ),
        (TL_CENTRAL, 100_000, 20_000, 20_000, 0, 3, 80_000)
    );
    let total = budgets.total.expect("a total");
    assert_eq!((total.city.as_str(), total.spent_fen), (TONGLING, 20_000));
    // The same through the CLI.
    let url = fixture.server.url();
    let data = fixture
        .server
        .data_dir()
        .to_str()
        .expect("a UTF-8 path")
        .to_owned();
    let year_arg = year.to_string();
    let report = cli(&[
        "budgets",
        "--year",
        &year_arg,
        "--library",
        TL_CENTRAL,
        "--server",
        &url,
        "--data",
        &data,
    ]);
    assert!(
        report.contains(&format!(
            "{TL_CENTRAL}: budget 100000 fen, spent 20000 (0 purchases, 20000 patron-driven), remaining 80000; patron-driven share 20000 fen, spent 20000 on 3 book(s), remaining 0"
        )),
        "{report}"
    );

    // An e-book with 2 concurrent licences, Tongling's, shared with the network; the network
    // charges 30 fen for each loan to another city's reader.
    accepted(
        system
            .admin()
            .license_e_resource(system.request(v1::LicenseEResourceRequest {
                resource: "EB-TL-HUANGMEI".to_owned(),
                title: "黄梅戏选".to_owned(),
                kind: v1::EResourceKind::Ebook as i32,
                owner_library: TL_CENTRAL.to_owned(),
                shared: true,
                licences: 2,
                loan_days: 14,
                ..Default::default()
            }))
            .await,
        "LicenseEResource",
    );
    accepted(
        admin
            .admin()
            .set_tariff(admin.request(v1::SetTariffRequest {
                kind: v1::ChargeKind::Digital as i32,
                amount_fen: 30,
                ..Default::default()
            }))
            .await,
        "SetTariff digital",
    );
    // A Tongling reader's loan from 14 days ago (less 15 seconds) ends in a moment.
    let first_lent_at = Utc::now() - chrono::Duration::days(14) + chrono::Duration::seconds(15);
    let first = accepted(
        net.at(TL_CENTRAL)
            .dated(first_lent_at)
            .borrow_digital("EB-TL-HUANGMEI", reader("10001"))
            .await,
        "a Tongling reader's digital loan",
    );
    assert_eq!(event_types(&first), ["DigitalLoaned"]);
    let jinan_reader = card(JINAN, "370102199001011234");
    let second = accepted(
        net.at(JN_CENTRAL)
            .borrow_digital("EB-TL-HUANGMEI", jinan_reader)
            .await,
        "a Jinan reader's digital loan",
    );
    assert_eq!(event_types(&second), ["PatronEnrolled", "DigitalLoaned"]);
    let zibo_reader = card(ZIBO, "370303199202023456");
    refused(
        net.at(ZB_CENTRAL)
            .borrow_digital("EB-TL-HUANGMEI", zibo_reader.clone())
            .await,
        Code::FailedPrecondition,
        "e-resource EB-TL-HUANGMEI has all its 2 licences on loan",
        "a third reader while both licences are out",
    );

    // The server's sweep returns the first loan when its time is up, by itself.
    let after = *receipt_positions(&second).last().expect("a position");
    let deadline = std::time::Instant::now() + WAIT;
    let ended = loop {
        let found = net
            .read_all_from(after)
            .await
            .into_iter()
            .find_map(|e| match payload_of(&e) {
                v1::event::Payload::DigitalLoanEnded(ended) => Some(ended.clone()),
                _ => None,
            });
        if let Some(ended) = found {
            break ended;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep returned no digital loan"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(
        (ended.resource.as_str(), ended.reason),
        ("EB-TL-HUANGMEI", v1::DigitalLoanEndReason::Expired as i32)
    );
    let third = accepted(
        net.at(ZB_CENTRAL)
            .borrow_digital("EB-TL-HUANGMEI", zibo_reader)
            .await,
        "the Zibo reader once a licence is free",
    );
    assert_eq!(event_types(&third), ["PatronEnrolled", "DigitalLoaned"]);
    let third_at = *receipt_positions(&third).last().expect("a position");

    // Settlement charges the two cross-city digital loans; the statistics count them beside
    // the physical loans (the three readers' picks).
    let period = Utc::now()
        .with_timezone(&Shanghai)
        .format("%Y-%m")
        .to_string();
    let statement =
        v1::settlement_service_client::SettlementServiceClient::new(net.channel.clone())
            .get_statement(v1::GetStatementRequest {
                period,
                min_position: Some(third_at),
            })
            .await
            .expect("GetStatement")
            .into_inner()
            .statement
            .expect("a statement");
    let mut digital: Vec<(String, String, u64, i64)> = statement
        .lines
        .iter()
        .filter(|l| l.kind == v1::ChargeKind::Digital as i32)
        .map(|l| {
            (
                l.debtor_city.clone(),
                l.creditor_city.clone(),
                l.count,
                l.amount_fen,
            )
        })
        .collect();
    digital.sort();
    assert_eq!(
        digital,
        [
            (JINAN.to_owned(), TONGLING.to_owned(), 1, 30),
            (ZIBO.to_owned(), TONGLING.to_owned(), 1, 30)
        ]
    );
    let days = v1::statistics_service_client::StatisticsServiceClient::new(net.channel.clone())
        .network_days(v1::NetworkDaysRequest {
            min_position: Some(third_at),
            from_day: day(0).to_string(),
            to_day: day(0).to_string(),
            by: v1::StatisticsBy::TransactionLibrary as i32,
        })
        .await
        .expect("NetworkDays")
        .into_inner()
        .days;
    assert_eq!(days.len(), 1, "{days:?}");
    assert_eq!(
        (
            days[0].loans,
            days[0].digital_loans,
            days[0].cross_city_digital_loans,
            days[0].patron_driven_spent_fen
        ),
        (3, 2, 2, 20_000)
    );
}
