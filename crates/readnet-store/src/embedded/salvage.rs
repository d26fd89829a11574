//! Tools for a damaged log: [`examine`] reports what is on disk, [`salvage`] reads every record
//! that passes its checksum past any damage, and [`repair`] truncates the log after its last
//! intact append so that the store opens again.
//!
//! `examine` and `salvage` only read. `repair` is explicit: the caller names the position it
//! accepts to keep (the one `examine` reports), everything after it is moved into a
//! `damaged-<time>` directory beside the segments, never deleted, and a line saying what was
//! done is appended to `repairs.log` in the store directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use super::acknowledged::{self, Mark, Marker, Reading};
use super::checkpoint::{self, CHECKPOINT_FILE};
use super::index_file::{self, INDEX_DIR};
use super::record::{HEADER_LEN, Header, MAX_BODY_LEN, RecordHead, decode_frame};
use super::recovery::{self, Mode, SEGMENTS_DIR, sync_dir};
use super::{LOCK_FILE, take_lock};
use crate::{Damage, RecordedEvent, StoreError};

/// One segment file as a frame walk finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    pub path: PathBuf,
    pub len: u64,
    /// Records that pass their checksum.
    pub intact_records: u64,
    /// The lowest and highest position among them.
    pub positions: Option<(u64, u64)>,
    /// Byte ranges that hold no intact record, with the reason the first frame there failed.
    pub damaged: Vec<(RangeInclusive<u64>, String)>,
}

/// What [`examine`] finds in a store directory.
#[derive(Debug)]
pub struct Examination {
    pub segments: Vec<SegmentReport>,
    /// The acknowledged head, as its file records it.
    pub acknowledged: Result<Option<u64>, String>,
    /// Each index file: its path and whether it fits its segment (the reason when not).
    pub index_files: Vec<(PathBuf, Result<(), String>)>,
    /// The checkpoint's path and the head its header names, if there is one.
    pub checkpoint: Option<(PathBuf, Option<u64>)>,
    /// Whether the store opens: its head and the bytes of an unfinished write at the end (which
    /// a writable open cuts off), or the damage that stops it.
    pub verdict: Result<(u64, u64), Damage>,
}

/// Reports the state of the store in `dir` without changing anything.
pub fn examine(dir: &Path) -> Result<Examination, StoreError> {
    let segments_dir = dir.join(SEGMENTS_DIR);
    let index_dir = dir.join(INDEX_DIR);
    let mut segments = Vec::new();
    for (_, path) in recovery::list_segments(&segments_dir)? {
        let bytes = fs::read(&path)?;
        let mut report = SegmentReport {
            path: path.clone(),
            len: bytes.len() as u64,
            intact_records: 0,
            positions: None,
            damaged: Vec::new(),
        };
        walk(&bytes, |item| match item {
            Walked::Record { head, .. } => {
                report.intact_records += 1;
                let (low, high) = report
                    .positions
                    .get_or_insert((head.position, head.position));
                *low = (*low).min(head.position);
                *high = (*high).max(head.position);
            }
            Walked::Bad { range, reason } => report.damaged.push((range, reason)),
        });
        segments.push(report);
    }
    let acknowledged = match acknowledged::read(dir)? {
        Reading::Absent => Ok(None),
        Reading::Mark(mark) => Ok(Some(mark.head)),
        Reading::Unreadable(reason) => Err(reason),
    };
    let mut index_files = Vec::new();
    let mut checkpoint = None;
    if let Ok(entries) = fs::read_dir(&index_dir) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.file_name().and_then(|n| n.to_str()) == Some(CHECKPOINT_FILE) {
                checkpoint = Some((path.clone(), checkpoint::header_head(&path)));
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("idx") {
                continue;
            }
            let first = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok());
            let fits = match first {
                None => Err("the name is not a position".to_owned()),
                Some(first) => match File::open(recovery::segment_path(&segments_dir, first)) {
                    Err(e) => Err(format!("its segment cannot be opened: {e}")),
                    Ok(segment) => {
                        let len = segment.metadata()?.len();
                        index_file::load(&index_dir, first, &segment, len).map(|_| ())
                    }
                },
            };
            index_files.push((path, fits));
        }
    }
    let verdict = match recovery::recover(dir, Mode::Read) {
        Ok(recovered) => {
            let head = recovered.index.head();
            let torn = recovered.last_segment.map_or(0, |(path, _, len)| {
                fs::metadata(path).map_or(0, |m| m.len()) - len
            });
            Ok((head, torn))
        }
        Err(StoreError::Damaged(damage)) => Err(*damage),
        Err(other) => return Err(other),
    };
    Ok(Examination {
        segments,
        acknowledged,
        index_files,
        checkpoint,
        verdict,
    })
}

