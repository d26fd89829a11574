//! Witnesses of how long the log was: what recovery checks the log against before it discards
//! anything or starts an empty ledger.
//!
//! Three files say how far the log reached, each written only after the records it describes
//! were synced: the acknowledged head (after every batch), the segments' index files (for
//! finished segments, and the active one at close) and the index checkpoint (at close). A log
//! that ends before any of them says is damaged, not torn. The acknowledged head is trusted as
//! it is (its slots carry a CRC). An index file or the checkpoint counts only when its whole
//! CRC holds, and that is checked only when its header claims more than the log holds, so a
//! healthy open reads a few header bytes of each.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::acknowledged::{self, Reading};
use super::checkpoint::CHECKPOINT_FILE;

/// A witness's claim: the log reached at least `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub head: u64,
    /// The file that says so.
    pub source: PathBuf,
}

/// What a read-only open scanned: the last segment it listed (its first position and path) and
/// the length it read of it. A writer may go on appending beside a read-only open; an index
/// file or checkpoint it writes meanwhile claims what the scan could not see, and is no
/// evidence of damage.
#[derive(Debug, Clone)]
pub(crate) struct Scanned {
    pub last_first: u64,
    pub last_path: PathBuf,
    pub last_len: u64,
}

impl Scanned {
    /// Whether the log grew since the scan: the last segment is longer, or a later one exists.
    fn grew(&self, index_first: Option<u64>) -> bool {
        let longer = fs::metadata(&self.last_path).is_ok_and(|m| m.len() > self.last_len);
        let later = index_first.is_some_and(|first| {
            first > self.last_first
                && self
                    .last_path
                    .parent()
                    .is_some_and(|dir| super::recovery::segment_path(dir, first).exists())
        });
        longer || later
    }
}

/// The strongest claim of the store in `dir` that its log reached past `recovered_head`, if
/// any witness makes one. With `scanned` (a read-only open), index files and the checkpoint of
/// a log that grew since the scan are passed over.
pub(crate) fn claim_beyond(
    dir: &Path,
    index_dir: &Path,
    acknowledged: &Reading,
    recovered_head: u64,
    scanned: Option<&Scanned>,
) -> io::Result<Option<Claim>> {
    let mut best: Option<Claim> = None;
    let mut consider = |head: u64, source: PathBuf| {
        if head > recovered_head && best.as_ref().is_none_or(|b| head > b.head) {
            best = Some(Claim { head, source });
        }
    };
    if let Reading::Mark(mark) = acknowledged {
        consider(mark.head, dir.join(acknowledged::ACKNOWLEDGED_FILE));
    }
    let entries = match fs::read_dir(index_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(best),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let claimed = if path.extension().and_then(|e| e.to_str()) == Some("idx") {
            index_file_claim(&path)?
        } else if path.file_name().and_then(|n| n.to_str()) == Some(CHECKPOINT_FILE) {
            checkpoint_claim(&path)?
        } else {
            None
        };
        let index_first = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(head) = claimed
            && head > recovered_head
            && !scanned.is_some_and(|s| s.grew(index_first))
            && whole_crc_holds(&path)?
        {
            consider(head, path);
        }
    }
    Ok(best)
}

/// The last position an index file's header says its segment holds.
fn index_file_claim(path: &Path) -> io::Result<Option<u64>> {
    // magic, first position, covered length, record count.
    let Some(header) = read_prefix::<32>(path)? else {
        return Ok(None);
    };
    if &header[..8] != b"RNIDX001" {
        return Ok(None);
    }
    let first = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    let count = u64::from_le_bytes(header[24..32].try_into().expect("8 bytes"));
    Ok((first > 0 && count > 0).then(|| first.saturating_add(count - 1)))
}

/// The head the checkpoint's header describes.
fn checkpoint_claim(path: &Path) -> io::Result<Option<u64>> {
    let Some(header) = read_prefix::<16>(path)? else {
        return Ok(None);
    };
    if &header[..8] != b"RNCKP001" {
        return Ok(None);
    }
    Ok(Some(u64::from_le_bytes(
        header[8..16].try_into().expect("8 bytes"),
    )))
}

fn read_prefix<const N: usize>(path: &Path) -> io::Result<Option<[u8; N]>> {
    let mut bytes = [0u8; N];
    match File::open(path).and_then(|mut file| file.read_exact(&mut bytes)) {
        Ok(()) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether the file's last four bytes are the CRC32C of everything before them, read in
/// chunks (a checkpoint can be hundreds of megabytes).
fn whole_crc_holds(path: &Path) -> io::Result<bool> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < 4 {
        return Ok(false);
    }
    let mut remaining = len - 4;
    let mut crc = 0u32;
    let mut buf = vec![0u8; 1 << 20];
    while remaining > 0 {
        let n = remaining.min(buf.len() as u64) as usize;
        file.read_exact(&mut buf[..n])?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        remaining -= n as u64;
    }
    let mut stored = [0u8; 4];
    file.read_exact(&mut stored)?;
    Ok(crc == u32::from_le_bytes(stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::recovery::segment_path;

    #[test]
    fn a_log_grows_past_a_scan_by_a_longer_last_segment_or_a_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let last = segment_path(dir.path(), 101);
        fs::write(&last, [0u8; 40]).unwrap();
        let scanned = Scanned {
            last_first: 101,
            last_path: last.clone(),
            last_len: 40,
        };
        assert!(!scanned.grew(Some(101)), "as scanned");
        assert!(!scanned.grew(Some(7)), "an earlier segment's index file");
        assert!(
            !scanned.grew(Some(150)),
            "an index file of a segment that does not exist is evidence, not growth"
        );
        fs::write(segment_path(dir.path(), 150), [0u8; 8]).unwrap();
        assert!(scanned.grew(Some(150)), "a segment started after the scan");
        fs::write(&last, [0u8; 60]).unwrap();
        assert!(scanned.grew(Some(101)), "the last segment grew");
    }
}
