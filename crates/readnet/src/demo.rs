//! The demo: a Jinan–Zibo story played through the gRPC API, one printed sentence per step.
//!
//! Every step says what the server should answer, so the demo doubles as a smoke test: a step
//! that should succeed and fails, or should be refused and is accepted, stops it with an error.
//! Barcodes and card numbers carry a per-run tag, so the story can be played twice against one
//! server; cities and libraries from an earlier run count as already set up.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail, ensure};
use readnet_proto::v1::{
    self, Card, Channel, CommandReceipt, CreditTier, ItemStatus, LibraryTier, ReturnPolicy,
    TransferReason, event::Payload,
};
use tokio::sync::oneshot;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::client::{Actor, Call, Client, Envelope};
use crate::output;
use crate::tls::ClientTls;

/// How long to wait for the in-process server to accept connections.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(15);
/// The visits the story's gate counter reports.
pub const DEMO_VISITS: u64 = 128;

/// A library of the story's network.
struct Library {
    code: &'static str,
    name: &'static str,
    city: &'static str,
    tier: LibraryTier,
    parent: &'static str,
}

const LIBRARIES: &[Library] = &[
    Library {
        code: "JN-CENTRAL",
        name: "济南市图书馆",
        city: "jinan",
        tier: LibraryTier::Central,
        parent: "",
    },
    Library {
        code: "JN-LIXIA-03",
        name: "历下区图书馆第三分馆",
        city: "jinan",
        tier: LibraryTier::Branch,
        parent: "JN-CENTRAL",
    },
    Library {
        code: "JN-QUANCHENG-24H",
        name: "泉城24小时自助图书馆",
        city: "jinan",
        tier: LibraryTier::SelfService,
        parent: "JN-CENTRAL",
    },
    Library {
        code: "JN-BOOTH-01",
        name: "泉城广场漂流书巢",
        city: "jinan",
        tier: LibraryTier::Booth,
        parent: "JN-CENTRAL",
    },
    Library {
        code: "ZB-CENTRAL",
        name: "淄博市图书馆",
        city: "zibo",
        tier: LibraryTier::Central,
        parent: "",
    },
    Library {
        code: "ZB-ZHOUCUN-07",
        name: "周村区图书馆分馆",
        city: "zibo",
        tier: LibraryTier::Branch,
        parent: "ZB-CENTRAL",
    },
];

/// A book catalogued at the start; `key` plus the run's tag is its barcode.
struct Book {
    key: &'static str,
    owner: &'static str,
    title: &'static str,
    author: &'static str,
    isbn: &'static str,
    price_fen: i64,
}

const BOOKS: &[Book] = &[
    Book {
        key: "ZB-01",
        owner: "ZB-CENTRAL",
        title: "聊斋志异",
        author: "蒲松龄",
        isbn: "9787020008735",
        price_fen: 4500,
    },
    Book {
        key: "ZB-02",
        owner: "ZB-CENTRAL",
        title: "活着",
        author: "余华",
        isbn: "9787506365437",
        price_fen: 2000,
    },
    Book {
        key: "ZB-03",
        owner: "ZB-ZHOUCUN-07",
        title: "平凡的世界",
        author: "路遥",
        isbn: "9787020049295",
        price_fen: 10800,
    },
    Book {
        key: "ZB-04",
        owner: "ZB-CENTRAL",
        title: "三体",
        author: "刘慈欣",
        isbn: "9787536692930",
        price_fen: 2300,
    },
    Book {
        key: "ZB-05",
        owner: "ZB-CENTRAL",
        title: "白鹿原",
        author: "陈忠实",
        isbn: "9787020090013",
        price_fen: 3900,
    },
    Book {
        key: "JN-01",
        owner: "JN-CENTRAL",
        title: "老残游记",
        author: "刘鹗",
        isbn: "9787020024759",
        price_fen: 1800,
    },
    Book {
        key: "JN-02",
        owner: "JN-CENTRAL",
        title: "围城",
        author: "钱锺书",
        isbn: "9787020090006",
        price_fen: 3900,
    },
    Book {
        key: "JN-03",
        owner: "JN-CENTRAL",
        title: "红高粱家族",
        author: "莫言",
        isbn: "9787532736720",
        price_fen: 3500,
    },
    Book {
        key: "JN-04",
        owner: "JN-CENTRAL",
        title: "边城",
        author: "沈从文",
        isbn: "9787530211953",
        price_fen: 2500,
    },
    Book {
        key: "JN-05",
        owner: "JN-LIXIA-03",
        title: "朝花夕拾",
        author: "鲁迅",
        isbn: HELD_ISBN,
        price_fen: 1800,
    },
];

/// The title the holds story asks for: its only copy stands in a Jinan branch.
const HELD_ISBN: &str = "9787020102457";

/// What a step does.
#[derive(Clone)]
enum Action {
    // Boxed: a request is large beside an item barcode.
    Send(Box<Call>),
    LookUp(String),
}

