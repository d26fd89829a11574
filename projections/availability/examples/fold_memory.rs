//! Replays a data directory's log into the availability projection alone and reports the fold's
//! rate and the heap bytes its state holds, per catalogued item.
//!
//! `cargo run --release -p readnet-availability --example fold_memory -- DATA_DIR [THROUGH]`
//!
//! `THROUGH` stops at that position (the bench's replay row folds the first 1,000,000 events of
//! the simulator's city preset, all set-up).
//!
//! The log is opened read-only. Memory is the process's resident set (`VmRSS`) after the open
//! and after the fold with the state alive: the growth is the state, plus the read path's one
//! page of events in flight. `/usr/bin/time -v` gives the peak.

use std::time::Instant;

use readnet_availability::Availability;
use readnet_projection::{Projection, replay};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventStore, Position};

/// The resident set in bytes, from `/proc/self/status`.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args
        .next()
        .ok_or("usage: fold_memory DATA_DIR [THROUGH] (DATA_DIR holds log/)")?;
    let through: Option<u64> = args.next().map(|p| p.parse()).transpose()?;
    let store =
        EmbeddedStore::open_read_only(format!("{data}/log"), EmbeddedOptions::default()).await?;
    let head = through.map_or(store.head_position(), |p| {
        Position::new(p).min(store.head_position())
    });
    let rss_open = rss_bytes();
    let started = Instant::now();
    let state: Availability = replay(&store, Some(head), |_| {}).await?;
    let elapsed_s = started.elapsed().as_secs_f64();
    assert_eq!(state.position(), head, "the fold reached the head");
    let items = state.statuses().total();
    let parts = state.heap_bytes();
    let counted: usize = parts.iter().map(|(_, bytes)| bytes).sum();
    let grown = rss_bytes().saturating_sub(rss_open);
    println!("events               {}", head.get());
    println!(
        "fold                 {elapsed_s:.1} s, {:.0} events/s",
        head.get() as f64 / elapsed_s
    );
    println!("items catalogued     {items}");
    println!("rss after open       {rss_open}");
    println!("rss grown by fold    {grown}");
    println!(
        "per item             {:.1} bytes",
        grown as f64 / items.max(1) as f64
    );
    println!(
        "heap counted         {counted} ({:.1} bytes per item)",
        counted as f64 / items.max(1) as f64
    );
    for (part, bytes) in parts {
        println!(
            "  {part:<28} {bytes:>12} ({:.1} per item)",
            bytes as f64 / items.max(1) as f64
        );
    }
    Ok(())
}
