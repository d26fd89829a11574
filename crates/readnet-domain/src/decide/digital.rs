//! Digital lending (ADR 0019): licensed e-resources and digital loans, which count against the
//! resource's licences and never against a patron's loan limit, and end by themselves.

use chrono::{DateTime, Duration, Utc};

use super::{Decider, network_event, patron_event, to_us};
use crate::ids::PatronId;
use crate::pb::{self, DigitalLoanEndReason, EResourceKind};
use crate::policy::{
    DEFAULT_DIGITAL_LOAN_DAYS, MAX_DIGITAL_EXPIRIES_PER_SWEEP, MAX_DIGITAL_LOAN_DAYS, MAX_LICENCES,
};
use crate::state::EResource;
use crate::{LibraryCode, NewEvent, PatronRef, Payload, Rejection};

/// The longest e-resource code.
const MAX_RESOURCE_CODE_LEN: usize = 64;

fn ended(
    resource: &str,
    patron_id: &PatronId,
    reason: DigitalLoanEndReason,
    at: DateTime<Utc>,
) -> NewEvent {
    patron_event(
        patron_id,
        Payload::DigitalLoanEnded(pb::DigitalLoanEnded {
            resource: resource.to_owned(),
            patron_id: patron_id.clone().into(),
            reason: reason as i32,
            at_us: to_us(at),
        }),
    )
}

