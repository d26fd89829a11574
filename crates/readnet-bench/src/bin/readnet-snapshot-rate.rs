//! Snapshot save and load rates on real states: the log in DATA (read-only) folded into the
//! three projections, then each state saved to OUT (`Snapshots::save`: encode, CRC32C, write,
//! fsync, rename) and loaded back (`Snapshots::load`: read, check, decode, vouch), timed.
//!
//! Usage: `readnet-snapshot-rate DATA OUT`. Prints a line per projection: bytes, save and load
//! times and MB/s.

use std::path::Path;
use std::time::Instant;

use readnet_projection::{Projection, Snapshots, event_id_at};
use readnet_server::projections::AllProjections;
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(data), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: readnet-snapshot-rate DATA OUT");
        std::process::exit(2);
    };
    let store =
        EmbeddedStore::open_read_only(Path::new(data).join("log"), EmbeddedOptions::default())
            .await
            .expect("the log opens read-only");
    let started = Instant::now();
    let folded = AllProjections::replay(&store, None, |_| {})
        .await
        .expect("replay");
    eprintln!(
        "replayed {} events in {:.1} s",
        store.head_position(),
        started.elapsed().as_secs_f64()
    );
    let snapshots = Snapshots::new(out);
    rate(&store, &snapshots, &folded.availability).await;
    rate(&store, &snapshots, &folded.statistics).await;
    rate(&store, &snapshots, &folded.settlement).await;
    // The states are left to the process's exit (see `readnet replay`).
    #[expect(
        clippy::mem_forget,
        reason = "deliberate: the states are left to the exit"
    )]
    std::mem::forget(folded);
}

async fn rate<P: Projection + PartialEq>(store: &EmbeddedStore, snapshots: &Snapshots, state: &P) {
    let event_id = event_id_at(store, state.position())
        .await
        .expect("the event");
    let started = Instant::now();
    snapshots.save(state, event_id).expect("saved");
    let save_s = started.elapsed().as_secs_f64();
    let bytes = snapshots
        .read_checked(P::NAME)
        .expect("readable")
        .expect("saved")
        .state
        .len() as f64;
    let started = Instant::now();
    let loaded: P = snapshots.load(store).await;
    let load_s = started.elapsed().as_secs_f64();
    assert!(loaded == *state, "{} loads as saved", P::NAME);
    println!(
        "{:<13} {:>6.1} MB  save {:.2} s ({:.0} MB/s)  load {:.2} s ({:.0} MB/s)",
        P::NAME,
        bytes / 1e6,
        save_s,
        bytes / 1e6 / save_s,
        load_s,
        bytes / 1e6 / load_s
    );
}
