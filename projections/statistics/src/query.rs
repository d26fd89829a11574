//! Queries: pure functions of the state (and, for the monitoring centre, of "now").
//!
//! Arguments are checked here, once, with errors that name the request field.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use readnet_projection::canonical::FastSet;

use crate::StatisticsError;
use crate::fold::{
    By, Counters, DayNumber, DayRows, HoldDay, LibraryDay, LibraryId, MonthNumber, PatronToken,
    Statistics, TitleCounts, month_number,
};

/// The longest day range one query may ask for, in days (both ends included).
pub const MAX_DAY_RANGE_DAYS: i64 = 366;
/// Top titles: how many when the caller does not say.
pub const DEFAULT_TOP_TITLES: usize = 10;
/// Top titles: the most one query may ask for.
pub const MAX_TOP_TITLES: usize = 100;

/// A range of local days, both ends included, at most [`MAX_DAY_RANGE_DAYS`] long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    from: NaiveDate,
    to: NaiveDate,
}

impl DayRange {
    /// Every day there is: for a whole table.
    pub(crate) const ALL: DayRange = DayRange {
        from: NaiveDate::MIN,
        to: NaiveDate::MAX,
    };

    /// Parses `from_day` and `to_day` (`YYYY-MM-DD`).
    pub fn parse(from_day: &str, to_day: &str) -> Result<Self, StatisticsError> {
        let from = parse_day(from_day, "from_day")?;
        let to = parse_day(to_day, "to_day")?;
        if to < from {
            return Err(StatisticsError::invalid(format!(
                "to_day: {to} is before from_day {from}"
            )));
        }
        let days = (to - from).num_days() + 1;
        if days > MAX_DAY_RANGE_DAYS {
            return Err(StatisticsError::invalid(format!(
                "to_day: the range {from}..{to} is {days} days, at most {MAX_DAY_RANGE_DAYS} are allowed"
            )));
        }
        Ok(Self { from, to })
    }

    fn days(&self) -> (DayNumber, DayNumber) {
        (self.from.num_days_from_ce(), self.to.num_days_from_ce())
    }
}

fn parse_day(value: &str, field: &str) -> Result<NaiveDate, StatisticsError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        // Four-digit years only: a day is written `YYYY-MM-DD`.
        .filter(|d| (1..=9999).contains(&d.year()) && value.len() == 10)
        .ok_or_else(|| {
            StatisticsError::invalid(format!("{field}: {value:?} is not a day (YYYY-MM-DD)"))
        })
}

/// Parses a calendar month, `YYYY-MM`.
pub fn parse_month(value: &str, field: &str) -> Result<String, StatisticsError> {
    let valid =
        value.len() == 7 && NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d").is_ok();
    if valid {
        Ok(value.to_owned())
    } else {
        Err(StatisticsError::invalid(format!(
            "{field}: {value:?} is not a month (YYYY-MM)"
        )))
    }
}

/// One day's figures for a library, a city or the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    /// Local day, `YYYY-MM-DD`.
    pub day: String,
    pub counters: Counters,
    /// Distinct patrons who borrowed, renewed, returned or swapped. For a city or the network
    /// a patron active at several libraries counts once, so this is not a sum.
    pub active_patrons: u64,
    pub on_loan_at_day_end: u64,
    pub overdue_at_day_end: u64,
}

