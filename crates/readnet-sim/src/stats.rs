//! Counters of what the simulation did, for its report and for tests.

/// What happened so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub commands: u64,
    /// Commands the domain refused (a blocked patron, a patron at their limit, ...): not emitted.
    pub refused: u64,
    /// The refusals by command name.
    pub refused_by: std::collections::BTreeMap<&'static str, u64>,
    pub events: u64,
    pub catalogued: u64,
    pub loans: u64,
    pub cross_city_loans: u64,
    pub renewals: u64,
    pub returns: u64,
    pub returns_elsewhere: u64,
    pub returns_other_city: u64,
    pub late_returns: u64,
    pub repatriations: u64,
    pub restocks: u64,
    pub booth_swaps: u64,
    pub patron_driven: u64,
    pub lost: u64,
    pub lost_paid: u64,
    pub tier_changes: u64,
    /// Commands of the offline kiosk, recorded hours after they happened.
    pub late_synced: u64,
    /// Checkouts that found no copy of the wanted title on the shelf.
    pub no_copy: u64,
    /// Temporary closures of a branch.
    pub closures: u64,
    /// Returns put off because the library was closed (the patron came back when it opened).
    pub returns_put_off: u64,
    /// Digital loans (ADR 0019), and those the sweep ended at their expiry.
    pub digital_loans: u64,
    pub digital_expired: u64,
    /// Holds (ADR 0013): placed, on the hold shelf, picked up, cancelled by their readers,
    /// ended by the sweep (expired unfilled or not picked up), legs shipped for them, and copies
    /// set aside that the simulator could not find on its shelves (a bug if not zero).
    pub holds_placed: u64,
    pub holds_ready: u64,
    pub holds_filled: u64,
    pub holds_cancelled: u64,
    pub holds_expired: u64,
    pub hold_legs: u64,
    pub holds_untracked: u64,
}
