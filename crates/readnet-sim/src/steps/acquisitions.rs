//! Patron-driven acquisitions (你读书我买单): a book bought at a partner bookstore and lent at once.

use rand::Rng;
use readnet_domain::{Command, ItemCode};

use crate::Simulator;
use crate::collection::{ItemInfo, book, sample_cdf};

impl Simulator {
    pub(crate) fn acquire(&mut self, at: i64, library: usize, patron: u32) {
        let (patron_ref, card) = self.patron(patron);
        let title = sample_cdf(&self.demand_cdf, self.rng.random()) as u32;
        let code = format!("PD{:09}", self.next_bought);
        let command = Command::PatronDrivenAcquisition {
            bookstore: Some(crate::network::bookstore_of(&self.libs[library].code)),
            patron: patron_ref,
            book: book(&code, title),
        };
        let new = self.items.len() as u32;
        if self.exec(
            at,
            Some(library),
            command,
            Some(card),
            u64::from(new),
            &[new],
        ) {
            self.next_bought += 1;
            self.items.push(ItemInfo {
                code: ItemCode::from(code),
                title,
            });
            self.stats.patron_driven += 1;
            self.lent(at, new, library, patron);
        }
    }
}
