//! Helpers shared by the tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{AllFrom, Direction, EventData, EventStore, RecordedEvent};
use uuid::Uuid;

/// An event with a fresh id and `data` as its data.
pub fn event(data: &str) -> EventData {
    EventData {
        event_id: Uuid::new_v4(),
        event_type: "Tested".into(),
        content_type: readnet_store::ContentType::Binary,
        metadata: format!("meta:{data}").into_bytes().into(),
        data: data.as_bytes().to_vec().into(),
    }
}

/// Options with a clock that ticks one microsecond per reading, from a known start.
pub fn options() -> EmbeddedOptions {
    let now = Arc::new(AtomicI64::new(1_000_000));
    EmbeddedOptions {
        clock: Arc::new(move || now.fetch_add(1, Ordering::Relaxed)),
        ..EmbeddedOptions::default()
    }
}

pub async fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, options()).await.expect("open")
}

pub async fn open_with(dir: &Path, options: EmbeddedOptions) -> EmbeddedStore {
    EmbeddedStore::open(dir, options).await.expect("open")
}

/// Every event of `$all`, in order.
pub async fn read_everything(store: &impl EventStore) -> Vec<RecordedEvent> {
    store
        .read_all(AllFrom::Start, Direction::Forwards, usize::MAX)
        .await
        .expect("read $all")
}

/// The segment files of a data directory, in log order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .expect("segments dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
}

/// Byte offsets of the records of a segment, read from its framing (`[u32 len][u32 crc][body]`).
pub fn record_offsets(segment: &Path) -> Vec<u64> {
    let bytes = std::fs::read(segment).expect("read segment");
    let mut offsets = vec![];
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        offsets.push(at as u64);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
    }
    assert_eq!(at, bytes.len(), "segment ends at a record boundary");
    offsets
}

/// Flips one bit of the byte at `offset` of `path`.
pub fn flip_byte(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open for writing");
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset)
        .expect("read the byte");
    byte[0] ^= 0x40;
    file.write_all_at(&byte, offset).expect("write the byte");
}

/// Deterministic noise (xorshift), for torn tails.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Appends raw bytes to a file.
pub fn append_bytes(path: &Path, extra: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open for append");
    file.write_all(extra).expect("append");
}

/// The segments' index files of a data directory, in log order.
pub fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("index"))
        .expect("index dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    files.sort();
    files
}

/// The index checkpoint of a data directory (which may not exist).
pub fn checkpoint(dir: &Path) -> PathBuf {
    dir.join("index").join("checkpoint")
}

/// Deletes the index checkpoint, so that the next open reads the segments' index files.
pub fn forget_checkpoint(dir: &Path) {
    match std::fs::remove_file(checkpoint(dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove the checkpoint: {e}"),
    }
}

/// Deletes the index files and the checkpoint, so that the next open scans every segment.
pub fn forget_index_files(dir: &Path) {
    forget_checkpoint(dir);
    for file in index_files(dir) {
        std::fs::remove_file(file).expect("remove an index file");
    }
}
