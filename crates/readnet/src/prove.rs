//! `readnet prove-line`: an auditor's check of one line of a closed settlement statement, down
//! to the events behind it, trusting only the log's public key. It asks the server's
//! AuditService for the line and its charges (page by page), then checks, itself:
//!
//! - the period's checkpoint is signed by the key, for the log the key names;
//! - every charge's event is in that checkpoint's tree (its leaf bytes and inclusion proof);
//! - every event is what the charge says it is: at the charge's position, of the type its kind
//!   comes from (a loan from ItemLoaned, a return from ItemReturned, shipping from
//!   TransferDispatched, a lost book from ItemDeclaredLost), for the charge's item;
//! - the charges add up to the line: its count and its amount;
//! - with `--state`, the checkpoint and the one this auditor accepted last are of one history
//!   (a consistency proof, either way round), and the newer of the two is remembered.
//!
//! Exit codes as `readnet verify`: 0 verified, 1 tampered, 2 could not check.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use readnet_domain::Payload;
use readnet_proto::v1::{self, ChargeKind};
use readnet_tlog::{
    Checkpoint, Hash, NoteVerifier, leaf_hash, parse_leaf, verify_consistency, verify_inclusion,
};

use crate::cli::ServerOpts;
use crate::tree::hex;
use crate::verify::{History, Verdict, opened_checkpoint, read_key, rebuild, remember, report};
use readnet_settlement::{Charge, Period};

#[derive(Debug, Args)]
pub struct ProveLineArgs {
    /// The closed period, YYYY-MM.
    period: String,
    /// The city that owes.
    #[arg(long, value_name = "CITY")]
    debtor: String,
    /// The city owed.
    #[arg(long, value_name = "CITY")]
    creditor: String,
    /// The charges' kind: loan, return, shipping or lost.
    #[arg(long, value_name = "KIND", value_parser = ["loan", "return", "shipping", "lost", "digital"])]
    kind: String,
    /// For an adjustment line, the closed period its events occurred in (default: PERIOD, the
    /// regular line).
    #[arg(long, value_name = "YYYY-MM")]
    original_period: Option<String>,
    /// The log's public key (`<name>+<id>+<key>`), or a file holding it.
    #[arg(long = "key", id = "public_key", value_name = "KEY")]
    public_key: String,
    /// The last checkpoint this auditor accepted: the period's must be of one history with it;
    /// the newer of the two is kept here.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Recompute the line from this copy of the history (a data directory, read-only): its
    /// first events must have the period's signed root; the settlement projection's own fold
    /// over them gives each charge, which must be the server's, amount for amount, with none
    /// left out.
    #[arg(long, value_name = "DIR", conflicts_with = "export")]
    history: Option<PathBuf>,
    /// As --history, from an export with leaves (`readnet export events --leaves`).
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
    #[command(flatten)]
    server: ServerOpts,
}

fn kind_of(name: &str) -> ChargeKind {
    match name {
        "loan" => ChargeKind::Loan,
        "return" => ChargeKind::Return,
        "shipping" => ChargeKind::Shipping,
        "digital" => ChargeKind::Digital,
        _ => ChargeKind::Lost,
    }
}

/// Whether an event's payload is one a charge of `kind` for `item` comes from.
fn charge_source(kind: ChargeKind, item: &str, payload: &Payload) -> bool {
    match (kind, payload) {
        (ChargeKind::Loan, Payload::ItemLoaned(e)) => e.item == item,
        (ChargeKind::Return, Payload::ItemReturned(e)) => e.item == item,
        (ChargeKind::Shipping, Payload::TransferDispatched(e)) => e.item == item,
        (ChargeKind::Lost, Payload::ItemDeclaredLost(e)) => e.item == item,
        (ChargeKind::Digital, Payload::DigitalLoaned(e)) => e.resource == item,
        _ => false,
    }
}

fn hashes(proof: &[Vec<u8>]) -> anyhow::Result<Vec<Hash>> {
    proof
        .iter()
        .map(|h| {
            <Hash>::try_from(h.as_slice())
                .map_err(|_| anyhow::anyhow!("a proof hash of {} bytes", h.len()))
        })
        .collect()
}

