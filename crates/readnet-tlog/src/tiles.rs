//! The tree as tiles, in the C2SP tlog-tiles layout, so that proofs for a tree of any size cost
//! O(log n) reads of 8 KiB and bounded memory, and any static file server or mirror can serve
//! and archive them.
//!
//! A tile of level `L` holds, in order, up to 256 hashes of tree level `8·L`: tile `N` those with
//! indices `256·N ..`. Level-0 tiles hold leaf hashes. A tile is full (256 hashes) or, at the
//! right edge of a level, partial. Its path is `tile/<L>/<N>` for a full tile and
//! `tile/<L>/<N>.p/<W>` for a partial one of `W` hashes, with `N` written in groups of three
//! digits, all but the last prefixed with `x`: 1234067 is `x001/x234/067`.
//!
//! Building tiles and reading nodes from them are here; where the bytes are kept is the
//! caller's (the `fetch` of a [`TileReader`]).

use crate::hash::{Hash, node_hash};
use crate::tree::{NodeSource, TreeError};

/// Tree levels a tile spans.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// One tile: its level, its index in the level and how many hashes it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    pub level: u32,
    pub index: u64,
    pub width: u64,
}

impl TileId {
    /// Its path, `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let digits: Vec<String> = groups
            .iter()
            .rev()
            .enumerate()
            .map(|(i, g)| {
                if i + 1 < groups.len() {
                    format!("x{g:03}")
                } else {
                    format!("{g:03}")
                }
            })
            .collect();
        let mut path = format!("tile/{}/{}", self.level, digits.join("/"));
        if self.width < TILE_WIDTH {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// The tile a path names (what [`TileId::path`] writes; `None` for anything else, so a
    /// server can take paths from the network). Only canonical paths are read: no other
    /// spelling of the same tile.
    pub fn from_path(path: &str) -> Option<TileId> {
        let rest = path.strip_prefix("tile/")?;
        let (level, rest) = rest.split_once('/')?;
        // Eight tile levels of eight tree levels cover every tree of up to 2^64 leaves.
        let level = match level.as_bytes() {
            [digit @ b'0'..=b'7'] => u32::from(digit - b'0'),
            _ => return None,
        };
        let (index, width) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let width: u64 = width.parse().ok()?;
                if width == 0 || width >= TILE_WIDTH {
                    return None;
                }
                (index, width)
            }
            None => (rest, TILE_WIDTH),
        };
        let groups: Vec<&str> = index.split('/').collect();
        let mut n: u64 = 0;
        for (i, group) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() {
                group.strip_prefix('x')?
            } else {
                group
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n = n
                .checked_mul(1000)?
                .checked_add(digits.parse::<u64>().ok()?)?;
        }
        let tile = TileId {
            level,
            index: n,
            width,
        };
        (tile.path() == path).then_some(tile)
    }

    /// The tile of `size` leaves' tree holding hash `index` of tree level `8·level`.
    fn holding(level: u32, index: u64, size: u64) -> TileId {
        let count = nodes_at(level * TILE_HEIGHT, size);
        let tile = index / TILE_WIDTH;
        TileId {
            level,
            index: tile,
            width: (count - tile * TILE_WIDTH).min(TILE_WIDTH),
        }
    }
}

/// Whole subtrees at tree level `level` in a tree of `size` leaves.
fn nodes_at(level: u32, size: u64) -> u64 {
    if level >= 64 { 0 } else { size >> level }
}

/// Every tile of the tree of `size` leaves, level by level, each level's partial tile last.
pub fn tiles_of(size: u64) -> Vec<TileId> {
    let mut tiles = Vec::new();
    let mut level = 0;
    loop {
        let count = nodes_at(level * TILE_HEIGHT, size);
        if count == 0 {
            break;
        }
        for index in 0..count.div_ceil(TILE_WIDTH) {
            tiles.push(TileId {
                level,
                index,
                width: (count - index * TILE_WIDTH).min(TILE_WIDTH),
            });
        }
        level += 1;
    }
    tiles
}

/// A tile's bytes: its hashes, in order, from `source`.
pub fn tile_bytes(source: &dyn NodeSource, tile: TileId) -> Result<Vec<u8>, TreeError> {
    let mut bytes = Vec::with_capacity(tile.width as usize * 32);
    for i in 0..tile.width {
        bytes.extend_from_slice(
            &source.node(tile.level * TILE_HEIGHT, tile.index * TILE_WIDTH + i)?,
        );
    }
    Ok(bytes)
}

/// Node hashes of the tree of `size` leaves, read from its tiles through `fetch` (one tile per
/// node).
pub struct TileReader<F> {
    size: u64,
    fetch: F,
}

