//! Properties over random histories decided by the real domain rules: city and network rows are
//! the sums of library rows, totals match the log, open loans match the domain's state, and a
//! state restored from a snapshot folds on to the same state as a straight fold.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use readnet_domain::pb::{Acquisition, TransferReason};
use readnet_domain::{Command, Item, ItemStatus, LibraryCode, NewBook};
use readnet_ledger::history::History;
use readnet_projection::{Payload, Projection, decode_state, digest, encode_state};
use readnet_statistics::By::{OwningLibrary, TransactionLibrary};
use readnet_statistics::{
    By, Counters, DayFigures, DayRange, Statistics, city_days, flow_matrix, library_days, monitor,
    network_days, top_titles,
};

use crate::support::*;
use readnet_projection::Position;

/// One step of a random history; the numbers choose among what the state makes possible.
#[derive(Debug, Clone)]
enum Step {
    Checkout(u8, u8, u8),
    Return(u8, u8),
    Renew(u8, u8),
    Dispatch(u8, u8),
    Receive(u8),
    Swap(u8, u8),
    Acquire(u8, u8),
    Lose(u8),
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => any::<(u8, u8, u8)>().prop_map(|(a, b, c)| Step::Checkout(a, b, c)),
        3 => any::<(u8, u8)>().prop_map(|(a, b)| Step::Return(a, b)),
        1 => any::<(u8, u8)>().prop_map(|(a, b)| Step::Renew(a, b)),
        2 => any::<(u8, u8)>().prop_map(|(a, b)| Step::Dispatch(a, b)),
        2 => any::<u8>().prop_map(Step::Receive),
        1 => any::<(u8, u8)>().prop_map(|(a, b)| Step::Swap(a, b)),
        1 => any::<(u8, u8)>().prop_map(|(a, b)| Step::Acquire(a, b)),
        1 => any::<u8>().prop_map(Step::Lose),
        3 => (1u16..4000).prop_map(Step::Wait),
    ]
}

const ISBNS: [&str; 4] = ["9787020000012", "978-7-02-000001-2", "", "9787506300018"];

fn new_book(n: usize) -> NewBook {
    book(
        &format!("IT-{n:03}"),
        ISBNS[n % ISBNS.len()],
        &format!("Title {}", n % 5),
    )
}

fn items_where(h: &History, keep: impl Fn(&Item) -> bool) -> Vec<Item> {
    let mut items: Vec<Item> = h
        .ledger()
        .items
        .values()
        .filter(|i| keep(i))
        .cloned()
        .collect();
    items.sort_by(|a, b| a.item.cmp(&b.item));
    items
}

fn pick<T: Clone>(from: &[T], n: u8) -> Option<T> {
    (!from.is_empty()).then(|| from[usize::from(n) % from.len()].clone())
}

