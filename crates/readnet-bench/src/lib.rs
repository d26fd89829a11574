//! readnet's measurements, for `readnet-bench`: the machine's fsync floor, durable and
//! group-committed appends on the embedded store, the time to open a log, bytes on disk per
//! event, the same append workload on SQLite and on PostgreSQL (`pgbench`) for scale, checkouts
//! through the whole server over gRPC (in-process, and `readnet serve` in a process of its own),
//! and replaying a generated history into the projections.
//!
//! Each measurement is a function that takes a directory and a window or counts and returns a
//! small result with its count, wall time and latency percentiles; [`run_suite`] runs them all
//! and [`Report`] prints them. The append rows run for a window of seconds, so that their rate
//! is a sustained one. Nothing here asserts a time: the numbers are for people to read.

mod embedded;
mod error;
mod fsync;
mod grpc;
mod limits;
mod postgres;
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
pub use grpc::{GrpcCheckouts, ServerProcessRows, checkouts_grpc, checkouts_server_process};
pub use limits::{LimitsReport, Neighbour, NeighbourRow, StalledRow, limits_side_by_side};
pub use postgres::{PostgresAppend, PostgresRows, postgres_append};
pub use replay::{ReplayPass, ReplayRate, replay_rate};
pub use report::{Ratio, Report};
pub use sqlite::{SqliteAppend, sqlite_append};
pub use stats::{Latency, percentile};

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// How long each append row runs (durable append, group commit, SQLite, PostgreSQL).
    pub append_window_ms: u64,
    /// Group commit: the writer counts, each a row of its own.
    pub group_commit: Vec<usize>,
    /// Events in the log that is opened, and how many times it is opened.
    pub open_events: usize,
    pub opens: usize,
    /// SQLite: the writer counts.
    pub sqlite: Vec<usize>,
    /// PostgreSQL through pgbench: the client counts.
    pub postgres: Vec<usize>,
    /// Checkouts over gRPC, server in-process: (concurrent clients, checkouts in all).
    pub grpc_checkouts: Vec<(usize, usize)>,
    /// Checkouts over gRPC, `readnet serve` in its own process: (clients, checkouts in all).
    pub server_process_checkouts: Vec<(usize, usize)>,
    /// Events in the generated history replayed into the projections.
    pub replay_events: usize,
}

impl Counts {
    /// Small counts, and append rows of 2 s: seconds in all, to see that it works; the append
    /// rows are still rates over seconds.
    pub fn quick() -> Counts {
        Counts {
            fsync_samples: 200,
            append_window_ms: 2_000,
            group_commit: vec![1, 8, 64],
            open_events: 2_000,
            opens: 3,
            sqlite: vec![1, 8],
            postgres: vec![1, 8, 64],
            grpc_checkouts: vec![(1, 50), (8, 80), (64, 128)],
            server_process_checkouts: vec![(64, 2_000)],
            replay_events: 5_000,
        }
    }

    /// Rows of 10 s for appends (as pgbench's `-T 10`), and checkout counts that take seconds:
    /// a few minutes in all.
    pub fn full() -> Counts {
        Counts {
            fsync_samples: 5_000,
            append_window_ms: 10_000,
            group_commit: vec![1, 8, 64],
            open_events: 200_000,
            opens: 5,
            sqlite: vec![1, 8],
            postgres: vec![1, 8, 64],
            grpc_checkouts: vec![(1, 2_000), (8, 10_000), (64, 20_000)],
            server_process_checkouts: vec![(64, 150_000)],
            replay_events: 1_000_000,
        }
    }

    /// [`Counts::append_window_ms`] as a duration.
    pub fn append_window(&self) -> Duration {
        Duration::from_millis(self.append_window_ms)
    }
}

/// The `readnet` binary beside this one (`target/release/readnet` for
/// `target/release/readnet-bench`), for the checkouts with the server in its own process.
pub fn readnet_beside_this_binary() -> Option<PathBuf> {
    let this = std::env::current_exe().ok()?;
    let readnet = this.with_file_name("readnet");
    readnet.is_file().then_some(readnet)
}

/// The append rows alone, each for the window: what [`appends`] measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Appends {
    pub append_window_ms: u64,
    pub durable_append: Latency,
    pub group_commit: Vec<GroupCommit>,
    pub sqlite: Vec<SqliteAppend>,
    pub postgres: PostgresRows,
    pub readnet_over_sqlite: Vec<Ratio>,
    pub readnet_over_postgres: Vec<Ratio>,
}

/// The durable-append, group-commit, SQLite and PostgreSQL rows of [`run_suite`], each in a
/// fresh subdirectory of `dir`.
pub async fn appends(dir: &Path, counts: &Counts) -> Result<Appends, BenchError> {
    let window = counts.append_window();
    let fresh = |name: &str| -> Result<std::path::PathBuf, BenchError> {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub)?;
        Ok(sub)
    };
    let durable_append = durable_append(&fresh("durable")?, window).await?;
    let mut group_commits = Vec::with_capacity(counts.group_commit.len());
    for &writers in &counts.group_commit {
        let sub = fresh(&format!("group-{writers}"))?;
        group_commits.push(group_commit(&sub, writers, window).await?);
    }
    let mut sqlite = Vec::with_capacity(counts.sqlite.len());
    for &writers in &counts.sqlite {
        let sub = fresh(&format!("sqlite-{writers}"))?;
        sqlite.push(blocking(move || sqlite_append(&sub, writers, window)).await?);
    }
    let postgres = {
        let clients = counts.postgres.clone();
        blocking(move || postgres_append(&clients, window)).await?
    };
    Ok(Appends {
        append_window_ms: counts.append_window_ms,
        durable_append,
        readnet_over_sqlite: Report::ratios(&group_commits, &sqlite),
        readnet_over_postgres: Report::postgres_ratios(&group_commits, &postgres),
        group_commit: group_commits,
        sqlite,
        postgres,
    })
}

/// Runs every measurement with `counts`, each in a fresh subdirectory of `dir`; the checkouts
/// with the server in its own process run `readnet` (a path to the binary, or why there is
/// none). Must be called within a tokio runtime.
pub async fn run_suite(
    dir: &Path,
    counts: &Counts,
    readnet: Result<PathBuf, String>,
) -> Result<Report, BenchError> {
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
    let appends = appends(dir, counts).await?;
    let log = fresh("open")?;
    let open_time = open_time(&log, counts.open_events, counts.opens).await?;
    let bytes_per_event = bytes_per_event(&log).await?;
    let grpc_checkouts = grpc_side_by_side(dir, counts).await?;
    let server_process_checkouts = match readnet {
        Ok(binary) => {
            let mut rows = Vec::with_capacity(counts.server_process_checkouts.len());
            for &(clients, count) in &counts.server_process_checkouts {
                let sub = fresh(&format!("serve-{clients}"))?;
                rows.push(checkouts_server_process(&sub, &binary, clients, count).await?);
            }
            ServerProcessRows::Ran(rows)
        }
        Err(reason) => ServerProcessRows::NotRun(reason),
    };
    let replay_rate = replay_rate(&fresh("replay")?, counts.replay_events).await?;
    Ok(Report {
        readnet_over_sqlite: appends.readnet_over_sqlite,
        readnet_over_postgres: appends.readnet_over_postgres,
        counts: counts.clone(),
        fsync_floor,
        durable_append: appends.durable_append,
        group_commit: appends.group_commit,
        open_time,
        bytes_per_event,
        sqlite: appends.sqlite,
        postgres: appends.postgres,
        grpc_checkouts,
        server_process_checkouts,
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