/// A day number as its key, `YYYY-MM-DD`.
pub(crate) fn day_key(day: DayNumber) -> String {
    NaiveDate::from_num_days_from_ce_opt(day)
        .map(|date| date.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The month number of a month key (`YYYY-MM`, as the fold's months are written); `None` for
/// a string that names no month.
fn month_of_key(month: &str) -> Option<MonthNumber> {
    let date = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    (date.format("%Y-%m").to_string() == month).then(|| month_number(date))
}

/// Sums the rows of `libraries` per day in `range`: counters and day-end figures add up,
/// patrons are united.
pub(crate) fn sum_days<'a>(
    libraries: impl Iterator<Item = &'a DayRows<LibraryDay>>,
    range: &DayRange,
) -> Vec<DayFigures> {
    let (from, to) = range.days();
    let mut days: BTreeMap<DayNumber, (DayFigures, FastSet<PatronToken>)> = BTreeMap::new();
    for rows in libraries {
        for (day, row) in rows.range(from, to) {
            let (figures, patrons) = days.entry(*day).or_default();
            figures.counters.add(&row.counters);
            figures.on_loan_at_day_end += row.on_loan_at_day_end;
            figures.overdue_at_day_end += row.overdue_at_day_end;
            patrons.extend(row.patrons.iter().copied());
        }
    }
    days.into_iter()
        .map(|(day, (figures, patrons))| DayFigures {
            day: day_key(day),
            active_patrons: patrons.len() as u64,
            ..figures
        })
        .collect()
}

/// The id of a library code the state has seen.
fn library_id(state: &Statistics, library: &str) -> Option<LibraryId> {
    state.codes.libraries.get(library)
}

/// The day rows of `library` in view `by`, if it has any.
pub(crate) fn rows_of<'s>(
    state: &'s Statistics,
    by: By,
    library: &str,
) -> Option<&'s DayRows<LibraryDay>> {
    library_id(state, library).and_then(|id| state.days.get(by).get(id.index()))
}

fn known_library(state: &Statistics, library: &str) -> Result<(), StatisticsError> {
    if library.is_empty() {
        return Err(StatisticsError::invalid(
            "library: a library code is required",
        ));
    }
    if !state.network.libraries.contains_key(library) {
        return Err(StatisticsError::not_found(format!(
            "library: {library} is not registered"
        )));
    }
    Ok(())
}

fn known_city(state: &Statistics, city: &str) -> Result<(), StatisticsError> {
    if city.is_empty() {
        return Err(StatisticsError::invalid("city: a city code is required"));
    }
    if !state.network.cities.contains_key(city) {
        return Err(StatisticsError::not_found(format!(
            "city: {city} has not joined the network"
        )));
    }
    Ok(())
}

/// A library's days in `range` that have figures (a day with no activity at the library, in
/// this view, has no row).
pub fn library_days(
    state: &Statistics,
    library: &str,
    range: &DayRange,
    by: By,
) -> Result<Vec<DayFigures>, StatisticsError> {
    known_library(state, library)?;
    Ok(sum_days(rows_of(state, by, library).into_iter(), range))
}

/// A city's days in `range`: the sums of its libraries' rows (patrons united).
pub fn city_days(
    state: &Statistics,
    city: &str,
    range: &DayRange,
    by: By,
) -> Result<Vec<DayFigures>, StatisticsError> {
    known_city(state, city)?;
    let libraries = state
        .network
        .libraries
        .iter()
        .filter(|(_, l)| l.city == city)
        .filter_map(|(code, _)| rows_of(state, by, code.as_str()));
    Ok(sum_days(libraries, range))
}

/// A library of a subtree, in depth-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtreeLibrary {
    pub library: String,
    pub name: String,
    /// `LibraryTier` as its protobuf number.
    pub tier: i32,
    pub parent: Option<String>,
    pub depth: u32,
    pub closed: bool,
}

/// The libraries of `root`'s subtree, depth first with children by code, each once (a cycle an
/// old log may hold ends where it comes back).
pub fn subtree(state: &Statistics, root: &str) -> Result<Vec<SubtreeLibrary>, StatisticsError> {
    known_library(state, root)?;
    let libraries = &state.network.libraries;
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (code, library) in libraries {
        if let Some(parent) = &library.parent {
            children
                .entry(parent.as_str())
                .or_default()
                .push(code.as_str());
        }
    }
    for list in children.values_mut() {
        list.sort_unstable();
    }
    let mut seen = BTreeSet::new();
    let mut stack = vec![(root, 0u32)];
    let mut out = Vec::new();
    while let Some((code, depth)) = stack.pop() {
        if !seen.insert(code) {
            continue;
        }
        let Some(library) = libraries.get(code) else {
            continue;
        };
        out.push(SubtreeLibrary {
            library: code.to_owned(),
            name: library.name.clone(),
            tier: library.tier,
            parent: (depth > 0)
                .then(|| library.parent.as_ref().map(|p| p.as_str().to_owned()))
                .flatten(),
            depth,
            closed: library.closed,
        });
        for child in children.get(code).into_iter().flatten().rev() {
            stack.push((child, depth + 1));
        }
    }
    Ok(out)
}

