//! What every readnet projection shares.
//!
//! A projection is a pure fold: [`Projection::apply`] takes one event at its `$all` position and
//! changes the state; no I/O, no clock. The runner in the server (and `readnet replay`) feeds it
//! the log in position order, persists its state with the position reached, and rebuilds it from
//! zero when [`Projection::VERSION`] changes. States use ordered maps so that their JSON encoding
//! is canonical: [`digest`] is the same for the same history, on every machine.

pub mod canonical;
pub mod handle;
pub mod history;
mod network;
pub mod runner;
pub mod title;

use chrono::{DateTime, TimeZone, Utc};
use readnet_domain::codec;
use readnet_domain::pb::Channel;
use readnet_store::RecordedEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use canonical::{FastMap, FastSet};
pub use handle::{Handle, Writer, shared, wait_budget};
pub use network::{
    CityView, LibraryView, NetworkView, SETTLEMENT_TIME_ZONE, TariffView, settlement_period,
};
pub use readnet_domain::Payload;
pub use readnet_domain::pb;
pub use runner::{RunnerError, SnapshotPolicy, Snapshots, follow, replay};
pub use title::title_key;

/// A stored event decoded: its place in the log, its envelope and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectedEvent {
    /// Position in `$all` (dense, from 1).
    pub position: u64,
    pub stream: String,
    pub revision: u64,
    pub event_id: Uuid,
    /// When it happened at the desk, kiosk or booth.
    pub occurred_at: DateTime<Utc>,
    /// When the ledger recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The acting library, empty for network administration.
    pub acting_library: String,
    pub channel: Channel,
    pub command_id: Option<Uuid>,
    pub payload: Payload,
}

/// A stored event that is not a readable readnet event.
#[derive(Debug, thiserror::Error)]
#[error("event at position {position} is unreadable: {source}")]
pub struct DecodeError {
    pub position: u64,
    #[source]
    pub source: codec::CodecError,
}

fn instant(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl ProjectedEvent {
    /// Decodes a stored event (metadata and payload, upcast to the current schema).
    pub fn decode(event: &RecordedEvent) -> Result<Self, DecodeError> {
        let error = |source| DecodeError {
            position: event.position,
            source,
        };
        let metadata = codec::decode_metadata(&event.metadata).map_err(error)?;
        let payload = codec::decode(&event.event_type, metadata.schema_version, &event.data)
            .map_err(error)?;
        Ok(Self {
            position: event.position,
            stream: event.stream.clone(),
            revision: event.revision,
            event_id: event.event_id,
            occurred_at: instant(metadata.occurred_at_us),
            recorded_at: instant(event.recorded_at_us),
            acting_library: metadata.acting_library,
            channel: Channel::try_from(metadata.channel).unwrap_or_default(),
            command_id: Uuid::from_slice(&metadata.command_id).ok(),
            payload,
        })
    }
}

/// A read model folded from the log.
pub trait Projection:
    Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The projection's name: its snapshot file, its digest line in `readnet replay`.
    const NAME: &'static str;
    /// Bumped whenever the fold or the state's shape changes: a persisted state of another
    /// version is thrown away and the projection rebuilt from the first event.
    const VERSION: u32;

    /// Folds one event. Events arrive in position order, each exactly once.
    fn apply(&mut self, event: &ProjectedEvent);

    /// The position of the last event applied (0 before any).
    fn position(&self) -> u64;
}

/// The canonical encoding of a projection's state (JSON of ordered maps).
pub fn canonical_json<P: Serialize>(state: &P) -> Vec<u8> {
    serde_json::to_vec(state).expect("projection states serialise")
}

/// SHA-256 of the canonical encoding, in hex.
pub fn digest<P: Serialize>(state: &P) -> String {
    hex::encode(Sha256::digest(canonical_json(state)))
}
