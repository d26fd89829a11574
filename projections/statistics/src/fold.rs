//! The fold: how each event changes the statistics and the monitoring centre's state.
//!
//! The state is compact (issue 17): every code it keys by (item, library, city, title key,
//! patron activity token, and the texts titles are shown with) is interned once in
//! [`Codes`], and the state holds dense [`Code`] ids. Per-item facts are a small fixed-size
//! struct in a vector indexed by the item's id; per library there is a vector of day rows sorted
//! by day, found by the library's id; days and months are integers. A look-up by `&str` goes
//! through an interner once per event field, and no `String` is made per event.
//!
//! The encoding is canonical without sorting maps by hand: ids are given in the order codes
//! are first seen, which is the order of the log, so the same history gives the same ids and
//! the same bytes; vectors are written in id order, ordered maps in key order, hash sets sorted
//! (see [`readnet_projection::canonical`]). Nothing is skipped or tagged, so the state also
//! decodes from a format that is not self-describing (postcard). Queries sort by code at query
//! time.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use readnet_projection::canonical::{FastSet, sorted_map, sorted_set};
use readnet_projection::intern::{Code, Interner};
use readnet_projection::pb::Acquisition;
use readnet_projection::title::title_key;
use readnet_projection::{
    NetworkView, Payload, Position, ProjectedEvent, Projection, SETTLEMENT_TIME_ZONE,
};
use serde::{Deserialize, Serialize};

/// The monitoring centre's "last hour", in seconds.
pub const LAST_HOUR_SECONDS: i64 = 3600;

/// Which library a day's figures are counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum By {
    /// Where it happened: the lending, returning, renewing, dispatching or receiving library,
    /// the booth of a swap, the library that enrolled the patron.
    TransactionLibrary,
    /// Whose item it is (enrolments, which concern no item, stay at the enrolling library).
    OwningLibrary,
}

impl By {
    /// Both views, transaction first.
    pub const BOTH: [By; 2] = [By::TransactionLibrary, By::OwningLibrary];
}

/// The kinds of interned codes (markers for [`Code`], never values).
pub(crate) enum Item {}
pub(crate) enum Library {}
pub(crate) enum City {}
pub(crate) enum Title {}
/// The texts titles are shown with (ISBN, title, author as first catalogued).
pub(crate) enum Text {}
/// Patron activity tokens (ADR 0018), for distinct-patron counts.
pub(crate) enum Patron {}

pub(crate) type LibraryId = Code<Library>;
pub(crate) type CityId = Code<City>;
pub(crate) type TitleId = Code<Title>;
pub(crate) type PatronToken = Code<Patron>;

/// Every code the state keys by, each kept once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Codes {
    pub(crate) items: Interner<Item>,
    pub(crate) libraries: Interner<Library>,
    pub(crate) cities: Interner<City>,
    pub(crate) titles: Interner<Title>,
    pub(crate) texts: Interner<Text>,
    pub(crate) patrons: Interner<Patron>,
}

/// The additive counters of one library on one day, in one view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub loans: u64,
    pub returns: u64,
    pub renewals: u64,
    /// Returns where the returning library is not the owner.
    pub returns_of_other_libraries_items: u64,
    /// Loans where the patron's home city is not the owner's city (a `loan` settlement charge).
    pub cross_city_loans: u64,
    /// Returns at a library outside the owner's city (a `return` settlement charge).
    pub cross_city_returns: u64,
    pub transfers_in: u64,
    pub transfers_out: u64,
    pub booth_swaps: u64,
    pub patron_driven_acquisitions: u64,
    pub enrolments: u64,
    /// Digital loans (ADR 0019), and those to a patron of another city than the resource
    /// owner's.
    pub digital_loans: u64,
    pub cross_city_digital_loans: u64,
    /// What patron-driven books cost, in fen.
    pub patron_driven_spent_fen: i64,
    /// Visits its gate counters reported for intervals that start that day (footfall).
    pub visits: u64,
    /// Loans by the lending library's local hour (0 to 23), in both views.
    pub loans_by_hour: Hours,
}

/// A count per local hour of a day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hours(pub [u64; 24]);

impl Counters {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counters) {
        self.loans += other.loans;
        self.returns += other.returns;
        self.renewals += other.renewals;
        self.returns_of_other_libraries_items += other.returns_of_other_libraries_items;
        self.cross_city_loans += other.cross_city_loans;
        self.cross_city_returns += other.cross_city_returns;
        self.transfers_in += other.transfers_in;
        self.transfers_out += other.transfers_out;
        self.booth_swaps += other.booth_swaps;
        self.patron_driven_acquisitions += other.patron_driven_acquisitions;
        self.enrolments += other.enrolments;
        self.digital_loans += other.digital_loans;
        self.cross_city_digital_loans += other.cross_city_digital_loans;
        self.patron_driven_spent_fen = self
            .patron_driven_spent_fen
            .saturating_add(other.patron_driven_spent_fen);
        self.visits += other.visits;
        for (hour, n) in self.loans_by_hour.0.iter_mut().zip(other.loans_by_hour.0) {
            *hour += n;
        }
    }
}

/// One library on one local day, in one view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LibraryDay {
    pub counters: Counters,
    /// Patrons who borrowed, renewed, returned or swapped, by the id of their activity token
    /// (never card numbers); written in id order.
    #[serde(serialize_with = "sorted_set")]
    pub patrons: FastSet<PatronToken>,
    /// Loans of this library (lent by it, or of its items) open after the last event that
    /// touched this row.
    pub on_loan_at_day_end: u64,
    /// Of those, the ones whose due instant is before the last instant of the day.
    pub overdue_at_day_end: u64,
}

/// A local day as an integer: days since 1 January of year 1 (chrono's
/// `num_days_from_ce`), so days order as dates do.
pub(crate) type DayNumber = i32;

/// A calendar month as an integer: `year * 12 + month - 1`, so months order as dates do.
pub(crate) type MonthNumber = i32;

pub(crate) fn month_number(date: NaiveDate) -> MonthNumber {
    date.year() * 12 + date.month0() as i32
}

/// One library's rows, one per local day that has one, in day order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent, bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct DayRows<T>(
    #[serde(deserialize_with = "days_in_order")] pub(crate) Vec<(DayNumber, T)>,
);

impl<T> Default for DayRows<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

/// Decodes day rows, refusing rows out of day order: the look-ups search them.
fn days_in_order<'de, D, T>(deserializer: D) -> Result<Vec<(DayNumber, T)>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let rows = Vec::<(DayNumber, T)>::deserialize(deserializer)?;
    if rows.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(serde::de::Error::custom("day rows out of day order"));
    }
    Ok(rows)
}

