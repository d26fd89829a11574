//! Opening a data directory: segment files, scanning them into the index, and repairing a
//! torn tail.
//!
//! The rule: only the end of the last segment can have been cut short by a crash (appends are
//! acknowledged after fdatasync, and a segment is finished before the next one is started), and
//! only after the last acknowledged append. A bad tail there is a torn write and is truncated.
//! A log that ends before its witnesses say it reached (the acknowledged head, the index files,
//! the checkpoint: see [`super::witness`]) is damaged, and damage anywhere but the tail cannot
//! come from a crash: both fail the open with [`StoreError::Damaged`] and change nothing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;
use uuid::Uuid;

use super::acknowledged::{self, Reading};
use super::checkpoint;
use super::index::{Entry, Index, SegmentHandle};
use super::index_file::{self, INDEX_DIR, SegmentSummary, SummaryBuilder};
use super::record::{HEADER_LEN, Header, MAX_BODY_LEN, RecordHead};
use super::witness;
use crate::{Damage, StoreError};

/// The directory of segment files inside the data directory.
pub(crate) const SEGMENTS_DIR: &str = "segments";

const SEGMENT_EXTENSION: &str = "seg";

/// The path of the segment whose first record holds `first_position`. Zero-padded, so the
/// names sort like the positions.
pub(crate) fn segment_path(segments_dir: &Path, first_position: u64) -> PathBuf {
    segments_dir.join(format!("{first_position:020}.{SEGMENT_EXTENSION}"))
}

/// Makes a directory's entries durable (a file created in it, a file renamed into it).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The state of the log after a successful open.
pub(crate) struct Recovered {
    pub index: Index,
    /// The last segment's path, first position and length (after any truncation): the writer
    /// appends to it.
    pub last_segment: Option<(PathBuf, u64, u64)>,
    /// How much of the last segment its index file covers (0 if it has none).
    pub last_indexed_len: u64,
    /// The head the index checkpoint describes, when the index came from it.
    pub checkpoint_head: Option<u64>,
}

/// How a store opens its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// For appending: a torn tail is cut off (and kept beside the segment), stale caches are
    /// deleted, missing index files are written.
    Write,
    /// For reading only: nothing in the directory is written, renamed or deleted. A torn tail
    /// is left in place and not read.
    Read,
}

/// A bad tail of the last segment: bytes after the end of its last complete append.
struct Tail {
    path: PathBuf,
    /// Where the last complete append ends: what is kept.
    kept: u64,
    /// Where the first bad record starts.
    at: u64,
    file_len: u64,
    reason: String,
}