/// Every way the charges the server `served` for a line differ from the ones the settlement
/// fold made of the events (`ours`), by position: a charge inflated or moved to other cities, a
/// charge from an event that makes none, a charge left out.
fn charge_differences(ours: &[&Charge], served: &[&v1::SettlementCharge]) -> Vec<String> {
    use std::collections::BTreeMap;
    let ours: BTreeMap<u64, &Charge> = ours.iter().map(|c| (c.position.get(), *c)).collect();
    let theirs: BTreeMap<u64, &v1::SettlementCharge> =
        served.iter().map(|c| (c.position, *c)).collect();
    let mut positions: Vec<u64> = ours.keys().chain(theirs.keys()).copied().collect();
    positions.sort_unstable();
    positions.dedup();
    let mut differences = Vec::new();
    for at in positions {
        match (ours.get(&at), theirs.get(&at)) {
            (Some(ours), Some(theirs)) => {
                let ours_pb = readnet_settlement::service::charge_to_pb(ours);
                if ours_pb != **theirs {
                    differences.push(format!(
                        "position {at}: the server says {} owes {} {} fen for {}; the rules \
                         give {} owes {} {} fen for {}",
                        theirs.debtor_city,
                        theirs.creditor_city,
                        theirs.amount_fen,
                        theirs.item,
                        ours_pb.debtor_city,
                        ours_pb.creditor_city,
                        ours_pb.amount_fen,
                        ours_pb.item
                    ));
                }
            }
            (None, Some(theirs)) => differences.push(format!(
                "position {at}: the server charges {} fen for {}; by the rules that event makes \
                 no charge on this line",
                theirs.amount_fen, theirs.item
            )),
            (Some(ours), None) => differences.push(format!(
                "position {at}: the server left out the charge of {} fen for {}",
                ours.amount_fen, ours.item
            )),
            (None, None) => unreachable!("a position of one of the two"),
        }
    }
    differences
}

/// `readnet prove-line`.
pub async fn prove_line_command(args: ProveLineArgs) -> anyhow::Result<ExitCode> {
    Ok(report(prove_line(&args).await))
}

