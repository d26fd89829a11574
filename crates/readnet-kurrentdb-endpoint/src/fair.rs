//! Fair sharing of the store's write path among the principals appending through the endpoint.
//!
//! The store commits appends in arrival order. A principal that sends many large appends at
//! once (16 MiB each, over several calls) would fill the store's queue, and every checkout the
//! command bus appends meanwhile would wait behind all of them. Here each principal has a queue
//! of its own; appends go to the store in turns, one principal after another (round robin), and
//! the endpoint's appends in the store at once add up to at most [`MAX_BYTES_IN_FLIGHT`] (one
//! larger append goes alone). So the command bus's appends wait behind at most one large
//! foreign append, and one principal's large appends cannot hold up another's small ones by
//! more than one turn.
//!
//! An append of more than [`PACED_FROM_BYTES`] keeps its turn, after it is answered, for as
//! long again as the store took to commit it ([`Turn::release_after`]): so large foreign
//! appends take at most about half of the store's time, and the command bus's appends that
//! arrive meanwhile commit in batches of their own rather than in one with the next large
//! append.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The endpoint's append bytes in the store at once, at most (one larger append goes alone).
pub(crate) const MAX_BYTES_IN_FLIGHT: u64 = 1024 * 1024;
/// An append larger than this keeps its turn for as long again as its commit took.
pub(crate) const PACED_FROM_BYTES: u64 = 256 * 1024;

/// The turns of the principals appending through the endpoint: see the [module docs](self).
#[derive(Debug)]
pub(crate) struct WriteShare {
    max_bytes_in_flight: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    in_flight: u64,
    /// Each principal's waiting appends, in arrival order.
    waiting: HashMap<Arc<str>, VecDeque<Waiter>>,
    /// The principals with appends waiting, in the order of their turns.
    turns: VecDeque<Arc<str>>,
}

#[derive(Debug)]
struct Waiter {
    bytes: u64,
    admitted: oneshot::Sender<()>,
}

/// An append's turn: its bytes count as in the store until it is dropped.
pub(crate) struct Turn {
    share: Arc<WriteShare>,
    bytes: u64,
}

impl Turn {
    /// Ends the turn of an append whose commit took `took`: at once for a small append, after
    /// `took` again for one over [`PACED_FROM_BYTES`] (see the [module docs](self)).
    pub(crate) fn release_after(self, took: std::time::Duration) {
        if self.bytes > PACED_FROM_BYTES {
            tokio::spawn(async move {
                tokio::time::sleep(took).await;
                drop(self);
            });
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.share.release(self.bytes);
    }
}

impl WriteShare {
    pub(crate) fn new(max_bytes_in_flight: u64) -> Self {
        Self {
            max_bytes_in_flight,
            state: Mutex::new(State::default()),
        }
    }

