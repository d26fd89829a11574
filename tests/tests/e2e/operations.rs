//! Operations (ADR 0021): `GET /metrics` on the HTTP listener of a real server, parsed as
//! Prometheus's text format, counts what was done to it; the alert rules in `deploy/` name only
//! metrics a scrape has.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};
use readnet_e2e::*;

/// `GET /metrics`, parsed.
async fn scrape(fixture: &Fixture) -> Scrape {
    let (status, body) = crate::tree::http_get(fixture.server.http_addr(), "/metrics").await;
    let text = String::from_utf8(body).expect("the metrics are text");
    assert_eq!(status, 200, "{text}");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("Prometheus text format")
}

fn samples<'a>(scrape: &'a Scrape, metric: &str) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .collect()
}

/// The value of a counter or gauge with these labels (0 when there is no such sample).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape, metric)
        .into_iter()
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map_or(0.0, |s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{metric} is not a number: {other:?}"),
        })
}

/// A histogram's count and sum: its `_count` and `_sum` lines (the parser files the buckets
/// under the histogram's name and these two as untyped samples).
fn histogram(scrape: &Scrape, metric: &str) -> (u64, f64) {
    assert!(
        matches!(
            samples(scrape, metric).first().map(|s| &s.value),
            Some(Value::Histogram(_))
        ),
        "{metric} is a histogram with buckets"
    );
    let count = value(scrape, &format!("{metric}_count"), &[]);
    (count as u64, value(scrape, &format!("{metric}_sum"), &[]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_calls_the_commits_and_the_projections_lag() {
    let fixture = network_jinan_zibo_with(&[
        "--http-listen",
        "127.0.0.1:0",
        "--sip2-listen",
        "127.0.0.1:0",
    ])
    .await;
    // A kiosk asks for the server's status twice (SC status, 99: no login needed).
    let sip2 = fixture.server.sip2_addr();
    tokio::task::spawn_blocking(move || {
        let mut kiosk = crate::sip2::Raw::connect(sip2);
        for _ in 0..2 {
            assert!(kiosk.call("9900302.00").starts_with("98"));
        }
    })
    .await
    .unwrap();
    let desk = fixture.net.at(JN_CENTRAL);
    let patron = card(JINAN, "370102198805052222");
    for item in JN_BOOKS {
        desk.checkout(item, patron.clone())
            .await
            .unwrap_or_else(|s| panic!("Checkout {item}: {s:?}"));
    }
    // A second checkout of a book on loan is refused: counted under its code, not OK.
    let refused = desk
        .checkout(JN_BOOKS[0], patron.clone())
        .await
        .expect_err("the book is on loan");

    // The projections catch up with the log; the lag gauges then say 0.
    let head = fixture.net.head_position().await;
    let mut waited = Duration::ZERO;
    let metrics = loop {
        let metrics = scrape(&fixture).await;
        let behind: f64 = samples(&metrics, "readnet_projection_lag_events")
            .iter()
            .map(|s| match s.value {
                Value::Gauge(v) => v,
                _ => panic!("a gauge"),
            })
            .sum();
        if behind == 0.0 && value(&metrics, "readnet_log_head_position", &[]) == head as f64 {
            break metrics;
        }
        assert!(
            waited < Duration::from_secs(20),
            "projections never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    };

    let checkout = "/readnet.v1.CirculationService/Checkout";
    assert_eq!(
        value(
            &metrics,
            "readnet_grpc_requests_total",
            &[("method", checkout), ("code", "OK")]
        ),
        JN_BOOKS.len() as f64
    );
    let refused_label = match refused.code() {
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        other => panic!("unexpected refusal {other:?}: {refused:?}"),
    };
    assert_eq!(
        value(
            &metrics,
            "readnet_grpc_requests_total",
            &[("method", checkout), ("code", refused_label)]
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "readnet_sip2_requests_total",
            &[("message", "99"), ("outcome", "answered")]
        ),
        2.0
    );
    let register = "/readnet.v1.NetworkAdminService/RegisterLibrary";
    assert_eq!(
        value(
            &metrics,
            "readnet_grpc_requests_total",
            &[("method", register), ("code", "OK")]
        ),
        5.0,
        "five libraries were registered"
    );

    // Every event of this fresh log was committed by this process: the batches' events add up
    // to the head, and there is one fsync per commit.
    let (batches, events) = histogram(&metrics, "readnet_store_commit_batch_events");
    let (syncs, _) = histogram(&metrics, "readnet_store_fsync_seconds");
    let (appends, _) = histogram(&metrics, "readnet_store_append_seconds");
    let (_, appends_in_batches) = histogram(&metrics, "readnet_store_commit_batch_appends");
    assert!(
        batches >= 1 && syncs == batches,
        "{syncs} syncs, {batches} batches"
    );
    assert_eq!(
        appends as f64, appends_in_batches,
        "each append is in one batch"
    );
    assert!(appends >= batches, "{appends} appends in {batches} batches");
    assert_eq!(events, head as f64, "the events committed are the log");

    for projection in ["availability", "statistics", "settlement", "notices"] {
        assert_eq!(
            value(
                &metrics,
                "readnet_projection_position",
                &[("projection", projection)]
            ),
            head as f64,
            "{projection} has read the whole log"
        );
        assert_eq!(
            value(
                &metrics,
                "readnet_projection_lag_seconds",
                &[("projection", projection)]
            ),
            0.0
        );
    }
    assert!(value(&metrics, "readnet_subscriptions_open", &[]) >= 4.0);
    assert!(value(&metrics, "readnet_grpc_connections_open", &[]) >= 1.0);
    assert!(value(&metrics, "process_resident_memory_bytes", &[]) > 1e6);

    // Every metric the alert rules and the dashboard name is in the scrape.
    let families: BTreeSet<&str> = metrics.samples.iter().map(|s| s.metric.as_str()).collect();
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).unwrap(),
    )
    .expect("the alert rules are YAML");
    let mut named = BTreeSet::new();
    let groups = rules["groups"].as_sequence().expect("groups");
    for group in groups {
        for rule in group["rules"].as_sequence().expect("rules") {
            let expr = rule["expr"].as_str().expect("an expr");
            assert!(rule["alert"].as_str().is_some(), "{expr}: a named alert");
            named.extend(metric_names(expr));
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("deploy/grafana/readnet.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 8, "the dashboard has panels: {exprs:?}");
    for expr in &exprs {
        named.extend(metric_names(expr));
    }
    let missing: Vec<_> = named
        .iter()
        .filter(|name| !families.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but not scraped: {missing:?}"
    );
    assert!(named.contains("readnet_projection_lag_seconds"));
}

/// The readnet and process metrics an expression names, histogram suffixes taken off (the
/// parser files `_bucket`, `_sum` and `_count` under the histogram's name).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !(word.starts_with("readnet_") || word.starts_with("process_")) {
            continue;
        }
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| word.strip_suffix(suffix))
            .unwrap_or(word);
        names.push(base.to_owned());
    }
    names
}

fn collect_exprs(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(expr)) = map.get("expr") {
                into.push(expr.clone());
            }
            map.values().for_each(|v| collect_exprs(v, into));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, into)),
        _ => {}
    }
}

fn repo_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_command_id_of_a_call() {
    let fixture = Fixture::start_with_args(&["--log-format", "json", "-vv"]).await;
    fixture
        .net
        .system()
        .join_city(JINAN, "济南")
        .await
        .expect("JoinCity");
    let mut waited = Duration::ZERO;
    loop {
        let logs = fixture.server.stderr_text();
        // The log lines are JSON; the server's notes to its operator (a key it created) are
        // printed as they are.
        let lines: Vec<HashMap<String, serde_json::Value>> = logs
            .lines()
            .filter(|line| line.starts_with('{'))
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let with_command = lines.iter().find(|line| {
            line.get("span")
                .and_then(|span| span.get("command_id"))
                .is_some()
                && line
                    .get("span")
                    .and_then(|span| span.get("method"))
                    .and_then(|m| m.as_str())
                    == Some("/readnet.v1.NetworkAdminService/JoinCity")
        });
        if with_command.is_some() {
            break;
        }
        assert!(
            waited < Duration::from_secs(10),
            "no JSON log line of the JoinCity call with its command id:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
}
