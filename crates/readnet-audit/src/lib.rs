//! The log's Merkle tree (ADR 0014) kept by the server as the log grows, for auditors who trust
//! nothing but a public key.
//!
//! - A keeper task follows `$all` as the projections do, off the append path: each event's
//!   leaf hash goes into a [`readnet_tlog::TileBuilder`], every full tile is written to
//!   `DATA/tlog/tile/...` (the C2SP tlog-tiles layout), and the right edge of the tree is
//!   published to readers after each run of events.
//! - Checkpoints (C2SP signed notes, Ed25519) are signed at a cadence while the tree grows, on
//!   demand, and for every settlement period closed, at the close's `through_position`: the tree
//!   head that period's final statement was computed from.
//! - Readers ([`Tree`]) get roots, inclusion and consistency proofs and tiles for any size up to
//!   what the keeper has reached, with O(log n) tile reads and no lock held on the keeper.
//!
//! After a restart the keeper resumes from the full tiles on disk (found with O(log n)
//! lookups), checks the last one against the log, and goes on from there: at most 255 events
//! are hashed again. Tiles that do not belong to the log are moved aside and the tree is built
//! again.
//!
//! Must not know: gRPC (the server serves [`Tree`]), the projections.

mod checkpoints;
mod keeper;
pub mod tiles;

pub use checkpoints::Signed;
pub use keeper::{AuditError, Entries, Tree, TreeOptions, keep};
