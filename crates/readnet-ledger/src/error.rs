use chrono::{DateTime, SecondsFormat, Utc};
use readnet_domain::{Refusal, Rejection, RejectionKind};
use readnet_store::StoreError;

use crate::envelope::DecodeError;

/// Why the ledger did not record a command. The gRPC edge maps it to a status in one place.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A rule of the domain refused the command, and the refusal is not recorded (a role's: see
    /// [`Rejection::is_recorded`]).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// A rule of the domain refused the command, and the log records the refusal: this answer,
    /// word for word, is every retry's (ADR 0010).
    #[error("{0}")]
    Refused(Refusal),
    /// The command id was used before for a different request.
    #[error(
        "command_id {command_id} was already used for a different request; a retry must repeat the request exactly"
    )]
    CommandIdReused { command_id: String },
    /// A retry of a refused command came after its refusal's retry window (ADR 0010): it is
    /// not decided again, so a command id once refused never records anything else.
    #[error(
        "command_id {command_id}: the command was refused at {}, and a retry gets that refusal \
         only until {} (the refusal's retry window); this retry came at {}, so it is not \
         decided: send the request with a new command_id to have it decided now",
        refused_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        window_ended_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        retried_at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )]
    RetryAfterRefusalWindow {
        command_id: String,
        refused_at: DateTime<Utc>,
        window_ended_at: DateTime<Utc>,
        retried_at: DateTime<Utc>,
    },
    /// The store refused or failed an append or a read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event could not be read as a ledger event.
    #[error(transparent)]
    Unreadable(#[from] DecodeError),
    /// A batch was refused because a stream changed under it; the client may retry.
    #[error("{0}")]
    Aborted(String),
    /// The store cannot take writes now.
    #[error("{0}")]
    Unavailable(String),
    /// The ledger is shutting down.
    #[error("the ledger is shutting down")]
    ShuttingDown,
    /// The patron key store failed or does not fit the log (ADR 0018).
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyStoreError),
}

/// What kind of failure a [`LedgerError`] is, in the terms every edge maps from (a gRPC status
/// code, a SIP2 field, a web message), so that no edge parses a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The command is malformed.
    InvalidArgument,
    /// A rule forbids it now.
    FailedPrecondition,
    /// Something it names does not exist.
    NotFound,
    /// Something it would create exists already, or its command id was used for another request.
    AlreadyExists,
    /// The caller's principal may not do it.
    PermissionDenied,
    /// A stream changed under it; retrying may succeed.
    Aborted,
    /// The store cannot take it now; it may have been recorded (retry with the same command id).
    Unavailable,
    /// Stored data failed verification or does not decode.
    DataLoss,
}

impl LedgerError {
    /// The kind of failure, for the edges' one mapping each.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Rejected(r) => rejection_failure(r.kind()),
            Self::Refused(r) => rejection_failure(r.kind),
            Self::CommandIdReused { .. } => Failure::AlreadyExists,
            Self::RetryAfterRefusalWindow { .. } => Failure::FailedPrecondition,
            Self::Store(StoreError::WrongExpectedVersion { .. }) | Self::Aborted(_) => {
                Failure::Aborted
            }
            Self::Store(StoreError::IdempotencyMismatch { .. }) => Failure::AlreadyExists,
            Self::Store(StoreError::InvalidArgument(_)) => Failure::InvalidArgument,
            Self::Store(StoreError::Corrupt { .. } | StoreError::Damaged(_))
            | Self::Unreadable(_) => Failure::DataLoss,
            Self::Store(StoreError::ReadOnly) => Failure::FailedPrecondition,
            Self::Store(_) | Self::Unavailable(_) | Self::ShuttingDown => Failure::Unavailable,
            Self::Keys(crate::keys::KeyStoreError::Io { .. }) => Failure::Unavailable,
            Self::Keys(_) => Failure::DataLoss,
        }
    }

    /// A copy of a batch failure for each command of the batch.
    pub(crate) fn for_each_command(&self) -> Self {
        match self {
            Self::Aborted(m) => Self::Aborted(m.clone()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

fn rejection_failure(kind: RejectionKind) -> Failure {
    match kind {
        RejectionKind::InvalidArgument => Failure::InvalidArgument,
        RejectionKind::FailedPrecondition => Failure::FailedPrecondition,
        RejectionKind::NotFound => Failure::NotFound,
        RejectionKind::AlreadyExists => Failure::AlreadyExists,
        RejectionKind::PermissionDenied => Failure::PermissionDenied,
    }
}
