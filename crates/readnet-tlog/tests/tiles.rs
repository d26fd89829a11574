//! Proofs read from tiles are the proofs of the whole tree, at a bounded number of tile reads.

use std::cell::Cell;
use std::collections::HashMap;

use readnet_tlog::{
    Levels, TileReader, consistency_proof, inclusion_proof, leaf_hash, tile_bytes, tiles_of,
    verify_inclusion,
};

#[test]
fn proofs_from_tiles_equal_proofs_from_the_whole_tree_in_few_reads() {
    let size = 70_001u64;
    let mut tree = Levels::new();
    for i in 0..size {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    // Tiles as a static server would hold them, by path.
    let stored: HashMap<String, Vec<u8>> = tiles_of(size)
        .into_iter()
        .map(|t| (t.path(), tile_bytes(&tree, t).unwrap()))
        .collect();
    assert!(stored.contains_key("tile/0/273.p/113"));
    assert!(stored.contains_key("tile/2/000.p/1"));
    let reads = Cell::new(0u32);
    let tiles = TileReader::new(size, |tile: &readnet_tlog::TileId| {
        reads.set(reads.get() + 1);
        stored
            .get(&tile.path())
            .cloned()
            .ok_or_else(|| format!("no tile {}", tile.path()))
    });
    let root = tree.root(size).unwrap();
    assert_eq!(readnet_tlog::subtree_root(&tiles, 0, size).unwrap(), root);
    for index in [0, 1, 255, 256, 4_097, 65_535, 65_536, 69_999, 70_000] {
        reads.set(0);
        let proof = inclusion_proof(&tiles, index, size).unwrap();
        assert_eq!(
            proof,
            inclusion_proof(&tree, index, size).unwrap(),
            "{index}"
        );
        // One tile a hash of the proof at most, and a proof has at most ⌈log2 n⌉ = 17 hashes,
        // each a whole subtree or a split right edge.
        assert!(
            reads.get() <= 2 * 17,
            "leaf {index}: {} tile reads",
            reads.get()
        );
        verify_inclusion(index, size, &leaf_hash(&index.to_be_bytes()), &proof, &root).unwrap();
    }
    for old in [1, 256, 1000, 65_536, 70_000] {
        assert_eq!(
            consistency_proof(&tiles, old, size).unwrap(),
            consistency_proof(&tree, old, size).unwrap(),
            "{old}"
        );
    }
}

#[test]
fn a_tile_of_the_wrong_length_is_an_error_not_a_hash() {
    let mut tree = Levels::new();
    for i in 0u32..300 {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    let tiles = TileReader::new(300, |tile: &readnet_tlog::TileId| {
        let mut bytes = tile_bytes(&tree, *tile).map_err(|e| e.to_string())?;
        bytes.pop();
        Ok(bytes)
    });
    assert!(inclusion_proof(&tiles, 3, 300).is_err());
}

#[test]
fn a_builder_emits_the_full_tiles_and_knows_the_root_from_its_right_edge() {
    let mut tree = Levels::new();
    let mut builder = readnet_tlog::TileBuilder::new();
    let mut emitted: HashMap<String, Vec<u8>> = HashMap::new();
    for i in 0u64..70_001 {
        let leaf = leaf_hash(&i.to_be_bytes());
        tree.push(leaf);
        builder.push(leaf, |tile, hashes| {
            let bytes: Vec<u8> = hashes.iter().flatten().copied().collect();
            assert!(
                emitted.insert(tile.path(), bytes).is_none(),
                "{} twice",
                tile.path()
            );
        });
        // The root from the right edge alone, at sizes around every tile boundary.
        if i < 600 || i % 4_099 == 0 || (i + 1) % 65_536 < 3 {
            assert_eq!(builder.root(), tree.root(i + 1).unwrap(), "size {}", i + 1);
        }
    }
    assert_eq!(builder.root(), tree.root(70_001).unwrap());
    // Every full tile, and only those, was handed over, each as the whole tree has it.
    let full: Vec<_> = tiles_of(70_001)
        .into_iter()
        .filter(|t| t.width == 256)
        .collect();
    assert_eq!(emitted.len(), full.len());
    for tile in full {
        assert_eq!(
            emitted[&tile.path()],
            tile_bytes(&tree, tile).unwrap(),
            "{}",
            tile.path()
        );
    }
    // The partial tiles it holds are the tree's.
    for level in 0..3 {
        let (tile, hashes) = builder.partial(level).unwrap();
        let bytes: Vec<u8> = hashes.iter().flatten().copied().collect();
        assert_eq!(bytes, tile_bytes(&tree, tile).unwrap(), "{}", tile.path());
    }
}
