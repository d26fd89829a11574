//! Crash safety: acknowledged appends survive SIGKILL; torn tails are cut off on open.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use readnet_store::embedded::EmbeddedStore;
use readnet_store::{
    EventStore, Position, RecordedEvent, Revision, StoreError, StreamState, StreamWrite,
};
use uuid::Uuid;

use crate::common::{append_bytes, event, noise, open, options, read_everything, segments};

/// The data the crash loop writes for `revision` of `stream` (a copy of its `payload`).
fn payload(stream: &str, revision: u64) -> Vec<u8> {
    let len = 16 + (revision as usize * 131) % 700;
    format!("{stream}#{revision};")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

/// An event the crash loop reported as acknowledged.
struct Acknowledged {
    stream: String,
    revision: u64,
    position: u64,
    event_id: Uuid,
}

fn parse(line: &str) -> Acknowledged {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "line {line:?}");
    Acknowledged {
        stream: fields[0].to_owned(),
        revision: fields[1].parse().unwrap(),
        position: fields[2].parse().unwrap(),
        event_id: fields[3].parse().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments, so the kill can also land around a rotation.
    let mut child = Command::new(env!("CARGO_BIN_EXE_readnet-store-crashloop"))
        .args([dir.path().to_str().unwrap(), "8", "65536", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the crash loop");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut acknowledged = Vec::new();
    let mut line = String::new();
    while acknowledged.len() < 2000 {
        line.clear();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(
            n > 0 && line.ends_with('\n'),
            "the crash loop stopped early"
        );
        acknowledged.push(parse(&line));
    }
    // While the other process runs, the directory is its own.
    match EmbeddedStore::open(dir.path(), options()).await {
        Err(StoreError::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked while the crash loop runs, got {other:?}"),
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Lines already in the pipe were acknowledged before the kill too; a cut-off last line
    // was not fully reported and is skipped.
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 || !line.ends_with('\n') {
            break;
        }
        acknowledged.push(parse(&line));
    }

    let store = open(dir.path()).await;
    let all = read_everything(&store).await;
    let positions: Vec<u64> = all.iter().map(|e| e.position.get()).collect();
    assert_eq!(positions, (1..=all.len() as u64).collect::<Vec<_>>());
    for ack in &acknowledged {
        let event = all
            .get(ack.position as usize - 1)
            .unwrap_or_else(|| panic!("acknowledged position {} is gone", ack.position));
        assert_eq!(
            (&event.stream, event.revision, event.event_id),
            (&ack.stream, Revision::new(ack.revision), ack.event_id)
        );
        assert_eq!(event.data, payload(&ack.stream, ack.revision));
    }
    // Whatever else survived is whole too: dense revisions, intact data.
    let mut revisions = std::collections::HashMap::new();
    for event in &all {
        let next = revisions.entry(event.stream.clone()).or_insert(0u64);
        assert_eq!(event.revision, Revision::new(*next));
        assert_eq!(event.data, payload(&event.stream, event.revision.get()));
        *next += 1;
    }
    let head = store.head_position();
    assert!(head >= Position::new(acknowledged.iter().map(|a| a.position).max().unwrap()));
    let r = store
        .append("after-crash", StreamState::NoStream, vec![event("x")])
        .await
        .unwrap();
    assert_eq!(r.position, head.next());
}

/// A store holding six events (the last three one append), closed; returns them and the
/// last segment's path and length.
async fn six_events(dir: &Path) -> (Vec<RecordedEvent>, PathBuf, u64) {
    let store = open(dir).await;
    for i in 0..3 {
        store
            .append("s", StreamState::Any, vec![event(&i.to_string())])
            .await
            .unwrap();
    }
    store
        .append_multi(vec![
            StreamWrite {
                stream: "s".into(),
                expected: StreamState::Revision(Revision::new(2)),
                events: vec![event("3"), event("4")],
            },
            StreamWrite {
                stream: "t".into(),
                expected: StreamState::NoStream,
                events: vec![event("t0")],
            },
        ])
        .await
        .unwrap();
    let all = read_everything(&store).await;
    drop(store);
    let segment = segments(dir).pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    (all, segment, len)
}

/// Reopening finds exactly `expected`, the segment cut back to `len`, and appends go on.
async fn assert_recovers(dir: &Path, expected: &[RecordedEvent], segment: &Path, len: u64) {
    let store = open(dir).await;
    assert_eq!(read_everything(&store).await, expected);
    assert_eq!(std::fs::metadata(segment).unwrap().len(), len);
    let next = expected.len() as u64 + 1;
    let r = store
        .append("after", StreamState::Any, vec![event("after")])
        .await
        .unwrap();
    assert_eq!(r.position, Position::new(next));
    drop(store);
    let store = open(dir).await;
    assert_eq!(store.head_position(), Position::new(next));
    assert_eq!(read_everything(&store).await[..expected.len()], *expected);
}

#[tokio::test]
async fn a_header_claiming_more_bytes_than_follow_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (all, segment, len) = six_events(dir.path()).await;
    let mut torn = Vec::new();
    torn.extend_from_slice(&300u32.to_le_bytes());
    torn.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    torn.extend_from_slice(&noise(7, 120));
    append_bytes(&segment, &torn);
    assert_recovers(dir.path(), &all, &segment, len).await;
    let kept = segment.with_extension(format!("torn-{len}"));
    assert_eq!(
        std::fs::read(&kept).expect("the dropped bytes are kept beside the segment"),
        torn
    );
}

#[tokio::test]
async fn a_random_tail_shorter_than_a_header_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (all, segment, len) = six_events(dir.path()).await;
    append_bytes(&segment, &noise(11, 5));
    assert_recovers(dir.path(), &all, &segment, len).await;
}

#[tokio::test]
async fn a_whole_last_record_of_random_bytes_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (all, segment, len) = six_events(dir.path()).await;
    let mut torn = Vec::new();
    torn.extend_from_slice(&64u32.to_le_bytes());
    torn.extend_from_slice(&noise(13, 4 + 64));
    append_bytes(&segment, &torn);
    assert_recovers(dir.path(), &all, &segment, len).await;
}

#[tokio::test]
async fn a_zero_filled_tail_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (all, segment, len) = six_events(dir.path()).await;
    append_bytes(&segment, &[0; 4096]);
    assert_recovers(dir.path(), &all, &segment, len).await;
}

