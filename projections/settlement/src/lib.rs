//! The settlement projection: what member cities owe each other, per calendar month.
//!
//! [`Settlement`] folds the log (domain.md, "Cross-city settlement"): every cross-city loan,
//! return, inter-city transfer and loss becomes one [`Charge`] (debtor city, creditor city,
//! amount at the tariff in force at the event's `occurred_at`), kept under the period it is
//! settled in — the month of `occurred_at` in Asia/Shanghai, or, when that month is closed
//! already, the first open month as an adjustment. `SettlementPeriodClosed {period,
//! through_position}` freezes a month: its [`Statement`] covers exactly the month's events up to
//! `through_position` and never changes afterwards.
//!
//! [`Settlement::statement`] builds a month's statement (lines, nets, positions, a digest of its
//! canonical encoding); [`Settlement::line_charges`] lists the charges behind a line;
//! [`Settlement::check_close`] decides a close, purely. [`service::SettlementService`] serves it
//! all over gRPC and records closes through the store.

mod close;
mod error;
mod fold;
mod period;
pub mod service;
mod statement;

pub use close::{CloseDecision, CloseRefusal, PlannedClose};
pub use error::SettlementError;
pub use fold::{Charge, ChargeKind, PeriodClose, Settlement};
pub use period::{InvalidPeriod, Period};
pub use service::SettlementService;
pub use statement::{CityNet, Statement, StatementError, StatementLine, StatementStatus};
