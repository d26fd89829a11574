//! Histories for tests and tools: commands decided by the real domain rules, turned into the
//! events a projection folds, with dense positions. No store, no server;
//! [`crate::import::append_history`] writes one into a store.

use chrono::{DateTime, Utc};
use readnet_domain::pb::Channel;
use readnet_domain::{
    Caller, Command, CommandContext, Ledger, LibraryCode, PatronKey, PatronRef, Rejection, decide,
};
use uuid::Uuid;

use crate::envelope::{self, ProjectedEvent};
use readnet_store::{Position, Revision};

/// A log being written by deciding commands against the domain.
#[derive(Debug, Default, Clone)]
pub struct History {
    ledger: Ledger,
    /// The events not yet taken by [`History::drain`].
    events: Vec<ProjectedEvent>,
    /// Events taken by [`History::drain`] so far: positions go on after them.
    drained: u64,
    versions: std::collections::HashMap<String, u64>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides `command` at `at` by `library` (None: the system); records and returns the
    /// events, or the rejection (nothing recorded).
    pub fn try_run(
        &mut self,
        at: DateTime<Utc>,
        library: Option<&str>,
        command: Command,
    ) -> Result<&[ProjectedEvent], Rejection> {
        self.try_run_recorded_at(at, at, library, command)
    }

    /// Like [`History::try_run`], with the time the ledger recorded it (a late sync).
    pub fn try_run_recorded_at(
        &mut self,
        occurred_at: DateTime<Utc>,
        recorded_at: DateTime<Utc>,
        library: Option<&str>,
        command: Command,
    ) -> Result<&[ProjectedEvent], Rejection> {
        let ctx = CommandContext {
            occurred_at,
            acting_library: library.map(LibraryCode::from),
            channel: if library.is_some() {
                Channel::Desk
            } else {
                Channel::System
            },
            caller: Caller::Server,
        };
        let decided = decide(&self.ledger, &command, &ctx)?;
        let command_id = Uuid::new_v4();
        let first = self.events.len();
        for (index, event) in decided.into_iter().enumerate() {
            let stream = event.stream.name();
            let revision = self.versions.entry(stream.clone()).or_default();
            self.ledger
                .apply_recorded_at(&event.stream, *revision, &event.payload, occurred_at);
            self.events.push(ProjectedEvent {
                position: Position::new(self.drained + self.events.len() as u64 + 1),
                stream,
                revision: Revision::new(*revision),
                event_id: envelope::event_id(command_id, index as u32),
                occurred_at,
                recorded_at,
                acting_library: ctx
                    .acting_library
                    .clone()
                    .map(String::from)
                    .unwrap_or_default(),
                channel: ctx.channel,
                command_id: Some(command_id),
                correlation_id: None,
                principal: ctx.caller.principal_name().to_owned(),
                payload: event.payload,
            });
            *revision += 1;
        }
        Ok(&self.events[first..])
    }

    /// Like [`History::try_run`], panicking on a rejection (a test's set-up must hold).
    pub fn run(
        &mut self,
        at: DateTime<Utc>,
        library: Option<&str>,
        command: Command,
    ) -> &[ProjectedEvent] {
        let name = command.name();
        match self.try_run(at, library, command) {
            Ok(events) => events,
            Err(rejection) => panic!("{name} at {at} by {library:?} was refused: {rejection}"),
        }
    }

    /// Appends an event made by hand (e.g. a SettlementPeriodClosed), at the next position.
    pub fn push(
        &mut self,
        at: DateTime<Utc>,
        stream: &str,
        payload: readnet_domain::Payload,
    ) -> &ProjectedEvent {
        self.ledger.apply_at(&payload, at);
        let revision = self.versions.entry(stream.to_owned()).or_default();
        self.events.push(ProjectedEvent {
            position: Position::new(self.drained + self.events.len() as u64 + 1),
            stream: stream.to_owned(),
            revision: Revision::new(*revision),
            event_id: Uuid::new_v4(),
            occurred_at: at,
            recorded_at: at,
            acting_library: String::new(),
            channel: Channel::System,
            command_id: None,
            correlation_id: None,
            principal: String::new(),
            payload,
        });
        *revision += 1;
        self.events.last().expect("just pushed")
    }

    /// Every event so far (since the last [`History::drain`]), in position order.
    pub fn events(&self) -> &[ProjectedEvent] {
        &self.events
    }

    /// Takes the events so far, to write them somewhere; later events continue the positions.
    /// For long generated histories that should not all stay in memory.
    pub fn drain(&mut self) -> Vec<ProjectedEvent> {
        self.drained += self.events.len() as u64;
        std::mem::take(&mut self.events)
    }

    /// The domain state after the history (to check what a projection says against it).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

/// A patron reference for a card, hashed with a fixed test key.
pub fn card(city: &str, number: &str) -> PatronRef {
    PatronRef {
        city: city.into(),
        patron_id: PatronKey::new(b"readnet test key").patron_id(city, number),
        masked_card: format!("{city}:****"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_history_numbers_positions_and_revisions_and_keeps_refusals_out() {
        let at = Utc.with_ymd_and_hms(2026, 11, 2, 2, 0, 0).unwrap();
        let mut history = History::new();
        let join = |city: &str| Command::JoinCity {
            city: city.into(),
            name: city.into(),
            time_zone: String::new(),
        };
        history.run(at, None, join("jinan"));
        history.run(at, None, join("zibo"));
        assert!(history.try_run(at, None, join("zibo")).is_err());
        let positions: Vec<_> = history
            .events()
            .iter()
            .map(|e| (e.position.get(), e.revision.get()))
            .collect();
        assert_eq!(positions, [(1, 0), (2, 1)]);
        assert_eq!(history.ledger().network.cities.len(), 2);
    }
}
