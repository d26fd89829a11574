//! Losses and withdrawal: declaring lost, paying or waiving the debt, withdrawing.

use super::{Decider, item_event};
use crate::pb::{self, ChargeKind};
use crate::state::{Item, ItemStatus, LostDebt};
use crate::{NewEvent, Payload, Rejection};

impl<'a> Decider<'a> {
    pub(super) fn declare_lost(&self, code: &str) -> Result<Vec<NewEvent>, Rejection> {
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
            .map(|p| p.home_city.clone())
            .unwrap_or_default();
        Ok(vec![item_event(
            code,
            Payload::ItemDeclaredLost(pb::ItemDeclaredLost {
                item: code.to_owned(),
                patron_id: patron_id.clone(),
                owner_library: item.owner_library.clone(),
                patron_home_city,
                debt_fen,
            }),
        )])
    }

    fn outstanding_debt(&self, code: &str) -> Result<(&'a Item, &'a LostDebt), Rejection> {
        let item = self.item(code)?;
        let debt = item.lost_debt().ok_or_else(|| Rejection::NoLostItemDebt {
            item: code.to_owned(),
        })?;
        Ok((item, debt))
    }

    pub(super) fn pay_lost(&self, code: &str, amount_fen: i64) -> Result<Vec<NewEvent>, Rejection> {
        if amount_fen <= 0 {
            return Err(Rejection::PaymentNotPositive { amount_fen });
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
                item: code.to_owned(),
                patron_id: debt.patron_id.clone(),
                amount_fen,
            }),
        )])
    }

    pub(super) fn waive_lost(&self, code: &str, reason: &str) -> Result<Vec<NewEvent>, Rejection> {
        let (_, debt) = self.outstanding_debt(code)?;
        Ok(vec![item_event(
            code,
            Payload::LostItemDebtWaived(pb::LostItemDebtWaived {
                item: code.to_owned(),
                patron_id: debt.patron_id.clone(),
                reason: reason.to_owned(),
            }),
        )])
    }

    pub(super) fn withdraw(&self, code: &str, reason: &str) -> Result<Vec<NewEvent>, Rejection> {
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
        Ok(vec![item_event(
            code,
            Payload::ItemWithdrawn(pb::ItemWithdrawn {
                item: code.to_owned(),
                reason: reason.to_owned(),
            }),
        )])
    }
}
