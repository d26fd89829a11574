//! The server as an operator and tools see it: health, reflection, and the demo played
//! against it.

use std::process::Stdio;

use prost::Message as _;
use readnet_e2e::*;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

/// Longest the demo may take.
const DEMO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[tokio::test]
async fn health_and_reflection_are_served() {
    let fixture = Fixture::start().await;
    let mut health = HealthClient::new(fixture.net.channel.clone());
    for service in [
        "",
        "readnet.v1.NetworkAdminService",
        "readnet.v1.CirculationService",
        "readnet.v1.LedgerService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("health check of {service:?}: {s:?}"))
            .into_inner()
            .status;
        assert_eq!(
            status,
            ServingStatus::Serving as i32,
            "{service:?} is serving"
        );
    }
    refused(
        health
            .check(HealthCheckRequest {
                service: "readnet.v1.Nonexistent".to_owned(),
            })
            .await,
        Code::NotFound,
        "",
        "health of a service that does not exist",
    );

    let mut reflection = ServerReflectionClient::new(fixture.net.channel.clone());
    let ask = |message: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([
            ask(MessageRequest::ListServices(String::new())),
            ask(MessageRequest::FileContainingSymbol(
                "readnet.v1.CirculationService".to_owned(),
            )),
        ]))
        .await
        .expect("ServerReflectionInfo")
        .into_inner();

    let next = |answer: Option<_>| match answer {
        Some(response) => response,
        None => panic!("the reflection stream ended early"),
    };
    let listed = next(answers.message().await.expect("a reflection answer"));
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("expected a service list, got {listed:?}");
    };
    let services: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "readnet.v1.CirculationService",
        "readnet.v1.LedgerService",
        "readnet.v1.NetworkAdminService",
        "readnet.v1.AvailabilityService",
        "readnet.v1.StatisticsService",
        "readnet.v1.SettlementService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.contains(&expected),
            "reflection lists {expected}: {services:?}"
        );
    }

    let file = next(answers.message().await.expect("a reflection answer"));
    let Some(MessageResponse::FileDescriptorResponse(files)) = file.message_response else {
        panic!("expected file descriptors, got {file:?}");
    };
    let circulation = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| {
            prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("a file descriptor")
        })
        .flat_map(|file| file.service)
        .find(|service| service.name() == "CirculationService")
        .expect("the file defining readnet.v1.CirculationService");
    let methods: Vec<&str> = circulation.method.iter().map(|m| m.name()).collect();
    assert!(methods.contains(&"Checkout"), "{methods:?}");
    assert!(methods.contains(&"BoothSwap"), "{methods:?}");
}

/// Runs `readnet demo --server <url> --data <its data directory>` (the demo acts as the
/// server's first administrator); returns (success, stdout, stderr).
pub(crate) async fn play_demo(server: &TestServer) -> (bool, String, String) {
    let child = tokio::process::Command::new(readnet_binary())
        .args(["demo", "--server", &server.url()])
        .arg("--data")
        .arg(server.data_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting readnet demo");
    let output = tokio::time::timeout(DEMO_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("readnet demo did not finish within {DEMO_TIMEOUT:?}"))
        .expect("readnet demo's output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn demo_runs_against_a_live_server() {
    let fixture = Fixture::start().await;
    let url = fixture.server.url();
    let (ok, stdout, stderr) = play_demo(&fixture.server).await;
    assert!(
        ok,
        "readnet demo --server {url} failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver stderr:\n{}",
        fixture.server.stderr_text()
    );
    let head = fixture.net.head_position().await;
    assert!(head > 0, "the demo's story is in the server's log");

    // Its barcodes and cards carry a per-run tag: it plays again against the same server.
    let (ok, stdout, stderr) = play_demo(&fixture.server).await;
    assert!(
        ok,
        "a second readnet demo against the same server failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        fixture.net.head_position().await > head,
        "the second run wrote its own story"
    );
}
