//! readnet's gRPC edge: NetworkAdminService, CirculationService, HoldService, LedgerService and
//! NoticeService, the projections' AvailabilityService, StatisticsService and SettlementService,
//! health and
//! reflection, on one listener, over an [`readnet_store::EventStore`].
//!
//! The data path of a command: a service handler checks the request at the edge ([`edge`]),
//! the ledger's [`CommandBus`] decides it against the domain state and appends the events, and
//! the handler answers with the receipt.
//!
//! Must not know: which store backend it serves (the binary opens the store), how the log is
//! encoded (the ledger's envelope), the KurrentDB protocol (its own crate, added to the listener
//! by the binary).

// tonic's `Status` is the error of every gRPC handler and of the helpers they call.
#![allow(clippy::result_large_err)]

pub mod access;
mod account;
mod audit;
mod convert;
pub mod edge;
mod error;
pub mod limits;
pub mod measure;
pub mod projections;
pub mod reads;
mod services;
pub mod sip2;
mod sweep;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use readnet_availability::{Availability, AvailabilityService};
use readnet_domain::pb::{
    access_service_server::AccessServiceServer, account_service_server::AccountServiceServer,
    circulation_service_server::CirculationServiceServer, hold_service_server::HoldServiceServer,
    ledger_service_server::LedgerServiceServer,
    network_admin_service_server::NetworkAdminServiceServer,
};
use readnet_domain::{Clock, PatronKey};
use readnet_ledger::CommandBus;
use readnet_notices::Notices;
use readnet_projection::{
    Handle, Projection, RunnerError, SnapshotPolicy, Snapshots, follow_opened, shared,
};
use readnet_proto::v1::audit_service_server::AuditServiceServer;
use readnet_proto::v1::availability_service_server::AvailabilityServiceServer;
use readnet_proto::v1::notice_service_server::NoticeServiceServer;
use readnet_proto::v1::statistics_service_server::StatisticsServiceServer;
use readnet_settlement::{Settlement, SettlementService};
use readnet_statistics::{Statistics, service::StatisticsService};
use readnet_store::EventStore;
use tonic::service::Routes;
use tonic::transport::ServerTlsConfig;

pub use access::Access;
use access::{AccessService, AuthLayer, Authenticator};
pub use account::AccountService;
pub use convert::{PatronView, recorded_event, recorded_event_opened};
pub use error::ServerError;
pub use limits::Limits;
pub use readnet_ledger::REFUSAL_RETRY_WINDOW;

/// How far before the server's now a command may be dated unless configured: 30 days, time for
/// an offline kiosk to come back, not for a history to be written after the fact.
pub const DEFAULT_MAX_BACKDATE: chrono::TimeDelta = chrono::TimeDelta::days(30);
pub use services::{Commands, LedgerService};

/// What the listener serves from: the store, the network secret, the clock, how long refusals
/// are repeated to retries, where projection snapshots are kept, routes served beside readnet's
/// (the binary's KurrentDB endpoint; `Routes::default()` for none), how callers are
/// authenticated, and the listener's TLS (`None`: plaintext HTTP/2).
pub struct Served {
    pub store: Arc<dyn EventStore>,
    pub key: PatronKey,
    pub clock: Arc<dyn Clock>,
    /// How long a refused command's retries get its refusal (ADR 0010): usually
    /// [`readnet_ledger::REFUSAL_RETRY_WINDOW`].
    pub refusal_window: chrono::TimeDelta,
    /// How far before now a command may be dated ([`DEFAULT_MAX_BACKDATE`] unless configured).
    pub max_backdate: chrono::TimeDelta,
    pub snapshots: Snapshots,
    pub routes: Routes,
    pub access: Access,
    /// The server's certificate and key, and with a client CA, mutual TLS. The binary reads
    /// the files and has installed the process's rustls crypto provider.
    pub tls: Option<ServerTlsConfig>,
    /// How often the server sends `ExpireHolds` itself (ADR 0013); `None`: never (an operator
    /// sends it).
    pub hold_sweep: Option<std::time::Duration>,
    /// How often the server writes its clock into the log (`TickClock`, ADR 0016) for the
    /// notices that depend on time; `None`: never (an operator sends it).
    pub notice_tick: Option<std::time::Duration>,
    /// The listener's bounds: connections, timeouts, what a slow subscriber may hold.
    pub limits: Limits,
    /// A SIP2 listener for self-check kiosks, beside gRPC (`None`: no SIP2).
    pub sip2: Option<sip2::Sip2Listener>,
    /// The log's tree as the keeper keeps it (`readnet-audit`): served as `AuditService`;
    /// `None`: the service is not served.
    pub tree: Option<readnet_audit::Tree>,
    /// The patron key store every patron id is sealed under (ADR 0018); `None`: ids are
    /// recorded in the clear and ForgetPatron is refused.
    pub patron_keys: Option<Arc<readnet_ledger::keys::KeyStore>>,
    /// The retention policy's sweep; `None`: never.
    pub retention: Option<Retention>,
}

