//! gRPC mode: the same steps sent to a running server, through the public API.
//!
//! Each step becomes its request with a fresh command id, `occurred_at` = the simulated time,
//! and the acting library and channel in `x-readnet-library` / `x-readnet-channel`. Network
//! administration is sent one at a time, in order; everything else goes to `clients` workers,
//! each step to the worker its [`Step::key`] (the item) picks, so the commands about one item
//! keep their order. Across items, patrons can still race (a limit, a block): the server then
//! refuses, and the refusal is counted, not fatal. The server refuses an `occurred_at` more than
//! five minutes in the future, so the caller should simulate days that end before now.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use readnet_domain::pb::Channel as Via;
use readnet_domain::{Command, Fen, HoldTarget};
use readnet_proto::v1::{
    self, circulation_service_client::CirculationServiceClient,
    hold_service_client::HoldServiceClient,
    network_admin_service_client::NetworkAdminServiceClient,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use uuid::Uuid;

use crate::Step;

/// What the server answered.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sent: u64,
    pub accepted: u64,
    /// Refusals by gRPC status code (FailedPrecondition, NotFound, ...).
    pub rejected: BTreeMap<String, u64>,
}

impl Report {
    pub fn rejections(&self) -> u64 {
        self.rejected.values().sum()
    }
}

#[derive(Clone)]
struct Clients {
    network: NetworkAdminServiceClient<Channel>,
    circulation: CirculationServiceClient<Channel>,
    holds: HoldServiceClient<Channel>,
    /// `Bearer <token>`: the principal the simulator acts as (a network-admin, acting at each
    /// step's library).
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
}

/// Sends steps to a server with at most `clients` requests in flight.
pub struct Driver {
    clients: Clients,
    workers: Vec<mpsc::Sender<Step>>,
    tasks: JoinSet<anyhow::Result<()>>,
    report: Arc<Mutex<Report>>,
}

fn is_network(command: &Command) -> bool {
    matches!(
        command,
        Command::JoinCity { .. }
            | Command::RegisterLibrary { .. }
            | Command::CloseLibrary { .. }
            | Command::SetReturnPolicy { .. }
            | Command::SetTariff { .. }
            | Command::CloseLibraryTemporarily { .. }
    )
}

impl Driver {
    /// Connects to `url`, acting with `token` (a network-admin's, so that it may act at every
    /// library of the simulated network). An `https://` server's certificate is checked against
    /// `tls_ca` (PEM) if given, else against the system's roots.
    pub async fn connect(
        url: &str,
        clients: usize,
        token: Option<&str>,
        tls_ca: Option<&[u8]>,
    ) -> anyhow::Result<Self> {
        let authorization = token
            .map(|t| MetadataValue::try_from(format!("Bearer {}", t.trim())))
            .transpose()
            .context("the token is not ASCII text")?;
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("server address {url:?} is not a URL"))?
            .connect_timeout(Duration::from_secs(5));
        if endpoint.uri().scheme_str() == Some("https") {
            let tls = match tls_ca {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_native_roots(),
            };
            endpoint = endpoint.tls_config(tls).context("TLS settings")?;
        } else {
            anyhow::ensure!(
                tls_ca.is_none(),
                "--tls-ca is for an https:// server; {url} is plaintext"
            );
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to readnet server at {url}"))?;
        let make = |channel: Channel| Clients {
            network: NetworkAdminServiceClient::new(channel.clone()),
            circulation: CirculationServiceClient::new(channel.clone()),
            holds: HoldServiceClient::new(channel),
            authorization: authorization.clone(),
        };
        let report = Arc::new(Mutex::new(Report::default()));
        let mut tasks = JoinSet::new();
        let mut workers = Vec::new();
        for _ in 0..clients.max(1) {
            let (tx, mut rx) = mpsc::channel::<Step>(64);
            let mut clients = make(channel.clone());
            let report = report.clone();
            tasks.spawn(async move {
                while let Some(step) = rx.recv().await {
                    let outcome = send(&mut clients, step).await;
                    count(&report, outcome)?;
                }
                Ok(())
            });
            workers.push(tx);
        }
        Ok(Self {
            clients: make(channel),
            workers,
            tasks,
            report,
        })
    }

