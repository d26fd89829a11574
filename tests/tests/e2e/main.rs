//! readnet end to end: the `readnet` binary started as a process on a temporary data directory,
//! driven over gRPC the way desks, kiosks and booths would.
//!
//! Each test starts its own server (see `readnet_e2e::Fixture`), so tests run in parallel.

mod access;
mod account;
mod audit;
mod audit_service;
mod backup;
mod circulation;
mod concurrency;
mod console;
mod console_sessions;
mod cut_over;
mod damage;
mod durability;
mod forget;
mod holds;
mod hourly_export;
mod idempotency;
mod kurrentdb;
mod limits;
mod network;
mod notices;
mod operations;
mod otlp;
mod projections;
mod read_models_cli;
mod refusals;
mod service;
mod sip2;
mod store_conformance;
mod subscription;
mod tls;
mod tree;
mod validation;
