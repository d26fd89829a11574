//! The listener's bounds: what a request may cost the server, and how a request that breaks
//! one is answered.
//!
//! - `status.rs`: oversized and undecodable requests answered as INVALID_ARGUMENT.
//! - `connections.rs`: the accept loop (a connection cap; accept errors logged and backed
//!   off), each connection's handshake and idle deadlines, and the layer that counts a
//!   connection's open calls for them; the HTTP listener beside gRPC accepts through it too.
//! - [`Limits::delivery`]: what a subscription holds for a slow client, and when it is cut off.

mod connections;
mod status;

use std::time::Duration;

use readnet_store::bounded::Delivery;

pub use connections::{
    Connection, ConnectionInfo, OpenCall, OpenCallsLayer, incoming, incoming_http,
    open_connections, open_http_connections,
};
pub use status::{MAX_STATUS_MESSAGE_BYTES, RequestStatus, RequestStatusLayer};

/// The listener's bounds. [`Limits::default`] gives the numbers ADR 0011 chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once. At the cap the listener stops accepting: new connections
    /// wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// Calls open at once on one connection (HTTP/2 `MAX_CONCURRENT_STREAMS`).
    pub max_calls_per_connection: u32,
    /// A connection must complete its TLS and HTTP/2 handshakes and send its first call within
    /// this time, or it is closed.
    pub handshake_timeout: Duration,
    /// A connection with no open call for this long is closed (clients reconnect on their next
    /// call).
    pub idle_timeout: Duration,
    /// How often the server pings a connection (HTTP/2 keepalive) ...
    pub keepalive_interval: Duration,
    /// ... and how long it waits for the answer before closing the connection.
    pub keepalive_timeout: Duration,
    /// What a subscription or paged read holds for its client, and when a client that takes
    /// nothing is cut off.
    pub delivery: Delivery,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_calls_per_connection: 128,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(20),
            keepalive_timeout: Duration::from_secs(20),
            delivery: Delivery::default(),
        }
    }
}
