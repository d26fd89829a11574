//! The fold, statements and closing rules, given histories decided by the real domain rules.

mod common;

use common::*;
use readnet_domain::pb::{ChargeKind as PbKind, TransferReason};
use readnet_domain::{Command, Fen, HoldTarget};
use readnet_ledger::history::card;
use readnet_projection::Projection;
use readnet_projection::{Position, Revision};
use readnet_settlement::{
    ChargeKind, CityNet, CloseDecision, CloseRefusal, Period, PlannedClose, Settlement,
    StatementError, StatementLine, StatementStatus,
};

fn p(s: &str) -> Period {
    s.parse().unwrap()
}

fn line(
    debtor: &str,
    creditor: &str,
    kind: ChargeKind,
    adjustment_of: Option<&str>,
    count: u64,
    amount_fen: i64,
) -> StatementLine {
    StatementLine {
        debtor: debtor.into(),
        creditor: creditor.into(),
        kind,
        adjustment_of: adjustment_of.map(p),
        count,
        amount_fen: Fen(amount_fen),
    }
}

fn nets(pairs: &[(&str, i64)]) -> Vec<CityNet> {
    pairs
        .iter()
        .map(|&(city, net_fen)| CityNet {
            city: city.into(),
            net_fen: Fen(net_fen),
        })
        .collect()
}

/// domain.md's worked example: a Jinan patron borrows a Zibo book at Zibo central, returns it
/// at a Jinan branch, and the branch ships it home.
fn worked_example() -> readnet_ledger::history::History {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-000123",
        ZB_CENTRAL,
        Some(3900),
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 3, 10, 0),
        ZB_CENTRAL,
        "ZB-000123",
        "jinan",
    );
    return_at(
        &mut h,
        shanghai(2026, 11, 12, 15, 0),
        JN_BRANCH,
        "ZB-000123",
    );
    dispatch(
        &mut h,
        shanghai(2026, 11, 13, 9, 0),
        JN_BRANCH,
        "ZB-000123",
        ZB_CENTRAL,
        TransferReason::Repatriation,
    );
    h
}

#[test]
fn worked_example_nets_jinan_plus_750_and_zibo_minus_750() {
    let h = worked_example();
    let state = fold(h.events());
    let statement = state.statement(p("2026-11")).unwrap();
    assert_eq!(
        statement.lines,
        [
            line("jinan", "zibo", ChargeKind::Loan, None, 1, 100),
            line("zibo", "jinan", ChargeKind::Return, None, 1, 50),
            line("zibo", "jinan", ChargeKind::Shipping, None, 1, 800),
        ]
    );
    assert_eq!(statement.nets, nets(&[("jinan", 750), ("zibo", -750)]));
    assert_eq!(statement.status, StatementStatus::Provisional);
    let positions: Vec<Position> = h
        .events()
        .iter()
        .rev()
        .take(3)
        .map(|e| e.position)
        .collect();
    assert_eq!(statement.first_position, Some(positions[2]));
    assert_eq!(statement.last_position, Some(positions[0]));
    assert_eq!(
        (statement.through_position, statement.close_position),
        (None, None)
    );
    assert!(
        state.statement(p("2026-10")).unwrap().lines.is_empty(),
        "cataloguing charges nothing"
    );
}

#[test]
fn a_line_drills_down_to_the_events_behind_it() {
    let h = worked_example();
    let state = fold(h.events());
    let dispatch = h.events().last().unwrap();
    let charges = state.line_charges(
        p("2026-11"),
        "zibo",
        "jinan",
        ChargeKind::Shipping,
        p("2026-11"),
    );
    assert_eq!(charges.len(), 1);
    let charge = charges[0];
    assert_eq!(charge.position, dispatch.position);
    assert_eq!(charge.event_id, dispatch.event_id);
    assert_eq!(charge.item, "ZB-000123");
    assert_eq!(charge.amount_fen, Fen(800));
    assert_eq!(
        charge.occurred_at_us,
        dispatch.occurred_at.timestamp_micros()
    );
    assert!(!charge.adjustment);
    assert!(
        state
            .line_charges(
                p("2026-11"),
                "jinan",
                "zibo",
                ChargeKind::Shipping,
                p("2026-11")
            )
            .is_empty()
    );
}

