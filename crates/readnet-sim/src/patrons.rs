//! The patrons: who comes to a library, their cards, and the credit tiers they are given.

use rand::Rng;
use readnet_domain::pb::CreditTier;
use readnet_domain::{Command, PatronRef};
use readnet_ledger::history::card;

use crate::Simulator;

impl Simulator {
    /// A patron of city `c` (mostly), or now and then one from another city; busy patrons
    /// (low numbers) come more often.
    pub(crate) fn pick_patron(&mut self, c: usize) -> u32 {
        let cities = self.lending.len();
        let city = if cities > 1 && self.rng.random_bool(0.07) {
            (c + self.rng.random_range(1..cities)) % cities
        } else {
            c
        };
        let (lo, hi) = (self.patron_offset[city], self.patron_offset[city + 1]);
        let x: f64 = self.rng.random();
        lo + (x.powf(1.5) * f64::from(hi - lo)) as u32
    }

    /// Patron `patron`'s id and card (issuing city, number).
    pub(crate) fn patron(&self, patron: u32) -> (PatronRef, (String, String)) {
        let city = self.scale.cities[self.patron_city[patron as usize] as usize].code;
        let number = format!("{:012}", u64::from(patron) + 100_000_000);
        (card(city, &number), (city.to_owned(), number))
    }

    /// The credit system gives a patron tier `tier` (a `CreditTier` number).
    pub(crate) fn set_tier(&mut self, at: i64, patron: u32, tier: u8) {
        let tier = CreditTier::try_from(i32::from(tier)).unwrap_or(CreditTier::Standard);
        let (patron_ref, card) = self.patron(patron);
        let command = Command::SetPatronTier {
            patron: patron_ref,
            tier,
        };
        let key = (1 << 40) | u64::from(patron);
        if self.exec(at, None, command, Some(card), key, &[]) {
            self.stats.tier_changes += 1;
        }
    }
}
