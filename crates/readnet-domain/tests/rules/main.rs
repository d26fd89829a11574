//! The rules of domain.md as given/when/then: one test per behaviour and per rejection.

mod support;

mod access;
mod account;
mod booth;
mod budgets;
mod calendar;
mod catalogue;
mod checkout;
mod digital;
mod forget;
mod holds;
mod honest_time;
mod invariants;
mod lost;
mod network;
mod notices;
mod patron_driven;
mod properties;
mod refusals;
mod renew;
mod replay;
mod returns;
mod small_rules;
mod transfer;
mod tree;
mod withdraw;
mod worked_example;
