//! The fold: how each event changes the statistics and the monitoring centre's state.
//!
//! Everything is keyed by strings (library code, local day `YYYY-MM-DD`, month `YYYY-MM`, city
//! code, title key) in ordered maps, or in hash maps written in key order (the maps with an entry
//! per item or title, see [`readnet_projection::canonical`]), so the JSON encoding, and with it
//! the digest, is canonical.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use readnet_domain::{CityCode, ItemCode, LibraryCode, PatronId};
use readnet_projection::canonical::{FastMap, sorted_map};
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
    /// Patrons who borrowed, renewed, returned or swapped (keyed-hash ids, never card numbers).
    pub patrons: BTreeSet<PatronId>,
    /// Loans of this library (lent by it, or of its items) open after the last event that
    /// touched this row.
    pub on_loan_at_day_end: u64,
    /// Of those, the ones whose due instant is before the last instant of the day.
    pub overdue_at_day_end: u64,
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

impl PerView<BTreeMap<LibraryCode, OpenLoans>> {
    fn open(&mut self, loan: &Loan) {
        entry_mut(&mut self.transaction, loan.lender.as_str()).open(loan.due_us);
        entry_mut(&mut self.owner, loan.owner.as_str()).open(loan.due_us);
    }

    fn close(&mut self, loan: &Loan) {
        for (by, library) in [
            (By::TransactionLibrary, &loan.lender),
            (By::OwningLibrary, &loan.owner),
        ] {
            let loans = self.get_mut(by);
            let open = loans.get_mut(library).expect("an open loan's library");
            open.close(loan.due_us);
            if open.on_loan == 0 {
                loans.remove(library);
            }
        }
    }
}

/// An open loan, as the statistics need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Loan {
    lender: LibraryCode,
    owner: LibraryCode,
    due_us: i64,
}

/// What the fold remembers of an item still in the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ItemFacts {
    owner: LibraryCode,
    title_key: String,
    loan: Option<Loan>,
    /// The library it was dispatched to, while it travels.
    in_transit_to: Option<LibraryCode>,
}

/// How a title is shown: the first copy catalogued under its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TitleInfo {
    pub isbn: String,
    pub title: String,
    pub author: String,
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

/// Library → local day → figures.
pub(crate) type DaysByLibrary = BTreeMap<LibraryCode, BTreeMap<String, LibraryDay>>;

/// Title key → loans, written in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct TitleCounts(
    #[serde(serialize_with = "sorted_map")] pub(crate) FastMap<String, u64>,
);

/// A local day as its key, `YYYY-MM-DD` (chrono's `%Y-%m-%d`), written on the stack without a
/// format string: the fold makes one for nearly every event.
fn day_key(date: NaiveDate) -> DayKey {
    calendar_key(date, "%Y-%m-%d", 10)
}

/// A month as its key, `YYYY-MM` (chrono's `%Y-%m`).
fn month_key(date: NaiveDate) -> DayKey {
    calendar_key(date, "%Y-%m", 7)
}

fn calendar_key(date: NaiveDate, format: &str, len: usize) -> DayKey {
    let Ok(year) = u32::try_from(date.year()) else {
        return DayKey::Formatted(date.format(format).to_string());
    };
    if year > 9999 {
        // `%Y` writes a sign and more digits past year 9999.
        return DayKey::Formatted(date.format(format).to_string());
    }
    let mut key = [0u8; 10];
    write_digits(&mut key[0..4], year);
    key[4] = b'-';
    write_digits(&mut key[5..7], date.month());
    key[7] = b'-';
    write_digits(&mut key[8..10], date.day());
    DayKey::Inline(key, len)
}

fn write_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// A day or month key: on the stack for years 0–9999, formatted by chrono otherwise.
enum DayKey {
    Inline([u8; 10], usize),
    Formatted(String),
}

impl DayKey {
    fn as_str(&self) -> &str {
        match self {
            DayKey::Inline(bytes, len) => {
                std::str::from_utf8(&bytes[..*len]).expect("ASCII digits and dashes")
            }
            DayKey::Formatted(key) => key,
        }
    }
}