    /// Sends one step: network administration at once (awaited), the rest to its worker.
    pub async fn send(&mut self, step: Step) -> anyhow::Result<()> {
        if is_network(&step.command) {
            let outcome = send(&mut self.clients, step).await;
            return count(&self.report, outcome);
        }
        let worker = (step.key % self.workers.len() as u64) as usize;
        if self.workers[worker].send(step).await.is_err() {
            // The worker stopped on a transport error: finish() reports it.
            return self.finish_error().await;
        }
        Ok(())
    }

    async fn finish_error(&mut self) -> anyhow::Result<()> {
        while let Some(joined) = self.tasks.join_next().await {
            joined??;
        }
        anyhow::bail!("a gRPC worker stopped")
    }

    /// What was answered so far.
    pub fn report(&self) -> Report {
        self.report.lock().expect("report lock").clone()
    }

    /// Waits for every request in flight.
    pub async fn finish(mut self) -> anyhow::Result<Report> {
        self.workers.clear();
        while let Some(joined) = self.tasks.join_next().await {
            joined??;
        }
        Ok(self.report())
    }
}

/// Ok(true): accepted; Ok(false): refused by the rules (counted); Err: the transport failed.
fn count(report: &Mutex<Report>, outcome: Result<(), tonic::Status>) -> anyhow::Result<()> {
    let mut report = report.lock().expect("report lock");
    report.sent += 1;
    match outcome {
        Ok(()) => report.accepted += 1,
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
            ) =>
        {
            anyhow::bail!("the server failed: {status}")
        }
        Err(status) => {
            *report
                .rejected
                .entry(format!("{:?}", status.code()))
                .or_default() += 1
        }
    }
    Ok(())
}

fn timestamp(at: DateTime<Utc>) -> readnet_proto::Timestamp {
    readnet_proto::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// The channel header of a step; none for the network's own administration (the server
/// keeps the `system` channel for itself).
fn channel_word(channel: Via) -> Option<&'static str> {
    match channel {
        Via::Desk => Some("desk"),
        Via::Kiosk => Some("kiosk"),
        Via::Booth => Some("booth"),
        Via::App => Some("app"),
        Via::System | Via::Unspecified => None,
    }
}

fn book(book: &readnet_domain::NewBook) -> v1::BookDescription {
    v1::BookDescription {
        item: book.item.clone().into(),
        isbn: book.isbn.clone(),
        title: book.title.clone(),
        author: book.author.clone(),
        price_fen: book.price_fen.map(Fen::get),
    }
}

