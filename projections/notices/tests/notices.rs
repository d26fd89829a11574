//! Notices derived from histories decided by the real rules: each once, with a stable id, the
//! time-based ones from the clock ticks in the log.

use chrono::{DateTime, Duration, TimeZone, Utc};
use readnet_domain::pb::{Acquisition, LibraryTier, NoticeKind};
use readnet_domain::{Command, Fen, NewBook, PatronRef};
use readnet_ledger::history::{History, card};
use readnet_notices::Notices;
use readnet_projection::Projection;

/// Monday 2 March 2026, 10:00 in China.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

fn li_wei() -> PatronRef {
    card("jinan", "370102199001011234")
}

fn wang_fang() -> PatronRef {
    card("jinan", "370102198505052345")
}

/// Jinan with two libraries and one copy of 边城 at JN-CENTRAL.
fn network() -> History {
    let mut h = History::new();
    h.run(
        t0(),
        None,
        Command::JoinCity {
            city: "jinan".into(),
            name: "济南".into(),
            time_zone: String::new(),
        },
    );
    for (library, tier, parent) in [
        ("JN-CENTRAL", LibraryTier::Central, None),
        ("JN-LIXIA", LibraryTier::Branch, Some("JN-CENTRAL".into())),
    ] {
        h.run(
            t0(),
            None,
            Command::RegisterLibrary {
                library: library.into(),
                name: library.into(),
                city: "jinan".into(),
                tier,
                parent,
            },
        );
    }
    h.run(
        t0(),
        None,
        Command::CatalogueItem {
            book: NewBook {
                item: "BC-1".into(),
                isbn: "9787532734023".into(),
                title: "边城".into(),
                author: "沈从文".into(),
                price_fen: Some(Fen(2500)),
            },
            owner_library: "JN-CENTRAL".into(),
            acquisition: Acquisition::Purchase,
        },
    );
    h
}

fn fold(h: &History) -> Notices {
    let mut state = Notices::default();
    for event in h.events() {
        state.apply(event);
    }
    state
}

fn kinds(state: &Notices) -> Vec<(u64, NoticeKind, String)> {
    state
        .after(0, 1000)
        .into_iter()
        .map(|(s, n)| (s, NoticeKind::try_from(n.kind).unwrap(), n.id.clone()))
        .collect()
}

fn hold(h: &mut History, at: DateTime<Utc>, patron: PatronRef, pickup: &str) {
    h.run(
        at,
        None,
        Command::PlaceHold {
            patron,
            target: readnet_domain::HoldTarget::Title {
                isbn: "9787532734023".into(),
                title: String::new(),
                author: String::new(),
            },
            pickup_library: pickup.into(),
        },
    );
}

#[test]
fn a_hold_ready_is_noticed_once_and_a_cancelled_hold_is_noticed() {
    let mut h = network();
    hold(&mut h, t0(), li_wei(), "JN-CENTRAL");
    let state = fold(&h);
    let notices = state.after(0, 10);
    assert_eq!(notices.len(), 1);
    let (sequence, ready) = notices[0];
    assert_eq!(sequence, 1);
    assert_eq!(ready.kind, NoticeKind::HoldReady as i32);
    assert_eq!(ready.id, "hold-ready/1/BC-1");
    assert_eq!(
        (ready.item.as_str(), ready.title.as_str()),
        ("BC-1", "边城")
    );
    assert_eq!(ready.library, "JN-CENTRAL");
    assert!(ready.deadline_us > 0, "the pickup deadline");

    // Wang Fang queues, then cancels: one notice more, naming the reason.
    hold(&mut h, t0() + Duration::minutes(1), wang_fang(), "JN-LIXIA");
    h.run(
        t0() + Duration::minutes(2),
        None,
        Command::CancelHold {
            hold: 2,
            patron: Some(wang_fang()),
            note: String::new(),
        },
    );
    let state = fold(&h);
    assert_eq!(
        kinds(&state),
        [
            (1, NoticeKind::HoldReady, "hold-ready/1/BC-1".to_owned()),
            (2, NoticeKind::HoldCancelled, "hold-ended/2".to_owned()),
        ]
    );
    assert_eq!(
        state.after(1, 10)[0].1.hold_end_reason,
        readnet_domain::pb::HoldEndReason::CancelledByPatron as i32
    );

    // A tick a day before the pickup deadline: the hold is expiring; a second tick says nothing.
    let deadline = DateTime::from_timestamp_micros(ready.deadline_us).unwrap();
    h.run(deadline - Duration::hours(20), None, Command::TickClock);
    h.run(deadline - Duration::hours(10), None, Command::TickClock);
    let state = fold(&h);
    assert_eq!(state.derived(), 3);
    assert_eq!(
        kinds(&state)[2],
        (
            3,
            NoticeKind::HoldExpiring,
            "hold-expiring/1/BC-1".to_owned()
        )
    );
}

