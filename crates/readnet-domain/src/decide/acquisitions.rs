//! Acquisition budgets (ADR 0019): a library's budget per year and its patron-driven share,
//! its purchase rules, its partner bookstores, and the checks a patron-driven purchase passes.

use chrono::Datelike;

use super::{Decider, local_date, network_event};
use crate::money::{Fen, MAX_BUDGET_FEN, MAX_PRICE_FEN};
use crate::policy::{BASIS_POINTS, DEFAULT_PATRON_DRIVEN_SHARE_BP};
use crate::state::{BudgetYear, Library};
use crate::{LibraryCode, NewEvent, PatronRef, Payload, Rejection, pb};

/// Budget years readnet takes.
const BUDGET_YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;
/// The most patron-driven books a policy lets one reader have bought in a month.
const MAX_MONTHLY_QUOTA: u32 = 1000;
/// The longest bookstore code.
const MAX_BOOKSTORE_CODE_LEN: usize = 64;

/// Where a patron-driven purchase is charged: the budget year and the month it counts in.
pub(super) struct PurchasePeriod {
    pub year: i32,
    pub month: String,
}

impl Decider<'_> {
    pub(super) fn set_acquisition_budget(
        &self,
        code: &LibraryCode,
        year: i32,
        budget_fen: Fen,
        share_bp: Option<u32>,
    ) -> Result<Vec<NewEvent>, Rejection> {
        self.library(code, "library")?;
        if !BUDGET_YEARS.contains(&year) {
            return Err(Rejection::BudgetYearOutOfRange { year });
        }
        if budget_fen.is_negative() || budget_fen > MAX_BUDGET_FEN {
            return Err(Rejection::BudgetOutOfRange {
                budget_fen,
                max_fen: MAX_BUDGET_FEN,
            });
        }
        let share_bp = share_bp.unwrap_or(DEFAULT_PATRON_DRIVEN_SHARE_BP);
        if share_bp > BASIS_POINTS {
            return Err(Rejection::ShareOutOfRange { share_bp });
        }
        let spent_fen = self
            .network()
            .budgets
            .get(&(code.clone(), year))
            .map_or(Fen::ZERO, |y| y.patron_driven_spent_fen);
        let share_fen = BudgetYear {
            budget: Some((budget_fen, share_bp)),
            patron_driven_spent_fen: spent_fen,
        }
        .patron_driven_share_fen()
        .unwrap_or(Fen::ZERO);
        if share_fen < spent_fen {
            return Err(Rejection::BudgetBelowSpend {
                library: code.clone(),
                year,
                share_fen,
                spent_fen,
            });
        }
        Ok(vec![network_event(Payload::AcquisitionBudgetSet(
            pb::AcquisitionBudgetSet {
                library: code.clone().into(),
                year: u32::try_from(year).unwrap_or_default(),
                budget_fen: budget_fen.get(),
                patron_driven_share_bp: share_bp,
            },
        ))])
    }

    pub(super) fn set_acquisition_policy(
        &self,
        code: &LibraryCode,
        max_item_price_fen: Fen,
        monthly_quota_per_reader: u32,
    ) -> Result<Vec<NewEvent>, Rejection> {
        self.library(code, "library")?;
        if !max_item_price_fen.is_positive() || max_item_price_fen > MAX_PRICE_FEN {
            return Err(Rejection::AcquisitionPolicyInvalid {
                field: "max_item_price_fen",
                why: format!(
                    "{max_item_price_fen} is not a price cap: from 1 to {MAX_PRICE_FEN} fen"
                ),
            });
        }
        if !(1..=MAX_MONTHLY_QUOTA).contains(&monthly_quota_per_reader) {
            return Err(Rejection::AcquisitionPolicyInvalid {
                field: "monthly_quota_per_reader",
                why: format!(
                    "{monthly_quota_per_reader} is not a quota: from 1 to {MAX_MONTHLY_QUOTA} books a month"
                ),
            });
        }
        Ok(vec![network_event(Payload::AcquisitionPolicySet(
            pb::AcquisitionPolicySet {
                library: code.clone().into(),
                max_item_price_fen: max_item_price_fen.get(),
                monthly_quota_per_reader,
            },
        ))])
    }

    pub(super) fn register_bookstore(
        &self,
        code: &LibraryCode,
        bookstore: &str,
        name: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.open_library(code, "library")?;
        if bookstore.is_empty()
            || bookstore.len() > MAX_BOOKSTORE_CODE_LEN
            || !bookstore
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Rejection::AcquisitionPolicyInvalid {
                field: "bookstore",
                why: format!(
                    "{bookstore:?} is not a bookstore code: 1 to {MAX_BOOKSTORE_CODE_LEN} letters, digits, hyphens and underscores"
                ),
            });
        }
        if name.trim().is_empty() {
            return Err(Rejection::AcquisitionPolicyInvalid {
                field: "name",
                why: "a bookstore's name is required".to_owned(),
            });
        }
        if self
            .network()
            .bookstores
            .get(&library.code)
            .is_some_and(|partners| partners.contains_key(bookstore))
        {
            return Err(Rejection::BookstoreAlreadyPartner {
                library: code.clone(),
                bookstore: bookstore.to_owned(),
            });
        }
        Ok(vec![network_event(Payload::BookstorePartnerRegistered(
            pb::BookstorePartnerRegistered {
                library: code.clone().into(),
                bookstore: bookstore.to_owned(),
                name: name.to_owned(),
            },
        ))])
    }

    /// The checks of a patron-driven purchase of a book costing `price_fen` at `library` for
    /// `patron`: the bookstore is a partner (required once the library has any), the price is
    /// within the library's cap, the reader within their monthly quota, the price within what
    /// is left of the year's patron-driven share. Answers the period it is charged in.
    pub(super) fn check_purchase(
        &self,
        library: &Library,
        bookstore: Option<&str>,
        patron: &PatronRef,
        price_fen: Fen,
    ) -> Result<PurchasePeriod, Rejection> {
        let network = self.network();
        let partners = network.bookstores.get(&library.code);
        match (bookstore, partners) {
            (Some(bookstore), partners) => {
                if !partners.is_some_and(|p| p.contains_key(bookstore)) {
                    return Err(Rejection::BookstoreNotPartner {
                        library: library.code.clone(),
                        bookstore: bookstore.to_owned(),
                    });
                }
            }
            (None, Some(partners)) if !partners.is_empty() => {
                return Err(Rejection::BookstoreRequired {
                    library: library.code.clone(),
                    partners: partners.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
            (None, _) => {}
        }
        let policy = network.acquisition_policy(library.code.as_str());
        if price_fen > policy.max_item_price_fen {
            return Err(Rejection::PurchaseAboveCap {
                library: library.code.clone(),
                price_fen,
                max_fen: policy.max_item_price_fen,
            });
        }
        let day = local_date(
            self.ctx.occurred_at,
            network.library_time_zone(library.code.as_str()),
        );
        let period = PurchasePeriod {
            year: day.year(),
            month: day.format("%Y-%m").to_string(),
        };
        let bought = self
            .ledger
            .patrons
            .get(&patron.patron_id)
            .and_then(|p| {
                p.patron_driven_by_month
                    .get(&(library.code.clone(), period.month.clone()))
            })
            .copied()
            .unwrap_or(0);
        if bought >= policy.monthly_quota_per_reader {
            return Err(Rejection::PurchaseQuotaReached {
                card: patron.masked_card.clone(),
                library: library.code.clone(),
                month: period.month,
                bought,
                quota: policy.monthly_quota_per_reader,
            });
        }
        let year = network
            .budgets
            .get(&(library.code.clone(), period.year))
            .copied()
            .unwrap_or_default();
        match year.patron_driven_share_fen() {
            Some(share_fen) => {
                let fits = year
                    .patron_driven_spent_fen
                    .checked_add(price_fen)
                    .is_some_and(|total| total <= share_fen);
                if !fits {
                    return Err(Rejection::PatronDrivenShareSpent {
                        library: library.code.clone(),
                        year: period.year,
                        share_fen,
                        spent_fen: year.patron_driven_spent_fen,
                        price_fen,
                    });
                }
            }
            // A library that never had a budget buys as before budgets existed (ADR 0019).
            None if network.has_budgets(&library.code) => {
                return Err(Rejection::NoAcquisitionBudget {
                    library: library.code.clone(),
                    year: period.year,
                });
            }
            None => {}
        }
        Ok(period)
    }
}
