//! The statistics projection with the monitoring centre.
//!
//! [`Statistics`] folds the log into per-library, per-local-day figures counted two ways
//! ([`By::TransactionLibrary`]: where it happened; [`By::OwningLibrary`]: whose item), the monthly
//! return-flow matrix, loans per title, and what the monitoring centre needs (each library's
//! latest activity, a bounded ring of its recent events, the due instants of open loans). The
//! fold has no clock: [`query`] functions that depend on time take `now`, and
//! [`service::StatisticsService`] takes it from an injected [`readnet_domain::Clock`].
//!
//! # Definitions
//! - A library's **day** is the local day of the event's `occurred_at` in the library's city time
//!   zone; a row is counted for the library it is about (the lender, the owner, ...), in that
//!   library's time zone.
//! - **Items on loan / overdue at day end**: after the last event of that day that touched the
//!   library's row (any counted event, or a change to a loan lent by or owned by the library:
//!   loan, renewal, return, loss), the loans open for the library, and of those the ones whose
//!   due instant is before the last instant of the day. Every change to a library's open loans
//!   touches its row, so for a log whose events arrive in `occurred_at` order the figure is the
//!   state at the end of the day. Limits: a day without such an event has no row (loans may have
//!   fallen overdue meanwhile), city and network rows add up only the libraries with a row that
//!   day, and an event recorded late (an offline kiosk) sets its day's figure from the log as it
//!   stands when it arrives without revising the days after it.
//!
//! # Memory per item and per library-day
//! The state is compact (issue 17): every code is interned once (item, library, city, title
//! key, patron activity token, and the texts a title is shown with) and the state holds
//! 4-byte ids. A catalogued item costs a 32-byte slot in a vector indexed by its id (owner,
//! title, open loan with its due instant and lender, destination while in transit) and its code
//! once in the item interner (the code's bytes, 4 bytes for where it ends, and 5 to 10 bytes of
//! hash table): about 45 bytes plus the code's length, up to 32 more while the vector's spare
//! capacity is unused. A title costs its key once in the title interner and 12 bytes for how it
//! is shown (its ISBN, title and author interned, so an author's name is kept once). A library's
//! day row is 368 bytes per view (fifteen counters, 24 hourly loan counts, the day-end
//! figures, the day as an integer), plus 5 to 10 bytes per distinct active patron that day (a
//! 4-byte id in a hash set); rows sit in a vector per library, sorted by day. The whole state,
//! divided by the items catalogued, came to 103 bytes per item on the first 4M events of the
//! 48-day city history, against 606 before (`BENCHMARKS.md`, 2026-12-07, issue 17).

mod fold;
pub mod query;
pub mod service;
pub mod table;

pub use fold::{
    By, Counters, Hours, LAST_HOUR_SECONDS, RHYTHM_GAP_LIMIT_SECONDS, RHYTHM_GAPS, Statistics,
};
pub use query::{
    DayFigures, DayRange, FlowCell, HoldFigures, HoldScope, LibraryMonitor, MonitorSnapshot,
    TitleLoans, city_days, flow_matrix, hold_statistics, library_days, monitor, network_days,
    top_titles,
};
/// The key a title's loans are counted under: the one availability uses.
pub use readnet_projection::title::title_key;
pub use service::StatisticsService;

/// Why a statistics query cannot be answered. Messages name the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatisticsError {
    /// A malformed or out-of-range argument.
    #[error("{0}")]
    InvalidArgument(String),
    /// A library or city the network does not know (yet: see `min_position`).
    #[error("{0}")]
    NotFound(String),
}

impl StatisticsError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }
}

impl From<StatisticsError> for tonic::Status {
    fn from(error: StatisticsError) -> Self {
        match error {
            StatisticsError::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            StatisticsError::NotFound(m) => tonic::Status::not_found(m),
        }
    }
}
