//! The gRPC side: connecting, the acting-library metadata, and sending each command.

use std::time::Duration;

use anyhow::Context as _;
use readnet_proto::v1::{
    self, Card, Channel as ProtoChannel, CommandReceipt,
    access_service_client::AccessServiceClient, account_service_client::AccountServiceClient,
    audit_service_client::AuditServiceClient,
    availability_service_client::AvailabilityServiceClient,
    backup_service_client::BackupServiceClient,
    circulation_service_client::CirculationServiceClient, hold_service_client::HoldServiceClient,
    ledger_service_client::LedgerServiceClient,
    network_admin_service_client::NetworkAdminServiceClient,
    notice_service_client::NoticeServiceClient, settlement_service_client::SettlementServiceClient,
    statistics_service_client::StatisticsServiceClient,
};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::tls::ClientTls;

/// Metadata header naming the library where a command happens.
const LIBRARY_HEADER: &str = "x-readnet-library";
/// Metadata header naming the channel a command came through.
const CHANNEL_HEADER: &str = "x-readnet-channel";

/// Who acts: the library where a command happens and the channel it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting library's code; `None` for network administration by the system.
    pub library: Option<String>,
    /// The channel the command came through.
    pub channel: ProtoChannel,
}

impl Actor {
    /// An actor at `library` through `channel`.
    pub fn at(library: &str, channel: ProtoChannel) -> Self {
        Self {
            library: Some(library.to_owned()),
            channel,
        }
    }

    /// Network administration: no acting library, and the channel the caller's role implies.
    pub fn network() -> Self {
        Self {
            library: None,
            channel: ProtoChannel::Unspecified,
        }
    }
}

/// The word the server expects in `x-readnet-channel`; none for an unspecified channel (the
/// server then takes the caller's role's own).
pub fn channel_word(channel: ProtoChannel) -> Option<&'static str> {
    match channel {
        ProtoChannel::Unspecified => None,
        ProtoChannel::Desk => Some("desk"),
        ProtoChannel::Kiosk => Some("kiosk"),
        ProtoChannel::Booth => Some("booth"),
        ProtoChannel::App => Some("app"),
        ProtoChannel::System => Some("system"),
    }
}

/// Adds the credential and the actor's headers to every request of a client: the one place
/// they are written.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    authorization: Option<AsciiMetadataValue>,
    library: Option<AsciiMetadataValue>,
    channel: Option<AsciiMetadataValue>,
}

impl Headers {
    /// Checks up front that the library code can travel as a header (ASCII, no control bytes).
    pub fn new(authorization: Option<AsciiMetadataValue>, actor: &Actor) -> anyhow::Result<Self> {
        let library =
            match &actor.library {
                Some(code) => Some(MetadataValue::try_from(code.as_str()).with_context(|| {
                    format!("library code {code:?} is not a valid header value")
                })?),
                None => None,
            };
        Ok(Self {
            authorization,
            library,
            channel: channel_word(actor.channel).map(MetadataValue::from_static),
        })
    }
}

impl Interceptor for Headers {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        if let Some(authorization) = &self.authorization {
            metadata.insert("authorization", authorization.clone());
        }
        if let Some(library) = &self.library {
            metadata.insert(LIBRARY_HEADER, library.clone());
        }
        if let Some(channel) = &self.channel {
            metadata.insert(CHANNEL_HEADER, channel.clone());
        }
        Ok(request)
    }
}

/// A client whose requests carry a credential and an actor's headers.
pub type Authed = InterceptedService<Channel, Headers>;

