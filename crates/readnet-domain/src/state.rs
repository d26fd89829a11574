//! The state the rules are checked against, and `evolve`: how each event changes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::access::{Grant, Principal, TokenGrant};
use crate::calendar::{Calendar, Closure, OpeningHours};
use crate::ids::{CityCode, ItemCode, LibraryCode, PatronId, PrincipalName};
use crate::money::Fen;
use crate::pb::{
    Acquisition, ChargeKind, CreditTier, EResourceKind, LibraryTier, LostItemDebtWaived,
    LostItemPaid, ReturnPolicy, TransferReason,
};
use crate::personal::FORGOTTEN_PATRON;
use crate::policy::default_tariff_fen;
use crate::{Payload, StreamId, codec};

/// A member city.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    pub code: CityCode,
    pub name: String,
    pub time_zone: Tz,
    /// The default calendar of its libraries (week and public holidays), if one is set.
    pub calendar: Option<Calendar>,
    /// When it joined, if the state was told (`Ledger::apply_at`): nothing happens in the city
    /// before.
    pub joined_at: Option<DateTime<Utc>>,
}

/// A library of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Library {
    pub code: LibraryCode,
    pub name: String,
    pub city: CityCode,
    pub tier: LibraryTier,
    pub parent: Option<LibraryCode>,
    pub closed: bool,
    /// The return policy for the items this library owns.
    pub return_policy: ReturnPolicy,
    /// Marked as a pickup point for holds although its tier has no desk (ADR 0013).
    pub delivery_point: bool,
    /// The hub its city's hold shipments go through (ADR 0013).
    pub distribution_centre: bool,
    /// Its own calendar, if one is set (else its city's; see `calendar::LibraryCalendar`).
    pub calendar: Option<Calendar>,
    /// Every temporary closure, in the order recorded (ended early ones end where they ended).
    pub closures: Vec<Closure>,
    /// When it was registered, if the state was told (`Ledger::apply_at`).
    pub registered_at: Option<DateTime<Utc>>,
}

impl Library {
    pub fn is_booth(&self) -> bool {
        self.tier == LibraryTier::Booth
    }

    /// Whether holds may be picked up here: an open library with a desk (central, general,
    /// branch), or one marked as a delivery point (a service point, a self-service library).
    /// Never a booth.
    pub fn is_pickup_point(&self) -> bool {
        !self.closed
            && !self.is_booth()
            && (self.delivery_point
                || matches!(
                    self.tier,
                    LibraryTier::Central | LibraryTier::General | LibraryTier::Branch
                ))
    }
}

/// A settlement tariff in force from `effective_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tariff {
    pub kind: ChargeKind,
    pub amount_fen: Fen,
    pub effective_from: DateTime<Utc>,
}

/// A library's budget year (ADR 0019): the budget set for it, if any, and what its
/// patron-driven purchases have cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetYear {
    /// The budget and its patron-driven share in basis points, once set.
    pub budget: Option<(Fen, u32)>,
    pub patron_driven_spent_fen: Fen,
}

impl BudgetYear {
    /// The patron-driven share in fen (rounded down), if a budget is set.
    pub fn patron_driven_share_fen(&self) -> Option<Fen> {
        self.budget.map(|(budget, bp)| {
            Fen(i64::try_from(
                i128::from(budget.get()) * i128::from(bp) / i128::from(crate::policy::BASIS_POINTS),
            )
            .unwrap_or(i64::MAX))
        })
    }
}

/// A library's rules for patron-driven purchases (ADR 0019).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquisitionPolicy {
    pub max_item_price_fen: Fen,
    pub monthly_quota_per_reader: u32,
}

impl Default for AcquisitionPolicy {
    fn default() -> Self {
        Self {
            max_item_price_fen: crate::policy::DEFAULT_MAX_PATRON_DRIVEN_PRICE_FEN,
            monthly_quota_per_reader: crate::policy::DEFAULT_MONTHLY_PATRON_DRIVEN_QUOTA,
        }
    }
}

/// A licensed e-resource and its loans now (ADR 0019).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EResource {
    pub code: String,
    pub title: String,
    pub kind: EResourceKind,
    /// `None`: the whole network owns it.
    pub owner_library: Option<LibraryCode>,
    /// Lent to readers of every member city.
    pub shared: bool,
    /// Concurrent loans it allows; `None`: no limit (open access).
    pub licences: Option<u32>,
    pub loan_days: u32,
    /// Open digital loans: patron → expiry.
    pub loans: BTreeMap<PatronId, DateTime<Utc>>,
    /// Open digital loans of forgotten patrons (ADR 0018). Their events all name one anonymous
    /// patron, so they are counted, not keyed. A patron is forgotten only with no loan open, so
    /// a state loaded to the end holds none; the count keeps the fold whole on the way there.
    pub forgotten_loans: u32,
}

impl EResource {
    /// Loans open now, a forgotten patron's included.
    pub fn open_loans(&self) -> usize {
        self.loans.len() + self.forgotten_loans as usize
    }
}

/// The network's shape: the `network` stream folded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Network {
    pub cities: HashMap<CityCode, City>,
    pub libraries: HashMap<LibraryCode, Library>,
    /// Every tariff ever set, in the order set.
    pub tariffs: Vec<Tariff>,
    /// Every principal ever added, revoked ones included (their names are not reused).
    pub principals: BTreeMap<PrincipalName, Principal>,
    /// Events in the `network` stream.
    pub version: u64,
    /// The server's last clock tick written to the log (ADR 0016).
    pub last_tick: Option<DateTime<Utc>>,
    /// Notice gateway → the sequence it has acknowledged through.
    pub notice_acks: BTreeMap<String, u64>,
    /// Acquisition budgets by library and budget year (ADR 0019).
    pub budgets: BTreeMap<(LibraryCode, i32), BudgetYear>,
    /// Libraries' patron-driven purchase rules; a library without one has the defaults.
    pub acquisition_policies: HashMap<LibraryCode, AcquisitionPolicy>,
    /// Each library's partner bookstores: code → name.
    pub bookstores: HashMap<LibraryCode, BTreeMap<String, String>>,
    /// Licensed e-resources by code.
    pub eresources: BTreeMap<String, EResource>,
    /// (library, gate) → the end of the last interval its gate counter reported (footfall).
    pub footfall_through: BTreeMap<(LibraryCode, String), DateTime<Utc>>,
}