#[test]
fn the_canonical_encoding_is_the_documented_json() {
    let mut h = worked_example();
    let mut state = Settlement::default();
    close(&mut h, &mut state, "2026-11", shanghai(2026, 12, 1, 0, 0));
    let statement = state.statement(p("2026-11")).unwrap();
    let expected = concat!(
        r#"{"period":"2026-11","status":"final","through_position":11,"close_position":12,"#,
        r#""first_position":9,"last_position":11,"#,
        r#""lines":[{"debtor":"jinan","creditor":"zibo","kind":"loan","adjustment_of":null,"count":1,"amount_fen":100},"#,
        r#"{"debtor":"zibo","creditor":"jinan","kind":"return","adjustment_of":null,"count":1,"amount_fen":50},"#,
        r#"{"debtor":"zibo","creditor":"jinan","kind":"shipping","adjustment_of":null,"count":1,"amount_fen":800}],"#,
        r#""nets":[{"city":"jinan","net_fen":750},{"city":"zibo","net_fen":-750}]}"#,
    );
    assert_eq!(
        String::from_utf8(statement.canonical_bytes()).unwrap(),
        expected
    );
    use sha2::Digest;
    assert_eq!(
        statement.digest(),
        hex::encode(sha2::Sha256::digest(expected.as_bytes()))
    );
}

#[test]
fn a_tariff_change_mid_month_prices_events_before_and_after_it_differently() {
    let mut h = network();
    // Set on 1 November, in force from 15 November.
    set_tariff(
        &mut h,
        shanghai(2026, 11, 1, 9, 0),
        PbKind::Loan,
        150,
        shanghai(2026, 11, 15, 0, 0),
    );
    for item in ["ZB-1", "ZB-2"] {
        catalogue(&mut h, shanghai(2026, 10, 2, 9, 0), item, ZB_CENTRAL, None);
    }
    checkout(
        &mut h,
        shanghai(2026, 11, 14, 23, 59),
        ZB_CENTRAL,
        "ZB-1",
        "jinan",
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 15, 0, 0),
        ZB_CENTRAL,
        "ZB-2",
        "jinan",
    );
    let state = fold(h.events());
    let amounts: Vec<i64> = state
        .charges(p("2026-11"))
        .iter()
        .map(|c| c.amount_fen.get())
        .collect();
    assert_eq!(amounts, [100, 150]);
    assert_eq!(
        state.statement(p("2026-11")).unwrap().lines,
        [line("jinan", "zibo", ChargeKind::Loan, None, 2, 250)]
    );
}

#[test]
fn a_tariff_recorded_after_an_event_does_not_reprice_it() {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-1",
        ZB_CENTRAL,
        None,
    );
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-2",
        ZB_CENTRAL,
        None,
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 10, 9, 0),
        ZB_CENTRAL,
        "ZB-1",
        "jinan",
    );
    // Recorded on the 20th, backdated to the 1st: charges made before it was recorded stand.
    // The rules refuse such a tariff today (it takes effect from now on); a log written before
    // that rule may still hold one, so it is pushed by hand.
    h.push(
        shanghai(2026, 11, 20, 9, 0),
        "network",
        readnet_projection::Payload::TariffSet(readnet_projection::pb::TariffSet {
            kind: PbKind::Loan as i32,
            amount_fen: 150,
            effective_from_us: shanghai(2026, 11, 1, 0, 0).timestamp_micros(),
        }),
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 21, 9, 0),
        ZB_CENTRAL,
        "ZB-2",
        "jinan",
    );
    let amounts: Vec<i64> = fold(h.events())
        .charges(p("2026-11"))
        .iter()
        .map(|c| c.amount_fen.get())
        .collect();
    assert_eq!(amounts, [100, 150]);
}

