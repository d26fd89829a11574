//! Tables of rows indexed by dense id: in memory, or on disk with a bounded hot set (ADR 0027).
//!
//! A projection's largest state is a row per catalogued item ([`crate::intern`] gives the ids).
//! [`RowStore`] is what a fold needs of such a table: the row at an id, changed in place, and a
//! new row at the end. Two implementations:
//!
//! - `Vec<T>`: every row in memory. What the folds always used, at the same speed.
//! - [`DiskRows`]: the rows in an embedded B-tree file (`redb`), with at most `hot_rows` of them
//!   in memory, chosen by CLOCK (an approximation of least-recently-used: a row touched since
//!   the hand last passed it gets a second chance). A changed row stays in memory until it is
//!   evicted; evictions are written in batches, one transaction each.
//!
//! [`Rows`] holds either and is what a state keeps. Its canonical encoding (ADR 0022) is the
//! sequence of rows in id order whichever holds them, so a digest or snapshot is byte-identical;
//! a decoded state is always in memory.
//!
//! **The file is a cache of the fold, never the truth.** [`DiskRows::create`] starts from an
//! empty file (a file left by an earlier run is removed). Its metadata records the position of
//! the last [`DiskRows::checkpoint`], when every row was written in the same transaction, or
//! that rows were written since (an eviction batch clears the mark). [`DiskRows::resume`]
//! accepts a file only if its last checkpoint is at the position the caller's state is at;
//! anything else (no file, another projection or fold version, a file torn by a crash, rows
//! written after the checkpoint) is refused with the reason, and the caller rebuilds from the log
//! or a snapshot. Batches between checkpoints are committed without fsync (`Durability::None`):
//! after a crash they are discarded by redb or refused by the mark, never read.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTableMetadata, TableDefinition,
};
use serde::de::DeserializeOwned;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a row must be: a small plain value, encoded canonically (postcard) on disk.
pub trait Row: Copy + Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Copy + Serialize + DeserializeOwned + Send + Sync + 'static> Row for T {}

/// A table of rows by dense id (0, 1, 2, ...): what a fold needs of it.
pub trait RowStore<T: Row> {
    /// How many rows (ids `0..len`).
    fn len(&self) -> usize;
    /// Whether there is no row.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The row at `id`, by value. Panics past [`RowStore::len`].
    fn get(&self, id: usize) -> T;
    /// The row at `id`, to change in place. Panics past [`RowStore::len`].
    fn get_mut(&mut self, id: usize) -> &mut T;
    /// Adds a row; its id is the length before.
    fn push(&mut self, row: T);
}

impl<T: Row> RowStore<T> for Vec<T> {
    #[inline]
    fn len(&self) -> usize {
        Vec::len(self)
    }
    #[inline]
    fn get(&self, id: usize) -> T {
        self[id]
    }
    #[inline]
    fn get_mut(&mut self, id: usize) -> &mut T {
        &mut self[id]
    }
    #[inline]
    fn push(&mut self, row: T) {
        Vec::push(self, row);
    }
}

/// Where a projection keeps its cold rows, and how many rows it may keep in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdState {
    /// A directory of the projection's own: `<dir>/<table>.redb` is created there.
    pub dir: PathBuf,
    /// Rows kept in memory at most (at least 64).
    pub hot_rows: usize,
}

/// Why the disk tier failed or a file of it was refused.
#[derive(Debug, thiserror::Error)]
pub enum ColdError {
    #[error("the cold-state file {path} cannot be used: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("the cold-state file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the cold-state file {path}: {error}")]
    Db {
        path: PathBuf,
        error: Box<redb::Error>,
    },
}

/// The file format of the tier's metadata.
const FORMAT: u32 = 1;
/// The rows, by id.
const ROWS: TableDefinition<u32, &[u8]> = TableDefinition::new("rows");
/// One entry, [`META_KEY`]: a [`Meta`].
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const META_KEY: &str = "tier";
/// The longest encoding of a row the tier writes.
const ROW_MAX_BYTES: usize = 256;

