//! Transfers: homebound items repatriated by the courier, and items received where they were sent.

use rand::Rng;
use readnet_domain::pb::TransferReason;
use readnet_domain::{Command, ItemStatus};

use crate::Simulator;
use crate::rhythm::{MICROS_PER_DAY, MICROS_PER_HOUR};
use crate::schedule::Action;

impl Simulator {
    pub(crate) fn repatriate(&mut self, at: i64, item: u32) {
        let code = self.items[item as usize].code.clone();
        let Some(state) = self.history.ledger().items.get(code.as_str()) else {
            return;
        };
        let ItemStatus::OnShelf {
            library: here,
            homebound: true,
        } = &state.status
        else {
            return;
        };
        let owner = state.owner_library.clone();
        let Some(from) = self.library_index(here.as_str()) else {
            return;
        };
        let command = Command::DispatchTransfer {
            item: code,
            to_library: owner.clone(),
            reason: TransferReason::Repatriation,
        };
        if self.exec(at, Some(from), command, None, u64::from(item), &[item]) {
            self.stats.repatriations += 1;
            let to = self
                .library_index(owner.as_str())
                .expect("the owner is a library");
            self.schedule_receive(at, item, from, to);
        }
    }

    pub(crate) fn schedule_receive(&mut self, at: i64, item: u32, from: usize, to: usize) {
        let days = if self.libs[from].city == self.libs[to].city {
            1
        } else {
            2
        };
        let when = self.start.timestamp_micros()
            + (self.day_of(at) + days) * MICROS_PER_DAY
            + 10 * MICROS_PER_HOUR
            + self.rng.random_range(0..6 * MICROS_PER_HOUR);
        self.push(when, Action::Receive { item });
    }

    pub(crate) fn receive(&mut self, at: i64, item: u32) {
        let Some(ItemStatus::InTransit { to, .. }) = self.status(item) else {
            return;
        };
        let Some(to) = self.library_index(to.as_str()) else {
            return;
        };
        let command = Command::ReceiveTransfer {
            item: self.items[item as usize].code.clone(),
        };
        if self.exec(at, Some(to), command, None, u64::from(item), &[item]) {
            self.came_free(at, item);
        }
    }
}
