//! The quick suite runs end to end and its report hangs together. No timing thresholds: the
//! numbers depend on the machine.

use readnet_bench::{Counts, Latency, run_suite};

fn assert_coherent(name: &str, latency: &Latency, count: usize) {
    assert_eq!(latency.count, count, "{name}: count");
    assert!(latency.p50 <= latency.p99, "{name}: p50 <= p99");
    assert!(latency.p99 <= latency.max, "{name}: p99 <= max");
    assert!(latency.rate_per_s > 0.0, "{name}: rate > 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_suite_measures_every_count_it_was_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::quick();
    let report = run_suite(dir.path(), &counts).await.unwrap();

    assert_coherent("fsync floor", &report.fsync_floor, counts.fsync_samples);
    assert_coherent(
        "durable append",
        &report.durable_append,
        counts.durable_appends,
    );
    assert_eq!(report.group_commit.len(), counts.group_commit.len());
    for (g, &(writers, appends)) in report.group_commit.iter().zip(&counts.group_commit) {
        assert_eq!(g.writers, writers);
        assert_coherent("group commit", &g.latency, writers * appends);
    }
    assert_eq!(report.open_time.events, counts.open_events as u64);
    assert_coherent("open time", &report.open_time.latency, counts.opens);
    assert_eq!(report.bytes_per_event.events, counts.open_events as u64);
    assert!(report.bytes_per_event.bytes_per_event > 0.0);
    assert_eq!(report.sqlite.len(), counts.sqlite.len());
    for (s, &(writers, appends)) in report.sqlite.iter().zip(&counts.sqlite) {
        assert_eq!(s.writers, writers);
        assert_coherent("sqlite append", &s.latency, writers * appends);
    }
    let writers: Vec<usize> = report
        .readnet_over_sqlite
        .iter()
        .map(|r| r.writers)
        .collect();
    assert_eq!(
        writers,
        vec![1, 8],
        "a ratio for each writer count both ran"
    );
    assert!(report.readnet_over_sqlite.iter().all(|r| r.ratio > 0.0));
    // Each count runs twice, authentication off then on.
    assert_eq!(report.grpc_checkouts.len(), 2 * counts.grpc_checkouts.len());
    for (pair, &(clients, count)) in report.grpc_checkouts.chunks(2).zip(&counts.grpc_checkouts) {
        assert_eq!(
            pair.iter().map(|g| g.authenticated).collect::<Vec<_>>(),
            vec![false, true]
        );
        for g in pair {
            assert_eq!(g.clients, clients);
            assert_coherent("gRPC checkout", &g.latency, count);
        }
    }
    let replay = &report.replay_rate;
    assert!(
        replay.events >= counts.replay_events as u64,
        "at least the events asked for: {}",
        replay.events
    );
    let passes: Vec<&str> = replay
        .passes
        .iter()
        .map(|p| p.projection.as_str())
        .collect();
    assert_eq!(
        passes,
        vec![
            "availability",
            "statistics",
            "settlement",
            "all three, one pass, one thread each, with digests"
        ]
    );
    assert!(replay.passes.iter().all(|p| p.events_per_s > 0.0));

    let table = report.to_string();
    assert!(table.starts_with("measurement"), "{table}");
    assert!(table.contains("fsync floor"), "{table}");
    assert!(table.contains("gRPC checkout, 64 clients"), "{table}");
    assert!(table.contains("replay of a generated log"), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    assert!(
        json["fsync_floor"]["p99_us"].as_f64().unwrap() > 0.0,
        "{json}"
    );
    assert!(
        json["grpc_checkouts"][0]["latency"]["p99_us"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{json}"
    );
    assert!(
        json["replay_rate"]["passes"][3]["events_per_s"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{json}"
    );
}