#[test]
fn loans_and_returns_within_the_owner_city_charge_nothing() {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-1",
        ZB_CENTRAL,
        None,
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 3, 9, 0),
        ZB_CENTRAL,
        "ZB-1",
        "zibo",
    );
    return_at(&mut h, shanghai(2026, 11, 4, 9, 0), ZB_BRANCH, "ZB-1");
    dispatch(
        &mut h,
        shanghai(2026, 11, 5, 9, 0),
        ZB_BRANCH,
        "ZB-1",
        ZB_CENTRAL,
        TransferReason::Repatriation,
    );
    let state = fold(h.events());
    assert!(state.charges(p("2026-11")).is_empty());
    assert_eq!(state.first_charged(), None);
}

#[test]
fn a_hold_transfer_is_owed_by_the_destination_city_to_the_dispatching_city() {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "JN-1",
        JN_CENTRAL,
        None,
    );
    // A Zibo reader's hold on it, for pickup at the Zibo branch: a hold leg needs one.
    h.run(
        shanghai(2026, 11, 5, 8, 0),
        None,
        Command::PlaceHold {
            patron: card("zibo", "0003"),
            target: HoldTarget::Item("JN-1".into()),
            pickup_library: ZB_BRANCH.into(),
        },
    );
    dispatch(
        &mut h,
        shanghai(2026, 11, 5, 9, 0),
        JN_CENTRAL,
        "JN-1",
        ZB_BRANCH,
        TransferReason::Hold,
    );
    let state = fold(h.events());
    assert_eq!(
        state.statement(p("2026-11")).unwrap().lines,
        [line("zibo", "jinan", ChargeKind::Shipping, None, 1, 800)]
    );
}

#[test]
fn a_patron_driven_acquisition_for_a_patron_of_another_city_is_a_cross_city_loan() {
    let mut h = network();
    h.run(
        shanghai(2026, 11, 5, 9, 0),
        Some(ZB_CENTRAL),
        Command::PatronDrivenAcquisition {
            bookstore: None,
            patron: card("jinan", "0002"),
            book: book("ZB-NEW-1", Some(4200)),
        },
    );
    assert_eq!(
        fold(h.events()).statement(p("2026-11")).unwrap().lines,
        [line("jinan", "zibo", ChargeKind::Loan, None, 1, 100)]
    );
}

#[test]
fn a_shared_ebook_lent_to_another_citys_reader_is_a_digital_charge_by_the_tariff() {
    let mut h = network();
    let licensed =
        |h: &mut readnet_ledger::history::History, resource: &str, owner: Option<&str>| {
            h.run(
                shanghai(2026, 11, 1, 9, 0),
                None,
                Command::LicenseEResource {
                    resource: resource.into(),
                    title: "骆驼祥子".into(),
                    kind: readnet_domain::pb::EResourceKind::Ebook,
                    owner_library: owner.map(Into::into),
                    shared: true,
                    licences: 3,
                    loan_days: 14,
                },
            );
        };
    licensed(&mut h, "EB-ZB", Some(ZB_CENTRAL));
    licensed(&mut h, "EB-NET", None);
    let borrow =
        |h: &mut readnet_ledger::history::History, day: u32, resource: &str, number: &str| {
            h.run(
                shanghai(2026, 11, day, 9, 0),
                Some(JN_CENTRAL),
                Command::BorrowDigital {
                    resource: resource.into(),
                    patron: card("jinan", number),
                },
            );
        };
    // At the default tariff (0 fen) the use is counted at no cost; from the 10th, 50 fen.
    borrow(&mut h, 3, "EB-ZB", "0001");
    set_tariff(
        &mut h,
        shanghai(2026, 11, 9, 9, 0),
        PbKind::Digital,
        50,
        shanghai(2026, 11, 10, 0, 0),
    );
    borrow(&mut h, 12, "EB-ZB", "0002");
    // The network's own resource and a reader of the owner's city make no charge.
    borrow(&mut h, 12, "EB-NET", "0003");
    h.run(
        shanghai(2026, 11, 12, 10, 0),
        Some(ZB_CENTRAL),
        Command::BorrowDigital {
            resource: "EB-ZB".into(),
            patron: card("zibo", "0004"),
        },
    );
    assert_eq!(
        fold(h.events()).statement(p("2026-11")).unwrap().lines,
        [line("jinan", "zibo", ChargeKind::Digital, None, 2, 50)]
    );
}

