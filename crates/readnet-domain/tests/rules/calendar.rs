//! Calendars and closures: due dates on open days, desks closed on closed days and in
//! temporary closures, loans extended by a closure, the overdue clock paused by one.

use chrono::{DateTime, Duration, Utc};
use readnet_domain::pb::{self, LibraryTier};
use readnet_domain::{
    CityCode, Command, ItemStatus, LibraryCode, OpeningHours, Payload, Rejection, RejectionKind,
};

use crate::support::fixtures::*;
use crate::support::*;

const NINE_TO_NINE: OpeningHours = OpeningHours {
    open_minute: 9 * 60,
    close_minute: 21 * 60,
};
const CLOSED: OpeningHours = OpeningHours {
    open_minute: 0,
    close_minute: 0,
};

/// Closed on Mondays, 09:00-21:00 the other days, with `holidays` closed.
fn city_calendar(city: &str, holidays: &[(i32, u32, u32)]) -> Command {
    let mut week = [NINE_TO_NINE; 7];
    week[0] = CLOSED;
    Command::SetCalendar {
        city: Some(CityCode::from(city)),
        library: None,
        week,
        closed_dates: holidays.iter().map(|(y, m, d)| date(*y, *m, *d)).collect(),
    }
}

fn close_for_a_while(
    library: &str,
    from: Option<(i32, u32, u32)>,
    until: (i32, u32, u32),
) -> Command {
    Command::CloseLibraryTemporarily {
        library: library.into(),
        reason: "疫情期间闭馆".into(),
        from: from.map(|(y, m, d)| date(y, m, d)),
        until: date(until.0, until.1, until.2),
    }
}

fn end_of(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    shanghai(y, m, d, 23, 59, 59) + Duration::microseconds(999_999)
}

fn due_of(scenario: &crate::support::Scenario, item: &str) -> DateTime<Utc> {
    match scenario.status(item) {
        ItemStatus::OnLoan { due_at, .. } => *due_at,
        other => panic!("{item} is not on loan: {other:?}"),
    }
}

/// Tuesday 3 March 2026, 10:00: the network is open.
fn tuesday() -> DateTime<Utc> {
    t0() + Duration::days(1)
}

#[test]
fn a_due_date_on_a_closed_day_moves_to_the_next_open_day() {
    // Lent on Tuesday 3 March: due Thursday 2 April, a holiday, as is Friday 3 April (清明).
    let after = given(network_jinan_zibo())
        .after(
            t0(),
            None,
            city_calendar("jinan", &[(2026, 4, 2), (2026, 4, 3)]),
        )
        .when_at(
            tuesday(),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_accepted();
    assert_eq!(due_of(&after, "JN-000001"), end_of(2026, 4, 4));
    // A Monday is closed every week: lent on Saturday 7 March, due Monday 6 April, so Tuesday.
    let after = given(network_jinan_zibo())
        .after(t0(), None, city_calendar("jinan", &[]))
        .when_at(
            t0() + Duration::days(5),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_accepted();
    assert_eq!(due_of(&after, "JN-000001"), end_of(2026, 4, 7));
}

#[test]
fn a_24_hour_library_keeps_no_closed_day_of_its_city() {
    let after = given(network_jinan_zibo())
        .and([library_registered(
            "JN-24H",
            "jinan",
            LibraryTier::SelfService,
            Some("JN-CENTRAL"),
        )])
        .and([catalogued("JN-24-0001", "JN-24H", Some(2000))])
        .after(t0(), None, city_calendar("jinan", &[(2026, 4, 1)]))
        // Monday 2 March, closed for the city's libraries, open for the 24-hour one.
        .when_at(t0(), Some("JN-24H"), checkout("JN-24-0001", &li_wei()))
        .then_accepted();
    // Lent Monday 2 March: due Wednesday 1 April, wherever it falls.
    assert_eq!(due_of(&after, "JN-24-0001"), end_of(2026, 4, 1));
}

#[test]
fn a_libraries_own_calendar_replaces_its_citys_week_but_keeps_its_holidays() {
    let own = Command::SetCalendar {
        city: None,
        library: Some(LibraryCode::from("JN-CENTRAL")),
        week: [NINE_TO_NINE; 7],
        closed_dates: vec![],
    };
    let after = given(network_jinan_zibo())
        .after(t0(), None, city_calendar("jinan", &[(2026, 4, 1)]))
        .after(t0(), None, own)
        // Open on this Monday by its own week.
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &li_wei()))
        .then_accepted();
    // Due Wednesday 1 April, the city's holiday: Thursday.
    assert_eq!(due_of(&after, "JN-000001"), end_of(2026, 4, 2));
}