impl Network {
    /// The tariff of `kind` in force at `at`: the latest-effective one set, else the default.
    pub fn tariff_fen(&self, kind: ChargeKind, at: DateTime<Utc>) -> Fen {
        self.tariffs
            .iter()
            .filter(|t| t.kind == kind && t.effective_from <= at)
            // Later-set tariffs win ties on effective date: max_by_key keeps the last maximum.
            .max_by_key(|t| t.effective_from)
            .map_or_else(|| default_tariff_fen(kind), |t| t.amount_fen)
    }

    /// A library's patron-driven purchase rules (the defaults unless it set its own).
    pub fn acquisition_policy(&self, library: &str) -> AcquisitionPolicy {
        self.acquisition_policies
            .get(library)
            .copied()
            .unwrap_or_default()
    }

    /// Whether a budget was ever set for `library`, for any year: from then on, a year without
    /// one has no patron-driven share.
    pub fn has_budgets(&self, library: &LibraryCode) -> bool {
        self.budgets
            .range((library.clone(), i32::MIN)..=(library.clone(), i32::MAX))
            .any(|(_, year)| year.budget.is_some())
    }

    /// The time zone of a library's city (Asia/Shanghai if unknown).
    pub fn library_time_zone(&self, library: &str) -> Tz {
        self.libraries
            .get(library)
            .and_then(|l| self.cities.get(&l.city))
            .map_or(chrono_tz::Asia::Shanghai, |c| c.time_zone)
    }

    pub fn library_city(&self, library: &str) -> Option<&CityCode> {
        self.libraries.get(library).map(|l| &l.city)
    }

    /// The open distribution centre of `city`, if it has one (the lowest code, if several).
    pub fn distribution_centre(&self, city: &CityCode) -> Option<&Library> {
        self.libraries
            .values()
            .filter(|l| l.distribution_centre && !l.closed && &l.city == city)
            .min_by(|a, b| a.code.cmp(&b.code))
    }

    /// Panics unless `holds`: the network's state is one `event` can follow.
    #[track_caller]
    fn presuppose(&self, event: &Payload, holds: bool) {
        if !holds {
            broken(
                event,
                &format!(
                    "network version {}, cities {:?}, libraries {:?}",
                    self.version,
                    self.cities.keys().collect::<BTreeSet<_>>(),
                    self.libraries.keys().collect::<BTreeSet<_>>()
                ),
            );
        }
    }

    /// A registered library, for an event about it.
    #[track_caller]
    fn library_mut(&mut self, event: &Payload, code: &str) -> &mut Library {
        self.libraries
            .get_mut(code)
            .unwrap_or_else(|| broken(event, &format!("library {code} is not registered")))
    }

    /// A principal that is not revoked, for an event about it.
    #[track_caller]
    fn live_principal_mut(&mut self, event: &Payload, name: &str) -> &mut Principal {
        match self.principals.get_mut(name) {
            Some(principal) if !principal.revoked => principal,
            Some(_) => broken(event, &format!("principal {name} is revoked")),
            None => broken(event, &format!("principal {name} does not exist")),
        }
    }

    /// The principals that are not revoked and hold `role`.
    pub fn live_principals_with(&self, role: crate::Role) -> usize {
        self.principals
            .values()
            .filter(|p| !p.revoked && p.grant.role == role)
            .count()
    }
}

/// Where an item is and who has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemStatus {
    OnShelf {
        library: LibraryCode,
        /// Returned away from its owner: must be transferred home before it is lent again.
        homebound: bool,
    },
    OnLoan {
        patron_id: PatronId,
        library: LibraryCode,
        due_at: DateTime<Utc>,
        renewals: u32,
    },
    InTransit {
        from: LibraryCode,
        to: LibraryCode,
        reason: TransferReason,
    },
    InBooth {
        booth: LibraryCode,
    },
    Lost {
        patron_id: PatronId,
    },
    Withdrawn,
    ExchangedOut,
}

/// What a patron owes for a lost item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostDebt {
    pub patron_id: PatronId,
    pub outstanding_fen: Fen,
}

/// One item: its stream folded.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub item: ItemCode,
    pub isbn: String,
    pub title: String,
    pub author: String,
    pub owner_library: LibraryCode,
    /// The title's key (`crate::title::title_key`): copies with one key fill one title's holds.
    pub title_key: String,
    pub price_fen: Option<Fen>,
    pub acquisition: Acquisition,
    pub status: ItemStatus,
    /// The hold this copy is set aside for (on a pick list, travelling, or ready), if any.
    pub hold: Option<u64>,
    /// Unsettled lost-item debts, oldest first. A debt survives the item turning up again, so a
    /// found item lent and lost again can carry a second borrower's debt beside the first.
    pub lost_debts: Vec<LostDebt>,
    /// When it was catalogued, if the state was told (`Ledger::apply_at`).
    pub catalogued_at: Option<DateTime<Utc>>,
    /// Events in the item's stream.
    pub version: u64,
}

impl Item {
    /// A new item from its cataloguing event.
    pub fn catalogued(e: &crate::pb::ItemCatalogued) -> Self {
        let status = if e.in_booth {
            ItemStatus::InBooth {
                booth: e.placed_at.as_str().into(),
            }
        } else {
            ItemStatus::OnShelf {
                library: e.placed_at.as_str().into(),
                homebound: false,
            }
        };
        Self {
            item: e.item.as_str().into(),
            isbn: e.isbn.clone(),
            title: e.title.clone(),
            author: e.author.clone(),
            owner_library: e.owner_library.as_str().into(),
            title_key: crate::title::title_key(&e.isbn, &e.title, &e.author),
            price_fen: e.price_fen.map(Fen),
            acquisition: Acquisition::try_from(e.acquisition).unwrap_or_default(),
            status,
            hold: None,
            lost_debts: Vec::new(),
            catalogued_at: None,
            version: 1,
        }
    }

    /// The oldest unsettled lost-item debt: the one a payment or waiver settles first.
    pub fn lost_debt(&self) -> Option<&LostDebt> {
        self.lost_debts.first()
    }

    /// What `patron_id` still owes for this item. Saturates at `i64::MAX` fen: each debt fits
    /// in an `i64`, their sum need not, and no real debt comes near it.
    pub fn owed_by(&self, patron_id: &str) -> Fen {
        self.lost_debts
            .iter()
            .filter(|d| d.patron_id == patron_id)
            .try_fold(Fen::ZERO, |owed, d| owed.checked_add(d.outstanding_fen))
            .unwrap_or(Fen(i64::MAX))
    }

    fn debt_index(&self, patron_id: &str) -> Option<usize> {
        self.lost_debts
            .iter()
            .position(|d| d.patron_id == patron_id)
    }

