//! The offline kiosk: one self-service library whose evening steps are held back and synced
//! hours later, in one go.

use crate::Simulator;
use crate::rhythm::MICROS_PER_HOUR;

impl Simulator {
    /// The kiosk loses its connection for the evening: its steps are held back from now.
    pub(crate) fn kiosk_goes_offline(&mut self, at: i64) {
        self.kiosk_offline = true;
        // The matching sync is the next one queued.
        self.kiosk_sync_at = at + 7 * MICROS_PER_HOUR + 2 * MICROS_PER_HOUR;
    }

    /// The kiosk is back online: the steps it held are recorded now, late, in the order they
    /// happened.
    pub(crate) fn kiosk_sync(&mut self) {
        self.kiosk_offline = false;
        self.stats.late_synced += self.kiosk_buffer.len() as u64;
        self.out.append(&mut self.kiosk_buffer);
        self.locked.clear();
        self.locked_cards.clear();
    }
}
