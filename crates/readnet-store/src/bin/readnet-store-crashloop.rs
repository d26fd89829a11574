//! Appends to an embedded store in a loop until killed, printing every acknowledged event.
//!
//! For the crash-safety test: it runs this, kills it with SIGKILL mid-stream, reopens the
//! directory and checks that every event printed here (acknowledged, so synced) survived.
//!
//! Usage: `readnet-store-crashloop DIR [TASKS] [SEGMENT_SIZE_BYTES] [MAX_SECONDS]`
//!
//! Each of TASKS concurrent tasks (default 8, so appends meet in group commits) appends to its
//! own streams `crash-<task>-a` and `crash-<task>-b`: single events, three events at once, and
//! atomic appends to both streams. Each acknowledged event is printed as
//! `<stream> <revision> <position> <event id>`. Event data is [`payload`] of the stream and
//! revision, so a reader can check it. The loop ends by itself after MAX_SECONDS (default 60).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventData, EventStore, Revision, StreamState, StreamWrite};
use uuid::Uuid;

/// The data of the event at `revision` of `stream`: the test computes the same bytes.
fn payload(stream: &str, revision: u64) -> Vec<u8> {
    let len = 16 + (revision as usize * 131) % 700;
    format!("{stream}#{revision};")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

fn event(stream: &str, revision: u64) -> EventData {
    EventData {
        event_id: Uuid::new_v4(),
        event_type: "CrashLoopTicked".into(),
        content_type: readnet_store::ContentType::Binary,
        metadata: Vec::new().into(),
        data: payload(stream, revision).into(),
    }
}

fn expectation(next_revision: u64) -> StreamState {
    match next_revision {
        0 => StreamState::NoStream,
        n => StreamState::Revision(Revision::new(n - 1)),
    }
}

/// Appends in a loop to this task's two streams until `deadline`.
async fn task(store: Arc<EmbeddedStore>, task: usize, deadline: Instant) {
    let streams = [format!("crash-{task}-a"), format!("crash-{task}-b")];
    let mut next = [0u64; 2];
    for (s, stream) in streams.iter().enumerate() {
        next[s] = store
            .stream_revision(stream)
            .await
            .expect("stream revision")
            .map_or(0, |r| r.next().get());
    }
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        // Which stream each write goes to, and how many events.
        let plan: &[(usize, u64)] = match round % 5 {
            0 => &[(0, 1), (1, 1)],
            1 | 3 => &[(0, 1)],
            2 => &[(0, 3)],
            _ => &[(1, 2)],
        };
        let writes: Vec<StreamWrite> = plan
            .iter()
            .map(|&(s, count)| StreamWrite {
                stream: streams[s].clone(),
                expected: expectation(next[s]),
                events: (0..count)
                    .map(|i| event(&streams[s], next[s] + i))
                    .collect(),
            })
            .collect();
        let acknowledged: Vec<(String, Vec<Uuid>)> = writes
            .iter()
            .map(|w| {
                (
                    w.stream.clone(),
                    w.events.iter().map(|e| e.event_id).collect(),
                )
            })
            .collect();
        let results = store.append_multi(writes).await.expect("append");

        let mut out = std::io::stdout().lock();
        for (((stream, ids), result), &(s, _)) in acknowledged.iter().zip(&results).zip(plan) {
            for (i, id) in ids.iter().enumerate() {
                let i = i as u64;
                writeln!(
                    out,
                    "{stream} {} {} {id}",
                    next[s] + i,
                    result.first_position.get() + i
                )
                .expect("stdout");
            }
            next[s] = result.next_expected_revision.next().get();
        }
        out.flush().expect("stdout");
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: readnet-store-crashloop DIR [TASKS] [SEGMENT_SIZE_BYTES] [MAX_SECONDS]");
    let mut number = |default: u64| {
        args.next()
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let tasks = number(8) as usize;
    let segment_size_bytes = number(256 * 1024 * 1024);
    let deadline = Instant::now() + Duration::from_secs(number(60));

    let options = EmbeddedOptions {
        segment_size_bytes,
        ..EmbeddedOptions::default()
    };
    let store = Arc::new(
        EmbeddedStore::open(&dir, options)
            .await
            .expect("open the store"),
    );
    let tasks: Vec<_> = (0..tasks)
        .map(|t| tokio::spawn(task(Arc::clone(&store), t, deadline)))
        .collect();
    for t in tasks {
        t.await.expect("an append task panicked");
    }
}
