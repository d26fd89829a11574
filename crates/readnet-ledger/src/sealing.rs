//! The command bus's side of crypto-shredding (ADR 0018): patron ids are sealed as events are
//! staged and opened as the log is loaded, and patron streams are named after their key.
//!
//! The decider's state keeps plaintext patron ids (the keyed hash of the card), so the rules
//! never see a sealed id. What the store keeps has none: every patron id is sealed, and a
//! patron's stream is `patron-<hash of their key>`. Events of a forgotten patron load as one
//! anonymous patron ([`FORGOTTEN_PATRON`]): they were all closed when each was forgotten, so the
//! state of every live patron, item and hold is what it was.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use readnet_domain::personal::{FORGOTTEN_PATRON, is_sealed, patron_ids_mut};
use readnet_domain::{Ledger, Payload, StreamId};

use crate::keys::{KeyStore, KeyStoreError, Opened, PatronKeys};

/// The key store the bus seals with, and what loading the log taught it.
pub(crate) struct Sealing {
    keys: Arc<KeyStore>,
    /// Patrons whose stream was written before sealing began (a legacy log): their stream
    /// keeps its plaintext name, so that its revisions go on (ADR 0018, migration).
    legacy_streams: HashSet<String>,
}

/// A stored event's payload opened, and the stream the decider counts it in.
pub(crate) struct Loaded {
    pub stream: StreamId,
    /// Whether the decider checks the stream's revision: not for the anonymous patron, whose
    /// events come from many streams.
    pub check_revision: bool,
    /// A `PatronForgotten` whose key is still there: a crash came between the event and the
    /// key's destruction, which the loader finishes.
    pub unfinished_forget: Option<String>,
}

/// What a batch needs done around its append: keys to make durable before, keys to destroy
/// after.
#[derive(Default)]
pub(crate) struct KeyWork {
    pub new: Vec<(String, PatronKeys)>,
    pub forget: Vec<String>,
}

impl Sealing {
    pub fn new(keys: Arc<KeyStore>) -> Self {
        Sealing {
            keys,
            legacy_streams: HashSet::new(),
        }
    }

    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// Opens every patron id of a stored payload in place and names the decider's stream for
    /// `store_stream`.
    pub fn open(
        &mut self,
        store_stream: &StreamId,
        payload: &mut Payload,
    ) -> Result<Loaded, KeyStoreError> {
        let mut forgotten = false;
        let mut sealed = false;
        for id in patron_ids_mut(payload) {
            if is_sealed(id) {
                sealed = true;
                *id = match self.keys.open_sealed(id)? {
                    Opened::Patron(patron) => patron,
                    Opened::Forgotten => {
                        forgotten = true;
                        FORGOTTEN_PATRON.to_owned()
                    }
                };
            }
        }
        let unfinished_forget = match payload {
            Payload::PatronForgotten(e) if !forgotten => Some(e.patron_id.clone()),
            _ => None,
        };
        let (stream, check_revision) = match store_stream {
            StreamId::Patron(suffix) => match self.keys.patron_of_stream(suffix) {
                Some(patron) => (StreamId::Patron(patron), true),
                None if forgotten => (StreamId::Patron(FORGOTTEN_PATRON.to_owned()), false),
                None => {
                    if !sealed {
                        self.legacy_streams.insert(suffix.clone());
                    }
                    (store_stream.clone(), true)
                }
            },
            other => (other.clone(), true),
        };
        Ok(Loaded {
            stream,
            check_revision,
            unfinished_forget,
        })
    }

    /// The payload as the store keeps it and the name of its stream, for an event the decider
    /// decided (the state before it applied). Keys a patron has none of yet are made and put in
    /// `work.new`; the patron of a `PatronForgotten` is put in `work.forget`.
    pub fn seal(
        &self,
        ledger: &Ledger,
        stream: &StreamId,
        payload: &Payload,
        occurred_at: DateTime<Utc>,
        work: &mut KeyWork,
    ) -> (String, Payload) {
        let mut sealed = payload.clone();
        for id in patron_ids_mut(&mut sealed) {
            if id.is_empty() || is_sealed(id) {
                continue;
            }
            let keys = self.keys_for(id, work);
            let zone = ledger
                .patrons
                .get(id.as_str())
                .and_then(|p| ledger.network.cities.get(&p.home_city))
                .map_or(chrono_tz::Asia::Shanghai, |c| c.time_zone);
            let day = occurred_at.with_timezone(&zone).date_naive();
            *id = self.keys.seal(&keys, id, day);
        }
        if let Payload::PatronForgotten(e) = payload {
            work.forget.push(e.patron_id.clone());
        }
        let name = match stream {
            StreamId::Patron(patron) if !self.legacy_streams.contains(patron) => format!(
                "{}{}",
                StreamId::PATRON_PREFIX,
                self.keys_for(patron, work).stream_suffix()
            ),
            other => other.name(),
        };
        (name, sealed)
    }

    fn keys_for(&self, patron: &str, work: &mut KeyWork) -> PatronKeys {
        if let Some(keys) = self.keys.keys_of(patron) {
            return keys;
        }
        if let Some((_, keys)) = work.new.iter().find(|(p, _)| p == patron) {
            return keys.clone();
        }
        let keys = KeyStore::fresh();
        work.new.push((patron.to_owned(), keys.clone()));
        keys
    }
}

impl Sealing {
    /// Whether `patron`'s history was recorded in the clear (a legacy log): forgetting them
    /// would leave it readable, so it is refused until the log is cut over.
    pub fn in_the_clear(&self, patron: &str) -> bool {
        self.legacy_streams.contains(patron)
    }

    /// The key store, shared.
    pub fn key_store(&self) -> Arc<KeyStore> {
        Arc::clone(&self.keys)
    }

    /// Destroys the keys of patrons whose `PatronForgotten` is recorded. A forgotten legacy
    /// patron's stream name is not used again: a card used again starts a stream named after
    /// its new key.
    pub fn forgotten(&mut self, patrons: &[String]) -> Result<(), KeyStoreError> {
        for patron in patrons {
            self.keys.destroy(patron)?;
            self.legacy_streams.remove(patron);
        }
        Ok(())
    }
}
