//! Between KurrentDB's protocol messages and readnet's store types.

use std::collections::HashMap;

use readnet_proto::kurrentdb::shared::{self, StreamIdentifier};
use readnet_proto::kurrentdb::streams::read_resp::read_event;
use readnet_store::{ContentType, EventData, MAX_STREAM_NAME_BYTES, RecordedEvent, Revision};

use super::error::{EndpointError, quote};

/// The event type of a KurrentDB link event; its data is `"<revision>@<stream>"`.
pub(crate) const LINK_EVENT_TYPE: &str = "$>";

/// A stream name from a stream identifier; `field` names the field in the error.
pub(crate) fn stream_name(
    identifier: Option<StreamIdentifier>,
    field: &str,
) -> Result<String, EndpointError> {
    let bytes = identifier
        .map(|identifier| identifier.stream_name)
        .unwrap_or_default();
    if bytes.is_empty() {
        return Err(EndpointError::invalid(format!(
            "{field}: a stream name is required"
        )));
    }
    if bytes.len() > MAX_STREAM_NAME_BYTES {
        return Err(EndpointError::invalid(format!(
            "{field}: the stream name {} is {} bytes long; at most {MAX_STREAM_NAME_BYTES}",
            quote(&String::from_utf8_lossy(&bytes)),
            bytes.len()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| EndpointError::invalid(format!("{field}: the stream name is not UTF-8")))
}

pub(crate) fn stream_identifier(name: &str) -> StreamIdentifier {
    StreamIdentifier {
        stream_name: name.as_bytes().to_vec(),
    }
}

/// An event id as a client sent it: structured (two big-endian halves) or a string.
pub(crate) fn event_id(id: Option<shared::Uuid>) -> Result<uuid::Uuid, EndpointError> {
    match id.and_then(|id| id.value) {
        Some(shared::uuid::Value::Structured(halves)) => Ok(uuid::Uuid::from_u128(
            (u128::from(halves.most_significant_bits as u64) << 64)
                | u128::from(halves.least_significant_bits as u64),
        )),
        Some(shared::uuid::Value::String(text)) => text
            .parse()
            .map_err(|_| EndpointError::invalid(format!("id: {} is not a UUID", quote(&text)))),
        None => Err(EndpointError::invalid(
            "id: every proposed message needs an event id (structured or string UUID)",
        )),
    }
}

/// An id in the form the read asked for (`uuid_option`).
pub(crate) fn proto_uuid(id: uuid::Uuid, structured: bool) -> shared::Uuid {
    let value = if structured {
        let bits = id.as_u128();
        shared::uuid::Value::Structured(shared::uuid::Structured {
            most_significant_bits: (bits >> 64) as u64 as i64,
            least_significant_bits: bits as u64 as i64,
        })
    } else {
        shared::uuid::Value::String(id.to_string())
    };
    shared::Uuid { value: Some(value) }
}

/// A proposed message (Append or BatchAppend) as an event to store. KurrentDB requires the
/// `type` and `content-type` metadata entries; any content type but JSON is stored as binary,
/// as KurrentDB keeps only its is-json flag.
pub(crate) fn event_data(
    id: Option<shared::Uuid>,
    mut metadata: HashMap<String, String>,
    custom_metadata: Vec<u8>,
    data: Vec<u8>,
) -> Result<EventData, EndpointError> {
    let event_id = event_id(id)?;
    let missing = |property| EndpointError::MissingMetadata {
        event_id: event_id.to_string(),
        property,
    };
    let event_type = metadata.remove("type").ok_or_else(|| missing("type"))?;
    if event_type.is_empty() {
        return Err(EndpointError::invalid(format!(
            "proposed message {event_id}: metadata \"type\" is empty; every event needs a type"
        )));
    }
    let content_type = match metadata
        .remove("content-type")
        .ok_or_else(|| missing("content-type"))?
        .as_str()
    {
        "application/json" => ContentType::Json,
        _ => ContentType::Binary,
    };
    Ok(EventData {
        event_id,
        event_type,
        content_type,
        metadata: custom_metadata.into(),
        data: data.into(),
    })
}

/// The bytes an event adds to an append to `stream`, for the maximum append size: its data,
/// custom metadata and type, and the stream name, which the store writes again in every record.
pub(crate) fn event_size(stream: &str, event: &EventData) -> u64 {
    (event.data.len() + event.metadata.len() + event.event_type.len() + stream.len()) as u64
}

/// A stored event as KurrentDB sends it. `created` is in 100 ns ticks since the Unix epoch.
pub(crate) fn recorded_event(
    event: &RecordedEvent,
    structured_ids: bool,
) -> read_event::RecordedEvent {
    let metadata = HashMap::from([
        ("type".to_owned(), event.event_type.clone()),
        (
            "content-type".to_owned(),
            event.content_type.mime().to_owned(),
        ),
        (
            "created".to_owned(),
            (i128::from(event.recorded_at_us) * 10).to_string(),
        ),
    ]);
    read_event::RecordedEvent {
        id: Some(proto_uuid(event.event_id, structured_ids)),
        stream_identifier: Some(stream_identifier(&event.stream)),
        stream_revision: event.revision.get(),
        prepare_position: event.position.get(),
        commit_position: event.position.get(),
        metadata,
        custom_metadata: event.metadata.to_vec(),
        data: event.data.to_vec(),
    }
}

/// The target of a link event (`$>` with data `"<revision>@<stream>"`), if `event` is one.
pub(crate) fn link_target(event: &RecordedEvent) -> Option<(Revision, String)> {
    if event.event_type != LINK_EVENT_TYPE {
        return None;
    }
    let text = std::str::from_utf8(&event.data).ok()?;
    let (revision, stream) = text.split_once('@')?;
    Some((
        Revision::new(revision.trim().parse().ok()?),
        stream.to_owned(),
    ))
}

pub(crate) fn timestamp(now: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: now.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(event_type: &str, data: &[u8]) -> RecordedEvent {
        RecordedEvent {
            stream: "s".into(),
            revision: Revision::FIRST,
            position: readnet_store::Position::FIRST,
            event_id: uuid::Uuid::nil(),
            event_type: event_type.into(),
            content_type: ContentType::Binary,
            recorded_at_us: 1_700_000_000_123_456,
            metadata: vec![].into(),
            data: data.to_vec().into(),
        }
    }

    #[test]
    fn a_stream_name_over_the_cap_is_refused_naming_the_field_and_the_cap() {
        let name = "n".repeat(MAX_STREAM_NAME_BYTES);
        assert_eq!(
            stream_name(Some(stream_identifier(&name)), "options.stream_identifier").unwrap(),
            name
        );
        let long = "n".repeat(64 * 1024);
        let error = stream_name(Some(stream_identifier(&long)), "options.stream_identifier")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("options.stream_identifier: the stream name \"nnn"),
            "{error}"
        );
        assert!(
            error.ends_with("is 65536 bytes long; at most 1024"),
            "{error}"
        );
        assert!(error.len() < 200, "the name is not quoted whole: {error}");
    }

    #[test]
    fn an_append_counts_the_stream_name_once_per_event() {
        let stream = "n".repeat(MAX_STREAM_NAME_BYTES);
        let (mut events, mut bytes) = (Vec::new(), 0u64);
        let empty = || EventData {
            event_id: uuid::Uuid::new_v4(),
            event_type: "t".into(),
            content_type: ContentType::Binary,
            metadata: vec![].into(),
            data: vec![].into(),
        };
        for _ in 0..500 {
            crate::append::push_bounded(&stream, &mut events, &mut bytes, empty()).unwrap();
        }
        assert_eq!(bytes, 500 * (MAX_STREAM_NAME_BYTES as u64 + 1));
        // Empty events to a long name reach the maximum append size too.
        let per_event = MAX_STREAM_NAME_BYTES as u64 + 1;
        let fit = crate::MAX_APPEND_BYTES / per_event;
        let (mut events, mut bytes) = (Vec::new(), 0u64);
        for _ in 0..fit {
            crate::append::push_bounded(&stream, &mut events, &mut bytes, empty()).unwrap();
        }
        let error =
            crate::append::push_bounded(&stream, &mut events, &mut bytes, empty()).unwrap_err();
        assert!(matches!(error, EndpointError::AppendTooLarge { .. }));
    }

    #[test]
    fn structured_ids_round_trip_as_the_rust_client_writes_them() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(event_id(Some(proto_uuid(id, true))).unwrap(), id);
        assert_eq!(event_id(Some(proto_uuid(id, false))).unwrap(), id);
    }

    #[test]
    fn created_is_in_100ns_ticks_since_the_unix_epoch() {
        let event = recorded_event(&stored("t", b""), false);
        assert_eq!(event.metadata["created"], "17000000001234560");
        assert_eq!(event.metadata["content-type"], "application/octet-stream");
    }

    #[test]
    fn a_link_names_its_target_revision_and_stream() {
        assert_eq!(
            link_target(&stored("$>", b"7@orders-1@x")),
            Some((Revision::new(7), "orders-1@x".into()))
        );
        assert_eq!(link_target(&stored("$>", b"seven@orders")), None);
        assert_eq!(link_target(&stored("t", b"7@orders")), None);
    }

    #[test]
    fn a_proposed_message_without_a_type_is_refused_naming_the_property() {
        let error = event_data(
            Some(proto_uuid(uuid::Uuid::nil(), false)),
            HashMap::from([("content-type".into(), "application/json".into())]),
            vec![],
            vec![],
        )
        .unwrap_err();
        assert!(error.to_string().contains("\"type\""), "{error}");
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
    }
}
