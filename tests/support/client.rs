//! gRPC clients for the tests: who acts (library, channel) travels in metadata, every command
//! gets a fresh command id unless the test sets one.

use std::time::Duration;

use chrono::{DateTime, Utc};

use readnet_proto::v1::{
    self, Acquisition, BookDescription, Card, CommandReceipt, CreditTier, ItemState, LibraryTier,
    ReadDirection, RecordedEvent, ReturnPolicy, TransferReason,
    access_service_client::AccessServiceClient,
    circulation_service_client::CirculationServiceClient, hold_service_client::HoldServiceClient,
    ledger_service_client::LedgerServiceClient,
    network_admin_service_client::NetworkAdminServiceClient,
};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};
use uuid::Uuid;

/// Metadata naming the acting library.
pub const LIBRARY_HEADER: &str = "x-readnet-library";
/// Metadata naming the channel.
pub const CHANNEL_HEADER: &str = "x-readnet-channel";

/// Longest a unary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A patron's card.
pub fn card(city: &str, number: &str) -> Card {
    Card {
        city: city.to_owned(),
        number: number.to_owned(),
    }
}

/// A command request: it carries a command id.
pub trait CommandRequest: prost::Message + Clone + Send + 'static {
    fn command_id_mut(&mut self) -> &mut String;
    fn occurred_at_mut(&mut self) -> &mut Option<prost_types::Timestamp>;
}

macro_rules! command_requests {
    ($($request:ident),* $(,)?) => {
        $(impl CommandRequest for v1::$request {
            fn command_id_mut(&mut self) -> &mut String {
                &mut self.command_id
            }
            fn occurred_at_mut(&mut self) -> &mut Option<prost_types::Timestamp> {
                &mut self.occurred_at
            }
        })*
    };
}

/// A command's response: each command has its own, and each holds the command's receipt.
pub trait CommandResponse {
    /// The receipt; panics if the response has none.
    fn into_receipt(self) -> CommandReceipt;
}

macro_rules! command_responses {
    ($($response:ident),* $(,)?) => {
        $(impl CommandResponse for v1::$response {
            fn into_receipt(self) -> CommandReceipt {
                self.receipt.expect(concat!(stringify!($response), " holds the command's receipt"))
            }
        })*
    };
}

command_responses!(
    JoinCityResponse,
    RegisterLibraryResponse,
    CloseLibraryResponse,
    SetReturnPolicyResponse,
    SetTariffResponse,
    SetPatronTierResponse,
    ForgetPatronResponse,
    CatalogueItemResponse,
    CheckoutResponse,
    RenewResponse,
    ReturnResponse,
    DispatchTransferResponse,
    ReceiveTransferResponse,
    BoothSwapResponse,
    PatronDrivenAcquisitionResponse,
    DeclareLostResponse,
    PayLostItemResponse,
    WaiveLostItemDebtResponse,
    WithdrawResponse,
    PlaceHoldResponse,
    CancelHoldResponse,
    ExpireHoldsResponse,
    SetLibraryRolesResponse,
    MoveLibraryResponse,
    RenameLibraryResponse,
    ChangeLibraryTierResponse,
    SetCalendarResponse,
    CloseLibraryTemporarilyResponse,
    ReopenLibraryResponse,
    SetAcquisitionBudgetResponse,
    SetAcquisitionPolicyResponse,
    RegisterBookstoreResponse,
    LicenseEResourceResponse,
    BorrowDigitalResponse,
    ReturnDigitalResponse,
    ExpireDigitalLoansResponse,
);