/// What [`scan`] read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    pub segments: u64,
    pub bytes: u64,
    /// Records that passed their checksum.
    pub intact_records: u64,
    /// Byte ranges that held no intact record.
    pub damaged_ranges: u64,
}

/// Reads every segment of the store in `dir` and walks its frames, checking each record's
/// CRC32C, decoding nothing: the floor under any pass over the log (`readnet-bench`'s
/// `readnet-log-floor`). Only reads.
pub fn scan(dir: &Path) -> Result<Scanned, StoreError> {
    let mut scanned = Scanned::default();
    for (_, path) in recovery::list_segments(&dir.join(SEGMENTS_DIR))? {
        let bytes = fs::read(&path)?;
        scanned.segments += 1;
        scanned.bytes += bytes.len() as u64;
        walk(&bytes, |item| match item {
            Walked::Record { .. } => scanned.intact_records += 1,
            Walked::Bad { .. } => scanned.damaged_ranges += 1,
        });
    }
    Ok(scanned)
}

/// What [`salvage`] read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Salvaged {
    /// Events handed to the caller.
    pub events: u64,
    /// Positions between 1 and the highest position known (read or witnessed) that no intact
    /// record holds.
    pub missing: Vec<RangeInclusive<u64>>,
    /// Byte ranges of segments that hold no intact record.
    pub damaged: Vec<(PathBuf, RangeInclusive<u64>)>,
}

/// Reads every record of the store in `dir` that passes its checksum, in position order, past
/// any damage, and hands each to `each`; says which positions are missing. Changes nothing.
///
/// A record found twice (a copy after damage) is handed over once. Records of an unfinished
/// append at the very end of the log, after the acknowledged head, are not handed over: they
/// were never acknowledged.
pub fn salvage(
    dir: &Path,
    mut each: impl FnMut(RecordedEvent) -> io::Result<()>,
) -> Result<Salvaged, StoreError> {
    let segments_dir = dir.join(SEGMENTS_DIR);
    let acknowledged = match acknowledged::read(dir)? {
        Reading::Mark(mark) => mark.head,
        _ => 0,
    };
    let mut salvaged = Salvaged::default();
    let mut last = 0u64;
    // Records of the append in progress: handed over when its end is seen.
    let mut pending: Vec<RecordedEvent> = Vec::new();
    let mut failure: Option<io::Error> = None;
    for (_, path) in recovery::list_segments(&segments_dir)? {
        let bytes = Bytes::from(fs::read(&path)?);
        let mut hand = |events: &mut Vec<RecordedEvent>, salvaged: &mut Salvaged| {
            for event in events.drain(..) {
                let position = event.position.get();
                if position <= last || failure.is_some() {
                    continue;
                }
                if position > last + 1 {
                    salvaged.missing.push(last + 1..=position - 1);
                }
                last = position;
                salvaged.events += 1;
                if let Err(e) = each(event) {
                    failure = Some(e);
                }
            }
        };
        walk(&bytes, |item| match item {
            Walked::Record { offset, len, head } => {
                let frame = bytes.slice(offset as usize..(offset + len) as usize);
                if let Ok(event) = decode_frame(frame, head.position) {
                    pending.push(event);
                    if head.append_end {
                        hand(&mut pending, &mut salvaged);
                    }
                }
            }
            Walked::Bad { range, .. } => {
                // The append in progress lost its end here: what was read of it is intact, and
                // handed over if it was acknowledged (an unfinished append never was).
                if pending
                    .last()
                    .is_some_and(|e| e.position.get() <= acknowledged)
                {
                    hand(&mut pending, &mut salvaged);
                }
                pending.clear();
                salvaged.damaged.push((path.clone(), range));
            }
        });
        // A segment ends at the end of an append; one that does not was cut short.
        if pending
            .last()
            .is_some_and(|e| e.position.get() <= acknowledged)
        {
            hand(&mut pending, &mut salvaged);
        }
        pending.clear();
    }
    if let Some(e) = failure {
        return Err(e.into());
    }
    if acknowledged > last {
        salvaged.missing.push(last + 1..=acknowledged);
    }
    Ok(salvaged)
}

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The log now ends at this position.
    pub head: u64,
    /// Where what was cut away now lies.
    pub moved_to: PathBuf,
    /// The damage that was repaired.
    pub damage: Damage,
}

