//! The circulation stories of domain.md, told through the API.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use readnet_e2e::v1::{
    self, Acquisition, BookDescription, Channel, CreditTier, ItemStatus, ReturnPolicy,
    TransferReason,
};
use readnet_e2e::*;
use tonic::Code;

/// The latest 00:30 in Shanghai that is already past: 16:30 UTC on the previous UTC day, so a
/// due date computed from the UTC date instead of the local one comes out a day early.
fn latest_half_past_midnight_in_shanghai() -> DateTime<Utc> {
    let now = Utc::now().with_timezone(&Shanghai);
    let today = Shanghai
        .from_local_datetime(&now.date_naive().and_hms_opt(0, 30, 0).expect("a time"))
        .single()
        .expect("Shanghai has no DST");
    let at = if today <= now {
        today
    } else {
        today - chrono::Duration::days(1)
    };
    at.with_timezone(&Utc)
}

/// End of the day 30 days after `at`'s local day in Shanghai, in microseconds since the epoch.
fn expected_due_us(at: DateTime<Utc>) -> i64 {
    let due_day = at
        .with_timezone(&Shanghai)
        .date_naive()
        .checked_add_days(Days::new(30))
        .expect("a date");
    let end_of_day =
        due_day.and_time(NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).expect("a time"));
    Shanghai
        .from_local_datetime(&end_of_day)
        .single()
        .expect("Shanghai has no DST")
        .timestamp_micros()
}