command_requests!(
    JoinCityRequest,
    RegisterLibraryRequest,
    CloseLibraryRequest,
    SetReturnPolicyRequest,
    SetTariffRequest,
    SetPatronTierRequest,
    ForgetPatronRequest,
    CatalogueItemRequest,
    CheckoutRequest,
    RenewRequest,
    ReturnRequest,
    DispatchTransferRequest,
    ReceiveTransferRequest,
    BoothSwapRequest,
    PatronDrivenAcquisitionRequest,
    DeclareLostRequest,
    PayLostItemRequest,
    WaiveLostItemDebtRequest,
    WithdrawRequest,
    ReportFootfallRequest,
    PlaceHoldRequest,
    CancelHoldRequest,
    ExpireHoldsRequest,
    AcknowledgeNoticesRequest,
    SetLibraryRolesRequest,
    MoveLibraryRequest,
    RenameLibraryRequest,
    ChangeLibraryTierRequest,
    SetCalendarRequest,
    CloseLibraryTemporarilyRequest,
    ReopenLibraryRequest,
    SetAcquisitionBudgetRequest,
    SetAcquisitionPolicyRequest,
    RegisterBookstoreRequest,
    LicenseEResourceRequest,
    BorrowDigitalRequest,
    ReturnDigitalRequest,
    ExpireDigitalLoansRequest,
    AddPrincipalRequest,
    ChangePrincipalRequest,
    RevokePrincipalRequest,
    IssueTokenRequest,
);

/// Adds `authorization: Bearer <token>` to every request (none: no credential at all).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    pub fn new(token: Option<&str>) -> Self {
        Self(token.map(|t| {
            format!("Bearer {}", t.trim())
                .parse()
                .expect("an ASCII token")
        }))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A connection whose requests carry a principal's token.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// The three services on one connection, acting as one principal.
#[derive(Clone)]
pub struct Net {
    pub admin: NetworkAdminServiceClient<AuthChannel>,
    pub circulation: CirculationServiceClient<AuthChannel>,
    pub ledger: LedgerServiceClient<AuthChannel>,
    pub access: AccessServiceClient<AuthChannel>,
    /// The connection with this principal's token: for the other services' clients.
    pub channel: AuthChannel,
    /// The bare connection, without a credential.
    pub raw: Channel,
}

impl Net {
    /// Connects to `url`, acting with `token` (none: without a credential).
    pub async fn connect(url: &str, token: Option<&str>) -> Net {
        let raw = Endpoint::from_shared(url.to_owned())
            .expect("a valid URL")
            .connect_timeout(crate::WAIT)
            .timeout(CALL_TIMEOUT)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        Net::over(raw, token)
    }

    /// The services over `raw`, acting with `token`.
    pub fn over(raw: Channel, token: Option<&str>) -> Net {
        let channel = InterceptedService::new(raw.clone(), Bearer::new(token));
        Net {
            admin: NetworkAdminServiceClient::new(channel.clone()),
            circulation: CirculationServiceClient::new(channel.clone()),
            ledger: LedgerServiceClient::new(channel.clone()),
            access: AccessServiceClient::new(channel.clone()),
            channel,
            raw,
        }
    }

    /// The same connection acting with another principal's token (none: no credential).
    pub fn as_token(&self, token: Option<&str>) -> Net {
        Net::over(self.raw.clone(), token)
    }

