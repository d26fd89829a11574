//! The quick suite runs end to end and its report hangs together. No timing thresholds: the
//! numbers depend on the machine.

use readnet_bench::{Counts, Latency, PostgresRows, ServerProcessRows, run_suite};

fn assert_coherent(name: &str, latency: &Latency, count: usize) {
    assert_eq!(latency.count, count, "{name}: count");
    assert_percentiles(name, latency);
}

fn assert_percentiles(name: &str, latency: &Latency) {
    assert!(latency.count > 0, "{name}: some operations");
    assert!(latency.p50 <= latency.p99, "{name}: p50 <= p99");
    assert!(latency.p99 <= latency.max, "{name}: p99 <= max");
    assert!(latency.rate_per_s > 0.0, "{name}: rate > 0");
}

/// An append row ran for its whole window: its rate is over seconds, not a burst.
fn assert_windowed(name: &str, latency: &Latency, counts: &Counts) {
    assert_percentiles(name, latency);
    assert!(
        latency.elapsed >= counts.append_window(),
        "{name}: ran {:?}, the window is {:?}",
        latency.elapsed,
        counts.append_window()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_suite_measures_every_count_it_was_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::quick();
    let no_readnet = "no readnet binary in this test".to_owned();
    let report = run_suite(dir.path(), &counts, Err(no_readnet.clone()))
        .await
        .unwrap();

    assert_coherent("fsync floor", &report.fsync_floor, counts.fsync_samples);
    assert_windowed("durable append", &report.durable_append, &counts);
    assert_eq!(report.group_commit.len(), counts.group_commit.len());
    for (g, &writers) in report.group_commit.iter().zip(&counts.group_commit) {
        assert_eq!(g.writers, writers);
        assert_windowed("group commit", &g.latency, &counts);
    }
    assert_eq!(report.open_time.events, counts.open_events as u64);
    assert_coherent("open time", &report.open_time.latency, counts.opens);
    assert_eq!(report.bytes_per_event.events, counts.open_events as u64);
    assert!(report.bytes_per_event.bytes_per_event > 0.0);
    assert!(
        report.bytes_per_event.index_bytes > 0,
        "a closed log has index files, counted apart from its segments"
    );
    assert_eq!(report.sqlite.len(), counts.sqlite.len());
    for (s, &writers) in report.sqlite.iter().zip(&counts.sqlite) {
        assert_eq!(s.writers, writers);
        assert_windowed("sqlite append", &s.latency, &counts);
    }
    match &report.postgres {
        PostgresRows::Ran(rows) => {
            let clients: Vec<usize> = rows.iter().map(|p| p.clients).collect();
            assert_eq!(clients, counts.postgres);
            for p in rows {
                assert_percentiles("postgresql insert", &p.latency);
            }
            assert_eq!(report.readnet_over_postgres.len(), counts.postgres.len());
        }
        PostgresRows::NotRun(reason) => {
            assert!(reason.starts_with("no PostgreSQL"), "{reason}");
            assert!(report.readnet_over_postgres.is_empty());
        }
    }
    assert_eq!(
        report.server_process_checkouts,
        ServerProcessRows::NotRun(no_readnet.clone())
    );
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
    assert!(
        table.contains(&format!(
            "gRPC checkout, server in its own process: not run: {no_readnet}"
        )),
        "{table}"
    );
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