#[test]
fn a_lost_item_costs_its_price_or_the_lost_tariff_when_unpriced() {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-PRICED",
        ZB_CENTRAL,
        Some(4500),
    );
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-UNPRICED",
        ZB_CENTRAL,
        None,
    );
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-LOCAL",
        ZB_CENTRAL,
        Some(2000),
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 2, 9, 0),
        ZB_CENTRAL,
        "ZB-PRICED",
        "jinan",
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 2, 9, 0),
        ZB_CENTRAL,
        "ZB-UNPRICED",
        "jinan",
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 2, 9, 0),
        ZB_CENTRAL,
        "ZB-LOCAL",
        "zibo",
    );
    declare_lost(
        &mut h,
        shanghai(2026, 11, 20, 9, 0),
        ZB_CENTRAL,
        "ZB-PRICED",
    );
    declare_lost(
        &mut h,
        shanghai(2026, 11, 20, 9, 0),
        ZB_CENTRAL,
        "ZB-UNPRICED",
    );
    // Lent within its owner's city: the loss is the patron's business, not Jinan's or Zibo's.
    declare_lost(&mut h, shanghai(2026, 11, 20, 9, 0), ZB_CENTRAL, "ZB-LOCAL");
    let state = fold(h.events());
    let lost: Vec<(String, i64)> = state
        .charges(p("2026-11"))
        .iter()
        .filter(|c| c.kind == ChargeKind::Lost)
        .map(|c| (String::from(c.item.clone()), c.amount_fen.get()))
        .collect();
    assert_eq!(
        lost,
        [("ZB-PRICED".into(), 4500), ("ZB-UNPRICED".into(), 3000)]
    );
    assert_eq!(
        state.statement(p("2026-11")).unwrap().lines,
        [
            line("jinan", "zibo", ChargeKind::Loan, None, 2, 200),
            line("jinan", "zibo", ChargeKind::Lost, None, 2, 7500),
        ]
    );
}

#[test]
fn an_unpriced_lost_item_costs_the_lost_tariff_in_force() {
    let mut h = network();
    set_tariff(
        &mut h,
        shanghai(2026, 10, 1, 9, 0),
        PbKind::Lost,
        2500,
        shanghai(2026, 11, 1, 0, 0),
    );
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-1",
        ZB_CENTRAL,
        None,
    );
    checkout(
        &mut h,
        shanghai(2026, 10, 20, 9, 0),
        ZB_CENTRAL,
        "ZB-1",
        "jinan",
    );
    declare_lost(&mut h, shanghai(2026, 11, 20, 9, 0), ZB_CENTRAL, "ZB-1");
    let state = fold(h.events());
    let lost = &state.charges(p("2026-11"))[0];
    assert_eq!((lost.kind, lost.amount_fen), (ChargeKind::Lost, Fen(2500)));
}

#[test]
fn periods_are_cut_at_midnight_in_shanghai() {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-1",
        ZB_CENTRAL,
        None,
    );
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-2",
        ZB_CENTRAL,
        None,
    );
    // 30 November 23:59 and 1 December 00:00 local time; both are 30 November in UTC.
    checkout(
        &mut h,
        shanghai(2026, 11, 30, 23, 59),
        ZB_CENTRAL,
        "ZB-1",
        "jinan",
    );
    checkout(
        &mut h,
        shanghai(2026, 12, 1, 0, 0),
        ZB_CENTRAL,
        "ZB-2",
        "jinan",
    );
    let state = fold(h.events());
    assert_eq!(state.charges(p("2026-11")).len(), 1);
    assert_eq!(state.charges(p("2026-12")).len(), 1);
}

