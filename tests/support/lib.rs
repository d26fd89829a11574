//! The end-to-end harness: start the real `readnet` binary on a temporary data directory, talk to
//! it over gRPC as the desks, kiosks and booths of a library network would.
//!
//! - [`server`]: finds (and builds, once per test process) the binary, starts `readnet serve`,
//!   kills it hard, restarts it on the same data directory.
//! - [`client`]: the gRPC clients, with the acting library and channel in request metadata and a
//!   fresh command id on every command.
//! - [`network`]: the Jinan–Zibo network most tests start from.
//! - [`check`]: assertions on statuses, receipts and events.

pub mod check;
pub mod client;
pub mod network;
pub mod server;

pub use check::*;
pub use client::{AuthChannel, Bearer, CommandResponse, Desk, Net, card};
pub use network::*;
/// The generated API types, for tests and the `payload!` macro.
pub use readnet_proto::v1;
pub use server::{ServeTls, TestServer, readnet_binary};

/// How long any single wait in a test may take before the test fails instead of hanging.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);
