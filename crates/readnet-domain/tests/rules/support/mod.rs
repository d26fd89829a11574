//! Given/when/then for readnet's rules: *given* a history of events, *when* a command is decided
//! at an instant and a library, *then* exactly these events (which are also applied, to check the
//! state they lead to) or this rejection.

pub mod fixtures;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use readnet_domain::pb::Channel;
use readnet_domain::{
    Authority, Caller, Command, CommandContext, ItemCode, ItemStatus, Ledger, LibraryCode,
    NewEvent, PatronKey, PatronRef, Payload, Rejection, RejectionKind, StreamId, decide,
};

/// A history of events, folded as it grows.
#[derive(Debug, Clone)]
pub struct Scenario {
    history: Vec<Payload>,
    /// When each event of `history` happened, where the state was told (`and_at`).
    times: Vec<Option<DateTime<Utc>>>,
    ledger: Ledger,
}

/// Starts a scenario from a history of recorded events.
pub fn given(history: impl IntoIterator<Item = Payload>) -> Scenario {
    Scenario {
        history: Vec::new(),
        times: Vec::new(),
        ledger: Ledger::default(),
    }
    .and(history)
}

/// The context of a command at `at` through `library` (desk channel), or the system's.
pub fn context(at: DateTime<Utc>, library: Option<&str>) -> CommandContext {
    CommandContext {
        occurred_at: at,
        acting_library: library.map(LibraryCode::from),
        channel: if library.is_some() {
            Channel::Desk
        } else {
            Channel::System
        },
        caller: Caller::Server,
    }
}

impl Scenario {
    /// More recorded events.
    pub fn and(mut self, more: impl IntoIterator<Item = Payload>) -> Self {
        for payload in more {
            self.ledger.apply(&payload);
            self.history.push(payload);
            self.times.push(None);
        }
        self
    }

    /// More recorded events, each known to have happened at `at` (what the server's state is
    /// told when it reads them back).
    pub fn and_at(mut self, at: DateTime<Utc>, more: impl IntoIterator<Item = Payload>) -> Self {
        for payload in more {
            self.ledger.apply_at(&payload, at);
            self.history.push(payload);
            self.times.push(Some(at));
        }
        self
    }

    /// A command that must be accepted, its events recorded: sets a state up through the rules.
    #[track_caller]
    pub fn after(self, at: DateTime<Utc>, library: Option<&str>, command: Command) -> Self {
        let name = command.name();
        match decide(&self.ledger, &command, &context(at, library)) {
            Ok(events) => self.and(events.into_iter().map(|e| e.payload)),
            Err(rejection) => panic!("setting up, {name} was rejected: {rejection:?}"),
        }
    }

    /// Decides `command` given by a principal with `authority`, at `at`, acting through
    /// `library` on `channel`.
    pub fn when_by(
        self,
        authority: &Authority,
        at: DateTime<Utc>,
        library: Option<&str>,
        channel: Channel,
        command: Command,
    ) -> Outcome {
        let ctx = CommandContext {
            channel,
            caller: Caller::Principal(std::sync::Arc::new(authority.clone())),
            ..context(at, library)
        };
        let result = decide(&self.ledger, &command, &ctx);
        Outcome {
            before: self,
            command,
            result,
        }
    }

    /// Decides `command` at `at`, acting through `library`.
    pub fn when_at(self, at: DateTime<Utc>, library: Option<&str>, command: Command) -> Outcome {
        let result = decide(&self.ledger, &command, &context(at, library));
        Outcome {
            before: self,
            command,
            result,
        }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn history(&self) -> &[Payload] {
        &self.history
    }

    /// An item's status; panics if the item is not catalogued.
    #[track_caller]
    pub fn status(&self, item: &str) -> &ItemStatus {
        &self
            .ledger
            .items
            .get(item)
            .unwrap_or_else(|| panic!("item {item} is not catalogued"))
            .status
    }

    /// The items on loan to a patron (sorted); panics if the patron is not enrolled.
    #[track_caller]
    pub fn loans(&self, patron: &PatronRef) -> Vec<String> {
        self.patron(patron)
            .loans
            .iter()
            .map(ItemCode::to_string)
            .collect()
    }

    #[track_caller]
    pub fn patron(&self, patron: &PatronRef) -> &readnet_domain::Patron {
        self.ledger
            .patrons
            .get(&patron.patron_id)
            .unwrap_or_else(|| panic!("patron {} is not enrolled", patron.masked_card))
    }

    pub fn version(&self, stream: &StreamId) -> u64 {
        self.ledger.stream_version(stream)
    }
}

/// What `decide` made of a command.
#[derive(Debug)]
pub struct Outcome {
    before: Scenario,
    command: Command,
    result: Result<Vec<NewEvent>, Rejection>,
}

impl Outcome {
    /// The command was accepted with exactly `expected`. The events are applied: each must add
    /// one to its stream's version (the server's append expectation), and the state they lead
    /// to must equal the replay of the whole history. Returns the scenario after them.
    #[track_caller]
    pub fn then_events(self, expected: Vec<NewEvent>) -> Scenario {
        let name = self.command.name();
        let events = match self.result {
            Ok(events) => events,
            Err(rejection) => panic!("{name} was rejected, expected events: {rejection:?}"),
        };
        assert_eq!(events, expected, "the events {name} decided");
        apply_checked(self.before, events)
    }

