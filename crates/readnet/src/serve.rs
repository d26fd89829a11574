//! The composition root: which store, which key, which listener, and what serves on it.
//!
//! `readnet serve` opens the embedded store in `<data>/log` (or connects to KurrentDB with the
//! `kurrentdb` feature), loads the network secret, binds the listener, and serves readnet's
//! services with the KurrentDB protocol endpoint beside them, over TLS when given a certificate.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use readnet_domain::{Clock, PatronKey, SystemClock};
use readnet_kurrentdb_endpoint::KurrentDbEndpoint;
use readnet_projection::Snapshots;
use readnet_proto::v1::backup_service_server::BackupServiceServer;
use readnet_server::access::tokens::TokenStore;
use readnet_server::{Access, Limits};
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
#[cfg(feature = "kurrentdb")]
use readnet_store::kurrentdb::{KurrentDbOptions, KurrentDbStore};

use crate::backup::BackupServer;
use crate::tls::ServerTlsFiles;

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
    /// Where to serve the log's tree as static files and the metrics over HTTP (`http.rs`,
    /// `ops.rs`); `None`: nowhere.
    pub http_listen: Option<SocketAddr>,
    /// The network secret for patron ids (HMAC key). `None`: read `<data_dir>/patron.key`,
    /// creating it with random bytes on first start.
    pub patron_key_file: Option<PathBuf>,
    /// Listen on a non-loopback address without TLS (credentials would cross the network in
    /// the clear).
    pub insecure: bool,
    /// Serve over TLS (and with a client CA, mutual TLS); `None`: plaintext HTTP/2.
    pub tls: Option<ServerTlsFiles>,
    /// The listener's bounds (connections, timeouts, slow subscribers).
    pub limits: Limits,
    /// The HTTP listener's connection cap (its deadlines are `limits`').
    pub http_max_connections: usize,
    /// How long a refused command's retries get its refusal (ADR 0010).
    pub refusal_window: chrono::TimeDelta,
    /// How far before now a command may be dated (docs/rules.md, "Honest time").
    pub max_backdate: chrono::TimeDelta,
    /// How often the server ends the holds whose time is up (ADR 0013); `None`: never.
    pub hold_sweep: Option<std::time::Duration>,
    /// How often the server writes its clock into the log for the notices (ADR 0016); `None`:
    /// never.
    pub notice_tick: Option<std::time::Duration>,
    /// The retention policy's sweep (ADR 0018); `None`: patrons are forgotten only on request.
    pub retention: Option<readnet_server::Retention>,
    /// How often a checkpoint of the log's tree is signed while the log grows; `None`: only on
    /// demand and at period closes.
    pub checkpoint_every: Option<std::time::Duration>,
    /// A SIP2 listener for self-check kiosks; `None`: no SIP2.
    pub sip2: Option<Sip2Config>,
}

/// Where SIP2 is served and its bounds.
#[derive(Debug, Clone, Copy)]
pub struct Sip2Config {
    pub listen: SocketAddr,
    pub limits: readnet_server::sip2::Sip2Limits,
}

/// Where the token hashes are kept: beside the data, never in the log.
pub fn tokens_file(data_dir: &Path) -> PathBuf {
    data_dir.join("tokens.json")
}

/// Where a new network's first administrator's token is written.
pub fn admin_token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.token")
}

