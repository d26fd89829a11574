//! The tree against RFC 6962's published test vectors (as Certificate Transparency and
//! transparency-dev publish them), every proof of small trees verified, and every corruption of
//! a good proof refused.

use readnet_tlog::{
    EMPTY_ROOT, Hash, Levels, ProofError, consistency_proof, inclusion_proof, leaf_hash, node_hash,
    verify_consistency, verify_inclusion,
};

fn h(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

/// The eight leaves of the vectors.
fn leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|l| hex::decode(l).unwrap())
    .collect()
}

/// The roots after 1..=8 of those leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn tree() -> Levels {
    let mut tree = Levels::new();
    for leaf in leaves() {
        tree.push(leaf_hash(&leaf));
    }
    tree
}

fn root(size: u64) -> Hash {
    h(ROOTS[size as usize - 1])
}

#[test]
fn roots_of_the_published_vectors() {
    let tree = tree();
    assert_eq!(tree.root(0).unwrap(), EMPTY_ROOT);
    for size in 1..=8 {
        assert_eq!(tree.root(size).unwrap(), root(size), "size {size}");
    }
}

/// (leaf index, tree size, proof) as published (their leaf numbers count from 1).
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (0, 1, vec![]),
        (
            0,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            5,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            1,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// (old size, new size, proof) as published.
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

#[test]
fn inclusion_proofs_are_the_published_ones_and_verify() {
    let (tree, leaves) = (tree(), leaves());
    for (index, size, published) in inclusion_vectors() {
        let proof = inclusion_proof(&tree, index, size).unwrap();
        assert_eq!(proof, published, "leaf {index} of {size}");
        let leaf = leaf_hash(&leaves[index as usize]);
        verify_inclusion(index, size, &leaf, &proof, &root(size)).unwrap();
    }
}

#[test]
fn consistency_proofs_are_the_published_ones_and_verify() {
    let tree = tree();
    for (old, new, published) in consistency_vectors() {
        let proof = consistency_proof(&tree, old, new).unwrap();
        assert_eq!(proof, published, "{old} → {new}");
        verify_consistency(old, new, &root(old), &root(new), &proof).unwrap();
    }
}

/// A bent inclusion case: what was bent, index, size, leaf, proof, root.
type BentInclusion = (String, u64, u64, Hash, Vec<Hash>, Hash);
/// A bent consistency case: what was bent, old size, new size, old root, new root, proof.
type BentConsistency = (String, u64, u64, Hash, Hash, Vec<Hash>);

/// Every way of bending a good inclusion proof: each is refused.
#[test]
fn every_corruption_of_an_inclusion_proof_is_refused() {
    let leaves = leaves();
    let other = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, proof) in inclusion_vectors() {
        let (leaf, root) = (leaf_hash(&leaves[index as usize]), root(size));
        let mut bent: Vec<BentInclusion> = vec![
            (
                "index + 1".into(),
                index + 1,
                size,
                leaf,
                proof.clone(),
                root,
            ),
            (
                "index ^ 2".into(),
                index ^ 2,
                size,
                leaf,
                proof.clone(),
                root,
            ),
            (
                "size × 2".into(),
                index,
                size * 2,
                leaf,
                proof.clone(),
                root,
            ),
            (
                "size / 2".into(),
                index,
                size / 2,
                leaf,
                proof.clone(),
                root,
            ),
            ("wrong leaf".into(), index, size, other, proof.clone(), root),
            (
                "empty root".into(),
                index,
                size,
                leaf,
                proof.clone(),
                EMPTY_ROOT,
            ),
            ("other root".into(), index, size, leaf, proof.clone(), other),
            (
                "trailing root".into(),
                index,
                size,
                leaf,
                [proof.clone(), vec![root]].concat(),
                root,
            ),
            (
                "preceding root".into(),
                index,
                size,
                leaf,
                [vec![root], proof.clone()].concat(),
                root,
            ),
        ];
        if index > 0 {
            bent.push((
                "index - 1".into(),
                index - 1,
                size,
                leaf,
                proof.clone(),
                root,
            ));
        }
        if !proof.is_empty() {
            bent.push((
                "a hash removed".into(),
                index,
                size,
                leaf,
                proof[1..].to_vec(),
                root,
            ));
            let mut inserted = proof.clone();
            inserted.insert(1, other);
            bent.push(("a hash inserted".into(), index, size, leaf, inserted, root));
        }
        for i in 0..proof.len() {
            for bit in 0..256 {
                let mut flipped = proof.clone();
                flipped[i][bit / 8] ^= 1 << (bit % 8);
                bent.push((
                    format!("proof[{i}] bit {bit}"),
                    index,
                    size,
                    leaf,
                    flipped,
                    root,
                ));
            }
        }
        for bit in 0..256 {
            let (mut l, mut r) = (leaf, root);
            l[bit / 8] ^= 1 << (bit % 8);
            r[bit / 8] ^= 1 << (bit % 8);
            bent.push((
                format!("leaf bit {bit}"),
                index,
                size,
                l,
                proof.clone(),
                root,
            ));
            bent.push((
                format!("root bit {bit}"),
                index,
                size,
                leaf,
                proof.clone(),
                r,
            ));
        }
        for (what, i, s, l, p, r) in bent {
            if i == index && s == size && l == leaf && p == proof && r == root {
                continue; // a bend that changed nothing (size / 2 of 1 is 0, …)
            }
            assert!(
                verify_inclusion(i, s, &l, &p, &r).is_err(),
                "leaf {index} of {size}: {what} verified"
            );
        }
    }
}

