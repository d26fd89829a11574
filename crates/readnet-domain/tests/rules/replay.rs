//! Replay: `Ledger::from_events` is the fold of `apply`, and stream versions count each stream's
//! events, as the server's append expectations need.

use std::collections::BTreeMap;

use readnet_domain::pb::{ReturnPolicy, TransferReason};
use readnet_domain::{Command, Fen, Ledger, NewBook, NewEvent, Payload, StreamId, decide};

use crate::support::fixtures::*;
use crate::support::*;

/// The stream an event belongs in, from its payload alone.
fn subject(payload: &Payload) -> StreamId {
    let item = |id: &str| StreamId::Item(id.to_owned());
    let patron = |id: &str| StreamId::Patron(id.to_owned());
    match payload {
        Payload::CityJoined(_)
        | Payload::LibraryRegistered(_)
        | Payload::LibraryClosed(_)
        | Payload::ReturnPolicySet(_)
        | Payload::TariffSet(_)
        | Payload::PrincipalAdded(_)
        | Payload::PrincipalChanged(_)
        | Payload::PrincipalRevoked(_)
        | Payload::TokenIssued(_)
        | Payload::LibraryRolesSet(_)
        | Payload::LibraryMoved(_)
        | Payload::LibraryRenamed(_)
        | Payload::LibraryTierChanged(_)
        | Payload::CalendarSet(_)
        | Payload::LibraryClosedTemporarily(_)
        | Payload::LibraryReopened(_)
        | Payload::AcquisitionBudgetSet(_)
        | Payload::AcquisitionPolicySet(_)
        | Payload::BookstorePartnerRegistered(_)
        | Payload::EResourceLicensed(_) => StreamId::Network,
        Payload::PatronDrivenPurchaseRecorded(e) => item(&e.item),
        Payload::DigitalLoaned(e) => patron(&e.patron_id),
        Payload::DigitalLoanEnded(e) => patron(&e.patron_id),
        Payload::LoanExtended(e) => item(&e.item),
        Payload::ClockTicked(_)
        | Payload::NoticesAcknowledged(_)
        | Payload::FootfallReported(_) => StreamId::Network,
        Payload::HoldPlaced(e) => patron(&e.patron_id),
        Payload::HoldEnded(e) => patron(&e.patron_id),
        Payload::HoldAssigned(e) => item(&e.item),
        Payload::HoldReady(e) => item(&e.item),
        Payload::HoldFilled(e) => item(&e.item),
        Payload::HoldReleased(e) => item(&e.item),
        Payload::PatronEnrolled(e) => patron(&e.patron_id),
        Payload::PatronTierChanged(e) => patron(&e.patron_id),
        Payload::PatronForgotten(e) => patron(&e.patron_id),
        Payload::ItemCatalogued(e) => item(&e.item),
        Payload::ItemLoaned(e) => item(&e.item),
        Payload::ItemRenewed(e) => item(&e.item),
        Payload::ItemReturned(e) => item(&e.item),
        Payload::TransferDispatched(e) => item(&e.item),
        Payload::TransferReceived(e) => item(&e.item),
        Payload::BoothSwapped(e) => item(&e.item_taken),
        Payload::ItemDeclaredLost(e) => item(&e.item),
        Payload::LostItemPaid(e) => item(&e.item),
        Payload::LostItemDebtWaived(e) => item(&e.item),
        Payload::ItemWithdrawn(e) => item(&e.item),
        Payload::SettlementPeriodClosed(_) => StreamId::Settlement,
        Payload::CommandRefused(_) => unreachable!("the command bus records refusals, not decide"),
    }
}