#[tokio::test]
async fn worked_example_jinan_patron_borrows_zibo_book_returns_in_jinan_and_it_travels_home() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let book = ZB_BOOKS[0];
    let card_number = "370102199001011234";
    let patron = card(JINAN, card_number);
    let mut positions: Vec<u64> = Vec::new();

    // A Jinan patron borrows a Zibo book at Zibo's central library, just after midnight there.
    let occurred_at = latest_half_past_midnight_in_shanghai();
    let request = net.at(ZB_CENTRAL).request(v1::CheckoutRequest {
        item: book.to_owned(),
        card: Some(patron.clone()),
        occurred_at: Some(timestamp(occurred_at)),
        ..Default::default()
    });
    let command_id = request.get_ref().command_id.clone();
    let loan = accepted(
        net.circulation
            .clone()
            .checkout(request)
            .await
            .map(|r| r.into_inner().into_receipt()),
        "checkout at ZB-CENTRAL by a jinan card",
    );
    assert!(!loan.duplicate);
    assert_eq!(loan.command_id, command_id);
    assert_eq!(event_types(&loan), ["PatronEnrolled", "ItemLoaned"]);
    positions.extend(receipt_positions(&loan));
    let enrolled = payload!(loan.events[0], PatronEnrolled);
    let loaned = payload!(loan.events[1], ItemLoaned);
    assert_eq!(enrolled.home_city, JINAN);
    assert_eq!(enrolled.tier, CreditTier::Standard as i32);
    assert!(
        !enrolled.patron_id.is_empty() && !enrolled.patron_id.contains(card_number),
        "the patron id is a keyed hash, never the card number: {}",
        enrolled.patron_id
    );
    assert!(
        loan.events
            .iter()
            .all(|e| !format!("{e:?}").contains(card_number)),
        "the card number appears in no event"
    );
    assert_eq!(loaned.patron_id, enrolled.patron_id);
    assert_eq!(loaned.item, book);
    assert_eq!(loaned.library, ZB_CENTRAL);
    assert_eq!(loaned.owner_library, ZB_CENTRAL);
    assert_eq!(loaned.patron_home_city, JINAN);
    assert_eq!(
        loaned.due_at_us,
        expected_due_us(occurred_at),
        "due at the end of the day 30 days after the local (Asia/Shanghai) day of the checkout"
    );
    let loaned_event = &loan.events[1];
    assert_eq!(loaned_event.stream, format!("item-{book}"));
    assert_eq!(loaned_event.acting_library, ZB_CENTRAL);
    assert_eq!(loaned_event.channel, Channel::Desk as i32);
    assert_eq!(loaned_event.command_id, command_id);
    assert_eq!(
        micros(loaned_event.occurred_at.as_ref()),
        occurred_at.timestamp_micros()
    );
    let patron_id = enrolled.patron_id.clone();

    let state = net.item(book).await;
    assert_eq!(state.status, ItemStatus::OnLoan as i32);
    assert_eq!(state.patron_id, patron_id);
    assert_eq!(state.library, ZB_CENTRAL);
    assert_eq!(micros(state.due_at.as_ref()), expected_due_us(occurred_at));

    // Returned at a Jinan branch: on the shelf there, homebound.
    let returned = accepted(
        net.at(JN_LIXIA).return_item(book).await,
        "return at JN-LIXIA-03",
    );
    assert_eq!(event_types(&returned), ["ItemReturned"]);
    positions.extend(receipt_positions(&returned));
    let event = payload!(returned.events[0], ItemReturned);
    assert!(event.homebound, "returned in another city: homebound");
    assert_eq!(event.library, JN_LIXIA);
    assert_eq!(event.owner_library, ZB_CENTRAL);
    assert_eq!(event.patron_id, patron_id);
    let state = net.item(book).await;
    assert_eq!(state.status, ItemStatus::OnShelf as i32);
    assert_eq!(state.library, JN_LIXIA);
    assert!(state.homebound);
    assert!(state.patron_id.is_empty(), "no borrower once returned");

    // Not lent again before it is home, and only sent home.
    refused(
        net.at(JN_LIXIA)
            .checkout(book, card(JINAN, "370102198805052222"))
            .await,
        Code::FailedPrecondition,
        "homebound",
        "checkout of a homebound item",
    );
    refused(
        net.at(JN_LIXIA)
            .dispatch(book, JN_CENTRAL, TransferReason::Rebalance)
            .await,
        Code::FailedPrecondition,
        "homebound",
        "rebalancing a homebound item",
    );

    // The branch ships it home.
    let dispatched = accepted(
        net.at(JN_LIXIA)
            .dispatch(book, ZB_CENTRAL, TransferReason::Repatriation)
            .await,
        "dispatch home",
    );
    assert_eq!(event_types(&dispatched), ["TransferDispatched"]);
    positions.extend(receipt_positions(&dispatched));
    let event = payload!(dispatched.events[0], TransferDispatched);
    assert_eq!(
        (event.from_library.as_str(), event.to_library.as_str()),
        (JN_LIXIA, ZB_CENTRAL)
    );
    assert_eq!(event.reason, TransferReason::Repatriation as i32);
    assert_eq!(event.owner_library, ZB_CENTRAL);
    let state = net.item(book).await;
    assert_eq!(state.status, ItemStatus::InTransit as i32);
    assert_eq!(
        state.library, ZB_CENTRAL,
        "in transit: library is the destination"
    );
    assert_eq!(state.from_library, JN_LIXIA);
    assert_eq!(state.transfer_reason, TransferReason::Repatriation as i32);

    // In transit: neither lent, nor returned, nor received anywhere but at its destination.
    refused(
        net.at(JN_LIXIA)
            .checkout(book, card(JINAN, "370102198805052222"))
            .await,
        Code::FailedPrecondition,
        book,
        "checkout of an item in transit",
    );
    refused(
        net.at(ZB_CENTRAL).return_item(book).await,
        Code::FailedPrecondition,
        book,
        "return of an item in transit",
    );
    refused(
        net.at(JN_CENTRAL).receive(book).await,
        Code::FailedPrecondition,
        ZB_CENTRAL,
        "receipt of a transfer at the wrong library",
    );

    let received = accepted(
        net.at(ZB_CENTRAL).receive(book).await,
        "receive at ZB-CENTRAL",
    );
    assert_eq!(event_types(&received), ["TransferReceived"]);
    positions.extend(receipt_positions(&received));
    let event = payload!(received.events[0], TransferReceived);
    assert_eq!(
        (event.from_library.as_str(), event.to_library.as_str()),
        (JN_LIXIA, ZB_CENTRAL)
    );
    assert!(!event.in_booth);
    let state = net.item(book).await;
    assert_eq!(state.status, ItemStatus::OnShelf as i32);
    assert_eq!(state.library, ZB_CENTRAL);
    assert!(!state.homebound, "home again");

    // Home, it lends again; the patron is not enrolled twice.
    let again = accepted(
        net.at(ZB_CENTRAL).checkout(book, patron).await,
        "checkout at home after the journey",
    );
    assert_eq!(event_types(&again), ["ItemLoaned"]);
    assert_eq!(payload!(again.events[0], ItemLoaned).patron_id, patron_id);
    positions.extend(receipt_positions(&again));

    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions increase from receipt to receipt: {positions:?}"
    );
    let revisions: Vec<u64> = net
        .read_stream(&format!("item-{book}"))
        .await
        .iter()
        .map(|e| e.revision)
        .collect();
    assert_eq!(
        revisions,
        (0..6).collect::<Vec<u64>>(),
        "catalogued, loaned, returned, dispatched, received, loaned"
    );
}

