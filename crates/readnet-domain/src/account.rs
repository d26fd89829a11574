//! The patron's account (issue 10, item 4): what a patron sees of themselves — loans with their
//! due dates and renewals left, the overdue ones, open holds with their phase and place in the
//! queue, unsettled lost-item debts, and whether and why they are blocked. A pure view of the
//! [`Ledger`] at an instant: the block is the one the circulation rules apply
//! ([`Ledger::block`]), so the account and a refused checkout never disagree.

use chrono::{DateTime, NaiveDate, Utc};

use crate::ids::{ItemCode, LibraryCode, PatronId};
use crate::money::Fen;
use crate::pb::CreditTier;
use crate::policy::{BLOCK_AFTER_OVERDUE_DAYS, MAX_RENEWALS, loan_limit};
use crate::state::{HoldState, ItemStatus, Ledger, Patron};

/// Why a patron may not borrow or renew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// An item declared lost whose debt is not settled.
    LostUnpaid { item: ItemCode, owed_fen: Fen },
    /// An item overdue by more than [`BLOCK_AFTER_OVERDUE_DAYS`] days; `due_date` is local to
    /// the lending library.
    Overdue { item: ItemCode, due_date: NaiveDate },
}

/// One loan of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLoan {
    pub item: ItemCode,
    pub title: String,
    pub author: String,
    /// The lending library.
    pub library: LibraryCode,
    pub due_at: DateTime<Utc>,
    /// The due day, local to the lending library's city.
    pub due_date: NaiveDate,
    pub renewals_left: u32,
    /// Whole days past the due instant (0 while not overdue).
    pub days_overdue: u32,
}

impl AccountLoan {
    pub fn overdue(&self) -> bool {
        self.days_overdue > 0
    }
}

/// Where an open hold of the account stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountHoldPhase {
    /// Waiting for a copy: `position` among `queue_length` holds waiting for the title (1 is
    /// next); it expires unfilled at `expires_at`.
    Waiting {
        position: usize,
        queue_length: usize,
        expires_at: DateTime<Utc>,
    },
    /// A copy is set aside, still on the shelf at `library` (on its pick list).
    ToPull {
        item: ItemCode,
        library: LibraryCode,
    },
    /// The copy set aside travels towards `to`.
    InTransit { item: ItemCode, to: LibraryCode },
    /// On the hold shelf at the pickup library until `pickup_by`.
    Ready {
        item: ItemCode,
        pickup_by: DateTime<Utc>,
    },
}

/// One open hold of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountHold {
    pub hold: u64,
    /// The title's key (ISBN, else folded title and author).
    pub title_key: String,
    /// The title's words when an item is known (an item hold, or a copy set aside); else empty.
    pub title: String,
    /// For an item hold, the item asked for.
    pub item_asked: Option<ItemCode>,
    pub pickup_library: LibraryCode,
    pub phase: AccountHoldPhase,
}

/// One unsettled lost-item debt of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDebt {
    pub item: ItemCode,
    pub title: String,
    pub owed_fen: Fen,
}

/// A patron's account at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub patron_id: PatronId,
    pub tier: CreditTier,
    pub loan_limit: usize,
    /// Loans, soonest due first.
    pub loans: Vec<AccountLoan>,
    /// Open holds, in the order placed.
    pub holds: Vec<AccountHold>,
    /// Unsettled lost-item debts, by item.
    pub debts: Vec<AccountDebt>,
    /// The sum of `debts` (saturating: no real debt comes near `i64::MAX` fen).
    pub owed_fen: Fen,
    pub block: Option<Block>,
}

impl Account {
    pub fn overdue(&self) -> impl Iterator<Item = &AccountLoan> {
        self.loans.iter().filter(|l| l.overdue())
    }
}

impl Ledger {
    /// Why `patron` may not borrow or renew at `at`, if they may not: an unsettled lost item
    /// first, else the first loan (by item code) overdue by more than
    /// [`BLOCK_AFTER_OVERDUE_DAYS`] days.
    pub fn block(&self, patron: &Patron, at: DateTime<Utc>) -> Option<Block> {
        if let Some(item) = patron.unsettled_lost.iter().next() {
            let owed_fen = self
                .items
                .get(item)
                .map_or(Fen::ZERO, |i| i.owed_by(patron.patron_id.as_str()));
            return Some(Block::LostUnpaid {
                item: item.clone(),
                owed_fen,
            });
        }
        let limit = chrono::Duration::days(BLOCK_AFTER_OVERDUE_DAYS);
        patron
            .loans
            .iter()
            .find_map(|code| match self.items.get(code).map(|i| &i.status) {
                Some(ItemStatus::OnLoan {
                    due_at, library, ..
                }) if at > *due_at + limit => Some(Block::Overdue {
                    item: code.clone(),
                    due_date: due_at
                        .with_timezone(&self.network.library_time_zone(library.as_str()))
                        .date_naive(),
                }),
                _ => None,
            })
    }

