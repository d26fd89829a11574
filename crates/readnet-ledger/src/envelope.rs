//! The event envelope: what the store keeps of a ledger event besides its payload, encoded and
//! decoded here and nowhere else.
//!
//! A stored ledger event is an event type (the payload's message name), the payload's protobuf
//! bytes, and [`pb::EventMetadata`]: when it happened (desk time), the acting library, the
//! channel, the command id and correlation id, the schema version, and on a command's first
//! event the request digest. The store adds the event id, stream, revision, position and
//! `recorded_at`. Old events are never rewritten: [`decode`] upcasts older schema versions
//! through [`codec::decode`].

use chrono::{DateTime, TimeZone, Utc};
use readnet_domain::pb::{self, Channel};
use readnet_domain::{Payload, codec};
use readnet_store::{ContentType, EventData, Position, RecordedEvent, Revision};
use uuid::Uuid;

/// A stored ledger event decoded: its place in the log, its envelope and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectedEvent {
    /// Position in `$all` (dense, from 1).
    pub position: Position,
    pub stream: String,
    pub revision: Revision,
    pub event_id: Uuid,
    /// When it happened at the desk, kiosk or booth.
    pub occurred_at: DateTime<Utc>,
    /// When the ledger recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The acting library, empty for network administration.
    pub acting_library: String,
    pub channel: Channel,
    pub command_id: Option<Uuid>,
    /// The correlation id the client sent with the command, if any.
    pub correlation_id: Option<Uuid>,
    /// The principal whose credential the command came with; empty for the server's own acts.
    pub principal: String,
    pub payload: Payload,
}

/// A stored event that is not a readable readnet event.
#[derive(Debug, thiserror::Error)]
#[error("event at position {position} is unreadable: {source}")]
pub struct DecodeError {
    pub position: Position,
    #[source]
    pub source: codec::CodecError,
}

/// Who recorded an event, when, through what, and for which command.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub occurred_at: DateTime<Utc>,
    /// The acting library; empty for the system's own acts.
    pub acting_library: &'a str,
    pub channel: Channel,
    pub command_id: Option<Uuid>,
    pub correlation_id: Option<Uuid>,
    /// Kept on a command's first event only: tells a retry of the command id from a reuse.
    pub command_digest: Option<&'a [u8; 32]>,
    /// The principal that gave the command; empty for the server's own acts.
    pub principal: &'a str,
}

/// The id of a command's `index`-th event. Derived from the command id, so that the store
/// recognises a replayed append as a retry.
pub fn event_id(command_id: Uuid, index: u32) -> Uuid {
    Uuid::new_v5(&command_id, &index.to_be_bytes())
}

/// An event as the store keeps it.
pub fn encode(envelope: &Envelope<'_>, event_id: Uuid, payload: &Payload) -> EventData {
    let metadata = pb::EventMetadata {
        occurred_at_us: envelope.occurred_at.timestamp_micros(),
        acting_library: envelope.acting_library.to_owned(),
        channel: envelope.channel as i32,
        command_id: uuid_bytes(envelope.command_id),
        correlation_id: uuid_bytes(envelope.correlation_id),
        schema_version: codec::CURRENT_SCHEMA_VERSION,
        command_digest: envelope
            .command_digest
            .map(|d| d.to_vec())
            .unwrap_or_default(),
        principal: envelope.principal.to_owned(),
    };
    EventData {
        event_id,
        event_type: codec::event_type(payload).to_owned(),
        content_type: ContentType::Binary,
        metadata: codec::encode_metadata(&metadata).into(),
        data: codec::encode(payload).into(),
    }
}

/// A decided event (from a [`crate::history::History`]) as the store keeps it, with its own
/// event id.
pub fn encode_decided(event: &ProjectedEvent) -> EventData {
    let envelope = Envelope {
        occurred_at: event.occurred_at,
        acting_library: &event.acting_library,
        channel: event.channel,
        command_id: event.command_id,
        correlation_id: event.correlation_id,
        command_digest: None,
        principal: &event.principal,
    };
    encode(&envelope, event.event_id, &event.payload)
}

fn uuid_bytes(id: Option<Uuid>) -> Vec<u8> {
    id.map(|u| u.as_bytes().to_vec()).unwrap_or_default()
}

