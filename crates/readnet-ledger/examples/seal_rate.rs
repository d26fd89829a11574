//! What sealing costs the checkout path (ADR 0018): seals and opens patron ids as the command bus
//! and the notices do, and prints the time per id. Run with `--release`; with the argument
//! `seal` it only seals, so that `time` gives the CPU time of sealing alone on a busy machine.

use std::time::Instant;

use chrono::NaiveDate;
use readnet_ledger::keys::KeyStore;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = KeyStore::open_or_create(dir.path()).expect("a key store");
    let patrons: Vec<(String, readnet_ledger::keys::PatronKeys)> = (0..1000)
        .map(|i| (format!("{i:032x}"), KeyStore::fresh()))
        .collect();
    store.persist(&patrons).expect("keys persisted");
    let day = NaiveDate::from_ymd_opt(2026, 11, 2).expect("a day");
    let rounds = 200_000;
    let started = Instant::now();
    let mut sealed = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let (id, keys) = &patrons[i % patrons.len()];
        sealed.push(store.seal(keys, id, day));
    }
    let seal_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    if std::env::args().nth(1).as_deref() == Some("seal") {
        println!("seal {seal_us:.2} µs per patron id ({rounds} ids)");
        return;
    }
    let started = Instant::now();
    for id in &sealed {
        store.open_sealed(id).expect("opens");
    }
    let open_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    println!(
        "seal {seal_us:.2} µs per patron id, open {open_us:.2} µs per patron id ({rounds} ids, {} bytes each)",
        sealed[0].len()
    );
}
