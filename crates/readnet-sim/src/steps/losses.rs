//! Losses: an item on loan declared lost, and its price paid later.

use rand::Rng;
use readnet_domain::{Command, ItemStatus};

use crate::Simulator;
use crate::schedule::Action;

impl Simulator {
    pub(crate) fn report_lost(&mut self, at: i64, item: u32) {
        let Some(loan) = self.loans.get(&item).copied() else {
            return;
        };
        if !matches!(self.status(item), Some(ItemStatus::OnLoan { .. })) {
            return;
        }
        let library = loan.library as usize;
        let command = Command::DeclareLost {
            item: self.items[item as usize].code.clone(),
        };
        if self.exec(at, Some(library), command, None, u64::from(item), &[item]) {
            self.stats.lost += 1;
            let day = self.day_of(at) + self.rng.random_range(1..=10);
            let when = self.moment(day, library);
            self.push(when, Action::PayLost { item });
        }
    }

    pub(crate) fn pay_lost(&mut self, at: i64, item: u32) {
        let Some(loan) = self.loans.remove(&item) else {
            return;
        };
        let code = self.items[item as usize].code.clone();
        let owed = self
            .history
            .ledger()
            .items
            .get(code.as_str())
            .and_then(|i| i.lost_debts.first())
            .map(|d| d.outstanding_fen);
        let Some(amount_fen) = owed.filter(|a| a.is_positive()) else {
            return;
        };
        let command = Command::PayLostItem {
            item: code,
            amount_fen,
        };
        if self.exec(
            at,
            Some(loan.library as usize),
            command,
            None,
            u64::from(item),
            &[item],
        ) {
            self.stats.lost_paid += 1;
        }
    }
}
