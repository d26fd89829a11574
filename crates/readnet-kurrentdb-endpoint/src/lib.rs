//! KurrentDB's gRPC protocol on readnet's listener, so that KurrentDB clients and tools (the
//! official Rust and Python clients among them) can read readnet's log and keep streams of their
//! own in it.
//!
//! Must not know: the ledger's rules or envelope (it serves stored bytes as they are), the
//! readnet services beside it.
//!
//! Served: `event_store.client.streams.Streams` (Read with subscriptions, Append, BatchAppend),
//! `event_store.client.server_features.ServerFeatures` and `event_store.client.gossip.Gossip`.
//! Ledger streams are read-only here ([`append::check_writable`]); every other KurrentDB
//! service, and Delete and Tombstone, answer UNIMPLEMENTED with a message naming the feature.
//!
//! Positions map one to one: KurrentDB's commit and prepare positions are both readnet's `$all`
//! position (dense from 1; 0 is the start), revisions are readnet's revisions.

mod append;
mod convert;
mod error;
mod fair;
mod filter;
mod read;
mod unsupported;

use std::net::SocketAddr;
use std::sync::Arc;

use readnet_domain::Clock;
use readnet_domain::access::{Act, Authenticated, authorize_act};
use readnet_proto::kurrentdb::gossip::{
    ClusterInfo, EndPoint, MemberInfo, gossip_server::Gossip, gossip_server::GossipServer,
    member_info::VNodeState,
};
use readnet_proto::kurrentdb::server_features::{
    SupportedMethod, SupportedMethods, server_features_server::ServerFeatures,
    server_features_server::ServerFeaturesServer,
};
use readnet_proto::kurrentdb::shared::Empty;
use readnet_proto::kurrentdb::streams::streams_server::{Streams, StreamsServer};
use readnet_proto::kurrentdb::streams::{
    AppendReq, AppendResp, BatchAppendReq, BatchAppendResp, DeleteReq, DeleteResp, ReadReq,
    TombstoneReq, TombstoneResp, append_req,
};
use readnet_store::EventStore;
use readnet_store::bounded::Delivery;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

pub use unsupported::unsupported_routes;

use error::EndpointError;

/// KurrentDB's default maximum append size: the events of one append (data, custom metadata, type
/// and the stream name, once per event) may add up to this many bytes.
pub(crate) const MAX_APPEND_BYTES: u64 = 16 * 1024 * 1024;

/// Room above [`MAX_APPEND_BYTES`] for one message's own fields (ids, metadata maps, options).
const MESSAGE_FRAMING_SLACK_BYTES: usize = 1024 * 1024;

/// A batch append's responses held for a client that does not read them (one per batch, small).
const BATCH_RESPONSES: usize = 32;

/// The server version reported to clients: the KurrentDB protocol level these protos match
/// (subscriptions report caught-up), not readnet's own version. The Rust client reads only its
/// digits and dots; nothing in either official client depends on the number.
const PROTOCOL_VERSION: &str = "24.10.0";

/// The KurrentDB services over one store.
#[derive(Clone)]
pub struct KurrentDbEndpoint {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    /// The listener's address, advertised by gossip when a call's own address is unknown.
    listen: SocketAddr,
    /// What a read or subscription holds for its client, and when a stalled client is cut off.
    delivery: Delivery,
    /// The principals' turns at the store's write path.
    share: Arc<fair::WriteShare>,
}

