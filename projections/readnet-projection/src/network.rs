//! The network's shape as of the events folded so far: what every projection needs to place a
//! library in a city and a day in a time zone.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use readnet_domain::{CityCode, Fen, LibraryCode};
use serde::{Deserialize, Serialize};

use crate::Payload;
use crate::canonical::FastMap;
use crate::pb::{ChargeKind, LibraryTier, ReturnPolicy};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CityView {
    pub name: String,
    /// IANA name, e.g. `Asia/Shanghai`.
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryView {
    pub name: String,
    pub city: CityCode,
    /// `LibraryTier` as its protobuf number.
    pub tier: i32,
    pub parent: Option<LibraryCode>,
    pub closed: bool,
    /// `ReturnPolicy` as its protobuf number.
    pub return_policy: i32,
    /// Marked as a pickup point for holds (ADR 0013).
    pub delivery_point: bool,
    /// The hub its city's hold shipments go through (ADR 0013).
    pub distribution_centre: bool,
}

impl LibraryView {
    pub fn is_booth(&self) -> bool {
        self.tier == LibraryTier::Booth as i32
    }
}

/// A tariff, in force for events that occur at or after `effective_from_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TariffView {
    /// `ChargeKind` as its protobuf number.
    pub kind: i32,
    pub amount_fen: Fen,
    pub effective_from_us: i64,
}

/// Cities, libraries and tariffs, folded from the `network` stream's events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "NetworkFields")]
pub struct NetworkView {
    pub cities: BTreeMap<CityCode, CityView>,
    pub libraries: BTreeMap<LibraryCode, LibraryView>,
    /// In the order set; a later one wins a tie on the effective date.
    pub tariffs: Vec<TariffView>,
    /// Each library's time zone, parsed once: the folds ask for it on nearly every event. A
    /// function of `cities` and `libraries`, so not part of the encoding.
    #[serde(skip)]
    zones: FastMap<LibraryCode, Tz>,
}

/// The encoded fields of a [`NetworkView`]; decoding rebuilds what is derived from them.
#[derive(Deserialize)]
struct NetworkFields {
    cities: BTreeMap<CityCode, CityView>,
    libraries: BTreeMap<LibraryCode, LibraryView>,
    tariffs: Vec<TariffView>,
}

impl From<NetworkFields> for NetworkView {
    fn from(fields: NetworkFields) -> Self {
        let mut view = NetworkView {
            cities: fields.cities,
            libraries: fields.libraries,
            tariffs: fields.tariffs,
            zones: FastMap::default(),
        };
        view.rezone();
        view
    }
}

impl NetworkView {
    /// Folds a network event; other events leave the view as it is.
    pub fn apply(&mut self, payload: &Payload) {
        match payload {
            Payload::CityJoined(e) => {
                self.cities.insert(
                    CityCode::from(e.city.as_str()),
                    CityView {
                        name: e.name.clone(),
                        time_zone: e.time_zone.clone(),
                    },
                );
            }
            Payload::LibraryRegistered(e) => {
                self.libraries.insert(
                    LibraryCode::from(e.library.as_str()),
                    LibraryView {
                        name: e.name.clone(),
                        city: CityCode::from(e.city.as_str()),
                        tier: e.tier,
                        parent: (!e.parent.is_empty())
                            .then(|| LibraryCode::from(e.parent.as_str())),
                        closed: false,
                        return_policy: ReturnPolicy::ReturnHome as i32,
                        delivery_point: false,
                        distribution_centre: false,
                    },
                );
            }
            Payload::LibraryClosed(e) => {
                if let Some(library) = self.libraries.get_mut(e.library.as_str()) {
                    library.closed = true;
                }
            }
            Payload::ReturnPolicySet(e) => {
                if let Some(library) = self.libraries.get_mut(e.library.as_str()) {
                    library.return_policy = e.policy;
                }
            }
            Payload::LibraryRolesSet(e) => {
                if let Some(library) = self.libraries.get_mut(e.library.as_str()) {
                    library.delivery_point = e.delivery_point;
                    library.distribution_centre = e.distribution_centre;
                }
            }
            Payload::LibraryMoved(e) => {
                if let Some(library) = self.libraries.get_mut(e.library.as_str()) {
                    library.parent =
                        (!e.parent.is_empty()).then(|| LibraryCode::from(e.parent.as_str()));
                }
            }
            Payload::LibraryRenamed(e) => {
                if let Some(library) = self.libraries.get_mut(e.library.as_str()) {
                    library.name = e.name.clone();
                }
            }
            Payload::LibraryTierChanged(e) => {
                if let Some(library) = self.libraries.get_mut(e.library.as_str()) {
                    library.tier = e.tier;
                }
            }
            Payload::TariffSet(e) => self.tariffs.push(TariffView {
                kind: e.kind,
                amount_fen: Fen(e.amount_fen),
                effective_from_us: e.effective_from_us,
            }),
            _ => {}
        }
        if matches!(
            payload,
            Payload::CityJoined(_) | Payload::LibraryRegistered(_)
        ) {
            self.rezone();
        }
    }

