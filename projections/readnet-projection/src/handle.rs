//! Sharing a projection's state between the runner that folds it and the services that query it,
//! with read-your-writes: a query can ask to see at least a given `$all` position.

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use tokio::sync::watch;
use tonic::Status;

use crate::{Position, ProjectedEvent, Projection};

/// The longest a query waits for its `min_position` when the caller set no deadline.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// The longest a query waits for its `min_position` whatever the caller's deadline.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// The query side of a projection: cheap to clone, shared by its services.
pub struct Handle<P: Projection> {
    state: Arc<RwLock<P>>,
    applied: watch::Receiver<Position>,
}

impl<P: Projection> Clone for Handle<P> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            applied: self.applied.clone(),
        }
    }
}

/// The folding side of a projection, owned by its runner.
pub struct Writer<P: Projection> {
    pub(crate) state: Arc<RwLock<P>>,
    applied: watch::Sender<Position>,
}

/// A projection's state shared between one [`Writer`] and many [`Handle`]s.
pub fn shared<P: Projection>(initial: P) -> (Writer<P>, Handle<P>) {
    let position = initial.position();
    let state = Arc::new(RwLock::new(initial));
    let (applied, watch) = watch::channel(position);
    (
        Writer {
            state: Arc::clone(&state),
            applied,
        },
        Handle {
            state,
            applied: watch,
        },
    )
}

impl<P: Projection> Writer<P> {
    /// Folds events (in position order, each after the last applied) and publishes the position.
    pub fn apply(&self, events: &[ProjectedEvent]) {
        let Some(last) = events.last() else { return };
        {
            let mut state = self.state.write().expect("projection lock");
            for event in events {
                debug_assert!(
                    event.position > state.position(),
                    "events arrive once, in order"
                );
                state.apply(event);
            }
            debug_assert_eq!(state.position(), last.position);
        }
        self.applied.send_replace(last.position);
    }

    /// A watch of the position published, for whoever reports how far the projection is.
    pub fn watch_position(&self) -> watch::Receiver<Position> {
        self.applied.subscribe()
    }

    /// Publishes that the log has been read through `position` although the events after the
    /// last one applied were not facts (see [`readnet_domain::StreamId::holds_facts`]: refusals,
    /// other writers' streams): the state is unchanged, and queries waiting for those positions
    /// are answered.
    pub fn pass(&self, position: Position) {
        self.applied.send_if_modified(|applied| {
            let moved = position > *applied;
            *applied = (*applied).max(position);
            moved
        });
    }

    /// The position of the last event read: applied, or passed over as not a fact.
    pub fn snapshot_position(&self) -> Position {
        *self.applied.borrow()
    }

    /// A copy of the state, for a snapshot.
    pub fn snapshot(&self) -> P {
        self.state.read().expect("projection lock").clone()
    }

    /// Replaces the whole state (a rebuild), publishing its position.
    pub fn replace(&self, state: P) {
        let position = state.position();
        *self.state.write().expect("projection lock") = state;
        self.applied.send_replace(position);
    }
}

impl<P: Projection> Handle<P> {
    /// The position of the last event applied.
    pub fn position(&self) -> Position {
        *self.applied.borrow()
    }

    /// Reads the state once it has applied `min_position` (if given), waiting at most `wait`.
    /// Returns the answer and the position it reflects. A wait that runs out is
    /// DEADLINE_EXCEEDED, naming the position reached.
    pub async fn read<R>(
        &self,
        min_position: Option<Position>,
        wait: Duration,
        query: impl FnOnce(&P) -> R,
    ) -> Result<(R, Position), Status> {
        // A runner that stopped (an unreadable event, a store failure) leaves a state that no
        // longer follows the log: answering from it would be silently stale.
        if self.applied.has_changed().is_err() {
            return Err(Status::unavailable(format!(
                "{} stopped following the log at position {}; its answers would be stale (see the server log)",
                P::NAME,
                self.position()
            )));
        }
        if let Some(min) = min_position.filter(|&m| m > Position::START) {
            let mut applied = self.applied.clone();
            let reached =
                tokio::time::timeout(wait.min(MAX_WAIT), applied.wait_for(|&p| p >= min)).await;
            match reached {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => {
                    return Err(Status::unavailable(format!("{} is not running", P::NAME)));
                }
                Err(_) => {
                    return Err(Status::deadline_exceeded(format!(
                        "min_position: {} has applied the log up to position {}, not yet {min}",
                        P::NAME,
                        self.position()
                    )));
                }
            }
        }
        // Read before the lock: the state already holds everything through it. It can be past
        // the state's own position when the last events were not facts.
        let reached = self.position();
        let state = self.read_lock();
        Ok((query(&state), state.position().max(reached)))
    }

