//! What every readnet projection shares.
//!
//! A projection is a pure fold: [`Projection::apply`] takes one event at its `$all` position and
//! changes the state; no I/O, no clock. The runner in the server (and `readnet replay`) feeds it
//! the log in position order, persists its state with the position reached, and rebuilds it from
//! zero when [`Projection::VERSION`] changes. States use ordered maps so that their JSON encoding
//! is canonical: [`digest`] is the same for the same history, on every machine.

pub mod access;
pub mod canonical;
pub mod handle;
pub mod intern;
mod network;
pub mod runner;
pub mod status;
pub mod title;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub use canonical::{FastMap, FastSet};
pub use handle::{Handle, Writer, shared, wait_budget};
pub use network::{
    CityView, LibraryView, NetworkView, SETTLEMENT_TIME_ZONE, TariffView, settlement_period,
};
pub use readnet_domain::Payload;
pub use readnet_domain::pb;
pub use readnet_ledger::envelope::{DecodeError, ProjectedEvent};
pub use readnet_store::{Position, Revision};
pub use runner::{
    RunnerError, SavedSnapshot, SnapshotPolicy, SnapshotRefused, Snapshots, event_id_at, follow,
    follow_opened, replay, vouched,
};
pub use title::title_key;

/// A read model folded from the log.
pub trait Projection:
    Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The projection's name: its snapshot file, its digest line in `readnet replay`.
    const NAME: &'static str;
    /// Bumped whenever the fold or the state's shape changes: a persisted state of another
    /// version is thrown away and the projection rebuilt from the first event.
    const VERSION: u32;

    /// Folds one event. Events arrive in position order, each exactly once: every event of a
    /// stream that holds facts ([`readnet_domain::StreamId::holds_facts`]), never a refusal.
    fn apply(&mut self, event: &ProjectedEvent);

    /// The position of the last event applied ([`Position::START`] before any).
    fn position(&self) -> Position;
}

/// The canonical encoding of a projection's state (JSON of ordered maps).
pub fn canonical_json<P: Serialize>(state: &P) -> Vec<u8> {
    serde_json::to_vec(state).expect("projection states serialise")
}

/// SHA-256 of the canonical encoding, in hex.
pub fn digest<P: Serialize>(state: &P) -> String {
    hex::encode(Sha256::digest(canonical_json(state)))
}
