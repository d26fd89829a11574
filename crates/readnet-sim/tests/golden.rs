//! The digests of a fixed history, written down: a change to a fold, to a state's shape or to
//! the digest's definition (ADR 0022) changes them, and must be deliberate. And every
//! projection's state, folded from that history, survives its canonical (binary) encoding.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use readnet_availability::Availability;
use readnet_projection::{Pipeline, Projection, decode_state, digest, encode_state};
use readnet_settlement::Settlement;
use readnet_sim::{Scale, Simulator};
use readnet_statistics::Statistics;
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use uuid::Uuid;

/// The seed and length of the fixed history: small, so that a debug build folds it quickly.
const SEED: u64 = 11;
const DAYS: u32 = 3;

/// The digests of the fixed history (availability, statistics, settlement). Change them only
/// with a deliberate change of a fold (and its `VERSION`), of a state's shape, or of the
/// digest's definition, saying so in the commit.
const GOLDEN: [&str; 3] = [
    "7870e1cac5c5999a6ad5e5a3172b74f4f823b0f3efd3e50e39d209e08313b79b",
    "81745cb5d139e9ecf9e43e6058769264c31220eb401aea0c7e8860d0c56c3909",
    "25f0282c39ae247b3efdf2c0093cf29655eeb432aefea6fe227b503e7e313ceb",
];

/// The simulator's history written into a fresh store with nothing left to chance: event and
/// command ids numbered in order (the simulator decides with random ones), and the store's
/// clock a counter.
async fn fixed_history(dir: &std::path::Path) -> EmbeddedStore {
    let ticks = Arc::new(AtomicI64::new(0));
    let options = EmbeddedOptions {
        clock: Arc::new(move || 1_800_000_000_000_000 + ticks.fetch_add(1_000, Ordering::Relaxed)),
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(dir, options).await.unwrap();
    let mut sim = Simulator::new(Scale::small(), SEED, Simulator::default_first_day(), DAYS);
    let (mut events, mut commands) = (0u128, HashMap::new());
    while let Some(mut chunk) = sim.next_chunk() {
        for event in chunk.iter_mut().flat_map(|step| &mut step.events) {
            events += 1;
            event.event_id = Uuid::from_u128(events);
            event.command_id = event.command_id.map(|id| {
                let next = commands.len() as u128 + 1;
                Uuid::from_u128((1 << 64) | *commands.entry(id).or_insert(next))
            });
        }
        readnet_sim::store::write(&store, chunk).await.unwrap();
    }
    store
}

async fn fold_three(
    store: &EmbeddedStore,
) -> (
    (Availability, String),
    (Statistics, String),
    (Settlement, String),
) {
    let mut pipeline = Pipeline::new();
    let availability = pipeline.fold_digested::<Availability>();
    let statistics = pipeline.fold_digested::<Statistics>();
    let settlement = pipeline.fold_digested::<Settlement>();
    pipeline.run(store, None, |_| {}).await.unwrap();
    let a = availability.finish().await.unwrap();
    let s = statistics.finish().await.unwrap();
    let t = settlement.finish().await.unwrap();
    (
        (a.state, a.digest.unwrap()),
        (s.state, s.digest.unwrap()),
        (t.state, t.digest.unwrap()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_history_has_the_golden_digests() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = fold_three(&fixed_history(one.path()).await).await;
    let second = fold_three(&fixed_history(two.path()).await).await;
    let digests = [&first.0.1, &first.1.1, &first.2.1];
    // Two stores written from the same history fold to the same digests: nothing random
    // reaches a state.
    assert_eq!(digests, [&second.0.1, &second.1.1, &second.2.1]);
    // The digest computed on a projection's own thread is the digest of its state.
    assert_eq!(
        digests,
        [
            &digest(&first.0.0),
            &digest(&first.1.0),
            &digest(&first.2.0)
        ]
    );
    assert!(
        digests.iter().zip(GOLDEN).all(|(d, g)| d.as_str() == g),
        "the digests of the fixed history changed:\n\
         availability {}\nstatistics   {}\nsettlement   {}\n\
         Change GOLDEN to these only for a deliberate change of a fold (with its VERSION), of \
         a state's shape or of the digest's definition (ADR 0022), and say so in the commit.",
        digests[0],
        digests[1],
        digests[2]
    );
}

/// A projection's state encoded and decoded is the state: what a snapshot relies on, and what
/// a serde attribute the format cannot carry (see `readnet_projection::canonical`) breaks.
fn round_trips<P: Projection + PartialEq + std::fmt::Debug>(state: &P) {
    let bytes = encode_state(state).unwrap();
    let decoded: P = decode_state(&bytes)
        .unwrap_or_else(|e| panic!("{} does not decode from its encoding: {e}", P::NAME));
    assert!(decoded == *state, "{} changed in a round trip", P::NAME);
    assert_eq!(encode_state(&decoded).unwrap(), bytes, "{}", P::NAME);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_projection_folded_from_a_history_round_trips_through_its_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixed_history(dir.path()).await;
    let ((availability, _), (statistics, _), (settlement, _)) = fold_three(&store).await;
    assert!(
        store.head_position().get() > 2_000,
        "a history worth the name: {}",
        store.head_position()
    );
    assert!(!settlement.periods().is_empty(), "settlement has charges");
    round_trips(&availability);
    round_trips(&statistics);
    round_trips(&settlement);
}
