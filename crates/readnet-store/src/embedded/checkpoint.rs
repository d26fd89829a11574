//! The index checkpoint: the whole in-memory index as it stood when the store last closed, in
//! one file, so that opening a large log reads each stream once instead of once per segment.
//!
//! `index/checkpoint`:
//!
//! ```text
//! magic "RNCKP001"
//! u64 LE head (the file describes positions 1..=head)   u64 LE the stream map's hash seed
//! u64 LE segment count, then per segment: u64 LE first position, u64 LE length in bytes
//! u64 LE byte offset of the stream section   u64 LE stream count
//! per position: varint frame length, 16-byte event id
//! per stream, in the order of their buckets in a table of that many streams hashed with the
//!   seed: varint name length, UTF-8 name, varint event count, its positions as varint gaps
//!   (the first from 0, then from the previous one; positions ascend)
//! u32 LE CRC32C of everything before it
//! ```
//!
//! Like the segments' index files it is a cache of the log, written whole (temp file, fsync,
//! rename, directory fsync) at close, from synced records only. Open uses it only when it
//! describes the log exactly: the same segments with the same lengths (so nothing was appended
//! since it was written), a CRC that holds, a consistent shape (lengths adding up per segment,
//! every position in exactly one stream), and each segment's last record on disk as described.
//! A log that has grown since (the store was not closed cleanly after later appends) opens from
//! the segments' index files instead; a checkpoint that fails a check is deleted with a warning.

use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use super::index::{Entry, Index, Positions, SegmentHandle, StreamMap, bucket};
use super::index_file::{Cursor, check_last_record, put_varint, remove_durably};
use super::record::{HEADER_LEN, MAX_BODY_LEN};

/// The checkpoint's name inside the index directory.
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint";

const MAGIC: &[u8; 8] = b"RNCKP001";
const CRC_LEN: usize = 4;
/// Bytes of the encoder's buffer between writes.
const CHUNK: usize = 1 << 20;

/// A segment as the checkpoint describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub first_position: u64,
    pub len: u64,
}

/// The checkpoint's fixed header and segment table.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    head: u64,
    seed: u64,
    segments: Vec<Span>,
    streams_at: u64,
    stream_count: u64,
}

impl Header {
    fn encoded_len(segments: usize) -> usize {
        8 + 8 + 8 + 8 + segments * 16 + 8 + 8
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.head.to_le_bytes());
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&(self.segments.len() as u64).to_le_bytes());
        for span in &self.segments {
            out.extend_from_slice(&span.first_position.to_le_bytes());
            out.extend_from_slice(&span.len.to_le_bytes());
        }
        out.extend_from_slice(&self.streams_at.to_le_bytes());
        out.extend_from_slice(&self.stream_count.to_le_bytes());
    }

    /// Parses the header from the start of `bytes`; returns it and its length.
    fn decode(bytes: &[u8]) -> Result<(Header, usize), String> {
        let mut cursor = Cursor::new(bytes);
        if cursor.take(8)? != MAGIC {
            return Err("not an index checkpoint of this version".into());
        }
        let head = cursor.u64()?;
        let seed = cursor.u64()?;
        let count = cursor.u64()?;
        // Each segment holds at least one record: a bound that keeps a bad count from
        // allocating.
        if count == 0 || count > head {
            return Err(format!("{count} segments for {head} positions"));
        }
        let mut segments = Vec::with_capacity(count as usize);
        for _ in 0..count {
            segments.push(Span {
                first_position: cursor.u64()?,
                len: cursor.u64()?,
            });
        }
        let streams_at = cursor.u64()?;
        let stream_count = cursor.u64()?;
        Ok((
            Header {
                head,
                seed,
                segments,
                streams_at,
                stream_count,
            },
            cursor.at(),
        ))
    }
}

