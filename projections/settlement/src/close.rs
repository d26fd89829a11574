//! The closing rules, as a pure function of the state and the time.

use chrono::{DateTime, SecondsFormat, Utc};
use readnet_projection::{Position, Projection, Revision, SETTLEMENT_TIME_ZONE, pb};

use crate::{Period, PeriodClose, Settlement};

/// What closing a period comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseDecision {
    /// Record this close.
    Close(PlannedClose),
    /// The period is closed already: this is the original close; write nothing.
    AlreadyClosed(PeriodClose),
}

/// A close to record: the SettlementPeriodClosed event and the `settlement` stream revision the
/// append expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedClose {
    pub period: Period,
    /// The position the decision saw: the statement covers the period's events up to here.
    pub through_position: Position,
    /// The `settlement` stream's last revision as the state knows it (`None`: no stream yet).
    pub expected_revision: Option<Revision>,
}

impl PlannedClose {
    /// The event that records the close.
    pub fn event(&self) -> pb::SettlementPeriodClosed {
        pb::SettlementPeriodClosed {
            period: self.period.to_string(),
            through_position: self.through_position.get(),
        }
    }
}

/// Why a period cannot be closed (now).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseRefusal {
    /// The period is not `YYYY-MM`.
    #[error("period: {0}")]
    InvalidPeriod(#[from] crate::InvalidPeriod),
    /// The period has not ended in the settlement time zone.
    #[error(
        "period: {period} has not ended: it ends at {ends_at} (Asia/Shanghai) and it is {now}; a period can be closed only once it has ended"
    )]
    NotEnded {
        period: Period,
        ends_at: String,
        now: String,
    },
    /// No event has made a charge yet, so there is no first period to close.
    #[error(
        "period: {period} cannot be closed: no period has any charge yet, and periods close in calendar order starting with the first month that has a charge"
    )]
    NothingCharged { period: Period },
    /// An earlier period must close first.
    #[error(
        "period: {period} cannot be closed yet: periods close in calendar order{reason}; close {next} first"
    )]
    OutOfOrder {
        period: Period,
        next: Period,
        /// Why `next` is next, for the message.
        reason: String,
    },
    /// The period's statement cannot be computed (a log holding amounts beyond the bounds): a
    /// close would freeze a statement nobody can read.
    #[error("period: {period} cannot be closed: {error}")]
    Uncomputable {
        period: Period,
        error: crate::StatementError,
    },
    /// The period precedes the first closed period: it had no charges when that close was made,
    /// and charges for it since are adjustments in the first open period.
    #[error(
        "period: {period} cannot be closed: it precedes the first closed period {first_closed}, so it had no charges when that closed; its late events are charged in the first open period {first_open} as adjustments"
    )]
    BeforeFirstClose {
        period: Period,
        first_closed: Period,
        first_open: Period,
    },
}

fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&SETTLEMENT_TIME_ZONE)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

impl Settlement {
    /// Decides whether `period` (`YYYY-MM`) can be closed at `now`, on the events folded so far.
    ///
    /// The rules (domain.md): a period closes only once it has ended in Asia/Shanghai; periods
    /// close in calendar order, starting with the first month that has any charge; closing a
    /// closed period again gives the original close; a period whose statement cannot be computed
    /// does not close. The decision's `through_position` is the
    /// state's position: the caller must have folded everything it wants the close to cover.
    pub fn check_close(
        &self,
        period: &str,
        now: DateTime<Utc>,
    ) -> Result<CloseDecision, CloseRefusal> {
        let period: Period = period.parse()?;
        if let Some(close) = self.close_of(period) {
            return Ok(CloseDecision::AlreadyClosed(close.clone()));
        }
        match (self.closes().next(), self.last_closed()) {
            (Some(first), Some(last)) => {
                let next = last.next();
                if period < first.period {
                    return Err(CloseRefusal::BeforeFirstClose {
                        period,
                        first_closed: first.period,
                        first_open: next,
                    });
                }
                if period != next {
                    return Err(CloseRefusal::OutOfOrder {
                        period,
                        next,
                        reason: format!(" and {last} is the last closed period"),
                    });
                }
            }
            _ => {
                let next = self
                    .first_charged()
                    .ok_or(CloseRefusal::NothingCharged { period })?;
                if period != next {
                    return Err(CloseRefusal::OutOfOrder {
                        period,
                        next,
                        reason: format!(" starting with the first month that has a charge, {next}"),
                    });
                }
            }
        }
        if now < period.end() {
            return Err(CloseRefusal::NotEnded {
                period,
                ends_at: local_time(period.end()),
                now: local_time(now),
            });
        }
        if let Err(error) = self.statement(period) {
            return Err(CloseRefusal::Uncomputable { period, error });
        }
        Ok(CloseDecision::Close(PlannedClose {
            period,
            through_position: self.position(),
            expected_revision: self.settlement_revision(),
        }))
    }

    /// The period that closes next: the month after the last closed one, or before any close,
    /// the first month with a charge.
    pub fn next_to_close(&self) -> Option<Period> {
        self.first_open().or_else(|| self.first_charged())
    }
}
