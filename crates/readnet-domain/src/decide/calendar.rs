//! Calendars and closures: opening weeks and closed days, temporary closures and reopening, and
//! the check that a desk is open (docs/rules.md, "Calendars and closures").

use chrono::NaiveDate;

use super::{Decider, item_event, network_event, to_us};
use crate::calendar::{Closure, MINUTES_PER_DAY, OpeningHours};
use crate::ids::{CityCode, LibraryCode};
use crate::pb;
use crate::rejection::DeskWork;
use crate::state::{ItemStatus, Library};
use crate::{NewEvent, Payload, Rejection};

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Decider<'_> {
    /// Loans and returns happen while the library is open: not on a closed day of its
    /// calendar, not during a temporary closure. The refusal says when it opens again.
    pub(super) fn check_open_now(
        &self,
        library: &Library,
        work: DeskWork,
    ) -> Result<(), Rejection> {
        let Some(calendar) = self.network().calendar(library.code.as_str()) else {
            return Ok(());
        };
        match calendar.closed_at(self.ctx.occurred_at) {
            None => Ok(()),
            Some(why) => Err(Rejection::ClosedNow {
                library: library.code.clone(),
                work,
                why,
                next_open: calendar
                    .next_opening(self.ctx.occurred_at)
                    .map(|t| t.with_timezone(&calendar.tz)),
            }),
        }
    }

    pub(super) fn set_calendar(
        &self,
        city: Option<&CityCode>,
        library: Option<&LibraryCode>,
        week: &[OpeningHours; 7],
        closed_dates: &[NaiveDate],
    ) -> Result<Vec<NewEvent>, Rejection> {
        for (weekday, hours) in WEEKDAYS.iter().zip(week) {
            if hours.close_minute > MINUTES_PER_DAY || hours.open_minute > hours.close_minute {
                return Err(Rejection::OpeningHoursInvalid {
                    weekday,
                    open_minute: hours.open_minute,
                    close_minute: hours.close_minute,
                });
            }
        }
        let city = match (library, city) {
            (Some(library), _) => self.library(library, "library")?.city.clone(),
            (None, Some(city)) => {
                if !self.network().cities.contains_key(city) {
                    return Err(Rejection::CityNotJoined { city: city.clone() });
                }
                city.clone()
            }
            (None, None) => return Err(Rejection::CalendarOwnerRequired),
        };
        let mut dates = closed_dates.to_vec();
        dates.sort();
        dates.dedup();
        Ok(vec![network_event(Payload::CalendarSet(pb::CalendarSet {
            city: city.into(),
            library: library.map(|l| l.as_str().to_owned()).unwrap_or_default(),
            week: week
                .iter()
                .map(|h| pb::OpeningHours {
                    open_minute: h.open_minute,
                    close_minute: h.close_minute,
                })
                .collect(),
            closed_dates: dates.iter().map(|d| d.to_string()).collect(),
        }))])
    }

    /// A temporary closure, and the loans it extends: every loan of the library due while it
    /// is closed is due at the end of its next open day after the closure instead.
    pub(super) fn close_temporarily(
        &self,
        code: &LibraryCode,
        reason: &str,
        from: Option<NaiveDate>,
        until: NaiveDate,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.open_library(code, "library")?;
        let calendar = self
            .network()
            .calendar(code.as_str())
            .expect("a registered library has a calendar");
        let now = self.ctx.occurred_at;
        let today = calendar.local_date(now);
        let from_date = from.unwrap_or(today);
        if from_date < today {
            return Err(Rejection::ClosureInThePast {
                library: code.clone(),
                from: from_date,
                today,
            });
        }
        if until < from_date {
            return Err(Rejection::ClosureEndsBeforeItStarts {
                from: from_date,
                until,
            });
        }
        let closure = Closure {
            reason: reason.to_owned(),
            from: if from_date == today {
                now
            } else {
                calendar.end_of_day(from_date.pred_opt().unwrap_or(from_date))
                    + chrono::Duration::microseconds(1)
            },
            until: calendar.end_of_day(until),
        };
        let mut events = vec![network_event(Payload::LibraryClosedTemporarily(
            pb::LibraryClosedTemporarily {
                library: code.clone().into(),
                reason: reason.to_owned(),
                from_us: to_us(closure.from),
                until_us: to_us(closure.until),
            },
        ))];
        let closed = calendar.with_closure(&closure);
        let mut extended: Vec<_> = self
            .ledger
            .items
            .values()
            .filter_map(|item| match &item.status {
                ItemStatus::OnLoan {
                    patron_id,
                    library: lent_at,
                    due_at,
                    ..
                } if lent_at == &library.code && closure.covers(*due_at) => {
                    Some((item, patron_id, *due_at))
                }
                _ => None,
            })
            .collect();
        // Item order, so that the same state always records the same events.
        extended.sort_by(|a, b| a.0.item.cmp(&b.0.item));
        for (item, patron_id, due_at) in extended {
            let new_due = closed.due_on_open_day(due_at);
            if new_due != due_at {
                events.push(item_event(
                    &item.item,
                    Payload::LoanExtended(pb::LoanExtended {
                        item: item.item.clone().into(),
                        patron_id: patron_id.clone().into(),
                        library: code.clone().into(),
                        previous_due_at_us: to_us(due_at),
                        due_at_us: to_us(new_due),
                    }),
                ));
            }
        }
        Ok(events)
    }

    /// Ends the library's temporary closure now (or calls off a planned one).
    pub(super) fn reopen(&self, code: &LibraryCode) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.library(code, "library")?;
        let now = self.ctx.occurred_at;
        if !library.closures.iter().any(|c| c.until > now) {
            return Err(Rejection::NotClosedTemporarily {
                library: code.clone(),
            });
        }
        Ok(vec![network_event(Payload::LibraryReopened(
            pb::LibraryReopened {
                library: code.clone().into(),
                at_us: to_us(now),
            },
        ))])
    }
}
