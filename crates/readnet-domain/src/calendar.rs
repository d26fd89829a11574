//! Calendars and closures: which local days a library is open, when it opens next, and how long
//! its temporary closures stopped the overdue clock (docs/rules.md, "Calendars and closures").

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::pb::LibraryTier;
use crate::policy::end_of_local_day_after;
use crate::state::{City, Library, Network};

/// Minutes in a day: a weekday open 0 to `MINUTES_PER_DAY` is open all day.
pub const MINUTES_PER_DAY: u32 = 24 * 60;
/// How many days ahead a search for an open day looks before giving up (a library closed for
/// longer keeps the date it had).
pub const OPEN_DAY_SEARCH_DAYS: u64 = 366;

/// One weekday's opening hours, minutes after local midnight; `open == close`: closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpeningHours {
    pub open_minute: u32,
    pub close_minute: u32,
}

impl OpeningHours {
    pub const ALL_DAY: OpeningHours = OpeningHours {
        open_minute: 0,
        close_minute: MINUTES_PER_DAY,
    };

    pub fn is_closed(&self) -> bool {
        self.open_minute >= self.close_minute
    }
}

/// A library's own calendar, or a city's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Monday first.
    pub week: [OpeningHours; 7],
    /// Local dates closed besides the week (a city's public holidays, a library's own days).
    pub closed_dates: BTreeSet<NaiveDate>,
}

/// A temporary closure: from `from` through `until` (the last microsecond of its last day, or
/// the instant it was ended early).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub reason: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Closure {
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at <= self.until
    }
}

/// Why a library is closed at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosedWhy {
    /// A day its calendar (or its city's) closes it: a weekday it does not open, a holiday.
    ClosedDay { date: NaiveDate },
    /// A temporary closure, with its reason and last day.
    Closure { reason: String, last_day: NaiveDate },
}

/// One library's calendar as the rules read it: its own, else its city's (never the city's
/// for a 24-hour library or a booth), with its temporary closures.
#[derive(Debug, Clone)]
pub struct LibraryCalendar<'a> {
    pub tz: Tz,
    own: Option<&'a Calendar>,
    city: Option<&'a Calendar>,
    closures: Vec<&'a Closure>,
    extra: Option<&'a Closure>,
}

impl<'a> LibraryCalendar<'a> {
    pub fn new(library: &'a Library, city: Option<&'a City>) -> Self {
        // A 24-hour library and a booth have no closed days unless their own calendar says so.
        let takes_city = !matches!(library.tier, LibraryTier::SelfService | LibraryTier::Booth);
        Self {
            tz: city.map_or(chrono_tz::Asia::Shanghai, |c| c.time_zone),
            own: library.calendar.as_ref(),
            city: city
                .and_then(|c| c.calendar.as_ref())
                .filter(|_| takes_city),
            closures: library.closures.iter().collect(),
            extra: None,
        }
    }

    /// The same calendar with a closure that is being decided, not yet recorded.
    pub fn with_closure(mut self, closure: &'a Closure) -> Self {
        self.extra = Some(closure);
        self
    }

    fn closures(&self) -> impl Iterator<Item = &'a Closure> + '_ {
        self.closures.iter().copied().chain(self.extra)
    }

    fn hours(&self, date: NaiveDate) -> OpeningHours {
        let weekday = date.weekday().num_days_from_monday() as usize;
        self.own
            .or(self.city)
            .map_or(OpeningHours::ALL_DAY, |c| c.week[weekday])
    }

