//! `readnet export-hourly`: the log as hourly Parquet partitions that grow while the server
//! runs, for Spark, Trino or DuckDB jobs that must not touch the server.
//!
//! It follows the server's `$all` subscription (`LedgerService.SubscribeAll`, so an analytics
//! principal gets its pseudonyms, as every read does) and keeps one hour of events (by
//! `recorded_at`, UTC) in memory. An hour is written once it is over: when an event of a later
//! hour arrives, or when the clock is a minute past its end. Its file is
//! `OUT/date=YYYY-MM-DD/hour=HH/events-<first>-<last>.parquet` (Hive-style partitions), written
//! under a hidden temporary name and renamed into place, and only then is
//! `OUT/_checkpoint.json` (the last position written) replaced, the same way. On stopping
//! (Ctrl-C, or `--until-caught-up`) the hour so far is written as well. A restart resumes after
//! the checkpoint: an hour may then have a second file, of the positions after the first's, and
//! no position is written twice. A crash loses only the hour in memory, which is read again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Timelike as _, Utc};
use clap::Args;
use readnet_proto::v1::{self, subscribe_all_response::Message};
use serde_json::Value;

use crate::cli::ServerOpts;
use crate::parquet_out::{ParquetFile, SchemaBuilder};

/// How long after an hour's end it is written when no later event has come.
const GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// `readnet export-hourly`'s arguments.
#[derive(Debug, Args)]
pub struct HourlyArgs {
    /// The dataset's directory (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Stop once caught up with the log and every finished hour is written (a batch job),
    /// instead of following the log.
    #[arg(long)]
    until_caught_up: bool,
    #[command(flatten)]
    server: ServerOpts,
}

/// What `_checkpoint.json` holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    /// The last position written into a partition.
    position: u64,
}

/// The hour being collected.
struct Hour {
    start: DateTime<Utc>,
    rows: Vec<Value>,
    first: u64,
    last: u64,
}

/// Runs the exporter until Ctrl-C (or, with `--until-caught-up`, until caught up).
pub async fn run(args: HourlyArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let after = read_checkpoint(&args.out)?;
    let client = args.server.connect().await?;
    let mut stream = client
        .ledger()
        .subscribe_all(v1::SubscribeAllRequest {
            after_position: after,
        })
        .await?
        .into_inner();
    let mut hour: Option<Hour> = None;
    let mut caught_up = false;
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            message = stream.message() => {
                let Some(message) = message? else {
                    anyhow::bail!("the server ended the subscription");
                };
                match message.message {
                    Some(Message::Event(event)) => {
                        let recorded = event
                            .recorded_at
                            .as_ref()
                            .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
                            .context("an event without recorded_at")?;
                        let start = hour_of(recorded);
                        if let Some(done) = hour.take_if(|h| h.start < start) {
                            write_hour(&args.out, done)?;
                        }
                        let current = hour.get_or_insert_with(|| Hour {
                            start,
                            rows: Vec::new(),
                            first: event.position,
                            last: event.position,
                        });
                        current.last = event.position;
                        current.rows.push(crate::output::event_json(&event));
                    }
                    Some(Message::CaughtUp(_)) => caught_up = true,
                    None => {}
                }
            }
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => return flush(&args.out, hour),
        }
        if hour
            .as_ref()
            .is_some_and(|h| Utc::now() >= h.start + chrono::TimeDelta::hours(1) + GRACE)
        {
            write_hour(&args.out, hour.take().expect("an hour"))?;
        }
        if args.until_caught_up && caught_up {
            return flush(&args.out, hour);
        }
    }
}

/// On stopping: the hour so far is written too. The rest of that hour, read after the
/// checkpoint when the exporter starts again, goes into a second file in the same partition.
fn flush(out: &Path, hour: Option<Hour>) -> anyhow::Result<()> {
    match hour {
        Some(hour) => write_hour(out, hour),
        None => Ok(()),
    }
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .expect("the start of an hour exists")
}

/// Writes one finished hour as its partition's file, then moves the checkpoint past it.
fn write_hour(out: &Path, hour: Hour) -> anyhow::Result<()> {
    let dir = out
        .join(format!("date={}", hour.start.format("%Y-%m-%d")))
        .join(format!("hour={:02}", hour.start.hour()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut schema = SchemaBuilder::default();
    hour.rows.iter().for_each(|row| schema.observe(row));
    let path = dir.join(format!(
        "events-{:012}-{:012}.parquet",
        hour.first, hour.last
    ));
    let columns = schema.columns(crate::audit::EVENT_COLUMNS, crate::audit::EVENT_TIMESTAMPS);
    let mut file = ParquetFile::create(&path, columns)?;
    for row in &hour.rows {
        file.push(row)?;
    }
    file.finish()?;
    write_checkpoint(out, hour.last)?;
    tracing::info!(
        path = %path.display(),
        events = hour.rows.len(),
        through = hour.last,
        "hour written"
    );
    Ok(())
}

fn checkpoint_path(out: &Path) -> PathBuf {
    out.join("_checkpoint.json")
}

/// The position after which to resume: the checkpoint's, or 0 for a new dataset.
fn read_checkpoint(out: &Path) -> anyhow::Result<u64> {
    let path = checkpoint_path(out);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let checkpoint: Checkpoint = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a checkpoint", path.display()))?;
            Ok(checkpoint.position)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the checkpoint: a synced temporary file renamed over it.
fn write_checkpoint(out: &Path, position: u64) -> anyhow::Result<()> {
    let path = checkpoint_path(out);
    let partial = out.join("._checkpoint.json.partial");
    std::fs::write(&partial, serde_json::to_vec(&Checkpoint { position })?)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &path)?;
    std::fs::File::open(out)?.sync_all()?;
    Ok(())
}