#[tokio::test]
async fn float_in_city_item_stays_where_returned_in_its_city_and_goes_home_from_another_city() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    accepted(
        net.system()
            .set_return_policy(ZB_ZHOUCUN, ReturnPolicy::FloatInCity)
            .await,
        "SetReturnPolicy float_in_city",
    );
    let [floating, travelling] = ZHOUCUN_BOOKS;

    // Returned in its owner's city: stays where it was returned, free to lend there.
    accepted(
        net.at(ZB_ZHOUCUN)
            .checkout(floating, card(ZIBO, "370302199202023333"))
            .await,
        "checkout at ZB-ZHOUCUN-07",
    );
    let returned = accepted(
        net.at(ZB_CENTRAL).return_item(floating).await,
        "return at ZB-CENTRAL",
    );
    let event = payload!(returned.events[0], ItemReturned);
    assert!(
        !event.homebound,
        "a float_in_city item returned in its city stays: {event:?}"
    );
    assert_eq!(event.library, ZB_CENTRAL);
    let state = net.item(floating).await;
    assert_eq!(state.status, ItemStatus::OnShelf as i32);
    assert_eq!(state.library, ZB_CENTRAL);
    assert!(!state.homebound);
    assert_eq!(
        state.owner_library, ZB_ZHOUCUN,
        "floating changes the place, not the owner"
    );
    accepted(
        net.at(ZB_CENTRAL)
            .checkout(floating, card(ZIBO, "370302199303034444"))
            .await,
        "checkout where the floating item now is",
    );

    // Returned in another city: homebound all the same.
    accepted(
        net.at(ZB_ZHOUCUN)
            .checkout(travelling, card(JINAN, "370102199001011234"))
            .await,
        "checkout at ZB-ZHOUCUN-07 by a jinan card",
    );
    let returned = accepted(
        net.at(JN_CENTRAL).return_item(travelling).await,
        "return in Jinan",
    );
    assert!(payload!(returned.events[0], ItemReturned).homebound);
    let state = net.item(travelling).await;
    assert_eq!(state.status, ItemStatus::OnShelf as i32);
    assert_eq!(state.library, JN_CENTRAL);
    assert!(state.homebound);
    accepted(
        net.at(JN_CENTRAL)
            .dispatch(travelling, ZB_ZHOUCUN, TransferReason::Repatriation)
            .await,
        "dispatch home",
    );
    accepted(
        net.at(ZB_ZHOUCUN).receive(travelling).await,
        "receive at home",
    );
    let state = net.item(travelling).await;
    assert_eq!(state.status, ItemStatus::OnShelf as i32);
    assert_eq!(state.library, ZB_ZHOUCUN);
    assert!(!state.homebound);

    // A return_home owner (ZB-CENTRAL, the default): homebound even within its own city; and
    // returned at the owner itself, simply back on the shelf.
    let [home_a, home_b, _] = ZB_BOOKS;
    accepted(
        net.at(ZB_CENTRAL)
            .checkout(home_a, card(ZIBO, "370302199202023333"))
            .await,
        "checkout of a return_home book",
    );
    let returned = accepted(
        net.at(ZB_ZHOUCUN).return_item(home_a).await,
        "return in the same city",
    );
    assert!(
        payload!(returned.events[0], ItemReturned).homebound,
        "return_home: homebound when returned at another library of the same city"
    );
    accepted(
        net.at(ZB_CENTRAL)
            .checkout(home_b, card(ZIBO, "370302199202023333"))
            .await,
        "checkout of another return_home book",
    );
    let returned = accepted(
        net.at(ZB_CENTRAL).return_item(home_b).await,
        "return at the owner",
    );
    assert!(!payload!(returned.events[0], ItemReturned).homebound);
    let state = net.item(home_b).await;
    assert_eq!(
        (state.status, state.library.as_str()),
        (ItemStatus::OnShelf as i32, ZB_CENTRAL)
    );
}