/// One command the ledger can be sent: a network-administration or a circulation request.
#[derive(Debug, Clone)]
pub enum Call {
    JoinCity(v1::JoinCityRequest),
    RegisterLibrary(v1::RegisterLibraryRequest),
    CloseLibrary(v1::CloseLibraryRequest),
    SetReturnPolicy(v1::SetReturnPolicyRequest),
    SetTariff(v1::SetTariffRequest),
    SetPatronTier(v1::SetPatronTierRequest),
    Catalogue(v1::CatalogueItemRequest),
    Checkout(v1::CheckoutRequest),
    Renew(v1::RenewRequest),
    Return(v1::ReturnRequest),
    Dispatch(v1::DispatchTransferRequest),
    Receive(v1::ReceiveTransferRequest),
    BoothSwap(v1::BoothSwapRequest),
    Acquire(v1::PatronDrivenAcquisitionRequest),
    DeclareLost(v1::DeclareLostRequest),
    PayLost(v1::PayLostItemRequest),
    WaiveLost(v1::WaiveLostItemDebtRequest),
    Withdraw(v1::WithdrawRequest),
    Footfall(v1::ReportFootfallRequest),
    PlaceHold(v1::PlaceHoldRequest),
    CancelHold(v1::CancelHoldRequest),
    ExpireHolds(v1::ExpireHoldsRequest),
    SetLibraryRoles(v1::SetLibraryRolesRequest),
    MoveLibrary(v1::MoveLibraryRequest),
    RenameLibrary(v1::RenameLibraryRequest),
    ChangeLibraryTier(v1::ChangeLibraryTierRequest),
    SetCalendar(v1::SetCalendarRequest),
    CloseTemporarily(v1::CloseLibraryTemporarilyRequest),
    Reopen(v1::ReopenLibraryRequest),
    SetBudget(v1::SetAcquisitionBudgetRequest),
    SetAcquisitionPolicy(v1::SetAcquisitionPolicyRequest),
    RegisterBookstore(v1::RegisterBookstoreRequest),
    LicenseEResource(v1::LicenseEResourceRequest),
    BorrowDigital(v1::BorrowDigitalRequest),
    ReturnDigital(v1::ReturnDigitalRequest),
    ExpireDigitalLoans(v1::ExpireDigitalLoansRequest),
}

/// The fields every command request starts with.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// The command's id (UUID); a retry repeats it.
    pub command_id: String,
    /// When it happened at the desk, kiosk or booth; `None`: now, by the server's clock.
    pub occurred_at: Option<readnet_proto::Timestamp>,
    /// Groups the commands of one conversation (UUID), or empty.
    pub correlation_id: String,
}

impl Call {
    /// Sets the envelope fields, which every request has under the same names.
    pub fn with_envelope(mut self, envelope: Envelope) -> Self {
        macro_rules! fields {
            ($r:ident) => {
                (
                    &mut $r.command_id,
                    &mut $r.occurred_at,
                    &mut $r.correlation_id,
                )
            };
        }
        let (command_id, occurred_at, correlation_id) = match &mut self {
            Call::JoinCity(r) => fields!(r),
            Call::RegisterLibrary(r) => fields!(r),
            Call::CloseLibrary(r) => fields!(r),
            Call::SetReturnPolicy(r) => fields!(r),
            Call::SetTariff(r) => fields!(r),
            Call::SetPatronTier(r) => fields!(r),
            Call::Catalogue(r) => fields!(r),
            Call::Checkout(r) => fields!(r),
            Call::Renew(r) => fields!(r),
            Call::Return(r) => fields!(r),
            Call::Dispatch(r) => fields!(r),
            Call::Receive(r) => fields!(r),
            Call::BoothSwap(r) => fields!(r),
            Call::Acquire(r) => fields!(r),
            Call::DeclareLost(r) => fields!(r),
            Call::PayLost(r) => fields!(r),
            Call::WaiveLost(r) => fields!(r),
            Call::Withdraw(r) => fields!(r),
            Call::Footfall(r) => fields!(r),
            Call::PlaceHold(r) => fields!(r),
            Call::CancelHold(r) => fields!(r),
            Call::ExpireHolds(r) => fields!(r),
            Call::SetLibraryRoles(r) => fields!(r),
            Call::MoveLibrary(r) => fields!(r),
            Call::RenameLibrary(r) => fields!(r),
            Call::ChangeLibraryTier(r) => fields!(r),
            Call::SetCalendar(r) => fields!(r),
            Call::CloseTemporarily(r) => fields!(r),
            Call::Reopen(r) => fields!(r),
            Call::SetBudget(r) => fields!(r),
            Call::SetAcquisitionPolicy(r) => fields!(r),
            Call::RegisterBookstore(r) => fields!(r),
            Call::LicenseEResource(r) => fields!(r),
            Call::BorrowDigital(r) => fields!(r),
            Call::ReturnDigital(r) => fields!(r),
            Call::ExpireDigitalLoans(r) => fields!(r),
        };
        *command_id = envelope.command_id;
        *occurred_at = envelope.occurred_at;
        *correlation_id = envelope.correlation_id;
        self
    }
}

