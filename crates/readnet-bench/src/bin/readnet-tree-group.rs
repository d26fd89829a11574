//! Group commit with and without the log's tree kept beside it (readnet-audit's keeper hashing
//! every event and writing its tiles as the server does): WRITERS tasks each append APPENDS
//! single events (100 data bytes) to a stream of their own in a fresh store in DIR, one durable
//! append at a time. MODE: `off`, nothing follows the log; `follower`, one task follows it and
//! drops each event (as a projection would, without its work: the server always has followers);
//! `tree`, the follower and the keeper, and the run ends when the keeper has caught up with the
//! last append.
//!
//! Usage: `readnet-tree-group DIR WRITERS APPENDS MODE`. Prints appends/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use readnet_domain::SystemClock;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventData, EventStore, Revision, StreamState};
use readnet_tlog::NoteSigner;
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(writers), Some(appends)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
        args.get(2).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: readnet-tree-group DIR WRITERS APPENDS off|follower|tree");
        std::process::exit(2);
    };
    let mode = args.get(3).map_or("off", String::as_str);
    let with_tree = mode == "tree";
    let dir = std::path::Path::new(dir);
    let store = Arc::new(
        EmbeddedStore::open(dir.join("log"), EmbeddedOptions::default())
            .await
            .expect("open"),
    );
    let tree = if with_tree {
        Some(
            readnet_audit::keep(
                Arc::clone(&store) as Arc<dyn EventStore>,
                readnet_audit::TreeOptions {
                    dir: dir.join("tlog"),
                    signer: NoteSigner::new("bench", [1; 32]).expect("a signer"),
                    every: None,
                    clock: Arc::new(SystemClock),
                },
            )
            .await
            .expect("the tree"),
        )
    } else {
        None
    };
    if mode != "off" {
        let mut subscription = store.subscribe_all(readnet_store::Position::START);
        tokio::spawn(async move {
            use futures::StreamExt as _;
            while let Some(Ok(_)) = subscription.next().await {}
        });
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let stream = format!("bench-{w}");
                for revision in 0..appends {
                    let expected = match revision {
                        0 => StreamState::NoStream,
                        r => StreamState::Revision(Revision::new(r - 1)),
                    };
                    let event = EventData {
                        event_id: Uuid::new_v4(),
                        event_type: "BenchAppended".into(),
                        content_type: readnet_store::ContentType::Binary,
                        metadata: Default::default(),
                        data: vec![revision as u8; 100].into(),
                    };
                    store
                        .append(&stream, expected, vec![event])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    let appended = started.elapsed();
    let total = writers as u64 * appends;
    let caught_up = match &tree {
        Some(tree) => {
            tree.reach(total, Duration::from_secs(600))
                .await
                .expect("the tree catches up");
            Some(started.elapsed())
        }
        None => None,
    };
    println!(
        "{writers} writers x {appends}, {mode}: {:.0} appends/s ({:.1} ms){}",
        total as f64 / appended.as_secs_f64(),
        appended.as_secs_f64() * 1e3,
        caught_up.map_or(String::new(), |t| format!(
            ", tree caught up {:.1} ms after the first append",
            t.as_secs_f64() * 1e3
        ))
    );
    store.close().await;
}
