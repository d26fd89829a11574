//! `Streams.Read`: reads of a stream or `$all` in either direction, and catch-up subscriptions.
//!
//! Inclusive and exclusive starts follow KurrentDB: a forwards read from revision R or position
//! P includes R or P; a backwards read of a stream from R includes R, but a backwards read of
//! `$all` from P returns only events before P; a subscription from R or P starts after it.

use std::sync::Arc;

use readnet_domain::Clock;
use readnet_proto::kurrentdb::streams::read_req::options::{
    CountOption, FilterOption, ReadDirection, StreamOption, all_options::AllOption,
    stream_options::RevisionOption, uuid_option,
};
use readnet_proto::kurrentdb::streams::read_resp::{self, Content, read_event};
use readnet_proto::kurrentdb::streams::{ReadReq, ReadResp};
use readnet_store::bounded::{self, Delivery, SendError};
use readnet_store::{
    AllFrom, Direction, EventStore, Position, RecordedEvent, Revision, StoreError, StreamFrom,
    SubscriptionMessage,
};
use tonic::Status;

use super::convert::{link_target, recorded_event, stream_identifier, timestamp};
use super::error::EndpointError;
use super::filter::EventFilter;
use futures::StreamExt as _;

/// Events fetched from the store per read while paging.
const PAGE: usize = 256;

/// A parsed `ReadReq`.
#[derive(Debug)]
pub(crate) struct ReadRequest {
    target: Target,
    start: Start,
    direction: Direction,
    resolve_links: bool,
    /// `None`: a subscription; `Some(n)`: a read of at most `n` events.
    count: Option<u64>,
    filter: Option<EventFilter>,
    structured_ids: bool,
}

#[derive(Debug)]
enum Target {
    Stream(String),
    All,
}

#[derive(Debug, Clone, Copy)]
enum Start {
    First,
    End,
    /// A revision (stream) or a position (`$all`; 0 is the start).
    At(u64),
}

impl ReadRequest {
    pub(crate) fn parse(request: ReadReq) -> Result<Self, EndpointError> {
        let options = request
            .options
            .ok_or_else(|| EndpointError::invalid("options: a read needs its options"))?;
        let (target, start) = match options.stream_option {
            Some(StreamOption::Stream(stream)) => {
                let name = super::convert::stream_name(
                    stream.stream_identifier,
                    "options.stream.stream_identifier",
                )?;
                let start = match stream.revision_option {
                    Some(RevisionOption::Revision(revision)) => Start::At(revision),
                    Some(RevisionOption::End(_)) => Start::End,
                    Some(RevisionOption::Start(_)) | None => Start::First,
                };
                (Target::Stream(name), start)
            }
            Some(StreamOption::All(all)) => {
                let start = match all.all_option {
                    Some(AllOption::Position(position)) => Start::At(position.commit_position),
                    Some(AllOption::End(_)) => Start::End,
                    Some(AllOption::Start(_)) | None => Start::First,
                };
                (Target::All, start)
            }
            None => {
                return Err(EndpointError::invalid(
                    "options.stream_option: name a stream or $all",
                ));
            }
        };
        let direction = match ReadDirection::try_from(options.read_direction) {
            Ok(ReadDirection::Forwards) => Direction::Forwards,
            Ok(ReadDirection::Backwards) => Direction::Backwards,
            Err(_) => {
                return Err(EndpointError::invalid(format!(
                    "options.read_direction: {} is neither Forwards (0) nor Backwards (1)",
                    options.read_direction
                )));
            }
        };
        let count = match options.count_option {
            Some(CountOption::Count(count)) => Some(count),
            Some(CountOption::Subscription(_)) => None,
            None => {
                return Err(EndpointError::invalid(
                    "options.count_option: send a count or subscription",
                ));
            }
        };
        if count.is_none() && direction == Direction::Backwards {
            return Err(EndpointError::invalid(
                "options.read_direction: subscriptions read forwards only",
            ));
        }
        let filter = match options.filter_option {
            Some(FilterOption::Filter(filter)) => {
                if !matches!(target, Target::All) {
                    return Err(EndpointError::invalid(
                        "options.filter: server-side filters apply to $all only",
                    ));
                }
                Some(EventFilter::new(filter)?)
            }
            Some(FilterOption::NoFilter(_)) | None => None,
        };
        let structured_ids = !matches!(
            options.uuid_option.and_then(|o| o.content),
            Some(uuid_option::Content::String(_))
        );
        Ok(Self {
            target,
            start,
            direction,
            resolve_links: options.resolve_links,
            count,
            filter,
            structured_ids,
        })
    }
}

