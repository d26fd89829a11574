//! Index files: what scanning a segment would tell the index, saved so that opening a large log
//! reads a few bytes per event instead of the whole log.
//!
//! `index/<first position, 20 digits>.idx` describes a prefix of the segment of that name (the
//! whole of a finished segment; the active segment as far as it was when the store closed):
//!
//! ```text
//! magic "RNIDX001"
//! u64 LE first position   u64 LE covered length (bytes of the segment)   u64 LE record count
//! per record: varint frame length, 16-byte event id
//! varint stream count, then per stream: varint name length, UTF-8 name, varint event count,
//!   its positions as varint gaps (the first from the segment's first position, then from the
//!   previous one; positions ascend)
//! u32 LE CRC32C of everything before it
//! ```
//!
//! Positions grouped per stream let open add a stream's events with one hash lookup and no
//! random access per event. A file is only ever a cache of the log: written whole (temp file, fsync, rename, directory
//! fsync) and only for synced records; on open it is used only if its CRC holds, it fits the
//! segment, and the segment's record at its last position is there (its CRC, position, stream,
//! event id and end-of-append mark); otherwise it is deleted and the segment scanned.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use prost::Message;
use uuid::Uuid;

use super::index::Entry;
use super::record::{HEADER_LEN, Header, MAX_BODY_LEN, RecordHead};

/// The directory of index files inside the data directory.
pub(crate) const INDEX_DIR: &str = "index";

const MAGIC: &[u8; 8] = b"RNIDX001";
const FIXED_LEN: usize = 8 + 8 + 8 + 8;
const CRC_LEN: usize = 4;

/// The index file of the segment whose first record holds `first_position`.
pub(crate) fn index_path(index_dir: &Path, first_position: u64) -> PathBuf {
    index_dir.join(format!("{first_position:020}.idx"))
}

/// What an index file says about a segment's first `covered_len` bytes.
#[derive(Debug, Default)]
pub(crate) struct SegmentSummary {
    pub first_position: u64,
    pub covered_len: u64,
    /// Per record, in position order: frame length, event id.
    pub records: Vec<(u32, Uuid)>,
    /// Each stream with events in the covered part, by first appearance, and the range of
    /// [`positions`](Self::positions) that holds its positions there.
    pub streams: Vec<(String, std::ops::Range<usize>)>,
    /// The streams' positions, stream after stream, each stream's ascending.
    pub positions: Vec<u64>,
    /// The stream of the last record.
    pub last_stream: usize,
}

/// Collects a segment's records, in order, into a [`SegmentSummary`].
#[derive(Debug, Default)]
pub(crate) struct SummaryBuilder {
    first_position: u64,
    covered_len: u64,
    records: Vec<(u32, Uuid)>,
    names: Vec<String>,
    positions: Vec<Vec<u64>>,
    numbers: HashMap<String, usize>,
    last_stream: usize,
}

impl SummaryBuilder {
    pub(crate) fn new(first_position: u64) -> Self {
        SummaryBuilder {
            first_position,
            ..SummaryBuilder::default()
        }
    }

