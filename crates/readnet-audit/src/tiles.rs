//! The tree's full tiles in the data directory (`tlog/tile/...`, the C2SP tlog-tiles layout), and
//! finding where the kept tree ends after a restart.
//!
//! A full tile never changes, so it is written once, to a temporary name and renamed. Tiles are
//! derived from the log: they are not synced, and what a crash or a power cut leaves unwritten or
//! short is found at the next start and made again from the log. A tile file whose length is not
//! 256 hashes is never read as hashes.
//!
//! Beside the level-0 tiles, the entry bundles (`tlog/tile/entries/<N>`): the leaves' bytes,
//! written as each level-0 tile fills. A bundle that would hold an entry longer than 65,535
//! bytes is not written; a note saying so (`<N>.too-long`) is, and is what readers get.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use readnet_tlog::{Hash, TILE_HEIGHT, TILE_WIDTH, TileId};

/// Bytes of a full tile.
pub const FULL_TILE_BYTES: usize = TILE_WIDTH as usize * 32;

/// Where the full tiles are kept.
#[derive(Debug, Clone)]
pub struct TileDir {
    root: PathBuf,
}

impl TileDir {
    /// Tiles under `root` (`root/tile/<L>/<N>`).
    pub fn new(root: impl Into<PathBuf>) -> TileDir {
        TileDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, level: u32, index: u64) -> PathBuf {
        self.root.join(full(level, index).path())
    }

    /// A full tile's bytes; `None` when it is not there or not whole.
    pub fn read(&self, level: u32, index: u64) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(level, index)) {
            Ok(bytes) if bytes.len() == FULL_TILE_BYTES => Ok(Some(bytes)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a full tile (temporary name, then renamed into place).
    pub fn write(&self, level: u32, index: u64, hashes: &[Hash]) -> std::io::Result<()> {
        debug_assert_eq!(hashes.len(), TILE_WIDTH as usize);
        let path = self.path(level, index);
        let dir = path.parent().expect("a tile path has a parent");
        std::fs::create_dir_all(dir)?;
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, hashes.concat())?;
        std::fs::rename(&temporary, &path)
    }

    /// How many full tiles level `level` holds: they are written in order, so the first one
    /// missing (or short) ends them. Found with O(log n) lookups.
    pub fn count(&self, level: u32) -> std::io::Result<u64> {
        count_written_in_order(|index| {
            Ok(self.read_len(level, index)? == Some(FULL_TILE_BYTES as u64))
        })
    }

    fn bundle_path(&self, index: u64) -> PathBuf {
        self.root.join(full(0, index).entries_path())
    }

    fn too_long_path(&self, index: u64) -> PathBuf {
        self.bundle_path(index).with_extension("too-long")
    }

    /// Writes the full entry bundle `index` (temporary name, then renamed into place).
    pub fn write_bundle(&self, index: u64, bytes: &[u8]) -> std::io::Result<()> {
        write_whole(&self.bundle_path(index), bytes)
    }

    /// Records that full bundle `index` cannot be written (an entry longer than a bundle holds),
    /// and why: what is served in its place.
    pub fn write_too_long(&self, index: u64, why: &str) -> std::io::Result<()> {
        write_whole(&self.too_long_path(index), why.as_bytes())
    }

    /// Full entry bundle `index` as kept.
    pub fn read_bundle(&self, index: u64) -> std::io::Result<Kept> {
        match std::fs::read(self.bundle_path(index)) {
            Ok(bytes) => return Ok(Kept::Bundle(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match std::fs::read_to_string(self.too_long_path(index)) {
            Ok(why) => Ok(Kept::TooLong(why)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Kept::Missing),
            Err(e) => Err(e),
        }
    }

    /// How many full entry bundles are kept (each a bundle or its too-long note): they are
    /// written in order, so the first missing one ends them. O(log n) lookups.
    pub fn bundle_count(&self) -> std::io::Result<u64> {
        count_written_in_order(|index| {
            Ok(self.bundle_path(index).try_exists()? || self.too_long_path(index).try_exists()?)
        })
    }

    fn read_len(&self, level: u32, index: u64) -> std::io::Result<Option<u64>> {
        match std::fs::metadata(self.path(level, index)) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A full entry bundle as kept on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Bundle(Vec<u8>),
    /// It holds an entry too long for a bundle: why, for whoever asks for it.
    TooLong(String),
    /// Not written (yet).
    Missing,
}

/// Writes `bytes` to `path` whole: a temporary name, then renamed.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("a tile path has a parent");
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// The full tile `index` of tile level `level`.
pub fn full(level: u32, index: u64) -> TileId {
    TileId {
        level,
        index,
        width: TILE_WIDTH,
    }
}

/// Full tiles of tile level `level` in a tree of `size` leaves.
pub fn full_tiles(level: u32, size: u64) -> u64 {
    let shift = level * TILE_HEIGHT;
    if shift >= 64 {
        0
    } else {
        (size >> shift) / TILE_WIDTH
    }
}

/// How many files of a series written in order (0, 1, 2, ...) are present: the first one
/// missing ends them. Found with O(log n) calls of `present`, galloping then bisecting.
fn count_written_in_order(present: impl Fn(u64) -> std::io::Result<bool>) -> std::io::Result<u64> {
    if !present(0)? {
        return Ok(0);
    }
    // `lo` is present, `hi` is not.
    let (mut lo, mut hi) = (0u64, 1u64);
    while present(hi)? {
        lo = hi;
        hi = hi
            .checked_mul(2)
            .ok_or_else(|| std::io::Error::other("too many files in the series"))?;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if present(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::count_written_in_order;

    #[test]
    fn the_count_of_a_series_written_in_order_is_where_the_first_missing_file_is() {
        for written in 0..=300u64 {
            let calls = std::cell::Cell::new(0u32);
            let count = count_written_in_order(|index| {
                calls.set(calls.get() + 1);
                Ok(index < written)
            })
            .unwrap();
            assert_eq!(count, written);
            // O(log n): galloping and bisecting take about two calls per bit.
            assert!(
                calls.get() <= 2 * (64 - written.leading_zeros()) + 2,
                "{written}: {} calls",
                calls.get()
            );
        }
        let failing = count_written_in_order(|_| Err(std::io::Error::other("disk gone")));
        assert_eq!(failing.unwrap_err().to_string(), "disk gone");
    }
}
