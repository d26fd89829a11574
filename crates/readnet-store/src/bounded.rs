//! Channels bounded in bytes as well as in messages: a subscription's buffer, and the responses
//! an edge holds for a client that reads slowly.
//!
//! A bound in messages alone lets a buffer of large events grow to gigabytes (1024 events of
//! 16 MiB). Here a sender first takes the item's bytes from the channel's budget, so the items
//! waiting in a channel add up to at most its byte bound; an item larger than the whole bound
//! waits until the channel is empty and then goes alone. The receiver gives the bytes back as
//! it takes each item. Every channel also counts into one process-wide gauge,
//! [`buffered_bytes`], which tests and benchmarks read.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{Semaphore, mpsc};

/// Bytes waiting in every bounded channel of the process.
static BUFFERED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Channels whose receiver is alive: live subscriptions of both backends, for operations.
static OPEN_CHANNELS: AtomicU64 = AtomicU64::new(0);

/// How many channels (live subscriptions) have a receiver, across the process.
pub fn open_channels() -> u64 {
    OPEN_CHANNELS.load(Ordering::Relaxed)
}

/// Bytes waiting in every bounded channel of the process: sent, not yet received.
pub fn buffered_bytes() -> u64 {
    BUFFERED_BYTES.load(Ordering::Relaxed)
}

/// How much a channel holds and how long a sender waits for a slow receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Items waiting, at most.
    pub messages: usize,
    /// Bytes of the items waiting, at most (one larger item may wait alone).
    pub bytes: usize,
}

/// How an edge hands a long answer (a subscription, a paged read) to one client: the responses
/// it holds for the client at most, and how long it waits for a client that takes none before
/// cutting the call off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub bounds: Bounds,
    /// A call whose client took no response for this long while its responses filled
    /// `bounds` is cut off; the client resumes from the last position it received.
    pub stall_timeout: Duration,
}

impl Default for Delivery {
    /// 32 responses and 256 KiB per call; cut off after 30 s without progress.
    fn default() -> Self {
        Self {
            bounds: Bounds {
                messages: 32,
                bytes: 256 * 1024,
            },
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// A channel of at most `bounds.messages` items of at most `bounds.bytes` bytes together.
///
/// # Panics
/// If either bound is zero.
pub fn channel<T>(bounds: Bounds) -> (Sender<T>, Receiver<T>) {
    assert!(
        bounds.messages > 0 && bounds.bytes > 0,
        "a channel holds something: {bounds:?}"
    );
    let max_permits = u32::try_from(bounds.bytes).unwrap_or(u32::MAX);
    let budget = Arc::new(Semaphore::new(max_permits as usize));
    let last = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel(bounds.messages);
    OPEN_CHANNELS.fetch_add(1, Ordering::Relaxed);
    (
        Sender {
            tx,
            budget: Arc::clone(&budget),
            max_permits,
            last: Arc::clone(&last),
        },
        Receiver {
            rx,
            budget,
            last,
            finished: false,
        },
    )
}

struct Entry<T> {
    item: T,
    /// Taken from the budget: the item's bytes, or the whole budget for a larger item.
    permits: u32,
    bytes: u64,
}

/// Why a send did not go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The receiver is gone.
    #[error("the receiver is gone")]
    Closed,
    /// The receiver took nothing for the whole wait while the channel was full.
    #[error("the receiver took nothing for {0:?} while the channel was full")]
    Stalled(Duration),
}

/// The sending half of a [`channel`].
pub struct Sender<T> {
    tx: mpsc::Sender<Entry<T>>,
    budget: Arc<Semaphore>,
    max_permits: u32,
    last: Arc<Mutex<Option<T>>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            budget: Arc::clone(&self.budget),
            max_permits: self.max_permits,
            last: Arc::clone(&self.last),
        }
    }
}

impl<T> Sender<T> {
    /// Sends `item`, counted as `bytes`, once the channel has room for it.
    pub async fn send(&self, item: T, bytes: usize) -> Result<(), SendError> {
        let permits = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .min(self.max_permits);
        // Dropped (on cancellation, or if the receiver goes) before the item is sent, the permit
        // gives its bytes back.
        let permit = tokio::select! {
            permit = self.budget.acquire_many(permits) => permit.map_err(|_| SendError::Closed)?,
            () = self.tx.closed() => return Err(SendError::Closed),
        };
        let slot = self.tx.reserve().await.map_err(|_| SendError::Closed)?;
        permit.forget();
        BUFFERED_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
        slot.send(Entry {
            item,
            permits,
            bytes: bytes as u64,
        });
        Ok(())
    }