/// Rebuilds the index of the store in `dir` from every segment in order, after checking that
/// the log reaches as far as its witnesses say it did (see [`super::witness`]); then, in
/// [`Mode::Write`], truncates a torn tail of the last segment.
///
/// An index checkpoint that describes the log exactly (the store was closed after its last
/// append) stands in for all of it.
/// A segment's index file, where one passes its checks, stands in for scanning the part of the
/// segment it covers; the rest is scanned. A finished segment scanned whole gets an index file
/// so that the next open need not scan it.
pub(crate) fn recover(dir: &Path, mode: Mode) -> Result<Recovered, StoreError> {
    let segments_dir = dir.join(SEGMENTS_DIR);
    let index_dir = dir.join(INDEX_DIR);
    let acknowledged = acknowledged::read(dir)?;
    if let Reading::Unreadable(reason) = &acknowledged {
        tracing::warn!(reason = %reason, "the acknowledged head is unreadable; checking the log against the index files and checkpoint only");
    }
    let segments = list_segments(&segments_dir)?;
    let loaded = match segments.last() {
        Some(_) => checkpoint::load(&index_dir, &segments)?,
        None => checkpoint::Loaded::None,
    };
    let stale_checkpoint = matches!(loaded, checkpoint::Loaded::Refused);
    if let Some((first_position, path)) = segments.last()
        && let checkpoint::Loaded::Index(index) = loaded
    {
        let last = index.entries.last().expect("a checkpoint holds a record");
        let len = last.offset + u64::from(last.len);
        let end = Tail {
            path: path.clone(),
            kept: len,
            at: len,
            file_len: len,
            reason: "the log ends here".into(),
        };
        let scanned = (mode == Mode::Read).then(|| witness::Scanned {
            last_first: *first_position,
            last_path: path.clone(),
            last_len: len,
        });
        check_witnesses(
            dir,
            &index_dir,
            &acknowledged,
            index.head(),
            &end,
            scanned.as_ref(),
        )?;
        return Ok(Recovered {
            last_indexed_len: index_file::covered_len(&index_dir, *first_position),
            last_segment: Some((path.clone(), *first_position, len)),
            checkpoint_head: Some(index.head()),
            index,
        });
    }
    let mut index = Index::default();
    let mut last_segment = None;
    let mut last_indexed_len = 0;
    let mut tail = None;
    // Index files that failed their checks, and those of finished segments that had none:
    // deleted and written once the open has succeeded (until then, nothing changes).
    let mut stale = Vec::new();
    let mut summaries = Vec::new();
    // Reading and checking the next segment's index file overlaps with adding this one's to
    // the index: a second core halves the wait.
    let scanned = std::thread::scope(|scope| {
        let (prepared_tx, prepared) = std::sync::mpsc::sync_channel(1);
        let segments = &segments;
        let index_dir = &index_dir;
        scope.spawn(move || {
            for (first_position, path) in segments {
                if prepared_tx
                    .send(prepare(path, *first_position, index_dir))
                    .is_err()
                {
                    return;
                }
            }
        });
        for (i, (first_position, path)) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            let tears = match &acknowledged {
                _ if !is_last => Tears::Never,
                Reading::Mark(mark) if mark.segment == *first_position => Tears::After(mark.end),
                // A segment started after the last acknowledged append: none of it was.
                Reading::Mark(mark) if mark.segment < *first_position => Tears::After(0),
                _ => Tears::AtTheEnd,
            };
            let prepared = prepared.recv().expect("one prepared segment per segment")?;
            if prepared.stale {
                stale.push(*first_position);
            }
            let (len, indexed, torn) = open_segment(
                path,
                *first_position,
                tears,
                prepared,
                &mut index,
                &mut summaries,
            )?;
            if is_last {
                last_segment = Some((path.clone(), *first_position, len));
                last_indexed_len = indexed;
                tail = torn;
            }
        }
        Ok::<_, StoreError>(())
    });
    if let Err(error) = scanned {
        let StoreError::Corrupt {
            path,
            offset,
            reason,
        } = error
        else {
            return Err(error);
        };
        // Damage before the last segment's tail: never a torn write.
        let witnessed = witness::claim_beyond(dir, &index_dir, &acknowledged, index.head(), None)?;
        return Err(StoreError::Damaged(Box::new(Damage {
            path,
            offset,
            reason,
            intact_through: index.head(),
            witnessed: witnessed.map(|c| (c.head, c.source)),
        })));
    }
    let end = tail.as_ref().map_or_else(
        || match &last_segment {
            Some((path, _, len)) => Tail {
                path: path.clone(),
                kept: *len,
                at: *len,
                file_len: *len,
                reason: "the log ends here".into(),
            },
            None => Tail {
                path: segments_dir.clone(),
                kept: 0,
                at: 0,
                file_len: 0,
                reason: "there are no segment files".into(),
            },
        },
        |t| Tail {
            path: t.path.clone(),
            kept: t.kept,
            at: t.at,
            file_len: t.file_len,
            reason: t.reason.clone(),
        },
    );
    let scanned = match (&last_segment, mode) {
        (Some((path, first, _)), Mode::Read) => Some(witness::Scanned {
            last_first: *first,
            last_path: path.clone(),
            // What the scan read of it, torn tail included: growth past it is the writer's.
            last_len: tail.as_ref().map_or_else(
                || last_segment.as_ref().map_or(0, |(_, _, len)| *len),
                |t| t.file_len,
            ),
        }),
        _ => None,
    };
    check_witnesses(
        dir,
        &index_dir,
        &acknowledged,
        index.head(),
        &end,
        scanned.as_ref(),
    )?;
    match mode {
        Mode::Write => {
            if let Some(tail) = &tail {
                cut_tail(tail)?;
            }
            for first_position in stale {
                index_file::remove(&index_dir, first_position)?;
            }
            for summary in &summaries {
                index_file::write(&index_dir, summary)?;
            }
            if stale_checkpoint {
                checkpoint::remove(&index_dir)?;
            }
        }
        Mode::Read => {
            if let Some(tail) = &tail {
                tracing::warn!(
                    file = %tail.path.display(),
                    offset = tail.kept,
                    bytes = tail.file_len - tail.kept,
                    reason = %tail.reason,
                    "not reading an unfinished write at the end of the log (left in place)"
                );
            }
        }
    }
    Ok(Recovered {
        index,
        last_segment,
        last_indexed_len,
        checkpoint_head: None,
    })
}