/// What the story expects the server to answer.
enum Expect {
    Accepted,
    /// Accepted, or ALREADY_EXISTS because an earlier run set it up.
    SetUp,
    /// Refused with one of these codes.
    Refused(&'static [Code]),
    /// A retry of an earlier step's command id: the same receipt, marked duplicate.
    Retry,
    /// An accepted return that leaves the item homebound, or not.
    Returned {
        homebound: bool,
    },
    /// The item is in this state at this library.
    Item {
        status: ItemStatus,
        library: &'static str,
    },
}

/// One step of the story.
struct Step {
    says: String,
    actor: Actor,
    /// Whose credential the step is sent with; `None`: the principal that acts at the step's
    /// library (see [`Who::acting_at`]).
    by: Option<Who>,
    action: Action,
    expect: Expect,
}

fn step(says: impl Into<String>, actor: Actor, action: Action, expect: Expect) -> Step {
    Step {
        says: says.into(),
        actor,
        by: None,
        action,
        expect,
    }
}

impl Step {
    /// The step sent with `who`'s credential instead of the acting library's own.
    fn by(mut self, who: Who) -> Self {
        self.by = Some(who);
        self
    }
}

/// The principals of the story: the administrator the server created, and those it adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Admin,
    /// One desk principal over Jinan's staffed libraries (an outsourced operator).
    JinanDesk,
    ZiboDesk,
    /// The 24-hour self-service library's kiosk.
    Kiosk,
    Booth,
}

impl Who {
    /// Who acts for `actor`: the desk of the library's city, the kiosk on the kiosk channel,
    /// the booth on the booth channel, the administrator for the network's own business.
    fn acting_at(actor: &Actor) -> Who {
        match (&actor.library, actor.channel) {
            (None, _) => Who::Admin,
            (Some(_), Channel::Kiosk) => Who::Kiosk,
            (Some(_), Channel::Booth) => Who::Booth,
            (Some(library), _) if library.starts_with("ZB-") => Who::ZiboDesk,
            (Some(_), _) => Who::JinanDesk,
        }
    }

    /// The principal's name in this run, its role and libraries, as `principal add` takes them.
    fn grant(self, tag: &str) -> Option<(String, v1::Role, &'static [&'static str])> {
        let tag = tag.to_ascii_lowercase();
        Some(match self {
            Who::Admin => return None,
            Who::JinanDesk => (
                format!("jinan-desk-{tag}"),
                v1::Role::Desk,
                &["JN-CENTRAL", "JN-LIXIA-03"],
            ),
            Who::ZiboDesk => (
                format!("zibo-desk-{tag}"),
                v1::Role::Desk,
                &["ZB-CENTRAL", "ZB-ZHOUCUN-07"],
            ),
            Who::Kiosk => (
                format!("quancheng-kiosk-{tag}"),
                v1::Role::Kiosk,
                &["JN-QUANCHENG-24H"],
            ),
            Who::Booth => (
                format!("quancheng-booth-{tag}"),
                v1::Role::Booth,
                &["JN-BOOTH-01"],
            ),
        })
    }
}

/// A client per principal of the story.
struct Principals(HashMap<Who, Client>);

impl Principals {
    /// Adds the story's principals as the administrator and connects as each.
    async fn add(admin: &Client, story: &Story) -> anyhow::Result<Self> {
        let mut clients = HashMap::from([(Who::Admin, admin.clone())]);
        for who in [Who::JinanDesk, Who::ZiboDesk, Who::Kiosk, Who::Booth] {
            let (name, role, libraries) = who.grant(&story.tag).expect("a principal to add");
            let request = v1::AddPrincipalRequest {
                command_id: Uuid::new_v4().to_string(),
                principal: name.clone(),
                grant: Some(v1::Grant {
                    role: role.into(),
                    city: String::new(),
                    libraries: libraries.iter().map(|l| (*l).to_owned()).collect(),
                }),
                ..Default::default()
            };
            let token = admin
                .access()
                .add_principal(request)
                .await
                .map_err(|status| {
                    anyhow!("adding principal {name}: {}", output::status_line(&status))
                })?
                .into_inner()
                .token;
            let libraries: Vec<String> = libraries.iter().map(|l| (*l).to_owned()).collect();
            println!(
                "    principal {name}: {}",
                output::grant_words(role, "", &libraries)
            );
            clients.insert(who, admin.with_token(&token)?);
        }
        Ok(Self(clients))
    }

    fn client(&self, step: &Step) -> &Client {
        let who = step.by.unwrap_or_else(|| Who::acting_at(&step.actor));
        &self.0[&who]
    }
}

fn desk(library: &str) -> Actor {
    Actor::at(library, Channel::Desk)
}

/// One run of the story: its tag keeps barcodes and cards apart from earlier runs.
struct Story {
    tag: String,
    card_digits: String,
    correlation_id: String,
}

impl Story {
    fn new() -> Self {
        let run = Uuid::new_v4();
        let tag = run.simple().to_string()[..4].to_ascii_uppercase();
        let card_digits = format!("{:08}", run.as_u128() % 100_000_000);
        Self {
            tag,
            card_digits,
            correlation_id: Uuid::new_v4().to_string(),
        }
    }

    fn item(&self, key: &str) -> String {
        format!("{key}-{}", self.tag)
    }

    /// A card of `city`; `prefix` tells the story's patrons apart.
    fn card(&self, city: &str, prefix: &str) -> Card {
        Card {
            city: city.to_owned(),
            number: format!("{prefix}{}", self.card_digits),
        }
    }

    fn jinan_reader(&self) -> Card {
        self.card("jinan", "370102")
    }

    fn zibo_reader(&self) -> Card {
        self.card("zibo", "370303")
    }

    fn second_jinan_reader(&self) -> Card {
        self.card("jinan", "370105")
    }

    fn second_zibo_reader(&self) -> Card {
        self.card("zibo", "370304")
    }

