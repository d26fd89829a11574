//! readnet's write side.
//!
//! - [`CommandBus`]: the one writer of the ledger. Every command — from gRPC, SIP2, the web
//!   console, the simulator — and every event decided elsewhere (a settlement close) is recorded
//!   through it: decided against the domain state, appended with the stream revisions the decision
//!   saw, answered with a receipt once the store has synced.
//! - [`envelope`]: the only place that turns a decided event into the bytes the store keeps
//!   (metadata, event id, type, payload) and back.
//! - [`cut_over`]: a log written before patron ids were sealed, copied into a new store with
//!   every id sealed as the bus would have sealed it (ADR 0018).
//! - [`history`]: histories decided by the real rules without a store, for tests and generators,
//!   and [`import::append_history`] to write one into a store through the same envelope.
//!
//! Must not know: gRPC (tonic, generated service stubs), projections, the binary's
//! configuration, which store backend it writes to.

mod bus;
pub mod cut_over;
pub mod envelope;
mod error;
pub mod history;
pub mod import;
pub mod keys;
mod sealing;

pub use bus::{CommandBus, Decided, REFUSAL_RETRY_WINDOW, Receipt, Submission, digest};
pub use envelope::{DecodeError, ProjectedEvent};
pub use error::{Failure, LedgerError};
