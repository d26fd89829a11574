//! Replaying the log into several projections at once, each on a thread of its own.
//!
//! One task reads the log and decodes each event once; it hands the decoded events out in
//! shared batches ([`Batch`]) through a bounded queue per projection. Each projection folds on
//! its own thread and, when the log is done, encodes and hashes its own state ([`crate::digest`])
//! while the others do theirs. The slowest fold sets the pace; the queues' bound keeps the
//! decoder at most [`QUEUED_BATCHES`] batches ahead of it, so memory stays bounded.

use std::sync::Arc;
use std::thread::JoinHandle;

use readnet_domain::StreamId;
use readnet_store::{AllFrom, Direction, EventStore, Position};
use tokio::sync::mpsc;

use crate::{ProjectedEvent, Projection, RunnerError};

/// Decoded events, shared by every projection that folds them.
pub type Batch = Arc<[ProjectedEvent]>;

/// Events read from the store per page.
const PAGE_EVENTS: usize = 1024;
/// Events in a batch: enough that a hand-over costs little against the folding of it.
const BATCH_EVENTS: usize = 4096;
/// Batches queued for each projection at most.
const QUEUED_BATCHES: usize = 8;

/// What a projection's thread is sent: batches, then the word that the log is done. A queue
/// closed without it means the replay failed: the thread stops without a digest.
enum Fed {
    Events(Batch),
    Done,
}

/// Projections to fold from one pass over the log. Add each with [`Pipeline::fold`] or
/// [`Pipeline::fold_digested`], then [`Pipeline::run`].
#[derive(Default)]
pub struct Pipeline {
    queues: Vec<mpsc::Sender<Fed>>,
}

/// A projection folding on its own thread; [`Folding::finish`] waits for it.
pub struct Folding<P> {
    thread: JoinHandle<Option<Folded<P>>>,
}

/// A projection folded through the end of a replay, with its digest if it was asked for.
#[derive(Debug)]
pub struct Folded<P> {
    pub state: P,
    pub digest: Option<String>,
}

impl Pipeline {
    /// A pipeline with no projection yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds `P` on a thread of its own.
    pub fn fold<P: Projection>(&mut self) -> Folding<P> {
        self.spawn(false)
    }

    /// Folds `P` on a thread of its own and computes its digest there.
    pub fn fold_digested<P: Projection>(&mut self) -> Folding<P> {
        self.spawn(true)
    }

    /// Folds `state`, an empty state built otherwise than by `Default` (one whose rows live
    /// on disk, ADR 0027), on a thread of its own; with its digest if `digested`.
    ///
    /// # Panics
    ///
    /// If `state` has folded any event: the pipeline feeds it from the first.
    pub fn fold_state<P: Projection>(&mut self, state: P, digested: bool) -> Folding<P> {
        assert_eq!(
            state.position(),
            Position::START,
            "a pipeline folds from the first event"
        );
        self.spawn_with(state, digested)
    }

    fn spawn<P: Projection>(&mut self, digested: bool) -> Folding<P> {
        self.spawn_with(P::default(), digested)
    }

    fn spawn_with<P: Projection>(&mut self, state: P, digested: bool) -> Folding<P> {
        let (sender, mut receiver) = mpsc::channel::<Fed>(QUEUED_BATCHES);
        self.queues.push(sender);
        let thread = std::thread::Builder::new()
            .name(format!("fold-{}", P::NAME))
            .spawn(move || {
                let mut state = state;
                while let Some(fed) = receiver.blocking_recv() {
                    match fed {
                        Fed::Events(batch) => batch.iter().for_each(|event| state.apply(event)),
                        Fed::Done => {
                            let digest = digested.then(|| crate::digest(&state));
                            return Some(Folded { state, digest });
                        }
                    }
                }
                None
            })
            .expect("a thread to fold on");
        Folding { thread }
    }

    /// Reads the log from the first event through `through` (the head if `None`), decodes
    /// every fact once and feeds it to each projection. `progress` is told each position
    /// decoded (the folds follow a few batches behind).
    pub async fn run(
        self,
        store: &dyn EventStore,
        through: Option<Position>,
        mut progress: impl FnMut(Position),
    ) -> Result<(), RunnerError> {
        let last = through.unwrap_or(Position::MAX).min(store.head_position());
        let mut next = Position::FIRST;
        let mut batch: Vec<ProjectedEvent> = Vec::with_capacity(BATCH_EVENTS);
        while next <= last {
            let page = store
                .read_all(AllFrom::Position(next), Direction::Forwards, PAGE_EVENTS)
                .await?;
            let Some(end) = page.last().map(|e| e.position) else {
                break;
            };
            let facts = page
                .iter()
                .take_while(|e| e.position <= last)
                .filter(|e| StreamId::holds_facts(&e.stream));
            for event in facts {
                batch.push(readnet_ledger::envelope::decode(event)?);
            }
            if batch.len() >= BATCH_EVENTS {
                self.send(std::mem::take(&mut batch).into()).await;
                batch.reserve(BATCH_EVENTS);
            }
            progress(end.min(last));
            next = end.next();
        }
        if !batch.is_empty() {
            self.send(batch.into()).await;
        }
        for queue in &self.queues {
            // A closed queue means its thread panicked: its `finish` passes the panic on.
            let _ = queue.send(Fed::Done).await;
        }
        Ok(())
    }

    async fn send(&self, batch: Batch) {
        for queue in &self.queues {
            // As in `run`: a closed queue's panic surfaces at `finish`.
            let _ = queue.send(Fed::Events(Arc::clone(&batch))).await;
        }
    }
}

impl<P: Projection> Folding<P> {
    /// The folded state (and digest), once the replay has fed the thread everything; `None`
    /// when the replay failed before the end. A panic in the fold is passed on.
    pub async fn finish(self) -> Option<Folded<P>> {
        let thread = self.thread;
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(folded)) => folded,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}
