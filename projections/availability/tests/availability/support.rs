//! The test network and a small language for histories decided by the real domain rules.

use chrono::{DateTime, Duration, TimeZone, Utc};
use readnet_availability::{Availability, Counts};
use readnet_domain::pb::{Acquisition, LibraryTier, ReturnPolicy, TransferReason};
use readnet_domain::{Command, Fen, NewBook, PatronRef};
use readnet_ledger::history::{History, card};
use readnet_projection::{ProjectedEvent, Projection};

/// Jinan, Tai'an and Zibo, with their libraries:
/// - `JN-CENTRAL` (central), `JN-LIXIA-01` (branch, floats its items in Jinan), `JN-BOOTH-01`;
/// - `TA-CENTRAL` (central);
/// - `ZB-CENTRAL` (central), `ZB-ZHOUCUN-07` (branch), `ZB-BOOTH-01`.
pub const LIBRARIES: [(&str, &str, LibraryTier); 7] = [
    ("JN-CENTRAL", "jinan", LibraryTier::Central),
    ("JN-LIXIA-01", "jinan", LibraryTier::Branch),
    ("JN-BOOTH-01", "jinan", LibraryTier::Booth),
    ("TA-CENTRAL", "taian", LibraryTier::Central),
    ("ZB-CENTRAL", "zibo", LibraryTier::Central),
    ("ZB-ZHOUCUN-07", "zibo", LibraryTier::Branch),
    ("ZB-BOOTH-01", "zibo", LibraryTier::Booth),
];

/// 《三体》 by 刘慈欣, ISBN 978-7-5366-9293-0.
pub const SANTI_ISBN: &str = "978-7-5366-9293-0";
pub const SANTI_KEY: &str = "isbn:9787536692930";

/// Monday 2 March 2026, 10:00 in China.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

pub fn li_wei() -> PatronRef {
    card("jinan", "370102199001011234")
}

pub fn wang_fang() -> PatronRef {
    card("zibo", "370303198505052345")
}

pub fn book(item: &str, isbn: &str, title: &str, author: &str) -> NewBook {
    NewBook {
        item: item.into(),
        isbn: isbn.into(),
        title: title.into(),
        author: author.into(),
        price_fen: Some(Fen(4_500)),
    }
}

pub fn santi(item: &str) -> NewBook {
    book(item, SANTI_ISBN, "三体", "刘慈欣")
}

/// A history being written, one command a minute.
pub struct Net {
    pub history: History,
    pub at: DateTime<Utc>,
}

impl Net {
    /// The three cities and their libraries, nothing catalogued.
    pub fn new() -> Self {
        let mut net = Net {
            history: History::new(),
            at: t0(),
        };
        for city in ["jinan", "taian", "zibo"] {
            net.system(Command::JoinCity {
                city: city.into(),
                name: city.into(),
                time_zone: String::new(),
            });
        }
        for (library, city, tier) in LIBRARIES {
            net.system(Command::RegisterLibrary {
                library: library.into(),
                name: library.into(),
                city: city.into(),
                tier,
                parent: None,
            });
        }
        net.system(Command::SetReturnPolicy {
            library: "JN-LIXIA-01".into(),
            policy: ReturnPolicy::FloatInCity,
        });
        net
    }

    fn tick(&mut self) -> DateTime<Utc> {
        self.at += Duration::minutes(1);
        self.at
    }

    pub fn system(&mut self, command: Command) -> Vec<ProjectedEvent> {
        let at = self.tick();
        self.history.run(at, None, command).to_vec()
    }

    /// A command acting through `library`, which must be accepted.
    pub fn by(&mut self, library: &str, command: Command) -> Vec<ProjectedEvent> {
        let at = self.tick();
        self.history.run(at, Some(library), command).to_vec()
    }

    pub fn catalogue(&mut self, owner: &str, book: NewBook) {
        self.system(Command::CatalogueItem {
            book,
            owner_library: owner.into(),
            acquisition: Acquisition::Purchase,
        });
    }

    pub fn checkout(&mut self, library: &str, item: &str, patron: PatronRef) {
        self.by(
            library,
            Command::Checkout {
                item: item.into(),
                patron,
            },
        );
    }

    pub fn return_at(&mut self, library: &str, item: &str) {
        self.by(library, Command::Return { item: item.into() });
    }

    pub fn dispatch(&mut self, from: &str, item: &str, to: &str, reason: TransferReason) {
        self.by(
            from,
            Command::DispatchTransfer {
                item: item.into(),
                to_library: to.into(),
                reason,
            },
        );
    }

    pub fn receive(&mut self, at: &str, item: &str) {
        self.by(at, Command::ReceiveTransfer { item: item.into() });
    }

    /// Catalogued at `owner`, sent to `booth` and received there.
    pub fn stock_booth(&mut self, owner: &str, booth: &str, book: NewBook) {
        let item = book.item.clone();
        self.catalogue(owner, book);
        self.dispatch(owner, item.as_str(), booth, TransferReason::Rebalance);
        self.receive(booth, item.as_str());
    }

    /// The projection folded from the first event.
    pub fn fold(&self) -> Availability {
        fold(self.history.events())
    }
}

pub fn fold(events: &[ProjectedEvent]) -> Availability {
    let mut state = Availability::default();
    for event in events {
        state.apply(event);
    }
    state
}

/// Counts written field by field, for readable expectations.
pub fn counts(
    on_shelf: u32,
    homebound: u32,
    on_loan: u32,
    in_transit_to: u32,
    in_booth: u32,
) -> Counts {
    Counts {
        on_shelf,
        homebound,
        on_loan,
        in_transit_to,
        in_booth,
        held: 0,
    }
}

/// A clock standing still at `now`, for the services' "now".
pub fn clock_at(now: DateTime<Utc>) -> std::sync::Arc<dyn readnet_domain::Clock> {
    std::sync::Arc::new(readnet_domain::ManualClock::new(now))
}
