//! Times opening an existing embedded store, for measuring open on large logs (a simulator
//! history, say) outside `readnet-bench`.
//!
//! Usage: `readnet-store-open DIR [OPENS]`. Prints, per open, the wall time, the head position,
//! whether the index came from the checkpoint, and the process's resident set size afterwards
//! (from /proc/self/status); per close, its wall time (a close writes the checkpoint when
//! anything was appended since it was last written).

use std::time::Instant;

use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};

fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    // Opening creates a store where there is none, so an option is never taken for a directory.
    let Some(dir) = args.next().filter(|d| !d.starts_with('-')) else {
        eprintln!("usage: readnet-store-open DIR [OPENS]");
        std::process::exit(2);
    };
    let opens: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    for i in 0..opens {
        let started = Instant::now();
        let store = match EmbeddedStore::open(&dir, EmbeddedOptions::default()).await {
            Ok(store) => store,
            Err(e) => {
                eprintln!("open failed: {e}");
                std::process::exit(1);
            }
        };
        let elapsed = started.elapsed();
        println!(
            "open {i}: {:.1} ms, head {}, from {}, rss {} MiB",
            elapsed.as_secs_f64() * 1e3,
            store.head_position(),
            if store.opened_from_checkpoint() {
                "the checkpoint"
            } else {
                "the segments"
            },
            resident_kib().unwrap_or(0) / 1024
        );
        let closing = Instant::now();
        store.close().await;
        println!("close {i}: {:.1} ms", closing.elapsed().as_secs_f64() * 1e3);
    }
}