#[test]
fn every_corruption_of_a_consistency_proof_is_refused() {
    for (old, new, proof) in consistency_vectors() {
        if proof.is_empty() {
            continue;
        }
        let (r1, r2) = (root(old), root(new));
        let mut bent: Vec<BentConsistency> = vec![
            ("old - 1".into(), old - 1, new, r1, r2, proof.clone()),
            ("old + 1".into(), old + 1, new, r1, r2, proof.clone()),
            ("old ^ 2".into(), old ^ 2, new, r1, r2, proof.clone()),
            ("new × 2".into(), old, new * 2, r1, r2, proof.clone()),
            ("new / 2".into(), old, new / 2, r1, r2, proof.clone()),
            ("swapped roots".into(), old, new, r2, r1, proof.clone()),
            ("empty proof".into(), old, new, r1, r2, vec![]),
            (
                "truncated".into(),
                old,
                new,
                r1,
                r2,
                proof[..proof.len() - 1].to_vec(),
            ),
            (
                "trailing old root".into(),
                old,
                new,
                r1,
                r2,
                [proof.clone(), vec![r1]].concat(),
            ),
            (
                "preceding new root".into(),
                old,
                new,
                r1,
                r2,
                [vec![r2], proof.clone()].concat(),
            ),
            (
                "preceding proof[0]".into(),
                old,
                new,
                r1,
                r2,
                [vec![proof[0]], proof.clone()].concat(),
            ),
        ];
        for i in 0..proof.len() {
            for bit in 0..256 {
                let mut flipped = proof.clone();
                flipped[i][bit / 8] ^= 1 << (bit % 8);
                bent.push((format!("proof[{i}] bit {bit}"), old, new, r1, r2, flipped));
            }
        }
        for bit in 0..256 {
            let (mut a, mut b) = (r1, r2);
            a[bit / 8] ^= 1 << (bit % 8);
            b[bit / 8] ^= 1 << (bit % 8);
            bent.push((
                format!("old root bit {bit}"),
                old,
                new,
                a,
                r2,
                proof.clone(),
            ));
            bent.push((
                format!("new root bit {bit}"),
                old,
                new,
                r1,
                b,
                proof.clone(),
            ));
        }
        for (what, o, n, a, b, p) in bent {
            // A bend into a trivial case (old 0) proves nothing and is allowed to pass.
            if o == 0 || (o, n, a, b, &p) == (old, new, r1, r2, &proof) {
                continue;
            }
            assert!(
                verify_consistency(o, n, &a, &b, &p).is_err(),
                "{old} → {new}: {what} verified"
            );
        }
    }
}

#[test]
fn every_proof_of_every_small_tree_verifies() {
    let mut tree = Levels::new();
    for i in 0u32..70 {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    for size in 1..=70 {
        let root = tree.root(size).unwrap();
        for index in 0..size {
            let proof = inclusion_proof(&tree, index, size).unwrap();
            let leaf = leaf_hash(&(index as u32).to_be_bytes());
            verify_inclusion(index, size, &leaf, &proof, &root)
                .unwrap_or_else(|e| panic!("leaf {index} of {size}: {e}"));
        }
        for old in 0..=size {
            let proof = consistency_proof(&tree, old, size).unwrap();
            verify_consistency(old, size, &tree.root(old).unwrap(), &root, &proof)
                .unwrap_or_else(|e| panic!("{old} → {size}: {e}"));
        }
    }
}

#[test]
fn a_rewritten_leaf_is_caught_by_the_next_consistency_check() {
    let (mut honest, mut forked) = (Levels::new(), Levels::new());
    for i in 0u32..20 {
        honest.push(leaf_hash(&i.to_be_bytes()));
        // The fork rewrites leaf 7 and carries on as if nothing happened.
        let rewritten = if i == 7 { 700 } else { i };
        forked.push(leaf_hash(&rewritten.to_be_bytes()));
    }
    // An auditor saw the honest head at 12; the server now shows the forked head at 20.
    let seen = honest.root(12).unwrap();
    let proof = consistency_proof(&forked, 12, 20).unwrap();
    let error = verify_consistency(12, 20, &seen, &forked.root(20).unwrap(), &proof).unwrap_err();
    assert!(
        matches!(error, ProofError::OldRootMismatch { .. }),
        "{error}"
    );
    // The same size with another root is a fork on its face.
    assert_eq!(
        verify_consistency(12, 12, &seen, &forked.root(12).unwrap(), &[]),
        Err(ProofError::Forked)
    );
    // And the honest server's proof goes through.
    let proof = consistency_proof(&honest, 12, 20).unwrap();
    verify_consistency(12, 20, &seen, &honest.root(20).unwrap(), &proof).unwrap();
}

#[test]
fn node_hashes_are_not_leaf_hashes() {
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let joined = [a, b].concat();
    assert_ne!(node_hash(&a, &b), leaf_hash(&joined));
}
