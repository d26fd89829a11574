//! Forgetting a patron (crypto-shredding, ADR 0018): the rule is only that nothing of theirs
//! is open. Destroying the key their personal data is sealed under is the ledger's work, after
//! the event is recorded.

use super::{Decider, patron_event};
use crate::pb::{self, ForgetReason};
use crate::{NewEvent, PatronRef, Payload, Rejection};

impl Decider<'_> {
    pub(super) fn forget_patron(
        &self,
        patron: &PatronRef,
        reason: ForgetReason,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if reason == ForgetReason::Unspecified {
            return Err(Rejection::ForgetReasonRequired);
        }
        self.member_card(patron)?;
        let Some(enrolled) = self.ledger.patrons.get(&patron.patron_id) else {
            return Err(Rejection::PatronNotEnrolled {
                card: patron.masked_card.clone(),
            });
        };
        let mut open = Vec::new();
        if !enrolled.loans.is_empty() {
            open.push(format!(
                "{} item(s) on loan ({})",
                enrolled.loans.len(),
                list(enrolled.loans.iter().map(|i| i.as_str()))
            ));
        }
        if !enrolled.holds.is_empty() {
            open.push(format!(
                "{} open hold(s) ({})",
                enrolled.holds.len(),
                list(enrolled.holds.iter().map(|h| h.to_string()))
            ));
        }
        if !enrolled.digital_loans.is_empty() {
            open.push(format!(
                "{} digital loan(s) ({})",
                enrolled.digital_loans.len(),
                list(enrolled.digital_loans.keys())
            ));
        }
        if !enrolled.unsettled_lost.is_empty() {
            open.push(format!(
                "an unpaid debt for lost item(s) ({})",
                list(enrolled.unsettled_lost.iter().map(|i| i.as_str()))
            ));
        }
        if !open.is_empty() {
            return Err(Rejection::PatronHasOpenBusiness {
                card: patron.masked_card.clone(),
                open: open.join(", "),
            });
        }
        Ok(vec![patron_event(
            &patron.patron_id,
            Payload::PatronForgotten(pb::PatronForgotten {
                patron_id: patron.patron_id.clone().into(),
                city: enrolled.home_city.clone().into(),
                reason: reason as i32,
            }),
        )])
    }
}

/// At most five names, then how many more.
fn list<T: AsRef<str>>(names: impl Iterator<Item = T>) -> String {
    let names: Vec<T> = names.collect();
    let mut shown: Vec<&str> = names.iter().take(5).map(AsRef::as_ref).collect();
    let more = names.len().saturating_sub(5);
    let extra = format!("and {more} more");
    if more > 0 {
        shown.push(&extra);
    }
    shown.join(", ")
}

/// The patrons the retention policy forgets as of now (ADR 0018): nothing open, and no activity
/// since `inactive_since` (a patron whose activity the state never learnt the time of counts as
/// active). At most `limit`, in patron id order, so that sweeps are repeatable.
pub fn retention_candidates(
    ledger: &crate::Ledger,
    inactive_since: chrono::DateTime<chrono::Utc>,
    limit: usize,
) -> Vec<PatronRef> {
    let mut due: Vec<&crate::Patron> = ledger
        .patrons
        .values()
        .filter(|p| p.patron_id.as_str() != crate::personal::FORGOTTEN_PATRON)
        .filter(|p| {
            p.loans.is_empty()
                && p.holds.is_empty()
                && p.digital_loans.is_empty()
                && p.unsettled_lost.is_empty()
        })
        .filter(|p| p.last_active_at.is_some_and(|at| at < inactive_since))
        .collect();
    due.sort_by(|a, b| a.patron_id.cmp(&b.patron_id));
    due.into_iter()
        .take(limit)
        .map(|p| PatronRef {
            city: p.home_city.clone(),
            patron_id: p.patron_id.clone(),
            masked_card: format!("a patron of {}", p.home_city),
        })
        .collect()
}