    /// Folds one later event of this item's stream into the item: the stream alone is enough.
    ///
    /// # Panics
    ///
    /// If the event cannot follow the item's state (an `ItemRenewed` of an item not on loan, a
    /// `LostItemPaid` with no debt to pay…) or is not an event of an item's stream after its
    /// cataloguing: `decide` never records one, so the log broke the rules, and folding it
    /// would make a state no rule allows.
    pub fn apply(&mut self, payload: &Payload) {
        match payload {
            Payload::ItemLoaned(e) => {
                self.presuppose(payload, |s| {
                    matches!(s, ItemStatus::OnShelf { library, homebound: false } if library == &e.library)
                });
                self.status = ItemStatus::OnLoan {
                    patron_id: e.patron_id.as_str().into(),
                    library: e.library.as_str().into(),
                    due_at: from_us(e.due_at_us),
                    renewals: 0,
                };
            }
            Payload::ItemRenewed(e) => {
                self.presuppose(payload, |s| {
                    matches!(s, ItemStatus::OnLoan { patron_id, .. } if patron_id == &e.patron_id)
                });
                if let ItemStatus::OnLoan {
                    due_at, renewals, ..
                } = &mut self.status
                {
                    *due_at = from_us(e.due_at_us);
                    *renewals = e.renewal_count;
                }
            }
            Payload::LoanExtended(e) => {
                self.presuppose(payload, |s| {
                    matches!(s, ItemStatus::OnLoan { patron_id, library, .. } if patron_id == &e.patron_id && library == &e.library)
                });
                if let ItemStatus::OnLoan { due_at, .. } = &mut self.status {
                    *due_at = from_us(e.due_at_us);
                }
            }
            Payload::ItemReturned(e) => {
                self.presuppose(payload, |s| match s {
                    ItemStatus::OnLoan { patron_id, .. } => {
                        !e.was_lost && patron_id == &e.patron_id
                    }
                    ItemStatus::Lost { patron_id } => e.was_lost && patron_id == &e.patron_id,
                    _ => false,
                });
                self.status = ItemStatus::OnShelf {
                    library: e.library.as_str().into(),
                    homebound: e.homebound,
                };
            }
            Payload::TransferDispatched(e) => {
                self.presuppose(payload, |s| match s {
                    ItemStatus::OnShelf { library, .. } => library == &e.from_library,
                    ItemStatus::InBooth { booth } => booth == &e.from_library,
                    _ => false,
                });
                self.status = ItemStatus::InTransit {
                    from: e.from_library.as_str().into(),
                    to: e.to_library.as_str().into(),
                    reason: TransferReason::try_from(e.reason).unwrap_or_default(),
                };
            }
            Payload::TransferReceived(e) => {
                self.presuppose(
                    payload,
                    |s| matches!(s, ItemStatus::InTransit { to, .. } if to == &e.to_library),
                );
                self.status = if e.in_booth {
                    ItemStatus::InBooth {
                        booth: e.to_library.as_str().into(),
                    }
                } else {
                    ItemStatus::OnShelf {
                        library: e.to_library.as_str().into(),
                        homebound: e.homebound,
                    }
                };
            }
            Payload::HoldAssigned(e) => {
                if self.hold.is_some() {
                    self.broken(payload);
                }
                self.presuppose(
                    payload,
                    |s| matches!(s, ItemStatus::OnShelf { library, .. } if library == &e.library),
                );
                // A copy set aside for a hold travels to its holder, not home.
                self.status = ItemStatus::OnShelf {
                    library: e.library.as_str().into(),
                    homebound: false,
                };
                self.hold = Some(e.hold);
            }
            Payload::HoldReady(e) => {
                if self.hold != Some(e.hold) {
                    self.broken(payload);
                }
                self.presuppose(payload, |s| {
                    matches!(s, ItemStatus::OnShelf { library, .. } if library == &e.pickup_library)
                });
            }
            Payload::HoldFilled(e) => {
                if self.hold != Some(e.hold) {
                    self.broken(payload);
                }
                self.presuppose(payload, |s| matches!(s, ItemStatus::OnShelf { .. }));
                self.hold = None;
            }
            Payload::HoldReleased(e) => {
                if self.hold != Some(e.hold) {
                    self.broken(payload);
                }
                self.hold = None;
                if e.homebound
                    && let ItemStatus::OnShelf { homebound, .. } = &mut self.status
                {
                    *homebound = true;
                }
            }
            Payload::PatronDrivenPurchaseRecorded(e) => {
                self.presuppose(
                    payload,
                    |s| matches!(s, ItemStatus::OnShelf { library, .. } if library == &e.library),
                );
            }
            Payload::BoothSwapped(e) => {
                self.presuppose(
                    payload,
                    |s| matches!(s, ItemStatus::InBooth { booth } if booth == &e.booth),
                );
                self.status = ItemStatus::ExchangedOut;
            }
            Payload::ItemDeclaredLost(e) => {
                self.presuppose(payload, |s| {
                    matches!(s, ItemStatus::OnLoan { patron_id, .. } if patron_id == &e.patron_id)
                });
                self.status = ItemStatus::Lost {
                    patron_id: e.patron_id.as_str().into(),
                };
                // A debt of 0 fen (a free item, a zero tariff) is no debt: it blocks nobody.
                if e.debt_fen > 0 {
                    self.lost_debts.push(LostDebt {
                        patron_id: e.patron_id.as_str().into(),
                        outstanding_fen: Fen(e.debt_fen),
                    });
                }
            }
            Payload::LostItemPaid(e) => {
                let amount_fen = Fen(e.amount_fen);
                let Some((index, outstanding_fen)) = self.debt_index(&e.patron_id).and_then(|i| {
                    let debt = self.lost_debts[i].outstanding_fen;
                    let left = debt.checked_sub(amount_fen)?;
                    (amount_fen.is_positive() && !left.is_negative()).then_some((i, left))
                }) else {
                    self.broken(payload)
                };
                if outstanding_fen == Fen::ZERO {
                    self.lost_debts.remove(index);
                } else {
                    self.lost_debts[index].outstanding_fen = outstanding_fen;
                }
            }
            Payload::LostItemDebtWaived(e) => {
                let Some(index) = self.debt_index(&e.patron_id) else {
                    self.broken(payload)
                };
                self.lost_debts.remove(index);
            }
            Payload::ItemWithdrawn(_) => {
                if self.hold.is_some() {
                    self.broken(payload);
                }
                self.presuppose(payload, |s| {
                    matches!(
                        s,
                        ItemStatus::OnShelf { .. }
                            | ItemStatus::InBooth { .. }
                            | ItemStatus::Lost { .. }
                    )
                });
                self.status = ItemStatus::Withdrawn;
            }
            Payload::ItemCatalogued(_)
            | Payload::CityJoined(_)
            | Payload::LibraryRegistered(_)
            | Payload::LibraryClosed(_)
            | Payload::ReturnPolicySet(_)
            | Payload::TariffSet(_)
            | Payload::PatronEnrolled(_)
            | Payload::PatronTierChanged(_)
            | Payload::PatronForgotten(_)
            | Payload::SettlementPeriodClosed(_)
            | Payload::PrincipalAdded(_)
            | Payload::PrincipalChanged(_)
            | Payload::PrincipalRevoked(_)
            | Payload::TokenIssued(_)
            | Payload::LibraryRolesSet(_)
            | Payload::HoldPlaced(_)
            | Payload::HoldEnded(_)
            | Payload::LibraryMoved(_)
            | Payload::LibraryRenamed(_)
            | Payload::LibraryTierChanged(_)
            | Payload::CalendarSet(_)
            | Payload::LibraryClosedTemporarily(_)
            | Payload::LibraryReopened(_)
            | Payload::ClockTicked(_)
            | Payload::NoticesAcknowledged(_)
            | Payload::AcquisitionBudgetSet(_)
            | Payload::AcquisitionPolicySet(_)
            | Payload::BookstorePartnerRegistered(_)
            | Payload::EResourceLicensed(_)
            | Payload::DigitalLoaned(_)
            | Payload::DigitalLoanEnded(_)
            | Payload::FootfallReported(_)
            | Payload::CommandRefused(_) => self.broken(payload),
        }
        self.version += 1;
    }