/// What the file says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    format: u32,
    /// The table's name, with the projection's.
    table: String,
    /// The projection's fold version.
    version: u32,
    /// Rows of the fold (in the file at a checkpoint; some may be only in memory after it).
    rows: u64,
    /// The position of the fold when every row was last written in one transaction; `None`
    /// once rows were written after it.
    checkpoint: Option<u64>,
}

/// A row in memory: its id, whether it changed since it was read or written, whether it was
/// touched since the CLOCK hand last passed.
#[derive(Debug, Clone, Copy)]
struct Slot<T> {
    id: u32,
    row: T,
    dirty: bool,
    referenced: bool,
}

/// Rows on disk with a bounded hot set in memory. See the module docs.
pub struct DiskRows<T: Row> {
    path: PathBuf,
    table: String,
    version: u32,
    db: Database,
    /// The committed rows, as of the last write (refreshed after each).
    read: ReadOnlyTable<u32, &'static [u8]>,
    len: usize,
    /// Id → index into `slots`.
    hot: HashMap<u32, u32, rustc_hash::FxBuildHasher>,
    slots: Vec<Slot<T>>,
    /// Indexes of `slots` free for reuse.
    free: Vec<u32>,
    hand: usize,
    hot_rows: usize,
    /// Rows evicted per write.
    batch: usize,
    buffer: Vec<u8>,
    stats: ColdStats,
    kind: PhantomData<fn() -> T>,
}

/// What the disk tier did: for the benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColdStats {
    /// Rows read from the file into memory.
    pub loads: u64,
    /// Rows evicted from memory.
    pub evictions: u64,
    /// Rows written to the file.
    pub writes: u64,
    /// Write transactions committed.
    pub commits: u64,
}

fn db_error(path: &Path, error: impl Into<redb::Error>) -> ColdError {
    ColdError::Db {
        path: path.to_owned(),
        error: Box::new(error.into()),
    }
}

