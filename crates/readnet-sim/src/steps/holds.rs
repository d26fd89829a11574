//! Holds (ADR 0013): a reader who finds the title out asks for it, at the desk or from the app,
//! with pickup where they are; the copy the rules pick is pulled the next morning and travels
//! leg by leg (through the city's distribution centre) to the pickup library, or a copy is
//! trapped when it comes back; most readers pick it up, some cancel, the rest expire in the
//! daily sweep.
//!
//! The simulator follows each copy set aside for a hold (`held`: item → the hold it serves) and
//! asks the domain's state what happened after every step that may move it, so what it does
//! next is what the rules decided, not a guess.

use rand::Rng;
use readnet_domain::pb::{Channel, TransferReason};
use readnet_domain::{Command, HoldState, HoldTarget, ItemCode, ItemStatus, Payload};

use crate::Simulator;
use crate::collection::isbn13;
use crate::rhythm::{MICROS_PER_DAY, MICROS_PER_HOUR};
use crate::schedule::Action;

/// Of the readers who find the title they came for out, the share who place a hold.
const HOLD_SHARE: f64 = 0.15;
/// Of those, the share who place it from the app rather than at the desk.
const APP_SHARE: f64 = 0.5;
/// The share of holds their readers cancel before they are filled.
const CANCEL_SHARE: f64 = 0.05;
/// The share of ready holds their readers pick up (the rest expire on the hold shelf).
const PICKUP_SHARE: f64 = 0.88;
/// The local hour of the daily sweep: after the offline kiosk has synced, so that the sweep's
/// events never come out before a late kiosk step they follow.
pub(crate) const SWEEP_HOUR: i64 = 10;

impl Simulator {
    /// The title a reader came for is out at `library`: perhaps they ask for it.
    /// Returns whether they did.
    pub(crate) fn maybe_place_hold(
        &mut self,
        at: i64,
        library: usize,
        patron: u32,
        title: u32,
    ) -> bool {
        // While the kiosk is offline its late steps may name the copy the rules would pick.
        if library == self.kiosk || self.kiosk_offline || !self.rng.random_bool(HOLD_SHARE) {
            return false;
        }
        let channel = if self.rng.random_bool(APP_SHARE) {
            Channel::App
        } else {
            self.channel_at(library)
        };
        let (patron_ref, card) = self.patron(patron);
        let command = Command::PlaceHold {
            patron: patron_ref,
            target: HoldTarget::Title {
                isbn: isbn13(title),
                title: String::new(),
                author: String::new(),
            },
            pickup_library: self.libs[library].code.clone(),
        };
        if !self.exec_via(
            at,
            Some(library),
            Some(channel),
            command,
            Some(card),
            u64::from(patron),
            &[],
        ) {
            return false;
        }
        let hold = self.history.ledger().last_hold;
        self.stats.holds_placed += 1;
        self.hold_patrons.insert(hold, (patron, title));
        if self.rng.random_bool(CANCEL_SHARE) {
            let when = at
                + self
                    .rng
                    .random_range(MICROS_PER_DAY / 2..5 * MICROS_PER_DAY);
            self.push(when, Action::CancelHold { hold });
        }
        self.follow_hold(at, hold, None);
        true
    }

