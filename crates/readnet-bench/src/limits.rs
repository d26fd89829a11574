//! The bounds of ADR 0011, measured: what stalled subscribers over large events cost the server,
//! and what a neighbour's large appends through the KurrentDB endpoint cost checkouts, each
//! with the bound and without it, side by side in one run.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use readnet_domain::{PatronKey, SystemClock};
use readnet_kurrentdb_endpoint::KurrentDbEndpoint;
use readnet_projection::Snapshots;
use readnet_proto::kurrentdb::shared::{
    Empty, StreamIdentifier, Uuid as WireUuid, uuid as wire_uuid,
};
use readnet_proto::kurrentdb::streams::read_req::Options;
use readnet_proto::kurrentdb::streams::read_req::options::{
    AllOptions, CountOption, StreamOption, SubscriptionOptions, all_options::AllOption,
};
use readnet_proto::kurrentdb::streams::streams_client::StreamsClient;
use readnet_proto::kurrentdb::streams::{AppendReq, ReadReq, append_req};
use readnet_server::Access;
use readnet_server::access::tokens::TokenStore;
use readnet_store::bounded::{self, Bounds, Delivery};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{ContentType, EventData, EventStore, StreamState};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};

use crate::{BenchError, GrpcCheckouts};

/// Far past any buffer here: the bounds "off", as before ADR 0011.
const UNBOUNDED_BYTES: usize = 4 * 1024 * 1024 * 1024 - 1;

/// Appenders that write large appends through the KurrentDB endpoint beside the checkouts.
#[derive(Debug, Clone, Copy)]
pub struct Neighbour {
    /// Concurrent append calls, each on a connection of its own.
    pub appenders: usize,
    /// Events of 1 MiB per append.
    pub events_per_append: usize,
    /// Whether the endpoint's write share holds its appends in the store to 1 MiB at once
    /// (`false`: any number, as before ADR 0011).
    pub fair: bool,
}

impl Neighbour {
    pub(crate) fn routes(
        &self,
        store: Arc<dyn EventStore>,
        addr: SocketAddr,
    ) -> tonic::service::Routes {
        let endpoint = KurrentDbEndpoint::new(store, Arc::new(SystemClock), addr);
        let endpoint = if self.fair {
            endpoint
        } else {
            endpoint.with_write_share_bytes(u64::MAX)
        };
        endpoint.routes()
    }

    /// Starts the appenders; they append until [`Appending::stop`].
    pub(crate) async fn start(self, channel: Channel) -> Result<Appending, BenchError> {
        let stop = Arc::new(AtomicBool::new(false));
        let appends = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for appender in 0..self.appenders {
            let (stop, appends) = (Arc::clone(&stop), Arc::clone(&appends));
            let mut client = StreamsClient::new(channel.clone())
                .max_encoding_message_size(usize::MAX)
                .max_decoding_message_size(usize::MAX);
            let events = self.events_per_append;
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let requests = large_append(&format!("bulk-{appender}"), events);
                    client
                        .append(futures::stream::iter(requests))
                        .await
                        .map_err(|s| BenchError::Grpc(format!("a large append: {s}")))?;
                    appends.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<(), BenchError>(())
            }));
        }
        Ok(Appending {
            stop,
            appends,
            tasks,
        })
    }
}

/// Appenders at work.
pub(crate) struct Appending {
    stop: Arc<AtomicBool>,
    appends: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), BenchError>>>,
}

impl Appending {
    /// Stops the appenders; returns how many appends they made.
    pub(crate) async fn stop(self) -> Result<u64, BenchError> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await
                .map_err(|e| BenchError::Writer(e.to_string()))??;
        }
        Ok(self.appends.load(Ordering::Relaxed))
    }
}

