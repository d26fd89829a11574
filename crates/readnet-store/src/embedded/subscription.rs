//! Catch-up subscriptions to `$all`.
//!
//! A subscription never holds events the writer hands it: it always reads the log, a page at a
//! time, from the position after the last one it delivered, up to the committed head. Catching
//! up and following live are the same loop, so the hand-over has no gap and no duplicate, and a
//! slow subscriber only delays its own reads. What one subscription holds is bounded in bytes:
//! a page read from the log (at most [`PAGE`] events and [`PAGE_BYTES`] of records, or one
//! larger record) and its channel ([`crate::bounded`]).

use std::sync::Arc;

use tokio::sync::watch;

use super::{Shared, run_blocking};
use crate::{AllFrom, Direction, Position, SubscriptionMessage, SubscriptionSender};

/// Events read from the log per read, at most.
const PAGE: usize = 256;
/// Bytes of records read from the log per read, at most (one larger record is read alone).
const PAGE_BYTES: u64 = 256 * 1024;
/// A live page of at most this many bytes is read without leaving the async worker (ADR 0023).
const INLINE_BYTES: u64 = 16 * 1024;

/// Delivers `$all` after `checkpoint` into `tx` until the receiver is dropped or the store
/// closes (after delivering everything committed before it closed).
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut head: watch::Receiver<u64>,
    checkpoint: Position,
    tx: SubscriptionSender,
) {
    let mut next = checkpoint.next();
    let mut caught_up = false;
    let mut store_open = true;
    loop {
        let target = Position::new(*head.borrow_and_update());
        while next <= target {
            let count = target.events_since(next).saturating_add(1).min(PAGE as u64) as usize;
            let mut plan =
                shared
                    .read_index()
                    .plan_all(AllFrom::Position(next), Direction::Forwards, count);
            let count = plan.keep_bytes(PAGE_BYTES);
            // A live page (caught up, a batch just written and still in the page cache) is read
            // on the worker: a hand-off to a blocking thread would cost more than the read.
            let read = if caught_up && plan.bytes() <= INLINE_BYTES {
                plan.execute()
            } else {
                run_blocking(move || plan.execute()).await
            };
            let events = match read {
                Ok(events) => events,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            assert_eq!(events.len(), count, "committed positions are readable");
            for event in events {
                debug_assert_eq!(event.position, next, "delivery has no gap");
                next = event.position.next();
                if tx
                    .send(Ok(SubscriptionMessage::Event(event)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        if !caught_up {
            caught_up = true;
            let position = next.previous().unwrap_or(Position::START);
            let message = SubscriptionMessage::CaughtUp { position };
            if tx.send(Ok(message)).await.is_err() {
                return;
            }
        }
        if !store_open {
            return;
        }
        tokio::select! {
            _ = tx.closed() => return,
            changed = head.changed() => store_open = changed.is_ok(),
        }
    }
}