    /// Waits for `principal`'s turn to put an append of `bytes` into the store.
    pub(crate) async fn turn(self: &Arc<Self>, principal: &str, bytes: u64) -> Turn {
        let admitted = {
            let mut state = self.lock();
            if state.waiting.is_empty() && self.fits(&state, bytes) {
                state.in_flight += bytes;
                return Turn {
                    share: Arc::clone(self),
                    bytes,
                };
            }
            let (admitted, receiver) = oneshot::channel();
            let lane = state.waiting.entry(Arc::from(principal)).or_default();
            lane.push_back(Waiter { bytes, admitted });
            if lane.len() == 1 {
                state.turns.push_back(Arc::from(principal));
            }
            Waiting {
                share: self,
                receiver,
                bytes,
            }
        };
        admitted.wait().await;
        Turn {
            share: Arc::clone(self),
            bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("the write share's lock is not poisoned")
    }

    fn fits(&self, state: &State, bytes: u64) -> bool {
        state.in_flight == 0 || state.in_flight + bytes <= self.max_bytes_in_flight
    }

    fn release(&self, bytes: u64) {
        let mut state = self.lock();
        state.in_flight -= bytes;
        self.admit(&mut state);
    }

    /// Admits waiting appends, a principal at a time, while they fit.
    fn admit(&self, state: &mut State) {
        while let Some(principal) = state.turns.front().cloned() {
            let lane = state
                .waiting
                .get_mut(&principal)
                .expect("a principal with a turn has appends waiting");
            let bytes = lane.front().expect("a lane is never empty").bytes;
            if !self.fits(state, bytes) {
                return;
            }
            let lane = state.waiting.get_mut(&principal).expect("just seen");
            let waiter = lane.pop_front().expect("just seen");
            state.turns.pop_front();
            if lane.is_empty() {
                state.waiting.remove(&principal);
            } else {
                state.turns.push_back(principal);
            }
            // A waiter that gave up does not take its bytes.
            if waiter.admitted.send(()).is_ok() {
                state.in_flight += bytes;
            }
        }
    }
}

/// An append waiting for its turn. Dropped after it was admitted but before it took the turn
/// (the call was cancelled), it gives the bytes back.
struct Waiting<'a> {
    share: &'a WriteShare,
    receiver: oneshot::Receiver<()>,
    bytes: u64,
}

impl Waiting<'_> {
    async fn wait(mut self) {
        (&mut self.receiver)
            .await
            .expect("a waiter is admitted, never dropped");
        // Admitted: the turn now owns the bytes.
        self.bytes = 0;
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        self.receiver.close();
        if self.receiver.try_recv().is_ok() {
            self.share.release(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// Starts `principal`'s append of `bytes` and records when it gets its turn; the turn is
    /// held until `done` is dropped.
    fn append(
        share: &Arc<WriteShare>,
        order: &Arc<Mutex<Vec<&'static str>>>,
        principal: &'static str,
        bytes: u64,
    ) -> (tokio::task::JoinHandle<()>, oneshot::Sender<()>) {
        let (done, finished) = oneshot::channel::<()>();
        let (share, order) = (Arc::clone(share), Arc::clone(order));
        let task = tokio::spawn(async move {
            let _turn = share.turn(principal, bytes).await;
            order.lock().unwrap().push(principal);
            let _ = finished.await;
        });
        (task, done)
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn a_principal_with_many_large_appends_lets_another_principals_small_one_go_after_one_turn()
     {
        let share = Arc::new(WriteShare::new(MIB));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut big = Vec::new();
        for _ in 0..4 {
            big.push(append(&share, &order, "bulk-loader", 16 * MIB));
            settle().await;
        }
        let small = append(&share, &order, "desk-app", 1024);
        settle().await;
        // One large append is in the store; the others and the small one wait.
        assert_eq!(*order.lock().unwrap(), ["bulk-loader"]);
        drop(big.remove(0).1);
        settle().await;
        // The loader's turn had come before the desk app asked; then it is the desk app's,
        // ahead of the loader's two other large appends.
        assert_eq!(*order.lock().unwrap(), ["bulk-loader", "bulk-loader"]);
        drop(big.remove(0).1);
        settle().await;
        assert_eq!(
            *order.lock().unwrap(),
            ["bulk-loader", "bulk-loader", "desk-app"]
        );
        drop(small.1);
        settle().await;
        assert_eq!(
            *order.lock().unwrap(),
            ["bulk-loader", "bulk-loader", "desk-app", "bulk-loader"]
        );
    }

    #[tokio::test]
    async fn small_appends_share_the_bytes_in_flight_without_waiting() {
        let share = Arc::new(WriteShare::new(MIB));
        let order = Arc::new(Mutex::new(Vec::new()));
        let _a = append(&share, &order, "a", MIB / 4);
        let _b = append(&share, &order, "b", MIB / 4);
        let _c = append(&share, &order, "c", MIB / 4);
        settle().await;
        assert_eq!(order.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn an_append_cancelled_while_waiting_takes_no_bytes() {
        let share = Arc::new(WriteShare::new(MIB));
        let order = Arc::new(Mutex::new(Vec::new()));
        let (_, first) = append(&share, &order, "a", MIB);
        settle().await;
        let (cancelled, _keep) = append(&share, &order, "b", MIB);
        settle().await;
        cancelled.abort();
        settle().await;
        drop(first);
        settle().await;
        let (_, _third) = append(&share, &order, "c", MIB);
        settle().await;
        assert_eq!(*order.lock().unwrap(), ["a", "c"]);
        assert_eq!(share.lock().in_flight, MIB);
    }
}
