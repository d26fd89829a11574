//! Losses and withdrawal: declaring lost, paying or waiving the debt, withdrawing.

use super::{Decider, item_event};
use crate::ids::ItemCode;
use crate::money::{Fen, MAX_PAYMENT_FEN};
use crate::pb::{self, ChargeKind};
use crate::state::{Item, ItemStatus, LostDebt};
use crate::{NewEvent, Payload, Rejection};

impl<'a> Decider<'a> {
    pub(super) fn declare_lost(&self, code: &ItemCode) -> Result<Vec<NewEvent>, Rejection> {
        let item = self.item(code)?;
        let ItemStatus::OnLoan { patron_id, .. } = &item.status else {
            return Err(Rejection::LostItemNotOnLoan {
                item: code.to_owned(),
                whereabouts: self.whereabouts(item),
            });
        };
        let debt_fen = item.price_fen.unwrap_or_else(|| {
            self.network()
                .tariff_fen(ChargeKind::Lost, self.ctx.occurred_at)
        });
        let patron_home_city = self
            .ledger
            .patrons
            .get(patron_id)
            .map(|p| p.home_city.clone().into())
            .unwrap_or_default();
        Ok(vec![item_event(
            code,
            Payload::ItemDeclaredLost(pb::ItemDeclaredLost {
                item: code.clone().into(),
                patron_id: patron_id.clone().into(),
                owner_library: item.owner_library.clone().into(),
                patron_home_city,
                debt_fen: debt_fen.get(),
            }),
        )])
    }

    fn outstanding_debt(&self, code: &ItemCode) -> Result<(&'a Item, &'a LostDebt), Rejection> {
        let item = self.item(code)?;
        let debt = item.lost_debt().ok_or_else(|| Rejection::NoLostItemDebt {
            item: code.to_owned(),
        })?;
        Ok((item, debt))
    }

    pub(super) fn pay_lost(
        &self,
        code: &ItemCode,
        amount_fen: Fen,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if !amount_fen.is_positive() {
            return Err(Rejection::PaymentNotPositive { amount_fen });
        }
        if amount_fen > MAX_PAYMENT_FEN {
            return Err(Rejection::PaymentTooHigh {
                amount_fen,
                max_fen: MAX_PAYMENT_FEN,
            });
        }
        let (_, debt) = self.outstanding_debt(code)?;
        if amount_fen > debt.outstanding_fen {
            return Err(Rejection::PaymentExceedsDebt {
                item: code.to_owned(),
                amount_fen,
                owed_fen: debt.outstanding_fen,
            });
        }
        Ok(vec![item_event(
            code,
            Payload::LostItemPaid(pb::LostItemPaid {
                item: code.clone().into(),
                patron_id: debt.patron_id.clone().into(),
                amount_fen: amount_fen.get(),
            }),
        )])
    }

    pub(super) fn waive_lost(
        &self,
        code: &ItemCode,
        reason: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let (_, debt) = self.outstanding_debt(code)?;
        Ok(vec![item_event(
            code,
            Payload::LostItemDebtWaived(pb::LostItemDebtWaived {
                item: code.clone().into(),
                patron_id: debt.patron_id.clone().into(),
                reason: reason.to_owned(),
            }),
        )])
    }

    pub(super) fn withdraw(
        &self,
        code: &ItemCode,
        reason: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let item = self.item(code)?;
        match &item.status {
            ItemStatus::OnShelf { .. } | ItemStatus::InBooth { .. } | ItemStatus::Lost { .. } => {}
            _ => {
                return Err(Rejection::NotWithdrawable {
                    item: code.to_owned(),
                    whereabouts: self.whereabouts(item),
                });
            }
        }
        // A copy set aside for a hold leaves it: the hold goes back to its place in the queue
        // and is given the nearest other copy on a shelf, if there is one.
        let held = item.hold.and_then(|n| self.ledger.holds.get(&n));
        let mut events = Vec::new();
        if let Some(hold) = held {
            let none = std::collections::BTreeSet::new();
            events.extend(self.release(item, hold, true, &none, &mut none.clone()));
        }
        events.push(item_event(
            code,
            Payload::ItemWithdrawn(pb::ItemWithdrawn {
                item: code.clone().into(),
                reason: reason.to_owned(),
            }),
        ));
        if let Some(hold) = held {
            let this = std::collections::BTreeSet::from([code.clone()]);
            if let Some((other, at)) = self.nearest_copy(hold, &this) {
                events.extend(self.assign(hold, other, at, false));
            }
        }
        Ok(events)
    }
}
