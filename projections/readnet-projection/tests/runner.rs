//! The runner against a real embedded store: follow, snapshot, restart, rebuild on a new version.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use readnet_domain::pb;
use readnet_ledger::envelope::{Envelope, encode};
use readnet_projection::{
    Payload, Position, ProjectedEvent, Projection, SnapshotPolicy, Snapshots, event_id_at, follow,
    replay, shared,
};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventData, EventStore, StreamState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Remembers every position it folded, so gaps and repeats show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Seen {
    positions: Vec<u64>,
}

impl Projection for Seen {
    const NAME: &'static str = "seen";
    const VERSION: u32 = 1;
    fn apply(&mut self, event: &ProjectedEvent) {
        self.positions.push(event.position.get());
    }
    fn position(&self) -> Position {
        Position::new(self.positions.last().copied().unwrap_or(0))
    }
}

/// The same fold, a newer version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SeenV2(Seen);

impl Projection for SeenV2 {
    const NAME: &'static str = "seen";
    const VERSION: u32 = 2;
    fn apply(&mut self, event: &ProjectedEvent) {
        self.0.apply(event);
    }
    fn position(&self) -> Position {
        self.0.position()
    }
}

async fn append_closures(store: &dyn EventStore, count: usize) {
    for _ in 0..count {
        let payload = Payload::LibraryClosed(pb::LibraryClosed {
            library: "JN-CENTRAL".into(),
            reason: "test".into(),
        });
        let envelope = Envelope {
            occurred_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            acting_library: "",
            channel: pb::Channel::System,
            command_id: None,
            correlation_id: None,
            command_digest: None,
            principal: "",
        };
        store
            .append(
                "network",
                StreamState::Any,
                vec![encode(&envelope, Uuid::new_v4(), &payload)],
            )
            .await
            .unwrap();
    }
}

async fn wait_for<P: Projection>(handle: &readnet_projection::Handle<P>, position: u64) {
    handle
        .read(
            Some(Position::new(position)),
            Duration::from_secs(10),
            |_| (),
        )
        .await
        .expect("the projection catches up");
}

#[tokio::test]
async fn a_restarted_projection_resumes_from_its_snapshot_without_gap_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(
        EmbeddedStore::open(dir.path().join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    );
    let snapshots = Snapshots::new(dir.path().join("projections"));
    append_closures(store.as_ref(), 30).await;

    let (writer, handle) = shared(snapshots.load::<Seen>(store.as_ref()).await);
    let first = tokio::spawn(follow(
        Arc::clone(&store),
        writer,
        snapshots.clone(),
        SnapshotPolicy::default(),
    ));
    wait_for(&handle, 30).await;
    first.abort();
    // The runner saves when caught up after a while; save now to stand for it.
    let (state, _) = handle
        .read(None, Duration::ZERO, Seen::clone)
        .await
        .unwrap();
    let event_id = event_id_at(store.as_ref(), state.position()).await.unwrap();
    snapshots.save(&state, event_id).unwrap();

    append_closures(store.as_ref(), 20).await;
    let resumed = snapshots.load::<Seen>(store.as_ref()).await;
    assert_eq!(
        resumed.position(),
        Position::new(30),
        "the snapshot is where it stopped"
    );
    let (writer, handle) = shared(resumed);
    let second = tokio::spawn(follow(
        Arc::clone(&store),
        writer,
        snapshots.clone(),
        SnapshotPolicy::default(),
    ));
    wait_for(&handle, 50).await;
    second.abort();
    let (seen, position) = handle
        .read(None, Duration::ZERO, Seen::clone)
        .await
        .unwrap();
    assert_eq!(position, Position::new(50));
    assert_eq!(seen.positions, (1..=50).collect::<Vec<_>>());
    let straight: Seen = replay(store.as_ref(), None, |_| {}).await.unwrap();
    assert_eq!(seen, straight, "resumed equals folded straight through");
}