impl<T: Default> DayRows<T> {
    /// The row of `day`, made if missing.
    fn entry(&mut self, day: DayNumber) -> &mut T {
        // Events arrive mostly in time order: the last row, or a new one after it.
        let at = match self.0.last() {
            Some((last, _)) if *last == day => self.0.len() - 1,
            Some((last, _)) if *last > day => {
                match self.0.binary_search_by_key(&day, |(d, _)| *d) {
                    Ok(at) => at,
                    Err(at) => {
                        self.0.insert(at, (day, T::default()));
                        at
                    }
                }
            }
            _ => {
                self.0.push((day, T::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }
}

impl<T> DayRows<T> {
    /// The row of `day`, if it has one.
    pub(crate) fn get(&self, day: DayNumber) -> Option<&T> {
        self.0
            .binary_search_by_key(&day, |(d, _)| *d)
            .ok()
            .map(|at| &self.0[at].1)
    }

    /// The rows from `from` to `to`, both included.
    pub(crate) fn range(&self, from: DayNumber, to: DayNumber) -> &[(DayNumber, T)] {
        let start = self.0.partition_point(|(d, _)| *d < from);
        let end = self.0.partition_point(|(d, _)| *d <= to);
        &self.0[start..end.max(start)]
    }
}

/// The slot of `index` in a vector indexed by id, the vector grown with defaults if short.
fn slot<T: Default>(vector: &mut Vec<T>, index: usize) -> &mut T {
    if vector.len() <= index {
        vector.resize_with(index + 1, T::default);
    }
    &mut vector[index]
}

/// A library's open loans, as a multiset of due instants: "overdue at t" is a range count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OpenLoans {
    pub(crate) on_loan: u64,
    /// Due instant (µs since the epoch) → loans due then. Due instants are ends of local days,
    /// so this map has about as many entries as there are distinct due days.
    pub(crate) due_us: BTreeMap<i64, u64>,
}

impl OpenLoans {
    fn open(&mut self, due_us: i64) {
        self.on_loan += 1;
        *self.due_us.entry(due_us).or_default() += 1;
    }

    fn close(&mut self, due_us: i64) {
        let count = self
            .due_us
            .get_mut(&due_us)
            .expect("a closed loan was opened with its due instant");
        *count -= 1;
        if *count == 0 {
            self.due_us.remove(&due_us);
        }
        self.on_loan -= 1;
    }

    /// Loans whose due instant is before `at_us`: overdue at `at_us`.
    pub(crate) fn overdue_at(&self, at_us: i64) -> u64 {
        self.due_us.range(..at_us).map(|(_, n)| n).sum()
    }
}

impl PerView<Vec<OpenLoans>> {
    fn open(&mut self, loan: &Loan) {
        slot(&mut self.transaction, loan.lender.index()).open(loan.due_us);
        slot(&mut self.owner, loan.owner.index()).open(loan.due_us);
    }

    fn close(&mut self, loan: &Loan) {
        for (by, library) in [
            (By::TransactionLibrary, loan.lender),
            (By::OwningLibrary, loan.owner),
        ] {
            self.get_mut(by)
                .get_mut(library.index())
                .expect("an open loan's library")
                .close(loan.due_us);
        }
    }

    /// The loans open for `library` (by id), and of those the ones due before `at_us`.
    pub(crate) fn figures(&self, by: By, library: Option<LibraryId>, at_us: i64) -> (u64, u64) {
        library
            .and_then(|l| self.get(by).get(l.index()))
            .map_or((0, 0), |o| (o.on_loan, o.overdue_at(at_us)))
    }
}

/// An open loan, as the statistics need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Loan {
    due_us: i64,
    lender: LibraryId,
    owner: LibraryId,
}

/// What the fold remembers of an item still in the network: 32 bytes, ids only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct ItemFacts {
    owner: LibraryId,
    /// `None` for an item first seen lent (never catalogued in this log).
    title: Option<TitleId>,
    loan: Option<Loan>,
    /// The library it was dispatched to, while it travels.
    in_transit_to: Option<LibraryId>,
}

/// How a title is shown: the first copy catalogued under its key (interned texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TitleInfo {
    pub isbn: Code<Text>,
    pub title: Code<Text>,
    pub author: Code<Text>,
}

/// The monitoring centre's memory of one library's own events (it was the acting library).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Activity {
    /// The latest `occurred_at` of its events, and the latest `recorded_at`: each a maximum of
    /// its own, so "last activity" never moves back when an offline kiosk syncs an old event,
    /// and the two may come from different events (the late one is the latest recorded).
    pub(crate) last_occurred_at_us: i64,
    pub(crate) last_recorded_at_us: i64,
    /// The latest `occurred_at` second seen: the ring is trimmed relative to it.
    latest_second: i64,
    /// `occurred_at` second → events, for the hour up to `latest_second`: at most
    /// [`LAST_HOUR_SECONDS`] entries however busy the library.
    pub(crate) events_by_second: BTreeMap<i64, u64>,
    /// The gaps, in seconds, between its latest events that followed one another within
    /// [`RHYTHM_GAP_LIMIT_SECONDS`] (a night or a closed day is not a gap in its rhythm): at
    /// most [`RHYTHM_GAPS`], oldest first.
    pub(crate) gaps_s: Vec<u32>,
}

/// How many of a library's latest gaps between events its usual rhythm is taken from.
pub const RHYTHM_GAPS: usize = 64;
/// A gap longer than this (8 hours) is a pause between working days, not part of the rhythm.
pub const RHYTHM_GAP_LIMIT_SECONDS: i64 = 8 * 3600;

impl Activity {
    fn record(&mut self, occurred_at: DateTime<Utc>, recorded_at: DateTime<Utc>) {
        // Like `latest_second`, from a default of the epoch: readnet's events are all later.
        self.last_occurred_at_us = self.last_occurred_at_us.max(occurred_at.timestamp_micros());
        self.last_recorded_at_us = self.last_recorded_at_us.max(recorded_at.timestamp_micros());
        let second = occurred_at.timestamp();
        // Only events that move the clock forward make a gap: a burst in one second, or an
        // offline kiosk's late events, say nothing about the rhythm.
        let gap = second - self.latest_second;
        if self.latest_second > 0 && gap > 0 && gap <= RHYTHM_GAP_LIMIT_SECONDS {
            if self.gaps_s.len() == RHYTHM_GAPS {
                self.gaps_s.remove(0);
            }
            self.gaps_s.push(gap as u32);
        }
        self.latest_second = self.latest_second.max(second);
        let horizon = self.latest_second - LAST_HOUR_SECONDS;
        if second > horizon {
            *self.events_by_second.entry(second).or_default() += 1;
        }
        // Seconds at or before the horizon can never be in a "last hour" ending at or after the
        // latest event: drop them, which bounds the ring.
        while let Some(entry) = self.events_by_second.first_entry() {
            if *entry.key() > horizon {
                break;
            }
            entry.remove();
        }
        debug_assert!(self.events_by_second.len() as i64 <= LAST_HOUR_SECONDS);
    }

