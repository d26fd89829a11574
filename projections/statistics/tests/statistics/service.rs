//! The gRPC service, called in process: answers, errors, read-your-writes, and the pushed
//! monitoring centre.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use readnet_domain::ManualClock;
use readnet_ledger::history::History;
use readnet_projection::{Writer, shared};
use readnet_proto::v1 as pb;
use readnet_proto::v1::statistics_service_server::StatisticsService as _;
use readnet_statistics::service::{MONITOR_REFRESH, WATCH_MIN_INTERVAL};
use readnet_statistics::{Statistics, StatisticsService};
use tonic::{Code, Request, Status};

use crate::support::*;

const BY_TRANSACTION: i32 = pb::StatisticsBy::TransactionLibrary as i32;

/// The network, a Zibo book lent to Li Wei at t0+5' and returned in Jinan at t0+20'; the
/// position where the set-up (network and cataloguing) ends.
fn lent_and_returned() -> (History, usize) {
    let mut h = network();
    catalogue(
        &mut h,
        t0(),
        ZB_CENTRAL,
        book("ZB-1", "9787020000012", "Four Generations"),
    );
    catalogue(&mut h, t0(), ZB_CENTRAL, book("ZB-2", "", "Teahouse"));
    let setup = h.events().len();
    checkout(&mut h, t0() + minutes(5), ZB_CENTRAL, "ZB-1", li_wei());
    checkout(&mut h, t0() + minutes(6), ZB_CENTRAL, "ZB-2", li_wei());
    return_at(&mut h, t0() + minutes(20), JN_LIXIA, "ZB-1");
    (h, setup)
}

fn service_at(
    now: chrono::DateTime<chrono::Utc>,
) -> (Writer<Statistics>, StatisticsService, Arc<ManualClock>) {
    let (writer, handle) = shared(Statistics::default());
    let clock = Arc::new(ManualClock::new(now));
    let service = StatisticsService::new(handle, clock.clone());
    (writer, service, clock)
}

fn watch(library: &str) -> Request<pb::WatchMonitorRequest> {
    authed(pb::WatchMonitorRequest {
        min_position: None,
        library: library.into(),
    })
}

async fn next_snapshot(
    stream: &mut (impl futures::Stream<Item = Result<pb::WatchMonitorResponse, Status>> + Unpin),
) -> pb::MonitorSnapshot {
    tokio::time::timeout(Duration::from_secs(120), stream.next())
        .await
        .expect("a snapshot in time")
        .expect("the stream is open")
        .expect("a snapshot, not an error")
        .snapshot
        .expect("the response holds a snapshot")
}

// The watch tests run on paused time: WatchMonitor's wait of WATCH_MIN_INTERVAL between
// snapshots passes at once whenever every task is waiting.
#[tokio::test(start_paused = true)]
async fn watch_monitor_pushes_a_snapshot_after_new_events_are_applied() {
    let (h, setup) = lent_and_returned();
    let (writer, service, _clock) = service_at(t0() + minutes(30));
    writer.apply(&h.events()[..setup]);
    let mut stream = service
        .watch_monitor(watch(ZB_CENTRAL))
        .await
        .unwrap()
        .into_inner();
    let first = next_snapshot(&mut stream).await;
    assert_eq!(first.applied_position, setup as u64);
    assert_eq!(first.libraries.len(), 1);
    assert_eq!(
        (
            first.libraries[0].on_loan,
            first.libraries[0].events_last_hour
        ),
        (0, 0)
    );

    writer.apply(&h.events()[setup..]);
    let next = next_snapshot(&mut stream).await;
    assert_eq!(next.applied_position, h.events().len() as u64);
    let zibo = &next.libraries[0];
    // Enrolment and two loans at ZB-CENTRAL; ZB-2 is still out.
    assert_eq!(
        (
            zibo.library.as_str(),
            zibo.events_last_hour,
            zibo.on_loan,
            zibo.owned_on_loan
        ),
        (ZB_CENTRAL, 3, 1, 1)
    );
    assert_eq!(
        zibo.last_occurred_at,
        Some(prost_types::Timestamp {
            seconds: (t0() + minutes(6)).timestamp(),
            nanos: 0
        })
    );
}

#[tokio::test(start_paused = true)]
async fn watch_monitor_skips_events_that_leave_the_snapshot_as_it_was() {
    let (mut h, _) = lent_and_returned();
    let (writer, service, _clock) = service_at(t0() + minutes(30));
    writer.apply(h.events());
    let applied = h.events().len();
    let mut stream = service
        .watch_monitor(watch(ZB_CENTRAL))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next_snapshot(&mut stream).await.applied_position,
        applied as u64
    );
    // Cataloguing by the system changes nothing the centre shows about ZB-CENTRAL.
    catalogue(
        &mut h,
        t0() + minutes(25),
        ZB_CENTRAL,
        book("ZB-3", "", "Cat Country"),
    );
    writer.apply(&h.events()[applied..]);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let quiet = h.events().len();
    checkout(&mut h, t0() + minutes(26), ZB_CENTRAL, "ZB-3", wang_fang());
    writer.apply(&h.events()[quiet..]);
    let next = next_snapshot(&mut stream).await;
    assert_eq!(
        next.applied_position,
        h.events().len() as u64,
        "no snapshot for the cataloguing"
    );
    assert_eq!(next.libraries[0].on_loan, 2);
}

