use tonic::{Code, Status};

/// Why an availability query has no answer. Mapped to a gRPC status once, here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvailabilityError {
    /// A field is missing or malformed; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
    /// An item, library or title that is not known; the message names it.
    #[error("{0}")]
    NotFound(String),
}

impl AvailabilityError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }
}

impl From<AvailabilityError> for Status {
    fn from(error: AvailabilityError) -> Self {
        let code = match &error {
            AvailabilityError::InvalidArgument(_) => Code::InvalidArgument,
            AvailabilityError::NotFound(_) => Code::NotFound,
        };
        Status::new(code, error.to_string())
    }
}
