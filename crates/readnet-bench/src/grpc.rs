//! Checkouts over gRPC: the whole server in-process (`serve_on` on a loopback port over the
//! embedded store), or `readnet serve` in a process of its own, driven by concurrent clients,
//! each on a connection of its own.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use readnet_domain::{Clock, PatronKey, SystemClock};
use readnet_projection::Snapshots;
use readnet_proto::v1::{
    self, Acquisition, Card, LibraryTier, access_service_client::AccessServiceClient,
    circulation_service_client::CirculationServiceClient,
    network_admin_service_client::NetworkAdminServiceClient,
};
use readnet_server::Access;
use readnet_server::access::tokens::TokenStore;
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

use crate::{BenchError, Latency};

/// The two cities and the central library of each; items alternate between them.
const LIBRARIES: [(&str, &str, &str); 2] = [
    ("jinan", "济南", "JN-CENTRAL"),
    ("zibo", "淄博", "ZB-CENTRAL"),
];
/// Connections that catalogue the items before the measurement (not timed).
const SETUP_CLIENTS: usize = 16;
/// Loans per patron: under the standard limit of 10.
const LOANS_PER_PATRON: usize = 5;
/// Longest a call may take before the measurement gives up.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Checkouts over gRPC with some concurrent clients.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GrpcCheckouts {
    pub clients: usize,
    /// Whether the server ran in the bench's process (sharing its runtime with the clients) or
    /// as `readnet serve` in a process of its own.
    pub own_process: bool,
    /// Whether every call proved a token (a desk principal's) or the server took every call as
    /// an administrator's without a credential.
    pub authenticated: bool,
    /// Over every client's checkouts: each call from request to receipt.
    pub latency: Latency,
}

/// Starts the server in-process on `127.0.0.1:0` over a fresh embedded store in `dir/log`,
/// sets up two cities with a central library each and catalogues `count` items (not timed),
/// then checks every item out from `clients` concurrent clients, each on its own connection,
/// timing each call. Patrons take five items each, so nobody reaches the loan limit. With
/// `authenticated`, the network is set up with the first administrator's token and every
/// catalogue and checkout carries the token of a desk principal over both libraries; without,
/// the server runs with authentication off.
pub async fn checkouts_grpc(
    dir: &Path,
    clients: usize,
    count: usize,
    authenticated: bool,
) -> Result<GrpcCheckouts, BenchError> {
    Ok(checkouts_beside(dir, clients, count, authenticated, None)
        .await?
        .0)
}

/// [`checkouts_grpc`] with the KurrentDB endpoint on the listener and, with `neighbour`, its
/// appenders writing large appends through it for as long as the checkouts run; also returns
/// how many appends the neighbour made meanwhile.
pub(crate) async fn checkouts_beside(
    dir: &Path,
    clients: usize,
    count: usize,
    authenticated: bool,
    neighbour: Option<crate::limits::Neighbour>,
) -> Result<(GrpcCheckouts, u64), BenchError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store_clock = Arc::clone(&clock);
    let options = EmbeddedOptions {
        clock: Arc::new(move || store_clock.now().timestamp_micros()),
        ..EmbeddedOptions::default()
    };
    let store = Arc::new(EmbeddedStore::open(dir.join("log"), options).await?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let routes = match &neighbour {
        None => tonic::service::Routes::default(),
        Some(neighbour) => neighbour.routes(Arc::clone(&store) as Arc<dyn EventStore>, addr),
    };
    let secret: [u8; 32] = rand::random();
    let tokens = Arc::new(
        TokenStore::open(dir.join("tokens.json")).map_err(|e| BenchError::Server(e.to_string()))?,
    );
    let admin_token_file = dir.join("admin.token");
    let access = if authenticated {
        Access::tokens(tokens, Some(admin_token_file.clone()))
    } else {
        Access::off(tokens)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let served = readnet_server::Served {
        store: Arc::clone(&store) as Arc<dyn EventStore>,
        key: PatronKey::new(&secret),
        clock,
        refusal_window: readnet_server::REFUSAL_RETRY_WINDOW,
        max_backdate: readnet_server::DEFAULT_MAX_BACKDATE,
        snapshots: Snapshots::new(dir.join("projections")),
        routes,
        access,
        tls: None,
        hold_sweep: None,
        notice_tick: None,
        limits: readnet_server::Limits::default(),
        sip2: None,
        tree: None,
        patron_keys: None,
        retention: None,
    };
    let server = tokio::spawn(readnet_server::serve_on(listener, served, async {
        let _ = stopped.await;
    }));
    let admin_token = authenticated.then_some(admin_token_file);
    let measured = measure(&url, clients, count, admin_token.as_deref(), neighbour).await;
    let _ = stop.send(());
    let served = server.await;
    store.close().await;
    served
        .map_err(|e| BenchError::Server(e.to_string()))?
        .map_err(|e| BenchError::Server(format!("{e:#}")))?;
    let (latency, appends) = measured?;
    Ok((
        GrpcCheckouts {
            clients,
            own_process: false,
            authenticated,
            latency,
        },
        appends,
    ))
}

/// The checkouts with the server in a process of its own: what the rows measure, or why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerProcessRows {
    Ran(Vec<GrpcCheckouts>),
    NotRun(String),
}

