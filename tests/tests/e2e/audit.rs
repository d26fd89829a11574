//! For auditors and analysts: `readnet replay` and `readnet export` on a real server's data.

use std::path::Path;
use std::process::{Command, Output};

use readnet_availability::Availability;
use readnet_domain::Command as DomainCommand;
use readnet_domain::pb;
use readnet_e2e::*;
use readnet_ledger::history::{History, card};
use readnet_ledger::import::append_history;
use readnet_projection::{Payload, Projection};
use readnet_projection::{Snapshots, event_id_at, replay};
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
        // Positions left alone: the state stays at the snapshot's position.
        Value::Object(map) => map
            .iter_mut()
            .filter(|(key, _)| *key != "position")
            .any(|(_, value)| tamper(value)),
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
    // Availability's item rows on disk with a hot set of 64 (ADR 0027): the same bytes, the
    // second time over the file the first left.
    let cold = tempfile::tempdir().unwrap();
    let cold_dir = cold.path().to_str().unwrap();
    for _ in 0..2 {
        let on_disk = readnet(
            &["replay", "--cold-state", cold_dir, "--hot-items", "64"],
            &data,
        );
        assert!(on_disk.status.success(), "{}", text(&on_disk.stderr));
        assert_eq!(on_disk.stdout, first.stdout);
    }
    assert!(cold.path().join("availability-items.redb").exists());
    let report = text(&first.stdout);
    assert!(
        report.contains("net jinan: +1750 fen") && report.contains("net zibo: -1750 fen"),
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
        let event_id = event_id_at(&store, store.head_position())
            .await
            .expect("the head event");
        Snapshots::new(data.join("projections"))
            .save(&state, event_id)
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
    // Tampered with: first naively (the body's checksum no longer fits), then with the state
    // re-encoded and saved properly, so that only the replay can tell.
    let path = data.join("projections/availability.snapshot");
    let saved = std::fs::read(&path).unwrap();
    let mut damaged = saved.clone();
    *damaged.last_mut().unwrap() ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    let check = readnet(&["replay", "--check"], &data);
    assert_eq!(
        check.status.code(),
        Some(1),
        "a refused snapshot fails the check"
    );
    assert!(
        text(&check.stdout).contains("availability  DIFFERS: the saved snapshot is refused"),
        "{}",
        text(&check.stdout)
    );
    std::fs::write(&path, &saved).unwrap();
    let snapshots = Snapshots::new(data.join("projections"));
    let state: Availability = readnet_projection::decode_state(
        &snapshots
            .read_checked("availability")
            .unwrap()
            .unwrap()
            .state,
    )
    .unwrap();
    let mut state = serde_json::to_value(&state).unwrap();
    assert!(tamper(&mut state), "the state holds a number to change");
    let state: Availability = serde_json::from_value(state).unwrap();
    assert_eq!(state.position(), head, "the state is still at the head");
    let store = EmbeddedStore::open(data.join("log"), EmbeddedOptions::default())
        .await
        .unwrap();
    let event_id = event_id_at(&store, head).await.unwrap();
    store.close().await;
    drop(store);
    snapshots.save(&state, event_id).unwrap();
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

/// A log an older version, without bounds on prices, could have written: an October loan of
/// a Zibo book to a Jinan patron; two Zibo books priced at `i64::MAX` fen lent and declared
/// lost in November (and November closed although its statement overflows); a December loan.
fn history_with_prices_beyond_the_bound() -> History {
    let at = |month: u32, day: u32| {
        chrono::TimeZone::with_ymd_and_hms(&chrono_tz::Asia::Shanghai, 2026, month, day, 10, 0, 0)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let mut h = History::new();
    for city in ["jinan", "zibo"] {
        h.run(
            at(10, 1),
            None,
            DomainCommand::JoinCity {
                city: city.into(),
                name: city.into(),
                time_zone: String::new(),
            },
        );
    }
    for (library, city) in [("JN-CENTRAL", "jinan"), ("ZB-CENTRAL", "zibo")] {
        h.run(
            at(10, 1),
            None,
            DomainCommand::RegisterLibrary {
                library: library.into(),
                name: library.into(),
                city: city.into(),
                tier: pb::LibraryTier::Central,
                parent: None,
            },
        );
    }
    for (item, price_fen) in [("ZB-1", 3900), ("ZB-2", i64::MAX), ("ZB-3", i64::MAX)] {
        // Written directly, as a version without the bound did.
        h.push(
            at(10, 2),
            &format!("item-{item}"),
            Payload::ItemCatalogued(pb::ItemCatalogued {
                item: item.into(),
                isbn: String::new(),
                title: format!("title of {item}"),
                author: "author".into(),
                owner_library: "ZB-CENTRAL".into(),
                price_fen: Some(price_fen),
                acquisition: pb::Acquisition::Purchase as i32,
                placed_at: "ZB-CENTRAL".into(),
                in_booth: false,
            }),
        );
    }
    let checkout = |h: &mut History, at, item: &str, number: &str| {
        h.run(
            at,
            Some("ZB-CENTRAL"),
            DomainCommand::Checkout {
                item: item.into(),
                patron: card("jinan", number),
            },
        );
    };
    checkout(&mut h, at(10, 5), "ZB-1", "0001");
    h.run(
        at(10, 9),
        Some("ZB-CENTRAL"),
        DomainCommand::Return {
            item: "ZB-1".into(),
        },
    );
    for item in ["ZB-2", "ZB-3"] {
        checkout(&mut h, at(11, 3), item, "0001");
    }
    for item in ["ZB-2", "ZB-3"] {
        h.run(
            at(11, 20),
            Some("ZB-CENTRAL"),
            DomainCommand::DeclareLost { item: item.into() },
        );
    }
    for period in ["2026-10", "2026-11"] {
        let through_position = h.events().len() as u64;
        h.push(
            at(12, 2),
            "settlement",
            Payload::SettlementPeriodClosed(pb::SettlementPeriodClosed {
                period: period.into(),
                through_position,
            }),
        );
    }
    checkout(&mut h, at(12, 3), "ZB-1", "0002");
    h
}

#[tokio::test]
async fn replay_and_export_report_a_statement_the_log_cannot_sum_and_go_on() {
    let data = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(data.path().join("log"), EmbeddedOptions::default())
            .await
            .unwrap();
        append_history(&store, history_with_prices_beyond_the_bound().drain())
            .await
            .unwrap();
    }

    let replayed = readnet(&["replay"], data.path());
    let (stdout, stderr) = (text(&replayed.stdout), text(&replayed.stderr));
    assert_eq!(replayed.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("statement 2026-10 (final")
            && stdout.contains("statement 2026-11: cannot be computed")
            && stdout.contains("statement 2026-12 (provisional")
            && stdout.contains("net zibo: +100 fen"),
        "{stdout}"
    );
    assert!(
        stderr.contains("settlement 2026-11: the statement cannot be computed")
            && stderr.contains("on the line jinan owes zibo for lost")
            && stderr.contains("1 statement(s) could not be computed"),
        "{stderr}"
    );

    let exported = readnet(&["export", "statements"], data.path());
    assert_eq!(
        exported.status.code(),
        Some(1),
        "{}",
        text(&exported.stderr)
    );
    let statements: Value = serde_json::from_slice(&exported.stdout).expect("a JSON array");
    let periods: Vec<&str> = statements
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["statement"]["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2026-10", "2026-12"]);
    assert!(
        text(&exported.stderr).contains("settlement 2026-11: the statement cannot be computed"),
        "{}",
        text(&exported.stderr)
    );
}
