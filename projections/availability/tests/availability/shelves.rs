//! Per-library shelf counts and booth stock.

use readnet_availability::{AvailabilityError, ShelfListing, TitleQuery};
use readnet_domain::Command;
use readnet_domain::pb::{self, TransferReason};

use crate::support::*;

fn shelf_counts(c: readnet_availability::Counts) -> pb::ShelfCounts {
    pb::ShelfCounts {
        on_shelf: c.on_shelf,
        homebound: c.homebound,
        on_loan: c.on_loan,
        in_transit_to: c.in_transit_to,
        in_booth: c.in_booth,
        held: c.held,
    }
}

/// At ZB-CENTRAL: two 《三体》 (one lent), one 《活着》, one homebound Jinan book returned there,
/// one 《平凡的世界》 on its way there.
fn zibo_central() -> Net {
    let mut net = Net::new();
    net.catalogue("ZB-CENTRAL", santi("S-1"));
    net.catalogue("ZB-CENTRAL", santi("S-2"));
    net.catalogue(
        "ZB-CENTRAL",
        book("H-1", "978-7-5063-6543-7", "活着", "余华"),
    );
    net.catalogue("JN-CENTRAL", book("P-1", "", "平凡的世界", "路遥"));
    net.catalogue("JN-CENTRAL", book("W-1", "", "围城", "钱锺书"));
    net.checkout("ZB-CENTRAL", "S-1", li_wei());
    net.checkout("JN-CENTRAL", "W-1", wang_fang());
    net.return_at("ZB-CENTRAL", "W-1");
    net.dispatch("JN-CENTRAL", "P-1", "ZB-CENTRAL", TransferReason::Rebalance);
    net
}

#[test]
fn a_librarys_totals_count_shelf_loans_and_transfers_towards_it() {
    let state = zibo_central().fold();
    let answer = state
        .library_shelf("ZB-CENTRAL", ShelfListing::Totals)
        .unwrap();
    assert_eq!(answer.city, "zibo");
    assert_eq!(answer.totals, Some(shelf_counts(counts(3, 1, 1, 1, 0))));
    assert!(answer.titles.is_empty());
    assert!(!answer.closed);

    let empty = state
        .library_shelf("TA-CENTRAL", ShelfListing::Totals)
        .unwrap();
    assert_eq!(empty.totals, Some(pb::ShelfCounts::default()));
}

#[test]
fn a_librarys_counts_for_one_title() {
    let state = zibo_central().fold();
    let query = TitleQuery::isbn(SANTI_ISBN);
    let answer = state
        .library_shelf("ZB-CENTRAL", ShelfListing::Title(&query))
        .unwrap();
    assert_eq!(answer.titles.len(), 1);
    assert_eq!(
        answer.titles[0].counts,
        Some(shelf_counts(counts(1, 0, 1, 0, 0)))
    );
    assert_eq!(answer.titles[0].title.as_ref().unwrap().title, "三体");

    let elsewhere = state
        .library_shelf("TA-CENTRAL", ShelfListing::Title(&query))
        .unwrap();
    assert_eq!(
        elsewhere.titles[0].counts,
        Some(pb::ShelfCounts::default()),
        "a title with no copy here has a zero row"
    );
}

#[test]
fn a_librarys_titles_are_listed_by_key_in_pages() {
    let state = zibo_central().fold();
    let first = state
        .library_shelf("ZB-CENTRAL", ShelfListing::PerTitle { after: "", max: 2 })
        .unwrap();
    let keys = |a: &pb::LibraryShelfResponse| -> Vec<String> {
        a.titles
            .iter()
            .map(|t| t.title.as_ref().unwrap().title_key.clone())
            .collect()
    };
    assert_eq!(
        keys(&first),
        ["isbn:9787506365437", SANTI_KEY],
        "ISBN keys sort before text keys"
    );
    assert_eq!(first.next_title_key, SANTI_KEY);
    let second = state
        .library_shelf(
            "ZB-CENTRAL",
            ShelfListing::PerTitle {
                after: &first.next_title_key,
                max: 2,
            },
        )
        .unwrap();
    assert_eq!(
        keys(&second),
        [r#"text:["围城","钱锺书"]"#, r#"text:["平凡的世界","路遥"]"#]
    );
    assert_eq!(second.next_title_key, "", "the last page");
    assert_eq!(
        second.titles[0].counts,
        Some(shelf_counts(counts(1, 1, 0, 0, 0)))
    );
    assert_eq!(
        second.titles[1].counts,
        Some(shelf_counts(counts(0, 0, 0, 1, 0)))
    );
}

#[test]
fn an_unknown_library_is_not_found_by_name() {
    let state = zibo_central().fold();
    assert_eq!(
        state.library_shelf("ZB-NOWHERE", ShelfListing::Totals),
        Err(AvailabilityError::NotFound(
            "library: library ZB-NOWHERE is not registered".into()
        ))
    );
}

#[test]
fn booth_stock_lists_the_items_in_a_booth_with_their_titles() {
    let mut net = Net::new();
    net.stock_booth("ZB-CENTRAL", "ZB-BOOTH-01", santi("S-1"));
    net.stock_booth("ZB-CENTRAL", "ZB-BOOTH-01", book("H-1", "", "活着", "余华"));
    net.stock_booth("JN-CENTRAL", "JN-BOOTH-01", santi("S-2"));
    net.by(
        "ZB-BOOTH-01",
        Command::BoothSwap {
            take_item: "S-1".into(),
            patron: wang_fang(),
            deposit: book("D-1", "", "平凡的世界", "路遥"),
        },
    );
    let state = net.fold();

    let answer = state.booth_stock("ZB-BOOTH-01", "", 100).unwrap();
    let items: Vec<_> = answer
        .items
        .iter()
        .map(|i| (i.item.as_str(), i.title.as_str(), i.acquisition))
        .collect();
    assert_eq!(
        items,
        [
            ("D-1", "平凡的世界", pb::Acquisition::BoothDeposit as i32),
            ("H-1", "活着", pb::Acquisition::Purchase as i32),
        ]
    );
    assert_eq!(answer.item_count, 2);
    assert_eq!(answer.city, "zibo");
    assert_eq!(answer.items[0].owner_library, "ZB-BOOTH-01");

    let page = state.booth_stock("ZB-BOOTH-01", "", 1).unwrap();
    assert_eq!((page.items.len(), page.next_item.as_str()), (1, "D-1"));
    let rest = state.booth_stock("ZB-BOOTH-01", "D-1", 1).unwrap();
    assert_eq!(rest.items[0].item, "H-1");
    assert_eq!(rest.next_item, "");
    assert_eq!(rest.item_count, 2, "the count is of the whole booth");
}

#[test]
fn booth_stock_of_an_empty_booth_is_empty_and_of_a_library_is_refused() {
    let state = Net::new().fold();
    let empty = state.booth_stock("JN-BOOTH-01", "", 100).unwrap();
    assert_eq!((empty.item_count, empty.items.len()), (0, 0));
    assert_eq!(
        state.booth_stock("JN-CENTRAL", "", 100),
        Err(AvailabilityError::InvalidArgument(
            "booth: JN-CENTRAL is a library of tier LIBRARY_TIER_CENTRAL, not a book-exchange booth"
                .into()
        ))
    );
    assert!(matches!(
        state.booth_stock("JN-NOWHERE", "", 100),
        Err(AvailabilityError::NotFound(m)) if m.contains("JN-NOWHERE")
    ));
}