async fn prove_line(args: &ProveLineArgs) -> anyhow::Result<Verdict> {
    let verifier =
        NoteVerifier::from_text(&read_key(&args.public_key)?).context("the public key")?;
    let client = args.server.connect().await?;
    let mut audit = client.audit();
    let kind = kind_of(&args.kind);
    let mut request = v1::ProveStatementLineRequest {
        period: args.period.clone(),
        debtor_city: args.debtor.clone(),
        creditor_city: args.creditor.clone(),
        kind: kind as i32,
        original_period: args
            .original_period
            .clone()
            .unwrap_or_else(|| args.period.clone()),
        after_position: 0,
        page_size: 1000,
    };
    let (mut note, mut charges) = (None::<String>, Vec::new());
    let mut line;
    loop {
        let page = audit
            .prove_statement_line(request.clone())
            .await
            .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
            .into_inner();
        let page_note = page
            .checkpoint
            .context("the answer holds no checkpoint")?
            .note;
        match &note {
            Some(first) if *first != page_note => {
                return Ok(Verdict::Tampered(
                    "the server changed the period's checkpoint between two pages".to_owned(),
                ));
            }
            _ => note = Some(page_note),
        }
        line = page.line;
        let more = page.more;
        charges.extend(page.charges);
        if !more {
            break;
        }
        request.after_position = charges
            .last()
            .and_then(|c| c.charge.as_ref())
            .map(|c| c.position)
            .context("a page with more to come holds no charge")?;
    }
    let note = note.expect("one page at least");
    let line = line.context("the answer holds no line")?;
    let head: Checkpoint = match opened_checkpoint(&verifier, &note, "the period's checkpoint")? {
        Ok(head) => head,
        Err(verdict) => return Ok(verdict),
    };
    let (mut count, mut amount) = (0u64, 0i64);
    for proven in &charges {
        let charge = proven
            .charge
            .as_ref()
            .context("a proven charge without its charge")?;
        let at = charge.position;
        if at == 0 || at > head.size {
            return Ok(Verdict::Tampered(format!(
                "a charge at position {at} is outside the period's tree of {} events",
                head.size
            )));
        }
        let proof = hashes(&proven.proof)?;
        if let Err(error) = verify_inclusion(
            at - 1,
            head.size,
            &leaf_hash(&proven.leaf),
            &proof,
            &head.root,
        ) {
            return Ok(Verdict::Tampered(format!(
                "the event of the charge at position {at} is not in the signed tree: {error}"
            )));
        }
        let Some(record) = parse_leaf(&proven.leaf) else {
            return Ok(Verdict::Tampered(format!(
                "the leaf at position {at} is not a record"
            )));
        };
        if record.position.get() != at {
            return Ok(Verdict::Tampered(format!(
                "the charge says position {at}; its event is at {}",
                record.position.get()
            )));
        }
        let event = readnet_ledger::envelope::decode(&record)
            .with_context(|| format!("decoding the event at position {at}"))?;
        if !charge_source(kind, &charge.item, &event.payload) || charge.kind != kind as i32 {
            return Ok(Verdict::Tampered(format!(
                "the event at position {at} ({}) is not a {} of item {}",
                record.event_type, args.kind, charge.item
            )));
        }
        if (charge.debtor_city.as_str(), charge.creditor_city.as_str())
            != (args.debtor.as_str(), args.creditor.as_str())
        {
            return Ok(Verdict::Tampered(format!(
                "the charge at position {at} is between {} and {}, not this line's cities",
                charge.debtor_city, charge.creditor_city
            )));
        }
        count += 1;
        amount += charge.amount_fen;
        println!(
            "  position {at}: {} of {} at {}, {} fen (event {})",
            record.event_type,
            charge.item,
            chrono::DateTime::from_timestamp_micros(record.recorded_at_us)
                .map_or(String::new(), |t| t.to_rfc3339()),
            charge.amount_fen,
            record.event_id
        );
    }
    if (count, amount) != (line.count, line.amount_fen) {
        return Ok(Verdict::Tampered(format!(
            "the line says {} charges and {} fen; its proven events add up to {count} and \
             {amount} fen",
            line.count, line.amount_fen
        )));
    }
    let history = match (&args.history, &args.export) {
        (Some(dir), _) => Some(History::Log(dir.clone())),
        (None, Some(file)) => Some(History::Export(file.clone())),
        (None, None) => None,
    };
    let mut recomputed = String::new();
    if let Some(history) = history {
        let rebuilt = match rebuild(&history, head.size, None, true).await? {
            Ok(rebuilt) => rebuilt,
            Err(verdict) => return Ok(verdict),
        };
        if rebuilt.held < head.size || rebuilt.root != head.root {
            return Ok(Verdict::Tampered(format!(
                "the first {} events of {history} are not the period's signed tree (root {}); \
                 {}",
                head.size,
                hex(&head.root),
                if rebuilt.held < head.size {
                    format!("it holds {} events", rebuilt.held)
                } else {
                    format!("theirs is {}", hex(&rebuilt.root))
                }
            )));
        }
        let settlement = rebuilt.settlement.expect("folded");
        let period: Period = args.period.parse().context("the period")?;
        let original: Period = args
            .original_period
            .as_deref()
            .unwrap_or(&args.period)
            .parse()
            .context("the original period")?;
        let kind = readnet_settlement::ChargeKind::from_pb(kind).context("the kind")?;
        let ours = settlement.line_charges(period, &args.debtor, &args.creditor, kind, original);
        let served: Vec<&v1::SettlementCharge> =
            charges.iter().filter_map(|c| c.charge.as_ref()).collect();
        let differences = charge_differences(&ours, &served);
        if !differences.is_empty() {
            return Ok(Verdict::Tampered(format!(
                "the line is not what the settlement rules make of the proven events:\n  {}",
                differences.join("\n  ")
            )));
        }
        recomputed = format!(
            "; each charge recomputed from the first {} events by the settlement rules",
            head.size
        );
    }
    let mut extends = String::new();
    if let Some(path) = &args.state {
        if path.exists() {
            let remembered = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let old = match opened_checkpoint(&verifier, &remembered, "the remembered checkpoint")?
            {
                Ok(old) => old,
                Err(verdict) => return Ok(verdict),
            };
            let (small, large) = if old.size <= head.size {
                (&old, &head)
            } else {
                (&head, &old)
            };
            let proof = audit
                .prove_consistency(v1::ProveConsistencyRequest {
                    old_size: small.size,
                    new_size: large.size,
                })
                .await
                .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
                .into_inner()
                .proof;
            if let Err(error) = verify_consistency(
                small.size,
                large.size,
                &small.root,
                &large.root,
                &hashes(&proof)?,
            ) {
                return Ok(Verdict::Tampered(format!(
                    "the period's checkpoint ({} events) and the one accepted before ({} events) \
                     are not of one history: {error}",
                    head.size, old.size
                )));
            }
            extends = format!(
                "; one history with the checkpoint of {} events accepted before",
                old.size
            );
            if head.size > old.size {
                remember(path, &note).with_context(|| format!("writing {}", path.display()))?;
            }
        } else {
            remember(path, &note).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(Verdict::Verified(format!(
        "{}{}: {} owes {} {} fen for {count} {} charge(s); each event is in the tree of {} \
         events (root {}) that {} signed for the period{recomputed}{extends}",
        args.period,
        if line.adjustment_of.is_empty() {
            String::new()
        } else {
            format!(" (adjustment of {})", line.adjustment_of)
        },
        args.debtor,
        args.creditor,
        amount,
        args.kind,
        head.size,
        hex(&head.root),
        head.origin
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use readnet_domain::{CityCode, Fen, ItemCode};
    use readnet_settlement::ChargeKind as Kind;
    use readnet_store::Position;

    fn charge(position: u64, amount_fen: i64) -> Charge {
        Charge {
            position: Position::new(position),
            event_id: uuid::Uuid::from_u128(u128::from(position)),
            item: ItemCode::from("ZB-0001"),
            kind: Kind::Loan,
            debtor: CityCode::from("jinan"),
            creditor: CityCode::from("zibo"),
            amount_fen: Fen(amount_fen),
            occurred_at_us: 1_794_000_000_000_000,
            original_period: "2026-11".parse().unwrap(),
            adjustment: false,
        }
    }

    #[test]
    fn the_same_charges_as_the_rules_make_differ_in_nothing() {
        let ours = [charge(7, 100), charge(9, 100)];
        let served: Vec<_> = ours
            .iter()
            .map(readnet_settlement::service::charge_to_pb)
            .collect();
        let ours: Vec<&Charge> = ours.iter().collect();
        assert!(charge_differences(&ours, &served.iter().collect::<Vec<_>>()).is_empty());
    }

    #[test]
    fn an_inflated_charge_is_named_by_its_position() {
        let ours = [charge(7, 100), charge(9, 100)];
        let mut served: Vec<_> = ours
            .iter()
            .map(readnet_settlement::service::charge_to_pb)
            .collect();
        served[1].amount_fen += 1;
        let ours: Vec<&Charge> = ours.iter().collect();
        let differences = charge_differences(&ours, &served.iter().collect::<Vec<_>>());
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert!(
            differences[0].starts_with("position 9: the server says jinan owes zibo 101 fen")
                && differences[0].contains("the rules give jinan owes zibo 100 fen"),
            "{differences:?}"
        );
    }

    #[test]
    fn a_charge_left_out_or_made_up_is_named_by_its_position() {
        let ours = [charge(7, 100), charge(9, 100)];
        let served = [
            readnet_settlement::service::charge_to_pb(&charge(9, 100)),
            { readnet_settlement::service::charge_to_pb(&charge(11, 100)) },
        ];
        let ours: Vec<&Charge> = ours.iter().collect();
        let differences = charge_differences(&ours, &served.iter().collect::<Vec<_>>());
        assert_eq!(
            differences,
            [
                "position 7: the server left out the charge of 100 fen for ZB-0001",
                "position 11: the server charges 100 fen for ZB-0001; by the rules that event \
                 makes no charge on this line",
            ]
        );
    }
}