/// A connection to a readnet server, with the credential its requests carry.
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    authorization: Option<AsciiMetadataValue>,
}

impl Client {
    /// Connects to `url` (e.g. `http://127.0.0.1:50051`, or `https://…` over `tls`), acting
    /// with `token`.
    pub async fn connect(url: &str, token: Option<&str>, tls: &ClientTls) -> anyhow::Result<Self> {
        let authorization = token
            .map(|t| MetadataValue::try_from(format!("Bearer {}", t.trim())))
            .transpose()
            .context("the token is not ASCII text")?;
        // `host:port` is taken as the server it plainly names: https:// when TLS files are
        // given, http:// otherwise.
        let url = &with_scheme(url, tls);
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("server address {url:?} is not a URL"))?
            .connect_timeout(Duration::from_secs(5));
        if let Some(tls) = tls.config(url)? {
            endpoint = endpoint
                .tls_config(tls)
                .with_context(|| format!("TLS settings for {url}"))?;
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to readnet server at {url}"))?;
        Ok(Self {
            channel,
            authorization,
        })
    }

    /// The same connection acting with another token.
    pub fn with_token(&self, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            channel: self.channel.clone(),
            authorization: Some(
                MetadataValue::try_from(format!("Bearer {}", token.trim()))
                    .context("the token is not ASCII text")?,
            ),
        })
    }

    fn headers(&self, actor: &Actor) -> anyhow::Result<Headers> {
        Headers::new(self.authorization.clone(), actor)
    }

    /// The ledger's read side.
    pub fn ledger(&self) -> LedgerServiceClient<Authed> {
        LedgerServiceClient::with_interceptor(
            self.channel.clone(),
            Headers {
                authorization: self.authorization.clone(),
                ..Headers::default()
            },
        )
    }

    /// The log's tree: checkpoints and proofs.
    pub fn audit(&self) -> AuditServiceClient<Authed> {
        AuditServiceClient::with_interceptor(
            self.channel.clone(),
            Headers {
                authorization: self.authorization.clone(),
                ..Headers::default()
            },
        )
    }

    /// The availability read model (pick lists and holds among it).
    pub fn availability(&self) -> AvailabilityServiceClient<Authed> {
        AvailabilityServiceClient::with_interceptor(
            self.channel.clone(),
            Headers {
                authorization: self.authorization.clone(),
                ..Headers::default()
            },
        )
    }

    /// Settlement: statements, charges and closing a period.
    pub fn settlement(&self) -> SettlementServiceClient<Authed> {
        SettlementServiceClient::with_interceptor(
            self.channel.clone(),
            Headers {
                authorization: self.authorization.clone(),
                ..Headers::default()
            },
        )
    }

    /// The statistics projection's queries.
    pub fn notices(&self) -> NoticeServiceClient<Authed> {
        NoticeServiceClient::with_interceptor(
            self.channel.clone(),
            Headers {
                authorization: self.authorization.clone(),
                ..Headers::default()
            },
        )
    }

    pub fn statistics(&self) -> StatisticsServiceClient<Authed> {
        StatisticsServiceClient::with_interceptor(
            self.channel.clone(),
            Headers {
                authorization: self.authorization.clone(),
                ..Headers::default()
            },
        )
    }

    /// Patrons' accounts, asked as `actor` (where the card is shown).
    pub fn account(&self, actor: &Actor) -> anyhow::Result<AccountServiceClient<Authed>> {
        Ok(AccountServiceClient::with_interceptor(
            self.channel.clone(),
            self.headers(actor)?,
        ))
    }

    /// Backups of the data directory.
    pub fn backup(&self) -> BackupServiceClient<Authed> {
        BackupServiceClient::with_interceptor(
            self.channel.clone(),
            Headers {
                authorization: self.authorization.clone(),
                ..Headers::default()
            },
        )
    }

    /// Principals and tokens.
    pub fn access(&self) -> AccessServiceClient<Authed> {
        AccessServiceClient::with_interceptor(
            self.channel.clone(),
            Headers {
                authorization: self.authorization.clone(),
                ..Headers::default()
            },
        )
    }

    fn admin(&self, actor: &Actor) -> anyhow::Result<NetworkAdminServiceClient<Authed>> {
        Ok(NetworkAdminServiceClient::with_interceptor(
            self.channel.clone(),
            self.headers(actor)?,
        ))
    }

    fn circulation(&self, actor: &Actor) -> anyhow::Result<CirculationServiceClient<Authed>> {
        Ok(CirculationServiceClient::with_interceptor(
            self.channel.clone(),
            self.headers(actor)?,
        ))
    }

    fn holds(&self, actor: &Actor) -> anyhow::Result<HoldServiceClient<Authed>> {
        Ok(HoldServiceClient::with_interceptor(
            self.channel.clone(),
            self.headers(actor)?,
        ))
    }

    /// Sends one command as `actor`. A refusal comes back as the server's [`Status`] inside the
    /// error, so callers can tell it from a local failure with `downcast_ref`.
    pub async fn send(&self, actor: &Actor, call: Call) -> anyhow::Result<CommandReceipt> {
        // Every command answers its own response type; today each holds just the receipt.
        macro_rules! receipt {
            ($client:expr, $method:ident, $request:expr) => {
                $client.$method($request).await?.into_inner().receipt
            };
        }
        let receipt = match call {
            Call::JoinCity(r) => receipt!(self.admin(actor)?, join_city, r),
            Call::RegisterLibrary(r) => receipt!(self.admin(actor)?, register_library, r),
            Call::CloseLibrary(r) => receipt!(self.admin(actor)?, close_library, r),
            Call::SetReturnPolicy(r) => receipt!(self.admin(actor)?, set_return_policy, r),
            Call::SetTariff(r) => receipt!(self.admin(actor)?, set_tariff, r),
            Call::SetPatronTier(r) => receipt!(self.admin(actor)?, set_patron_tier, r),
            Call::Catalogue(r) => receipt!(self.circulation(actor)?, catalogue_item, r),
            Call::Checkout(r) => receipt!(self.circulation(actor)?, checkout, r),
            Call::Renew(r) => receipt!(self.circulation(actor)?, renew, r),
            Call::Return(r) => receipt!(self.circulation(actor)?, r#return, r),
            Call::Dispatch(r) => receipt!(self.circulation(actor)?, dispatch_transfer, r),
            Call::Receive(r) => receipt!(self.circulation(actor)?, receive_transfer, r),
            Call::BoothSwap(r) => receipt!(self.circulation(actor)?, booth_swap, r),
            Call::Acquire(r) => receipt!(self.circulation(actor)?, patron_driven_acquisition, r),
            Call::DeclareLost(r) => receipt!(self.circulation(actor)?, declare_lost, r),
            Call::PayLost(r) => receipt!(self.circulation(actor)?, pay_lost_item, r),
            Call::WaiveLost(r) => receipt!(self.circulation(actor)?, waive_lost_item_debt, r),
            Call::Withdraw(r) => receipt!(self.circulation(actor)?, withdraw, r),
            Call::Footfall(r) => receipt!(self.circulation(actor)?, report_footfall, r),
            Call::PlaceHold(r) => receipt!(self.holds(actor)?, place_hold, r),
            Call::CancelHold(r) => receipt!(self.holds(actor)?, cancel_hold, r),
            Call::ExpireHolds(r) => receipt!(self.holds(actor)?, expire_holds, r),
            Call::SetLibraryRoles(r) => receipt!(self.holds(actor)?, set_library_roles, r),
            Call::MoveLibrary(r) => receipt!(self.admin(actor)?, move_library, r),
            Call::RenameLibrary(r) => receipt!(self.admin(actor)?, rename_library, r),
            Call::ChangeLibraryTier(r) => receipt!(self.admin(actor)?, change_library_tier, r),
            Call::SetCalendar(r) => receipt!(self.admin(actor)?, set_calendar, r),
            Call::CloseTemporarily(r) => receipt!(self.admin(actor)?, close_library_temporarily, r),
            Call::Reopen(r) => receipt!(self.admin(actor)?, reopen_library, r),
            Call::SetBudget(r) => receipt!(self.admin(actor)?, set_acquisition_budget, r),
            Call::SetAcquisitionPolicy(r) => {
                receipt!(self.admin(actor)?, set_acquisition_policy, r)
            }
            Call::RegisterBookstore(r) => receipt!(self.admin(actor)?, register_bookstore, r),
            Call::LicenseEResource(r) => receipt!(self.admin(actor)?, license_e_resource, r),
            Call::BorrowDigital(r) => receipt!(self.circulation(actor)?, borrow_digital, r),
            Call::ReturnDigital(r) => receipt!(self.circulation(actor)?, return_digital, r),
            Call::ExpireDigitalLoans(r) => {
                receipt!(self.circulation(actor)?, expire_digital_loans, r)
            }
        };
        receipt.context("the server's answer holds no command receipt")
    }

    /// One item's current state.
    pub async fn get_item(&self, item: &str) -> anyhow::Result<v1::ItemState> {
        let request = v1::GetItemRequest {
            item: item.to_owned(),
        };
        self.ledger()
            .get_item(request)
            .await?
            .into_inner()
            .item
            .context("the server's answer holds no item state")
    }
}

