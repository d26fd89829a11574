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
//! Memory per item (issue 17): the fold keeps no `String` per item and no map keyed by a
//! string. Item codes, library codes, title keys, text keys and the catalogue's spellings
//! (ISBN, title, author; shared by the copies catalogued alike) are interned once
//! ([`readnet_projection::intern::Interner`]: the code's bytes plus about 9 bytes); an item is
//! a 64-byte struct (spelling id, owner id, acquisition, price, place with library ids, revision,
//! position) in a vector indexed by its id; a title's counts per library are a small vector
//! sorted by library id, a library's titles a hash set of title ids, a booth's items a set of
//! item ids. Measured on the 48-day city history (`examples/fold_memory.rs`, see
//! `BENCHMARKS.md`, 2,061,418 items): the process's resident set grew by 379 MB during the fold,
//! 184 bytes per item (the fold's state, plus the read path's buffers and heap slack), against
//! 2,235 MB, 1,084 bytes per item, for the string-keyed state before. The public records ([`ItemRecord`],
//! [`TitleRecord`], [`HoldRecord`]...) are views built for a query, and queries that answer in
//! code order sort when they answer.
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
