//! Events to and from what the store keeps: an event type (the payload's message name), the
//! payload's protobuf bytes, and [`pb::EventMetadata`] bytes.
//!
//! # Upcasting
//!
//! Old events are never rewritten. Every event is stored with the schema version it was written
//! at ([`CURRENT_SCHEMA_VERSION`] when it was written; 0, from before versions were recorded,
//! reads as 1). [`decode`] brings a stored payload up to the current version one step at a time,
//! through [`UPCASTERS`], and only then decodes it, so every reader (server, projections,
//! replay, export) sees current events only. A version newer than this build's is refused, and so
//! is a step missing from the table: neither is ever guessed at or skipped.
//!
//! The rule for changing what an event means, from version `n` to `n + 1`:
//!
//! 1. Bump [`CURRENT_SCHEMA_VERSION`] to `n + 1`. It is one version for the whole stored schema,
//!    written beside every event, so the step is taken by every event type.
//! 2. Add to [`UPCASTERS`] one entry keyed `(event type, n)` for **every** event type: an
//!    [`Upcast::Rewrite`] that turns version `n`'s bytes into version `n + 1`'s for the types whose
//!    meaning changed, [`Upcast::Unchanged`] for the others. The test
//!    `upcasters_cover_every_type_up_to_the_current_version` fails until every type has its step.
//! 3. Never edit or remove an entry once released: events written at `n` stay in logs for ever.
//!    A rewrite reads only the bytes it is given (no state, no clock), so a replay folds the same
//!    history every time.

use std::borrow::Cow;

use prost::Message;

use crate::{Payload, pb};

/// The schema version written today beside every event.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// How one event type's payload goes from a schema version to the next.
#[derive(Debug, Clone, Copy)]
pub enum Upcast {
    /// The payload means the same at the next version: its bytes pass as they are.
    Unchanged,
    /// Rewrites a payload written at the version as the next version's bytes.
    Rewrite(fn(&[u8]) -> Result<Vec<u8>, CodecError>),
}

/// One step in [`UPCASTERS`]: `event_type`'s payloads written at `from_version` become
/// `from_version + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Upcaster {
    pub event_type: &'static str,
    pub from_version: u32,
    pub upcast: Upcast,
}

/// Every upcasting step, keyed by event type and the version it starts from. Empty: no event's
/// meaning has changed since version 1.
pub const UPCASTERS: &[Upcaster] = &[];

/// A stored event that cannot be read as a readnet event.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error(
        "event type {event_type} has schema version {version}, newer than this build reads ({readable})"
    )]
    FutureVersion {
        event_type: String,
        version: u32,
        readable: u32,
    },
    #[error("event type {event_type} has no upcaster from schema version {version}")]
    NoUpcaster { event_type: String, version: u32 },
    /// A number this build has no meaning for: an enum value it does not know, a time out of
    /// range.
    #[error("{what} is {value}, which this build cannot read")]
    UnknownValue { what: String, value: i64 },
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

        /// Every event type, for the test that the upcasters cover them all.
        #[cfg(test)]
        const EVENT_TYPES: &[&str] = &[$(stringify!($variant)),*];
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
    PrincipalAdded,
    PrincipalChanged,
    PrincipalRevoked,
    TokenIssued,
    CommandRefused,
    LibraryRolesSet,
    HoldPlaced,
    HoldAssigned,
    HoldReady,
    HoldFilled,
    HoldReleased,
    HoldEnded,
    LibraryMoved,
    LibraryRenamed,
    LibraryTierChanged,
    CalendarSet,
    LibraryClosedTemporarily,
    LibraryReopened,
    LoanExtended,
    ClockTicked,
    NoticesAcknowledged,
    AcquisitionBudgetSet,
    AcquisitionPolicySet,
    BookstorePartnerRegistered,
    PatronDrivenPurchaseRecorded,
    EResourceLicensed,
    DigitalLoaned,
    DigitalLoanEnded,
    PatronForgotten,
    FootfallReported,
);

/// Decodes a stored payload of `event_type` written at `schema_version`, upcasting it to the
/// current schema. Version 0 means "not recorded" and is read as version 1.
pub fn decode(event_type: &str, schema_version: u32, data: &[u8]) -> Result<Payload, CodecError> {
    decode_through(
        UPCASTERS,
        CURRENT_SCHEMA_VERSION,
        event_type,
        schema_version,
        data,
    )
}

