//! The cut-over of a log written before sealing (ADR 0018, migration): every event copied, in
//! position order, into a new store, each patron id still in the clear sealed as the command bus
//! would have sealed it when the event was recorded.
//!
//! What stays: positions, event ids, types, content types, metadata (the schema version is
//! brought to the current one where a payload is encoded again), `recorded_at` (the caller's
//! target store stamps what [`cut_over`] tells it), stream names and revisions, except that a
//! patron stream named after a patron id (`patron-<patron id>`) is named after the patron's key
//! as new ones are. What changes: a patron id in the clear becomes `s1.<day token>.<box>` under
//! the patron's key, the day from the event's own `occurred_at` in the patron's home city, the
//! state before the event deciding the home city (the same code the bus seals with,
//! [`crate::sealing`]). A patron who already has a key (their later events were sealed by a
//! server started on the legacy log) keeps it, so all of one patron's ids open with one key and
//! share the day tokens the server gave them. Ids already sealed, and events that hold no id in
//! the clear, are copied byte for byte. Events of streams that are not the ledger's (written
//! through the KurrentDB endpoint) are copied as they are.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use readnet_domain::personal::{FORGOTTEN_PATRON, is_sealed, patron_ids_mut};
use readnet_domain::{Ledger, StreamId, codec};
use readnet_store::{
    AllFrom, Direction, EventData, EventStore, Position, RecordedEvent, StoreError, StreamState,
    StreamWrite,
};

use crate::envelope::{self, DecodeError};
use crate::keys::{KeyStore, KeyStoreError};
use crate::sealing::{KeyWork, Sealing};

/// Events read from the old log per page.
const READ_PAGE_EVENTS: usize = 1000;
/// Most events in one append to the new log (an old commit larger than this is split; every
/// part gets the old commit's `recorded_at`).
const MAX_APPEND_EVENTS: usize = 1024;

/// What a cut-over did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutOverReport {
    /// Events copied (the new log's head).
    pub events: u64,
    /// Events whose payload was encoded again because it held a patron id in the clear.
    pub rewritten_events: u64,
    /// Patron ids sealed.
    pub sealed_ids: u64,
    /// Patrons given a key (those who had none).
    pub new_keys: u64,
    /// Patron streams named after a patron id, now named after the patron's key.
    pub renamed_streams: u64,
}