async fn send(clients: &mut Clients, step: Step) -> Result<(), tonic::Status> {
    let command_id = Uuid::new_v4().to_string();
    let occurred_at = Some(timestamp(step.occurred_at));
    let correlation_id = String::new();
    let card = step
        .card
        .clone()
        .map(|(city, number)| v1::Card { city, number });
    let library = step.library.clone();
    let channel = step.channel;
    let authorization = clients.authorization.clone();
    macro_rules! request {
        ($message:expr) => {{
            let mut request = tonic::Request::new($message);
            if let Some(library) = &library {
                let value = MetadataValue::try_from(library.as_str())
                    .map_err(|_| tonic::Status::invalid_argument("library code"))?;
                request.metadata_mut().insert("x-readnet-library", value);
            }
            if let Some(word) = channel_word(channel) {
                request
                    .metadata_mut()
                    .insert("x-readnet-channel", MetadataValue::from_static(word));
            }
            if let Some(authorization) = &authorization {
                request
                    .metadata_mut()
                    .insert("authorization", authorization.clone());
            }
            request
        }};
    }
    macro_rules! envelope {
        ($ty:ident { $($field:ident: $value:expr),* $(,)? }) => {
            v1::$ty {
                command_id: command_id.clone(),
                occurred_at,
                correlation_id: correlation_id.clone(),
                $($field: $value),*
            }
        };
    }
    let (n, c, h) = (
        &mut clients.network,
        &mut clients.circulation,
        &mut clients.holds,
    );
    match step.command {
        Command::JoinCity {
            city,
            name,
            time_zone,
        } => {
            n.join_city(request!(envelope!(JoinCityRequest {
                city: city.into(),
                name: name,
                time_zone: time_zone
            })))
            .await?;
        }
        Command::RegisterLibrary {
            library: code,
            name,
            city,
            tier,
            parent,
        } => {
            n.register_library(request!(envelope!(RegisterLibraryRequest {
                library: code.into(),
                name: name,
                city: city.into(),
                tier: tier as i32,
                parent: parent.map(String::from).unwrap_or_default(),
            })))
            .await?;
        }
        Command::CloseLibrary {
            library: code,
            reason,
        } => {
            n.close_library(request!(envelope!(CloseLibraryRequest {
                library: code.into(),
                reason: reason
            })))
            .await?;
        }
        Command::SetReturnPolicy {
            library: code,
            policy,
        } => {
            n.set_return_policy(request!(envelope!(SetReturnPolicyRequest {
                library: code.into(),
                policy: policy as i32,
            })))
            .await?;
        }
        Command::ForgetPatron { .. } => {
            return Err(tonic::Status::unimplemented(
                "the simulator forgets no patrons",
            ));
        }
        Command::SetTariff { .. } => {
            return Err(tonic::Status::unimplemented(
                "the simulator sets no tariffs",
            ));
        }
        Command::SetPatronTier { tier, .. } => {
            n.set_patron_tier(request!(envelope!(SetPatronTierRequest {
                card: card,
                tier: tier as i32
            })))
            .await?;
        }
        Command::CatalogueItem {
            book: b,
            owner_library,
            acquisition,
        } => {
            c.catalogue_item(request!(envelope!(CatalogueItemRequest {
                item: b.item.into(),
                isbn: b.isbn,
                title: b.title,
                author: b.author,
                owner_library: owner_library.into(),
                price_fen: b.price_fen.map(Fen::get),
                acquisition: acquisition as i32,
            })))
            .await?;
        }
        Command::Checkout { item, .. } => {
            c.checkout(request!(envelope!(CheckoutRequest {
                item: item.into(),
                card: card
            })))
            .await?;
        }
        Command::Renew { item, .. } => {
            c.renew(request!(envelope!(RenewRequest {
                item: item.into(),
                card: card
            })))
            .await?;
        }
        Command::Return { item } => {
            c.r#return(request!(envelope!(ReturnRequest { item: item.into() })))
                .await?;
        }
        Command::DispatchTransfer {
            item,
            to_library,
            reason,
        } => {
            c.dispatch_transfer(request!(envelope!(DispatchTransferRequest {
                item: item.into(),
                to_library: to_library.into(),
                reason: reason as i32,
            })))
            .await?;
        }
        Command::ReceiveTransfer { item } => {
            c.receive_transfer(request!(envelope!(ReceiveTransferRequest {
                item: item.into()
            })))
            .await?;
        }
        Command::BoothSwap {
            take_item, deposit, ..
        } => {
            c.booth_swap(request!(envelope!(BoothSwapRequest {
                take_item: take_item.into(),
                card: card,
                deposit: Some(book(&deposit)),
            })))
            .await?;
        }
        Command::PatronDrivenAcquisition {
            book: b, bookstore, ..
        } => {
            c.patron_driven_acquisition(request!(envelope!(PatronDrivenAcquisitionRequest {
                card: card,
                book: Some(book(&b)),
                bookstore: bookstore.unwrap_or_default(),
            })))
            .await?;
        }
        Command::SetAcquisitionBudget {
            library: code,
            year,
            budget_fen,
            patron_driven_share_bp,
        } => {
            n.set_acquisition_budget(request!(envelope!(SetAcquisitionBudgetRequest {
                library: code.into(),
                year: u32::try_from(year).unwrap_or_default(),
                budget_fen: budget_fen.get(),
                patron_driven_share_bp: patron_driven_share_bp,
            })))
            .await?;
        }
        Command::SetAcquisitionPolicy {
            library: code,
            max_item_price_fen,
            monthly_quota_per_reader,
        } => {
            n.set_acquisition_policy(request!(envelope!(SetAcquisitionPolicyRequest {
                library: code.into(),
                max_item_price_fen: max_item_price_fen.get(),
                monthly_quota_per_reader: monthly_quota_per_reader,
            })))
            .await?;
        }
        Command::RegisterBookstore {
            library: code,
            bookstore,
            name,
        } => {
            n.register_bookstore(request!(envelope!(RegisterBookstoreRequest {
                library: code.into(),
                bookstore: bookstore,
                name: name,
            })))
            .await?;
        }
        Command::LicenseEResource {
            resource,
            title,
            kind,
            owner_library,
            shared,
            licences,
            loan_days,
        } => {
            n.license_e_resource(request!(envelope!(LicenseEResourceRequest {
                resource: resource,
                title: title,
                kind: kind as i32,
                owner_library: owner_library.map(String::from).unwrap_or_default(),
                shared: shared,
                licences: licences,
                loan_days: loan_days,
            })))
            .await?;
        }
        Command::BorrowDigital { resource, .. } => {
            c.borrow_digital(request!(envelope!(BorrowDigitalRequest {
                card: card,
                resource: resource,
            })))
            .await?;
        }
        Command::ReturnDigital { resource, .. } => {
            c.return_digital(request!(envelope!(ReturnDigitalRequest {
                card: card,
                resource: resource,
            })))
            .await?;
        }
        Command::ExpireDigitalLoans => {
            c.expire_digital_loans(request!(envelope!(ExpireDigitalLoansRequest {})))
                .await?;
        }
        Command::DeclareLost { item } => {
            c.declare_lost(request!(envelope!(DeclareLostRequest {
                item: item.into()
            })))
            .await?;
        }
        Command::PayLostItem { item, amount_fen } => {
            c.pay_lost_item(request!(envelope!(PayLostItemRequest {
                item: item.into(),
                amount_fen: amount_fen.get()
            })))
            .await?;
        }
        Command::WaiveLostItemDebt { item, reason } => {
            c.waive_lost_item_debt(request!(envelope!(WaiveLostItemDebtRequest {
                item: item.into(),
                reason: reason
            })))
            .await?;
        }
        Command::Withdraw { item, reason } => {
            c.withdraw(request!(envelope!(WithdrawRequest {
                item: item.into(),
                reason: reason
            })))
            .await?;
        }
        Command::AddPrincipal { .. }
        | Command::ChangePrincipal { .. }
        | Command::RevokePrincipal { .. }
        | Command::IssueToken { .. } => {
            return Err(tonic::Status::invalid_argument(
                "the simulator does not manage principals",
            ));
        }
        Command::CloseLibraryTemporarily {
            library: code,
            reason,
            from,
            until,
        } => {
            n.close_library_temporarily(request!(envelope!(CloseLibraryTemporarilyRequest {
                library: code.into(),
                reason: reason,
                from_date: from.map(|d| d.to_string()).unwrap_or_default(),
                until_date: until.to_string()
            })))
            .await?;
        }
        Command::MoveLibrary { .. }
        | Command::RenameLibrary { .. }
        | Command::ChangeLibraryTier { .. }
        | Command::SetCalendar { .. }
        | Command::ReopenLibrary { .. } => {
            return Err(tonic::Status::invalid_argument(
                "the simulator does not correct the tree or set calendars yet",
            ));
        }
        Command::SetLibraryRoles {
            library: code,
            delivery_point,
            distribution_centre,
        } => {
            h.set_library_roles(request!(envelope!(SetLibraryRolesRequest {
                library: code.into(),
                delivery_point: delivery_point,
                distribution_centre: distribution_centre
            })))
            .await?;
        }
        Command::PlaceHold {
            target,
            pickup_library,
            ..
        } => {
            let wanted = match target {
                HoldTarget::Title {
                    isbn,
                    title,
                    author,
                } => v1::HoldWanted {
                    isbn,
                    title,
                    author,
                    item: String::new(),
                },
                HoldTarget::Item(item) => v1::HoldWanted {
                    item: item.into(),
                    ..Default::default()
                },
            };
            h.place_hold(request!(envelope!(PlaceHoldRequest {
                card: card.clone(),
                wanted: Some(wanted),
                pickup_library: pickup_library.into()
            })))
            .await?;
        }
        Command::CancelHold { hold, note, .. } => {
            h.cancel_hold(request!(envelope!(CancelHoldRequest {
                hold: hold,
                card: card.clone(),
                note: note
            })))
            .await?;
        }
        Command::ExpireHolds => {
            h.expire_holds(request!(envelope!(ExpireHoldsRequest {})))
                .await?;
        }
        Command::TickClock
        | Command::ReportFootfall { .. }
        | Command::AcknowledgeNotices { .. } => {
            return Err(tonic::Status::invalid_argument(
                "the simulator does not generate holds yet",
            ));
        }
    }
    Ok(())
}
