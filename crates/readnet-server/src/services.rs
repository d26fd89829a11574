//! The gRPC services: thin handlers from requests to the command bus or the store.

use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::Stream;
use readnet_domain::pb::{
    self, circulation_service_server, hold_service_server, ledger_service_server,
    network_admin_service_server, notice_service_server,
};
use readnet_domain::{Caller, Clock, Command, CommandContext, PatronKey, StreamId};
use readnet_ledger::Receipt;
use readnet_ledger::keys::KeyStore;
use readnet_projection::access;
use readnet_store::{
    AllFrom, Direction, EventStore, Position, Revision, StreamFrom, SubscriptionMessage,
};
use tonic::{Request, Response, Status};

use crate::convert::{self, PatronView};
use crate::edge::{self, Actor, CommandRequest, ToCommand};
use crate::error::ServerError;
use futures::StreamExt as _;
use readnet_domain::access::Act;
use readnet_ledger::{CommandBus, Submission};
use readnet_notices::Notices;
use readnet_projection::Handle;
use readnet_store::bounded::{self, Delivery, SendError};
use tokio_stream::wrappers::ReceiverStream;

/// The status of a subscription cut off because its client took nothing for `waited`: where
/// to subscribe again from.
fn too_slow(
    waited: std::time::Duration,
    delivery: Delivery,
    last_sent: Option<Position>,
    after: u64,
) -> Status {
    let after = last_sent.map_or(after, Position::get);
    Status::resource_exhausted(format!(
        "cut off for reading too slowly: the client took no response for {} ms while the \
         responses held for it were at their bound ({} bytes); subscribe again with \
         after_position {after}, the last event it was sent",
        waited.as_millis(),
        delivery.bounds.bytes
    ))
}

/// Most events one read returns.
const MAX_READ_COUNT: u32 = 1000;
const DEFAULT_READ_COUNT: u32 = 100;

/// What the command services share.
#[derive(Clone)]
pub struct Commands {
    pub bus: CommandBus,
    pub key: PatronKey,
    pub clock: Arc<dyn Clock>,
    /// How far before the server's now a command may be dated (an offline kiosk syncing
    /// late): docs/rules.md, "Honest time".
    pub max_backdate: chrono::TimeDelta,
    /// The patron key store: receipts show live patrons' ids opened (ADR 0018).
    pub keys: Option<Arc<KeyStore>>,
}

impl Commands {
    /// Validates a command request, runs it, and answers with its receipt.
    async fn run<R: ToCommand>(&self, request: Request<R>) -> Result<pb::CommandReceipt, Status> {
        let receipt = self.submit(request, R::to_command).await?;
        Ok(convert::receipt_opened(&receipt, self.keys.as_deref())?)
    }

    /// Checks a command request's header and metadata, builds its command with `command`, and
    /// has the ledger decide and record it as the authenticated caller's.
    pub(crate) async fn submit<R: CommandRequest>(
        &self,
        request: Request<R>,
        command: impl FnOnce(&R, &PatronKey, DateTime<Utc>) -> Result<Command, ServerError>,
    ) -> Result<Receipt, Status> {
        let caller = access::caller(&request)?;
        let actor = Actor::resolve(caller, request.metadata())?;
        let authority = std::sync::Arc::clone(&caller.authority);
        let request = request.into_inner();
        let header = request.header();
        let command_id = edge::uuid(header.command_id, "command_id")?;
        // The call's span (gRPC or SIP2) carries the command id from here on.
        tracing::Span::current().record("command_id", tracing::field::display(command_id));
        tracing::debug!(command = R::NAME, "command received");
        let correlation_id = edge::optional_uuid(header.correlation_id, "correlation_id")?;
        let now = self.clock.now();
        let occurred_at = edge::timestamp(header.occurred_at, "occurred_at", now)?.unwrap_or(now);
        if R::MAY_BE_BACKDATED && occurred_at < now - self.max_backdate {
            return Err(ServerError::invalid(format!(
                "occurred_at: {} is more than {} hours before now ({}); a command may be dated \
                 at most that far back (an offline kiosk syncing late; --max-backdate-hours)",
                occurred_at.to_rfc3339(),
                self.max_backdate.num_hours(),
                now.to_rfc3339()
            ))
            .into());
        }
        if !R::MAY_BE_BACKDATED && occurred_at < now - edge::MAX_FUTURE_SKEW {
            return Err(ServerError::invalid(format!(
                "occurred_at: {} is in the past; {} happens now (at most 5 minutes of clock skew)",
                occurred_at.to_rfc3339(),
                R::NAME
            ))
            .into());
        }
        let command = command(&request, &self.key, occurred_at)?;
        let ctx = CommandContext {
            occurred_at,
            acting_library: actor.library,
            channel: actor.channel,
            caller: Caller::Principal(authority),
        };
        let digest = readnet_ledger::digest(&self.key, R::NAME, &ctx, &request.encode_to_vec());
        let receipt = self
            .bus
            .submit(Submission {
                command_id,
                correlation_id,
                digest,
                command,
                ctx,
                received_at: now,
            })
            .await
            .map_err(ServerError::from)?;
        tracing::debug!(rpc = R::NAME, %command_id, duplicate = receipt.duplicate, "command recorded");
        Ok(receipt)
    }
}