#[tokio::test]
async fn booth_swap_takes_item_out_and_deposits_a_new_one() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let stock = JN_BOOKS[0];
    let booth = net.booth(JN_BOOTH);

    // Staff restock the booth by transfer.
    accepted(
        net.at(JN_CENTRAL)
            .dispatch(stock, JN_BOOTH, TransferReason::Rebalance)
            .await,
        "dispatch to the booth",
    );
    let received = accepted(booth.receive(stock).await, "receive at the booth");
    let event = payload!(received.events[0], TransferReceived);
    assert!(event.in_booth, "received at a booth: in the booth");
    assert_eq!(received.events[0].channel, Channel::Booth as i32);
    let state = net.item(stock).await;
    assert_eq!(state.status, ItemStatus::InBooth as i32);
    assert_eq!(state.library, JN_BOOTH);

    // Booths swap; they do not lend.
    refused(
        booth
            .checkout(stock, card(JINAN, "370102199001011234"))
            .await,
        Code::FailedPrecondition,
        "booth",
        "checkout at a booth",
    );

    let deposit_id = "JN-BOOTH-01-D000001";
    let deposit = BookDescription {
        item: deposit_id.to_owned(),
        isbn: "9787530215593".to_owned(),
        title: "平凡的世界".to_owned(),
        author: "路遥".to_owned(),
        price_fen: None,
    };
    let swapped = accepted(
        booth
            .booth_swap(stock, card(JINAN, "370102199001011234"), deposit.clone())
            .await,
        "booth swap",
    );
    assert_eq!(
        event_types(&swapped),
        ["PatronEnrolled", "BoothSwapped", "ItemCatalogued"]
    );
    receipt_positions(&swapped);
    let enrolled = payload!(swapped.events[0], PatronEnrolled);
    let swap = payload!(swapped.events[1], BoothSwapped);
    assert_eq!(swap.booth, JN_BOOTH);
    assert_eq!(swap.item_taken, stock);
    assert_eq!(swap.item_deposited, deposit_id);
    assert_eq!(swap.patron_id, enrolled.patron_id);
    assert_eq!(swapped.events[1].stream, format!("item-{stock}"));
    let catalogued = payload!(swapped.events[2], ItemCatalogued);
    assert_eq!(swapped.events[2].stream, format!("item-{deposit_id}"));
    assert_eq!(
        swapped.events[2].revision, 0,
        "the deposit's stream opens with its cataloguing"
    );
    assert_eq!(catalogued.acquisition, Acquisition::BoothDeposit as i32);
    assert_eq!(catalogued.owner_library, JN_BOOTH);
    assert_eq!(catalogued.placed_at, JN_BOOTH);
    assert!(catalogued.in_booth);
    assert_eq!(catalogued.title, "平凡的世界");

    let taken = net.item(stock).await;
    assert_eq!(taken.status, ItemStatus::ExchangedOut as i32);
    let deposited = net.item(deposit_id).await;
    assert_eq!(deposited.status, ItemStatus::InBooth as i32);
    assert_eq!(deposited.library, JN_BOOTH);
    assert_eq!(deposited.acquisition, Acquisition::BoothDeposit as i32);
    assert_eq!(deposited.owner_library, JN_BOOTH);
    assert_eq!(deposited.title, "平凡的世界");

    refused(
        booth
            .checkout(deposit_id, card(JINAN, "370102198805052222"))
            .await,
        Code::FailedPrecondition,
        "booth",
        "checkout of the deposit at the booth",
    );
    // The taken book left the network: it cannot be swapped again.
    let mut second = deposit.clone();
    second.item = "JN-BOOTH-01-D000002".to_owned();
    refused(
        booth
            .booth_swap(stock, card(JINAN, "370102198805052222"), second.clone())
            .await,
        Code::FailedPrecondition,
        stock,
        "swapping an item that was exchanged out",
    );
    // A deposit needs an id of its own: not the taken book's, not one already catalogued.
    invalid_field(
        booth
            .booth_swap(
                deposit_id,
                card(JINAN, "370102198805052222"),
                deposit.clone(),
            )
            .await,
        "deposit.item",
        "depositing a book under the taken book's id",
    );
    let mut known = deposit;
    known.item = JN_BOOKS[2].to_owned();
    refused(
        booth
            .booth_swap(deposit_id, card(JINAN, "370102198805052222"), known)
            .await,
        Code::AlreadyExists,
        JN_BOOKS[2],
        "depositing a book under an id already catalogued",
    );
    assert_eq!(
        net.item(deposit_id).await.status,
        ItemStatus::InBooth as i32,
        "refused swaps change nothing"
    );
    // Swaps happen only at booths; returns never at booths.
    refused(
        net.at(JN_CENTRAL)
            .booth_swap(JN_BOOKS[1], card(JINAN, "370102198805052222"), second)
            .await,
        Code::FailedPrecondition,
        "booth",
        "a swap at a library that is not a booth",
    );
    accepted(
        net.at(JN_CENTRAL)
            .checkout(JN_BOOKS[1], card(JINAN, "370102198805052222"))
            .await,
        "checkout at JN-CENTRAL",
    );
    refused(
        booth.return_item(JN_BOOKS[1]).await,
        Code::FailedPrecondition,
        "booth",
        "a return at a booth",
    );
    assert_eq!(
        net.item(JN_BOOKS[1]).await.status,
        ItemStatus::OnLoan as i32
    );
}

