//! The read models the server runs, together: what `readnet replay`, backups and the benchmarks
//! fold in one pass over the log, each event decoded once, each projection on its own thread.

use readnet_availability::Availability;
use readnet_projection::{Pipeline, Position, RunnerError};
use readnet_settlement::Settlement;
use readnet_statistics::Statistics;
use readnet_store::EventStore;

/// Availability, statistics and settlement folded side by side, with their digests.
#[derive(Debug)]
pub struct AllProjections {
    pub availability: Availability,
    pub statistics: Statistics,
    pub settlement: Settlement,
    /// Each projection's digest, as [`readnet_projection::digest`] gives it.
    pub digests: AllDigests,
}

/// The digest of each of [`AllProjections`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllDigests {
    pub availability: String,
    pub statistics: String,
    pub settlement: String,
}

impl AllProjections {
    /// Folds the log through `through` (the head if `None`) into each projection, one thread
    /// per projection fed by one decoder ([`Pipeline`]); each thread computes its digest.
    /// `progress` is told each position decoded.
    pub async fn replay(
        store: &dyn EventStore,
        through: Option<Position>,
        progress: impl FnMut(Position),
    ) -> Result<Self, RunnerError> {
        Self::replay_from(store, through, Availability::default(), progress).await
    }

    /// [`AllProjections::replay`], availability folded into `availability`: an empty state,
    /// its item rows on disk ([`Availability::with_cold_items`], ADR 0027) or in memory.
    pub async fn replay_from(
        store: &dyn EventStore,
        through: Option<Position>,
        availability: Availability,
        progress: impl FnMut(Position),
    ) -> Result<Self, RunnerError> {
        let mut pipeline = Pipeline::new();
        let availability = pipeline.fold_state(availability, true);
        let statistics = pipeline.fold_digested::<Statistics>();
        let settlement = pipeline.fold_digested::<Settlement>();
        pipeline.run(store, through, progress).await?;
        let fed = "the replay fed every fold through its end";
        let availability = availability.finish().await.expect(fed);
        let statistics = statistics.finish().await.expect(fed);
        let settlement = settlement.finish().await.expect(fed);
        let digested = "asked for";
        Ok(Self {
            digests: AllDigests {
                availability: availability.digest.expect(digested),
                statistics: statistics.digest.expect(digested),
                settlement: settlement.digest.expect(digested),
            },
            availability: availability.state,
            statistics: statistics.state,
            settlement: settlement.state,
        })
    }

    /// The position every projection has folded through.
    pub fn position(&self) -> Position {
        use readnet_projection::Projection as _;
        assert_eq!(self.availability.position(), self.settlement.position());
        assert_eq!(self.statistics.position(), self.settlement.position());
        self.settlement.position()
    }
}
