//! The availability projection: where every item is, and where a title can be had.
//!
//! [`Availability`] folds the log ([`readnet_projection::Projection`]) into:
//! - each item's place ([`Place`]): on the shelf at a library (homebound or not), on loan from a
//!   library until a due date, in transit from → to, in a booth, lost, withdrawn, exchanged out;
//! - per title ([`title`]: ISBN if present, else title + author, normalised) and library, the
//!   copies on the shelf (of which homebound), on loan from it, in transit towards it and in its
//!   booth ([`Counts`]), kept as items move: a query never scans items to count;
//! - the items in each booth;
//! - open holds (ADR 0013): each hold's phase (waiting, set aside, ready) and each title's
//!   queue of waiting holds, for the pick lists (`PickList`) and a hold's queue position
//!   (`GetHold`). Who placed a hold is not kept, as with loans;
//! - the holds that ended while their copy was on a hold shelf, for a few days, so that the
//!   shelf's work list says which copies to take off it.
//!
//! A library's staff work lists (`worklists`: copies to send home, in transit, the hold shelf,
//! overdue loans) are queries of the same state.
//!
//! The queries ([`query`]) are pure functions of the state that answer with the API's messages;
//! [`AvailabilityService`] serves them over gRPC with read-your-writes waits.
//!
//! Choices: a homebound copy is counted on the shelf where it sits (`homebound` says how many)
//! but is not lendable, so "where can I get it" leaves it out; so is a copy set aside for a hold
//! (`held`: on a pick list or on the hold shelf); closed libraries are left out of
//! that answer too. Who holds a loan and what a patron owes are not kept: availability is the
//! catalogue's view, the ledger (`LedgerService.GetItem`) has the rest.

mod error;
pub mod query;
mod service;
mod state;
pub mod title;
mod worklists;

pub use error::AvailabilityError;
pub use query::{ShelfListing, TitleQuery, item_state};
pub use service::AvailabilityService;
pub use state::{
    Availability, CLEARED_KEPT_DAYS, ClearedHold, Counts, HoldPhase, HoldRecord, ItemRecord,
    LibraryRecord, Place, StatusCounts, TitleRecord,
};
