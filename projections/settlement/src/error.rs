use readnet_ledger::LedgerError;
use readnet_projection::status::ledger_status;
use tonic::{Code, Status};

use crate::{CloseRefusal, StatementError};

/// Why the settlement service could not answer. Mapped to a gRPC status once, below.
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// A field is malformed; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
    /// The closing rules refused the close.
    #[error(transparent)]
    Refused(#[from] CloseRefusal),
    /// The statement asked for cannot be computed from the log.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// A filter names something the network does not have.
    #[error("{0}")]
    NotFound(String),
    /// What is asked for needs a state the ledger is not in (a period not yet closed).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The ledger refused or failed to record the close.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The close kept losing races with other writers of the `settlement` stream.
    #[error("{0}")]
    Aborted(String),
}

impl From<SettlementError> for Status {
    fn from(error: SettlementError) -> Self {
        let code = match &error {
            SettlementError::InvalidArgument(_)
            | SettlementError::Refused(CloseRefusal::InvalidPeriod(_)) => Code::InvalidArgument,
            SettlementError::Refused(_) => Code::FailedPrecondition,
            SettlementError::NotFound(_) => Code::NotFound,
            SettlementError::FailedPrecondition(_) => Code::FailedPrecondition,
            // The log holds amounts no statement can sum: no retry helps; an operator must.
            SettlementError::Statement(_) => Code::DataLoss,
            SettlementError::Aborted(_) => Code::Aborted,
            SettlementError::Ledger(error) => return ledger_status(error),
        };
        Status::new(code, error.to_string())
    }
}