/// What [`load`] found.
pub(crate) enum Loaded {
    /// The checkpoint describes the log exactly: its index.
    Index(Index),
    /// There is no checkpoint, or it describes an earlier state of the log (kept for the next
    /// close to replace).
    None,
    /// It failed a check (with a warning): the caller deletes it once the open has succeeded
    /// (until then it may be the witness that the log is damaged).
    Refused,
}

/// Loads the checkpoint if it describes exactly `segments` (first position, path), checks it
/// against them, and builds the log's index from it. Otherwise the caller opens from the
/// segments.
pub(crate) fn load(index_dir: &Path, segments: &[(u64, PathBuf)]) -> io::Result<Loaded> {
    let path = index_dir.join(CHECKPOINT_FILE);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::None),
        Err(e) => return Err(e),
    };
    // The segment table says whether the checkpoint can fit the log at all: read it first, so
    // that a stale checkpoint costs a few bytes, not the whole file.
    let mut handles = Vec::with_capacity(segments.len());
    let mut spans = Vec::with_capacity(segments.len());
    for (first_position, segment) in segments {
        let handle = File::open(segment)?;
        spans.push(Span {
            first_position: *first_position,
            len: handle.metadata()?.len(),
        });
        handles.push(handle);
    }
    let mut head = vec![0u8; Header::encoded_len(spans.len())];
    let fits = match file.read_exact(&mut head) {
        Ok(()) => Header::decode(&head).is_ok_and(|(header, _)| header.segments == spans),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
        Err(e) => return refuse(index_dir, &format!("unreadable: {e}")),
    };
    if !fits {
        tracing::debug!(checkpoint = %path.display(), "the index checkpoint does not describe the log as it is; opening from the segments");
        return Ok(Loaded::None);
    }
    let mut bytes = Vec::with_capacity(file.metadata()?.len() as usize);
    bytes.extend_from_slice(&head);
    if let Err(e) = file.read_to_end(&mut bytes) {
        return refuse(index_dir, &format!("unreadable: {e}"));
    }
    drop(file);
    let segment_handles: Vec<Arc<SegmentHandle>> = segments
        .iter()
        .zip(handles)
        .map(|((_, path), file)| {
            Arc::new(SegmentHandle {
                path: path.clone(),
                file,
            })
        })
        .collect();
    match decode(&bytes).and_then(|(index, lasts)| {
        for ((segment, span), (len, event_id, stream)) in
            segment_handles.iter().zip(&spans).zip(&lasts)
        {
            let position = next_first(&spans, span, index.head()) - 1;
            check_last_record(
                &segment.file,
                span.len - u64::from(*len),
                *len,
                position,
                stream,
                *event_id,
            )?;
        }
        Ok(index)
    }) {
        Ok(mut index) => {
            index.segments = segment_handles;
            Ok(Loaded::Index(index))
        }
        Err(reason) => refuse(index_dir, &reason),
    }
}

/// Ignores a checkpoint that must not be used, with a warning giving the reason.
fn refuse(index_dir: &Path, reason: &str) -> io::Result<Loaded> {
    tracing::warn!(
        checkpoint = %index_dir.join(CHECKPOINT_FILE).display(),
        reason = %reason,
        "ignoring the index checkpoint and opening from the segments"
    );
    Ok(Loaded::Refused)
}

/// The head the checkpoint at `path` names in its header (not checked further), if it is one.
pub(crate) fn header_head(path: &Path) -> Option<u64> {
    let mut header = [0u8; 16];
    File::open(path).ok()?.read_exact(&mut header).ok()?;
    (&header[..8] == MAGIC).then(|| u64::from_le_bytes(header[8..].try_into().expect("8 bytes")))
}

/// Deletes the checkpoint (it failed a check, or the log no longer ends where it says).
pub(crate) fn remove(index_dir: &Path) -> io::Result<()> {
    remove_durably(index_dir, &index_dir.join(CHECKPOINT_FILE))
}

/// The first position of the segment after `span` (one past the head for the last).
fn next_first(spans: &[Span], span: &Span, head: u64) -> u64 {
    spans
        .iter()
        .find(|s| s.first_position > span.first_position)
        .map_or(head + 1, |s| s.first_position)
}

