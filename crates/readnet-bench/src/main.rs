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
/// the same appends on SQLite, gRPC checkouts and replay; prints a table (or JSON).
#[derive(Debug, Parser)]
#[command(name = "readnet-bench", version, about)]
struct BenchArgs {
    /// Tiny counts (a few hundred operations each, a few thousand replayed events): seconds, to
    /// see that it works. The full suite replays a generated log of 1,000,000 events.
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
    let report = run_suite(&dir, &counts)
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
        };
        run(args).await.unwrap();
        assert!(dir.path().join("bench/open/segments").is_dir());
        assert!(dir.path().join("bench/grpc-64/log/segments").is_dir());
        assert!(dir.path().join("bench/grpc-64-auth/admin.token").is_file());
        assert!(dir.path().join("bench/replay/segments").is_dir());
    }
}