    /// Sends `call` as a new command of this run: a fresh command id, the run's correlation id.
    fn send(&self, call: Call) -> Action {
        let envelope = Envelope {
            command_id: Uuid::new_v4().to_string(),
            occurred_at: None,
            correlation_id: self.correlation_id.clone(),
        };
        Action::Send(Box::new(call.with_envelope(envelope)))
    }

    fn checkout(&self, key: &str, card: Card) -> Action {
        self.send(Call::Checkout(v1::CheckoutRequest {
            item: self.item(key),
            card: Some(card),
            ..Default::default()
        }))
    }

    fn return_item(&self, key: &str) -> Action {
        self.send(Call::Return(v1::ReturnRequest {
            item: self.item(key),
            ..Default::default()
        }))
    }

    fn dispatch(&self, key: &str, to_library: &str, reason: TransferReason) -> Action {
        self.send(Call::Dispatch(v1::DispatchTransferRequest {
            item: self.item(key),
            to_library: to_library.to_owned(),
            reason: reason.into(),
            ..Default::default()
        }))
    }

    fn receive(&self, key: &str) -> Action {
        self.send(Call::Receive(v1::ReceiveTransferRequest {
            item: self.item(key),
            ..Default::default()
        }))
    }

    fn look_up(&self, key: &str) -> Action {
        Action::LookUp(self.item(key))
    }

    /// Cities, libraries and the float policy: the same every run.
    fn network(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for (city, name) in [("jinan", "济南"), ("zibo", "淄博")] {
            let request = v1::JoinCityRequest {
                city: city.to_owned(),
                name: name.to_owned(),
                time_zone: "Asia/Shanghai".to_owned(),
                ..Default::default()
            };
            let says = format!("{name} ({city}) joins the network, on Asia/Shanghai time");
            steps.push(step(
                says,
                Actor::network(),
                self.send(Call::JoinCity(request)),
                Expect::SetUp,
            ));
        }
        for library in LIBRARIES {
            let request = v1::RegisterLibraryRequest {
                library: library.code.to_owned(),
                name: library.name.to_owned(),
                city: library.city.to_owned(),
                tier: library.tier.into(),
                parent: library.parent.to_owned(),
                ..Default::default()
            };
            let tier = library
                .tier
                .as_str_name()
                .trim_start_matches("LIBRARY_TIER_")
                .to_ascii_lowercase();
            let under = if library.parent.is_empty() {
                String::new()
            } else {
                format!(" under {}", library.parent)
            };
            let says = format!(
                "{} {} opens in {} ({tier}{under})",
                library.code, library.name, library.city
            );
            steps.push(step(
                says,
                Actor::network(),
                self.send(Call::RegisterLibrary(request)),
                Expect::SetUp,
            ));
        }
        let request = v1::SetReturnPolicyRequest {
            library: "ZB-ZHOUCUN-07".to_owned(),
            policy: ReturnPolicy::FloatInCity.into(),
            ..Default::default()
        };
        steps.push(step(
            "ZB-ZHOUCUN-07 lets its books float: returned anywhere in Zibo, they stay there",
            Actor::network(),
            self.send(Call::SetReturnPolicy(request)),
            Expect::SetUp,
        ));
        steps
    }

    fn catalogue(&self) -> Vec<Step> {
        BOOKS
            .iter()
            .map(|book| {
                let request = v1::CatalogueItemRequest {
                    item: self.item(book.key),
                    isbn: book.isbn.to_owned(),
                    title: book.title.to_owned(),
                    author: book.author.to_owned(),
                    owner_library: book.owner.to_owned(),
                    price_fen: Some(book.price_fen),
                    acquisition: v1::Acquisition::Purchase.into(),
                    ..Default::default()
                };
                let says = format!(
                    "{} catalogues 《{}》 by {} as {}, bought for {} fen",
                    book.owner,
                    book.title,
                    book.author,
                    self.item(book.key),
                    book.price_fen
                );
                step(
                    says,
                    desk(book.owner),
                    self.send(Call::Catalogue(request)),
                    Expect::Accepted,
                )
            })
            .collect()
    }

    /// The worked example of the domain: borrowed in Zibo, returned in Jinan, shipped home.
    fn worked_example(&self) -> Vec<Step> {
        let renew = v1::RenewRequest {
            item: self.item("ZB-01"),
            card: Some(self.jinan_reader()),
            ..Default::default()
        };
        vec![
            step(
                "A Jinan reader borrows Zibo's 《聊斋志异》 at ZB-CENTRAL with their social-security card",
                desk("ZB-CENTRAL"),
                self.checkout("ZB-01", self.jinan_reader()),
                Expect::Accepted,
            ),
            step(
                "Back home the same day, they try to renew it at the 24-hour kiosk JN-QUANCHENG-24H: a renewal that would not move the due date is refused",
                Actor::at("JN-QUANCHENG-24H", Channel::Kiosk),
                self.send(Call::Renew(renew)),
                Expect::Refused(&[Code::FailedPrecondition]),
            ),
            step(
                "They return it at the Jinan branch JN-LIXIA-03: it must travel home to Zibo",
                desk("JN-LIXIA-03"),
                self.return_item("ZB-01"),
                Expect::Returned { homebound: true },
            ),
            step(
                "Another Jinan reader asks for it at JN-LIXIA-03, but a homebound book is not lent",
                desk("JN-LIXIA-03"),
                self.checkout("ZB-01", self.second_jinan_reader()),
                Expect::Refused(&[Code::FailedPrecondition]),
            ),
            step(
                "JN-LIXIA-03 ships it back to ZB-CENTRAL (repatriation)",
                desk("JN-LIXIA-03"),
                self.dispatch("ZB-01", "ZB-CENTRAL", TransferReason::Repatriation),
                Expect::Accepted,
            ),
            step(
                "ZB-CENTRAL receives it: 《聊斋志异》 is back home",
                desk("ZB-CENTRAL"),
                self.receive("ZB-01"),
                Expect::Accepted,
            ),
        ]
    }

