//! `readnet serve --otlp-endpoint URL`: the server's spans sent to an OpenTelemetry collector
//! over OTLP/gRPC (ADR 0021, amended).
//!
//! The spans are those the server opens anyway: `grpc{method, command_id}` around each call and
//! `sip2{message, command_id}` around each SIP2 message; `tracing-opentelemetry` turns their
//! fields into span attributes. The SDK's batch processor keeps at most 2,048 finished spans and
//! sends them in batches of at most 512, every five seconds, on a thread of its own (the
//! exporter's tonic channel runs on the server's runtime); a span that finds the queue full is
//! dropped, never waited for, so a collector that is down or slow never holds a call up.
//! [`shutdown`] sends what is queued when the server stops.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// The exporter's deadline for one batch.
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A tracer provider exporting to the collector at `endpoint` (`http://host:4317`, or
/// `https://…` checked against the system's roots). Must be called inside the runtime: the
/// exporter's channel spawns its worker there. Nothing is connected until the first batch.
pub fn provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let https = endpoint.starts_with("https://");
    if !https && !endpoint.starts_with("http://") {
        anyhow::bail!(
            "--otlp-endpoint {endpoint:?}: give the collector's OTLP/gRPC URL with its scheme, e.g. http://127.0.0.1:4317"
        );
    }
    let mut exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT);
    if https {
        exporter =
            exporter.with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
    }
    let exporter = exporter
        .build()
        .with_context(|| format!("--otlp-endpoint {endpoint}: cannot make the exporter"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("readnet")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build())
}

/// The `tracing` layer that hands spans to `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("readnet"))
}

/// Sends the spans still queued and stops the exporter. The SDK blocks while it flushes, and
/// the flush needs the runtime's threads to drive the channel: it runs off them.
pub async fn shutdown(provider: SdkTracerProvider) {
    match tokio::task::spawn_blocking(move || provider.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("warning: the last spans were not all exported: {error}"),
        Err(error) => eprintln!("warning: the span exporter's shutdown failed: {error}"),
    }
}