impl<T: Row> DiskRows<T> {
    /// An empty table in `<cold.dir>/<table>.redb`, removing any file left there. `version` is
    /// the projection's fold version, recorded for [`DiskRows::resume`].
    pub fn create(cold: &ColdState, table: &str, version: u32) -> Result<Self, ColdError> {
        let path = cold.dir.join(format!("{table}.redb"));
        let io = |error| ColdError::Io {
            path: path.clone(),
            error,
        };
        std::fs::create_dir_all(&cold.dir).map_err(io)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "cold-state file of an earlier run removed; rebuilding it")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let db = Self::builder(cold)
            .create(&path)
            .map_err(|e| db_error(&path, e))?;
        let meta = Meta {
            format: FORMAT,
            table: table.to_owned(),
            version,
            rows: 0,
            checkpoint: Some(0),
        };
        let txn = db.begin_write().map_err(|e| db_error(&path, e))?;
        {
            txn.open_table(ROWS).map_err(|e| db_error(&path, e))?;
            let mut m = txn.open_table(META).map_err(|e| db_error(&path, e))?;
            let bytes = postcard::to_stdvec(&meta).expect("metadata encodes");
            m.insert(META_KEY, bytes.as_slice())
                .map_err(|e| db_error(&path, e))?;
        }
        txn.commit().map_err(|e| db_error(&path, e))?;
        Self::opened(cold, path, table, version, db, 0)
    }

    /// The table left in `<cold.dir>/<table>.redb` by an earlier run, if its last checkpoint is
    /// at `position` for this table and fold version and no row was written after it; otherwise
    /// [`ColdError::Refused`] with the reason (the caller rebuilds).
    pub fn resume(
        cold: &ColdState,
        table: &str,
        version: u32,
        position: u64,
    ) -> Result<Self, ColdError> {
        let path = cold.dir.join(format!("{table}.redb"));
        let refused = |reason: String| ColdError::Refused {
            path: path.clone(),
            reason,
        };
        if !path.exists() {
            return Err(refused("there is no such file".to_owned()));
        }
        let db = Self::builder(cold)
            .open(&path)
            .map_err(|e| refused(format!("it does not open: {e}")))?;
        let meta = {
            let txn = db.begin_read().map_err(|e| db_error(&path, e))?;
            let m = txn
                .open_table(META)
                .map_err(|e| refused(format!("it has no metadata: {e}")))?;
            let bytes = m
                .get(META_KEY)
                .map_err(|e| db_error(&path, e))?
                .ok_or_else(|| refused("it has no metadata".to_owned()))?;
            let meta: Meta = postcard::from_bytes(bytes.value())
                .map_err(|e| refused(format!("its metadata does not decode: {e}")))?;
            let rows = txn
                .open_table(ROWS)
                .map_err(|e| db_error(&path, e))?
                .len()
                .map_err(|e| db_error(&path, e))?;
            (meta, rows)
        };
        let (meta, rows) = meta;
        if meta.format != FORMAT || meta.table != table || meta.version != version {
            return Err(refused(format!(
                "it is {} version {} (format {}), not {table} version {version}",
                meta.table, meta.version, meta.format
            )));
        }
        match meta.checkpoint {
            Some(at) if at == position => {}
            Some(at) => {
                return Err(refused(format!(
                    "its checkpoint is at position {at}, the state is at {position}"
                )));
            }
            None => {
                return Err(refused(
                    "rows were written after its last checkpoint (the run that wrote it stopped before the next)"
                        .to_owned(),
                ));
            }
        }
        if rows != meta.rows {
            return Err(refused(format!(
                "it holds {rows} rows, its metadata says {}",
                meta.rows
            )));
        }
        let len = usize::try_from(meta.rows).expect("rows fit a usize");
        Self::opened(cold, path, table, version, db, len)
    }

    fn builder(cold: &ColdState) -> redb::Builder {
        let mut builder = Database::builder();
        // redb's page cache: about as much as the hot rows, at least 16 MiB.
        builder.set_cache_size((cold.hot_rows.max(64) * 64).max(16 << 20));
        builder
    }

    fn opened(
        cold: &ColdState,
        path: PathBuf,
        table: &str,
        version: u32,
        db: Database,
        len: usize,
    ) -> Result<Self, ColdError> {
        let hot_rows = cold.hot_rows.max(64);
        let read = Self::reader(&db, &path)?;
        Ok(Self {
            path,
            table: table.to_owned(),
            version,
            db,
            read,
            len,
            hot: HashMap::with_capacity_and_hasher(hot_rows, Default::default()),
            slots: Vec::with_capacity(hot_rows),
            free: Vec::new(),
            hand: 0,
            hot_rows,
            // A commit copies every B-tree leaf it touches, and evicted ids are scattered: a
            // quarter of the hot set at once writes far fewer leaves per row than small batches.
            batch: (hot_rows / 4).clamp(1, 1 << 20),
            buffer: Vec::with_capacity(ROW_MAX_BYTES),
            stats: ColdStats::default(),
            kind: PhantomData,
        })
    }

    fn reader(db: &Database, path: &Path) -> Result<ReadOnlyTable<u32, &'static [u8]>, ColdError> {
        let txn = db.begin_read().map_err(|e| db_error(path, e))?;
        txn.open_table(ROWS).map_err(|e| db_error(path, e))
    }

    /// What the tier did so far.
    pub fn stats(&self) -> ColdStats {
        self.stats
    }

    /// Rows in memory now.
    pub fn hot_len(&self) -> usize {
        self.hot.len()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Heap bytes of the hot set (the file's page cache is redb's, bounded by its cache size).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<T>>()
            + self.hot.capacity() * (std::mem::size_of::<(u32, u32)>() + 1)
            + self.free.capacity() * 4
    }

    /// Writes every changed row, and records that the file holds the fold through `position`,
    /// in one durable transaction. What [`DiskRows::resume`] accepts.
    pub fn checkpoint(&mut self, position: u64) -> Result<(), ColdError> {
        let dirty: Vec<usize> = (0..self.slots.len())
            .filter(|&s| {
                self.slots[s].dirty && self.hot.get(&self.slots[s].id) == Some(&(s as u32))
            })
            .collect();
        self.write(&dirty, Some(position), Durability::Immediate)?;
        for s in dirty {
            self.slots[s].dirty = false;
        }
        Ok(())
    }

    /// Writes the rows of `slots` and the metadata in one transaction, then refreshes the reader.
    fn write(
        &mut self,
        slots: &[usize],
        checkpoint: Option<u64>,
        durability: Durability,
    ) -> Result<(), ColdError> {
        let path = &self.path;
        let mut txn = self.db.begin_write().map_err(|e| db_error(path, e))?;
        txn.set_durability(durability)
            .map_err(|e| db_error(path, e))?;
        {
            let mut rows = txn.open_table(ROWS).map_err(|e| db_error(path, e))?;
            for &s in slots {
                let slot = &self.slots[s];
                self.buffer.clear();
                let bytes = postcard::to_io(&slot.row, &mut self.buffer)
                    .map(|_| ())
                    .map_err(|e| ColdError::Io {
                        path: path.clone(),
                        error: std::io::Error::other(e),
                    });
                bytes?;
                rows.insert(slot.id, self.buffer.as_slice())
                    .map_err(|e| db_error(path, e))?;
            }
            {
                let meta = Meta {
                    format: FORMAT,
                    table: self.table.clone(),
                    version: self.version,
                    rows: self.len as u64,
                    checkpoint,
                };
                let mut m = txn.open_table(META).map_err(|e| db_error(path, e))?;
                let bytes = postcard::to_stdvec(&meta).expect("metadata encodes");
                m.insert(META_KEY, bytes.as_slice())
                    .map_err(|e| db_error(path, e))?;
            }
        }
        txn.commit().map_err(|e| db_error(path, e))?;
        self.stats.writes += slots.len() as u64;
        self.stats.commits += 1;
        self.read = Self::reader(&self.db, path)?;
        Ok(())
    }

    /// Frees a batch of slots by CLOCK, writing the changed ones first (one transaction).
    fn evict(&mut self) {
        let mut victims = Vec::with_capacity(self.batch);
        let mut passes = 0;
        while victims.len() < self.batch && passes < 2 * self.slots.len() {
            let s = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            passes += 1;
            let slot = &mut self.slots[s];
            if self.hot.get(&slot.id) != Some(&(s as u32)) {
                continue; // free already
            }
            if slot.referenced {
                slot.referenced = false;
            } else {
                // Out of the map at once, so that a second turn of the hand in this call sees
                // the slot as free and never picks it twice; its row stays in the slot until
                // written below.
                self.hot.remove(&slot.id);
                victims.push(s);
            }
        }
        let dirty: Vec<usize> = victims
            .iter()
            .copied()
            .filter(|&s| self.slots[s].dirty)
            .collect();
        if !dirty.is_empty() {
            // The fold cannot go on without its rows: an I/O error here stops it (the log is
            // the truth; the replay is run again).
            if let Err(e) = self.write(&dirty, None, Durability::None) {
                panic!("the cold tier cannot write back its rows: {e}");
            }
        }
        for s in victims {
            self.free.push(s as u32);
            self.stats.evictions += 1;
        }
    }

    /// Puts a row in memory; the index of its slot.
    fn admit(&mut self, id: u32, row: T, dirty: bool) -> usize {
        if self.free.is_empty() && self.slots.len() >= self.hot_rows {
            self.evict();
        }
        let slot = Slot {
            id,
            row,
            dirty,
            referenced: true,
        };
        let s = match self.free.pop() {
            Some(s) => {
                debug_assert!(
                    self.hot.get(&self.slots[s as usize].id) != Some(&s),
                    "a free slot holds no row in use"
                );
                self.slots[s as usize] = slot;
                s as usize
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.hot.insert(id, s as u32);
        s
    }

    /// A row read from the file. Every id below the length is in memory or in the file: one
    /// that is not means the file was damaged, and is never made up.
    fn load(&self, id: u32) -> T {
        let found = self.read.get(id).unwrap_or_else(|e| {
            panic!("the cold tier {} cannot be read: {e}", self.path.display())
        });
        let Some(bytes) = found else {
            panic!(
                "the cold tier {} has lost row {id}: the file was damaged",
                self.path.display()
            )
        };
        postcard::from_bytes(bytes.value()).unwrap_or_else(|e| {
            panic!(
                "row {id} of the cold tier {} does not decode: {e}",
                self.path.display()
            )
        })
    }

    fn id(&self, id: usize) -> u32 {
        assert!(id < self.len, "row {id} of {} rows", self.len);
        id as u32
    }

    /// Every row in id order: one ordered pass over the file, rows in memory taking the place of
    /// theirs.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let mut file = self
            .read
            .range::<u32>(..)
            .unwrap_or_else(|e| panic!("the cold tier {} cannot be read: {e}", self.path.display()))
            .map(|entry| {
                let (key, value) =
                    entry.unwrap_or_else(|e| panic!("the cold tier cannot be read: {e}"));
                (key.value(), value)
            })
            .peekable();
        (0..self.len as u32).map(move |id| {
            // Skip the file's rows before this one (they were all seen in memory).
            while file.next_if(|(key, _)| *key < id).is_some() {}
            match self.hot.get(&id) {
                Some(&s) => self.slots[s as usize].row,
                None => match file.next_if(|(key, _)| *key == id) {
                    Some((_, value)) => postcard::from_bytes(value.value()).unwrap_or_else(|e| {
                        panic!("row {id} of the cold tier does not decode: {e}")
                    }),
                    None => panic!(
                        "the cold tier {} has lost row {id}: the file was damaged",
                        self.path.display()
                    ),
                },
            }
        })
    }
}

