//! The command bus against a real embedded store: batching, conflicts inside a batch, retries,
//! and recovery of the decider's state after a failed append.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use futures::StreamExt;
use readnet_domain::pb::{Acquisition, Channel, LibraryTier};
use readnet_domain::{
    Authority, Caller, Command, CommandContext, Fen, Grant, LibraryCode, NewBook, PatronKey,
    PatronRef, Refusal, RejectionKind, Role,
};
use readnet_ledger::envelope::event_id;
use readnet_ledger::{CommandBus, Failure, LedgerError, REFUSAL_RETRY_WINDOW, Submission, digest};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{
    AllFrom, AppendResult, Direction, EventStore, Position, RecordedEvent, Revision, StoreError,
    StreamFrom, StreamWrite, Subscription,
};
use uuid::Uuid;

fn ctx(library: Option<&str>) -> CommandContext {
    CommandContext {
        occurred_at: Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap(),
        acting_library: library.map(LibraryCode::from),
        channel: if library.is_some() {
            Channel::Desk
        } else {
            Channel::System
        },
        caller: Caller::Server,
    }
}

/// A submission with its own command id.
fn submission(command: Command, library: Option<&str>) -> Submission {
    submission_with_id(Uuid::new_v4(), command, library)
}

/// A submission whose digest stands for the request: equal commands, equal digests.
fn submission_with_id(command_id: Uuid, command: Command, library: Option<&str>) -> Submission {
    let ctx = ctx(library);
    Submission {
        command_id,
        correlation_id: None,
        digest: digest(
            &PatronKey::new(b"test"),
            command.name(),
            &ctx,
            format!("{command:?}").as_bytes(),
        ),
        command,
        ctx,
        received_at: received_at(),
    }
}

/// When the server takes the test's requests, by its clock: a minute after the desk's time.
fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 2, 1, 0).unwrap()
}

fn patron(number: &str) -> PatronRef {
    PatronRef {
        city: "jinan".into(),
        patron_id: PatronKey::new(b"test").patron_id("jinan", number),
        masked_card: format!("jinan:****{number}"),
    }
}

fn book(item: &str) -> Command {
    Command::CatalogueItem {
        book: NewBook {
            item: item.into(),
            isbn: String::new(),
            title: "边城".into(),
            author: "沈从文".into(),
            price_fen: Some(Fen(2500)),
        },
        owner_library: "JN-CENTRAL".into(),
        acquisition: Acquisition::Purchase,
    }
}

fn checkout(item: &str, number: &str) -> Command {
    Command::Checkout {
        item: item.into(),
        patron: patron(number),
    }
}

async fn open(dir: &std::path::Path) -> Arc<dyn EventStore> {
    Arc::new(
        EmbeddedStore::open(dir, EmbeddedOptions::default())
            .await
            .unwrap(),
    )
}

async fn set_up(bus: &CommandBus) {
    let setup = [
        Command::JoinCity {
            city: "jinan".into(),
            name: "济南".into(),
            time_zone: String::new(),
        },
        Command::RegisterLibrary {
            library: "JN-CENTRAL".into(),
            name: "济南市图书馆".into(),
            city: "jinan".into(),
            tier: LibraryTier::Central,
            parent: None,
        },
    ];
    for command in setup {
        bus.submit(submission(command, None)).await.unwrap();
    }
}

async fn all_events(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store
        .read_all(AllFrom::Start, Direction::Forwards, 10_000)
        .await
        .unwrap()
}

