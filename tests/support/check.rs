//! Assertions on gRPC answers, receipts and events.

use std::fmt::Debug;

use chrono::{DateTime, Utc};
use readnet_proto::v1::{CommandReceipt, RecordedEvent, event::Payload};
use tonic::{Code, Status};

/// The payload of an event as a given variant, or a panic naming what it was.
#[macro_export]
macro_rules! payload {
    ($event:expr, $variant:ident) => {
        match $event.event.as_ref().and_then(|e| e.payload.as_ref()) {
            Some($crate::v1::event::Payload::$variant(p)) => p,
            other => panic!(
                concat!("expected a ", stringify!($variant), " event, got {:?}"),
                other
            ),
        }
    };
}

/// The payload of a recorded event.
pub fn payload_of(event: &RecordedEvent) -> &Payload {
    event
        .event
        .as_ref()
        .and_then(|e| e.payload.as_ref())
        .unwrap_or_else(|| panic!("event at position {} has no payload", event.position))
}

/// The event types of a receipt, in order.
pub fn event_types(receipt: &CommandReceipt) -> Vec<&str> {
    receipt
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect()
}

/// The one event of `event_type` in the receipt.
pub fn only_event<'a>(receipt: &'a CommandReceipt, event_type: &str) -> &'a RecordedEvent {
    let found: Vec<_> = receipt
        .events
        .iter()
        .filter(|e| e.event_type == event_type)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {event_type} in the receipt, got {:?}",
        event_types(receipt)
    );
    found[0]
}

/// Unwraps an accepted command, or fails naming the command and the status.
#[track_caller]
pub fn accepted<T>(answer: Result<T, Status>, what: &str) -> T {
    match answer {
        Ok(value) => value,
        Err(status) => panic!(
            "{what}: expected OK, got {:?}: {}",
            status.code(),
            status.message()
        ),
    }
}

/// Asserts a refusal with `code` whose message contains `needle`; returns the message.
#[track_caller]
pub fn refused<T: Debug>(
    answer: Result<T, Status>,
    code: Code,
    needle: &str,
    what: &str,
) -> String {
    match answer {
        Ok(value) => panic!("{what}: expected {code:?} mentioning {needle:?}, got OK: {value:?}"),
        Err(status) => {
            assert_eq!(
                status.code(),
                code,
                "{what}: wrong status code; message: {}",
                status.message()
            );
            assert!(
                status.message().contains(needle),
                "{what}: the {code:?} message should mention {needle:?}: {}",
                status.message()
            );
            status.message().to_owned()
        }
    }
}

/// Asserts INVALID_ARGUMENT whose message starts with the field's name (`field:`).
#[track_caller]
pub fn invalid_field<T: Debug>(answer: Result<T, Status>, field: &str, what: &str) -> String {
    let message = refused(answer, Code::InvalidArgument, field, what);
    assert!(
        message.starts_with(field),
        "{what}: the message should start with the field name {field:?}: {message}"
    );
    message
}

/// A protobuf timestamp as microseconds since the epoch.
pub fn micros(ts: Option<&prost_types::Timestamp>) -> i64 {
    let ts = ts.expect("a timestamp");
    ts.seconds * 1_000_000 + i64::from(ts.nanos) / 1000
}

/// A protobuf timestamp as a chrono instant.
pub fn instant(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros(ts)).expect("a representable instant")
}

/// A chrono instant as a protobuf timestamp.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Positions of a receipt's events: consecutive, and the receipt's position is the last.
#[track_caller]
pub fn receipt_positions(receipt: &CommandReceipt) -> Vec<u64> {
    let positions: Vec<u64> = receipt.events.iter().map(|e| e.position).collect();
    assert!(!positions.is_empty(), "an accepted command writes events");
    assert!(
        positions.windows(2).all(|w| w[1] == w[0] + 1),
        "a command's events take consecutive positions: {positions:?}"
    );
    assert_eq!(
        receipt.position,
        *positions.last().expect("non-empty"),
        "a receipt's position is its last event's"
    );
    positions
}
