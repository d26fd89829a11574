//! The test network (Jinan, Zibo, and Urumqi in another time zone), books, patrons, and a
//! history builder that decides real domain commands.

use chrono::{DateTime, Duration, TimeZone, Utc};
use readnet_domain::pb::{Acquisition, LibraryTier, ReturnPolicy, TransferReason};
use readnet_domain::{Command, Fen, LibraryCode, NewBook, PatronRef};
use readnet_ledger::history::{self, History};
use readnet_projection::{ProjectedEvent, Projection};
use readnet_statistics::{By, DayFigures, DayRange, Statistics, library_days};

pub const JN_CENTRAL: &str = "JN-CENTRAL";
pub const JN_LIXIA: &str = "JN-LIXIA";
pub const ZB_CENTRAL: &str = "ZB-CENTRAL";
pub const ZB_BOOTH: &str = "ZB-BOOTH";
pub const UR_CENTRAL: &str = "UR-CENTRAL";

/// Every library of the test network, and the desks among them (not booths).
pub const LIBRARIES: [&str; 5] = [JN_CENTRAL, JN_LIXIA, ZB_CENTRAL, ZB_BOOTH, UR_CENTRAL];
pub const DESKS: [&str; 4] = [JN_CENTRAL, JN_LIXIA, ZB_CENTRAL, UR_CENTRAL];

/// An instant given in Shanghai local time.
pub fn shanghai(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Monday 2 March 2026, 10:00 in Shanghai.
pub fn t0() -> DateTime<Utc> {
    shanghai(2026, 3, 2, 10, 0)
}

pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

pub fn li_wei() -> PatronRef {
    history::card("jinan", "370102199001011234")
}

pub fn wang_fang() -> PatronRef {
    history::card("zibo", "370303198505052345")
}

pub fn zhao_lei() -> PatronRef {
    history::card("jinan", "370102198803033456")
}

pub fn patrons() -> [PatronRef; 4] {
    [
        li_wei(),
        wang_fang(),
        zhao_lei(),
        history::card("urumqi", "650102199202024567"),
    ]
}

pub fn book(item: &str, isbn: &str, title: &str) -> NewBook {
    NewBook {
        item: item.into(),
        isbn: isbn.into(),
        title: title.into(),
        author: "Lao She".into(),
        price_fen: Some(Fen(4500)),
    }
}

/// The network at `t0() - 1 day`: Jinan (central, Lixia branch floating in the city), Zibo
/// (central and a booth) and Urumqi (Asia/Urumqi, two hours behind Shanghai).
pub fn network() -> History {
    let at = t0() - Duration::days(1);
    let mut h = History::new();
    for (city, tz) in [
        ("jinan", ""),
        ("zibo", "Asia/Shanghai"),
        ("urumqi", "Asia/Urumqi"),
    ] {
        h.run(
            at,
            None,
            Command::JoinCity {
                city: city.into(),
                name: city.into(),
                time_zone: tz.into(),
            },
        );
    }
    for (library, city, tier, parent) in [
        (JN_CENTRAL, "jinan", LibraryTier::Central, None),
        (JN_LIXIA, "jinan", LibraryTier::Branch, Some(JN_CENTRAL)),
        (ZB_CENTRAL, "zibo", LibraryTier::Central, None),
        (ZB_BOOTH, "zibo", LibraryTier::Booth, Some(ZB_CENTRAL)),
        (UR_CENTRAL, "urumqi", LibraryTier::Central, None),
    ] {
        h.run(
            at,
            None,
            Command::RegisterLibrary {
                library: library.into(),
                name: format!("{library} library"),
                city: city.into(),
                tier,
                parent: parent.map(LibraryCode::from),
            },
        );
    }
    h.run(
        at,
        None,
        Command::SetReturnPolicy {
            library: JN_LIXIA.into(),
            policy: ReturnPolicy::FloatInCity,
        },
    );
    h
}

/// Catalogues a purchased book owned by (and on the shelf or in the booth of) `owner`.
pub fn catalogue(h: &mut History, at: DateTime<Utc>, owner: &str, book: NewBook) {
    h.run(
        at,
        None,
        Command::CatalogueItem {
            book,
            owner_library: owner.into(),
            acquisition: Acquisition::Purchase,
        },
    );
}

pub fn checkout(h: &mut History, at: DateTime<Utc>, library: &str, item: &str, patron: PatronRef) {
    h.run(
        at,
        Some(library),
        Command::Checkout {
            item: item.into(),
            patron,
        },
    );
}

pub fn return_at(h: &mut History, at: DateTime<Utc>, library: &str, item: &str) {
    h.run(at, Some(library), Command::Return { item: item.into() });
}

/// Dispatches `item` from `from` to `to` and receives it there `after` later.
pub fn transfer(
    h: &mut History,
    at: DateTime<Utc>,
    from: &str,
    to: &str,
    item: &str,
    reason: TransferReason,
) {
    h.run(
        at,
        Some(from),
        Command::DispatchTransfer {
            item: item.into(),
            to_library: to.into(),
            reason,
        },
    );
    h.run(
        at + minutes(90),
        Some(to),
        Command::ReceiveTransfer { item: item.into() },
    );
}

/// Folds events into a fresh state.
pub fn fold(events: &[ProjectedEvent]) -> Statistics {
    let mut state = Statistics::default();
    for event in events {
        state.apply(event);
    }
    state
}

/// A library's row for one local day (zeroes if it has none).
pub fn row(state: &Statistics, library: &str, day: &str, by: By) -> DayFigures {
    let range = DayRange::parse(day, day).unwrap();
    let mut rows = library_days(state, library, &range, by).unwrap();
    assert!(rows.len() <= 1);
    rows.pop().unwrap_or_else(|| DayFigures {
        day: day.into(),
        ..DayFigures::default()
    })
}

/// The local day of an instant in Shanghai.
pub fn day(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string()
}