/// The days of `root`'s subtree in `range`: the sums of its libraries' rows.
pub fn subtree_days(
    state: &Statistics,
    root: &str,
    range: &DayRange,
    by: By,
) -> Result<(Vec<SubtreeLibrary>, Vec<DayFigures>), StatisticsError> {
    let libraries = subtree(state, root)?;
    let figures = sum_days(
        libraries
            .iter()
            .filter_map(|l| rows_of(state, by, l.library.as_str())),
        range,
    );
    Ok((libraries, figures))
}

/// The network's days in `range`: the sums of every library's rows, each library's day being
/// its own city's local day.
pub fn network_days(state: &Statistics, range: &DayRange, by: By) -> Vec<DayFigures> {
    sum_days(state.days.get(by).iter(), range)
}

/// The holds of a pickup library, or of a city's libraries, over a range of days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldFigures {
    pub placed: u64,
    pub filled: u64,
    pub expired_unfilled: u64,
    pub not_picked_up: u64,
    pub cancelled: u64,
    /// Nearest-rank median and 90th percentile of the fill times in the range, in minutes;
    /// `None` when no hold was filled.
    pub fill_minutes_median: Option<u64>,
    pub fill_minutes_p90: Option<u64>,
}

/// Where hold figures are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldScope<'a> {
    Library(&'a str),
    City(&'a str),
}

/// The holds picked up at a library (or at a city's libraries) over `range`: each figure on
/// the pickup library's local day of the event that made it.
pub fn hold_statistics(
    state: &Statistics,
    scope: HoldScope<'_>,
    range: &DayRange,
) -> Result<HoldFigures, StatisticsError> {
    let libraries: Vec<&str> = match scope {
        HoldScope::Library(library) => {
            known_library(state, library)?;
            vec![library]
        }
        HoldScope::City(city) => {
            known_city(state, city)?;
            state
                .network
                .libraries
                .iter()
                .filter(|(_, l)| l.city == city)
                .map(|(code, _)| code.as_str())
                .collect()
        }
    };
    let (from, to) = range.days();
    let mut sum = HoldDay::default();
    let pickups = libraries
        .iter()
        .filter_map(|l| library_id(state, l))
        .filter_map(|id| state.hold_days.get(id.index()));
    for days in pickups {
        for (_, day) in days.range(from, to) {
            sum.add(day);
        }
    }
    Ok(HoldFigures {
        placed: sum.placed,
        filled: sum.filled,
        expired_unfilled: sum.expired_unfilled,
        not_picked_up: sum.not_picked_up,
        cancelled: sum.cancelled,
        fill_minutes_median: sum.fill_percentile(50),
        fill_minutes_p90: sum.fill_percentile(90),
    })
}

/// One cell of the return-flow matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowCell {
    pub owner_city: String,
    pub return_city: String,
    pub returns: u64,
}

/// Returns in `month` (`YYYY-MM`, Asia/Shanghai) by owner city and return city, ordered by
/// owner city then return city; cells without returns are left out.
pub fn flow_matrix(state: &Statistics, month: &str) -> Vec<FlowCell> {
    let cities = &state.codes.cities;
    let mut cells: Vec<FlowCell> = month_of_key(month)
        .and_then(|month| state.flows.get(&month))
        .into_iter()
        .flat_map(|owners| owners.iter())
        .flat_map(|(&owner_city, returns)| {
            returns
                .iter()
                .map(move |(&return_city, &returns)| FlowCell {
                    owner_city: cities.resolve(owner_city).to_owned(),
                    return_city: cities.resolve(return_city).to_owned(),
                    returns,
                })
        })
        .collect();
    // Ids are in the order first seen: the answer is in code order.
    cells.sort_unstable_by(|a, b| {
        (&a.owner_city, &a.return_city).cmp(&(&b.owner_city, &b.return_city))
    });
    cells
}