/// Per segment: its last record's frame length, event id and stream.
type LastRecords<'a> = Vec<(u32, Uuid, &'a str)>;

/// Parses and checks a checkpoint's bytes on their own (CRC, shape, lengths adding up per
/// segment, every position in exactly one stream). The index it returns has no segment handles.
fn decode(bytes: &[u8]) -> Result<(Index, LastRecords<'_>), String> {
    if bytes.len() < CRC_LEN {
        return Err(format!("{} bytes, shorter than a CRC", bytes.len()));
    }
    let (content, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    if crc32c::crc32c(content) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err("CRC mismatch".into());
    }
    let (header, header_len) = Header::decode(content)?;
    let head = header.head;
    let streams_at = usize::try_from(header.streams_at)
        .ok()
        .filter(|&at| at >= header_len && at <= content.len())
        .ok_or("the stream section lies outside the file")?;
    // Every record takes at least 17 bytes and every stream at least 3: bounds that keep bad
    // counts from allocating.
    if head > (streams_at - header_len) as u64 / 17 {
        return Err(format!("implausible head {head}"));
    }
    if header.stream_count == 0
        || header.stream_count > head
        || header.stream_count > (content.len() - streams_at) as u64 / 3
    {
        return Err(format!("implausible stream count {}", header.stream_count));
    }
    let mut previous = 0;
    for span in &header.segments {
        if span.first_position <= previous || span.first_position > head {
            return Err(format!(
                "a segment starts at position {}, after {previous}",
                span.first_position
            ));
        }
        previous = span.first_position;
    }
    if header.segments[0].first_position != 1 {
        return Err("the first segment does not start at position 1".into());
    }
    // The two sections are independent: decode them on two cores.
    let records = &content[header_len..streams_at];
    let streams = &content[streams_at..];
    let (entries, (streams, last_streams)) = std::thread::scope(|scope| {
        let entries = scope.spawn(|| decode_records(records, &header));
        let streams = decode_streams(streams, &header);
        (
            entries.join().expect("the record decoder does not panic"),
            streams,
        )
    });
    let entries = entries?;
    let mut index = streams?;
    let lasts = header
        .segments
        .iter()
        .zip(last_streams)
        .map(|(span, stream)| {
            let position = next_first(&header.segments, span, head) - 1;
            let entry = entries[(position - 1) as usize];
            (entry.len, entry.event_id, stream)
        })
        .collect();
    index.entries = entries;
    Ok((index, lasts))
}

/// The records section: one entry per position, offsets running from 0 in each segment.
fn decode_records(bytes: &[u8], header: &Header) -> Result<Vec<Entry>, String> {
    let mut cursor = Cursor::new(bytes);
    let mut entries = Vec::with_capacity(header.head as usize);
    for (segment, span) in header.segments.iter().enumerate() {
        let end = next_first(&header.segments, span, header.head);
        let mut offset = 0u64;
        for _ in span.first_position..end {
            let len = u32::try_from(cursor.varint()?)
                .ok()
                .filter(|&l| l as usize > HEADER_LEN && l <= MAX_BODY_LEN + HEADER_LEN as u32)
                .ok_or("implausible frame length")?;
            let event_id = Uuid::from_slice(cursor.take(16)?).expect("16 bytes");
            entries.push(Entry {
                offset,
                event_id,
                segment: segment as u32,
                len,
            });
            offset += u64::from(len);
        }
        if offset != span.len {
            return Err(format!(
                "the records of the segment of position {} add up to {offset} bytes, not {}",
                span.first_position, span.len
            ));
        }
    }
    if cursor.at() != bytes.len() {
        return Err(format!(
            "{} bytes after the records",
            bytes.len() - cursor.at()
        ));
    }
    Ok(entries)
}

