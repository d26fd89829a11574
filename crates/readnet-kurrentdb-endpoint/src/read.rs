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
use readnet_store::{
    AllFrom, Direction, EventStore, Position, RecordedEvent, Revision, StoreError, StreamFrom,
    SubscriptionMessage,
};
use tokio::sync::mpsc;
use tonic::Status;

use super::convert::{link_target, recorded_event, stream_identifier, timestamp};
use super::error::EndpointError;
use super::filter::EventFilter;
use futures::StreamExt as _;

/// Events fetched from the store per read while paging.
const PAGE: usize = 256;
/// Responses buffered per call: a slow reader holds at most this many in server memory, and the
/// reading task waits (the store's subscription is pulled, so writers never wait on it).
pub(crate) const CHANNEL_CAPACITY: usize = 32;

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

/// Starts serving `request` in a task of its own; responses arrive on the returned channel.
/// The task ends when the read is done, on an error (sent as the last item), or when the client
/// goes away.
pub(crate) fn start(
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    request: ReadRequest,
) -> mpsc::Receiver<Result<ReadResp, Status>> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::spawn(async move {
        let reader = Reader {
            store,
            clock,
            request,
            tx: tx.clone(),
        };
        let outcome = tokio::select! {
            outcome = reader.run() => outcome,
            () = tx.closed() => Err(Stop::Gone),
        };
        if let Err(Stop::Failed(error)) = outcome {
            let _ = tx.send(Err(error.into())).await;
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
    tx: mpsc::Sender<Result<ReadResp, Status>>,
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
        self.tx
            .send(Ok(ReadResp {
                content: Some(content),
            }))
            .await
            .map_err(|_| Stop::Gone)
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
        .await
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
