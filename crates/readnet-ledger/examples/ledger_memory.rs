//! What the decider's state costs in memory: starts the command bus on a data directory's log
//! (opened read-only; the bus folds every event into its `Ledger` and its index of command ids)
//! and prints the resident set's growth per item, patron and event. For the memory cost model
//! (ARCHITECTURE.md, issue 17).
//!
//! `cargo run --release -p readnet-ledger --example ledger_memory -- DATA_DIR`

use std::sync::Arc;
use std::time::Instant;

use readnet_ledger::CommandBus;
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};

/// A line of `/proc/self/status`, in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = std::env::args()
        .nth(1)
        .ok_or("usage: ledger_memory DATA_DIR (DATA_DIR holds log/)")?;
    let store =
        EmbeddedStore::open_read_only(format!("{data}/log"), EmbeddedOptions::default()).await?;
    let events = store.head_position().get();
    let rss_open = status_bytes("VmRSS:");
    let started = Instant::now();
    let bus = CommandBus::start(Arc::new(store)).await?;
    let elapsed_s = started.elapsed().as_secs_f64();
    let (items, patrons, holds) = bus
        .read(|l| (l.items.len(), l.patrons.len(), l.holds.len()))
        .await?;
    let grown = status_bytes("VmRSS:").saturating_sub(rss_open);
    println!("events               {events}");
    println!("load                 {elapsed_s:.1} s");
    println!("items {items}, patrons {patrons}, open holds {holds}");
    println!("rss after open       {rss_open}");
    println!("rss grown by load    {grown}");
    println!(
        "per item + patron    {:.1} bytes",
        grown as f64 / (items + patrons).max(1) as f64
    );
    println!(
        "per event            {:.1} bytes",
        grown as f64 / events.max(1) as f64
    );
    println!("peak rss             {}", status_bytes("VmHWM:"));
    // The state is left to the exit, as `readnet replay` leaves it.
    std::process::exit(0)
}