impl<F> TileReader<F>
where
    F: Fn(&TileId) -> Result<Vec<u8>, String>,
{
    pub fn new(size: u64, fetch: F) -> TileReader<F> {
        TileReader { size, fetch }
    }
}

impl<F> NodeSource for TileReader<F>
where
    F: Fn(&TileId) -> Result<Vec<u8>, String>,
{
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        let missing = TreeError::Missing {
            level,
            index,
            size: self.size,
        };
        if index >= nodes_at(level, self.size) {
            return Err(missing);
        }
        // The node's descendants at the tile's level: 2^rest consecutive hashes of one tile.
        let (tile_level, rest) = (level / TILE_HEIGHT, level % TILE_HEIGHT);
        let first = index << rest;
        let tile = TileId::holding(tile_level, first, self.size);
        let bytes = (self.fetch)(&tile).map_err(TreeError::Source)?;
        if bytes.len() as u64 != tile.width * 32 {
            return Err(TreeError::Source(format!(
                "{} holds {} bytes, not {} hashes",
                tile.path(),
                bytes.len(),
                tile.width
            )));
        }
        let start = (first % TILE_WIDTH) as usize;
        let hashes: Vec<Hash> = bytes[start * 32..(start + (1 << rest)) * 32]
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        Ok(reduce(&hashes))
    }
}

/// Builds a tree's tiles as its leaves arrive, in bounded memory: only each level's unfinished
/// tile is kept (at most 256 hashes a level, 8 KiB), and every tile is handed to the caller the
/// moment it is full. The root of the tree so far comes from the unfinished tiles alone.
#[derive(Debug, Clone, Default)]
pub struct TileBuilder {
    size: u64,
    /// Per tile level, the hashes of the tile not yet full.
    open: Vec<Vec<Hash>>,
}

impl TileBuilder {
    pub fn new() -> TileBuilder {
        TileBuilder::default()
    }

    /// Resumes the tree of `size` leaves from each tile level's unfinished tile (`open[L]`: the
    /// hashes of tree level `8·L` not yet in a full tile, as [`TileBuilder::partial`] gives them),
    /// for example read back from full tiles after a restart. Refused when a level holds the
    /// wrong number of hashes for `size`.
    pub fn resume(size: u64, mut open: Vec<Vec<Hash>>) -> Result<TileBuilder, TreeError> {
        while open.last().is_some_and(Vec::is_empty) {
            open.pop();
        }
        let levels = (0..).take_while(|&l: &u32| nodes_at(l * TILE_HEIGHT, size) > 0);
        for level in levels.clone() {
            let expected = nodes_at(level * TILE_HEIGHT, size) % TILE_WIDTH;
            let actual = open.get(level as usize).map_or(0, |t| t.len() as u64);
            if expected != actual {
                return Err(TreeError::Source(format!(
                    "a tree of {size} leaves has {expected} hashes in its unfinished tile of \
                     level {level}, not {actual}"
                )));
            }
        }
        if open.len() > levels.count() {
            return Err(TreeError::Source(format!(
                "a tree of {size} leaves has no tile level {}",
                open.len() - 1
            )));
        }
        for tile in &mut open {
            tile.reserve(TILE_WIDTH as usize - tile.len());
        }
        Ok(TileBuilder { size, open })
    }

    /// Leaves added so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds a leaf hash; `full` gets each tile it completes (a leaf completes at most one a
    /// level), lowest level first.
    pub fn push(&mut self, leaf: Hash, mut full: impl FnMut(TileId, &[Hash])) {
        self.size += 1;
        let mut hash = leaf;
        let mut level = 0usize;
        loop {
            if self.open.len() == level {
                self.open.push(Vec::with_capacity(TILE_WIDTH as usize));
            }
            let tile = &mut self.open[level];
            tile.push(hash);
            if tile.len() < TILE_WIDTH as usize {
                return;
            }
            let index = nodes_at(level as u32 * TILE_HEIGHT, self.size) / TILE_WIDTH - 1;
            full(
                TileId {
                    level: level as u32,
                    index,
                    width: TILE_WIDTH,
                },
                tile,
            );
            hash = reduce(tile);
            tile.clear();
            level += 1;
        }
    }

