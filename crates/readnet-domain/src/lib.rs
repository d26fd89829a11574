//! readnet's domain, as pure functions.
//!
//! - [`decide`]: given the [`Ledger`] state and a [`Command`], the events to record or a
//!   [`Rejection`] naming the rule.
//! - [`Ledger::apply`] (evolve): fold one event into the state.
//! - [`Refusal`]: a refused command as the ledger records it, so that a retry is refused alike.
//! - [`codec`]: events to and from the bytes the store keeps, with the place to upcast old
//!   schema versions.
//!
//! Nothing here does I/O or reads a clock: time comes in through [`CommandContext`] (the server
//! takes it from an injected [`Clock`]).

pub mod access;
mod account;
pub mod calendar;
mod clock;
pub mod codec;
mod command;
mod decide;
mod ids;
pub mod money;
mod patron_key;
pub mod personal;
mod policy;
mod refusal;
mod rejection;
mod state;
mod stream;
pub mod title;

pub use access::{Act, Authority, Caller, Grant, Principal, Role, Scope, TokenGrant};
pub use account::{Account, AccountDebt, AccountHold, AccountHoldPhase, AccountLoan, Block};
pub use calendar::{Calendar, ClosedWhy, Closure, LibraryCalendar, OpeningHours, check_isbn};
pub use clock::{Clock, ManualClock, SystemClock};
pub use command::{Command, CommandContext, HoldTarget, NewBook, PatronRef};
pub use decide::{decide, retention_candidates, valid_principal_name};
pub use ids::{CityCode, ItemCode, LibraryCode, PatronId, PrincipalName, TokenId};
pub use money::{Fen, MAX_BUDGET_FEN, MAX_PAYMENT_FEN, MAX_PRICE_FEN, MAX_TARIFF_FEN};
pub use patron_key::PatronKey;
pub use policy::{
    BASIS_POINTS, BLOCK_AFTER_OVERDUE_DAYS, DEFAULT_DIGITAL_LOAN_DAYS,
    DEFAULT_MAX_PATRON_DRIVEN_PRICE_FEN, DEFAULT_MONTHLY_PATRON_DRIVEN_QUOTA,
    DEFAULT_PATRON_DRIVEN_SHARE_BP, HOLD_EXPIRY_DAYS, HOLD_PICKUP_DAYS, LOAN_PERIOD_DAYS,
    MAX_DIGITAL_EXPIRIES_PER_SWEEP, MAX_DIGITAL_LOAN_DAYS, MAX_EXPIRIES_PER_SWEEP, MAX_LICENCES,
    MAX_OPEN_HOLDS, MAX_RENEWALS, default_tariff_fen, due_at, end_of_local_day_after, loan_limit,
};
pub use refusal::{MAX_REFUSAL_MESSAGE_BYTES, Refusal};
pub use rejection::{DeskWork, NotPermitted, Rejection, RejectionKind, Whereabouts};
pub use state::{
    AcquisitionPolicy, BudgetYear, City, EResource, Hold, HoldState, Item, ItemStatus, Ledger,
    Library, LostDebt, Network, Patron, Tariff,
};
pub use stream::StreamId;

/// The protobuf event and enum types the domain records.
pub use readnet_proto::v1 as pb;
pub use readnet_proto::v1::event::Payload;

/// One event decided by [`decide`], with the stream it belongs in.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub stream: StreamId,
    pub payload: Payload,
}
