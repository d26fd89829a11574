//! Node hashes by level and index. The node at level `l`, index `i` is the root of the perfect
//! subtree over leaves `i·2^l .. (i+1)·2^l`; the root of any other range is made from them.

use crate::hash::{EMPTY_ROOT, Hash, node_hash};

/// Why a node or a range cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("the tree holds {size} leaves: no node at level {level}, index {index}")]
    Missing { level: u32, index: u64, size: u64 },
    #[error("{0}")]
    Source(String),
}

/// Where node hashes come from: memory, tiles on disk, a server.
pub trait NodeSource {
    /// The hash of the perfect subtree at `level`, `index`.
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError>;
}

/// The root of leaves `lo..hi` (RFC 6962's MTH of that range), from whole subtrees: a range
/// that is a whole subtree is one read, any other splits at the largest power of two below its
/// length, as RFC 6962 splits a tree.
pub fn subtree_root(source: &dyn NodeSource, lo: u64, hi: u64) -> Result<Hash, TreeError> {
    let n = hi - lo;
    if n == 0 {
        return Ok(EMPTY_ROOT);
    }
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        return source.node(n.trailing_zeros(), lo >> n.trailing_zeros());
    }
    let k = largest_power_of_two_below(n);
    let left = subtree_root(source, lo, lo + k)?;
    let right = subtree_root(source, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The largest power of two strictly less than `n` (n ≥ 2).
pub(crate) fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Every node of a tree, kept in memory as leaves are added: level 0 holds the leaf hashes,
/// each level above the hashes of the whole pairs below it. 64 bytes a leaf; for tests, tools
/// and trees that fit in memory.
#[derive(Debug, Clone, Default)]
pub struct Levels {
    levels: Vec<Vec<Hash>>,
}

impl Levels {
    pub fn new() -> Levels {
        Levels::default()
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Adds a leaf hash (see [`crate::leaf_hash`]) and the whole subtrees it completes.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            if nodes.len() % 2 == 1 {
                return;
            }
            hash = node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            level += 1;
        }
    }

    /// The root of the first `size` leaves (a tree head of any past size).
    pub fn root(&self, size: u64) -> Result<Hash, TreeError> {
        if size > self.size() {
            return Err(TreeError::Missing {
                level: 0,
                index: size - 1,
                size: self.size(),
            });
        }
        subtree_root(self, 0, size)
    }
}

impl NodeSource for Levels {
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        self.levels
            .get(level as usize)
            .and_then(|nodes| nodes.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(TreeError::Missing {
                level,
                index,
                size: self.size(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_power_of_two_below() {
        let cases = [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1 << 40, 1 << 39),
        ];
        for (n, k) in cases {
            assert_eq!(largest_power_of_two_below(n), k, "{n}");
        }
    }
}