    /// [`Sender::send`], giving up with [`SendError::Stalled`] if the channel has no room for
    /// the item within `stall`.
    pub async fn send_within(
        &self,
        item: T,
        bytes: usize,
        stall: Duration,
    ) -> Result<(), SendError> {
        tokio::time::timeout(stall, self.send(item, bytes))
            .await
            .unwrap_or(Err(SendError::Stalled(stall)))
    }

    /// Ends the channel with `item`: the receiver gets it after every item sent before, however
    /// full the channel is. It takes no room, so that a final status reaches a stalled receiver.
    pub fn finish(self, item: T) {
        *self
            .last
            .lock()
            .expect("the last item's lock is not poisoned") = Some(item);
    }

    /// Completes once the receiver is gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The receiving half of a [`channel`]: a [`Stream`] of the items sent, then the one given to
/// [`Sender::finish`], if any.
pub struct Receiver<T> {
    rx: mpsc::Receiver<Entry<T>>,
    budget: Arc<Semaphore>,
    last: Arc<Mutex<Option<T>>>,
    finished: bool,
}

impl<T> Receiver<T> {
    /// The next item; `None` once every sender is gone and everything was received.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(entry)) => {
                self.budget.add_permits(entry.permits as usize);
                BUFFERED_BYTES.fetch_sub(entry.bytes, Ordering::Relaxed);
                Poll::Ready(Some(entry.item))
            }
            Poll::Ready(None) => {
                self.finished = true;
                let last = self
                    .last
                    .lock()
                    .expect("the last item's lock is not poisoned")
                    .take();
                Poll::Ready(last)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Wakes a sender waiting for room, and takes what waits out of the gauge.
        OPEN_CHANNELS.fetch_sub(1, Ordering::Relaxed);
        self.budget.close();
        self.rx.close();
        while let Ok(entry) = self.rx.try_recv() {
            BUFFERED_BYTES.fetch_sub(entry.bytes, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;

    const BOUNDS: Bounds = Bounds {
        messages: 100,
        bytes: 1000,
    };

    #[tokio::test]
    async fn a_sender_waits_once_the_items_waiting_fill_the_byte_bound() {
        let (tx, mut rx) = channel::<u32>(BOUNDS);
        for n in 0..4 {
            tx.send(n, 250).await.unwrap();
        }
        let stall = Duration::from_millis(20);
        assert_eq!(
            tx.send_within(4, 1, stall).await,
            Err(SendError::Stalled(stall))
        );
        assert_eq!(rx.recv().await, Some(0));
        tx.send_within(4, 250, stall).await.unwrap();
        assert_eq!(
            tx.send_within(5, 1, stall).await,
            Err(SendError::Stalled(stall))
        );
    }

    #[tokio::test]
    async fn an_item_larger_than_the_bound_goes_alone_once_the_channel_is_empty() {
        let (tx, mut rx) = channel::<u32>(BOUNDS);
        let stall = Duration::from_millis(20);
        tx.send(0, 1).await.unwrap();
        assert_eq!(
            tx.send_within(1, 1_000_000, stall).await,
            Err(SendError::Stalled(stall))
        );
        assert_eq!(rx.recv().await, Some(0));
        tx.send_within(1, 1_000_000, stall).await.unwrap();
        assert_eq!(
            tx.send_within(2, 1, stall).await,
            Err(SendError::Stalled(stall))
        );
        assert_eq!(rx.recv().await, Some(1));
        tx.send_within(2, 1, stall).await.unwrap();
    }

    #[tokio::test]
    async fn the_finishing_item_comes_after_the_rest_however_full_the_channel() {
        let (tx, rx) = channel::<u32>(BOUNDS);
        tx.send(0, 1000).await.unwrap();
        tx.finish(9);
        assert_eq!(rx.collect::<Vec<_>>().await, [0, 9]);
    }

    #[tokio::test]
    async fn a_sender_waiting_for_room_returns_closed_when_the_receiver_goes() {
        let (tx, rx) = channel::<u32>(BOUNDS);
        tx.send(0, 1000).await.unwrap();
        let waiting = tokio::spawn(async move { tx.send(1, 1).await });
        tokio::task::yield_now().await;
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err(SendError::Closed));
    }
}