/// [`decode`] with the table and the current version given, so the loop is tested on versions
/// production has not reached.
fn decode_through(
    upcasters: &[Upcaster],
    current_version: u32,
    event_type: &str,
    schema_version: u32,
    data: &[u8],
) -> Result<Payload, CodecError> {
    let mut version = schema_version.max(1);
    if version > current_version {
        return Err(CodecError::FutureVersion {
            event_type: event_type.to_owned(),
            version,
            readable: current_version,
        });
    }
    let mut bytes = Cow::Borrowed(data);
    while version < current_version {
        let step = upcasters
            .iter()
            .find(|u| u.event_type == event_type && u.from_version == version)
            .ok_or_else(|| CodecError::NoUpcaster {
                event_type: event_type.to_owned(),
                version,
            })?;
        if let Upcast::Rewrite(rewrite) = step.upcast {
            bytes = Cow::Owned(rewrite(&bytes)?);
        }
        version += 1;
    }
    decode_current(event_type, &bytes)
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

    fn loan() -> pb::ItemLoaned {
        pb::ItemLoaned {
            item: "ZB-000123".into(),
            patron_id: "p".into(),
            library: "ZB-CENTRAL".into(),
            due_at_us: 1_800_000_000_000_000,
            patron_home_city: "jinan".into(),
            owner_library: "ZB-CENTRAL".into(),
        }
    }

    #[test]
    fn payload_round_trips_through_type_and_bytes() {
        let payload = Payload::ItemLoaned(loan());
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

    /// What is wrong with `upcasters` as the table for `current_version`: a step an event type
    /// lacks, a step for a type that does not exist, a step that can never be taken.
    fn table_problems(upcasters: &[Upcaster], current_version: u32) -> Vec<String> {
        let mut problems = Vec::new();
        for event_type in EVENT_TYPES {
            for version in 1..current_version {
                if !upcasters
                    .iter()
                    .any(|u| u.event_type == *event_type && u.from_version == version)
                {
                    problems.push(format!(
                        "{event_type} has no upcaster from version {version}"
                    ));
                }
            }
        }
        for upcaster in upcasters {
            if !EVENT_TYPES.contains(&upcaster.event_type) {
                problems.push(format!(
                    "an upcaster for unknown type {}",
                    upcaster.event_type
                ));
            }
            if !(1..current_version).contains(&upcaster.from_version) {
                problems.push(format!(
                    "{} has an upcaster from version {}, outside 1..{current_version}",
                    upcaster.event_type, upcaster.from_version
                ));
            }
        }
        problems
    }

    #[test]
    fn upcasters_cover_every_type_up_to_the_current_version() {
        assert_eq!(
            table_problems(UPCASTERS, CURRENT_SCHEMA_VERSION),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_table_missing_a_type_or_with_a_stray_step_is_caught() {
        let problems = table_problems(TEST_UPCASTERS, TEST_VERSION);
        assert!(problems.contains(&"ItemReturned has no upcaster from version 1".to_owned()));
        assert!(problems.contains(&"ItemReturned has no upcaster from version 2".to_owned()));
        assert!(!problems.iter().any(|p| p.starts_with("ItemLoaned ")));
        assert!(!problems.iter().any(|p| p.starts_with("ItemRenewed ")));

        let stray = [Upcaster {
            event_type: "ItemTeleported",
            from_version: 1,
            upcast: Upcast::Unchanged,
        }];
        assert_eq!(
            table_problems(&stray, 1),
            [
                "an upcaster for unknown type ItemTeleported",
                "ItemTeleported has an upcaster from version 1, outside 1..1",
            ]
        );
    }

    // A fictional history of `ItemLoaned`, to drive the upcasting loop past version 1:
    // - version 1 kept `due_at_us` (field 4) in seconds; version 2 keeps microseconds;
    // - version 2 left `owner_library` empty when the lending library owned the item; version 3
    //   always names the owner.
    // `ItemRenewed` did not change; `ItemReturned` has (wrongly) no steps at all.
    const TEST_VERSION: u32 = 3;

    fn due_at_seconds_to_micros(v1: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut loan = decode_test_loan(v1)?;
        loan.due_at_us *= 1_000_000;
        Ok(loan.encode_to_vec())
    }

    fn owner_defaults_to_lender(v2: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut loan = decode_test_loan(v2)?;
        if loan.owner_library.is_empty() {
            loan.owner_library = loan.library.clone();
        }
        Ok(loan.encode_to_vec())
    }

    fn decode_test_loan(bytes: &[u8]) -> Result<pb::ItemLoaned, CodecError> {
        pb::ItemLoaned::decode(bytes).map_err(|source| CodecError::Decode {
            what: "old ItemLoaned payload".to_owned(),
            source,
        })
    }

    const TEST_UPCASTERS: &[Upcaster] = &[
        Upcaster {
            event_type: "ItemLoaned",
            from_version: 1,
            upcast: Upcast::Rewrite(due_at_seconds_to_micros),
        },
        Upcaster {
            event_type: "ItemLoaned",
            from_version: 2,
            upcast: Upcast::Rewrite(owner_defaults_to_lender),
        },
        Upcaster {
            event_type: "ItemRenewed",
            from_version: 1,
            upcast: Upcast::Unchanged,
        },
        Upcaster {
            event_type: "ItemRenewed",
            from_version: 2,
            upcast: Upcast::Unchanged,
        },
    ];

    fn decode_test(event_type: &str, version: u32, data: &[u8]) -> Result<Payload, CodecError> {
        decode_through(TEST_UPCASTERS, TEST_VERSION, event_type, version, data)
    }

    #[test]
    fn an_event_at_the_current_version_decodes_unchanged() {
        let bytes = loan().encode_to_vec();
        assert_eq!(
            decode_test("ItemLoaned", TEST_VERSION, &bytes).unwrap(),
            Payload::ItemLoaned(loan())
        );
    }

    #[test]
    fn an_old_event_goes_through_each_step_in_order() {
        let v1 = pb::ItemLoaned {
            due_at_us: 1_800_000_000,
            owner_library: String::new(),
            ..loan()
        };
        assert_eq!(
            decode_test("ItemLoaned", 1, &v1.encode_to_vec()).unwrap(),
            Payload::ItemLoaned(loan()),
            "seconds become micros (1 → 2), then the owner is filled in (2 → 3)"
        );
        // Unrecorded versions are version 1, so they take every step too.
        assert_eq!(
            decode_test("ItemLoaned", 0, &v1.encode_to_vec()).unwrap(),
            Payload::ItemLoaned(loan())
        );

        let v2 = pb::ItemLoaned {
            owner_library: String::new(),
            ..loan()
        };
        assert_eq!(
            decode_test("ItemLoaned", 2, &v2.encode_to_vec()).unwrap(),
            Payload::ItemLoaned(loan()),
            "a version 2 event starts at the second step: its micros are not multiplied again"
        );
    }

    #[test]
    fn an_unchanged_step_passes_the_bytes_through() {
        let renewed = pb::ItemRenewed {
            item: "ZB-000123".into(),
            due_at_us: 1_800_000_000_000_000,
            ..Default::default()
        };
        assert_eq!(
            decode_test("ItemRenewed", 1, &renewed.encode_to_vec()).unwrap(),
            Payload::ItemRenewed(renewed)
        );
    }

    #[test]
    fn a_missing_step_is_an_error_naming_type_and_version() {
        let returned = pb::ItemReturned {
            item: "ZB-000123".into(),
            ..Default::default()
        };
        let error = decode_test("ItemReturned", 1, &returned.encode_to_vec()).unwrap_err();
        assert!(
            matches!(&error, CodecError::NoUpcaster { event_type, version: 1 } if event_type == "ItemReturned"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "event type ItemReturned has no upcaster from schema version 1"
        );
    }

    #[test]
    fn a_future_version_is_refused() {
        let error =
            decode_test("ItemLoaned", TEST_VERSION + 1, &loan().encode_to_vec()).unwrap_err();
        assert!(
            matches!(&error, CodecError::FutureVersion { event_type, version: 4, readable: 3 } if event_type == "ItemLoaned"),
            "{error:?}"
        );
    }
}
