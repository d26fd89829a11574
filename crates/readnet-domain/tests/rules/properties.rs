//! Random command sequences over three items and two patrons (plus the books patron-driven
//! acquisitions add), with the ledger's invariants checked after every accepted command.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use readnet_domain::pb::{CreditTier, TransferReason};
use readnet_domain::{
    BLOCK_AFTER_OVERDUE_DAYS, Command, Fen, ItemStatus, Ledger, NewBook, PatronId, PatronRef,
    Payload, codec, decide, loan_limit,
};

use crate::support::fixtures::*;
use crate::support::*;

/// xorshift64: deterministic, dependency-free, good enough to shuffle commands.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }
}

const LIBRARIES: [&str; 5] = [
    "JN-CENTRAL",
    "JN-LIXIA-03",
    "JN-BOOTH-01",
    "ZB-CENTRAL",
    "ZB-ZHOUCUN-07",
];
const REASONS: [TransferReason; 3] = [
    TransferReason::Repatriation,
    TransferReason::Hold,
    TransferReason::Rebalance,
];
const TIERS: [CreditTier; 3] = [
    CreditTier::Restricted,
    CreditTier::Standard,
    CreditTier::Trusted,
];

/// One random command, often aimed at where the item is so that it has a chance.
fn random_command(
    rng: &mut Rng,
    ledger: &Ledger,
    items: &[String],
    patrons: &[PatronRef],
    bought: &mut usize,
) -> (Option<String>, Command) {
    let item = rng.pick(items).clone();
    let patron = rng.pick(patrons).clone();
    let here = match ledger.items.get(item.as_str()).map(|i| &i.status) {
        Some(ItemStatus::OnShelf { library, .. }) => Some(library.to_string()),
        Some(ItemStatus::InBooth { booth }) => Some(booth.to_string()),
        Some(ItemStatus::InTransit { to, .. }) => Some(to.to_string()),
        _ => None,
    };
    let library = match here {
        Some(here) if rng.below(3) > 0 => here,
        _ => (*rng.pick(&LIBRARIES)).to_owned(),
    };
    let command = match rng.below(20) {
        0..=5 => checkout(&item, &patron),
        6..=9 => give_back(&item),
        10 => renew(&item, &patron),
        11 => dispatch(
            &item,
            LIBRARIES[rng.below(LIBRARIES.len())],
            *rng.pick(&REASONS),
        ),
        12 => receive(&item),
        13 => declare_lost(&item),
        14 => pay(&item, [500, 1000, 2000, 3900][rng.below(4)]),
        15 => waive(&item),
        16 => set_tier(&patron, *rng.pick(&TIERS)),
        17 => {
            *bought += 1;
            Command::PatronDrivenAcquisition {
                bookstore: None,
                patron,
                book: NewBook {
                    item: format!("P-{bought:03}").into(),
                    isbn: String::new(),
                    title: "A bought book".into(),
                    author: String::new(),
                    price_fen: Some(Fen(3000)),
                },
            }
        }
        18 => Command::BoothSwap {
            take_item: item.into(),
            patron,
            deposit: book(
                &format!("D-{bought:03}-{}", rng.below(1000)),
                "A deposit",
                None,
            ),
        },
        _ => withdraw(&item),
    };
    // Now and then a command without an acting library (an app, or a bad request).
    ((rng.below(25) > 0).then_some(library), command)
}

/// Blocked, judged from the state without the domain's help.
fn blocked(ledger: &Ledger, patron_id: &PatronId, now: DateTime<Utc>) -> bool {
    let Some(patron) = ledger.patrons.get(patron_id) else {
        return false;
    };
    !patron.unsettled_lost.is_empty()
        || patron.loans.iter().any(|code| {
            matches!(&ledger.items[code].status, ItemStatus::OnLoan { due_at, .. }
                if now - *due_at > Duration::days(BLOCK_AFTER_OVERDUE_DAYS))
        })
}

/// Loans as the items tell them and as the patrons do must agree, one loan per item.
fn assert_loans_consistent(ledger: &Ledger, context: &str) {
    for (code, item) in &ledger.items {
        let holders: Vec<&str> = ledger
            .patrons
            .values()
            .filter(|p| p.loans.contains(code))
            .map(|p| p.patron_id.as_str())
            .collect();
        match &item.status {
            ItemStatus::OnLoan { patron_id, .. } => {
                assert_eq!(
                    holders,
                    [patron_id.as_str()],
                    "{context}: {code} is on exactly one loan, its borrower's"
                );
            }
            _ => assert!(
                holders.is_empty(),
                "{context}: {code} is not on loan but {holders:?} hold it"
            ),
        }
        if let ItemStatus::OnShelf {
            library,
            homebound: true,
        } = &item.status
        {
            assert_ne!(
                library, &item.owner_library,
                "{context}: {code} is homebound at home"
            );
        }
    }
}

type Invariant =
    fn(before: &Ledger, after: &Ledger, command: &Command, at: DateTime<Utc>, context: &str);

