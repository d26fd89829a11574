//! The event store readnet writes to, in KurrentDB's terms.
//!
//! A store holds named streams of immutable events. Every event has a [`Revision`] in its stream
//! (dense, from 0) and a [`Position`] in `$all` (dense, from 1, the order in which events were
//! committed). A stream read starts from a [`StreamFrom`], a read of `$all` from an [`AllFrom`]. Appends state what they expect of each stream ([`StreamState`]) and are atomic:
//! all of a call's events are written, or none.
//!
//! [`embedded::EmbeddedStore`] is the default backend: segment files in a data directory,
//! CRC32C-framed records, fdatasync before acknowledgement, group commit.
//! [`kurrentdb::KurrentDbStore`] keeps the events in a KurrentDB cluster (one journal stream,
//! link events per stream; `docs/adr/0006-kurrentdb-backend.md`).

pub mod bounded;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
#[cfg(feature = "kurrentdb")]
pub mod kurrentdb;
mod types;

pub use error::{Damage, StoreError};
pub use types::*;

use async_trait::async_trait;

/// An event store: append with expectations, read streams and `$all`, subscribe to `$all`.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to one stream if the stream is in the `expected` state.
    async fn append(
        &self,
        stream: &str,
        expected: StreamState,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        let mut results = self
            .append_multi(vec![StreamWrite {
                stream: stream.to_owned(),
                expected,
                events,
            }])
            .await?;
        Ok(results.remove(0))
    }

    /// Appends to several streams atomically: every write's expectation holds and all events
    /// are written, or nothing is. Results come in the order of `writes`.
    ///
    /// A write whose event ids are already the stream's events at the expected place is a retry:
    /// the original result is returned and nothing is written.
    async fn append_multi(&self, writes: Vec<StreamWrite>)
    -> Result<Vec<AppendResult>, StoreError>;

    /// Reads up to `max_count` events of `stream` from `from`, in `direction`.
    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `max_count` events of `$all` from `from`, in `direction`.
    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// [`EventStore::append_multi`] within `options`' deadline. The default (the embedded
    /// backend's) stops waiting at the deadline; the KurrentDB backend passes it on to each call
    /// it makes to the cluster.
    async fn append_multi_with(
        &self,
        writes: Vec<StreamWrite>,
        options: &CallOptions,
    ) -> Result<Vec<AppendResult>, StoreError> {
        within(
            options,
            "an append",
            ", it may still be recorded",
            self.append_multi(writes),
        )
        .await
    }

    /// [`EventStore::read_stream`] within `options`' deadline.
    async fn read_stream_with(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max_count: usize,
        options: &CallOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        within(
            options,
            "a stream read",
            "",
            self.read_stream(stream, from, direction, max_count),
        )
        .await
    }

    /// [`EventStore::read_all`] within `options`' deadline.
    async fn read_all_with(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
        options: &CallOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        within(
            options,
            "a read of $all",
            "",
            self.read_all(from, direction, max_count),
        )
        .await
    }

    /// The current revision of a stream, `None` if it has no events.
    async fn stream_revision(&self, stream: &str) -> Result<Option<Revision>, StoreError>;

    /// The position of the last committed event in `$all` ([`Position::START`] when the store
    /// is empty).
    fn head_position(&self) -> Position;

    /// Subscribes to `$all` after `checkpoint` ([`Position::START`] = from the first event):
    /// catch up from the log, then say [`SubscriptionMessage::CaughtUp`] once, then deliver live
    /// events.
    fn subscribe_all(&self, checkpoint: Position) -> Subscription;
}

/// Runs `call` until `options`' deadline: refused at once if it has passed, cut short (and
/// reported) if it runs past it.
async fn within<T>(
    options: &CallOptions,
    call: &'static str,
    may_be: &'static str,
    future: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let Some(deadline) = options.deadline else {
        return future.await;
    };
    let exceeded = StoreError::DeadlineExceeded { call, may_be };
    if std::time::Instant::now() >= deadline {
        // Not started: nothing can have been recorded.
        return Err(StoreError::DeadlineExceeded { call, may_be: "" });
    }
    tokio::time::timeout_at(deadline.into(), future)
        .await
        .unwrap_or(Err(exceeded))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[tokio::test]
    async fn a_call_past_its_deadline_is_refused_before_it_starts() {
        let started = std::sync::atomic::AtomicBool::new(false);
        let options = CallOptions {
            deadline: Some(Instant::now() - Duration::from_millis(1)),
        };
        let result = within(&options, "an append", ", it may still be recorded", async {
            started.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .await;
        assert!(matches!(
            result,
            Err(StoreError::DeadlineExceeded { may_be: "", .. })
        ));
        assert!(!started.into_inner(), "the call never started");
    }

    #[tokio::test]
    async fn a_call_running_past_its_deadline_is_cut_short_and_says_it_may_be_recorded() {
        let options = CallOptions::timeout(Duration::from_millis(20));
        let result: Result<(), _> = within(
            &options,
            "an append",
            ", it may still be recorded",
            std::future::pending(),
        )
        .await;
        let error = result.unwrap_err();
        assert!(matches!(error, StoreError::DeadlineExceeded { .. }));
        assert_eq!(
            error.to_string(),
            "the deadline passed before the store answered an append, it may still be recorded"
        );
    }

    #[tokio::test]
    async fn a_call_without_a_deadline_or_within_it_answers_as_it_would() {
        let value = within(&CallOptions::default(), "a read", "", async { Ok(7) }).await;
        assert_eq!(value.unwrap(), 7);
        let options = CallOptions::timeout(Duration::from_secs(10));
        assert_eq!(
            within(&options, "a read", "", async { Ok(8) })
                .await
                .unwrap(),
            8
        );
    }
}
