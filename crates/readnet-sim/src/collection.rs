//! The collection: Zipf-popular titles, cataloguing, and which copies are on which shelf or in
//! which booth.

use chrono::Duration;
use rand::Rng;
use readnet_domain::pb::{Acquisition, LibraryTier};
use readnet_domain::{Command, Fen, ItemCode, ItemStatus, NewBook};

use crate::Simulator;

/// A catalogued item: its barcode and its title (a rank in the popularity order).
#[derive(Debug, Clone)]
pub(crate) struct ItemInfo {
    pub(crate) code: ItemCode,
    pub(crate) title: u32,
}

/// The cumulative distribution of a Zipf law with exponent `s` over ranks `1..=n`.
pub(crate) fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += 1.0 / (k as f64).powf(s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

/// The index a uniform `u` in `[0, 1)` falls on in `cdf`.
pub(crate) fn sample_cdf(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
}

/// The ISBN-13 of simulated title `title`: 978, nine digits of the title number, and its check
/// digit (the ledger refuses a wrong one).
pub(crate) fn isbn13(title: u32) -> String {
    let body = format!("978{:09}", title % 1_000_000_000);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// The description of a copy of `title`, as cataloguing or a deposit records it.
pub(crate) fn book(item: &str, title: u32) -> NewBook {
    NewBook {
        item: item.into(),
        isbn: isbn13(title),
        title: format!("Title {title}"),
        author: format!("Author {}", title % 5_000),
        price_fen: Some(Fen(2_000 + (title as i64 * 37) % 8_000)),
    }
}

impl Simulator {
    /// Catalogues items `from..to` of the network (cities one after another).
    pub(crate) fn catalogue(&mut self, from: usize, to: usize) {
        let at = (self.start - Duration::hours(12)).timestamp_micros();
        let mut first = 0;
        for (c, city) in self.scale.cities.clone().iter().enumerate() {
            let range = first..first + city.items;
            first += city.items;
            let (lo, hi) = (from.max(range.start), to.min(range.end));
            if lo >= hi {
                continue;
            }
            // The collection: central and general libraries hold most of it; booths a little.
            let holders: Vec<(usize, f64)> = self
                .libs
                .iter()
                .enumerate()
                .filter(|(_, l)| l.city == c)
                .map(|(i, l)| {
                    let w = match l.tier {
                        LibraryTier::Central => 30.0,
                        LibraryTier::General => 8.0,
                        LibraryTier::Branch => 2.5,
                        LibraryTier::ServicePoint => 0.6,
                        LibraryTier::SelfService => 1.0,
                        _ => 0.3,
                    };
                    (i, w)
                })
                .collect();
            let sum: f64 = holders.iter().map(|(_, w)| w).sum();
            for _ in lo..hi {
                let mut u = self.rng.random::<f64>() * sum;
                let mut owner = holders[holders.len() - 1].0;
                for &(l, w) in &holders {
                    if u < w {
                        owner = l;
                        break;
                    }
                    u -= w;
                }
                // A booth holds a few dozen books; the rest goes to the central library.
                if self.libs[owner].tier == LibraryTier::Booth
                    && self.booth_stock[owner].len() >= 40
                {
                    owner = self.libs[owner].central;
                }
                let title = sample_cdf(&self.copies_cdf, self.rng.random()) as u32;
                let n = self.items.len() as u32;
                let code = format!("IT{n:09}");
                let acquisition = if self.rng.random_bool(0.05) {
                    Acquisition::Donation
                } else {
                    Acquisition::Purchase
                };
                let command = Command::CatalogueItem {
                    book: book(&code, title),
                    owner_library: self.libs[owner].code.clone(),
                    acquisition,
                };
                self.items.push(ItemInfo {
                    code: ItemCode::from(code),
                    title,
                });
                if self.exec(at, None, command, None, u64::from(n), &[]) {
                    self.stats.catalogued += 1;
                    self.place(n, owner);
                }
            }
        }
    }

    /// An item has arrived at `library` (shelf or booth): it can be lent or swapped there.
    pub(crate) fn place(&mut self, item: u32, library: usize) {
        if self.libs[library].tier == LibraryTier::Booth {
            self.booth_stock[library].push(item);
        } else {
            let title = self.items[item as usize].title;
            let copies = self.shelf[library].entry(title).or_insert_with(|| {
                self.shelf_titles[library].push(title);
                Vec::new()
            });
            copies.push(item);
        }
    }

    /// Some copy on `library`'s shelf, of a title picked at random among those it holds.
    pub(crate) fn any_on_shelf(&mut self, library: usize) -> Option<u32> {
        let titles = self.shelf_titles[library].len();
        if titles == 0 {
            return None;
        }
        for _ in 0..8 {
            let title = self.shelf_titles[library][self.rng.random_range(0..titles)];
            if let Some(item) = self.shelf[library].get_mut(&title).and_then(Vec::pop) {
                return Some(item);
            }
        }
        None
    }

    /// Item `item`'s state as the ledger has it.
    pub(crate) fn status(&self, item: u32) -> Option<&ItemStatus> {
        self.history
            .ledger()
            .items
            .get(self.items[item as usize].code.as_str())
            .map(|i| &i.status)
    }
}