/// Why a cut-over stopped. Nothing of the new store is to be used after one.
#[derive(Debug, thiserror::Error)]
pub enum CutOverError {
    #[error("the new log: {0}")]
    Store(#[from] StoreError),
    #[error("the old log: {0}")]
    Unreadable(#[from] DecodeError),
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    #[error("the new log is not empty: it already holds {0} events")]
    TargetNotEmpty(u64),
    #[error("the event at position {position} of the old log: {what}")]
    Unexpected { position: Position, what: String },
}

/// Copies every event of `from` into the empty store `to`, sealing each patron id in the clear
/// under `keys` (the new data directory's key store, a copy of the old one's if it had one).
/// `stamp` is called before each append with the `recorded_at` (µs) its events had in the old
/// log: the caller's `to` store takes that as its clock. `progress` is called after each append
/// with the last position copied.
pub async fn cut_over(
    from: &dyn EventStore,
    to: &dyn EventStore,
    keys: Arc<KeyStore>,
    stamp: &(dyn Fn(i64) + Sync),
    mut progress: impl FnMut(Position),
) -> Result<CutOverReport, CutOverError> {
    if to.head_position() != Position::START {
        return Err(CutOverError::TargetNotEmpty(to.head_position().get()));
    }
    let mut copier = Copier {
        sealing: Sealing::new(Arc::clone(&keys)),
        keys,
        ledger: Ledger::default(),
        names: HashMap::new(),
        report: CutOverReport::default(),
        pending: Pending::default(),
    };
    let mut next = Position::FIRST;
    loop {
        let page = from
            .read_all(
                AllFrom::Position(next),
                Direction::Forwards,
                READ_PAGE_EVENTS,
            )
            .await?;
        let Some(last) = page.last() else { break };
        next = last.position.next();
        for event in &page {
            let (stream, data) = copier.convert(event)?;
            if copier.pending.must_flush_before(event, &stream) {
                copier.flush(to, stamp, &mut progress).await?;
            }
            copier.pending.push(event, stream, data);
        }
    }
    copier.flush(to, stamp, &mut progress).await?;
    Ok(copier.report)
}

/// The events converted but not yet appended: one old commit (or part of one), as stream writes.
#[derive(Default)]
struct Pending {
    recorded_at_us: i64,
    writes: Vec<StreamWrite>,
    /// The old positions of the events, in order, to check the new log numbers them alike.
    positions: Vec<Position>,
    streams: HashSet<String>,
    work: KeyWork,
}

impl Pending {
    /// A new append starts at another commit time, at the size bound, and where a stream
    /// already written in this one comes back after another (an append writes a stream once).
    fn must_flush_before(&self, event: &RecordedEvent, stream: &str) -> bool {
        !self.positions.is_empty()
            && (event.recorded_at_us != self.recorded_at_us
                || self.positions.len() >= MAX_APPEND_EVENTS
                || (self.streams.contains(stream)
                    && self.writes.last().is_some_and(|w| w.stream != stream)))
    }

    fn push(&mut self, event: &RecordedEvent, stream: String, data: EventData) {
        self.recorded_at_us = event.recorded_at_us;
        self.positions.push(event.position);
        if self.writes.last().is_some_and(|w| w.stream == stream) {
            self.writes.last_mut().expect("a write").events.push(data);
            return;
        }
        self.streams.insert(stream.clone());
        self.writes.push(StreamWrite {
            stream,
            // The old revision: a stream keeps its events, in order, under whichever name.
            expected: match event.revision.get() {
                0 => StreamState::NoStream,
                r => StreamState::Revision(readnet_store::Revision::new(r - 1)),
            },
            events: vec![data],
        });
    }
}

struct Copier {
    sealing: Sealing,
    keys: Arc<KeyStore>,
    /// The domain state through the last event converted, with patron ids opened: the home city
    /// a patron id is sealed for, as the bus's state had it.
    ledger: Ledger,
    /// Old patron stream names and the names they have in the new log.
    names: HashMap<String, String>,
    report: CutOverReport,
    pending: Pending,
}

impl Copier {
    /// The event's stream in the new log, and the event as the new log keeps it.
    fn convert(&mut self, event: &RecordedEvent) -> Result<(String, EventData), CutOverError> {
        let as_is = |stream: String, data| {
            (
                stream,
                EventData {
                    event_id: event.event_id,
                    event_type: event.event_type.clone(),
                    content_type: event.content_type,
                    metadata: event.metadata.clone(),
                    data,
                },
            )
        };
        let Some(stream) = StreamId::parse(&event.stream) else {
            // Not a ledger stream (a KurrentDB client's): no readnet payload, no patron id.
            return Ok(as_is(event.stream.clone(), event.data.clone()));
        };
        let decoded = envelope::decode(event)?;
        let stored = decoded.payload;
        let mut opened = stored.clone();
        self.keys.open_payload(&mut opened)?;
        let mut stored_ids = stored.clone();
        let in_the_clear = patron_ids_mut(&mut stored_ids)
            .iter()
            .filter(|id| !id.is_empty() && !is_sealed(id))
            .count() as u64;
        // A patron stream named after the patron id (legacy) gets the name the bus gives new
        // ones; one named after a key, or a forgotten patron's, keeps its name.
        let legacy_patron = match &stream {
            StreamId::Patron(suffix) if self.keys.patron_of_stream(suffix).is_none() => {
                let ids = patron_ids_mut(&mut opened);
                if ids.iter().any(|id| id.as_str() == FORGOTTEN_PATRON) {
                    None
                } else if ids.iter().all(|id| id.as_str() == suffix) && !ids.is_empty() {
                    Some(suffix.clone())
                } else {
                    return Err(CutOverError::Unexpected {
                        position: event.position,
                        what: format!(
                            "stream {} is named after a patron, but the event names another",
                            event.stream
                        ),
                    });
                }
            }
            _ => None,
        };
        let converted = if in_the_clear == 0 && legacy_patron.is_none() {
            as_is(event.stream.clone(), event.data.clone())
        } else {
            let decider_stream = match &legacy_patron {
                Some(patron) => StreamId::Patron(patron.clone()),
                None => stream.clone(),
            };
            let keys_before = self.pending.work.new.len();
            let (name, sealed) = self.sealing.seal(
                &self.ledger,
                &decider_stream,
                &stored,
                decoded.occurred_at,
                &mut self.pending.work,
            );
            // Forgettings in the old log were carried out there; its key store says so.
            self.pending.work.forget.clear();
            self.report.new_keys += (self.pending.work.new.len() - keys_before) as u64;
            if legacy_patron.is_some() && !self.names.contains_key(&event.stream) {
                self.names.insert(event.stream.clone(), name.clone());
                self.report.renamed_streams += 1;
            }
            if in_the_clear == 0 {
                // Sealed already: only the stream's name changes.
                as_is(name, event.data.clone())
            } else {
                self.report.rewritten_events += 1;
                self.report.sealed_ids += in_the_clear;
                let mut metadata =
                    codec::decode_metadata(&event.metadata).map_err(|source| DecodeError {
                        position: event.position,
                        source,
                    })?;
                let metadata = if metadata.schema_version == codec::CURRENT_SCHEMA_VERSION {
                    event.metadata.clone()
                } else {
                    // The payload is encoded again in the current schema, and says so.
                    metadata.schema_version = codec::CURRENT_SCHEMA_VERSION;
                    codec::encode_metadata(&metadata).into()
                };
                (
                    name,
                    EventData {
                        event_id: event.event_id,
                        event_type: codec::event_type(&sealed).to_owned(),
                        content_type: event.content_type,
                        metadata,
                        data: codec::encode(&sealed).into(),
                    },
                )
            }
        };
        self.ledger.apply_at(&opened, decoded.occurred_at);
        self.report.events += 1;
        Ok(converted)
    }

    /// Makes the pending events' new keys durable, then appends the events, stamped with their
    /// old commit time, and checks the new log numbered them as the old one did.
    async fn flush(
        &mut self,
        to: &dyn EventStore,
        stamp: &(dyn Fn(i64) + Sync),
        progress: &mut impl FnMut(Position),
    ) -> Result<(), CutOverError> {
        let pending = std::mem::take(&mut self.pending);
        let Some(&last) = pending.positions.last() else {
            return Ok(());
        };
        self.keys.persist(&pending.work.new)?;
        stamp(pending.recorded_at_us);
        let results = to.append_multi(pending.writes).await?;
        let first = pending.positions[0];
        let landed = results.first().map(|r| r.first_position);
        let end = results.last().map(|r| r.position);
        if landed != Some(first)
            || end != Some(last)
            || results.iter().any(|r| r.recorded_at_us.is_none())
        {
            return Err(CutOverError::Unexpected {
                position: first,
                what: format!(
                    "the new log put events {first}..={last} at {landed:?}..={end:?}: positions must stay as they were"
                ),
            });
        }
        progress(last);
        Ok(())
    }
}