    fn zibo_reader_travels(&self) -> Vec<Step> {
        vec![
            step(
                "A Zibo reader borrows 《老残游记》 at JN-CENTRAL in Jinan",
                desk("JN-CENTRAL"),
                self.checkout("JN-01", self.zibo_reader()),
                Expect::Accepted,
            ),
            step(
                "The Zibo reader borrows 《平凡的世界》 at ZB-ZHOUCUN-07",
                desk("ZB-ZHOUCUN-07"),
                self.checkout("ZB-03", self.zibo_reader()),
                Expect::Accepted,
            ),
            step(
                "They return it at ZB-CENTRAL: Zhoucun's books float in Zibo, so it stays there",
                desk("ZB-CENTRAL"),
                self.return_item("ZB-03"),
                Expect::Returned { homebound: false },
            ),
            step(
                "Where is 《平凡的世界》 now?",
                Actor::network(),
                self.look_up("ZB-03"),
                Expect::Item {
                    status: ItemStatus::OnShelf,
                    library: "ZB-CENTRAL",
                },
            ),
        ]
    }

    fn refusals_and_retry(&self) -> Vec<Step> {
        let checkout = self.checkout("JN-03", self.jinan_reader());
        let retry = checkout.clone();
        let outsider = Card {
            city: "qingdao".to_owned(),
            number: format!("370203{}", self.card_digits),
        };
        vec![
            step(
                "The Jinan reader borrows 《红高粱家族》 at JN-CENTRAL",
                desk("JN-CENTRAL"),
                checkout,
                Expect::Accepted,
            ),
            step(
                "The desk's network hiccups and it sends the same checkout (same command id) again",
                desk("JN-CENTRAL"),
                retry,
                Expect::Retry,
            ),
            step(
                "Another Jinan reader tries to borrow 《红高粱家族》, already on loan",
                desk("JN-CENTRAL"),
                self.checkout("JN-03", self.second_jinan_reader()),
                Expect::Refused(&[Code::FailedPrecondition]),
            ),
            step(
                "Jinan's desk tries to lend 《边城》 at ZB-CENTRAL, a Zibo library it does not run",
                desk("ZB-CENTRAL"),
                self.checkout("JN-04", self.jinan_reader()),
                Expect::Refused(&[Code::PermissionDenied]),
            )
            .by(Who::JinanDesk),
            step(
                "A Qingdao card, from a city outside the network, tries to borrow 《边城》",
                desk("JN-CENTRAL"),
                self.checkout("JN-04", outsider),
                Expect::Refused(&[
                    Code::FailedPrecondition,
                    Code::NotFound,
                    Code::PermissionDenied,
                ]),
            ),
        ]
    }

    /// The Zibo reader, restricted to 3 items, reaches the limit.
    fn limit(&self) -> Vec<Step> {
        let restrict = v1::SetPatronTierRequest {
            card: Some(self.zibo_reader()),
            tier: CreditTier::Restricted.into(),
            ..Default::default()
        };
        vec![
            step(
                "The Zibo reader's card is set to the restricted tier: 3 items at once",
                Actor::network(),
                self.send(Call::SetPatronTier(restrict)),
                Expect::Accepted,
            ),
            step(
                "They borrow 《活着》 at ZB-CENTRAL (2 on loan)",
                desk("ZB-CENTRAL"),
                self.checkout("ZB-02", self.zibo_reader()),
                Expect::Accepted,
            ),
            step(
                "They borrow 《三体》 at ZB-CENTRAL (3 on loan)",
                desk("ZB-CENTRAL"),
                self.checkout("ZB-04", self.zibo_reader()),
                Expect::Accepted,
            ),
            step(
                "A fourth book, 《白鹿原》, is over their limit",
                desk("ZB-CENTRAL"),
                self.checkout("ZB-05", self.zibo_reader()),
                Expect::Refused(&[Code::FailedPrecondition, Code::ResourceExhausted]),
            ),
        ]
    }

    fn booth(&self) -> Vec<Step> {
        let swap = v1::BoothSwapRequest {
            take_item: self.item("JN-02"),
            card: Some(self.second_jinan_reader()),
            deposit: Some(v1::BookDescription {
                item: self.item("JNB-01"),
                isbn: "9787020103607".to_owned(),
                title: "骆驼祥子".to_owned(),
                author: "老舍".to_owned(),
                price_fen: None,
            }),
            ..Default::default()
        };
        vec![
            step(
                "JN-CENTRAL restocks the booth JN-BOOTH-01 with 《围城》 (rebalance)",
                desk("JN-CENTRAL"),
                self.dispatch("JN-02", "JN-BOOTH-01", TransferReason::Rebalance),
                Expect::Accepted,
            ),
            step(
                "The booth JN-BOOTH-01 receives it",
                Actor::at("JN-BOOTH-01", Channel::Booth),
                self.receive("JN-02"),
                Expect::Accepted,
            ),
            step(
                "At the booth a Jinan reader takes 《围城》 and leaves their own 《骆驼祥子》",
                Actor::at("JN-BOOTH-01", Channel::Booth),
                self.send(Call::BoothSwap(swap)),
                Expect::Accepted,
            ),
            step(
                "Where is the deposited 《骆驼祥子》?",
                Actor::network(),
                self.look_up("JNB-01"),
                Expect::Item {
                    status: ItemStatus::InBooth,
                    library: "JN-BOOTH-01",
                },
            ),
        ]
    }

