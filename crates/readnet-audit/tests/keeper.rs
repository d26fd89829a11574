//! The tree the keeper keeps beside a real embedded log: the same roots, proofs and tiles as a
//! tree built in memory from the same log, across restarts, lost tiles and a log that is not
//! the tiles' own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use readnet_audit::{Entries, Tree, TreeOptions, keep};
use readnet_domain::SystemClock;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{
    AllFrom, ContentType, Direction, EventData, EventStore, Position, StreamState, StreamWrite,
};
use readnet_tlog::{
    Levels, NoteSigner, NoteVerifier, TileId, leaf_bytes, leaf_hash, push_entry, tile_bytes,
    tiles_of, verify_consistency, verify_inclusion,
};

const WAIT: Duration = Duration::from_secs(30);

fn signer() -> NoteSigner {
    NoteSigner::new("readnet.test", [7; 32]).unwrap()
}

async fn open(dir: &std::path::Path) -> Arc<EmbeddedStore> {
    Arc::new(
        EmbeddedStore::open(dir.join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    )
}

/// Appends `count` events in batches of 1000, their data telling `salt` and their number.
async fn append(store: &EmbeddedStore, count: u64, salt: &str) {
    let mut written = 0;
    while written < count {
        let batch = (count - written).min(1000);
        let events = (0..batch)
            .map(|i| EventData {
                event_id: uuid::Uuid::new_v4(),
                event_type: "TestEvent".to_owned(),
                content_type: ContentType::Binary,
                metadata: Bytes::new(),
                data: Bytes::from(format!("{salt} {}", written + i)),
            })
            .collect();
        store
            .append_multi(vec![StreamWrite {
                stream: format!("test-{}", written / 1000),
                expected: StreamState::Any,
                events,
            }])
            .await
            .unwrap();
        written += batch;
    }
}

/// Every node of the store's tree, built in memory from the log.
async fn levels(store: &EmbeddedStore) -> Levels {
    let mut tree = Levels::new();
    let mut next = Position::FIRST;
    let mut bytes = Vec::new();
    loop {
        let page = store
            .read_all(AllFrom::Position(next), Direction::Forwards, 4096)
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return tree;
        };
        next = last.position.next();
        for event in &page {
            bytes.clear();
            leaf_bytes(event, &mut bytes);
            tree.push(leaf_hash(&bytes));
        }
    }
}

async fn keeper(store: &Arc<EmbeddedStore>, dir: &std::path::Path) -> Tree {
    let tree = keep(
        Arc::clone(store) as Arc<dyn EventStore>,
        TreeOptions {
            dir: dir.join("tlog"),
            signer: signer(),
            every: None,
            clock: Arc::new(SystemClock),
        },
    )
    .await
    .unwrap();
    tree.reach(store.head_position().get(), WAIT).await.unwrap();
    tree
}

/// Roots, proofs and tiles of `tree` against the tree built in memory, at a spread of sizes.
fn assert_same(tree: &Tree, expected: &Levels) {
    let size = expected.size();
    assert_eq!(tree.size(), size);
    let sizes = [1, 2, 255, 256, 257, 65_535, 65_536, 65_537, size - 1, size];
    for &n in sizes.iter().filter(|&&n| n >= 1 && n <= size) {
        let root = expected.root(n).unwrap();
        assert_eq!(tree.root(n).unwrap(), root, "root of {n}");
        for index in [0, n / 3, n / 2, n - 1] {
            let proof = tree.inclusion(index, n).unwrap();
            let leaf = expected.node(0, index).unwrap();
            verify_inclusion(index, n, &leaf, &proof, &root).unwrap();
        }
        for old in [1, n / 2, n - 1].into_iter().filter(|&o| o >= 1 && o < n) {
            let proof = tree.consistency(old, n).unwrap();
            verify_consistency(old, n, &expected.root(old).unwrap(), &root, &proof).unwrap();
        }
    }
    for tile in tiles_of(size) {
        assert_eq!(
            tree.tile(&tile).unwrap(),
            Some(tile_bytes(expected, tile).unwrap()),
            "{}",
            tile.path()
        );
    }
    // A tile wider than the tree has reached is not served.
    let beyond = TileId {
        level: 0,
        index: size / 256,
        width: size % 256 + 1,
    };
    assert_eq!(tree.tile(&beyond).unwrap(), None);
    assert!(tree.root(size + 1).is_err());
}

use readnet_tlog::NodeSource as _;

