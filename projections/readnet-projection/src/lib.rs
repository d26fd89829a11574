//! What every readnet projection shares.
//!
//! A projection is a pure fold: [`Projection::apply`] takes one event at its `$all` position and
//! changes the state; no I/O, no clock. The runner in the server (and `readnet replay`) feeds it
//! the log in position order, persists its state with the position reached, and rebuilds it from
//! zero when [`Projection::VERSION`] changes. A state has one canonical encoding, the `postcard`
//! wire format of its serde encoding with maps in key order ([`encode_state`], ADR 0022): its
//! snapshots hold it and [`digest`] hashes it, so a digest is the same for the same history, on
//! every machine and every build. JSON ([`state_json`]) is only for people to read.

pub mod access;
pub mod canonical;
pub mod handle;
pub mod intern;
mod network;
pub mod pipeline;
pub mod rows;
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
pub use pipeline::{Batch, Folded, Folding, Pipeline};
pub use readnet_domain::Payload;
pub use readnet_domain::pb;
pub use readnet_ledger::envelope::{DecodeError, ProjectedEvent};
pub use readnet_store::{Position, Revision};
pub use rows::{ColdError, ColdState, RowStore, Rows};
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

/// What the bytes a state digest hashes begin with (ADR 0022): the definition's name and
/// version, so that a later definition, or another use of SHA-256 over the same bytes, never
/// gives the same digest.
pub const DIGEST_DOMAIN: &[u8] = b"readnet-state-digest-v2\0";

/// Bytes handed to the hasher at once: the encoder's many small writes, gathered.
const DIGEST_BUFFER_BYTES: usize = 64 * 1024;

/// The canonical encoding of a projection's state: the `postcard` 1.x wire format of its serde
/// encoding (ordered maps, or hash maps written in key order by [`canonical`]'s serialisers).
/// What a snapshot's body holds. An error names what the state's type cannot encode (see
/// [`canonical`] for the serde attributes the format forbids).
pub fn encode_state<P: Serialize>(state: &P) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(state)
}

/// A state from its canonical encoding ([`encode_state`]); an error if the bytes are not one
/// whole encoding of a `P`.
pub fn decode_state<P: DeserializeOwned>(bytes: &[u8]) -> Result<P, postcard::Error> {
    match postcard::take_from_bytes::<P>(bytes)? {
        (state, []) => Ok(state),
        (_, _) => Err(postcard::Error::DeserializeBadEncoding),
    }
}

/// A state as JSON, for people and tools to read (`readnet replay --check` names a difference
/// by its JSON path). Not the canonical encoding: digests and snapshots never use it.
pub fn state_json<P: Serialize>(state: &P) -> serde_json::Value {
    serde_json::to_value(state).expect("projection states serialise")
}

/// The projection's digest, in hex: SHA-256 of [`DIGEST_DOMAIN`], the projection's name, a zero
/// byte, its [`Projection::VERSION`] (4 bytes, little-endian), then the canonical encoding of its
/// state ([`encode_state`]), streamed into the hash (no copy of the state is built).
pub fn digest<P: Projection>(state: &P) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DIGEST_DOMAIN);
    hasher.update(P::NAME.as_bytes());
    hasher.update([0]);
    hasher.update(P::VERSION.to_le_bytes());
    let buffered = std::io::BufWriter::with_capacity(DIGEST_BUFFER_BYTES, hasher);
    let buffered = postcard::to_io(state, buffered)
        .unwrap_or_else(|e| panic!("the state of {} does not encode canonically: {e}", P::NAME));
    let hasher = buffered
        .into_inner()
        .unwrap_or_else(|_| unreachable!("writing into a hasher cannot fail"));
    hex::encode(hasher.finalize())
}
