//! Settlement periods: calendar months in the settlement time zone (Asia/Shanghai).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use readnet_projection::SETTLEMENT_TIME_ZONE;
use serde::{Deserialize, Serialize};

/// A calendar month in the settlement time zone, written `YYYY-MM`. Ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: i32,
    /// 1–12.
    month: u32,
}

/// A period string that is not `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a calendar month written YYYY-MM (year 0001-9999, month 01-12)")]
pub struct InvalidPeriod(pub String);

impl Period {
    /// The period of an instant: its month in Asia/Shanghai.
    pub fn of(at: DateTime<Utc>) -> Self {
        let local = at.with_timezone(&SETTLEMENT_TIME_ZONE);
        Self {
            year: local.year(),
            month: local.month(),
        }
    }

    /// The month after this one.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The first instant of the period (midnight on the 1st, Asia/Shanghai).
    pub fn start(self) -> DateTime<Utc> {
        SETTLEMENT_TIME_ZONE
            .with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            // China has no DST today; `earliest` keeps this total for the years it had.
            .earliest()
            .expect("midnight on the 1st exists in Asia/Shanghai")
            .with_timezone(&Utc)
    }

    /// The first instant after the period: it has ended once a clock reads this or later.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPeriod(value.to_owned());
        let bytes = value.as_bytes();
        let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
        if bytes.len() != 7 || bytes[4] != b'-' || !digits(0..4) || !digits(5..7) {
            return Err(invalid());
        }
        let year: i32 = value[0..4].parse().map_err(|_| invalid())?;
        let month: u32 = value[5..7].parse().map_err(|_| invalid())?;
        if year == 0 || !(1..=12).contains(&month) {
            return Err(invalid());
        }
        Ok(Self { year, month })
    }
}

impl TryFrom<String> for Period {
    type Error = InvalidPeriod;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Period> for String {
    fn from(period: Period) -> Self {
        period.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn periods_parse_only_as_yyyy_mm() {
        assert_eq!(p("2026-11").to_string(), "2026-11");
        for bad in [
            "",
            "2026-1",
            "2026-13",
            "2026-00",
            "2026/11",
            "26-11",
            "2026-11-01",
            "0000-01",
            "+026-11",
            "2026-1a",
        ] {
            assert_eq!(bad.parse::<Period>(), Err(InvalidPeriod(bad.to_owned())));
        }
    }

    #[test]
    fn a_period_is_the_month_in_shanghai_and_ends_at_local_midnight() {
        // 2026-11-30 16:30 UTC is 2026-12-01 00:30 in Shanghai.
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 16, 30, 0).unwrap();
        assert_eq!(Period::of(at), p("2026-12"));
        assert_eq!(
            Period::of(at).to_string(),
            readnet_projection::settlement_period(at)
        );
        assert_eq!(
            p("2026-11").end(),
            Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap()
        );
        assert_eq!(p("2026-12").next(), p("2027-01"));
        assert!(p("2026-12") < p("2027-01") && p("2026-09") < p("2026-10"));
    }

    #[test]
    fn periods_serialise_as_their_string() {
        let json = serde_json::to_string(&p("2026-11")).unwrap();
        assert_eq!(json, "\"2026-11\"");
        assert_eq!(serde_json::from_str::<Period>(&json).unwrap(), p("2026-11"));
        assert!(serde_json::from_str::<Period>("\"2026-13\"").is_err());
    }
}