/// The responses of one call, as the server holds them for the client.
pub(crate) type Responses = bounded::Receiver<Result<ReadResp, Status>>;

/// Starts serving `request` in a task of its own; responses arrive on the returned channel,
/// which holds at most `delivery.bounds` for the client. The task ends when the read is done, on
/// an error (sent as the last item), when the client goes away, or when the client takes no
/// response for `delivery.stall_timeout` (cut off, naming the last event it was sent).
pub(crate) fn start(
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    request: ReadRequest,
    delivery: Delivery,
) -> Responses {
    let (tx, rx) = bounded::channel(delivery.bounds);
    tokio::spawn(async move {
        let reader = Reader {
            store,
            clock,
            request,
            tx: tx.clone(),
            delivery,
            last_sent: std::sync::Mutex::new(None),
        };
        let outcome = tokio::select! {
            outcome = reader.run() => outcome,
            () = tx.closed() => Err(Stop::Gone),
        };
        if let Err(Stop::Failed(error)) = outcome {
            // Past whatever waits in the channel: a stalled client gets it once it reads on.
            tx.finish(Err(error.into()));
        }
    });
    rx
}

/// Why a read ended early.
enum Stop {
    /// The client hung up.
    Gone,
    Failed(EndpointError),
}

impl From<EndpointError> for Stop {
    fn from(error: EndpointError) -> Self {
        Self::Failed(error)
    }
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Self::Failed(error.into())
    }
}

/// Where a page of a read starts, in the request's numbers: a stream revision when reading a
/// stream, a `$all` position when reading `$all`. They become the store's types at the call.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    Start,
    End,
    At(u64),
}

impl Cursor {
    fn in_stream(self) -> StreamFrom {
        match self {
            Cursor::Start => StreamFrom::Start,
            Cursor::End => StreamFrom::End,
            Cursor::At(revision) => StreamFrom::Revision(Revision::new(revision)),
        }
    }

    fn in_all(self) -> AllFrom {
        match self {
            Cursor::Start => AllFrom::Start,
            Cursor::End => AllFrom::End,
            Cursor::At(position) => AllFrom::Position(Position::new(position)),
        }
    }
}

struct Reader {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    request: ReadRequest,
    tx: bounded::Sender<Result<ReadResp, Status>>,
    delivery: Delivery,
    /// The position, stream and revision of the last event handed to the client's channel.
    last_sent: std::sync::Mutex<Option<(u64, String, u64)>>,
}

impl Reader {
    async fn run(&self) -> Result<(), Stop> {
        match (&self.request.target, self.request.count) {
            (target, Some(count)) => self.read(target, count).await,
            (Target::All, None) => self.subscribe_all().await,
            (Target::Stream(name), None) => self.subscribe_stream(name).await,
        }
    }

    /// Whether the request's filter (if any) passes `event`.
    fn passes(&self, event: &RecordedEvent) -> Result<bool, Stop> {
        match &self.request.filter {
            None => Ok(true),
            Some(filter) => Ok(filter.matches(event)?),
        }
    }

    async fn send(&self, content: Content) -> Result<(), Stop> {
        let response = ReadResp {
            content: Some(content),
        };
        let bytes = prost::Message::encoded_len(&response);
        let stall = self.delivery.stall_timeout;
        match self.tx.send_within(Ok(response), bytes, stall).await {
            Ok(()) => Ok(()),
            Err(SendError::Closed) => Err(Stop::Gone),
            Err(SendError::Stalled(waited)) => Err(Stop::Failed(EndpointError::TooSlow {
                waited_ms: waited.as_millis(),
                max_bytes: self.delivery.bounds.bytes,
                last_sent: self.last_sent(),
            })),
        }
    }