    /// Panics unless the item's status is one `event` can follow.
    #[track_caller]
    fn presuppose(&self, event: &Payload, holds: impl FnOnce(&ItemStatus) -> bool) {
        if !holds(&self.status) {
            self.broken(event);
        }
    }

    /// An event the item's state rules out: the log broke the rules.
    #[track_caller]
    fn broken(&self, event: &Payload) -> ! {
        panic!(
            "{} cannot follow the state of item {} (version {}): status {:?}, hold {:?}, lost-item debts {:?}; event {event:?}",
            codec::event_type(event),
            self.item,
            self.version,
            self.status,
            self.hold,
            self.lost_debts,
        )
    }
}

/// A patron: their stream folded, plus the loans and debts that their items' events give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patron {
    pub patron_id: PatronId,
    pub home_city: CityCode,
    pub tier: CreditTier,
    /// Items on loan to the patron now.
    pub loans: BTreeSet<ItemCode>,
    /// Items declared lost whose debt is not settled.
    pub unsettled_lost: BTreeSet<ItemCode>,
    /// The patron's open holds (waiting, set aside, ready), by number.
    pub holds: BTreeSet<u64>,
    /// Patron-driven books bought for them, by library and month (`YYYY-MM`, local).
    pub patron_driven_by_month: BTreeMap<(LibraryCode, String), u32>,
    /// Open digital loans: resource → expiry.
    pub digital_loans: BTreeMap<String, DateTime<Utc>>,
    /// Events in the patron's stream.
    pub version: u64,
    /// When they last borrowed, renewed, returned, swapped or placed a hold (or enrolled):
    /// what the retention policy measures (ADR 0018). Known where the ledger applies events with
    /// their `occurred_at`.
    pub last_active_at: Option<DateTime<Utc>>,
}

/// Where an open hold stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldState {
    /// Waiting for a copy, in its title's queue.
    Queued,
    /// A copy is set aside for it: on a pick list, or travelling to the pickup library.
    Assigned { item: ItemCode },
    /// The copy is on the hold shelf at the pickup library until `pickup_by`.
    Ready {
        item: ItemCode,
        pickup_by: DateTime<Utc>,
    },
}

/// An open hold: its `HoldPlaced` and the item events about it folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The network-wide number, in the order placed: the queue order.
    pub number: u64,
    pub patron_id: PatronId,
    /// The title asked for (for an item hold, the item's title).
    pub title_key: String,
    /// The one item asked for, for an item hold.
    pub item: Option<ItemCode>,
    pub pickup_library: LibraryCode,
    /// While waiting for a copy, it expires at this instant.
    pub expires_at: DateTime<Utc>,
    pub state: HoldState,
}

impl Hold {
    /// Whether `item` can fill this hold.
    pub fn wants(&self, item: &Item) -> bool {
        match &self.item {
            Some(wanted) => wanted == &item.item,
            None => self.title_key == item.title_key,
        }
    }
}

/// Everything the rules need: the network, every item, every patron.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    pub network: Network,
    pub items: HashMap<ItemCode, Item>,
    pub patrons: HashMap<PatronId, Patron>,
    /// Open holds by number (a `BTreeMap`: iteration is queue order).
    pub holds: BTreeMap<u64, Hold>,
    /// The highest hold number placed so far.
    pub last_hold: u64,
    /// Events in the `settlement` stream.
    pub settlement_version: u64,
    /// Every item ever catalogued, by title key, in cataloguing order: placing a hold and
    /// targeting a copy look at a title's copies, not at every item of the network.
    pub copies_by_title: HashMap<String, Vec<ItemCode>>,
}

