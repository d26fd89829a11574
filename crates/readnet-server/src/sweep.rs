//! The server's own periodic commands. The hold sweep (ADR 0013): the server itself sends
//! `ExpireHolds` every interval, as of its injected clock, and again while a sweep ends holds
//! (one ends at most `MAX_EXPIRIES_PER_SWEEP`). A sweep with nothing due is refused without
//! being recorded, so an idle network's log does not grow. The same tick sends
//! `ExpireDigitalLoans`, which returns the digital loans whose time is up (ADR 0019). The clock tick (ADR 0016):
//! `TickClock` every interval, so that the notices that depend on time are derived from the log.

use std::sync::Arc;
use std::time::Duration;

use readnet_domain::pb::Channel;
use readnet_domain::{Caller, Clock, Command, CommandContext, PatronKey, Rejection};
use readnet_ledger::{CommandBus, LedgerError, Submission};
use uuid::Uuid;

/// Most `ExpireHolds` one tick sends: a bound on the work of one tick; what is left waits for
/// the next.
const MAX_SWEEPS_PER_TICK: usize = 64;

/// Runs the sweep every `every`, for as long as the bus takes commands.
pub async fn sweep_holds(bus: CommandBus, key: PatronKey, clock: Arc<dyn Clock>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for _ in 0..MAX_SWEEPS_PER_TICK {
            match sweep_once(&bus, &key, clock.as_ref()).await {
                Ok(events) => tracing::info!(events, "hold sweep ended holds"),
                Err(LedgerError::Rejected(Rejection::NoHoldDue { .. })) => break,
                Err(error) => {
                    tracing::warn!(%error, "hold sweep failed; trying again next time");
                    break;
                }
            }
        }
        // Digital loans whose time is up are returned by the same sweep (ADR 0019).
        for _ in 0..MAX_SWEEPS_PER_TICK {
            match own_command(&bus, &key, clock.as_ref(), Command::ExpireDigitalLoans).await {
                Ok(events) => tracing::info!(events, "sweep ended digital loans"),
                Err(LedgerError::Rejected(Rejection::NoDigitalLoanDue { .. })) => break,
                Err(error) => {
                    tracing::warn!(%error, "digital loan sweep failed; trying again next time");
                    break;
                }
            }
        }
    }
}

/// Writes the server's clock into the log every `every` (`TickClock`, ADR 0016), for the notices
/// that depend on time, for as long as the bus takes commands; the first one `every` after the
/// start.
pub async fn tick_clock(bus: CommandBus, key: PatronKey, clock: Arc<dyn Clock>, every: Duration) {
    // The first tick one interval after the start: a server that starts (or restarts) writes
    // nothing at once.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match own_command(&bus, &key, clock.as_ref(), Command::TickClock).await {
            Ok(_) | Err(LedgerError::Rejected(Rejection::ClockNotLater { .. })) => {}
            Err(error) => tracing::warn!(%error, "clock tick failed; trying again next time"),
        }
    }
}

/// Most patrons one tick of the retention sweep forgets; the rest wait for the next tick.
const MAX_FORGETS_PER_TICK: usize = 64;

/// The retention policy (ADR 0018): every interval, forgets the patrons with nothing open and
/// no activity for the policy's years, as of the server's clock, by its own ForgetPatron
/// commands. A patron it may not forget (recorded in the clear before sealing) is not asked
/// about again until the server restarts.
pub async fn forget_inactive(
    bus: CommandBus,
    key: PatronKey,
    clock: Arc<dyn Clock>,
    retention: crate::Retention,
) {
    let mut ticker = tokio::time::interval(retention.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refused = std::collections::HashSet::new();
    loop {
        ticker.tick().await;
        let now = clock.now();
        let Some(cut_off) =
            now.checked_sub_months(chrono::Months::new(12 * retention.inactive_years))
        else {
            continue;
        };
        let skip = refused.clone();
        let due = bus
            .read(move |ledger| {
                readnet_domain::retention_candidates(
                    ledger,
                    cut_off,
                    MAX_FORGETS_PER_TICK + skip.len(),
                )
                .into_iter()
                .filter(|p| !skip.contains(&p.patron_id))
                .take(MAX_FORGETS_PER_TICK)
                .collect::<Vec<_>>()
            })
            .await;
        let due = match due {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "retention sweep could not read the state");
                continue;
            }
        };
        for patron in due {
            let id = patron.patron_id.clone();
            let command = Command::ForgetPatron {
                patron,
                reason: readnet_domain::pb::ForgetReason::Retention,
            };
            match own_command(&bus, &key, clock.as_ref(), command).await {
                Ok(_) => tracing::info!("retention policy forgot a patron"),
                Err(error) => {
                    tracing::warn!(%error, "retention policy could not forget a patron");
                    refused.insert(id);
                }
            }
        }
    }
}

/// One `ExpireHolds` as the server's own command (channel system), now by the server's clock;
/// how many events it wrote.
async fn sweep_once(
    bus: &CommandBus,
    key: &PatronKey,
    clock: &dyn Clock,
) -> Result<usize, LedgerError> {
    own_command(bus, key, clock, Command::ExpireHolds).await
}

/// `command` as the server's own (channel system, no principal), now by the server's clock;
/// how many events it wrote.
async fn own_command(
    bus: &CommandBus,
    key: &PatronKey,
    clock: &dyn Clock,
    command: Command,
) -> Result<usize, LedgerError> {
    let now = clock.now();
    let ctx = CommandContext {
        occurred_at: now,
        acting_library: None,
        channel: Channel::System,
        caller: Caller::Server,
    };
    let digest = readnet_ledger::digest(key, command.name(), &ctx, &[]);
    let receipt = bus
        .submit(Submission {
            command_id: Uuid::new_v4(),
            correlation_id: None,
            digest,
            command,
            ctx,
            received_at: now,
        })
        .await?;
    Ok(receipt.events.len())
}