/// The entry of `key` in `map`, made if missing: the key is only copied when it is new, where
/// `entry(key.to_owned())` copies it on every call.
fn entry_mut<'m, K, V>(map: &'m mut BTreeMap<K, V>, key: &str) -> &'m mut V
where
    K: Ord + Borrow<str> + for<'k> From<&'k str>,
    V: Default,
{
    if !map.contains_key(key) {
        map.insert(K::from(key), V::default());
    }
    map.get_mut(key).expect("just made")
}

/// The statistics projection's state. Query it with the functions of [`crate::query`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    pub(crate) position: Position,
    pub(crate) network: NetworkView,
    /// Items in the network (an item swapped out of a booth or withdrawn is forgotten).
    #[serde(serialize_with = "sorted_map")]
    items: FastMap<ItemCode, ItemFacts>,
    pub(crate) days: PerView<DaysByLibrary>,
    /// Open loans by lending library (transaction) and by owning library.
    pub(crate) open_loans: PerView<BTreeMap<LibraryCode, OpenLoans>>,
    /// Month (Asia/Shanghai) → owner city → return city → returns.
    pub(crate) flows: BTreeMap<String, BTreeMap<CityCode, BTreeMap<CityCode, u64>>>,
    /// Title key → how to show it.
    #[serde(serialize_with = "sorted_map")]
    pub(crate) titles: FastMap<String, TitleInfo>,
    /// Lending city → month (city time) → title key → loans.
    pub(crate) title_loans: BTreeMap<CityCode, BTreeMap<String, TitleCounts>>,
    /// Acting library → its recent activity.
    pub(crate) activity: BTreeMap<LibraryCode, Activity>,
    /// Open holds (ADR 0013): their pickup library and when they were placed, for the fill
    /// time.
    pub(crate) open_holds: BTreeMap<u64, OpenHold>,
    /// Pickup library → local day → its holds' figures.
    pub(crate) hold_days: BTreeMap<LibraryCode, BTreeMap<String, HoldDay>>,
    /// Destination library → items dispatched to it and not yet received.
    pub(crate) in_transit_to: BTreeMap<LibraryCode, u64>,
    /// Library → budget year → its budget and spending (ADR 0019).
    pub(crate) budgets: BTreeMap<LibraryCode, BTreeMap<u32, BudgetRecord>>,
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
    pub(crate) pickup: LibraryCode,
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

    /// Counts one row (and refreshes its day-end snapshot): `library`'s local day of `at`.
    fn touch(
        &mut self,
        by: By,
        library: &str,
        at: DateTime<Utc>,
        change: impl FnOnce(&mut LibraryDay),
    ) {
        if library.is_empty() {
            return;
        }
        let tz = self.network.library_time_zone(library);
        let date = at.with_timezone(&tz).date_naive();
        let end_us = day_end_us(date, tz);
        let (on_loan, overdue) = self
            .open_loans
            .get(by)
            .get(library)
            .map_or((0, 0), |o| (o.on_loan, o.overdue_at(end_us)));
        let days = entry_mut(self.days.get_mut(by), library);
        let row = entry_mut(days, day_key(date).as_str());
        change(row);
        row.on_loan_at_day_end = on_loan;
        row.overdue_at_day_end = overdue;
    }

    /// Takes the item's open loan, if it has one, closing it.
    fn end_loan(&mut self, item: &str) -> Option<Loan> {
        let loan = self.items.get_mut(item)?.loan.take()?;
        self.open_loans.close(&loan);
        Some(loan)
    }

    fn loaned(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::ItemLoaned) {
        let at = event.occurred_at;
        // The item's facts are looked up once: with millions of items each look-up is a cache
        // miss, the largest cost of a loan.
        if !self.items.contains_key(e.item.as_str()) {
            self.items.insert(
                ItemCode::from(e.item.clone()),
                ItemFacts {
                    owner: LibraryCode::from(e.owner_library.clone()),
                    title_key: String::new(),
                    loan: None,
                    in_transit_to: None,
                },
            );
        }
        let facts = self.items.get_mut(e.item.as_str()).expect("just made");
        // An item is on at most one loan: a second ItemLoaned without a return would be a
        // broken log. Close the old one so the counts stay consistent.
        debug_assert!(facts.loan.is_none(), "item {} lent while on loan", e.item);
        if let Some(previous) = facts.loan.take() {
            self.open_loans.close(&previous);
        }
        let loan = facts.loan.insert(Loan {
            lender: LibraryCode::from(e.library.clone()),
            owner: LibraryCode::from(e.owner_library.clone()),
            due_us: e.due_at_us,
        });
        self.open_loans.open(loan);

        let title_key = facts.title_key.as_str();
        if !title_key.is_empty() {
            let city = self.network.city_of(&e.library);
            let date = at
                .with_timezone(&self.network.library_time_zone(&e.library))
                .date_naive();
            let months = entry_mut(&mut self.title_loans, city);
            let TitleCounts(loans) = entry_mut(months, month_key(date).as_str());
            match loans.get_mut(title_key) {
                Some(count) => *count += 1,
                None => {
                    loans.insert(title_key.to_owned(), 1);
                }
            }
        }

        let cross_city = !e.patron_home_city.is_empty()
            && e.patron_home_city != self.network.city_of(&e.owner_library);
        // The hour at the desk that lent it, in both views, so that the views sum alike.
        let hour = at
            .with_timezone(&self.network.library_time_zone(&e.library))
            .hour() as usize;
        let count = |row: &mut LibraryDay| {
            row.counters.loans += 1;
            row.counters.loans_by_hour.0[hour] += 1;
            row.counters.cross_city_loans += u64::from(cross_city);
            insert_patron(row, &e.patron_id);
        };
        self.touch(By::TransactionLibrary, &e.library, at, count);
        self.touch(By::OwningLibrary, &e.owner_library, at, count);
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
        if let Some(facts) = self.items.get_mut(e.item.as_str()) {
            facts.loan = Some(extended.clone());
        }
        self.touch(
            By::TransactionLibrary,
            extended.lender.as_str(),
            event.occurred_at,
            |_| {},
        );
    }

    fn renewed(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::ItemRenewed) {
        let at = event.occurred_at;
        let loan = self.end_loan(&e.item).map(|old| {
            let renewed = Loan {
                due_us: e.due_at_us,
                ..old
            };
            self.open_loans.open(&renewed);
            if let Some(facts) = self.items.get_mut(e.item.as_str()) {
                facts.loan = Some(renewed.clone());
            }
            renewed
        });
        let (lender, owner) = loan.map_or_else(Default::default, |l| (l.lender, l.owner));
        // A renewal happens where the borrower asks for it; one made in the app, with no
        // acting library, counts at the lending library.
        let at_library = if event.acting_library.is_empty() {
            lender.clone()
        } else {
            LibraryCode::from(event.acting_library.as_str())
        };
        let count = |row: &mut LibraryDay| {
            row.counters.renewals += 1;
            insert_patron(row, &e.patron_id);
        };
        self.touch(By::TransactionLibrary, at_library.as_str(), at, count);
        if lender != at_library {
            // The due date moved: the lender's overdue figure may change.
            self.touch(By::TransactionLibrary, lender.as_str(), at, |_| {});
        }
        self.touch(By::OwningLibrary, owner.as_str(), at, count);
    }

    fn returned(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::ItemReturned) {
        let at = event.occurred_at;
        let loan = self.end_loan(&e.item);
        let owner_city = self.network.city_of(&e.owner_library);
        let return_city = self.network.city_of(&e.library);
        let other_library = e.library != e.owner_library;
        let cross_city = owner_city != return_city;
        let month = month_key(at.with_timezone(&SETTLEMENT_TIME_ZONE).date_naive());
        let owners = entry_mut(&mut self.flows, month.as_str());
        *entry_mut(entry_mut(owners, owner_city), return_city) += 1;
        let count = |row: &mut LibraryDay| {
            row.counters.returns += 1;
            row.counters.returns_of_other_libraries_items += u64::from(other_library);
            row.counters.cross_city_returns += u64::from(cross_city);
            insert_patron(row, &e.patron_id);
        };
        self.touch(By::TransactionLibrary, &e.library, at, count);
        if let Some(loan) = loan.filter(|l| l.lender != e.library) {
            // The loan closed at the lender too.
            self.touch(By::TransactionLibrary, loan.lender.as_str(), at, |_| {});
        }
        self.touch(By::OwningLibrary, &e.owner_library, at, count);
    }

    fn declared_lost(&mut self, event: &ProjectedEvent, item: &str) {
        if let Some(loan) = self.end_loan(item) {
            let at = event.occurred_at;
            self.touch(By::TransactionLibrary, loan.lender.as_str(), at, |_| {});
            self.touch(By::OwningLibrary, loan.owner.as_str(), at, |_| {});
        }
    }

    fn catalogued(&mut self, event: &ProjectedEvent, e: &readnet_projection::pb::ItemCatalogued) {
        let key = title_key(&e.isbn, &e.title, &e.author);
        if !self.titles.contains_key(&key) {
            self.titles.insert(
                key.clone(),
                TitleInfo {
                    isbn: e.isbn.clone(),
                    title: e.title.clone(),
                    author: e.author.clone(),
                },
            );
        }
        self.items.insert(
            ItemCode::from(e.item.clone()),
            ItemFacts {
                owner: LibraryCode::from(e.owner_library.clone()),
                title_key: key,
                loan: None,
                in_transit_to: None,
            },
        );
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
            self.touch(
                By::TransactionLibrary,
                &e.placed_at,
                event.occurred_at,
                count,
            );
            self.touch(
                By::OwningLibrary,
                &e.owner_library,
                event.occurred_at,
                count,
            );
        }
    }

    fn budget_mut(&mut self, library: &str, year: u32) -> &mut BudgetRecord {
        self.budgets
            .entry(LibraryCode::from(library))
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
        for by in By::BOTH {
            self.touch(by, &e.library, event.occurred_at, |row| {
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
        let cross_city = !e.owner_library.is_empty()
            && self.network.city_of(&e.owner_library) != e.patron_home_city.as_str();
        let count = |row: &mut LibraryDay| {
            row.counters.digital_loans += 1;
            if cross_city {
                row.counters.cross_city_digital_loans += 1;
            }
            insert_patron(row, &e.patron_id);
        };
        self.touch(By::TransactionLibrary, &e.library, event.occurred_at, count);
        self.touch(
            By::OwningLibrary,
            &e.owner_library,
            event.occurred_at,
            count,
        );
    }

    /// Counts one hold figure at its pickup library's local day of `at`.
    fn hold_day(&mut self, pickup: &str, at: DateTime<Utc>, change: impl FnOnce(&mut HoldDay)) {
        let date = at
            .with_timezone(&self.network.library_time_zone(pickup))
            .date_naive();
        let days = entry_mut(&mut self.hold_days, pickup);
        change(entry_mut(days, day_key(date).as_str()));
    }

    fn hold_placed(&mut self, at: DateTime<Utc>, e: &readnet_projection::pb::HoldPlaced) {
        self.open_holds.insert(
            e.hold,
            OpenHold {
                pickup: LibraryCode::from(e.pickup_library.as_str()),
                placed_at_us: at.timestamp_micros(),
            },
        );
        self.hold_day(&e.pickup_library, at, |day| day.placed += 1);
    }

    fn hold_filled(&mut self, at: DateTime<Utc>, hold: u64) {
        let Some(open) = self.open_holds.remove(&hold) else {
            return;
        };
        // An offline desk's clock may run behind the placing: no negative fill times.
        let minutes =
            u64::try_from((at.timestamp_micros() - open.placed_at_us) / 60_000_000).unwrap_or(0);
        self.hold_day(open.pickup.as_str(), at, |day| {
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
        self.hold_day(open.pickup.as_str(), at, |day| match reason {
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
        let Some(to) = self
            .items
            .get_mut(item)
            .and_then(|facts| facts.in_transit_to.take())
        else {
            return;
        };
        if let Some(count) = self.in_transit_to.get_mut(to.as_str()) {
            *count -= 1;
            if *count == 0 {
                self.in_transit_to.remove(to.as_str());
            }
        }
    }

    fn footfall(&mut self, at: DateTime<Utc>, e: &readnet_projection::pb::FootfallReported) {
        let from = Utc.timestamp_micros(e.from_us).single().unwrap_or(at);
        for by in By::BOTH {
            self.touch(by, &e.library, from, |row| row.counters.visits += e.visits);
        }
    }

    fn owner_of(&self, item: &str) -> LibraryCode {
        self.items
            .get(item)
            .map(|i| i.owner.clone())
            .unwrap_or_default()
    }
}

/// Counts a patron among the row's distinct patrons by the part of their id that needs no key
/// (ADR 0018): a sealed id's day token, a plaintext id itself. So the count, and the digest, are
/// the same with the patron key store or without it, and after a patron is forgotten.
fn insert_patron(row: &mut LibraryDay, patron_id: &str) {
    let patron_id = readnet_domain::personal::activity_token(patron_id);
    if !patron_id.is_empty() && !row.patrons.contains(patron_id) {
        row.patrons.insert(PatronId::from(patron_id));
    }
}

impl Projection for Statistics {
    const NAME: &'static str = "statistics";
    /// 2: shared title keys (ISBN-10 as ISBN-13, normalised text keys); last activity as the
    /// latest `occurred_at` and latest `recorded_at`. 3: holds per pickup library and day
    /// (a state of version 2 never counted the holds already in the log, so it is rebuilt; a log
    /// without holds keeps its digest). 4: acquisition budgets and spending per library and
    /// year, digital loans (ADR 0019): a state of version 3 never summed the purchases already
    /// in the log, so it is rebuilt. 5: the monitoring centre's numbers: footfall, loans by
    /// hour, items in transit to each library, each library's usual rhythm.
    const VERSION: u32 = 5;

    fn apply(&mut self, event: &ProjectedEvent) {
        debug_assert!(
            event.position > self.position,
            "events arrive once, in order"
        );
        self.network.apply(&event.payload);
        if !event.acting_library.is_empty() {
            entry_mut(&mut self.activity, &event.acting_library)
                .record(event.occurred_at, event.recorded_at);
        }
        let at = event.occurred_at;
        match &event.payload {
            Payload::ItemCatalogued(e) => self.catalogued(event, e),
            Payload::PatronEnrolled(_) => {
                let library = event.acting_library.clone();
                for by in By::BOTH {
                    self.touch(by, &library, at, |row| row.counters.enrolments += 1);
                }
            }
            Payload::ItemLoaned(e) => self.loaned(event, e),
            Payload::ItemRenewed(e) => self.renewed(event, e),
            Payload::LoanExtended(e) => self.extended(event, e),
            Payload::ItemReturned(e) => self.returned(event, e),
            Payload::ItemDeclaredLost(e) => self.declared_lost(event, &e.item),
            Payload::TransferDispatched(e) => {
                self.arrived(&e.item);
                if let Some(facts) = self.items.get_mut(e.item.as_str()) {
                    facts.in_transit_to = Some(LibraryCode::from(e.to_library.as_str()));
                    *entry_mut(&mut self.in_transit_to, &e.to_library) += 1;
                }
                let count = |row: &mut LibraryDay| row.counters.transfers_out += 1;
                self.touch(By::TransactionLibrary, &e.from_library, at, count);
                self.touch(By::OwningLibrary, &e.owner_library, at, count);
            }
            Payload::TransferReceived(e) => {
                self.arrived(&e.item);
                let owner = self.owner_of(&e.item);
                let count = |row: &mut LibraryDay| row.counters.transfers_in += 1;
                self.touch(By::TransactionLibrary, &e.to_library, at, count);
                self.touch(By::OwningLibrary, owner.as_str(), at, count);
            }
            Payload::BoothSwapped(e) => {
                let owner = self.owner_of(&e.item_taken);
                let count = |row: &mut LibraryDay| {
                    row.counters.booth_swaps += 1;
                    insert_patron(row, &e.patron_id);
                };
                self.touch(By::TransactionLibrary, &e.booth, at, count);
                self.touch(By::OwningLibrary, owner.as_str(), at, count);
                // The taken book has left the network.
                self.arrived(&e.item_taken);
                self.items.remove(e.item_taken.as_str());
            }
            Payload::ItemWithdrawn(e) => {
                self.end_loan(&e.item);
                self.arrived(&e.item);
                self.items.remove(e.item.as_str());
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
    use chrono::{Duration, TimeZone};

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
    fn day_and_month_keys_are_written_as_chrono_formats_them() {
        let dates = (-2..=4)
            .flat_map(|d| [0, 1, 999, 1970, 2026, 9999, 10_000].map(|y| (y, d)))
            .filter_map(|(year, offset)| {
                NaiveDate::from_ymd_opt(year, 1, 1)?
                    .checked_add_signed(chrono::Duration::days(offset))
            })
            .chain([NaiveDate::MIN, NaiveDate::MAX]);
        for date in dates {
            assert_eq!(day_key(date).as_str(), date.format("%Y-%m-%d").to_string());
            assert_eq!(month_key(date).as_str(), date.format("%Y-%m").to_string());
        }
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
