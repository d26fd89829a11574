//! Properties over generated histories: random checkouts, returns in random cities, transfers,
//! losses, late syncs and closes, all decided by the real domain rules.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use common::*;
use proptest::prelude::*;
use readnet_domain::pb::TransferReason;
use readnet_domain::{Command, ItemCode, ItemStatus};
use readnet_ledger::history::{History, card};
use readnet_projection::{Payload, Projection};
use readnet_settlement::{CloseDecision, Period, Settlement, StatementStatus};

const ITEMS: [(&str, &str, Option<i64>); 6] = [
    ("ZB-1", ZB_CENTRAL, Some(3900)),
    ("ZB-2", ZB_BRANCH, None),
    ("ZB-3", ZB_CENTRAL, Some(1200)),
    ("JN-1", JN_CENTRAL, None),
    ("JN-2", JN_BRANCH, Some(5600)),
    ("JN-3", JN_CENTRAL, Some(800)),
];
const CARDS: [(&str, &str); 4] = [
    ("jinan", "1001"),
    ("jinan", "1002"),
    ("zibo", "2001"),
    ("zibo", "2002"),
];

#[derive(Debug, Clone)]
enum Op {
    /// Time passes.
    Advance { hours: i64 },
    /// A desk action; `late_days` > 0: it happened that many days ago and syncs only now.
    Act { action: Action, late_days: i64 },
    /// Close the next period, if the rules allow it now; `between`: an action of three days
    /// ago that syncs after the decision and before the close is recorded.
    Close { between: Option<Action> },
}

#[derive(Debug, Clone)]
enum Action {
    Checkout {
        item: usize,
        patron: usize,
    },
    Return {
        item: usize,
        library: usize,
    },
    Dispatch {
        item: usize,
        to: usize,
        reason: usize,
    },
    Receive {
        item: usize,
    },
    Lose {
        item: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..ITEMS.len(), 0..CARDS.len()).prop_map(|(item, patron)| Action::Checkout { item, patron }),
        3 => (0..ITEMS.len(), 0..LIBRARIES.len()).prop_map(|(item, library)| Action::Return { item, library }),
        2 => (0..ITEMS.len(), 0..LIBRARIES.len(), 0..3usize)
            .prop_map(|(item, to, reason)| Action::Dispatch { item, to, reason }),
        2 => (0..ITEMS.len()).prop_map(|item| Action::Receive { item }),
        1 => (0..ITEMS.len()).prop_map(|item| Action::Lose { item }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..120i64).prop_map(|hours| Op::Advance { hours }),
        6 => (action(), prop_oneof![4 => Just(0i64), 1 => 1..60i64])
            .prop_map(|(action, late_days)| Op::Act { action, late_days }),
        1 => prop::option::of(action()).prop_map(|between| Op::Close { between }),
    ]
}

/// The command an action comes to in the current state, if it makes sense at all (the domain
/// may still refuse it).
fn command(h: &History, action: &Action) -> Option<(String, Command)> {
    let code = |item: usize| ItemCode::from(ITEMS[item].0);
    let item = |i: usize| &h.ledger().items[ITEMS[i].0];
    match *action {
        Action::Checkout { item: i, patron } => match &item(i).status {
            ItemStatus::OnShelf { library, .. } => Some((
                library.to_string(),
                Command::Checkout {
                    item: code(i),
                    patron: card(CARDS[patron].0, CARDS[patron].1),
                },
            )),
            _ => None,
        },
        Action::Return { item: i, library } => Some((
            LIBRARIES[library].to_owned(),
            Command::Return { item: code(i) },
        )),
        Action::Dispatch {
            item: i,
            to,
            reason,
        } => match &item(i).status {
            ItemStatus::OnShelf { library, homebound } => {
                let (to, reason) = match (homebound, reason) {
                    (true, _) | (false, 0) => {
                        (item(i).owner_library.clone(), TransferReason::Repatriation)
                    }
                    // A hold leg needs a hold behind it (ADR 0013); a rebalance is charged
                    // alike, to the destination's city.
                    (false, _) => (LIBRARIES[to].into(), TransferReason::Rebalance),
                };
                Some((
                    library.to_string(),
                    Command::DispatchTransfer {
                        item: code(i),
                        to_library: to,
                        reason,
                    },
                ))
            }
            _ => None,
        },
        Action::Receive { item: i } => match &item(i).status {
            ItemStatus::InTransit { to, .. } => {
                Some((to.to_string(), Command::ReceiveTransfer { item: code(i) }))
            }
            _ => None,
        },
        Action::Lose { item: i } => Some((
            item(i).owner_library.to_string(),
            Command::DeclareLost { item: code(i) },
        )),
    }
}

/// A generated history, the state folded along it, and the bytes of every final statement as
/// they were right after its close.
struct Run {
    history: History,
    state: Settlement,
    finals: BTreeMap<Period, Vec<u8>>,
}