/// The streams section: an index holding the stream map (and nothing else yet), and the stream
/// of each segment's last position.
fn decode_streams<'a>(bytes: &'a [u8], header: &Header) -> (Result<Index, String>, Vec<&'a str>) {
    let head = header.head;
    // The last position of each segment, ascending, and the stream found holding it.
    let lasts: Vec<u64> = header
        .segments
        .iter()
        .map(|span| next_first(&header.segments, span, head) - 1)
        .collect();
    let mut last_streams = vec![""; lasts.len()];
    let result = (|| {
        let mut cursor = Cursor::new(bytes);
        let mut index = Index::with_seed(header.seed, header.stream_count as usize);
        let map: &mut StreamMap = &mut index.streams;
        // Every position belongs to exactly one stream.
        let mut seen = vec![0u64; (head as usize).div_ceil(64) + 1];
        let mut total = 0u64;
        for _ in 0..header.stream_count {
            let len = cursor.varint()? as usize;
            let name = std::str::from_utf8(cursor.take(len)?)
                .map_err(|_| "a stream name is not UTF-8".to_string())?;
            let count = cursor.varint()?;
            if count == 0 || count > head - total {
                return Err(format!("stream {name} with {count} events"));
            }
            total += count;
            let mut positions = if count <= 2 {
                Positions::default()
            } else {
                Positions::Heap(Vec::with_capacity(count as usize))
            };
            let mut position = 0u64;
            for _ in 0..count {
                let gap = cursor.varint()?;
                position = position
                    .checked_add(gap)
                    .filter(|&p| gap > 0 && p <= head)
                    .ok_or_else(|| {
                        format!("the positions of {name} do not ascend within the log")
                    })?;
                let (word, bit) = ((position / 64) as usize, position % 64);
                if seen[word] & (1 << bit) != 0 {
                    return Err(format!("position {position} belongs to two streams"));
                }
                seen[word] |= 1 << bit;
                if let Ok(i) = lasts.binary_search(&position) {
                    last_streams[i] = name;
                }
                positions.push(position);
            }
            // In bucket order (as written), so the table fills from one end to the other.
            if map.insert(name.to_owned(), positions).is_some() {
                return Err(format!("stream {name} appears twice"));
            }
        }
        if total != head {
            return Err(format!("{total} positions in streams for {head} records"));
        }
        if cursor.at() != bytes.len() {
            return Err(format!(
                "{} bytes after the streams",
                bytes.len() - cursor.at()
            ));
        }
        Ok(index)
    })();
    (result, last_streams)
}

/// A buffered file writer that keeps the CRC32C of everything written.
struct Encoder {
    file: File,
    buf: Vec<u8>,
    crc: u32,
}

impl Encoder {
    fn spill_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, &self.buf);
        self.file.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

fn varint_len(v: u64) -> u64 {
    (u64::from(64 - (v | 1).leading_zeros())).div_ceil(7)
}

