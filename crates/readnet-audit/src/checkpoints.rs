//! Signed checkpoints kept in the data directory.
//!
//! - `tlog/checkpoint`: the latest, the name the C2SP tlog-tiles layout serves it under.
//! - `tlog/checkpoints`: every checkpoint signed, appended, each as a line `note <bytes>`
//!   followed by the note: an archive a mirror or an auditor can read back in order.
//! - `tlog/periods/<YYYY-MM>`: the checkpoint at a closed settlement period's
//!   `through_position`. The first close of a period is the one kept, as settlement keeps it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use readnet_tlog::Checkpoint;

/// A signed checkpoint: the note as served and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub note: String,
    pub checkpoint: Checkpoint,
}

#[derive(Clone)]
pub(crate) struct Files {
    tlog: PathBuf,
}

impl Files {
    pub(crate) fn new(tlog: &Path) -> Files {
        Files {
            tlog: tlog.to_path_buf(),
        }
    }

    fn latest_path(&self) -> PathBuf {
        self.tlog.join("checkpoint")
    }

    fn period_path(&self, period: &str) -> PathBuf {
        self.tlog.join("periods").join(period)
    }

    pub(crate) fn latest(&self) -> std::io::Result<Option<String>> {
        read_if_there(&self.latest_path())
    }

    pub(crate) fn period(&self, period: &str) -> std::io::Result<Option<String>> {
        read_if_there(&self.period_path(period))
    }

    /// Keeps a newly signed checkpoint: appended to the archive, then made the latest.
    pub(crate) fn keep_latest(&self, note: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.tlog)?;
        let mut archive = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tlog.join("checkpoints"))?;
        archive.write_all(format!("note {}\n{note}", note.len()).as_bytes())?;
        archive.sync_data()?;
        replace(&self.latest_path(), note)
    }

    /// Keeps a period's checkpoint, unless the period has one already (the first close wins).
    pub(crate) fn keep_period(&self, period: &str, note: &str) -> std::io::Result<bool> {
        let path = self.period_path(period);
        if path.exists() {
            return Ok(false);
        }
        std::fs::create_dir_all(path.parent().expect("periods/ has a parent"))?;
        replace(&path, note)?;
        Ok(true)
    }
}

fn read_if_there(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `text` to `path` whole or not at all, durably.
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(path.parent().expect("a file has a parent"))?.sync_all()
}
