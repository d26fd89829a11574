//! Random histories, decided by the real domain rules: the incremental counts equal a recount of
//! the domain's own items, snapshots resume exactly, and the digest depends on the history only.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use proptest::prelude::*;
use proptest::sample::Index;
use readnet_availability::title::title_key;
use readnet_availability::{Availability, Counts, Place, StatusCounts};
use readnet_domain::pb::TransferReason;
use readnet_domain::{Command, Fen, Item, ItemCode, ItemStatus, Ledger, NewBook, PatronRef};
use readnet_ledger::history::card;
use readnet_projection::{Payload, Projection, decode_state, digest, encode_state};

use crate::support::*;

/// Titles that collide on purpose: an ISBN-10 and its ISBN-13, full-width and half-width text.
const TITLES: [(&str, &str, &str); 7] = [
    ("978-7-5366-9293-0", "三体", "刘慈欣"),
    ("7-5366-9293-5", "三体", "刘慈欣"),
    ("", "三体", "刘慈欣"),
    ("", "三 体", "刘慈欣"),
    ("", "ＴＨＲＥＥ　ＢＯＤＹ", "Liu Cixin"),
    ("", "three body", "LIU  CIXIN"),
    ("978-7-5063-6543-7", "活着", "余华"),
];

fn patrons() -> [PatronRef; 4] {
    [
        card("jinan", "370102199001011234"),
        card("jinan", "370102199202022345"),
        card("zibo", "370303198505052345"),
        card("taian", "370902197707073456"),
    ]
}