/// The retention policy (ADR 0018): every `every`, the server forgets the patrons with nothing
/// open and no activity for `inactive_years` years, by its own ForgetPatron commands.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub inactive_years: u32,
    pub every: std::time::Duration,
}

/// Serves the readnet services on a bound listener over any store until `shutdown`.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    served: Served,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_on_with(listener, served, None, shutdown).await
}

/// [`serve_on`], handing the read services to `reads` once they run (the binary's web console
/// calls them in process).
pub async fn serve_on_with(
    listener: tokio::net::TcpListener,
    served: Served,
    reads: Option<reads::ReadServicesHook>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Served {
        store,
        key,
        clock,
        refusal_window,
        max_backdate,
        snapshots,
        routes,
        access,
        tls,
        hold_sweep,
        notice_tick,
        limits,
        sip2,
        tree,
        patron_keys,
        retention,
    } = served;
    let availability = start_projection::<Availability>(&store, &snapshots).await;
    let settlement = start_projection::<Settlement>(&store, &snapshots).await;
    let statistics = start_projection::<Statistics>(&store, &snapshots).await;
    // The notices address patrons: they read the ids opened. The digested projections read
    // the ids as stored, so auditors replay them without the keys (ADR 0018).
    let notices = start_projection_opened::<Notices>(&store, &snapshots, patron_keys.clone()).await;
    let bus =
        CommandBus::start_sealed(Arc::clone(&store), refusal_window, patron_keys.clone()).await?;
    if let Some(token_file) = &access.first_admin_token_file {
        access::ensure_first_admin(&bus, &access.tokens, &key, clock.as_ref(), token_file).await?;
    }
    let authenticator = Authenticator::new(
        access.authentication.clone(),
        bus.access(),
        Arc::clone(&clock),
    );
    let mut writable = bus.writable();
    let commands = Commands {
        bus: bus.clone(),
        key: key.clone(),
        clock: Arc::clone(&clock),
        max_backdate,
        keys: patron_keys.clone(),
    };
    if let Some(every) = hold_sweep {
        tokio::spawn(sweep::sweep_holds(
            bus.clone(),
            key.clone(),
            Arc::clone(&clock),
            every,
        ));
    }
    if let Some(retention) = retention {
        tokio::spawn(sweep::forget_inactive(
            bus.clone(),
            key.clone(),
            Arc::clone(&clock),
            retention,
        ));
    }
    if let Some(every) = notice_tick {
        tokio::spawn(sweep::tick_clock(
            bus.clone(),
            key.clone(),
            Arc::clone(&clock),
            every,
        ));
    }
    let notice_service = services::NoticeService {
        commands: commands.clone(),
        notices,
        store: Arc::clone(&store),
    };
    let account_service = AccountService {
        bus: bus.clone(),
        key: key.clone(),
        clock: Arc::clone(&clock),
    };
    // SIP2 kiosks reach the same handlers, caller checks and command bus as gRPC clients.
    let sip2_task = sip2.map(
        |sip2::Sip2Listener {
             listener,
             limits,
             tls,
         }| {
            let authenticator = Authenticator::new(
                access.authentication.clone(),
                bus.access(),
                Arc::clone(&clock),
            );
            let edge = sip2::Sip2::new(
                commands.clone(),
                account_service.clone(),
                authenticator,
                limits,
            );
            tokio::spawn(sip2::serve(listener, tls, Arc::new(edge)))
        },
    );
    let access_service = AccessService {
        commands: commands.clone(),
        tokens: Arc::clone(&access.tokens),
    };
    let ledger = LedgerService {
        store: Arc::clone(&store),
        key,
        delivery: limits.delivery,
        keys: patron_keys,
    };

    let availability = AvailabilityService::new(availability, Arc::clone(&clock));
    let statistics = StatisticsService::new(statistics, Arc::clone(&clock));
    let settlement_service = SettlementService::new(
        settlement.clone(),
        Arc::clone(&store),
        bus.clone(),
        Arc::clone(&clock),
    );
    if let Some(hook) = reads {
        hook(reads::ReadServices {
            statistics: statistics.clone(),
            availability: availability.clone(),
            settlement: settlement_service.clone(),
            account: account_service.clone(),
            ledger: ledger.clone(),
            clock: Arc::clone(&clock),
            authenticator: Authenticator::new(
                access.authentication.clone(),
                bus.access(),
                Arc::clone(&clock),
            ),
            bus: bus.clone(),
        });
    }

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<NetworkAdminServiceServer<Commands>>()
        .await;
    health_reporter
        .set_serving::<CirculationServiceServer<Commands>>()
        .await;
    health_reporter
        .set_serving::<HoldServiceServer<Commands>>()
        .await;
    health_reporter
        .set_serving::<LedgerServiceServer<LedgerService>>()
        .await;
    // While the store takes no appends (out of reach, or for good after a failure), the command
    // services say so; reads go on.
    let reporter = health_reporter.clone();
    tokio::spawn(async move {
        while writable.changed().await.is_ok() {
            if *writable.borrow_and_update() {
                reporter
                    .set_serving::<NetworkAdminServiceServer<Commands>>()
                    .await;
                reporter
                    .set_serving::<CirculationServiceServer<Commands>>()
                    .await;
                reporter.set_serving::<HoldServiceServer<Commands>>().await;
            } else {
                reporter
                    .set_not_serving::<NetworkAdminServiceServer<Commands>>()
                    .await;
                reporter
                    .set_not_serving::<CirculationServiceServer<Commands>>()
                    .await;
                reporter
                    .set_not_serving::<HoldServiceServer<Commands>>()
                    .await;
            }
        }
    });
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(readnet_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(readnet_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    let mut server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .max_concurrent_streams(limits.max_calls_per_connection);
    if let Some(tls) = tls {
        server = server
            .tls_config(tls)
            .context("the TLS certificate, key or client CA is not usable")?;
    }
    let served = server
        .layer(measure::CallMetricsLayer)
        .layer(limits::OpenCallsLayer)
        .layer(limits::RequestStatusLayer)
        .layer(AuthLayer(authenticator))
        .add_routes(routes)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(AvailabilityServiceServer::new(availability))
        .add_optional_service(tree.map(|tree| {
            AuditServiceServer::new(audit::AuditService::new(
                tree,
                Arc::clone(&store),
                settlement.clone(),
            ))
        }))
        .add_service(settlement_service.into_server())
        .add_service(StatisticsServiceServer::new(statistics))
        .add_service(AccessServiceServer::new(access_service))
        .add_service(AccountServiceServer::new(account_service))
        .add_service(NetworkAdminServiceServer::new(commands.clone()))
        .add_service(CirculationServiceServer::new(commands.clone()))
        .add_service(HoldServiceServer::new(commands))
        .add_service(NoticeServiceServer::new(notice_service))
        .add_service(LedgerServiceServer::new(ledger))
        .serve_with_incoming_shutdown(limits::incoming(listener, limits), shutdown)
        .await;
    if let Some(task) = sip2_task {
        task.abort();
    }
    served?;
    Ok(())
}

/// Loads a projection's snapshot and follows the log from there in a task of its own.
async fn start_projection<P: Projection>(
    store: &Arc<dyn EventStore>,
    snapshots: &Snapshots,
) -> Handle<P> {
    start_projection_opened(store, snapshots, None).await
}

/// [`start_projection`], the projection reading patron ids opened with `keys`.
async fn start_projection_opened<P: Projection>(
    store: &Arc<dyn EventStore>,
    snapshots: &Snapshots,
    keys: Option<Arc<readnet_ledger::keys::KeyStore>>,
) -> Handle<P> {
    let (writer, handle) = shared(snapshots.load::<P>(store.as_ref()).await);
    let (store, snapshots) = (Arc::clone(store), snapshots.clone());
    tokio::spawn(async move {
        match follow_opened(store, writer, snapshots, SnapshotPolicy::default(), keys).await {
            // The store closed: the server is stopping.
            Err(RunnerError::Ended) | Ok(()) => tracing::info!(projection = P::NAME, "stopped"),
            Err(error) => {
                tracing::error!(projection = P::NAME, %error, "the projection stopped following the log")
            }
        }
    });
    handle
}