#[test]
fn a_late_event_for_a_closed_period_is_an_adjustment_in_the_first_open_period() {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-1",
        ZB_CENTRAL,
        None,
    );
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-2",
        ZB_CENTRAL,
        None,
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 3, 10, 0),
        ZB_CENTRAL,
        "ZB-1",
        "jinan",
    );
    let mut state = Settlement::default();
    close(&mut h, &mut state, "2026-11", shanghai(2026, 12, 1, 8, 0));
    let final_november = state.statement(p("2026-11")).unwrap();
    let (bytes, digest) = (final_november.canonical_bytes(), final_november.digest());
    assert_eq!(final_november.status, StatementStatus::Final);

    // An offline kiosk in Jinan syncs a return of 28 November on 3 December.
    h.try_run_recorded_at(
        shanghai(2026, 11, 28, 16, 0),
        shanghai(2026, 12, 3, 9, 0),
        Some(JN_BRANCH),
        Command::Return {
            item: "ZB-1".into(),
        },
    )
    .unwrap();
    // And one of 20 October, a month before the first close, which had no charges.
    h.try_run_recorded_at(
        shanghai(2026, 10, 20, 16, 0),
        shanghai(2026, 12, 3, 9, 5),
        Some(ZB_CENTRAL),
        Command::Checkout {
            item: "ZB-2".into(),
            patron: card("jinan", "0001"),
        },
    )
    .unwrap();
    dispatch(
        &mut h,
        shanghai(2026, 12, 4, 9, 0),
        JN_BRANCH,
        "ZB-1",
        ZB_CENTRAL,
        TransferReason::Repatriation,
    );
    fold_into(&mut state, h.events());

    let november = state.statement(p("2026-11")).unwrap();
    assert_eq!(
        november.canonical_bytes(),
        bytes,
        "a final statement never changes"
    );
    assert_eq!(november.digest(), digest);
    let december = state.statement(p("2026-12")).unwrap();
    assert_eq!(december.status, StatementStatus::Provisional);
    assert_eq!(
        december.lines,
        [
            line("jinan", "zibo", ChargeKind::Loan, Some("2026-10"), 1, 100),
            line("zibo", "jinan", ChargeKind::Return, Some("2026-11"), 1, 50),
            line("zibo", "jinan", ChargeKind::Shipping, None, 1, 800),
        ]
    );
    assert_eq!(december.nets, nets(&[("jinan", 750), ("zibo", -750)]));
    let late = &state.line_charges(
        p("2026-12"),
        "zibo",
        "jinan",
        ChargeKind::Return,
        p("2026-11"),
    )[0];
    assert!(late.adjustment);
    assert_eq!(late.original_period, p("2026-11"));
    assert!(state.statement(p("2026-10")).unwrap().lines.is_empty());
    assert_eq!(
        state.statement(p("2026-10")).unwrap().status,
        StatementStatus::Final
    );
}

#[test]
fn events_recorded_between_the_decision_and_the_close_are_left_to_the_next_period() {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-1",
        ZB_CENTRAL,
        None,
    );
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-2",
        ZB_CENTRAL,
        None,
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 3, 10, 0),
        ZB_CENTRAL,
        "ZB-1",
        "jinan",
    );
    let mut state = fold(h.events());
    let CloseDecision::Close(planned) = state
        .check_close("2026-11", shanghai(2026, 12, 1, 8, 0))
        .unwrap()
    else {
        panic!("November is open")
    };
    // A late November loan lands after the decision, before the close is recorded.
    h.try_run_recorded_at(
        shanghai(2026, 11, 29, 10, 0),
        shanghai(2026, 12, 1, 8, 0),
        Some(ZB_CENTRAL),
        Command::Checkout {
            item: "ZB-2".into(),
            patron: card("jinan", "0001"),
        },
    )
    .unwrap();
    h.push(
        shanghai(2026, 12, 1, 8, 0),
        "settlement",
        planned_payload(&planned),
    );
    fold_into(&mut state, h.events());
    let november = state.statement(p("2026-11")).unwrap();
    assert_eq!(november.through_position, Some(planned.through_position));
    assert!(
        state
            .charges(p("2026-11"))
            .iter()
            .all(|c| c.position <= planned.through_position)
    );
    assert_eq!(
        november.lines,
        [line("jinan", "zibo", ChargeKind::Loan, None, 1, 100)]
    );
    assert_eq!(
        state.statement(p("2026-12")).unwrap().lines,
        [line(
            "jinan",
            "zibo",
            ChargeKind::Loan,
            Some("2026-11"),
            1,
            100
        )]
    );
}