#[tokio::test]
async fn commands_on_one_stream_submitted_together_are_decided_in_order_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bus = CommandBus::start(Arc::clone(&store)).await.unwrap();
    set_up(&bus).await;
    // Submitted together, these land in one batch; the checkout writes the stream the cataloguing
    // opened, so it must wait for the next batch, and then sees the item on the shelf.
    let (catalogued, loaned, other) = tokio::join!(
        bus.submit(submission(book("JN-1"), None)),
        bus.submit(submission(checkout("JN-1", "0001"), Some("JN-CENTRAL"))),
        bus.submit(submission(book("JN-2"), None)),
    );
    let catalogued = catalogued.unwrap();
    let loaned = loaned.expect("the checkout is decided after the cataloguing");
    other.unwrap();
    assert!(loaned.events[0].position > catalogued.events[0].position);
    let item_stream: Vec<_> = all_events(store.as_ref())
        .await
        .into_iter()
        .filter(|e| e.stream == "item-JN-1")
        .map(|e| (e.revision.get(), e.event_type))
        .collect();
    assert_eq!(
        item_stream,
        vec![
            (0, "ItemCatalogued".to_owned()),
            (1, "ItemLoaned".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_retry_in_the_same_batch_gets_the_same_events_and_a_reused_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bus = CommandBus::start(Arc::clone(&store)).await.unwrap();
    set_up(&bus).await;
    let id = Uuid::new_v4();
    let first = submission_with_id(id, book("JN-1"), None);
    let retry = submission_with_id(id, book("JN-1"), None);
    let reuse = submission_with_id(id, book("JN-9"), None);
    let head = store.head_position();
    let (a, b, c) = tokio::join!(bus.submit(first), bus.submit(retry), bus.submit(reuse));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(!a.duplicate && b.duplicate, "one original, one retry");
    assert_eq!(a.events, b.events);
    assert!(
        matches!(c, Err(LedgerError::CommandIdReused { .. })),
        "{c:?}"
    );
    assert_eq!(store.head_position(), head.next(), "one event written");
}

/// Delegates to a real store but fails the chosen append, as a full disk would, and counts
/// appends and `$all` reads. With `written_then_lost`, the failing append is written first and
/// only its answer is lost (a networked store dropping the connection), and the next
/// `unreachable_reads` reads of `$all` fail as if the store were still out of reach.
struct FailingStore {
    inner: Arc<dyn EventStore>,
    appends: AtomicUsize,
    reads_of_all: AtomicUsize,
    fail_append: usize,
    failure: fn() -> StoreError,
    written_then_lost: bool,
    reads_lost_after_failure: usize,
    unreachable_reads: AtomicUsize,
}

impl FailingStore {
    fn wrapping(
        inner: Arc<dyn EventStore>,
        fail_append: usize,
        failure: fn() -> StoreError,
    ) -> Arc<FailingStore> {
        Arc::new(FailingStore {
            inner,
            appends: AtomicUsize::new(0),
            reads_of_all: AtomicUsize::new(0),
            fail_append,
            failure,
            written_then_lost: false,
            reads_lost_after_failure: 0,
            unreachable_reads: AtomicUsize::new(0),
        })
    }

    /// Writes the chosen append, then answers as if the connection dropped; the next
    /// `unreachable_reads` reads of `$all` fail the same way.
    fn losing_answer(
        inner: Arc<dyn EventStore>,
        fail_append: usize,
        unreachable_reads: usize,
    ) -> Arc<FailingStore> {
        Arc::new(FailingStore {
            inner,
            appends: AtomicUsize::new(0),
            reads_of_all: AtomicUsize::new(0),
            fail_append,
            failure: connection_lost,
            written_then_lost: true,
            reads_lost_after_failure: unreachable_reads,
            unreachable_reads: AtomicUsize::new(0),
        })
    }
}

fn connection_lost() -> StoreError {
    StoreError::Unavailable("connection reset by peer".into())
}

fn disk_full() -> StoreError {
    StoreError::Io(std::io::Error::other("no space left on device"))
}

fn another_writer() -> StoreError {
    StoreError::WrongExpectedVersion {
        stream: "item-JN-1".into(),
        expected: readnet_store::StreamState::Revision(Revision::FIRST),
        actual: readnet_store::CurrentRevision::Current(Revision::new(1)),
    }
}

#[async_trait]
impl EventStore for FailingStore {
    async fn append_multi(
        &self,
        writes: Vec<StreamWrite>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        if self.appends.fetch_add(1, Ordering::SeqCst) == self.fail_append {
            if self.written_then_lost {
                self.inner.append_multi(writes).await?;
                self.unreachable_reads
                    .store(self.reads_lost_after_failure, Ordering::SeqCst);
            }
            return Err((self.failure)());
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
        self.reads_of_all.fetch_add(1, Ordering::SeqCst);
        let unreachable = self
            .unreachable_reads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if unreachable {
            return Err(connection_lost());
        }
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

#[tokio::test]
async fn a_batch_refused_for_another_writer_leaves_no_trace_in_the_deciders_state() {
    let dir = tempfile::tempdir().unwrap();
    // Appends 0 and 1 set the network up, 2 catalogues; append 3, the checkout, is refused.
    let store = FailingStore::wrapping(open(dir.path()).await, 3, another_writer);
    let bus = CommandBus::start(store.clone()).await.unwrap();
    set_up(&bus).await;
    bus.submit(submission(book("JN-1"), None)).await.unwrap();
    let refused = bus
        .submit(submission(checkout("JN-1", "0001"), Some("JN-CENTRAL")))
        .await;
    assert!(
        matches!(refused, Err(LedgerError::Aborted(_))),
        "{refused:?}"
    );
    // Had the decider kept the unwritten loan, this checkout would be refused as "on loan".
    let receipt = bus
        .submit(submission(checkout("JN-1", "0002"), Some("JN-CENTRAL")))
        .await
        .expect("the item is still on the shelf");
    let types: Vec<_> = receipt
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(types, ["PatronEnrolled", "ItemLoaned"]);
    assert!(
        *bus.writable().borrow(),
        "a conflict is no failure of the store"
    );
}

#[tokio::test]
async fn refusals_that_rest_on_an_unwritten_batch_are_not_sent_as_refusals() {
    let dir = tempfile::tempdir().unwrap();
    // Appends 0 and 1 set the network up; append 2, the batch below, fails.
    let store = FailingStore::wrapping(open(dir.path()).await, 2, disk_full);
    let bus = CommandBus::start(store.clone()).await.unwrap();
    set_up(&bus).await;
    // One batch: the second cataloguing of JN-1 is refused only because of the first, which
    // the store then fails to write, so "already catalogued" would be false.
    let (first, second) = tokio::join!(
        bus.submit(submission(book("JN-1"), None)),
        bus.submit(submission(book("JN-1"), None)),
    );
    assert!(
        matches!(first, Err(LedgerError::Unavailable(_))),
        "{first:?}"
    );
    assert!(
        matches!(second, Err(LedgerError::Unavailable(_))),
        "{second:?}"
    );
    assert_eq!(
        store.head_position(),
        Position::new(2),
        "nothing after the set-up was written"
    );
}

#[tokio::test]
async fn after_a_store_failure_commands_are_refused_without_touching_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = FailingStore::wrapping(open(dir.path()).await, 2, disk_full);
    let bus = CommandBus::start(store.clone()).await.unwrap();
    let mut writable = bus.writable();
    set_up(&bus).await;
    let failed = bus.submit(submission(book("JN-1"), None)).await;
    assert!(
        matches!(failed, Err(LedgerError::Unavailable(_))),
        "{failed:?}"
    );
    writable
        .wait_for(|w| !*w)
        .await
        .expect("the bus reports it cannot write");
    let (appends, reads) = (
        store.appends.load(Ordering::SeqCst),
        store.reads_of_all.load(Ordering::SeqCst),
    );
    for item in ["JN-2", "JN-3", "JN-4"] {
        let answer = bus.submit(submission(book(item), None)).await;
        let Err(LedgerError::Unavailable(message)) = answer else {
            panic!("{answer:?}");
        };
        assert!(message.contains("no space left on device"), "{message}");
    }
    assert_eq!(
        store.appends.load(Ordering::SeqCst),
        appends,
        "no more appends tried"
    );
    assert_eq!(
        store.reads_of_all.load(Ordering::SeqCst),
        reads,
        "no replay of the log per command"
    );
}

#[tokio::test]
async fn a_store_out_of_reach_refuses_commands_until_back_then_a_retry_finds_the_lost_answer() {
    let dir = tempfile::tempdir().unwrap();
    // Appends 0 and 1 set the network up; append 2 is recorded but its answer is lost, and the
    // first rebuild attempt finds the store still out of reach.
    let store = FailingStore::losing_answer(open(dir.path()).await, 2, 1);
    let bus = CommandBus::start(store.clone()).await.unwrap();
    let mut writable = bus.writable();
    set_up(&bus).await;
    let command_id = Uuid::new_v4();
    let lost = bus
        .submit(submission_with_id(command_id, book("JN-1"), None))
        .await;
    let Err(LedgerError::Unavailable(message)) = lost else {
        panic!("{lost:?}");
    };
    assert!(message.contains("same command_id"), "{message}");
    writable
        .wait_for(|w| !*w)
        .await
        .expect("the bus reports it cannot write");

    // Still out of reach: refused, and nothing is appended.
    let appends = store.appends.load(Ordering::SeqCst);
    let refused = bus.submit(submission(book("JN-2"), None)).await;
    assert!(
        matches!(refused, Err(LedgerError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(store.appends.load(Ordering::SeqCst), appends);

    // Back: the retry is recognised from the log, not recorded twice.
    let retry = bus
        .submit(submission_with_id(command_id, book("JN-1"), None))
        .await
        .expect("the store is back");
    assert!(retry.duplicate, "the lost command was recorded once");
    assert_eq!(retry.events[0].position, Position::new(3));
    assert!(*writable.borrow_and_update(), "commands are taken again");
    bus.submit(submission(book("JN-2"), None))
        .await
        .expect("new commands are recorded");
    let catalogued = all_events(store.as_ref())
        .await
        .iter()
        .filter(|e| e.event_type == "ItemCatalogued")
        .count();
    assert_eq!(catalogued, 2, "JN-1 once, JN-2 once");
}

#[tokio::test]
async fn receipts_hold_exactly_the_events_the_store_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bus = CommandBus::start(Arc::clone(&store)).await.unwrap();
    set_up(&bus).await;
    // One batch of several commands over several streams, one of them writing two streams (the
    // checkout enrols the patron): the receipts are built from the append's result, not read back.
    bus.submit(submission(book("JN-1"), None)).await.unwrap();
    let (a, b, c) = tokio::join!(
        bus.submit(submission(book("JN-2"), None)),
        bus.submit(submission(checkout("JN-1", "0001"), Some("JN-CENTRAL"))),
        bus.submit(submission(book("JN-3"), None)),
    );
    let mut from_receipts: Vec<RecordedEvent> = Vec::new();
    for receipt in [a.unwrap(), b.unwrap(), c.unwrap()] {
        assert!(!receipt.duplicate);
        from_receipts.extend(receipt.events);
    }
    from_receipts.sort_by_key(|e| e.position);
    let stored: Vec<RecordedEvent> = all_events(store.as_ref())
        .await
        .into_iter()
        .filter(|e| e.position >= from_receipts[0].position)
        .collect();
    assert_eq!(
        from_receipts.len(),
        4,
        "two catalogues, an enrolment and a loan"
    );
    assert_eq!(from_receipts, stored);
}

#[tokio::test]
async fn a_batch_is_answered_from_its_append_without_reading_the_log_and_projections_read_the_same()
{
    let dir = tempfile::tempdir().unwrap();
    // Never fails: it only counts the reads of `$all`.
    let store = FailingStore::wrapping(open(dir.path()).await, usize::MAX, disk_full);
    let bus = CommandBus::start(store.clone()).await.unwrap();
    set_up(&bus).await;
    bus.submit(submission(book("JN-1"), None)).await.unwrap();
    let subscription = store.subscribe_all(store.head_position());
    let reads_before = store.reads_of_all.load(Ordering::SeqCst);
    let (a, b, c) = tokio::join!(
        bus.submit(submission(book("JN-2"), None)),
        bus.submit(submission(checkout("JN-1", "0001"), Some("JN-CENTRAL"))),
        bus.submit(submission(book("JN-3"), None)),
    );
    assert_eq!(
        store.reads_of_all.load(Ordering::SeqCst),
        reads_before,
        "the bus learned positions, revisions and commit times from the append"
    );
    let mut from_receipts: Vec<RecordedEvent> = [a.unwrap(), b.unwrap(), c.unwrap()]
        .into_iter()
        .flat_map(|receipt| receipt.events)
        .collect();
    from_receipts.sort_by_key(|e| e.position);
    assert_eq!(from_receipts.len(), 4);
    // What a projection's subscription delivers is what the receipts said, byte for byte.
    let delivered: Vec<RecordedEvent> = subscription
        .filter_map(|message| async move {
            match message.unwrap() {
                readnet_store::SubscriptionMessage::Event(event) => Some(event),
                _ => None,
            }
        })
        .take(from_receipts.len())
        .collect()
        .await;
    assert_eq!(delivered, from_receipts);
    assert!(delivered.iter().all(|e| e.recorded_at_us > 0));
}

fn give_back(item: &str) -> Command {
    Command::Return { item: item.into() }
}

#[track_caller]
fn refusal(answer: Result<readnet_ledger::Receipt, LedgerError>) -> Refusal {
    match answer {
        Err(LedgerError::Refused(refusal)) => refusal,
        other => panic!("expected a recorded refusal, got {other:?}"),
    }
}

/// JN-1 catalogued and lent to patron 0001.
async fn item_on_loan(bus: &CommandBus) {
    set_up(bus).await;
    bus.submit(submission(book("JN-1"), None)).await.unwrap();
    bus.submit(submission(checkout("JN-1", "0001"), Some("JN-CENTRAL")))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_command_retried_after_the_state_changed_gets_the_same_refusal_and_writes_nothing()
 {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bus = CommandBus::start(Arc::clone(&store)).await.unwrap();
    item_on_loan(&bus).await;
    let head = store.head_position();

    // Given JN-1 on loan, when patron 0002 asks for it (sent twice at once, as a kiosk might),
    // then both sends get one refusal, recorded once.
    let id = Uuid::new_v4();
    let send = || submission_with_id(id, checkout("JN-1", "0002"), Some("JN-CENTRAL"));
    let (first, twin) = tokio::join!(bus.submit(send()), bus.submit(send()));
    let first = refusal(first);
    assert_eq!(refusal(twin), first);
    assert_eq!(first.kind, RejectionKind::FailedPrecondition);
    assert_eq!(first.rule, "ItemNotOnShelf");
    assert_eq!(first.command, "Checkout");
    assert!(
        first
            .message
            .starts_with("item JN-1 is not on the shelf at JN-CENTRAL: it is on loan"),
        "{}",
        first.message
    );
    assert_eq!(store.head_position(), head.next(), "one refusal recorded");
    let recorded = all_events(store.as_ref()).await.pop().unwrap();
    assert_eq!(recorded.stream, format!("refusal-{id}"));
    assert_eq!(recorded.event_type, "CommandRefused");
    assert_eq!(recorded.event_id, event_id(id, 0));
    let head = store.head_position();

    // When the item comes back, a retry of the refused id is still refused, word for word, and
    // writes nothing; the same request under a new id is decided afresh and lent.
    bus.submit(submission(give_back("JN-1"), Some("JN-CENTRAL")))
        .await
        .unwrap();
    let head_after_return = store.head_position();
    assert_eq!(head_after_return, head.next());
    let retry = bus.submit(send()).await;
    assert_eq!(
        refusal(retry),
        first,
        "the original outcome, code and message"
    );
    assert_eq!(
        store.head_position(),
        head_after_return,
        "a retry writes nothing"
    );

    // The same id with another request is a reuse, not a retry.
    let reuse = bus
        .submit(submission_with_id(
            id,
            checkout("JN-1", "0003"),
            Some("JN-CENTRAL"),
        ))
        .await;
    assert!(
        matches!(reuse, Err(LedgerError::CommandIdReused { .. })),
        "{reuse:?}"
    );

    let lent = bus
        .submit(submission(checkout("JN-1", "0002"), Some("JN-CENTRAL")))
        .await
        .expect("a new command id is decided on the state as it is now");
    assert_eq!(lent.events.last().unwrap().event_type, "ItemLoaned");
}

#[tokio::test]
async fn a_refusal_survives_reopening_the_ledger_on_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let id = Uuid::new_v4();
    let send = || submission_with_id(id, checkout("JN-1", "0002"), Some("JN-CENTRAL"));
    let first = {
        let store = Arc::new(
            EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
                .await
                .unwrap(),
        );
        let bus = CommandBus::start(store.clone()).await.unwrap();
        item_on_loan(&bus).await;
        let first = refusal(bus.submit(send()).await);
        bus.submit(submission(give_back("JN-1"), Some("JN-CENTRAL")))
            .await
            .unwrap();
        store.close().await;
        first
    };

    // A new decider, rebuilt from the log alone: the item is on the shelf now, and the retry
    // still gets the refusal the first decider recorded.
    let store = open(dir.path()).await;
    let bus = CommandBus::start(Arc::clone(&store)).await.unwrap();
    let head = store.head_position();
    assert_eq!(refusal(bus.submit(send()).await), first);
    assert_eq!(store.head_position(), head, "a retry writes nothing");
    bus.submit(submission(checkout("JN-1", "0002"), Some("JN-CENTRAL")))
        .await
        .expect("the item is on the shelf");
}

#[tokio::test]
async fn a_refusal_is_recorded_in_decision_order_among_the_acceptances_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bus = CommandBus::start(Arc::clone(&store)).await.unwrap();
    item_on_loan(&bus).await;
    let head = store.head_position();
    // One batch: the checkout is decided first (on loan: refused), then the return.
    let id = Uuid::new_v4();
    let (refused, returned) = tokio::join!(
        bus.submit(submission_with_id(
            id,
            checkout("JN-1", "0002"),
            Some("JN-CENTRAL")
        )),
        bus.submit(submission(give_back("JN-1"), Some("JN-CENTRAL"))),
    );
    let refused = refusal(refused);
    assert!(refused.message.contains("on loan"), "{}", refused.message);
    let returned = returned.unwrap();
    let written: Vec<_> = all_events(store.as_ref())
        .await
        .into_iter()
        .filter(|e| e.position > head)
        .map(|e| (e.position, e.stream, e.event_type))
        .collect();
    assert_eq!(
        written,
        [
            (
                head.next(),
                format!("refusal-{id}"),
                "CommandRefused".to_owned()
            ),
            (
                returned.events[0].position,
                "item-JN-1".to_owned(),
                "ItemReturned".to_owned()
            ),
        ],
        "the refusal comes before the return it did not see"
    );
    assert_eq!(returned.events[0].position, head.next().next());
}

#[tokio::test]
async fn a_refusal_resting_on_a_batch_that_is_not_written_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    // Appends 0 and 1 set the network up; append 2, the batch below, meets another writer.
    let store = FailingStore::wrapping(open(dir.path()).await, 2, another_writer);
    let bus = CommandBus::start(store.clone()).await.unwrap();
    set_up(&bus).await;
    // One batch: the second cataloguing of JN-1 is refused only because of the first.
    let second = Uuid::new_v4();
    let (a, b) = tokio::join!(
        bus.submit(submission(book("JN-1"), None)),
        bus.submit(submission_with_id(second, book("JN-1"), None)),
    );
    assert!(matches!(a, Err(LedgerError::Aborted(_))), "{a:?}");
    assert!(matches!(b, Err(LedgerError::Aborted(_))), "{b:?}");
    assert_eq!(store.head_position(), Position::new(2), "nothing written");
    // Neither outcome was recorded: the retry of the second is decided afresh, and accepted.
    let retry = bus
        .submit(submission_with_id(second, book("JN-1"), None))
        .await
        .expect("JN-1 was never catalogued");
    assert!(!retry.duplicate);
}

#[tokio::test]
async fn a_role_denial_is_answered_but_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bus = CommandBus::start(Arc::clone(&store)).await.unwrap();
    item_on_loan(&bus).await;
    let head = store.head_position();
    let auditor = Caller::Principal(Arc::new(Authority {
        principal: "auditor".into(),
        grant: Grant::network(Role::Auditor),
    }));
    let mut asked = submission(give_back("JN-1"), Some("JN-CENTRAL"));
    asked.ctx.caller = auditor;
    let answer = bus.submit(asked).await;
    let Err(LedgerError::Rejected(rejection)) = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(rejection.kind(), RejectionKind::PermissionDenied);
    assert_eq!(
        store.head_position(),
        head,
        "a principal that may never give the command writes nothing by asking"
    );
}

/// `submission` taken by the server at `at` instead of [`received_at`].
fn received(mut submission: Submission, at: DateTime<Utc>) -> Submission {
    submission.received_at = at;
    submission
}

#[tokio::test]
async fn a_refusal_is_repeated_to_retries_for_its_window_and_a_later_retry_is_refused_as_late() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let window = TimeDelta::hours(1);
    let bus = CommandBus::start_with(Arc::clone(&store), window)
        .await
        .unwrap();
    item_on_loan(&bus).await;
    let id = Uuid::new_v4();
    let send = |at| {
        received(
            submission_with_id(id, checkout("JN-1", "0002"), Some("JN-CENTRAL")),
            at,
        )
    };
    let first = refusal(bus.submit(send(received_at())).await);
    assert_eq!(
        first.refused_at,
        received_at(),
        "the server's clock, not the desk's"
    );
    bus.submit(submission(give_back("JN-1"), Some("JN-CENTRAL")))
        .await
        .unwrap();
    let head = store.head_position();

    // The last instant of the window still gets the refusal.
    let last = received_at() + window;
    assert_eq!(refusal(bus.submit(send(last)).await), first);

    // Later, the retry is refused as late, names the id and the window, and is not decided:
    // the item is on the shelf, and still no loan is written.
    let late = last + TimeDelta::microseconds(1);
    let answer = bus.submit(send(late)).await;
    let Err(error @ LedgerError::RetryAfterRefusalWindow { .. }) = answer else {
        panic!("expected a late retry, got {answer:?}");
    };
    assert_eq!(error.failure(), Failure::FailedPrecondition);
    let message = error.to_string();
    for part in [
        format!("command_id {id}"),
        "refused at 2026-11-20T02:01:00Z".to_owned(),
        "only until 2026-11-20T03:01:00Z".to_owned(),
        "new command_id".to_owned(),
    ] {
        assert!(message.contains(&part), "{message:?} does not say {part:?}");
    }
    assert_eq!(store.head_position(), head, "a late retry writes nothing");

    // Another request under the id is still a reuse, late or not.
    let reuse = bus
        .submit(received(
            submission_with_id(id, checkout("JN-1", "0003"), Some("JN-CENTRAL")),
            late,
        ))
        .await;
    assert!(
        matches!(reuse, Err(LedgerError::CommandIdReused { .. })),
        "{reuse:?}"
    );

    // A decider rebuilt from the log measures the window from the recorded refusal alike.
    drop(bus);
    let bus = CommandBus::start_with(Arc::clone(&store), window)
        .await
        .unwrap();
    assert_eq!(refusal(bus.submit(send(last)).await), first);
    assert!(matches!(
        bus.submit(send(late)).await,
        Err(LedgerError::RetryAfterRefusalWindow { .. })
    ));
    assert_eq!(store.head_position(), head);
}

#[tokio::test]
async fn by_default_a_refusal_is_repeated_for_a_week() {
    assert_eq!(REFUSAL_RETRY_WINDOW, TimeDelta::days(7));
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bus = CommandBus::start(Arc::clone(&store)).await.unwrap();
    item_on_loan(&bus).await;
    let id = Uuid::new_v4();
    let send = |at| {
        received(
            submission_with_id(id, checkout("JN-1", "0002"), Some("JN-CENTRAL")),
            at,
        )
    };
    let first = refusal(bus.submit(send(received_at())).await);
    let six_days_on = received_at() + TimeDelta::days(6);
    assert_eq!(refusal(bus.submit(send(six_days_on)).await), first);
    let eight_days_on = received_at() + TimeDelta::days(8);
    assert!(matches!(
        bus.submit(send(eight_days_on)).await,
        Err(LedgerError::RetryAfterRefusalWindow { .. })
    ));
}

#[tokio::test]
async fn an_accepted_command_is_answered_with_its_receipt_after_any_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let bus = CommandBus::start_with(Arc::clone(&store), TimeDelta::seconds(1))
        .await
        .unwrap();
    set_up(&bus).await;
    let id = Uuid::new_v4();
    let first = bus
        .submit(submission_with_id(id, book("JN-1"), None))
        .await
        .unwrap();
    let a_year_on = received_at() + TimeDelta::days(365);
    let retry = bus
        .submit(received(
            submission_with_id(id, book("JN-1"), None),
            a_year_on,
        ))
        .await
        .expect("the window is a refusal's: an acceptance's events are in the log for good");
    assert!(retry.duplicate);
    assert_eq!(retry.events, first.events);
}