/// Fails the open when a witness says the log reached past `head`, where `end` says it stops.
fn check_witnesses(
    dir: &Path,
    index_dir: &Path,
    acknowledged: &Reading,
    head: u64,
    end: &Tail,
    scanned: Option<&witness::Scanned>,
) -> Result<(), StoreError> {
    match witness::claim_beyond(dir, index_dir, acknowledged, head, scanned)? {
        None => Ok(()),
        Some(claim) => Err(StoreError::Damaged(Box::new(Damage {
            path: end.path.clone(),
            offset: end.at,
            reason: end.reason.clone(),
            intact_through: head,
            witnessed: Some((claim.head, claim.source)),
        }))),
    }
}

/// Cuts a torn tail off the last segment. The dropped bytes are kept beside the segment: a
/// torn write is what they almost always are, but an operator must be able to look.
fn cut_tail(tail: &Tail) -> Result<(), StoreError> {
    let Tail {
        path,
        kept,
        file_len,
        reason,
        ..
    } = tail;
    // A tail cut at the same offset before (a second crash in the same unfinished append) is
    // kept too: the new one gets a name of its own.
    let mut torn = path.with_extension(format!("torn-{kept}"));
    let mut n = 1;
    while torn.exists() {
        n += 1;
        torn = path.with_extension(format!("torn-{kept}-{n}"));
    }
    let mut dropped = Vec::with_capacity((file_len - kept) as usize);
    {
        use std::io::{Seek, SeekFrom};
        let mut reader = File::open(path)?;
        reader.seek(SeekFrom::Start(*kept))?;
        reader.read_to_end(&mut dropped)?;
    }
    let mut keep = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&torn)?;
    std::io::Write::write_all(&mut keep, &dropped)?;
    keep.sync_all()?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    tracing::warn!(
        file = %path.display(),
        offset = kept,
        bytes_dropped = file_len - kept,
        kept_in = %torn.display(),
        reason = %reason,
        "truncating a torn write at the end of the log"
    );
    let writable = OpenOptions::new().write(true).open(path)?;
    writable.set_len(*kept)?;
    writable.sync_all()?;
    Ok(())
}

/// A segment opened, with its index file read and checked.
struct Prepared {
    file: File,
    summary: Option<SegmentSummary>,
    /// The segment had an index file that failed its checks.
    stale: bool,
}

/// Opens a segment and loads its index file; one that fails its checks is reported (with a
/// warning) and ignored, so that the segment is scanned.
fn prepare(path: &Path, first_position: u64, index_dir: &Path) -> Result<Prepared, StoreError> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let (summary, stale) = match index_file::load(index_dir, first_position, &file, file_len) {
        Ok(summary) => (summary, false),
        Err(reason) => {
            tracing::warn!(
                segment = %path.display(),
                reason = %reason,
                "ignoring the segment's index file and scanning the segment"
            );
            (None, true)
        }
    };
    Ok(Prepared {
        file,
        summary,
        stale,
    })
}

