//! Given these events, then this state: one test per event type and path.

use readnet_availability::{Availability, Counts, Place};
use readnet_domain::pb::{Acquisition, ItemStatus, TransferReason};
use readnet_domain::{Command, Fen};
use readnet_projection::Projection;

use crate::support::*;
use readnet_projection::{Position, Revision};

#[test]
fn cataloguing_puts_a_copy_on_its_owners_shelf() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    let state = net.fold();

    let item = state.item("JN-0001").unwrap();
    assert_eq!(
        item.place,
        Place::OnShelf {
            library: "JN-CENTRAL".into(),
            homebound: false,
            held: false,
        }
    );
    assert_eq!(item.title_key, SANTI_KEY);
    assert_eq!(item.acquisition, Acquisition::Purchase as i32);
    assert_eq!(state.counts(SANTI_KEY, "JN-CENTRAL"), counts(1, 0, 0, 0, 0));
    assert_eq!(state.library_totals("JN-CENTRAL"), counts(1, 0, 0, 0, 0));
    assert_eq!(
        state.title(SANTI_KEY).unwrap().network,
        counts(1, 0, 0, 0, 0)
    );
    assert_eq!(state.statuses().on_shelf, 1);
    assert_eq!(
        state.position(),
        Position::new(net.history.events().len() as u64)
    );
}

#[test]
fn a_book_catalogued_by_a_booth_is_in_its_stock() {
    let mut net = Net::new();
    net.catalogue("ZB-BOOTH-01", santi("ZB-B-0001"));
    let state = net.fold();
    assert_eq!(
        state.item("ZB-B-0001").unwrap().place,
        Place::InBooth {
            booth: "ZB-BOOTH-01".into()
        }
    );
    assert_eq!(
        state.booth_items("ZB-BOOTH-01").collect::<Vec<_>>(),
        ["ZB-B-0001"]
    );
    assert_eq!(
        state.counts(SANTI_KEY, "ZB-BOOTH-01"),
        counts(0, 0, 0, 0, 1)
    );
}

#[test]
fn a_loan_moves_the_copy_from_the_shelf_to_on_loan_at_the_lending_library() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.checkout("JN-CENTRAL", "JN-0001", li_wei());
    let state = net.fold();

    let due_at_us = match &net.history.ledger().items["JN-0001"].status {
        readnet_domain::ItemStatus::OnLoan { due_at, .. } => due_at.timestamp_micros(),
        other => panic!("the domain says {other:?}"),
    };
    assert_eq!(
        state.item("JN-0001").unwrap().place,
        Place::OnLoan {
            library: "JN-CENTRAL".into(),
            due_at_us,
            renewals: 0
        }
    );
    assert_eq!(state.counts(SANTI_KEY, "JN-CENTRAL"), counts(0, 0, 1, 0, 0));
    assert_eq!(state.statuses().on_loan, 1);
    assert_eq!(state.statuses().on_shelf, 0);
}

#[test]
fn a_renewal_moves_the_due_date_and_no_count() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.checkout("JN-CENTRAL", "JN-0001", li_wei());
    let before = net.fold();
    net.at += chrono::Duration::days(20);
    net.by(
        "JN-CENTRAL",
        Command::Renew {
            item: "JN-0001".into(),
            patron: li_wei(),
        },
    );
    let state = net.fold();

    let (
        Place::OnLoan { due_at_us: was, .. },
        Place::OnLoan {
            due_at_us: now,
            renewals,
            ..
        },
    ) = (
        &before.item("JN-0001").unwrap().place,
        &state.item("JN-0001").unwrap().place,
    )
    else {
        panic!("on loan before and after");
    };
    assert_eq!(*renewals, 1);
    assert_eq!(
        now - was,
        20 * 86_400 * 1_000_000,
        "30 days from the renewal"
    );
    assert_eq!(state.counts(SANTI_KEY, "JN-CENTRAL"), counts(0, 0, 1, 0, 0));
    assert_eq!(state.item("JN-0001").unwrap().revision, Revision::new(2));
}

#[test]
fn a_return_at_the_owner_puts_the_copy_back_on_its_shelf() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.checkout("JN-CENTRAL", "JN-0001", li_wei());
    net.return_at("JN-CENTRAL", "JN-0001");
    let state = net.fold();
    assert_eq!(
        state.item("JN-0001").unwrap().place,
        Place::OnShelf {
            library: "JN-CENTRAL".into(),
            homebound: false,
            held: false,
        }
    );
    assert_eq!(state.counts(SANTI_KEY, "JN-CENTRAL"), counts(1, 0, 0, 0, 0));
}