    /// The account of `patron_id` at `at`; `None` for a card never used (no patron enrolled).
    pub fn account(&self, patron_id: &str, at: DateTime<Utc>) -> Option<Account> {
        let patron = self.patrons.get(patron_id)?;
        let mut loans: Vec<AccountLoan> = patron
            .loans
            .iter()
            .filter_map(|code| {
                let item = self.items.get(code)?;
                let ItemStatus::OnLoan {
                    library,
                    due_at,
                    renewals,
                    ..
                } = &item.status
                else {
                    return None;
                };
                let tz = self.network.library_time_zone(library.as_str());
                let late = at - *due_at;
                let days_overdue = if late > chrono::Duration::zero() {
                    // A loan one microsecond late is a day overdue.
                    u32::try_from(late.num_days() + 1).unwrap_or(u32::MAX)
                } else {
                    0
                };
                Some(AccountLoan {
                    item: code.clone(),
                    title: item.title.clone(),
                    author: item.author.clone(),
                    library: library.clone(),
                    due_at: *due_at,
                    due_date: due_at.with_timezone(&tz).date_naive(),
                    renewals_left: MAX_RENEWALS.saturating_sub(*renewals),
                    days_overdue,
                })
            })
            .collect();
        loans.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.item.cmp(&b.item)));
        let holds = patron
            .holds
            .iter()
            .filter_map(|number| self.account_hold(*number))
            .collect();
        let debts: Vec<AccountDebt> = patron
            .unsettled_lost
            .iter()
            .filter_map(|code| {
                let item = self.items.get(code)?;
                Some(AccountDebt {
                    item: code.clone(),
                    title: item.title.clone(),
                    owed_fen: item.owed_by(patron_id),
                })
            })
            .collect();
        let owed_fen = debts
            .iter()
            .try_fold(Fen::ZERO, |sum, d| sum.checked_add(d.owed_fen))
            .unwrap_or(Fen(i64::MAX));
        Some(Account {
            patron_id: patron.patron_id.clone(),
            tier: patron.tier,
            loan_limit: loan_limit(patron.tier),
            loans,
            holds,
            debts,
            owed_fen,
            block: self.block(patron, at),
        })
    }

    fn account_hold(&self, number: u64) -> Option<AccountHold> {
        let hold = self.holds.get(&number)?;
        let title_of = |item: &ItemCode| {
            self.items
                .get(item)
                .map(|i| i.title.clone())
                .unwrap_or_default()
        };
        let phase = match &hold.state {
            HoldState::Queued => {
                // The title's queue: its holds still waiting for a copy, in the order placed.
                let mut queue = self
                    .holds
                    .values()
                    .filter(|h| h.state == HoldState::Queued && h.title_key == hold.title_key);
                let ahead = queue.by_ref().take_while(|h| h.number < number).count();
                AccountHoldPhase::Waiting {
                    position: ahead + 1,
                    // `take_while` consumed this hold itself too.
                    queue_length: ahead + 1 + queue.count(),
                    expires_at: hold.expires_at,
                }
            }
            HoldState::Assigned { item } => match self.items.get(item).map(|i| &i.status) {
                Some(ItemStatus::InTransit { to, .. }) => AccountHoldPhase::InTransit {
                    item: item.clone(),
                    to: to.clone(),
                },
                Some(ItemStatus::OnShelf { library, .. }) => AccountHoldPhase::ToPull {
                    item: item.clone(),
                    library: library.clone(),
                },
                // A copy set aside is on a shelf or travelling; anything else is not a phase a
                // patron can act on, so the hold shows as travelling to its pickup library.
                _ => AccountHoldPhase::InTransit {
                    item: item.clone(),
                    to: hold.pickup_library.clone(),
                },
            },
            HoldState::Ready { item, pickup_by } => AccountHoldPhase::Ready {
                item: item.clone(),
                pickup_by: *pickup_by,
            },
        };
        let title = match (&hold.state, &hold.item) {
            (HoldState::Assigned { item } | HoldState::Ready { item, .. }, _) | (_, Some(item)) => {
                title_of(item)
            }
            (HoldState::Queued, None) => String::new(),
        };
        Some(AccountHold {
            hold: number,
            title_key: hold.title_key.clone(),
            title,
            item_asked: hold.item.clone(),
            pickup_library: hold.pickup_library.clone(),
            phase,
        })
    }
}
