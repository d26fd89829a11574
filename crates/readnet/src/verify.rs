//! Signed tree heads, offline. `readnet checkpoint` signs the head of a data directory's log
//! with the directory's checkpoint key (Ed25519, `checkpoint.key`, created on first use) and
//! prints it as a C2SP signed note; `--public-key` prints the key auditors verify with.
//! `readnet verify` checks a signed checkpoint against a log, trusting only that public key, and
//! with `--state FILE` remembers the last checkpoint it accepted, so that a log that shows a
//! different past later (a fork, a rewritten event) is caught.
//!
//! Exit codes of `verify`: 0 verified, 1 tampered (a signature that does not verify, a root or
//! a past that differs, a log shorter than what was signed), 2 could not check (a file missing
//! or unreadable, a malformed key).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use readnet_domain::StreamId;
use readnet_projection::Projection as _;
use readnet_proto::v1;
use readnet_settlement::{Period, Settlement};
use readnet_store::{AllFrom, Direction, EventStore, Position, RecordedEvent};
use readnet_tlog::{
    Checkpoint, Hash, NoteError, NoteSigner, NoteVerifier, TileBuilder, leaf_bytes, leaf_hash,
    parse_leaf,
};

/// Records read per page from a log.
const PAGE: usize = 4096;

use crate::tree::hex;

/// The checkpoint key's file in a data directory.
pub const CHECKPOINT_KEY: &str = "checkpoint.key";

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The data directory (as given to `readnet serve`).
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// The log's name in its checkpoints, and the key's; set when the key is created.
    #[arg(long, value_name = "NAME", default_value = "readnet")]
    origin: String,
    /// Print the public (verifier) key instead of a checkpoint.
    #[arg(long)]
    public_key: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The log's public key (`<name>+<id>+<key>`, as `readnet checkpoint --public-key` prints
    /// it), or a file holding it.
    #[arg(long, value_name = "KEY")]
    key: String,
    /// The signed checkpoint to check.
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// The data directory, or a copy of it, whose log the checkpoint is checked against.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "export",
        conflicts_with = "export"
    )]
    data: Option<PathBuf>,
    /// An export with leaves (`readnet export events --leaves`) to check the checkpoint
    /// against instead of a data directory.
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
    /// The last checkpoint this auditor accepted: the new one must extend it; kept up to date.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Also recompute this closed period's statement (YYYY-MM) from the checked events with
    /// the settlement projection's own fold, and compare it with --statement.
    #[arg(long, value_name = "YYYY-MM", requires = "statement")]
    period: Option<Period>,
    /// The statement the server published for --period: the JSON `readnet statement PERIOD
    /// --json` prints.
    #[arg(long, value_name = "FILE", requires = "period")]
    statement: Option<PathBuf>,
}

