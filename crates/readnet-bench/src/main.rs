//! `readnet-bench`: runs the measurements of `readnet-bench` on a temporary (or given) directory
//! and prints the table, or the report as JSON. The gRPC checkout measurement starts the server
//! in-process on a loopback port; its "listening" lines go to stdout before the report.
//!
//! A binary of its own, not a subcommand of `readnet`: the production binary carries neither
//! the benchmarks nor SQLite.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use readnet_bench::{Counts, run_suite};

/// Measure: the fsync floor, durable and group-committed appends, opening a log, bytes per event,
/// the same appends on SQLite and PostgreSQL, gRPC checkouts and replay; prints a table (or
/// JSON).
#[derive(Debug, Parser)]
#[command(name = "readnet-bench", version, about)]
struct BenchArgs {
    /// Small counts (a few hundred operations, a few thousand replayed events) and append rows
    /// of 2 s instead of 10 s: under a minute, to see that it works. The full suite replays a
    /// generated log of 1,000,000 events.
    #[arg(long)]
    quick: bool,
    /// Print the report as JSON (durations in microseconds).
    #[arg(long)]
    json: bool,
    /// Measure on this directory's file system (a subdirectory per measurement, left in place)
    /// [default: a temporary directory, removed afterwards].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Only the gRPC checkouts, with authentication off and on side by side.
    #[arg(long)]
    grpc_only: bool,
    /// Only the bounds of ADR 0011: 300 stalled subscribers with the bounds and without, and
    /// checkouts (8 clients) alone and beside a neighbour's large appends.
    #[arg(long)]
    limits_only: bool,
    /// Only the gRPC checkouts with `readnet serve` in its own process (64 clients).
    #[arg(long)]
    server_process_only: bool,
    /// Only the append rows: durable append, group commit, SQLite and PostgreSQL, each for the
    /// window; prints JSON.
    #[arg(long)]
    appends_only: bool,
    /// The `readnet` binary the checkouts with the server in its own process start [default:
    /// `readnet` beside this binary, as `cargo build --release -p readnet -p readnet-bench`
    /// leaves it; without one those rows say they were not run].
    #[arg(long, value_name = "PATH")]
    readnet: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run(BenchArgs::parse()).await
}

async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let counts = if args.quick {
        Counts::quick()
    } else {
        Counts::full()
    };
    let temporary;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temporary = tempfile::tempdir().context("cannot create a temporary directory")?;
            temporary.path().to_path_buf()
        }
    };
    let readnet = match args.readnet {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(format!("no readnet binary at {}", path.display())),
        None => readnet_bench::readnet_beside_this_binary().ok_or_else(|| {
            "no readnet binary beside readnet-bench (give --readnet PATH)".to_owned()
        }),
    };
    if args.server_process_only {
        let binary = readnet.map_err(anyhow::Error::msg)?;
        let mut rows = Vec::new();
        for &(clients, count) in &counts.server_process_checkouts {
            let sub = dir.join(format!("serve-{clients}"));
            std::fs::create_dir_all(&sub)?;
            rows.push(
                readnet_bench::checkouts_server_process(&sub, &binary, clients, count)
                    .await
                    .with_context(|| format!("benchmark in {}", sub.display()))?,
            );
        }
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if args.appends_only {
        let report = readnet_bench::appends(&dir, &counts)
            .await
            .with_context(|| format!("benchmark in {}", dir.display()))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if args.limits_only {
        let (subscribers, checkouts) = if args.quick { (10, 200) } else { (300, 4000) };
        let report = readnet_bench::limits_side_by_side(&dir, subscribers, 8, checkouts)
            .await
            .with_context(|| format!("benchmark in {}", dir.display()))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if args.grpc_only {
        let rows = readnet_bench::grpc_side_by_side(&dir, &counts)
            .await
            .with_context(|| format!("benchmark in {}", dir.display()))?;
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let report = run_suite(&dir, &counts, readnet)
        .await
        .with_context(|| format!("benchmark in {}", dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_takes_quick_json_and_a_directory() {
        let args =
            BenchArgs::try_parse_from(["readnet-bench", "--quick", "--json", "--dir", "/tmp/b"])
                .unwrap();
        assert!(args.quick && args.json);
        assert_eq!(args.dir, Some(PathBuf::from("/tmp/b")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn quick_bench_runs_in_a_given_directory_and_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let args = BenchArgs {
            quick: true,
            json: true,
            dir: Some(dir.path().join("bench")),
            grpc_only: false,
            limits_only: false,
            server_process_only: false,
            appends_only: false,
            readnet: Some(dir.path().join("no-such-readnet")),
        };
        run(args).await.unwrap();
        assert!(dir.path().join("bench/open/segments").is_dir());
        assert!(dir.path().join("bench/grpc-64/log/segments").is_dir());
        assert!(dir.path().join("bench/grpc-64-auth/admin.token").is_file());
        assert!(dir.path().join("bench/replay/segments").is_dir());
    }
}
