//! For auditors and analysts, offline, on a data directory: `readnet replay` folds every
//! projection from the first event and prints digests and statements; `readnet export` writes
//! events as JSON Lines or Parquet and statements as JSON or CSV (and `tables` the projection
//! tables as Parquet).
//!
//! The log is opened read-only ([`EmbeddedStore::open_read_only`]): nothing in the data
//! directory is written, renamed or deleted, so these run on a read-only copy or mount, and
//! beside a running server (they then see the log as it was when they opened it). A log whose
//! acknowledged events are missing or damaged is refused here as the server refuses it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use readnet_availability::Availability;
use readnet_domain::StreamId;
use readnet_projection::{
    ColdState, Pipeline, Projection, Snapshots, decode_state, replay, state_json, vouched,
};
use readnet_server::PatronView;
use readnet_server::projections::AllProjections;
use readnet_settlement::{Period, Settlement, Statement};
use readnet_statistics::Statistics;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore, salvage};
use readnet_store::{AllFrom, Direction, EventStore, Position, RecordedEvent};
use serde_json::Value;

/// Events read per page.
const PAGE: usize = 1024;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The data directory (as given to `readnet serve`).
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// Replay up to and including this position (default: the whole log).
    #[arg(long, value_name = "POSITION", conflicts_with = "check")]
    through: Option<u64>,
    /// Compare each projection's saved snapshot with a replay up to its position; exit 1 on
    /// any difference, naming it.
    #[arg(long)]
    check: bool,
    /// Keep availability's item rows on disk in this directory (ADR 0027), at most
    /// --hot-items of them in memory: for a network whose state does not fit the machine. The
    /// digests are the same. A file left there by an earlier run is replaced.
    #[arg(long, value_name = "DIR", conflicts_with = "check")]
    cold_state: Option<PathBuf>,
    /// With --cold-state: item rows kept in memory at most (about 100 bytes each).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1_000_000,
        requires = "cold_state"
    )]
    hot_items: usize,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Events as JSON Lines, one event (envelope and payload) a line.
    Events(ExportEventsArgs),
    /// Settlement statements, every period with charges, as JSON or CSV.
    Statements(ExportStatementsArgs),
    /// The projection tables as Parquet files in a directory: library, city and network days,
    /// flows, top titles, hold days, charges, statement lines and nets (docs/analytics.md).
    Tables(crate::tables::ExportTablesArgs),
}