/// A title and its loans in a city and month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleLoans {
    /// `isbn:<ISBN-13>` or `text:["<title>","<author>"]`, normalised: the key availability
    /// answers with (see [`readnet_projection::title`]).
    pub title_key: String,
    pub isbn: String,
    pub title: String,
    pub author: String,
    pub loans: u64,
}

/// The `limit` titles most lent in `city` in `month` (the city's local month), most loans
/// first, ties in title-key order. `limit` 0 means [`DEFAULT_TOP_TITLES`].
pub fn top_titles(
    state: &Statistics,
    city: &str,
    month: &str,
    limit: usize,
) -> Result<Vec<TitleLoans>, StatisticsError> {
    known_city(state, city)?;
    if limit > MAX_TOP_TITLES {
        return Err(StatisticsError::invalid(format!(
            "limit: {limit} is more than the {MAX_TOP_TITLES} allowed"
        )));
    }
    let limit = if limit == 0 {
        DEFAULT_TOP_TITLES
    } else {
        limit
    };
    let counts = state.codes.cities.get(city).and_then(|city| {
        let month = month_of_key(month)?;
        state.title_loans.get(&city)?.get(&month)
    });
    Ok(ranked_titles(state, counts, limit))
}

/// The titles of `counts`, most loans first, ties in title-key order, at most `limit`.
pub(crate) fn ranked_titles(
    state: &Statistics,
    counts: Option<&TitleCounts>,
    limit: usize,
) -> Vec<TitleLoans> {
    let codes = &state.codes;
    let mut titles: Vec<(&str, u64, usize)> = counts
        .into_iter()
        .flat_map(|titles| titles.0.iter())
        .map(|(&title, &n)| (codes.titles.resolve(title), n, title.index()))
        .collect();
    titles.sort_unstable_by(|(a_key, a, _), (b_key, b, _)| b.cmp(a).then_with(|| a_key.cmp(b_key)));
    titles
        .into_iter()
        .take(limit)
        .map(|(key, loans, index)| {
            let text = |code| codes.texts.resolve(code).to_owned();
            let (isbn, title, author) = state
                .title_info
                .get(index)
                .map_or_else(Default::default, |i| {
                    (text(i.isbn), text(i.title), text(i.author))
                });
            TitleLoans {
                title_key: key.to_owned(),
                isbn,
                title,
                author,
                loans,
            }
        })
        .collect()
}

/// One library as the monitoring centre sees it at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryMonitor {
    pub library: String,
    pub name: String,
    pub city: String,
    pub closed: bool,
    /// The latest `occurred_at` of its events, and the latest `recorded_at`; `None` if it has
    /// never acted. Each is a maximum of its own, so they may come from different events: an
    /// offline kiosk syncing an old event moves `last_recorded_at` but not `last_occurred_at`.
    pub last_occurred_at: Option<DateTime<Utc>>,
    pub last_recorded_at: Option<DateTime<Utc>>,
    /// Its events whose `occurred_at` is less than an hour before `now` (to the second).
    pub events_last_hour: u64,
    /// Items lent by it and on loan now; of those, past due at `now`.
    pub on_loan: u64,
    pub overdue: u64,
    /// Items it owns on loan now (wherever lent); of those, past due at `now`.
    pub owned_on_loan: u64,
    pub owned_overdue: u64,
    /// Its tier (`LibraryTier` as a number) and parent library (empty: it stands alone).
    pub tier: i32,
    pub parent: String,
    /// Its local day at `now`, and that day's loans, returns (where they happened) and visits.
    pub today: String,
    pub loans_today: u64,
    pub returns_today: u64,
    pub visits_today: u64,
    /// Items dispatched to it and not yet received.
    pub in_transit: u64,
    /// Open holds to be picked up there (placed, not yet filled or ended).
    pub holds_waiting: u64,
    /// Its usual gap between events (see `Activity::usual_gap_seconds`); `None` before it has
    /// a rhythm.
    pub usual_gap_seconds: Option<u64>,
}