fn planned_payload(planned: &PlannedClose) -> readnet_projection::Payload {
    readnet_projection::Payload::SettlementPeriodClosed(planned.event())
}

#[test]
fn a_repeated_or_backdated_close_event_changes_nothing() {
    let mut h = worked_example();
    let mut state = Settlement::default();
    close(&mut h, &mut state, "2026-11", shanghai(2026, 12, 1, 0, 0));
    let before = state.statement(p("2026-11")).unwrap();
    let original = state.close_of(p("2026-11")).unwrap().clone();
    let october = state.statement(p("2026-10")).unwrap();
    let at = shanghai(2026, 12, 2, 0, 0);
    h.push(at, "settlement", closed("2026-11", 1));
    h.push(at, "settlement", closed("2026-10", 1));
    fold_into(&mut state, h.events());
    assert_eq!(state.close_of(p("2026-11")), Some(&original));
    assert_eq!(state.statement(p("2026-11")).unwrap(), before);
    assert_eq!(state.close_of(p("2026-10")), None);
    assert_eq!(state.statement(p("2026-10")).unwrap(), october);
    assert_eq!(state.settlement_revision(), Some(Revision::new(2)));
}

// ---- closing rules ----

#[test]
fn closing_needs_a_charged_month_first() {
    let state = fold(network().events());
    let refusal = state
        .check_close("2026-10", shanghai(2026, 12, 1, 0, 0))
        .unwrap_err();
    assert!(matches!(refusal, CloseRefusal::NothingCharged { .. }));
    assert!(
        refusal.to_string().contains("no period has any charge yet"),
        "{refusal}"
    );
}

#[test]
fn a_month_before_the_first_charged_one_cannot_close_first() {
    let state = fold(worked_example().events());
    let refusal = state
        .check_close("2026-10", shanghai(2026, 12, 5, 0, 0))
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "period: 2026-10 cannot be closed yet: periods close in calendar order starting with the first month that has a charge, 2026-11; close 2026-11 first"
    );
}

#[test]
fn a_month_closes_only_once_it_has_ended_in_shanghai() {
    let state = fold(worked_example().events());
    let refusal = state
        .check_close("2026-11", shanghai(2026, 11, 30, 23, 59))
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "period: 2026-11 has not ended: it ends at 2026-12-01T00:00:00+08:00 (Asia/Shanghai) and it is 2026-11-30T23:59:00+08:00; a period can be closed only once it has ended"
    );
    assert_eq!(
        state.check_close("2026-11", shanghai(2026, 12, 1, 0, 0)),
        Ok(CloseDecision::Close(PlannedClose {
            period: p("2026-11"),
            through_position: state.position(),
            expected_revision: None,
        }))
    );
}

#[test]
fn months_close_in_calendar_order_including_empty_ones() {
    let mut h = worked_example();
    let mut state = Settlement::default();
    close(&mut h, &mut state, "2026-11", shanghai(2026, 12, 1, 0, 0));
    let now = shanghai(2027, 2, 1, 0, 0);
    let refusal = state.check_close("2027-01", now).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "period: 2027-01 cannot be closed yet: periods close in calendar order and 2026-11 is the last closed period; close 2026-12 first"
    );
    // December has no charge, and closes all the same, with the next expected revision.
    assert!(matches!(
        state.check_close("2026-12", now),
        Ok(CloseDecision::Close(PlannedClose {
            expected_revision: Some(Revision::FIRST),
            ..
        }))
    ));
    close(&mut h, &mut state, "2026-12", now);
    close(&mut h, &mut state, "2027-01", now);
    let refusal = state.check_close("2026-10", now).unwrap_err();
    assert!(
        matches!(refusal, CloseRefusal::BeforeFirstClose { .. }),
        "{refusal:?}"
    );
    assert!(
        refusal
            .to_string()
            .contains("precedes the first closed period 2026-11")
    );
}