#[derive(Debug, Args)]
pub struct ExportEventsArgs {
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// First position to export.
    #[arg(long, value_name = "POSITION", default_value_t = 1)]
    from: u64,
    /// Last position to export (default: the end of the log).
    #[arg(long, value_name = "POSITION")]
    through: Option<u64>,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// An export for this analytics principal: every patron id replaced by the pseudonym it
    /// sees over gRPC (keyed by the network secret and its name), so that its datasets join
    /// with what it reads from the server and with nobody else's.
    #[arg(long, value_name = "PRINCIPAL")]
    for_analyst: Option<String>,
    /// The network secret, for --for-analyst [default: DIR/patron.key].
    #[arg(long, value_name = "FILE", requires = "for_analyst")]
    patron_key_file: Option<PathBuf>,
    /// Read a damaged log: export every event that passes its checksum, past any damage, and
    /// name the missing positions on stderr (exit 1 when any are missing).
    #[arg(long)]
    salvage: bool,
    /// JSON Lines, or one Parquet file (needs --out): a row per event, its payload's fields as
    /// `data.<field>` columns (docs/analytics.md).
    #[arg(long, value_enum, default_value = "jsonl")]
    format: EventFormat,
    /// For auditors (`readnet verify --export`): every record of `$all`, not only the ledger's
    /// events, each line with `leaf`, the base64 of the record's canonical bytes (the leaf the
    /// Merkle tree hashes, ADR 0014). Patron ids stay as stored (sealed).
    #[arg(long, conflicts_with_all = ["for_analyst", "salvage"])]
    leaves: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EventFormat {
    Jsonl,
    Parquet,
}

/// The envelope columns of the events' Parquet file, first and in this order.
pub(crate) const EVENT_COLUMNS: &[&str] = &[
    "position",
    "event_type",
    "stream",
    "revision",
    "event_id",
    "occurred_at",
    "recorded_at",
    "acting_library",
    "channel",
    "command_id",
    "correlation_id",
    "principal",
];

/// The envelope columns written as TIMESTAMP(MICROS, UTC) rather than RFC 3339 text.
pub(crate) const EVENT_TIMESTAMPS: &[&str] = &["occurred_at", "recorded_at"];

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StatementFormat {
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportStatementsArgs {
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// Statements as of this position (default: the end of the log).
    #[arg(long, value_name = "POSITION")]
    through: Option<u64>,
    #[arg(long, value_enum, default_value = "json")]
    format: StatementFormat,
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The embedded store's directory in the data directory `data`; an error naming both when it
/// does not exist.
pub fn ledger_log(data: &Path) -> anyhow::Result<PathBuf> {
    let log = data.join("log");
    if !log.is_dir() {
        bail!(
            "no ledger in {}: {} does not exist",
            data.display(),
            log.display()
        );
    }
    Ok(log)
}

/// The log in `data`, opened read-only.
pub async fn open(data: &Path) -> anyhow::Result<EmbeddedStore> {
    let log = ledger_log(data)?;
    EmbeddedStore::open_read_only(&log, EmbeddedOptions::default())
        .await
        .with_context(|| format!("opening the log in {} read-only", log.display()))
}

pub(crate) fn progress(length: u64, what: &str) -> ProgressBar {
    // Drawn on stderr and only on a terminal: stdout stays the same bytes for the same log.
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({per_sec}, {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// The position `--through` names (the command line's number), at most the log's head.
pub(crate) fn through(argument: Option<u64>, store: &dyn EventStore) -> Position {
    argument
        .map_or(Position::MAX, Position::new)
        .min(store.head_position())
}

/// Every projection folded in one pass over the log (each event decoded once, each projection
/// folded and digested on its own thread), availability into `availability` (empty; its item
/// rows in memory or on disk).
async fn fold_all(
    store: &dyn EventStore,
    through: Position,
    availability: Availability,
) -> anyhow::Result<AllProjections> {
    let bar = progress(through.get(), "replaying");
    let folded = AllProjections::replay_from(store, Some(through), availability, |p| {
        bar.set_position(p.get())
    })
    .await?;
    bar.finish_and_clear();
    Ok(folded)
}

/// `readnet replay`.
pub async fn replay_command(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.data).await?;
    if args.check {
        return check(&store, &Snapshots::new(args.data.join("projections"))).await;
    }
    let through = through(args.through, &store);
    let availability = match &args.cold_state {
        Some(dir) => Availability::with_cold_items(&ColdState {
            dir: dir.clone(),
            hot_rows: args.hot_items,
        })
        .context("--cold-state")?,
        None => Availability::default(),
    };
    let folded = fold_all(&store, through, availability).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "replayed through position {through}")?;
    let digests = &folded.digests;
    writeln!(out, "{:<13} {}", Availability::NAME, digests.availability)?;
    writeln!(out, "{:<13} {}", Statistics::NAME, digests.statistics)?;
    writeln!(out, "{:<13} {}", Settlement::NAME, digests.settlement)?;
    let mut uncomputable = 0;
    for period in folded.settlement.periods() {
        writeln!(out)?;
        match folded.settlement.statement(period) {
            Ok(statement) => write_statement(&mut out, &statement)?,
            // One period the log cannot settle does not hide the others.
            Err(error) => {
                uncomputable += 1;
                writeln!(out, "statement {period}: cannot be computed")?;
                eprintln!("error: {error}");
            }
        }
    }
    out.flush()?;
    // The answer is out. Freeing the states (gigabytes of small allocations on a city's log)
    // would only delay the exit, by a sixth of the replay's time when measured: the process
    // ends now and the system takes the memory back whole.
    #[expect(
        clippy::mem_forget,
        reason = "deliberate: the states are left to the exit"
    )]
    std::mem::forget(folded);
    Ok(uncomputable_exit(uncomputable))
}

/// Success, or 1 with a message when some periods' statements could not be computed (each
/// named on stderr already).
fn uncomputable_exit(uncomputable: usize) -> ExitCode {
    if uncomputable == 0 {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {uncomputable} statement(s) could not be computed; the others are complete");
    ExitCode::FAILURE
}

fn write_statement(out: &mut impl Write, s: &Statement) -> std::io::Result<()> {
    let range = match (s.first_position, s.last_position) {
        (Some(first), Some(last)) => format!("positions {first}..={last}"),
        _ => "no charges".to_owned(),
    };
    let status = serde_json::to_value(s.status).expect("a status serialises");
    let closed = s
        .through_position
        .map_or(String::new(), |p| format!(", closed through position {p}"));
    writeln!(
        out,
        "statement {} ({}{closed}), {range}",
        s.period,
        status.as_str().unwrap_or("?")
    )?;
    for line in &s.lines {
        let adjustment = line
            .adjustment_of
            .map_or(String::new(), |p| format!(" (adjustment for {p})"));
        writeln!(
            out,
            "  {} owes {} for {}: {} × = {} fen{adjustment}",
            line.debtor,
            line.creditor,
            serde_json::to_value(line.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            line.count,
            line.amount_fen
        )?;
    }
    for net in &s.nets {
        writeln!(out, "  net {}: {:+} fen", net.city, net.net_fen)?;
    }
    writeln!(out, "  digest {}", s.digest())
}

/// `replay --check`: each saved snapshot against a replay up to its position.
async fn check(store: &EmbeddedStore, snapshots: &Snapshots) -> anyhow::Result<ExitCode> {
    let compared = [
        check_one::<Availability>(store, snapshots).await?,
        check_one::<Statistics>(store, snapshots).await?,
        check_one::<Settlement>(store, snapshots).await?,
    ];
    let count = |what: Compared| compared.iter().filter(|c| **c == what).count();
    if count(Compared::Differs) > 0 {
        println!(
            "{} projection(s) differ from their replay",
            count(Compared::Differs)
        );
        return Ok(ExitCode::FAILURE);
    }
    match count(Compared::Equal) {
        0 => println!("no saved projection to compare"),
        n => println!("{n} saved projection(s) equal their replay"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What comparing one projection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compared {
    NothingSaved,
    Equal,
    Differs,
}

async fn check_one<P: Projection>(
    store: &EmbeddedStore,
    snapshots: &Snapshots,
) -> anyhow::Result<Compared> {
    let saved = match snapshots.read_checked(P::NAME) {
        Ok(Some(saved)) => saved,
        Ok(None) => {
            println!("{:<13} no saved snapshot (nothing to compare)", P::NAME);
            return Ok(Compared::NothingSaved);
        }
        Err(refused) => {
            println!(
                "{:<13} DIFFERS: the saved snapshot is refused: {refused}",
                P::NAME
            );
            return Ok(Compared::Differs);
        }
    };
    let (version, position) = (saved.version, saved.position);
    if version != P::VERSION {
        println!(
            "{:<13} DIFFERS: saved by fold version {version}, this build folds version {}",
            P::NAME,
            P::VERSION
        );
        return Ok(Compared::Differs);
    }
    if let Err(reason) = vouched(store, position, saved.event_id).await {
        println!(
            "{:<13} DIFFERS: the saved snapshot is not of this log: {reason}",
            P::NAME
        );
        return Ok(Compared::Differs);
    }
    let saved: P = match decode_state(&saved.state) {
        Ok(saved) => saved,
        Err(error) => {
            println!(
                "{:<13} DIFFERS: the saved snapshot does not decode: {error}",
                P::NAME
            );
            return Ok(Compared::Differs);
        }
    };
    let bar = progress(position.get(), P::NAME);
    let mut pipeline = Pipeline::new();
    let folding = pipeline.fold_digested::<P>();
    pipeline
        .run(store, Some(position), |p| bar.set_position(p.get()))
        .await?;
    let replayed = folding.finish().await.context("the replay stopped")?;
    bar.finish_and_clear();
    // The digest of the typed state, as `readnet replay` prints it; the comparison is of values,
    // in their JSON form, so that a difference is named by its path.
    let replayed_digest = replayed.digest.expect("asked for");
    let (saved, replayed) = (state_json(&saved), state_json(&replayed.state));
    match first_difference(&saved, &replayed, "$") {
        None => {
            println!(
                "{:<13} equal at position {position} ({replayed_digest})",
                P::NAME
            );
            Ok(Compared::Equal)
        }
        Some((path, saved, replayed)) => {
            println!(
                "{:<13} DIFFERS at position {position}: {path}: saved {saved}, replayed {replayed}",
                P::NAME
            );
            Ok(Compared::Differs)
        }
    }
}

/// The first place two JSON values differ: its path and both sides (shortened).
pub(crate) fn first_difference(
    a: &Value,
    b: &Value,
    path: &str,
) -> Option<(String, String, String)> {
    let short = |v: &Value| {
        let text = v.to_string();
        if text.chars().count() > 80 {
            format!("{}…", text.chars().take(80).collect::<String>())
        } else {
            text
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{path}.{k}")),
                (p, q) => Some((
                    format!("{path}.{k}"),
                    p.map_or("(absent)".into(), short),
                    q.map_or("(absent)".into(), short),
                )),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some((path.to_owned(), short(a), short(b))),
    }
}

fn output(out: &Option<PathBuf>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// `readnet export`.
pub async fn export_command(command: ExportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ExportCommand::Events(args) => export_events(args).await,
        ExportCommand::Statements(args) => export_statements(args).await,
        ExportCommand::Tables(args) => crate::tables::export_tables(args).await,
    }
}

async fn export_events(args: ExportEventsArgs) -> anyhow::Result<ExitCode> {
    let patrons = match &args.for_analyst {
        None => PatronView::Full,
        Some(analyst) => {
            let key_file = args
                .patron_key_file
                .clone()
                .unwrap_or_else(|| args.data.join("patron.key"));
            PatronView::Pseudonym {
                key: crate::serve::read_key(&key_file)?,
                reader: analyst.as_str().into(),
            }
        }
    };
    // An analyst's export is the operator's: live patrons' sealed ids are opened with the data
    // directory's key store, so the pseudonyms are those the analyst reads over gRPC. A plain
    // export, an auditor's, holds the ids as stored: sealed (ADR 0018).
    let keys = match &args.for_analyst {
        Some(_) if args.data.join(readnet_ledger::keys::KEY_DIR).is_dir() => Some(
            readnet_ledger::keys::KeyStore::open_read_only(&args.data)
                .context("opening the patron key store")?,
        ),
        _ => None,
    };
    if args.salvage {
        anyhow::ensure!(
            args.format == EventFormat::Jsonl,
            "--salvage exports JSON Lines only: give --format jsonl"
        );
        return export_salvaged(&args, &patrons);
    }
    let store = open(&args.data).await?;
    let through = through(args.through, &store);
    let from = Position::new(args.from).max(Position::FIRST);
    if args.leaves {
        anyhow::ensure!(
            args.format == EventFormat::Jsonl,
            "--leaves exports JSON Lines only: give --format jsonl"
        );
        let mut out = output(&args.out)?;
        export_leaves(&store, from, through, &mut out).await?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        EventFormat::Jsonl => {
            let mut out = output(&args.out)?;
            each_event(
                &store,
                from,
                through,
                &patrons,
                keys.as_deref(),
                "exporting",
                |event| {
                    serde_json::to_writer(&mut out, &event)?;
                    Ok(out.write_all(b"\n")?)
                },
            )
            .await?;
            out.flush()?;
        }
        EventFormat::Parquet => {
            let Some(path) = &args.out else {
                bail!("--format parquet writes a file: give --out FILE.parquet");
            };
            // Two passes: the columns of every event first, so the file has one schema.
            let mut schema = crate::parquet_out::SchemaBuilder::default();
            each_event(
                &store,
                from,
                through,
                &patrons,
                keys.as_deref(),
                "reading columns",
                |event| {
                    schema.observe(&event);
                    Ok(())
                },
            )
            .await?;
            let mut file = crate::parquet_out::ParquetFile::create(
                path,
                schema.columns(EVENT_COLUMNS, EVENT_TIMESTAMPS),
            )?;
            each_event(
                &store,
                from,
                through,
                &patrons,
                keys.as_deref(),
                "writing Parquet",
                |event| file.push(&event),
            )
            .await?;
            file.finish()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Each ledger event from `from` through `through`, as its JSON export (patron ids as
/// `patrons` shows them), with a progress bar.
async fn each_event(
    store: &EmbeddedStore,
    from: Position,
    through: Position,
    patrons: &PatronView,
    keys: Option<&readnet_ledger::keys::KeyStore>,
    what: &str,
    mut f: impl FnMut(serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let before_from = from.previous().unwrap_or(Position::START);
    let bar = progress(through.events_since(before_from), what);
    let mut next = from;
    while next <= through {
        let page = store
            .read_all(AllFrom::Position(next), Direction::Forwards, PAGE)
            .await?;
        let Some(end) = page.last().map(|e| e.position) else {
            break;
        };
        let ledger_events = page
            .iter()
            .take_while(|e| e.position <= through)
            .filter(|e| StreamId::is_ledger_stream(&e.stream));
        for event in ledger_events {
            let recorded = patrons.event(readnet_server::recorded_event_opened(event, keys)?);
            f(crate::output::event_json(&recorded))?;
        }
        bar.set_position(end.min(through).events_since(from) + 1);
        next = end.next();
    }
    bar.finish_and_clear();
    Ok(())
}

/// The JSON line `export events --leaves` writes for `record`, without its `leaf`: a ledger
/// event as a plain export shows it (patron ids as stored), any other record its envelope. What
/// `readnet verify --export` rebuilds from each leaf and compares with the line.
pub(crate) fn record_json(record: &RecordedEvent) -> anyhow::Result<Value> {
    if StreamId::is_ledger_stream(&record.stream) {
        return Ok(crate::output::event_json(&readnet_server::recorded_event(
            record,
        )?));
    }
    Ok(serde_json::json!({
        "event_id": record.event_id,
        "event_type": record.event_type,
        "stream": record.stream,
        "revision": record.revision.get(),
        "position": record.position.get(),
        "data": Value::Null,
    }))
}

/// `export events --leaves`: every record from `from` through `through`, each with its leaf.
async fn export_leaves(
    store: &EmbeddedStore,
    from: Position,
    through: Position,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    let before_from = from.previous().unwrap_or(Position::START);
    let bar = progress(through.events_since(before_from), "exporting");
    let (mut next, mut leaf) = (from, Vec::new());
    while next <= through {
        let page = store
            .read_all(AllFrom::Position(next), Direction::Forwards, PAGE)
            .await?;
        let Some(end) = page.last().map(|e| e.position) else {
            break;
        };
        for record in page.iter().take_while(|e| e.position <= through) {
            let mut line = record_json(record)?;
            leaf.clear();
            readnet_tlog::leaf_bytes(record, &mut leaf);
            line["leaf"] = Value::String(base64::engine::general_purpose::STANDARD.encode(&leaf));
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        bar.set_position(end.min(through).events_since(from) + 1);
        next = end.next();
    }
    bar.finish_and_clear();
    Ok(())
}

/// `export events --salvage`: the store's own frame walk, not an open store, so that damage
/// anywhere stops nothing but the records it covers.
fn export_salvaged(args: &ExportEventsArgs, patrons: &PatronView) -> anyhow::Result<ExitCode> {
    let log = ledger_log(&args.data)?;
    let (from, through) = (args.from, args.through.unwrap_or(u64::MAX));
    let mut out = output(&args.out)?;
    let mut undecodable = 0u64;
    let salvaged = salvage(&log, |event| {
        let position = event.position.get();
        if position < from || position > through || !StreamId::is_ledger_stream(&event.stream) {
            return Ok(());
        }
        match readnet_server::recorded_event(&event) {
            Ok(recorded) => {
                let recorded = patrons.event(recorded);
                serde_json::to_writer(&mut out, &crate::output::event_json(&recorded))?;
                out.write_all(b"\n")
            }
            // Passed its checksum but is not a ledger event this build reads: named, not dropped.
            Err(error) => {
                undecodable += 1;
                eprintln!("position {position}: not exported: {error}");
                Ok(())
            }
        }
    })
    .with_context(|| format!("salvaging the log in {}", log.display()))?;
    out.flush()?;
    for (path, bytes) in &salvaged.damaged {
        eprintln!(
            "damaged: {} bytes {}..={}",
            path.display(),
            bytes.start(),
            bytes.end()
        );
    }
    let missing: Vec<_> = salvaged
        .missing
        .iter()
        .filter(|range| *range.end() >= from && *range.start() <= through)
        .collect();
    for range in &missing {
        eprintln!("missing: positions {}..={}", range.start(), range.end());
    }
    eprintln!(
        "salvaged {} intact event(s); {} range(s) of positions missing",
        salvaged.events,
        missing.len()
    );
    Ok(if missing.is_empty() && undecodable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn export_statements(args: ExportStatementsArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.data).await?;
    let through = through(args.through, &store);
    let bar = progress(through.get(), Settlement::NAME);
    let settlement: Settlement =
        replay(&store, Some(through), |p| bar.set_position(p.get())).await?;
    bar.finish_and_clear();
    let (statements, uncomputable) = statements_of(&settlement);
    let mut out = output(&args.out)?;
    match args.format {
        StatementFormat::Json => write_json(&mut out, &statements)?,
        StatementFormat::Csv => write_csv(&mut out, &statements)?,
    }
    out.flush()?;
    Ok(uncomputable_exit(uncomputable))
}

/// The statement of every period the log holds, and how many periods could not be settled
/// (each said on stderr): one period the log cannot settle does not hide the others.
pub fn statements_of(settlement: &Settlement) -> (Vec<Statement>, usize) {
    let mut statements = Vec::new();
    let mut uncomputable = 0;
    for period in settlement.periods() {
        match settlement.statement(period) {
            Ok(statement) => statements.push(statement),
            Err(error) => {
                uncomputable += 1;
                eprintln!("error: {error}");
            }
        }
    }
    (statements, uncomputable)
}

/// A JSON array of `{"digest": …, "statement": …}`, one per line, where `statement` is the
/// statement's canonical encoding byte for byte: SHA-256 of exactly those bytes is `digest`.
fn write_json(out: &mut impl Write, statements: &[Statement]) -> std::io::Result<()> {
    out.write_all(b"[")?;
    for (i, s) in statements.iter().enumerate() {
        let separator: &[u8] = if i == 0 { b"\n" } else { b",\n" };
        out.write_all(separator)?;
        write!(out, "{{\"digest\":\"{}\",\"statement\":", s.digest())?;
        out.write_all(&s.canonical_bytes())?;
        out.write_all(b"}")?;
    }
    out.write_all(b"\n]\n")
}

/// One row per statement line: period, status, debtor, creditor, kind, adjustment_of, count,
/// amount_fen, the statement's digest. Codes and periods never hold commas or quotes.
fn write_csv(out: &mut impl Write, statements: &[Statement]) -> std::io::Result<()> {
    writeln!(
        out,
        "period,status,debtor,creditor,kind,adjustment_of,count,amount_fen,statement_digest"
    )?;
    let word = |v: Value| v.as_str().map(str::to_owned).unwrap_or_default();
    for s in statements {
        let digest = s.digest();
        let status = word(serde_json::to_value(s.status).expect("a status serialises"));
        for line in &s.lines {
            writeln!(
                out,
                "{},{status},{},{},{},{},{},{},{digest}",
                s.period,
                line.debtor,
                line.creditor,
                word(serde_json::to_value(line.kind).expect("a kind serialises")),
                line.adjustment_of
                    .map(|p: Period| p.to_string())
                    .unwrap_or_default(),
                line.count,
                line.amount_fen
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let saved = json!({"items": {"A": {"place": "shelf"}, "B": 1}, "position": 5});
        let replayed = json!({"items": {"A": {"place": "loan"}, "B": 1}, "position": 5});
        let (path, a, b) = first_difference(&saved, &replayed, "$").unwrap();
        assert_eq!(path, "$.items.A.place");
        assert_eq!((a.as_str(), b.as_str()), ("\"shelf\"", "\"loan\""));
        assert!(first_difference(&saved, &saved, "$").is_none());
        let (path, _, b) = first_difference(&json!({"a": 1}), &json!({}), "$").unwrap();
        assert_eq!((path.as_str(), b.as_str()), ("$.a", "(absent)"));
    }
}