    /// Adds a principal (as this connection's principal) and returns its token.
    pub async fn add_principal(&self, name: &str, grant: v1::Grant) -> Result<String, Status> {
        self.access
            .clone()
            .add_principal(v1::AddPrincipalRequest {
                command_id: Uuid::new_v4().to_string(),
                principal: name.to_owned(),
                grant: Some(grant),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().token)
    }

    /// A connection acting as a new principal `name` with `grant`, added by this one.
    pub async fn principal(&self, name: &str, grant: v1::Grant) -> Net {
        let token = self
            .add_principal(name, grant)
            .await
            .unwrap_or_else(|s| panic!("AddPrincipal {name}: {s:?}"));
        self.as_token(Some(&token))
    }

    /// The staff desk of `library`.
    pub fn at(&self, library: &str) -> Desk {
        self.acting(Some(library), Some("desk"))
    }

    /// A booth (channel `booth`) acting as `library`.
    pub fn booth(&self, library: &str) -> Desk {
        self.acting(Some(library), Some("booth"))
    }

    /// Network administration: no library, and no channel (the caller's role's own).
    pub fn system(&self) -> Desk {
        self.acting(None, None)
    }

    /// Any metadata, including none or nonsense.
    pub fn acting(&self, library: Option<&str>, channel: Option<&str>) -> Desk {
        Desk {
            net: self.clone(),
            library: library.map(str::to_owned),
            channel: channel.map(str::to_owned),
            dated: None,
        }
    }

    /// One item's state; panics if the server does not answer OK.
    pub async fn item(&self, item: &str) -> ItemState {
        self.try_item(item)
            .await
            .unwrap_or_else(|s| panic!("GetItem {item}: {s:?}"))
    }

    pub async fn try_item(&self, item: &str) -> Result<ItemState, Status> {
        self.ledger
            .clone()
            .get_item(v1::GetItemRequest {
                item: item.to_owned(),
            })
            .await
            .map(|r| {
                r.into_inner()
                    .item
                    .expect("GetItem's response holds the item")
            })
    }

    /// Position of the last event in `$all` (0 for an empty log), by reading it backwards.
    pub async fn head_position(&self) -> u64 {
        let response = self
            .ledger
            .clone()
            .read_all(v1::ReadAllRequest {
                from_position: None,
                direction: ReadDirection::Backwards as i32,
                max_count: 1,
            })
            .await
            .expect("ReadAll backwards")
            .into_inner();
        let last = response.events.first().map_or(0, |e| e.position);
        assert_eq!(
            last, response.head_position,
            "the last event read backwards is at the head position the read reports"
        );
        last
    }

    /// Every event in `$all`, forwards, page by page.
    pub async fn read_all(&self) -> Vec<RecordedEvent> {
        self.read_all_from(1).await
    }

    /// The events of `$all` from `position` on.
    pub async fn read_all_from(&self, position: u64) -> Vec<RecordedEvent> {
        let mut events: Vec<RecordedEvent> = Vec::new();
        let mut next = position;
        loop {
            let page = self
                .ledger
                .clone()
                .read_all(v1::ReadAllRequest {
                    from_position: Some(next),
                    direction: ReadDirection::Forwards as i32,
                    max_count: 1000,
                })
                .await
                .expect("ReadAll forwards")
                .into_inner();
            let Some(last) = page.events.last() else {
                break;
            };
            next = last.position + 1;
            events.extend(page.events);
        }
        events
    }

    /// Every event of one stream, forwards.
    pub async fn read_stream(&self, stream: &str) -> Vec<RecordedEvent> {
        let mut events: Vec<RecordedEvent> = Vec::new();
        let mut next = 0;
        loop {
            let page = self
                .ledger
                .clone()
                .read_stream(v1::ReadStreamRequest {
                    stream: stream.to_owned(),
                    from_revision: Some(next),
                    direction: ReadDirection::Forwards as i32,
                    max_count: 1000,
                })
                .await
                .unwrap_or_else(|s| panic!("ReadStream {stream}: {s:?}"))
                .into_inner();
            let Some(last) = page.events.last() else {
                break;
            };
            next = last.revision + 1;
            events.extend(page.events);
        }
        events
    }
}

/// Someone acting: a library (or none) through a channel (or none).
#[derive(Clone)]
pub struct Desk {
    net: Net,
    pub library: Option<String>,
    pub channel: Option<String>,
    /// The `occurred_at` of its requests that give none (`None`: the server's now).
    pub dated: Option<DateTime<Utc>>,
}

type Answer = Result<CommandReceipt, Status>;

impl Desk {
    /// The same desk, its requests dated `at` unless they say otherwise (an offline kiosk, or a
    /// network set up before the story starts).
    pub fn dated(mut self, at: DateTime<Utc>) -> Desk {
        self.dated = Some(at);
        self
    }

    /// The request with this desk's metadata, and a fresh command id if it has none.
    pub fn request<T: CommandRequest>(&self, mut message: T) -> Request<T> {
        if message.command_id_mut().is_empty() {
            *message.command_id_mut() = Uuid::new_v4().to_string();
        }
        if let Some(at) = self.dated
            && message.occurred_at_mut().is_none()
        {
            *message.occurred_at_mut() = Some(crate::timestamp(at));
        }
        self.request_as_is(message)
    }

