//! Availability with its item rows on disk (ADR 0027), a hot set far smaller than the items,
//! against the same fold in memory: the same digest, the same snapshot bytes, the same answers.
//! And a disk tier left mid-way by a run that stopped is refused and rebuilt from the log.

use chrono::{DateTime, Utc};
use readnet_availability::Availability;
use readnet_projection::pb::TransitDirection;
use readnet_projection::rows::DiskRows;
use readnet_projection::{ColdState, Pipeline, Position, Projection, digest, encode_state};
use readnet_sim::{Scale, Simulator};
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};

/// A small simulated history: a few thousand items, some days of lending and holds.
async fn history(dir: &std::path::Path) -> EmbeddedStore {
    let store = EmbeddedStore::open(dir, EmbeddedOptions::default())
        .await
        .unwrap();
    let mut sim = Simulator::new(Scale::small(), 5, Simulator::default_first_day(), 4);
    while let Some(chunk) = sim.next_chunk() {
        readnet_sim::store::write(&store, chunk).await.unwrap();
    }
    store
}

async fn fold(
    store: &EmbeddedStore,
    state: Availability,
    through: Option<Position>,
) -> (Availability, String) {
    let mut pipeline = Pipeline::new();
    let folding = pipeline.fold_state(state, true);
    pipeline.run(store, through, |_| {}).await.unwrap();
    let folded = folding.finish().await.unwrap();
    (folded.state, folded.digest.unwrap())
}

/// Every query of the projection that reads item rows, over every library, as text.
fn answers(a: &Availability) -> Vec<String> {
    // Past the history's end: every loan is overdue, every ready copy on its shelf.
    let now: DateTime<Utc> = DateTime::from_timestamp_micros(4_000_000_000_000_000).unwrap();
    let mut out = vec![
        format!("{:?}", a.items().collect::<Vec<_>>()),
        format!("{:?}", a.titles().collect::<Vec<_>>()),
        format!("{:?}", a.holds().collect::<Vec<_>>()),
        format!("{:?}", a.statuses()),
    ];
    for library in a.network().libraries.keys() {
        let library = library.as_str();
        out.push(format!("{:?}", a.homebound_list(library, "", 10_000)));
        for direction in [TransitDirection::To, TransitDirection::From] {
            out.push(format!(
                "{:?}",
                a.transit_list(library, direction, "", 10_000)
            ));
        }
        out.push(format!("{:?}", a.hold_shelf(library, now)));
        out.push(format!("{:?}", a.overdue_loans(library, now, "", 10_000)));
        out.push(format!("{:?}", a.pick_list(library)));
        out.push(format!("{:?}", a.library(library)));
    }
    for (code, _) in a.items().take(500) {
        out.push(format!("{:?}", a.get_item(code)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_rows_on_disk_give_the_digest_snapshot_and_answers_of_memory() {
    let (log, cold_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = history(log.path()).await;
    let (memory, memory_digest) = fold(&store, Availability::default(), None).await;
    let items = memory.statuses().total();
    assert!(items > 2_000, "the history catalogues {items} items");
    // A hot set of 64 rows: about 2 % of the items, so rows are evicted and read back all along.
    let cold = ColdState {
        dir: cold_dir.path().to_owned(),
        hot_rows: 64,
    };
    let (disk, disk_digest) =
        fold(&store, Availability::with_cold_items(&cold).unwrap(), None).await;
    let stats = disk.cold_stats().expect("the rows are on disk");
    assert!(
        stats.evictions > items && stats.loads > 1_000 && stats.writes > 1_000,
        "{stats:?}"
    );
    assert_eq!(disk_digest, memory_digest);
    assert_eq!(digest(&disk), memory_digest);
    // The snapshot's body is the canonical encoding: the same bytes.
    assert_eq!(encode_state(&disk).unwrap(), encode_state(&memory).unwrap());
    assert_eq!(answers(&disk), answers(&memory));
    assert!(disk == memory);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_tier_left_mid_way_is_refused_and_rebuilt_from_the_log() {
    let (log, cold_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = history(log.path()).await;
    let head = store.head_position();
    let (_, memory_digest) = fold(&store, Availability::default(), None).await;
    let cold = ColdState {
        dir: cold_dir.path().to_owned(),
        hot_rows: 64,
    };
    let half = Position::new(head.get() / 2);
    // A run folds half the log and checkpoints there, goes on, and stops (is dropped) before
    // its next checkpoint, its evictions since written to the file.
    {
        let (mut state, _) = fold(
            &store,
            Availability::with_cold_items(&cold).unwrap(),
            Some(half),
        )
        .await;
        state.checkpoint_cold_items().unwrap();
        let at = state.position().get();
        // Fold on past the checkpoint by hand: the pipeline starts from the first event.
        let page = store
            .read_all(
                readnet_store::AllFrom::Position(state.position().next()),
                readnet_store::Direction::Forwards,
                2_000,
            )
            .await
            .unwrap();
        for event in page
            .iter()
            .filter(|e| readnet_domain::StreamId::holds_facts(&e.stream))
        {
            state.apply(&readnet_ledger::envelope::decode(event).unwrap());
        }
        assert!(state.position().get() > at);
        assert!(state.cold_stats().unwrap().commits > 1);
        drop(state);
        // The file's last checkpoint is not where a state resuming at `at` would go on from:
        // refused, with the reason.
        let refused =
            DiskRows::<u8>::resume(&cold, Availability::COLD_ITEMS, Availability::VERSION, at)
                .unwrap_err()
                .to_string();
        assert!(
            refused.contains("written after its last checkpoint"),
            "{refused}"
        );
    }
    // Rebuilt from the log into the same directory: the file is made anew, and the fold is the
    // fold in memory.
    let (rebuilt, rebuilt_digest) =
        fold(&store, Availability::with_cold_items(&cold).unwrap(), None).await;
    assert_eq!(rebuilt_digest, memory_digest);
    assert!(
        rebuilt.cold_stats().unwrap().loads > 0,
        "the rebuilt fold read rows back from its file"
    );
}
