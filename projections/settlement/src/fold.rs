//! The fold: every chargeable event becomes one [`Charge`], kept under the period it is settled
//! in; closes freeze a period.

use std::collections::BTreeMap;

use readnet_domain::{CityCode, Fen, ItemCode, StreamId};
use readnet_projection::pb::{self, TransferReason};
use readnet_projection::{NetworkView, Payload, Position, ProjectedEvent, Projection, Revision};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Period;

/// What a charge is for (domain.md, "Cross-city settlement"). Ordered as the table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeKind {
    /// A checkout (incl. patron-driven) by a patron from another city than the owner's.
    Loan,
    /// A return at a library in another city than the owner's.
    Return,
    /// A transfer dispatched from one city to another.
    Shipping,
    /// An item declared lost while lent to a patron from another city than the owner's.
    Lost,
    /// A digital loan of a library's shared e-resource by a patron of another city (ADR 0019);
    /// the charge's `item` is the resource's code.
    Digital,
}

impl ChargeKind {
    /// The protobuf enum.
    pub fn to_pb(self) -> pb::ChargeKind {
        match self {
            ChargeKind::Loan => pb::ChargeKind::Loan,
            ChargeKind::Return => pb::ChargeKind::Return,
            ChargeKind::Shipping => pb::ChargeKind::Shipping,
            ChargeKind::Lost => pb::ChargeKind::Lost,
            ChargeKind::Digital => pb::ChargeKind::Digital,
        }
    }

    /// The name statements and messages use: `loan`, `return`, `shipping`, `lost`, `digital`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeKind::Loan => "loan",
            ChargeKind::Return => "return",
            ChargeKind::Shipping => "shipping",
            ChargeKind::Lost => "lost",
            ChargeKind::Digital => "digital",
        }
    }

    /// From the protobuf enum; `None` for unspecified.
    pub fn from_pb(kind: pb::ChargeKind) -> Option<Self> {
        match kind {
            pb::ChargeKind::Unspecified => None,
            pb::ChargeKind::Loan => Some(ChargeKind::Loan),
            pb::ChargeKind::Return => Some(ChargeKind::Return),
            pb::ChargeKind::Shipping => Some(ChargeKind::Shipping),
            pb::ChargeKind::Lost => Some(ChargeKind::Lost),
            pb::ChargeKind::Digital => Some(ChargeKind::Digital),
        }
    }
}

/// One event's charge: who owes whom how much, and the event behind it (for auditors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The event's `$all` position (one event makes at most one charge).
    pub position: Position,
    pub event_id: Uuid,
    pub item: ItemCode,
    pub kind: ChargeKind,
    /// The debtor city.
    pub debtor: CityCode,
    /// The creditor city.
    pub creditor: CityCode,
    pub amount_fen: Fen,
    /// The event's `occurred_at`, microseconds since the Unix epoch.
    pub occurred_at_us: i64,
    /// The period the event occurred in.
    pub original_period: Period,
    /// Settled in a later period than `original_period`, because that one was closed.
    pub adjustment: bool,
}

/// A closed period, as its SettlementPeriodClosed recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodClose {
    pub period: Period,
    /// The statement covers the events at positions up to this one that occurred in `period`.
    pub through_position: Position,
    /// The `$all` position of the SettlementPeriodClosed event.
    pub close_position: Position,
    /// The command that closed it.
    pub command_id: Option<Uuid>,
}

/// The settlement projection's state.
///
/// Invariants: charges are kept under the period they are settled in, in position order; a
/// closed period's charges never change after its close was applied (every new or moved charge
/// goes to an open period); every charge's debtor and creditor differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    position: Position,
    network: NetworkView,
    /// Charges by the period they are settled in.
    periods: BTreeMap<Period, Vec<Charge>>,
    closes: BTreeMap<Period, PeriodClose>,
    /// The revision of the `settlement` stream's last event, `None` before the first close.
    settlement_revision: Option<Revision>,
}

impl Projection for Settlement {
    const NAME: &'static str = "settlement";
    const VERSION: u32 = 1;

