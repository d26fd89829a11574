//! The network's circulation policy numbers (domain.md defaults).

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::money::Fen;
use crate::pb::{ChargeKind, CreditTier};

/// A loan lasts this many days; due at the end of the last day in the lending library's city.
pub const LOAN_PERIOD_DAYS: u64 = 30;
/// A loan can be renewed at most this many times.
pub const MAX_RENEWALS: u32 = 2;
/// A patron is blocked while an item of theirs is overdue by more than this many days.
pub const BLOCK_AFTER_OVERDUE_DAYS: i64 = 30;

/// A patron may have at most this many open holds (waiting, on their way or ready).
pub const MAX_OPEN_HOLDS: usize = 5;
/// A hold no copy was found for expires at the end of this many days after it was placed
/// (local time at its pickup library).
pub const HOLD_EXPIRY_DAYS: u64 = 90;
/// A ready hold waits on the hold shelf until the end of this many days after it was ready.
pub const HOLD_PICKUP_DAYS: u64 = 7;
/// One `ExpireHolds` ends at most this many holds; a sweep repeats it until none is due.
pub const MAX_EXPIRIES_PER_SWEEP: usize = 256;

/// The share of a library's acquisition budget for patron-driven acquisition (你读书我买单) when
/// a budget is set without one: 20 %, in basis points.
pub const DEFAULT_PATRON_DRIVEN_SHARE_BP: u32 = 2000;
/// Basis points in a whole.
pub const BASIS_POINTS: u32 = 10_000;
/// The most one patron-driven book may cost where a library has set no policy: 20,000 fen
/// (200 yuan).
pub const DEFAULT_MAX_PATRON_DRIVEN_PRICE_FEN: Fen = Fen(20_000);
/// How many patron-driven books one reader may have bought at one library in a calendar month
/// where the library has set no policy.
pub const DEFAULT_MONTHLY_PATRON_DRIVEN_QUOTA: u32 = 5;
/// How long a digital loan lasts when its resource's licence says nothing.
pub const DEFAULT_DIGITAL_LOAN_DAYS: u32 = 14;
/// The longest a digital loan may last.
pub const MAX_DIGITAL_LOAN_DAYS: u32 = 366;
/// The most concurrent licences or seats a resource may have.
pub const MAX_LICENCES: u32 = 100_000;
/// One `ExpireDigitalLoans` ends at most this many loans; a sweep repeats it until none is due.
pub const MAX_DIGITAL_EXPIRIES_PER_SWEEP: usize = 256;

/// The most items a patron of `tier` may have on loan at once.
pub fn loan_limit(tier: CreditTier) -> usize {
    match tier {
        CreditTier::Restricted => 3,
        CreditTier::Trusted => 20,
        CreditTier::Standard | CreditTier::Unspecified => 10,
    }
}

/// The due instant of a loan (or renewal) made at `at` in time zone `tz`: the last microsecond
/// of the day `LOAN_PERIOD_DAYS` days later, local time.
pub fn due_at(at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    end_of_local_day_after(at, tz, LOAN_PERIOD_DAYS)
}

/// The last microsecond of the local day `days` days after `at`'s local day in `tz` (saturating
/// at the end of chrono's range).
pub fn end_of_local_day_after(at: DateTime<Utc>, tz: Tz, days: u64) -> DateTime<Utc> {
    let local_day = at.with_timezone(&tz).date_naive();
    let Some(day_after_due) = local_day.checked_add_days(Days::new(days + 1)) else {
        return DateTime::<Utc>::MAX_UTC;
    };
    // Midnight exists in every zone readnet serves (China has no DST); `earliest` keeps the
    // arithmetic total for zones where it might not.
    let midnight = tz
        .from_local_datetime(&day_after_due.and_time(NaiveTime::MIN))
        .earliest()
        .expect("local midnight exists");
    midnight.with_timezone(&Utc) - chrono::Duration::microseconds(1)
}

/// The network's default tariff for a charge kind, in fen, when no TariffSet is in force.
pub fn default_tariff_fen(kind: ChargeKind) -> Fen {
    Fen(match kind {
        ChargeKind::Loan => 100,
        ChargeKind::Return => 50,
        ChargeKind::Shipping => 800,
        // Cross-city use of shared e-resources is free unless the network sets a tariff.
        ChargeKind::Digital => 0,
        ChargeKind::Lost | ChargeKind::Unspecified => 3000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_at_is_end_of_day_thirty_days_later_in_local_time() {
        // 2026-11-20 23:30 in Shanghai is 15:30 UTC; the local day is the 20th.
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 15, 30, 0).unwrap();
        let due = due_at(at, chrono_tz::Asia::Shanghai);
        let local = due.with_timezone(&chrono_tz::Asia::Shanghai);
        assert_eq!(local.date_naive().to_string(), "2026-12-20");
        assert_eq!(local.time().to_string(), "23:59:59.999999");
    }

    #[test]
    fn loan_limits_follow_credit_tiers() {
        assert_eq!(loan_limit(CreditTier::Restricted), 3);
        assert_eq!(loan_limit(CreditTier::Standard), 10);
        assert_eq!(loan_limit(CreditTier::Trusted), 20);
    }
}