impl<T: Row> RowStore<T> for DiskRows<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, id: usize) -> T {
        let id = self.id(id);
        match self.hot.get(&id) {
            Some(&s) => self.slots[s as usize].row,
            None => self.load(id),
        }
    }

    fn get_mut(&mut self, id: usize) -> &mut T {
        let id = self.id(id);
        let s = match self.hot.get(&id) {
            Some(&s) => s as usize,
            None => {
                let row = self.load(id);
                self.stats.loads += 1;
                self.admit(id, row, false)
            }
        };
        let slot = &mut self.slots[s];
        slot.dirty = true;
        slot.referenced = true;
        &mut slot.row
    }

    fn push(&mut self, row: T) {
        let id = u32::try_from(self.len)
            .ok()
            .filter(|&id| id < u32::MAX)
            .expect("fewer than 2^32 - 1 rows");
        self.len += 1;
        self.admit(id, row, true);
    }
}

impl<T: Row> fmt::Debug for DiskRows<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskRows")
            .field("path", &self.path)
            .field("rows", &self.len)
            .field("hot", &self.hot.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// A table of rows, in memory or on disk: what a state keeps (see the module docs).
pub enum Rows<T: Row> {
    Memory(Vec<T>),
    Disk(Box<DiskRows<T>>),
}

impl<T: Row> Rows<T> {
    /// A table on disk, empty (see [`DiskRows::create`]).
    pub fn on_disk(cold: &ColdState, table: &str, version: u32) -> Result<Self, ColdError> {
        Ok(Rows::Disk(Box::new(DiskRows::create(
            cold, table, version,
        )?)))
    }

    /// Every row in id order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = T> + '_> {
        match self {
            Rows::Memory(rows) => Box::new(rows.iter().copied()),
            Rows::Disk(rows) => Box::new(rows.iter()),
        }
    }

    /// Heap bytes held (rows in memory; for a disk table, its hot set).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Rows::Memory(rows) => rows.capacity() * std::mem::size_of::<T>(),
            Rows::Disk(rows) => rows.heap_bytes(),
        }
    }

    /// The disk tier, if the rows are on disk.
    pub fn disk(&self) -> Option<&DiskRows<T>> {
        match self {
            Rows::Memory(_) => None,
            Rows::Disk(rows) => Some(rows),
        }
    }

    /// See [`DiskRows::checkpoint`]; nothing to do in memory.
    pub fn checkpoint(&mut self, position: u64) -> Result<(), ColdError> {
        match self {
            Rows::Memory(_) => Ok(()),
            Rows::Disk(rows) => rows.checkpoint(position),
        }
    }
}

