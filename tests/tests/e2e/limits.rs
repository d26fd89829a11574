//! The server's bounds (issue 11, "bounded everything"): what a request may cost, and how a
//! request past a bound is answered.

use readnet_e2e::*;
use tonic::codec::ProstCodec;
use tonic::{Code, Request, Status};

/// Field 1 as bytes: whatever the method's request has there.
#[derive(Clone, PartialEq, prost::Message)]
struct FieldOne {
    #[prost(bytes = "vec", tag = "1")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Nothing {}

/// Sends `message` as the request of the unary method at `path` and returns the refusal.
async fn refusal<M: prost::Message + Default + Send + Sync + 'static>(
    net: &Net,
    path: &'static str,
    message: M,
) -> Status {
    let mut grpc = tonic::client::Grpc::new(net.channel.clone());
    grpc.ready().await.expect("the connection is ready");
    let codec: ProstCodec<M, Nothing> = ProstCodec::default();
    grpc.unary(
        Request::new(message),
        http::uri::PathAndQuery::from_static(path),
        codec,
    )
    .await
    .expect_err("the request is refused")
}

#[tokio::test]
async fn undecodable_and_oversized_requests_are_invalid_argument_naming_the_field_or_limit() {
    let fixture = Fixture::start().await;
    const CHECKOUT: &str = "/readnet.v1.CirculationService/Checkout";

    // Field 1 of CheckoutRequest is the command id, a string: these bytes are not UTF-8.
    let status = refusal(
        &fixture.net,
        CHECKOUT,
        FieldOne {
            value: vec![0xff, 0xfe, 0xfd],
        },
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("CheckoutRequest.command_id"),
        "{}",
        status.message()
    );

    // Over the 4 MiB a readnet service decodes.
    let status = refusal(
        &fixture.net,
        CHECKOUT,
        FieldOne {
            value: vec![b'x'; 5 * 1024 * 1024],
        },
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("the limit is: 4194304 bytes"),
        "{}",
        status.message()
    );

    // The server keeps serving.
    assert!(fixture.net.head_position().await <= 100);
}

/// The official KurrentDB client, as the first administrator.
fn kurrent(fixture: &Fixture) -> kurrentdb::Client {
    let url = format!(
        "kurrentdb://admin:{}@{}?tls=false",
        fixture.server.admin_token(),
        fixture.server.addr()
    );
    kurrentdb::Client::new(url.parse().expect("a connection string")).expect("a client")
}

fn event() -> kurrentdb::EventData {
    kurrentdb::EventData::binary("Blob", vec![1, 2, 3].into()).id(uuid::Uuid::new_v4())
}

#[tokio::test]
async fn a_stream_name_over_1_kib_is_refused_naming_the_field_and_the_cap() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    let options = kurrentdb::AppendToStreamOptions::default();
    let error = client
        .append_to_stream("s".repeat(64 * 1024), &options, event())
        .await
        .unwrap_err();
    let kurrentdb::Error::Grpc { code, message } = &error else {
        panic!("expected a gRPC status, got {error:?}");
    };
    assert_eq!(*code, Code::InvalidArgument);
    assert!(
        message.starts_with("options.stream_identifier: the stream name")
            && message.ends_with("is 65536 bytes long; at most 1024"),
        "{message}"
    );
    client
        .append_to_stream("s".repeat(1024), &options, event())
        .await
        .expect("a name of 1 KiB is taken");
}

#[tokio::test]
async fn a_backtracking_filter_fails_the_subscription_at_its_limit_naming_the_field() {
    let fixture = Fixture::start().await;
    let client = kurrent(&fixture);
    let stream = format!("{}b", "a".repeat(1000));
    client
        .append_to_stream(stream, &Default::default(), event())
        .await
        .expect("append");
    let filter = kurrentdb::SubscriptionFilter::on_stream_name().regex(r"^(a|a?)+\1$");
    let mut subscription = client
        .subscribe_to_all(&kurrentdb::SubscribeToAllOptions::default().filter(filter))
        .await;
    let error = loop {
        match subscription.next().await {
            Ok(_) => continue,
            Err(error) => break error,
        }
    };
    let kurrentdb::Error::Grpc { code, message } = &error else {
        panic!("expected a gRPC status, got {error:?}");
    };
    assert_eq!(*code, Code::InvalidArgument);
    assert!(
        message.starts_with("filter.stream_identifier.regex: ")
            && message.contains("backtracking steps"),
        "{message}"
    );
}
