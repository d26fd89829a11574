//! The feed a gateway follows: the retained notices after its checkpoint, then each new one.

use std::time::Duration;

use readnet_projection::pb;
use readnet_projection::{Handle, Position};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::state::Notices;

/// Notices read from the state at once, and queued for one gateway at most.
const BATCH: usize = 256;
const QUEUE: usize = 32;

/// Whether `gateway` is a gateway name: 1 to 64 lower-case letters, digits and hyphens (the
/// domain's rule for `AcknowledgeNotices`).
pub fn valid_gateway(gateway: &str) -> bool {
    !gateway.is_empty()
        && gateway.len() <= 64
        && gateway
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The notices for `gateway`: every retained one after its acknowledged sequence, then each new
/// one as the projection derives it. At least once: what the gateway has not acknowledged
/// comes again on its next subscription.
///
/// `head` is the log's head when the gateway subscribes: the checkpoint is read once the
/// projection has applied it (waiting at most `wait`), so that a projection still catching up
/// after a restart does not send again what the gateway acknowledged before it.
pub async fn follow(
    handle: Handle<Notices>,
    gateway: String,
    head: Position,
    wait: Duration,
) -> Result<ReceiverStream<Result<pb::SubscribeNoticesResponse, Status>>, Status> {
    if !valid_gateway(&gateway) {
        return Err(Status::invalid_argument(format!(
            "gateway: {:?} is not a gateway name (lower-case letters, digits and hyphens, 1 to 64)",
            gateway.chars().take(32).collect::<String>()
        )));
    }
    let (first, _) = handle
        .read(Some(head), wait, |s| s.acknowledged(&gateway))
        .await?;
    let (sender, receiver) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let mut sent_through = first;
        loop {
            let seen = handle.position();
            let batch = handle
                .read(None, Duration::ZERO, |s| {
                    s.after(sent_through, BATCH)
                        .into_iter()
                        .map(|(sequence, n)| n.to_proto(sequence))
                        .collect::<Vec<_>>()
                })
                .await;
            let batch = match batch {
                Ok((batch, _)) => batch,
                Err(status) => {
                    let _ = sender.send(Err(status)).await;
                    return;
                }
            };
            let full = batch.len() == BATCH;
            for notice in batch {
                sent_through = notice.sequence;
                let message = pb::SubscribeNoticesResponse {
                    notice: Some(notice),
                };
                if sender.send(Ok(message)).await.is_err() {
                    return;
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                changed = handle.changed(seen) => {
                    if changed.is_none() {
                        let _ = sender.send(Err(Status::unavailable("notices is not running"))).await;
                        return;
                    }
                }
                () = sender.closed() => return,
            }
        }
    });
    Ok(ReceiverStream::new(receiver))
}