impl Ledger {
    /// The items of a title (by its key), whatever their status, in cataloguing order.
    pub fn copies<'a>(&'a self, title_key: &str) -> impl Iterator<Item = &'a Item> + 'a {
        self.copies_by_title
            .get(title_key)
            .into_iter()
            .flatten()
            .filter_map(|code| self.items.get(code))
    }

    /// A ledger with `events` applied in order.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Payload>) -> Self {
        let mut ledger = Ledger::default();
        for event in events {
            ledger.apply(event);
        }
        ledger
    }

    /// How many events `stream` has (0: the stream does not exist). A refusal's stream is not
    /// the state's (a refusal changes nothing): 0, what the command bus expects when it writes
    /// one, once.
    pub fn stream_version(&self, stream: &StreamId) -> u64 {
        match stream {
            StreamId::Network => self.network.version,
            StreamId::Item(item) => self.items.get(item.as_str()).map_or(0, |i| i.version),
            StreamId::Patron(patron) => self.patrons.get(patron.as_str()).map_or(0, |p| p.version),
            StreamId::Settlement => self.settlement_version,
            StreamId::Refusal(_) => 0,
        }
    }

    /// Evolve: folds one recorded event into the state, and counts it in its stream's version
    /// (what the store will expect on the next append).
    ///
    /// # Panics
    ///
    /// If the event contradicts the state: a city or library that joins twice, a library
    /// closed that is not open, an event of an item or patron that does not exist, an item
    /// event its status rules out (see [`Item::apply`]). `decide` records none of these; one in
    /// the log means it was written past the rules, and folding it silently would hide that.
    pub fn apply(&mut self, payload: &Payload) {
        match payload {
            Payload::CityJoined(e) => {
                self.network
                    .presuppose(payload, !self.network.cities.contains_key(e.city.as_str()));
                let time_zone = e.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
                let code = CityCode::from(e.city.as_str());
                self.network.cities.insert(
                    code.clone(),
                    City {
                        code,
                        name: e.name.clone(),
                        time_zone,
                        calendar: None,
                        joined_at: None,
                    },
                );
                self.network.version += 1;
            }
            Payload::LibraryRegistered(e) => {
                let network = &self.network;
                network.presuppose(
                    payload,
                    !network.libraries.contains_key(e.library.as_str())
                        && network.cities.contains_key(e.city.as_str())
                        && (e.parent.is_empty()
                            || network.libraries.contains_key(e.parent.as_str())),
                );
                let code = LibraryCode::from(e.library.as_str());
                self.network.libraries.insert(
                    code.clone(),
                    Library {
                        code,
                        name: e.name.clone(),
                        city: e.city.as_str().into(),
                        tier: LibraryTier::try_from(e.tier).unwrap_or_default(),
                        parent: (!e.parent.is_empty()).then(|| e.parent.as_str().into()),
                        closed: false,
                        return_policy: ReturnPolicy::ReturnHome,
                        delivery_point: false,
                        distribution_centre: false,
                        calendar: None,
                        closures: Vec::new(),
                        registered_at: None,
                    },
                );
                self.network.version += 1;
            }
            Payload::LibraryClosed(e) => {
                let library = self.network.library_mut(payload, &e.library);
                if library.closed {
                    broken(payload, &format!("library {} is closed already", e.library));
                }
                library.closed = true;
                self.network.version += 1;
            }
            Payload::PrincipalAdded(e) => {
                let name = PrincipalName::from(e.principal.as_str());
                let grant = recorded_grant(payload, e.role, &e.city, &e.libraries);
                self.network
                    .presuppose(payload, !self.network.principals.contains_key(&name));
                self.network.principals.insert(
                    name.clone(),
                    Principal {
                        name,
                        grant,
                        granted_by: (!e.granted_by.is_empty())
                            .then(|| e.granted_by.as_str().into()),
                        revoked: false,
                        token: None,
                    },
                );
                self.network.version += 1;
            }
            Payload::PrincipalChanged(e) => {
                let grant = recorded_grant(payload, e.role, &e.city, &e.libraries);
                let principal = self.network.live_principal_mut(payload, &e.principal);
                principal.grant = grant;
                principal.granted_by =
                    (!e.granted_by.is_empty()).then(|| e.granted_by.as_str().into());
                self.network.version += 1;
            }
            Payload::PrincipalRevoked(e) => {
                let principal = self.network.live_principal_mut(payload, &e.principal);
                principal.revoked = true;
                principal.token = None;
                self.network.version += 1;
            }
            Payload::TokenIssued(e) => {
                let principal = self.network.live_principal_mut(payload, &e.principal);
                principal.token = Some(TokenGrant {
                    id: e.token_id.as_str().into(),
                    expires_at: (e.expires_at_us != 0).then(|| from_us(e.expires_at_us)),
                });
                self.network.version += 1;
            }
            Payload::LibraryMoved(e) => {
                let network = &self.network;
                network.presuppose(
                    payload,
                    e.parent.is_empty() || network.libraries.contains_key(e.parent.as_str()),
                );
                self.network.library_mut(payload, &e.library).parent =
                    (!e.parent.is_empty()).then(|| e.parent.as_str().into());
                self.network.version += 1;
            }
            Payload::LibraryRenamed(e) => {
                self.network.library_mut(payload, &e.library).name = e.name.clone();
                self.network.version += 1;
            }
            Payload::LibraryTierChanged(e) => {
                self.network.library_mut(payload, &e.library).tier =
                    LibraryTier::try_from(e.tier).unwrap_or_default();
                self.network.version += 1;
            }
            Payload::CalendarSet(e) => {
                let calendar = recorded_calendar(e);
                if e.library.is_empty() {
                    let Some(city) = self.network.cities.get_mut(e.city.as_str()) else {
                        broken(payload, &format!("city {} has not joined", e.city))
                    };
                    city.calendar = Some(calendar);
                } else {
                    self.network.library_mut(payload, &e.library).calendar = Some(calendar);
                }
                self.network.version += 1;
            }
            Payload::LibraryClosedTemporarily(e) => {
                self.network
                    .library_mut(payload, &e.library)
                    .closures
                    .push(Closure {
                        reason: e.reason.clone(),
                        from: from_us(e.from_us),
                        until: from_us(e.until_us),
                    });
                self.network.version += 1;
            }
            Payload::LibraryReopened(e) => {
                let at = from_us(e.at_us);
                let library = self.network.library_mut(payload, &e.library);
                let mut ended = false;
                for closure in library.closures.iter_mut().filter(|c| c.until > at) {
                    // A closure under way ends now; one planned for later is called off.
                    closure.until = at.max(closure.from);
                    if closure.from > at {
                        closure.from = at;
                    }
                    ended = true;
                }
                if !ended {
                    broken(
                        payload,
                        &format!("library {} has no closure to end", e.library),
                    );
                }
                self.network.version += 1;
            }
            Payload::LoanExtended(e) => {
                self.item_mut(&e.item, payload);
            }
            Payload::ReturnPolicySet(e) => {
                self.network.library_mut(payload, &e.library).return_policy =
                    ReturnPolicy::try_from(e.policy).unwrap_or_default();
                self.network.version += 1;
            }
            Payload::ClockTicked(e) => {
                let at = from_us(e.at_us);
                if self.network.last_tick.is_some_and(|last| last >= at) {
                    broken(
                        payload,
                        &format!("the clock ticked last at {:?}", self.network.last_tick),
                    );
                }
                self.network.last_tick = Some(at);
                self.network.version += 1;
            }
            Payload::NoticesAcknowledged(e) => {
                let acked = self
                    .network
                    .notice_acks
                    .entry(e.gateway.clone())
                    .or_default();
                if *acked > e.through_sequence {
                    broken(
                        payload,
                        &format!("gateway {} acknowledged {} already", e.gateway, acked),
                    );
                }
                *acked = e.through_sequence;
                self.network.version += 1;
            }
            Payload::AcquisitionBudgetSet(e) => {
                self.network.library_mut(payload, &e.library);
                let year = i32::try_from(e.year).unwrap_or(i32::MAX);
                self.network
                    .budgets
                    .entry((e.library.as_str().into(), year))
                    .or_default()
                    .budget = Some((Fen(e.budget_fen), e.patron_driven_share_bp));
                self.network.version += 1;
            }
            Payload::AcquisitionPolicySet(e) => {
                self.network.library_mut(payload, &e.library);
                self.network.acquisition_policies.insert(
                    e.library.as_str().into(),
                    AcquisitionPolicy {
                        max_item_price_fen: Fen(e.max_item_price_fen),
                        monthly_quota_per_reader: e.monthly_quota_per_reader,
                    },
                );
                self.network.version += 1;
            }
            Payload::BookstorePartnerRegistered(e) => {
                self.network.library_mut(payload, &e.library);
                let partners = self
                    .network
                    .bookstores
                    .entry(e.library.as_str().into())
                    .or_default();
                if partners
                    .insert(e.bookstore.clone(), e.name.clone())
                    .is_some()
                {
                    broken(
                        payload,
                        &format!("bookstore {} is a partner already", e.bookstore),
                    );
                }
                self.network.version += 1;
            }
            Payload::EResourceLicensed(e) => {
                self.network.presuppose(
                    payload,
                    !self.network.eresources.contains_key(&e.resource)
                        && (e.owner_library.is_empty()
                            || self
                                .network
                                .libraries
                                .contains_key(e.owner_library.as_str())),
                );
                let kind = EResourceKind::try_from(e.kind).unwrap_or_default();
                self.network.eresources.insert(
                    e.resource.clone(),
                    EResource {
                        code: e.resource.clone(),
                        title: e.title.clone(),
                        kind,
                        owner_library: (!e.owner_library.is_empty())
                            .then(|| e.owner_library.as_str().into()),
                        shared: e.shared || e.owner_library.is_empty(),
                        licences: (kind != EResourceKind::OpenAccess).then_some(e.licences),
                        loan_days: e.loan_days,
                        loans: BTreeMap::new(),
                        forgotten_loans: 0,
                    },
                );
                self.network.version += 1;
            }
            Payload::PatronDrivenPurchaseRecorded(e) => {
                self.item_mut(&e.item, payload);
                let year = i32::try_from(e.budget_year).unwrap_or(i32::MAX);
                let spent = &mut self
                    .network
                    .budgets
                    .entry((e.library.as_str().into(), year))
                    .or_default()
                    .patron_driven_spent_fen;
                *spent = spent.checked_add(Fen(e.price_fen)).unwrap_or(Fen(i64::MAX));
                let patron = self.patron_mut(payload, &e.patron_id);
                *patron
                    .patron_driven_by_month
                    .entry((e.library.as_str().into(), e.month.clone()))
                    .or_default() += 1;
            }
            Payload::DigitalLoaned(e) => {
                let expires_at = from_us(e.expires_at_us);
                let Some(resource) = self.network.eresources.get_mut(&e.resource) else {
                    broken(
                        payload,
                        &format!("e-resource {} is not licensed", e.resource),
                    )
                };
                let full = resource
                    .licences
                    .is_some_and(|n| resource.open_loans() >= n as usize);
                let taken = if e.patron_id == crate::personal::FORGOTTEN_PATRON {
                    resource.forgotten_loans += 1;
                    false
                } else {
                    resource
                        .loans
                        .insert(e.patron_id.as_str().into(), expires_at)
                        .is_some()
                };
                if full || taken {
                    broken(
                        payload,
                        &format!(
                            "e-resource {} has {} loans of {:?} licences, the patron's among them or none free",
                            e.resource,
                            resource.open_loans(),
                            resource.licences
                        ),
                    );
                }
                let patron = self.patron_mut(payload, &e.patron_id);
                patron.digital_loans.insert(e.resource.clone(), expires_at);
                patron.version += 1;
            }
            Payload::DigitalLoanEnded(e) => {
                let forgotten = e.patron_id == crate::personal::FORGOTTEN_PATRON;
                let ended = self
                    .network
                    .eresources
                    .get_mut(&e.resource)
                    .is_some_and(|r| {
                        if forgotten {
                            r.forgotten_loans
                                .checked_sub(1)
                                .map(|n| r.forgotten_loans = n)
                                .is_some()
                        } else {
                            r.loans.remove(e.patron_id.as_str()).is_some()
                        }
                    });
                if !ended {
                    broken(
                        payload,
                        &format!("the patron has no loan of e-resource {}", e.resource),
                    );
                }
                let patron = self.patron_mut(payload, &e.patron_id);
                if !forgotten {
                    patron.digital_loans.remove(&e.resource);
                }
                patron.version += 1;
            }
            Payload::FootfallReported(e) => {
                let from = from_us(e.from_us);
                let key = (LibraryCode::from(e.library.as_str()), e.gate.clone());
                if let Some(through) = self.network.footfall_through.get(&key)
                    && *through > from
                {
                    broken(
                        payload,
                        &format!("gate {} reported through {through} already", e.gate),
                    );
                }
                self.network.footfall_through.insert(key, from_us(e.to_us));
                self.network.version += 1;
            }
            Payload::LibraryRolesSet(e) => {
                let library = self.network.library_mut(payload, &e.library);
                library.delivery_point = e.delivery_point;
                library.distribution_centre = e.distribution_centre;
                self.network.version += 1;
            }
            Payload::HoldPlaced(e) => {
                if e.hold <= self.last_hold {
                    broken(
                        payload,
                        &format!("hold {} is not after hold {}", e.hold, self.last_hold),
                    );
                }
                let patron = self.patron_mut(payload, &e.patron_id);
                patron.holds.insert(e.hold);
                patron.version += 1;
                self.last_hold = e.hold;
                self.holds.insert(
                    e.hold,
                    Hold {
                        number: e.hold,
                        patron_id: e.patron_id.as_str().into(),
                        title_key: e.title_key.clone(),
                        item: (!e.item.is_empty()).then(|| e.item.as_str().into()),
                        pickup_library: e.pickup_library.as_str().into(),
                        expires_at: from_us(e.expires_at_us),
                        state: HoldState::Queued,
                    },
                );
            }
            Payload::HoldEnded(e) => {
                match self.holds.get(&e.hold) {
                    Some(h) if h.state == HoldState::Queued && h.patron_id == e.patron_id => {}
                    found => broken(payload, &format!("hold {} is {found:?}", e.hold)),
                }
                self.holds.remove(&e.hold);
                let patron = self.patron_mut(payload, &e.patron_id);
                patron.holds.remove(&e.hold);
                patron.version += 1;
            }
            Payload::HoldAssigned(e) => {
                self.item_mut(&e.item, payload);
                self.hold_mut(payload, e.hold, |s| *s == HoldState::Queued)
                    .state = HoldState::Assigned {
                    item: e.item.as_str().into(),
                };
            }
            Payload::HoldReady(e) => {
                self.item_mut(&e.item, payload);
                self.hold_mut(
                    payload,
                    e.hold,
                    |s| matches!(s, HoldState::Assigned { item } if item == &e.item),
                )
                .state = HoldState::Ready {
                    item: e.item.as_str().into(),
                    pickup_by: from_us(e.pickup_by_us),
                };
            }
            Payload::HoldFilled(e) => {
                self.item_mut(&e.item, payload);
                self.hold_mut(payload, e.hold, |s| match s {
                    HoldState::Assigned { item } | HoldState::Ready { item, .. } => item == &e.item,
                    HoldState::Queued => false,
                });
                self.holds.remove(&e.hold);
                self.patron_mut(payload, &e.patron_id).holds.remove(&e.hold);
            }
            Payload::HoldReleased(e) => {
                self.item_mut(&e.item, payload);
                self.hold_mut(payload, e.hold, |s| match s {
                    HoldState::Assigned { item } | HoldState::Ready { item, .. } => item == &e.item,
                    HoldState::Queued => false,
                })
                .state = HoldState::Queued;
            }
            Payload::TariffSet(e) => {
                self.network.tariffs.push(Tariff {
                    kind: ChargeKind::try_from(e.kind).unwrap_or_default(),
                    amount_fen: Fen(e.amount_fen),
                    effective_from: from_us(e.effective_from_us),
                });
                self.network.version += 1;
            }
            // The events of every forgotten patron name one anonymous patron (ADR 0018): their
            // enrolments and forgetting change nothing, their loans and holds add up, and all
            // of them were closed when each was forgotten.
            Payload::PatronEnrolled(e)
                if e.patron_id == FORGOTTEN_PATRON
                    && self.patrons.contains_key(FORGOTTEN_PATRON) => {}
            Payload::PatronForgotten(e) if e.patron_id == FORGOTTEN_PATRON => {}
            Payload::PatronEnrolled(e) => {
                if self.patrons.contains_key(e.patron_id.as_str()) {
                    broken(
                        payload,
                        &format!("patron {} is enrolled already", e.patron_id),
                    );
                }
                let patron_id = PatronId::from(e.patron_id.as_str());
                self.patrons.insert(
                    patron_id.clone(),
                    Patron {
                        patron_id,
                        home_city: e.home_city.as_str().into(),
                        tier: CreditTier::try_from(e.tier).unwrap_or_default(),
                        loans: BTreeSet::new(),
                        unsettled_lost: BTreeSet::new(),
                        holds: BTreeSet::new(),
                        patron_driven_by_month: BTreeMap::new(),
                        digital_loans: BTreeMap::new(),
                        version: 1,
                        last_active_at: None,
                    },
                );
            }
            Payload::PatronTierChanged(e) => {
                let patron = self.patron_mut(payload, &e.patron_id);
                patron.tier = CreditTier::try_from(e.tier).unwrap_or_default();
                patron.version += 1;
            }
            Payload::PatronForgotten(e) => {
                let patron = self.patron_mut(payload, &e.patron_id);
                if !patron.loans.is_empty()
                    || !patron.holds.is_empty()
                    || !patron.unsettled_lost.is_empty()
                {
                    broken(
                        payload,
                        &format!(
                            "patron {} still has loans {:?}, holds {:?} or debts {:?}",
                            e.patron_id, patron.loans, patron.holds, patron.unsettled_lost
                        ),
                    );
                }
                // Nothing of the patron stays in the state, and their stream is closed: the
                // ledger names a patron's stream after their key, so a card used again enrols
                // afresh in a new stream (ADR 0018).
                self.patrons.remove(e.patron_id.as_str());
            }
            Payload::ItemCatalogued(e) => {
                if self.items.contains_key(e.item.as_str()) {
                    broken(payload, &format!("item {} is catalogued already", e.item));
                }
                if !self
                    .network
                    .libraries
                    .contains_key(e.owner_library.as_str())
                {
                    broken(
                        payload,
                        &format!("owner library {} is not registered", e.owner_library),
                    );
                }
                let item = Item::catalogued(e);
                self.copies_by_title
                    .entry(item.title_key.clone())
                    .or_default()
                    .push(item.item.clone());
                self.items.insert(item.item.clone(), item);
            }
            Payload::ItemLoaned(e) => {
                self.item_mut(&e.item, payload);
                // An item is on at most one loan.
                if !self
                    .patron_mut(payload, &e.patron_id)
                    .loans
                    .insert(e.item.as_str().into())
                {
                    broken(
                        payload,
                        &format!("item {} is on loan to the patron already", e.item),
                    );
                }
            }
            Payload::ItemReturned(e) => {
                self.item_mut(&e.item, payload);
                // A lost item left the patron's loans when it was declared lost.
                let on_loan = self
                    .patron_mut(payload, &e.patron_id)
                    .loans
                    .remove(e.item.as_str());
                if on_loan == e.was_lost {
                    let found = if on_loan {
                        "is still among the patron's loans"
                    } else {
                        "is not on loan to the patron"
                    };
                    broken(payload, &format!("item {} {found}", e.item));
                }
            }
            Payload::ItemDeclaredLost(e) => {
                self.item_mut(&e.item, payload);
                let patron = self.patron_mut(payload, &e.patron_id);
                if !patron.loans.remove(e.item.as_str()) {
                    broken(
                        payload,
                        &format!("item {} is not on loan to the patron", e.item),
                    );
                }
                if e.debt_fen > 0 {
                    patron.unsettled_lost.insert(e.item.as_str().into());
                }
            }
            Payload::LostItemPaid(LostItemPaid {
                item, patron_id, ..
            })
            | Payload::LostItemDebtWaived(LostItemDebtWaived {
                item, patron_id, ..
            }) => {
                let settled = self.item_mut(item, payload).owed_by(patron_id) == Fen::ZERO;
                if settled {
                    self.patron_mut(payload, patron_id)
                        .unsettled_lost
                        .remove(item.as_str());
                }
            }
            Payload::BoothSwapped(e) => {
                self.item_mut(&e.item_taken, payload);
            }
            Payload::ItemRenewed(e) => {
                self.item_mut(&e.item, payload);
            }
            Payload::TransferDispatched(e) => {
                self.item_mut(&e.item, payload);
            }
            Payload::TransferReceived(e) => {
                self.item_mut(&e.item, payload);
            }
            Payload::ItemWithdrawn(e) => {
                self.item_mut(&e.item, payload);
            }
            // Settlement is the settlement projection's business; circulation rules only count
            // the stream's events.
            Payload::SettlementPeriodClosed(_) => self.settlement_version += 1,
            // A refused command changed nothing; its record is for retries and auditors.
            Payload::CommandRefused(_) => {}
        }
    }

    /// [`Ledger::apply`], telling the state when the event happened (its `occurred_at`): a
    /// city's joining, a library's registration and an item's cataloguing are remembered, so
    /// that nothing is dated before them (docs/rules.md, "Honest time").
    pub fn apply_at(&mut self, payload: &Payload, occurred_at: DateTime<Utc>) {
        self.apply(payload);
        self.note_time(payload, occurred_at);
    }

    /// [`Ledger::apply_recorded`], telling the state when the event happened (see
    /// [`Ledger::apply_at`]).
    pub fn apply_recorded_at(
        &mut self,
        stream: &StreamId,
        revision: u64,
        payload: &Payload,
        occurred_at: DateTime<Utc>,
    ) {
        self.apply_recorded(stream, revision, payload);
        self.note_time(payload, occurred_at);
    }

    fn note_time(&mut self, payload: &Payload, occurred_at: DateTime<Utc>) {
        match payload {
            Payload::CityJoined(e) => {
                if let Some(city) = self.network.cities.get_mut(e.city.as_str()) {
                    city.joined_at = Some(occurred_at);
                }
            }
            Payload::LibraryRegistered(e) => {
                if let Some(library) = self.network.libraries.get_mut(e.library.as_str()) {
                    library.registered_at = Some(occurred_at);
                }
            }
            Payload::ItemCatalogued(e) => {
                if let Some(item) = self.items.get_mut(e.item.as_str()) {
                    item.catalogued_at = Some(occurred_at);
                }
            }
            Payload::PatronEnrolled(crate::pb::PatronEnrolled { patron_id, .. })
            | Payload::ItemLoaned(crate::pb::ItemLoaned { patron_id, .. })
            | Payload::ItemRenewed(crate::pb::ItemRenewed { patron_id, .. })
            | Payload::ItemReturned(crate::pb::ItemReturned { patron_id, .. })
            | Payload::BoothSwapped(crate::pb::BoothSwapped { patron_id, .. })
            | Payload::HoldPlaced(crate::pb::HoldPlaced { patron_id, .. }) => {
                if let Some(patron) = self.patrons.get_mut(patron_id.as_str()) {
                    patron.last_active_at = patron.last_active_at.max(Some(occurred_at));
                }
            }
            _ => {}
        }
    }

    /// [`Ledger::apply`] for an event read back from the store, checking that it lands at the
    /// `revision` the store gave it: stream versions in the state count each stream's events,
    /// so they are dense from 0 like the store's revisions.
    ///
    /// # Panics
    ///
    /// As [`Ledger::apply`], and if the state's version of `stream` after the event is not
    /// `revision + 1` (the event is in another stream than its payload says, or the state
    /// missed events). A refusal's stream must hold exactly one event, its `CommandRefused`.
    pub fn apply_recorded(&mut self, stream: &StreamId, revision: u64, payload: &Payload) {
        self.apply(payload);
        let version = match stream {
            // Not counted by the state: the stream is as long as its refusal, if it is one.
            StreamId::Refusal(_) => u64::from(matches!(payload, Payload::CommandRefused(_))),
            _ => self.stream_version(stream),
        };
        // Forgetting closes the patron's stream (ADR 0018).
        let expected = if matches!(payload, Payload::PatronForgotten(_)) {
            0
        } else {
            revision + 1
        };
        assert_eq!(
            version,
            expected,
            "{} recorded at revision {revision} of stream {stream} leaves the stream at version {version}",
            codec::event_type(payload),
        );
    }

    fn item_mut(&mut self, item: &str, payload: &Payload) -> &mut Item {
        let Some(item) = self.items.get_mut(item) else {
            broken(payload, &format!("item {item} is not catalogued"))
        };
        item.apply(payload);
        item
    }

    /// An open hold whose state `presupposed` accepts, for an event about it.
    fn hold_mut(
        &mut self,
        payload: &Payload,
        hold: u64,
        presupposed: impl FnOnce(&HoldState) -> bool,
    ) -> &mut Hold {
        match self.holds.get_mut(&hold) {
            Some(h) if presupposed(&h.state) => h,
            Some(h) => broken(payload, &format!("hold {hold} is {:?}", h.state)),
            None => broken(payload, &format!("hold {hold} is not open")),
        }
    }

    fn patron_mut(&mut self, payload: &Payload, patron_id: &str) -> &mut Patron {
        self.patrons
            .get_mut(patron_id)
            .unwrap_or_else(|| broken(payload, &format!("patron {patron_id} is not enrolled")))
    }
}