/// The directory's signer, created (0600, synced) when it has none.
pub fn signer(data: &Path, origin: &str) -> anyhow::Result<NoteSigner> {
    let path = data.join(CHECKPOINT_KEY);
    match std::fs::read_to_string(&path) {
        Ok(text) => NoteSigner::from_text(&text)
            .with_context(|| format!("reading the checkpoint key {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = NoteSigner::new(origin, rand::random())?;
            crate::serve::create_secret_file(&path, format!("{}\n", signer.to_text()).as_bytes())
                .with_context(|| format!("creating the checkpoint key {}", path.display()))?;
            eprintln!(
                "created the checkpoint key {}; its public key: {}",
                path.display(),
                signer.verifier_text()
            );
            Ok(signer)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `readnet checkpoint`.
pub async fn checkpoint_command(args: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let signer = signer(&args.data, &args.origin)?;
    if args.public_key {
        println!("{}", signer.verifier_text());
        return Ok(ExitCode::SUCCESS);
    }
    let store = crate::audit::open(&args.data).await?;
    let (size, root) = crate::tree::root(&store, None).await?;
    let checkpoint = Checkpoint {
        origin: signer.name().to_owned(),
        size,
        root,
        time: Some(chrono::Utc::now().timestamp()),
    };
    print!("{}", signer.sign(&checkpoint.body()));
    Ok(ExitCode::SUCCESS)
}

/// What a check concluded (`verify`, `prove-line`).
pub(crate) enum Verdict {
    Verified(String),
    Tampered(String),
}

/// `readnet verify`.
pub async fn verify_command(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    Ok(report(verify(&args).await))
}

/// Prints a check's verdict; its exit code: 0 verified, 1 tampered, 2 could not check.
pub(crate) fn report(verdict: anyhow::Result<Verdict>) -> ExitCode {
    match verdict {
        Ok(Verdict::Verified(what)) => {
            println!("VERIFIED: {what}");
            ExitCode::SUCCESS
        }
        Ok(Verdict::Tampered(what)) => {
            println!("TAMPERED: {what}");
            ExitCode::FAILURE
        }
        Err(error) => {
            println!("COULD NOT CHECK: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// A public key given on the command line, or the file holding it.
pub(crate) fn read_key(key: &str) -> anyhow::Result<String> {
    Ok(match std::fs::read_to_string(key) {
        Ok(text) => text,
        Err(_) => key.to_owned(),
    })
}

/// The checkpoint in `note`, or why it is not to be trusted: a bad or missing signature, or a
/// log name other than the key's (tampered); a note that cannot be read is not checked.
pub(crate) fn opened_checkpoint(
    verifier: &NoteVerifier,
    note: &str,
    what: &str,
) -> anyhow::Result<Result<Checkpoint, Verdict>> {
    match verifier.open_checkpoint(note) {
        Ok(checkpoint) if checkpoint.origin != verifier.name() => {
            Ok(Err(Verdict::Tampered(format!(
                "{what}: it names the log {:?}, but the key is {:?}'s",
                checkpoint.origin,
                verifier.name()
            ))))
        }
        Ok(checkpoint) => Ok(Ok(checkpoint)),
        Err(error @ (NoteError::BadSignature(_) | NoteError::Unsigned(_))) => {
            Ok(Err(Verdict::Tampered(format!("{what}: {error}"))))
        }
        Err(error) => Err(error).context(what.to_owned()),
    }
}

async fn verify(args: &VerifyArgs) -> anyhow::Result<Verdict> {
    let verifier = NoteVerifier::from_text(&read_key(&args.key)?).context("the public key")?;
    let note = std::fs::read_to_string(&args.checkpoint)
        .with_context(|| format!("reading {}", args.checkpoint.display()))?;
    let what = format!("{}: the checkpoint", args.checkpoint.display());
    let checkpoint = match opened_checkpoint(&verifier, &note, &what)? {
        Ok(checkpoint) => checkpoint,
        Err(verdict) => return Ok(verdict),
    };
    let previous = match &args.state {
        Some(path) if path.exists() => {
            let note = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            match verifier.open_checkpoint(&note) {
                Ok(previous) => Some(previous),
                Err(error) => {
                    return Ok(Verdict::Tampered(format!(
                        "the remembered checkpoint {}: {error}",
                        path.display()
                    )));
                }
            }
        }
        _ => None,
    };
    let published = match &args.statement {
        Some(path) => Some(read_statement(path)?),
        None => None,
    };
    let history = match (&args.data, &args.export) {
        (_, Some(export)) => History::Export(export.clone()),
        (Some(data), None) => History::Log(data.clone()),
        (None, None) => anyhow::bail!("give --data DIR or --export FILE"),
    };
    let earlier = previous
        .as_ref()
        .map(|p| p.size)
        .filter(|&s| s <= checkpoint.size);
    let rebuilt = match rebuild(&history, checkpoint.size, earlier, args.period.is_some()).await? {
        Ok(rebuilt) => rebuilt,
        Err(verdict) => return Ok(verdict),
    };
    if rebuilt.held < checkpoint.size {
        return Ok(Verdict::Tampered(format!(
            "the checkpoint signs {} events; {} holds {}: events were removed (or this is an \
             incomplete copy)",
            checkpoint.size, history, rebuilt.held
        )));
    }
    if rebuilt.root != checkpoint.root {
        return Ok(Verdict::Tampered(format!(
            "the first {} events of {} have root {}; the signed checkpoint says {}{}",
            checkpoint.size,
            history,
            hex(&rebuilt.root),
            hex(&checkpoint.root),
            rebuilt.disagreement.map_or(String::new(), |d| format!(
                "; the first record out of place: {d}"
            ))
        )));
    }
    if let Some(disagreement) = rebuilt.disagreement {
        // The leaves are the signed ones; what the export shows people of them is not.
        return Ok(Verdict::Tampered(format!(
            "{history}: the leaves have the signed root, but {disagreement}"
        )));
    }
    if let Some(previous) = &previous {
        if previous.size > checkpoint.size {
            return Ok(Verdict::Tampered(format!(
                "the log was rolled back: a checkpoint of {} events was accepted before, this one \
                 signs {}",
                previous.size, checkpoint.size
            )));
        }
        // The past this auditor accepted must be the first part of the tree signed now.
        let old_root = rebuilt.earlier_root.expect("computed on the way");
        if old_root != previous.root {
            return Ok(Verdict::Tampered(format!(
                "the history changed: the first {} events had root {} when last accepted and \
                 have {} now",
                previous.size,
                hex(&previous.root),
                hex(&old_root)
            )));
        }
    }
    let mut recomputed = String::new();
    if let (Some(period), Some(published), Some(settlement)) =
        (args.period, &published, &rebuilt.settlement)
    {
        let differences = match compare_statement(settlement, period, published, checkpoint.size)? {
            Ok(differences) => differences,
            Err(verdict) => return Ok(verdict),
        };
        if !differences.is_empty() {
            return Ok(Verdict::Tampered(format!(
                "the statement of {period} in {} is not the one its proven events make:\n  {}",
                args.statement.as_deref().unwrap_or(Path::new("")).display(),
                differences.join("\n  ")
            )));
        }
        recomputed = format!(
            "; the statement of {period} (digest {}) is the one its events make, line for line",
            published.digest
        );
    }
    if let Some(path) = &args.state {
        remember(path, &note).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Verdict::Verified(format!(
        "{} signs {} events with root {}, and {} has exactly that root{}{recomputed}",
        checkpoint.origin,
        checkpoint.size,
        hex(&checkpoint.root),
        history,
        match previous {
            Some(previous) => format!(
                "; it extends the checkpoint of {} events accepted before",
                previous.size
            ),
            None => String::new(),
        }
    )))
}

/// Where a history's records come from: a data directory's log (opened read-only), or an
/// export with leaves.
pub(crate) enum History {
    Log(PathBuf),
    Export(PathBuf),
}

impl std::fmt::Display for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            History::Log(data) => write!(f, "the log in {}", data.display()),
            History::Export(file) => write!(f, "the export {}", file.display()),
        }
    }
}

/// What [`rebuild`] made of a history's first records.
pub(crate) struct Rebuilt {
    /// How many of the records asked for the history holds (fewer: it ends early).
    pub held: u64,
    /// The root of those records.
    pub root: Hash,
    /// The root of the first `earlier` records, when asked for.
    pub earlier_root: Option<Hash>,
    /// The settlement projection folded over them, when asked for.
    pub settlement: Option<Settlement>,
    /// An export's first line whose readable fields are not what its leaf says (position and
    /// what differs).
    pub disagreement: Option<String>,
}

/// Reads the first `size` records of `history` in position order, in bounded memory, and
/// rebuilds their tree's root (and the root of the first `earlier`), folding the settlement
/// projection over them when `fold`. An export's record missing or out of order, or a line
/// whose leaf is not a record, is a tampered history, named by its position.
pub(crate) async fn rebuild(
    history: &History,
    size: u64,
    earlier: Option<u64>,
    fold: bool,
) -> anyhow::Result<Result<Rebuilt, Verdict>> {
    let mut edge = TileBuilder::new();
    let mut earlier_root = earlier.filter(|&e| e == 0).map(|_| edge.root());
    let mut settlement = fold.then(Settlement::default);
    let mut disagreement = None;
    let mut take = |record: &RecordedEvent, leaf: &[u8]| -> anyhow::Result<()> {
        edge.push(leaf_hash(leaf), |_, _| {});
        if Some(edge.size()) == earlier {
            earlier_root = Some(edge.root());
        }
        if let Some(settlement) = settlement.as_mut()
            && StreamId::holds_facts(&record.stream)
        {
            let event = readnet_ledger::envelope::decode(record)
                .with_context(|| format!("decoding the event at position {}", record.position))?;
            settlement.apply(&event);
        }
        Ok(())
    };
    let held = match history {
        History::Log(data) => {
            let store = crate::audit::open(data).await?;
            let (mut held, mut leaf, mut next) = (0u64, Vec::new(), Position::FIRST);
            while held < size {
                let page = store
                    .read_all(AllFrom::Position(next), Direction::Forwards, PAGE)
                    .await?;
                let Some(last) = page.last().map(|e| e.position) else {
                    break;
                };
                for record in page.iter().take((size - held) as usize) {
                    leaf.clear();
                    leaf_bytes(record, &mut leaf);
                    take(record, &leaf)?;
                    held += 1;
                }
                next = last.next();
            }
            held
        }
        History::Export(file) => match read_export(file, size, &mut disagreement, &mut take)? {
            Ok(held) => held,
            Err(verdict) => return Ok(Err(verdict)),
        },
    };
    Ok(Ok(Rebuilt {
        held,
        root: edge.root(),
        earlier_root,
        settlement,
        disagreement,
    }))
}

/// Reads an export with leaves line by line, handing each of its first `size` records to
/// `take`; how many it holds. Each line's leaf must be a record at the next position, and its
/// readable fields what that record shows (the first that is not goes to `disagreement`).
fn read_export(
    file: &Path,
    size: u64,
    disagreement: &mut Option<String>,
    take: &mut impl FnMut(&RecordedEvent, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<Result<u64, Verdict>> {
    use base64::Engine as _;
    use std::io::BufRead as _;
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let mut held = 0u64;
    for (index, line) in reader.lines().enumerate() {
        if held == size {
            break;
        }
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        let number = index + 1;
        let expected = held + 1;
        let tampered = |what: String| {
            Ok(Err(Verdict::Tampered(format!(
                "{} line {number} (position {expected}): {what}",
                file.display()
            ))))
        };
        let mut value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(value) => value,
            Err(error) => return tampered(format!("not a JSON line: {error}")),
        };
        let Some(leaf) = value
            .as_object_mut()
            .and_then(|fields| fields.remove("leaf"))
        else {
            anyhow::bail!(
                "{} line {number} has no leaf: verifying needs an export made with \
                 `readnet export events --leaves`",
                file.display()
            );
        };
        let Some(leaf) = leaf
            .as_str()
            .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        else {
            return tampered("its leaf is not base64".to_owned());
        };
        let Some(record) = parse_leaf(&leaf) else {
            return tampered("its leaf is not a record".to_owned());
        };
        let at = record.position.get();
        if at > expected {
            return tampered(format!(
                "position {expected} is missing: the line holds position {at}"
            ));
        }
        if at < expected {
            return tampered(format!(
                "the line holds position {at} again, or out of order"
            ));
        }
        if disagreement.is_none() {
            *disagreement = match crate::audit::record_json(&record) {
                Ok(shown) => {
                    crate::audit::first_difference(&value, &shown, "$").map(|(path, line, leaf)| {
                        format!("position {at}: the line says {path} = {line}, its leaf {leaf}")
                    })
                }
                Err(error) => Some(format!(
                    "position {at}: its leaf does not decode: {error:#}"
                )),
            };
        }
        take(&record, &leaf)?;
        held += 1;
    }
    Ok(Ok(held))
}

/// A statement as `readnet statement PERIOD --json` prints it.
fn read_statement(path: &Path) -> anyhow::Result<v1::Statement> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    crate::output::proto_from_json("readnet.v1.Statement", &text)
        .with_context(|| format!("{}: not a statement", path.display()))
}

/// The differences between the statement of `period` the server published and the one the
/// settlement projection's fold makes of the events checked (the first `size`); empty when
/// they are the same statement. A period not closed within those events cannot be checked.
pub(crate) fn compare_statement(
    settlement: &Settlement,
    period: Period,
    published: &v1::Statement,
    size: u64,
) -> anyhow::Result<Result<Vec<String>, Verdict>> {
    if settlement.close_of(period).is_none() {
        anyhow::bail!(
            "{period} is not closed within the first {size} events: its statement can still \
             change; check it with a checkpoint signed after its close"
        );
    }
    let ours = settlement
        .statement(period)
        .with_context(|| format!("recomputing the statement of {period}"))?;
    let ours = readnet_settlement::service::statement_to_pb(&ours, published.applied_position);
    Ok(Ok(statement_differences(published, &ours)))
}

/// Every way `published` differs from `recomputed`, one sentence each: lines and nets by what
/// they are for, then the statement's own fields.
pub(crate) fn statement_differences(
    published: &v1::Statement,
    recomputed: &v1::Statement,
) -> Vec<String> {
    use std::collections::BTreeMap;
    let line_name = |l: &v1::StatementLine| {
        let kind = v1::ChargeKind::try_from(l.kind)
            .map(|k| {
                k.as_str_name()
                    .trim_start_matches("CHARGE_KIND_")
                    .to_lowercase()
            })
            .unwrap_or_else(|_| l.kind.to_string());
        let adjustment = if l.adjustment_of.is_empty() {
            String::new()
        } else {
            format!(" (adjustment of {})", l.adjustment_of)
        };
        format!(
            "{} owes {} for {kind}{adjustment}",
            l.debtor_city, l.creditor_city
        )
    };
    let lines = |s: &v1::Statement| -> BTreeMap<String, (u64, i64)> {
        s.lines
            .iter()
            .map(|l| (line_name(l), (l.count, l.amount_fen)))
            .collect()
    };
    let nets = |s: &v1::Statement| -> BTreeMap<String, i64> {
        s.nets.iter().map(|n| (n.city.clone(), n.net_fen)).collect()
    };
    let mut differences = Vec::new();
    let (theirs, ours) = (lines(published), lines(recomputed));
    let shown = |l: Option<&(u64, i64)>| {
        l.map_or("no such line".to_owned(), |(count, fen)| {
            format!("{count} charge(s), {fen} fen")
        })
    };
    let mut names: Vec<&String> = theirs.keys().chain(ours.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (t, o) = (theirs.get(name), ours.get(name));
        if t != o {
            differences.push(format!(
                "line {name}: published {}, recomputed {}",
                shown(t),
                shown(o)
            ));
        }
    }
    let (theirs, ours) = (nets(published), nets(recomputed));
    let mut cities: Vec<&String> = theirs.keys().chain(ours.keys()).collect();
    cities.sort();
    cities.dedup();
    for city in cities {
        let (t, o) = (theirs.get(city), ours.get(city));
        if t != o {
            let shown = |n: Option<&i64>| n.map_or("none".to_owned(), |n| format!("{n:+} fen"));
            differences.push(format!(
                "net of {city}: published {}, recomputed {}",
                shown(t),
                shown(o)
            ));
        }
    }
    let fields: [(&str, String, String); 7] = [
        (
            "status",
            format!("{:?}", published.status()),
            format!("{:?}", recomputed.status()),
        ),
        (
            "through_position",
            format!("{:?}", published.through_position),
            format!("{:?}", recomputed.through_position),
        ),
        (
            "close_position",
            format!("{:?}", published.close_position),
            format!("{:?}", recomputed.close_position),
        ),
        (
            "first_position",
            format!("{:?}", published.first_position),
            format!("{:?}", recomputed.first_position),
        ),
        (
            "last_position",
            format!("{:?}", published.last_position),
            format!("{:?}", recomputed.last_position),
        ),
        (
            "period",
            published.period.clone(),
            recomputed.period.clone(),
        ),
        (
            "digest",
            published.digest.clone(),
            recomputed.digest.clone(),
        ),
    ];
    for (field, theirs, ours) in fields {
        if theirs != ours {
            differences.push(format!("{field}: published {theirs}, recomputed {ours}"));
        }
    }
    differences
}

/// Replaces the state file with `note`, durably: written whole, synced, renamed, directory
/// synced (an empty state after a power cut would read as tampering).
pub(crate) fn remember(path: &Path, note: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(note.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> v1::Statement {
        let line =
            |debtor: &str, creditor: &str, kind: v1::ChargeKind, amount_fen| v1::StatementLine {
                debtor_city: debtor.into(),
                creditor_city: creditor.into(),
                kind: kind as i32,
                count: 2,
                amount_fen,
                adjustment_of: String::new(),
            };
        v1::Statement {
            period: "2026-11".into(),
            status: v1::StatementStatus::Final as i32,
            lines: vec![
                line("jinan", "zibo", v1::ChargeKind::Loan, 200),
                line("zibo", "jinan", v1::ChargeKind::Loan, 100),
            ],
            nets: vec![
                v1::StatementCityNet {
                    city: "jinan".into(),
                    net_fen: -100,
                },
                v1::StatementCityNet {
                    city: "zibo".into(),
                    net_fen: 100,
                },
            ],
            through_position: Some(20),
            close_position: Some(21),
            digest: "d".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_same_statement_differs_in_nothing() {
        assert!(statement_differences(&statement(), &statement()).is_empty());
    }

    #[test]
    fn a_line_changed_by_one_fen_is_named() {
        let mut published = statement();
        published.lines[1].amount_fen += 1;
        assert_eq!(
            statement_differences(&published, &statement()),
            [
                "line zibo owes jinan for loan: published 2 charge(s), 101 fen, recomputed 2 \
              charge(s), 100 fen"
            ]
        );
    }

    #[test]
    fn a_line_left_out_and_a_changed_close_are_named() {
        let mut published = statement();
        published.lines.remove(0);
        published.close_position = Some(22);
        assert_eq!(
            statement_differences(&published, &statement()),
            [
                "line jinan owes zibo for loan: published no such line, recomputed 2 charge(s), \
                 200 fen",
                "close_position: published Some(22), recomputed Some(21)",
            ]
        );
    }
}
