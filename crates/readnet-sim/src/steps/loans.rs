//! Loans: checkouts, how each loan ends, renewals and returns (at home, elsewhere, in another
//! city).

use rand::Rng;
use readnet_domain::pb::CreditTier;
use readnet_domain::{Command, ItemStatus};

use crate::Simulator;
use crate::collection::sample_cdf;
use crate::rhythm::{MICROS_PER_DAY, MICROS_PER_HOUR, time};
use crate::schedule::Action;

/// A loan in progress: who borrowed the item and where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loan {
    pub(crate) patron: u32,
    pub(crate) library: u32,
}

impl Simulator {
    pub(crate) fn checkout(&mut self, at: i64, library: usize, patron: u32) {
        let (patron_ref, card) = self.patron(patron);
        let enrolled = self
            .history
            .ledger()
            .patrons
            .contains_key(&patron_ref.patron_id);
        if library == self.kiosk && self.kiosk_offline && !enrolled {
            // An offline kiosk cannot enrol: the card is checked when it syncs.
            return;
        }
        let mut found = None;
        let mut wanted = None;
        for _ in 0..4 {
            let title = sample_cdf(&self.demand_cdf, self.rng.random()) as u32;
            wanted.get_or_insert(title);
            if let Some(copies) = self.shelf[library].get_mut(&title)
                && let Some(item) = copies.pop()
            {
                found = Some(item);
                break;
            }
        }
        if found.is_none()
            && let Some(title) = wanted
            && self.maybe_place_hold(at, library, patron, title)
        {
            // Asked for the title they came for, to be picked up here.
            return;
        }
        // The wanted title is out: the patron takes something else from the shelf.
        let Some(item) = found.or_else(|| self.any_on_shelf(library)) else {
            self.stats.no_copy += 1;
            return;
        };
        let lendable = matches!(self.status(item),
            Some(ItemStatus::OnShelf { library: here, homebound: false }) if *here == self.libs[library].code);
        if !lendable {
            return;
        }
        let code = self.items[item as usize].code.clone();
        let command = Command::Checkout {
            item: code,
            patron: patron_ref.clone(),
        };
        if self.exec(
            at,
            Some(library),
            command,
            Some(card.clone()),
            u64::from(item),
            &[item],
        ) {
            self.lent(at, item, library, patron);
            if !enrolled {
                let tier = match self.rng.random_range(0..100) {
                    0..5 => Some(CreditTier::Trusted),
                    5..8 => Some(CreditTier::Restricted),
                    _ => None,
                };
                if let Some(tier) = tier {
                    // The credit system assigns tiers in its nightly run.
                    let night = self.start.timestamp_micros()
                        + (self.day_of(at) + 1) * MICROS_PER_DAY
                        + 3 * MICROS_PER_HOUR
                        + self.rng.random_range(0..MICROS_PER_HOUR);
                    self.push(
                        night,
                        Action::SetTier {
                            patron,
                            tier: tier as u8,
                        },
                    );
                }
            }
        } else {
            self.place(item, library);
        }
    }

    /// A loan began: decide how it ends.
    pub(crate) fn lent(&mut self, at: i64, item: u32, library: usize, patron: u32) {
        self.stats.loans += 1;
        let patron_city = self.patron_city[patron as usize] as usize;
        if patron_city != self.libs[library].city {
            self.stats.cross_city_loans += 1;
        }
        self.loans.insert(
            item,
            Loan {
                patron,
                library: library as u32,
            },
        );
        let day = self.day_of(at);
        if self.rng.random_bool(0.01) {
            let mean_days = 8.0;
            let after = -(1.0 - self.rng.random::<f64>()).ln() * mean_days * MICROS_PER_DAY as f64;
            self.push(
                at + MICROS_PER_HOUR + after as i64,
                Action::ReportLost { item },
            );
            return;
        }
        let u: f64 = self.rng.random();
        let days = if u < 0.04 {
            self.rng.random_range(0..3)
        } else if u < 0.86 {
            self.rng.random_range(3..=30)
        } else {
            self.rng.random_range(31..=75)
        };
        if days > 28 && self.rng.random_bool(0.6) {
            let renew_day = day + self.rng.random_range(3..=28);
            let when = self.moment(renew_day, library);
            self.push(when, Action::Renew { item });
        }
        let cities = self.lending.len();
        let r: f64 = self.rng.random();
        let here = self.libs[library].city;
        let city = if r < 0.72 {
            None
        } else if r < 0.90 {
            Some(here)
        } else if r < 0.96 {
            Some(patron_city)
        } else {
            Some((here + self.rng.random_range(1..cities.max(2))) % cities)
        };
        let back_at = match city {
            None => library,
            Some(c) => {
                let i = self.rng.random_range(0..self.lending[c].len());
                self.lending[c][i].0
            }
        };
        let mut when = self.moment(day + days, back_at);
        if when <= at {
            when = at + MICROS_PER_HOUR;
        }
        self.push(
            when,
            Action::Return {
                item,
                library: back_at as u32,
            },
        );
    }

    pub(crate) fn return_item(&mut self, at: i64, item: u32, library: usize) {
        let Some(ItemStatus::OnLoan { due_at, .. }) = self.status(item) else {
            return;
        };
        let late = time(at) > *due_at;
        let opens = self
            .history
            .ledger()
            .network
            .calendar(self.libs[library].code.as_str())
            .filter(|c| c.closed_at(time(at)).is_some())
            .map(|c| c.next_opening(time(at)));
        if let Some(opens) = opens {
            // Closed: the patron comes back once it has opened again.
            if let Some(opens) = opens {
                let later = opens.timestamp_micros()
                    + self.rng.random_range(MICROS_PER_HOUR..8 * MICROS_PER_HOUR);
                self.stats.returns_put_off += 1;
                self.push(
                    later,
                    Action::Return {
                        item,
                        library: library as u32,
                    },
                );
            }
            return;
        }
        let code = self.items[item as usize].code.clone();
        let command = Command::Return { item: code.clone() };
        if !self.exec(at, Some(library), command, None, u64::from(item), &[item]) {
            return;
        }
        self.stats.returns += 1;
        self.stats.late_returns += u64::from(late);
        if let Some(loan) = self.loans.remove(&item) {
            if loan.library as usize != library {
                self.stats.returns_elsewhere += 1;
            }
            if self.libs[loan.library as usize].city != self.libs[library].city {
                self.stats.returns_other_city += 1;
            }
        }
        self.came_free(at, item);
    }

    pub(crate) fn renew(&mut self, at: i64, item: u32) {
        let Some(loan) = self.loans.get(&item).copied() else {
            return;
        };
        if !matches!(self.status(item), Some(ItemStatus::OnLoan { .. })) {
            return;
        }
        let (patron, card) = self.patron(loan.patron);
        let command = Command::Renew {
            item: self.items[item as usize].code.clone(),
            patron,
        };
        if self.exec(
            at,
            Some(loan.library as usize),
            command,
            Some(card),
            u64::from(item),
            &[item],
        ) {
            self.stats.renewals += 1;
        }
    }

    /// A copy came free where it stands (returned, received): trapped for a hold, home with
    /// the courier, or back on the shelf, as the rules decided.
    pub(crate) fn came_free(&mut self, at: i64, item: u32) {
        let code = &self.items[item as usize].code;
        let Some(state) = self.history.ledger().items.get(code.as_str()) else {
            return;
        };
        match (state.hold, state.status.clone()) {
            (Some(hold), _) => self.follow_hold(at, hold, Some(item)),
            (None, status) => self.freed(at, item, &status),
        }
    }
}