    /// The last event the client was sent, as a cut-off call names it.
    fn last_sent(&self) -> String {
        match &*self.last_sent.lock().expect("the lock is not poisoned") {
            None => "it was sent no event; resubscribe from where it started".to_owned(),
            Some((position, stream, revision)) => format!(
                "the last event it was sent is at position {position} (revision {revision} of \
                 {}); resubscribe (or read on) from there",
                super::error::quote(stream)
            ),
        }
    }

    /// Sends an event; with `resolve_links`, a link goes out as `link` with its target as
    /// `event` (no `event` when the target does not exist), as KurrentDB resolves them.
    async fn send_event(&self, event: RecordedEvent) -> Result<(), Stop> {
        let structured = self.request.structured_ids;
        let position = Some(read_event::Position::CommitPosition(event.position.get()));
        let target = match link_target(&event) {
            Some((revision, stream)) if self.request.resolve_links => Some(
                self.store
                    .read_stream(
                        &stream,
                        StreamFrom::Revision(revision),
                        Direction::Forwards,
                        1,
                    )
                    .await?
                    .into_iter()
                    .find(|target| target.revision == revision),
            ),
            _ => None,
        };
        let sent = (
            event.position.get(),
            event.stream.clone(),
            event.revision.get(),
        );
        let (event, link) = match target {
            Some(target) => (
                target.map(|t| recorded_event(&t, structured)),
                Some(recorded_event(&event, structured)),
            ),
            None => (Some(recorded_event(&event, structured)), None),
        };
        self.send(Content::Event(read_resp::ReadEvent {
            event,
            link,
            position,
        }))
        .await?;
        *self.last_sent.lock().expect("the lock is not poisoned") = Some(sent);
        Ok(())
    }

    /// A read of at most `count` events, paged from the store.
    async fn read(&self, target: &Target, count: u64) -> Result<(), Stop> {
        let direction = self.request.direction;
        if let Target::Stream(name) = target
            && self.store.stream_revision(name).await?.is_none()
        {
            return self
                .send(Content::StreamNotFound(read_resp::StreamNotFound {
                    stream_identifier: Some(stream_identifier(name)),
                }))
                .await;
        }
        // The first revision or position: readnet's are dense (revisions from 0, positions
        // from 1), so a backwards page continues one below its last event.
        let lowest = match target {
            Target::Stream(_) => 0,
            Target::All => 1,
        };
        let mut cursor = match (target, direction, self.request.start) {
            (_, _, Start::End) => Cursor::End,
            (Target::All, Direction::Forwards, Start::At(0)) | (_, _, Start::First) => {
                match (target, direction) {
                    // KurrentDB: nothing lies before the start of $all.
                    (Target::All, Direction::Backwards) => return Ok(()),
                    _ => Cursor::Start,
                }
            }
            // Backwards in $all from P: the events before P.
            (Target::All, Direction::Backwards, Start::At(position)) => {
                if position <= lowest {
                    return Ok(());
                }
                Cursor::At(position - 1)
            }
            (_, _, Start::At(at)) => Cursor::At(at),
        };
        let mut remaining = count;
        while remaining > 0 {
            let page = match target {
                Target::Stream(name) => {
                    self.store
                        .read_stream(name, cursor.in_stream(), direction, PAGE)
                        .await?
                }
                Target::All => {
                    self.store
                        .read_all(cursor.in_all(), direction, PAGE)
                        .await?
                }
            };
            let full = page.len() == PAGE;
            let Some(last) = page.last() else {
                return Ok(());
            };
            let last = match target {
                Target::Stream(_) => last.revision.get(),
                Target::All => last.position.get(),
            };
            for event in page {
                if self.passes(&event)? {
                    self.send_event(event).await?;
                    remaining -= 1;
                    if remaining == 0 {
                        return Ok(());
                    }
                }
            }
            cursor = match direction {
                _ if !full => return Ok(()),
                Direction::Forwards => Cursor::At(last + 1),
                Direction::Backwards if last <= lowest => return Ok(()),
                Direction::Backwards => Cursor::At(last - 1),
            };
        }
        Ok(())
    }

