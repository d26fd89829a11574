//! A period's statement: lines per (debtor, creditor, kind), nets per city, its canonical
//! encoding and digest.

use std::collections::BTreeMap;

use readnet_domain::{CityCode, Fen};
use readnet_projection::Position;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{ChargeKind, Period, Settlement};

/// Whether a statement can still change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementStatus {
    /// The period is open: charges may still be added.
    Provisional,
    /// The period is closed: the statement never changes again.
    Final,
}

/// What one debtor city owes one creditor city for one kind of charge in the period. Charges
/// for events of an earlier, closed period are adjustments: they get lines of their own, one per
/// original period, never merged with the regular line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    pub debtor: CityCode,
    pub creditor: CityCode,
    pub kind: ChargeKind,
    /// `None` on a regular line; on an adjustment line, the closed period its events occurred in.
    pub adjustment_of: Option<Period>,
    pub count: u64,
    pub amount_fen: Fen,
}

/// A city's net in a statement: credits minus debits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CityNet {
    pub city: CityCode,
    pub net_fen: Fen,
}

/// A period's statement.
///
/// # Canonical encoding
///
/// [`Statement::canonical_bytes`] is the statement as compact JSON (UTF-8, no whitespace, as
/// `serde_json` writes it), with the keys in exactly this order:
///
/// ```text
/// {"period":"2026-11","status":"final","through_position":11,"close_position":12,
///  "first_position":9,"last_position":11,
///  "lines":[{"debtor":"jinan","creditor":"zibo","kind":"loan","adjustment_of":null,"count":1,"amount_fen":100},
///           {"debtor":"zibo","creditor":"jinan","kind":"return","adjustment_of":null,"count":1,"amount_fen":50},
///           {"debtor":"zibo","creditor":"jinan","kind":"shipping","adjustment_of":null,"count":1,"amount_fen":800}],
///  "nets":[{"city":"jinan","net_fen":750},{"city":"zibo","net_fen":-750}]}
/// ```
///
/// (shown wrapped; this is domain.md's worked example, closed, and the test
/// `the_canonical_encoding_is_the_documented_json` checks it byte for byte). `status` is
/// `provisional` or `final`; absent positions are `null`; `kind` is `loan`, `return`,
/// `shipping` or `lost`; `adjustment_of` is `null` or the original period `"YYYY-MM"`. Lines are
/// sorted by debtor, creditor, kind (in the order loan, return, shipping, lost), then regular
/// before adjustments, adjustments by original period; nets by city code. Integers are decimal,
/// amounts in fen. [`Statement::digest`] is the lowercase hex SHA-256 of these bytes. Nothing in
/// the encoding depends on when it is computed, so a final statement encodes to the same bytes
/// forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub period: Period,
    pub status: StatementStatus,
    /// Closed periods: the close's `through_position`.
    pub through_position: Option<Position>,
    /// Closed periods: the position of the SettlementPeriodClosed event.
    pub close_position: Option<Position>,
    /// The first and last positions of the statement's charges.
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
    pub lines: Vec<StatementLine>,
    pub nets: Vec<CityNet>,
}

impl Statement {
    /// The canonical encoding (see the type's documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement serialises")
    }

    /// SHA-256 of the canonical encoding, lowercase hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }
}

type LineKey = (CityCode, CityCode, ChargeKind, Option<Period>);

/// Why a period's statement cannot be computed. Only a log holding amounts out of the bounds
/// (`readnet_domain::money`), written before they were checked, can make one: the statement is
/// then refused with this error, never wrapped and never a crash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// A line's amount, or a city's net, leaves `i64` fen.
    #[error(
        "settlement {period}: the statement cannot be computed: {what} overflows i64 fen at the charge of {amount_fen} fen at position {position}, on the line {line}; the log holds an amount beyond the bounds a request may carry"
    )]
    Overflow {
        period: Period,
        /// The line the charge belongs to: "debtor owes creditor for kind", and which period an
        /// adjustment is for.
        line: String,
        /// The sum that overflowed: the line's amount, or a city's net.
        what: String,
        position: Position,
        amount_fen: Fen,
    },
    /// The nets do not sum to zero: every charge is one city's debit and another's credit of
    /// the same amount, so this is a bug in this crate, reported rather than crashing a reader.
    #[error(
        "settlement {period}: the nets of the cities sum to {total_fen} fen, not zero (a bug in the settlement projection)"
    )]
    Unbalanced { period: Period, total_fen: i128 },
}