#[tokio::test(start_paused = true)]
async fn watch_monitor_refreshes_every_minute_so_the_last_hour_and_overdue_roll_without_events() {
    let (h, _) = lent_and_returned();
    let (writer, service, clock) = service_at(t0() + minutes(30));
    writer.apply(h.events());
    let started = tokio::time::Instant::now();
    let mut stream = service
        .watch_monitor(watch(ZB_CENTRAL))
        .await
        .unwrap()
        .into_inner();
    let first = next_snapshot(&mut stream).await;
    assert_eq!(
        (
            first.libraries[0].events_last_hour,
            first.libraries[0].overdue
        ),
        (3, 0)
    );
    // Five weeks pass with no event: ZB-2 (due at the end of 1 April) is overdue.
    clock.set(shanghai(2026, 4, 6, 9, 0));
    let next = next_snapshot(&mut stream).await;
    assert!(started.elapsed() >= MONITOR_REFRESH);
    assert_eq!(next.applied_position, first.applied_position);
    assert_eq!(
        (
            next.libraries[0].events_last_hour,
            next.libraries[0].overdue
        ),
        (0, 1)
    );
    assert_eq!(
        next.as_of.map(|t| t.seconds),
        Some(shanghai(2026, 4, 6, 9, 0).timestamp())
    );
}

