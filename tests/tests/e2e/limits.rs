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

mod subscribers {
    use std::time::Duration;

    use readnet_e2e::*;
    use readnet_proto::kurrentdb::shared::Empty;
    use readnet_proto::kurrentdb::streams::read_req::Options;
    use readnet_proto::kurrentdb::streams::read_req::options::{
        AllOptions, CountOption, Position, StreamOption, SubscriptionOptions,
        all_options::AllOption,
    };
    use readnet_proto::kurrentdb::streams::read_resp::{Content, read_event};
    use readnet_proto::kurrentdb::streams::streams_client::StreamsClient;
    use readnet_proto::kurrentdb::streams::{ReadReq, ReadResp};
    use tonic::{Code, Status, Streaming};

    const EVENT_BYTES: usize = 256 * 1024;
    const EVENTS: usize = 128;
    const SUBSCRIBERS: usize = 100;

    fn subscribe_to_all(after: Option<u64>) -> ReadReq {
        let all_option = match after {
            None => AllOption::Start(Empty {}),
            Some(p) => AllOption::Position(Position {
                commit_position: p,
                prepare_position: p,
            }),
        };
        ReadReq {
            options: Some(Options {
                stream_option: Some(StreamOption::All(AllOptions {
                    all_option: Some(all_option),
                })),
                count_option: Some(CountOption::Subscription(SubscriptionOptions {})),
                ..Default::default()
            }),
        }
    }

    async fn subscribe(net: &Net, after: Option<u64>) -> Streaming<ReadResp> {
        StreamsClient::new(net.channel.clone())
            .read(subscribe_to_all(after))
            .await
            .expect("a subscription")
            .into_inner()
    }