fn loan_invariants(
    before: &Ledger,
    after: &Ledger,
    command: &Command,
    at: DateTime<Utc>,
    context: &str,
) {
    assert_loans_consistent(after, context);
    let lender = match command {
        Command::Checkout { patron, .. } | Command::PatronDrivenAcquisition { patron, .. } => {
            Some(patron)
        }
        _ => None,
    };
    for (id, patron) in &after.patrons {
        let had = before.patrons.get(id).map_or(0, |p| p.loans.len());
        let has = patron.loans.len();
        if lender.is_some_and(|l| &l.patron_id == id) {
            assert_eq!(has, had + 1, "{context}: a loan adds one item");
            assert!(
                has <= loan_limit(patron.tier),
                "{context}: {has} loans over the {:?} limit",
                patron.tier
            );
            assert!(
                !blocked(before, id, at),
                "{context}: a blocked patron was lent an item"
            );
        } else {
            assert!(has <= had, "{context}: only lending adds loans");
        }
    }
}

fn debt_invariants(_: &Ledger, after: &Ledger, _: &Command, _: DateTime<Utc>, context: &str) {
    for patron in after.patrons.values() {
        for code in &patron.unsettled_lost {
            assert!(
                after.items[code].owed_by(patron.patron_id.as_str()) > Fen::ZERO,
                "{context}: {code} blocks {} only while they owe for it",
                patron.patron_id
            );
        }
    }
    for item in after.items.values() {
        for debt in &item.lost_debts {
            assert!(
                debt.outstanding_fen > Fen(0),
                "{context}: a settled debt is gone"
            );
            assert!(
                after.patrons[&debt.patron_id]
                    .unsettled_lost
                    .contains(&item.item),
                "{context}: {}'s debt for {} blocks them",
                debt.patron_id,
                item.item
            );
        }
    }
}

/// What the random histories went through.
#[derive(Debug, Default)]
struct Explored {
    accepted: usize,
    /// Loans that brought a patron to their tier's limit.
    limits_reached: usize,
    /// The types of the events recorded.
    event_types: BTreeSet<&'static str>,
}

/// Runs `runs` random histories of `steps` commands, checking `invariant` after each accepted one.
fn explore(runs: u64, steps: usize, invariant: Invariant) -> Explored {
    let patrons = [li_wei(), wang_fang()];
    let mut explored = Explored::default();
    for seed in 1..=runs {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut ledger = Ledger::from_events(&network_jinan_zibo());
        let mut history: Vec<Payload> = network_jinan_zibo();
        let mut at = t0();
        let mut bought = 0;
        let mut items: Vec<String> = ["JN-000002", "ZB-000123", "JN-B-0001"]
            .map(String::from)
            .to_vec();
        for step in 0..steps {
            at += Duration::hours([0, 1, 24, 24 * 10, 24 * 35][rng.below(5)]);
            let (library, command) =
                random_command(&mut rng, &ledger, &items, &patrons, &mut bought);
            let Ok(events) = decide(&ledger, &command, &context(at, library.as_deref())) else {
                continue;
            };
            explored.accepted += 1;
            let before = ledger.clone();
            for event in &events {
                explored
                    .event_types
                    .insert(codec::event_type(&event.payload));
                ledger.apply(&event.payload);
                history.push(event.payload.clone());
            }
            if let Command::PatronDrivenAcquisition { book, .. } = &command {
                items.push(book.item.clone().into());
            }
            let context = format!("seed {seed} step {step} {command:?} at {library:?}");
            invariant(&before, &ledger, &command, at, &context);
            if let Command::Checkout { patron, .. }
            | Command::PatronDrivenAcquisition { patron, .. } = &command
            {
                let patron = &ledger.patrons[&patron.patron_id];
                if patron.loans.len() == loan_limit(patron.tier) {
                    explored.limits_reached += 1;
                }
            }
        }
        assert_eq!(
            Ledger::from_events(&history),
            ledger,
            "seed {seed}: replay equals the fold"
        );
    }
    explored
}

#[test]
fn random_histories_keep_loans_consistent_and_within_limits() {
    let explored = explore(300, 80, loan_invariants);
    assert!(
        explored.accepted > 300 * 80 / 10,
        "too few commands accepted: {explored:?}"
    );
    assert!(
        explored.limits_reached > 0,
        "no patron ever reached a limit: {explored:?}"
    );
    let every_item_and_patron_event: BTreeSet<&str> = [
        "PatronEnrolled",
        "PatronTierChanged",
        "ItemCatalogued",
        "ItemLoaned",
        "ItemRenewed",
        "ItemReturned",
        "TransferDispatched",
        "TransferReceived",
        "BoothSwapped",
        "ItemDeclaredLost",
        "LostItemPaid",
        "LostItemDebtWaived",
        "ItemWithdrawn",
        "PatronDrivenPurchaseRecorded",
    ]
    .into();
    assert_eq!(explored.event_types, every_item_and_patron_event);
}

#[test]
fn random_histories_keep_each_lost_debt_with_its_debtor() {
    explore(300, 80, debt_invariants);
}
