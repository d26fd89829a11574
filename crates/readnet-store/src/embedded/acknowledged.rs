//! The acknowledged head: how far the log must reach when it is opened.
//!
//! A crash can cut short only the batch being written when it came, never one already
//! acknowledged (acknowledged means fdatasynced). Recovery may therefore discard a bad tail only
//! if it lies after the last acknowledged append. This file says where that is:
//!
//! `acknowledged`, two slots of 44 bytes at offsets 0 and 512 (never in one sector):
//!
//! ```text
//! magic "RNACK001"
//! u64 LE head (the last acknowledged position)
//! u64 LE first position of the segment that holds it   u64 LE byte offset of the end of its append
//! u64 LE reserved (0)
//! u32 LE CRC32C of the 40 bytes before it
//! ```
//!
//! The writer writes a slot after each batch's sync and before it acknowledges the batch,
//! alternating slots, so that a torn slot write leaves the other slot whole. The file is not
//! synced per batch (that would double the syncs): the page cache keeps it exact across a
//! process kill, and it is synced at least once a second and at close, so after a power loss it
//! lags by at most about a second. It never claims more than is synced: each slot is written
//! after the sync it describes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The file's name in the store directory.
pub(crate) const ACKNOWLEDGED_FILE: &str = "acknowledged";

const MAGIC: &[u8; 8] = b"RNACK001";
const SLOT_LEN: usize = 44;
const SLOT_OFFSETS: [u64; 2] = [0, 512];
/// The longest the file goes unsynced while appends are acknowledged.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The last acknowledged append, as the file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub head: u64,
    /// The first position of the segment holding the append's end.
    pub segment: u64,
    /// The byte offset in that segment where the append ends.
    pub end: u64,
}

impl Mark {
    fn encode(&self) -> [u8; SLOT_LEN] {
        let mut slot = [0u8; SLOT_LEN];
        slot[..8].copy_from_slice(MAGIC);
        slot[8..16].copy_from_slice(&self.head.to_le_bytes());
        slot[16..24].copy_from_slice(&self.segment.to_le_bytes());
        slot[24..32].copy_from_slice(&self.end.to_le_bytes());
        let crc = crc32c::crc32c(&slot[..40]);
        slot[40..].copy_from_slice(&crc.to_le_bytes());
        slot
    }

    fn decode(slot: &[u8; SLOT_LEN]) -> Option<Mark> {
        let word = |i: usize| u64::from_le_bytes(slot[i..i + 8].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(slot[40..].try_into().expect("4 bytes"));
        (&slot[..8] == MAGIC && crc == crc32c::crc32c(&slot[..40])).then(|| Mark {
            head: word(8),
            segment: word(16),
            end: word(24),
        })
    }
}

/// What the file says, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reading {
    /// There is no file: a log from before this file existed, or a new one.
    Absent,
    /// The newer of the valid slots.
    Mark(Mark),
    /// The file exists but neither slot holds a valid mark.
    Unreadable(String),
}

/// Reads the acknowledged head of the store in `dir`.
pub(crate) fn read(dir: &Path) -> io::Result<Reading> {
    let file = match File::open(dir.join(ACKNOWLEDGED_FILE)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Reading::Absent),
        Err(e) => return Err(e),
    };
    let mut best: Option<Mark> = None;
    for offset in SLOT_OFFSETS {
        let mut slot = [0u8; SLOT_LEN];
        match file.read_exact_at(&mut slot, offset) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => continue,
            Err(e) => return Err(e),
        }
        if let Some(mark) = Mark::decode(&slot)
            && best.is_none_or(|b| mark.head > b.head)
        {
            best = Some(mark);
        }
    }
    Ok(match best {
        Some(mark) => Reading::Mark(mark),
        None => Reading::Unreadable(format!(
            "{} holds no valid slot ({} bytes)",
            dir.join(ACKNOWLEDGED_FILE).display(),
            file.metadata()?.len()
        )),
    })
}

/// The writer's handle on the file.
pub(crate) struct Marker {
    path: PathBuf,
    file: File,
    /// The slot the next mark goes to.
    next_slot: usize,
    last_sync: Instant,
    unsynced: bool,
}

impl Marker {
    /// Opens (creating if needed) the file in `dir` and records `mark` in both slots, synced:
    /// the head recovery found is where the log now must reach.
    pub(crate) fn open(dir: &Path, mark: Mark) -> io::Result<Marker> {
        let path = dir.join(ACKNOWLEDGED_FILE);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut marker = Marker {
            path,
            file,
            next_slot: 0,
            last_sync: Instant::now(),
            unsynced: false,
        };
        marker.reset(mark)?;
        if !existed {
            super::recovery::sync_dir(dir)?;
        }
        Ok(marker)
    }

    /// Writes `mark` into both slots and syncs: for open and for a repair, where the head may
    /// move back.
    pub(crate) fn reset(&mut self, mark: Mark) -> io::Result<()> {
        let slot = mark.encode();
        for offset in SLOT_OFFSETS {
            self.file.write_all_at(&slot, offset)?;
        }
        self.file.sync_data()?;
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(())
    }

    /// Records a synced append, before it is acknowledged. Syncs the file when it has gone
    /// unsynced for a second.
    pub(crate) fn record(&mut self, mark: Mark) -> io::Result<()> {
        self.file
            .write_all_at(&mark.encode(), SLOT_OFFSETS[self.next_slot])?;
        self.next_slot ^= 1;
        self.unsynced = true;
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Syncs what has been recorded.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(head: u64) -> Mark {
        Mark {
            head,
            segment: 1,
            end: head * 100,
        }
    }

    #[test]
    fn the_newer_valid_slot_wins_and_a_torn_slot_leaves_the_other() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Reading::Absent);
        let mut marker = Marker::open(dir.path(), mark(5)).unwrap();
        marker.record(mark(6)).unwrap();
        marker.record(mark(7)).unwrap();
        marker.sync().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Reading::Mark(mark(7)));
        // Slot 0 holds 6, slot 1 holds 7 (written last). Tear slot 1: 6 remains.
        let path = dir.path().join(ACKNOWLEDGED_FILE);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[0xff; 3], 512 + 20).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Reading::Mark(mark(6)));
        file.write_all_at(&[0xff; 3], 20).unwrap();
        assert!(matches!(
            read(dir.path()).unwrap(),
            Reading::Unreadable(reason) if reason.contains("no valid slot")
        ));
    }

    #[test]
    fn reset_moves_the_head_back_in_both_slots() {
        let dir = tempfile::tempdir().unwrap();
        let mut marker = Marker::open(dir.path(), mark(9)).unwrap();
        marker.record(mark(10)).unwrap();
        marker.reset(mark(4)).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Reading::Mark(mark(4)));
    }
}
