//! For auditors and analysts: `readnet replay` and `readnet export` on a real server's data.

use std::path::Path;
use std::process::{Command, Output};

use readnet_availability::Availability;
use readnet_e2e::*;
use readnet_projection::{Snapshots, replay};
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use serde_json::Value;

fn readnet(args: &[&str], data: &Path) -> Output {
    Command::new(readnet_binary())
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("readnet runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Adds one to the first integer inside `value`; false if there is none.
fn tamper(value: &mut Value) -> bool {
    match value {
        Value::Number(n) if n.is_u64() => {
            *value = Value::from(n.as_u64().unwrap() + 1);
            true
        }
        Value::Object(map) => map.values_mut().any(tamper),
        Value::Array(items) => items.iter_mut().any(tamper),
        _ => false,
    }
}

#[tokio::test]
async fn replay_is_deterministic_checks_snapshots_and_export_writes_every_event() {
    let mut fixture = Fixture::start().await;
    let (ok, stdout, stderr) = crate::service::play_demo(&fixture.server).await;
    assert!(ok, "the demo ran\n{stdout}\n{stderr}");
    let data = fixture.server.data_dir().to_path_buf();
    fixture.server.kill_hard();

    // Two replays of the same log print the same bytes.
    let first = readnet(&["replay"], &data);
    let second = readnet(&["replay"], &data);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(first.stdout, second.stdout);
    let report = text(&first.stdout);
    assert!(
        report.contains("net jinan: +850 fen") && report.contains("net zibo: -850 fen"),
        "{report}"
    );
    for projection in ["availability", "statistics", "settlement"] {
        assert!(
            report.lines().any(|l| l.starts_with(projection)),
            "{projection} digest in\n{report}"
        );
    }

    // A snapshot saved from a replay checks out; the same snapshot tampered with does not.
    let head = {
        let store = EmbeddedStore::open(data.join("log"), EmbeddedOptions::default())
            .await
            .expect("the log opens once the server is gone");
        let state: Availability = replay(&store, None, |_| {}).await.expect("replay");
        Snapshots::new(data.join("projections"))
            .save(&state)
            .expect("snapshot saved");
        store.head_position()
    };
    let check = readnet(&["replay", "--check"], &data);
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    assert!(text(&check.stdout).contains(&format!("availability  equal at position {head}")));
    let path = data.join("projections/availability.json");
    let mut snapshot: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(
        tamper(&mut snapshot["state"]),
        "the state holds a number to change"
    );
    std::fs::write(&path, serde_json::to_vec(&snapshot).unwrap()).unwrap();
    let check = readnet(&["replay", "--check"], &data);
    assert_eq!(check.status.code(), Some(1), "a difference fails the check");
    assert!(
        text(&check.stdout).contains("availability  DIFFERS at position"),
        "{}",
        text(&check.stdout)
    );

    // Export: every event, in order, one JSON object a line; statements as CSV.
    let events = readnet(&["export", "events"], &data);
    assert!(events.status.success(), "{}", text(&events.stderr));
    let positions: Vec<u64> = text(&events.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a JSON line")["position"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(positions, (1..=head.get()).collect::<Vec<_>>());
    let csv = readnet(&["export", "statements", "--format", "csv"], &data);
    let csv = text(&csv.stdout);
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("period,status,debtor,creditor,kind,adjustment_of,count,amount_fen,statement_digest")
    );
    assert_eq!(
        rows.filter(|r| r.contains(",provisional,")).count(),
        4,
        "{csv}"
    );
}
