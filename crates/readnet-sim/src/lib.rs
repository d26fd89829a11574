//! readnet's workload simulator.
//!
//! [`Simulator`] is a pure, seeded state machine: a network shaped like `domain.md`'s (cities with
//! a central library, general libraries, branches, service points, 24-hour self-service libraries
//! and booths), collections with Zipf-distributed title popularity, patrons per city with credit
//! tiers, and a daily rhythm (opening hours, busier evenings and weekends). Every command is
//! decided by the real domain rules through [`History`], so only valid commands come out, each
//! with the events it recorded. It yields [`Step`]s in the order a ledger would record them:
//! the offline kiosk's steps come out hours after they happened (a late sync).
//!
//! Patron ids come from [`readnet_ledger::history::card`], hashed with the fixed test key
//! `readnet test key`; a server started on a data directory written by [`store::write`] needs a
//! `--patron-key-file` holding that key for its own patron ids to match.
//!
//! [`store`] writes steps straight into an [`readnet_store::EventStore`]; [`grpc`] sends them to a
//! running server.
//!
//! The simulator's parts, each an `impl Simulator` of its own: `scale` (the presets), `network`
//! (the shape and its set-up), `collection` (titles, cataloguing, shelves), `patrons`, `rhythm`
//! (the hours of a day and the demand they bring), `schedule` (actions queued by time and
//! dispatched), `steps` (each kind of step: loans, transfers, booths, acquisitions, losses),
//! `kiosk` (the offline kiosk) and `stats`.

mod collection;
pub mod grpc;
mod kiosk;
mod network;
mod patrons;
mod rhythm;
mod scale;
mod schedule;
mod stats;
mod steps;
pub mod store;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use readnet_domain::pb::{Channel, LibraryTier};
use readnet_domain::{Command, LibraryCode, Payload};
use readnet_ledger::history::History;
use readnet_projection::ProjectedEvent;

use crate::collection::{ItemInfo, zipf_cdf};
use crate::network::Lib;
use crate::rhythm::{UTC_OFFSET_HOURS, time};
use crate::schedule::Action;
use crate::steps::Loan;

pub use crate::scale::{CitySpec, Scale};
pub use crate::stats::Stats;

/// One command as the ledger would record it, with the events it recorded.
#[derive(Debug, Clone)]
pub struct Step {
    /// When it happened (simulated time).
    pub occurred_at: DateTime<Utc>,
    /// The acting library; `None` for network administration.
    pub library: Option<String>,
    pub channel: Channel,
    pub command: Command,
    /// The card (issuing city, number) behind the command's patron, for the gRPC API.
    pub card: Option<(String, String)>,
    /// Commands about one item share a key: a driver that keeps each key's order keeps the
    /// commands valid.
    pub key: u64,
    /// The events the domain recorded for it (positions as `History` numbered them).
    pub events: Vec<ProjectedEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Network,
    Catalogue(usize),
    Hour(u32),
    Done,
}

/// The seeded simulation: call [`Simulator::next_chunk`] until it returns `None`.
pub struct Simulator {
    rng: StdRng,
    history: History,
    scale: Scale,
    /// Local midnight of the first simulated day, in UTC.
    start: DateTime<Utc>,
    days: u32,
    phase: Phase,
    libs: Vec<Lib>,
    /// Per city: lending libraries (not booths) with their share of the city's loans.
    lending: Vec<Vec<(usize, f64)>>,
    booths: Vec<usize>,
    patron_offset: Vec<u32>,
    patron_city: Vec<u16>,
    items: Vec<ItemInfo>,
    /// Per library: title → items on its shelf that can be lent.
    shelf: Vec<HashMap<u32, Vec<u32>>>,
    /// Per library: every title its shelf has held (to pick one at random).
    shelf_titles: Vec<Vec<u32>>,
    booth_stock: Vec<Vec<u32>>,
    loans: HashMap<u32, Loan>,
    demand_cdf: Vec<f64>,
    copies_cdf: Vec<f64>,
    heap: BinaryHeap<Reverse<(i64, u64, Action)>>,
    seq: u64,
    out: Vec<Step>,
    kiosk: usize,
    kiosk_offline: bool,
    kiosk_buffer: Vec<Step>,
    kiosk_sync_at: i64,
    locked: HashSet<u32>,
    /// Cards (city, number) first used at the offline kiosk: their enrolment is held back with
    /// it, so nothing else may act for them until it has synced.
    locked_cards: HashSet<(String, String)>,
    next_deposit: u32,
    next_bought: u32,
    /// The licensed e-resources' codes (ADR 0019).
    eresources: Vec<String>,
    /// Copies set aside for a hold, with the hold each serves (ordered: the simulator walks it).
    held: BTreeMap<u32, u64>,
    /// Open holds the simulator placed: the reader and the title.
    hold_patrons: BTreeMap<u64, (u32, u32)>,
    stats: Stats,
}

impl Simulator {
    /// A simulation of `days` days from `first_day` (local midnight, UTC+8).
    pub fn new(scale: Scale, seed: u64, first_day: NaiveDate, days: u32) -> Self {
        let start = Utc.from_utc_datetime(&first_day.and_hms_opt(0, 0, 0).expect("midnight"))
            - Duration::hours(UTC_OFFSET_HOURS);
        let demand_cdf = zipf_cdf(scale.titles, 1.0);
        let copies_cdf = zipf_cdf(scale.titles, 0.7);
        let mut sim = Self {
            rng: StdRng::seed_from_u64(seed),
            history: History::new(),
            start,
            days,
            phase: Phase::Network,
            libs: Vec::new(),
            lending: Vec::new(),
            booths: Vec::new(),
            patron_offset: Vec::new(),
            patron_city: Vec::new(),
            items: Vec::new(),
            shelf: Vec::new(),
            shelf_titles: Vec::new(),
            booth_stock: Vec::new(),
            loans: HashMap::new(),
            demand_cdf,
            copies_cdf,
            heap: BinaryHeap::new(),
            seq: 0,
            out: Vec::new(),
            kiosk: 0,
            kiosk_offline: false,
            kiosk_buffer: Vec::new(),
            kiosk_sync_at: 0,
            locked: HashSet::new(),
            locked_cards: HashSet::new(),
            next_deposit: 0,
            next_bought: 0,
            eresources: Vec::new(),
            held: BTreeMap::new(),
            hold_patrons: BTreeMap::new(),
            stats: Stats::default(),
            scale,
        };
        sim.build_network_shape();
        sim
    }

