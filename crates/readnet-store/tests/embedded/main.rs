//! Integration tests of the embedded store, one binary (so the crate links its tests once).

mod basics;
mod common;
mod concurrency;
mod corruption;
mod crash;
mod damage;
mod faults;
mod idempotency;
mod index_files;
mod lock;
mod persistence;
mod subscriptions;