/// Adds one segment to `index`, from its index file and a scan of the rest, or from a scan of
/// all of it (adding a finished segment's summary, for its index file, to `summaries`). Returns the segment's length once recovered, how much an index file covers, and
/// the last segment's bad tail if it has one.
fn open_segment(
    path: &Path,
    first_position: u64,
    tears: Tears,
    prepared: Prepared,
    index: &mut Index,
    summaries: &mut Vec<SegmentSummary>,
) -> Result<(u64, u64, Option<Tail>), StoreError> {
    if first_position != index.head() + 1 {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!(
                "segment starts at position {first_position}, the log continues at {}",
                index.head() + 1
            ),
        });
    }
    let Prepared { file, summary, .. } = prepared;
    let segment = index.segments.len() as u32;
    let Some(summary) = summary else {
        let mut builder = SummaryBuilder::new(first_position);
        let (len, tail) = scan_segment(path, file, 0, tears, index, Some(&mut builder))?;
        if tears == Tears::Never && !builder.is_empty() {
            summaries.push(builder.finish());
        }
        return Ok((len, 0, tail));
    };
    index.entries.extend(summary.entries(segment));
    index.streams.reserve(summary.streams.len());
    for (name, range) in summary.streams {
        let positions = &summary.positions[range];
        index
            .streams
            .entry(name)
            .or_default()
            .extend(positions.iter().copied());
    }
    let (len, tail) = scan_segment(path, file, summary.covered_len, tears, index, None)?;
    Ok((len, summary.covered_len, tail))
}

/// The segment files, in log order. A `.seg` file whose name is not a position fails the
/// open rather than being skipped: its events would silently go missing.
pub(crate) fn list_segments(segments_dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut segments = Vec::new();
    let entries = match fs::read_dir(segments_dir) {
        Ok(entries) => entries,
        // A read-only open of a directory without a log: the witnesses decide what that means.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXTENSION) {
            continue;
        }
        let first_position = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: "segment file name is not a position".into(),
            })?;
        segments.push((first_position, path));
    }
    segments.sort_unstable();
    Ok(segments)
}

/// Where bad bytes in a segment may be an unfinished write rather than damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tears {
    /// Nowhere: a segment before the last was finished before the next was started.
    Never,
    /// In the last segment, at its very end only (a torn last record, a zero-filled tail, an
    /// append without its end): when no acknowledged end is known for it.
    AtTheEnd,
    /// In the last segment, anywhere from this byte on: the end of the last acknowledged
    /// append. Nothing after it was acknowledged, so pages of the unfinished batch that reached
    /// the disk out of order (a hole with data after it) are torn too.
    After(u64),
}

/// A verified record of an append whose end has not been seen yet.
struct Scanned {
    offset: u64,
    len: u32,
    position: u64,
    stream: String,
    revision: u64,
    event_id: Uuid,
}

