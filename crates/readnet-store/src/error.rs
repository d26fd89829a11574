use std::path::PathBuf;

use crate::CurrentRevision;
use crate::StreamState;

/// Everything that can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An expectation of an append did not hold.
    #[error("wrong expected version on stream {stream}: expected {expected}, current {actual}")]
    WrongExpectedVersion {
        stream: String,
        expected: StreamState,
        actual: CurrentRevision,
    },
    /// Some of a write's event ids are already in the stream, but not as an exact retry.
    #[error("event ids of the append to {stream} partly match events already written")]
    IdempotencyMismatch { stream: String },
    /// The arguments are not acceptable (empty stream name, too large a record, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Data on disk failed verification. Never read as data.
    #[error("corruption in {path} at byte offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// Another process holds the data directory for writing.
    #[error("data directory {path} is locked by another process")]
    Locked { path: PathBuf },
    /// An earlier write or sync failed; the store accepts no more appends until reopened.
    #[error("the store stopped accepting appends after an I/O failure: {0}")]
    Poisoned(String),
    /// A networked store (KurrentDB) cannot be reached: connection refused, node gone, timeout.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// A networked store refused the credentials or the operation.
    #[error("the event store denied access: {0}")]
    AccessDenied(String),
    /// A networked store answered with something readnet did not write or does not expect.
    #[error("unexpected answer from the event store: {0}")]
    Backend(String),
    /// The call's deadline ([`crate::CallOptions`]) passed before the store answered. An append
    /// may still be recorded: retry it with the same event ids to learn its outcome.
    #[error("the deadline passed before the store answered {call}{may_be}")]
    DeadlineExceeded {
        call: &'static str,
        /// ", it may still be recorded" for appends.
        may_be: &'static str,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// An I/O error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
