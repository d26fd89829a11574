//! A two-city network (Jinan, Zibo) and helpers to write its history.
#![allow(dead_code)] // each test binary uses a different part

use chrono::{DateTime, TimeZone, Utc};
use readnet_domain::pb::{Acquisition, ChargeKind, LibraryTier, TransferReason};
use readnet_domain::{Command, Fen, NewBook};
use readnet_ledger::history::{History, card};
use readnet_projection::{Payload, ProjectedEvent, Projection, SETTLEMENT_TIME_ZONE, pb};
use readnet_settlement::{CloseDecision, Settlement};

pub const JN_CENTRAL: &str = "JN-CENTRAL";
pub const JN_BRANCH: &str = "JN-LIXIA-01";
pub const ZB_CENTRAL: &str = "ZB-CENTRAL";
pub const ZB_BRANCH: &str = "ZB-ZHOUCUN-07";
pub const LIBRARIES: [&str; 4] = [JN_CENTRAL, JN_BRANCH, ZB_CENTRAL, ZB_BRANCH];

/// A local time in Asia/Shanghai.
pub fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    SETTLEMENT_TIME_ZONE
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Jinan and Zibo, each with a central library and a branch, set up on 2026-10-01.
pub fn network() -> History {
    let at = shanghai(2026, 10, 1, 9, 0);
    let mut h = History::new();
    for city in ["jinan", "zibo"] {
        h.run(
            at,
            None,
            Command::JoinCity {
                city: city.into(),
                name: city.into(),
                time_zone: String::new(),
            },
        );
    }
    for (library, city, tier) in [
        (JN_CENTRAL, "jinan", LibraryTier::Central),
        (JN_BRANCH, "jinan", LibraryTier::Branch),
        (ZB_CENTRAL, "zibo", LibraryTier::Central),
        (ZB_BRANCH, "zibo", LibraryTier::Branch),
    ] {
        h.run(
            at,
            None,
            Command::RegisterLibrary {
                library: library.into(),
                name: library.into(),
                city: city.into(),
                tier,
                parent: None,
            },
        );
    }
    h
}

pub fn book(item: &str, price_fen: Option<i64>) -> NewBook {
    NewBook {
        item: item.into(),
        isbn: String::new(),
        title: format!("title of {item}"),
        author: "author".into(),
        price_fen: price_fen.map(Fen),
    }
}

pub fn catalogue(h: &mut History, at: DateTime<Utc>, item: &str, owner: &str, price: Option<i64>) {
    h.run(
        at,
        Some(owner),
        Command::CatalogueItem {
            book: book(item, price),
            owner_library: owner.into(),
            acquisition: Acquisition::Purchase,
        },
    );
}

pub fn checkout(h: &mut History, at: DateTime<Utc>, library: &str, item: &str, city: &str) {
    h.run(
        at,
        Some(library),
        Command::Checkout {
            item: item.into(),
            patron: card(city, "0001"),
        },
    );
}

pub fn return_at(h: &mut History, at: DateTime<Utc>, library: &str, item: &str) {
    h.run(at, Some(library), Command::Return { item: item.into() });
}

pub fn dispatch(
    h: &mut History,
    at: DateTime<Utc>,
    from: &str,
    item: &str,
    to: &str,
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
}

pub fn declare_lost(h: &mut History, at: DateTime<Utc>, library: &str, item: &str) {
    h.run(
        at,
        Some(library),
        Command::DeclareLost { item: item.into() },
    );
}

pub fn set_tariff(
    h: &mut History,
    at: DateTime<Utc>,
    kind: ChargeKind,
    amount_fen: i64,
    from: DateTime<Utc>,
) {
    h.run(
        at,
        None,
        Command::SetTariff {
            kind,
            amount_fen: Fen(amount_fen),
            effective_from: from,
        },
    );
}

/// Folds events into a fresh state.
pub fn fold(events: &[ProjectedEvent]) -> Settlement {
    let mut state = Settlement::default();
    fold_into(&mut state, events);
    state
}