/// One step of a random history. Indices pick among what exists, modulo its count.
#[derive(Debug, Clone)]
enum Step {
    Catalogue {
        owner: usize,
        title: usize,
    },
    Checkout {
        item: usize,
        patron: usize,
    },
    Renew {
        item: usize,
    },
    Return {
        item: usize,
        library: usize,
    },
    Dispatch {
        item: usize,
        to: usize,
    },
    Receive {
        item: usize,
    },
    Swap {
        item: usize,
        patron: usize,
        title: usize,
    },
    PatronDriven {
        library: usize,
        patron: usize,
        title: usize,
    },
    Lost {
        item: usize,
    },
    Pay {
        item: usize,
    },
    Withdraw {
        item: usize,
    },
    Close {
        library: usize,
    },
    Later {
        days: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let n = || 0..64usize;
    prop_oneof![
        4 => (n(), n()).prop_map(|(owner, title)| Step::Catalogue { owner, title }),
        5 => (n(), n()).prop_map(|(item, patron)| Step::Checkout { item, patron }),
        1 => n().prop_map(|item| Step::Renew { item }),
        4 => (n(), n()).prop_map(|(item, library)| Step::Return { item, library }),
        3 => (n(), n()).prop_map(|(item, to)| Step::Dispatch { item, to }),
        3 => n().prop_map(|item| Step::Receive { item }),
        2 => (n(), n(), n()).prop_map(|(item, patron, title)| Step::Swap { item, patron, title }),
        1 => (n(), n(), n()).prop_map(|(library, patron, title)| Step::PatronDriven {
            library,
            patron,
            title
        }),
        1 => n().prop_map(|item| Step::Lost { item }),
        1 => n().prop_map(|item| Step::Pay { item }),
        1 => n().prop_map(|item| Step::Withdraw { item }),
        1 => (0..200usize).prop_map(|library| Step::Close { library }),
        1 => (1..20i64).prop_map(|days| Step::Later { days }),
    ]
}

fn new_book(id: usize, title: usize) -> NewBook {
    let (isbn, title, author) = TITLES[title % TITLES.len()];
    book(&format!("I-{id:04}"), isbn, title, author)
}

/// Where the item is, for choosing the acting library of a command that should be accepted.
fn location(ledger: &Ledger, item: &str) -> Option<String> {
    match &ledger.items[item].status {
        ItemStatus::OnShelf { library, .. } => Some(library.to_string()),
        ItemStatus::InBooth { booth } => Some(booth.to_string()),
        ItemStatus::InTransit { to, .. } => Some(to.to_string()),
        _ => None,
    }
}

/// Runs the steps against the domain; refused commands record nothing, as in the server.
fn run(steps: &[Step]) -> Net {
    let mut net = Net::new();
    let patrons = patrons();
    let mut next_id = 0;
    for step in steps {
        net.at += Duration::hours(1);
        let ledger = net.history.ledger();
        let items: Vec<String> = ledger
            .items
            .keys()
            .map(ItemCode::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let item = |i: usize| items.get(i % items.len().max(1)).cloned();
        // Mostly an item the command fits, so that most commands are accepted; now and then any
        // item, so that refusals (which record nothing) are in the mix too.
        let pick = |i: usize, fits: fn(&Item) -> bool| {
            let fitting: Vec<&String> = items
                .iter()
                .filter(|id| fits(&ledger.items[id.as_str()]))
                .collect();
            match fitting.len() {
                0 => item(i),
                n if !i.is_multiple_of(8) => Some(fitting[i % n].clone()),
                _ => item(i),
            }
        };
        let library = |i: usize| LIBRARIES[i % LIBRARIES.len()].0.to_owned();
        let (acting, command): (Option<String>, Command) = match step.clone() {
            Step::Catalogue { owner, title } => {
                next_id += 1;
                (
                    None,
                    Command::CatalogueItem {
                        book: new_book(next_id, title),
                        owner_library: library(owner).into(),
                        acquisition: readnet_domain::pb::Acquisition::Purchase,
                    },
                )
            }
            Step::Checkout { item: i, patron } => {
                let Some(item) = pick(i, |i| {
                    matches!(
                        i.status,
                        ItemStatus::OnShelf {
                            homebound: false,
                            ..
                        }
                    )
                }) else {
                    continue;
                };
                let at = location(ledger, &item).unwrap_or_else(|| library(i));
                (
                    Some(at),
                    Command::Checkout {
                        item: item.into(),
                        patron: patrons[patron % patrons.len()].clone(),
                    },
                )
            }
            Step::Renew { item: i } => {
                let Some(item) = pick(i, |i| matches!(i.status, ItemStatus::OnLoan { .. })) else {
                    continue;
                };
                let patron = match &ledger.items[item.as_str()].status {
                    ItemStatus::OnLoan { patron_id, .. } => patrons
                        .iter()
                        .find(|p| &p.patron_id == patron_id)
                        .cloned()
                        .unwrap_or_else(|| patrons[0].clone()),
                    _ => patrons[0].clone(),
                };
                (
                    None,
                    Command::Renew {
                        item: item.into(),
                        patron,
                    },
                )
            }
            Step::Return {
                item: i,
                library: l,
            } => {
                let Some(item) = pick(i, |i| {
                    matches!(
                        i.status,
                        ItemStatus::OnLoan { .. } | ItemStatus::Lost { .. }
                    )
                }) else {
                    continue;
                };
                // A third of returns are made where the item was lent; the rest anywhere.
                let at = match &ledger.items[item.as_str()].status {
                    ItemStatus::OnLoan { library, .. } if l % 3 == 0 => library.to_string(),
                    _ => library(l),
                };
                (Some(at), Command::Return { item: item.into() })
            }
            Step::Dispatch { item: i, to } => {
                let Some(item) = pick(i, |i| {
                    matches!(
                        i.status,
                        ItemStatus::OnShelf { .. } | ItemStatus::InBooth { .. }
                    )
                }) else {
                    continue;
                };
                let from = location(ledger, &item).unwrap_or_else(|| library(i));
                let record = &ledger.items[item.as_str()];
                let (to_library, reason) = match &record.status {
                    ItemStatus::OnShelf {
                        homebound: true, ..
                    } => (
                        record.owner_library.to_string(),
                        TransferReason::Repatriation,
                    ),
                    // A hold leg needs a hold behind it (ADR 0013).
                    _ => (library(to), TransferReason::Rebalance),
                };
                (
                    Some(from),
                    Command::DispatchTransfer {
                        item: item.into(),
                        to_library: to_library.into(),
                        reason,
                    },
                )
            }
            Step::Receive { item: i } => {
                let Some(item) = pick(i, |i| matches!(i.status, ItemStatus::InTransit { .. }))
                else {
                    continue;
                };
                let at = location(ledger, &item).unwrap_or_else(|| library(i));
                (Some(at), Command::ReceiveTransfer { item: item.into() })
            }
            Step::Swap {
                item: i,
                patron,
                title,
            } => {
                let Some(item) = pick(i, |i| matches!(i.status, ItemStatus::InBooth { .. })) else {
                    continue;
                };
                let at = location(ledger, &item).unwrap_or_else(|| library(i));
                next_id += 1;
                (
                    Some(at),
                    Command::BoothSwap {
                        take_item: item.into(),
                        patron: patrons[patron % patrons.len()].clone(),
                        deposit: new_book(next_id, title),
                    },
                )
            }
            Step::PatronDriven {
                library: l,
                patron,
                title,
            } => {
                next_id += 1;
                (
                    Some(library(l)),
                    Command::PatronDrivenAcquisition {
                        bookstore: None,
                        patron: patrons[patron % patrons.len()].clone(),
                        book: new_book(next_id, title),
                    },
                )
            }
            Step::Lost { item: i } => {
                let Some(item) = pick(i, |i| matches!(i.status, ItemStatus::OnLoan { .. })) else {
                    continue;
                };
                (None, Command::DeclareLost { item: item.into() })
            }
            Step::Pay { item: i } => {
                let Some(item) = pick(i, |i| i.lost_debt().is_some()) else {
                    continue;
                };
                let amount_fen = ledger.items[item.as_str()]
                    .lost_debt()
                    .map_or(Fen(1), |d| d.outstanding_fen);
                (
                    None,
                    Command::PayLostItem {
                        item: item.into(),
                        amount_fen,
                    },
                )
            }
            Step::Withdraw { item: i } => {
                let Some(item) = pick(i, |i| {
                    matches!(
                        i.status,
                        ItemStatus::OnShelf { .. }
                            | ItemStatus::InBooth { .. }
                            | ItemStatus::Lost { .. }
                    )
                }) else {
                    continue;
                };
                (
                    None,
                    Command::Withdraw {
                        item: item.into(),
                        reason: "worn out".into(),
                    },
                )
            }
            // Rare: most values name no library, so most histories keep every library open.
            Step::Close { library: l } => {
                let Some((library, ..)) = LIBRARIES.get(l) else {
                    continue;
                };
                (
                    None,
                    Command::CloseLibrary {
                        library: (*library).into(),
                        reason: "renovation".into(),
                    },
                )
            }
            Step::Later { days } => {
                net.at += Duration::days(days);
                continue;
            }
        };
        let at = net.at;
        let _ = net.history.try_run(at, acting.as_deref(), command);
    }
    net
}

/// The counts, recounted from scratch from the domain's own fold of the same history.
#[derive(Debug, Default, PartialEq)]
struct Recount {
    cells: BTreeMap<(String, String), Counts>,
    libraries: BTreeMap<String, Counts>,
    booths: BTreeMap<String, BTreeSet<String>>,
    statuses: StatusCounts,
}

fn bump(counts: &mut Counts, status: &ItemStatus) {
    match status {
        ItemStatus::OnShelf { homebound, .. } => {
            counts.on_shelf += 1;
            counts.homebound += u32::from(*homebound);
        }
        ItemStatus::OnLoan { .. } => counts.on_loan += 1,
        ItemStatus::InTransit { .. } => counts.in_transit_to += 1,
        ItemStatus::InBooth { .. } => counts.in_booth += 1,
        ItemStatus::Lost { .. } | ItemStatus::Withdrawn | ItemStatus::ExchangedOut => {}
    }
}

fn recount(ledger: &Ledger) -> Recount {
    let mut r = Recount::default();
    for (id, item) in &ledger.items {
        let key = title_key(&item.isbn, &item.title, &item.author);
        let library = match &item.status {
            ItemStatus::OnShelf { library, .. } => {
                r.statuses.on_shelf += 1;
                Some(library.to_string())
            }
            ItemStatus::OnLoan { library, .. } => {
                r.statuses.on_loan += 1;
                Some(library.to_string())
            }
            ItemStatus::InTransit { to, .. } => {
                r.statuses.in_transit += 1;
                Some(to.to_string())
            }
            ItemStatus::InBooth { booth } => {
                r.statuses.in_booth += 1;
                r.booths
                    .entry(booth.to_string())
                    .or_default()
                    .insert(id.to_string());
                Some(booth.to_string())
            }
            ItemStatus::Lost { .. } => {
                r.statuses.lost += 1;
                None
            }
            ItemStatus::Withdrawn => {
                r.statuses.withdrawn += 1;
                None
            }
            ItemStatus::ExchangedOut => {
                r.statuses.exchanged_out += 1;
                None
            }
        };
        if let Some(library) = library {
            bump(
                r.cells.entry((key, library.clone())).or_default(),
                &item.status,
            );
            bump(r.libraries.entry(library).or_default(), &item.status);
        }
    }
    r
}

fn projected(state: &Availability) -> Recount {
    let mut r = Recount {
        statuses: state.statuses(),
        ..Recount::default()
    };
    for (key, title) in state.titles() {
        let mut sum = Counts::default();
        for (library, counts) in &title.libraries {
            r.cells
                .insert((key.to_owned(), library.as_str().to_owned()), *counts);
            sum.on_shelf += counts.on_shelf;
            sum.homebound += counts.homebound;
            sum.on_loan += counts.on_loan;
            sum.in_transit_to += counts.in_transit_to;
            sum.in_booth += counts.in_booth;
            assert!(
                state
                    .library(library.as_str())
                    .unwrap()
                    .titles
                    .contains(key),
                "{library} lists {key}"
            );
        }
        assert_eq!(title.network, sum, "{key}'s network counts are its cells'");
    }
    for (library, ..) in LIBRARIES {
        if let Some(record) = state.library(library) {
            r.libraries.insert(library.to_owned(), record.totals);
            for key in &record.titles {
                assert!(
                    !state.counts(key, library).is_zero(),
                    "{library} lists {key}"
                );
            }
        }
        let booth: BTreeSet<String> = state.booth_items(library).map(str::to_owned).collect();
        if !booth.is_empty() {
            r.booths.insert(library.to_owned(), booth);
        }
    }
    r
}

/// The projection's place of each item agrees with the domain's status.
fn assert_places_agree(state: &Availability, ledger: &Ledger) {
    assert_eq!(state.items().count(), ledger.items.len());
    for (id, item) in &ledger.items {
        let place = &state.item(id.as_str()).unwrap().place;
        let agrees = match (&item.status, place) {
            (
                ItemStatus::OnShelf { library, homebound },
                Place::OnShelf {
                    library: l,
                    homebound: h,
                    held,
                },
            ) => library == l && homebound == h && *held == item.hold.is_some(),
            (
                ItemStatus::OnLoan {
                    library,
                    due_at,
                    renewals,
                    ..
                },
                Place::OnLoan {
                    library: l,
                    due_at_us,
                    renewals: r,
                },
            ) => library == l && due_at.timestamp_micros() == *due_at_us && renewals == r,
            (
                ItemStatus::InTransit { from, to, reason },
                Place::InTransit {
                    from: f,
                    to: t,
                    reason: r,
                },
            ) => from == f && to == t && *reason as i32 == *r,
            (ItemStatus::InBooth { booth }, Place::InBooth { booth: b }) => booth == b,
            (ItemStatus::Lost { .. }, Place::Lost)
            | (ItemStatus::Withdrawn, Place::Withdrawn)
            | (ItemStatus::ExchangedOut, Place::ExchangedOut) => true,
            _ => false,
        };
        assert!(
            agrees,
            "{id}: the domain says {:?}, availability {place:?}",
            item.status
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn counts_equal_a_recount_of_the_domains_items_after_random_histories(
        steps in prop::collection::vec(step(), 1..120)
    ) {
        let net = run(&steps);
        let state = net.fold();
        let ledger = net.history.ledger();
        prop_assert_eq!(projected(&state), recount(ledger));
        assert_places_agree(&state, ledger);
        prop_assert_eq!(state.position().get(), net.history.events().len() as u64);
    }

    #[test]
    fn a_snapshot_taken_mid_stream_and_continued_equals_the_straight_fold(
        steps in prop::collection::vec(step(), 1..80),
        split in any::<Index>(),
    ) {
        let net = run(&steps);
        let events = net.history.events();
        let split = split.index(events.len() + 1);
        let snapshot = encode_state(&fold(&events[..split])).unwrap();
        let mut resumed: Availability = decode_state(&snapshot).unwrap();
        prop_assert_eq!(resumed.position().get(), split as u64);
        for event in &events[split..] {
            resumed.apply(event);
        }
        let straight = fold(events);
        prop_assert_eq!(digest(&resumed), digest(&straight));
        prop_assert_eq!(resumed, straight);
    }

    #[test]
    fn the_same_history_twice_gives_the_same_digest(
        steps in prop::collection::vec(step(), 1..80)
    ) {
        // Two runs decide the same commands with fresh event and command ids.
        let (first, second) = (run(&steps), run(&steps));
        prop_assert_ne!(
            first.history.events().first().map(|e| e.event_id),
            second.history.events().first().map(|e| e.event_id)
        );
        prop_assert_eq!(digest(&first.fold()), digest(&second.fold()));
    }
}

#[test]
fn the_step_generator_reaches_every_item_event() {
    // Guards the generator: the properties above mean little if most commands were refused.
    let steps: Vec<Step> = (0..600)
        .map(|i| match i % 13 {
            0 | 1 => Step::Catalogue {
                owner: i / 13,
                title: i,
            },
            2 | 3 => Step::Checkout {
                item: i * 7,
                patron: i,
            },
            4 => Step::Return {
                item: i * 5,
                library: i / 3,
            },
            5 => Step::Dispatch {
                item: i * 3,
                to: i / 5,
            },
            6 => Step::Receive { item: i * 11 },
            7 => Step::Swap {
                item: i * 13,
                patron: i,
                title: i,
            },
            8 => Step::Lost { item: i * 17 },
            9 => Step::Pay { item: i * 17 },
            10 => Step::Withdraw { item: i * 19 },
            11 => Step::PatronDriven {
                library: i,
                patron: i / 2,
                title: i,
            },
            _ => Step::Renew { item: i * 23 },
        })
        .collect();
    let net = run(&steps);
    let mut seen = BTreeSet::new();
    for event in net.history.events() {
        let kind = match &event.payload {
            Payload::ItemReturned(e) if e.homebound => "ItemReturned homebound",
            Payload::ItemReturned(e) if e.was_lost => "ItemReturned was lost",
            Payload::ItemReturned(_) => "ItemReturned",
            Payload::TransferReceived(e) if e.in_booth => "TransferReceived in booth",
            other => readnet_domain::codec::event_type(other),
        };
        seen.insert(kind);
    }
    for kind in [
        "ItemCatalogued",
        "ItemLoaned",
        "ItemRenewed",
        "ItemReturned",
        "ItemReturned homebound",
        "TransferDispatched",
        "TransferReceived",
        "TransferReceived in booth",
        "BoothSwapped",
        "ItemDeclaredLost",
        "LostItemPaid",
        "ItemWithdrawn",
    ] {
        assert!(seen.contains(kind), "no {kind} in {seen:?}");
    }
    assert_eq!(projected(&net.fold()), recount(net.history.ledger()));
}
