use readnet_domain::{Rejection, RejectionKind};
use readnet_store::StoreError;
use tonic::{Code, Status};

/// Why the server could not carry out a request. Mapped to a gRPC status in one place.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A field or metadata entry is malformed; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
    /// A rule of the domain refused the command.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The command id was used before for a different request.
    #[error(
        "command_id {command_id} was already used for a different request; a retry must repeat the request exactly"
    )]
    CommandIdReused { command_id: String },
    /// The store refused or failed the append.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event could not be read.
    #[error("stored event at position {position} is unreadable: {reason}")]
    Unreadable { position: u64, reason: String },
    /// Something was asked for that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A batch was refused because a stream changed under it; the client may retry.
    #[error("{0}")]
    Aborted(String),
    /// The store cannot take writes now.
    #[error("{0}")]
    Unavailable(String),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl ServerError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    /// A copy of a batch failure for each command of the batch.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Aborted(m) => Self::Aborted(m.clone()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<ServerError> for Status {
    fn from(error: ServerError) -> Self {
        let code = match &error {
            ServerError::InvalidArgument(_) => Code::InvalidArgument,
            ServerError::Rejected(r) => match r.kind() {
                RejectionKind::InvalidArgument => Code::InvalidArgument,
                RejectionKind::FailedPrecondition => Code::FailedPrecondition,
                RejectionKind::NotFound => Code::NotFound,
                RejectionKind::AlreadyExists => Code::AlreadyExists,
            },
            ServerError::CommandIdReused { .. } => Code::AlreadyExists,
            ServerError::Store(StoreError::WrongExpectedVersion { .. }) => Code::Aborted,
            ServerError::Store(StoreError::IdempotencyMismatch { .. }) => Code::AlreadyExists,
            ServerError::Store(StoreError::InvalidArgument(_)) => Code::InvalidArgument,
            ServerError::Store(StoreError::Corrupt { .. }) => Code::DataLoss,
            ServerError::Store(_) | ServerError::ShuttingDown => Code::Unavailable,
            ServerError::Unreadable { .. } => Code::DataLoss,
            ServerError::NotFound(_) => Code::NotFound,
            ServerError::Aborted(_) => Code::Aborted,
            ServerError::Unavailable(_) => Code::Unavailable,
        };
        if code == Code::Unavailable || code == Code::DataLoss {
            tracing::error!(%error, "request failed");
        }
        Status::new(code, error.to_string())
    }
}
