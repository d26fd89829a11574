//! `readnet-sim`: a seeded network's activity (see the `readnet-sim` library), written straight
//! into a data directory through the ledger's envelope, or sent to a running server over gRPC.
//!
//! A binary of its own, not a subcommand of `readnet`: the production binary does not carry the
//! generator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{Duration, NaiveDate, Utc};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use readnet_sim::{Scale, Simulator, Stats};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventStore, Position};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScaleArg {
    /// Two small cities, a few hundred loans a day (tests).
    Small,
    /// Two cities, about 90,000 loans a day (like Guangzhou's 32.7M a year).
    City,
    /// Six cities, about 175,000 loans a day.
    Province,
}

/// Generate a seeded network's activity into a data directory (store) or a server (gRPC).
/// Where it goes: exactly one of `--data` and `--server`.
#[derive(Debug, Parser)]
#[command(name = "readnet-sim", version, about)]
struct SimulateArgs {
    /// Store mode: write into this data directory (new or empty) through the embedded store.
    /// Patron ids are hashed with the test key `readnet test key`: a server started on the
    /// directory needs `--patron-key-file` holding those bytes for its own ids to match.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "server",
        required_unless_present = "server"
    )]
    data: Option<PathBuf>,
    /// gRPC mode: send the commands to this server (a fresh one: the network is set up first).
    /// The simulated days end at today's midnight (UTC+8), so no occurred_at is in the future; a server refuses commands dated more than its `--max-backdate-hours` back (30 days by default): start it with a bound covering the days simulated.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// gRPC mode: a network-admin's token (the server's `<data>/admin.token`), as
    /// `READNET_TOKEN` or the contents of `--token-file`.
    #[arg(
        long,
        env = "READNET_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// gRPC mode: a file holding a network-admin's token.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// gRPC mode: trust an https:// server's certificate if this CA (PEM) signed it.
    #[arg(long, value_name = "FILE", requires = "server")]
    tls_ca: Option<PathBuf>,
    /// The network's size and rates.
    #[arg(long, value_enum, default_value = "city")]
    scale: ScaleArg,
    /// Simulated days.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// The same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// gRPC mode: requests in flight at most.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Store mode: the first simulated day [default: 2026-01-05].
    #[arg(long, value_name = "YYYY-MM-DD")]
    start: Option<NaiveDate>,
}

fn scale(arg: ScaleArg) -> Scale {
    match arg {
        ScaleArg::Small => Scale::small(),
        ScaleArg::City => Scale::city(),
        ScaleArg::Province => Scale::province(),
    }
}