/// A busy month: every kind of event, in many streams.
fn busy_month() -> Vec<(i64, Option<&'static str>, Command)> {
    let li = li_wei();
    let wang = wang_fang();
    vec![
        (
            0,
            None,
            Command::SetReturnPolicy {
                library: "JN-CENTRAL".into(),
                policy: ReturnPolicy::FloatInCity,
            },
        ),
        (0, Some("ZB-CENTRAL"), checkout("ZB-000123", &li)),
        (0, Some("JN-CENTRAL"), checkout("JN-000002", &wang)),
        (
            1,
            None,
            set_tier(&li, readnet_domain::pb::CreditTier::Trusted),
        ),
        (2, Some("JN-LIXIA-03"), give_back("ZB-000123")),
        (
            2,
            Some("JN-LIXIA-03"),
            dispatch("ZB-000123", "ZB-CENTRAL", TransferReason::Repatriation),
        ),
        (4, Some("ZB-CENTRAL"), receive("ZB-000123")),
        (5, None, renew("JN-000002", &wang)),
        (6, Some("JN-LIXIA-03"), give_back("JN-000002")),
        (7, Some("JN-LIXIA-03"), checkout("JN-000002", &li)),
        (8, None, declare_lost("JN-000002")),
        (9, None, pay("JN-000002", 900)),
        (10, None, pay("JN-000002", 3000)),
        (
            11,
            Some("JN-BOOTH-01"),
            Command::BoothSwap {
                take_item: "JN-B-0001".into(),
                patron: wang.clone(),
                deposit: book("JN-B-0002", "围城", None),
            },
        ),
        (
            12,
            Some("ZB-ZHOUCUN-07"),
            Command::PatronDrivenAcquisition {
                bookstore: None,
                patron: card("zibo", "370303200101014321"),
                book: NewBook {
                    item: "ZB-P-0001".into(),
                    isbn: String::new(),
                    title: "活着".into(),
                    author: "余华".into(),
                    price_fen: Some(Fen(2500)),
                },
            },
        ),
        (13, None, withdraw("JN-000003")),
        (
            14,
            None,
            Command::CloseLibrary {
                library: "ZB-ZHOUCUN-07".into(),
                reason: "merged".into(),
            },
        ),
    ]
}

/// The fixture's events with their streams, then every event the busy month decides.
fn busy_month_events() -> Vec<NewEvent> {
    let mut ledger = Ledger::from_events(&network_jinan_zibo());
    let mut recorded: Vec<NewEvent> = network_jinan_zibo()
        .into_iter()
        .map(|payload| NewEvent {
            stream: subject(&payload),
            payload,
        })
        .collect();
    for (day, library, command) in busy_month() {
        let events = decide(&ledger, &command, &context(t0() + days(day), library))
            .unwrap_or_else(|r| panic!("{} was rejected: {r:?}", command.name()));
        for event in events {
            ledger.apply(&event.payload);
            recorded.push(event);
        }
    }
    recorded
}

#[test]
fn decided_events_go_in_the_stream_their_payload_names() {
    for event in busy_month_events() {
        assert_eq!(event.stream, subject(&event.payload), "{:?}", event.payload);
    }
}

#[test]
fn stream_versions_count_the_events_of_each_stream() {
    let events = busy_month_events();
    let ledger = Ledger::from_events(events.iter().map(|e| &e.payload));
    let mut counts: BTreeMap<StreamId, u64> = BTreeMap::new();
    for event in &events {
        *counts.entry(event.stream.clone()).or_default() += 1;
    }
    for (stream, count) in &counts {
        assert_eq!(ledger.stream_version(stream), *count, "version of {stream}");
    }
    assert_eq!(counts[&StreamId::Network], 9);
    assert_eq!(counts[&StreamId::Item("JN-000002".into())], 8);
    assert_eq!(counts[&StreamId::Patron(li_wei().patron_id.into())], 2);
    assert_eq!(counts.len(), 1 + 8 + 3, "network, 8 items, 3 patrons");
}

#[test]
fn streams_never_written_have_version_zero() {
    let ledger = Ledger::from_events(&network_jinan_zibo());
    assert_eq!(
        ledger.stream_version(&StreamId::Item("JN-999999".into())),
        0
    );
    assert_eq!(
        ledger.stream_version(&StreamId::Patron(li_wei().patron_id.into())),
        0
    );
    assert_eq!(ledger.stream_version(&StreamId::Network), 7);
}

#[test]
fn stream_names_are_network_item_and_patron_prefixed() {
    assert_eq!(StreamId::Network.name(), "network");
    assert_eq!(StreamId::Item("ZB-000123".into()).name(), "item-ZB-000123");
    assert_eq!(StreamId::Patron("ab12".into()).name(), "patron-ab12");
}

#[test]
fn a_refusal_stream_is_the_ledgers_but_holds_no_facts() {
    let name = StreamId::Refusal("6f1c0e2a-0000-4000-8000-000000000001".into()).name();
    assert_eq!(name, "refusal-6f1c0e2a-0000-4000-8000-000000000001");
    assert_eq!(
        StreamId::parse(&name),
        Some(StreamId::Refusal(
            "6f1c0e2a-0000-4000-8000-000000000001".into()
        ))
    );
    assert!(StreamId::is_ledger_stream(&name));
    assert!(!StreamId::holds_facts(&name));
    for facts in ["network", "settlement", "item-ZB-000123", "patron-ab12"] {
        assert!(StreamId::holds_facts(facts), "{facts}");
    }
    assert!(!StreamId::holds_facts("orders-1"), "not a ledger stream");
}