    /// The last microsecond of `date`, local time.
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        end_of_local_day_after(self.start_of_day(date), self.tz, 0)
    }

    fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.at_minute(date, 0)
    }

    fn at_minute(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let time = NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap_or(NaiveTime::MIN);
        self.tz
            .from_local_datetime(&date.and_time(time))
            .earliest()
            .map_or(DateTime::<Utc>::MAX_UTC, |t| t.with_timezone(&Utc))
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// Why `date` is a closed day, if it is: a closure covering its end, a weekday the library
    /// does not open, a closed date of its own or its city's.
    pub fn closed_day(&self, date: NaiveDate) -> Option<ClosedWhy> {
        let end = self.end_of_day(date);
        if let Some(c) = self.closures().find(|c| c.covers(end)) {
            return Some(ClosedWhy::Closure {
                reason: c.reason.clone(),
                last_day: self.local_date(c.until),
            });
        }
        let dated = |c: Option<&Calendar>| c.is_some_and(|c| c.closed_dates.contains(&date));
        if self.hours(date).is_closed() || dated(self.own) || dated(self.city) {
            return Some(ClosedWhy::ClosedDay { date });
        }
        None
    }

    /// Why the library is closed at `at`, if it is: a closure covering the instant, or a
    /// closed day.
    pub fn closed_at(&self, at: DateTime<Utc>) -> Option<ClosedWhy> {
        if let Some(c) = self.closures().find(|c| c.covers(at)) {
            return Some(ClosedWhy::Closure {
                reason: c.reason.clone(),
                last_day: self.local_date(c.until),
            });
        }
        self.closed_day(self.local_date(at))
            .filter(|why| matches!(why, ClosedWhy::ClosedDay { .. }))
    }

    /// The first open day on or after `date` (`None`: none within a year).
    pub fn open_day_from(&self, date: NaiveDate) -> Option<NaiveDate> {
        (0..=OPEN_DAY_SEARCH_DAYS)
            .filter_map(|n| date.checked_add_days(Days::new(n)))
            .find(|d| self.closed_day(*d).is_none())
    }

    /// A due instant moved to the end of the lending library's next open day, if it falls on
    /// a closed one.
    pub fn due_on_open_day(&self, due: DateTime<Utc>) -> DateTime<Utc> {
        let date = self.local_date(due);
        match self.open_day_from(date) {
            Some(open) if open != date => self.end_of_day(open),
            _ => due,
        }
    }

    /// When the library opens next after `at`: the opening minute of its next open day.
    pub fn next_opening(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = self.local_date(at);
        (0..=OPEN_DAY_SEARCH_DAYS)
            .filter_map(|n| today.checked_add_days(Days::new(n)))
            .filter(|d| self.closed_day(*d).is_none())
            .map(|d| self.at_minute(d, self.hours(d).open_minute))
            .find(|opens| *opens > at && self.closed_at(*opens).is_none())
    }

    /// How long temporary closures kept the library shut between `from` and `to` (overlapping
    /// closures counted once): the time the overdue clock of its loans stood still.
    pub fn closed_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> chrono::Duration {
        let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = self
            .closures()
            .map(|c| (c.from.max(from), c.until.min(to)))
            .filter(|(a, b)| a < b)
            .collect();
        spans.sort();
        let mut total = chrono::Duration::zero();
        let mut reached: Option<DateTime<Utc>> = None;
        for (a, b) in spans {
            let a = reached.map_or(a, |r| a.max(r));
            if b > a {
                total += b - a;
                reached = Some(b);
            }
        }
        total
    }
}

impl Network {
    /// The calendar of a registered library.
    pub fn calendar(&self, library: &str) -> Option<LibraryCalendar<'_>> {
        let library = self.libraries.get(library)?;
        Some(LibraryCalendar::new(
            library,
            self.cities.get(&library.city),
        ))
    }
}

/// Whether an ISBN's check digit is right: ISBN-10 (mod 11, `X` for 10) or ISBN-13 (EAN-13),
/// read as title keys read it (`title::normalise_isbn`: an `ISBN` label, hyphens and white
/// space dropped, full-width digits folded). `Err` says what is wrong with it.
pub fn check_isbn(isbn: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = crate::title::normalise_isbn(isbn).chars().collect();
    match chars.len() {
        10 => {
            let mut sum = 0u32;
            for (i, c) in chars.iter().enumerate() {
                let value = match (c, i) {
                    ('X' | 'x', 9) => 10,
                    (c, _) => c
                        .to_digit(10)
                        .ok_or("an ISBN-10 is nine digits and a check digit (0-9 or X)")?,
                };
                sum += value * (10 - i as u32);
            }
            if sum.is_multiple_of(11) {
                Ok(())
            } else {
                Err("its ISBN-10 check digit is wrong")
            }
        }
        13 => {
            let mut sum = 0u32;
            for (i, c) in chars.iter().enumerate() {
                let digit = c.to_digit(10).ok_or("an ISBN-13 is 13 digits")?;
                sum += digit * if i % 2 == 0 { 1 } else { 3 };
            }
            if sum.is_multiple_of(10) {
                Ok(())
            } else {
                Err("its ISBN-13 check digit is wrong")
            }
        }
        _ => Err("an ISBN has 10 or 13 digits (hyphens and spaces aside)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isbn_check_digits() {
        assert!(check_isbn("9787020002207").is_ok());
        assert!(check_isbn("978-7-02-000220-7").is_ok());
        assert!(check_isbn("9787020002208").is_err());
        assert!(check_isbn("0-306-40615-2").is_ok());
        assert!(check_isbn("0306406153").is_err());
        assert!(check_isbn("080442957X").is_ok());
        assert!(check_isbn("97870200022").is_err());
        assert!(check_isbn("ISBN 978-7-5366-9293-0").is_ok());
    }
}
