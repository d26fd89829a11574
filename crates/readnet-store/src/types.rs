use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use uuid::Uuid;

use crate::StoreError;

/// A position in `$all`: dense from 1 in commit order. [`Position::START`] (0) is the place
/// before the first event: a checkpoint that has seen nothing, the head of an empty store.
///
/// Positions compare and follow one another; they are not numbers to add. The gap between two
/// of them is a count of events ([`Position::events_since`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Position(u64);

impl Position {
    /// Before the first event.
    pub const START: Position = Position(0);
    /// The first event's position.
    pub const FIRST: Position = Position(1);
    /// Past every position (an unbounded "through").
    pub const MAX: Position = Position(u64::MAX);

    /// The position numbered `position` (from protobuf, disk or a command line).
    pub const fn new(position: u64) -> Self {
        Self(position)
    }

    /// The position as the number protobuf messages and disk formats carry.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The position after this one (saturating: no log reaches `u64::MAX`, a client's number
    /// may).
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The position before this one, `None` before the first event.
    pub const fn previous(self) -> Option<Self> {
        match self.0.checked_sub(1) {
            Some(previous) => Some(Self(previous)),
            None => None,
        }
    }

    /// The position `events` events after this one (positions are dense).
    pub const fn after(self, events: u64) -> Self {
        Self(self.0 + events)
    }

    /// How many events lie after `earlier` up to and including `self` (0 if `earlier` is not
    /// before `self`).
    pub const fn events_since(self, earlier: Position) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A revision in a stream: dense from 0, the stream's first event being [`Revision::FIRST`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Revision(u64);

impl Revision {
    /// A stream's first event.
    pub const FIRST: Revision = Revision(0);

    /// The revision numbered `revision` (from protobuf, disk or a command line).
    pub const fn new(revision: u64) -> Self {
        Self(revision)
    }

    /// The revision as the number protobuf messages and disk formats carry.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The revision after this one (saturating: no stream reaches `u64::MAX`, a client's
    /// number may).
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The revision before this one, `None` for a stream's first event.
    pub const fn previous(self) -> Option<Self> {
        match self.0.checked_sub(1) {
            Some(previous) => Some(Self(previous)),
            None => None,
        }
    }

    /// The revision `events` events after this one (revisions are dense).
    pub const fn after(self, events: u64) -> Self {
        Self(self.0 + events)
    }

    /// How many events a stream holds whose last event has this revision.
    pub const fn count(self) -> u64 {
        self.0 + 1
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an append expects of a stream (KurrentDB's `StreamState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// No expectation.
    Any,
    /// The stream has no events.
    NoStream,
    /// The stream has at least one event.
    StreamExists,
    /// The stream's last event has this revision.
    Revision(Revision),
}

impl fmt::Display for StreamState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamState::Any => f.write_str("any"),
            StreamState::NoStream => f.write_str("no stream"),
            StreamState::StreamExists => f.write_str("stream exists"),
            StreamState::Revision(r) => write!(f, "revision {r}"),
        }
    }
}

/// The state a stream was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentRevision {
    NoStream,
    Current(Revision),
}

impl fmt::Display for CurrentRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CurrentRevision::NoStream => f.write_str("no stream"),
            CurrentRevision::Current(r) => write!(f, "revision {r}"),
        }
    }
}

/// How an event's data is encoded, as KurrentDB records it: JSON, or anything else.
///
/// readnet's own events are protobuf ([`ContentType::Binary`]). The flag is kept so that events
/// written through the KurrentDB endpoint read back with the content type they were written with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `application/octet-stream`: protobuf or any other bytes.
    #[default]
    Binary,
    /// `application/json`.
    Json,
}

impl ContentType {
    /// The MIME type KurrentDB clients see.
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Binary => "application/octet-stream",
            ContentType::Json => "application/json",
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventData {
    pub event_id: Uuid,
    pub event_type: String,
    pub content_type: ContentType,
    pub metadata: Bytes,
    pub data: Bytes,
}

/// The longest stream name a store takes, in bytes (UTF-8). Every record repeats its stream's
/// name, so the name is paid for once per event; 1 KiB leaves room for any name a KurrentDB
/// client builds (category, id, suffixes) while keeping that repetition small.
pub const MAX_STREAM_NAME_BYTES: usize = 1024;

/// One stream's part of an append.
#[derive(Debug, Clone)]
pub struct StreamWrite {
    pub stream: String,
    pub expected: StreamState,
    pub events: Vec<EventData>,
}

/// Where one stream's part of an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Revision of the last event now in the stream (the next append's expectation).
    pub next_expected_revision: Revision,
    /// `$all` position of the first event of this write.
    pub first_position: Position,
    /// `$all` position of the last event of this write.
    pub position: Position,
    /// When the store committed this write's events (store clock, microseconds since the Unix
    /// epoch); `None` when the write was a retry of one already recorded, whose time the store
    /// does not look up (read the events to see it).
    pub recorded_at_us: Option<i64>,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub stream: String,
    pub revision: Revision,
    pub position: Position,
    pub event_id: Uuid,
    pub event_type: String,
    pub content_type: ContentType,
    /// When the store committed the event, microseconds since the Unix epoch (store clock).
    pub recorded_at_us: i64,
    /// Shares its buffer with the events read with it: keep what you need, not the event.
    pub metadata: Bytes,
    pub data: Bytes,
}