#[tokio::test(start_paused = true)]
async fn watch_monitor_sends_one_snapshot_for_many_events_applied_within_a_second() {
    let (mut h, _) = lent_and_returned();
    catalogue(
        &mut h,
        t0() + minutes(20),
        ZB_CENTRAL,
        book("ZB-3", "", "Cat Country"),
    );
    let (writer, service, _clock) = service_at(t0() + minutes(30));
    writer.apply(h.events());
    let before = h.events().len();
    let started = tokio::time::Instant::now();
    let mut stream = service
        .watch_monitor(watch(ZB_CENTRAL))
        .await
        .unwrap()
        .into_inner();
    let first = next_snapshot(&mut stream).await;
    assert_eq!(first.applied_position, before as u64);

    // Wang Fang borrows and returns ZB-3 at the desk ten times: twenty-one events by
    // ZB-CENTRAL (her first loan enrols her), each changing its "events in the last hour".
    for n in 0..10 {
        let at = t0() + minutes(21) + chrono::Duration::seconds(2 * n);
        checkout(&mut h, at, ZB_CENTRAL, "ZB-3", wang_fang());
        return_at(
            &mut h,
            at + chrono::Duration::seconds(1),
            ZB_CENTRAL,
            "ZB-3",
        );
    }
    let events = &h.events()[before..];
    assert_eq!(events.len(), 21);
    // Applied one at a time, as a caught-up runner does, over 840 ms.
    for event in events {
        writer.apply(std::slice::from_ref(event));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(started.elapsed() < WATCH_MIN_INTERVAL);

    let next = next_snapshot(&mut stream).await;
    assert!(started.elapsed() >= WATCH_MIN_INTERVAL);
    assert_eq!(
        next.applied_position,
        h.events().len() as u64,
        "one snapshot with every event, not one per event"
    );
    assert_eq!(
        next.libraries[0].events_last_hour,
        first.libraries[0].events_last_hour + 21
    );
    // Nothing more until the minute's refresh.
    let quiet = tokio::time::timeout(MONITOR_REFRESH - Duration::from_secs(2), stream.next()).await;
    assert!(quiet.is_err(), "no second snapshot: {quiet:?}");
    let refreshed = next_snapshot(&mut stream).await;
    assert_eq!(refreshed.applied_position, next.applied_position);
}

#[tokio::test]
async fn every_query_answers_with_the_position_it_reflects() {
    let (h, _) = lent_and_returned();
    let (writer, service, _clock) = service_at(t0() + minutes(30));
    writer.apply(h.events());
    let applied = h.events().len() as u64;
    let today = day(t0());

    let library = service
        .library_days(authed(pb::LibraryDaysRequest {
            min_position: Some(applied),
            library: JN_LIXIA.into(),
            from_day: today.clone(),
            to_day: today.clone(),
            by: BY_TRANSACTION,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(library.applied_position, applied);
    assert_eq!(library.days.len(), 1);
    let d = &library.days[0];
    assert_eq!(
        (
            d.day.as_str(),
            d.returns,
            d.cross_city_returns,
            d.returns_of_other_libraries_items,
            d.active_patrons
        ),
        (today.as_str(), 1, 1, 1, 1)
    );

    let city = service
        .city_days(authed(pb::CityDaysRequest {
            min_position: None,
            city: "zibo".into(),
            from_day: today.clone(),
            to_day: today.clone(),
            by: pb::StatisticsBy::OwningLibrary as i32,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            city.applied_position,
            city.days[0].loans,
            city.days[0].returns,
            city.days[0].on_loan_at_day_end
        ),
        (applied, 2, 1, 1)
    );

    let network = service
        .network_days(authed(pb::NetworkDaysRequest {
            min_position: None,
            from_day: today.clone(),
            to_day: today.clone(),
            by: BY_TRANSACTION,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            network.days[0].loans,
            network.days[0].cross_city_loans,
            network.days[0].enrolments
        ),
        (2, 2, 1)
    );

    let flows = service
        .flow_matrix(authed(pb::FlowMatrixRequest {
            min_position: None,
            month: "2026-03".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        flows.cells,
        [pb::FlowMatrixCell {
            owner_city: "zibo".into(),
            return_city: "jinan".into(),
            returns: 1
        }]
    );

    let titles = service
        .top_titles(authed(pb::TopTitlesRequest {
            min_position: None,
            city: "zibo".into(),
            month: "2026-03".into(),
            limit: 1,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(titles.titles.len(), 1);
    assert_eq!(
        (
            titles.titles[0].rank,
            titles.titles[0].title_key.as_str(),
            titles.titles[0].loans
        ),
        (1, "isbn:9787020000012", 1)
    );

    let snapshot = service
        .monitor(authed(pb::MonitorRequest {
            min_position: None,
            library: String::new(),
        }))
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert_eq!(snapshot.libraries.len(), LIBRARIES.len());
    assert_eq!(snapshot.applied_position, applied);
}

#[tokio::test]
async fn a_query_with_min_position_answers_once_the_projection_has_applied_it() {
    let (h, setup) = lent_and_returned();
    let (writer, service, _clock) = service_at(t0() + minutes(30));
    writer.apply(&h.events()[..setup]);
    let all = h.events().len() as u64;
    let query = service.monitor(authed(pb::MonitorRequest {
        min_position: Some(all),
        library: ZB_CENTRAL.into(),
    }));
    let apply = async {
        tokio::task::yield_now().await;
        writer.apply(&h.events()[setup..]);
    };
    let (answer, ()) = tokio::join!(query, apply);
    let snapshot = answer.unwrap().into_inner().snapshot.unwrap();
    assert_eq!(snapshot.applied_position, all);
    assert_eq!(snapshot.libraries[0].on_loan, 1);
}

/// The call was refused with `code`, and the message starts with the field's name.
fn check<T>(result: Result<T, Status>, code: Code, field: &str) {
    let status = result.err().expect("refused");
    assert_eq!(status.code(), code, "{}", status.message());
    assert!(
        status.message().starts_with(&format!("{field}:")),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn bad_arguments_are_invalid_argument_naming_the_field() {
    let (h, _) = lent_and_returned();
    let (writer, service, _clock) = service_at(t0());
    writer.apply(h.events());
    let days = |from: &str, to: &str, by: i32| {
        authed(pb::LibraryDaysRequest {
            min_position: None,
            library: ZB_CENTRAL.into(),
            from_day: from.into(),
            to_day: to.into(),
            by,
        })
    };
    check(
        service
            .library_days(days("2026-03-01", "2026-03-02", 0))
            .await,
        Code::InvalidArgument,
        "by",
    );
    check(
        service
            .library_days(days("2026-03-01", "2026-03-02", 9))
            .await,
        Code::InvalidArgument,
        "by",
    );
    check(
        service
            .library_days(days("March", "2026-03-02", BY_TRANSACTION))
            .await,
        Code::InvalidArgument,
        "from_day",
    );
    check(
        service
            .library_days(days("2026-03-01", "", BY_TRANSACTION))
            .await,
        Code::InvalidArgument,
        "to_day",
    );
    check(
        service
            .library_days(authed(pb::LibraryDaysRequest {
                library: String::new(),
                ..days("2026-03-01", "2026-03-02", BY_TRANSACTION).into_inner()
            }))
            .await,
        Code::InvalidArgument,
        "library",
    );
    check(
        service
            .city_days(authed(pb::CityDaysRequest {
                min_position: None,
                city: "qingdao".into(),
                from_day: "2026-03-01".into(),
                to_day: "2026-03-01".into(),
                by: BY_TRANSACTION,
            }))
            .await,
        Code::NotFound,
        "city",
    );
    check(
        service
            .flow_matrix(authed(pb::FlowMatrixRequest {
                min_position: None,
                month: "2026-13".into(),
            }))
            .await,
        Code::InvalidArgument,
        "month",
    );
    check(
        service
            .top_titles(authed(pb::TopTitlesRequest {
                min_position: None,
                city: "zibo".into(),
                month: "2026-03".into(),
                limit: 500,
            }))
            .await,
        Code::InvalidArgument,
        "limit",
    );
    check(
        service.watch_monitor(watch("QD-CENTRAL")).await,
        Code::NotFound,
        "library",
    );
}

/// A request as the authentication layer passes it on: from a auditor principal.
fn authed<T>(message: T) -> Request<T> {
    let tester = readnet_domain::access::Authenticated::network_wide(
        "tester",
        readnet_domain::Role::Auditor,
    );
    readnet_projection::access::request_from(&tester, message)
}
