//! readnet's measurements, for `readnet-bench`: the machine's fsync floor, durable and
//! group-committed appends on the embedded store, the time to open a log, bytes on disk per
//! event, the same append workload on SQLite for scale, checkouts through the whole server over
//! gRPC, and replaying a generated history into the projections.
//!
//! Each measurement is a function that takes a directory and counts and returns a small result
//! with its count and latency percentiles; [`run_suite`] runs them all and [`Report`] prints
//! them. Nothing here asserts a time: the numbers are for people to read.

mod embedded;
mod error;
mod fsync;
mod grpc;
mod limits;
mod replay;
mod report;
mod sqlite;
mod stats;

pub use embedded::{
    BytesPerEvent, GroupCommit, OpenTime, bench_event, bytes_per_event, durable_append,
    group_commit, open_time, payload,
};
pub use error::BenchError;
pub use fsync::fsync_floor;
pub use grpc::{GrpcCheckouts, checkouts_grpc};
pub use limits::{LimitsReport, Neighbour, NeighbourRow, StalledRow, limits_side_by_side};
pub use replay::{ReplayPass, ReplayRate, replay_rate};
pub use report::{Ratio, Report};
pub use sqlite::{SqliteAppend, sqlite_append};
pub use stats::{Latency, percentile};

use std::path::Path;

use serde::Serialize;

/// The type of every event the benchmarks append.
pub const EVENT_TYPE: &str = "BenchAppended";
/// The data bytes of every event the benchmarks append (an event of about 100 bytes).
pub const EVENT_DATA_BYTES: usize = 100;

/// How much each measurement does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Writes + fdatasync of the fsync floor.
    pub fsync_samples: usize,
    /// Appends of the single durable writer.
    pub durable_appends: usize,
    /// Group commit: (writers, appends per writer).
    pub group_commit: Vec<(usize, usize)>,
    /// Events in the log that is opened, and how many times it is opened.
    pub open_events: usize,
    pub opens: usize,
    /// SQLite: (writers, appends per writer).
    pub sqlite: Vec<(usize, usize)>,
    /// Checkouts over gRPC: (concurrent clients, checkouts in all).
    pub grpc_checkouts: Vec<(usize, usize)>,
    /// Events in the generated history replayed into the projections.
    pub replay_events: usize,
}

impl Counts {
    /// A few hundred operations each: a second or two, for smoke tests.
    pub fn quick() -> Counts {
        Counts {
            fsync_samples: 200,
            durable_appends: 200,
            group_commit: vec![(1, 200), (8, 25), (64, 4)],
            open_events: 2_000,
            opens: 3,
            sqlite: vec![(1, 200), (8, 25)],
            grpc_checkouts: vec![(1, 50), (8, 80), (64, 128)],
            replay_events: 5_000,
        }
    }

    /// Enough samples for a steady p99: seconds, not minutes, on an SSD.
    pub fn full() -> Counts {
        Counts {
            fsync_samples: 5_000,
            durable_appends: 5_000,
            group_commit: vec![(1, 5_000), (8, 1_000), (64, 200)],
            open_events: 200_000,
            opens: 5,
            sqlite: vec![(1, 5_000), (8, 625)],
            grpc_checkouts: vec![(1, 2_000), (8, 10_000), (64, 20_000)],
            replay_events: 1_000_000,
        }
    }
}

/// Runs every measurement with `counts`, each in a fresh subdirectory of `dir`. Must be called
/// within a tokio runtime.
pub async fn run_suite(dir: &Path, counts: &Counts) -> Result<Report, BenchError> {
    let fresh = |name: &str| -> Result<std::path::PathBuf, BenchError> {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub)?;
        Ok(sub)
    };
    let fsync_floor = {
        let sub = fresh("fsync")?;
        let samples = counts.fsync_samples;
        blocking(move || fsync_floor(&sub, samples)).await?
    };
    let durable_append = durable_append(&fresh("durable")?, counts.durable_appends).await?;
    let mut group_commits = Vec::with_capacity(counts.group_commit.len());
    for &(writers, appends) in &counts.group_commit {
        let sub = fresh(&format!("group-{writers}"))?;
        group_commits.push(group_commit(&sub, writers, appends).await?);
    }
    let log = fresh("open")?;
    let open_time = open_time(&log, counts.open_events, counts.opens).await?;
    let bytes_per_event = bytes_per_event(&log).await?;
    let mut sqlite = Vec::with_capacity(counts.sqlite.len());
    for &(writers, appends) in &counts.sqlite {
        let sub = fresh(&format!("sqlite-{writers}"))?;
        sqlite.push(blocking(move || sqlite_append(&sub, writers, appends)).await?);
    }
    let grpc_checkouts = grpc_side_by_side(dir, counts).await?;
    let replay_rate = replay_rate(&fresh("replay")?, counts.replay_events).await?;
    Ok(Report {
        readnet_over_sqlite: Report::ratios(&group_commits, &sqlite),
        counts: counts.clone(),
        fsync_floor,
        durable_append,
        group_commit: group_commits,
        open_time,
        bytes_per_event,
        sqlite,
        grpc_checkouts,
        replay_rate,
    })
}

/// gRPC checkouts for each client count, with authentication off and then on, side by side,
/// so that their ratio is read from one run.
pub async fn grpc_side_by_side(
    dir: &std::path::Path,
    counts: &Counts,
) -> Result<Vec<GrpcCheckouts>, BenchError> {
    let mut grpc_checkouts = Vec::with_capacity(2 * counts.grpc_checkouts.len());
    for &(clients, count) in &counts.grpc_checkouts {
        for authenticated in [false, true] {
            let sub = dir.join(if authenticated {
                format!("grpc-{clients}-auth")
            } else {
                format!("grpc-{clients}")
            });
            std::fs::create_dir_all(&sub)?;
            grpc_checkouts.push(checkouts_grpc(&sub, clients, count, authenticated).await?);
        }
    }
    Ok(grpc_checkouts)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BenchError> + Send + 'static,
) -> Result<T, BenchError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BenchError::Writer(e.to_string()))?
}