    /// The library's usual gap between events, in seconds: the nearest-rank 90th percentile of
    /// its latest gaps; `None` before it has any.
    pub(crate) fn usual_gap_seconds(&self) -> Option<u64> {
        let mut gaps = self.gaps_s.clone();
        if gaps.is_empty() {
            return None;
        }
        gaps.sort_unstable();
        let rank = (gaps.len() * 90).div_ceil(100).max(1);
        Some(u64::from(gaps[rank - 1]))
    }

    /// Events whose `occurred_at` second is within the hour ending at `now` (or later).
    pub(crate) fn events_in_hour_before(&self, now: DateTime<Utc>) -> u64 {
        let since = now.timestamp() - LAST_HOUR_SECONDS;
        self.events_by_second
            .range(since + 1..)
            .map(|(_, n)| n)
            .sum()
    }
}

/// A value per view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PerView<T> {
    pub(crate) transaction: T,
    pub(crate) owner: T,
}

impl<T> PerView<T> {
    pub(crate) fn get(&self, by: By) -> &T {
        match by {
            By::TransactionLibrary => &self.transaction,
            By::OwningLibrary => &self.owner,
        }
    }

    fn get_mut(&mut self, by: By) -> &mut T {
        match by {
            By::TransactionLibrary => &mut self.transaction,
            By::OwningLibrary => &mut self.owner,
        }
    }
}

/// Title id → loans, written in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct TitleCounts(
    #[serde(serialize_with = "sorted_map")] pub(crate) readnet_projection::FastMap<TitleId, u64>,
);

/// The statistics projection's state. Query it with the functions of [`crate::query`].
///
/// Vectors "by library" are indexed by the library's id in `codes.libraries` and are as long
/// as the largest id that needed one (a missing slot reads as empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    pub(crate) position: Position,
    pub(crate) network: NetworkView,
    pub(crate) codes: Codes,
    /// By item: its facts while it is in the network (an item swapped out of a booth or
    /// withdrawn is forgotten: `None`).
    items: Vec<Option<ItemFacts>>,
    /// By library: its day rows, in each view.
    pub(crate) days: PerView<Vec<DayRows<LibraryDay>>>,
    /// By library: open loans by lending library (transaction) and by owning library.
    pub(crate) open_loans: PerView<Vec<OpenLoans>>,
    /// Month (Asia/Shanghai) → owner city → return city → returns.
    pub(crate) flows: BTreeMap<MonthNumber, BTreeMap<CityId, BTreeMap<CityId, u64>>>,
    /// By title: how to show it.
    pub(crate) title_info: Vec<TitleInfo>,
    /// Lending city → month (city time) → title → loans.
    pub(crate) title_loans: BTreeMap<CityId, BTreeMap<MonthNumber, TitleCounts>>,
    /// By acting library: its recent activity (`None`: it never acted).
    pub(crate) activity: Vec<Option<Activity>>,
    /// Open holds (ADR 0013): their pickup library and when they were placed, for the fill
    /// time.
    pub(crate) open_holds: BTreeMap<u64, OpenHold>,
    /// By pickup library: its holds' figures per local day.
    pub(crate) hold_days: Vec<DayRows<HoldDay>>,
    /// By destination library: items dispatched to it and not yet received.
    pub(crate) in_transit_to: Vec<u64>,
    /// Library → budget year → its budget and spending (ADR 0019).
    pub(crate) budgets: BTreeMap<LibraryId, BTreeMap<u32, BudgetRecord>>,
    /// Where each library is (city, time zone) and its latest local day: derived from the
    /// network and the interners, so not encoded.
    #[serde(skip)]
    places: Places,
}

/// A cache of what every event asks of the network for a library: its city's id, its time zone
/// and the bounds of the local day it last counted in, so that an event on the same day as the
/// last one needs no time-zone arithmetic. Emptied when a city joins or a library registers.
#[derive(Clone, Default)]
struct Places {
    by_library: Vec<Option<Place>>,
    /// The settlement time zone's latest day, for the flow matrix's months.
    settlement: Option<CachedDay>,
}

/// A cache is not state: two states with different caches are equal.
impl PartialEq for Places {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Places {}

impl fmt::Debug for Places {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Places { .. }")
    }
}

#[derive(Debug, Clone, Copy)]
struct Place {
    city: CityId,
    tz: Tz,
    day: Option<CachedDay>,
}

/// A local day of exactly 24 hours (no change of UTC offset within it) and its bounds.
#[derive(Debug, Clone, Copy)]
struct CachedDay {
    start_us: i64,
    end_us: i64,
    local: LocalDay,
}

/// An instant's local day, as the fold counts it.
#[derive(Debug, Clone, Copy)]
struct LocalDay {
    day: DayNumber,
    month: MonthNumber,
    /// The day's last microsecond (µs since the epoch).
    end_us: i64,
}

const DAY_US: i64 = 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;

/// `at`'s local day in `tz`, from `cache` when `at` falls in the cached day, else computed and
/// cached; and `at`'s local hour.
fn local_day(tz: Tz, cache: &mut Option<CachedDay>, at: DateTime<Utc>) -> (LocalDay, u32) {
    let at_us = at.timestamp_micros();
    if let Some(cached) = cache
        && (cached.start_us..=cached.end_us).contains(&at_us)
    {
        // A 24-hour day has one offset, so the hour is the time since local midnight.
        let hour = u32::try_from((at_us - cached.start_us) / HOUR_US).unwrap_or(0);
        return (cached.local, hour);
    }
    let local = at.with_timezone(&tz);
    let date = local.date_naive();
    let day = LocalDay {
        day: date.num_days_from_ce(),
        month: month_number(date),
        end_us: day_end_us(date, tz),
    };
    let start_us = tz
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|m| m.with_timezone(&Utc).timestamp_micros());
    *cache = start_us
        .filter(|&start_us| day.end_us.checked_sub(start_us) == Some(DAY_US - 1))
        .map(|start_us| CachedDay {
            start_us,
            end_us: day.end_us,
            local: day,
        });
    (day, local.hour())
}

