//! Replaying the log into the projections: a history from the simulator written straight
//! into a store, then folded by `readnet_projection::replay`, one projection at a time and all
//! three in one pass.

use std::path::Path;
use std::time::{Duration, Instant};

use readnet_availability::Availability;
use readnet_projection::{Projection, replay};
use readnet_server::projections::AllProjections;
use readnet_settlement::Settlement;
use readnet_sim::{Scale, Simulator};
use readnet_statistics::Statistics;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventStore, Position};
use serde::Serialize;

use crate::BenchError;

/// The simulator's seed: every bench run replays the same history.
const SEED: u64 = 7;

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

/// Writes a simulated history of at least `events` events straight into a fresh store in `dir` (not timed), closes it, reopens it, and times
/// `replay` of each projection and of all three in one pass (each event decoded once).
pub async fn replay_rate(dir: &Path, events: usize) -> Result<ReplayRate, BenchError> {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).await?;
    generate(&store, events as u64).await?;
    store.close().await;
    drop(store);

    let store = EmbeddedStore::open(dir, EmbeddedOptions::default()).await?;
    let head = store.head_position();
    // Positions are dense from 1: the head is the number of events.
    let events = head.get();
    let mut passes = Vec::with_capacity(4);
    passes.push(timed::<Availability>(&store, head).await?);
    passes.push(timed::<Statistics>(&store, head).await?);
    passes.push(timed::<Settlement>(&store, head).await?);
    let started = Instant::now();
    let all = AllProjections::replay(&store, Some(head), |_| {}).await?;
    assert_eq!(all.position(), head, "one pass folds every event");
    passes.push(pass(
        "all three, one pass, one thread each, with digests",
        events,
        started.elapsed(),
    ));
    store.close().await;
    Ok(ReplayRate { events, passes })
}

fn pass(projection: &str, events: u64, elapsed: Duration) -> ReplayPass {
    ReplayPass {
        projection: projection.to_owned(),
        elapsed,
        events_per_s: events as f64 / elapsed.as_secs_f64().max(1e-9),
    }
}

async fn timed<P: Projection>(
    store: &EmbeddedStore,
    head: Position,
) -> Result<ReplayPass, BenchError> {
    let started = Instant::now();
    let state: P = replay(store, Some(head), |_| {}).await?;
    let elapsed = started.elapsed();
    assert_eq!(state.position(), head, "{} folded every event", P::NAME);
    Ok(pass(P::NAME, head.get(), elapsed))
}

/// Writes the simulator's history (`readnet-sim`'s generator: the city preset, or the
/// small one for small targets, fixed seed) until the log holds at least `target` events.
async fn generate(store: &EmbeddedStore, target: u64) -> Result<(), BenchError> {
    let scale = if target > 100_000 {
        Scale::city()
    } else {
        Scale::small()
    };
    let mut sim = Simulator::new(scale, SEED, Simulator::default_first_day(), 366);
    while store.head_position().get() < target {
        let Some(chunk) = sim.next_chunk() else { break };
        readnet_sim::store::write(store, chunk).await?;
    }
    Ok(())
}
