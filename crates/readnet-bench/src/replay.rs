//! Replaying the log into the projections: a generated circulation history written straight
//! into a store, then folded by `readnet_projection::replay`, one projection at a time and all
//! three in one pass.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use readnet_availability::Availability;
use readnet_domain::pb::{Acquisition, EventMetadata, LibraryTier, TransferReason};
use readnet_domain::{Command, ItemStatus, NewBook, codec};
use readnet_projection::history::{History, card};
use readnet_projection::{ProjectedEvent, Projection, RunnerError, replay};
use readnet_settlement::Settlement;
use readnet_statistics::Statistics;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{Direction, EventData, EventStore, ReadFrom, StreamState, StreamWrite};
use serde::Serialize;

use crate::BenchError;

/// Libraries of the generated network: a central library and two branches in each city.
const LIBRARIES: [(&str, &str); 6] = [
    ("JN-CENTRAL", "jinan"),
    ("JN-LIXIA-01", "jinan"),
    ("JN-24H-01", "jinan"),
    ("ZB-CENTRAL", "zibo"),
    ("ZB-ZHOUCUN-01", "zibo"),
    ("ZB-24H-01", "zibo"),
];
/// Seed of the generated history: the same events (bar ids) on every run.
const SEED: u64 = 7;
/// Events generated before they are written to the store.
const WRITE_BATCH: usize = 20_000;
/// Events read per page when folding all three projections (as `readnet replay` does).
const PAGE: usize = 1024;

/// Folding the log into projections.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayRate {
    /// Events in the log replayed.
    pub events: u64,
    /// One pass per projection, then all three in one pass.
    pub passes: Vec<ReplayPass>,
}

/// One timed replay of the whole log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayPass {
    /// The projection's name, or `all three, one pass`.
    pub projection: String,
    #[serde(rename = "elapsed_us", serialize_with = "crate::stats::micros")]
    pub elapsed: Duration,
    pub events_per_s: f64,
}

/// Writes a generated history of at least `events` events (two cities, six libraries,
/// items, patrons, checkouts, returns anywhere, repatriations; every command decided by the
/// domain) straight into a fresh store in `dir` (not timed), closes it, reopens it, and times
/// `replay` of each projection and of all three in one pass (each event decoded once).
pub async fn replay_rate(dir: &Path, events: usize) -> Result<ReplayRate, BenchError> {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).await?;
    generate(&store, events as u64).await?;
    store.close().await;
    drop(store);

    let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).await?;
    let head = store.head_position();
    let mut passes = Vec::with_capacity(4);
    passes.push(timed::<Availability>(&store, head).await?);
    passes.push(timed::<Statistics>(&store, head).await?);
    passes.push(timed::<Settlement>(&store, head).await?);
    let started = Instant::now();
    let applied = fold_all(&store, head).await?;
    assert_eq!(applied, head, "one pass folds every event");
    passes.push(pass("all three, one pass", head, started.elapsed()));
    store.close().await;
    Ok(ReplayRate {
        events: head,
        passes,
    })
}

fn pass(projection: &str, events: u64, elapsed: Duration) -> ReplayPass {
    ReplayPass {
        projection: projection.to_owned(),
        elapsed,
        events_per_s: events as f64 / elapsed.as_secs_f64().max(1e-9),
    }
}

async fn timed<P: Projection>(store: &EmbeddedStore, head: u64) -> Result<ReplayPass, BenchError> {
    let started = Instant::now();
    let state: P = replay(store, Some(head), |_| {}).await?;
    let elapsed = started.elapsed();
    assert_eq!(state.position(), head, "{} folded every event", P::NAME);
    Ok(pass(P::NAME, head, elapsed))
}

/// The three projections from one read of the log, each event decoded once: `readnet replay`'s
/// fold. Returns the position folded through.
async fn fold_all(store: &EmbeddedStore, through: u64) -> Result<u64, BenchError> {
    let mut availability = Availability::default();
    let mut statistics = Statistics::default();
    let mut settlement = Settlement::default();
    let mut next = 1;
    while next <= through {
        let page = store
            .read_all(ReadFrom::At(next), Direction::Forwards, PAGE)
            .await?;
        let Some(end) = page.last().map(|e| e.position) else {
            break;
        };
        for event in page.iter().take_while(|e| e.position <= through) {
            let event = ProjectedEvent::decode(event).map_err(RunnerError::from)?;
            availability.apply(&event);
            statistics.apply(&event);
            settlement.apply(&event);
        }
        next = end + 1;
    }
    assert_eq!(availability.position(), settlement.position());
    assert_eq!(statistics.position(), settlement.position());
    Ok(settlement.position())
}

/// The store's form of a generated event.
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

/// Appends events in order in as few appends as possible: one write per run of a stream, a
/// new append whenever a stream comes back (an append takes each stream once).
async fn write(store: &EmbeddedStore, events: Vec<ProjectedEvent>) -> Result<(), BenchError> {
    let mut writes: Vec<StreamWrite> = Vec::new();
    let mut streams = HashSet::new();
    for event in events {
        if writes.last().is_none_or(|w| w.stream != event.stream) {
            if !streams.insert(event.stream.clone()) {
                store.append_multi(std::mem::take(&mut writes)).await?;
                streams.clear();
                streams.insert(event.stream.clone());
            }
            writes.push(StreamWrite {
                stream: event.stream.clone(),
                expected: StreamState::Any,
                events: Vec::new(),
            });
        }
        let write = writes.last_mut().expect("a write was just pushed");
        write.events.push(encode(&event));
    }
    if !writes.is_empty() {
        store.append_multi(writes).await?;
    }
    Ok(())
}

/// Generates at least `target` events (stopping after the command that reaches it) and writes
/// them to `store` in batches. Items and patrons scale with the target.
async fn generate(store: &EmbeddedStore, target: u64) -> Result<(), BenchError> {
    let items = (target as usize / 50).clamp(100, 20_000);
    let patrons = (items * 2 / 5).max(20);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut history = History::new();
    let mut at = Utc
        .with_ymd_and_hms(2026, 1, 1, 1, 0, 0)
        .single()
        .expect("a valid start time");
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
    for i in 0..items {
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
    while written + (history.events().len() as u64) < target {
        at += chrono::Duration::seconds(rng.random_range(1..20));
        let item = format!("IT-{:06}", rng.random_range(0..items));
        let status = history.ledger().items.get(&item).map(|i| i.status.clone());
        let (library, city) = LIBRARIES[rng.random_range(0..LIBRARIES.len())];
        let (at_library, command) = match status {
            Some(ItemStatus::OnShelf {
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
                    &format!("{:010}", rng.random_range(0..patrons)),
                );
                (here, Command::Checkout { item, patron })
            }
            Some(ItemStatus::OnShelf {
                library: here,
                homebound: true,
            }) => {
                let owner = history.ledger().items[&item].owner_library.clone();
                let command = Command::DispatchTransfer {
                    item,
                    to_library: owner,
                    reason: TransferReason::Repatriation,
                };
                (here, command)
            }
            Some(ItemStatus::OnLoan { .. }) => (library.to_owned(), Command::Return { item }),
            Some(ItemStatus::InTransit { to, .. }) => (to, Command::ReceiveTransfer { item }),
            _ => continue,
        };
        if history.try_run(at, Some(&at_library), command).is_ok()
            && history.events().len() >= WRITE_BATCH
        {
            let events = history.drain();
            written += events.len() as u64;
            write(store, events).await?;
        }
    }
    write(store, history.drain()).await
}
