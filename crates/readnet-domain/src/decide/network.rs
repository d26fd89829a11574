//! Network administration: cities, libraries, return policies, tariffs, patron tiers.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Decider, network_event, patron_event, to_us};
use crate::ids::{CityCode, LibraryCode};
use crate::money::{Fen, MAX_TARIFF_FEN};
use crate::pb::{self, ChargeKind, CreditTier, LibraryTier, ReturnPolicy};
use crate::state::Library;
use crate::{NewEvent, PatronRef, Payload, Rejection};

/// Whether a library of `tier` may be under a parent of `parent_tier`: a general library under a
/// central one; a branch under a general or the central library; a service point (a village's)
/// under those or a branch (a township's); 24-hour libraries and booths under any library that
/// is neither; a central library under none.
fn may_be_under(tier: LibraryTier, parent_tier: LibraryTier) -> bool {
    use LibraryTier::*;
    match tier {
        Central | Unspecified => false,
        General => parent_tier == Central,
        Branch => matches!(parent_tier, Central | General),
        ServicePoint => matches!(parent_tier, Central | General | Branch),
        SelfService | Booth => !matches!(parent_tier, SelfService | Booth | Unspecified),
    }
}

impl Decider<'_> {
    pub(super) fn join_city(
        &self,
        city: &CityCode,
        name: &str,
        time_zone: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if self.network().cities.contains_key(city) {
            return Err(Rejection::CityAlreadyJoined {
                city: city.to_owned(),
            });
        }
        let time_zone = if time_zone.is_empty() {
            "Asia/Shanghai"
        } else {
            time_zone
        };
        if time_zone.parse::<Tz>().is_err() {
            return Err(Rejection::UnknownTimeZone {
                time_zone: time_zone.to_owned(),
            });
        }
        Ok(vec![network_event(Payload::CityJoined(pb::CityJoined {
            city: city.clone().into(),
            name: name.to_owned(),
            time_zone: time_zone.to_owned(),
        }))])
    }

    pub(super) fn register_library(
        &self,
        library: &LibraryCode,
        name: &str,
        city: &CityCode,
        tier: LibraryTier,
        parent: Option<&LibraryCode>,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if tier == LibraryTier::Unspecified {
            return Err(Rejection::LibraryTierRequired);
        }
        if self.network().libraries.contains_key(library) {
            return Err(Rejection::LibraryAlreadyRegistered {
                library: library.to_owned(),
            });
        }
        if !self.network().cities.contains_key(city) {
            return Err(Rejection::CityNotJoined {
                city: city.to_owned(),
            });
        }
        let parent_library = parent.map(|p| self.library(p, "parent")).transpose()?;
        self.check_tree(library, tier, city, parent_library)?;
        Ok(vec![network_event(Payload::LibraryRegistered(
            pb::LibraryRegistered {
                library: library.clone().into(),
                name: name.to_owned(),
                city: city.clone().into(),
                tier: tier as i32,
                parent: parent.map(|p| p.as_str().to_owned()).unwrap_or_default(),
            },
        ))])
    }

    /// The tree rules for `library` of `tier` in `city` under `parent`: one central library per
    /// city; a parent that is open, in the same city, and of a tier this tier may be under.
    fn check_tree(
        &self,
        library: &LibraryCode,
        tier: LibraryTier,
        city: &CityCode,
        parent: Option<&Library>,
    ) -> Result<(), Rejection> {
        if tier == LibraryTier::Central
            && let Some(central) = self.network().libraries.values().find(|l| {
                l.tier == LibraryTier::Central && !l.closed && &l.city == city && &l.code != library
            })
        {
            return Err(Rejection::SecondCentralLibrary {
                library: library.clone(),
                city: city.clone(),
                central: central.code.clone(),
            });
        }
        let Some(parent) = parent else { return Ok(()) };
        if parent.closed {
            return Err(Rejection::LibraryClosed {
                library: parent.code.clone(),
            });
        }
        if &parent.city != city {
            return Err(Rejection::ParentInOtherCity {
                library: library.clone(),
                city: city.clone(),
                parent: parent.code.clone(),
                parent_city: parent.city.clone(),
            });
        }
        if !may_be_under(tier, parent.tier) {
            return Err(Rejection::ParentTierNotAllowed {
                library: library.clone(),
                tier,
                parent: parent.code.clone(),
                parent_tier: parent.tier,
            });
        }
        Ok(())
    }

    pub(super) fn move_library(
        &self,
        code: &LibraryCode,
        parent: Option<&LibraryCode>,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.library(code, "library")?;
        let parent_library = parent.map(|p| self.library(p, "parent")).transpose()?;
        if library.parent.as_ref() == parent {
            return Err(Rejection::LibraryUnchanged {
                library: code.clone(),
                what: "its parent",
                value: parent.map_or_else(|| "none".to_owned(), |p| p.to_string()),
            });
        }
        if let Some(parent) = parent {
            // Up from the new parent: reaching the library itself would close a cycle. The walk
            // is bounded by the number of libraries, in case an old log holds a cycle.
            let mut at = Some(parent);
            for _ in 0..=self.network().libraries.len() {
                let Some(step) = at else { break };
                if step == code {
                    return Err(Rejection::TreeCycle {
                        library: code.clone(),
                        parent: parent.clone(),
                    });
                }
                at = self
                    .network()
                    .libraries
                    .get(step)
                    .and_then(|l| l.parent.as_ref());
            }
        }
        self.check_tree(code, library.tier, &library.city, parent_library)?;
        Ok(vec![network_event(Payload::LibraryMoved(
            pb::LibraryMoved {
                library: code.clone().into(),
                parent: parent.map(|p| p.as_str().to_owned()).unwrap_or_default(),
                previous_parent: library
                    .parent
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
            },
        ))])
    }

    pub(super) fn rename_library(
        &self,
        code: &LibraryCode,
        name: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.library(code, "library")?;
        if name.trim().is_empty() {
            return Err(Rejection::LibraryNameRequired);
        }
        if library.name == name {
            return Err(Rejection::LibraryUnchanged {
                library: code.clone(),
                what: "its name",
                value: name.to_owned(),
            });
        }
        Ok(vec![network_event(Payload::LibraryRenamed(
            pb::LibraryRenamed {
                library: code.clone().into(),
                name: name.to_owned(),
            },
        ))])
    }

    pub(super) fn change_library_tier(
        &self,
        code: &LibraryCode,
        tier: LibraryTier,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if tier == LibraryTier::Unspecified {
            return Err(Rejection::LibraryTierRequired);
        }
        let library = self.library(code, "library")?;
        if library.tier == tier {
            return Err(Rejection::LibraryUnchanged {
                library: code.clone(),
                what: "its tier",
                value: crate::rejection::tier_name(tier).to_owned(),
            });
        }
        let parent = library
            .parent
            .as_ref()
            .and_then(|p| self.network().libraries.get(p));
        self.check_tree(code, tier, &library.city, parent)?;
        let mut children: Vec<&Library> = self
            .network()
            .libraries
            .values()
            .filter(|l| l.parent.as_ref() == Some(code) && !l.closed)
            .collect();
        children.sort_by(|a, b| a.code.cmp(&b.code));
        if let Some(child) = children.iter().find(|c| !may_be_under(c.tier, tier)) {
            return Err(Rejection::ChildTierNotAllowed {
                library: code.clone(),
                tier,
                child: child.code.clone(),
                child_tier: child.tier,
            });
        }
        Ok(vec![network_event(Payload::LibraryTierChanged(
            pb::LibraryTierChanged {
                library: code.clone().into(),
                tier: tier as i32,
            },
        ))])
    }

    pub(super) fn close_library(
        &self,
        library: &LibraryCode,
        reason: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        self.open_library(library, "library")?;
        Ok(vec![network_event(Payload::LibraryClosed(
            pb::LibraryClosed {
                library: library.clone().into(),
                reason: reason.to_owned(),
            },
        ))])
    }

    pub(super) fn set_return_policy(
        &self,
        library: &LibraryCode,
        policy: ReturnPolicy,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if policy == ReturnPolicy::Unspecified {
            return Err(Rejection::ReturnPolicyRequired);
        }
        self.library(library, "library")?;
        Ok(vec![network_event(Payload::ReturnPolicySet(
            pb::ReturnPolicySet {
                library: library.clone().into(),
                policy: policy as i32,
            },
        ))])
    }

    pub(super) fn set_tariff(
        &self,
        kind: ChargeKind,
        amount_fen: Fen,
        effective_from: DateTime<Utc>,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if kind == ChargeKind::Unspecified {
            return Err(Rejection::ChargeKindRequired);
        }
        if amount_fen.is_negative() {
            return Err(Rejection::NegativeTariff { amount_fen });
        }
        if amount_fen > MAX_TARIFF_FEN {
            return Err(Rejection::TariffTooHigh {
                amount_fen,
                max_fen: MAX_TARIFF_FEN,
            });
        }
        // A tariff set today for last week would price the same day two ways: charges already
        // made at the old rate, late-synced events of that week at the new one.
        if effective_from < self.ctx.occurred_at {
            return Err(Rejection::TariffInThePast {
                effective_from,
                set_at: self.ctx.occurred_at,
            });
        }
        Ok(vec![network_event(Payload::TariffSet(pb::TariffSet {
            kind: kind as i32,
            amount_fen: amount_fen.get(),
            effective_from_us: to_us(effective_from),
        }))])
    }

    pub(super) fn set_patron_tier(
        &self,
        patron: &PatronRef,
        tier: CreditTier,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if tier == CreditTier::Unspecified {
            return Err(Rejection::CreditTierRequired);
        }
        self.member_card(patron)?;
        // Enrolment by tier change: a patron whose tier is set before their first loan is
        // enrolled with it.
        if !self.ledger.patrons.contains_key(&patron.patron_id) {
            return Ok(vec![patron_event(
                &patron.patron_id,
                Payload::PatronEnrolled(pb::PatronEnrolled {
                    patron_id: patron.patron_id.clone().into(),
                    home_city: patron.city.clone().into(),
                    tier: tier as i32,
                }),
            )]);
        }
        Ok(vec![patron_event(
            &patron.patron_id,
            Payload::PatronTierChanged(pb::PatronTierChanged {
                patron_id: patron.patron_id.clone().into(),
                tier: tier as i32,
            }),
        )])
    }
}