#[test]
fn a_loan_is_noticed_due_soon_overdue_and_before_its_block_once_each() {
    let mut h = network();
    h.run(
        t0(),
        Some("JN-CENTRAL"),
        Command::Checkout {
            item: "BC-1".into(),
            patron: li_wei(),
        },
    );
    let ticks = [1, 26, 27, 28, 31, 32, 50, 56, 57];
    let mut after_each = Vec::new();
    for day in ticks {
        h.run(t0() + Duration::days(day), None, Command::TickClock);
        after_each.push(fold(&h).derived());
    }
    // Due at the end of day 30 (local): due soon from day 28 (within 3 days), overdue on day 31,
    // a block coming once 25 days overdue (day 56).
    assert_eq!(after_each, [0, 0, 0, 1, 2, 2, 2, 3, 3]);
    let state = fold(&h);
    let kinds: Vec<NoticeKind> = kinds(&state).into_iter().map(|(_, k, _)| k).collect();
    assert_eq!(
        kinds,
        [
            NoticeKind::DueSoon,
            NoticeKind::Overdue,
            NoticeKind::BlockComing
        ]
    );
    // The same log folded again derives the same notices, ids and all.
    assert_eq!(fold(&h), state);
}

/// What a snapshot relies on, and what a serde attribute the binary format cannot carry breaks
/// (`readnet_projection::canonical`): a state with notices, open loans and a hold decodes from
/// its canonical encoding to itself.
#[test]
fn the_state_round_trips_through_its_canonical_encoding() {
    let mut h = network();
    h.run(
        t0(),
        Some("JN-CENTRAL"),
        Command::Checkout {
            item: "BC-1".into(),
            patron: li_wei(),
        },
    );
    hold(&mut h, t0() + Duration::minutes(1), wang_fang(), "JN-LIXIA");
    for day in [28, 31, 56] {
        h.run(t0() + Duration::days(day), None, Command::TickClock);
    }
    let state = fold(&h);
    assert!(state.derived() >= 3, "a state worth the name");
    let bytes = readnet_projection::encode_state(&state).unwrap();
    let decoded: Notices = readnet_projection::decode_state(&bytes).unwrap();
    assert_eq!(decoded, state);
}

#[test]
fn a_renewal_starts_the_loans_notices_afresh_and_a_return_ends_them() {
    let mut h = network();
    h.run(
        t0(),
        Some("JN-CENTRAL"),
        Command::Checkout {
            item: "BC-1".into(),
            patron: li_wei(),
        },
    );
    h.run(t0() + Duration::days(28), None, Command::TickClock);
    assert_eq!(fold(&h).derived(), 1, "due soon");
    h.run(
        t0() + Duration::days(29),
        Some("JN-CENTRAL"),
        Command::Renew {
            item: "BC-1".into(),
            patron: li_wei(),
        },
    );
    h.run(t0() + Duration::days(30), None, Command::TickClock);
    assert_eq!(fold(&h).derived(), 1, "renewed: not due soon any more");
    h.run(t0() + Duration::days(57), None, Command::TickClock);
    let state = fold(&h);
    assert_eq!(state.derived(), 2, "due soon again, for the new due date");
    let ids: Vec<String> = kinds(&state).into_iter().map(|(_, _, id)| id).collect();
    assert_ne!(ids[0], ids[1], "each loan period's notice has its own id");

    h.run(
        t0() + Duration::days(58),
        Some("JN-LIXIA"),
        Command::Return {
            item: "BC-1".into(),
        },
    );
    h.run(t0() + Duration::days(70), None, Command::TickClock);
    assert_eq!(fold(&h).derived(), 2, "returned: never overdue");
}

#[test]
fn a_gateways_checkpoint_is_folded_from_the_log() {
    let mut h = network();
    hold(&mut h, t0(), li_wei(), "JN-CENTRAL");
    h.run(
        t0(),
        None,
        Command::AcknowledgeNotices {
            gateway: "wechat".into(),
            through_sequence: 1,
        },
    );
    let state = fold(&h);
    assert_eq!(state.acknowledged("wechat"), 1);
    assert_eq!(state.acknowledged("sms"), 0);
    assert!(state.after(state.acknowledged("wechat"), 10).is_empty());
}
