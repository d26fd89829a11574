//! The notices projection (ADR 0016): notices to patrons as a feed, not a mail server.
//!
//! [`Notices`] folds the log ([`readnet_projection::Projection`]) into the notices it derives,
//! each once, with a stable id and a sequence number dense from 1:
//! - from events: a hold ready on the hold shelf (`HoldReady`), a hold ended unfilled
//!   (`HoldEnded`: cancelled, expired, not picked up);
//! - from the clock the server writes into the log (`ClockTicked`), for every open loan and
//!   ready hold: due within [`DUE_SOON_DAYS`] days, overdue, [`BLOCK_COMING_DAYS`] days overdue
//!   (the block comes at 30), a pickup deadline within [`HOLD_EXPIRING_HOURS`] hours.
//!
//! Time enters only through `ClockTicked`, so a replay derives the same notices with the same
//! sequence numbers. A notice is derived at the first tick that finds it due: up to one tick
//! interval late, never twice for the same loan period or hold.
//!
//! Gateways' checkpoints are events too (`NoticesAcknowledged`): a gateway that subscribes is
//! sent the retained notices after its checkpoint, then each new one ([`follow`]). The newest
//! [`MAX_RETAINED_NOTICES`] are retained; a gateway further behind misses the oldest.

mod feed;
mod state;

pub use feed::{follow, valid_gateway};
pub use state::{
    BLOCK_COMING_DAYS, DUE_SOON_DAYS, HOLD_EXPIRING_HOURS, MAX_RETAINED_NOTICES, Notice, Notices,
};