#[test]
fn a_desk_on_a_closed_day_refuses_loans_and_returns_with_its_next_opening() {
    let closed_monday = given(network_jinan_zibo()).after(t0(), None, city_calendar("jinan", &[]));
    closed_monday
        .clone()
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &li_wei()))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "library JN-CENTRAL is closed on 2026-03-02 (a closed day of its calendar): no loans until it opens again at 2026-03-03 09:00 CST",
        );
    // Lent in Zibo, returned at a closed Jinan desk: refused, with the time it opens.
    closed_monday
        .after(
            t0() - Duration::days(3),
            Some("ZB-CENTRAL"),
            checkout("ZB-000123", &li_wei()),
        )
        .when_at(t0(), Some("JN-LIXIA-03"), give_back("ZB-000123"))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "no returns until it opens again at 2026-03-03 09:00 CST",
        );
}

#[test]
fn a_closure_extends_the_loans_due_while_it_lasts() {
    let lent = given(network_jinan_zibo())
        .after(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &li_wei()))
        .after(
            t0() + Duration::days(20),
            Some("JN-CENTRAL"),
            checkout("JN-000002", &wang_fang()),
        );
    // Due 1 April and 21 April; closed from 28 March through 5 April: the first moves.
    let at = shanghai(2026, 3, 28, 8, 0, 0);
    let after = lent
        .clone()
        .when_at(
            at,
            None,
            close_for_a_while("JN-CENTRAL", None, (2026, 4, 5)),
        )
        .then_events(vec![
            network_event(Payload::LibraryClosedTemporarily(
                pb::LibraryClosedTemporarily {
                    library: "JN-CENTRAL".into(),
                    reason: "疫情期间闭馆".into(),
                    from_us: us(at),
                    until_us: us(end_of(2026, 4, 5)),
                },
            )),
            item_event(
                "JN-000001",
                Payload::LoanExtended(pb::LoanExtended {
                    item: "JN-000001".into(),
                    patron_id: li_wei().patron_id.into(),
                    library: "JN-CENTRAL".into(),
                    previous_due_at_us: us(end_of(2026, 4, 1)),
                    due_at_us: us(end_of(2026, 4, 6)),
                }),
            ),
        ]);
    assert_eq!(due_of(&after, "JN-000001"), end_of(2026, 4, 6));
    assert_eq!(due_of(&after, "JN-000002"), end_of(2026, 4, 21));
    // A desk of the closed library takes nothing back until then.
    after
        .when_at(shanghai(2026, 4, 2, 10, 0, 0), Some("JN-CENTRAL"), give_back("JN-000001"))
        .then_refused(
            RejectionKind::FailedPrecondition,
            "library JN-CENTRAL is closed temporarily through 2026-04-05 (疫情期间闭馆): no returns until it opens again at 2026-04-06 00:00 CST",
        );
}

#[test]
fn a_planned_closure_moves_the_due_dates_of_later_loans() {
    // Closed 30 March to 3 April, declared on 2 March: a loan of 2 March, due 1 April, is due
    // on 4 April; so is one lent the next day.
    let after = given(network_jinan_zibo())
        .after(
            t0(),
            None,
            close_for_a_while("JN-CENTRAL", Some((2026, 3, 30)), (2026, 4, 3)),
        )
        .when_at(t0(), Some("JN-CENTRAL"), checkout("JN-000001", &li_wei()))
        .then_accepted();
    assert_eq!(due_of(&after, "JN-000001"), end_of(2026, 4, 4));
}

