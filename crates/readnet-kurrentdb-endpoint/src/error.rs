use readnet_store::StoreError;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use super::MAX_APPEND_BYTES;

/// Why the KurrentDB endpoint refused or failed a call. Mapped to a gRPC status once, here, the
/// way KurrentDB's own server reports the same condition (code and `exception` trailer) so that
/// the official clients raise their usual errors.
///
/// A wrong expected version is not an error here: KurrentDB reports it inside the response
/// (`AppendResp.wrong_expected_version`, a batch's `google.rpc.Status`), and so does readnet.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndpointError {
    /// A field of the request is missing or malformed; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
    /// A proposed message lacks one of the metadata entries every KurrentDB event has.
    #[error("proposed message {event_id}: required metadata property {property:?} is missing")]
    MissingMetadata {
        event_id: String,
        property: &'static str,
    },
    /// An append to a stream readnet's own commands write.
    #[error(
        "stream {stream}: ledger streams (network, settlement, item-…, patron-…, refusal-…) are \
         written only by readnet's commands (CirculationService, NetworkAdminService), so every \
         event passes the rules; append to another stream name"
    )]
    LedgerStream { stream: String },
    /// An append to a `$`-prefixed stream.
    #[error(
        "stream {stream}: streams whose names start with '$' are KurrentDB system streams, which \
         readnet does not keep; append to a stream name without a leading '$'"
    )]
    SystemStream { stream: String },
    /// The events of one append add up to more than KurrentDB's default maximum append size.
    #[error(
        "maximum append size of {MAX_APPEND_BYTES} bytes exceeded: the events of this append to \
         {stream} carry more (each event counts its data, custom metadata and type, and the \
         stream name, which is stored with every event); split it into several appends"
    )]
    AppendTooLarge { stream: String },
    /// The client took no response for the stall timeout while the responses held for it were
    /// at their bound: the call is cut off so that it holds no more of the server's memory.
    #[error(
        "cut off for reading too slowly: the client took no response for {waited_ms} ms while \
         the responses held for it were at their bound ({max_bytes} bytes); {last_sent}"
    )]
    TooSlow {
        waited_ms: u128,
        max_bytes: usize,
        last_sent: String,
    },
    /// A KurrentDB feature readnet's endpoint does not offer.
    #[error("readnet's KurrentDB endpoint does not support {feature}: {why}")]
    Unsupported {
        feature: &'static str,
        why: &'static str,
    },
    /// The store failed the call.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Quotes a value from a request in an error message: at most [`QUOTED_CHARS`] characters of
/// it, so that a huge field never makes a huge status message.
pub(crate) fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &value[..end], value.len()),
    }
}

/// How many characters of a value an error message quotes.
const QUOTED_CHARS: usize = 32;

impl EndpointError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    /// The gRPC code, also used inside a batch append's `google.rpc.Status`.
    pub(crate) fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_)
            | Self::MissingMetadata { .. }
            | Self::AppendTooLarge { .. } => Code::InvalidArgument,
            // Not PERMISSION_DENIED, which KurrentDB uses for ACLs: the Rust client turns that
            // code into a bare `AccessDenied` and drops the message. FAILED_PRECONDITION (readnet's
            // code for a refusal by a rule) reaches the application with its message in both the
            // Rust (`Error::Grpc`) and the Python (`FailedPreconditionError`) clients.
            Self::LedgerStream { .. } | Self::SystemStream { .. } => Code::FailedPrecondition,
            Self::Unsupported { .. } => Code::Unimplemented,
            // The server's resource (memory held for the client) ran out; the client may resume.
            Self::TooSlow { .. } => Code::ResourceExhausted,
            Self::Store(StoreError::InvalidArgument(_)) => Code::InvalidArgument,
            Self::Store(StoreError::Corrupt { .. } | StoreError::Damaged(_)) => Code::DataLoss,
            Self::Store(StoreError::ReadOnly) => Code::FailedPrecondition,
            // Settled in band by the callers; reaching here means a store broke its contract.
            // A conflict on a stream other than the one appended to: a networked store's fence
            // (another writer got in first). Nothing was written; the append can be retried.
            Self::Store(StoreError::WrongExpectedVersion { .. }) => Code::Aborted,
            Self::Store(StoreError::IdempotencyMismatch { .. }) => Code::Internal,
            // Retrying cannot help: the store refuses readnet's own credentials.
            Self::Store(StoreError::AccessDenied(_)) => Code::FailedPrecondition,
            Self::Store(StoreError::DeadlineExceeded { .. }) => Code::DeadlineExceeded,
            Self::Store(_) => Code::Unavailable,
        }
    }

    /// KurrentDB's `exception` trailer for the same condition, where it has one.
    fn exception(&self) -> Option<&'static str> {
        match self {
            Self::MissingMetadata { .. } => Some("missing-required-metadata-property"),
            Self::AppendTooLarge { .. } => Some("maximum-append-size-exceeded"),
            _ => None,
        }
    }
}

impl From<EndpointError> for Status {
    fn from(error: EndpointError) -> Self {
        let code = error.code();
        if matches!(code, Code::Unavailable | Code::DataLoss | Code::Internal) {
            tracing::error!(%error, "KurrentDB endpoint call failed");
        }
        let mut status = Status::new(code, error.to_string());
        if let Some(exception) = error.exception() {
            status
                .metadata_mut()
                .insert("exception", MetadataValue::from_static(exception));
        }
        match &error {
            EndpointError::MissingMetadata { property, .. } => {
                status.metadata_mut().insert(
                    "required-metadata-properties",
                    MetadataValue::from_static(property),
                );
            }
            EndpointError::AppendTooLarge { .. } => {
                status
                    .metadata_mut()
                    .insert("maximum-append-size", MetadataValue::from(MAX_APPEND_BYTES));
            }
            _ => {}
        }
        status
    }
}