impl Decider<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn license_eresource(
        &self,
        resource: &str,
        title: &str,
        kind: EResourceKind,
        owner: Option<&LibraryCode>,
        shared: bool,
        licences: u32,
        loan_days: u32,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let invalid = |field: &'static str, why: String| Rejection::EResourceInvalid { field, why };
        if resource.is_empty()
            || resource.len() > MAX_RESOURCE_CODE_LEN
            || !resource
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            return Err(invalid(
                "resource",
                format!(
                    "{resource:?} is not an e-resource code: 1 to {MAX_RESOURCE_CODE_LEN} letters, digits and - _ . :"
                ),
            ));
        }
        if title.trim().is_empty() {
            return Err(invalid(
                "title",
                "an e-resource's title is required".to_owned(),
            ));
        }
        if kind == EResourceKind::Unspecified {
            return Err(invalid(
                "kind",
                "an e-book, a database or open access is required".to_owned(),
            ));
        }
        let licences = if kind == EResourceKind::OpenAccess {
            0
        } else if (1..=MAX_LICENCES).contains(&licences) {
            licences
        } else {
            return Err(invalid(
                "licences",
                format!("{licences} is not a licence count: from 1 to {MAX_LICENCES}"),
            ));
        };
        let loan_days = match loan_days {
            0 => DEFAULT_DIGITAL_LOAN_DAYS,
            days if days <= MAX_DIGITAL_LOAN_DAYS => days,
            days => {
                return Err(invalid(
                    "loan_days",
                    format!(
                        "{days} days is longer than a digital loan may last ({MAX_DIGITAL_LOAN_DAYS})"
                    ),
                ));
            }
        };
        if let Some(owner) = owner {
            self.open_library(owner, "owner_library")?;
        }
        if self.network().eresources.contains_key(resource) {
            return Err(Rejection::EResourceExists {
                resource: resource.to_owned(),
            });
        }
        Ok(vec![network_event(Payload::EResourceLicensed(
            pb::EResourceLicensed {
                resource: resource.to_owned(),
                title: title.to_owned(),
                kind: kind as i32,
                owner_library: owner.map(|o| o.clone().into()).unwrap_or_default(),
                shared: shared || owner.is_none(),
                licences,
                loan_days,
            },
        ))])
    }

    fn eresource(&self, resource: &str) -> Result<&EResource, Rejection> {
        self.network()
            .eresources
            .get(resource)
            .ok_or_else(|| Rejection::EResourceNotLicensed {
                resource: resource.to_owned(),
            })
    }

    pub(super) fn borrow_digital(
        &self,
        code: &str,
        patron_ref: &PatronRef,
    ) -> Result<Vec<NewEvent>, Rejection> {
        // A library closed for a while still lends digitally (闭馆不打烊); one closed for good
        // does not.
        let library = self.acting_library()?;
        let resource = self.eresource(code)?;
        let (patron, enrol) = self.patron_or_enrol(patron_ref)?;
        let home_city = patron.map_or(&patron_ref.city, |p| &p.home_city);
        let now = self.ctx.occurred_at;
        if let Some(owner) = resource.owner_library.as_ref().filter(|_| !resource.shared) {
            let owner_city = self.network().library_city(owner.as_str());
            if owner_city != Some(home_city) {
                return Err(Rejection::EResourceNotShared {
                    resource: code.to_owned(),
                    owner: owner.clone(),
                    owner_city: owner_city.cloned().unwrap_or_default(),
                    card: patron_ref.masked_card.clone(),
                });
            }
        }
        if let Some(patron) = patron {
            self.check_not_blocked(patron, &patron_ref.masked_card)?;
        }
        // Loans whose time is up end here, at their expiry, before the licence is counted.
        let mut events: Vec<NewEvent> = resource
            .loans
            .iter()
            .filter(|(_, expires_at)| **expires_at <= now)
            .map(|(patron_id, expires_at)| {
                ended(code, patron_id, DigitalLoanEndReason::Expired, *expires_at)
            })
            .collect();
        if let Some(expires_at) = resource
            .loans
            .get(&patron_ref.patron_id)
            .filter(|e| **e > now)
        {
            return Err(Rejection::DigitalLoanExists {
                card: patron_ref.masked_card.clone(),
                resource: code.to_owned(),
                expires_at: *expires_at,
            });
        }
        if let Some(licences) = resource.licences {
            let active = resource.loans.values().filter(|e| **e > now);
            // A forgotten reader's loans are counted, not keyed (none is open once a state is
            // loaded to the end; see `EResource::forgotten_loans`).
            if active.clone().count() + resource.forgotten_loans as usize >= licences as usize {
                return Err(Rejection::NoLicenceFree {
                    resource: code.to_owned(),
                    licences,
                    next_free: active.min().copied().unwrap_or(now),
                });
            }
        }
        events.extend(enrol);
        events.push(patron_event(
            &patron_ref.patron_id,
            Payload::DigitalLoaned(pb::DigitalLoaned {
                resource: code.to_owned(),
                patron_id: patron_ref.patron_id.clone().into(),
                patron_home_city: home_city.clone().into(),
                owner_library: resource
                    .owner_library
                    .clone()
                    .map(String::from)
                    .unwrap_or_default(),
                library: library.code.clone().into(),
                expires_at_us: to_us(now + Duration::days(i64::from(resource.loan_days))),
            }),
        ));
        Ok(events)
    }

    pub(super) fn return_digital(
        &self,
        code: &str,
        patron_ref: &PatronRef,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let resource = self.eresource(code)?;
        let Some(expires_at) = resource.loans.get(&patron_ref.patron_id) else {
            return Err(Rejection::NoDigitalLoan {
                card: patron_ref.masked_card.clone(),
                resource: code.to_owned(),
            });
        };
        let now = self.ctx.occurred_at;
        // A loan whose time was up had ended already, at its expiry.
        let (reason, at) = if *expires_at <= now {
            (DigitalLoanEndReason::Expired, *expires_at)
        } else {
            (DigitalLoanEndReason::Returned, now)
        };
        Ok(vec![ended(code, &patron_ref.patron_id, reason, at)])
    }

    pub(super) fn expire_digital_loans(&self) -> Result<Vec<NewEvent>, Rejection> {
        let now = self.ctx.occurred_at;
        let mut due: Vec<(DateTime<Utc>, &str, &PatronId)> = self
            .network()
            .eresources
            .values()
            .flat_map(|r| {
                r.loans
                    .iter()
                    .filter(|(_, e)| **e <= now)
                    .map(|(patron, e)| (*e, r.code.as_str(), patron))
            })
            .collect();
        if due.is_empty() {
            return Err(Rejection::NoDigitalLoanDue { at: now });
        }
        due.sort();
        Ok(due
            .into_iter()
            .take(MAX_DIGITAL_EXPIRIES_PER_SWEEP)
            .map(|(at, resource, patron)| {
                ended(resource, patron, DigitalLoanEndReason::Expired, at)
            })
            .collect())
    }
}
