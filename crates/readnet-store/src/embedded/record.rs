//! The on-disk record: `[u32 LE body length][u32 LE CRC32C over (length bytes + body)][body]`,
//! the body a protobuf message.

use bytes::Bytes;
use prost::Message;
use uuid::Uuid;

use crate::{ContentType, Position, RecordedEvent, Revision};

/// Bytes of the frame header: the body length, then the CRC.
pub(crate) const HEADER_LEN: usize = 8;

/// The largest body a record may have. A length above this in a header cannot have been
/// written by the store, so it is garbage (a torn write or corruption), never an allocation.
pub(crate) const MAX_BODY_LEN: u32 = 64 * 1024 * 1024;

/// An upper bound of a body's size beyond its variable-length fields (tags, length prefixes,
/// varints, the id, the flag); used to refuse oversized events before they reach the writer.
pub(crate) const BODY_OVERHEAD_BOUND: usize = 128;

// A frame's length (header included) is a u32 wherever it is kept (index entries, headers).
const _: () = assert!(MAX_BODY_LEN as u64 + HEADER_LEN as u64 <= u32::MAX as u64);
const _: () = assert!(BODY_OVERHEAD_BOUND < MAX_BODY_LEN as usize);

/// The body of a record: one event as stored.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RecordBody {
    /// Position in `$all`; checked on every read against the position the index expects.
    #[prost(uint64, tag = "1")]
    pub position: u64,
    #[prost(string, tag = "2")]
    pub stream: String,
    #[prost(uint64, tag = "3")]
    pub revision: u64,
    /// 16 bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub event_id: Vec<u8>,
    #[prost(string, tag = "5")]
    pub event_type: String,
    #[prost(int64, tag = "6")]
    pub recorded_at_us: i64,
    #[prost(bytes = "bytes", tag = "7")]
    pub metadata: Bytes,
    #[prost(bytes = "bytes", tag = "8")]
    pub data: Bytes,
    /// Set on the last record of an append. Recovery keeps an append only if its last record
    /// made it to disk, so a crash never leaves half of an append visible.
    #[prost(bool, tag = "9")]
    pub append_end: bool,
    /// True for JSON data ([`ContentType::Json`]); absent, so free, for readnet's own events.
    #[prost(bool, tag = "10")]
    pub json: bool,
}

/// The fields of a record that recovery needs. Decoding only these skips copying the event's
/// type, metadata and data while scanning the log on open (prost skips unknown fields).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RecordHead {
    #[prost(uint64, tag = "1")]
    pub position: u64,
    #[prost(string, tag = "2")]
    pub stream: String,
    #[prost(uint64, tag = "3")]
    pub revision: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub event_id: Vec<u8>,
    #[prost(bool, tag = "9")]
    pub append_end: bool,
}

/// Appends `body` framed to `out`; returns the frame's length (header included).
pub(crate) fn encode_frame(body: &RecordBody, out: &mut Vec<u8>) -> u32 {
    let body_len = body.encoded_len();
    // The append path refuses events that could exceed this before they reach the writer.
    assert!(
        body_len <= MAX_BODY_LEN as usize,
        "record body of {body_len} bytes"
    );
    let start = out.len();
    out.reserve(HEADER_LEN + body_len);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    body.encode(out)
        .expect("a Vec grows to hold the encoded body");
    let crc = frame_crc(&out[start..start + 4], &out[start + HEADER_LEN..]);
    out[start + 4..start + HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    (HEADER_LEN + body_len) as u32
}

/// The CRC32C of a frame: over the length bytes, then the body, so a damaged length is caught
/// like damaged data.
pub(crate) fn frame_crc(length_bytes: &[u8], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(length_bytes), body)
}

/// A frame header as read from disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub body_len: u32,
    pub crc: u32,
}

impl Header {
    pub(crate) fn parse(bytes: &[u8; HEADER_LEN]) -> Header {
        Header {
            body_len: u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")),
            crc: u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")),
        }
    }

