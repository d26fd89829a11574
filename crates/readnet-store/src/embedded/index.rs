//! The in-memory index of the committed log, and reads planned from it.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::record::decode_frame;
use crate::{AllFrom, Direction, RecordedEvent, StoreError, StreamFrom};

/// A segment file, opened read-only for readers. Positional reads (`read_at`) need no seek
/// state, so one handle serves every reader at once.
#[derive(Debug)]
pub(crate) struct SegmentHandle {
    pub path: PathBuf,
    pub file: File,
}

/// Where the record of one position lies, and the event's id (kept for idempotency checks,
/// so a retry is recognised without reading the log). 32 bytes per event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub offset: u64,
    pub event_id: Uuid,
    /// Index into [`Index::segments`].
    pub segment: u32,
    /// Frame length, header included.
    pub len: u32,
}

/// The committed (synced) log: only what an acknowledged append may have relied on.
#[derive(Debug)]
pub(crate) struct Index {
    /// Segments in log order.
    pub segments: Vec<Arc<SegmentHandle>>,
    /// `entries[p - 1]` is position `p`: positions are dense, so a Vec is the map.
    pub entries: Vec<Entry>,
    /// Each stream's positions; the revision of an event is its index in the list.
    pub streams: StreamMap,
    /// The seed of `streams`' hasher (kept so that the checkpoint can store it).
    pub seed: u64,
}

impl Default for Index {
    fn default() -> Self {
        Index::with_seed(random_seed(), 0)
    }
}

impl Index {
    /// An empty index whose stream map hashes with `seed` and has room for `streams` streams.
    pub(crate) fn with_seed(seed: u64, streams: usize) -> Self {
        Index {
            segments: Vec::new(),
            entries: Vec::new(),
            streams: StreamMap::with_capacity_and_hasher(
                streams,
                foldhash::quality::FixedState::with_seed(seed),
            ),
            seed,
        }
    }
}

/// A random seed for a stream map, from the standard library's OS-seeded hasher keys.
fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
}

/// Streams by name. foldhash: several times faster than SipHash over millions of names on open,
/// and keyed by a random seed chosen when the index is first built, so clients choosing stream
/// names cannot aim for collisions they can compute offline. The seed is kept in the index
/// checkpoint, so that a checkpoint's streams, written in the order of their buckets, are
/// inserted at open in that order: sequentially, not at random places in a table of hundreds of
/// megabytes. (Who can read the checkpoint can read and rewrite the log anyway.)
pub(crate) type StreamMap = HashMap<String, Positions, foldhash::quality::FixedState>;

/// The bucket of a hash in a table sized for `len` entries, as the standard library's hash
/// table (hashbrown) sizes it: only used to choose an insertion order, so a different sizing
/// costs speed, never correctness.
pub(crate) fn bucket(hash: u64, len: usize) -> u64 {
    let buckets = if len < 8 {
        8
    } else {
        (len.saturating_mul(8) / 7).next_power_of_two()
    };
    hash & (buckets as u64 - 1)
}

/// A stream's positions, ascending. Most streams of a ledger hold one or two events (an item
/// catalogued, a patron enrolled), so those are kept inline: no allocation per stream on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Positions {
    Inline { len: u8, positions: [u64; 2] },
    Heap(Vec<u64>),
}

impl Default for Positions {
    fn default() -> Self {
        Positions::Inline {
            len: 0,
            positions: [0; 2],
        }
    }
}

impl std::ops::Deref for Positions {
    type Target = [u64];

    fn deref(&self) -> &[u64] {
        match self {
            Positions::Inline { len, positions } => &positions[..*len as usize],
            Positions::Heap(positions) => positions,
        }
    }
}

impl Positions {
    pub(crate) fn push(&mut self, position: u64) {
        match self {
            Positions::Inline { len, positions } if (*len as usize) < positions.len() => {
                positions[*len as usize] = position;
                *len += 1;
            }
            Positions::Inline { positions, .. } => {
                let mut heap = Vec::with_capacity(4);
                heap.extend_from_slice(positions);
                heap.push(position);
                *self = Positions::Heap(heap);
            }
            Positions::Heap(positions) => positions.push(position),
        }
    }
}

impl Extend<u64> for Positions {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, positions: I) {
        for position in positions {
            self.push(position);
        }
    }
}

impl Index {
    /// The position of the last committed event, 0 if none.
    pub(crate) fn head(&self) -> u64 {
        self.entries.len() as u64
    }

    pub(crate) fn entry(&self, position: u64) -> &Entry {
        &self.entries[(position - 1) as usize]
    }

