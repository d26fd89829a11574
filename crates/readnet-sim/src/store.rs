//! Store mode: steps appended straight into an event store, as the command bus would.

use std::collections::HashSet;

use readnet_domain::codec;
use readnet_domain::pb::EventMetadata;
use readnet_projection::ProjectedEvent;
use readnet_store::{EventData, EventStore, StoreError, StreamState, StreamWrite};

use crate::Step;

/// An event as the store keeps it: type, metadata (occurred_at, library, channel, command id)
/// and protobuf payload.
pub fn encode(event: &ProjectedEvent) -> EventData {
    let metadata = EventMetadata {
        occurred_at_us: event.occurred_at.timestamp_micros(),
        acting_library: event.acting_library.clone(),
        channel: event.channel as i32,
        command_id: event
            .command_id
            .map(|c| c.as_bytes().to_vec())
            .unwrap_or_default(),
        schema_version: codec::CURRENT_SCHEMA_VERSION,
        ..Default::default()
    };
    EventData {
        event_id: event.event_id,
        event_type: codec::event_type(&event.payload).to_owned(),
        content_type: readnet_store::ContentType::Binary,
        metadata: codec::encode_metadata(&metadata),
        data: codec::encode(&event.payload),
    }
}

/// Appends the steps' events in order with as few appends as possible: one write per run of a
/// stream, a new append whenever a stream comes back (a stream appears once per append). The
/// store stamps `recorded_at`; the order of the steps is the order of the log, so a late kiosk
/// sync lands after events that happened after it. Returns the number of appends.
pub async fn write(store: &dyn EventStore, steps: Vec<Step>) -> Result<u64, StoreError> {
    let mut appends = 0;
    let mut writes: Vec<StreamWrite> = Vec::new();
    let mut streams = HashSet::new();
    for event in steps.into_iter().flat_map(|s| s.events) {
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
            .push(encode(&event));
    }
    if !writes.is_empty() {
        store.append_multi(writes).await?;
        appends += 1;
    }
    Ok(appends)
}
