//! Writes a generated circulation history straight into a data directory (no server): two
//! cities, twelve libraries, items, patrons, and a stream of checkouts, returns anywhere and
//! repatriations, each decided by the real domain rules. For measuring replay until
//! `readnet simulate` exists.
//!
//! `cargo run --release -p readnet-e2e --example generate_history -- DIR [EVENTS] [SEED]`
//! then `readnet replay --data DIR`.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use readnet_domain::pb::{Acquisition, EventMetadata, LibraryTier, TransferReason};
use readnet_domain::{Command, NewBook, codec};
use readnet_projection::ProjectedEvent;
use readnet_projection::history::{History, card};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventData, EventStore, StreamState, StreamWrite};

const LIBRARIES: [(&str, &str); 12] = [
    ("JN-CENTRAL", "jinan"),
    ("JN-LIXIA-01", "jinan"),
    ("JN-LIXIA-02", "jinan"),
    ("JN-SHIZHONG-01", "jinan"),
    ("JN-TIANQIAO-01", "jinan"),
    ("JN-24H-01", "jinan"),
    ("ZB-CENTRAL", "zibo"),
    ("ZB-ZHOUCUN-01", "zibo"),
    ("ZB-ZHANGDIAN-01", "zibo"),
    ("ZB-BOSHAN-01", "zibo"),
    ("ZB-LINZI-01", "zibo"),
    ("ZB-24H-01", "zibo"),
];
const ITEMS: usize = 20_000;
const PATRONS: usize = 8_000;

fn encode(event: &ProjectedEvent) -> EventData {
    let metadata = EventMetadata {
        occurred_at_us: event.occurred_at.timestamp_micros(),
        acting_library: event.acting_library.clone(),
        channel: event.channel as i32,
        command_id: event
            .command_id
            .map(|c| c.as_bytes().to_vec())
            .unwrap_or_default(),
        schema_version: codec::CURRENT_SCHEMA_VERSION,
        ..Default::default()
    };
    EventData {
        event_id: event.event_id,
        event_type: codec::event_type(&event.payload).to_owned(),
        metadata: codec::encode_metadata(&metadata),
        data: codec::encode(&event.payload),
    }
}

/// Appends events in order, as few appends as possible: a write per run of one stream, a new
/// append whenever a stream comes back (the store takes each stream once per append).
async fn write(store: &dyn EventStore, events: Vec<ProjectedEvent>) {
    let mut writes: Vec<StreamWrite> = Vec::new();
    let mut streams = std::collections::HashSet::new();
    for event in events {
        if writes.last().is_none_or(|w| w.stream != event.stream) {
            if !streams.insert(event.stream.clone()) {
                store
                    .append_multi(std::mem::take(&mut writes))
                    .await
                    .expect("append");
                streams.clear();
                streams.insert(event.stream.clone());
            }
            writes.push(StreamWrite {
                stream: event.stream.clone(),
                expected: StreamState::Any,
                events: Vec::new(),
            });
        }
        writes
            .last_mut()
            .expect("a write")
            .events
            .push(encode(&event));
    }
    if !writes.is_empty() {
        store.append_multi(writes).await.expect("append");
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: generate_history DIR [EVENTS] [SEED]");
    let target: u64 = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("EVENTS is a number"));
    let seed: u64 = args
        .next()
        .map_or(7, |a| a.parse().expect("SEED is a number"));
    let store: Arc<dyn EventStore> = Arc::new(
        EmbeddedStore::open(
            std::path::Path::new(&dir).join("log"),
            EmbeddedOptions::default(),
        )
        .await
        .expect("the data directory opens"),
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let mut history = History::new();
    let mut at = Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap();
    for (city, name) in [("jinan", "济南"), ("zibo", "淄博")] {
        history.run(
            at,
            None,
            Command::JoinCity {
                city: city.into(),
                name: name.into(),
                time_zone: String::new(),
            },
        );
    }
    for (library, city) in LIBRARIES {
        let tier = if library.ends_with("CENTRAL") {
            LibraryTier::Central
        } else {
            LibraryTier::Branch
        };
        history.run(
            at,
            None,
            Command::RegisterLibrary {
                library: library.into(),
                name: library.into(),
                city: city.into(),
                tier,
                parent: None,
            },
        );
    }
    for i in 0..ITEMS {
        let (owner, _) = LIBRARIES[i % LIBRARIES.len()];
        // Zipf-like popularity: a few titles have many copies.
        let title = (rng.random::<f64>().powi(3) * 2_000.0) as usize;
        history.run(
            at,
            None,
            Command::CatalogueItem {
                book: NewBook {
                    item: format!("IT-{i:06}"),
                    isbn: format!("978700{title:07}"),
                    title: format!("Title {title}"),
                    author: format!("Author {}", title % 300),
                    price_fen: Some(1_000 + (title as i64 % 50) * 100),
                },
                owner_library: owner.into(),
                acquisition: Acquisition::Purchase,
            },
        );
    }
    let mut written = 0;
    let started = std::time::Instant::now();
    while written < target {
        at += Duration::seconds(rng.random_range(1..20));
        let item = format!("IT-{:06}", rng.random_range(0..ITEMS));
        let status = history.ledger().items.get(&item).map(|i| i.status.clone());
        let (library, city) = LIBRARIES[rng.random_range(0..LIBRARIES.len())];
        let command = match status {
            Some(readnet_domain::ItemStatus::OnShelf {
                library: here,
                homebound: false,
            }) => {
                let patron_city = if rng.random_bool(0.8) {
                    city
                } else {
                    ["jinan", "zibo"][rng.random_range(0..2)]
                };
                let patron = card(
                    patron_city,
                    &format!("{:010}", rng.random_range(0..PATRONS)),
                );
                (here, Command::Checkout { item, patron })
            }
            Some(readnet_domain::ItemStatus::OnShelf {
                library: here,
                homebound: true,
            }) => {
                let owner = history.ledger().items[&item].owner_library.clone();
                (
                    here,
                    Command::DispatchTransfer {
                        item,
                        to_library: owner,
                        reason: TransferReason::Repatriation,
                    },
                )
            }
            Some(readnet_domain::ItemStatus::OnLoan { .. }) => {
                (library.to_owned(), Command::Return { item })
            }
            Some(readnet_domain::ItemStatus::InTransit { to, .. }) => {
                (to, Command::ReceiveTransfer { item })
            }
            _ => continue,
        };
        if history.try_run(at, Some(&command.0), command.1).is_ok()
            && history.events().len() >= 20_000
        {
            let events = history.drain();
            written += events.len() as u64;
            write(store.as_ref(), events).await;
        }
    }
    let events = history.drain();
    write(store.as_ref(), events).await;
    println!(
        "{} events written to {dir} in {:.1} s (seed {seed})",
        store.head_position(),
        started.elapsed().as_secs_f64()
    );
}