    /// The positions of the events a subscription delivers until it ends with a status (or has
    /// delivered every position through `head`).
    async fn positions_until_end(
        subscription: &mut Streaming<ReadResp>,
        head: u64,
    ) -> (Vec<u64>, Option<Status>) {
        let mut positions = Vec::new();
        loop {
            let message = tokio::time::timeout(WAIT, subscription.message()).await;
            match message.expect("a message in time") {
                Ok(Some(ReadResp {
                    content: Some(Content::Event(event)),
                })) => {
                    let Some(read_event::Position::CommitPosition(p)) = event.position else {
                        panic!("an event without a position: {event:?}");
                    };
                    positions.push(p);
                    if p == head {
                        return (positions, None);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!("the subscription ended without a status"),
                Err(status) => return (positions, Some(status)),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_subscribers_over_large_events_hold_bounded_memory_then_are_cut_off_resumably()
    {
        let fixture = Fixture::start_with_args(&["--stalled-client-timeout-ms", "4000"]).await;
        let client = super::kurrent(&fixture);
        // 32 MiB of events, in appends of 4 MiB.
        let mut head = 0;
        for _ in 0..EVENTS / 16 {
            let events = (0..16).map(|_| {
                kurrentdb::EventData::binary("Blob", vec![7u8; EVENT_BYTES].into())
                    .id(uuid::Uuid::new_v4())
            });
            let written = client
                .append_to_stream("blobs", &Default::default(), events.collect::<Vec<_>>())
                .await
                .expect("append");
            head = written.position.commit;
        }
        let url = fixture.server.url();
        let token = fixture.server.admin_token();
        let before = fixture.server.rss_bytes();

        // Subscribers that take nothing past the confirmation, each on a connection of its own
        // (unread data on one HTTP/2 stream holds up the whole connection's flow-control
        // window, so a second subscriber on it would not even get its confirmation).
        let mut stalled = Vec::new();
        for _ in 0..SUBSCRIBERS {
            let net = Net::connect(&url, Some(&token)).await;
            let mut subscription = subscribe(&net, None).await;
            subscription.message().await.expect("the confirmation");
            stalled.push(subscription);
        }
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let held = fixture.server.rss_bytes().saturating_sub(before);
        eprintln!(
            "{SUBSCRIBERS} stalled subscribers behind {} MiB of events: server RSS {} MiB -> +{} MiB",
            (EVENTS * EVENT_BYTES) >> 20,
            before >> 20,
            held >> 20
        );
        // Each holds at most a few of the server's buffers (store channel and page, response
        // channel, HTTP/2 send buffer: about 1.5 MiB), never the 32 MiB it is behind
        // (100 x 32 MiB = 3.2 GB before the bounds).
        assert!(
            held < (SUBSCRIBERS as u64) * 3 * 1024 * 1024,
            "{SUBSCRIBERS} stalled subscribers cost the server {} MiB",
            held >> 20
        );

        // Past the stall timeout, each is cut off; reading on, it gets what was held for it,
        // then the status naming where to resume, and resuming from there loses nothing.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        let mut first = stalled.swap_remove(0);
        let (positions, status) = positions_until_end(&mut first, head).await;
        let status = status.expect("cut off before the head");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        let last = *positions.last().expect("some events were held for it");
        assert!(
            status.message().contains(&format!(
                "the last event it was sent is at position {last} "
            )),
            "{}",
            status.message()
        );
        assert_eq!(positions, (1..=last).collect::<Vec<_>>());
        let net = Net::connect(&url, Some(&token)).await;
        let mut resumed = subscribe(&net, Some(last)).await;
        let (rest, status) = positions_until_end(&mut resumed, head).await;
        assert!(status.is_none(), "{status:?}");
        assert_eq!(rest, (last + 1..=head).collect::<Vec<_>>());
    }
}

mod connections {
    use std::time::{Duration, Instant};

    use readnet_e2e::*;
    use tokio::io::AsyncReadExt as _;

    /// The server's established TCP connections (`/proc/net/tcp`: local port the server's).
    fn sockets(server: &TestServer) -> usize {
        let port = format!(":{:04X}", server.addr().port());
        ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|table| std::fs::read_to_string(table).ok())
            .flat_map(|table| {
                table
                    .lines()
                    .skip(1)
                    .map(|line| {
                        let fields: Vec<&str> = line.split_whitespace().collect();
                        (fields[1].to_owned(), fields[3].to_owned())
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|(local, state)| local.ends_with(&port) && state == "01")
            .count()
    }

    /// Polls `condition` every 50 ms until it holds, at most [`WAIT`].
    async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
        let started = Instant::now();
        while !condition() {
            assert!(started.elapsed() < WAIT, "never: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_connection_that_never_completes_its_handshake_is_closed_at_the_timeout() {
        let fixture = Fixture::start_with_args(&["--handshake-timeout-ms", "500"]).await;
        let mut silent = tokio::net::TcpStream::connect(fixture.server.addr())
            .await
            .expect("connect");
        let started = Instant::now();
        // The server speaks first (its HTTP/2 settings); then, at the timeout, it hangs up.
        let mut received = Vec::new();
        let read = tokio::time::timeout(WAIT, silent.read_to_end(&mut received))
            .await
            .expect("the server closes the connection");
        assert!(received.len() < 1024, "{read:?}: {received:?}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
        // The server goes on serving (on a new connection: the fixture's, which made no call
        // yet, was closed at the same timeout).
        let net = Net::connect(&fixture.server.url(), Some(&fixture.server.admin_token())).await;
        assert!(net.head_position().await > 0);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_one_with_an_open_subscription_is_not() {
        let fixture = Fixture::start_with_args(&["--idle-timeout-ms", "800"]).await;
        // The fixture's own connection made a call, and then went idle.
        eventually("the fixture's idle connection is closed", || {
            sockets(&fixture.server) == 0
        })
        .await;

        let net = Net::connect(&fixture.server.url(), Some(&fixture.server.admin_token())).await;
        let mut subscription = net
            .ledger
            .clone()
            .subscribe_all(v1::SubscribeAllRequest { after_position: 0 })
            .await
            .expect("subscribe")
            .into_inner();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert_eq!(
            sockets(&fixture.server),
            1,
            "the subscriber keeps its connection"
        );
        // Still live: an event recorded now reaches it.
        let auditor = v1::Grant {
            role: v1::Role::Auditor as i32,
            ..Default::default()
        };
        fixture
            .net
            .add_principal("auditor-after-idle", auditor)
            .await
            .expect("a principal added");
        let head = fixture.net.head_position().await;
        let mut seen = 0;
        while seen < head {
            match tokio::time::timeout(WAIT, subscription.message()).await {
                Ok(Ok(Some(v1::SubscribeAllResponse {
                    message: Some(v1::subscribe_all_response::Message::Event(event)),
                }))) => seen = event.position,
                Ok(Ok(Some(_))) => {}
                other => panic!("the subscription ended: {other:?}"),
            }
        }
        drop(subscription);
        drop(net);
        eventually("every connection is closed once idle", || {
            sockets(&fixture.server) == 0
        })
        .await;
    }

    #[tokio::test]
    async fn past_the_connection_cap_a_client_waits_until_a_connection_closes() {
        let fixture = Fixture::start_with_args(&["--max-connections", "2"]).await;
        let url = fixture.server.url();
        let token = fixture.server.admin_token();
        // The fixture's connection and a subscriber's: the cap.
        let subscriber = Net::connect(&url, Some(&token)).await;
        let subscription = subscriber
            .ledger
            .clone()
            .subscribe_all(v1::SubscribeAllRequest { after_position: 0 })
            .await
            .expect("subscribe");
        let third = tonic::transport::Endpoint::from_shared(url.clone())
            .unwrap()
            .connect_lazy();
        let third = Net::over(third, Some(&token));
        let call = tokio::spawn(async move { third.head_position().await });
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(!call.is_finished(), "a third connection is not served");
        drop(subscription);
        drop(subscriber);
        let head = tokio::time::timeout(WAIT, call)
            .await
            .expect("served once a connection closed")
            .expect("the call");
        assert!(head > 0);
    }

    /// CPU time the server has used, in clock ticks (`/proc/<pid>/stat`: user + system).
    fn cpu_ticks(server: &TestServer) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.pid()))
            .expect("the server's /proc stat");
        let after_name = &stat[stat.rfind(')').expect("a process name") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    #[tokio::test]
    async fn at_the_file_descriptor_limit_accept_errors_are_logged_and_backed_off() {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start_with_fd_limit(&dir.path().join("data"), 64);
        let net = Net::connect(&server.url(), Some(&server.admin_token())).await;
        assert!(net.head_position().await > 0);
        // More connections than the server has descriptors for: the kernel queues them, and
        // every accept fails with EMFILE.
        let mut waiting = Vec::new();
        for _ in 0..100 {
            waiting.push(
                tokio::net::TcpStream::connect(server.addr())
                    .await
                    .expect("connect"),
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = cpu_ticks(&server);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let used = cpu_ticks(&server) - before;
        // Not spinning on accept: a spinning loop takes the whole 2 s (200 ticks).
        assert!(used < 50, "{used} ticks of CPU in 2 s at the limit");
        let log = server.stderr_text();
        assert!(
            log.contains("accepting a connection failed"),
            "no log line:\n{log}"
        );
        // A connection made before keeps being served; after the others go, new ones are too.
        assert!(net.head_position().await > 0);
        drop(waiting);
        let fresh = tokio::time::timeout(
            WAIT,
            Net::connect(&server.url(), Some(&server.admin_token())),
        )
        .await
        .expect("a new connection once descriptors are free");
        assert!(fresh.head_position().await > 0);
    }
}
