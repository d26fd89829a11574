//! Replays a data directory's log into the availability projection alone and reports the fold's
//! rate and the heap bytes its state holds, per catalogued item.
//!
//! `cargo run --release -p readnet-availability --example fold_memory -- DATA_DIR [THROUGH]
//! [--cold-state DIR --hot-items N] [--digest]`
//!
//! `THROUGH` stops at that position (the bench's replay row folds the first 1,000,000 events of
//! the simulator's city preset, all set-up).
//!
//! The log is opened read-only. Memory is the process's resident set (`VmRSS`) after the open
//! and after the fold with the state alive: the growth is the state, plus the read path's one
//! page of events in flight. `/usr/bin/time -v` gives the peak.
//!
//! `--cold-state DIR --hot-items N` keeps the item rows on disk in `DIR` with at most `N` in
//! memory (ADR 0027); `--digest` prints the state's digest (the same with or without).

use std::time::Instant;

use readnet_availability::Availability;
use readnet_projection::{ColdState, Pipeline, Projection};
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

/// The peak resident set in bytes (`VmHWM`).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut positional = Vec::new();
    let (mut cold_dir, mut hot_rows, mut digested) = (None, 1_000_000usize, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cold-state" => cold_dir = Some(args.next().ok_or("--cold-state DIR")?),
            "--hot-items" => hot_rows = args.next().ok_or("--hot-items N")?.parse()?,
            "--digest" => digested = true,
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let data = positional.next().ok_or(
        "usage: fold_memory DATA_DIR [THROUGH] [--cold-state DIR --hot-items N] [--digest]",
    )?;
    let through: Option<u64> = positional.next().map(|p| p.parse()).transpose()?;
    let store =
        EmbeddedStore::open_read_only(format!("{data}/log"), EmbeddedOptions::default()).await?;
    let head = through.map_or(store.head_position(), |p| {
        Position::new(p).min(store.head_position())
    });
    let rss_open = rss_bytes();
    let started = Instant::now();
    let empty = match &cold_dir {
        Some(dir) => Availability::with_cold_items(&ColdState {
            dir: dir.into(),
            hot_rows,
        })?,
        None => Availability::default(),
    };
    let mut pipeline = Pipeline::new();
    let folding = pipeline.fold_state(empty, false);
    pipeline.run(&store, Some(head), |_| {}).await?;
    let state = folding.finish().await.ok_or("the fold stopped")?.state;
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
    if let Some(stats) = state.cold_stats() {
        println!("cold tier            {hot_rows} hot rows at most, {stats:?}");
    }
    if digested {
        let started = Instant::now();
        let digest = readnet_projection::digest(&state);
        println!(
            "digest               {digest} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    println!("peak rss             {}", peak_rss_bytes());
    for (part, bytes) in parts {
        println!(
            "  {part:<28} {bytes:>12} ({:.1} per item)",
            bytes as f64 / items.max(1) as f64
        );
    }
    Ok(())
}