#[tokio::test]
async fn a_runner_saves_its_state_by_itself_when_the_log_goes_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(
        EmbeddedStore::open(dir.path().join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    );
    let snapshots = Snapshots::new(dir.path().join("projections"));
    append_closures(store.as_ref(), 5).await;
    let (writer, handle) = shared(Seen::default());
    let policy = SnapshotPolicy {
        every_events: 1_000,
        every: Duration::from_millis(50),
    };
    let runner = tokio::spawn(follow(
        Arc::clone(&store),
        writer,
        snapshots.clone(),
        policy,
    ));
    wait_for(&handle, 5).await;
    // No event comes after the fifth: the save must come from the runner's own timer.
    let mut saved = snapshots.load::<Seen>(store.as_ref()).await;
    for _ in 0..100 {
        if saved.position() == Position::new(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        saved = snapshots.load::<Seen>(store.as_ref()).await;
    }
    runner.abort();
    assert_eq!(saved.positions, (1..=5).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_snapshot_saved_after_events_passed_over_is_used_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(
        EmbeddedStore::open(dir.path().join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    );
    let snapshots = Snapshots::new(dir.path().join("projections"));
    append_closures(store.as_ref(), 5).await;
    // Two events that are not facts follow the last fact: a refusal, another writer's event.
    for stream in [format!("refusal-{}", Uuid::new_v4()), "orders-1".to_owned()] {
        store
            .append(
                &stream,
                StreamState::NoStream,
                vec![EventData {
                    event_id: Uuid::new_v4(),
                    event_type: "Other".into(),
                    content_type: Default::default(),
                    metadata: Default::default(),
                    data: Default::default(),
                }],
            )
            .await
            .unwrap();
    }
    let (writer, handle) = shared(Seen::default());
    let policy = SnapshotPolicy {
        every_events: 1_000,
        every: Duration::from_millis(50),
    };
    let runner = tokio::spawn(follow(
        Arc::clone(&store),
        writer,
        snapshots.clone(),
        policy,
    ));
    wait_for(&handle, 7).await;
    // The snapshot holds the state at the last fact, and the log vouches for it.
    let mut saved = snapshots.load::<Seen>(store.as_ref()).await;
    for _ in 0..100 {
        if saved.position() == Position::new(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        saved = snapshots.load::<Seen>(store.as_ref()).await;
    }
    runner.abort();
    assert_eq!(saved.positions, (1..=5).collect::<Vec<_>>());
}

/// A store of `events` closures in `dir`.
async fn log_of(dir: &std::path::Path, events: usize) -> EmbeddedStore {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default())
        .await
        .unwrap();
    append_closures(&store, events).await;
    store
}

#[tokio::test]
async fn a_snapshot_of_another_version_or_ahead_of_the_log_is_rebuilt_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = Snapshots::new(dir.path().join("projections"));
    let store = log_of(&dir.path().join("log"), 3).await;
    let state = Seen {
        positions: vec![1, 2, 3],
    };
    let event_id = event_id_at(&store, Position::new(3)).await.unwrap();
    snapshots.save(&state, event_id).unwrap();
    assert_eq!(snapshots.load::<Seen>(&store).await, state);
    assert_eq!(
        snapshots.load::<SeenV2>(&store).await,
        SeenV2::default(),
        "a new version rebuilds"
    );
    let shorter = log_of(&dir.path().join("shorter"), 2).await;
    assert_eq!(
        snapshots.load::<Seen>(&shorter).await,
        Seen::default(),
        "a snapshot ahead of the log is not trusted"
    );
}

#[tokio::test]
async fn a_snapshot_edited_on_disk_or_of_another_log_is_rebuilt_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = Snapshots::new(dir.path().join("projections"));
    let store = log_of(&dir.path().join("log"), 3).await;
    let state = Seen {
        positions: vec![1, 2, 3],
    };
    let event_id = event_id_at(&store, Position::new(3)).await.unwrap();
    snapshots.save(&state, event_id).unwrap();
    assert_eq!(snapshots.load::<Seen>(&store).await, state);

    // Another log of the same length: its third event is another event.
    let other = log_of(&dir.path().join("other"), 3).await;
    assert_eq!(snapshots.load::<Seen>(&other).await, Seen::default());

    // The state edited on disk (a position changed, the encoding still valid).
    let path = dir.path().join("projections/seen.snapshot");
    let mut bytes = std::fs::read(&path).unwrap();
    let body = bytes.len() - 3;
    assert_eq!(
        &bytes[body..],
        [1, 2, 3],
        "the body ends with the positions"
    );
    bytes[body + 1] = 7;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        snapshots.read_checked("seen"),
        Err(readnet_projection::SnapshotRefused::Checksum { .. })
    ));
    assert_eq!(snapshots.load::<Seen>(&store).await, Seen::default());
}

#[tokio::test]
async fn a_torn_snapshot_is_rebuilt_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = Snapshots::new(dir.path().join("projections"));
    let store = log_of(&dir.path().join("log"), 3).await;
    let state = Seen {
        positions: vec![1, 2, 3],
    };
    let event_id = event_id_at(&store, Position::new(3)).await.unwrap();
    snapshots.save(&state, event_id).unwrap();
    let path = dir.path().join("projections/seen.snapshot");
    let whole = std::fs::read(&path).unwrap();
    // Cut at every length, as a crash part-way through a write without the rename would.
    for len in 0..whole.len() {
        std::fs::write(&path, &whole[..len]).unwrap();
        assert!(
            snapshots.read_checked("seen").is_err(),
            "{len} of {} bytes read as a snapshot",
            whole.len()
        );
        assert_eq!(
            snapshots.load::<Seen>(&store).await,
            Seen::default(),
            "{len} bytes"
        );
    }
    // Bytes after the end are refused too: the header gives the body's length.
    std::fs::write(&path, [&whole[..], &[0]].concat()).unwrap();
    assert!(snapshots.read_checked("seen").is_err());
    std::fs::write(&path, &whole).unwrap();
    assert_eq!(snapshots.load::<Seen>(&store).await, state);
}

