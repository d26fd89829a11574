use std::fmt;

/// Which kind of "no" a rejection is; the server maps it to a gRPC status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The command is malformed (INVALID_ARGUMENT).
    InvalidArgument,
    /// The command is well formed but a rule forbids it now (FAILED_PRECONDITION).
    FailedPrecondition,
    /// Something it names does not exist (NOT_FOUND).
    NotFound,
    /// Something it would create exists already (ALREADY_EXISTS).
    AlreadyExists,
}

/// Why a command was refused: the kind and a message naming the rule and the facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

impl Rejection {
    pub fn invalid(message: impl fmt::Display) -> Self {
        Self {
            kind: RejectionKind::InvalidArgument,
            message: message.to_string(),
        }
    }

    pub fn precondition(message: impl fmt::Display) -> Self {
        Self {
            kind: RejectionKind::FailedPrecondition,
            message: message.to_string(),
        }
    }

    pub fn not_found(message: impl fmt::Display) -> Self {
        Self {
            kind: RejectionKind::NotFound,
            message: message.to_string(),
        }
    }

    pub fn already_exists(message: impl fmt::Display) -> Self {
        Self {
            kind: RejectionKind::AlreadyExists,
            message: message.to_string(),
        }
    }
}
