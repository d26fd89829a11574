//! Inclusion and consistency proofs: built from node hashes as RFC 6962 (2.1.1, 2.1.2) defines
//! them, verified with the hashes alone as RFC 9162 (2.1.3.2, 2.1.4.2) does.
//!
//! A verifier trusts nothing but the tree head it holds: a proof of the wrong length, for the
//! wrong index or size, or with any bit changed, fails.

use crate::hash::{Hash, node_hash};
use crate::tree::{NodeSource, TreeError, largest_power_of_two_below, subtree_root};

/// Why a proof cannot be built or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a tree of {old} leaves cannot be a prefix of one of {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("the proof has {actual} hashes; a proof for these sizes has {expected}")]
    WrongLength { expected: usize, actual: usize },
    #[error("the proof leads to root {actual}, not to the tree head's {expected}")]
    RootMismatch { expected: String, actual: String },
    #[error("the proof leads to an old root {actual}, not to the older tree head's {expected}")]
    OldRootMismatch { expected: String, actual: String },
    #[error("equal tree sizes with different roots: the log was rewritten")]
    Forked,
    #[error("{0}")]
    Tree(#[from] TreeError),
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 6962 PATH).
pub fn inclusion_proof(
    source: &dyn NodeSource,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(source, index, 0, size, &mut proof)?;
    Ok(proof)
}

/// RFC 6962's PATH(m, D[lo:hi]), its hashes pushed leaf end first.
fn path(
    source: &dyn NodeSource,
    m: u64,
    lo: u64,
    hi: u64,
    proof: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if n == 1 {
        return Ok(());
    }
    let k = largest_power_of_two_below(n);
    if m < k {
        path(source, m, lo, lo + k, proof)?;
        proof.push(subtree_root(source, lo + k, hi)?);
    } else {
        path(source, m - k, lo + k, hi, proof)?;
        proof.push(subtree_root(source, lo, lo + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of the first `old` leaves to that of the first `new`
/// (RFC 6962 PROOF); empty when `old` is 0 or equals `new`.
pub fn consistency_proof(
    source: &dyn NodeSource,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    let mut proof = Vec::new();
    if old > 0 && old < new {
        subproof(source, old, 0, new, true, &mut proof)?;
    }
    Ok(proof)
}

/// RFC 6962's SUBPROOF(m, D[lo:hi], b).
fn subproof(
    source: &dyn NodeSource,
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if m == n {
        if !whole {
            proof.push(subtree_root(source, lo, hi)?);
        }
        return Ok(());
    }
    let k = largest_power_of_two_below(n);
    if m <= k {
        subproof(source, m, lo, lo + k, whole, proof)?;
        proof.push(subtree_root(source, lo + k, hi)?);
    } else {
        subproof(source, m - k, lo + k, hi, false, proof)?;
        proof.push(subtree_root(source, lo, lo + k)?);
    }
    Ok(())
}

/// How many hashes an inclusion proof of `index` in `size` leaves has.
fn inclusion_len(index: u64, size: u64) -> usize {
    // The levels where the path to the root has a sibling: the bits in which index and the last
    // index differ, plus those above where the last index's node has a left sibling.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Checks that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves whose root is
/// `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if &r != root {
        return Err(ProofError::RootMismatch {
            expected: hex(root),
            actual: hex(&r),
        });
    }
    Ok(())
}

/// Checks that the tree of `new` leaves with root `new_root` extends the tree of `old` leaves
/// with root `old_root`: the same first `old` leaves, in the same order.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                expected: 0,
                actual: proof.len(),
            });
        }
        if old == new && old_root != new_root {
            return Err(ProofError::Forked);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength {
            expected: 1,
            actual: 0,
        });
    }
    // A whole old tree is its own first node in the proof.
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*path[0], *path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength {
                expected: path.len() - 1,
                actual: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength {
            expected: proof.len() + 1,
            actual: proof.len(),
        });
    }
    if &fr != old_root {
        return Err(ProofError::OldRootMismatch {
            expected: hex(old_root),
            actual: hex(&fr),
        });
    }
    if &sr != new_root {
        return Err(ProofError::RootMismatch {
            expected: hex(new_root),
            actual: hex(&sr),
        });
    }
    Ok(())
}

fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
