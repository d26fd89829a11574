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
    /// Opening found acknowledged events missing or damaged; nothing was changed.
    #[error("{0}")]
    Damaged(Box<Damage>),
    /// The store was opened read-only ([`crate::embedded::EmbeddedStore::open_read_only`]).
    #[error("the store is open read-only: nothing can be appended")]
    ReadOnly,
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

/// Where and how a log is damaged, found when it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The file where the log stops being readable (a segment, or the segments directory when
    /// segment files are missing).
    pub path: PathBuf,
    /// The byte offset in `path`.
    pub offset: u64,
    pub reason: String,
    /// Every position up to this one is intact (0: none is).
    pub intact_through: u64,
    /// The last position a witness (the acknowledged head, an index file, the checkpoint) says
    /// was written, and that witness, when one says more than the log holds.
    pub witnessed: Option<(u64, PathBuf)>,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the log is damaged: {} at byte {}: {}. The log is intact through position {}; ",
            self.path.display(),
            self.offset,
            self.reason,
            self.intact_through
        )?;
        match &self.witnessed {
            Some((head, witness)) => write!(
                f,
                "{} shows that positions up to {head} were written, so positions {}..={head} are \
                 missing or damaged. ",
                witness.display(),
                self.intact_through + 1
            )?,
            None => write!(f, "what follows cannot be read. ")?,
        }
        write!(
            f,
            "Nothing was changed. `readnet doctor` reports the damage, `readnet export events \
             --salvage` exports every intact event, and `readnet repair` truncates the log after \
             position {} (what follows is then lost unless restored from a backup).",
            self.intact_through
        )
    }
}