fn run(ops: &[Op]) -> Run {
    let mut now: DateTime<Utc> = shanghai(2026, 10, 25, 9, 0);
    let mut h = network();
    for (item, owner, price) in ITEMS {
        catalogue(&mut h, shanghai(2026, 10, 2, 9, 0), item, owner, price);
    }
    let mut state = Settlement::default();
    let mut finals = BTreeMap::new();
    for op in ops {
        match op {
            Op::Advance { hours } => now += Duration::hours(*hours),
            Op::Act { action, late_days } => {
                if let Some((library, command)) = command(&h, action) {
                    let occurred_at = now - Duration::days(*late_days);
                    // Refusals are part of the game: the domain decides.
                    let _ = h.try_run_recorded_at(occurred_at, now, Some(&library), command);
                }
            }
            Op::Close { between } => {
                fold_into(&mut state, h.events());
                let Some(next) = state.next_to_close() else {
                    continue;
                };
                if let Ok(CloseDecision::Close(planned)) = state.check_close(&next.to_string(), now)
                {
                    if let Some((library, command)) = between.as_ref().and_then(|a| command(&h, a))
                    {
                        let occurred_at = now - Duration::days(3);
                        let _ = h.try_run_recorded_at(occurred_at, now, Some(&library), command);
                    }
                    h.push(
                        now,
                        "settlement",
                        Payload::SettlementPeriodClosed(planned.event()),
                    );
                    fold_into(&mut state, h.events());
                    let statement = state.statement(next).unwrap();
                    assert_eq!(statement.status, StatementStatus::Final);
                    finals.insert(next, statement.canonical_bytes());
                }
            }
        }
    }
    fold_into(&mut state, h.events());
    Run {
        history: h,
        state,
        finals,
    }
}

/// Every period the generated histories can reach.
fn periods() -> impl Iterator<Item = Period> {
    let first: Period = "2026-09".parse().unwrap();
    std::iter::successors(Some(first), |p| Some(p.next())).take(18)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn nets_sum_to_zero_and_final_statements_never_change(ops in prop::collection::vec(op(), 0..120)) {
        let Run { history, state, finals } = run(&ops);
        let mut positions = Vec::new();
        for period in periods() {
            let statement = state.statement(period).unwrap();
            prop_assert_eq!(statement.nets.iter().map(|n| n.net_fen.get()).sum::<i64>(), 0);
            let lines_total: i64 = statement.lines.iter().map(|l| l.amount_fen.get()).sum();
            let charges = state.charges(period);
            prop_assert_eq!(lines_total, charges.iter().map(|c| c.amount_fen.get()).sum::<i64>());
            prop_assert_eq!(
                statement.lines.iter().map(|l| l.count).sum::<u64>(),
                charges.len() as u64
            );
            for charge in charges {
                prop_assert_ne!(&charge.debtor, &charge.creditor);
                prop_assert_eq!(charge.adjustment, charge.original_period < period);
                prop_assert!(charge.original_period <= period);
                positions.push(charge.position);
            }
            if let Some(close) = state.close_of(period) {
                prop_assert!(charges.iter().all(|c| c.position <= close.through_position));
            }
        }
        // Every chargeable event is charged exactly once, whatever moved where.
        let len = positions.len();
        positions.sort_unstable();
        positions.dedup();
        prop_assert_eq!(positions.len(), len);
        for (period, bytes) in &finals {
            prop_assert_eq!(&state.statement(*period).unwrap().canonical_bytes(), bytes, "{}", period);
        }
        prop_assert_eq!(state.position().get(), history.events().len() as u64);
    }

    #[test]
    fn replaying_a_history_gives_the_same_digests(ops in prop::collection::vec(op(), 0..120)) {
        let Run { history, state, .. } = run(&ops);
        let first = fold(history.events());
        let second = fold(history.events());
        prop_assert_eq!(readnet_projection::digest(&first), readnet_projection::digest(&second));
        prop_assert_eq!(readnet_projection::digest(&first), readnet_projection::digest(&state));
        for period in periods() {
            prop_assert_eq!(first.statement(period).unwrap().digest(), second.statement(period).unwrap().digest());
        }
    }

    #[test]
    fn a_snapshot_restored_mid_stream_folds_to_the_same_state(
        ops in prop::collection::vec(op(), 0..120),
        cut in 0.0..=1.0f64,
    ) {
        let Run { history, .. } = run(&ops);
        let events = history.events();
        let at = (events.len() as f64 * cut) as usize;
        let mut restored: Settlement = readnet_projection::decode_state(
            &readnet_projection::encode_state(&fold(&events[..at])).unwrap(),
        )
        .unwrap();
        fold_into(&mut restored, events);
        let straight = fold(events);
        prop_assert_eq!(readnet_projection::digest(&restored), readnet_projection::digest(&straight));
        prop_assert_eq!(&restored, &straight);
    }
}

#[test]
fn generated_histories_charge_close_and_adjust() {
    // A guard against a generator that never exercises the interesting paths.
    let ops: Vec<Op> = (0..40)
        .flat_map(|i| {
            [
                Op::Act {
                    action: Action::Checkout {
                        item: i % ITEMS.len(),
                        patron: i % CARDS.len(),
                    },
                    late_days: 0,
                },
                Op::Act {
                    action: Action::Return {
                        item: i % ITEMS.len(),
                        library: (i + 1) % LIBRARIES.len(),
                    },
                    late_days: if i % 5 == 0 { 40 } else { 0 },
                },
                Op::Act {
                    action: Action::Dispatch {
                        item: i % ITEMS.len(),
                        to: 0,
                        reason: 0,
                    },
                    late_days: 0,
                },
                Op::Act {
                    action: Action::Receive {
                        item: i % ITEMS.len(),
                    },
                    late_days: 0,
                },
                Op::Advance { hours: 40 },
                Op::Close { between: None },
            ]
        })
        .collect();
    let Run { state, finals, .. } = run(&ops);
    assert!(finals.len() >= 2, "closes: {:?}", finals.keys());
    let charges: Vec<_> = periods().flat_map(|p| state.charges(p).to_vec()).collect();
    assert!(
        charges.iter().any(|c| c.adjustment),
        "some late syncs adjust"
    );
    assert!(charges.iter().any(|c| !c.adjustment));
}