    /// Schedules what comes next for `hold` as the rules just left it: a copy to pull, or a
    /// reader to come for a copy on the hold shelf. `known` is the copy when the caller has it
    /// in hand (a return, a receipt); otherwise it is taken off the shelf it stood on.
    pub(crate) fn follow_hold(&mut self, at: i64, hold: u64, known: Option<u32>) {
        let Some(state) = self.history.ledger().holds.get(&hold) else {
            return;
        };
        let (code, ready) = match &state.state {
            HoldState::Queued => return,
            HoldState::Assigned { item } => (item.clone(), false),
            HoldState::Ready { item, .. } => (item.clone(), true),
        };
        let item = match known.or_else(|| self.take_from_shelf(hold, &code)) {
            Some(item) => item,
            None => {
                self.stats.holds_untracked += 1;
                return;
            }
        };
        self.held.insert(item, hold);
        let Some(ItemStatus::OnShelf { library, .. }) = self.status(item).cloned() else {
            // In transit: its receipt decides.
            return;
        };
        let library = self
            .library_index(library.as_str())
            .expect("a copy stands in a library");
        let day = self.day_of(at);
        if ready {
            self.stats.holds_ready += 1;
            if self.rng.random_bool(PICKUP_SHARE) {
                let after_days = self.rng.random_range(0..4);
                let when = self.moment(day + after_days, library).max(at + 1);
                self.push(when, Action::PickUp { hold });
            }
        } else {
            // The pick list is worked the next morning.
            let when = self.start.timestamp_micros()
                + (day + 1) * MICROS_PER_DAY
                + 9 * MICROS_PER_HOUR
                + self.rng.random_range(0..3 * MICROS_PER_HOUR);
            self.push(when, Action::PullHold { item });
        }
    }

    /// The simulator's number for `code`, the copy the rules set aside for `hold` from a shelf,
    /// taken off that shelf. (A copy already set aside is never targeted: callers that move one
    /// on to another hold pass it in hand.)
    fn take_from_shelf(&mut self, hold: u64, code: &ItemCode) -> Option<u32> {
        let title = self.hold_patrons.get(&hold).map(|&(_, title)| title)?;
        let ItemStatus::OnShelf { library, .. } = self
            .history
            .ledger()
            .items
            .get(code.as_str())
            .map(|i| &i.status)?
        else {
            return None;
        };
        let library = self.library_index(library.as_str())?;
        let copies = self.shelf[library].get_mut(&title)?;
        let at = copies
            .iter()
            .position(|&i| self.items[i as usize].code == *code)?;
        Some(copies.swap_remove(at))
    }

    /// A copy on a pick list is sent on its next leg: to its city's distribution centre, else
    /// to the pickup library.
    pub(crate) fn pull_hold(&mut self, at: i64, item: u32) {
        let Some(&hold) = self.held.get(&item) else {
            return;
        };
        let ledger = self.history.ledger();
        let Some(state) = ledger.holds.get(&hold) else {
            return;
        };
        let code = self.items[item as usize].code.clone();
        if state.state != (HoldState::Assigned { item: code.clone() }) {
            return;
        }
        let Some(ItemStatus::OnShelf { library: here, .. }) =
            ledger.items.get(code.as_str()).map(|i| &i.status)
        else {
            return;
        };
        let city = ledger.network.library_city(here.as_str()).cloned();
        let centre = city
            .and_then(|c| ledger.network.distribution_centre(&c))
            .map(|l| l.code.clone())
            .filter(|centre| centre != here);
        let to = centre.unwrap_or_else(|| state.pickup_library.clone());
        let (from, to_index) = (
            self.library_index(here.as_str()).expect("a library"),
            self.library_index(to.as_str()).expect("a library"),
        );
        let command = Command::DispatchTransfer {
            item: code,
            to_library: to,
            reason: TransferReason::Hold,
        };
        if self.exec(at, Some(from), command, None, u64::from(item), &[item]) {
            self.stats.hold_legs += 1;
            self.schedule_receive(at, item, from, to_index);
        } else {
            // Closed today: the pick list waits for tomorrow.
            self.push(at + MICROS_PER_DAY, Action::PullHold { item });
        }
    }

    /// The holder comes for the copy on the hold shelf.
    pub(crate) fn pick_up(&mut self, at: i64, hold: u64) {
        let Some(state) = self.history.ledger().holds.get(&hold) else {
            return;
        };
        let HoldState::Ready { item: code, .. } = &state.state else {
            return;
        };
        let (code, pickup) = (code.clone(), state.pickup_library.clone());
        let Some((item, _)) = self
            .held
            .iter()
            .find(|(i, h)| **h == hold && self.items[**i as usize].code == code)
        else {
            return;
        };
        let item = *item;
        let Some(&(patron, _)) = self.hold_patrons.get(&hold) else {
            return;
        };
        let library = self.library_index(pickup.as_str()).expect("a library");
        let (patron_ref, card) = self.patron(patron);
        let command = Command::Checkout {
            item: code,
            patron: patron_ref,
        };
        if self.exec(
            at,
            Some(library),
            command,
            Some(card),
            u64::from(item),
            &[item],
        ) {
            self.stats.holds_filled += 1;
            self.held.remove(&item);
            self.hold_patrons.remove(&hold);
            self.lent(at, item, library, patron);
        }
    }