/// Implements a command service: every RPC validates, runs and answers through [`Commands::run`],
/// its response holding the receipt. (The whole impl is generated here because `async_trait`
/// must see the methods' bodies.)
macro_rules! command_service {
    ($service:path { $($method:ident($request:ident) -> $response:ident),* $(,)? }) => {
        #[tonic::async_trait]
        impl $service for Commands {
            $(
                async fn $method(&self, request: Request<pb::$request>) -> Result<Response<pb::$response>, Status> {
                    let receipt = self.run(request).await?;
                    Ok(Response::new(pb::$response { receipt: Some(receipt) }))
                }
            )*
        }
    };
}

command_service!(network_admin_service_server::NetworkAdminService {
    join_city(JoinCityRequest) -> JoinCityResponse,
    register_library(RegisterLibraryRequest) -> RegisterLibraryResponse,
    close_library(CloseLibraryRequest) -> CloseLibraryResponse,
    set_return_policy(SetReturnPolicyRequest) -> SetReturnPolicyResponse,
    set_tariff(SetTariffRequest) -> SetTariffResponse,
    set_patron_tier(SetPatronTierRequest) -> SetPatronTierResponse,
    forget_patron(ForgetPatronRequest) -> ForgetPatronResponse,
    move_library(MoveLibraryRequest) -> MoveLibraryResponse,
    rename_library(RenameLibraryRequest) -> RenameLibraryResponse,
    change_library_tier(ChangeLibraryTierRequest) -> ChangeLibraryTierResponse,
    set_calendar(SetCalendarRequest) -> SetCalendarResponse,
    close_library_temporarily(CloseLibraryTemporarilyRequest) -> CloseLibraryTemporarilyResponse,
    reopen_library(ReopenLibraryRequest) -> ReopenLibraryResponse,
    set_acquisition_budget(SetAcquisitionBudgetRequest) -> SetAcquisitionBudgetResponse,
    set_acquisition_policy(SetAcquisitionPolicyRequest) -> SetAcquisitionPolicyResponse,
    register_bookstore(RegisterBookstoreRequest) -> RegisterBookstoreResponse,
    license_e_resource(LicenseEResourceRequest) -> LicenseEResourceResponse,
});

command_service!(circulation_service_server::CirculationService {
    catalogue_item(CatalogueItemRequest) -> CatalogueItemResponse,
    checkout(CheckoutRequest) -> CheckoutResponse,
    renew(RenewRequest) -> RenewResponse,
    r#return(ReturnRequest) -> ReturnResponse,
    dispatch_transfer(DispatchTransferRequest) -> DispatchTransferResponse,
    receive_transfer(ReceiveTransferRequest) -> ReceiveTransferResponse,
    booth_swap(BoothSwapRequest) -> BoothSwapResponse,
    patron_driven_acquisition(PatronDrivenAcquisitionRequest) -> PatronDrivenAcquisitionResponse,
    declare_lost(DeclareLostRequest) -> DeclareLostResponse,
    pay_lost_item(PayLostItemRequest) -> PayLostItemResponse,
    waive_lost_item_debt(WaiveLostItemDebtRequest) -> WaiveLostItemDebtResponse,
    withdraw(WithdrawRequest) -> WithdrawResponse,
    borrow_digital(BorrowDigitalRequest) -> BorrowDigitalResponse,
    return_digital(ReturnDigitalRequest) -> ReturnDigitalResponse,
    expire_digital_loans(ExpireDigitalLoansRequest) -> ExpireDigitalLoansResponse,
    report_footfall(ReportFootfallRequest) -> ReportFootfallResponse,
});