/// An Append call's messages: the options, then `events` proposed messages of 1 MiB.
fn large_append(stream: &str, events: usize) -> Vec<AppendReq> {
    let options = AppendReq {
        content: Some(append_req::Content::Options(append_req::Options {
            stream_identifier: Some(StreamIdentifier {
                stream_name: stream.as_bytes().to_vec(),
            }),
            expected_stream_revision: Some(append_req::options::ExpectedStreamRevision::Any(
                Empty {},
            )),
        })),
    };
    let event = || AppendReq {
        content: Some(append_req::Content::ProposedMessage(
            append_req::ProposedMessage {
                id: Some(WireUuid {
                    value: Some(wire_uuid::Value::String(uuid::Uuid::new_v4().to_string())),
                }),
                metadata: HashMap::from([
                    ("type".to_owned(), "Blob".to_owned()),
                    (
                        "content-type".to_owned(),
                        "application/octet-stream".to_owned(),
                    ),
                ]),
                custom_metadata: Vec::new(),
                data: vec![7; 1024 * 1024],
            },
        )),
    };
    std::iter::once(options)
        .chain((0..events).map(|_| event()))
        .collect()
}

/// Checkouts alone, then beside a neighbour's large appends with the write share and without.
#[derive(Debug, Clone, Serialize)]
pub struct NeighbourRow {
    /// `alone`, `beside large appends, fair share` or `beside large appends, no share`.
    pub case: &'static str,
    pub checkouts: GrpcCheckouts,
    /// The neighbour's appends (each `events_per_append` MiB) during the checkouts.
    pub neighbour_appends: u64,
}

/// What stalled subscribers cost the server.
#[derive(Debug, Clone, Serialize)]
pub struct StalledRow {
    pub bounded: bool,
    pub subscribers: usize,
    /// The events they are behind, in bytes.
    pub log_bytes: u64,
    /// The process's resident memory grew by this much while they stalled.
    pub rss_growth_bytes: u64,
    /// Bytes waiting in the store's and the endpoint's subscription channels.
    pub buffered_bytes: u64,
}

/// The measurements of ADR 0011, side by side.
#[derive(Debug, Clone, Serialize)]
pub struct LimitsReport {
    pub stalled: Vec<StalledRow>,
    pub neighbour: Vec<NeighbourRow>,
}

/// Every measurement of [`LimitsReport`]: stalled subscribers bounded then unbounded (in that
/// order: memory freed by the first may be reused by the second, which can only understate the
/// difference), then checkouts alone and beside large appends.
pub async fn limits_side_by_side(
    dir: &Path,
    subscribers: usize,
    clients: usize,
    count: usize,
) -> Result<LimitsReport, BenchError> {
    let mut stalled = Vec::new();
    for bounded in [true, false] {
        let sub = dir.join(format!("stalled-{bounded}"));
        std::fs::create_dir_all(&sub)?;
        stalled.push(stalled_subscribers(&sub, subscribers, bounded).await?);
    }
    let mut neighbour = Vec::new();
    let cases: [(&'static str, Option<Neighbour>); 3] = [
        ("alone", None),
        (
            "beside large appends, fair share",
            Some(Neighbour {
                appenders: 4,
                events_per_append: 15,
                fair: true,
            }),
        ),
        (
            "beside large appends, no share",
            Some(Neighbour {
                appenders: 4,
                events_per_append: 15,
                fair: false,
            }),
        ),
    ];
    for (i, (case, with)) in cases.into_iter().enumerate() {
        let sub = dir.join(format!("neighbour-{i}"));
        std::fs::create_dir_all(&sub)?;
        let (checkouts, neighbour_appends) =
            crate::grpc::checkouts_beside(&sub, clients, count, false, with).await?;
        neighbour.push(NeighbourRow {
            case,
            checkouts,
            neighbour_appends,
        });
    }
    Ok(LimitsReport { stalled, neighbour })
}

/// The process's resident memory (`VmRSS`), in bytes.
fn rss_bytes() -> Result<u64, BenchError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .ok_or_else(|| BenchError::Server("no VmRSS in /proc/self/status".to_owned()))?;
    Ok(kib * 1024)
}