    /// The request with this desk's metadata, exactly as given.
    pub fn request_as_is<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        if let Some(library) = &self.library {
            metadata.insert(LIBRARY_HEADER, library.parse().expect("ASCII library code"));
        }
        if let Some(channel) = &self.channel {
            metadata.insert(CHANNEL_HEADER, channel.parse().expect("ASCII channel"));
        }
        request
    }

    pub fn admin(&self) -> NetworkAdminServiceClient<AuthChannel> {
        self.net.admin.clone()
    }

    pub fn access(&self) -> AccessServiceClient<AuthChannel> {
        self.net.access.clone()
    }

    pub fn circulation(&self) -> CirculationServiceClient<AuthChannel> {
        self.net.circulation.clone()
    }

    pub fn holds(&self) -> HoldServiceClient<AuthChannel> {
        HoldServiceClient::new(self.net.channel.clone())
    }

    /// Places a title hold (by ISBN) for `card`, to be picked up at `pickup`.
    pub async fn place_hold(
        &self,
        card: Card,
        isbn: &str,
        pickup: &str,
    ) -> Result<v1::PlaceHoldResponse, Status> {
        let request = self.request(v1::PlaceHoldRequest {
            card: Some(card),
            wanted: Some(v1::HoldWanted {
                isbn: isbn.to_owned(),
                ..Default::default()
            }),
            pickup_library: pickup.to_owned(),
            ..Default::default()
        });
        self.holds()
            .place_hold(request)
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn set_library_roles(
        &self,
        library: &str,
        delivery_point: bool,
        distribution_centre: bool,
    ) -> Answer {
        let request = self.request(v1::SetLibraryRolesRequest {
            library: library.to_owned(),
            delivery_point,
            distribution_centre,
            ..Default::default()
        });
        into_receipt(self.holds().set_library_roles(request).await)
    }

    // ---- network administration ----

    pub async fn join_city(&self, city: &str, name: &str) -> Answer {
        let request = self.request(v1::JoinCityRequest {
            city: city.to_owned(),
            name: name.to_owned(),
            ..Default::default()
        });
        into_receipt(self.admin().join_city(request).await)
    }

    pub async fn register_library(
        &self,
        library: &str,
        city: &str,
        tier: LibraryTier,
        parent: &str,
    ) -> Answer {
        let request = self.request(v1::RegisterLibraryRequest {
            library: library.to_owned(),
            name: format!("{library} library"),
            city: city.to_owned(),
            tier: tier as i32,
            parent: parent.to_owned(),
            ..Default::default()
        });
        into_receipt(self.admin().register_library(request).await)
    }

    pub async fn set_return_policy(&self, library: &str, policy: ReturnPolicy) -> Answer {
        let request = self.request(v1::SetReturnPolicyRequest {
            library: library.to_owned(),
            policy: policy as i32,
            ..Default::default()
        });
        into_receipt(self.admin().set_return_policy(request).await)
    }

    pub async fn set_patron_tier(&self, card: Card, tier: CreditTier) -> Answer {
        let request = self.request(v1::SetPatronTierRequest {
            card: Some(card),
            tier: tier as i32,
            ..Default::default()
        });
        into_receipt(self.admin().set_patron_tier(request).await)
    }

    // ---- circulation ----

    /// Catalogues a purchased book owned by `owner`, priced 3500 fen.
    pub async fn catalogue(&self, item: &str, owner: &str) -> Answer {
        let request = self.request(v1::CatalogueItemRequest {
            item: item.to_owned(),
            isbn: "9787020002207".to_owned(),
            title: format!("Title of {item}"),
            author: "鲁迅".to_owned(),
            owner_library: owner.to_owned(),
            price_fen: Some(3500),
            acquisition: Acquisition::Purchase as i32,
            ..Default::default()
        });
        into_receipt(self.circulation().catalogue_item(request).await)
    }

    pub async fn checkout(&self, item: &str, card: Card) -> Answer {
        let request = self.request(v1::CheckoutRequest {
            item: item.to_owned(),
            card: Some(card),
            ..Default::default()
        });
        into_receipt(self.circulation().checkout(request).await)
    }

    /// A checkout that happened at `occurred_at` (an offline kiosk syncing late, say).
    pub async fn checkout_at(&self, item: &str, card: Card, occurred_at: DateTime<Utc>) -> Answer {
        let request = self.request(v1::CheckoutRequest {
            item: item.to_owned(),
            card: Some(card),
            occurred_at: Some(crate::timestamp(occurred_at)),
            ..Default::default()
        });
        into_receipt(self.circulation().checkout(request).await)
    }

    pub async fn renew(&self, item: &str, card: Card) -> Answer {
        let request = self.request(v1::RenewRequest {
            item: item.to_owned(),
            card: Some(card),
            ..Default::default()
        });
        into_receipt(self.circulation().renew(request).await)
    }

    pub async fn declare_lost(&self, item: &str) -> Answer {
        let request = self.request(v1::DeclareLostRequest {
            item: item.to_owned(),
            ..Default::default()
        });
        into_receipt(self.circulation().declare_lost(request).await)
    }

    pub async fn pay_lost_item(&self, item: &str, amount_fen: i64) -> Answer {
        let request = self.request(v1::PayLostItemRequest {
            item: item.to_owned(),
            amount_fen,
            ..Default::default()
        });
        into_receipt(self.circulation().pay_lost_item(request).await)
    }

    pub async fn return_item(&self, item: &str) -> Answer {
        let request = self.request(v1::ReturnRequest {
            item: item.to_owned(),
            ..Default::default()
        });
        into_receipt(self.circulation().r#return(request).await)
    }

    pub async fn dispatch(&self, item: &str, to: &str, reason: TransferReason) -> Answer {
        let request = self.request(v1::DispatchTransferRequest {
            item: item.to_owned(),
            to_library: to.to_owned(),
            reason: reason as i32,
            ..Default::default()
        });
        into_receipt(self.circulation().dispatch_transfer(request).await)
    }

    pub async fn receive(&self, item: &str) -> Answer {
        let request = self.request(v1::ReceiveTransferRequest {
            item: item.to_owned(),
            ..Default::default()
        });
        into_receipt(self.circulation().receive_transfer(request).await)
    }

    pub async fn booth_swap(&self, take: &str, card: Card, deposit: BookDescription) -> Answer {
        let request = self.request(v1::BoothSwapRequest {
            take_item: take.to_owned(),
            card: Some(card),
            deposit: Some(deposit),
            ..Default::default()
        });
        into_receipt(self.circulation().booth_swap(request).await)
    }

    pub async fn patron_driven(&self, card: Card, book: BookDescription) -> Answer {
        let request = self.request(v1::PatronDrivenAcquisitionRequest {
            card: Some(card),
            book: Some(book),
            ..Default::default()
        });
        into_receipt(self.circulation().patron_driven_acquisition(request).await)
    }

    /// A patron-driven purchase at a partner bookstore.
    pub async fn patron_driven_at(
        &self,
        card: Card,
        book: BookDescription,
        bookstore: &str,
    ) -> Answer {
        let request = self.request(v1::PatronDrivenAcquisitionRequest {
            card: Some(card),
            book: Some(book),
            bookstore: bookstore.to_owned(),
            ..Default::default()
        });
        into_receipt(self.circulation().patron_driven_acquisition(request).await)
    }

    /// A digital loan of `resource` through this desk's library.
    pub async fn borrow_digital(&self, resource: &str, card: Card) -> Answer {
        let request = self.request(v1::BorrowDigitalRequest {
            card: Some(card),
            resource: resource.to_owned(),
            ..Default::default()
        });
        into_receipt(self.circulation().borrow_digital(request).await)
    }
}

// tonic's Status is large, but it is what the tests inspect; boxing it would only add noise.
#[allow(clippy::result_large_err)]
fn into_receipt<R: CommandResponse>(answer: Result<tonic::Response<R>, Status>) -> Answer {
    answer.map(|response| response.into_inner().into_receipt())
}