/// A history: the test network, stock at every library and booth, then `steps` (refusals are
/// skipped). Returns it with the instant it ends at.
fn history(steps: &[Step]) -> (History, DateTime<Utc>) {
    let mut h = network();
    let mut next = 0;
    let mut new_item = || {
        next += 1;
        new_book(next)
    };
    for owner in LIBRARIES.iter().chain(&LIBRARIES).chain(&DESKS) {
        catalogue(&mut h, t0(), owner, new_item());
    }
    let patrons = patrons();
    let mut at = t0();
    for step in steps {
        at += Duration::minutes(1);
        let (library, command) = match *step {
            Step::Checkout(a, b, c) => {
                let library = DESKS[usize::from(a) % DESKS.len()];
                let shelf = items_where(&h, |i| {
                    i.status
                        == ItemStatus::OnShelf {
                            library: library.into(),
                            homebound: false,
                        }
                });
                let Some(item) = pick(&shelf, b) else {
                    continue;
                };
                let patron = pick(&patrons, c).expect("patrons");
                (
                    Some(library),
                    Command::Checkout {
                        item: item.item,
                        patron,
                    },
                )
            }
            Step::Return(a, b) => {
                let out = items_where(&h, |i| {
                    matches!(
                        i.status,
                        ItemStatus::OnLoan { .. } | ItemStatus::Lost { .. }
                    )
                });
                let Some(item) = pick(&out, a) else { continue };
                (pick(&DESKS, b), Command::Return { item: item.item })
            }
            Step::Renew(a, b) => {
                let out = items_where(&h, |i| matches!(i.status, ItemStatus::OnLoan { .. }));
                let Some(item) = pick(&out, a) else { continue };
                let ItemStatus::OnLoan { patron_id, .. } = &item.status else {
                    unreachable!("filtered")
                };
                let patron = patrons
                    .iter()
                    .find(|p| &p.patron_id == patron_id)
                    .cloned()
                    .expect("a test patron");
                // A third of renewals come from the app, without an acting library.
                let library = (b % 3 != 0).then(|| DESKS[usize::from(b) % DESKS.len()]);
                (
                    library,
                    Command::Renew {
                        item: item.item,
                        patron,
                    },
                )
            }
            Step::Dispatch(a, b) => {
                let here = items_where(&h, |i| {
                    matches!(
                        i.status,
                        ItemStatus::OnShelf { .. } | ItemStatus::InBooth { .. }
                    )
                });
                let Some(item) = pick(&here, a) else { continue };
                let (from, homebound) = match &item.status {
                    ItemStatus::OnShelf { library, homebound } => (library.clone(), *homebound),
                    ItemStatus::InBooth { booth } => (booth.clone(), false),
                    _ => unreachable!("filtered"),
                };
                let (to, reason) = if homebound {
                    (item.owner_library.clone(), TransferReason::Repatriation)
                } else {
                    // A hold leg needs a hold behind it (ADR 0013): the others rebalance.
                    (
                        LibraryCode::from(pick(&LIBRARIES, b).expect("libraries")),
                        TransferReason::Rebalance,
                    )
                };
                let from = LIBRARIES.into_iter().find(|l| from == *l);
                (
                    from,
                    Command::DispatchTransfer {
                        item: item.item,
                        to_library: to,
                        reason,
                    },
                )
            }
            Step::Receive(a) => {
                let moving = items_where(&h, |i| matches!(i.status, ItemStatus::InTransit { .. }));
                let Some(item) = pick(&moving, a) else {
                    continue;
                };
                let ItemStatus::InTransit { to, .. } = &item.status else {
                    unreachable!("filtered")
                };
                let to = LIBRARIES.into_iter().find(|l| *l == to.as_str());
                (to, Command::ReceiveTransfer { item: item.item })
            }
            Step::Swap(a, b) => {
                let in_booth = items_where(&h, |i| matches!(i.status, ItemStatus::InBooth { .. }));
                let Some(item) = pick(&in_booth, a) else {
                    continue;
                };
                (
                    Some(ZB_BOOTH),
                    Command::BoothSwap {
                        take_item: item.item,
                        patron: pick(&patrons, b).expect("patrons"),
                        deposit: new_item(),
                    },
                )
            }
            Step::Acquire(a, b) => (
                pick(&DESKS, a),
                Command::PatronDrivenAcquisition {
                    bookstore: None,
                    patron: pick(&patrons, b).expect("patrons"),
                    book: new_item(),
                },
            ),
            Step::Lose(a) => {
                let out = items_where(&h, |i| matches!(i.status, ItemStatus::OnLoan { .. }));
                let Some(item) = pick(&out, a) else { continue };
                (None, Command::DeclareLost { item: item.item })
            }
            Step::Wait(m) => {
                at += Duration::minutes(i64::from(m));
                continue;
            }
        };
        // Refusals (a blocked patron, a patron at the limit, a homebound book...) are fine.
        let _ = h.try_run(at, library, command);
    }
    (h, at)
}

fn city_of(library: &str) -> &'static str {
    match &library[..2] {
        "JN" => "jinan",
        "ZB" => "zibo",
        _ => "urumqi",
    }
}

const CITIES: [&str; 3] = ["jinan", "zibo", "urumqi"];

/// Per day: the summed counters and day-end figures, and the largest and summed patron counts.
#[derive(Debug, Default, PartialEq)]
struct Sum {
    counters: Counters,
    on_loan: u64,
    overdue: u64,
    patrons_max: u64,
    patrons_sum: u64,
}

fn sum_by_day<'a>(rows: impl IntoIterator<Item = &'a DayFigures>) -> BTreeMap<String, Sum> {
    let mut days: BTreeMap<String, Sum> = BTreeMap::new();
    for row in rows {
        let sum = days.entry(row.day.clone()).or_default();
        sum.counters.add(&row.counters);
        sum.on_loan += row.on_loan_at_day_end;
        sum.overdue += row.overdue_at_day_end;
        sum.patrons_max = sum.patrons_max.max(row.active_patrons);
        sum.patrons_sum += row.active_patrons;
    }
    days
}