/// `subscribers` subscriptions to `$all` through the KurrentDB endpoint, each on a connection
/// of its own, that take nothing past their confirmation, behind 32 events of 256 KiB: how much
/// the process grows and how many bytes wait in the subscription channels once they settle.
async fn stalled_subscribers(
    dir: &Path,
    subscribers: usize,
    bounded: bool,
) -> Result<StalledRow, BenchError> {
    const EVENTS: usize = 32;
    const EVENT_BYTES: usize = 256 * 1024;
    let unbounded = Bounds {
        messages: 1024,
        bytes: UNBOUNDED_BYTES,
    };
    let options = EmbeddedOptions {
        subscription_buffer: if bounded {
            readnet_store::SUBSCRIPTION_BOUNDS
        } else {
            unbounded
        },
        ..EmbeddedOptions::default()
    };
    let store = Arc::new(EmbeddedStore::open(dir.join("log"), options).await?);
    for _ in 0..EVENTS {
        let event = EventData {
            event_id: uuid::Uuid::new_v4(),
            event_type: "Blob".to_owned(),
            content_type: ContentType::Binary,
            metadata: Default::default(),
            data: vec![7; EVENT_BYTES].into(),
        };
        store.append("blobs", StreamState::Any, vec![event]).await?;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let delivery = if bounded {
        Delivery::default()
    } else {
        Delivery {
            bounds: Bounds {
                messages: 32,
                bytes: UNBOUNDED_BYTES,
            },
            stall_timeout: Duration::from_secs(3600),
        }
    };
    let endpoint = KurrentDbEndpoint::new(
        Arc::clone(&store) as Arc<dyn EventStore>,
        Arc::new(SystemClock),
        addr,
    )
    .with_delivery(delivery);
    let tokens = Arc::new(
        TokenStore::open(dir.join("tokens.json")).map_err(|e| BenchError::Server(e.to_string()))?,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let served = readnet_server::Served {
        store: Arc::clone(&store) as Arc<dyn EventStore>,
        key: PatronKey::new(&[7; 32]),
        clock: Arc::new(SystemClock),
        refusal_window: readnet_server::REFUSAL_RETRY_WINDOW,
        max_backdate: readnet_server::DEFAULT_MAX_BACKDATE,
        snapshots: Snapshots::new(dir.join("projections")),
        routes: endpoint.routes(),
        access: Access::off(tokens),
        tls: None,
        hold_sweep: None,
        notice_tick: None,
        limits: readnet_server::Limits {
            delivery,
            ..readnet_server::Limits::default()
        },
        sip2: None,
        tree: None,
        patron_keys: None,
        retention: None,
    };
    let server = tokio::spawn(readnet_server::serve_on(listener, served, async {
        let _ = stopped.await;
    }));
    let before = rss_bytes()?;
    let mut stalled = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        // Small client windows: the clients, in this process too, hold little of what is sent.
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| BenchError::Grpc(e.to_string()))?
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .map_err(|e| BenchError::Grpc(e.to_string()))?;
        let mut subscription = StreamsClient::new(channel)
            .read(subscribe_to_all())
            .await
            .map_err(|s| BenchError::Grpc(format!("subscribe: {s}")))?
            .into_inner();
        subscription
            .message()
            .await
            .map_err(|s| BenchError::Grpc(format!("the confirmation: {s}")))?;
        stalled.push(subscription);
    }
    // Until the buffers stop growing.
    let started = Instant::now();
    let mut last = (0, 0);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = (rss_bytes()?, bounded::buffered_bytes());
        if now == last || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        last = now;
    }
    let row = StalledRow {
        bounded,
        subscribers,
        log_bytes: (EVENTS * EVENT_BYTES) as u64,
        rss_growth_bytes: rss_bytes()?.saturating_sub(before),
        buffered_bytes: bounded::buffered_bytes(),
    };
    drop(stalled);
    let _ = stop.send(());
    server
        .await
        .map_err(|e| BenchError::Server(e.to_string()))?
        .map_err(|e| BenchError::Server(format!("{e:#}")))?;
    store.close().await;
    Ok(row)
}

fn subscribe_to_all() -> ReadReq {
    ReadReq {
        options: Some(Options {
            stream_option: Some(StreamOption::All(AllOptions {
                all_option: Some(AllOption::Start(Empty {})),
            })),
            count_option: Some(CountOption::Subscription(SubscriptionOptions {})),
            ..Default::default()
        }),
    }
}