    fn acquisition_and_loss(&self) -> Vec<Step> {
        let acquire = v1::PatronDrivenAcquisitionRequest {
            card: Some(self.second_jinan_reader()),
            book: Some(v1::BookDescription {
                item: self.item("JNP-01"),
                isbn: "9787540453626".to_owned(),
                title: "额尔古纳河右岸".to_owned(),
                author: "迟子建".to_owned(),
                price_fen: Some(3980),
            }),
            ..Default::default()
        };
        let lost = v1::DeclareLostRequest {
            item: self.item("JN-03"),
            ..Default::default()
        };
        let pay = v1::PayLostItemRequest {
            item: self.item("JN-03"),
            amount_fen: 3500,
            ..Default::default()
        };
        vec![
            step(
                "你读书我买单: at JN-CENTRAL's partner bookstore a reader picks 《额尔古纳河右岸》; \
                 the library pays 3980 fen and lends it at once",
                desk("JN-CENTRAL"),
                self.send(Call::Acquire(acquire)),
                Expect::Accepted,
            ),
            step(
                "The Jinan reader has lost 《红高粱家族》: JN-CENTRAL declares it lost",
                desk("JN-CENTRAL"),
                self.send(Call::DeclareLost(lost)),
                Expect::Accepted,
            ),
            step(
                "They pay its price, 3500 fen",
                desk("JN-CENTRAL"),
                self.send(Call::PayLost(pay)),
                Expect::Accepted,
            ),
        ]
    }

    /// 网上借还 + 配送: a Zibo reader asks from the app for a title whose only copy is on a
    /// Jinan branch's shelf, to be picked up at Zhoucun; the copy travels through Jinan's
    /// distribution centre and only its holder may borrow it there (ADR 0013).
    fn hold_delivered(&self) -> Vec<Step> {
        let roles = v1::SetLibraryRolesRequest {
            library: "JN-CENTRAL".to_owned(),
            delivery_point: false,
            distribution_centre: true,
            ..Default::default()
        };
        let place = v1::PlaceHoldRequest {
            card: Some(self.second_zibo_reader()),
            wanted: Some(v1::HoldWanted {
                isbn: HELD_ISBN.to_owned(),
                ..Default::default()
            }),
            pickup_library: "ZB-ZHOUCUN-07".to_owned(),
            ..Default::default()
        };
        vec![
            step(
                "JN-CENTRAL is Jinan's distribution centre (配送中心): held books leave Jinan through it",
                Actor::network(),
                self.send(Call::SetLibraryRoles(roles)),
                Expect::Accepted,
            ),
            step(
                "A Zibo reader asks in the app for 《朝花夕拾》, to pick up at ZB-ZHOUCUN-07; the only copy is on JN-LIXIA-03's shelf",
                Actor {
                    library: None,
                    channel: Channel::App,
                },
                self.send(Call::PlaceHold(place)),
                Expect::Accepted,
            ),
            step(
                "A walk-in reader at JN-LIXIA-03 finds the copy, but it is set aside for the hold",
                desk("JN-LIXIA-03"),
                self.checkout("JN-05", self.second_jinan_reader()),
                Expect::Refused(&[Code::FailedPrecondition]),
            ),
            step(
                "JN-LIXIA-03 works its pick list: the copy goes to the distribution centre",
                desk("JN-LIXIA-03"),
                self.dispatch("JN-05", "JN-CENTRAL", TransferReason::Hold),
                Expect::Accepted,
            ),
            step(
                "The distribution centre receives it; it stays set aside, on the centre's pick list",
                desk("JN-CENTRAL"),
                self.receive("JN-05"),
                Expect::Accepted,
            ),
            step(
                "The van takes it on to ZB-ZHOUCUN-07 in Zibo",
                desk("JN-CENTRAL"),
                self.dispatch("JN-05", "ZB-ZHOUCUN-07", TransferReason::Hold),
                Expect::Accepted,
            ),
            step(
                "ZB-ZHOUCUN-07 receives it: on the hold shelf, ready for its reader",
                desk("ZB-ZHOUCUN-07"),
                self.receive("JN-05"),
                Expect::Accepted,
            ),
            step(
                "The Jinan reader, passing through Zhoucun, tries to borrow it: it waits for another reader",
                desk("ZB-ZHOUCUN-07"),
                self.checkout("JN-05", self.jinan_reader()),
                Expect::Refused(&[Code::FailedPrecondition]),
            ),
            step(
                "The Zibo reader picks it up and borrows it",
                desk("ZB-ZHOUCUN-07"),
                self.checkout("JN-05", self.second_zibo_reader()),
                Expect::Accepted,
            ),
        ]
    }

