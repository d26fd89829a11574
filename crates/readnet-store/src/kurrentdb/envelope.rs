//! How one readnet event is kept as one KurrentDB event of the journal.
//!
//! The KurrentDB event carries readnet's event id, type, content type and data unchanged; its
//! custom metadata is an [`Envelope`]: what the journal stream cannot say by itself (the target
//! stream and revision, readnet's commit time) plus readnet's own metadata bytes.

use bytes::Bytes;
use prost::Message;
use uuid::Uuid;

use crate::{ContentType, EventData, Position, RecordedEvent, Revision, StoreError};

/// The custom metadata of a journal event (protobuf, like everything else readnet writes).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Envelope {
    /// The readnet stream the event belongs to (`item-42`, `network`, ...).
    #[prost(string, tag = "1")]
    pub stream: String,
    /// The event's revision in that stream.
    #[prost(uint64, tag = "2")]
    pub revision: u64,
    /// The backend's clock when it committed the event, microseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub recorded_at_us: i64,
    /// readnet's `EventMetadata` bytes, as given to the store.
    #[prost(bytes = "vec", tag = "4")]
    pub metadata: Vec<u8>,
    /// Set on the last event of one `append_multi`: on connect, the events after the previous
    /// mark are the last append, whose links are written again.
    #[prost(bool, tag = "5")]
    pub append_end: bool,
}

/// The link event (type `$>`) that shows journal revision `journal_revision` in its stream.
///
/// Its id is derived from the event's id, so writing the same link twice is an idempotent retry.
pub(crate) fn link(journal: &str, journal_revision: u64, event_id: Uuid) -> kurrentdb::EventData {
    kurrentdb::EventData::binary("$>", Bytes::from(format!("{journal_revision}@{journal}")))
        .id(link_id(event_id))
}

/// The deterministic id of an event's link.
pub(crate) fn link_id(event_id: Uuid) -> Uuid {
    Uuid::new_v5(&event_id, b"readnet-link")
}

/// The KurrentDB event for one readnet event.
pub(crate) fn journal_event(
    event: EventData,
    envelope: &Envelope,
) -> Result<kurrentdb::EventData, StoreError> {
    let metadata = Bytes::from(envelope.encode_to_vec());
    let data = match event.content_type {
        ContentType::Binary => kurrentdb::EventData::binary(&event.event_type, event.data),
        // The client only marks data as JSON through serde; a raw value is written verbatim,
        // so the bytes stay exactly the caller's.
        ContentType::Json => {
            let text = String::from_utf8(event.data.to_vec())
                .ok()
                .and_then(|text| serde_json::value::RawValue::from_string(text).ok())
                .ok_or_else(|| {
                    StoreError::InvalidArgument(format!(
                        "event {} declares JSON content but its data is not valid JSON \
                         (KurrentDB keeps JSON events as JSON)",
                        event.event_id
                    ))
                })?;
            kurrentdb::EventData::json(&event.event_type, &text).map_err(|e| {
                StoreError::InvalidArgument(format!("event {}: {e}", event.event_id))
            })?
        }
    };
    Ok(data.id(event.event_id).metadata(metadata))
}

/// The readnet event a journal event holds. `journal` names the stream for error messages.
pub(crate) fn recorded_event(
    journal: &str,
    event: &kurrentdb::RecordedEvent,
) -> Result<(RecordedEvent, bool), StoreError> {
    let envelope = Envelope::decode(event.custom_metadata.as_ref()).map_err(|e| {
        StoreError::Backend(format!(
            "event {} at revision {} of {journal} has no readnet envelope in its metadata ({e}); \
             only readnet writes to its journal",
            event.id, event.revision
        ))
    })?;
    if envelope.stream.is_empty() {
        return Err(StoreError::Backend(format!(
            "event {} at revision {} of {journal} names no stream in its envelope",
            event.id, event.revision
        )));
    }
    let recorded = RecordedEvent {
        stream: envelope.stream,
        revision: Revision::new(envelope.revision),
        position: Position::new(event.revision + 1),
        event_id: event.id,
        event_type: event.event_type.clone(),
        content_type: if event.is_json {
            ContentType::Json
        } else {
            ContentType::Binary
        },
        recorded_at_us: envelope.recorded_at_us,
        metadata: envelope.metadata.into(),
        data: event.data.clone(),
    };
    Ok((recorded, envelope.append_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_id_is_stable_and_differs_from_the_event_id() {
        let id = Uuid::from_u128(42);
        assert_eq!(link_id(id), link_id(id));
        assert_ne!(link_id(id), id);
    }

    #[test]
    fn json_data_that_is_not_json_is_refused_naming_the_event() {
        let event = EventData {
            event_id: Uuid::from_u128(7),
            event_type: "T".into(),
            content_type: ContentType::Json,
            metadata: Bytes::new(),
            data: Bytes::from_static(b"{not json"),
        };
        let error = journal_event(event, &Envelope::default()).unwrap_err();
        assert!(
            error.to_string().contains(&Uuid::from_u128(7).to_string()),
            "{error}"
        );
    }
}
