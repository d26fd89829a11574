//! Booths: restocking from the city's central library, and patrons' swaps.

use rand::Rng;
use readnet_domain::pb::TransferReason;
use readnet_domain::{Command, ItemCode, ItemStatus};

use crate::Simulator;
use crate::collection::{ItemInfo, book};

impl Simulator {
    /// Staff of the city's central library send a few books to a booth.
    pub(crate) fn restock(&mut self, at: i64, booth: usize) {
        if self.booth_stock[booth].len() >= 60 {
            return;
        }
        let central = self.libs[booth].central;
        let mut sent = 0;
        for _ in 0..20 {
            if sent == 3 {
                break;
            }
            let Some(item) = self.any_on_shelf(central) else {
                continue;
            };
            let ok = matches!(self.status(item),
                Some(ItemStatus::OnShelf { library, homebound: false }) if *library == self.libs[central].code);
            if !ok {
                continue;
            }
            let command = Command::DispatchTransfer {
                item: self.items[item as usize].code.clone(),
                to_library: self.libs[booth].code.clone(),
                reason: TransferReason::Rebalance,
            };
            if self.exec(at, Some(central), command, None, u64::from(item), &[item]) {
                sent += 1;
                self.stats.restocks += 1;
                self.schedule_receive(at, item, central, booth);
            } else {
                self.place(item, central);
            }
        }
    }

    pub(crate) fn swap(&mut self, at: i64, booth: usize, patron: u32) {
        let stock = &mut self.booth_stock[booth];
        if stock.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..stock.len());
        let item = stock.swap_remove(i);
        let ok = matches!(self.status(item),
            Some(ItemStatus::InBooth { booth: b }) if *b == self.libs[booth].code);
        if !ok {
            return;
        }
        let (patron_ref, card) = self.patron(patron);
        let title = self.rng.random_range(0..self.scale.titles) as u32;
        let deposit = format!("BD{:09}", self.next_deposit);
        let mut deposit_book = book(&deposit, title);
        if self.rng.random_bool(0.5) {
            deposit_book.price_fen = None;
        }
        let command = Command::BoothSwap {
            take_item: self.items[item as usize].code.clone(),
            patron: patron_ref,
            deposit: deposit_book,
        };
        let new = self.items.len() as u32;
        // Keyed by the booth: the deposited book's own swap later goes the same way.
        let key = (1 << 41) | booth as u64;
        if self.exec(at, Some(booth), command, Some(card), key, &[item, new]) {
            self.next_deposit += 1;
            self.items.push(ItemInfo {
                code: ItemCode::from(deposit),
                title,
            });
            self.stats.booth_swaps += 1;
            self.booth_stock[booth].push(new);
        } else {
            self.booth_stock[booth].push(item);
        }
    }
}