/// One library's budget year: the budget set for it, if any, and what was spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BudgetRecord {
    pub budget_fen: Option<i64>,
    pub patron_driven_share_bp: u32,
    pub patron_driven_spent_fen: i64,
    pub patron_driven_books: u64,
    /// Books bought (acquisition purchase, with a price) catalogued in the year.
    pub purchases_spent_fen: i64,
    pub purchased_books: u64,
}

/// An open hold, as the statistics need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OpenHold {
    pub(crate) pickup: LibraryId,
    placed_at_us: i64,
}

/// The holds of one pickup library on one local day: placed that day, and filled or ended
/// unfilled that day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HoldDay {
    pub placed: u64,
    pub filled: u64,
    pub expired_unfilled: u64,
    pub not_picked_up: u64,
    /// By the holder or by staff.
    pub cancelled: u64,
    /// Fill time (placing to the holder's checkout) in whole minutes → holds filled that day
    /// that took it: a histogram, so days and libraries add up and percentiles come out exact
    /// to the minute.
    pub fill_minutes: BTreeMap<u64, u64>,
}

impl HoldDay {
    /// Adds `other` into `self`.
    pub(crate) fn add(&mut self, other: &HoldDay) {
        self.placed += other.placed;
        self.filled += other.filled;
        self.expired_unfilled += other.expired_unfilled;
        self.not_picked_up += other.not_picked_up;
        self.cancelled += other.cancelled;
        for (minutes, n) in &other.fill_minutes {
            *self.fill_minutes.entry(*minutes).or_default() += n;
        }
    }

    /// The nearest-rank `percent`th percentile of the fill times, in minutes (the smallest time
    /// that at least `percent`% of the fills took at most); `None` without fills.
    pub(crate) fn fill_percentile(&self, percent: u64) -> Option<u64> {
        let total: u64 = self.fill_minutes.values().sum();
        if total == 0 {
            return None;
        }
        let rank = (total * percent).div_ceil(100).max(1);
        let mut seen = 0;
        self.fill_minutes.iter().find_map(|(minutes, n)| {
            seen += n;
            (seen >= rank).then_some(*minutes)
        })
    }
}

/// The last microsecond of local day `date` in `tz`, µs since the epoch.
pub(crate) fn day_end_us(date: NaiveDate, tz: Tz) -> i64 {
    let next = date.succ_opt().unwrap_or(NaiveDate::MAX);
    let midnight = tz
        .from_local_datetime(&next.and_time(NaiveTime::MIN))
        .earliest()
        .map_or(i64::MAX, |m| m.with_timezone(&Utc).timestamp_micros());
    midnight - 1
}

impl Statistics {
    /// The network's shape as folded so far.
    pub fn network(&self) -> &NetworkView {
        &self.network
    }

    /// The id of a library code named by an event; `None` for an empty code (nothing to count).
    fn library(&mut self, code: &str) -> Option<LibraryId> {
        (!code.is_empty()).then(|| self.codes.libraries.intern(code))
    }

    /// Where `library` is: its city's id and time zone, from the cache or the network.
    fn place(&mut self, library: LibraryId) -> &mut Place {
        let Self {
            places,
            codes,
            network,
            ..
        } = self;
        slot(&mut places.by_library, library.index()).get_or_insert_with(|| {
            let code = codes.libraries.resolve(library);
            Place {
                city: codes.cities.intern(network.city_of(code)),
                tz: network.library_time_zone(code),
                day: None,
            }
        })
    }

    /// The city of `library` (the id of the empty code if the library is unknown).
    fn city(&mut self, library: LibraryId) -> CityId {
        self.place(library).city
    }

    /// `at`'s local day and hour at `library`.
    fn local_day(&mut self, library: LibraryId, at: DateTime<Utc>) -> (LocalDay, u32) {
        let place = self.place(library);
        local_day(place.tz, &mut place.day, at)
    }

    /// Counts one row (and refreshes its day-end snapshot): `library`'s local day of `at`.
    fn touch(
        &mut self,
        by: By,
        library: Option<LibraryId>,
        at: DateTime<Utc>,
        change: impl FnOnce(&mut LibraryDay),
    ) {
        let Some(library) = library else {
            return;
        };
        let (day, _) = self.local_day(library, at);
        let (on_loan, overdue) = self.open_loans.figures(by, Some(library), day.end_us);
        let row = slot(self.days.get_mut(by), library.index()).entry(day.day);
        change(row);
        row.on_loan_at_day_end = on_loan;
        row.overdue_at_day_end = overdue;
    }

    /// The item's facts, if it is in the network.
    fn facts_mut(&mut self, item: &str) -> Option<&mut ItemFacts> {
        let id = self.codes.items.get(item)?;
        self.items.get_mut(id.index())?.as_mut()
    }

    /// Forgets an item (it left the network).
    fn forget(&mut self, item: &str) {
        if let Some(id) = self.codes.items.get(item)
            && let Some(facts) = self.items.get_mut(id.index())
        {
            *facts = None;
        }
    }

    /// Takes the item's open loan, if it has one, closing it.
    fn end_loan(&mut self, item: &str) -> Option<Loan> {
        let loan = self.facts_mut(item)?.loan.take()?;
        self.open_loans.close(&loan);
        Some(loan)
    }

    /// Counts the patron among the row's distinct patrons.
    fn patron(&mut self, patron_id: &str) -> Option<PatronToken> {
        patron_token(&mut self.codes.patrons, patron_id)
    }

    fn loaned(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::ItemLoaned) {
        let at = event.occurred_at;
        let lender = self.codes.libraries.intern(&e.library);
        let owner = self.codes.libraries.intern(&e.owner_library);
        let item = self.codes.items.intern(&e.item);
        // The item's facts are looked up once: with millions of items each look-up is a cache
        // miss, the largest cost of a loan.
        let facts = slot(&mut self.items, item.index()).get_or_insert(ItemFacts {
            owner,
            title: None,
            loan: None,
            in_transit_to: None,
        });
        // An item is on at most one loan: a second ItemLoaned without a return would be a
        // broken log. Close the old one so the counts stay consistent.
        debug_assert!(facts.loan.is_none(), "item {} lent while on loan", e.item);
        let previous = facts.loan.take();
        let loan = *facts.loan.insert(Loan {
            due_us: e.due_at_us,
            lender,
            owner,
        });
        let title = facts.title;
        if let Some(previous) = previous {
            self.open_loans.close(&previous);
        }
        self.open_loans.open(&loan);

        let (day, hour) = self.local_day(lender, at);
        if let Some(title) = title {
            let city = self.city(lender);
            let TitleCounts(loans) = self
                .title_loans
                .entry(city)
                .or_default()
                .entry(day.month)
                .or_default();
            *loans.entry(title).or_default() += 1;
        }

        let owner_city = self.city(owner);
        let cross_city = !e.patron_home_city.is_empty()
            && e.patron_home_city != self.codes.cities.resolve(owner_city);
        let patron = self.patron(&e.patron_id);
        // The hour at the desk that lent it, in both views, so that the views sum alike.
        let count = |row: &mut LibraryDay| {
            row.counters.loans += 1;
            row.counters.loans_by_hour.0[hour as usize] += 1;
            row.counters.cross_city_loans += u64::from(cross_city);
            row.patrons.extend(patron);
        };
        self.touch(
            By::TransactionLibrary,
            self.library_or_none(lender),
            at,
            count,
        );
        self.touch(By::OwningLibrary, self.library_or_none(owner), at, count);
    }