    /// The default first day: 2026-01-05, a Monday.
    pub fn default_first_day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date")
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Simulated hours done and in all (setup counts as hour 0).
    pub fn progress(&self) -> (u64, u64) {
        let total = u64::from(self.days) * 24;
        let done = match self.phase {
            Phase::Network | Phase::Catalogue(_) => 0,
            Phase::Hour(h) => u64::from(h),
            Phase::Done => total,
        };
        (done, total)
    }

    /// The phase (`network`, `catalogue`, `hours`) with its work done and in all: cataloguing
    /// counts items, playing counts simulated hours, setting up the network is one step.
    pub fn phase_progress(&self) -> (&'static str, u64, u64) {
        let items: usize = self.scale.cities.iter().map(|c| c.items).sum();
        let hours = u64::from(self.days) * 24;
        match self.phase {
            Phase::Network => ("network", 0, 1),
            Phase::Catalogue(done) => ("catalogue", done as u64, items as u64),
            Phase::Hour(h) => ("hours", u64::from(h), hours),
            Phase::Done => ("hours", hours, hours),
        }
    }

    /// The simulated day being played, from 1 (0 while the network is set up).
    pub fn day(&self) -> u32 {
        match self.phase {
            Phase::Network | Phase::Catalogue(_) => 0,
            Phase::Hour(h) => h / 24 + 1,
            Phase::Done => self.days,
        }
    }

    /// The next steps in recorded order; `None` when the simulation is over.
    pub fn next_chunk(&mut self) -> Option<Vec<Step>> {
        match self.phase {
            Phase::Network => {
                self.setup_network();
                self.phase = Phase::Catalogue(0);
            }
            Phase::Catalogue(done) => {
                let total: usize = self.scale.cities.iter().map(|c| c.items).sum();
                let end = (done + 20_000).min(total);
                self.catalogue(done, end);
                self.phase = if end == total {
                    Phase::Hour(0)
                } else {
                    Phase::Catalogue(end)
                };
            }
            Phase::Hour(h) if h < self.days * 24 => {
                self.play_hour(h);
                self.phase = Phase::Hour(h + 1);
                if h + 1 == self.days * 24 {
                    // The kiosk's last window syncs as the run ends.
                    self.kiosk_sync();
                    self.phase = Phase::Done;
                }
            }
            Phase::Hour(_) | Phase::Done => return None,
        }
        Some(std::mem::take(&mut self.out))
    }

    fn exec_system(&mut self, at: DateTime<Utc>, command: Command) {
        let ok = self.exec(at.timestamp_micros(), None, command, None, 0, &[]);
        assert!(ok, "the simulated network's set-up is valid");
    }

    /// Decides `command`; on success emits its step (or holds it back while the kiosk is
    /// offline) and returns true.
    fn exec(
        &mut self,
        at: i64,
        library: Option<usize>,
        command: Command,
        card: Option<(String, String)>,
        key: u64,
        touched: &[u32],
    ) -> bool {
        self.exec_via(at, library, None, command, card, key, touched)
    }

    /// The channel of a command at `library` (none: the network's own administration).
    fn channel_at(&self, library: usize) -> Channel {
        match self.libs[library].tier {
            LibraryTier::SelfService => Channel::Kiosk,
            LibraryTier::Booth => Channel::Booth,
            _ => Channel::Desk,
        }
    }

    /// [`Simulator::exec`] through `channel` (default: the library's own; an app's command
    /// names the library it is for).
    #[allow(clippy::too_many_arguments)]
    fn exec_via(
        &mut self,
        at: i64,
        library: Option<usize>,
        channel: Option<Channel>,
        command: Command,
        card: Option<(String, String)>,
        key: u64,
        touched: &[u32],
    ) -> bool {
        self.stats.commands += 1;
        let occurred_at = time(at);
        let code = library.map(|l| self.libs[l].code.clone());
        let name = command.name();
        if self
            .history
            .try_run(
                occurred_at,
                code.as_ref().map(LibraryCode::as_str),
                command.clone(),
            )
            .is_err()
        {
            self.stats.refused += 1;
            *self.stats.refused_by.entry(name).or_default() += 1;
            return false;
        }
        let mut events = self.history.drain();
        let channel =
            channel.unwrap_or_else(|| library.map_or(Channel::System, |l| self.channel_at(l)));
        for event in &mut events {
            event.channel = channel;
        }
        self.stats.events += events.len() as u64;
        let step = Step {
            occurred_at,
            library: code.map(String::from),
            channel,
            command,
            card,
            key,
            events,
        };
        if self.kiosk_offline && library == Some(self.kiosk) {
            self.locked.extend(touched.iter().copied());
            if let Some(card) = &step.card
                && step
                    .events
                    .iter()
                    .any(|e| matches!(e.payload, Payload::PatronEnrolled(_)))
            {
                self.locked_cards.insert(card.clone());
            }
            self.kiosk_buffer.push(step);
        } else {
            self.out.push(step);
        }
        true
    }
}
