//! The test network, its items and patrons, and builders for events and commands.

use chrono::{DateTime, Duration, Utc};
use readnet_domain::pb::{
    self, Acquisition, CreditTier, LibraryTier, ReturnPolicy, TransferReason,
};
use readnet_domain::{Command, Fen, NewBook, PatronRef, Payload};

use super::{card, shanghai};

/// Monday 2 March 2026, 10:00 in Jinan and Zibo: "now" unless a test says otherwise.
pub fn t0() -> DateTime<Utc> {
    shanghai(2026, 3, 2, 10, 0, 0)
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// Li Wei, a Jinan card holder.
pub fn li_wei() -> PatronRef {
    card("jinan", "370102199001011234")
}

/// Wang Fang, a Zibo card holder.
pub fn wang_fang() -> PatronRef {
    card("zibo", "370303198505052345")
}

/// A Qingdao card: Qingdao is not a member of the network.
pub fn qingdao_card() -> PatronRef {
    card("qingdao", "370203197707073456")
}

pub fn city_joined(city: &str, name: &str, time_zone: &str) -> Payload {
    Payload::CityJoined(pb::CityJoined {
        city: city.into(),
        name: name.into(),
        time_zone: time_zone.into(),
    })
}

pub fn library_registered(
    library: &str,
    city: &str,
    tier: LibraryTier,
    parent: Option<&str>,
) -> Payload {
    Payload::LibraryRegistered(pb::LibraryRegistered {
        library: library.into(),
        name: format!("{library} library"),
        city: city.into(),
        tier: tier as i32,
        parent: parent.unwrap_or_default().into(),
    })
}

pub fn library_closed(library: &str) -> Payload {
    Payload::LibraryClosed(pb::LibraryClosed {
        library: library.into(),
        reason: "renovation".into(),
    })
}

pub fn return_policy_set(library: &str, policy: ReturnPolicy) -> Payload {
    Payload::ReturnPolicySet(pb::ReturnPolicySet {
        library: library.into(),
        policy: policy as i32,
    })
}

/// A purchased book on the shelf of its owner (or in its owner booth).
pub fn catalogued(item: &str, owner: &str, price_fen: Option<i64>) -> Payload {
    Payload::ItemCatalogued(pb::ItemCatalogued {
        item: item.into(),
        isbn: String::new(),
        title: format!("Title of {item}"),
        author: "Anon.".into(),
        owner_library: owner.into(),
        price_fen,
        acquisition: Acquisition::Purchase as i32,
        placed_at: owner.into(),
        in_booth: owner.contains("BOOTH"),
    })
}

/// `n` purchased books owned by `owner`, ids `<prefix>-01`, `<prefix>-02`…
pub fn shelf_items(owner: &str, prefix: &str, n: usize) -> Vec<Payload> {
    (1..=n)
        .map(|i| catalogued(&item_code(prefix, i), owner, Some(2000)))
        .collect()
}

pub fn item_code(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:02}")
}

pub fn enrolled(patron: &PatronRef, tier: CreditTier) -> Payload {
    Payload::PatronEnrolled(pb::PatronEnrolled {
        patron_id: patron.patron_id.clone().into(),
        home_city: patron.city.clone().into(),
        tier: tier as i32,
    })
}

/// The network of the tests: Jinan and Zibo (both Asia/Shanghai), their libraries, some books.
///
/// | library | city | tier | parent |
/// |---|---|---|---|
/// | JN-CENTRAL | jinan | central | |
/// | JN-LIXIA-03 | jinan | branch | JN-CENTRAL |
/// | JN-BOOTH-01 | jinan | booth | JN-LIXIA-03 |
/// | ZB-CENTRAL | zibo | central | |
/// | ZB-ZHOUCUN-07 | zibo | branch | ZB-CENTRAL |
///
/// Books: ZB-000123 (ZB-CENTRAL, 4500 fen), ZB-000124 (ZB-ZHOUCUN-07, 3500 fen), JN-000001
/// (JN-CENTRAL, price unknown), JN-000002 (JN-CENTRAL, 3900 fen), JN-000003 (JN-LIXIA-03,
/// 2800 fen), and JN-B-0001 in booth JN-BOOTH-01 (owned by the booth, 1500 fen).
pub fn network_jinan_zibo() -> Vec<Payload> {
    vec![
        city_joined("jinan", "济南", "Asia/Shanghai"),
        city_joined("zibo", "淄博", "Asia/Shanghai"),
        library_registered("JN-CENTRAL", "jinan", LibraryTier::Central, None),
        library_registered(
            "JN-LIXIA-03",
            "jinan",
            LibraryTier::Branch,
            Some("JN-CENTRAL"),
        ),
        library_registered(
            "JN-BOOTH-01",
            "jinan",
            LibraryTier::Booth,
            Some("JN-LIXIA-03"),
        ),
        library_registered("ZB-CENTRAL", "zibo", LibraryTier::Central, None),
        library_registered(
            "ZB-ZHOUCUN-07",
            "zibo",
            LibraryTier::Branch,
            Some("ZB-CENTRAL"),
        ),
        catalogued("ZB-000123", "ZB-CENTRAL", Some(4500)),
        catalogued("ZB-000124", "ZB-ZHOUCUN-07", Some(3500)),
        catalogued("JN-000001", "JN-CENTRAL", None),
        catalogued("JN-000002", "JN-CENTRAL", Some(3900)),
        catalogued("JN-000003", "JN-LIXIA-03", Some(2800)),
        catalogued("JN-B-0001", "JN-BOOTH-01", Some(1500)),
    ]
}

pub fn book(item: &str, title: &str, price_fen: Option<i64>) -> NewBook {
    NewBook {
        item: item.into(),
        isbn: "9787020024759".into(),
        title: title.into(),
        author: "钱锺书".into(),
        price_fen: price_fen.map(Fen),
    }
}

pub fn checkout(item: &str, patron: &PatronRef) -> Command {
    Command::Checkout {
        item: item.into(),
        patron: patron.clone(),
    }
}

pub fn renew(item: &str, patron: &PatronRef) -> Command {
    Command::Renew {
        item: item.into(),
        patron: patron.clone(),
    }
}

pub fn give_back(item: &str) -> Command {
    Command::Return { item: item.into() }
}

pub fn dispatch(item: &str, to_library: &str, reason: TransferReason) -> Command {
    Command::DispatchTransfer {
        item: item.into(),
        to_library: to_library.into(),
        reason,
    }
}

pub fn receive(item: &str) -> Command {
    Command::ReceiveTransfer { item: item.into() }
}

pub fn declare_lost(item: &str) -> Command {
    Command::DeclareLost { item: item.into() }
}

pub fn pay(item: &str, amount_fen: i64) -> Command {
    Command::PayLostItem {
        item: item.into(),
        amount_fen: Fen(amount_fen),
    }
}

pub fn waive(item: &str) -> Command {
    Command::WaiveLostItemDebt {
        item: item.into(),
        reason: "hardship".into(),
    }
}

pub fn withdraw(item: &str) -> Command {
    Command::Withdraw {
        item: item.into(),
        reason: "worn out".into(),
    }
}

pub fn set_tier(patron: &PatronRef, tier: CreditTier) -> Command {
    Command::SetPatronTier {
        patron: patron.clone(),
        tier,
    }
}