    /// `None` for the id of the empty code: a row is never counted for it.
    fn library_or_none(&self, library: LibraryId) -> Option<LibraryId> {
        (!self.codes.libraries.resolve(library).is_empty()).then_some(library)
    }

    /// A loan's due date moved by a closure of its lending library: no renewal, but the
    /// lender's overdue figure may change.
    fn extended(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::LoanExtended) {
        let Some(old) = self.end_loan(&e.item) else {
            return;
        };
        let extended = Loan {
            due_us: e.due_at_us,
            ..old
        };
        self.open_loans.open(&extended);
        if let Some(facts) = self.facts_mut(&e.item) {
            facts.loan = Some(extended);
        }
        let lender = self.library_or_none(extended.lender);
        self.touch(By::TransactionLibrary, lender, event.occurred_at, |_| {});
    }

    fn renewed(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::ItemRenewed) {
        let at = event.occurred_at;
        let loan = self.end_loan(&e.item).map(|old| {
            let renewed = Loan {
                due_us: e.due_at_us,
                ..old
            };
            self.open_loans.open(&renewed);
            if let Some(facts) = self.facts_mut(&e.item) {
                facts.loan = Some(renewed);
            }
            renewed
        });
        let lender = loan.and_then(|l| self.library_or_none(l.lender));
        let owner = loan.and_then(|l| self.library_or_none(l.owner));
        // A renewal happens where the borrower asks for it; one made in the app, with no
        // acting library, counts at the lending library.
        let at_library = self.library(&event.acting_library).or(lender);
        let patron = self.patron(&e.patron_id);
        let count = |row: &mut LibraryDay| {
            row.counters.renewals += 1;
            row.patrons.extend(patron);
        };
        self.touch(By::TransactionLibrary, at_library, at, count);
        if lender != at_library {
            // The due date moved: the lender's overdue figure may change.
            self.touch(By::TransactionLibrary, lender, at, |_| {});
        }
        self.touch(By::OwningLibrary, owner, at, count);
    }

    fn returned(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::ItemReturned) {
        let at = event.occurred_at;
        let loan = self.end_loan(&e.item);
        let library = self.codes.libraries.intern(&e.library);
        let owner = self.codes.libraries.intern(&e.owner_library);
        let owner_city = self.city(owner);
        let return_city = self.city(library);
        let other_library = library != owner;
        let cross_city = owner_city != return_city;
        let (month, _) = local_day(SETTLEMENT_TIME_ZONE, &mut self.places.settlement, at);
        *self
            .flows
            .entry(month.month)
            .or_default()
            .entry(owner_city)
            .or_default()
            .entry(return_city)
            .or_default() += 1;
        let patron = self.patron(&e.patron_id);
        let count = |row: &mut LibraryDay| {
            row.counters.returns += 1;
            row.counters.returns_of_other_libraries_items += u64::from(other_library);
            row.counters.cross_city_returns += u64::from(cross_city);
            row.patrons.extend(patron);
        };
        self.touch(
            By::TransactionLibrary,
            self.library_or_none(library),
            at,
            count,
        );
        if let Some(loan) = loan.filter(|l| l.lender != library) {
            // The loan closed at the lender too.
            let lender = self.library_or_none(loan.lender);
            self.touch(By::TransactionLibrary, lender, at, |_| {});
        }
        self.touch(By::OwningLibrary, self.library_or_none(owner), at, count);
    }

    fn declared_lost(&mut self, event: &ProjectedEvent, item: &str) {
        if let Some(loan) = self.end_loan(item) {
            let at = event.occurred_at;
            let (lender, owner) = (
                self.library_or_none(loan.lender),
                self.library_or_none(loan.owner),
            );
            self.touch(By::TransactionLibrary, lender, at, |_| {});
            self.touch(By::OwningLibrary, owner, at, |_| {});
        }
    }

    fn catalogued(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::ItemCatalogued) {
        let key = title_key(&e.isbn, &e.title, &e.author);
        let title = (!key.is_empty()).then(|| {
            let known = self.codes.titles.len();
            let title = self.codes.titles.intern(&key);
            if title.index() == known {
                let texts = &mut self.codes.texts;
                self.title_info.push(TitleInfo {
                    isbn: texts.intern(&e.isbn),
                    title: texts.intern(&e.title),
                    author: texts.intern(&e.author),
                });
            }
            title
        });
        let owner = self.codes.libraries.intern(&e.owner_library);
        let item = self.codes.items.intern(&e.item);
        *slot(&mut self.items, item.index()) = Some(ItemFacts {
            owner,
            title,
            loan: None,
            in_transit_to: None,
        });
        let owner = self.library_or_none(owner);
        if e.acquisition == Acquisition::Purchase as i32
            && let Some(price_fen) = e.price_fen
        {
            let year = event
                .occurred_at
                .with_timezone(&self.network.library_time_zone(&e.owner_library))
                .year();
            let record = self.budget_mut(&e.owner_library, u32::try_from(year).unwrap_or(0));
            record.purchases_spent_fen = record.purchases_spent_fen.saturating_add(price_fen);
            record.purchased_books += 1;
        }
        if e.acquisition == Acquisition::PatronDriven as i32 {
            let count = |row: &mut LibraryDay| row.counters.patron_driven_acquisitions += 1;
            let placed_at = self.library(&e.placed_at);
            self.touch(By::TransactionLibrary, placed_at, event.occurred_at, count);
            self.touch(By::OwningLibrary, owner, event.occurred_at, count);
        }
    }

    fn budget_mut(&mut self, library: &str, year: u32) -> &mut BudgetRecord {
        let library = self.codes.libraries.intern(library);
        self.budgets
            .entry(library)
            .or_default()
            .entry(year)
            .or_default()
    }