    async fn confirm(&self) -> Result<(), Stop> {
        self.send(Content::Confirmation(read_resp::SubscriptionConfirmation {
            subscription_id: uuid::Uuid::new_v4().to_string(),
        }))
        .await
    }

    fn caught_up(&self, stream_revision: Option<u64>, position: Option<u64>) -> Content {
        Content::CaughtUp(read_resp::CaughtUp {
            timestamp: Some(timestamp(self.clock.now())),
            stream_revision: stream_revision.map(|r| r as i64),
            position: position.map(|p| read_resp::Position {
                commit_position: p,
                prepare_position: p,
            }),
        })
    }

    /// A catch-up subscription to `$all`: the store's own subscription (catch up, then live),
    /// filtered, with checkpoints every `checkpoint_interval` events scanned when filtered.
    async fn subscribe_all(&self) -> Result<(), Stop> {
        let after = match self.request.start {
            Start::First => Position::START,
            Start::End => self.store.head_position(),
            Start::At(position) => Position::new(position),
        };
        let mut subscription = self.store.subscribe_all(after);
        self.confirm().await?;
        let mut scanned = 0u64;
        while let Some(message) = subscription.next().await {
            match message? {
                SubscriptionMessage::Event(event) => {
                    scanned += 1;
                    let position = event.position.get();
                    let filter = self.request.filter.as_ref();
                    if self.passes(&event)? {
                        self.send_event(event).await?;
                    }
                    if let Some(filter) = filter
                        && scanned.is_multiple_of(filter.checkpoint_interval)
                    {
                        self.send(Content::Checkpoint(read_resp::Checkpoint {
                            commit_position: position,
                            prepare_position: position,
                            timestamp: Some(timestamp(self.clock.now())),
                        }))
                        .await?;
                    }
                }
                SubscriptionMessage::CaughtUp { position } => {
                    let position = (position > Position::START).then_some(position.get());
                    self.send(self.caught_up(None, position)).await?;
                }
            }
        }
        Err(StoreError::Closed.into())
    }

