//! The scheduler: actions queued by simulated time, and what each one does when its time comes.

use std::cmp::Reverse;

use rand::Rng;

use crate::Simulator;

/// Something due at a moment: a patron's visit, a loan's end, the courier, the kiosk's evening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    Checkout { library: u32, patron: u32 },
    Acquire { library: u32, patron: u32 },
    Swap { booth: u32, patron: u32 },
    Return { item: u32, library: u32 },
    Renew { item: u32 },
    ReportLost { item: u32 },
    PayLost { item: u32 },
    Repatriate { item: u32 },
    Receive { item: u32 },
    Restock { booth: u32 },
    Close { library: u32 },
    BorrowDigital { library: u32, patron: u32 },
    ExpireDigital,
    SetTier { patron: u32, tier: u8 },
    PullHold { item: u32 },
    PickUp { hold: u64 },
    CancelHold { hold: u64 },
    ExpireHolds,
    KioskOffline,
    KioskSync,
}

impl Action {
    fn item(self) -> Option<u32> {
        match self {
            Action::Return { item, .. }
            | Action::Renew { item }
            | Action::ReportLost { item }
            | Action::PayLost { item }
            | Action::Repatriate { item }
            | Action::Receive { item }
            | Action::PullHold { item } => Some(item),
            _ => None,
        }
    }

    /// The patron an action is for, if it names one.
    fn patron(self) -> Option<u32> {
        match self {
            Action::Checkout { patron, .. }
            | Action::Acquire { patron, .. }
            | Action::BorrowDigital { patron, .. }
            | Action::Swap { patron, .. }
            | Action::SetTier { patron, .. } => Some(patron),
            _ => None,
        }
    }
}

impl Simulator {
    /// Queues `action` at `at`; actions due at the same moment keep the order they were queued in.
    pub(crate) fn push(&mut self, at: i64, action: Action) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, action)));
    }

    /// Does `action`, due at `at`.
    pub(crate) fn act(&mut self, at: i64, action: Action) {
        let item_held = action
            .item()
            .is_some_and(|item| self.locked.contains(&item));
        // A card first used at the offline kiosk is enrolled only when the kiosk syncs: the log
        // may not hold the patron's other acts before their enrolment.
        let patron_held = !self.locked_cards.is_empty()
            && action
                .patron()
                .is_some_and(|p| self.locked_cards.contains(&self.patron(p).1));
        if item_held || patron_held {
            // The offline kiosk holds these events' predecessors: wait until it has synced.
            let later = self.kiosk_sync_at + self.rng.random_range(60_000_000..1_800_000_000);
            self.push(later, action);
            return;
        }
        match action {
            Action::Checkout { library, patron } => self.checkout(at, library as usize, patron),
            Action::Acquire { library, patron } => self.acquire(at, library as usize, patron),
            Action::Swap { booth, patron } => self.swap(at, booth as usize, patron),
            Action::Return { item, library } => self.return_item(at, item, library as usize),
            Action::Renew { item } => self.renew(at, item),
            Action::ReportLost { item } => self.report_lost(at, item),
            Action::PayLost { item } => self.pay_lost(at, item),
            Action::Repatriate { item } => self.repatriate(at, item),
            Action::Receive { item } => self.receive(at, item),
            Action::Restock { booth } => self.restock(at, booth as usize),
            Action::Close { library } => self.close_for_a_while(at, library as usize),
            Action::BorrowDigital { library, patron } => {
                self.borrow_digital(at, library as usize, patron);
            }
            Action::ExpireDigital => self.expire_digital_loans(at),
            Action::SetTier { patron, tier } => self.set_tier(at, patron, tier),
            Action::PullHold { item } => self.pull_hold(at, item),
            Action::PickUp { hold } => self.pick_up(at, hold),
            Action::CancelHold { hold } => self.cancel_hold(at, hold),
            Action::ExpireHolds => self.expire_holds(at),
            Action::KioskOffline => self.kiosk_goes_offline(at),
            Action::KioskSync => self.kiosk_sync(),
        }
    }
}