/// Writes the checkpoint of `index`: temp file, fsync, rename, directory fsync. Returns false
/// (and writes nothing) when the index has a segment without records, which the format cannot
/// describe; the next open then uses the segments' index files.
pub(crate) fn write(index_dir: &Path, index: &Index) -> io::Result<bool> {
    let head = index.head();
    // The segment table, from the entries: each segment's first position and length.
    let mut segments = vec![
        Span {
            first_position: 0,
            len: 0
        };
        index.segments.len()
    ];
    for (i, entry) in index.entries.iter().enumerate() {
        let span = &mut segments[entry.segment as usize];
        if span.first_position == 0 {
            span.first_position = i as u64 + 1;
        }
        span.len = entry.offset + u64::from(entry.len);
    }
    if head == 0 || segments.iter().any(|s| s.first_position == 0) {
        return Ok(false);
    }
    let records_len: u64 = index
        .entries
        .iter()
        .map(|e| varint_len(u64::from(e.len)) + 16)
        .sum();
    let header = Header {
        head,
        seed: index.seed,
        streams_at: (Header::encoded_len(segments.len()) as u64) + records_len,
        stream_count: index.streams.len() as u64,
        segments,
    };

    let path = index_dir.join(CHECKPOINT_FILE);
    let temp = index_dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)?;
    let mut out = Encoder {
        file,
        buf: Vec::with_capacity(CHUNK + 64 * 1024),
        crc: 0,
    };
    header.encode(&mut out.buf);
    for entry in &index.entries {
        put_varint(&mut out.buf, u64::from(entry.len));
        out.buf.extend_from_slice(entry.event_id.as_bytes());
        out.spill_if_full()?;
    }
    let mut streams: Vec<(u64, &String, &Positions)> = index
        .streams
        .iter()
        .map(|(name, positions)| {
            let hash = index.streams.hasher().hash_one(name);
            (bucket(hash, index.streams.len()), name, positions)
        })
        .collect();
    streams.sort_unstable_by_key(|&(bucket, _, _)| bucket);
    for (_, name, positions) in streams {
        put_varint(&mut out.buf, name.len() as u64);
        out.buf.extend_from_slice(name.as_bytes());
        put_varint(&mut out.buf, positions.len() as u64);
        let mut previous = 0;
        for &position in positions.iter() {
            put_varint(&mut out.buf, position - previous);
            previous = position;
            if out.buf.len() >= CHUNK {
                out.spill()?;
            }
        }
        out.spill_if_full()?;
    }
    out.spill()?;
    let crc = out.crc;
    out.file.write_all(&crc.to_le_bytes())?;
    out.file.sync_all()?;
    drop(out);
    fs::rename(&temp, &path)?;
    File::open(index_dir)?.sync_all()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of two segments: positions 1–3 in the first (streams a, b, a), 4–5 in the
    /// second (c, a).
    fn index() -> Index {
        let mut index = Index::default();
        let records = [
            (40, "a", 0),
            (50, "b", 0),
            (60, "a", 0),
            (45, "c", 1),
            (55, "a", 1),
        ];
        let mut offsets = [0u64; 2];
        for (i, (len, stream, segment)) in records.into_iter().enumerate() {
            index.entries.push(Entry {
                offset: offsets[segment as usize],
                event_id: Uuid::from_u128(i as u128 + 1),
                segment,
                len,
            });
            offsets[segment as usize] += u64::from(len);
            index
                .streams
                .entry(stream.to_string())
                .or_default()
                .push(i as u64 + 1);
        }
        let dev_null = || {
            Arc::new(SegmentHandle {
                path: "/dev/null".into(),
                file: File::open("/dev/null").unwrap(),
            })
        };
        index.segments = vec![dev_null(), dev_null()];
        index
    }

    fn encoded_from(index: &Index) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), index).unwrap());
        fs::read(dir.path().join(CHECKPOINT_FILE)).unwrap()
    }

    fn encoded() -> Vec<u8> {
        encoded_from(&index())
    }

    #[test]
    fn an_encoded_checkpoint_decodes_to_the_same_index() {
        let original = index();
        let bytes = encoded_from(&original);
        let (decoded, lasts) = decode(&bytes).unwrap();
        assert_eq!(decoded.head(), 5);
        assert_eq!(decoded.streams, original.streams);
        assert_eq!(
            decoded.seed, original.seed,
            "the stream map keeps its hash seed"
        );
        let shape = |e: &Entry| (e.offset, e.event_id, e.segment, e.len);
        assert_eq!(
            decoded.entries.iter().map(shape).collect::<Vec<_>>(),
            original.entries.iter().map(shape).collect::<Vec<_>>()
        );
        assert_eq!(
            lasts,
            [(60, Uuid::from_u128(3), "a"), (55, Uuid::from_u128(5), "a")]
        );
    }

    #[test]
    fn a_flipped_bit_anywhere_in_a_checkpoint_is_refused() {
        let bytes = encoded();
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(decode(&damaged).is_err(), "byte {i}");
        }
    }

    #[test]
    fn a_truncated_checkpoint_is_refused() {
        let bytes = encoded();
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn varint_lengths_match_the_encoder() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(varint_len(v), out.len() as u64, "{v}");
        }
    }
}
