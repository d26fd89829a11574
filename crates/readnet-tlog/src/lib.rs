//! The log as a Merkle tree, as Certificate Transparency keeps one (RFC 6962, RFC 9162): every
//! event of `$all`, in position order, is a leaf; an auditor who holds a tree head (its size and
//! root hash) can check that an event is in it (an inclusion proof) and that a later head extends
//! it without rewriting anything (a consistency proof), each with O(log n) hashes.
//!
//! - [`hash`]: the hashes: a leaf is `SHA-256(0x00 ‖ bytes)`, a node `SHA-256(0x01 ‖ left ‖ right)`.
//! - [`leaf`]: the canonical bytes of a stored event that its leaf hashes (format 1, documented
//!   there): every field of the record, so that no field can change unseen.
//! - [`tree`]: node hashes by level and index ([`NodeSource`]), the tree kept in memory as it
//!   grows ([`Levels`]), and the root of any prefix.
//! - [`proof`]: building inclusion and consistency proofs from any [`NodeSource`], and verifying
//!   them with nothing but the hashes (RFC 9162, 2.1.3.2 and 2.1.4.2).
//!
//! - [`tiles`]: the tree as C2SP tlog-tiles (256 hashes a tile), and nodes read back from them.
//! - [`entries`]: the leaves as C2SP entry bundles, for mirrors that fetch static files.
//! - [`note`]: signed tree heads (checkpoints) in the C2SP signed-note format, Ed25519.
//!
//! Nothing here reads a clock or does I/O.

pub mod entries;
pub mod hash;
pub mod leaf;
pub mod note;
pub mod proof;
pub mod tiles;
pub mod tree;

pub use entries::{EntryTooLong, MAX_ENTRY_BYTES, bundle_entries, bundle_prefix, push_entry};
pub use hash::{EMPTY_ROOT, Hash, leaf_hash, node_hash};
pub use leaf::{LEAF_FORMAT, leaf_bytes, parse_leaf};
pub use note::{Checkpoint, NoteError, NoteSigner, NoteVerifier};
pub use proof::{
    ProofError, consistency_proof, inclusion_proof, verify_consistency, verify_inclusion,
};
pub use tiles::{
    TILE_HEIGHT, TILE_WIDTH, TileBuilder, TileId, TileReader, tile_bytes, tile_root, tiles_of,
};
pub use tree::{Levels, NodeSource, TreeError, subtree_root};
