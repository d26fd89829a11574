//! How long the KurrentDB backend takes to connect (read its journal into the index), against
//! `readnet serve`'s KurrentDB endpoint on a fresh data directory: appends EVENTS events in
//! appends of 500 across 1,000 streams, then connects a second backend and prints the time per
//! 100,000 events. A quick measurement, not a benchmark harness.
//!
//! `cargo run --release -p readnet-e2e --example kurrentdb_open_rate -- [EVENTS]`

use std::time::Instant;

use readnet_e2e::TestServer;
use readnet_store::kurrentdb::{KurrentDbOptions, KurrentDbStore};
use readnet_store::{EventData, EventStore, StreamState, StreamWrite};
use uuid::Uuid;

/// Events per `append_multi`, about what the command bus writes in a busy batch.
const BATCH: usize = 500;
const STREAMS: usize = 1_000;

#[tokio::main]
async fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().expect("EVENTS is a number"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = TestServer::start(dir.path());
    let url = format!("kurrentdb://{}?tls=false", server.addr());
    let store = KurrentDbStore::connect(&url, KurrentDbOptions::default())
        .await
        .expect("connect");

    let started = Instant::now();
    let mut written = 0;
    while written < events {
        // One event per stream per append, like a batch of checkouts of different items.
        let writes = (written..(written + BATCH).min(events))
            .map(|i| StreamWrite {
                stream: format!("open-rate-{}", i % STREAMS),
                expected: StreamState::Any,
                events: vec![EventData {
                    event_id: Uuid::new_v4(),
                    event_type: "ItemLoaned".into(),
                    content_type: Default::default(),
                    metadata: vec![7; 60].into(),
                    data: vec![9; 80].into(),
                }],
            })
            .collect::<Vec<_>>();
        written += writes.len();
        store.append_multi(writes).await.expect("append");
    }
    let append_s = started.elapsed().as_secs_f64();
    println!(
        "appended {events} events in {append_s:.1} s ({:.0} events/s, journal and links)",
        events as f64 / append_s
    );

    let started = Instant::now();
    let reopened = KurrentDbStore::connect(&url, KurrentDbOptions::default())
        .await
        .expect("connect again");
    let open_s = started.elapsed().as_secs_f64();
    assert_eq!(reopened.head_position().get(), events as u64);
    println!(
        "connected (read the journal of {events} events) in {open_s:.2} s: {:.2} s per 100k events",
        open_s * 100_000.0 / events as f64
    );
}