impl KurrentDbEndpoint {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, listen: SocketAddr) -> Self {
        Self {
            store,
            clock,
            listen,
            delivery: Delivery::default(),
            share: Arc::new(fair::WriteShare::new(fair::MAX_BYTES_IN_FLIGHT)),
        }
    }

    /// How many bytes of the endpoint's appends may be in the store at once (default 1 MiB;
    /// one larger append goes alone). `u64::MAX` turns the sharing off, for measurements.
    pub fn with_write_share_bytes(mut self, max_bytes_in_flight: u64) -> Self {
        self.share = Arc::new(fair::WriteShare::new(max_bytes_in_flight));
        self
    }

    /// How reads and subscriptions hold responses for a slow client, and when they cut it off
    /// (default [`Delivery::default`]: 32 responses, 256 KiB, 30 s).
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    pub fn streams(&self) -> StreamsServer<Self> {
        // One append may carry up to MAX_APPEND_BYTES in one message (the Rust client sends a
        // whole BatchAppend chunk as one); tonic's default of 4 MiB would refuse it first.
        StreamsServer::new(self.clone())
            .max_decoding_message_size(MAX_APPEND_BYTES as usize + MESSAGE_FRAMING_SLACK_BYTES)
    }

    pub fn server_features(&self) -> ServerFeaturesServer<Self> {
        ServerFeaturesServer::new(self.clone())
    }

    pub fn gossip(&self) -> GossipServer<Self> {
        GossipServer::new(self.clone())
    }

    /// Every service of the endpoint, on routes whose fallback answers a KurrentDB service it
    /// does not serve with UNIMPLEMENTED naming the feature; other services may be added.
    pub fn routes(&self) -> tonic::service::Routes {
        unsupported_routes()
            .add_service(self.streams())
            .add_service(self.server_features())
            .add_service(self.gossip())
    }
}

#[tonic::async_trait]
impl Streams for KurrentDbEndpoint {
    type ReadStream = read::Responses;
    type BatchAppendStream = ReceiverStream<Result<BatchAppendResp, Status>>;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<Self::ReadStream>, Status> {
        authorize(&request, Act::ReadRawLog)?;
        let request = read::ReadRequest::parse(request.into_inner())?;
        let responses = read::start(
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            request,
            self.delivery,
        );
        Ok(Response::new(responses))
    }

    async fn append(
        &self,
        request: Request<Streaming<AppendReq>>,
    ) -> Result<Response<AppendResp>, Status> {
        authorize(&request, Act::WriteForeignStreams)?;
        let principal = principal(&request);
        let mut messages = request.into_inner();
        let options = match messages.message().await?.and_then(|m| m.content) {
            Some(append_req::Content::Options(options)) => options,
            _ => {
                return Err(EndpointError::invalid(
                    "options: the first AppendReq must carry the append's options",
                )
                .into());
            }
        };
        let stream = convert::stream_name(options.stream_identifier, "options.stream_identifier")?;
        append::check_writable(&stream)?;
        let expected = append::expected_state(options.expected_stream_revision)?;
        let (mut events, mut bytes) = (Vec::new(), 0u64);
        while let Some(message) = messages.message().await? {
            match message.content {
                Some(append_req::Content::ProposedMessage(m)) => {
                    let event = convert::event_data(m.id, m.metadata, m.custom_metadata, m.data)?;
                    append::push_bounded(&stream, &mut events, &mut bytes, event)?;
                }
                _ => {
                    return Err(EndpointError::invalid(
                        "proposed_message: after the options, an append sends only proposed messages",
                    )
                    .into());
                }
            }
        }
        let outcome = append::write(
            self.store.as_ref(),
            &self.share,
            &principal,
            &stream,
            expected,
            events,
        )
        .await?;
        Ok(Response::new(append::append_resp(outcome)))
    }

    async fn delete(&self, request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        authorize(&request, Act::WriteForeignStreams)?;
        Err(EndpointError::Unsupported {
            feature: "deleting streams (Streams.Delete)",
            why: "readnet's log is immutable, an audit trail whose events are never removed",
        }
        .into())
    }

    async fn tombstone(
        &self,
        request: Request<TombstoneReq>,
    ) -> Result<Response<TombstoneResp>, Status> {
        authorize(&request, Act::WriteForeignStreams)?;
        Err(EndpointError::Unsupported {
            feature: "tombstoning streams (Streams.Tombstone)",
            why: "readnet's log is immutable, an audit trail whose events are never removed",
        }
        .into())
    }