    fn apply(&mut self, event: &ProjectedEvent) {
        self.network.apply(&event.payload);
        if let Some(charge) = self.charge_of(event) {
            self.place(charge);
        }
        if event.stream == StreamId::SETTLEMENT {
            self.settlement_revision = Some(event.revision);
        }
        if let Payload::SettlementPeriodClosed(closed) = &event.payload {
            self.close(event, closed);
        }
        self.position = event.position;
    }

    fn position(&self) -> Position {
        self.position
    }
}

impl Settlement {
    /// The network's shape as folded so far.
    pub fn network(&self) -> &NetworkView {
        &self.network
    }

    /// The revision of the `settlement` stream's last event (`None`: no period closed yet): the
    /// expectation for the next close's append.
    pub fn settlement_revision(&self) -> Option<Revision> {
        self.settlement_revision
    }

    /// The close of `period`, if it was closed.
    pub fn close_of(&self, period: Period) -> Option<&PeriodClose> {
        self.closes.get(&period)
    }

    /// Every close, in calendar order.
    pub fn closes(&self) -> impl Iterator<Item = &PeriodClose> {
        self.closes.values()
    }

    /// The latest closed period.
    pub fn last_closed(&self) -> Option<Period> {
        self.closes.keys().next_back().copied()
    }

    /// The first open period after the closed ones: where late charges go. `None` while nothing
    /// is closed (then every period is open).
    pub fn first_open(&self) -> Option<Period> {
        self.last_closed().map(Period::next)
    }

    /// Whether `period` takes no more charges: it is closed, or it precedes the last closed
    /// period (a month before the first close, which had no charges when that close was made).
    pub fn is_final(&self, period: Period) -> bool {
        self.last_closed().is_some_and(|last| period <= last)
    }

    /// The first period that has a charge, if any.
    pub fn first_charged(&self) -> Option<Period> {
        self.periods
            .iter()
            .find(|(_, charges)| !charges.is_empty())
            .map(|(period, _)| *period)
    }

    /// Every period that has charges or a close, in calendar order.
    pub fn periods(&self) -> Vec<Period> {
        let mut periods: Vec<Period> = self
            .periods
            .keys()
            .chain(self.closes.keys())
            .copied()
            .collect();
        periods.sort();
        periods.dedup();
        periods
    }

    /// The charges settled in `period`, in position order.
    pub fn charges(&self, period: Period) -> &[Charge] {
        self.periods.get(&period).map_or(&[], Vec::as_slice)
    }

    /// The charges behind one statement line: settled in `period`, owed by `debtor` to
    /// `creditor` for `kind`, for events that occurred in `original_period` (`period` itself for
    /// a regular line, the line's `adjustment_of` for an adjustment line).
    pub fn line_charges(
        &self,
        period: Period,
        debtor: &str,
        creditor: &str,
        kind: ChargeKind,
        original_period: Period,
    ) -> Vec<&Charge> {
        self.charges(period)
            .iter()
            .filter(|c| {
                c.debtor == debtor
                    && c.creditor == creditor
                    && c.kind == kind
                    && c.original_period == original_period
            })
            .collect()
    }