/// Opens the store, rebuilds state, listens, and serves until `shutdown` completes.
/// Prints `readnet listening on <addr>` to stdout once the listener is bound.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Read first: a wrong PEM file stops the server before it opens the store or binds.
    let tls = config
        .tls
        .as_ref()
        .map(ServerTlsFiles::config)
        .transpose()?;
    if tls.is_none() && !config.listen.ip().is_loopback() && !config.insecure {
        anyhow::bail!(
            "--listen {}: serving beyond this machine without TLS sends every token in the \
             clear; give --insecure to do it anyway",
            config.listen
        );
    }
    // The HTTP listener takes it too (the console's login sends a token), without asking
    // browsers for a client certificate; it speaks HTTP/2 and HTTP/1.1 by ALPN.
    let http_tls = match (&config.http_listen, &config.tls) {
        (Some(_), Some(files)) => {
            let files = ServerTlsFiles {
                client_ca: None,
                ..files.clone()
            };
            let mut config = (*files.rustls_config()?).clone();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Some(Arc::new(config))
        }
        _ => None,
    };
    if let Some(http) = config.http_listen
        && config.tls.is_none()
        && !http.ip().is_loopback()
        && !config.insecure
    {
        anyhow::bail!(
            "--http-listen {http}: without --tls-cert the web console's login sends a token in \
             the clear; give the listener a certificate, keep it on loopback behind a TLS proxy, \
             or give --insecure to do it anyway"
        );
    }
    // SIP2 takes the listener's certificate: TLS on both, or on neither.
    let sip2_tls = match (&config.sip2, &config.tls) {
        (Some(_), Some(files)) => Some(files.rustls_config()?),
        _ => None,
    };
    if let Some(sip2) = &config.sip2
        && sip2_tls.is_none()
        && !sip2.listen.ip().is_loopback()
        && !config.insecure
    {
        anyhow::bail!(
            "--sip2-listen {}: without --tls-cert SIP2 is plain TCP, and a kiosk's login sends \
             its token in the clear; give the listener a certificate, keep SIP2 on loopback \
             behind a TLS tunnel, or give --insecure for a closed library network",
            sip2.listen
        );
    }
    // Metrics are served on the HTTP listener: without one nothing is recorded. The recorder
    // comes first, so that the store and the edges take their handles from it (ADR 0021).
    let metrics = match config.http_listen {
        Some(_) => Some(crate::ops::install_recorder().context("installing the metrics recorder")?),
        None => None,
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let tokens = TokenStore::open(tokens_file(&config.data_dir))?;
    let access = Access::tokens(Arc::new(tokens), Some(admin_token_file(&config.data_dir)));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store_clock = Arc::clone(&clock);
    let store_clock: Arc<dyn Fn() -> i64 + Send + Sync> =
        Arc::new(move || store_clock.now().timestamp_micros());
    if config.store.is_none() {
        refuse_a_lost_log(&config.data_dir)?;
    }
    let (store, embedded) = open_store(&config, store_clock).await?;
    // The patron key store (ADR 0018) is in the data directory whichever backend keeps the
    // events. A log that already holds events written without it (a legacy log) goes on under
    // it: new events are sealed.
    let patron_keys = readnet_ledger::keys::KeyStore::open_or_create(&config.data_dir)
        .context("opening the patron key store")?;
    let key_file = config
        .patron_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("patron.key"));
    // Positions are dense from 1: the head is the number of events in the log.
    let key = load_or_create_key(&key_file, store.head_position().get())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let sip2 = match config.sip2 {
        Some(sip2) => {
            let listener = tokio::net::TcpListener::bind(sip2.listen)
                .await
                .with_context(|| format!("binding --sip2-listen {}", sip2.listen))?;
            // Printed before the gRPC line, which scripts and tests wait for last.
            println!("readnet sip2 listening on {}", listener.local_addr()?);
            Some(readnet_server::sip2::Sip2Listener {
                listener,
                limits: sip2.limits,
                tls: sip2_tls,
            })
        }
        None => None,
    };
    let http_listener = match config.http_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("binding --http-listen {address}"))?;
            // Printed before the gRPC line, which scripts and tests wait for last.
            println!("readnet http listening on {}", listener.local_addr()?);
            Some(listener)
        }
        None => None,
    };
    // Scripts and tests wait for this line to learn the port (with --listen …:0).
    println!("readnet listening on {addr}");
    if let Some(files) = &config.tls {
        match &files.client_ca {
            Some(client_ca) => tracing::info!(
                cert = %files.cert.display(),
                client_ca = %client_ca.display(),
                "mutual TLS is on: clients connect with https:// and a certificate the client CA signed"
            ),
            None => tracing::info!(
                cert = %files.cert.display(),
                "TLS is on: clients connect with https://"
            ),
        }
    }
    let snapshots = Snapshots::new(config.data_dir.join("projections"));
    // The log's Merkle tree, kept beside the log in DATA/tlog and signed with DATA/checkpoint.key.
    let tree = readnet_audit::keep(
        Arc::clone(&store),
        readnet_audit::TreeOptions {
            dir: config.data_dir.join("tlog"),
            signer: crate::verify::signer(&config.data_dir, "readnet")?,
            every: config.checkpoint_every,
            clock: Arc::clone(&clock),
        },
    )
    .await
    .context("keeping the log's tree in tlog/")?;
    // KurrentDB clients and tools reach the same log on the same listener.
    let kurrentdb = KurrentDbEndpoint::new(Arc::clone(&store), Arc::clone(&clock), addr)
        .with_delivery(config.limits.delivery);
    // One shutdown for both listeners.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let stopping = Arc::new(stopping);
    let on_signal = Arc::clone(&stopping);
    tokio::spawn(async move {
        shutdown.await;
        on_signal.send_replace(true);
    });
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|&stop| stop).await;
    };
    // The web console gets the read services once the listener runs them.
    let console = readnet_console::ServicesSlot::default();
    // Session cookies are signed with the data directory's console key, so that they outlive a
    // restart (ADR 0026).
    let sessions = match http_listener {
        Some(_) => Some(
            readnet_console::session::Sessions::open(&config.data_dir)
                .context("opening the console's session key")?,
        ),
        None => None,
    };
    let http_limits = Limits {
        max_connections: config.http_max_connections.max(1),
        ..config.limits
    };
    let http = http_listener.zip(sessions).map(|(listener, sessions)| {
        let mut routes = crate::http::router(tree.clone()).merge(readnet_console::router(
            Arc::clone(&console),
            http_tls.is_some(),
            sessions,
        ));
        if let Some(handle) = metrics {
            routes = routes.merge(crate::ops::router(crate::ops::Scrape {
                handle,
                store: Arc::clone(&store),
                clock: Arc::clone(&clock),
            }));
        }
        let server = crate::http::serve(
            listener,
            routes,
            http_tls.clone(),
            http_limits,
            stopped(stop.clone()),
        );
        tokio::spawn(async move {
            server.await;
            Ok::<(), std::io::Error>(())
        })
    });
    let served = readnet_server::Served {
        store,
        key,
        clock,
        refusal_window: config.refusal_window,
        max_backdate: config.max_backdate,
        snapshots,
        // Backups of the data directory beside the log (none when the events are in KurrentDB).
        routes: kurrentdb
            .routes()
            .add_service(BackupServiceServer::new(BackupServer {
                data_dir: config.store.is_none().then(|| config.data_dir.clone()),
            })),
        access,
        tls,
        hold_sweep: config.hold_sweep,
        notice_tick: config.notice_tick,
        patron_keys: Some(patron_keys),
        retention: config.retention,
        limits: config.limits,
        sip2,
        tree: Some(tree),
    };
    let on_reads: readnet_server::reads::ReadServicesHook = Box::new(move |reads| {
        let _ = console.set(reads);
    });
    let served =
        readnet_server::serve_on_with(listener, served, Some(on_reads), stopped(stop)).await;
    // The gRPC listener may also stop on an error: the HTTP one stops with it.
    stopping.send_replace(true);
    if let Some(http) = http {
        match http.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP listener failed"),
            Err(e) => tracing::warn!(error = %e, "the HTTP listener's task failed"),
        }
    }
    // Tasks that still hold the store may outlive the server by a moment: the embedded log is
    // closed here (its index files and checkpoint written, its lock released) before serve
    // returns, not whenever the last of them lets go.
    if let Some(embedded) = embedded {
        embedded.close().await;
    }
    served.map(|_| {
        tracing::info!(%addr, "stopped");
    })
}

