//! A decided history written into a store: the simulator's store mode, test fixtures.

use std::collections::HashSet;

use readnet_store::{EventStore, StoreError, StreamState, StreamWrite};

use crate::envelope::{self, ProjectedEvent};

/// Appends decided events (a [`crate::history::History`]'s, in order) through the envelope, with
/// as few appends as possible: one write per run of a stream, a new append whenever a stream comes
/// back (a stream appears once per append). The store stamps `recorded_at` and numbers the
/// events; the order of the events is the order of the log, so a late kiosk sync lands after
/// events that happened after it. Writes expect nothing of their streams (`Any`): the simulator
/// holds a kiosk's events back until it syncs, so the revisions its history gave them may differ
/// from the ones the store gives. Returns the number of appends.
pub async fn append_history(
    store: &dyn EventStore,
    events: impl IntoIterator<Item = ProjectedEvent>,
) -> Result<u64, StoreError> {
    let mut appends = 0;
    let mut writes: Vec<StreamWrite> = Vec::new();
    let mut streams = HashSet::new();
    for event in events {
        if writes.last().is_none_or(|w| w.stream != event.stream) {
            if !streams.insert(event.stream.clone()) {
                store.append_multi(std::mem::take(&mut writes)).await?;
                appends += 1;
                streams.clear();
                streams.insert(event.stream.clone());
            }
            writes.push(StreamWrite {
                stream: event.stream.clone(),
                expected: StreamState::Any,
                events: Vec::new(),
            });
        }
        writes
            .last_mut()
            .expect("a write")
            .events
            .push(envelope::encode_decided(&event));
    }
    if !writes.is_empty() {
        store.append_multi(writes).await?;
        appends += 1;
    }
    Ok(appends)
}