    /// The charge an event makes, if any (the tariff in force at its `occurred_at`).
    fn charge_of(&self, event: &ProjectedEvent) -> Option<Charge> {
        let network = &self.network;
        let tariff = |kind: ChargeKind| network.tariff_fen(kind.to_pb(), event.occurred_at);
        let (item, kind, debtor, creditor, amount_fen) = match &event.payload {
            Payload::ItemLoaned(e) => {
                let owner_city = network.city_of(&e.owner_library);
                (
                    &e.item,
                    ChargeKind::Loan,
                    e.patron_home_city.as_str(),
                    owner_city,
                    tariff(ChargeKind::Loan),
                )
            }
            Payload::ItemReturned(e) => (
                &e.item,
                ChargeKind::Return,
                network.city_of(&e.owner_library),
                network.city_of(&e.library),
                tariff(ChargeKind::Return),
            ),
            Payload::TransferDispatched(e) => {
                let from_city = network.city_of(&e.from_library);
                let to_city = network.city_of(&e.to_library);
                if from_city == to_city {
                    return None;
                }
                let debtor = match TransferReason::try_from(e.reason) {
                    Ok(TransferReason::Repatriation) => network.city_of(&e.owner_library),
                    Ok(TransferReason::Hold | TransferReason::Rebalance) => to_city,
                    // The domain never records a transfer without a reason.
                    Ok(TransferReason::Unspecified) | Err(_) => return None,
                };
                (
                    &e.item,
                    ChargeKind::Shipping,
                    debtor,
                    from_city,
                    tariff(ChargeKind::Shipping),
                )
            }
            Payload::ItemDeclaredLost(e) => (
                &e.item,
                ChargeKind::Lost,
                e.patron_home_city.as_str(),
                network.city_of(&e.owner_library),
                // The event carries the price, or the lost tariff when the price is unknown.
                Fen(e.debt_fen),
            ),
            // The network's own resources belong to no city: their use is charged to nobody.
            Payload::DigitalLoaned(e) if !e.owner_library.is_empty() => (
                &e.resource,
                ChargeKind::Digital,
                e.patron_home_city.as_str(),
                network.city_of(&e.owner_library),
                tariff(ChargeKind::Digital),
            ),
            _ => return None,
        };
        // The domain records registered libraries and member cities only; an unknown party
        // cannot be placed in a city, so it makes no charge.
        debug_assert!(
            !debtor.is_empty() && !creditor.is_empty(),
            "event at position {} names a library or city the network does not know",
            event.position
        );
        if debtor == creditor || debtor.is_empty() || creditor.is_empty() {
            return None;
        }
        Some(Charge {
            position: event.position,
            event_id: event.event_id,
            item: ItemCode::from(item.as_str()),
            kind,
            debtor: CityCode::from(debtor),
            creditor: CityCode::from(creditor),
            amount_fen,
            occurred_at_us: event.occurred_at.timestamp_micros(),
            original_period: Period::of(event.occurred_at),
            adjustment: false,
        })
    }

    /// Settles a new charge: in its own period while that is open, else in the first open
    /// period as an adjustment.
    fn place(&mut self, mut charge: Charge) {
        let period = match self.first_open() {
            Some(first_open) if charge.original_period < first_open => {
                charge.adjustment = true;
                first_open
            }
            _ => charge.original_period,
        };
        debug_assert!(!self.is_final(period), "a final period takes no charge");
        let charges = self.periods.entry(period).or_default();
        debug_assert!(charges.last().is_none_or(|c| c.position < charge.position));
        charges.push(charge);
    }

    /// Applies a SettlementPeriodClosed. The first close of a period wins; a repeat, or a close
    /// of a period before the last closed one, changes nothing (final statements stay final). Charges the close does not cover move to the first open period as adjustments:
    /// those of the closed period recorded after `through_position` (events folded between the
    /// decision to close and the close itself), and any left in earlier periods that were never
    /// closed themselves (only a log whose closes skipped months has those).
    fn close(&mut self, event: &ProjectedEvent, closed: &pb::SettlementPeriodClosed) {
        // The store takes SettlementPeriodClosed from the service only, which validates the
        // period; an unreadable one closes nothing.
        let Ok(period) = closed.period.parse::<Period>() else {
            return;
        };
        if self.is_final(period) {
            // Closed already, or before the last close: its statement is final as it is.
            return;
        }
        self.closes.insert(
            period,
            PeriodClose {
                period,
                through_position: Position::new(closed.through_position),
                close_position: event.position,
                command_id: event.command_id,
            },
        );
        let first_open = self.first_open().expect("a period is closed");
        let mut moved = Vec::new();
        for (settled_in, charges) in self.periods.range_mut(..first_open) {
            let keep = if *settled_in == period {
                charges.partition_point(|c| c.position.get() <= closed.through_position)
            } else if self.closes.contains_key(settled_in) {
                // Frozen by its own close.
                continue;
            } else {
                0
            };
            moved.extend(charges.drain(keep..));
        }
        if moved.is_empty() {
            return;
        }
        for charge in &mut moved {
            charge.adjustment = true;
        }
        let target = self.periods.entry(first_open).or_default();
        target.extend(moved);
        target.sort_by_key(|c| c.position);
    }
}
