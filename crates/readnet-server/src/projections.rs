//! The read models the server runs, together: what `readnet replay` and the benchmarks fold in
//! one pass over the log, each event decoded once.

use readnet_availability::Availability;
use readnet_projection::{Position, ProjectedEvent, Projection};
use readnet_settlement::Settlement;
use readnet_statistics::Statistics;
use serde::{Deserialize, Serialize};

/// Availability, statistics and settlement folded side by side. A projection of its own only
/// so that `readnet_projection::replay` can fold it; the server runs and snapshots each one
/// separately.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AllProjections {
    pub availability: Availability,
    pub statistics: Statistics,
    pub settlement: Settlement,
}

impl Projection for AllProjections {
    const NAME: &'static str = "all";
    const VERSION: u32 = 1;

    fn apply(&mut self, event: &ProjectedEvent) {
        self.availability.apply(event);
        self.statistics.apply(event);
        self.settlement.apply(event);
    }

    fn position(&self) -> Position {
        debug_assert_eq!(self.availability.position(), self.settlement.position());
        debug_assert_eq!(self.statistics.position(), self.settlement.position());
        self.settlement.position()
    }
}
