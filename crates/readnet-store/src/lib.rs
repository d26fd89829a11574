//! The event store readnet writes to, in KurrentDB's terms.
//!
//! A store holds named streams of immutable events. Every event has a revision in its stream
//! (dense, from 0) and a position in `$all` (dense, from 1, the order in which events were
//! committed). Appends state what they expect of each stream ([`StreamState`]) and are atomic:
//! all of a call's events are written, or none.
//!
//! [`embedded::EmbeddedStore`] is the default backend: segment files in a data directory,
//! CRC32C-framed records, fdatasync before acknowledgement, group commit.
//! [`kurrentdb::KurrentDbStore`] keeps the events in a KurrentDB cluster (one journal stream,
//! link events per stream; `docs/adr/0006-kurrentdb-backend.md`).

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
#[cfg(feature = "kurrentdb")]
pub mod kurrentdb;
mod types;

pub use error::StoreError;
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

    /// Reads up to `max_count` events of `stream` from revision `from`, in `direction`.
    async fn read_stream(
        &self,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `max_count` events of `$all` from position `from`, in `direction`.
    async fn read_all(
        &self,
        from: ReadFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The current revision of a stream, `None` if it has no events.
    async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, StoreError>;

    /// The position of the last committed event in `$all` (0 when the store is empty).
    fn head_position(&self) -> u64;

    /// Subscribes to `$all` after `checkpoint` (0 = from the first event): catch up from the
    /// log, then say [`SubscriptionMessage::CaughtUp`] once, then deliver live events.
    fn subscribe_all(&self, checkpoint: u64) -> Subscription;
}