/// Truncates the damaged log in `dir` after its last intact append, `keep_through`, which must
/// be the position [`examine`] reports the log intact through (so that the caller states what
/// is lost). Takes the directory's lock, so it cannot run beside a server.
///
/// Fails with [`StoreError::InvalidArgument`] when the log is not damaged (a torn tail is cut by
/// an ordinary open) or `keep_through` is not where it is intact through.
pub fn repair(dir: &Path, keep_through: u64) -> Result<Repaired, StoreError> {
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))?;
    take_lock(&lock, dir)?;
    let damage = match recovery::recover(dir, Mode::Read) {
        Ok(recovered) => {
            return Err(StoreError::InvalidArgument(format!(
                "the log is not damaged (it opens, head {}): nothing to repair",
                recovered.index.head()
            )));
        }
        Err(StoreError::Damaged(damage)) => *damage,
        Err(other) => return Err(other),
    };
    if damage.intact_through != keep_through {
        return Err(StoreError::InvalidArgument(format!(
            "the log is intact through position {}, not {keep_through}: repair keeps exactly \
             what is intact",
            damage.intact_through
        )));
    }
    let segments_dir = dir.join(SEGMENTS_DIR);
    let index_dir = dir.join(INDEX_DIR);
    // Where the intact prefix ends: the segment holding its last append, and the offset after it.
    let (mut cut_segment, mut cut_offset) = (None, 0u64);
    let segments = recovery::list_segments(&segments_dir)?;
    'segments: for (first, path) in &segments {
        if *first > keep_through {
            break;
        }
        let bytes = fs::read(path)?;
        let mut at = 0usize;
        while let Some((len, head)) = frame_at(&bytes, at) {
            at += len;
            if head.position == keep_through && head.append_end {
                cut_segment = Some((*first, path.clone()));
                cut_offset = at as u64;
                break 'segments;
            }
        }
    }
    if cut_segment.is_none() && keep_through > 0 {
        return Err(StoreError::InvalidArgument(format!(
            "no intact append ends at position {keep_through} in a walk of the segments from \
             their start: the damage lies before it. Move `{}` aside (index files are caches) \
             so that the open scans every segment, and run `readnet doctor` again",
            index_dir.display()
        )));
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // A second repair within the same second gets a directory of its own.
    let mut moved_to = dir.join(format!("damaged-{stamp}"));
    let mut n = 1;
    while moved_to.exists() {
        n += 1;
        moved_to = dir.join(format!("damaged-{stamp}-{n}"));
    }
    fs::create_dir(&moved_to)?;
    let mut moved = Vec::new();
    for (first, path) in &segments {
        let name = path.file_name().expect("a segment has a name");
        match &cut_segment {
            Some((cut_first, _)) if first < cut_first => continue,
            Some((cut_first, cut_path)) if first == cut_first => {
                let len = fs::metadata(cut_path)?.len();
                if cut_offset < len {
                    let bytes = fs::read(cut_path)?;
                    let aside =
                        moved_to.join(format!("{}.from-{cut_offset}", name.to_string_lossy()));
                    write_synced(&aside, &bytes[cut_offset as usize..])?;
                    moved.push(aside);
                    let file = OpenOptions::new().write(true).open(cut_path)?;
                    file.set_len(cut_offset)?;
                    file.sync_all()?;
                }
            }
            _ => {
                let aside = moved_to.join(name);
                fs::rename(path, &aside)?;
                moved.push(aside);
            }
        }
        index_file::remove(&index_dir, *first)?;
    }
    // Index files of segments that are gone (deleted, not moved) still claim their positions:
    // every one that starts after what is kept goes too.
    if let Ok(entries) = fs::read_dir(&index_dir) {
        for entry in entries {
            let path = entry?.path();
            let first = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok());
            if path.extension().and_then(|e| e.to_str()) == Some("idx")
                && first.is_some_and(|first| first > keep_through || cut_segment.is_none())
            {
                fs::remove_file(&path)?;
            }
        }
        sync_dir(&index_dir)?;
    }
    sync_dir(&moved_to)?;
    sync_dir(&segments_dir)?;
    checkpoint::remove(&index_dir)?;
    let (segment, end) = cut_segment
        .as_ref()
        .map_or((0, 0), |(f, _)| (*f, cut_offset));
    // Both slots, synced: the log now must reach exactly this far.
    Marker::open(
        dir,
        Mark {
            head: keep_through,
            segment,
            end,
        },
    )?;
    let line = format!(
        "{stamp} repaired: kept positions 1..={keep_through}; {damage}; moved {} file(s) to {}\n",
        moved.len(),
        moved_to.display()
    );
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("repairs.log"))?;
    log.write_all(line.as_bytes())?;
    log.sync_all()?;
    sync_dir(dir)?;
    tracing::warn!(
        dir = %dir.display(),
        kept_through = keep_through,
        moved_to = %moved_to.display(),
        damage = %damage,
        "repaired the log by truncating it after its last intact append"
    );
    drop(lock);
    Ok(Repaired {
        head: keep_through,
        moved_to,
        damage,
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// What a frame walk finds.
enum Walked {
    /// A frame that passes its checksum and decodes: its offset, length and head.
    Record {
        offset: u64,
        len: u64,
        head: RecordHead,
    },
    /// Bytes that hold no intact frame, and why the first one there failed.
    Bad {
        range: RangeInclusive<u64>,
        reason: String,
    },
}

/// The intact frame at `at`, if there is one: its length and head.
fn frame_at(bytes: &[u8], at: usize) -> Option<(usize, RecordHead)> {
    let header: &[u8; HEADER_LEN] = bytes.get(at..at + HEADER_LEN)?.try_into().ok()?;
    let header = Header::parse(header);
    if header.body_len > MAX_BODY_LEN {
        return None;
    }
    let end = (at + HEADER_LEN).checked_add(header.body_len as usize)?;
    let body = bytes.get(at + HEADER_LEN..end)?;
    if !header.matches(body) {
        return None;
    }
    let head = RecordHead::decode(body).ok()?;
    Some((end - at, head))
}

/// Why the frame at `at` is not intact.
fn why_bad(bytes: &[u8], at: usize) -> String {
    let Some(header) = bytes.get(at..at + HEADER_LEN) else {
        return format!("{} bytes, fewer than a record header", bytes.len() - at);
    };
    let header = Header::parse(header.try_into().expect("a header"));
    if header.body_len > MAX_BODY_LEN {
        return format!("implausible record length {}", header.body_len);
    }
    if at + HEADER_LEN + header.body_len as usize > bytes.len() {
        return format!(
            "a record of {} bytes runs past the end of the file",
            header.body_len
        );
    }
    "CRC mismatch".into()
}

/// Walks the frames of a segment, resynchronising after damage: from a bad frame, every later
/// offset where an intact frame starts is tried (a record body starts with its position's tag,
/// byte 0x08, which rules out most offsets at once).
fn walk(bytes: &[u8], mut visit: impl FnMut(Walked)) {
    let mut at = 0usize;
    while at < bytes.len() {
        if let Some((len, head)) = frame_at(bytes, at) {
            visit(Walked::Record {
                offset: at as u64,
                len: len as u64,
                head,
            });
            at += len;
            continue;
        }
        let reason = why_bad(bytes, at);
        let next = (at + 1..bytes.len())
            .find(|&o| bytes.get(o + HEADER_LEN) == Some(&0x08) && frame_at(bytes, o).is_some())
            .unwrap_or(bytes.len());
        visit(Walked::Bad {
            range: at as u64..=(next - 1) as u64,
            reason,
        });
        at = next;
    }
}