#[tonic::async_trait]
impl hold_service_server::HoldService for Commands {
    async fn place_hold(
        &self,
        request: Request<pb::PlaceHoldRequest>,
    ) -> Result<Response<pb::PlaceHoldResponse>, Status> {
        let receipt = self.run(request).await?;
        // The hold's number is in its HoldPlaced, which every accepted PlaceHold records.
        let hold = receipt
            .events
            .iter()
            .find_map(|e| match e.event.as_ref()?.payload.as_ref()? {
                pb::event::Payload::HoldPlaced(placed) => Some(placed.hold),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Response::new(pb::PlaceHoldResponse {
            receipt: Some(receipt),
            hold,
        }))
    }

    async fn cancel_hold(
        &self,
        request: Request<pb::CancelHoldRequest>,
    ) -> Result<Response<pb::CancelHoldResponse>, Status> {
        let receipt = self.run(request).await?;
        Ok(Response::new(pb::CancelHoldResponse {
            receipt: Some(receipt),
        }))
    }

    async fn expire_holds(
        &self,
        request: Request<pb::ExpireHoldsRequest>,
    ) -> Result<Response<pb::ExpireHoldsResponse>, Status> {
        let receipt = self.run(request).await?;
        Ok(Response::new(pb::ExpireHoldsResponse {
            receipt: Some(receipt),
        }))
    }

    async fn set_library_roles(
        &self,
        request: Request<pb::SetLibraryRolesRequest>,
    ) -> Result<Response<pb::SetLibraryRolesResponse>, Status> {
        let receipt = self.run(request).await?;
        Ok(Response::new(pb::SetLibraryRolesResponse {
            receipt: Some(receipt),
        }))
    }
}

/// The read side of the log.
#[derive(Clone)]
pub struct LedgerService {
    pub store: Arc<dyn EventStore>,
    /// The network secret: analytics readers' patron pseudonyms are keyed by it.
    pub key: PatronKey,
    /// What a subscription holds for its client, and when a stalled client is cut off.
    pub delivery: Delivery,
    /// The patron key store: events show live patrons' ids opened, before each reader's
    /// [`PatronView`] (ADR 0018).
    pub keys: Option<Arc<KeyStore>>,
}

impl LedgerService {
    /// Events as the API shows them to this reader, with the head taken after the read, so it
    /// is at least the position of every event returned.
    fn read_response(
        &self,
        events: &[readnet_store::RecordedEvent],
        patrons: &PatronView,
    ) -> Result<(Vec<pb::RecordedEvent>, u64), ServerError> {
        let events = events
            .iter()
            .map(|e| {
                convert::recorded_event_opened(e, self.keys.as_deref()).map(|e| patrons.event(e))
            })
            .collect::<Result<_, _>>()?;
        Ok((events, self.store.head_position().get()))
    }