#[test]
fn closing_a_closed_month_again_returns_the_original_close() {
    let mut h = worked_example();
    let mut state = Settlement::default();
    close(&mut h, &mut state, "2026-11", shanghai(2026, 12, 1, 0, 0));
    let close_event = h.events().last().unwrap().position;
    h.run(
        shanghai(2026, 12, 2, 9, 0),
        Some(ZB_CENTRAL),
        Command::ReceiveTransfer {
            item: "ZB-000123".into(),
        },
    );
    checkout(
        &mut h,
        shanghai(2026, 12, 3, 9, 0),
        ZB_CENTRAL,
        "ZB-000123",
        "jinan",
    );
    fold_into(&mut state, h.events());
    assert_eq!(state.charges(p("2026-12")).len(), 1);
    let Ok(CloseDecision::AlreadyClosed(original)) =
        state.check_close("2026-11", shanghai(2027, 6, 1, 0, 0))
    else {
        panic!("November is closed")
    };
    assert_eq!(original.period, p("2026-11"));
    assert_eq!(Some(original.through_position), close_event.previous());
    assert_eq!(original.close_position, close_event);
    // Even "before it ended" by a skewed clock: a closed period stays closed.
    assert!(matches!(
        state.check_close("2026-11", shanghai(2026, 11, 2, 0, 0)),
        Ok(CloseDecision::AlreadyClosed(_))
    ));
}

#[test]
fn a_malformed_period_is_refused_as_such() {
    let state = fold(worked_example().events());
    for bad in ["2026-13", "2026-1", "november", ""] {
        let refusal = state
            .check_close(bad, shanghai(2027, 1, 1, 0, 0))
            .unwrap_err();
        assert!(
            matches!(refusal, CloseRefusal::InvalidPeriod(_)),
            "{bad:?}: {refusal:?}"
        );
        assert!(refusal.to_string().starts_with("period: "), "{refusal}");
    }
}

#[test]
fn the_state_survives_a_json_round_trip() {
    let mut h = worked_example();
    let mut state = Settlement::default();
    close(&mut h, &mut state, "2026-11", shanghai(2026, 12, 1, 0, 0));
    let json = serde_json::to_string(&state).unwrap();
    let restored: Settlement = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, state);
    assert_eq!(
        readnet_projection::digest(&restored),
        readnet_projection::digest(&state)
    );
}

#[test]
fn a_log_with_prices_beyond_the_bound_makes_that_periods_statement_an_error_not_a_crash() {
    let h = out_of_bound_prices();
    let state = fold(h.events());
    let first_lost = lost_positions(&h)[0];
    let error = state.statement(p("2026-11")).unwrap_err();
    assert_eq!(
        error,
        StatementError::Overflow {
            period: p("2026-11"),
            line: "jinan owes zibo for lost".into(),
            what: "the net of zibo".into(),
            position: Position::new(first_lost),
            amount_fen: Fen(i64::MAX),
        }
    );
    assert_eq!(error.period(), p("2026-11"));
    let message = error.to_string();
    assert!(
        message.starts_with("settlement 2026-11: the statement cannot be computed")
            && message.contains("on the line jinan owes zibo for lost"),
        "{message}"
    );
    // The other periods are unaffected.
    let october = state.statement(p("2026-10")).unwrap();
    assert_eq!(
        october.lines,
        [line("jinan", "zibo", ChargeKind::Loan, None, 1, 100)]
    );
    let december = state.statement(p("2026-12")).unwrap();
    assert_eq!(december.nets, nets(&[("jinan", -100), ("zibo", 100)]));
}

#[test]
fn a_line_that_overflows_before_any_net_names_the_line() {
    // Lent in October, lost in November: November holds the two lost charges only, so the
    // line overflows at the second one while each city's net still fits.
    let mut h = network();
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
        1,
    );
    for item in ["ZB-000900", "ZB-000901"] {
        checkout(
            &mut h,
            shanghai(2026, 10, 3, 10, 0),
            ZB_CENTRAL,
            item,
            "jinan",
        );
    }
    for item in ["ZB-000900", "ZB-000901"] {
        declare_lost(&mut h, shanghai(2026, 11, 20, 10, 0), ZB_CENTRAL, item);
    }
    let state = fold(h.events());
    assert_eq!(
        state.statement(p("2026-11")).unwrap_err(),
        StatementError::Overflow {
            period: p("2026-11"),
            line: "jinan owes zibo for lost".into(),
            what: "the line's amount".into(),
            position: Position::new(lost_positions(&h)[1]),
            amount_fen: Fen(1),
        }
    );
    assert!(state.statement(p("2026-10")).is_ok());
}