/// A bar for the simulation's phases: set-up (the network, then the catalogue, counted in
/// items) and play (counted in simulated hours), each named, with its own length and ETA.
fn bar(sim: &Simulator) -> ProgressBar {
    let (phase, done, total) = sim.phase_progress();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>9} [{bar:40}] {pos}/{len} {msg} (elapsed {elapsed}, ETA {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(phase);
    bar.set_position(done);
    bar
}

/// Moves the bar to where the simulation is; a new phase starts the bar again at its length.
fn tick(bar: &ProgressBar, sim: &Simulator) {
    let (phase, done, total) = sim.phase_progress();
    if bar.prefix() != phase {
        bar.set_prefix(phase);
        bar.set_length(total);
        bar.reset();
    }
    bar.set_position(done);
    let stats = sim.stats();
    bar.set_message(match phase {
        "network" => "setting up cities and libraries".to_owned(),
        "catalogue" => format!("items catalogued · {} events", stats.events),
        _ => format!(
            "simulated hours · day {} · {} events · {} loans",
            sim.day(),
            stats.events,
            stats.loans
        ),
    });
}

fn bytes_under(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_under(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn print_stats(stats: &Stats) {
    println!(
        "loans {} (cross-city {}, patron-driven {}), renewals {}, returns {} (elsewhere {}, other city {}, late {})",
        stats.loans,
        stats.cross_city_loans,
        stats.patron_driven,
        stats.renewals,
        stats.returns,
        stats.returns_elsewhere,
        stats.returns_other_city,
        stats.late_returns
    );
    println!(
        "repatriations {}, booth restocks {}, booth swaps {}, lost {} (paid {}), tier changes {}, kiosk commands synced late {}",
        stats.repatriations,
        stats.restocks,
        stats.booth_swaps,
        stats.lost,
        stats.lost_paid,
        stats.tier_changes,
        stats.late_synced
    );
    println!(
        "temporary closures {}, returns put off until the library opened {}",
        stats.closures, stats.returns_put_off
    );
    println!(
        "digital loans {}, ended at their expiry by the sweep {}",
        stats.digital_loans, stats.digital_expired
    );
    println!(
        "holds placed {}, ready {}, picked up {}, cancelled {}, ended by the sweep {}, legs shipped {}",
        stats.holds_placed,
        stats.holds_ready,
        stats.holds_filled,
        stats.holds_cancelled,
        stats.holds_expired,
        stats.hold_legs
    );
    println!(
        "commands refused by the rules while generating {} {:?}, checkouts finding no copy {}",
        stats.refused, stats.refused_by, stats.no_copy
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run(SimulateArgs::parse()).await
}

async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    match (&args.data, &args.server) {
        (Some(dir), _) => to_store(dir, &args).await,
        (None, Some(url)) => to_server(url, &args).await,
        (None, None) => anyhow::bail!("--data DIR or --server URL is required"),
    }
}

async fn to_store(dir: &Path, args: &SimulateArgs) -> anyhow::Result<()> {
    let store: Arc<dyn EventStore> = Arc::new(
        EmbeddedStore::open(dir.join("log"), EmbeddedOptions::default())
            .await
            .with_context(|| format!("cannot open the data directory {}", dir.display()))?,
    );
    anyhow::ensure!(
        store.head_position() == Position::START,
        "{} already holds {} events: simulate into a new directory",
        dir.display(),
        store.head_position()
    );
    let first_day = args.start.unwrap_or_else(Simulator::default_first_day);
    let mut sim = Simulator::new(scale(args.scale), args.seed, first_day, args.days);
    let bar = bar(&sim);
    let started = Instant::now();
    let mut appends = 0;
    while let Some(chunk) = sim.next_chunk() {
        appends += readnet_sim::store::write(store.as_ref(), chunk).await?;
        tick(&bar, &sim);
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    // Positions are dense from 1: the head is the number of events.
    let events = store.head_position().get();
    drop(store);
    let log = dir.join("log");
    // The segments hold the events; the index files and the checkpoint only speed up an open,
    // and the acknowledged-head record and the lock are a few bytes.
    let segment_bytes = bytes_under(&log.join("segments"));
    let index_bytes = bytes_under(&log.join("index"));
    let other_bytes = bytes_under(&log) - segment_bytes - index_bytes;
    println!(
        "simulated {} day(s) from {first_day} at scale {:?} (seed {}) into {}",
        args.days,
        args.scale,
        args.seed,
        dir.display()
    );
    println!(
        "events {events} in {appends} appends, {elapsed:.1} s, {:.0} events/s",
        events as f64 / elapsed,
    );
    let per_event = |bytes: u64| bytes as f64 / events.max(1) as f64;
    println!(
        "bytes on disk: segments {segment_bytes} ({:.1} bytes/event), index files and checkpoint {index_bytes} ({:.1} bytes/event), other {other_bytes}",
        per_event(segment_bytes),
        per_event(index_bytes),
    );
    print_stats(sim.stats());
    println!(
        "patron ids use the test key \"readnet test key\": serve this directory with --patron-key-file pointing at a file holding exactly those bytes"
    );
    Ok(())
}

async fn to_server(url: &str, args: &SimulateArgs) -> anyhow::Result<()> {
    // The simulated days end at today's local (UTC+8) midnight: every occurred_at is in the past.
    let today = (Utc::now() + Duration::hours(8)).date_naive();
    let first_day = today - Duration::days(i64::from(args.days));
    let mut sim = Simulator::new(scale(args.scale), args.seed, first_day, args.days);
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read token file {}", file.display()))?,
        ),
        (None, None) => None,
    };
    let tls_ca = args
        .tls_ca
        .as_ref()
        .map(|file| {
            std::fs::read(file)
                .with_context(|| format!("--tls-ca {}: cannot read it", file.display()))
        })
        .transpose()?;
    let mut driver =
        readnet_sim::grpc::Driver::connect(url, args.clients, token.as_deref(), tls_ca.as_deref())
            .await?;
    let bar = bar(&sim);
    let started = Instant::now();
    loop {
        let (phase, before, total) = sim.phase_progress();
        let Some(chunk) = sim.next_chunk() else { break };
        for (sent, step) in chunk.into_iter().enumerate() {
            driver.send(step).await?;
            // A catalogue chunk is thousands of commands over the network: the bar moves
            // within it (one command per item, near enough), not only after it.
            if phase == "catalogue" && sent % 256 == 0 {
                bar.set_position((before + sent as u64).min(total));
            }
        }
        tick(&bar, &sim);
    }
    let report = driver.finish().await?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "simulated {} day(s) from {first_day} at scale {:?} (seed {}) against {url} with {} clients",
        args.days, args.scale, args.seed, args.clients
    );
    println!(
        "commands sent {}, accepted {}, rejected {} {:?}, {elapsed:.1} s, {:.0} commands/s",
        report.sent,
        report.accepted,
        report.rejections(),
        report.rejected,
        report.sent as f64 / elapsed
    );
    print_stats(sim.stats());
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    fn parse(args: &[&str]) -> Result<super::SimulateArgs, clap::Error> {
        super::SimulateArgs::try_parse_from([&["readnet-sim"], args].concat())
    }

    #[test]
    fn simulate_takes_one_destination() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--data", "d", "--server", "http://x"]).is_err());
        let args = parse(&["--server", "http://x", "--clients", "4"]).unwrap();
        assert_eq!((args.days, args.clients), (1, 4));
    }

    #[tokio::test]
    async fn a_small_store_mode_run_writes_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let args = parse(&["--data", path, "--scale", "small", "--days", "1"]).unwrap();
        super::run(args).await.unwrap();
        // A second run into the same directory is refused: its events would not fit the log.
        let args = parse(&["--data", path, "--scale", "small", "--days", "1"]).unwrap();
        assert!(super::run(args).await.is_err());
    }
}
