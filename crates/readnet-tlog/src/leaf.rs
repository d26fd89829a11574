//! The bytes of a stored event that its leaf commits to.
//!
//! Format 1, all integers big-endian, every variable field preceded by its length as a `u32`:
//!
//! | field | encoding |
//! |---|---|
//! | format | `u8` = 1 |
//! | position in `$all` | `u64` |
//! | stream | length, UTF-8 |
//! | revision in the stream | `u64` |
//! | event id | 16 bytes (UUID, RFC 9562 byte order) |
//! | recorded at | `i64`, microseconds since the Unix epoch |
//! | event type | length, UTF-8 |
//! | content type | `u8`: 0 binary, 1 JSON |
//! | metadata | length, bytes |
//! | data | length, bytes |
//!
//! Lengths make the encoding unambiguous: no two different records have the same bytes. The
//! format byte lets a later format be told apart; a format is never changed once trees are
//! built over it.

use readnet_store::{ContentType, RecordedEvent};

/// The leaf format this build writes.
pub const LEAF_FORMAT: u8 = 1;

/// The canonical bytes of `event` (format [`LEAF_FORMAT`]), appended to `out`.
pub fn leaf_bytes(event: &RecordedEvent, out: &mut Vec<u8>) {
    out.reserve(
        64 + event.stream.len() + event.event_type.len() + event.metadata.len() + event.data.len(),
    );
    out.push(LEAF_FORMAT);
    out.extend_from_slice(&event.position.get().to_be_bytes());
    put(out, event.stream.as_bytes());
    out.extend_from_slice(&event.revision.get().to_be_bytes());
    out.extend_from_slice(event.event_id.as_bytes());
    out.extend_from_slice(&event.recorded_at_us.to_be_bytes());
    put(out, event.event_type.as_bytes());
    out.push(match event.content_type {
        ContentType::Binary => 0,
        ContentType::Json => 1,
    });
    put(out, &event.metadata);
    put(out, &event.data);
}

/// Reads back the record a leaf's bytes encode (format 1): what an auditor who was handed the
/// bytes with a proof learns of the event. `None` for bytes that are not exactly one record of
/// a known format (so the same bytes cannot be read two ways).
pub fn parse_leaf(bytes: &[u8]) -> Option<RecordedEvent> {
    let mut r = Reader(bytes);
    if r.take(1)? != [LEAF_FORMAT] {
        return None;
    }
    let position = r.u64()?;
    let stream = String::from_utf8(r.field()?.to_vec()).ok()?;
    let revision = r.u64()?;
    let event_id = uuid::Uuid::from_slice(r.take(16)?).ok()?;
    let recorded_at_us = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
    let event_type = String::from_utf8(r.field()?.to_vec()).ok()?;
    let content_type = match r.take(1)? {
        [0] => ContentType::Binary,
        [1] => ContentType::Json,
        _ => return None,
    };
    let metadata = bytes::Bytes::copy_from_slice(r.field()?);
    let data = bytes::Bytes::copy_from_slice(r.field()?);
    if !r.0.is_empty() || position == 0 {
        return None;
    }
    Some(RecordedEvent {
        stream,
        revision: readnet_store::Revision::new(revision),
        position: readnet_store::Position::new(position),
        event_id,
        event_type,
        content_type,
        recorded_at_us,
        metadata,
        data,
    })
}

struct Reader<'b>(&'b [u8]);

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn field(&mut self) -> Option<&'b [u8]> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
        self.take(len as usize)
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    // The store bounds records far below 4 GiB; a longer field could not have been stored.
    let len = u32::try_from(bytes.len()).expect("a stored field is shorter than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use readnet_store::{Position, Revision};

    fn event() -> RecordedEvent {
        RecordedEvent {
            stream: "item-JN-0001".into(),
            revision: Revision::new(3),
            position: Position::new(42),
            event_id: uuid::Uuid::from_u128(7),
            event_type: "ItemCheckedOut".into(),
            content_type: ContentType::Binary,
            recorded_at_us: 1_765_000_000_000_000,
            metadata: bytes::Bytes::from_static(b"meta"),
            data: bytes::Bytes::from_static(b"data"),
        }
    }

    fn bytes_of(event: &RecordedEvent) -> Vec<u8> {
        let mut out = Vec::new();
        leaf_bytes(event, &mut out);
        out
    }

    #[test]
    fn every_field_of_the_record_changes_its_leaf() {
        let base = bytes_of(&event());
        type Change = (&'static str, fn(&mut RecordedEvent));
        let changes: [Change; 9] = [
            ("stream", |e| e.stream.push('x')),
            ("revision", |e| e.revision = Revision::new(4)),
            ("position", |e| e.position = Position::new(43)),
            ("event id", |e| e.event_id = uuid::Uuid::from_u128(8)),
            ("type", |e| e.event_type.push('x')),
            ("content type", |e| e.content_type = ContentType::Json),
            ("recorded at", |e| e.recorded_at_us += 1),
            ("metadata", |e| {
                e.metadata = bytes::Bytes::from_static(b"metb")
            }),
            ("data", |e| e.data = bytes::Bytes::from_static(b"datb")),
        ];
        for (field, change) in changes {
            let mut changed = event();
            change(&mut changed);
            assert_ne!(bytes_of(&changed), base, "{field}");
        }
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_leaf() {
        let (mut a, mut b) = (event(), event());
        a.stream = "ab".into();
        a.event_type = "c".into();
        b.stream = "a".into();
        b.event_type = "bc".into();
        assert_ne!(bytes_of(&a), bytes_of(&b));
        let (mut c, mut d) = (event(), event());
        c.metadata = bytes::Bytes::from_static(b"xy");
        c.data = bytes::Bytes::from_static(b"");
        d.metadata = bytes::Bytes::from_static(b"x");
        d.data = bytes::Bytes::from_static(b"y");
        assert_ne!(bytes_of(&c), bytes_of(&d));
    }

    #[test]
    fn a_leaf_reads_back_as_its_record_and_nothing_else_does() {
        let bytes = bytes_of(&event());
        assert_eq!(parse_leaf(&bytes), Some(event()));
        // Short, long or of another format: not a record.
        for cut in 0..bytes.len() {
            assert_eq!(parse_leaf(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(parse_leaf(&longer), None);
        let mut other = bytes.clone();
        other[0] = 2;
        assert_eq!(parse_leaf(&other), None);
    }

    #[test]
    fn format_one_is_laid_out_as_documented() {
        let bytes = bytes_of(&event());
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..9], &42u64.to_be_bytes());
        assert_eq!(&bytes[9..13], &12u32.to_be_bytes());
        assert_eq!(&bytes[13..25], b"item-JN-0001");
        assert_eq!(&bytes[25..33], &3u64.to_be_bytes());
        assert_eq!(
            bytes.len(),
            1 + 8 + 4 + 12 + 8 + 16 + 8 + 4 + 14 + 1 + 4 + 4 + 4 + 4
        );
        assert_eq!(&bytes[bytes.len() - 4..], b"data");
    }
}