/// An event that contradicts the state `found`: the log broke the rules.
#[track_caller]
fn broken(event: &Payload, found: &str) -> ! {
    panic!(
        "{} cannot follow the ledger's state: {found}; event {event:?}",
        codec::event_type(event)
    )
}

/// The grant an access event records. A role this version does not know is never read as some
/// other role's rights: the event is refused like any other the state rules out.
#[track_caller]
fn recorded_grant(event: &Payload, role: i32, city: &str, libraries: &[String]) -> Grant {
    Grant::from_recorded(role, city, libraries)
        .unwrap_or_else(|| broken(event, &format!("role {role} is not one this version knows")))
}

/// A recorded calendar. Hours out of range and unreadable dates were never recorded by
/// `decide`; they are read as open all day and passed over, so a query never panics on them.
fn recorded_calendar(e: &crate::pb::CalendarSet) -> Calendar {
    let mut week = [OpeningHours::ALL_DAY; 7];
    for (slot, hours) in week.iter_mut().zip(&e.week) {
        *slot = OpeningHours {
            open_minute: hours.open_minute.min(crate::calendar::MINUTES_PER_DAY),
            close_minute: hours.close_minute.min(crate::calendar::MINUTES_PER_DAY),
        };
    }
    Calendar {
        week,
        closed_dates: e
            .closed_dates
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect(),
    }
}

/// Microseconds since the epoch to a UTC instant (saturating at chrono's range).
pub(crate) fn from_us(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