    /// What the caller may see of patrons, once it may do `act`.
    fn patron_view<T>(&self, request: &Request<T>, act: Act) -> Result<PatronView, Status> {
        let caller = access::authorize(request, act, &[])?;
        Ok(PatronView::for_reader(
            caller.role(),
            &caller.authority.principal,
            &self.key,
        ))
    }
}

/// Reads up to `count` ledger events of `$all`, passing over events of other streams, so that a
/// short page means the end of the log, as it does for a plain read.
async fn read_ledger(
    store: &dyn EventStore,
    mut from: AllFrom,
    direction: Direction,
    count: usize,
) -> Result<Vec<readnet_store::RecordedEvent>, ServerError> {
    let mut events = Vec::new();
    while events.len() < count {
        let page = store
            .read_all(from, direction, count - events.len())
            .await?;
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        events.extend(
            page.into_iter()
                .filter(|e| StreamId::is_ledger_stream(&e.stream)),
        );
        from = match direction {
            Direction::Forwards => AllFrom::Position(last.next()),
            Direction::Backwards => match last.previous() {
                Some(before) if before >= Position::FIRST => AllFrom::Position(before),
                _ => break,
            },
        };
    }
    Ok(events)
}

fn read_count(max_count: u32) -> usize {
    match max_count {
        0 => DEFAULT_READ_COUNT as usize,
        n => n.min(MAX_READ_COUNT) as usize,
    }
}

fn read_direction(direction: i32) -> Result<Direction, ServerError> {
    Ok(match pb::ReadDirection::try_from(direction) {
        Ok(pb::ReadDirection::Unspecified | pb::ReadDirection::Forwards) => Direction::Forwards,
        Ok(pb::ReadDirection::Backwards) => Direction::Backwards,
        Err(_) => {
            return Err(ServerError::invalid(format!(
                "direction: {direction} is not a known value"
            )));
        }
    })
}

/// Where a stream read starts: `from_revision`, else the end it reads away from.
fn stream_from(from_revision: Option<u64>, direction: Direction) -> StreamFrom {
    match (from_revision, direction) {
        (Some(revision), _) => StreamFrom::Revision(Revision::new(revision)),
        (None, Direction::Forwards) => StreamFrom::Start,
        (None, Direction::Backwards) => StreamFrom::End,
    }
}

/// Where a read of `$all` starts: `from_position`, else the end it reads away from.
fn all_from(from_position: Option<u64>, direction: Direction) -> AllFrom {
    match (from_position, direction) {
        (Some(position), _) => AllFrom::Position(Position::new(position)),
        (None, Direction::Forwards) => AllFrom::Start,
        (None, Direction::Backwards) => AllFrom::End,
    }
}

type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeAllResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ledger_service_server::LedgerService for LedgerService {
    async fn read_stream(
        &self,
        request: Request<pb::ReadStreamRequest>,
    ) -> Result<Response<pb::ReadStreamResponse>, Status> {
        let act = if request
            .get_ref()
            .stream
            .starts_with(StreamId::PATRON_PREFIX)
        {
            Act::ReadPatronStream
        } else {
            Act::ReadLog
        };
        let patrons = self.patron_view(&request, act)?;
        let r = request.into_inner();
        if r.stream.is_empty() {
            return Err(ServerError::invalid("stream: a stream name is required").into());
        }
        if !StreamId::is_ledger_stream(&r.stream) {
            return Err(ServerError::invalid(format!(
                "stream: {:?} is not a ledger stream (network, settlement, item-…, patron-…, \
                 refusal-…); read other streams through the KurrentDB Streams API on the same port",
                r.stream
            ))
            .into());
        }
        let direction = read_direction(r.direction)?;
        let from = stream_from(r.from_revision, direction);
        let events = self
            .store
            .read_stream(&r.stream, from, direction, read_count(r.max_count))
            .await
            .map_err(ServerError::from)?;
        let (events, head_position) = self.read_response(&events, &patrons)?;
        Ok(Response::new(pb::ReadStreamResponse {
            events,
            head_position,
        }))
    }

    async fn read_all(
        &self,
        request: Request<pb::ReadAllRequest>,
    ) -> Result<Response<pb::ReadAllResponse>, Status> {
        let patrons = self.patron_view(&request, Act::ReadLog)?;
        let r = request.into_inner();
        let direction = read_direction(r.direction)?;
        let from = all_from(r.from_position, direction);
        let events = read_ledger(&*self.store, from, direction, read_count(r.max_count)).await?;
        let (events, head_position) = self.read_response(&events, &patrons)?;
        Ok(Response::new(pb::ReadAllResponse {
            events,
            head_position,
        }))
    }

    type SubscribeAllStream = SubscribeStream;

    async fn subscribe_all(
        &self,
        request: Request<pb::SubscribeAllRequest>,
    ) -> Result<Response<Self::SubscribeAllStream>, Status> {
        let patrons = self.patron_view(&request, Act::ReadLog)?;
        let after = request.into_inner().after_position;
        let mut subscription = self.store.subscribe_all(Position::new(after));
        let delivery = self.delivery;
        let keys = self.keys.clone();
        let (sender, receiver) = bounded::channel(delivery.bounds);
        tokio::spawn(async move {
            let mut last_sent = None;
            loop {
                // A client that goes away while nothing is written must still end the
                // subscription, so wait for either.
                let message = tokio::select! {
                    message = subscription.next() => message,
                    () = sender.closed() => break,
                };
                let Some(message) = message else { break };
                let (out, position) = match message {
                    Ok(SubscriptionMessage::Event(event))
                        if !StreamId::is_ledger_stream(&event.stream) =>
                    {
                        continue;
                    }
                    Ok(SubscriptionMessage::Event(event)) => (
                        convert::recorded_event_opened(&event, keys.as_deref())
                            .map(|e| pb::SubscribeAllResponse {
                                message: Some(pb::subscribe_all_response::Message::Event(
                                    patrons.event(e),
                                )),
                            })
                            .map_err(Status::from),
                        Some(event.position),
                    ),
                    Ok(SubscriptionMessage::CaughtUp { position }) => (
                        Ok(pb::SubscribeAllResponse {
                            message: Some(pb::subscribe_all_response::Message::CaughtUp(
                                pb::CaughtUp {
                                    position: position.get(),
                                },
                            )),
                        }),
                        None,
                    ),
                    Err(error) => (Err(Status::from(ServerError::from(error))), None),
                };
                let out = match out {
                    Ok(response) => response,
                    Err(status) => {
                        sender.finish(Err(status));
                        break;
                    }
                };
                let bytes = prost::Message::encoded_len(&out);
                match sender
                    .send_within(Ok(out), bytes, delivery.stall_timeout)
                    .await
                {
                    Ok(()) => last_sent = position.or(last_sent),
                    Err(SendError::Closed) => break,
                    Err(SendError::Stalled(waited)) => {
                        sender.finish(Err(too_slow(waited, delivery, last_sent, after)));
                        break;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(receiver)))
    }

    async fn get_item(
        &self,
        request: Request<pb::GetItemRequest>,
    ) -> Result<Response<pb::GetItemResponse>, Status> {
        let patrons = self.patron_view(&request, Act::ReadCatalogue)?;
        let item = edge::item_code(&request.into_inner().item, "item")?;
        let stream = readnet_domain::StreamId::Item(item.to_string()).name();
        let mut events = Vec::new();
        let mut next = Revision::FIRST;
        loop {
            let page = self
                .store
                .read_stream(
                    &stream,
                    StreamFrom::Revision(next),
                    Direction::Forwards,
                    MAX_READ_COUNT as usize,
                )
                .await
                .map_err(ServerError::from)?;
            let Some(last) = page.last() else { break };
            next = last.revision.next();
            let full = page.len() == MAX_READ_COUNT as usize;
            events.extend(page);
            if !full {
                break;
            }
        }
        match convert::item_state(&events, self.keys.as_deref())? {
            Some(mut state) => {
                state.patron_id = patrons.patron(&state.patron_id);
                Ok(Response::new(pb::GetItemResponse { item: Some(state) }))
            }
            None => Err(ServerError::NotFound(format!("item {item} is not catalogued")).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_read_direction_reads_forwards_from_the_start() {
        let unspecified = read_direction(pb::ReadDirection::Unspecified as i32).unwrap();
        assert_eq!(unspecified, Direction::Forwards);
        assert_eq!(stream_from(None, unspecified), StreamFrom::Start);
        assert_eq!(all_from(None, unspecified), AllFrom::Start);
        let backwards = read_direction(pb::ReadDirection::Backwards as i32).unwrap();
        assert_eq!(backwards, Direction::Backwards);
        assert_eq!(stream_from(None, backwards), StreamFrom::End);
        assert_eq!(all_from(None, backwards), AllFrom::End);
        assert!(read_direction(7).is_err());
    }
}

/// The notices feed (ADR 0016): gateways follow the notices projection and acknowledge what
/// they delivered, as a command.
#[derive(Clone)]
pub struct NoticeService {
    pub commands: Commands,
    pub notices: Handle<Notices>,
    /// For the log's head: a subscription reads the gateway's checkpoint once the projection
    /// has applied it.
    pub store: Arc<dyn EventStore>,
}

#[tonic::async_trait]
impl notice_service_server::NoticeService for NoticeService {
    type SubscribeNoticesStream = ReceiverStream<Result<pb::SubscribeNoticesResponse, Status>>;

    async fn subscribe_notices(
        &self,
        request: Request<pb::SubscribeNoticesRequest>,
    ) -> Result<Response<Self::SubscribeNoticesStream>, Status> {
        readnet_projection::access::authorize(&request, Act::Notices, &[])?;
        let wait = readnet_projection::wait_budget(request.metadata());
        let gateway = request.into_inner().gateway;
        let head = self.store.head_position();
        let stream = readnet_notices::follow(self.notices.clone(), gateway, head, wait).await?;
        Ok(Response::new(stream))
    }

    async fn acknowledge_notices(
        &self,
        request: Request<pb::AcknowledgeNoticesRequest>,
    ) -> Result<Response<pb::AcknowledgeNoticesResponse>, Status> {
        let receipt = self.commands.run(request).await?;
        Ok(Response::new(pb::AcknowledgeNoticesResponse {
            receipt: Some(receipt),
        }))
    }
}
