//! A consistent cut of a live log for a backup: which bytes of which segment files hold every
//! acknowledged append up to one head, read beside a running writer without stopping it.
//!
//! Segments are append-only and only the last one grows; the acknowledged record names the
//! segment and the offset where the last acknowledged append ends. Every segment before that
//! one is sealed, and the bytes of that one up to the offset never change while the writer
//! runs (a torn tail is only ever cut at an open, which the writer's lock excludes). So copying
//! those bytes, in any order and at any pace, copies exactly the log through that head.

use std::fs;
use std::path::{Path, PathBuf};

use super::acknowledged::{self, Reading};
use super::recovery::{self, Mode, SEGMENTS_DIR};
use crate::StoreError;

/// The bytes of a log that hold it through [`LogCut::head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCut {
    /// The last position the cut holds (0: the log is empty).
    pub head: u64,
    /// Each segment file to copy, in order, and how many of its first bytes.
    pub segments: Vec<(PathBuf, u64)>,
}

/// The log in `dir` through its acknowledged head, as it is now. Read-only; safe beside a
/// writer. A log without an acknowledged record (written by an older version, or whose record
/// cannot be read) is cut where a read-only open would end it.
pub fn cut(dir: &Path) -> Result<LogCut, StoreError> {
    // The mark first: segments listed after it include the one it names, even if the writer
    // starts a new segment in between.
    let reading = acknowledged::read(dir)?;
    let segments = recovery::list_segments(&dir.join(SEGMENTS_DIR))?;
    let mark = match reading {
        Reading::Mark(mark) => mark,
        Reading::Absent | Reading::Unreadable(_) => return cut_by_recovery(dir, segments),
    };
    let mut cut = LogCut {
        head: mark.head,
        segments: Vec::new(),
    };
    if mark.head == 0 {
        return Ok(cut);
    }
    for (first, path) in segments {
        if first > mark.segment {
            break;
        }
        let len = fs::metadata(&path)?.len();
        if first < mark.segment {
            cut.segments.push((path, len));
            continue;
        }
        if len < mark.end {
            return Err(StoreError::Corrupt {
                reason: format!(
                    "the file is {len} bytes long, but the acknowledged append through position \
                     {} ends at byte {}: run `readnet doctor`",
                    mark.head, mark.end
                ),
                offset: len,
                path,
            });
        }
        cut.segments.push((path, mark.end));
        return Ok(cut);
    }
    Err(StoreError::Corrupt {
        reason: format!(
            "the segment starting at position {} that holds the acknowledged head {} is \
             missing: run `readnet doctor`",
            mark.segment, mark.head
        ),
        offset: 0,
        path: dir.join(SEGMENTS_DIR),
    })
}

fn cut_by_recovery(dir: &Path, segments: Vec<(u64, PathBuf)>) -> Result<LogCut, StoreError> {
    let recovered = recovery::recover(dir, Mode::Read)?;
    let mut cut = LogCut {
        head: recovered.index.head(),
        segments: Vec::new(),
    };
    let Some((last_path, _, last_len)) = recovered.last_segment else {
        return Ok(cut);
    };
    for (_, path) in segments {
        if path == last_path {
            cut.segments.push((path, last_len));
            break;
        }
        let len = fs::metadata(&path)?.len();
        cut.segments.push((path, len));
    }
    Ok(cut)
}