#[tokio::test]
async fn an_append_cut_short_is_dropped_whole_on_open() {
    // The directory as it stood before the last append (three events acknowledged), with the
    // segment as a crash during that append left it: two of its three records written.
    let before = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (all, segment, _) = six_events(dir.path()).await;
    let store = open(before.path()).await;
    for event in &all[..3] {
        store
            .append(
                &event.stream,
                StreamState::Any,
                vec![readnet_store::EventData {
                    event_id: event.event_id,
                    event_type: event.event_type.clone(),
                    content_type: event.content_type,
                    metadata: event.metadata.clone(),
                    data: event.data.clone(),
                }],
            )
            .await
            .unwrap();
    }
    drop(store);
    // Keep two of the last append's three records: valid records, but the append's end is
    // missing, so none of it may appear.
    let offsets = crate::common::record_offsets(&segment);
    let mut cut = std::fs::read(&segment).unwrap();
    cut.truncate(offsets[5] as usize);
    let torn = segments(before.path()).pop().unwrap();
    std::fs::write(&torn, &cut).unwrap();
    let store = open(before.path()).await;
    let recovered = read_everything(&store).await;
    assert_eq!(recovered.len(), 3);
    for (got, want) in recovered.iter().zip(&all[..3]) {
        assert_eq!((got.event_id, &got.data), (want.event_id, &want.data));
    }
    assert_eq!(std::fs::metadata(&torn).unwrap().len(), offsets[3]);
}