    /// The command was accepted (events not compared); returns the scenario after them.
    #[track_caller]
    pub fn then_accepted(self) -> Scenario {
        let name = self.command.name();
        match self.result {
            Ok(events) => apply_checked(self.before, events),
            Err(rejection) => panic!("{name} was rejected: {rejection:?}"),
        }
    }

    /// The command was refused with exactly `expected`: the rule and the facts it found.
    #[track_caller]
    pub fn then_rejected(self, expected: Rejection) -> Rejection {
        let name = self.command.name();
        let rejection = match self.result {
            Ok(events) => panic!("{name} was accepted, expected a rejection: {events:#?}"),
            Err(rejection) => rejection,
        };
        assert_eq!(rejection, expected, "{name}'s rejection");
        rejection
    }

    /// The command was refused with a rejection of `kind` whose message contains `part` (for
    /// rejections whose every field the test does not spell out).
    #[track_caller]
    pub fn then_refused(self, kind: RejectionKind, part: &str) -> Rejection {
        let name = self.command.name();
        let rejection = match self.result {
            Ok(events) => panic!("{name} was accepted, expected a rejection: {events:#?}"),
            Err(rejection) => rejection,
        };
        assert_eq!(rejection.kind(), kind, "{name}'s rejection: {rejection}");
        let message = rejection.to_string();
        assert!(
            message.contains(part),
            "{name}'s rejection {message:?} does not say {part:?}"
        );
        rejection
    }

    /// Like [`Outcome::then_rejected`], and the rejection is of `kind` (the gRPC status code
    /// clients get) and reads `message` (the status message they see).
    #[track_caller]
    pub fn then_rejected_saying(
        self,
        kind: RejectionKind,
        expected: Rejection,
        message: &str,
    ) -> Rejection {
        let name = self.command.name();
        let rejection = self.then_rejected(expected);
        assert_eq!(rejection.kind(), kind, "the kind of {name}'s rejection");
        assert_eq!(rejection.to_string(), message, "{name}'s rejection message");
        rejection
    }
}

#[track_caller]
fn apply_checked(mut scenario: Scenario, events: Vec<NewEvent>) -> Scenario {
    for event in events {
        let before = scenario.ledger.stream_version(&event.stream);
        scenario = scenario.and([event.payload.clone()]);
        // Forgetting closes the patron's stream: a card used again starts a new one.
        let closes = matches!(event.payload, readnet_domain::Payload::PatronForgotten(_));
        assert_eq!(
            scenario.ledger.stream_version(&event.stream),
            if closes { 0 } else { before + 1 },
            "stream {} after {:?}",
            event.stream,
            event.payload
        );
    }
    let mut replayed = Ledger::default();
    for (payload, at) in scenario.history.iter().zip(&scenario.times) {
        match at {
            Some(at) => replayed.apply_at(payload, *at),
            None => replayed.apply(payload),
        }
    }
    assert_eq!(
        replayed, scenario.ledger,
        "applying events one at a time must equal replaying the history"
    );
    assert_holds_agree(&scenario.ledger);
    scenario
}

/// A copy is set aside for at most one hold, and an open hold has at most one copy: the item's
/// `hold` and the hold's state name each other; a patron's open holds are the ledger's.
#[track_caller]
fn assert_holds_agree(ledger: &Ledger) {
    use readnet_domain::HoldState;
    for (code, item) in &ledger.items {
        if let Some(n) = item.hold {
            let state = ledger.holds.get(&n).map(|h| &h.state);
            assert!(
                matches!(state, Some(HoldState::Assigned { item } | HoldState::Ready { item, .. }) if item == code),
                "item {code} is set aside for hold {n}, whose state is {state:?}"
            );
        }
    }
    for (n, hold) in &ledger.holds {
        if let HoldState::Assigned { item } | HoldState::Ready { item, .. } = &hold.state {
            assert_eq!(ledger.items[item].hold, Some(*n), "hold {n}'s copy {item}");
        }
        assert!(
            ledger.patrons[&hold.patron_id].holds.contains(n),
            "hold {n} is among its patron's holds"
        );
    }
    let open: usize = ledger.patrons.values().map(|p| p.holds.len()).sum();
    assert_eq!(
        open,
        ledger.holds.len(),
        "every patron's open holds are open"
    );
}

/// A card of `city` numbered `number`: its patron id under the test secret, and its masked form.
pub fn card(city: &str, number: &str) -> PatronRef {
    let last4 = &number[number.len().saturating_sub(4)..];
    PatronRef {
        city: city.into(),
        patron_id: PatronKey::new(b"test secret").patron_id(city, number),
        masked_card: format!("{city}:****{last4}"),
    }
}

/// A local time in Asia/Shanghai, as the UTC instant commands carry.
pub fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, min, s)
        .single()
        .expect("a valid Shanghai local time")
        .with_timezone(&Utc)
}

/// A calendar date, as rejections name due dates.
pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// Microseconds since the epoch, as events carry instants.
pub fn us(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The event `decide` puts in the `network` stream.
pub fn network_event(payload: Payload) -> NewEvent {
    NewEvent {
        stream: StreamId::Network,
        payload,
    }
}

/// An event in stream `item-<item>`.
pub fn item_event(item: &str, payload: Payload) -> NewEvent {
    NewEvent {
        stream: StreamId::Item(item.to_owned()),
        payload,
    }
}

/// An event in stream `patron-<patron id>`.
pub fn patron_event(patron: &PatronRef, payload: Payload) -> NewEvent {
    NewEvent {
        stream: StreamId::Patron(patron.patron_id.clone().into()),
        payload,
    }
}
