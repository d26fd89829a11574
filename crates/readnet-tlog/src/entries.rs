//! The log's entries as C2SP tlog-tiles entry bundles: `tile/entries/<N>[.p/<W>]` holds the
//! leaves of level-0 tile `N` (the canonical bytes of positions `256·N + 1 ..`), each preceded
//! by its length as a big-endian `u16`. A mirror that fetches the bundles and the checkpoint
//! rebuilds the tree, and reads every record, with nothing else.
//!
//! An entry longer than 65,535 bytes cannot be written in a bundle: [`push_entry`] refuses it
//! (ADR 0014 says what the server does then).

use crate::tiles::TileId;

/// The longest entry a bundle holds: its length is a `u16`.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// An entry too long for a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "an entry of {len} bytes is longer than the {MAX_ENTRY_BYTES} bytes an entry bundle can hold"
)]
pub struct EntryTooLong {
    pub len: usize,
}

/// Appends `entry` to `bundle`, length first.
pub fn push_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Result<(), EntryTooLong> {
    let len = u16::try_from(entry.len()).map_err(|_| EntryTooLong { len: entry.len() })?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Ok(())
}

/// The entries of a bundle, in order; `None` for bytes that are not a whole number of
/// length-prefixed entries (a bundle cut short, or anything else).
pub fn bundle_entries(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return None;
        }
        let (entry, tail) = tail.split_at(len);
        entries.push(entry);
        rest = tail;
    }
    Some(entries)
}

/// The first `width` entries of a bundle's bytes (a partial bundle is a prefix of the full
/// one); `None` when it holds fewer or is malformed.
pub fn bundle_prefix(bytes: &[u8], width: u64) -> Option<&[u8]> {
    let mut at = 0usize;
    for _ in 0..width {
        let len = bytes.get(at..at + 2)?;
        at += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        if at > bytes.len() {
            return None;
        }
    }
    Some(&bytes[..at])
}

impl TileId {
    /// The path of the entry bundle beside this level-0 tile: `tile/entries/<N>[.p/<W>]`.
    pub fn entries_path(&self) -> String {
        debug_assert_eq!(self.level, 0, "entry bundles go with level-0 tiles");
        let path = self.path();
        format!(
            "tile/entries/{}",
            path.strip_prefix("tile/0/").expect("a level-0 tile's path")
        )
    }

    /// The level-0 tile whose entry bundle a path names (what [`TileId::entries_path`]
    /// writes); `None` for anything else.
    pub fn from_entries_path(path: &str) -> Option<TileId> {
        TileId::from_path(&format!("tile/0/{}", path.strip_prefix("tile/entries/")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_reads_back_as_its_entries_and_a_cut_one_does_not() {
        let mut bundle = Vec::new();
        for entry in [&b"one"[..], b"", b"three"] {
            push_entry(&mut bundle, entry).unwrap();
        }
        assert_eq!(&bundle[..5], &[0, 3, b'o', b'n', b'e']);
        assert_eq!(
            bundle_entries(&bundle).unwrap(),
            [&b"one"[..], b"", b"three"]
        );
        for cut in [1, 4, bundle.len() - 1] {
            assert_eq!(bundle_entries(&bundle[..cut]), None, "cut at {cut}");
        }
        assert_eq!(bundle_prefix(&bundle, 2), Some(&bundle[..7]));
        assert_eq!(bundle_prefix(&bundle, 3), Some(&bundle[..]));
        assert_eq!(bundle_prefix(&bundle, 4), None);
    }

    #[test]
    fn an_entry_longer_than_a_u16_is_refused() {
        let mut bundle = Vec::new();
        push_entry(&mut bundle, &vec![1; MAX_ENTRY_BYTES]).unwrap();
        assert_eq!(
            push_entry(&mut bundle, &vec![1; MAX_ENTRY_BYTES + 1]),
            Err(EntryTooLong {
                len: MAX_ENTRY_BYTES + 1
            })
        );
        assert_eq!(bundle.len(), 2 + MAX_ENTRY_BYTES);
    }

    #[test]
    fn entry_paths_are_the_level_0_tile_paths_under_entries() {
        let tile = TileId {
            level: 0,
            index: 1_234_067,
            width: 256,
        };
        assert_eq!(tile.entries_path(), "tile/entries/x001/x234/067");
        let partial = TileId { width: 9, ..tile };
        assert_eq!(partial.entries_path(), "tile/entries/x001/x234/067.p/9");
        for t in [tile, partial] {
            assert_eq!(TileId::from_entries_path(&t.entries_path()), Some(t));
        }
        for bad in ["tile/entries/1", "tile/0/000", "tile/entries/000.p/0"] {
            assert_eq!(TileId::from_entries_path(bad), None, "{bad}");
        }
    }
}