impl StatementError {
    /// The period whose statement cannot be computed.
    pub fn period(&self) -> Period {
        match self {
            StatementError::Overflow { period, .. } | StatementError::Unbalanced { period, .. } => {
                *period
            }
        }
    }
}

fn line_name(key: &LineKey) -> String {
    let (debtor, creditor, kind, adjustment_of) = key;
    let adjustment = adjustment_of.map_or(String::new(), |p| format!(" (adjustment for {p})"));
    format!("{debtor} owes {creditor} for {}{adjustment}", kind.as_str())
}

impl Settlement {
    /// The statement of `period` as the events folded so far make it: final once the period is
    /// closed (or precedes the last closed one), provisional before.
    ///
    /// Every sum is checked: a log holding amounts no statement can sum (written before the
    /// bounds on prices, payments and tariffs) gives a [`StatementError`] naming the period and
    /// the line, and so does a statement whose nets do not sum to zero.
    pub fn statement(&self, period: Period) -> Result<Statement, StatementError> {
        let charges = self.charges(period);
        let mut lines: BTreeMap<LineKey, (u64, Fen)> = BTreeMap::new();
        let mut nets: BTreeMap<&CityCode, Fen> = BTreeMap::new();
        for charge in charges {
            let key = (
                charge.debtor.clone(),
                charge.creditor.clone(),
                charge.kind,
                charge.adjustment.then_some(charge.original_period),
            );
            let overflow = |key: &LineKey, what: String| StatementError::Overflow {
                period,
                line: line_name(key),
                what,
                position: charge.position,
                amount_fen: charge.amount_fen,
            };
            let line = lines.entry(key.clone()).or_default();
            line.0 += 1;
            line.1 = line
                .1
                .checked_add(charge.amount_fen)
                .ok_or_else(|| overflow(&key, "the line's amount".to_owned()))?;
            let credit = nets.entry(&charge.creditor).or_default();
            *credit = credit
                .checked_add(charge.amount_fen)
                .ok_or_else(|| overflow(&key, format!("the net of {}", charge.creditor)))?;
            let debit = nets.entry(&charge.debtor).or_default();
            *debit = debit
                .checked_sub(charge.amount_fen)
                .ok_or_else(|| overflow(&key, format!("the net of {}", charge.debtor)))?;
        }
        let total_fen: i128 = nets.values().map(|n| i128::from(n.get())).sum();
        if total_fen != 0 {
            return Err(StatementError::Unbalanced { period, total_fen });
        }
        let close = self.close_of(period);
        Ok(Statement {
            period,
            status: if self.is_final(period) {
                StatementStatus::Final
            } else {
                StatementStatus::Provisional
            },
            through_position: close.map(|c| c.through_position),
            close_position: close.map(|c| c.close_position),
            first_position: charges.first().map(|c| c.position),
            last_position: charges.last().map(|c| c.position),
            lines: lines
                .into_iter()
                .map(
                    |((debtor, creditor, kind, adjustment_of), (count, amount_fen))| {
                        StatementLine {
                            debtor,
                            creditor,
                            kind,
                            adjustment_of,
                            count,
                            amount_fen,
                        }
                    },
                )
                .collect(),
            nets: nets
                .into_iter()
                .map(|(city, net_fen)| CityNet {
                    city: city.clone(),
                    net_fen,
                })
                .collect(),
        })
    }
}