#[tokio::test]
async fn patron_driven_acquisition_catalogues_and_lends_at_once() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let item = "JN-LIXIA-03-P000001";
    let paid_fen = 2380;
    let book = BookDescription {
        item: item.to_owned(),
        isbn: "9787536692930".to_owned(),
        title: "三体".to_owned(),
        author: "刘慈欣".to_owned(),
        price_fen: Some(paid_fen),
    };

    let receipt = accepted(
        net.at(JN_LIXIA)
            .patron_driven(card(JINAN, "370102199001011234"), book.clone())
            .await,
        "patron-driven acquisition at JN-LIXIA-03",
    );
    assert_eq!(
        event_types(&receipt),
        [
            "PatronEnrolled",
            "ItemCatalogued",
            "PatronDrivenPurchaseRecorded",
            "ItemLoaned"
        ]
    );
    receipt_positions(&receipt);
    let patron_id = payload!(receipt.events[0], PatronEnrolled)
        .patron_id
        .clone();
    let catalogued = payload!(receipt.events[1], ItemCatalogued);
    assert_eq!(catalogued.acquisition, Acquisition::PatronDriven as i32);
    assert_eq!(catalogued.owner_library, JN_LIXIA);
    assert_eq!(catalogued.price_fen, Some(paid_fen));
    let purchase = payload!(receipt.events[2], PatronDrivenPurchaseRecorded);
    assert_eq!(
        (purchase.price_fen, purchase.patron_id.as_str()),
        (paid_fen, patron_id.as_str())
    );
    let loaned = payload!(receipt.events[3], ItemLoaned);
    assert_eq!(loaned.patron_id, patron_id);
    assert_eq!(loaned.library, JN_LIXIA);

    let state = net.item(item).await;
    assert_eq!(state.status, ItemStatus::OnLoan as i32);
    assert_eq!(state.patron_id, patron_id);
    assert_eq!(state.library, JN_LIXIA);
    assert_eq!(state.acquisition, Acquisition::PatronDriven as i32);
    assert_eq!(state.owner_library, JN_LIXIA);
    assert_eq!(
        state.price_fen,
        Some(paid_fen),
        "price = what the library paid"
    );
    assert_eq!(state.title, "三体");

    // Returned at the library, it joins the collection there.
    let returned = accepted(
        net.at(JN_LIXIA).return_item(item).await,
        "return at JN-LIXIA-03",
    );
    assert!(!payload!(returned.events[0], ItemReturned).homebound);
    let state = net.item(item).await;
    assert_eq!(state.status, ItemStatus::OnShelf as i32);
    assert_eq!(state.library, JN_LIXIA);
    assert!(!state.homebound);
    accepted(
        net.at(JN_LIXIA)
            .checkout(item, card(JINAN, "370102198805052222"))
            .await,
        "another patron borrows it from the collection",
    );

    // The same barcode cannot be bought twice; a price is required.
    refused(
        net.at(JN_LIXIA)
            .patron_driven(card(JINAN, "370102199001011234"), book.clone())
            .await,
        Code::AlreadyExists,
        item,
        "a second acquisition under the same barcode",
    );
    let mut unpriced = book;
    unpriced.item = "JN-LIXIA-03-P000002".to_owned();
    unpriced.price_fen = None;
    invalid_field(
        net.at(JN_LIXIA)
            .patron_driven(card(JINAN, "370102199001011234"), unpriced)
            .await,
        "book.price_fen",
        "an acquisition without the price paid",
    );
}