/// `whole`'s rows equal the sums of `parts`' rows, day by day; distinct patrons lie between the
/// busiest part and the sum of the parts.
fn assert_sums(whole: &[DayFigures], parts: &[DayFigures], what: &str) {
    let parts = sum_by_day(parts);
    let days: Vec<_> = whole.iter().map(|r| r.day.clone()).collect();
    assert_eq!(days, parts.keys().cloned().collect::<Vec<_>>(), "{what}");
    for row in whole {
        let sum = &parts[&row.day];
        assert_eq!(row.counters, sum.counters, "{what} {}", row.day);
        assert_eq!(
            (row.on_loan_at_day_end, row.overdue_at_day_end),
            (sum.on_loan, sum.overdue),
            "{what} {}",
            row.day
        );
        assert!(
            (sum.patrons_max..=sum.patrons_sum).contains(&row.active_patrons),
            "{what} {}: {} patrons, parts {}..={}",
            row.day,
            row.active_patrons,
            sum.patrons_max,
            sum.patrons_sum
        );
    }
}

fn total(rows: &[DayFigures]) -> Counters {
    let mut total = Counters::default();
    for row in rows {
        total.add(&row.counters);
    }
    total
}

/// What the log says the network-wide totals are, counting events directly.
fn totals_from_log(h: &History) -> Counters {
    let city = |library: &str| city_of(library);
    let local_hour = |library: &str, at: DateTime<Utc>| {
        let tz = match city(library) {
            "urumqi" => chrono_tz::Asia::Urumqi,
            _ => chrono_tz::Asia::Shanghai,
        };
        chrono::Timelike::hour(&at.with_timezone(&tz)) as usize
    };
    let mut c = Counters::default();
    for event in h.events() {
        match &event.payload {
            Payload::ItemLoaned(e) => {
                c.loans += 1;
                c.loans_by_hour.0[local_hour(&e.library, event.occurred_at)] += 1;
                c.cross_city_loans += u64::from(e.patron_home_city != city(&e.owner_library));
            }
            Payload::ItemReturned(e) => {
                c.returns += 1;
                c.returns_of_other_libraries_items += u64::from(e.library != e.owner_library);
                c.cross_city_returns += u64::from(city(&e.library) != city(&e.owner_library));
            }
            Payload::ItemRenewed(_) => c.renewals += 1,
            Payload::TransferDispatched(_) => c.transfers_out += 1,
            Payload::TransferReceived(_) => c.transfers_in += 1,
            Payload::BoothSwapped(_) => c.booth_swaps += 1,
            Payload::ItemCatalogued(e) if e.acquisition == Acquisition::PatronDriven as i32 => {
                c.patron_driven_acquisitions += 1;
            }
            Payload::PatronEnrolled(_) => c.enrolments += 1,
            Payload::PatronDrivenPurchaseRecorded(e) => c.patron_driven_spent_fen += e.price_fen,
            Payload::DigitalLoaned(e) => {
                c.digital_loans += 1;
                c.cross_city_digital_loans += u64::from(
                    !e.owner_library.is_empty() && e.patron_home_city != city(&e.owner_library),
                );
            }
            _ => {}
        }
    }
    c
}

fn whole_range(end: DateTime<Utc>) -> DayRange {
    DayRange::parse("2026-02-28", &day(end + Duration::days(1))).unwrap()
}

fn check_sums(s: &Statistics, h: &History, end: DateTime<Utc>) {
    let range = whole_range(end);
    let expected_totals = totals_from_log(h);
    for by in [TransactionLibrary, OwningLibrary] {
        let mut city_rows = Vec::new();
        for city in CITIES {
            let library_rows: Vec<DayFigures> = LIBRARIES
                .iter()
                .filter(|l| city_of(l) == city)
                .flat_map(|l| library_days(s, l, &range, by).unwrap())
                .collect();
            let rows = city_days(s, city, &range, by).unwrap();
            assert_sums(&rows, &library_rows, &format!("{city} {by:?}"));
            city_rows.extend(rows);
        }
        let network = network_days(s, &range, by);
        assert_sums(&network, &city_rows, &format!("network {by:?}"));
        assert_eq!(total(&network), expected_totals, "network totals {by:?}");
    }
}

/// Open loans: what the fold keeps equals the domain's own item states.
fn check_open_loans(s: &Statistics, h: &History, end: DateTime<Utc>) {
    let range = whole_range(end);
    for now in [end, end + Duration::days(31), end + Duration::days(400)] {
        let snapshot = monitor(s, None, now).unwrap();
        for l in &snapshot.libraries {
            let loans = |counted_for: &dyn Fn(&Item, &str) -> bool| {
                let open: Vec<_> = h
                    .ledger()
                    .items
                    .values()
                    .filter_map(|i| match &i.status {
                        ItemStatus::OnLoan {
                            library, due_at, ..
                        } if counted_for(i, library.as_str()) => Some(*due_at),
                        _ => None,
                    })
                    .collect();
                let overdue = open.iter().filter(|due| **due < now).count();
                (open.len() as u64, overdue as u64)
            };
            let lent = loans(&|_, lender| lender == l.library);
            let owned = loans(&|i, _| i.owner_library == l.library);
            assert_eq!((l.on_loan, l.overdue), lent, "{} at {now}", l.library);
            assert_eq!(
                (l.owned_on_loan, l.owned_overdue),
                owned,
                "{} at {now}",
                l.library
            );
            // The library's latest row shows the loans open now (events came in time order).
            for (by, expected) in [(TransactionLibrary, lent.0), (OwningLibrary, owned.0)] {
                if let Some(last) = library_days(s, &l.library, &range, by).unwrap().last() {
                    assert_eq!(last.on_loan_at_day_end, expected, "{} {by:?}", l.library);
                }
            }
        }
    }
}

