//! The listener's bounds: what a request may cost the server, and how a request that breaks
//! one is answered.

mod status;

pub use status::{MAX_STATUS_MESSAGE_BYTES, RequestStatus, RequestStatusLayer};