    async fn batch_append(
        &self,
        request: Request<Streaming<BatchAppendReq>>,
    ) -> Result<Response<Self::BatchAppendStream>, Status> {
        authorize(&request, Act::WriteForeignStreams)?;
        let principal = principal(&request);
        let requests = request.into_inner();
        let (tx, rx) = mpsc::channel(BATCH_RESPONSES);
        let store = Arc::clone(&self.store);
        let share = Arc::clone(&self.share);
        tokio::spawn(async move {
            append::batch_append(store.as_ref(), &share, &principal, requests, tx).await
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The caller's principal name, whose turn an append waits for (empty when the listener runs
/// without authentication: every caller shares one turn).
fn principal<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<Authenticated>()
        .map(|caller| caller.authority.principal.as_str().to_owned())
        .unwrap_or_default()
}

/// Checks the caller the listener's authentication layer proved against `act`, and answers a
/// refusal the way KurrentDB does: PERMISSION_DENIED with the `access-denied` exception (the
/// official clients raise their `AccessDenied`), or UNAUTHENTICATED with `not-authenticated`.
// A handler's own error type: tonic's Status, whatever its size.
#[allow(clippy::result_large_err)]
fn authorize<T>(request: &Request<T>, act: Act) -> Result<(), Status> {
    let Some(caller) = request.extensions().get::<Authenticated>() else {
        let mut status = Status::unauthenticated("no credential: send HTTP basic credentials");
        status
            .metadata_mut()
            .insert("exception", MetadataValue::from_static("not-authenticated"));
        return Err(status);
    };
    authorize_act(&caller.authority, act, &[], caller.view.as_ref()).map_err(|rejection| {
        let mut status = Status::permission_denied(rejection.to_string());
        status
            .metadata_mut()
            .insert("exception", MetadataValue::from_static("access-denied"));
        status
    })
}

#[tonic::async_trait]
impl ServerFeatures for KurrentDbEndpoint {
    /// What this endpoint implements, named as KurrentDB names them (lower case). The Rust
    /// client enables batch appends on `batchappend`; it finds no persistent-subscription
    /// methods, so it reports those as unsupported without calling them.
    async fn get_supported_methods(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<SupportedMethods>, Status> {
        let method = |service: &str, method: &str, features: &[&str]| SupportedMethod {
            method_name: method.to_owned(),
            service_name: service.to_owned(),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
        };
        let streams = "event_store.client.streams.streams";
        Ok(Response::new(SupportedMethods {
            methods: vec![
                method(streams, "read", &["position", "events"]),
                method(streams, "append", &[]),
                method(streams, "batchappend", &[]),
                method(
                    "event_store.client.server_features.serverfeatures",
                    "getsupportedmethods",
                    &[],
                ),
                method("event_store.client.gossip.gossip", "read", &[]),
            ],
            event_store_server_version: PROTOCOL_VERSION.to_owned(),
        }))
    }
}

#[tonic::async_trait]
impl Gossip for KurrentDbEndpoint {
    /// A cluster of one: this server, alive and leader, at the address the client reached (so
    /// that a listener on 0.0.0.0 advertises an address the client can use).
    async fn read(&self, request: Request<Empty>) -> Result<Response<ClusterInfo>, Status> {
        let address = request.local_addr().unwrap_or(self.listen);
        Ok(Response::new(ClusterInfo {
            members: vec![MemberInfo {
                instance_id: Some(convert::proto_uuid(uuid::Uuid::nil(), true)),
                time_stamp: self.clock.now().timestamp_micros() * 10,
                state: VNodeState::Leader as i32,
                is_alive: true,
                http_end_point: Some(EndPoint {
                    address: address.ip().to_string(),
                    port: u32::from(address.port()),
                }),
            }],
        }))
    }
}
