//! The kept tree on a large log: how long the keeper takes to build it from nothing (hashing
//! every event, writing every full tile), then what proofs and checkpoints cost from its tiles.
//!
//! Usage: `readnet-tree-proofs LOG TLOG [SAMPLES]`: LOG is a data directory's `log/`, opened
//! read-only; the tiles go to TLOG (a fresh directory). Prints one line per measurement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use readnet_domain::SystemClock;
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_tlog::{Checkpoint, NoteSigner};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(log), Some(tlog)) = (args.first(), args.get(1)) else {
        eprintln!("usage: readnet-tree-proofs LOG TLOG [SAMPLES]");
        std::process::exit(2);
    };
    let samples: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let store = Arc::new(
        EmbeddedStore::open_read_only(log, EmbeddedOptions::default())
            .await
            .expect("the log"),
    );
    let size = store.head_position().get();
    let signer = NoteSigner::new("bench", [1; 32]).expect("a signer");
    let started = Instant::now();
    let tree = readnet_audit::keep(
        Arc::clone(&store) as Arc<dyn EventStore>,
        readnet_audit::TreeOptions {
            dir: tlog.into(),
            signer: NoteSigner::new("bench", [1; 32]).expect("a signer"),
            every: None,
            clock: Arc::new(SystemClock),
        },
    )
    .await
    .expect("the tree");
    let resumed = tree.size();
    tree.reach(size, Duration::from_secs(3600))
        .await
        .expect("the tree catches up");
    let built = started.elapsed();
    println!(
        "tree of {size} events built from {resumed} in {:.1} s: {:.0} events/s",
        built.as_secs_f64(),
        (size - resumed) as f64 / built.as_secs_f64()
    );

    // Spread the samples over the log, deterministically.
    let indices: Vec<u64> = (0..samples).map(|i| (i * 7_919_993 + 13) % size).collect();
    let timed = |what: &str, f: &mut dyn FnMut(u64) -> usize| {
        let mut times = Vec::with_capacity(indices.len());
        let mut bytes = 0;
        for &i in &indices {
            let t = Instant::now();
            bytes = f(i);
            times.push(t.elapsed());
        }
        times.sort();
        let total: Duration = times.iter().sum();
        println!(
            "{what}: {} samples in {:.2} s, median {:.1} µs, p99 {:.1} µs, {bytes} bytes (last)",
            times.len(),
            total.as_secs_f64(),
            times[times.len() / 2].as_secs_f64() * 1e6,
            times[times.len() * 99 / 100].as_secs_f64() * 1e6
        );
    };
    timed("inclusion proof at the full size", &mut |i| {
        tree.inclusion(i, size).expect("a proof").len() * 32
    });
    timed("consistency proof from a smaller size", &mut |i| {
        tree.consistency(i.max(1), size).expect("a proof").len() * 32
    });
    timed("root of a past size", &mut |i| {
        tree.root(i.max(1)).expect("a root");
        32
    });
    let root = tree.root(size).expect("the root");
    let mut note_len = 0;
    let t = Instant::now();
    let signs = 2000;
    for n in 0..signs {
        let checkpoint = Checkpoint {
            origin: "bench".to_owned(),
            size,
            root,
            time: Some(n),
        };
        note_len = signer.sign(&checkpoint.body()).len();
    }
    println!(
        "checkpoint signing: {:.1} µs each ({signs} signatures), {note_len} bytes a note",
        t.elapsed().as_secs_f64() * 1e6 / signs as f64
    );
}