    /// A catch-up subscription to one stream: page through the stream, then follow `$all` from
    /// the head seen before the last page, passing this stream's newer events.
    async fn subscribe_stream(&self, name: &str) -> Result<(), Stop> {
        let mut next_revision = match self.request.start {
            Start::First => Revision::FIRST,
            Start::End => self
                .store
                .stream_revision(name)
                .await?
                .map_or(Revision::FIRST, Revision::next),
            Start::At(revision) => Revision::new(revision).next(),
        };
        self.confirm().await?;
        let head = loop {
            // Every event at or below `head` is readable now, so the page sees them all; later
            // ones come through the subscription below.
            let head = self.store.head_position();
            let page = self
                .store
                .read_stream(
                    name,
                    StreamFrom::Revision(next_revision),
                    Direction::Forwards,
                    PAGE,
                )
                .await?;
            let full = page.len() == PAGE;
            for event in page {
                next_revision = event.revision.next();
                self.send_event(event).await?;
            }
            if !full {
                break head;
            }
        };
        let mut subscription = self.store.subscribe_all(head);
        while let Some(message) = subscription.next().await {
            match message? {
                SubscriptionMessage::Event(event)
                    if event.stream == name && event.revision >= next_revision =>
                {
                    next_revision = event.revision.next();
                    self.send_event(event).await?;
                }
                SubscriptionMessage::Event(_) => {}
                SubscriptionMessage::CaughtUp { .. } => {
                    let revision = next_revision.previous().map(Revision::get);
                    self.send(self.caught_up(revision, None)).await?;
                }
            }
        }
        Err(StoreError::Closed.into())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt as _;
    use readnet_proto::kurrentdb::shared::Empty;
    use readnet_proto::kurrentdb::streams::read_req::Options;
    use readnet_proto::kurrentdb::streams::read_req::options::{AllOptions, SubscriptionOptions};
    use readnet_store::bounded::Bounds;
    use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
    use readnet_store::{ContentType, EventData, StreamState};
    use tonic::Code;

    use super::*;

    const EVENT_BYTES: usize = 64 * 1024;

    /// A store holding `n` events of [`EVENT_BYTES`] in stream `big`.
    async fn store_of_large_events(dir: &std::path::Path, n: usize) -> Arc<dyn EventStore> {
        let store = EmbeddedStore::open(dir, EmbeddedOptions::default())
            .await
            .unwrap();
        for _ in 0..n {
            let event = EventData {
                event_id: uuid::Uuid::new_v4(),
                event_type: "Blob".into(),
                content_type: ContentType::Binary,
                metadata: bytes::Bytes::new(),
                data: vec![7; EVENT_BYTES].into(),
            };
            store
                .append("big", StreamState::Any, vec![event])
                .await
                .unwrap();
        }
        Arc::new(store)
    }

    fn subscribe_to_all_from_the_start() -> ReadRequest {
        ReadRequest::parse(ReadReq {
            options: Some(Options {
                stream_option: Some(StreamOption::All(AllOptions {
                    all_option: Some(AllOption::Start(Empty {})),
                })),
                count_option: Some(CountOption::Subscription(SubscriptionOptions {})),
                ..Default::default()
            }),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_subscriber_that_stops_taking_is_cut_off_naming_where_to_resume() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_large_events(dir.path(), 64).await;
        let delivery = Delivery {
            bounds: Bounds {
                messages: 32,
                bytes: 4 * EVENT_BYTES,
            },
            stall_timeout: Duration::from_millis(200),
        };
        let clock = Arc::new(readnet_domain::SystemClock);
        let mut responses = start(store, clock, subscribe_to_all_from_the_start(), delivery);
        // The client stalls past the timeout.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut positions = Vec::new();
        let status = loop {
            match tokio::time::timeout(Duration::from_secs(5), responses.next()).await {
                Ok(Some(Ok(ReadResp {
                    content: Some(Content::Event(event)),
                }))) => match event.position {
                    Some(read_event::Position::CommitPosition(p)) => positions.push(p),
                    other => panic!("{other:?}"),
                },
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(status))) => break status,
                other => panic!("the call ends with a status, not {other:?}"),
            }
        };
        assert_eq!(status.code(), Code::ResourceExhausted);
        // Only what the bound holds was waiting (the confirmation takes a little of it).
        assert!(
            !positions.is_empty() && positions.len() <= 4,
            "{positions:?}"
        );
        assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
        let last = positions.last().unwrap();
        assert!(
            status.message().contains(&format!(
                "the last event it was sent is at position {last} (revision {} of \"big\")",
                last - 1
            )),
            "{}",
            status.message()
        );
        assert!(
            status.message().starts_with(
                "cut off for reading too slowly: the client took no response for 200 ms"
            ),
            "{}",
            status.message()
        );
        assert_eq!(responses.next().await.map(|r| r.is_ok()), None);
    }

    #[tokio::test]
    async fn a_subscriber_that_keeps_taking_is_never_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_large_events(dir.path(), 64).await;
        let delivery = Delivery {
            bounds: Bounds {
                messages: 32,
                bytes: 2 * EVENT_BYTES,
            },
            stall_timeout: Duration::from_millis(200),
        };
        let clock = Arc::new(readnet_domain::SystemClock);
        let mut responses = start(store, clock, subscribe_to_all_from_the_start(), delivery);
        let mut events = 0;
        while events < 64 {
            // Slower than the store, faster than the stall timeout.
            tokio::time::sleep(Duration::from_millis(5)).await;
            match responses.next().await {
                Some(Ok(ReadResp {
                    content: Some(Content::Event(_)),
                })) => events += 1,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    }
}
