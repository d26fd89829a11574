//! Operations (ADR 0021): the process's metrics recorder and `GET /metrics` on the HTTP
//! listener, in Prometheus's text format.
//!
//! The crates that measure use the `metrics` facade: the embedded store (append latency,
//! group-commit batch sizes, fsync time), the gRPC edge (calls by method and status code, their
//! time) and the SIP2 edge (messages by code and outcome). What is a state rather than an event
//! is read when scraped: the log's head, each projection's position and its lag behind the head
//! in events and in seconds, live subscriptions and the bytes waiting in them, open connections
//! and SIP2 sessions, and the process's resident memory.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use readnet_domain::Clock;
use readnet_store::{AllFrom, Direction, EventStore, bounded};

/// Buckets of the latency histograms, in seconds: from a fast fsync to a slow disk.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets of the group-commit batch sizes (appends or events in one write and one sync).
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// Installs the process's metrics recorder. Call before the store opens: the store and the edges
/// take their handles from the recorder installed when they start.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Prefix("readnet_store_commit_batch_".to_owned()),
            BATCH_BUCKETS,
        )?
        .install_recorder()?;
    describe();
    Ok(handle)
}

/// The HELP lines of every metric.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "readnet_store_append_seconds",
        Unit::Seconds,
        "Time from an append's arrival at the embedded store to its acknowledgement (batch wait, write, fdatasync)."
    );
    describe_histogram!(
        "readnet_store_fsync_seconds",
        Unit::Seconds,
        "Time of each fdatasync of the embedded log (one per group commit)."
    );
    describe_histogram!(
        "readnet_store_commit_batch_appends",
        "Appends in one group commit (one write, one sync)."
    );
    describe_histogram!(
        "readnet_store_commit_batch_events",
        "Events in one group commit."
    );
    describe_counter!(
        "readnet_grpc_requests_total",
        "gRPC calls finished, by method and status code (CANCELLED: the client went away)."
    );
    describe_histogram!(
        "readnet_grpc_request_seconds",
        Unit::Seconds,
        "Time of a gRPC call, from request to the end of its response (a subscription: its life)."
    );
    describe_counter!(
        "readnet_sip2_requests_total",
        "SIP2 requests, by message code and outcome (answered, or fault: the session was closed)."
    );
    describe_gauge!(
        "readnet_log_head_position",
        "The log's head: the position of its last event (the number of events)."
    );
    describe_gauge!(
        "readnet_projection_position",
        "The $all position each projection has read the log through."
    );
    describe_gauge!(
        "readnet_projection_lag_events",
        "Events in the log a projection has not read yet."
    );
    describe_gauge!(
        "readnet_projection_lag_seconds",
        Unit::Seconds,
        "How long the oldest event a projection has not read has been in the log (0 when caught up)."
    );
    describe_gauge!(
        "readnet_subscriptions_open",
        "Live subscriptions (bounded channels with a reader), of clients and projections."
    );
    describe_gauge!(
        "readnet_subscription_buffered_bytes",
        Unit::Bytes,
        "Bytes of events waiting in subscriptions for their readers."
    );
    describe_gauge!(
        "readnet_grpc_connections_open",
        "Connections open on the gRPC listener."
    );
    describe_gauge!(
        "readnet_http_connections_open",
        "Connections open on the HTTP listener (web console, tiles, metrics)."
    );
    describe_gauge!(
        "readnet_sip2_sessions_open",
        "SIP2 sessions (kiosk connections) open."
    );
    describe_gauge!(
        "process_resident_memory_bytes",
        Unit::Bytes,
        "The server process's resident memory (VmRSS)."
    );
}

/// What a scrape reads besides the recorder.
#[derive(Clone)]
pub struct Scrape {
    pub handle: PrometheusHandle,
    pub store: Arc<dyn EventStore>,
    pub clock: Arc<dyn Clock>,
}

/// `GET /metrics`.
pub fn router(scrape: Scrape) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .with_state(scrape)
}

async fn metrics_page(State(scrape): State<Scrape>) -> Response {
    if let Err(e) = read_states(&scrape).await {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the log for the projections' lag failed: {e}\n"),
        )
            .into_response();
    }
    scrape.handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
        .into_response()
}

/// Sets the gauges that are states, as they are now.
async fn read_states(scrape: &Scrape) -> Result<(), readnet_store::StoreError> {
    let head = scrape.store.head_position();
    metrics::gauge!("readnet_log_head_position").set(head.get() as f64);
    let now_us = scrape.clock.now().timestamp_micros();
    for (projection, position) in readnet_projection::runner::following() {
        let behind = head.events_since(position);
        // The oldest event not read yet: how long it has waited is the lag in time.
        let lag_seconds = if behind == 0 {
            0.0
        } else {
            let next = scrape
                .store
                .read_all(AllFrom::Position(position.next()), Direction::Forwards, 1)
                .await?;
            next.first().map_or(0.0, |event| {
                (now_us - event.recorded_at_us).max(0) as f64 / 1e6
            })
        };
        metrics::gauge!("readnet_projection_position", "projection" => projection)
            .set(position.get() as f64);
        metrics::gauge!("readnet_projection_lag_events", "projection" => projection)
            .set(behind as f64);
        metrics::gauge!("readnet_projection_lag_seconds", "projection" => projection)
            .set(lag_seconds);
    }
    metrics::gauge!("readnet_subscriptions_open").set(bounded::open_channels() as f64);
    metrics::gauge!("readnet_subscription_buffered_bytes").set(bounded::buffered_bytes() as f64);
    metrics::gauge!("readnet_grpc_connections_open")
        .set(readnet_server::limits::open_connections() as f64);
    metrics::gauge!("readnet_http_connections_open")
        .set(readnet_server::limits::open_http_connections() as f64);
    metrics::gauge!("readnet_sip2_sessions_open").set(readnet_server::sip2::open_sessions() as f64);
    if let Some(rss) = resident_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    Ok(())
}

/// The process's resident memory, from /proc (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}
