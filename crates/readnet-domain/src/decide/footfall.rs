//! Footfall (人流量): gate counters at 24-hour libraries and reading points report the visits
//! of each interval. A gate's intervals are reported in order and each once, so a count is never
//! added twice; a resent report keeps its command id and gets its first receipt (ADR 0010).

use chrono::{DateTime, TimeDelta, Utc};

use crate::pb;
use crate::{NewEvent, Payload, Rejection};

use super::{Decider, network_event, to_us};

/// The longest gate name.
pub const MAX_GATE_NAME_BYTES: usize = 64;
/// The longest reporting interval: a gate that was offline reports its day in one go at most.
pub const MAX_FOOTFALL_INTERVAL: TimeDelta = TimeDelta::days(1);

impl Decider<'_> {
    /// `FootfallReported` for the acting library's gate over `from`..`to`.
    pub(super) fn report_footfall(
        &self,
        gate: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        visits: u64,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.acting_library()?;
        let valid = !gate.is_empty()
            && gate.len() <= MAX_GATE_NAME_BYTES
            && gate
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(Rejection::BadGateName {
                gate: gate.chars().take(32).collect(),
            });
        }
        // An interval is reported once it has ended, and is at most a day long.
        if to <= from || to - from > MAX_FOOTFALL_INTERVAL || to > self.ctx.occurred_at {
            return Err(Rejection::BadFootfallInterval { from, to });
        }
        let key = (library.code.clone(), gate.to_owned());
        if let Some(&through) = self.network().footfall_through.get(&key)
            && through > from
        {
            return Err(Rejection::FootfallAlreadyReported {
                library: library.code.clone(),
                gate: gate.to_owned(),
                from,
                reported_through: through,
            });
        }
        Ok(vec![network_event(Payload::FootfallReported(
            pb::FootfallReported {
                library: library.code.clone().into(),
                gate: gate.to_owned(),
                from_us: to_us(from),
                to_us: to_us(to),
                visits,
            },
        ))])
    }
}
