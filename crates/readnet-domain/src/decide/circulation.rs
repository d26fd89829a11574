//! Circulation: checkout, renewal, return, and the checks a borrower must pass.

use super::{Decider, item_event, to_us};
use crate::account::Block;
use crate::ids::ItemCode;
use crate::pb::{self, ReturnPolicy};
use crate::policy::{BLOCK_AFTER_OVERDUE_DAYS, MAX_RENEWALS, due_at, loan_limit};
use crate::rejection::DeskWork;
use crate::state::{ItemStatus, Patron};
use crate::{NewEvent, PatronRef, Payload, Rejection};

impl Decider<'_> {
    /// Blocked: an item overdue by more than 30 days, or a lost item not settled
    /// ([`crate::Ledger::block`], which the patron's account shows too).
    pub(super) fn check_not_blocked(&self, patron: &Patron, card: &str) -> Result<(), Rejection> {
        match self.ledger.block(patron, self.ctx.occurred_at) {
            None => Ok(()),
            Some(Block::LostUnpaid { item, owed_fen }) => Err(Rejection::PatronBlockedLost {
                card: card.to_owned(),
                item,
                owed_fen,
            }),
            Some(Block::Overdue { item, due_date }) => Err(Rejection::PatronBlockedOverdue {
                card: card.to_owned(),
                item,
                due_date,
                days: BLOCK_AFTER_OVERDUE_DAYS,
            }),
        }
    }

    /// Below the loan limit of the patron's credit tier.
    pub(super) fn check_below_limit(&self, patron: &Patron, card: &str) -> Result<(), Rejection> {
        let limit = loan_limit(patron.tier);
        if patron.loans.len() >= limit {
            return Err(Rejection::LoanLimitReached {
                card: card.to_owned(),
                on_loan: patron.loans.len(),
                limit,
                tier: patron.tier,
            });
        }
        Ok(())
    }

    pub(super) fn checkout(
        &self,
        code: &ItemCode,
        patron_ref: &PatronRef,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.desk_library(DeskWork::Loans)?;
        let item = self.item(code)?;
        match &item.status {
            ItemStatus::OnShelf {
                library: at,
                homebound,
            } if at == &library.code => {
                if *homebound {
                    return Err(Rejection::HomeboundNotLent {
                        item: code.to_owned(),
                        owner: item.owner_library.clone(),
                    });
                }
            }
            _ => {
                return Err(Rejection::ItemNotOnShelf {
                    item: code.to_owned(),
                    library: library.code.clone(),
                    whereabouts: self.whereabouts(item),
                });
            }
        }
        // A copy set aside for a hold is lent to its holder only, wherever it is.
        let filled = match item.hold.and_then(|n| self.ledger.holds.get(&n)) {
            Some(hold) if hold.patron_id == patron_ref.patron_id => Some(hold),
            Some(hold) => {
                return Err(Rejection::HeldForAnother {
                    item: code.to_owned(),
                    hold: hold.number,
                    pickup: hold.pickup_library.clone(),
                });
            }
            None => None,
        };
        let (patron, enrol) = self.patron_or_enrol(patron_ref)?;
        if let Some(patron) = patron {
            self.check_not_blocked(patron, &patron_ref.masked_card)?;
            self.check_below_limit(patron, &patron_ref.masked_card)?;
        }
        let mut events: Vec<NewEvent> = enrol.into_iter().collect();
        if let Some(hold) = filled {
            events.push(item_event(
                code,
                Payload::HoldFilled(pb::HoldFilled {
                    hold: hold.number,
                    item: code.clone().into(),
                    patron_id: hold.patron_id.clone().into(),
                }),
            ));
        }
        events.push(self.loan_event(item, patron_ref, library));
        Ok(events)
    }

    pub(super) fn renew(
        &self,
        code: &ItemCode,
        patron_ref: &PatronRef,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let item = self.item(code)?;
        let ItemStatus::OnLoan {
            patron_id,
            library,
            renewals,
            ..
        } = &item.status
        else {
            return Err(Rejection::ItemNotOnLoan {
                item: code.to_owned(),
                whereabouts: self.whereabouts(item),
            });
        };
        if patron_id != &patron_ref.patron_id {
            return Err(Rejection::NotTheBorrower {
                item: code.to_owned(),
            });
        }
        if *renewals >= MAX_RENEWALS {
            return Err(Rejection::RenewalLimitReached {
                item: code.to_owned(),
                renewals: *renewals,
                max: MAX_RENEWALS,
            });
        }
        if let Some(patron) = self.ledger.patrons.get(patron_id) {
            self.check_not_blocked(patron, &patron_ref.masked_card)?;
        }
        let tz = self.network().library_time_zone(library.as_str());
        Ok(vec![item_event(
            code,
            Payload::ItemRenewed(pb::ItemRenewed {
                item: code.clone().into(),
                patron_id: patron_id.clone().into(),
                due_at_us: to_us(due_at(self.ctx.occurred_at, tz)),
                renewal_count: renewals + 1,
            }),
        )])
    }

    pub(super) fn return_item(&self, code: &ItemCode) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.desk_library(DeskWork::Returns)?;
        let item = self.item(code)?;
        let (patron_id, was_lost) = match &item.status {
            ItemStatus::OnLoan { patron_id, .. } => (patron_id.clone(), false),
            ItemStatus::Lost { patron_id } => (patron_id.clone(), true),
            _ => {
                return Err(Rejection::ItemNotOnLoan {
                    item: code.to_owned(),
                    whereabouts: self.whereabouts(item),
                });
            }
        };
        let owner = self.library(&item.owner_library, "owner_library")?;
        // The first hold in queue order that this copy fills traps it here: it is set aside
        // for that hold instead of going home.
        let trapped = self.trap(item, &library.code);
        let homebound = if library.code == owner.code || trapped.is_some() {
            false
        } else {
            !(library.city == owner.city && owner.return_policy == ReturnPolicy::FloatInCity)
        };
        let mut events = vec![item_event(
            code,
            Payload::ItemReturned(pb::ItemReturned {
                item: code.clone().into(),
                patron_id: patron_id.into(),
                library: library.code.clone().into(),
                owner_library: owner.code.clone().into(),
                homebound,
                was_lost,
            }),
        )];
        events.extend(trapped.into_iter().flatten());
        Ok(events)
    }
}