/// Every entry bundle of `tree`, full and partial, against the log's leaves.
async fn assert_entries(tree: &Tree, store: &EmbeddedStore) {
    let size = tree.size();
    let events = store
        .read_all(AllFrom::Start, Direction::Forwards, size as usize)
        .await
        .unwrap();
    for (n, chunk) in events.chunks(256).enumerate() {
        let tile = TileId {
            level: 0,
            index: n as u64,
            width: chunk.len() as u64,
        };
        let mut expected = Vec::new();
        let mut bytes = Vec::new();
        for event in chunk {
            bytes.clear();
            leaf_bytes(event, &mut bytes);
            push_entry(&mut expected, &bytes).unwrap();
        }
        assert_eq!(
            tree.entries(&tile).unwrap(),
            Entries::Bundle(expected),
            "{}",
            tile.entries_path()
        );
    }
    let beyond = TileId {
        level: 0,
        index: size / 256,
        width: size % 256 + 1,
    };
    assert_eq!(tree.entries(&beyond).unwrap(), Entries::NotReached);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kept_tree_is_the_logs_tree_as_it_grows_and_after_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    append(&store, 70_000, "first").await;
    let tree = keeper(&store, dir.path()).await;
    assert_same(&tree, &levels(&store).await);
    assert_entries(&tree, &store).await;
    // It follows appends made after it started.
    append(&store, 1_234, "more").await;
    tree.reach(71_234, WAIT).await.unwrap();
    assert_same(&tree, &levels(&store).await);
    store.close().await;
    drop(store);

    // A restart resumes from the full tiles: level 0 holds 278 of them.
    let store = open(dir.path()).await;
    let tree = keeper(&store, dir.path()).await;
    assert_same(&tree, &levels(&store).await);
    store.close().await;
    drop(store);

    // A crash that left the last level-1 tile unwritten and the last level-0 tile short: both are
    // made again.
    let tiles = dir.path().join("tlog");
    std::fs::remove_file(tiles.join("tile/1/000")).unwrap();
    std::fs::write(tiles.join("tile/0/277"), [0u8; 100]).unwrap();
    // And entry bundles not written: the last one, and every one from the 200th (as a tree kept
    // before bundles were has none).
    for n in 200..=277 {
        std::fs::remove_file(tiles.join(format!("tile/entries/{n:03}"))).unwrap();
    }
    let store = open(dir.path()).await;
    let tree = keeper(&store, dir.path()).await;
    assert_same(&tree, &levels(&store).await);
    assert_entries(&tree, &store).await;
    assert_eq!(std::fs::read(tiles.join("tile/0/277")).unwrap().len(), 8192);
    assert!(tiles.join("tile/1/000").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_of_another_log_are_moved_aside_and_the_tree_built_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    append(&store, 3_000, "first").await;
    keeper(&store, dir.path()).await;
    store.close().await;
    drop(store);

    // Another log of the same length under the same tiles.
    std::fs::remove_dir_all(dir.path().join("log")).unwrap();
    let store = open(dir.path()).await;
    append(&store, 3_000, "second").await;
    let tree = keeper(&store, dir.path()).await;
    assert_same(&tree, &levels(&store).await);
    let aside: Vec<_> = std::fs::read_dir(dir.path().join("tlog"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("tile.stale-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_signed_kept_and_read_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    append(&store, 500, "first").await;
    let tree = keeper(&store, dir.path()).await;
    assert!(tree.latest().is_none());
    let verifier = NoteVerifier::from_text(&signer().verifier_text()).unwrap();
    let signed = tree.sign(500).await.unwrap();
    let opened = verifier.open_checkpoint(&signed.note).unwrap();
    assert_eq!(opened, signed.checkpoint);
    assert_eq!(opened.size, 500);
    assert_eq!(opened.root, levels(&store).await.root(500).unwrap());
    // Asked again at a size it has, the latest is the answer: nothing new is signed.
    assert_eq!(tree.sign(400).await.unwrap(), signed);
    append(&store, 20, "more").await;
    tree.reach(520, WAIT).await.unwrap();
    let newer = tree.sign(520).await.unwrap();
    assert_eq!(newer.checkpoint.size, 520);
    store.close().await;
    drop(store);

    let store = open(dir.path()).await;
    let tree = keeper(&store, dir.path()).await;
    assert_eq!(tree.latest(), Some(newer.clone()));
    let archive = std::fs::read_to_string(dir.path().join("tlog/checkpoints")).unwrap();
    assert_eq!(archive.matches("note ").count(), 2, "{archive}");
    assert!(archive.ends_with(&newer.note));
    // A size the tree has not reached is not signed.
    assert!(tree.sign(10_000).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_holding_an_entry_too_long_for_it_is_not_served_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    append(&store, 299, "first").await;
    // Position 300: a leaf of more than 65,535 bytes.
    store
        .append(
            "test-long",
            StreamState::Any,
            vec![EventData {
                event_id: uuid::Uuid::new_v4(),
                event_type: "TestEvent".to_owned(),
                content_type: ContentType::Binary,
                metadata: Bytes::new(),
                data: Bytes::from(vec![7u8; 70_000]),
            }],
        )
        .await
        .unwrap();
    append(&store, 10, "after").await;
    let tree = keeper(&store, dir.path()).await;
    let bundle = |index, width| TileId {
        level: 0,
        index,
        width,
    };
    // The partial bundle holding it, at any width that includes it.
    match tree.entries(&bundle(1, 50)).unwrap() {
        Entries::TooLong(why) => assert!(why.contains("position 300"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        tree.entries(&bundle(0, 256)).unwrap(),
        Entries::Bundle(_)
    ));
    // Full: a note on disk in its place, read back after a restart.
    append(&store, 300, "more").await;
    tree.reach(store.head_position().get(), WAIT).await.unwrap();
    store.close().await;
    drop(store);
    let store = open(dir.path()).await;
    let tree = keeper(&store, dir.path()).await;
    match tree.entries(&bundle(1, 256)).unwrap() {
        Entries::TooLong(why) => assert!(why.contains("position 300"), "{why}"),
        other => panic!("{other:?}"),
    }
    // The next ones are served (610 events: bundle 2 is partial, 98 wide).
    assert!(matches!(
        tree.entries(&bundle(2, 98)).unwrap(),
        Entries::Bundle(_)
    ));
    assert_eq!(tree.entries(&bundle(2, 99)).unwrap(), Entries::NotReached);
}
