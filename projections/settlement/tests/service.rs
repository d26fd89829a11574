//! The gRPC service over a real embedded store, with a projection runner and a manual clock.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use futures::StreamExt as _;
use readnet_domain::pb::{Channel, TransferReason};
use readnet_domain::{Command, ManualClock};
use readnet_ledger::CommandBus;
use readnet_ledger::envelope::Envelope;
use readnet_ledger::history::{History, card};
use readnet_projection::{Handle, Payload, Projection, Writer, pb, shared};
use readnet_proto::v1::settlement_service_server::SettlementService as SettlementApi;
use readnet_settlement::service::{close_event_id, statement_to_pb};
use readnet_settlement::{Settlement, SettlementService};
use readnet_store::embedded::EmbeddedStore;
use readnet_store::{
    AllFrom, AppendResult, Direction, EventStore, Position, RecordedEvent, Revision, StoreError,
    StreamFrom, StreamState, StreamWrite, Subscription, SubscriptionMessage,
};
use tonic::{Code, Request};
use uuid::Uuid;

/// Folds the store's `$all` into the projection, as the server's runner does.
async fn run_projection(store: Arc<EmbeddedStore>, writer: Writer<Settlement>) {
    let mut subscription = store.subscribe_all(Position::START);
    while let Some(message) = subscription.next().await {
        if let SubscriptionMessage::Event(event) = message.expect("subscription") {
            writer.apply(&[readnet_ledger::envelope::decode(&event).expect("a readable event")]);
        }
    }
}

/// A store that lets another writer append `competitor` just before the first append it is
/// asked for: a race lost deterministically.
struct RacingStore {
    inner: Arc<EmbeddedStore>,
    competitor: Mutex<Option<StreamWrite>>,
}

#[async_trait]
impl EventStore for RacingStore {
    async fn append_multi(
        &self,
        writes: Vec<StreamWrite>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        let competitor = self.competitor.lock().unwrap().take();
        if let Some(competitor) = competitor {
            self.inner.append_multi(vec![competitor]).await.unwrap();
        }
        self.inner.append_multi(writes).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner
            .read_stream(stream, from, direction, max_count)
            .await
    }

    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, direction, max_count).await
    }

    async fn stream_revision(&self, stream: &str) -> Result<Option<Revision>, StoreError> {
        self.inner.stream_revision(stream).await
    }

    fn head_position(&self) -> Position {
        self.inner.head_position()
    }

    fn subscribe_all(&self, checkpoint: Position) -> Subscription {
        self.inner.subscribe_all(checkpoint)
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<EmbeddedStore>,
    handle: Handle<Settlement>,
    clock: Arc<ManualClock>,
    service: SettlementService,
    /// How many of the history's events are in the store.
    appended: usize,
}

impl Rig {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            EmbeddedStore::open(dir.path(), Default::default())
                .await
                .unwrap(),
        );
        let (writer, handle) = shared(Settlement::default());
        tokio::spawn(run_projection(Arc::clone(&store), writer));
        let clock = Arc::new(ManualClock::new(shanghai(2026, 12, 2, 9, 0)));
        let service = service_over(&handle, store.clone(), &clock).await;
        Self {
            _dir: dir,
            store,
            handle,
            clock,
            service,
            appended: 0,
        }
    }

    /// A service whose first append loses a race to `competitor`.
    async fn racing_service(&self, competitor: StreamWrite) -> SettlementService {
        let store = RacingStore {
            inner: Arc::clone(&self.store),
            competitor: Mutex::new(Some(competitor)),
        };
        service_over(&self.handle, Arc::new(store), &self.clock).await
    }

    /// Appends the history's new events to the store (as a generated history, through the
    /// ledger's envelope); returns the head. The service's command bus is started again on the
    /// new log, as a server would be.
    async fn sync(&mut self, h: &History) -> u64 {
        readnet_ledger::import::append_history(
            self.store.as_ref(),
            h.events()[self.appended..].iter().cloned(),
        )
        .await
        .unwrap();
        self.service = service_over(&self.handle, self.store.clone(), &self.clock).await;
        self.appended = h.events().len();
        self.store.head_position().get()
    }

    async fn close(&self, period: &str) -> Result<pb::ClosePeriodResponse, tonic::Status> {
        close_with(&self.service, period, Uuid::new_v4()).await
    }

    async fn statement(&self, period: &str, min_position: u64) -> pb::Statement {
        self.service
            .get_statement(authed(pb::GetStatementRequest {
                period: period.into(),
                min_position: Some(min_position),
            }))
            .await
            .unwrap()
            .into_inner()
            .statement
            .expect("the response holds a statement")
    }

    async fn settlement_stream(&self) -> Vec<RecordedEvent> {
        self.store
            .read_stream("settlement", StreamFrom::Start, Direction::Forwards, 100)
            .await
            .unwrap()
    }
}

