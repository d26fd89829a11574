//! The one mapping from the ledger's failures to gRPC status codes, shared by the server's
//! command services and the settlement service (both record through the ledger).

use readnet_ledger::{Failure, LedgerError};
use tonic::{Code, Status};

/// The gRPC code of a kind of ledger failure.
pub fn status_code(failure: Failure) -> Code {
    match failure {
        Failure::InvalidArgument => Code::InvalidArgument,
        Failure::FailedPrecondition => Code::FailedPrecondition,
        Failure::NotFound => Code::NotFound,
        Failure::AlreadyExists => Code::AlreadyExists,
        Failure::PermissionDenied => Code::PermissionDenied,
        Failure::Aborted => Code::Aborted,
        Failure::Unavailable => Code::Unavailable,
        Failure::DataLoss => Code::DataLoss,
    }
}

/// A ledger error as a gRPC status: its code and its message. Failures that are the server's
/// (unavailable, data loss) are logged.
pub fn ledger_status(error: &LedgerError) -> Status {
    let code = status_code(error.failure());
    if code == Code::Unavailable || code == Code::DataLoss {
        tracing::error!(%error, "request failed");
    }
    Status::new(code, error.to_string())
}