impl<T: Row> RowStore<T> for Rows<T> {
    #[inline]
    fn len(&self) -> usize {
        match self {
            Rows::Memory(rows) => rows.len(),
            Rows::Disk(rows) => rows.len(),
        }
    }
    #[inline]
    fn get(&self, id: usize) -> T {
        match self {
            Rows::Memory(rows) => rows[id],
            Rows::Disk(rows) => rows.get(id),
        }
    }
    #[inline]
    fn get_mut(&mut self, id: usize) -> &mut T {
        match self {
            Rows::Memory(rows) => &mut rows[id],
            Rows::Disk(rows) => rows.get_mut(id),
        }
    }
    #[inline]
    fn push(&mut self, row: T) {
        match self {
            Rows::Memory(rows) => rows.push(row),
            Rows::Disk(rows) => rows.push(row),
        }
    }
}

impl<T: Row> Default for Rows<T> {
    fn default() -> Self {
        Rows::Memory(Vec::new())
    }
}

impl<T: Row> From<Vec<T>> for Rows<T> {
    fn from(rows: Vec<T>) -> Self {
        Rows::Memory(rows)
    }
}

/// A copy in memory, whichever holds the rows: a disk table's file belongs to one state.
impl<T: Row> Clone for Rows<T> {
    fn clone(&self) -> Self {
        match self {
            Rows::Memory(rows) => Rows::Memory(rows.clone()),
            Rows::Disk(_) => Rows::Memory(self.iter().collect()),
        }
    }
}

