//! Catch-up subscriptions to `$all` (the journal) that survive reconnects.
//!
//! The subscriber's place is the last position delivered. Catching up reads the journal in pages
//! from there until a page comes back short; then `CaughtUp` (once), then a KurrentDB
//! subscription to the journal from that revision. When the subscription drops (the node went
//! away, a gap was seen), the loop starts over from the last position delivered: reading pages
//! again, then subscribing again. Events at or before that position are skipped, so nothing is
//! delivered twice, and a gap sends the loop back to reading, so nothing is skipped.

use std::sync::Arc;
use std::time::Duration;

use kurrentdb::{StreamPosition, SubscribeToStreamOptions};
use tokio::sync::watch;

use super::{Deadline, Inner, RECONNECT_MAX, RECONNECT_MIN, envelope};
use crate::{Position, StoreError, SubscriptionMessage};

/// Journal events read per page while catching up.
const PAGE: usize = 512;

type Sender = crate::SubscriptionSender;

/// Why a delivery loop stopped.
enum Stop {
    /// The subscriber or the store is gone: end quietly.
    Ended,
    /// The connection failed: wait, then go on from the last position delivered.
    Retry(StoreError),
}

/// Delivers `$all` after `checkpoint` into `tx` until the receiver or the store is dropped, or
/// an error that reconnecting cannot cure (access denied, a journal event readnet did not write).
pub(crate) async fn run(
    inner: Arc<Inner>,
    checkpoint: Position,
    tx: Sender,
    mut closed: watch::Receiver<()>,
) {
    let mut delivered = checkpoint;
    let mut caught_up = false;
    let mut backoff = RECONNECT_MIN;
    loop {
        let stopped = match catch_up(&inner, &mut delivered, &tx).await {
            Ok(()) => {
                if !caught_up {
                    caught_up = true;
                    let message = SubscriptionMessage::CaughtUp {
                        position: delivered,
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
                follow(&inner, &mut delivered, &tx, &mut closed, &mut backoff).await
            }
            Err(stop) => stop,
        };
        match stopped {
            Stop::Ended => return,
            Stop::Retry(error) if matches!(error, StoreError::Unavailable(_)) => {
                tracing::warn!(%error, delivered = delivered.get(), ?backoff, "subscription to the journal dropped; reconnecting");
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = closed.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(RECONNECT_MAX);
            }
            Stop::Retry(error) => {
                let _ = tx.send(Err(error)).await;
                return;
            }
        }
    }
}

/// Reads and delivers pages of the journal until one comes back short.
async fn catch_up(inner: &Inner, delivered: &mut Position, tx: &Sender) -> Result<(), Stop> {
    loop {
        // Position p + 1 is journal revision p.
        let page = inner
            .read_journal(delivered.get(), PAGE, &Deadline::NONE)
            .await
            .map_err(Stop::Retry)?;
        let full = page.len() == PAGE;
        for (event, _) in page {
            if event.position != delivered.next() {
                return Err(Stop::Retry(StoreError::Backend(format!(
                    "reading {} from position {} returned position {}",
                    inner.journal(),
                    delivered.next(),
                    event.position
                ))));
            }
            *delivered = event.position;
            if tx
                .send(Ok(SubscriptionMessage::Event(event)))
                .await
                .is_err()
            {
                return Err(Stop::Ended);
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// Follows the journal live with a KurrentDB subscription until it drops.
async fn follow(
    inner: &Inner,
    delivered: &mut Position,
    tx: &Sender,
    closed: &mut watch::Receiver<()>,
    backoff: &mut Duration,
) -> Stop {
    // A subscription from revision r delivers what comes after r.
    let start = match delivered.previous() {
        None => StreamPosition::Start,
        Some(journal_revision) => StreamPosition::Position(journal_revision.get()),
    };
    let options = SubscribeToStreamOptions::default().start_from(start);
    let mut subscription = inner
        .client()
        .subscribe_to_stream(inner.journal(), &options)
        .await;
    loop {
        let resolved = tokio::select! {
            _ = tx.closed() => return Stop::Ended,
            _ = closed.changed() => return Stop::Ended,
            next = subscription.next() => match next {
                Ok(resolved) => resolved,
                Err(e) => return Stop::Retry(inner.error(&format!("subscribing to {}", inner.journal()), e)),
            },
        };
        let event = match envelope::recorded_event(inner.journal(), resolved.get_original_event()) {
            Ok((event, _)) => event,
            Err(error) => return Stop::Retry(error),
        };
        if event.position <= *delivered {
            continue;
        }
        if event.position != delivered.next() {
            tracing::warn!(
                delivered = delivered.get(),
                got = event.position.get(),
                "the journal subscription skipped events; reading them"
            );
            return Stop::Retry(StoreError::Unavailable(format!(
                "the subscription to {} jumped from position {} to {}",
                inner.journal(),
                *delivered,
                event.position
            )));
        }
        *delivered = event.position;
        *backoff = RECONNECT_MIN;
        if tx
            .send(Ok(SubscriptionMessage::Event(event)))
            .await
            .is_err()
        {
            return Stop::Ended;
        }
    }
}
