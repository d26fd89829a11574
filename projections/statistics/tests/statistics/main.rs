//! The statistics projection's tests: the fold's counters, local days, flows and top titles,
//! the monitoring centre, properties over random histories, and the gRPC service.

mod budgets;
mod counters;
mod days;
mod flows;
mod holds;
mod monitor;
mod properties;
mod service;
mod support;
mod tables;
