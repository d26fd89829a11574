use readnet_ledger::{DecodeError, LedgerError};
use readnet_projection::status::ledger_status;
use readnet_store::StoreError;
use tonic::{Code, Status};

/// Why the server could not carry out a request. Mapped to a gRPC status in one place.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A field or metadata entry is malformed; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
    /// The ledger refused or could not record a command (a rule, a reused command id, the
    /// store).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A stored event could not be read as what its stream holds.
    #[error("stored event at position {position} is unreadable: {reason}")]
    Unreadable { position: u64, reason: String },
    /// Something was asked for that does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl ServerError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }
}

impl From<StoreError> for ServerError {
    fn from(error: StoreError) -> Self {
        Self::Ledger(LedgerError::Store(error))
    }
}

impl From<DecodeError> for ServerError {
    fn from(error: DecodeError) -> Self {
        Self::Ledger(LedgerError::Unreadable(error))
    }
}

impl From<ServerError> for Status {
    fn from(error: ServerError) -> Self {
        let code = match &error {
            ServerError::InvalidArgument(_) => Code::InvalidArgument,
            ServerError::Ledger(error) => return ledger_status(error),
            ServerError::Unreadable { .. } => Code::DataLoss,
            ServerError::NotFound(_) => Code::NotFound,
        };
        if code == Code::DataLoss {
            tracing::error!(%error, "request failed");
        }
        Status::new(code, error.to_string())
    }
}