#[tokio::test]
async fn a_json_snapshot_of_the_old_format_is_ignored_then_removed_by_the_next_save() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = Snapshots::new(dir.path().join("projections"));
    let store = log_of(&dir.path().join("log"), 3).await;
    let event_id = event_id_at(&store, Position::new(3)).await.unwrap();
    let old = dir.path().join("projections/seen.json");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    let header = serde_json::json!({
        "format": 2, "name": "seen", "version": 1, "position": 3,
        "event_id": event_id, "sha256": "00",
    });
    std::fs::write(&old, format!("{header}\n{{\"positions\":[1,2,3]}}")).unwrap();
    assert!(snapshots.read_checked("seen").unwrap().is_none());
    assert_eq!(snapshots.load::<Seen>(&store).await, Seen::default());
    let state = Seen {
        positions: vec![1, 2, 3],
    };
    snapshots.save(&state, event_id).unwrap();
    assert!(!old.exists(), "the old file is removed once replaced");
    assert_eq!(snapshots.load::<Seen>(&store).await, state);
}

#[tokio::test]
async fn replay_through_a_position_stops_there() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
        .await
        .unwrap();
    append_closures(&store, 10).await;
    let mut reported = Vec::new();
    let seen: Seen = replay(&store, Some(Position::new(7)), |p| reported.push(p))
        .await
        .unwrap();
    assert_eq!(seen.positions, (1..=7).collect::<Vec<_>>());
    assert_eq!(reported.last(), Some(&Position::new(7)));
}

/// An event in a stream that is not the ledger's, as a KurrentDB client would write it.
async fn append_foreign(store: &dyn EventStore) {
    store
        .append(
            "analytics-notes",
            StreamState::Any,
            vec![EventData {
                event_id: Uuid::new_v4(),
                event_type: "NoteTaken".into(),
                content_type: readnet_store::ContentType::Json,
                metadata: vec![].into(),
                data: br#"{"note":"not a readnet event"}"#.to_vec().into(),
            }],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn events_of_other_streams_are_passed_over_and_still_release_waiting_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(
        EmbeddedStore::open(dir.path().join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    );
    append_closures(store.as_ref(), 2).await;
    append_foreign(store.as_ref()).await;
    append_closures(store.as_ref(), 1).await;
    append_foreign(store.as_ref()).await;
    let snapshots = Snapshots::new(dir.path().join("projections"));
    let (writer, handle) = shared(Seen::default());
    let runner = tokio::spawn(follow(
        Arc::clone(&store),
        writer,
        snapshots,
        SnapshotPolicy::default(),
    ));
    // Position 5 is a foreign event: a query waiting for it is answered, not timed out.
    let (seen, position) = handle
        .read(Some(Position::new(5)), Duration::from_secs(10), Seen::clone)
        .await
        .expect("the foreign tail is passed over");
    assert_eq!(position, Position::new(5));
    assert_eq!(seen.positions, [1, 2, 4]);
    assert!(!runner.is_finished(), "the runner keeps following");
    runner.abort();
    let straight: Seen = replay(store.as_ref(), None, |_| {}).await.unwrap();
    assert_eq!(straight.positions, [1, 2, 4]);
}

/// Every single-bit flip anywhere in a saved snapshot (header or state): the state loaded is
/// either the one saved, or the rebuild from zero, never a third.
#[tokio::test]
async fn a_snapshot_with_any_bit_flipped_loads_as_saved_or_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = Snapshots::new(dir.path().join("projections"));
    let store = log_of(&dir.path().join("log"), 3).await;
    let state = Seen {
        positions: vec![1, 2, 3],
    };
    let event_id = event_id_at(&store, Position::new(3)).await.unwrap();
    snapshots.save(&state, event_id).unwrap();
    let path = dir.path().join("projections/seen.snapshot");
    let pristine = std::fs::read(&path).unwrap();
    let (mut as_saved, mut rebuilt) = (0, 0);
    for i in 0..pristine.len() {
        for bit in 0..8 {
            let mut bytes = pristine.clone();
            bytes[i] ^= 1 << bit;
            std::fs::write(&path, &bytes).unwrap();
            let loaded = snapshots.load::<Seen>(&store).await;
            if loaded == state {
                as_saved += 1;
            } else {
                assert_eq!(
                    loaded,
                    Seen::default(),
                    "byte {i} bit {bit}: a state that is neither saved nor rebuilt"
                );
                rebuilt += 1;
            }
        }
    }
    // Every byte is covered: the magic, the header (decoded and checked against the log) and
    // the body (its CRC32C).
    assert_eq!(as_saved, 0, "rebuilt {rebuilt}, as saved {as_saved}");
}
