//! The store conformance suite (`readnet_store::conformance`) on the KurrentDB backend, connected
//! through the official `kurrentdb` client to `readnet serve` (on an embedded store), which
//! speaks KurrentDB's Streams protocol: a real client against a real server. Each case gets its
//! own server; then the backend's own behaviour: a subscription across a SIGKILL of the server,
//! the journal fence between two backends, and what KurrentDB tools see in a stream.

use std::sync::Arc;

use futures::StreamExt as _;
use readnet_e2e::TestServer;
use readnet_store::conformance::{Subject, event, next, stream};
use readnet_store::kurrentdb::{Fence, KurrentDbOptions, KurrentDbStore};
use readnet_store::{
    CurrentRevision, EventStore, Position, Revision, StoreError, StreamState, Subscription,
    SubscriptionMessage,
};

/// The connection string of a test server's KurrentDB endpoint.
fn connection_string(server: &TestServer) -> String {
    format!(
        "kurrentdb://admin:{}@{}?tls=false",
        server.admin_token(),
        server.addr()
    )
}

async fn connect(server: &TestServer, options: KurrentDbOptions) -> KurrentDbStore {
    KurrentDbStore::connect(&connection_string(server), options)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nserver stderr:\n{}", server.stderr_text()))
}

/// A fresh `readnet serve` and the backend on an empty journal of it.
async fn fresh() -> Subject {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = TestServer::start(dir.path());
    let store = connect(&server, KurrentDbOptions::default()).await;
    // The server goes before its directory.
    Subject::new(Arc::new(store), (server, dir))
}

mod conformance {
    readnet_store::conformance_suite!(super::fresh());
}