    /// Whether `body` is what this header was written with.
    pub(crate) fn matches(&self, body: &[u8]) -> bool {
        body.len() == self.body_len as usize
            && self.crc == frame_crc(&self.body_len.to_le_bytes(), body)
    }
}

/// Verifies and decodes a whole frame read at the place the index says holds `position`.
/// The event's metadata and data are slices of `frame`'s buffer, not copies.
/// The error is the reason, for [`crate::StoreError::Corrupt`].
pub(crate) fn decode_frame(frame: Bytes, position: u64) -> Result<RecordedEvent, String> {
    let header_bytes: &[u8; HEADER_LEN] =
        frame
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| format!("frame of {} bytes is shorter than a header", frame.len()))?;
    let header = Header::parse(header_bytes);
    if !header.matches(&frame[HEADER_LEN..]) {
        return Err(format!("CRC mismatch in the record of position {position}"));
    }
    let record = RecordBody::decode(frame.slice(HEADER_LEN..))
        .map_err(|e| format!("undecodable record body of position {position}: {e}"))?;
    if record.position != position {
        return Err(format!(
            "record holds position {} where the index expects {position}",
            record.position
        ));
    }
    let event_id = Uuid::from_slice(&record.event_id)
        .map_err(|_| format!("event id of position {position} is not 16 bytes"))?;
    Ok(RecordedEvent {
        stream: record.stream,
        revision: Revision::new(record.revision),
        position: Position::new(position),
        event_id,
        event_type: record.event_type,
        content_type: if record.json {
            ContentType::Json
        } else {
            ContentType::Binary
        },
        recorded_at_us: record.recorded_at_us,
        metadata: record.metadata,
        data: record.data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(position: u64) -> RecordBody {
        RecordBody {
            position,
            stream: "loans-7".into(),
            revision: 3,
            event_id: Uuid::from_u128(0x1234).as_bytes().to_vec(),
            event_type: "BookLent".into(),
            recorded_at_us: 1_700_000_000_000_000,
            metadata: Bytes::from_static(b"{}"),
            data: vec![7; 300].into(),
            append_end: true,
            json: false,
        }
    }

    #[test]
    fn a_framed_record_decodes_to_the_event_it_holds() {
        let mut buf = vec![];
        let len = encode_frame(&body(42), &mut buf);
        assert_eq!(len as usize, buf.len());
        let event = decode_frame(buf.clone().into(), 42).unwrap();
        assert_eq!(event.stream, "loans-7");
        assert_eq!(event.revision, Revision::new(3));
        assert_eq!(event.event_id, Uuid::from_u128(0x1234));
        assert_eq!(event.data, vec![7u8; 300]);
        let head = RecordHead::decode(&buf[HEADER_LEN..]).unwrap();
        assert_eq!(
            (head.position, head.revision, head.append_end),
            (42, 3, true)
        );
    }

    #[test]
    fn a_flipped_byte_anywhere_in_a_frame_fails_verification() {
        let mut buf = vec![];
        encode_frame(&body(1), &mut buf);
        for i in 0..buf.len() {
            let mut damaged = buf.clone();
            damaged[i] ^= 0x01;
            assert!(
                decode_frame(damaged.into(), 1).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn a_record_at_an_unexpected_position_is_refused() {
        let mut buf = vec![];
        encode_frame(&body(5), &mut buf);
        assert!(
            decode_frame(buf.into(), 6)
                .unwrap_err()
                .contains("position")
        );
    }

    #[test]
    fn the_overhead_bound_covers_the_largest_fixed_fields() {
        let mut b = body(u64::MAX);
        b.revision = u64::MAX;
        b.recorded_at_us = i64::MIN;
        b.stream = "s".into();
        b.event_type = "t".into();
        b.metadata = Bytes::from_static(&[1]);
        b.data = Bytes::from_static(&[1]);
        assert!(b.encoded_len() <= BODY_OVERHEAD_BOUND + 4);
    }
}
