//! The floor under a replay: every segment of the log in DIR read and its frames walked with
//! each record's CRC32C checked, nothing decoded (the store's own frame walk). Read-only.
//!
//! Usage: `readnet-log-floor DIR` (a data directory, or the log directory in it). Prints the
//! records, bytes and time, and records/s and MB/s.

use std::path::Path;
use std::time::Instant;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: readnet-log-floor DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    let log = if dir.join("log").is_dir() {
        dir.join("log")
    } else {
        dir.to_path_buf()
    };
    let started = Instant::now();
    let scanned = readnet_store::embedded::scan(&log).expect("the log's segments read");
    let elapsed_s = started.elapsed().as_secs_f64();
    println!(
        "read + frame walk + CRC32C: {} records, {} bytes in {} segments, {:.3} s: {:.0} records/s, {:.0} MB/s{}",
        scanned.intact_records,
        scanned.bytes,
        scanned.segments,
        elapsed_s,
        scanned.intact_records as f64 / elapsed_s,
        scanned.bytes as f64 / elapsed_s / 1e6,
        if scanned.damaged_ranges > 0 {
            format!(" ({} damaged ranges)", scanned.damaged_ranges)
        } else {
            String::new()
        }
    );
}