#[test]
fn a_closure_pauses_the_overdue_clock_so_nobody_is_blocked_by_it() {
    // Lent 2 March, due 1 April. Closed from 5 April through 4 May (30 days). On 6 May the
    // book is 35 days late by the calendar, but only 5 of them while the library was open.
    let lent = given(network_jinan_zibo()).after(
        t0(),
        Some("JN-CENTRAL"),
        checkout("JN-000001", &li_wei()),
    );
    let may_6 = shanghai(2026, 5, 6, 10, 0, 0);
    lent.clone()
        .when_at(may_6, Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
        .then_refused(RejectionKind::FailedPrecondition, "overdue");
    lent.after(
        shanghai(2026, 4, 5, 8, 0, 0),
        None,
        close_for_a_while("JN-CENTRAL", None, (2026, 5, 4)),
    )
    .when_at(may_6, Some("ZB-CENTRAL"), checkout("ZB-000123", &li_wei()))
    .then_accepted();
}

#[test]
fn closures_that_start_in_the_past_or_end_before_they_start_are_refused() {
    given(network_jinan_zibo())
        .when_at(t0(), None, close_for_a_while("JN-CENTRAL", Some((2026, 3, 1)), (2026, 3, 5)))
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::ClosureInThePast {
                library: "JN-CENTRAL".into(),
                from: date(2026, 3, 1),
                today: date(2026, 3, 2),
            },
            "from_date: 2026-03-01 is in the past (today is 2026-03-02 at JN-CENTRAL); a closure starts today or later",
        );
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            close_for_a_while("JN-CENTRAL", Some((2026, 3, 9)), (2026, 3, 5)),
        )
        .then_rejected(Rejection::ClosureEndsBeforeItStarts {
            from: date(2026, 3, 9),
            until: date(2026, 3, 5),
        });
}

#[test]
fn reopening_ends_a_closure_and_the_desk_works_again() {
    let closed = given(network_jinan_zibo()).after(
        t0(),
        None,
        close_for_a_while("JN-CENTRAL", None, (2026, 3, 31)),
    );
    let at = t0() + Duration::days(3);
    let reopened = closed
        .when_at(
            at,
            None,
            Command::ReopenLibrary {
                library: "JN-CENTRAL".into(),
            },
        )
        .then_events(vec![network_event(Payload::LibraryReopened(
            pb::LibraryReopened {
                library: "JN-CENTRAL".into(),
                at_us: us(at),
            },
        ))]);
    reopened
        .clone()
        .when_at(
            at + Duration::hours(1),
            Some("JN-CENTRAL"),
            checkout("JN-000001", &li_wei()),
        )
        .then_accepted();
    reopened
        .when_at(
            at,
            None,
            Command::ReopenLibrary {
                library: "JN-CENTRAL".into(),
            },
        )
        .then_rejected_saying(
            RejectionKind::FailedPrecondition,
            Rejection::NotClosedTemporarily {
                library: "JN-CENTRAL".into(),
            },
            "library JN-CENTRAL is not closed temporarily, and no closure of it is planned",
        );
}

#[test]
fn opening_hours_must_be_a_span_of_the_day() {
    let mut week = [NINE_TO_NINE; 7];
    week[2] = OpeningHours {
        open_minute: 20 * 60,
        close_minute: 9 * 60,
    };
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            Command::SetCalendar {
                city: Some("jinan".into()),
                library: None,
                week,
                closed_dates: vec![],
            },
        )
        .then_rejected_saying(
            RejectionKind::InvalidArgument,
            Rejection::OpeningHoursInvalid {
                weekday: "Wednesday",
                open_minute: 1200,
                close_minute: 540,
            },
            "week: Wednesday's opening hours 1200-540 are not minutes 0-1440 with the opening first (equal: closed that day)",
        );
}

#[test]
fn a_city_calendar_is_recorded_with_sorted_dates() {
    given(network_jinan_zibo())
        .when_at(
            t0(),
            None,
            city_calendar("zibo", &[(2026, 10, 2), (2026, 10, 1), (2026, 10, 2)]),
        )
        .then_events(vec![network_event(Payload::CalendarSet(pb::CalendarSet {
            city: "zibo".into(),
            library: String::new(),
            week: std::iter::once(pb::OpeningHours::default())
                .chain(std::iter::repeat_n(
                    pb::OpeningHours {
                        open_minute: 540,
                        close_minute: 1260,
                    },
                    6,
                ))
                .collect(),
            closed_dates: vec!["2026-10-01".into(), "2026-10-02".into()],
        }))]);
}