fn instant(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Decodes a stored event (metadata and payload, upcast to the current schema).
pub fn decode(event: &RecordedEvent) -> Result<ProjectedEvent, DecodeError> {
    decode_with_digest(event).map(|(event, _)| event)
}

/// Decodes a stored event and the request digest its command left on its first event.
pub fn decode_with_digest(
    event: &RecordedEvent,
) -> Result<(ProjectedEvent, Option<[u8; 32]>), DecodeError> {
    let error = |source| DecodeError {
        position: event.position,
        source,
    };
    let metadata = codec::decode_metadata(&event.metadata).map_err(error)?;
    let payload =
        codec::decode(&event.event_type, metadata.schema_version, &event.data).map_err(error)?;
    let digest = <[u8; 32]>::try_from(metadata.command_digest.as_slice()).ok();
    let decoded = ProjectedEvent {
        position: event.position,
        stream: event.stream.clone(),
        revision: event.revision,
        event_id: event.event_id,
        occurred_at: instant(metadata.occurred_at_us),
        recorded_at: instant(event.recorded_at_us),
        acting_library: metadata.acting_library,
        channel: Channel::try_from(metadata.channel).unwrap_or_default(),
        command_id: Uuid::from_slice(&metadata.command_id).ok(),
        correlation_id: Uuid::from_slice(&metadata.correlation_id).ok(),
        principal: metadata.principal,
        payload,
    };
    Ok((decoded, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(data: EventData, position: u64, recorded_at_us: i64) -> RecordedEvent {
        RecordedEvent {
            stream: "network".into(),
            revision: Revision::FIRST,
            position: Position::new(position),
            event_id: data.event_id,
            event_type: data.event_type,
            content_type: data.content_type,
            recorded_at_us,
            metadata: data.metadata,
            data: data.data,
        }
    }

    #[test]
    fn an_envelope_round_trips_with_its_digest() {
        let command_id = Uuid::from_u128(7);
        let correlation_id = Uuid::from_u128(9);
        let digest = [3u8; 32];
        let at = Utc.with_ymd_and_hms(2026, 11, 2, 2, 0, 0).unwrap();
        let payload = Payload::CityJoined(pb::CityJoined {
            city: "jinan".into(),
            name: "Jinan".into(),
            time_zone: "Asia/Shanghai".into(),
        });
        let envelope = Envelope {
            occurred_at: at,
            acting_library: "JN-CENTRAL",
            channel: Channel::Desk,
            command_id: Some(command_id),
            correlation_id: Some(correlation_id),
            command_digest: Some(&digest),
            principal: "desk-jn",
        };
        let data = encode(&envelope, event_id(command_id, 0), &payload);
        assert_eq!(data.event_type, "CityJoined");
        let (event, read_digest) =
            decode_with_digest(&recorded(data, 5, at.timestamp_micros() + 1)).unwrap();
        assert_eq!(read_digest, Some(digest));
        assert_eq!(event.position, Position::new(5));
        assert_eq!(event.occurred_at, at);
        assert_eq!(event.acting_library, "JN-CENTRAL");
        assert_eq!(event.channel, Channel::Desk);
        assert_eq!(event.command_id, Some(command_id));
        assert_eq!(event.correlation_id, Some(correlation_id));
        assert_eq!(event.principal, "desk-jn");
        assert_eq!(event.event_id, event_id(command_id, 0));
        assert_eq!(event.payload, payload);
    }

    #[test]
    fn a_decided_event_keeps_its_correlation_id_and_carries_no_digest() {
        let at = Utc.with_ymd_and_hms(2026, 11, 2, 2, 0, 0).unwrap();
        let event = ProjectedEvent {
            position: Position::FIRST,
            stream: "network".into(),
            revision: Revision::FIRST,
            event_id: Uuid::from_u128(1),
            occurred_at: at,
            recorded_at: at,
            acting_library: String::new(),
            channel: Channel::System,
            command_id: Some(Uuid::from_u128(2)),
            correlation_id: Some(Uuid::from_u128(3)),
            principal: "clerk".to_owned(),
            payload: Payload::CityJoined(pb::CityJoined::default()),
        };
        let (read, digest) =
            decode_with_digest(&recorded(encode_decided(&event), 1, at.timestamp_micros()))
                .unwrap();
        assert_eq!(read, event);
        assert_eq!(digest, None);
    }

    #[test]
    fn a_payload_that_does_not_decode_is_an_error_naming_its_position() {
        let mut data = encode(
            &Envelope {
                occurred_at: Utc.timestamp_micros(0).unwrap(),
                acting_library: "",
                channel: Channel::System,
                command_id: None,
                correlation_id: None,
                command_digest: None,
                principal: "",
            },
            Uuid::from_u128(1),
            &Payload::CityJoined(pb::CityJoined::default()),
        );
        data.data = vec![0xff, 0xff].into();
        let error = decode(&recorded(data, 42, 0)).unwrap_err();
        assert_eq!(error.position, Position::new(42));
    }
}