#[test]
fn a_return_in_another_city_leaves_a_homebound_copy_on_that_shelf() {
    let mut net = Net::new();
    net.catalogue("ZB-CENTRAL", santi("ZB-0001"));
    net.checkout("ZB-CENTRAL", "ZB-0001", li_wei());
    net.return_at("JN-CENTRAL", "ZB-0001");
    let state = net.fold();

    assert_eq!(
        state.item("ZB-0001").unwrap().place,
        Place::OnShelf {
            library: "JN-CENTRAL".into(),
            homebound: true,
            held: false,
        }
    );
    let at_jinan = state.counts(SANTI_KEY, "JN-CENTRAL");
    assert_eq!(at_jinan, counts(1, 1, 0, 0, 0));
    assert_eq!(at_jinan.lendable(), 0, "a homebound copy is not lent");
    assert_eq!(state.counts(SANTI_KEY, "ZB-CENTRAL"), Counts::default());
    assert!(
        state.library("ZB-CENTRAL").is_none(),
        "a library with no copies keeps no record"
    );
}

#[test]
fn a_floating_item_returned_in_its_owners_city_stays_where_returned() {
    let mut net = Net::new();
    net.catalogue("JN-LIXIA-01", santi("LX-0001"));
    net.checkout("JN-LIXIA-01", "LX-0001", li_wei());
    net.return_at("JN-CENTRAL", "LX-0001");
    let state = net.fold();
    assert_eq!(
        state.item("LX-0001").unwrap().place,
        Place::OnShelf {
            library: "JN-CENTRAL".into(),
            homebound: false,
            held: false,
        }
    );
    assert_eq!(state.counts(SANTI_KEY, "JN-CENTRAL").lendable(), 1);
}

#[test]
fn a_floating_item_returned_in_another_city_still_goes_home() {
    let mut net = Net::new();
    net.catalogue("JN-LIXIA-01", santi("LX-0001"));
    net.checkout("JN-LIXIA-01", "LX-0001", li_wei());
    net.return_at("ZB-ZHOUCUN-07", "LX-0001");
    let state = net.fold();
    assert_eq!(
        state.counts(SANTI_KEY, "ZB-ZHOUCUN-07"),
        counts(1, 1, 0, 0, 0)
    );
}

#[test]
fn a_transfer_counts_in_transit_towards_its_destination_until_received() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.dispatch(
        "JN-CENTRAL",
        "JN-0001",
        "ZB-CENTRAL",
        TransferReason::Rebalance,
    );
    let in_transit = net.fold();
    assert_eq!(
        in_transit.item("JN-0001").unwrap().place,
        Place::InTransit {
            from: "JN-CENTRAL".into(),
            to: "ZB-CENTRAL".into(),
            reason: TransferReason::Rebalance as i32
        }
    );
    assert_eq!(
        in_transit.counts(SANTI_KEY, "ZB-CENTRAL"),
        counts(0, 0, 0, 1, 0)
    );
    assert_eq!(
        in_transit.counts(SANTI_KEY, "JN-CENTRAL"),
        Counts::default()
    );
    assert_eq!(in_transit.statuses().in_transit, 1);

    net.receive("ZB-CENTRAL", "JN-0001");
    let received = net.fold();
    assert_eq!(
        received.counts(SANTI_KEY, "ZB-CENTRAL"),
        counts(1, 0, 0, 0, 0)
    );
    assert_eq!(received.statuses().in_transit, 0);
}

#[test]
fn a_homebound_copy_sent_home_is_lendable_there_again() {
    let mut net = Net::new();
    net.catalogue("ZB-CENTRAL", santi("ZB-0001"));
    net.checkout("ZB-CENTRAL", "ZB-0001", li_wei());
    net.return_at("JN-CENTRAL", "ZB-0001");
    net.dispatch(
        "JN-CENTRAL",
        "ZB-0001",
        "ZB-CENTRAL",
        TransferReason::Repatriation,
    );
    let travelling = net.fold();
    assert_eq!(
        travelling.counts(SANTI_KEY, "JN-CENTRAL"),
        Counts::default()
    );
    assert_eq!(
        travelling.counts(SANTI_KEY, "ZB-CENTRAL"),
        counts(0, 0, 0, 1, 0)
    );

    net.receive("ZB-CENTRAL", "ZB-0001");
    let home = net.fold();
    assert_eq!(home.counts(SANTI_KEY, "ZB-CENTRAL"), counts(1, 0, 0, 0, 0));
    assert_eq!(home.counts(SANTI_KEY, "ZB-CENTRAL").lendable(), 1);
}