/// [`checkouts_grpc`] against `readnet serve` started from `binary` on a fresh data directory
/// in `dir` (a plaintext listener on a free loopback port), with access control as a new data
/// directory sets it up: the first administrator's token in `<data>/admin.token`, a desk
/// principal for the checkouts. The server is killed afterwards.
pub async fn checkouts_server_process(
    dir: &Path,
    binary: &Path,
    clients: usize,
    count: usize,
) -> Result<GrpcCheckouts, BenchError> {
    use tokio::io::AsyncBufReadExt;

    let data = dir.join("data");
    let mut server = tokio::process::Command::new(binary)
        .arg("serve")
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Server(format!("cannot start {}: {e}", binary.display())))?;
    let stdout = server.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let listening = tokio::time::timeout(CALL_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(addr) = line.strip_prefix("readnet listening on ") {
                return Ok(Some(addr.trim().to_owned()));
            }
        }
        Ok::<_, std::io::Error>(None)
    })
    .await;
    let addr = match listening {
        Ok(Ok(Some(addr))) => addr,
        Ok(Ok(None)) => {
            return Err(BenchError::Server(format!(
                "{} serve exited before it listened: {:?}",
                binary.display(),
                server.wait().await
            )));
        }
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(BenchError::Server(format!(
                "{} serve did not listen within {CALL_TIMEOUT:?}",
                binary.display()
            )));
        }
    };
    // Keep reading stdout: a full pipe would stall the server.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let measured = measure(
        &format!("http://{addr}"),
        clients,
        count,
        Some(&data.join("admin.token")),
        None,
    )
    .await;
    server.kill().await?;
    let (latency, _) = measured?;
    Ok(GrpcCheckouts {
        clients,
        own_process: true,
        authenticated: true,
        latency,
    })
}

/// A connection and the credential its calls carry.
#[derive(Clone)]
struct Conn {
    channel: Channel,
    authorization: Option<MetadataValue<Ascii>>,
}

impl Conn {
    /// A request acting as `library` at its desk (or as the network's administrator), with the
    /// connection's credential.
    fn request<T>(&self, library: Option<&str>, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        if let Some(library) = library {
            metadata.insert(
                "x-readnet-library",
                library.parse().expect("an ASCII library code"),
            );
        }
        if let Some(authorization) = &self.authorization {
            metadata.insert("authorization", authorization.clone());
        }
        request
    }
}

fn bearer(token: &str) -> Result<MetadataValue<Ascii>, BenchError> {
    format!("Bearer {}", token.trim())
        .parse()
        .map_err(|_| BenchError::Grpc("the token is not ASCII".to_owned()))
}

async fn measure(
    url: &str,
    clients: usize,
    count: usize,
    admin_token_file: Option<&Path>,
    neighbour: Option<crate::limits::Neighbour>,
) -> Result<(Latency, u64), BenchError> {
    let admin = Conn {
        channel: connect(url).await?,
        authorization: match admin_token_file {
            Some(file) => Some(bearer(&wait_for_token(file).await?)?),
            None => None,
        },
    };
    set_up_network(&admin).await?;
    let desk = match &admin.authorization {
        Some(_) => Some(bearer(&add_desk(&admin).await?)?),
        None => None,
    };
    let items: Vec<usize> = (0..count).collect();
    let (_, catalogued) = run(
        url,
        &desk,
        SETUP_CLIENTS.min(count.max(1)),
        &items,
        catalogue,
    )
    .await?;
    debug_assert_eq!(catalogued.len(), count);
    let appending = match neighbour {
        Some(neighbour) => Some(neighbour.start(connect(url).await?).await?),
        None => None,
    };
    let (elapsed, latencies) = run(url, &desk, clients, &items, checkout).await?;
    let appends = match appending {
        Some(appending) => appending.stop().await?,
        None => 0,
    };
    Ok((Latency::from_samples(latencies, elapsed), appends))
}