/// A settlement service over `store`, recording through a command bus of its own.
async fn service_over<S: EventStore>(
    handle: &Handle<Settlement>,
    store: Arc<S>,
    clock: &Arc<ManualClock>,
) -> SettlementService {
    let bus = CommandBus::start(store.clone()).await.unwrap();
    SettlementService::new(handle.clone(), store, bus, clock.clone())
}

async fn close_with(
    service: &SettlementService,
    period: &str,
    command_id: Uuid,
) -> Result<pb::ClosePeriodResponse, tonic::Status> {
    service
        .close_period(authed(pb::ClosePeriodRequest {
            command_id: command_id.to_string(),
            period: period.into(),
            correlation_id: String::new(),
        }))
        .await
        .map(|r| r.into_inner())
}

/// domain.md's worked example in November 2026.
fn worked_example() -> History {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-000123",
        ZB_CENTRAL,
        Some(3900),
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 3, 10, 0),
        ZB_CENTRAL,
        "ZB-000123",
        "jinan",
    );
    return_at(
        &mut h,
        shanghai(2026, 11, 12, 15, 0),
        JN_BRANCH,
        "ZB-000123",
    );
    dispatch(
        &mut h,
        shanghai(2026, 11, 13, 9, 0),
        JN_BRANCH,
        "ZB-000123",
        ZB_CENTRAL,
        TransferReason::Repatriation,
    );
    h
}

fn close_write(period: &str, through_position: u64, event_id: Uuid) -> StreamWrite {
    let payload = Payload::SettlementPeriodClosed(pb::SettlementPeriodClosed {
        period: period.into(),
        through_position,
    });
    let envelope = Envelope {
        occurred_at: shanghai(2026, 12, 2, 9, 0),
        acting_library: "",
        channel: Channel::System,
        command_id: Some(Uuid::new_v4()),
        correlation_id: None,
        command_digest: None,
        principal: "",
    };
    StreamWrite {
        stream: "settlement".into(),
        expected: StreamState::NoStream,
        events: vec![readnet_ledger::envelope::encode(
            &envelope, event_id, &payload,
        )],
    }
}