    /// Recomputes every library's time zone (a network has a few hundred libraries, and joins
    /// and registrations are rare).
    fn rezone(&mut self) {
        self.zones = self
            .libraries
            .iter()
            .map(|(code, library)| (code.clone(), self.city_time_zone(library.city.as_str())))
            .collect();
    }

    /// The open distribution centre of a city (the lowest code, if several): the domain's
    /// `Network::distribution_centre`.
    pub fn distribution_centre(&self, city: &str) -> Option<&LibraryCode> {
        self.libraries
            .iter()
            .find(|(_, l)| l.distribution_centre && !l.closed && l.city.as_str() == city)
            .map(|(code, _)| code)
    }

    /// The city of a library (empty if unknown).
    pub fn city_of(&self, library: &str) -> &str {
        self.libraries.get(library).map_or("", |l| l.city.as_str())
    }

    /// The time zone of a city (Asia/Shanghai if unknown or unparsable).
    pub fn city_time_zone(&self, city: &str) -> Tz {
        self.cities
            .get(city)
            .and_then(|c| c.time_zone.parse().ok())
            .unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// The time zone of a library's city (Asia/Shanghai if unknown or unparsable).
    pub fn library_time_zone(&self, library: &str) -> Tz {
        self.zones
            .get(library)
            .copied()
            .unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// The local calendar day of an instant at a library, `YYYY-MM-DD`.
    pub fn local_day(&self, library: &str, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.library_time_zone(library))
            .format("%Y-%m-%d")
            .to_string()
    }

    /// The tariff of `kind` in force at `at`: the latest effective one, else the network default.
    pub fn tariff_fen(&self, kind: ChargeKind, at: DateTime<Utc>) -> Fen {
        let at_us = at.timestamp_micros();
        self.tariffs
            .iter()
            .filter(|t| t.kind == kind as i32 && t.effective_from_us <= at_us)
            .max_by_key(|t| t.effective_from_us)
            .map_or_else(
                || readnet_domain::default_tariff_fen(kind),
                |t| t.amount_fen,
            )
    }
}

/// The settlement time zone: calendar months are cut in it.
pub const SETTLEMENT_TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// The settlement period (calendar month in the settlement time zone) of an instant, `YYYY-MM`.
pub fn settlement_period(at: DateTime<Utc>) -> String {
    SETTLEMENT_TIME_ZONE
        .from_utc_datetime(&at.naive_utc())
        .format("%Y-%m")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    #[test]
    fn a_decoded_view_knows_its_libraries_time_zones() {
        let mut view = NetworkView::default();
        let join = |city: &str, time_zone: &str| {
            Payload::CityJoined(pb::CityJoined {
                city: city.into(),
                name: city.into(),
                time_zone: time_zone.into(),
            })
        };
        let register = |library: &str, city: &str| {
            Payload::LibraryRegistered(pb::LibraryRegistered {
                library: library.into(),
                city: city.into(),
                ..Default::default()
            })
        };
        view.apply(&join("urumqi", "Asia/Urumqi"));
        view.apply(&register("URC-CENTRAL", "urumqi"));
        // A library registered before its city joins gets the city's zone when it does.
        view.apply(&register("KSH-CENTRAL", "kashgar"));
        assert_eq!(
            view.library_time_zone("KSH-CENTRAL"),
            chrono_tz::Asia::Shanghai
        );
        view.apply(&join("kashgar", "Asia/Kashgar"));

        let decoded: NetworkView =
            serde_json::from_slice(&serde_json::to_vec(&view).unwrap()).unwrap();
        assert_eq!(decoded, view);
        for v in [&view, &decoded] {
            assert_eq!(v.library_time_zone("URC-CENTRAL"), chrono_tz::Asia::Urumqi);
            assert_eq!(v.library_time_zone("KSH-CENTRAL"), chrono_tz::Asia::Kashgar);
            assert_eq!(v.library_time_zone("NOWHERE"), chrono_tz::Asia::Shanghai);
        }
        assert!(
            !String::from_utf8(serde_json::to_vec(&view).unwrap())
                .unwrap()
                .contains("zones"),
            "the zones are derived, not encoded"
        );
    }
}