#[test]
fn a_restock_transfer_to_a_booth_puts_the_item_in_the_booths_stock() {
    let mut net = Net::new();
    net.stock_booth("ZB-CENTRAL", "ZB-BOOTH-01", santi("ZB-0001"));
    let state = net.fold();
    assert_eq!(
        state.item("ZB-0001").unwrap().place,
        Place::InBooth {
            booth: "ZB-BOOTH-01".into()
        }
    );
    assert_eq!(
        state.counts(SANTI_KEY, "ZB-BOOTH-01"),
        counts(0, 0, 0, 0, 1)
    );
    assert_eq!(
        state.booth_items("ZB-BOOTH-01").collect::<Vec<_>>(),
        ["ZB-0001"]
    );
    assert_eq!(state.statuses().in_booth, 1);
}

#[test]
fn a_booth_swap_takes_one_item_out_and_puts_the_deposit_in_the_booth() {
    let mut net = Net::new();
    net.stock_booth("ZB-CENTRAL", "ZB-BOOTH-01", santi("ZB-0001"));
    net.by(
        "ZB-BOOTH-01",
        Command::BoothSwap {
            take_item: "ZB-0001".into(),
            patron: wang_fang(),
            deposit: book("ZB-B-0001", "", "平凡的世界", "路遥"),
        },
    );
    let state = net.fold();

    assert_eq!(state.item("ZB-0001").unwrap().place, Place::ExchangedOut);
    let deposit = state.item("ZB-B-0001").unwrap();
    assert_eq!(
        deposit.place,
        Place::InBooth {
            booth: "ZB-BOOTH-01".into()
        }
    );
    assert_eq!(deposit.acquisition, Acquisition::BoothDeposit as i32);
    assert_eq!(deposit.owner_library, "ZB-BOOTH-01");
    assert_eq!(deposit.title_key, r#"text:["平凡的世界","路遥"]"#);
    assert_eq!(
        state.booth_items("ZB-BOOTH-01").collect::<Vec<_>>(),
        ["ZB-B-0001"]
    );
    assert_eq!(state.counts(SANTI_KEY, "ZB-BOOTH-01"), Counts::default());
    assert_eq!(state.library_totals("ZB-BOOTH-01"), counts(0, 0, 0, 0, 1));
    assert_eq!(state.statuses().exchanged_out, 1);
    assert_eq!(state.statuses().in_booth, 1);
}

#[test]
fn a_patron_driven_acquisition_is_on_loan_at_once_and_joins_the_shelf_when_returned() {
    let mut net = Net::new();
    net.by(
        "JN-LIXIA-01",
        Command::PatronDrivenAcquisition {
            bookstore: None,
            patron: li_wei(),
            book: santi("LX-P-0001"),
        },
    );
    let lent = net.fold();
    let item = lent.item("LX-P-0001").unwrap();
    assert_eq!(item.acquisition, Acquisition::PatronDriven as i32);
    assert!(matches!(&item.place, Place::OnLoan { library, .. } if library == "JN-LIXIA-01"));
    assert_eq!(lent.counts(SANTI_KEY, "JN-LIXIA-01"), counts(0, 0, 1, 0, 0));
    assert_eq!(lent.statuses().on_shelf, 0, "it never sat on a shelf");

    net.return_at("JN-LIXIA-01", "LX-P-0001");
    let returned = net.fold();
    assert_eq!(
        returned.counts(SANTI_KEY, "JN-LIXIA-01"),
        counts(1, 0, 0, 0, 0)
    );
}

#[test]
fn a_copy_declared_lost_is_nowhere_to_be_had() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.checkout("JN-CENTRAL", "JN-0001", li_wei());
    net.system(Command::DeclareLost {
        item: "JN-0001".into(),
    });
    let state = net.fold();
    assert_eq!(state.item("JN-0001").unwrap().place, Place::Lost);
    assert_eq!(state.counts(SANTI_KEY, "JN-CENTRAL"), Counts::default());
    assert_eq!(state.title(SANTI_KEY).unwrap().network, Counts::default());
    assert_eq!(state.statuses().lost, 1);
}