    /// The 24-hour library's gate counter reports the last quarter of an hour before now: the
    /// footfall the monitoring centre shows.
    fn footfall(&self) -> Vec<Step> {
        let now = chrono::Utc::now();
        let at = |minutes_ago: i64| {
            let instant = now - chrono::Duration::minutes(minutes_ago);
            readnet_proto::Timestamp {
                seconds: instant.timestamp(),
                nanos: 0,
            }
        };
        let report = v1::ReportFootfallRequest {
            gate: format!("gate-{}", self.tag.to_ascii_lowercase()),
            interval_start: Some(at(15)),
            interval_end: Some(at(0)),
            visits: DEMO_VISITS,
            ..Default::default()
        };
        vec![step(
            format!(
                "The gate of the 24-hour library JN-QUANCHENG-24H counted {DEMO_VISITS} visits in the last quarter of an hour (人流量)"
            ),
            Actor::at("JN-QUANCHENG-24H", Channel::Kiosk),
            self.send(Call::Footfall(report)),
            Expect::Accepted,
        )]
    }

    /// The whole story, in order.
    fn steps(&self) -> Vec<Step> {
        let mut steps = self.catalogue();
        steps.extend(self.worked_example());
        steps.extend(self.zibo_reader_travels());
        steps.extend(self.refusals_and_retry());
        steps.extend(self.limit());
        steps.extend(self.booth());
        steps.extend(self.acquisition_and_loss());
        steps.extend(self.hold_delivered());
        steps.extend(self.footfall());
        steps.push(step(
            "Finally: where is the worked example's 《聊斋志异》?",
            Actor::network(),
            self.look_up("ZB-01"),
            Expect::Item {
                status: ItemStatus::OnShelf,
                library: "ZB-CENTRAL",
            },
        ));
        steps
    }
}

