//! The machine's fsync floor: what one small durable append to a file costs, store or no store.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::{BenchError, Latency};

/// Bytes written before each sync: a small record.
const WRITE_BYTES: usize = 64;

/// Appends `samples` writes of 64 bytes to a fresh file in `dir`, each followed by
/// `sync_data` (fdatasync), timing write + sync.
pub fn fsync_floor(dir: &Path, samples: usize) -> Result<Latency, BenchError> {
    let path = dir.join("fsync-floor.bin");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let record = [0xA5u8; WRITE_BYTES];
    let mut latencies = Vec::with_capacity(samples);
    let started = Instant::now();
    for _ in 0..samples {
        let write_started = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        latencies.push(write_started.elapsed());
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(Latency::from_samples(latencies, elapsed))
}
