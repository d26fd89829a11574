//! The notices feed end to end (ADR 0016): a "hold ready" notice reaches a gateway once, and a
//! gateway that acknowledged it is not sent it again after the server is killed and restarted;
//! what it did not acknowledge comes again (at least once).

use std::time::Duration;

use readnet_e2e::v1::{
    self, NoticeKind, SubscribeNoticesRequest, notice_service_client::NoticeServiceClient,
};
use readnet_e2e::*;
use tonic::Streaming;

/// The ISBN the fixture's books are catalogued with.
const ISBN: &str = "9787020002207";

async fn subscribe(net: &Net, gateway: &str) -> Streaming<v1::SubscribeNoticesResponse> {
    NoticeServiceClient::new(net.channel.clone())
        .subscribe_notices(SubscribeNoticesRequest {
            gateway: gateway.to_owned(),
        })
        .await
        .expect("SubscribeNotices")
        .into_inner()
}

/// The next notice, within a few seconds.
async fn next(stream: &mut Streaming<v1::SubscribeNoticesResponse>) -> v1::Notice {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a notice within 10 s")
        .expect("the stream goes on")
        .expect("a message")
        .notice
        .expect("a notice")
}

/// Nothing more arrives for a while.
async fn quiet(stream: &mut Streaming<v1::SubscribeNoticesResponse>) {
    let more = tokio::time::timeout(Duration::from_millis(700), stream.message()).await;
    assert!(more.is_err(), "no further notice, got {more:?}");
}

#[tokio::test]
async fn a_hold_ready_notice_is_sent_once_and_not_again_after_a_crash_once_acknowledged() {
    let mut fixture = network_jinan_zibo().await;
    let net = fixture.net.clone();
    let app = net.acting(None, Some("app"));
    let placed = accepted(
        app.place_hold(card(JINAN, "370102199001011234"), ISBN, JN_CENTRAL)
            .await,
        "PlaceHold, ready at once",
    );
    let receipt = placed.receipt.expect("a receipt");
    assert!(event_types(&receipt).contains(&"HoldReady"));

    let mut feed = subscribe(&net, "wechat").await;
    let ready = next(&mut feed).await;
    assert_eq!(ready.kind(), NoticeKind::HoldReady);
    assert_eq!(ready.sequence, 1);
    assert_eq!(
        ready.id,
        format!("hold-ready/{}/{}", placed.hold, ready.item)
    );
    assert_eq!(ready.library, JN_CENTRAL);
    assert!(
        !ready.patron_id.is_empty(),
        "the gateway learns whom to tell"
    );
    quiet(&mut feed).await;

    // The gateway delivered it and says so; a second reader's copy is ready after that, and
    // the gateway is killed with the server before acknowledging it.
    accepted(
        NoticeServiceClient::new(net.channel.clone())
            .acknowledge_notices(
                net.acting(None, None)
                    .request(v1::AcknowledgeNoticesRequest {
                        gateway: "wechat".to_owned(),
                        through_sequence: ready.sequence,
                        ..Default::default()
                    }),
            )
            .await,
        "AcknowledgeNotices",
    );
    let second = accepted(
        app.place_hold(card(ZIBO, "370303199202023456"), ISBN, JN_CENTRAL)
            .await,
        "a second hold, ready at once",
    );
    let unacknowledged = next(&mut feed).await;
    assert_eq!(unacknowledged.sequence, 2);
    assert_eq!(unacknowledged.hold, second.hold);
    drop(feed);

    fixture.crash_and_restart().await;
    let net = fixture.net.clone();

    // After the crash: not the acknowledged notice, the unacknowledged one again (same id,
    // same sequence), and nothing else.
    let mut feed = subscribe(&net, "wechat").await;
    let again = next(&mut feed).await;
    assert_eq!(
        (again.sequence, again.id.as_str()),
        (unacknowledged.sequence, unacknowledged.id.as_str())
    );
    quiet(&mut feed).await;

    // A gateway's checkpoint never moves back.
    refused(
        NoticeServiceClient::new(net.channel.clone())
            .acknowledge_notices(
                net.acting(None, None)
                    .request(v1::AcknowledgeNoticesRequest {
                        gateway: "wechat".to_owned(),
                        through_sequence: 0,
                        ..Default::default()
                    }),
            )
            .await,
        tonic::Code::FailedPrecondition,
        "only moves forward",
        "an acknowledgement going back",
    );
    // Another gateway has its own checkpoint: it is sent both.
    let mut sms = subscribe(&net, "sms").await;
    assert_eq!(next(&mut sms).await.sequence, 1);
    assert_eq!(next(&mut sms).await.sequence, 2);
}

/// `readnet notices --gateway GATEWAY ARGS --json` against the fixture's server: the notices
/// it printed, one JSON object a line.
fn notices_cli(fixture: &Fixture, gateway: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let data = fixture.server.data_dir().to_str().expect("a UTF-8 path");
    let output = std::process::Command::new(readnet_binary())
        .args([
            "notices",
            "--gateway",
            gateway,
            "--json",
            "--idle-secs",
            "2",
        ])
        .args(args)
        .args(["--server", &fixture.server.url(), "--data", data])
        .output()
        .expect("readnet notices runs");
    assert!(
        output.status.success(),
        "readnet notices {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notices_command_prints_each_notice_once_it_acknowledged_and_again_one_it_did_not() {
    let fixture = Fixture::start().await;
    let (ok, stdout, stderr) = crate::service::play_demo(&fixture.server).await;
    assert!(ok, "the demo ran\n{stdout}\n{stderr}");

    // The demo's held copy was ready at Zhoucun: its reader is told, once.
    let first = notices_cli(&fixture, "sms-cli", &[]);
    let sequences: Vec<u64> = first
        .iter()
        .map(|n| {
            let sequence = &n["sequence"];
            sequence
                .as_u64()
                .or_else(|| sequence.as_str()?.parse().ok())
                .unwrap_or_else(|| panic!("a sequence number in {n}"))
        })
        .collect();
    assert_eq!(
        sequences,
        (1..=first.len() as u64).collect::<Vec<_>>(),
        "dense from 1, in order: {first:?}"
    );
    let ready: Vec<_> = first
        .iter()
        .filter(|n| n["kind"] == "NOTICE_KIND_HOLD_READY")
        .collect();
    assert_eq!(ready.len(), 1, "{first:?}");
    assert_eq!(ready[0]["library"], "ZB-ZHOUCUN-07");
    // Acknowledged as printed: the next run has nothing to say.
    assert_eq!(
        notices_cli(&fixture, "sms-cli", &[]),
        Vec::<serde_json::Value>::new()
    );

    // Another gateway keeps its own checkpoint; without acknowledging, it hears the same again.
    let once = notices_cli(&fixture, "wechat-cli", &["--no-ack", "--limit", "1"]);
    let again = notices_cli(&fixture, "wechat-cli", &["--no-ack", "--limit", "1"]);
    assert_eq!(once.len(), 1);
    assert_eq!(once, again, "not acknowledged: delivered again");
    assert_eq!(once[0], first[0]);
}