/// Plays the story against `server`, or against a server of its own on a temporary directory.
/// `tls` is for an https:// `server`.
pub async fn run(
    server: Option<String>,
    token: Option<String>,
    tls: ClientTls,
) -> anyhow::Result<()> {
    if let Some(url) = server {
        let token = token.context(
            "the demo sets up the network as a network-admin: give its token with --token-file, \
             READNET_TOKEN or --data (the server's data directory)",
        )?;
        return play(&Client::connect(&url, Some(&token), &tls).await?).await;
    }
    ensure!(
        tls == ClientTls::default(),
        "--tls-ca, --tls-cert and --tls-key are for an https:// --server; the demo's own server \
         is plaintext on 127.0.0.1"
    );
    let data = tempfile::tempdir()
        .context("cannot create a temporary data directory for the demo server")?;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let data_dir = data.path().join("data");
    let token_file = crate::serve::admin_token_file(&data_dir);
    let config = crate::serve::ServeConfig {
        data_dir,
        store: None,
        listen,
        http_listen: None,
        patron_key_file: None,
        insecure: false,
        tls: None,
        limits: readnet_server::Limits::default(),
        http_max_connections: readnet_server::Limits::default().max_connections,
        refusal_window: readnet_server::REFUSAL_RETRY_WINDOW,
        max_backdate: readnet_server::DEFAULT_MAX_BACKDATE,
        hold_sweep: None,
        notice_tick: None,
        retention: None,
        sip2: None,
        checkpoint_every: None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let mut server = tokio::spawn(crate::serve::serve(config, async {
        // A dropped sender stops the server too.
        let _ = stopped.await;
    }));
    let url = format!("http://{listen}");
    let played = tokio::select! {
        played = async { play(&first_admin(&url, &token_file).await?).await } => played,
        ended = &mut server => {
            let why = match ended {
                Ok(Ok(())) => anyhow!("it stopped without an error"),
                Ok(Err(error)) => error,
                Err(join) => anyhow!("it panicked: {join}"),
            };
            return Err(why.context("the demo's own server stopped before the story ended"));
        }
    };
    let _ = stop.send(());
    let served = server
        .await
        .map_err(|join| anyhow!("the demo's own server panicked: {join}"))?;
    played?;
    served.context("the demo's own server failed while stopping")
}

/// The demo server's first administrator, once the server has created it and serves.
async fn first_admin(url: &str, token_file: &std::path::Path) -> anyhow::Result<Client> {
    let deadline = tokio::time::Instant::now() + SERVER_START_TIMEOUT;
    loop {
        let token = std::fs::read_to_string(token_file).unwrap_or_default();
        if !token.trim().is_empty() {
            let client = Client::connect(url, Some(&token), &ClientTls::default()).await?;
            // The token works once the server has recorded its principal.
            if client.access().who_am_i(v1::WhoAmIRequest {}).await.is_ok() {
                return Ok(client);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the demo's own server did not serve its administrator's token ({}) within {:?}",
                token_file.display(),
                SERVER_START_TIMEOUT
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port that was free a moment ago; the race with other programs is acceptable for a demo.
fn free_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot find a free port for the demo server")?;
    Ok(listener.local_addr()?.port())
}

/// Plays the story: the network set up by the administrator `admin` acts as, then the
/// principals the story needs added, then every step sent with its principal's token.
async fn play(admin: &Client) -> anyhow::Result<()> {
    let story = Story::new();
    println!("readnet demo, run {}: a Jinan–Zibo story", story.tag);
    // Made-up cards, new each run; printed so that a reader can be looked up or forgotten
    // afterwards (ADR 0018).
    let card = |c: Card| format!("{} {}", c.city, c.number);
    println!(
        "The story's cards: the Jinan reader {}, the Zibo reader {}, the other Jinan reader {}",
        card(story.jinan_reader()),
        card(story.zibo_reader()),
        card(story.second_jinan_reader())
    );
    let mut receipts: HashMap<String, CommandReceipt> = HashMap::new();
    let mut number = 0;
    let only_admin = Principals(HashMap::from([(Who::Admin, admin.clone())]));
    for step in story.network() {
        number += 1;
        perform_numbered(&only_admin, &step, number, &mut receipts).await?;
    }
    println!("The administrator adds the principals the story acts through:");
    let principals = Principals::add(admin, &story).await?;
    for step in story.steps() {
        number += 1;
        perform_numbered(&principals, &step, number, &mut receipts).await?;
    }
    println!("The story went as told.");
    Ok(())
}

async fn perform_numbered(
    principals: &Principals,
    step: &Step,
    number: usize,
    receipts: &mut HashMap<String, CommandReceipt>,
) -> anyhow::Result<()> {
    let outcome = perform(principals.client(step), step, receipts)
        .await
        .with_context(|| format!("step {number} went wrong: {}", step.says))?;
    println!("{number:>2}. {} — {outcome}", step.says);
    Ok(())
}

/// Performs one step, checks the answer against the story, and says what happened.
async fn perform(
    client: &Client,
    step: &Step,
    receipts: &mut HashMap<String, CommandReceipt>,
) -> anyhow::Result<String> {
    let call = match &step.action {
        Action::LookUp(item) => return look_up(client, item, &step.expect).await,
        Action::Send(call) => call.as_ref().clone(),
    };
    let answer = client.send(&step.actor, call).await;
    let receipt = match (answer, &step.expect) {
        (Ok(receipt), Expect::Refused(codes)) => {
            bail!(
                "accepted at position {}, but should have been refused with {}",
                receipt.position,
                names(codes)
            )
        }
        (Err(error), expect) => match error.downcast_ref::<Status>() {
            Some(status) => return refused(status, expect),
            None => return Err(error),
        },
        (Ok(receipt), _) => receipt,
    };
    let said = accepted(&receipt, &step.expect, receipts)?;
    receipts.insert(receipt.command_id.clone(), receipt);
    Ok(said)
}

fn names(codes: &[Code]) -> String {
    codes
        .iter()
        .map(|&code| output::code_name(code))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn refused(status: &Status, expect: &Expect) -> anyhow::Result<String> {
    match expect {
        Expect::Refused(codes) if codes.contains(&status.code()) => Ok(format!(
            "refused as expected: {}",
            output::status_line(status)
        )),
        Expect::Refused(codes) => {
            bail!(
                "refused with {}, but the story expects {}",
                output::status_line(status),
                names(codes)
            )
        }
        Expect::SetUp if status.code() == Code::AlreadyExists => Ok(format!(
            "already set up by an earlier run ({})",
            output::status_line(status)
        )),
        _ => bail!("refused: {}", output::status_line(status)),
    }
}

fn accepted(
    receipt: &CommandReceipt,
    expect: &Expect,
    earlier: &HashMap<String, CommandReceipt>,
) -> anyhow::Result<String> {
    match expect {
        Expect::Retry => {
            let original = earlier.get(&receipt.command_id).ok_or_else(|| {
                anyhow!(
                    "the story has no earlier receipt for command {}",
                    receipt.command_id
                )
            })?;
            ensure!(
                receipt.duplicate,
                "the retry was not marked duplicate: it wrote new events"
            );
            ensure!(
                positions(receipt) == positions(original) && receipt.position == original.position,
                "the retry answered positions {:?}, the original {:?}",
                positions(receipt),
                positions(original)
            );
            return Ok(format!(
                "duplicate = true, the same positions {:?} as the first time; nothing new written",
                positions(receipt)
            ));
        }
        Expect::Returned { homebound } => {
            let returned = receipt.events.iter().find_map(|recorded| {
                match recorded.event.as_ref()?.payload.as_ref()? {
                    Payload::ItemReturned(returned) => Some(returned),
                    _ => None,
                }
            });
            let returned =
                returned.ok_or_else(|| anyhow!("the receipt has no ItemReturned event"))?;
            ensure!(
                returned.homebound == *homebound,
                "the return says homebound = {}, the story expects {homebound}",
                returned.homebound
            );
        }
        Expect::Item { .. } => bail!("a command step cannot expect an item state"),
        Expect::Accepted | Expect::SetUp | Expect::Refused(_) => {}
    }
    ensure!(
        !receipt.duplicate,
        "a fresh command was answered as a duplicate of an earlier one"
    );
    let highlights = highlights(receipt);
    let position = format!("written at position {}", receipt.position);
    Ok(if highlights.is_empty() {
        position
    } else {
        format!("{position}: {}", highlights.join(", "))
    })
}

fn positions(receipt: &CommandReceipt) -> Vec<u64> {
    receipt.events.iter().map(|event| event.position).collect()
}

/// The facts of a receipt worth a word in the story.
fn highlights(receipt: &CommandReceipt) -> Vec<String> {
    let payloads = receipt
        .events
        .iter()
        .filter_map(|recorded| recorded.event.as_ref()?.payload.as_ref());
    payloads
        .filter_map(|payload| match payload {
            Payload::PatronEnrolled(e) => {
                Some(format!("card enrolled (home city {})", e.home_city))
            }
            Payload::ItemLoaned(e) => Some(format!("due {}", output::local_date_us(e.due_at_us))),
            Payload::ItemRenewed(e) => Some(format!(
                "renewal {}, now due {}",
                e.renewal_count,
                output::local_date_us(e.due_at_us)
            )),
            Payload::ItemReturned(e) if e.homebound => {
                Some(format!("homebound to {}", e.owner_library))
            }
            Payload::ItemReturned(e) => Some(format!("on the shelf at {}", e.library)),
            Payload::TransferReceived(e) if e.in_booth => {
                Some(format!("in booth {}", e.to_library))
            }
            Payload::BoothSwapped(e) => Some(format!(
                "{} left the network, {} joined it",
                e.item_taken, e.item_deposited
            )),
            Payload::ItemDeclaredLost(e) => Some(format!("the borrower owes {} fen", e.debt_fen)),
            Payload::HoldPlaced(e) => Some(format!("hold {} placed", e.hold)),
            Payload::HoldAssigned(e) => Some(format!(
                "hold {}: copy {} set aside at {}{}",
                e.hold,
                e.item,
                e.library,
                if e.trapped { " (trapped)" } else { "" }
            )),
            Payload::TransferDispatched(e) if e.hold != 0 => {
                Some(format!("hold {}: on its way to {}", e.hold, e.to_library))
            }
            Payload::HoldReady(e) => Some(format!(
                "hold {}: ready at {} until {}",
                e.hold,
                e.pickup_library,
                output::local_date_us(e.pickup_by_us)
            )),
            Payload::HoldFilled(e) => Some(format!("hold {} filled", e.hold)),
            _ => None,
        })
        .collect()
}

async fn look_up(client: &Client, item: &str, expect: &Expect) -> anyhow::Result<String> {
    let Expect::Item { status, library } = expect else {
        bail!("a look-up step must expect an item state");
    };
    let state = client.get_item(item).await?;
    ensure!(
        state.status() == *status && state.library == *library && !state.homebound,
        "the item is {}, the story expects {} at {library}",
        output::item_line(&state),
        status.as_str_name()
    );
    Ok(output::item_line(&state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barcodes_and_cards_differ_between_runs() {
        let (first, second) = (Story::new(), Story::new());
        assert_ne!(first.item("ZB-01"), second.item("ZB-01"));
        assert_ne!(first.jinan_reader().number, second.jinan_reader().number);
    }

    #[test]
    fn every_command_step_has_its_own_command_id_except_the_retry() {
        let steps = Story::new().steps();
        let mut seen = std::collections::HashSet::new();
        for step in &steps {
            let Action::Send(call) = &step.action else {
                continue;
            };
            let fresh = seen.insert(command_id(call).to_owned());
            assert_eq!(
                fresh,
                !matches!(step.expect, Expect::Retry),
                "step {:?}",
                step.says
            );
        }
    }

    #[test]
    fn story_refers_only_to_catalogued_books_and_known_libraries() {
        let story = Story::new();
        let known: Vec<String> = BOOKS.iter().map(|book| story.item(book.key)).collect();
        for step in story.steps() {
            if let Some(library) = &step.actor.library {
                assert!(
                    LIBRARIES.iter().any(|known| known.code == library),
                    "unknown library {library}"
                );
            }
            let Action::Send(call) = &step.action else {
                continue;
            };
            let item = match call.as_ref() {
                Call::Checkout(r) => &r.item,
                Call::Return(r) => &r.item,
                Call::Dispatch(r) => &r.item,
                Call::Receive(r) => &r.item,
                _ => continue,
            };
            assert!(
                known.contains(item),
                "step {:?} uses an uncatalogued item {item}",
                step.says
            );
        }
    }

    fn command_id(call: &Call) -> &str {
        match call {
            Call::JoinCity(r) => &r.command_id,
            Call::RegisterLibrary(r) => &r.command_id,
            Call::CloseLibrary(r) => &r.command_id,
            Call::SetReturnPolicy(r) => &r.command_id,
            Call::SetTariff(r) => &r.command_id,
            Call::SetPatronTier(r) => &r.command_id,
            Call::Catalogue(r) => &r.command_id,
            Call::Checkout(r) => &r.command_id,
            Call::Renew(r) => &r.command_id,
            Call::Return(r) => &r.command_id,
            Call::Dispatch(r) => &r.command_id,
            Call::Receive(r) => &r.command_id,
            Call::BoothSwap(r) => &r.command_id,
            Call::Acquire(r) => &r.command_id,
            Call::DeclareLost(r) => &r.command_id,
            Call::PayLost(r) => &r.command_id,
            Call::WaiveLost(r) => &r.command_id,
            Call::Withdraw(r) => &r.command_id,
            Call::PlaceHold(r) => &r.command_id,
            Call::CancelHold(r) => &r.command_id,
            Call::ExpireHolds(r) => &r.command_id,
            Call::SetLibraryRoles(r) => &r.command_id,
            Call::MoveLibrary(r) => &r.command_id,
            Call::RenameLibrary(r) => &r.command_id,
            Call::ChangeLibraryTier(r) => &r.command_id,
            Call::SetCalendar(r) => &r.command_id,
            Call::CloseTemporarily(r) => &r.command_id,
            Call::Reopen(r) => &r.command_id,
            Call::SetBudget(r) => &r.command_id,
            Call::SetAcquisitionPolicy(r) => &r.command_id,
            Call::RegisterBookstore(r) => &r.command_id,
            Call::LicenseEResource(r) => &r.command_id,
            Call::BorrowDigital(r) => &r.command_id,
            Call::ReturnDigital(r) => &r.command_id,
            Call::ExpireDigitalLoans(r) => &r.command_id,
            Call::Footfall(r) => &r.command_id,
        }
    }
}