/// The monitoring centre at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSnapshot {
    pub as_of: DateTime<Utc>,
    /// In library-code order.
    pub libraries: Vec<LibraryMonitor>,
}

fn instant(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Every registered library (`library` None) or one, at `now`.
pub fn monitor(
    state: &Statistics,
    library: Option<&str>,
    now: DateTime<Utc>,
) -> Result<MonitorSnapshot, StatisticsError> {
    if let Some(library) = library {
        known_library(state, library)?;
    }
    let now_us = now.timestamp_micros();
    let mut holds_waiting: BTreeMap<LibraryId, u64> = BTreeMap::new();
    for hold in state.open_holds.values() {
        *holds_waiting.entry(hold.pickup).or_default() += 1;
    }
    let libraries = state
        .network
        .libraries
        .iter()
        .filter(|(code, _)| library.is_none_or(|l| l == code.as_str()))
        .map(|(code, view)| {
            let id = library_id(state, code.as_str());
            let activity = id
                .and_then(|id| state.activity.get(id.index()))
                .and_then(Option::as_ref);
            let today = state.network.local_day(code.as_str(), now);
            let today_number = now
                .with_timezone(&state.network.library_time_zone(code.as_str()))
                .date_naive()
                .num_days_from_ce();
            let counters = rows_of(state, By::TransactionLibrary, code.as_str())
                .and_then(|days| days.get(today_number))
                .map(|row| row.counters)
                .unwrap_or_default();
            let (on_loan, overdue) = state.open_loans.figures(By::TransactionLibrary, id, now_us);
            let (owned_on_loan, owned_overdue) =
                state.open_loans.figures(By::OwningLibrary, id, now_us);
            LibraryMonitor {
                library: code.as_str().to_owned(),
                name: view.name.clone(),
                city: view.city.as_str().to_owned(),
                closed: view.closed,
                last_occurred_at: activity.map(|a| instant(a.last_occurred_at_us)),
                last_recorded_at: activity.map(|a| instant(a.last_recorded_at_us)),
                events_last_hour: activity.map_or(0, |a| a.events_in_hour_before(now)),
                on_loan,
                overdue,
                owned_on_loan,
                owned_overdue,
                tier: view.tier,
                parent: view
                    .parent
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                loans_today: counters.loans,
                returns_today: counters.returns,
                visits_today: counters.visits,
                today,
                in_transit: id
                    .and_then(|id| state.in_transit_to.get(id.index()))
                    .copied()
                    .unwrap_or(0),
                holds_waiting: id
                    .and_then(|id| holds_waiting.get(&id))
                    .copied()
                    .unwrap_or(0),
                usual_gap_seconds: activity.and_then(|a| a.usual_gap_seconds()),
            }
        })
        .collect();
    Ok(MonitorSnapshot {
        as_of: now,
        libraries,
    })
}

/// Whose acquisition budgets are asked for.
#[derive(Debug, Clone, Copy)]
pub enum BudgetScope<'a> {
    Library(&'a str),
    City(&'a str),
    Network,
}

/// One library's budget year, or a sum of them (ADR 0019). Money in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetFigures {
    /// Empty for a sum.
    pub library: String,
    /// Empty for the network's sum.
    pub city: String,
    pub budget_set: bool,
    pub budget_fen: i64,
    /// A library's share in basis points; 0 in a sum.
    pub patron_driven_share_bp: u32,
    pub patron_driven_share_fen: i64,
    pub patron_driven_spent_fen: i64,
    pub patron_driven_books: u64,
    pub purchases_spent_fen: i64,
    pub purchased_books: u64,
}

impl BudgetFigures {
    /// Purchases and patron-driven books together.
    pub fn spent_fen(&self) -> i64 {
        self.purchases_spent_fen
            .saturating_add(self.patron_driven_spent_fen)
    }

    /// The budget less what was spent (negative: overspent).
    pub fn remaining_fen(&self) -> i64 {
        self.budget_fen.saturating_sub(self.spent_fen())
    }

    /// The patron-driven share less what it spent.
    pub fn patron_driven_remaining_fen(&self) -> i64 {
        self.patron_driven_share_fen
            .saturating_sub(self.patron_driven_spent_fen)
    }

    /// Adds a library's figures into a sum.
    fn add(&mut self, other: &BudgetFigures) {
        self.budget_set |= other.budget_set;
        self.budget_fen = self.budget_fen.saturating_add(other.budget_fen);
        self.patron_driven_share_fen = self
            .patron_driven_share_fen
            .saturating_add(other.patron_driven_share_fen);
        self.patron_driven_spent_fen = self
            .patron_driven_spent_fen
            .saturating_add(other.patron_driven_spent_fen);
        self.patron_driven_books += other.patron_driven_books;
        self.purchases_spent_fen = self
            .purchases_spent_fen
            .saturating_add(other.purchases_spent_fen);
        self.purchased_books += other.purchased_books;
    }
}

/// The budgets of `year`: each library of the scope that has a budget or spent anything in the
/// year (by code), their sums per city (by code), and the sum of all.
pub fn acquisition_budgets(
    state: &Statistics,
    year: u32,
    scope: BudgetScope<'_>,
) -> Result<(Vec<BudgetFigures>, Vec<BudgetFigures>, BudgetFigures), StatisticsError> {
    match scope {
        BudgetScope::Library(library) => known_library(state, library)?,
        BudgetScope::City(city) => known_city(state, city)?,
        BudgetScope::Network => {}
    }
    let mut libraries = Vec::new();
    // In library-code order, as the figures are listed.
    let mut budgets: Vec<(&str, _)> = state
        .budgets
        .iter()
        .map(|(&id, years)| (state.codes.libraries.resolve(id), years))
        .collect();
    budgets.sort_unstable_by_key(|&(code, _)| code);
    for (code, years) in budgets {
        let city = state.network.city_of(code);
        let wanted = match scope {
            BudgetScope::Library(library) => code == library,
            BudgetScope::City(wanted) => city == wanted,
            BudgetScope::Network => true,
        };
        let Some(record) = years.get(&year).filter(|_| wanted) else {
            continue;
        };
        let share_fen = record.budget_fen.map_or(0, |budget| {
            i64::try_from(
                i128::from(budget) * i128::from(record.patron_driven_share_bp)
                    / i128::from(readnet_domain::BASIS_POINTS),
            )
            .unwrap_or(i64::MAX)
        });
        libraries.push(BudgetFigures {
            library: code.to_string(),
            city: city.to_owned(),
            budget_set: record.budget_fen.is_some(),
            budget_fen: record.budget_fen.unwrap_or(0),
            patron_driven_share_bp: record.patron_driven_share_bp,
            patron_driven_share_fen: share_fen,
            patron_driven_spent_fen: record.patron_driven_spent_fen,
            patron_driven_books: record.patron_driven_books,
            purchases_spent_fen: record.purchases_spent_fen,
            purchased_books: record.purchased_books,
        });
    }
    let mut cities: BTreeMap<String, BudgetFigures> = BTreeMap::new();
    let mut total = BudgetFigures::default();
    for figures in &libraries {
        let city = cities
            .entry(figures.city.clone())
            .or_insert_with(|| BudgetFigures {
                city: figures.city.clone(),
                ..BudgetFigures::default()
            });
        city.add(figures);
        total.add(figures);
    }
    if let BudgetScope::City(city) = scope {
        total.city = city.to_owned();
    }
    Ok((libraries, cities.into_values().collect(), total))
}