    fn purchase_recorded(
        &mut self,
        event: &ProjectedEvent,
        e: &readnet_projection::pb::PatronDrivenPurchaseRecorded,
    ) {
        let record = self.budget_mut(&e.library, e.budget_year);
        record.patron_driven_spent_fen = record.patron_driven_spent_fen.saturating_add(e.price_fen);
        record.patron_driven_books += 1;
        let library = self.library(&e.library);
        for by in By::BOTH {
            self.touch(by, library, event.occurred_at, |row| {
                row.counters.patron_driven_spent_fen = row
                    .counters
                    .patron_driven_spent_fen
                    .saturating_add(e.price_fen);
            });
        }
    }

    fn digital_loaned(
        &mut self,
        event: &ProjectedEvent,
        e: &readnet_projection::pb::DigitalLoaned,
    ) {
        let library = self.library(&e.library);
        let owner = self.library(&e.owner_library);
        let cross_city = owner.is_some_and(|owner| {
            let city = self.city(owner);
            self.codes.cities.resolve(city) != e.patron_home_city.as_str()
        });
        let patron = self.patron(&e.patron_id);
        let count = |row: &mut LibraryDay| {
            row.counters.digital_loans += 1;
            if cross_city {
                row.counters.cross_city_digital_loans += 1;
            }
            row.patrons.extend(patron);
        };
        self.touch(By::TransactionLibrary, library, event.occurred_at, count);
        self.touch(By::OwningLibrary, owner, event.occurred_at, count);
    }

    /// Counts one hold figure at its pickup library's local day of `at`.
    fn hold_day(
        &mut self,
        pickup: LibraryId,
        at: DateTime<Utc>,
        change: impl FnOnce(&mut HoldDay),
    ) {
        let (day, _) = self.local_day(pickup, at);
        change(slot(&mut self.hold_days, pickup.index()).entry(day.day));
    }

    fn hold_placed(&mut self, at: DateTime<Utc>, e: &readnet_projection::pb::HoldPlaced) {
        let pickup = self.codes.libraries.intern(&e.pickup_library);
        self.open_holds.insert(
            e.hold,
            OpenHold {
                pickup,
                placed_at_us: at.timestamp_micros(),
            },
        );
        self.hold_day(pickup, at, |day| day.placed += 1);
    }

    fn hold_filled(&mut self, at: DateTime<Utc>, hold: u64) {
        let Some(open) = self.open_holds.remove(&hold) else {
            return;
        };
        // An offline desk's clock may run behind the placing: no negative fill times.
        let minutes =
            u64::try_from((at.timestamp_micros() - open.placed_at_us) / 60_000_000).unwrap_or(0);
        self.hold_day(open.pickup, at, |day| {
            day.filled += 1;
            *day.fill_minutes.entry(minutes).or_default() += 1;
        });
    }

    fn hold_ended(&mut self, at: DateTime<Utc>, e: &readnet_projection::pb::HoldEnded) {
        use readnet_projection::pb::HoldEndReason;
        let Some(open) = self.open_holds.remove(&e.hold) else {
            return;
        };
        let reason = HoldEndReason::try_from(e.reason).unwrap_or(HoldEndReason::Unspecified);
        self.hold_day(open.pickup, at, |day| match reason {
            HoldEndReason::ExpiredUnfilled => day.expired_unfilled += 1,
            HoldEndReason::NotPickedUp => day.not_picked_up += 1,
            HoldEndReason::CancelledByPatron | HoldEndReason::CancelledByStaff => {
                day.cancelled += 1;
            }
            HoldEndReason::Unspecified => {}
        });
    }

    /// The item leaves the network or arrives: it is no longer travelling.
    fn arrived(&mut self, item: &str) {
        let Some(to) = self.facts_mut(item).and_then(|f| f.in_transit_to.take()) else {
            return;
        };
        if let Some(count) = self.in_transit_to.get_mut(to.index()) {
            *count -= 1;
        }
    }

    fn dispatched(&mut self, at: DateTime<Utc>, e: &readnet_projection::pb::TransferDispatched) {
        self.arrived(&e.item);
        let to = self.codes.libraries.intern(&e.to_library);
        if let Some(facts) = self.facts_mut(&e.item) {
            facts.in_transit_to = Some(to);
            *slot(&mut self.in_transit_to, to.index()) += 1;
        }
        let count = |row: &mut LibraryDay| row.counters.transfers_out += 1;
        let from = self.library(&e.from_library);
        let owner = self.library(&e.owner_library);
        self.touch(By::TransactionLibrary, from, at, count);
        self.touch(By::OwningLibrary, owner, at, count);
    }

    fn footfall(&mut self, at: DateTime<Utc>, e: &readnet_projection::pb::FootfallReported) {
        let from = Utc.timestamp_micros(e.from_us).single().unwrap_or(at);
        let library = self.library(&e.library);
        for by in By::BOTH {
            self.touch(by, library, from, |row| row.counters.visits += e.visits);
        }
    }

    /// The owner of an item in the network (`None` if it is not, or has no owner).
    fn owner_of(&mut self, item: &str) -> Option<LibraryId> {
        let owner = self.facts_mut(item)?.owner;
        self.library_or_none(owner)
    }
}

/// The id of a patron's activity token (ADR 0018): a sealed id's day token, a plaintext id
/// itself; `None` for an empty id. So the count, and the digest, are the same with the patron
/// key store or without it, and after a patron is forgotten.
fn patron_token(patrons: &mut Interner<Patron>, patron_id: &str) -> Option<PatronToken> {
    let token = readnet_domain::personal::activity_token(patron_id);
    (!token.is_empty()).then(|| patrons.intern(token))
}

impl Projection for Statistics {
    const NAME: &'static str = "statistics";
    /// 2: shared title keys (ISBN-10 as ISBN-13, normalised text keys); last activity as the
    /// latest `occurred_at` and latest `recorded_at`. 3: holds per pickup library and day
    /// (a state of version 2 never counted the holds already in the log, so it is rebuilt; a log
    /// without holds keeps its digest). 4: acquisition budgets and spending per library and
    /// year, digital loans (ADR 0019): a state of version 3 never summed the purchases already
    /// in the log, so it is rebuilt. 5: the monitoring centre's numbers: footfall, loans by
    /// hour, items in transit to each library, each library's usual rhythm. 6: compact state
    /// (issue 17): interned codes, integer days and months, vectors by id; every field always
    /// encoded, so that a format that is not self-describing decodes it.
    const VERSION: u32 = 6;