    /// Waits until the applied position changes from `seen`, then returns the new one; `None`
    /// when the runner has stopped. For server streams that push changes.
    pub async fn changed(&self, seen: Position) -> Option<Position> {
        let mut applied = self.applied.clone();
        applied.wait_for(|&p| p != seen).await.ok().map(|p| *p)
    }

    fn read_lock(&self) -> RwLockReadGuard<'_, P> {
        self.state.read().expect("projection lock")
    }
}

/// How long a query may wait: four fifths of the caller's gRPC deadline (`grpc-timeout`), so
/// that the answer saying how far the projection got arrives before the caller gives up; else
/// [`DEFAULT_WAIT`]; never more than [`MAX_WAIT`].
pub fn wait_budget(metadata: &tonic::metadata::MetadataMap) -> Duration {
    metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map_or(DEFAULT_WAIT, |deadline| deadline - deadline / 5)
        .min(MAX_WAIT)
}

/// `grpc-timeout` is digits and a unit: H, M, S, m, u, n.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde::{Deserialize, Serialize};

    /// Counts events.
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    struct Count {
        events: u64,
        position: Position,
    }

    impl Projection for Count {
        const NAME: &'static str = "count";
        const VERSION: u32 = 1;
        fn apply(&mut self, event: &ProjectedEvent) {
            self.events += 1;
            self.position = event.position;
        }
        fn position(&self) -> Position {
            self.position
        }
    }

    fn event(position: u64) -> ProjectedEvent {
        ProjectedEvent {
            position: Position::new(position),
            stream: "network".into(),
            revision: crate::Revision::new(position - 1),
            event_id: uuid::Uuid::nil(),
            occurred_at: Utc::now(),
            recorded_at: Utc::now(),
            acting_library: String::new(),
            channel: crate::pb::Channel::System,
            command_id: None,
            correlation_id: None,
            principal: String::new(),
            payload: crate::Payload::LibraryClosed(crate::pb::LibraryClosed::default()),
        }
    }

    #[tokio::test]
    async fn a_query_with_min_position_waits_until_the_projection_has_applied_it() {
        let (writer, handle) = shared(Count::default());
        let query = tokio::spawn({
            let handle = handle.clone();
            async move {
                handle
                    .read(Some(Position::new(3)), Duration::from_secs(5), |c| c.events)
                    .await
            }
        });
        writer.apply(&[event(1), event(2)]);
        tokio::task::yield_now().await;
        assert!(!query.is_finished(), "position 2 is not enough");
        writer.apply(&[event(3)]);
        let (events, position) = query.await.unwrap().unwrap();
        assert_eq!((events, position), (3, Position::new(3)));
    }

    #[tokio::test]
    async fn a_projection_whose_runner_stopped_answers_unavailable_not_stale() {
        let (writer, handle) = shared(Count::default());
        writer.apply(&[event(1)]);
        assert!(
            handle
                .read(None, Duration::ZERO, |c| c.events)
                .await
                .is_ok()
        );
        drop(writer);
        let status = handle
            .read(None, Duration::ZERO, |c| c.events)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(
            status
                .message()
                .contains("stopped following the log at position 1"),
            "{}",
            status.message()
        );
    }

    #[tokio::test]
    async fn a_query_whose_position_does_not_come_in_time_says_how_far_the_projection_got() {
        let (writer, handle) = shared(Count::default());
        writer.apply(&[event(1)]);
        let status = handle
            .read(Some(Position::new(9)), Duration::from_millis(20), |c| {
                c.events
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(
            status.message().contains("up to position 1, not yet 9"),
            "{}",
            status.message()
        );
        let (events, position) = handle
            .read(None, Duration::ZERO, |c| c.events)
            .await
            .unwrap();
        assert_eq!(
            (events, position),
            (1, Position::new(1)),
            "without min_position: what is applied, and where"
        );
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("150m"), Some(Duration::from_millis(150)));
        assert_eq!(parse_grpc_timeout("1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }
}