impl<T: Row + PartialEq> PartialEq for Rows<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}
impl<T: Row + Eq> Eq for Rows<T> {}

impl<T: Row + fmt::Debug> fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rows::Memory(rows) => rows.fmt(f),
            Rows::Disk(rows) => rows.fmt(f),
        }
    }
}

/// The encoding of a `Vec<T>` of the same rows, whichever holds them.
impl<T: Row> Serialize for Rows<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Rows::Memory(rows) => rows.serialize(serializer),
            Rows::Disk(rows) => {
                let mut seq = serializer.serialize_seq(Some(rows.len()))?;
                for row in rows.iter() {
                    seq.serialize_element(&row)?;
                }
                seq.end()
            }
        }
    }
}

/// Decoded into memory.
impl<'de, T: Row> Deserialize<'de> for Rows<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Rows::Memory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cold(dir: &Path, hot_rows: usize) -> ColdState {
        ColdState {
            dir: dir.to_owned(),
            hot_rows,
        }
    }

    /// Random-looking but fixed updates, the same on both tables.
    fn churn(rows: &mut impl RowStore<Option<(u64, i64)>>, steps: u64) {
        churn_within(rows, steps, u64::MAX);
    }

    /// [`churn`], changing only the first `span` rows: a working set that mostly fits the hot
    /// set, so most rows are touched again before the hand comes round.
    fn churn_within(rows: &mut impl RowStore<Option<(u64, i64)>>, steps: u64, span: u64) {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..steps {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if step % 5 == 0 || rows.is_empty() {
                rows.push((step % 3 != 0).then_some((step, -(step as i64))));
            } else {
                let id = (x % (rows.len() as u64).min(span)) as usize;
                match rows.get_mut(id) {
                    Some((a, b)) => {
                        *a += 1;
                        *b ^= x as i64;
                    }
                    none => *none = Some((x, 0)),
                }
            }
        }
    }

    #[test]
    fn a_disk_table_with_a_small_hot_set_holds_what_memory_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut memory: Vec<Option<(u64, i64)>> = Vec::new();
        let mut disk = DiskRows::create(&cold(dir.path(), 100), "t", 1).unwrap();
        churn(&mut memory, 20_000);
        churn(&mut disk, 20_000);
        assert_eq!(disk.len(), memory.len());
        assert!(disk.hot_len() <= 100, "the hot set is bounded");
        let stats = disk.stats();
        assert!(stats.evictions > 1000 && stats.loads > 1000, "{stats:?}");
        for id in [0, 1, 777, memory.len() - 1] {
            assert_eq!(RowStore::get(&disk, id), memory[id]);
        }
        assert!(disk.iter().eq(memory.iter().copied()));
        let (memory, disk) = (Rows::from(memory), Rows::Disk(Box::new(disk)));
        assert_eq!(
            postcard::to_stdvec(&disk).unwrap(),
            postcard::to_stdvec(&memory).unwrap()
        );
        assert_eq!(disk, memory);
        assert!(matches!(disk.clone(), Rows::Memory(_)));
    }

    #[test]
    fn a_working_set_near_the_hot_set_never_gives_one_slot_to_two_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut memory: Vec<Option<(u64, i64)>> = Vec::new();
        let mut disk = DiskRows::create(&cold(dir.path(), 256), "t", 1).unwrap();
        // Most touches hit rows in memory (referenced again before the hand passes): an
        // eviction goes more than once round the slots to find its batch.
        churn_within(&mut memory, 30_000, 300);
        churn_within(&mut disk, 30_000, 300);
        assert!(disk.stats().evictions > 1_000, "{:?}", disk.stats());
        assert!(disk.iter().eq(memory.iter().copied()));
    }

    #[test]
    fn a_file_is_resumed_only_at_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let cold = cold(dir.path(), 64);
        let mut expected: Vec<Option<(u64, i64)>> = Vec::new();
        churn(&mut expected, 3_000);
        {
            let mut disk = DiskRows::create(&cold, "t", 7).unwrap();
            churn(&mut disk, 3_000);
            disk.checkpoint(42).unwrap();
        }
        // At its checkpoint, of this table and version: the same rows.
        let resumed = DiskRows::<Option<(u64, i64)>>::resume(&cold, "t", 7, 42).unwrap();
        assert!(resumed.iter().eq(expected.iter().copied()));
        drop(resumed);
        let refused = |position, version| {
            DiskRows::<Option<(u64, i64)>>::resume(&cold, "t", version, position)
                .unwrap_err()
                .to_string()
        };
        assert!(refused(41, 7).contains("checkpoint is at position 42"));
        assert!(refused(42, 8).contains("not t version 8"));
        // Rows written after the checkpoint and the process gone before the next: refused.
        {
            let mut disk = DiskRows::<Option<(u64, i64)>>::resume(&cold, "t", 7, 42).unwrap();
            churn(&mut disk, 3_000);
            assert!(disk.stats().commits > 0, "evictions were written");
        }
        let why = refused(42, 7);
        assert!(why.contains("written after its last checkpoint"), "{why}");
        // A file that is not a database.
        std::fs::write(dir.path().join("t.redb"), b"torn").unwrap();
        assert!(refused(42, 7).contains("does not open"));
        // Creating starts again from nothing.
        let fresh = DiskRows::<Option<(u64, i64)>>::create(&cold, "t", 7).unwrap();
        assert_eq!(fresh.len(), 0);
    }
}