    fn apply(&mut self, event: &ProjectedEvent) {
        debug_assert!(
            event.position > self.position,
            "events arrive once, in order"
        );
        self.network.apply(&event.payload);
        if matches!(
            event.payload,
            Payload::CityJoined(_) | Payload::LibraryRegistered(_)
        ) {
            // A library's city or time zone may have changed.
            self.places.by_library.clear();
        }
        let acting = self.library(&event.acting_library);
        if let Some(acting) = acting {
            slot(&mut self.activity, acting.index())
                .get_or_insert_with(Activity::default)
                .record(event.occurred_at, event.recorded_at);
        }
        let at = event.occurred_at;
        match &event.payload {
            Payload::ItemCatalogued(e) => self.catalogued(event, e),
            Payload::PatronEnrolled(_) => {
                for by in By::BOTH {
                    self.touch(by, acting, at, |row| row.counters.enrolments += 1);
                }
            }
            Payload::ItemLoaned(e) => self.loaned(event, e),
            Payload::ItemRenewed(e) => self.renewed(event, e),
            Payload::LoanExtended(e) => self.extended(event, e),
            Payload::ItemReturned(e) => self.returned(event, e),
            Payload::ItemDeclaredLost(e) => self.declared_lost(event, &e.item),
            Payload::TransferDispatched(e) => self.dispatched(at, e),
            Payload::TransferReceived(e) => {
                self.arrived(&e.item);
                let owner = self.owner_of(&e.item);
                let to = self.library(&e.to_library);
                let count = |row: &mut LibraryDay| row.counters.transfers_in += 1;
                self.touch(By::TransactionLibrary, to, at, count);
                self.touch(By::OwningLibrary, owner, at, count);
            }
            Payload::BoothSwapped(e) => {
                let owner = self.owner_of(&e.item_taken);
                let booth = self.library(&e.booth);
                let patron = self.patron(&e.patron_id);
                let count = |row: &mut LibraryDay| {
                    row.counters.booth_swaps += 1;
                    row.patrons.extend(patron);
                };
                self.touch(By::TransactionLibrary, booth, at, count);
                self.touch(By::OwningLibrary, owner, at, count);
                // The taken book has left the network.
                self.arrived(&e.item_taken);
                self.forget(&e.item_taken);
            }
            Payload::ItemWithdrawn(e) => {
                self.end_loan(&e.item);
                self.arrived(&e.item);
                self.forget(&e.item);
            }
            Payload::HoldPlaced(e) => self.hold_placed(at, e),
            Payload::HoldFilled(e) => self.hold_filled(at, e.hold),
            Payload::HoldEnded(e) => self.hold_ended(at, e),
            Payload::AcquisitionBudgetSet(e) => {
                let record = self.budget_mut(&e.library, e.year);
                record.budget_fen = Some(e.budget_fen);
                record.patron_driven_share_bp = e.patron_driven_share_bp;
            }
            Payload::PatronDrivenPurchaseRecorded(e) => self.purchase_recorded(event, e),
            Payload::DigitalLoaned(e) => self.digital_loaned(event, e),
            Payload::FootfallReported(e) => self.footfall(at, e),
            _ => {}
        }
        self.position = event.position;
    }

    fn position(&self) -> Position {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn the_recent_event_ring_holds_at_most_the_last_hour_of_seconds() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        let mut activity = Activity::default();
        // Five hours of an event every second, two in every tenth second.
        for s in 0..5 * 3600 {
            let at = start + Duration::seconds(s);
            activity.record(at, at);
            if s % 10 == 0 {
                activity.record(at, at);
            }
        }
        let last = start + Duration::seconds(5 * 3600 - 1);
        assert_eq!(activity.events_by_second.len() as i64, LAST_HOUR_SECONDS);
        assert_eq!(activity.events_in_hour_before(last), 3600 + 360);
        assert_eq!(
            activity.events_in_hour_before(last + Duration::minutes(30)),
            1800 + 180
        );

        // An event synced late, from before the hour kept, changes neither the ring nor when the
        // library last acted; it is the latest recorded, so "last recorded" moves.
        let late = start + Duration::hours(1);
        let recorded = last + Duration::seconds(5);
        activity.record(late, recorded);
        assert_eq!(activity.events_in_hour_before(last), 3600 + 360);
        assert_eq!(
            (activity.last_occurred_at_us, activity.last_recorded_at_us),
            (last.timestamp_micros(), recorded.timestamp_micros())
        );
        // A later event recorded before that late sync's record time (clocks differ) moves
        // "last occurred" only.
        let next = last + Duration::seconds(1);
        activity.record(next, next);
        assert_eq!(
            (activity.last_occurred_at_us, activity.last_recorded_at_us),
            (next.timestamp_micros(), recorded.timestamp_micros())
        );
    }

    #[test]
    fn titles_are_counted_under_the_shared_title_keys() {
        assert_eq!(
            title_key("978-7-02-000001-1", "Teahouse", "Lao She"),
            "isbn:9787020000011"
        );
        // An ISBN-10 with its label counts under its ISBN-13.
        assert_eq!(
            title_key("ISBN 7-5366-9293-5", "", ""),
            "isbn:9787536692930"
        );
        assert_eq!(
            title_key("", " Teahouse ", "Lao  She"),
            r#"text:["teahouse","lao she"]"#
        );
    }

    #[test]
    fn the_cached_local_day_is_the_day_chrono_computes_across_offset_changes() {
        // New York changes its offset twice a year, Lord Howe by half an hour; Shanghai never.
        let zones: [Tz; 3] = [
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Shanghai,
        ];
        for tz in zones {
            let mut cache = None;
            let start = Utc.with_ymd_and_hms(2026, 3, 6, 0, 0, 0).unwrap();
            // Every 7 minutes for 60 days, spanning March's and April's changes.
            for step in 0..60 * 24 * 60 / 7 {
                let at = start + Duration::minutes(step * 7);
                let (day, hour) = local_day(tz, &mut cache, at);
                let local = at.with_timezone(&tz);
                let date = local.date_naive();
                assert_eq!(day.day, date.num_days_from_ce(), "{tz} {at}");
                assert_eq!(day.month, month_number(date), "{tz} {at}");
                assert_eq!(day.end_us, day_end_us(date, tz), "{tz} {at}");
                assert_eq!(hour, local.hour(), "{tz} {at}");
            }
        }
    }

