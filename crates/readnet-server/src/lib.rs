//! readnet's gRPC server: NetworkAdminService, CirculationService and LedgerService, the
//! projections' AvailabilityService, StatisticsService and SettlementService, health and
//! reflection, on one listener, over an [`readnet_store::EventStore`]; the same listener also
//! speaks KurrentDB's Streams protocol ([`kurrentdb`]).
//!
//! The data path of a command: a service handler checks the request at the edge ([`edge`]),
//! the [`command_bus`] decides it against the domain state and appends the events, and the
//! handler answers with the receipt.

pub mod command_bus;
mod convert;
pub mod edge;
mod error;
pub mod kurrentdb;
pub mod projections;
mod services;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use readnet_availability::{Availability, AvailabilityService};
use readnet_domain::pb::{
    circulation_service_server::CirculationServiceServer,
    ledger_service_server::LedgerServiceServer,
    network_admin_service_server::NetworkAdminServiceServer,
};
use readnet_domain::{Clock, PatronKey, SystemClock};
use readnet_projection::{
    Handle, Projection, RunnerError, SnapshotPolicy, Snapshots, follow, shared,
};
use readnet_proto::v1::availability_service_server::AvailabilityServiceServer;
use readnet_proto::v1::statistics_service_server::StatisticsServiceServer;
use readnet_settlement::{Settlement, SettlementService};
use readnet_statistics::{Statistics, service::StatisticsService};
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::kurrentdb::{KurrentDbOptions, KurrentDbStore};

pub use command_bus::CommandBus;
pub use convert::recorded_event;
pub use error::ServerError;
pub use services::{Commands, LedgerService};

/// How to run the server: on the embedded store in `data_dir`, or on KurrentDB.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The data directory (created if missing): the embedded store's log (`log/`), the patron
    /// key and projection snapshots.
    pub data_dir: PathBuf,
    /// A KurrentDB connection string (`kurrentdb://host:2113?tls=false`, `esdb://…`,
    /// `kurrentdb+discover://…`): keep the events there instead of in `<data_dir>/log`.
    pub store: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The network secret for patron ids (HMAC key). `None`: read `<data_dir>/patron.key`,
    /// creating it with random bytes on first start.
    pub patron_key_file: Option<PathBuf>,
}

/// Opens the store, rebuilds state, listens, and serves until `shutdown` completes.
/// Prints `readnet listening on <addr>` to stdout once the listener is bound.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store_clock = Arc::clone(&clock);
    let store_clock: Arc<dyn Fn() -> i64 + Send + Sync> =
        Arc::new(move || store_clock.now().timestamp_micros());
    let store: Arc<dyn EventStore> = match &config.store {
        None => Arc::new(
            EmbeddedStore::open(
                config.data_dir.join("log"),
                EmbeddedOptions {
                    clock: store_clock,
                    ..EmbeddedOptions::default()
                },
            )
            .await
            .with_context(|| format!("opening the event store in {}", config.data_dir.display()))?,
        ),
        // The journal fence (the default) keeps cross-stream rules with several servers on one
        // cluster: see docs/adr/0006-kurrentdb-backend.md.
        Some(url) => Arc::new(
            KurrentDbStore::connect(
                url,
                KurrentDbOptions {
                    clock: store_clock,
                    ..KurrentDbOptions::default()
                },
            )
            .await
            .context("connecting to the KurrentDB event store")?,
        ),
    };
    let key_file = config
        .patron_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("patron.key"));
    let key = load_or_create_key(&key_file, store.head_position())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Scripts and tests wait for this line to learn the port (with --listen …:0).
    println!("readnet listening on {addr}");
    let snapshots = Snapshots::new(config.data_dir.join("projections"));
    serve_on(listener, store, key, clock, snapshots, shutdown)
        .await
        .map(|_| {
            tracing::info!(%addr, "stopped");
        })
}