#[test]
fn paying_for_a_lost_copy_moves_nothing_but_its_revision() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.checkout("JN-CENTRAL", "JN-0001", li_wei());
    net.system(Command::DeclareLost {
        item: "JN-0001".into(),
    });
    let before = net.fold();
    let paid = net.system(Command::PayLostItem {
        item: "JN-0001".into(),
        amount_fen: Fen(4_500),
    });
    let state = net.fold();
    let item = state.item("JN-0001").unwrap();
    assert_eq!(item.place, Place::Lost);
    assert_eq!(
        (item.revision, item.position),
        (paid[0].revision, paid[0].position)
    );
    assert_eq!(state.statuses(), before.statuses());
}

#[test]
fn a_lost_copy_found_and_returned_is_back_on_a_shelf() {
    let mut net = Net::new();
    net.catalogue("ZB-CENTRAL", santi("ZB-0001"));
    net.checkout("ZB-CENTRAL", "ZB-0001", li_wei());
    net.system(Command::DeclareLost {
        item: "ZB-0001".into(),
    });
    net.return_at("ZB-CENTRAL", "ZB-0001");
    let at_home = net.fold();
    assert_eq!(
        at_home.counts(SANTI_KEY, "ZB-CENTRAL"),
        counts(1, 0, 0, 0, 0)
    );
    assert_eq!(at_home.statuses().lost, 0);

    let mut away = Net::new();
    away.catalogue("ZB-CENTRAL", santi("ZB-0001"));
    away.checkout("ZB-CENTRAL", "ZB-0001", li_wei());
    away.system(Command::DeclareLost {
        item: "ZB-0001".into(),
    });
    away.return_at("JN-CENTRAL", "ZB-0001");
    assert_eq!(
        away.fold().counts(SANTI_KEY, "JN-CENTRAL"),
        counts(1, 1, 0, 0, 0),
        "found in another city, it is homebound"
    );
}

#[test]
fn withdrawing_takes_a_copy_off_the_shelf_or_out_of_the_booth() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.stock_booth("JN-CENTRAL", "JN-BOOTH-01", santi("JN-0002"));
    for item in ["JN-0001", "JN-0002"] {
        net.system(Command::Withdraw {
            item: item.into(),
            reason: "worn out".into(),
        });
    }
    let state = net.fold();
    assert_eq!(state.item("JN-0001").unwrap().place, Place::Withdrawn);
    assert_eq!(state.item("JN-0002").unwrap().place, Place::Withdrawn);
    assert_eq!(state.title(SANTI_KEY).unwrap().network, Counts::default());
    assert_eq!(state.booth_items("JN-BOOTH-01").count(), 0);
    assert_eq!(state.statuses().withdrawn, 2);
    assert_eq!(state.statuses().total(), 2);
}

#[test]
fn each_item_remembers_its_streams_last_revision_and_position() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.catalogue("JN-CENTRAL", santi("JN-0002"));
    let loaned = net.by(
        "JN-CENTRAL",
        Command::Checkout {
            item: "JN-0001".into(),
            patron: li_wei(),
        },
    );
    let loan = loaned.last().unwrap();
    let state = net.fold();
    let item = state.item("JN-0001").unwrap();
    assert_eq!(
        (item.revision, item.position),
        (Revision::new(1), loan.position)
    );
    let other = state.item("JN-0002").unwrap();
    assert_eq!(other.revision, Revision::FIRST);
    assert!(other.position < loan.position);
    let shown = state.get_item("JN-0001").unwrap().item.unwrap();
    assert_eq!(shown.status, ItemStatus::OnLoan as i32);
    assert_eq!(shown.library, "JN-CENTRAL");
    assert!(shown.due_at.is_some());
    assert!(
        shown.patron_id.is_empty(),
        "availability does not say who has it"
    );
    assert_eq!((shown.revision, shown.position), (1, loan.position.get()));
}

#[test]
fn a_snapshot_whose_tables_do_not_match_its_codes_is_refused() {
    let mut net = Net::new();
    net.catalogue("JN-CENTRAL", santi("JN-0001"));
    net.catalogue("JN-CENTRAL", santi("JN-0002"));
    let encoded = serde_json::to_value(net.fold()).unwrap();

    let mut short = encoded.clone();
    short["items"].as_array_mut().unwrap().pop();
    let refused = serde_json::from_value::<Availability>(short).unwrap_err();
    assert!(
        refused.to_string().contains("items has 1 rows for 2 codes"),
        "{refused}"
    );

    let mut past = encoded;
    past["items"][0]["owner"] = serde_json::json!(99);
    let refused = serde_json::from_value::<Availability>(past).unwrap_err();
    assert!(
        refused.to_string().contains("points past its interner"),
        "{refused}"
    );
}