    /// The reader cancels from the app.
    pub(crate) fn cancel_hold(&mut self, at: i64, hold: u64) {
        if !self.history.ledger().holds.contains_key(&hold) {
            return;
        }
        if self.kiosk_offline {
            self.push(at + 8 * MICROS_PER_HOUR, Action::CancelHold { hold });
            return;
        }
        let Some(&(patron, _)) = self.hold_patrons.get(&hold) else {
            return;
        };
        let (patron_ref, card) = self.patron(patron);
        let pickup = self.history.ledger().holds[&hold].pickup_library.clone();
        let library = self.library_index(pickup.as_str()).expect("a library");
        let command = Command::CancelHold {
            hold,
            patron: Some(patron_ref),
            note: String::new(),
        };
        if self.exec_via(
            at,
            Some(library),
            Some(Channel::App),
            command,
            Some(card),
            u64::from(patron),
            &[],
        ) {
            self.stats.holds_cancelled += 1;
            self.hold_patrons.remove(&hold);
            self.resettle_held(at);
        }
    }

    /// The server's daily sweep: holds waiting past their expiry and copies not picked up.
    pub(crate) fn expire_holds(&mut self, at: i64) {
        // One sweep ends at most 256 holds; the server repeats it while it ends some.
        for _ in 0..64 {
            let now = crate::rhythm::time(at);
            let due = self
                .history
                .ledger()
                .holds
                .values()
                .any(|h| match &h.state {
                    HoldState::Queued => h.expires_at <= now,
                    HoldState::Ready { pickup_by, .. } => *pickup_by <= now,
                    HoldState::Assigned { .. } => false,
                });
            if !due || !self.exec(at, None, Command::ExpireHolds, None, 0, &[]) {
                break;
            }
            let ended = self.out.last().map_or(0, |step| {
                step.events
                    .iter()
                    .filter(|e| matches!(e.payload, Payload::HoldEnded(_)))
                    .count()
            });
            self.stats.holds_expired += ended as u64;
        }
        let ledger = self.history.ledger();
        self.hold_patrons
            .retain(|hold, _| ledger.holds.contains_key(hold));
        self.resettle_held(at);
    }

    /// After holds ended: each followed copy is given to its next hold, put back on the shelf,
    /// or sent home, as the rules decided.
    fn resettle_held(&mut self, at: i64) {
        let followed: Vec<(u32, u64)> = self.held.iter().map(|(&i, &h)| (i, h)).collect();
        for (item, was) in followed {
            let code = self.items[item as usize].code.clone();
            let Some(state) = self.history.ledger().items.get(code.as_str()) else {
                continue;
            };
            let (status, now) = (state.status.clone(), state.hold);
            match now {
                Some(hold) if hold == was => {}
                Some(hold) => self.follow_hold(at, hold, Some(item)),
                None => {
                    self.held.remove(&item);
                    self.freed(at, item, &status);
                }
            }
        }
    }

    /// A copy that no hold wants any more: back on the shelf, or home with the courier.
    pub(crate) fn freed(&mut self, at: i64, item: u32, status: &ItemStatus) {
        match status {
            ItemStatus::OnShelf {
                homebound: true, ..
            } => {
                let when = self.start.timestamp_micros()
                    + (self.day_of(at) + 1) * MICROS_PER_DAY
                    + 9 * MICROS_PER_HOUR
                    + self.rng.random_range(0..2 * MICROS_PER_HOUR);
                self.push(when, Action::Repatriate { item });
            }
            ItemStatus::OnShelf { library, .. } => {
                let library = self.library_index(library.as_str()).expect("a library");
                self.place(item, library);
            }
            // In transit: its receipt decides.
            _ => {}
        }
    }
}
