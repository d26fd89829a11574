//! Replays a data directory's log into the statistics projection alone, read-only, and says how
//! fast and how much memory the state took: the measurement of issue 17 (BENCHMARKS.md).
//!
//! `cargo run --release -p readnet-statistics --example replay_statistics -- DIR [THROUGH]`
//!
//! `THROUGH` stops at that position (the whole log without it).
//!
//! Memory is read from `/proc/self/status`: resident set size after the log is opened (the
//! store's index) and after the fold, and the peak. The state's share is the difference, given
//! per catalogued item and per library-day row. The answers of the queries over the whole
//! history are hashed into one fingerprint, so two builds can be shown to answer alike.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use readnet_domain::StreamId;
use readnet_projection::{Payload, Projection};
use readnet_statistics::{
    By, DayRange, Statistics, city_days, flow_matrix, library_days, monitor, network_days,
    top_titles,
};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{AllFrom, Direction, EventStore};

/// Events read per page, as `readnet_projection::replay` reads them.
const PAGE_EVENTS: usize = 1024;

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: replay_statistics DATA_DIR [THROUGH]")?;
    let through = args.next().map(|n| n.parse::<u64>()).transpose()?;
    let store =
        EmbeddedStore::open_read_only(format!("{dir}/log"), EmbeddedOptions::default()).await?;
    let head = through.map_or(store.head_position(), |through| {
        store
            .head_position()
            .min(readnet_store::Position::new(through))
    });
    let rss_open = status_bytes("VmRSS:");

    let started = Instant::now();
    let mut state = Statistics::default();
    let (mut catalogued, mut first, mut last) = (0u64, None::<DateTime<Utc>>, None);
    let mut next = readnet_store::Position::FIRST;
    while next <= head {
        let page = store
            .read_all(AllFrom::Position(next), Direction::Forwards, PAGE_EVENTS)
            .await?;
        let Some(end) = page.last().map(|e| e.position) else {
            break;
        };
        let facts = page
            .iter()
            .take_while(|e| e.position <= head)
            .filter(|e| StreamId::holds_facts(&e.stream));
        for recorded in facts {
            let event = readnet_ledger::envelope::decode(recorded)?;
            catalogued += u64::from(matches!(event.payload, Payload::ItemCatalogued(_)));
            first.get_or_insert(event.occurred_at);
            last = Some(event.occurred_at);
            state.apply(&event);
        }
        next = end.next();
    }
    let elapsed = started.elapsed();
    let rss_folded = status_bytes("VmRSS:");
    let peak = status_bytes("VmHWM:");
    let events = head.get();

    // The answers over the whole history, hashed.
    let (first, last) = (first.ok_or("an empty log")?, last.ok_or("an empty log")?);
    let day = |at: DateTime<Utc>| at.format("%Y-%m-%d").to_string();
    let mut answers = DefaultHasher::new();
    let mut rows = 0usize;
    let mut from = first - Duration::days(1);
    while from <= last + Duration::days(1) {
        let to = from + Duration::days(300);
        let range = DayRange::parse(&day(from), &day(to))?;
        for by in By::BOTH {
            format!("{:?}", network_days(&state, &range, by)).hash(&mut answers);
            for city in state.network().cities.keys() {
                format!("{:?}", city_days(&state, city.as_str(), &range, by)?).hash(&mut answers);
            }
            for library in state.network().libraries.keys() {
                let days = library_days(&state, library.as_str(), &range, by)?;
                rows += days.len();
                format!("{days:?}").hash(&mut answers);
            }
        }
        from = to + Duration::days(1);
    }
    let mut month = first - Duration::days(31);
    while month <= last + Duration::days(31) {
        let key = month.format("%Y-%m").to_string();
        format!("{:?}", flow_matrix(&state, &key)).hash(&mut answers);
        for city in state.network().cities.keys() {
            format!("{:?}", top_titles(&state, city.as_str(), &key, 100)?).hash(&mut answers);
        }
        month += Duration::days(28);
    }
    format!("{:?}", monitor(&state, None, last)?).hash(&mut answers);

    let state_bytes = rss_folded.saturating_sub(rss_open);
    println!(
        "events {events}, catalogued items {catalogued}, library-day rows (both views) {rows}"
    );
    println!(
        "statistics replay: {:.1} s, {:.0} events/s",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    println!(
        "RSS after open {} MB, after the fold {} MB, peak {} MB; the state: {} MB, {:.0} bytes per catalogued item",
        rss_open / 1_000_000,
        rss_folded / 1_000_000,
        peak / 1_000_000,
        state_bytes / 1_000_000,
        state_bytes as f64 / catalogued.max(1) as f64
    );
    println!("answers fingerprint {:016x}", answers.finish());
    println!("position {}", state.position().get());
    Ok(())
}