    pub(crate) fn push(&mut self, len: u32, stream: &str, event_id: Uuid) {
        let number = match self.numbers.get(stream) {
            Some(&n) => n,
            None => {
                let n = self.names.len();
                self.names.push(stream.to_owned());
                self.positions.push(Vec::new());
                self.numbers.insert(stream.to_owned(), n);
                n
            }
        };
        let position = self.first_position + self.records.len() as u64;
        self.positions[number].push(position);
        self.records.push((len, event_id));
        self.covered_len += u64::from(len);
        self.last_stream = number;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub(crate) fn finish(self) -> SegmentSummary {
        let mut streams = Vec::with_capacity(self.names.len());
        let mut positions = Vec::with_capacity(self.records.len());
        for (name, list) in self.names.into_iter().zip(self.positions) {
            let start = positions.len();
            positions.extend(list);
            streams.push((name, start..positions.len()));
        }
        SegmentSummary {
            first_position: self.first_position,
            covered_len: self.covered_len,
            records: self.records,
            streams,
            positions,
            last_stream: self.last_stream,
        }
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over an index file's bytes; every read fails on a short or malformed file.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, at: 0 }
    }

    /// How many bytes have been read.
    pub(crate) fn at(&self) -> usize {
        self.at
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("ends inside a field at byte {}", self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| format!("ends inside a varint at byte {}", self.at))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(format!("varint too long at byte {}", self.at))
    }
}

impl SegmentSummary {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.records.len() * 20 + CRC_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.first_position.to_le_bytes());
        out.extend_from_slice(&self.covered_len.to_le_bytes());
        out.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
        for (len, event_id) in &self.records {
            put_varint(&mut out, u64::from(*len));
            out.extend_from_slice(event_id.as_bytes());
        }
        put_varint(&mut out, self.streams.len() as u64);
        for (name, range) in &self.streams {
            put_varint(&mut out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
            put_varint(&mut out, range.len() as u64);
            let mut previous = self.first_position;
            for &position in &self.positions[range.clone()] {
                put_varint(&mut out, position - previous);
                previous = position;
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks an index file's bytes on their own (CRC, shape, lengths adding up).
    fn decode(bytes: &[u8]) -> Result<SegmentSummary, String> {
        if bytes.len() < FIXED_LEN + CRC_LEN {
            return Err(format!("{} bytes, shorter than a header", bytes.len()));
        }
        let (content, crc) = bytes.split_at(bytes.len() - CRC_LEN);
        if crc32c::crc32c(content) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err("CRC mismatch".into());
        }
        let mut cursor = Cursor::new(content);
        if cursor.take(8)? != MAGIC {
            return Err("not an index file of this version".into());
        }
        let first_position = cursor.u64()?;
        let covered_len = cursor.u64()?;
        let count = cursor.u64()?;
        // Every record takes at least 18 bytes: a bound that keeps a bad count from allocating.
        if count == 0 || count > content.len() as u64 / 18 {
            return Err(format!("implausible record count {count}"));
        }
        let mut records = Vec::with_capacity(count as usize);
        let mut total = 0u64;
        for _ in 0..count {
            let len = u32::try_from(cursor.varint()?)
                .ok()
                .filter(|&l| l as usize > HEADER_LEN && l <= MAX_BODY_LEN + HEADER_LEN as u32)
                .ok_or("implausible frame length")?;
            let event_id = Uuid::from_slice(cursor.take(16)?).expect("16 bytes");
            total += u64::from(len);
            records.push((len, event_id));
        }
        if total != covered_len {
            return Err(format!(
                "record lengths add up to {total}, the file covers {covered_len}"
            ));
        }
        let stream_count = cursor.varint()?;
        if stream_count > count {
            return Err(format!("{stream_count} streams for {count} records"));
        }
        // Every position of the segment's covered part belongs to exactly one stream.
        let mut seen = vec![false; count as usize];
        let last = first_position + count - 1;
        let mut last_stream = None;
        let mut streams = Vec::with_capacity(stream_count as usize);
        let mut positions = Vec::with_capacity(count as usize);
        for number in 0..stream_count as usize {
            let len = cursor.varint()? as usize;
            let name = std::str::from_utf8(cursor.take(len)?)
                .map_err(|_| "a stream name is not UTF-8".to_string())?;
            let events = cursor.varint()?;
            if events == 0 || events > count {
                return Err(format!("stream {name} with {events} events"));
            }
            let start = positions.len();
            let mut position = first_position;
            for i in 0..events {
                let gap = cursor.varint()?;
                if i > 0 && gap == 0 {
                    return Err(format!("positions of {name} do not ascend"));
                }
                position = position
                    .checked_add(gap)
                    .filter(|&p| p <= last)
                    .ok_or_else(|| format!("a position of {name} is past the segment's"))?;
                let slot = &mut seen[(position - first_position) as usize];
                if std::mem::replace(slot, true) {
                    return Err(format!("position {position} belongs to two streams"));
                }
                positions.push(position);
            }
            if position == last {
                last_stream = Some(number);
            }
            streams.push((name.to_owned(), start..positions.len()));
        }
        if positions.len() as u64 != count {
            return Err(format!("{} positions for {count} records", positions.len()));
        }
        if cursor.at != content.len() {
            return Err(format!(
                "{} bytes after the streams",
                content.len() - cursor.at
            ));
        }
        let last_stream = last_stream.ok_or("no stream holds the last position")?;
        Ok(SegmentSummary {
            first_position,
            covered_len,
            records,
            streams,
            positions,
            last_stream,
        })
    }

    /// Index entries for the records (offsets from 0), for segment number `segment`.
    pub(crate) fn entries(&self, segment: u32) -> impl Iterator<Item = Entry> + '_ {
        let mut offset = 0u64;
        self.records.iter().map(move |&(len, event_id)| {
            let entry = Entry {
                offset,
                event_id,
                segment,
                len,
            };
            offset += u64::from(len);
            entry
        })
    }
}

/// Writes `summary` as the index file of its segment: temp file, fsync, rename, directory fsync.
pub(crate) fn write(index_dir: &Path, summary: &SegmentSummary) -> io::Result<()> {
    let path = index_path(index_dir, summary.first_position);
    let temp = path.with_extension("idx.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)?;
    file.write_all(&summary.encode())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, &path)?;
    File::open(index_dir)?.sync_all()
}

/// Deletes the index file of a segment, if any (it no longer describes the segment).
pub(crate) fn remove(index_dir: &Path, first_position: u64) -> io::Result<()> {
    remove_durably(index_dir, &index_path(index_dir, first_position))
}

/// Deletes `path` (in `dir`), if it exists, and syncs the directory.
pub(crate) fn remove_durably(dir: &Path, path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => File::open(dir)?.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// How much of its segment the index file of the segment of `first_position` says it covers,
/// from its header alone (0 if there is none, or none of this version). A hint for the writer;
/// open checks the whole file before it relies on it.
pub(crate) fn covered_len(index_dir: &Path, first_position: u64) -> u64 {
    let mut header = [0u8; 24];
    let read = File::open(index_path(index_dir, first_position))
        .and_then(|mut file| file.read_exact(&mut header));
    if read.is_err() || &header[..8] != MAGIC {
        return 0;
    }
    let word = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
    if word(8) != first_position {
        return 0;
    }
    word(16)
}

/// Loads the index file of the segment `segment` (of length `segment_len`, first position
/// `first_position`) and checks it against the segment. `Ok(None)`: there is none. `Err`: there
/// is one and it must not be used (the reason, for a warning).
pub(crate) fn load(
    index_dir: &Path,
    first_position: u64,
    segment: &File,
    segment_len: u64,
) -> Result<Option<SegmentSummary>, String> {
    let bytes = match fs::read(index_path(index_dir, first_position)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    let summary = SegmentSummary::decode(&bytes)?;
    if summary.first_position != first_position {
        return Err(format!(
            "describes the segment of position {}",
            summary.first_position
        ));
    }
    if summary.covered_len > segment_len {
        return Err(format!(
            "covers {} bytes of a segment of {segment_len}",
            summary.covered_len
        ));
    }
    // The record at the last covered position must be on disk as described: otherwise the file
    // is stale (the segment was cut or rewritten) and nothing in it is trusted.
    let &(len, event_id) = summary.records.last().expect("a record at least");
    check_last_record(
        segment,
        summary.covered_len - u64::from(len),
        len,
        first_position + summary.records.len() as u64 - 1,
        &summary.streams[summary.last_stream].0,
        event_id,
    )?;
    Ok(Some(summary))
}

/// Checks that the frame of `len` bytes at `offset` in `segment` is intact and holds `position`
/// of `stream` with `event_id`, ending its append: the record a cache of the log says is there.
pub(crate) fn check_last_record(
    segment: &File,
    offset: u64,
    len: u32,
    position: u64,
    stream: &str,
    event_id: Uuid,
) -> Result<(), String> {
    let mut frame = vec![0u8; len as usize];
    segment
        .read_exact_at(&mut frame, offset)
        .map_err(|e| format!("its last record is unreadable: {e}"))?;
    let header = Header::parse(frame[..HEADER_LEN].try_into().expect("a header"));
    let body = &frame[HEADER_LEN..];
    if !header.matches(body) {
        return Err(format!("its last record (offset {offset}) fails its CRC"));
    }
    let head = RecordHead::decode(body).map_err(|e| format!("last record undecodable: {e}"))?;
    if head.position != position
        || head.stream != stream
        || head.event_id != event_id.as_bytes()
        || !head.append_end
    {
        return Err(format!(
            "its last record (offset {offset}) is not position {position} of {stream} as recorded"
        ));
    }
    Ok(())
}

/// Reads the first `len` bytes of a finished segment into a summary (for its index file).
/// Any surprise is an error: the file is then simply not written, and open scans the segment.
pub(crate) fn summarise(path: &Path, first_position: u64, len: u64) -> io::Result<SegmentSummary> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut reader = BufReader::with_capacity(1024 * 1024, File::open(path)?);
    let mut builder = SummaryBuilder::new(first_position);
    let mut body = Vec::new();
    let mut offset = 0u64;
    while offset < len {
        let mut header = [0u8; HEADER_LEN];
        reader.read_exact(&mut header)?;
        let header = Header::parse(&header);
        if header.body_len > MAX_BODY_LEN {
            return Err(invalid(format!("implausible length at {offset}")));
        }
        body.resize(header.body_len as usize, 0);
        reader.read_exact(&mut body)?;
        if !header.matches(&body) {
            return Err(invalid(format!("CRC mismatch at {offset}")));
        }
        let head = RecordHead::decode(body.as_slice()).map_err(|e| invalid(e.to_string()))?;
        let expected = first_position + builder.records.len() as u64;
        let event_id = Uuid::from_slice(&head.event_id).map_err(|e| invalid(e.to_string()))?;
        if head.position != expected {
            return Err(invalid(format!("position {} at {offset}", head.position)));
        }
        let frame_len = HEADER_LEN as u32 + header.body_len;
        builder.push(frame_len, &head.stream, event_id);
        offset += u64::from(frame_len);
    }
    if offset != len {
        return Err(invalid(format!("a record runs past {len}")));
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> SegmentSummary {
        let mut builder = SummaryBuilder::new(7);
        builder.push(40, "a", Uuid::from_u128(1));
        builder.push(50, "b", Uuid::from_u128(2));
        builder.push(60, "a", Uuid::from_u128(3));
        builder.finish()
    }

    #[test]
    fn an_encoded_summary_decodes_to_itself() {
        let decoded = SegmentSummary::decode(&summary().encode()).unwrap();
        assert_eq!(decoded.first_position, 7);
        assert_eq!(decoded.covered_len, 150);
        assert_eq!(
            decoded.streams,
            [("a".to_string(), 0..2), ("b".to_string(), 2..3)]
        );
        assert_eq!(decoded.positions, [7, 9, 8]);
        assert_eq!(decoded.last_stream, 0);
        assert_eq!(decoded.records[2], (60, Uuid::from_u128(3)));
        let offsets: Vec<u64> = decoded.entries(0).map(|e| e.offset).collect();
        assert_eq!(offsets, [0, 40, 90]);
    }

    #[test]
    fn a_flipped_bit_anywhere_in_an_index_file_is_refused() {
        let bytes = summary().encode();
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x04;
            assert!(SegmentSummary::decode(&damaged).is_err(), "byte {i}");
        }
    }

    #[test]
    fn a_truncated_index_file_is_refused() {
        let bytes = summary().encode();
        for len in 0..bytes.len() {
            assert!(SegmentSummary::decode(&bytes[..len]).is_err(), "len {len}");
        }
    }
}