/// Serves the readnet services on a bound listener over any store; projection snapshots are
/// kept in `snapshots`.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    store: Arc<dyn EventStore>,
    key: PatronKey,
    clock: Arc<dyn Clock>,
    snapshots: Snapshots,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let availability = start_projection::<Availability>(&store, &snapshots);
    let settlement = start_projection::<Settlement>(&store, &snapshots);
    let statistics = start_projection::<Statistics>(&store, &snapshots);
    let bus = CommandBus::start(Arc::clone(&store)).await?;
    let mut writable = bus.writable();
    let commands = Commands {
        bus,
        key,
        clock: Arc::clone(&clock),
    };
    let ledger = LedgerService {
        store: Arc::clone(&store),
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<NetworkAdminServiceServer<Commands>>()
        .await;
    health_reporter
        .set_serving::<CirculationServiceServer<Commands>>()
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
            } else {
                reporter
                    .set_not_serving::<NetworkAdminServiceServer<Commands>>()
                    .await;
                reporter
                    .set_not_serving::<CirculationServiceServer<Commands>>()
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
    // KurrentDB clients and tools reach the same log on the same listener.
    let kurrentdb = kurrentdb::KurrentDbEndpoint::new(Arc::clone(&store), Arc::clone(&clock), addr);
    tonic::transport::Server::builder()
        .add_routes(kurrentdb::unsupported_routes())
        .add_service(kurrentdb.streams())
        .add_service(kurrentdb.server_features())
        .add_service(kurrentdb.gossip())
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(AvailabilityServiceServer::new(AvailabilityService::new(
            availability,
        )))
        .add_service(
            SettlementService::new(settlement, Arc::clone(&store), Arc::clone(&clock))
                .into_server(),
        )
        .add_service(StatisticsServiceServer::new(StatisticsService::new(
            statistics,
            Arc::clone(&clock),
        )))
        .add_service(NetworkAdminServiceServer::new(commands.clone()))
        .add_service(CirculationServiceServer::new(commands))
        .add_service(LedgerServiceServer::new(ledger))
        // Small answers must leave at once: without TCP_NODELAY a response waits for the
        // client's delayed ACK (~40 ms on Linux).
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    Ok(())
}

/// Loads a projection's snapshot and follows the log from there in a task of its own.
fn start_projection<P: Projection>(
    store: &Arc<dyn EventStore>,
    snapshots: &Snapshots,
) -> Handle<P> {
    let (writer, handle) = shared(snapshots.load::<P>(store.head_position()));
    let (store, snapshots) = (Arc::clone(store), snapshots.clone());
    tokio::spawn(async move {
        match follow(store, writer, snapshots, SnapshotPolicy::default()).await {
            // The store closed: the server is stopping.
            Err(RunnerError::Ended) | Ok(()) => tracing::info!(projection = P::NAME, "stopped"),
            Err(error) => {
                tracing::error!(projection = P::NAME, %error, "the projection stopped following the log")
            }
        }
    });
    handle
}

/// The network secret: read from `path`, or, for a ledger with no events yet, 32 random bytes
/// written there. A ledger with events and no key is refused: a new key would make every card a
/// new patron, orphaning their loans, debts and blocks.
fn load_or_create_key(path: &Path, events_in_log: u64) -> anyhow::Result<PatronKey> {
    match std::fs::read(path) {
        Ok(secret) if !secret.is_empty() => Ok(PatronKey::new(&secret)),
        Ok(_) => anyhow::bail!("patron key file {} is empty", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && events_in_log > 0 => anyhow::bail!(
            "patron key file {} is missing but the log holds {events_in_log} events: restore the key \
             (without it every card would become a new patron)",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let secret: [u8; 32] = rand::random();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating patron key {}", path.display()))?;
            file.write_all(&secret)?;
            file.sync_all()?;
            // The key must outlive a power cut as surely as the first event does.
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::File::open(dir)?.sync_all()?;
            tracing::info!(path = %path.display(), "created a new patron key");
            Ok(PatronKey::new(&secret))
        }
        Err(e) => Err(e).with_context(|| format!("reading patron key {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patron_key_is_created_once_and_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("patron.key");
        let created = load_or_create_key(&path, 0).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(
            mode & 0o777,
            0o600,
            "only the server's user reads the secret"
        );
        let read = load_or_create_key(&path, 10).unwrap();
        assert_eq!(
            created.patron_id("jinan", "1"),
            read.patron_id("jinan", "1")
        );
    }

    #[test]
    fn a_missing_patron_key_is_not_recreated_for_a_ledger_with_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("patron.key");
        let error = load_or_create_key(&path, 42).unwrap_err().to_string();
        assert!(
            error.contains("missing") && error.contains("42 events"),
            "{error}"
        );
        assert!(!path.exists(), "no new key was written");
    }
}