/// Scans one segment from `start` (the end of an append) into `index`, feeding `builder` too
/// if given; returns the length of its complete appends and, for the last segment, the bad
/// tail after them if there is one (damage anywhere else is an error).
fn scan_segment(
    path: &Path,
    file: File,
    start: u64,
    tears: Tears,
    index: &mut Index,
    mut builder: Option<&mut SummaryBuilder>,
) -> Result<(u64, Option<Tail>), StoreError> {
    let corrupt = |offset: u64, reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let file_len = file.metadata()?.len();
    let segment = index.segments.len() as u32;
    let is_last = tears != Tears::Never;
    // Bad bytes at `at` are past the acknowledged end: an unfinished write, whatever follows.
    let unfinished = |at: u64| match tears {
        Tears::After(end) => at >= end,
        Tears::Never | Tears::AtTheEnd => false,
    };
    let past_the_end = |reason: String| {
        format!("{reason}, after the end of the last acknowledged append: an unfinished write")
    };

    let mut reader = BufReader::with_capacity(1024 * 1024, &file);
    std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(start))?;
    let mut body = Vec::new();
    let mut pending: Vec<Scanned> = Vec::new();
    let mut offset = start;
    // End of the last complete append: what survives if the tail is torn.
    let mut kept = start;
    let torn_reason = loop {
        let remaining = file_len - offset;
        if remaining == 0 {
            if pending.is_empty() {
                break None;
            }
            break Some((
                kept,
                format!(
                    "the file ends inside an append ({} of its records present)",
                    pending.len()
                ),
            ));
        }
        if remaining < HEADER_LEN as u64 {
            break Some((
                offset,
                format!("{remaining} bytes, fewer than a record header"),
            ));
        }
        let mut header = [0u8; HEADER_LEN];
        reader.read_exact(&mut header)?;
        let header = Header::parse(&header);
        let frame_end = offset + HEADER_LEN as u64 + u64::from(header.body_len);
        if header.body_len > MAX_BODY_LEN {
            if remaining == HEADER_LEN as u64 {
                break Some((
                    offset,
                    format!("a lone header of implausible length {}", header.body_len),
                ));
            }
            if unfinished(offset) {
                break Some((
                    offset,
                    past_the_end(format!("implausible record length {}", header.body_len)),
                ));
            }
            return Err(corrupt(
                offset,
                format!("implausible record length {}", header.body_len),
            ));
        }
        if frame_end > file_len {
            break Some((
                offset,
                format!(
                    "a record of {} bytes runs past the end of the file",
                    header.body_len
                ),
            ));
        }
        body.resize(header.body_len as usize, 0);
        reader.read_exact(&mut body)?;
        if !header.matches(&body) {
            // A torn last record, or a tail of zeros (a file extended, its data never
            // written): nothing after it is data.
            if is_last && (frame_end == file_len || all_zero(&file, frame_end, file_len)?) {
                break Some((offset, "CRC mismatch in the last record".into()));
            }
            if unfinished(offset) {
                break Some((offset, past_the_end("CRC mismatch".into())));
            }
            return Err(corrupt(offset, "CRC mismatch".into()));
        }
        let head = match RecordHead::decode(body.as_slice()) {
            Ok(head) => head,
            Err(e) if unfinished(offset) => {
                break Some((
                    offset,
                    past_the_end(format!("undecodable record body: {e}")),
                ));
            }
            Err(e) => return Err(corrupt(offset, format!("undecodable record body: {e}"))),
        };
        let expected = index.head() + pending.len() as u64 + 1;
        if head.position != expected && unfinished(offset) {
            break Some((
                offset,
                past_the_end(format!(
                    "record holds position {}, expected {expected}",
                    head.position
                )),
            ));
        }
        if head.position != expected {
            return Err(corrupt(
                offset,
                format!(
                    "record holds position {}, expected {expected}",
                    head.position
                ),
            ));
        }
        let event_id = Uuid::from_slice(&head.event_id)
            .map_err(|_| corrupt(offset, "event id is not 16 bytes".into()))?;
        pending.push(Scanned {
            offset,
            len: HEADER_LEN as u32 + header.body_len,
            position: head.position,
            stream: head.stream,
            revision: head.revision,
            event_id,
        });
        offset = frame_end;
        if head.append_end {
            if let Some(builder) = builder.as_deref_mut() {
                for record in &pending {
                    builder.push(record.len, &record.stream, record.event_id);
                }
            }
            apply(index, segment, &mut pending).map_err(|(at, reason)| corrupt(at, reason))?;
            kept = offset;
        }
    };

    let tail = match torn_reason {
        None => None,
        Some((at, reason)) if !is_last => return Err(corrupt(at, reason)),
        Some((at, reason)) => Some(Tail {
            path: path.to_path_buf(),
            kept,
            at,
            file_len,
            reason,
        }),
    };
    index.segments.push(Arc::new(SegmentHandle {
        path: path.to_path_buf(),
        file,
    }));
    Ok((kept, tail))
}

/// Adds a complete append's records to the index, checking that revisions are dense.
fn apply(index: &mut Index, segment: u32, pending: &mut Vec<Scanned>) -> Result<(), (u64, String)> {
    for record in pending.drain(..) {
        let positions = index.streams.entry(record.stream).or_default();
        if record.revision != positions.len() as u64 {
            return Err((
                record.offset,
                format!(
                    "record holds revision {} of its stream, expected {}",
                    record.revision,
                    positions.len()
                ),
            ));
        }
        positions.push(record.position);
        index.entries.push(Entry {
            offset: record.offset,
            event_id: record.event_id,
            segment,
            len: record.len,
        });
        debug_assert_eq!(index.head(), record.position);
    }
    Ok(())
}

/// Whether the file holds nothing but zero bytes from `from` to `to`.
fn all_zero(file: &File, from: u64, to: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < to {
        let n = (to - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}
