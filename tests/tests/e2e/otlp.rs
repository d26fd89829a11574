//! `readnet serve --otlp-endpoint`: each call's span, with its command id, reaches an
//! OpenTelemetry collector over OTLP/gRPC (here a small one in the test process).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use readnet_e2e::v1;
use readnet_e2e::*;
use uuid::Uuid;

/// A span as the collector received it: its name, its attributes as text, and the service
/// named by its resource.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    attributes: Vec<(String, String)>,
    service: String,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default, Clone)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref()))
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                received.push(Received {
                    name: span.name,
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                    service: service.clone(),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkouts_span_with_its_command_id_reaches_the_otlp_collector() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    let collector = Collector::default();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let endpoint = format!("http://{collector_addr}");
    let fixture = network_jinan_zibo_with(&["--otlp-endpoint", &endpoint]).await;

    let command_id = Uuid::new_v4().to_string();
    let desk = fixture.net.at(ZB_CENTRAL);
    let request = desk.request(v1::CheckoutRequest {
        command_id: command_id.clone(),
        item: ZB_BOOKS[0].to_owned(),
        card: Some(card(JINAN, "370102199001011234")),
        ..Default::default()
    });
    fixture
        .net
        .circulation
        .clone()
        .checkout(request)
        .await
        .expect("Checkout");

    // The server stops (SIGTERM, as a service manager stops it) and flushes its spans; or the
    // batch goes out on its five-second schedule first. Either way it arrives.
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &fixture.server.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(stopped.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let span = loop {
        let found = collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.attribute("command_id") == Some(command_id.as_str()))
            .cloned();
        if let Some(span) = found {
            break span;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no span with command id {command_id} among {} received; server stderr:\n{}",
            collector.spans.lock().unwrap().len(),
            fixture.server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(span.name, "grpc", "{span:?}");
    assert_eq!(
        span.attribute("method"),
        Some("/readnet.v1.CirculationService/Checkout"),
        "{span:?}"
    );
    assert_eq!(span.service, "readnet", "{span:?}");
    // Every call of the set-up has its span too, with its command id.
    let with_ids = collector
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.attribute("command_id").is_some())
        .count();
    assert!(with_ids > 10, "{with_ids} spans with a command id");
}