/// A data directory that has held a ledger (its patron key, tokens or snapshots are there) but
/// has no `log/` lost its log: starting a new, empty ledger there would hide that.
fn refuse_a_lost_log(data_dir: &Path) -> anyhow::Result<()> {
    let log = data_dir.join("log");
    if log.exists() {
        return Ok(());
    }
    let witnesses = ["patron.key", "projections"]
        .iter()
        .map(|name| data_dir.join(name))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>();
    if witnesses.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{} is missing, but {} show(s) that this data directory has held a ledger: the log was \
         moved or deleted. Restore it from a backup (`readnet restore`); to start a new ledger \
         here on purpose, create the empty directory {}",
        log.display(),
        witnesses.join(" and "),
        log.display()
    )
}

/// The store the configuration names: the embedded log in `<data>/log` (also returned as
/// itself, to be closed at shutdown), or a KurrentDB cluster.
async fn open_store(
    config: &ServeConfig,
    store_clock: Arc<dyn Fn() -> i64 + Send + Sync>,
) -> anyhow::Result<(Arc<dyn EventStore>, Option<Arc<EmbeddedStore>>)> {
    Ok(match &config.store {
        None => {
            let embedded = Arc::new(
                EmbeddedStore::open(
                    config.data_dir.join("log"),
                    EmbeddedOptions {
                        clock: store_clock,
                        ..EmbeddedOptions::default()
                    },
                )
                .await
                .with_context(|| {
                    format!("opening the event store in {}", config.data_dir.display())
                })?,
            );
            (Arc::clone(&embedded) as Arc<dyn EventStore>, Some(embedded))
        }
        // The journal fence (the default) keeps cross-stream rules with several servers on one
        // cluster: see docs/adr/0006-kurrentdb-backend.md.
        #[cfg(feature = "kurrentdb")]
        Some(url) => (
            Arc::new(
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
            None,
        ),
        #[cfg(not(feature = "kurrentdb"))]
        Some(_) => anyhow::bail!(
            "--store: this readnet was built without the kurrentdb feature; only the embedded \
             store is available"
        ),
    })
}

/// The network secret in `path`, which must exist (offline tools read it; only the server
/// creates it).
pub fn read_key(path: &Path) -> anyhow::Result<PatronKey> {
    match std::fs::read(path) {
        Ok(secret) if !secret.is_empty() => Ok(PatronKey::new(&secret)),
        Ok(_) => anyhow::bail!("patron key file {} is empty", path.display()),
        Err(e) => Err(e).with_context(|| format!("reading patron key {}", path.display())),
    }
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
            let secret: [u8; 32] = rand::random();
            create_secret_file(path, &secret)
                .with_context(|| format!("creating patron key {}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new patron key");
            Ok(PatronKey::new(&secret))
        }
        Err(e) => Err(e).with_context(|| format!("reading patron key {}", path.display())),
    }
}

/// Writes a new secret file (it must not exist): owner-only (0600), synced, and its directory
/// synced, so that the secret outlives a power cut as surely as the events it goes with.
pub fn create_secret_file(path: &Path, secret: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(secret)?;
    file.sync_all()?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
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