    #[test]
    fn months_and_days_order_as_dates_do() {
        let dates = [
            (1, 1, 1),
            (999, 12, 31),
            (2026, 1, 31),
            (2026, 2, 1),
            (2026, 12, 31),
        ]
        .map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap());
        for pair in dates.windows(2) {
            assert!(month_number(pair[0]) < month_number(pair[1]));
            assert!(pair[0].num_days_from_ce() < pair[1].num_days_from_ce());
        }
        assert_eq!(month_number(dates[2]) + 1, month_number(dates[3]));
    }

    #[test]
    fn day_rows_stay_in_day_order_whatever_order_days_come_in() {
        let mut rows = DayRows::<u64>::default();
        for day in [10, 11, 11, 14, 12, 9, 14] {
            *rows.entry(day) += 1;
        }
        assert_eq!(rows.0, vec![(9, 1), (10, 1), (11, 2), (12, 1), (14, 2)]);
        assert_eq!(rows.range(10, 12), &[(10, 1), (11, 2), (12, 1)]);
        assert_eq!(rows.range(13, 13), &[]);
        assert_eq!(rows.range(15, 20), &[]);
        assert_eq!(rows.get(12), Some(&1));
        assert_eq!(rows.get(13), None);
        let json = serde_json::to_string(&rows).unwrap();
        assert_eq!(serde_json::from_str::<DayRows<u64>>(&json).unwrap(), rows);
        let refused = serde_json::from_str::<DayRows<u64>>("[[2,1],[1,1]]").unwrap_err();
        assert!(refused.to_string().contains("day order"), "{refused}");
    }

    /// Everything but the network view (shared by every projection, and encoded as it says).
    type Encoded = (
        (
            Position,
            Codes,
            Vec<Option<ItemFacts>>,
            PerView<Vec<DayRows<LibraryDay>>>,
            PerView<Vec<OpenLoans>>,
            BTreeMap<MonthNumber, BTreeMap<CityId, BTreeMap<CityId, u64>>>,
            Vec<TitleInfo>,
        ),
        BTreeMap<CityId, BTreeMap<MonthNumber, TitleCounts>>,
        Vec<Option<Activity>>,
        BTreeMap<u64, OpenHold>,
        Vec<DayRows<HoldDay>>,
        Vec<u64>,
        BTreeMap<LibraryId, BTreeMap<u32, BudgetRecord>>,
    );

    fn encoded(s: &Statistics) -> Encoded {
        (
            (
                s.position,
                s.codes.clone(),
                s.items.clone(),
                s.days.clone(),
                s.open_loans.clone(),
                s.flows.clone(),
                s.title_info.clone(),
            ),
            s.title_loans.clone(),
            s.activity.clone(),
            s.open_holds.clone(),
            s.hold_days.clone(),
            s.in_transit_to.clone(),
            s.budgets.clone(),
        )
    }

    #[test]
    fn the_state_decodes_from_postcard_a_format_that_is_not_self_describing() {
        use readnet_domain::pb::{Acquisition, LibraryTier, TransferReason};
        use readnet_domain::{Command, Fen, NewBook};
        use readnet_ledger::history::{History, card};

        let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        let mut h = History::new();
        for (city, zone) in [("jinan", "Asia/Shanghai"), ("urumqi", "Asia/Urumqi")] {
            h.run(
                at,
                None,
                Command::JoinCity {
                    city: city.into(),
                    name: city.into(),
                    time_zone: zone.into(),
                },
            );
        }
        for (library, city) in [("JN-A", "jinan"), ("UR-A", "urumqi")] {
            h.run(
                at,
                None,
                Command::RegisterLibrary {
                    library: library.into(),
                    name: library.into(),
                    city: city.into(),
                    tier: LibraryTier::Central,
                    parent: None,
                },
            );
        }
        for (n, owner) in ["JN-A", "JN-A", "UR-A"].into_iter().enumerate() {
            h.run(
                at,
                None,
                Command::CatalogueItem {
                    book: NewBook {
                        item: format!("IT-{n}").into(),
                        isbn: String::new(),
                        title: format!("Title {n}"),
                        author: "Lao She".into(),
                        price_fen: Some(Fen(4500)),
                    },
                    owner_library: owner.into(),
                    acquisition: Acquisition::Purchase,
                },
            );
        }
        let patron = card("jinan", "370102199001011234");
        let later = |minutes| at + Duration::minutes(minutes);
        h.run(
            later(5),
            Some("JN-A"),
            Command::Checkout {
                item: "IT-0".into(),
                patron: patron.clone(),
            },
        );
        h.run(
            later(9),
            Some("UR-A"),
            Command::Return {
                item: "IT-0".into(),
            },
        );
        h.run(
            later(20),
            Some("JN-A"),
            Command::Checkout {
                item: "IT-1".into(),
                patron,
            },
        );
        h.run(
            later(30),
            Some("UR-A"),
            Command::DispatchTransfer {
                item: "IT-2".into(),
                to_library: "JN-A".into(),
                reason: TransferReason::Rebalance,
            },
        );
        let mut state = Statistics::default();
        for event in h.events() {
            state.apply(event);
        }
        let before = encoded(&state);
        let bytes = postcard::to_allocvec(&before).unwrap();
        let after: Encoded = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(after, before);
        // What the history made is in it: a title lent, a flow, a loan open, a book travelling.
        let (fold, .., in_transit, _) = &after;
        assert_eq!(fold.1.items.len(), 3);
        assert_eq!(fold.5.len(), 1);
        assert_eq!(fold.4.transaction.iter().map(|o| o.on_loan).sum::<u64>(), 1);
        assert_eq!(in_transit.iter().sum::<u64>(), 1);
    }

    #[test]
    fn an_item_s_facts_are_32_bytes_and_a_day_row_368() {
        assert_eq!(std::mem::size_of::<Option<ItemFacts>>(), 32);
        // A library's day row, as the crate's docs count it.
        assert_eq!(std::mem::size_of::<(DayNumber, LibraryDay)>(), 368);
    }

    #[test]
    fn fill_time_percentiles_are_nearest_rank_over_the_histogram() {
        let mut day = HoldDay::default();
        assert_eq!(day.fill_percentile(50), None);
        // Ten fills: 1..=10 minutes.
        for minutes in 1..=10 {
            day.fill_minutes.insert(minutes, 1);
        }
        assert_eq!(day.fill_percentile(50), Some(5));
        assert_eq!(day.fill_percentile(90), Some(9));
        assert_eq!(day.fill_percentile(100), Some(10));
        let mut other = HoldDay::default();
        other.fill_minutes.insert(1, 10);
        day.add(&other);
        // Eleven of twenty took a minute.
        assert_eq!(day.fill_percentile(50), Some(1));
        assert_eq!(day.fill_percentile(90), Some(8));
    }

    #[test]
    fn open_loans_are_overdue_only_after_their_due_instant() {
        let mut loans = OpenLoans::default();
        loans.open(100);
        loans.open(100);
        loans.open(200);
        assert_eq!(
            (loans.on_loan, loans.overdue_at(100), loans.overdue_at(101)),
            (3, 0, 2)
        );
        loans.close(100);
        assert_eq!((loans.on_loan, loans.overdue_at(201)), (2, 2));
        loans.close(100);
        loans.close(200);
        assert_eq!(loans, OpenLoans::default());
    }
}
