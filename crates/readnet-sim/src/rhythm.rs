//! The daily rhythm: opening hours, busier evenings and weekends, and the demand each hour
//! brings.

use std::cmp::Reverse;

use chrono::{DateTime, Datelike, Duration, Utc};
use rand::Rng;
use readnet_domain::pb::LibraryTier;

use crate::Simulator;
use crate::schedule::Action;

/// Every city runs on China Standard Time (UTC+8): hours below are local.
pub(crate) const UTC_OFFSET_HOURS: i64 = 8;
pub(crate) const MICROS_PER_HOUR: i64 = 3_600_000_000;
pub(crate) const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// A branch closes for a while once in this many days.
pub(crate) const CLOSURE_EVERY_DAYS: i64 = 28;
/// How many days a simulated closure lasts.
pub(crate) const CLOSURE_DAYS: u64 = 3;

/// Local hour weights of a staffed library (open 9:00–21:00) and of a 24-hour one.
const STAFFED: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.8, 0.9, 0.7, 0.6, 0.8, 0.9, 1.0, 1.1, 1.4,
    1.6, 1.3, 0.0, 0.0, 0.0,
];
const ALL_DAY: [f64; 24] = [
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 0.9, 0.7, 0.6, 0.8, 0.9, 1.0, 1.1, 1.4,
    1.6, 1.3, 0.9, 0.6, 0.3,
];

/// A simulated moment, in microseconds since the epoch, as a UTC time.
pub(crate) fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("simulated time is in range")
}

impl Simulator {
    fn hour_start(&self, hour: u32) -> i64 {
        self.start.timestamp_micros() + i64::from(hour) * MICROS_PER_HOUR
    }

    /// A moment on day `day` (from the start) in the library's opening hours, by the rhythm.
    pub(crate) fn moment(&mut self, day: i64, library: usize) -> i64 {
        let weights = if self.libs[library].open_24h {
            &ALL_DAY
        } else {
            &STAFFED
        };
        let sum: f64 = weights.iter().sum();
        let mut u = self.rng.random::<f64>() * sum;
        let mut hour = 20;
        for (h, w) in weights.iter().enumerate() {
            if u < *w {
                hour = h;
                break;
            }
            u -= w;
        }
        self.start.timestamp_micros()
            + day * MICROS_PER_DAY
            + hour as i64 * MICROS_PER_HOUR
            + self.rng.random_range(0..MICROS_PER_HOUR)
    }

    pub(crate) fn day_of(&self, at: i64) -> i64 {
        (at - self.start.timestamp_micros()).div_euclid(MICROS_PER_DAY)
    }

    fn weekend(&self, day: i64) -> bool {
        let date =
            (self.start + Duration::hours(UTC_OFFSET_HOURS) + Duration::days(day)).date_naive();
        date.weekday().number_from_monday() >= 6
    }

    fn count(&mut self, mean: f64) -> usize {
        let whole = mean.floor();
        whole as usize + usize::from(self.rng.random::<f64>() < mean - whole)
    }

    pub(crate) fn play_hour(&mut self, hour: u32) {
        let day = i64::from(hour / 24);
        let local = (hour % 24) as usize;
        let begin = self.hour_start(hour);
        if local == 0 {
            self.plan_day(day);
        }
        let factor = if self.weekend(day) { 1.375 } else { 0.85 };
        let staffed_sum: f64 = STAFFED.iter().sum();
        let all_day_sum: f64 = ALL_DAY.iter().sum();
        for c in 0..self.lending.len() {
            let per_day = self.scale.cities[c].loans_per_day * factor;
            for i in 0..self.lending[c].len() {
                let (library, share) = self.lending[c][i];
                let shape = if self.libs[library].open_24h {
                    ALL_DAY[local] / all_day_sum
                } else {
                    STAFFED[local] / staffed_sum
                };
                let n = self.count(per_day * share * shape);
                for _ in 0..n {
                    let at = begin + self.rng.random_range(0..MICROS_PER_HOUR);
                    let patron = self.pick_patron(c);
                    let acquire = self.libs[library].tier != LibraryTier::SelfService
                        && self.rng.random_bool(0.01);
                    // A reader now and then borrows an e-book or opens a database through the
                    // library instead (ADR 0019).
                    let digital = !acquire && self.rng.random_bool(0.02);
                    let action = if acquire {
                        Action::Acquire {
                            library: library as u32,
                            patron,
                        }
                    } else if digital {
                        Action::BorrowDigital {
                            library: library as u32,
                            patron,
                        }
                    } else {
                        Action::Checkout {
                            library: library as u32,
                            patron,
                        }
                    };
                    self.push(at, action);
                }
            }
        }
        if (8..20).contains(&local) {
            for b in 0..self.booths.len() {
                let booth = self.booths[b];
                let n = self.count(self.scale.swaps_per_booth_day / 12.0);
                for _ in 0..n {
                    let at = begin + self.rng.random_range(0..MICROS_PER_HOUR);
                    let patron = self.pick_patron(self.libs[booth].city);
                    self.push(
                        at,
                        Action::Swap {
                            booth: booth as u32,
                            patron,
                        },
                    );
                }
            }
        }
        let end = begin + MICROS_PER_HOUR;
        while let Some(Reverse((at, _, action))) = self.heap.peek().copied() {
            if at >= end {
                break;
            }
            self.heap.pop();
            self.act(at, action);
        }
    }

    /// The day's fixed points: booth restocking at 11:00, the kiosk's offline evening.
    fn plan_day(&mut self, day: i64) {
        let midnight = self.start.timestamp_micros() + day * MICROS_PER_DAY;
        for b in 0..self.booths.len() {
            let booth = self.booths[b] as u32;
            let at = midnight + 11 * MICROS_PER_HOUR + self.rng.random_range(0..MICROS_PER_HOUR);
            self.push(at, Action::Restock { booth });
        }
        // A branch closes for a few days every four weeks (renovation, an event): its loans due
        // then are extended, and its desk refuses loans and returns until it opens again.
        if day % CLOSURE_EVERY_DAYS == 2 {
            let branches: Vec<usize> = (0..self.libs.len())
                .filter(|&l| self.libs[l].tier == LibraryTier::Branch)
                .collect();
            if !branches.is_empty() {
                let library = branches[self.rng.random_range(0..branches.len())] as u32;
                self.push(midnight + 7 * MICROS_PER_HOUR, Action::Close { library });
            }
        }
        // The server's sweep returns the digital loans whose time is up.
        self.push(midnight + 3 * MICROS_PER_HOUR, Action::ExpireDigital);
        // And the holds whose time is up (ADR 0013).
        self.push(
            midnight + crate::steps::SWEEP_HOUR * MICROS_PER_HOUR,
            Action::ExpireHolds,
        );
        self.push(midnight + 19 * MICROS_PER_HOUR, Action::KioskOffline);
        let sync = midnight + 26 * MICROS_PER_HOUR + self.rng.random_range(0..2 * MICROS_PER_HOUR);
        self.push(sync, Action::KioskSync);
    }
}
