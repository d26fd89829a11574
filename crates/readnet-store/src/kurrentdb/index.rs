//! What the backend knows of the journal: each stream's positions and each position's event id,
//! built by reading the journal on connect and kept current by every append and refresh.

use std::collections::HashMap;

use uuid::Uuid;

use crate::{
    AppendResult, CurrentRevision, Position, Revision, StoreError, StreamState, StreamWrite,
};

#[derive(Debug, Default)]
pub(crate) struct Index {
    /// `event_ids[p - 1]` is the id of position `p` (journal revision `p - 1`).
    event_ids: Vec<Uuid>,
    /// Each stream's positions; an event's revision is its index in the list.
    streams: HashMap<String, Vec<u64>>,
}

/// What one `append_multi` is, against the index.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Every write is already in the journal: the original results.
    Retry(Vec<AppendResult>),
    /// Every write is new and holds its expectation: each write's first revision.
    New(Vec<Revision>),
}

impl Index {
    /// The last position (0 when the journal is empty).
    pub(crate) fn head(&self) -> u64 {
        self.event_ids.len() as u64
    }

    /// The current revision of a stream.
    pub(crate) fn revision(&self, stream: &str) -> Option<Revision> {
        self.streams
            .get(stream)
            .and_then(|p| p.len().checked_sub(1))
            .map(|r| Revision::new(r as u64))
    }

    /// Adds the next journal event. The journal must say what the index expects: the next
    /// position, and the next revision of its stream.
    pub(crate) fn push(
        &mut self,
        stream: &str,
        revision: Revision,
        position: Position,
        event_id: Uuid,
    ) -> Result<(), StoreError> {
        let (revision, position) = (revision.get(), position.get());
        let next_position = self.event_ids.len() as u64 + 1;
        let positions = match self.streams.get_mut(stream) {
            Some(positions) => positions,
            None => self.streams.entry(stream.to_owned()).or_default(),
        };
        if position != next_position || revision != positions.len() as u64 {
            return Err(StoreError::Backend(format!(
                "the journal holds {stream} revision {revision} at position {position}, where \
                 position {next_position} and revision {} were next",
                positions.len()
            )));
        }
        positions.push(position);
        self.event_ids.push(event_id);
        Ok(())
    }

    /// Classifies an append: all retries, all new, or refused. The rules are the embedded
    /// store's: a write whose ids are the stream's events at the place its expectation names is
    /// a retry; some of them there is a mismatch; otherwise the expectation must hold.
    pub(crate) fn plan(&self, writes: &[StreamWrite]) -> Result<Plan, StoreError> {
        let classes = writes
            .iter()
            .map(|w| self.classify(w))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(retries) = classes.iter().map(|c| c.ok()).collect::<Option<Vec<_>>>() {
            return Ok(Plan::Retry(retries));
        }
        if let Some(i) = classes.iter().position(Result::is_ok) {
            // Part of the call was appended before and part was not: not a retry of one call.
            return Err(StoreError::IdempotencyMismatch {
                stream: writes[i].stream.clone(),
            });
        }
        Ok(Plan::New(
            classes.into_iter().filter_map(|c| c.err()).collect(),
        ))
    }

    /// `Ok(Ok(result))` a retry, `Ok(Err(first revision))` new and allowed, `Err` refused.
    fn classify(&self, write: &StreamWrite) -> Result<Result<AppendResult, Revision>, StoreError> {
        let positions = self
            .streams
            .get(&write.stream)
            .map_or(&[][..], |p| p.as_slice());
        let len = positions.len() as u64;
        let count = write.events.len() as u64;
        let id_at = |revision: u64| self.event_ids[(positions[revision as usize] - 1) as usize];
        let retry_from = match write.expected {
            StreamState::NoStream => Some(0),
            StreamState::Revision(n) => n.get().checked_add(1),
            StreamState::Any | StreamState::StreamExists => {
                let first_id = write.events[0].event_id;
                (0..len).rev().find(|&r| id_at(r) == first_id)
            }
        };
        if let Some(start) = retry_from
            && start < len
        {
            let matched = write
                .events
                .iter()
                .zip(start..len)
                .filter(|(event, r)| id_at(*r) == event.event_id)
                .count() as u64;
            if matched == count {
                return Ok(Ok(AppendResult {
                    next_expected_revision: Revision::new(start + count - 1),
                    first_position: Position::new(positions[start as usize]),
                    position: Position::new(positions[(start + count - 1) as usize]),
                    recorded_at_us: None,
                }));
            }
            if matched > 0 {
                return Err(StoreError::IdempotencyMismatch {
                    stream: write.stream.clone(),
                });
            }
        }
        let holds = match write.expected {
            StreamState::Any => true,
            StreamState::NoStream => len == 0,
            StreamState::StreamExists => len > 0,
            StreamState::Revision(n) => len > 0 && len - 1 == n.get(),
        };
        if holds {
            Ok(Err(Revision::new(len)))
        } else {
            Err(StoreError::WrongExpectedVersion {
                stream: write.stream.clone(),
                expected: write.expected,
                actual: match len {
                    0 => CurrentRevision::NoStream,
                    n => CurrentRevision::Current(Revision::new(n - 1)),
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_write as write;

    #[test]
    fn a_journal_event_out_of_place_is_refused() {
        let mut index = Index::default();
        let (r, p) = (Revision::new, Position::new);
        index.push("a", r(0), p(1), Uuid::from_u128(1)).unwrap();
        let error = index.push("a", r(0), p(2), Uuid::from_u128(2)).unwrap_err();
        assert!(
            error.to_string().contains("revision 1 were next"),
            "{error}"
        );
    }

    #[test]
    fn a_retry_of_part_of_a_multi_append_is_a_mismatch_naming_the_retried_stream() {
        let mut index = Index::default();
        index
            .push("a", Revision::FIRST, Position::FIRST, Uuid::from_u128(1))
            .unwrap();
        let writes = [
            write("b", StreamState::NoStream, &[2]),
            write("a", StreamState::NoStream, &[1]),
        ];
        assert!(matches!(
            index.plan(&writes),
            Err(StoreError::IdempotencyMismatch { stream }) if stream == "a"
        ));
    }
}