    /// Plans a read of `$all`.
    pub(crate) fn plan_all(&self, from: AllFrom, direction: Direction, max: usize) -> ReadPlan {
        let head = self.head();
        let mut plan = ReadPlan::default();
        if head == 0 || max == 0 {
            return plan;
        }
        let max = max as u64;
        match direction {
            Direction::Forwards => {
                let first = match from {
                    AllFrom::Start => 1,
                    AllFrom::End => return plan,
                    AllFrom::Position(p) => p.get().max(1),
                };
                if first > head {
                    return plan;
                }
                let last = head.min(first.saturating_add(max - 1));
                plan.items.reserve((last - first + 1) as usize);
                for p in first..=last {
                    plan.push(self, p);
                }
            }
            Direction::Backwards => {
                let first = match from {
                    AllFrom::Start => 1,
                    AllFrom::End => head,
                    // Reading backwards from past the end starts at the end.
                    AllFrom::Position(p) => p.get().min(head),
                };
                if first == 0 {
                    return plan;
                }
                let last = first.saturating_sub(max - 1).max(1);
                plan.items.reserve((first - last + 1) as usize);
                for p in (last..=first).rev() {
                    plan.push(self, p);
                }
            }
        }
        plan
    }

    /// Plans a read of one stream. A stream with no events reads as empty.
    pub(crate) fn plan_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        max: usize,
    ) -> ReadPlan {
        let mut plan = ReadPlan::default();
        let Some(positions) = self.streams.get(stream) else {
            return plan;
        };
        let len = positions.len();
        if len == 0 || max == 0 {
            return plan;
        }
        match direction {
            Direction::Forwards => {
                let first = match from {
                    StreamFrom::Start => 0,
                    StreamFrom::End => return plan,
                    StreamFrom::Revision(r) => usize::try_from(r.get()).unwrap_or(usize::MAX),
                };
                for &p in positions.iter().skip(first).take(max) {
                    plan.push(self, p);
                }
            }
            Direction::Backwards => {
                let first = match from {
                    StreamFrom::Start => 0,
                    StreamFrom::End => len - 1,
                    StreamFrom::Revision(r) => {
                        usize::try_from(r.get()).unwrap_or(usize::MAX).min(len - 1)
                    }
                };
                for &p in positions[..=first].iter().rev().take(max) {
                    plan.push(self, p);
                }
            }
        }
        plan
    }
}

/// One record to read.
#[derive(Debug, Clone, Copy)]
struct Item {
    position: u64,
    offset: u64,
    len: u32,
    /// Index into [`ReadPlan::segments`].
    segment: u32,
}

/// A read looked up under the index lock, executed outside it: the locations of the records,
/// and handles on the segments that hold them (so a read needs no lock while it does I/O).
#[derive(Debug, Default)]
pub(crate) struct ReadPlan {
    segments: Vec<Arc<SegmentHandle>>,
    /// Index in the store's segment list of the last segment added to `segments`; reads are
    /// monotonic in position, so this is enough to take each segment once.
    last_segment: Option<u32>,
    items: Vec<Item>,
}

/// Records of one read that lie next to each other on disk are read with one `read_at` of
/// up to this many bytes.
const MAX_SPAN: u64 = 1024 * 1024;

impl ReadPlan {
    /// Keeps the first records that add up to at most `max_bytes` (the first one always) and
    /// returns how many it kept.
    pub(crate) fn keep_bytes(&mut self, max_bytes: u64) -> usize {
        let mut total = 0;
        let kept = self
            .items
            .iter()
            .position(|item| {
                total += u64::from(item.len);
                total > max_bytes
            })
            .map_or(self.items.len(), |over| over.max(1));
        self.items.truncate(kept);
        kept
    }

    fn push(&mut self, index: &Index, position: u64) {
        let entry = index.entry(position);
        if self.last_segment != Some(entry.segment) {
            self.segments
                .push(Arc::clone(&index.segments[entry.segment as usize]));
            self.last_segment = Some(entry.segment);
        }
        self.items.push(Item {
            position,
            offset: entry.offset,
            len: entry.len,
            segment: (self.segments.len() - 1) as u32,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The bytes of records the plan reads.
    pub(crate) fn bytes(&self) -> u64 {
        self.items.iter().map(|item| u64::from(item.len)).sum()
    }

    /// Reads and verifies the planned records (blocking I/O).
    pub(crate) fn execute(&self) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::with_capacity(self.items.len());
        let mut i = 0;
        while i < self.items.len() {
            // Grow a run of records adjacent on disk (ascending for forward reads, descending
            // for backward ones) to read them with one call.
            let first = self.items[i];
            let (mut lo, mut hi) = (first.offset, first.offset + u64::from(first.len));
            let mut j = i + 1;
            while let Some(next) = self.items.get(j) {
                if next.segment != first.segment || hi - lo >= MAX_SPAN {
                    break;
                }
                if next.offset == hi {
                    hi += u64::from(next.len);
                } else if next.offset + u64::from(next.len) == lo {
                    lo = next.offset;
                } else {
                    break;
                }
                j += 1;
            }
            let segment = &self.segments[first.segment as usize];
            // One buffer per run: the events' payloads are slices of it.
            let mut run = vec![0; (hi - lo) as usize];
            segment.file.read_exact_at(&mut run, lo)?;
            let run = Bytes::from(run);
            for item in &self.items[i..j] {
                let start = (item.offset - lo) as usize;
                let frame = run.slice(start..start + item.len as usize);
                let event =
                    decode_frame(frame, item.position).map_err(|reason| StoreError::Corrupt {
                        path: segment.path.clone(),
                        offset: item.offset,
                        reason,
                    })?;
                events.push(event);
            }
            i = j;
        }
        Ok(events)
    }
}
