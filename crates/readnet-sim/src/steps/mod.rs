//! Each kind of step the simulation takes: the command it sends, when it is tried, and what it
//! schedules next.

mod acquisitions;
mod booths;
mod holds;
mod loans;
mod losses;
mod transfers;

pub(crate) use holds::SWEEP_HOUR;
pub(crate) use loans::Loan;