/// `url` with a scheme: as given when it has one, else `https://` when TLS files are given and
/// `http://` otherwise.
pub fn with_scheme(url: &str, tls: &ClientTls) -> String {
    if url.contains("://") {
        url.to_owned()
    } else if tls.ca.is_some() || tls.cert.is_some() {
        format!("https://{url}")
    } else {
        format!("http://{url}")
    }
}

/// Parses a card given as `CITY:NUMBER`, e.g. `jinan:370102000001`.
pub fn parse_card(text: &str) -> Result<Card, String> {
    let (city, number) = text
        .split_once(':')
        .ok_or_else(|| format!("card {text:?} is not CITY:NUMBER (e.g. jinan:3701020001)"))?;
    let (city, number) = (city.trim(), number.trim());
    if city.is_empty() {
        return Err(format!("card {text:?} has no issuing city before ':'"));
    }
    if number.is_empty() {
        return Err(format!("card {text:?} has no card number after ':'"));
    }
    Ok(Card {
        city: city.to_owned(),
        number: number.to_owned(),
    })
}

/// Converts a time given on the command line to the protobuf form.
pub fn timestamp(at: chrono::DateTime<chrono::FixedOffset>) -> readnet_proto::Timestamp {
    readnet_proto::Timestamp {
        seconds: at.timestamp(),
        // Below one second by construction, so it fits an i32.
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_splits_city_and_number() {
        let card = parse_card("jinan:370102000001").unwrap();
        assert_eq!(card.city, "jinan");
        assert_eq!(card.number, "370102000001");
    }

    #[test]
    fn card_keeps_colons_in_the_number() {
        assert_eq!(parse_card("zibo:37:03").unwrap().number, "37:03");
    }

    #[test]
    fn card_without_city_or_number_is_refused() {
        assert!(parse_card("370102000001").is_err());
        assert!(parse_card(":370102000001").is_err());
        assert!(parse_card("jinan:").is_err());
    }

    #[test]
    fn headers_carry_library_and_channel() {
        let token = MetadataValue::from_static("Bearer rnt1.x.y");
        let mut headers =
            Headers::new(Some(token), &Actor::at("JN-CENTRAL", ProtoChannel::Kiosk)).unwrap();
        let request = headers.call(Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get(LIBRARY_HEADER).unwrap(),
            "JN-CENTRAL"
        );
        assert_eq!(request.metadata().get(CHANNEL_HEADER).unwrap(), "kiosk");
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer rnt1.x.y"
        );
    }

    #[test]
    fn network_actor_sends_no_library_and_no_channel() {
        let mut headers = Headers::new(None, &Actor::network()).unwrap();
        let request = headers.call(Request::new(())).unwrap();
        assert!(request.metadata().get(LIBRARY_HEADER).is_none());
        assert!(request.metadata().get(CHANNEL_HEADER).is_none());
        assert!(request.metadata().get("authorization").is_none());
    }

    #[test]
    fn library_code_that_cannot_be_a_header_is_refused() {
        assert!(Headers::new(None, &Actor::at("济南\n", ProtoChannel::Desk)).is_err());
    }
}
