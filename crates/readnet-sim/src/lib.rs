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

pub mod grpc;
pub mod store;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use readnet_domain::pb::{
    Acquisition, Channel, CreditTier, LibraryTier, ReturnPolicy, TransferReason,
};
use readnet_domain::{Command, Fen, ItemStatus, NewBook, PatronRef};
use readnet_ledger::history::{History, card};
use readnet_projection::ProjectedEvent;

/// Every city runs on China Standard Time (UTC+8): hours below are local.
const UTC_OFFSET_HOURS: i64 = 8;
const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// One city of a preset.
#[derive(Debug, Clone)]
pub struct CitySpec {
    pub code: &'static str,
    pub name: &'static str,
    /// Library codes start with this (`GZ-CENTRAL`).
    pub prefix: &'static str,
    /// Loans a day, on average over a week.
    pub loans_per_day: f64,
    pub generals: usize,
    pub branches_per_general: usize,
    pub service_points: usize,
    pub self_service: usize,
    pub booths: usize,
    pub items: usize,
    pub patrons: usize,
}

/// A preset: the network's size and its rates.
#[derive(Debug, Clone)]
pub struct Scale {
    pub name: &'static str,
    pub cities: Vec<CitySpec>,
    /// Distinct titles in the network.
    pub titles: usize,
    pub swaps_per_booth_day: f64,
}

impl Scale {
    /// For tests: two small cities, a few hundred loans a day.
    pub fn small() -> Self {
        Self {
            name: "small",
            cities: vec![
                CitySpec {
                    code: "jinan",
                    name: "济南",
                    prefix: "JN",
                    loans_per_day: 300.0,
                    generals: 1,
                    branches_per_general: 2,
                    service_points: 2,
                    self_service: 1,
                    booths: 1,
                    items: 3_000,
                    patrons: 400,
                },
                CitySpec {
                    code: "zibo",
                    name: "淄博",
                    prefix: "ZB",
                    loans_per_day: 200.0,
                    generals: 1,
                    branches_per_general: 1,
                    service_points: 1,
                    self_service: 1,
                    booths: 1,
                    items: 2_000,
                    patrons: 300,
                },
            ],
            titles: 800,
            swaps_per_booth_day: 12.0,
        }
    }

    /// About 90,000 loans a day across the network (Guangzhou lends 32.7M a year).
    pub fn city() -> Self {
        Self {
            name: "city",
            cities: vec![
                CitySpec {
                    code: "guangzhou",
                    name: "广州",
                    prefix: "GZ",
                    loans_per_day: 70_000.0,
                    generals: 11,
                    branches_per_general: 8,
                    service_points: 40,
                    self_service: 20,
                    booths: 10,
                    items: 1_500_000,
                    patrons: 1_000_000,
                },
                CitySpec {
                    code: "foshan",
                    name: "佛山",
                    prefix: "FS",
                    loans_per_day: 20_000.0,
                    generals: 5,
                    branches_per_general: 6,
                    service_points: 20,
                    self_service: 8,
                    booths: 6,
                    items: 500_000,
                    patrons: 300_000,
                },
            ],
            titles: 300_000,
            swaps_per_booth_day: 30.0,
        }
    }

    /// A province: six cities, about 175,000 loans a day.
    pub fn province() -> Self {
        let mut scale = Self::city();
        scale.name = "province";
        let more = [
            ("shenzhen", "深圳", "SZ", 50_000.0, 8, 1_000_000, 700_000),
            ("dongguan", "东莞", "DG", 15_000.0, 4, 400_000, 250_000),
            ("zhuhai", "珠海", "ZH", 10_000.0, 3, 250_000, 150_000),
            ("shantou", "汕头", "ST", 10_000.0, 3, 250_000, 150_000),
        ];
        for (code, name, prefix, loans, generals, items, patrons) in more {
            scale.cities.push(CitySpec {
                code,
                name,
                prefix,
                loans_per_day: loans,
                generals,
                branches_per_general: 6,
                service_points: 15,
                self_service: 6,
                booths: 4,
                items,
                patrons,
            });
        }
        scale.titles = 500_000;
        scale
    }

    /// A preset by name: `small`, `city` or `province`.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "small" => Some(Self::small()),
            "city" => Some(Self::city()),
            "province" => Some(Self::province()),
            _ => None,
        }
    }
}

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