/// Flows add up to the returns; a city's top titles add up to its loans in the month.
fn check_flows_and_titles(s: &Statistics, h: &History, end: DateTime<Utc>) {
    let range = whole_range(end);
    let months: Vec<String> = (2..=12).map(|m| format!("2026-{m:02}")).collect();
    let flowed: u64 = months
        .iter()
        .flat_map(|m| flow_matrix(s, m))
        .map(|c| c.returns)
        .sum();
    assert_eq!(flowed, totals_from_log(h).returns);
    for city in CITIES {
        let rows = city_days(s, city, &range, TransactionLibrary).unwrap();
        for month in &months {
            let loans: u64 = rows
                .iter()
                .filter(|r| r.day.starts_with(month.as_str()))
                .map(|r| r.counters.loans)
                .sum();
            let titles = top_titles(s, city, month, 100).unwrap();
            assert!(
                titles
                    .windows(2)
                    .all(|w| { (w[0].loans, &w[1].title_key) > (w[1].loans, &w[0].title_key) })
            );
            assert_eq!(titles.iter().map(|t| t.loans).sum::<u64>(), loans);
        }
    }
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn city_and_network_rows_are_the_sums_of_library_rows(steps in steps()) {
        let (h, end) = history(&steps);
        let s = fold(h.events());
        check_sums(&s, &h, end);
        check_open_loans(&s, &h, end);
        check_flows_and_titles(&s, &h, end);
    }

    #[test]
    fn a_state_restored_from_a_snapshot_mid_stream_folds_on_to_the_straight_fold(
        steps in steps(),
        cut in any::<Index>(),
    ) {
        let (h, _) = history(&steps);
        let events = h.events();
        let cut = cut.index(events.len() + 1);
        let snapshot = encode_state(&fold(&events[..cut])).unwrap();
        let mut restored: Statistics = decode_state(&snapshot).unwrap();
        prop_assert_eq!(restored.position().get(), cut as u64);
        for event in &events[cut..] {
            restored.apply(event);
        }
        let straight = fold(events);
        prop_assert_eq!(digest(&restored), digest(&straight));
        prop_assert_eq!(restored, straight);
    }
}

#[test]
fn the_same_history_folded_twice_has_the_same_digest() {
    let steps: Vec<Step> = (0u8..120)
        .map(|n| match n % 9 {
            0..=2 => Step::Checkout(n, n / 3, n / 5),
            3 | 4 => Step::Return(n, n / 7),
            5 => Step::Dispatch(n, n / 2),
            6 => Step::Receive(n),
            7 => Step::Swap(n, n),
            _ => Step::Wait(u16::from(n) * 11),
        })
        .collect();
    // Two histories decided afresh: event ids and command ids differ, the facts do not.
    let (first, _) = history(&steps);
    let (second, _) = history(&steps);
    assert_ne!(first.events()[0].event_id, second.events()[0].event_id);
    let a = fold(first.events());
    let b = fold(second.events());
    assert!(
        a.position() > Position::new(100),
        "a history worth the name"
    );
    assert_eq!(digest(&a), digest(&b));
    let (shorter, _) = history(&steps[..60]);
    assert_ne!(digest(&fold(shorter.events())), digest(&a));
}

#[test]
fn both_views_count_every_event_once() {
    let (h, end) = history(&[
        Step::Checkout(0, 0, 0),
        Step::Checkout(2, 0, 1),
        Step::Return(0, 1),
        Step::Dispatch(0, 1),
        Step::Receive(0),
        Step::Swap(0, 1),
        Step::Acquire(1, 2),
    ]);
    let s = fold(h.events());
    let range = whole_range(end);
    let totals = |by: By| total(&network_days(&s, &range, by));
    assert_eq!(totals(TransactionLibrary), totals(OwningLibrary));
    assert_eq!(totals(TransactionLibrary), totals_from_log(&h));
    assert!(totals(TransactionLibrary).loans >= 2);
}