/// Folds the events `state` has not applied yet.
pub fn fold_into(state: &mut Settlement, events: &[ProjectedEvent]) {
    let applied = state.position();
    for event in events.iter().filter(|e| e.position > applied) {
        state.apply(event);
    }
}

/// Closes `period` at `now` the way the service does: decide on the state folded so far, then
/// record the SettlementPeriodClosed. Panics if the rules refuse.
pub fn close(h: &mut History, state: &mut Settlement, period: &str, now: DateTime<Utc>) {
    fold_into(state, h.events());
    match state.check_close(period, now) {
        Ok(CloseDecision::Close(planned)) => {
            h.push(
                now,
                "settlement",
                Payload::SettlementPeriodClosed(planned.event()),
            );
        }
        other => panic!("closing {period} at {now}: {other:?}"),
    }
    fold_into(state, h.events());
}

/// A SettlementPeriodClosed payload.
pub fn closed(period: &str, through_position: u64) -> Payload {
    Payload::SettlementPeriodClosed(pb::SettlementPeriodClosed {
        period: period.into(),
        through_position,
    })
}

/// Catalogues `item` the way a version without bounds on prices could have: the event written
/// directly, whatever its price.
pub fn catalogued_unchecked(
    h: &mut History,
    at: DateTime<Utc>,
    item: &str,
    owner: &str,
    price_fen: i64,
) {
    h.push(
        at,
        &format!("item-{item}"),
        Payload::ItemCatalogued(pb::ItemCatalogued {
            item: item.into(),
            isbn: String::new(),
            title: format!("title of {item}"),
            author: "author".into(),
            owner_library: owner.into(),
            price_fen: Some(price_fen),
            acquisition: Acquisition::Purchase as i32,
            placed_at: owner.into(),
            in_booth: false,
        }),
    );
}

/// A log an older version, without bounds on prices, could have written: in October one
/// ordinary cross-city loan (Jinan patron, Zibo book: 100 fen); in November two Zibo books
/// priced at `i64::MAX` fen lent to a Jinan patron and declared lost, whose charges no
/// statement can sum; in December another ordinary cross-city loan, to another Jinan patron.
pub fn out_of_bound_prices() -> History {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-000123",
        ZB_CENTRAL,
        Some(3900),
    );
    catalogued_unchecked(
        &mut h,
        shanghai(2026, 10, 2, 9, 5),
        "ZB-000900",
        ZB_CENTRAL,
        i64::MAX,
    );
    catalogued_unchecked(
        &mut h,
        shanghai(2026, 10, 2, 9, 6),
        "ZB-000901",
        ZB_CENTRAL,
        i64::MAX,
    );
    checkout(
        &mut h,
        shanghai(2026, 10, 5, 10, 0),
        ZB_CENTRAL,
        "ZB-000123",
        "jinan",
    );
    return_at(
        &mut h,
        shanghai(2026, 10, 9, 10, 0),
        ZB_CENTRAL,
        "ZB-000123",
    );
    for item in ["ZB-000900", "ZB-000901"] {
        checkout(
            &mut h,
            shanghai(2026, 11, 3, 10, 0),
            ZB_CENTRAL,
            item,
            "jinan",
        );
    }
    for item in ["ZB-000900", "ZB-000901"] {
        declare_lost(&mut h, shanghai(2026, 11, 20, 10, 0), ZB_CENTRAL, item);
    }
    // Another Jinan patron: the first is blocked by the unpaid debts.
    h.run(
        shanghai(2026, 12, 1, 10, 0),
        Some(ZB_CENTRAL),
        Command::Checkout {
            item: "ZB-000123".into(),
            patron: card("jinan", "0002"),
        },
    );
    h
}

/// The positions of the ItemDeclaredLost events in `h`.
pub fn lost_positions(h: &History) -> Vec<u64> {
    h.events()
        .iter()
        .filter(|e| matches!(e.payload, Payload::ItemDeclaredLost(_)))
        .map(|e| e.position.get())
        .collect()
}