fn close_of(response: &pb::ClosePeriodResponse) -> (String, u64, u64) {
    let close = response.close.as_ref().unwrap();
    (
        close.period.clone(),
        close.through_position,
        close.close_position,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_period_records_one_close_and_a_repeat_returns_it() {
    let mut rig = Rig::new().await;
    let head = rig.sync(&worked_example()).await;
    let command_id = Uuid::new_v4();
    let first = close_with(&rig.service, "2026-11", command_id)
        .await
        .unwrap();
    assert_eq!(close_of(&first), ("2026-11".into(), head, head + 1));
    assert!(!first.already_closed);
    assert_eq!(first.applied_position, head + 1);

    let again = rig.close("2026-11").await.unwrap();
    assert_eq!(close_of(&again), close_of(&first));
    assert!(again.already_closed);
    assert_eq!(
        rig.store.head_position(),
        Position::new(head + 1),
        "a repeat writes nothing"
    );

    // A retry of the same command gets the original outcome; its id cannot close another month.
    let retry = close_with(&rig.service, "2026-11", command_id)
        .await
        .unwrap();
    assert_eq!(close_of(&retry), close_of(&first));
    assert!(
        !retry.already_closed,
        "the original outcome: this command closed it"
    );
    let reused = close_with(&rig.service, "2026-12", command_id)
        .await
        .unwrap_err();
    assert_eq!(reused.code(), tonic::Code::AlreadyExists, "{reused:?}");
    assert!(
        reused.message().starts_with("command_id:"),
        "{}",
        reused.message()
    );
    assert_eq!(rig.store.head_position(), Position::new(head + 1));

    let stream = rig.settlement_stream().await;
    assert_eq!(stream.len(), 1);
    let recorded = &stream[0];
    assert_eq!(
        recorded.event_id,
        close_event_id("2026-11".parse().unwrap())
    );
    assert_eq!(recorded.event_type, "SettlementPeriodClosed");
    let decoded = readnet_ledger::envelope::decode(recorded).unwrap();
    assert_eq!(decoded.command_id, Some(command_id));
    assert_eq!(decoded.channel, Channel::System);
    assert_eq!(decoded.occurred_at, shanghai(2026, 12, 2, 9, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_racing_another_servers_close_of_the_period_answers_with_that_close() {
    let mut rig = Rig::new().await;
    let head = rig.sync(&worked_example()).await;
    // The other server decided earlier (through head - 1) and wrote the same event id first.
    let period = "2026-11".parse().unwrap();
    let service = rig
        .racing_service(close_write("2026-11", head - 1, close_event_id(period)))
        .await;
    let response = rig_close(&service).await;
    assert_eq!(close_of(&response), ("2026-11".into(), head - 1, head + 1));
    assert!(response.already_closed);
    assert_eq!(rig.settlement_stream().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_that_loses_the_stream_to_another_writer_decides_again_and_answers_the_winner() {
    let mut rig = Rig::new().await;
    let head = rig.sync(&worked_example()).await;
    // The winner's event has another id: the append fails on its expected revision.
    let service = rig
        .racing_service(close_write("2026-11", head, Uuid::new_v4()))
        .await;
    let response = rig_close(&service).await;
    assert_eq!(close_of(&response), ("2026-11".into(), head, head + 1));
    assert!(response.already_closed);
    assert_eq!(rig.settlement_stream().await.len(), 1);
}

async fn rig_close(service: &SettlementService) -> pb::ClosePeriodResponse {
    close_with(service, "2026-11", Uuid::new_v4())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_closes_of_a_period_write_one_event_and_agree() {
    let mut rig = Rig::new().await;
    rig.sync(&worked_example()).await;
    let (a, b) = tokio::join!(rig.close("2026-11"), rig.close("2026-11"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(close_of(&a), close_of(&b));
    assert_eq!(
        [a.already_closed, b.already_closed]
            .iter()
            .filter(|&&c| !c)
            .count(),
        1,
        "exactly one of them wrote the close"
    );
    assert_eq!(rig.settlement_stream().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_closes_say_why_and_write_nothing() {
    let mut rig = Rig::new().await;
    let head = rig.sync(&worked_example()).await;

    rig.clock.set(shanghai(2026, 11, 30, 12, 0));
    let status = rig.close("2026-11").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("2026-11 has not ended"),
        "{}",
        status.message()
    );

    rig.clock.set(shanghai(2027, 1, 2, 9, 0));
    let status = rig.close("2026-12").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().ends_with("close 2026-11 first"),
        "{}",
        status.message()
    );
    let status = rig.close("2026-10").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().ends_with("close 2026-11 first"),
        "{}",
        status.message()
    );

    let status = rig.close("2026-13").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("period: \"2026-13\""),
        "{}",
        status.message()
    );

    let status = rig
        .service
        .close_period(authed(pb::ClosePeriodRequest {
            command_id: String::new(),
            period: "2026-11".into(),
            correlation_id: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "command_id: a UUID is required");
    assert_eq!(rig.store.head_position(), Position::new(head));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_turn_final_at_the_close_and_late_events_adjust_the_next_month() {
    let mut rig = Rig::new().await;
    let mut h = worked_example();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-2",
        ZB_CENTRAL,
        None,
    );
    let head = rig.sync(&h).await;

    let provisional = rig.statement("2026-11", head).await;
    assert_eq!(provisional.status, pb::StatementStatus::Provisional as i32);
    assert_eq!(provisional.applied_position, head);
    let nets: Vec<(String, i64)> = provisional
        .nets
        .iter()
        .map(|n| (n.city.clone(), n.net_fen))
        .collect();
    assert_eq!(nets, [("jinan".into(), 750), ("zibo".into(), -750)]);
    let expected = rig
        .handle
        .read(None, Duration::ZERO, |s| {
            s.statement("2026-11".parse().unwrap()).unwrap()
        })
        .await
        .unwrap()
        .0;
    assert_eq!(provisional, statement_to_pb(&expected, head));

    let close = rig.close("2026-11").await.unwrap();
    let closed = close.close.as_ref().unwrap();
    let final_november = rig.statement("2026-11", closed.close_position).await;
    assert_eq!(final_november.status, pb::StatementStatus::Final as i32);
    assert_eq!(final_november.through_position, Some(head));
    assert_eq!(final_november.close_position, Some(closed.close_position));
    assert_eq!(
        (&final_november.lines, &final_november.nets),
        (&provisional.lines, &provisional.nets)
    );
    let expected = rig
        .handle
        .read(None, Duration::ZERO, |s| {
            s.statement("2026-11".parse().unwrap()).unwrap()
        })
        .await
        .unwrap()
        .0;
    assert_eq!(final_november.digest, expected.digest());
    assert_ne!(
        final_november.digest, provisional.digest,
        "the status is encoded"
    );

    // A kiosk's loan of 28 November syncs on 3 December.
    h.try_run_recorded_at(
        shanghai(2026, 11, 28, 10, 0),
        shanghai(2026, 12, 3, 9, 0),
        Some(ZB_CENTRAL),
        Command::Checkout {
            item: "ZB-2".into(),
            patron: card("jinan", "0009"),
        },
    )
    .unwrap();
    let head = rig.sync(&h).await;
    let november = rig.statement("2026-11", head).await;
    assert_eq!(
        pb::Statement {
            applied_position: 0,
            ..november.clone()
        },
        pb::Statement {
            applied_position: 0,
            ..final_november
        },
        "a final statement never changes"
    );
    let december = rig.statement("2026-12", head).await;
    assert_eq!(december.status, pb::StatementStatus::Provisional as i32);
    assert_eq!(december.lines.len(), 1);
    let line = &december.lines[0];
    assert_eq!(
        (
            line.debtor_city.as_str(),
            line.creditor_city.as_str(),
            line.kind,
            line.adjustment_of.as_str(),
            line.count,
            line.amount_fen
        ),
        (
            "jinan",
            "zibo",
            pb::ChargeKind::Loan as i32,
            "2026-11",
            1,
            100
        )
    );
    assert_eq!(december.first_position, Some(head));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_charges_drills_down_a_line_page_by_page() {
    let mut rig = Rig::new().await;
    let mut h = network();
    for item in ["ZB-1", "ZB-2", "ZB-3"] {
        catalogue(&mut h, shanghai(2026, 10, 2, 9, 0), item, ZB_CENTRAL, None);
        checkout(
            &mut h,
            shanghai(2026, 11, 3, 10, 0),
            ZB_CENTRAL,
            item,
            "jinan",
        );
    }
    return_at(&mut h, shanghai(2026, 11, 5, 10, 0), JN_CENTRAL, "ZB-1");
    let head = rig.sync(&h).await;
    let list = |after_position: u64| pb::ListChargesRequest {
        period: "2026-11".into(),
        debtor_city: "jinan".into(),
        creditor_city: "zibo".into(),
        kind: pb::ChargeKind::Loan as i32,
        original_period: "2026-11".into(),
        min_position: Some(head),
        after_position,
        page_size: 2,
    };
    let first = rig
        .service
        .list_charges(authed(list(0)))
        .await
        .unwrap()
        .into_inner();
    let items: Vec<&str> = first.charges.iter().map(|c| c.item.as_str()).collect();
    assert_eq!(items, ["ZB-1", "ZB-2"]);
    assert_eq!(first.next_after_position, first.charges[1].position);
    assert_eq!(first.applied_position, head);
    let second = rig
        .service
        .list_charges(authed(list(first.next_after_position)))
        .await
        .unwrap()
        .into_inner();
    let items: Vec<&str> = second.charges.iter().map(|c| c.item.as_str()).collect();
    assert_eq!(items, ["ZB-3"]);
    assert_eq!(second.next_after_position, 0);
    let charge = &second.charges[0];
    assert_eq!((charge.amount_fen, charge.adjustment), (100, false));
    assert_eq!(charge.original_period, "2026-11");
    let event = &h
        .events()
        .iter()
        .find(|e| e.position == Position::new(charge.position))
        .unwrap();
    assert_eq!(charge.event_id, event.event_id.to_string());
    assert_eq!(
        charge.occurred_at.unwrap().seconds,
        event.occurred_at.timestamp()
    );

    let all = rig
        .service
        .list_charges(authed(pb::ListChargesRequest {
            period: "2026-11".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.charges.len(), 4, "three loans and a return");

    let status = rig
        .service
        .list_charges(authed(pb::ListChargesRequest {
            period: "2026-11".into(),
            debtor_city: "qingdao".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        status.message(),
        "debtor_city: city qingdao has not joined the network"
    );
    let status = rig
        .service
        .list_charges(authed(pb::ListChargesRequest {
            period: "2026-11".into(),
            original_period: "Nov".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("original_period: "),
        "{}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_for_a_position_not_yet_applied_runs_out_of_time() {
    let mut rig = Rig::new().await;
    let head = rig.sync(&worked_example()).await;
    let mut request = authed(pb::GetStatementRequest {
        period: "2026-11".into(),
        min_position: Some(head + 10),
    });
    request
        .metadata_mut()
        .insert("grpc-timeout", "50m".parse().unwrap());
    let status = rig.service.get_statement(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    let status = rig
        .service
        .get_statement(authed(pb::GetStatementRequest {
            period: "November".into(),
            min_position: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("period: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projection_sees_what_the_service_wrote() {
    let mut rig = Rig::new().await;
    rig.sync(&worked_example()).await;
    let close = rig.close("2026-11").await.unwrap();
    let (revision, position, closes) = rig
        .handle
        .read(None, Duration::ZERO, |s| {
            (s.settlement_revision(), s.position(), s.closes().count())
        })
        .await
        .unwrap()
        .0;
    assert_eq!(revision, Some(Revision::FIRST));
    assert_eq!(position, Position::new(close.close.unwrap().close_position));
    assert_eq!(closes, 1);
}

/// A request as the authentication layer passes it on: from a settlementclerk principal.
fn authed<T>(message: T) -> Request<T> {
    let tester = readnet_domain::access::Authenticated::network_wide(
        "tester",
        readnet_domain::Role::SettlementClerk,
    );
    readnet_projection::access::request_from(&tester, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_the_log_cannot_sum_is_an_error_and_its_period_does_not_close() {
    let mut rig = Rig::new().await;
    let head = rig.sync(&out_of_bound_prices()).await;
    let status = rig
        .service
        .get_statement(authed(pb::GetStatementRequest {
            period: "2026-11".into(),
            min_position: Some(head),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DataLoss);
    assert!(
        status
            .message()
            .starts_with("settlement 2026-11: the statement cannot be computed")
            && status.message().contains("jinan owes zibo for lost"),
        "{}",
        status.message()
    );
    // The server still answers the other periods, and closes the one before.
    assert_eq!(rig.statement("2026-10", head).await.lines.len(), 1);
    assert_eq!(rig.statement("2026-12", head).await.lines.len(), 1);
    rig.close("2026-10").await.unwrap();
    let status = rig.close("2026-11").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().starts_with(
            "period: 2026-11 cannot be closed: settlement 2026-11: the statement cannot be computed"
        ),
        "{}",
        status.message()
    );
    assert_eq!(
        rig.settlement_stream().await.len(),
        1,
        "only October closed"
    );
}