/// Where a stream read starts (KurrentDB's `StreamPosition` of a revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrom {
    /// The stream's first event.
    Start,
    /// The stream's last event.
    End,
    /// The event with this revision (inclusive).
    Revision(Revision),
}

/// Where a read of `$all` starts (KurrentDB's `StreamPosition` of a `Position`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllFrom {
    /// The first event.
    Start,
    /// The last event.
    End,
    /// The event at this position (inclusive).
    Position(Position),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// Options of a call, as the KurrentDB client's `…Options` carry them: a deadline for now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// When the caller stops waiting. A call whose deadline has passed is refused before it
    /// starts; one that runs past it answers [`StoreError::DeadlineExceeded`] (an append may still
    /// be recorded).
    pub deadline: Option<std::time::Instant>,
}

impl CallOptions {
    /// Options with a deadline `timeout` from now.
    pub fn timeout(timeout: std::time::Duration) -> Self {
        Self {
            deadline: Some(std::time::Instant::now() + timeout),
        }
    }
}

/// What a subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionMessage {
    Event(RecordedEvent),
    /// Sent once, when the subscriber has received every event committed when it caught up;
    /// `position` is the last position delivered, or the checkpoint if nothing was delivered.
    CaughtUp {
        position: Position,
    },
}

/// A catch-up subscription to `$all`, a [`Stream`] of messages that ends when the store closes.
/// Delivery is pulled from the log through a channel bounded in messages and in bytes
/// ([`crate::bounded`]): a slow subscriber holds at most [`SUBSCRIPTION_BOUNDS`] in memory (or
/// one larger event) and never stalls writers.
pub struct Subscription {
    receiver: crate::bounded::Receiver<Result<SubscriptionMessage, StoreError>>,
}

/// What a subscription's channel holds at most, unless a store's options say otherwise: 1024
/// messages and 256 KiB of events. A pulled subscription loses nothing by a small buffer (it
/// reads the log again), while 300 stalled subscribers with a buffer of 1024 events of 16 MiB
/// each could hold 5 TB.
pub const SUBSCRIPTION_BOUNDS: crate::bounded::Bounds = crate::bounded::Bounds {
    messages: 1024,
    bytes: 256 * 1024,
};

/// The sending half of a subscription, for store implementations: see [`subscription`].
pub struct SubscriptionSender {
    sender: crate::bounded::Sender<Result<SubscriptionMessage, StoreError>>,
}

/// A subscription's channel (for store implementations), bounded by `bounds`.
pub fn subscription(bounds: crate::bounded::Bounds) -> (SubscriptionSender, Subscription) {
    let (sender, receiver) = crate::bounded::channel(bounds);
    (SubscriptionSender { sender }, Subscription { receiver })
}

impl SubscriptionSender {
    /// Sends a message once the channel has room for it; `Err` when the subscriber is gone.
    pub async fn send(
        &self,
        message: Result<SubscriptionMessage, StoreError>,
    ) -> Result<(), crate::bounded::SendError> {
        let bytes = match &message {
            Ok(SubscriptionMessage::Event(event)) => event.buffered_bytes(),
            Ok(SubscriptionMessage::CaughtUp { .. }) | Err(_) => 0,
        };
        self.sender.send(message, bytes).await
    }

    /// Completes once the subscriber is gone.
    pub async fn closed(&self) {
        self.sender.closed().await;
    }
}

impl RecordedEvent {
    /// What the event counts for in a buffer bounded in bytes: its payloads, names and a fixed
    /// allowance for the rest of the struct.
    pub fn buffered_bytes(&self) -> usize {
        const FIXED_BYTES: usize = 128;
        self.data.len()
            + self.metadata.len()
            + self.event_type.len()
            + self.stream.len()
            + FIXED_BYTES
    }
}

impl Stream for Subscription {
    type Item = Result<SubscriptionMessage, StoreError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.receiver).poll_next(cx)
    }
}

/// A write of events with the given ids (type "T", empty data), for unit tests.
#[cfg(test)]
pub(crate) fn test_write(stream: &str, expected: StreamState, ids: &[u128]) -> StreamWrite {
    StreamWrite {
        stream: stream.into(),
        expected,
        events: ids
            .iter()
            .map(|&id| EventData {
                event_id: uuid::Uuid::from_u128(id),
                event_type: "T".into(),
                content_type: ContentType::Binary,
                metadata: Bytes::new(),
                data: Bytes::new(),
            })
            .collect(),
    }
}