async fn next_position(subscription: &mut Subscription) -> u64 {
    match next(subscription).await {
        SubscriptionMessage::Event(e) => e.position.get(),
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_continues_without_gap_or_repeat_after_the_server_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path());
    let addr = server.addr();
    let store = connect(&server, KurrentDbOptions::default()).await;
    let s = stream("across-restart");
    store
        .append(&s, StreamState::NoStream, vec![event("1"), event("2")])
        .await
        .unwrap();
    let mut subscription = store.subscribe_all(Position::START);
    assert_eq!(next_position(&mut subscription).await, 1);
    assert_eq!(next_position(&mut subscription).await, 2);
    assert_eq!(
        next(&mut subscription).await,
        SubscriptionMessage::CaughtUp {
            position: Position::new(2)
        }
    );
    store
        .append(
            &s,
            StreamState::Revision(Revision::new(1)),
            vec![event("3")],
        )
        .await
        .unwrap();
    assert_eq!(next_position(&mut subscription).await, 3);

    server.kill_hard();
    let server = TestServer::start_at(dir.path(), addr);
    // Appends may meet the restart; the backend's fence makes a retry safe.
    let mut appended = None;
    for _ in 0..100 {
        match store
            .append(
                &s,
                StreamState::Revision(Revision::new(2)),
                vec![event("4"), event("5")],
            )
            .await
        {
            Ok(result) => {
                appended = Some(result);
                break;
            }
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("append after the restart: {e}"),
        }
    }
    assert_eq!(
        appended.expect("an append after the restart").position,
        Position::new(5)
    );
    assert_eq!(next_position(&mut subscription).await, 4);
    assert_eq!(next_position(&mut subscription).await, 5);
    // No repeat and no second CaughtUp.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), subscription.next())
            .await
            .is_err(),
        "nothing more after position 5"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_backend_on_the_same_journal_is_fenced_until_it_has_read_the_other_s_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let journal = stream("shared-journal");
    let options = |fence| KurrentDbOptions {
        journal_stream: journal.clone(),
        fence,
        ..KurrentDbOptions::default()
    };
    let first = connect(&server, options(Fence::Journal)).await;
    let second = connect(&server, options(Fence::Journal)).await;
    let (a, b) = (stream("a"), stream("b"));
    first
        .append(&a, StreamState::NoStream, vec![event("a0")])
        .await
        .unwrap();

    // The second decided without the first's event: refused on the journal, then it knows.
    match second
        .append(&b, StreamState::NoStream, vec![event("b0")])
        .await
    {
        Err(StoreError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        }) => assert_eq!(
            (stream, expected, actual),
            (
                journal.clone(),
                StreamState::NoStream,
                CurrentRevision::Current(Revision::FIRST)
            )
        ),
        other => panic!("expected the journal fence, got {other:?}"),
    }
    assert_eq!(second.head_position(), Position::new(1));
    assert_eq!(
        second.stream_revision(&a).await.unwrap(),
        Some(Revision::FIRST)
    );
    let retried = second
        .append(&b, StreamState::NoStream, vec![event("b0")])
        .await
        .unwrap();
    assert_eq!(retried.position, Position::new(2));

    // With per-stream fencing, an append whose own expectations still hold goes through.
    let third = connect(&server, options(Fence::Streams)).await;
    second
        .append(
            &a,
            StreamState::Revision(Revision::FIRST),
            vec![event("a1")],
        )
        .await
        .unwrap();
    let result = third
        .append(&stream("c"), StreamState::NoStream, vec![event("c0")])
        .await
        .unwrap();
    assert_eq!(result.position, Position::new(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kurrentdb_tools_see_each_stream_as_links_into_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let store = connect(&server, KurrentDbOptions::default()).await;
    let s = stream("tooling");
    store
        .append(&s, StreamState::NoStream, vec![event("x"), event("y")])
        .await
        .unwrap();

    // A plain KurrentDB client reading the stream without resolving links sees `$>` events.
    let client = kurrentdb::Client::new(connection_string(&server).parse().unwrap()).unwrap();
    let mut read = client
        .read_stream(s.as_str(), &kurrentdb::ReadStreamOptions::default())
        .await
        .unwrap();
    let mut links = Vec::new();
    while let Some(resolved) = read.next().await.unwrap() {
        let link = resolved.get_original_event();
        links.push((
            link.event_type.clone(),
            String::from_utf8_lossy(&link.data).into_owned(),
        ));
    }
    assert_eq!(
        links,
        [
            ("$>".to_owned(), format!("0@{}", store.journal_stream())),
            ("$>".to_owned(), format!("1@{}", store.journal_stream())),
        ]
    );
}

#[tokio::test]
async fn a_stream_another_client_also_writes_loses_its_links_but_never_blocks_appends() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let store = connect(&server, KurrentDbOptions::default()).await;
    let s = stream("shared");
    // Another KurrentDB client writes the stream first, so the backend's links cannot go where
    // its journal says (revision 0).
    let client = kurrentdb::Client::new(connection_string(&server).parse().unwrap()).unwrap();
    client
        .append_to_stream(
            s.as_str(),
            &kurrentdb::AppendToStreamOptions::default(),
            kurrentdb::EventData::binary("Foreign", b"not readnet's".to_vec().into()),
        )
        .await
        .unwrap();

    let first = store
        .append(&s, StreamState::NoStream, vec![event("a")])
        .await
        .expect("the journal takes the append; the links are dropped");
    assert_eq!(first.position, Position::new(1));
    // Dropped links are not retried before every later append: those keep working.
    let other = stream("other");
    let second = store
        .append(&other, StreamState::NoStream, vec![event("b")])
        .await
        .expect("later appends are not blocked");
    assert_eq!(second.position, Position::new(2));
    assert_eq!(store.head_position(), Position::new(2));
    let all = store
        .read_all(
            readnet_store::AllFrom::Start,
            readnet_store::Direction::Forwards,
            10,
        )
        .await
        .unwrap();
    let streams: Vec<_> = all.iter().map(|e| e.stream.as_str()).collect();
    assert_eq!(
        streams,
        [s.as_str(), other.as_str()],
        "the journal is the truth"
    );
}