/// The first administrator's token, once the server has written it.
async fn wait_for_token(file: &Path) -> Result<String, BenchError> {
    let deadline = Instant::now() + CALL_TIMEOUT;
    loop {
        match std::fs::read_to_string(file) {
            Ok(token) if !token.trim().is_empty() => return Ok(token),
            _ if Instant::now() >= deadline => {
                return Err(BenchError::Server(format!(
                    "{} did not appear within {CALL_TIMEOUT:?}",
                    file.display()
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A desk principal over both libraries; returns its token.
async fn add_desk(admin: &Conn) -> Result<String, BenchError> {
    let request = v1::AddPrincipalRequest {
        command_id: command_id(),
        principal: "bench-desk".to_owned(),
        grant: Some(v1::Grant {
            role: v1::Role::Desk as i32,
            city: String::new(),
            libraries: LIBRARIES.iter().map(|(_, _, l)| (*l).to_owned()).collect(),
        }),
        ..Default::default()
    };
    Ok(AccessServiceClient::new(admin.channel.clone())
        .add_principal(admin.request(None, request))
        .await
        .map_err(|s| status("AddPrincipal", s))?
        .into_inner()
        .token)
}

pub(crate) async fn connect(url: &str) -> Result<Channel, BenchError> {
    Endpoint::from_shared(url.to_owned())
        .map_err(|e| BenchError::Grpc(e.to_string()))?
        .timeout(CALL_TIMEOUT)
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| BenchError::Grpc(format!("connecting to {url}: {e}")))
}

fn command_id() -> String {
    Uuid::new_v4().to_string()
}

fn status(call: &str, status: tonic::Status) -> BenchError {
    BenchError::Grpc(format!("{call}: {status}"))
}

async fn set_up_network(conn: &Conn) -> Result<(), BenchError> {
    let mut admin = NetworkAdminServiceClient::new(conn.channel.clone());
    for (city, name, _) in LIBRARIES {
        admin
            .join_city(conn.request(
                None,
                v1::JoinCityRequest {
                    command_id: command_id(),
                    city: city.to_owned(),
                    name: name.to_owned(),
                    ..Default::default()
                },
            ))
            .await
            .map_err(|s| status("JoinCity", s))?;
    }
    for (city, _, library) in LIBRARIES {
        admin
            .register_library(conn.request(
                None,
                v1::RegisterLibraryRequest {
                    command_id: command_id(),
                    library: library.to_owned(),
                    name: format!("{library} library"),
                    city: city.to_owned(),
                    tier: LibraryTier::Central as i32,
                    ..Default::default()
                },
            ))
            .await
            .map_err(|s| status("RegisterLibrary", s))?;
    }
    Ok(())
}

fn item_code(i: usize) -> String {
    format!("BENCH-{i:08}")
}

/// Item `i`'s owner library and city: alternating between the two.
fn owner(i: usize) -> (&'static str, &'static str) {
    let (city, _, library) = LIBRARIES[i % LIBRARIES.len()];
    (library, city)
}

async fn catalogue(conn: Conn, i: usize) -> Result<(), BenchError> {
    let (library, _) = owner(i);
    CirculationServiceClient::new(conn.channel.clone())
        .catalogue_item(conn.request(
            Some(library),
            v1::CatalogueItemRequest {
                command_id: command_id(),
                item: item_code(i),
                isbn: "9787020002207".to_owned(),
                title: format!("Title {}", i % 2_000),
                author: "鲁迅".to_owned(),
                owner_library: library.to_owned(),
                price_fen: Some(3_500),
                acquisition: Acquisition::Purchase as i32,
                ..Default::default()
            },
        ))
        .await
        .map(|_| ())
        .map_err(|s| status("CatalogueItem", s))
}

async fn checkout(conn: Conn, i: usize) -> Result<(), BenchError> {
    let (library, city) = owner(i);
    CirculationServiceClient::new(conn.channel.clone())
        .checkout(conn.request(
            Some(library),
            v1::CheckoutRequest {
                command_id: command_id(),
                item: item_code(i),
                card: Some(Card {
                    city: city.to_owned(),
                    number: format!("{:010}", i / LOANS_PER_PATRON),
                }),
                ..Default::default()
            },
        ))
        .await
        .map(|_| ())
        .map_err(|s| status("Checkout", s))
}

/// Runs `call` once for every item from `clients` concurrent tasks, each with a connection of
/// its own (connected before the clock starts). Returns the wall time and each call's latency.
async fn run<F, Fut>(
    url: &str,
    authorization: &Option<MetadataValue<Ascii>>,
    clients: usize,
    items: &[usize],
    call: F,
) -> Result<(Duration, Vec<Duration>), BenchError>
where
    F: Fn(Conn, usize) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<(), BenchError>> + Send,
{
    assert!(clients > 0, "at least one client");
    let mut channels = Vec::with_capacity(clients);
    for _ in 0..clients {
        channels.push(Conn {
            channel: connect(url).await?,
            authorization: authorization.clone(),
        });
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for (client, channel) in channels.into_iter().enumerate() {
        let mine: Vec<usize> = items
            .iter()
            .copied()
            .skip(client)
            .step_by(clients)
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(mine.len());
            for i in mine {
                let call_started = Instant::now();
                call(channel.clone(), i).await?;
                latencies.push(call_started.elapsed());
            }
            Ok::<_, BenchError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(items.len());
    for task in tasks {
        latencies.extend(
            task.await
                .map_err(|e| BenchError::Writer(e.to_string()))??,
        );
    }
    Ok((started.elapsed(), latencies))
}