#[tokio::test]
async fn only_the_borrower_renews_at_most_twice_each_time_thirty_days_from_the_renewal() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let desk = net.at(ZB_CENTRAL);
    let book = ZB_BOOKS[0];
    let borrower = card(ZIBO, "370302199202023333");
    let loaned_at = Utc::now() - chrono::Duration::days(10);
    accepted(
        desk.checkout_at(book, borrower.clone(), loaned_at).await,
        "checkout ten days ago",
    );

    refused(
        desk.renew(book, card(ZIBO, "370302199303034444")).await,
        Code::FailedPrecondition,
        "borrower",
        "a renewal by someone else",
    );
    // Five days ago (a kiosk syncing late), then now: a renewal must move the due date.
    for (count, desk) in [
        (
            1,
            desk.clone().dated(Utc::now() - chrono::Duration::days(5)),
        ),
        (2, desk.clone()),
    ] {
        let renewed = accepted(
            desk.renew(book, borrower.clone()).await,
            "a renewal by the borrower",
        );
        let event = payload!(renewed.events[0], ItemRenewed);
        assert_eq!(event.renewal_count, count);
        let renewed_at = instant(renewed.events[0].occurred_at.as_ref());
        assert_eq!(
            event.due_at_us,
            expected_due_us(renewed_at),
            "due 30 days from the renewal, end of day in Shanghai"
        );
        let state = net.item(book).await;
        assert_eq!(state.renewal_count, count);
        assert_eq!(micros(state.due_at.as_ref()), event.due_at_us);
    }
    refused(
        desk.renew(book, borrower).await,
        Code::FailedPrecondition,
        "2",
        "a third renewal",
    );
    assert_eq!(net.item(book).await.renewal_count, 2);
}

#[tokio::test]
async fn patron_is_blocked_by_an_unpaid_lost_item_or_one_overdue_by_more_than_thirty_days() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let desk = net.at(JN_CENTRAL);
    let [lost, wanted, late] = JN_BOOKS;
    let patron = card(ZIBO, "370302199202023333");

    accepted(desk.checkout(lost, patron.clone()).await, "checkout");
    let declared = accepted(desk.declare_lost(lost).await, "declare lost");
    let event = payload!(declared.events[0], ItemDeclaredLost);
    assert_eq!(event.debt_fen, 3500, "the borrower owes the item's price");
    assert_eq!(event.patron_home_city, ZIBO);
    let state = net.item(lost).await;
    assert_eq!(state.status, ItemStatus::Lost as i32);
    assert_eq!(state.debt_fen, 3500);

    refused(
        desk.checkout(wanted, patron.clone()).await,
        Code::FailedPrecondition,
        "blocked",
        "a checkout while a lost item is unpaid",
    );
    accepted(desk.pay_lost_item(lost, 1000).await, "a part payment");
    assert_eq!(net.item(lost).await.debt_fen, 2500);
    refused(
        desk.checkout(wanted, patron.clone()).await,
        Code::FailedPrecondition,
        "blocked",
        "a checkout while part of the debt is unpaid",
    );
    refused(
        desk.pay_lost_item(lost, 2600).await,
        Code::FailedPrecondition,
        "2500",
        "paying more than is owed",
    );
    accepted(desk.pay_lost_item(lost, 2500).await, "the rest of the debt");
    assert_eq!(net.item(lost).await.debt_fen, 0);
    accepted(
        desk.checkout(wanted, patron.clone()).await,
        "a checkout once the debt is paid",
    );

    // The lost book turns up and is returned as usual.
    let returned = accepted(
        net.at(JN_LIXIA).return_item(lost).await,
        "the lost book turns up",
    );
    assert!(payload!(returned.events[0], ItemReturned).was_lost);
    let state = net.item(lost).await;
    assert_eq!(
        (state.status, state.library.as_str()),
        (ItemStatus::OnShelf as i32, JN_LIXIA)
    );

    // Another patron borrowed 70 days ago: due 40 days ago, overdue by more than 30 days.
    let slow = card(JINAN, "370102198805052222");
    let long_ago = Utc::now() - chrono::Duration::days(70);
    accepted(
        desk.checkout_at(late, slow.clone(), long_ago).await,
        "a checkout 70 days ago",
    );
    accepted(
        net.at(ZB_CENTRAL).catalogue("ZB-000099", ZB_CENTRAL).await,
        "catalogue",
    );
    refused(
        net.at(ZB_CENTRAL).checkout("ZB-000099", slow.clone()).await,
        Code::FailedPrecondition,
        "overdue",
        "a checkout while an item is overdue by more than 30 days",
    );
    refused(
        desk.renew(late, slow.clone()).await,
        Code::FailedPrecondition,
        "blocked",
        "a renewal while blocked",
    );
    accepted(desk.return_item(late).await, "the late book comes back");
    accepted(
        net.at(ZB_CENTRAL).checkout("ZB-000099", slow).await,
        "a checkout once nothing is overdue",
    );
}