#[test]
fn a_period_whose_statement_cannot_be_computed_does_not_close() {
    let mut h = out_of_bound_prices();
    let mut state = Settlement::default();
    close(&mut h, &mut state, "2026-10", shanghai(2026, 12, 2, 9, 0));
    let refusal = state
        .check_close("2026-11", shanghai(2026, 12, 2, 9, 0))
        .unwrap_err();
    let CloseRefusal::Uncomputable { period, error } = &refusal else {
        panic!("{refusal}");
    };
    assert_eq!(*period, p("2026-11"));
    assert_eq!(error.period(), p("2026-11"));
    assert!(
        refusal.to_string().starts_with(
            "period: 2026-11 cannot be closed: settlement 2026-11: the statement cannot be computed"
        ),
        "{refusal}"
    );
    assert!(state.close_of(p("2026-11")).is_none());
}

#[test]
fn a_log_that_closed_an_uncomputable_period_still_replays() {
    // An older version closed November although its statement overflowed; the close is in
    // the log for ever. Folding it answers an error for November and the rest as usual.
    let mut h = out_of_bound_prices();
    let december_loan = h.events().last().unwrap().position.get();
    h.push(
        shanghai(2026, 12, 2, 9, 0),
        "settlement",
        closed("2026-10", december_loan),
    );
    let through = h.events().last().unwrap().position.get();
    h.push(
        shanghai(2026, 12, 2, 9, 1),
        "settlement",
        closed("2026-11", through),
    );
    let state = fold(h.events());
    assert!(state.statement(p("2026-10")).is_ok());
    let error = state.statement(p("2026-11")).unwrap_err();
    assert_eq!(error.period(), p("2026-11"));
    let december = state.statement(p("2026-12")).unwrap();
    assert_eq!(december.status, StatementStatus::Provisional);
    assert_eq!(december.nets, nets(&[("jinan", -100), ("zibo", 100)]));
}

#[test]
fn a_tariff_beyond_the_bound_in_the_log_makes_its_statement_an_error() {
    let mut h = network();
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-000123",
        ZB_CENTRAL,
        Some(3900),
    );
    catalogue(
        &mut h,
        shanghai(2026, 10, 2, 9, 0),
        "ZB-000124",
        ZB_CENTRAL,
        Some(3900),
    );
    // As a version without a bound on tariffs would have recorded it.
    h.push(
        shanghai(2026, 11, 1, 9, 0),
        "network",
        readnet_projection::Payload::TariffSet(readnet_projection::pb::TariffSet {
            kind: PbKind::Loan as i32,
            amount_fen: i64::MAX - 1,
            effective_from_us: shanghai(2026, 11, 1, 9, 0).timestamp_micros(),
        }),
    );
    checkout(
        &mut h,
        shanghai(2026, 10, 20, 10, 0),
        ZB_CENTRAL,
        "ZB-000123",
        "jinan",
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 3, 10, 0),
        ZB_CENTRAL,
        "ZB-000124",
        "jinan",
    );
    return_at(
        &mut h,
        shanghai(2026, 11, 4, 10, 0),
        ZB_CENTRAL,
        "ZB-000123",
    );
    checkout(
        &mut h,
        shanghai(2026, 11, 5, 10, 0),
        ZB_CENTRAL,
        "ZB-000123",
        "jinan",
    );
    let state = fold(h.events());
    assert_eq!(
        state.statement(p("2026-10")).unwrap().lines,
        [line("jinan", "zibo", ChargeKind::Loan, None, 1, 100)]
    );
    match state.statement(p("2026-11")).unwrap_err() {
        StatementError::Overflow {
            period,
            line,
            what,
            amount_fen,
            ..
        } => {
            assert_eq!(period, p("2026-11"));
            assert_eq!(line, "jinan owes zibo for loan");
            assert_eq!(what, "the line's amount");
            assert_eq!(amount_fen, Fen(i64::MAX - 1));
        }
        other => panic!("{other}"),
    }
}
