//! For an operator after a disk fault: `readnet doctor` reports what is on disk in a data
//! directory and whether the server would start on it; `readnet repair` truncates a damaged log
//! after its last intact append, moving what it cuts aside and logging what it did.
//!
//! `doctor` only reads. `repair` asks for the position it keeps through (the one `doctor`
//! reports), so that whoever runs it states what is lost; without it, it prints the plan.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use readnet_availability::Availability;
use readnet_projection::{Projection, SavedSnapshot, Snapshots, vouched};
use readnet_settlement::Settlement;
use readnet_statistics::Statistics;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore, Examination, examine, repair};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The data directory (as given to `readnet serve`).
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The data directory (as given to `readnet serve`); the server must be stopped.
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// The position the log is intact through, as `readnet doctor` reports it: everything after
    /// it is moved aside. Without it, the plan is printed and nothing changes.
    #[arg(long, value_name = "POSITION")]
    keep_through: Option<u64>,
}

fn log_dir(data: &Path) -> anyhow::Result<PathBuf> {
    let log = data.join("log");
    if !data.is_dir() {
        bail!("no data directory {}", data.display());
    }
    Ok(log)
}

/// `readnet doctor`: exit 0 when the server would start on the directory (snapshots it would
/// rebuild are reported, not failures), 1 when the log is damaged.
pub async fn doctor_command(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let log = log_dir(&args.data)?;
    println!("data directory {}", args.data.display());
    let key = args.data.join("patron.key");
    println!(
        "patron key      {}",
        if key.is_file() { "present" } else { "absent" }
    );
    if !log.is_dir() {
        println!("log             absent ({} does not exist)", log.display());
        if key.is_file() {
            println!(
                "verdict         DAMAGED: a patron key without a log; the log was moved or \
                 deleted. Restore it from a backup (`readnet restore`)"
            );
            return Ok(ExitCode::FAILURE);
        }
        println!("verdict         EMPTY: the server starts a new ledger here");
        return Ok(ExitCode::SUCCESS);
    }
    let examination = examine(&log).with_context(|| format!("examining {}", log.display()))?;
    print_examination(&examination);
    let snapshots = Snapshots::new(args.data.join("projections"));
    let store = match &examination.verdict {
        Ok(_) => Some(
            EmbeddedStore::open_read_only(&log, EmbeddedOptions::default())
                .await
                .with_context(|| format!("opening {} read-only", log.display()))?,
        ),
        Err(_) => None,
    };
    let keys_damage = patron_keys(&args.data, store.as_ref()).await?;
    println!("snapshots");
    for name in [Availability::NAME, Statistics::NAME, Settlement::NAME] {
        let verdict = match snapshots.read_checked(name) {
            Ok(None) => "none saved (built from the log at start)".to_owned(),
            Err(refused) => format!("REFUSED, rebuilt from the log at start: {refused}"),
            Ok(Some(saved)) => snapshot_verdict(&saved, name, store.as_ref()).await,
        };
        println!("  {name:<13} {verdict}");
    }
    // The open trusts index files over the parts they cover: damage there is found by the
    // frame walk above and by the read that meets it, not by the open. It is damage all the same.
    let hidden: Vec<String> = hidden_damage(&examination);
    if let (Ok(_), Some(damage)) = (&examination.verdict, &keys_damage) {
        println!("verdict         DAMAGED: {damage}");
        return Ok(ExitCode::FAILURE);
    }
    if let (Ok(_), false) = (&examination.verdict, hidden.is_empty()) {
        println!(
            "verdict         DAMAGED: {}. The server opens this log because its index files \
             cover these bytes, but reading those records fails. Move {} aside (index files \
             are caches) and run `readnet doctor` again to see the positions affected, then \
             `readnet repair`",
            hidden.join("; "),
            log.join("index").display()
        );
        return Ok(ExitCode::FAILURE);
    }
    match &examination.verdict {
        Ok((head, 0)) => {
            println!("verdict         OK: the log opens with head {head}");
            Ok(ExitCode::SUCCESS)
        }
        Ok((head, torn)) => {
            println!(
                "verdict         OK: the log opens with head {head}; {torn} byte(s) of an \
                 unacknowledged write at its end are cut at the next start"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(damage) => {
            println!("verdict         DAMAGED: {damage}");
            println!(
                "repair          `readnet repair --data {} --keep-through {}`",
                args.data.display(),
                damage.intact_through
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Damaged byte ranges the open did not see: anywhere but an unfinished write at the very end
/// of the last segment.
fn hidden_damage(examination: &Examination) -> Vec<String> {
    let torn = examination.verdict.as_ref().map_or(0, |(_, torn)| *torn);
    let last = examination.segments.len().saturating_sub(1);
    let mut hidden = Vec::new();
    for (i, segment) in examination.segments.iter().enumerate() {
        for (range, reason) in &segment.damaged {
            let in_torn_tail = i == last && *range.start() >= segment.len - torn;
            if !in_torn_tail {
                hidden.push(format!(
                    "{} bytes {}..={}: {reason}",
                    segment.path.display(),
                    range.start(),
                    range.end()
                ));
            }
        }
    }
    hidden
}

fn print_examination(examination: &Examination) {
    println!("segments        {}", examination.segments.len());
    for segment in &examination.segments {
        let name = segment
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let positions = segment
            .positions
            .map_or("no intact record".to_owned(), |(low, high)| {
                format!("positions {low}..={high}")
            });
        println!(
            "  {name}  {} bytes, {} intact record(s), {positions}",
            segment.len, segment.intact_records
        );
        for (range, reason) in &segment.damaged {
            println!(
                "    DAMAGED bytes {}..={}: {reason}",
                range.start(),
                range.end()
            );
        }
    }
    match &examination.acknowledged {
        Ok(Some(head)) => println!("acknowledged    through position {head}"),
        Ok(None) => println!("acknowledged    no record (a log written before it was kept)"),
        Err(reason) => println!("acknowledged    UNREADABLE (not believed): {reason}"),
    }
    let fitting = examination
        .index_files
        .iter()
        .filter(|(_, fits)| fits.is_ok())
        .count();
    println!(
        "index files     {} ({fitting} fit their segments)",
        examination.index_files.len()
    );
    for (path, fits) in &examination.index_files {
        if let Err(reason) = fits {
            println!(
                "  {}: does not fit, rebuilt at start: {reason}",
                path.display()
            );
        }
    }
    match &examination.checkpoint {
        None => println!("checkpoint      none"),
        Some((_, Some(head))) => println!("checkpoint      through position {head}"),
        Some((path, None)) => println!(
            "checkpoint      UNREADABLE, rebuilt at start: {}",
            path.display()
        ),
    }
}

async fn snapshot_verdict(
    saved: &SavedSnapshot,
    name: &str,
    store: Option<&EmbeddedStore>,
) -> String {
    let at = format!(
        "at position {} (fold version {})",
        saved.position, saved.version
    );
    let version = match name {
        Availability::NAME => Availability::VERSION,
        Statistics::NAME => Statistics::VERSION,
        _ => Settlement::VERSION,
    };
    if saved.version != version {
        return format!("{at}: another fold version, rebuilt from the log at start");
    }
    let Some(store) = store else {
        return format!("{at}: checksum holds; not checked against the damaged log");
    };
    match vouched(store, saved.position, saved.event_id).await {
        Ok(()) => format!("{at}: checksum holds, the log vouches for it"),
        Err(reason) => format!("{at}: NOT OF THIS LOG, rebuilt from the log at start: {reason}"),
    }
}

/// `readnet repair`: exit 0 after a repair, 2 when only the plan was printed.
pub async fn repair_command(args: RepairArgs) -> anyhow::Result<ExitCode> {
    let log = crate::audit::ledger_log(&args.data)?;
    let Some(keep_through) = args.keep_through else {
        let examination = examine(&log).with_context(|| format!("examining {}", log.display()))?;
        match examination.verdict {
            Ok((head, _)) => {
                println!("the log is not damaged (it opens with head {head}): nothing to repair");
                return Ok(ExitCode::SUCCESS);
            }
            Err(damage) => {
                println!("{damage}");
                println!(
                    "To keep positions 1..={0} and move everything after them aside, run \
                     `readnet repair --data {1} --keep-through {0}` with the server stopped.",
                    damage.intact_through,
                    args.data.display()
                );
                return Ok(ExitCode::from(2));
            }
        }
    };
    let repaired = repair(&log, keep_through)
        .with_context(|| format!("repairing the log in {}", log.display()))?;
    println!(
        "repaired: the log now ends at position {}; what was cut is in {}; the repair is \
         recorded in {}",
        repaired.head,
        repaired.moved_to.display(),
        log.join("repairs.log").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks the patron key store (ADR 0018) against the log: every file reads and checks, and
/// every sealed patron id in the log opens, to a live patron or one recorded as forgotten.
/// Prints what it found; the damage, if any.
async fn patron_keys(data: &Path, store: Option<&EmbeddedStore>) -> anyhow::Result<Option<String>> {
    use readnet_domain::personal::{is_sealed, patron_ids_mut};
    use readnet_ledger::keys::{KEY_DIR, KeyStore, Opened};
    use readnet_store::{AllFrom, Direction, EventStore as _};
    let keys = if data.join(KEY_DIR).is_dir() {
        match KeyStore::open_read_only(data) {
            Ok(keys) => Some(keys),
            Err(error) => {
                println!("patron keys     REFUSED: {error}");
                return Ok(Some(error.to_string()));
            }
        }
    } else {
        None
    };
    let (mut sealed, mut forgotten, mut missing) = (0u64, 0u64, None::<String>);
    // Where a damaged record stopped the walk: the log's own damage is reported below, by the
    // frame walk; the keys are checked up to it.
    let mut unread = None::<String>;
    if let Some(store) = store {
        let mut next = readnet_store::Position::FIRST;
        'log: loop {
            let page = match store
                .read_all(AllFrom::Position(next), Direction::Forwards, 4096)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    unread = Some(format!(
                        "checked only before position {next}, where the log cannot be read: {error}"
                    ));
                    break;
                }
            };
            let Some(last) = page.last() else { break };
            next = last.position.next();
            for event in &page {
                let Ok(mut decoded) = readnet_ledger::envelope::decode(event) else {
                    continue;
                };
                for id in patron_ids_mut(&mut decoded.payload) {
                    if !is_sealed(id) {
                        continue;
                    }
                    sealed += 1;
                    let opened = match &keys {
                        Some(keys) => keys.open_sealed(id).map_err(|e| e.to_string()),
                        None => Err(format!(
                            "the log holds sealed patron ids but there is no {KEY_DIR}/; restore it from the backup taken with the log"
                        )),
                    };
                    match opened {
                        Ok(Opened::Patron(_)) => {}
                        Ok(Opened::Forgotten) => forgotten += 1,
                        Err(why) => {
                            missing = Some(format!(
                                "the patron id in the event at position {}: {why}",
                                event.position
                            ));
                            break 'log;
                        }
                    }
                }
            }
        }
    }
    match (&keys, &missing) {
        (_, Some(why)) => println!("patron keys     DAMAGED: {why}"),
        (None, None) => println!("patron keys     absent (the log holds no sealed patron id)"),
        (Some(keys), None) => {
            let summary = keys.summary();
            println!(
                "patron keys     {} live, {} forgotten; {sealed} sealed patron ids in the log open ({forgotten} of forgotten patrons)",
                summary.live, summary.forgotten
            );
        }
    }
    if let Some(unread) = unread {
        println!("                {unread}");
    }
    Ok(missing)
}
