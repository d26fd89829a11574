//! Store mode: steps appended straight into an event store, through the ledger's envelope.

use readnet_store::{EventStore, StoreError};

use crate::Step;

/// Appends the steps' events in order (see [`readnet_ledger::import::append_history`]).
/// Returns the number of appends.
pub async fn write(store: &dyn EventStore, steps: Vec<Step>) -> Result<u64, StoreError> {
    readnet_ledger::import::append_history(store, steps.into_iter().flat_map(|s| s.events)).await
}
