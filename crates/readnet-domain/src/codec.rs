//! Events to and from what the store keeps: an event type (the payload's message name), the
//! payload's protobuf bytes, and [`pb::EventMetadata`] bytes.
//!
//! Old events are never rewritten. When a payload's meaning changes, the writer bumps
//! [`CURRENT_SCHEMA_VERSION`] for that type and [`decode`] upcasts older versions here, so every
//! reader (server, projections, replay) sees current events only.

use prost::Message;

use crate::{Payload, pb};

/// The schema version written today for every event type.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// A stored event that cannot be read as a readnet event.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error(
        "event type {event_type} has schema version {version}, newer than this build reads ({CURRENT_SCHEMA_VERSION})"
    )]
    FutureVersion { event_type: String, version: u32 },
    #[error("{what} does not decode: {source}")]
    Decode {
        what: String,
        #[source]
        source: prost::DecodeError,
    },
}

macro_rules! payload_codec {
    ($($variant:ident),* $(,)?) => {
        /// The event type of a payload: its message name.
        pub fn event_type(payload: &Payload) -> &'static str {
            match payload {
                $(Payload::$variant(_) => stringify!($variant),)*
            }
        }

        /// The payload's protobuf bytes.
        pub fn encode(payload: &Payload) -> Vec<u8> {
            match payload {
                $(Payload::$variant(e) => e.encode_to_vec(),)*
            }
        }

        fn decode_current(event_type: &str, data: &[u8]) -> Result<Payload, CodecError> {
            let decode_error = |source| CodecError::Decode { what: format!("{event_type} payload"), source };
            match event_type {
                $(stringify!($variant) => pb::$variant::decode(data).map(Payload::$variant).map_err(decode_error),)*
                other => Err(CodecError::UnknownType(other.to_owned())),
            }
        }
    };
}

payload_codec!(
    CityJoined,
    LibraryRegistered,
    LibraryClosed,
    ReturnPolicySet,
    TariffSet,
    PatronEnrolled,
    PatronTierChanged,
    ItemCatalogued,
    ItemLoaned,
    ItemRenewed,
    ItemReturned,
    TransferDispatched,
    TransferReceived,
    BoothSwapped,
    ItemDeclaredLost,
    LostItemPaid,
    LostItemDebtWaived,
    ItemWithdrawn,
    SettlementPeriodClosed,
);

/// Decodes a stored payload of `event_type` written at `schema_version`, upcasting it to the
/// current schema. Version 0 means "not recorded" and is read as version 1.
pub fn decode(event_type: &str, schema_version: u32, data: &[u8]) -> Result<Payload, CodecError> {
    match schema_version {
        0 | CURRENT_SCHEMA_VERSION => decode_current(event_type, data),
        // Upcasters for retired versions go here, each turning version n into n + 1.
        version => Err(CodecError::FutureVersion {
            event_type: event_type.to_owned(),
            version,
        }),
    }
}

/// The metadata's bytes.
pub fn encode_metadata(metadata: &pb::EventMetadata) -> Vec<u8> {
    metadata.encode_to_vec()
}

/// Reads stored metadata.
pub fn decode_metadata(bytes: &[u8]) -> Result<pb::EventMetadata, CodecError> {
    pb::EventMetadata::decode(bytes).map_err(|source| CodecError::Decode {
        what: "event metadata".to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_through_type_and_bytes() {
        let payload = Payload::ItemLoaned(pb::ItemLoaned {
            item: "ZB-000123".into(),
            patron_id: "p".into(),
            library: "ZB-CENTRAL".into(),
            due_at_us: 1_800_000_000_000_000,
            patron_home_city: "jinan".into(),
            owner_library: "ZB-CENTRAL".into(),
        });
        let bytes = encode(&payload);
        assert_eq!(event_type(&payload), "ItemLoaned");
        assert_eq!(decode("ItemLoaned", 1, &bytes).unwrap(), payload);
        assert_eq!(decode("ItemLoaned", 0, &bytes).unwrap(), payload);
    }

    #[test]
    fn unknown_types_and_future_versions_are_errors_not_data() {
        assert!(matches!(
            decode("ItemTeleported", 1, &[]),
            Err(CodecError::UnknownType(_))
        ));
        assert!(matches!(
            decode("ItemLoaned", 2, &[]),
            Err(CodecError::FutureVersion { .. })
        ));
        assert!(matches!(
            decode("ItemLoaned", 1, &[0xff, 0xff]),
            Err(CodecError::Decode { .. })
        ));
    }
}
