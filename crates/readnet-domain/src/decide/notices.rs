//! The notices' clock and gateways' acknowledgements (ADR 0016). The notices themselves are
//! derived by the notices projection; the rules here only keep the clock moving forward and a
//! gateway's checkpoint from moving back.

use crate::pb;
use crate::{NewEvent, Payload, Rejection};

use super::{Decider, network_event, to_us};

/// The longest gateway name.
pub const MAX_GATEWAY_NAME_BYTES: usize = 64;

impl Decider<'_> {
    /// `ClockTicked` as of `occurred_at`: refused (and not recorded) unless later than the last
    /// tick, so a frequent tick never writes the same instant twice.
    pub(super) fn tick_clock(&self) -> Result<Vec<NewEvent>, Rejection> {
        let at = self.ctx.occurred_at;
        if let Some(last) = self.ledger.network.last_tick
            && last >= at
        {
            return Err(Rejection::ClockNotLater { at, last });
        }
        Ok(vec![network_event(Payload::ClockTicked(pb::ClockTicked {
            at_us: to_us(at),
        }))])
    }

    pub(super) fn acknowledge_notices(
        &self,
        gateway: &str,
        through_sequence: u64,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let valid = !gateway.is_empty()
            && gateway.len() <= MAX_GATEWAY_NAME_BYTES
            && gateway
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(Rejection::BadGatewayName {
                gateway: gateway.chars().take(32).collect(),
            });
        }
        let acked = self
            .ledger
            .network
            .notice_acks
            .get(gateway)
            .copied()
            .unwrap_or(0);
        if through_sequence < acked {
            return Err(Rejection::NoticeAckBackwards {
                gateway: gateway.to_owned(),
                through_sequence,
                acked,
            });
        }
        Ok(vec![network_event(Payload::NoticesAcknowledged(
            pb::NoticesAcknowledged {
                gateway: gateway.to_owned(),
                through_sequence,
            },
        ))])
    }
}