/// What happened so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub commands: u64,
    /// Commands the domain refused (a blocked patron, a patron at their limit, ...): not emitted.
    pub refused: u64,
    /// The refusals by command name.
    pub refused_by: std::collections::BTreeMap<&'static str, u64>,
    pub events: u64,
    pub catalogued: u64,
    pub loans: u64,
    pub cross_city_loans: u64,
    pub renewals: u64,
    pub returns: u64,
    pub returns_elsewhere: u64,
    pub returns_other_city: u64,
    pub late_returns: u64,
    pub repatriations: u64,
    pub restocks: u64,
    pub booth_swaps: u64,
    pub patron_driven: u64,
    pub lost: u64,
    pub lost_paid: u64,
    pub tier_changes: u64,
    /// Commands of the offline kiosk, recorded hours after they happened.
    pub late_synced: u64,
    /// Checkouts that found no copy of the wanted title on the shelf.
    pub no_copy: u64,
}

#[derive(Debug, Clone)]
struct Lib {
    code: String,
    city: usize,
    tier: LibraryTier,
    open_24h: bool,
    /// The city's central library (for booth restocking).
    central: usize,
}

#[derive(Debug, Clone)]
struct ItemInfo {
    code: String,
    title: u32,
}

#[derive(Debug, Clone, Copy)]
struct Loan {
    patron: u32,
    library: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Checkout { library: u32, patron: u32 },
    Acquire { library: u32, patron: u32 },
    Swap { booth: u32, patron: u32 },
    Return { item: u32, library: u32 },
    Renew { item: u32 },
    ReportLost { item: u32 },
    PayLost { item: u32 },
    Repatriate { item: u32 },
    Receive { item: u32 },
    Restock { booth: u32 },
    SetTier { patron: u32, tier: u8 },
    KioskOffline,
    KioskSync,
}

impl Action {
    fn item(self) -> Option<u32> {
        match self {
            Action::Return { item, .. }
            | Action::Renew { item }
            | Action::ReportLost { item }
            | Action::PayLost { item }
            | Action::Repatriate { item }
            | Action::Receive { item } => Some(item),
            _ => None,
        }
    }
}

/// Local hour weights of a staffed library (open 9:00–21:00) and of a 24-hour one.
const STAFFED: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.8, 0.9, 0.7, 0.6, 0.8, 0.9, 1.0, 1.1, 1.4,
    1.6, 1.3, 0.0, 0.0, 0.0,
];
const ALL_DAY: [f64; 24] = [
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 0.9, 0.7, 0.6, 0.8, 0.9, 1.0, 1.1, 1.4,
    1.6, 1.3, 0.9, 0.6, 0.3,
];

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
    next_deposit: u32,
    next_bought: u32,
    stats: Stats,
}

fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += 1.0 / (k as f64).powf(s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

fn sample_cdf(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("simulated time is in range")
}

fn book(item: &str, title: u32) -> NewBook {
    NewBook {
        item: item.into(),
        isbn: format!("978{:010}", title),
        title: format!("Title {title}"),
        author: format!("Author {}", title % 5_000),
        price_fen: Some(Fen(2_000 + (title as i64 * 37) % 8_000)),
    }
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
            next_deposit: 0,
            next_bought: 0,
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

    /// The simulated day being played, from 1 (0 while the network is set up).
    pub fn day(&self) -> u32 {
        match self.phase {
            Phase::Network | Phase::Catalogue(_) => 0,
            Phase::Hour(h) => h / 24 + 1,
            Phase::Done => self.days,
        }
    }

    fn build_network_shape(&mut self) {
        let mut patrons = 0u32;
        for (c, city) in self.scale.cities.clone().iter().enumerate() {
            let central = self.libs.len();
            let add = |libs: &mut Vec<Lib>, code: String, tier: LibraryTier| {
                libs.push(Lib {
                    code,
                    city: c,
                    tier,
                    open_24h: tier == LibraryTier::SelfService,
                    central,
                });
            };
            let p = city.prefix;
            add(&mut self.libs, format!("{p}-CENTRAL"), LibraryTier::Central);
            for g in 1..=city.generals {
                add(&mut self.libs, format!("{p}-G{g:02}"), LibraryTier::General);
                for b in 1..=city.branches_per_general {
                    add(
                        &mut self.libs,
                        format!("{p}-G{g:02}-B{b:02}"),
                        LibraryTier::Branch,
                    );
                }
            }
            for s in 1..=city.service_points {
                add(
                    &mut self.libs,
                    format!("{p}-SP{s:03}"),
                    LibraryTier::ServicePoint,
                );
            }
            for s in 1..=city.self_service {
                add(
                    &mut self.libs,
                    format!("{p}-24H-{s:02}"),
                    LibraryTier::SelfService,
                );
            }
            for b in 1..=city.booths {
                add(
                    &mut self.libs,
                    format!("{p}-BOOTH-{b:02}"),
                    LibraryTier::Booth,
                );
            }
            let mut lending = Vec::new();
            for (l, lib) in self.libs.iter().enumerate().skip(central) {
                let share = match lib.tier {
                    LibraryTier::Central => 20.0,
                    LibraryTier::General => 6.0,
                    LibraryTier::Branch => 2.0,
                    LibraryTier::ServicePoint => 0.6,
                    LibraryTier::SelfService => 1.5,
                    _ => {
                        self.booths.push(l);
                        continue;
                    }
                };
                lending.push((l, share));
            }
            let sum: f64 = lending.iter().map(|(_, s)| s).sum();
            for (_, s) in &mut lending {
                *s /= sum;
            }
            self.lending.push(lending);
            self.patron_offset.push(patrons);
            patrons += city.patrons as u32;
            self.patron_city
                .extend(std::iter::repeat_n(c as u16, city.patrons));
        }
        self.patron_offset.push(patrons);
        self.shelf = vec![HashMap::new(); self.libs.len()];
        self.shelf_titles = vec![Vec::new(); self.libs.len()];
        self.booth_stock = vec![Vec::new(); self.libs.len()];
        self.kiosk = self
            .libs
            .iter()
            .position(|l| l.tier == LibraryTier::SelfService)
            .expect("a self-service library");
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

    fn setup_network(&mut self) {
        let at = self.start - Duration::days(1);
        for city in self.scale.cities.clone() {
            self.exec_system(
                at,
                Command::JoinCity {
                    city: city.code.into(),
                    name: city.name.into(),
                    time_zone: "Asia/Shanghai".into(),
                },
            );
        }
        for l in 0..self.libs.len() {
            let lib = self.libs[l].clone();
            let parent = match lib.tier {
                LibraryTier::Central => None,
                LibraryTier::Branch => Some(lib.code[..lib.code.len() - 4].into()),
                _ => Some(self.libs[lib.central].code.as_str().into()),
            };
            self.exec_system(
                at,
                Command::RegisterLibrary {
                    library: lib.code.clone().into(),
                    name: lib.code.clone(),
                    city: self.scale.cities[lib.city].code.into(),
                    tier: lib.tier,
                    parent,
                },
            );
            if matches!(
                lib.tier,
                LibraryTier::Branch | LibraryTier::ServicePoint | LibraryTier::SelfService
            ) {
                self.exec_system(
                    at,
                    Command::SetReturnPolicy {
                        library: lib.code.clone().into(),
                        policy: ReturnPolicy::FloatInCity,
                    },
                );
            }
        }
    }

    /// Catalogues items `from..to` of the network (cities one after another).
    fn catalogue(&mut self, from: usize, to: usize) {
        let at = (self.start - Duration::hours(12)).timestamp_micros();
        let mut first = 0;
        for (c, city) in self.scale.cities.clone().iter().enumerate() {
            let range = first..first + city.items;
            first += city.items;
            let (lo, hi) = (from.max(range.start), to.min(range.end));
            if lo >= hi {
                continue;
            }
            // The collection: central and general libraries hold most of it; booths a little.
            let holders: Vec<(usize, f64)> = self
                .libs
                .iter()
                .enumerate()
                .filter(|(_, l)| l.city == c)
                .map(|(i, l)| {
                    let w = match l.tier {
                        LibraryTier::Central => 30.0,
                        LibraryTier::General => 8.0,
                        LibraryTier::Branch => 2.5,
                        LibraryTier::ServicePoint => 0.6,
                        LibraryTier::SelfService => 1.0,
                        _ => 0.3,
                    };
                    (i, w)
                })
                .collect();
            let sum: f64 = holders.iter().map(|(_, w)| w).sum();
            for _ in lo..hi {
                let mut u = self.rng.random::<f64>() * sum;
                let mut owner = holders[holders.len() - 1].0;
                for &(l, w) in &holders {
                    if u < w {
                        owner = l;
                        break;
                    }
                    u -= w;
                }
                // A booth holds a few dozen books; the rest goes to the central library.
                if self.libs[owner].tier == LibraryTier::Booth
                    && self.booth_stock[owner].len() >= 40
                {
                    owner = self.libs[owner].central;
                }
                let title = sample_cdf(&self.copies_cdf, self.rng.random()) as u32;
                let n = self.items.len() as u32;
                let code = format!("IT{n:09}");
                let acquisition = if self.rng.random_bool(0.05) {
                    Acquisition::Donation
                } else {
                    Acquisition::Purchase
                };
                let command = Command::CatalogueItem {
                    book: book(&code, title),
                    owner_library: self.libs[owner].code.clone().into(),
                    acquisition,
                };
                self.items.push(ItemInfo { code, title });
                if self.exec(at, None, command, None, u64::from(n), &[]) {
                    self.stats.catalogued += 1;
                    self.place(n, owner);
                }
            }
        }
    }

    /// An item has arrived at `library` (shelf or booth): it can be lent or swapped there.
    fn place(&mut self, item: u32, library: usize) {
        if self.libs[library].tier == LibraryTier::Booth {
            self.booth_stock[library].push(item);
        } else {
            let title = self.items[item as usize].title;
            let copies = self.shelf[library].entry(title).or_insert_with(|| {
                self.shelf_titles[library].push(title);
                Vec::new()
            });
            copies.push(item);
        }
    }

    /// Some copy on `library`'s shelf, of a title picked at random among those it holds.
    fn any_on_shelf(&mut self, library: usize) -> Option<u32> {
        let titles = self.shelf_titles[library].len();
        if titles == 0 {
            return None;
        }
        for _ in 0..8 {
            let title = self.shelf_titles[library][self.rng.random_range(0..titles)];
            if let Some(item) = self.shelf[library].get_mut(&title).and_then(Vec::pop) {
                return Some(item);
            }
        }
        None
    }

    fn push(&mut self, at: i64, action: Action) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, action)));
    }

    fn hour_start(&self, hour: u32) -> i64 {
        self.start.timestamp_micros() + i64::from(hour) * MICROS_PER_HOUR
    }

    /// A moment on day `day` (from the start) in the library's opening hours, by the rhythm.
    fn moment(&mut self, day: i64, library: usize) -> i64 {
        let weights = if self.libs[library].open_24h {
            &ALL_DAY
        } else {
            &STAFFED
        };
        let sum: f64 = weights.iter().sum();
        let mut u = self.rng.random::<f64>() * sum;
        let mut hour = 20;
        for (h, w) in weights.iter().enumerate() {
            if u < *w {
                hour = h;
                break;
            }
            u -= w;
        }
        self.start.timestamp_micros()
            + day * MICROS_PER_DAY
            + hour as i64 * MICROS_PER_HOUR
            + self.rng.random_range(0..MICROS_PER_HOUR)
    }

    fn day_of(&self, at: i64) -> i64 {
        (at - self.start.timestamp_micros()).div_euclid(MICROS_PER_DAY)
    }

    fn weekend(&self, day: i64) -> bool {
        let date =
            (self.start + Duration::hours(UTC_OFFSET_HOURS) + Duration::days(day)).date_naive();
        date.weekday().number_from_monday() >= 6
    }

    fn count(&mut self, mean: f64) -> usize {
        let whole = mean.floor();
        whole as usize + usize::from(self.rng.random::<f64>() < mean - whole)
    }

    fn play_hour(&mut self, hour: u32) {
        let day = i64::from(hour / 24);
        let local = (hour % 24) as usize;
        let begin = self.hour_start(hour);
        if local == 0 {
            self.plan_day(day);
        }
        let factor = if self.weekend(day) { 1.375 } else { 0.85 };
        let staffed_sum: f64 = STAFFED.iter().sum();
        let all_day_sum: f64 = ALL_DAY.iter().sum();
        for c in 0..self.lending.len() {
            let per_day = self.scale.cities[c].loans_per_day * factor;
            for i in 0..self.lending[c].len() {
                let (library, share) = self.lending[c][i];
                let shape = if self.libs[library].open_24h {
                    ALL_DAY[local] / all_day_sum
                } else {
                    STAFFED[local] / staffed_sum
                };
                let n = self.count(per_day * share * shape);
                for _ in 0..n {
                    let at = begin + self.rng.random_range(0..MICROS_PER_HOUR);
                    let patron = self.pick_patron(c);
                    let acquire = self.libs[library].tier != LibraryTier::SelfService
                        && self.rng.random_bool(0.01);
                    let action = if acquire {
                        Action::Acquire {
                            library: library as u32,
                            patron,
                        }
                    } else {
                        Action::Checkout {
                            library: library as u32,
                            patron,
                        }
                    };
                    self.push(at, action);
                }
            }
        }
        if (8..20).contains(&local) {
            for b in 0..self.booths.len() {
                let booth = self.booths[b];
                let n = self.count(self.scale.swaps_per_booth_day / 12.0);
                for _ in 0..n {
                    let at = begin + self.rng.random_range(0..MICROS_PER_HOUR);
                    let patron = self.pick_patron(self.libs[booth].city);
                    self.push(
                        at,
                        Action::Swap {
                            booth: booth as u32,
                            patron,
                        },
                    );
                }
            }
        }
        let end = begin + MICROS_PER_HOUR;
        while let Some(Reverse((at, _, action))) = self.heap.peek().copied() {
            if at >= end {
                break;
            }
            self.heap.pop();
            self.act(at, action);
        }
    }

    /// The day's fixed points: booth restocking at 11:00, the kiosk's offline evening.
    fn plan_day(&mut self, day: i64) {
        let midnight = self.start.timestamp_micros() + day * MICROS_PER_DAY;
        for b in 0..self.booths.len() {
            let booth = self.booths[b] as u32;
            let at = midnight + 11 * MICROS_PER_HOUR + self.rng.random_range(0..MICROS_PER_HOUR);
            self.push(at, Action::Restock { booth });
        }
        self.push(midnight + 19 * MICROS_PER_HOUR, Action::KioskOffline);
        let sync = midnight + 26 * MICROS_PER_HOUR + self.rng.random_range(0..2 * MICROS_PER_HOUR);
        self.push(sync, Action::KioskSync);
    }

    /// A patron of city `c` (mostly), or now and then one from another city; busy patrons
    /// (low numbers) come more often.
    fn pick_patron(&mut self, c: usize) -> u32 {
        let cities = self.lending.len();
        let city = if cities > 1 && self.rng.random_bool(0.07) {
            (c + self.rng.random_range(1..cities)) % cities
        } else {
            c
        };
        let (lo, hi) = (self.patron_offset[city], self.patron_offset[city + 1]);
        let x: f64 = self.rng.random();
        lo + (x.powf(1.5) * f64::from(hi - lo)) as u32
    }

    fn patron(&self, patron: u32) -> (PatronRef, (String, String)) {
        let city = self.scale.cities[self.patron_city[patron as usize] as usize].code;
        let number = format!("{:012}", u64::from(patron) + 100_000_000);
        (card(city, &number), (city.to_owned(), number))
    }

    fn act(&mut self, at: i64, action: Action) {
        if let Some(item) = action.item()
            && self.locked.contains(&item)
        {
            // The offline kiosk holds this item's last events: wait until it has synced.
            let later = self.kiosk_sync_at + self.rng.random_range(60_000_000..1_800_000_000);
            self.push(later, action);
            return;
        }
        match action {
            Action::Checkout { library, patron } => self.checkout(at, library as usize, patron),
            Action::Acquire { library, patron } => self.acquire(at, library as usize, patron),
            Action::Swap { booth, patron } => self.swap(at, booth as usize, patron),
            Action::Return { item, library } => self.return_item(at, item, library as usize),
            Action::Renew { item } => self.renew(at, item),
            Action::ReportLost { item } => self.report_lost(at, item),
            Action::PayLost { item } => self.pay_lost(at, item),
            Action::Repatriate { item } => self.repatriate(at, item),
            Action::Receive { item } => self.receive(at, item),
            Action::Restock { booth } => self.restock(at, booth as usize),
            Action::SetTier { patron, tier } => self.set_tier(at, patron, tier),
            Action::KioskOffline => {
                self.kiosk_offline = true;
                // The matching sync is the next one queued.
                self.kiosk_sync_at = at + 7 * MICROS_PER_HOUR + 2 * MICROS_PER_HOUR;
            }
            Action::KioskSync => self.kiosk_sync(),
        }
    }

    fn kiosk_sync(&mut self) {
        self.kiosk_offline = false;
        self.stats.late_synced += self.kiosk_buffer.len() as u64;
        self.out.append(&mut self.kiosk_buffer);
        self.locked.clear();
    }

    fn status(&self, item: u32) -> Option<&ItemStatus> {
        self.history
            .ledger()
            .items
            .get(self.items[item as usize].code.as_str())
            .map(|i| &i.status)
    }

    fn checkout(&mut self, at: i64, library: usize, patron: u32) {
        let (patron_ref, card) = self.patron(patron);
        let enrolled = self
            .history
            .ledger()
            .patrons
            .contains_key(&patron_ref.patron_id);
        if library == self.kiosk && self.kiosk_offline && !enrolled {
            // An offline kiosk cannot enrol: the card is checked when it syncs.
            return;
        }
        let mut found = None;
        for _ in 0..4 {
            let title = sample_cdf(&self.demand_cdf, self.rng.random()) as u32;
            if let Some(copies) = self.shelf[library].get_mut(&title)
                && let Some(item) = copies.pop()
            {
                found = Some(item);
                break;
            }
        }
        // The wanted title is out: the patron takes something else from the shelf.
        let Some(item) = found.or_else(|| self.any_on_shelf(library)) else {
            self.stats.no_copy += 1;
            return;
        };
        let lendable = matches!(self.status(item),
            Some(ItemStatus::OnShelf { library: here, homebound: false }) if *here == self.libs[library].code);
        if !lendable {
            return;
        }
        let code = self.items[item as usize].code.clone();
        let command = Command::Checkout {
            item: code.into(),
            patron: patron_ref.clone(),
        };
        if self.exec(
            at,
            Some(library),
            command,
            Some(card.clone()),
            u64::from(item),
            &[item],
        ) {
            self.lent(at, item, library, patron);
            if !enrolled {
                let tier = match self.rng.random_range(0..100) {
                    0..5 => Some(CreditTier::Trusted),
                    5..8 => Some(CreditTier::Restricted),
                    _ => None,
                };
                if let Some(tier) = tier {
                    // The credit system assigns tiers in its nightly run.
                    let night = self.start.timestamp_micros()
                        + (self.day_of(at) + 1) * MICROS_PER_DAY
                        + 3 * MICROS_PER_HOUR
                        + self.rng.random_range(0..MICROS_PER_HOUR);
                    self.push(
                        night,
                        Action::SetTier {
                            patron,
                            tier: tier as u8,
                        },
                    );
                }
            }
        } else {
            self.place(item, library);
        }
    }

    /// A loan began: decide how it ends.
    fn lent(&mut self, at: i64, item: u32, library: usize, patron: u32) {
        self.stats.loans += 1;
        let patron_city = self.patron_city[patron as usize] as usize;
        if patron_city != self.libs[library].city {
            self.stats.cross_city_loans += 1;
        }
        self.loans.insert(
            item,
            Loan {
                patron,
                library: library as u32,
            },
        );
        let day = self.day_of(at);
        if self.rng.random_bool(0.01) {
            let mean_days = 8.0;
            let after = -(1.0 - self.rng.random::<f64>()).ln() * mean_days * MICROS_PER_DAY as f64;
            self.push(
                at + MICROS_PER_HOUR + after as i64,
                Action::ReportLost { item },
            );
            return;
        }
        let u: f64 = self.rng.random();
        let days = if u < 0.04 {
            self.rng.random_range(0..3)
        } else if u < 0.86 {
            self.rng.random_range(3..=30)
        } else {
            self.rng.random_range(31..=75)
        };
        if days > 28 && self.rng.random_bool(0.6) {
            let renew_day = day + self.rng.random_range(3..=28);
            let when = self.moment(renew_day, library);
            self.push(when, Action::Renew { item });
        }
        let cities = self.lending.len();
        let r: f64 = self.rng.random();
        let here = self.libs[library].city;
        let city = if r < 0.72 {
            None
        } else if r < 0.90 {
            Some(here)
        } else if r < 0.96 {
            Some(patron_city)
        } else {
            Some((here + self.rng.random_range(1..cities.max(2))) % cities)
        };
        let back_at = match city {
            None => library,
            Some(c) => {
                let i = self.rng.random_range(0..self.lending[c].len());
                self.lending[c][i].0
            }
        };
        let mut when = self.moment(day + days, back_at);
        if when <= at {
            when = at + MICROS_PER_HOUR;
        }
        self.push(
            when,
            Action::Return {
                item,
                library: back_at as u32,
            },
        );
    }

    fn return_item(&mut self, at: i64, item: u32, library: usize) {
        let Some(ItemStatus::OnLoan { due_at, .. }) = self.status(item) else {
            return;
        };
        let late = time(at) > *due_at;
        let code = self.items[item as usize].code.clone();
        let command = Command::Return {
            item: code.clone().into(),
        };
        if !self.exec(at, Some(library), command, None, u64::from(item), &[item]) {
            return;
        }
        self.stats.returns += 1;
        self.stats.late_returns += u64::from(late);
        if let Some(loan) = self.loans.remove(&item) {
            if loan.library as usize != library {
                self.stats.returns_elsewhere += 1;
            }
            if self.libs[loan.library as usize].city != self.libs[library].city {
                self.stats.returns_other_city += 1;
            }
        }
        match self.status(item) {
            Some(ItemStatus::OnShelf {
                homebound: true, ..
            }) => {
                // The courier takes homebound items the next morning.
                let when = self.start.timestamp_micros()
                    + (self.day_of(at) + 1) * MICROS_PER_DAY
                    + 9 * MICROS_PER_HOUR
                    + self.rng.random_range(0..2 * MICROS_PER_HOUR);
                self.push(when, Action::Repatriate { item });
            }
            Some(ItemStatus::OnShelf { .. }) => self.place(item, library),
            _ => {}
        }
    }

    fn renew(&mut self, at: i64, item: u32) {
        let Some(loan) = self.loans.get(&item).copied() else {
            return;
        };
        if !matches!(self.status(item), Some(ItemStatus::OnLoan { .. })) {
            return;
        }
        let (patron, card) = self.patron(loan.patron);
        let command = Command::Renew {
            item: self.items[item as usize].code.clone().into(),
            patron,
        };
        if self.exec(
            at,
            Some(loan.library as usize),
            command,
            Some(card),
            u64::from(item),
            &[item],
        ) {
            self.stats.renewals += 1;
        }
    }

    fn report_lost(&mut self, at: i64, item: u32) {
        let Some(loan) = self.loans.get(&item).copied() else {
            return;
        };
        if !matches!(self.status(item), Some(ItemStatus::OnLoan { .. })) {
            return;
        }
        let library = loan.library as usize;
        let command = Command::DeclareLost {
            item: self.items[item as usize].code.clone().into(),
        };
        if self.exec(at, Some(library), command, None, u64::from(item), &[item]) {
            self.stats.lost += 1;
            let day = self.day_of(at) + self.rng.random_range(1..=10);
            let when = self.moment(day, library);
            self.push(when, Action::PayLost { item });
        }
    }

    fn pay_lost(&mut self, at: i64, item: u32) {
        let Some(loan) = self.loans.remove(&item) else {
            return;
        };
        let code = self.items[item as usize].code.clone();
        let owed = self
            .history
            .ledger()
            .items
            .get(code.as_str())
            .and_then(|i| i.lost_debts.first())
            .map(|d| d.outstanding_fen);
        let Some(amount_fen) = owed.filter(|a| a.is_positive()) else {
            return;
        };
        let command = Command::PayLostItem {
            item: code.into(),
            amount_fen,
        };
        if self.exec(
            at,
            Some(loan.library as usize),
            command,
            None,
            u64::from(item),
            &[item],
        ) {
            self.stats.lost_paid += 1;
        }
    }

    fn library_index(&self, code: &str) -> Option<usize> {
        // Codes are few; a linear scan is fine next to deciding a command.
        self.libs.iter().position(|l| l.code == code)
    }

    fn repatriate(&mut self, at: i64, item: u32) {
        let code = self.items[item as usize].code.clone();
        let Some(state) = self.history.ledger().items.get(code.as_str()) else {
            return;
        };
        let ItemStatus::OnShelf {
            library: here,
            homebound: true,
        } = &state.status
        else {
            return;
        };
        let owner = state.owner_library.clone();
        let Some(from) = self.library_index(here.as_str()) else {
            return;
        };
        let command = Command::DispatchTransfer {
            item: code.into(),
            to_library: owner.clone(),
            reason: TransferReason::Repatriation,
        };
        if self.exec(at, Some(from), command, None, u64::from(item), &[item]) {
            self.stats.repatriations += 1;
            let to = self
                .library_index(owner.as_str())
                .expect("the owner is a library");
            self.schedule_receive(at, item, from, to);
        }
    }

    fn schedule_receive(&mut self, at: i64, item: u32, from: usize, to: usize) {
        let days = if self.libs[from].city == self.libs[to].city {
            1
        } else {
            2
        };
        let when = self.start.timestamp_micros()
            + (self.day_of(at) + days) * MICROS_PER_DAY
            + 10 * MICROS_PER_HOUR
            + self.rng.random_range(0..6 * MICROS_PER_HOUR);
        self.push(when, Action::Receive { item });
    }

    fn receive(&mut self, at: i64, item: u32) {
        let Some(ItemStatus::InTransit { to, .. }) = self.status(item) else {
            return;
        };
        let Some(to) = self.library_index(to.as_str()) else {
            return;
        };
        let command = Command::ReceiveTransfer {
            item: self.items[item as usize].code.clone().into(),
        };
        if self.exec(at, Some(to), command, None, u64::from(item), &[item]) {
            self.place(item, to);
        }
    }

    /// Staff of the city's central library send a few books to a booth.
    fn restock(&mut self, at: i64, booth: usize) {
        if self.booth_stock[booth].len() >= 60 {
            return;
        }
        let central = self.libs[booth].central;
        let mut sent = 0;
        for _ in 0..20 {
            if sent == 3 {
                break;
            }
            let Some(item) = self.any_on_shelf(central) else {
                continue;
            };
            let ok = matches!(self.status(item),
                Some(ItemStatus::OnShelf { library, homebound: false }) if *library == self.libs[central].code);
            if !ok {
                continue;
            }
            let command = Command::DispatchTransfer {
                item: self.items[item as usize].code.clone().into(),
                to_library: self.libs[booth].code.clone().into(),
                reason: TransferReason::Rebalance,
            };
            if self.exec(at, Some(central), command, None, u64::from(item), &[item]) {
                sent += 1;
                self.stats.restocks += 1;
                self.schedule_receive(at, item, central, booth);
            } else {
                self.place(item, central);
            }
        }
    }

    fn swap(&mut self, at: i64, booth: usize, patron: u32) {
        let stock = &mut self.booth_stock[booth];
        if stock.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..stock.len());
        let item = stock.swap_remove(i);
        let ok = matches!(self.status(item),
            Some(ItemStatus::InBooth { booth: b }) if *b == self.libs[booth].code);
        if !ok {
            return;
        }
        let (patron_ref, card) = self.patron(patron);
        let title = self.rng.random_range(0..self.scale.titles) as u32;
        let deposit = format!("BD{:09}", self.next_deposit);
        let mut deposit_book = book(&deposit, title);
        if self.rng.random_bool(0.5) {
            deposit_book.price_fen = None;
        }
        let command = Command::BoothSwap {
            take_item: self.items[item as usize].code.clone().into(),
            patron: patron_ref,
            deposit: deposit_book,
        };
        let new = self.items.len() as u32;
        // Keyed by the booth: the deposited book's own swap later goes the same way.
        let key = (1 << 41) | booth as u64;
        if self.exec(at, Some(booth), command, Some(card), key, &[item, new]) {
            self.next_deposit += 1;
            self.items.push(ItemInfo {
                code: deposit,
                title,
            });
            self.stats.booth_swaps += 1;
            self.booth_stock[booth].push(new);
        } else {
            self.booth_stock[booth].push(item);
        }
    }

    fn set_tier(&mut self, at: i64, patron: u32, tier: u8) {
        let tier = CreditTier::try_from(i32::from(tier)).unwrap_or(CreditTier::Standard);
        let (patron_ref, card) = self.patron(patron);
        let command = Command::SetPatronTier {
            patron: patron_ref,
            tier,
        };
        let key = (1 << 40) | u64::from(patron);
        if self.exec(at, None, command, Some(card), key, &[]) {
            self.stats.tier_changes += 1;
        }
    }

    fn acquire(&mut self, at: i64, library: usize, patron: u32) {
        let (patron_ref, card) = self.patron(patron);
        let title = sample_cdf(&self.demand_cdf, self.rng.random()) as u32;
        let code = format!("PD{:09}", self.next_bought);
        let command = Command::PatronDrivenAcquisition {
            patron: patron_ref,
            book: book(&code, title),
        };
        let new = self.items.len() as u32;
        if self.exec(
            at,
            Some(library),
            command,
            Some(card),
            u64::from(new),
            &[new],
        ) {
            self.next_bought += 1;
            self.items.push(ItemInfo { code, title });
            self.stats.patron_driven += 1;
            self.lent(at, new, library, patron);
        }
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
        self.stats.commands += 1;
        let occurred_at = time(at);
        let code = library.map(|l| self.libs[l].code.clone());
        let name = command.name();
        if self
            .history
            .try_run(occurred_at, code.as_deref(), command.clone())
            .is_err()
        {
            self.stats.refused += 1;
            *self.stats.refused_by.entry(name).or_default() += 1;
            return false;
        }
        let mut events = self.history.drain();
        let channel = match library.map(|l| self.libs[l].tier) {
            None => Channel::System,
            Some(LibraryTier::SelfService) => Channel::Kiosk,
            Some(LibraryTier::Booth) => Channel::Booth,
            Some(_) => Channel::Desk,
        };
        for event in &mut events {
            event.channel = channel;
        }
        self.stats.events += events.len() as u64;
        let step = Step {
            occurred_at,
            library: code,
            channel,
            command,
            card,
            key,
            events,
        };
        if self.kiosk_offline && library == Some(self.kiosk) {
            self.locked.extend(touched.iter().copied());
            self.kiosk_buffer.push(step);
        } else {
            self.out.push(step);
        }
        true
    }
}
