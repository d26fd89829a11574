//! Group commit under load, for profiling the writer outside `readnet-bench`: WRITERS tasks
//! each append APPENDS single events (100 data bytes) to a stream of their own in a fresh store
//! in DIR, one durable append at a time.
//!
//! Usage: `readnet-store-group DIR [WRITERS] [APPENDS] [COMMIT_DELAY_US]`. Prints appends/s.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventData, EventStore, Revision, StreamState};
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: readnet-store-group DIR [WRITERS] [APPENDS]");
        std::process::exit(2);
    };
    let writers: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(64);
    let appends: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
    let mut options = EmbeddedOptions::default();
    if let Some(delay) = args.next().and_then(|n| n.parse().ok()) {
        options.max_commit_delay = std::time::Duration::from_micros(delay);
    }
    let store_delay = options.max_commit_delay;
    let store = Arc::new(EmbeddedStore::open(&dir, options).await.expect("open"));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let stream = format!("bench-{w}");
                for revision in 0..appends {
                    let expected = match revision {
                        0 => StreamState::NoStream,
                        r => StreamState::Revision(Revision::new(r - 1)),
                    };
                    let event = EventData {
                        event_id: Uuid::new_v4(),
                        event_type: "BenchAppended".into(),
                        content_type: readnet_store::ContentType::Binary,
                        metadata: Bytes::new(),
                        data: vec![revision as u8; 100].into(),
                    };
                    store
                        .append(&stream, expected, vec![event])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    let elapsed = started.elapsed();
    let total = writers as u64 * appends;
    println!(
        "{writers} writers x {appends}, commit delay {:?}: {:.0} appends/s ({:.1} ms)",
        store_delay,
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3
    );
}
