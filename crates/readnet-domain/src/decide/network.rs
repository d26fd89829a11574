//! Network administration: cities, libraries, return policies, tariffs, patron tiers.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Decider, network_event, patron_event, to_us};
use crate::ids::{CityCode, LibraryCode};
use crate::money::{Fen, MAX_TARIFF_FEN};
use crate::pb::{self, ChargeKind, CreditTier, LibraryTier, ReturnPolicy};
use crate::{NewEvent, PatronRef, Payload, Rejection};

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
        if let Some(parent) = parent {
            self.library(parent, "parent")?;
        }
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
        if !self.ledger.patrons.contains_key(&patron.patron_id) {
            return Err(Rejection::PatronNotEnrolled {
                card: patron.masked_card.clone(),
            });
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