    /// The partial tile of `level` as it is now, if that level has one.
    pub fn partial(&self, level: u32) -> Option<(TileId, &[Hash])> {
        let tile = self.open.get(level as usize)?;
        if tile.is_empty() {
            return None;
        }
        let count = nodes_at(level * TILE_HEIGHT, self.size);
        Some((
            TileId {
                level,
                index: count / TILE_WIDTH,
                width: tile.len() as u64,
            },
            tile,
        ))
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        // The unfinished tiles, top level first, are the tree's right edge: each is a run of
        // whole subtrees of its level, left to right.
        match self.size {
            0 => crate::EMPTY_ROOT,
            size => crate::subtree_root(self, 0, size).expect("the right edge is in memory"),
        }
    }
}

/// The root of a full tile's subtree: the hash it contributes to the tile level above.
pub fn tile_root(hashes: &[Hash]) -> Hash {
    reduce(hashes)
}

/// The root of a whole subtree from its hashes at one level (a power of two of them).
fn reduce(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    level[0]
}

/// Serves the nodes of the right edge, the only ones a root needs; others are missing.
impl NodeSource for TileBuilder {
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        let missing = TreeError::Missing {
            level,
            index,
            size: self.size,
        };
        let (tile_level, rest) = (level / TILE_HEIGHT, level % TILE_HEIGHT);
        let first = index << rest;
        let Some((tile, hashes)) = self.partial(tile_level) else {
            return Err(missing);
        };
        let start = tile.index * TILE_WIDTH;
        if first < start || first + (1 << rest) > start + tile.width {
            return Err(missing);
        }
        let offset = (first - start) as usize;
        Ok(reduce(&hashes[offset..offset + (1 << rest)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_layouts() {
        let tile = |level, index, width| {
            TileId {
                level,
                index,
                width,
            }
            .path()
        };
        assert_eq!(tile(0, 0, 256), "tile/0/000");
        assert_eq!(tile(0, 1_234_067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile(1, 5, 17), "tile/1/005.p/17");
        assert_eq!(tile(2, 1000, 256), "tile/2/x001/000");
    }

    #[test]
    fn a_builder_resumed_from_its_unfinished_tiles_goes_on_as_the_original() {
        let leaf = |i: u64| crate::leaf_hash(&i.to_be_bytes());
        let mut original = TileBuilder::new();
        for i in 0..70_000 {
            original.push(leaf(i), |_, _| {});
        }
        let open: Vec<Vec<Hash>> = (0..4)
            .map(|l| original.partial(l).map_or(Vec::new(), |(_, h)| h.to_vec()))
            .collect();
        let mut resumed = TileBuilder::resume(70_000, open.clone()).unwrap();
        assert_eq!(resumed.root(), original.root());
        for i in 70_000..70_600 {
            original.push(leaf(i), |_, _| {});
            resumed.push(leaf(i), |_, _| {});
        }
        assert_eq!(resumed.root(), original.root());
        // The wrong number of hashes at any level is refused.
        let mut short = open.clone();
        short[1].pop();
        assert!(TileBuilder::resume(70_000, short).is_err());
        assert!(TileBuilder::resume(70_001, open).is_err());
    }

    #[test]
    fn paths_are_read_back_and_nothing_else_is() {
        for tile in [
            TileId {
                level: 0,
                index: 0,
                width: 256,
            },
            TileId {
                level: 0,
                index: 1_234_067,
                width: 256,
            },
            TileId {
                level: 1,
                index: 5,
                width: 17,
            },
            TileId {
                level: 3,
                index: 1000,
                width: 1,
            },
        ] {
            assert_eq!(TileId::from_path(&tile.path()), Some(tile));
        }
        for bad in [
            "tile/0/1",
            "tile/0/001/002",
            "tile/0/x001/x002",
            "tile/0/x000/001",
            "tile/00/001",
            "tile/8/001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/017",
            "tile/0/../001",
            "tile/entries/001",
            "checkpoint",
            "tile/0/001/",
        ] {
            assert_eq!(TileId::from_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_tiles_of_a_tree() {
        assert!(tiles_of(0).is_empty());
        let tiles = tiles_of(70_000);
        // Level 0: 273 full tiles and one of 112 leaves; level 1: 273 nodes of 256 leaves, a full
        // tile and one of 17; level 2: one node of 65,536 leaves.
        assert_eq!(tiles.len(), 277);
        assert_eq!(
            tiles[273],
            TileId {
                level: 0,
                index: 273,
                width: 112
            }
        );
        assert_eq!(
            tiles[274],
            TileId {
                level: 1,
                index: 0,
                width: 256
            }
        );
        assert_eq!(
            tiles[275],
            TileId {
                level: 1,
                index: 1,
                width: 17
            }
        );
        assert_eq!(
            tiles[276],
            TileId {
                level: 2,
                index: 0,
                width: 1
            }
        );
    }
}
