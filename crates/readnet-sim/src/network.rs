//! The network's shape — cities, every tier of library, booths — and its set-up as network
//! administration commands.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use rand::Rng;
use readnet_domain::pb::{EResourceKind, LibraryTier, ReturnPolicy};
use readnet_domain::{Command, Fen, LibraryCode};

use crate::Simulator;
use crate::rhythm::{CLOSURE_DAYS, time};

/// The partner bookstore of a library: the patron-driven books it buys come from there.
pub(crate) fn bookstore_of(library: &LibraryCode) -> String {
    format!("XH-{library}")
}

/// A library of the simulated network.
#[derive(Debug, Clone)]
pub(crate) struct Lib {
    pub(crate) code: LibraryCode,
    /// Its city's index in the scale.
    pub(crate) city: usize,
    pub(crate) tier: LibraryTier,
    pub(crate) open_24h: bool,
    /// The city's central library (for booth restocking).
    pub(crate) central: usize,
}

impl Simulator {
    /// Lays out the libraries, booths and patrons of every city; no command is sent yet.
    pub(crate) fn build_network_shape(&mut self) {
        let mut patrons = 0u32;
        for (c, city) in self.scale.cities.clone().iter().enumerate() {
            let central = self.libs.len();
            let add = |libs: &mut Vec<Lib>, code: String, tier: LibraryTier| {
                libs.push(Lib {
                    code: LibraryCode::from(code),
                    city: c,
                    tier,
                    open_24h: tier == LibraryTier::SelfService,
                    central,
                });
            };
            let p = city.prefix;
            add(&mut self.libs, format!("{p}-CENTRAL"), LibraryTier::Central);
            for g in 1..=city.generals {
                add(&mut self.libs, format!("{p}-G{g:02}"), LibraryTier::General);
                for b in 1..=city.branches_per_general {
                    add(
                        &mut self.libs,
                        format!("{p}-G{g:02}-B{b:02}"),
                        LibraryTier::Branch,
                    );
                }
            }
            for s in 1..=city.service_points {
                add(
                    &mut self.libs,
                    format!("{p}-SP{s:03}"),
                    LibraryTier::ServicePoint,
                );
            }
            for s in 1..=city.self_service {
                add(
                    &mut self.libs,
                    format!("{p}-24H-{s:02}"),
                    LibraryTier::SelfService,
                );
            }
            for b in 1..=city.booths {
                add(
                    &mut self.libs,
                    format!("{p}-BOOTH-{b:02}"),
                    LibraryTier::Booth,
                );
            }
            let mut lending = Vec::new();
            for (l, lib) in self.libs.iter().enumerate().skip(central) {
                let share = match lib.tier {
                    LibraryTier::Central => 20.0,
                    LibraryTier::General => 6.0,
                    LibraryTier::Branch => 2.0,
                    LibraryTier::ServicePoint => 0.6,
                    LibraryTier::SelfService => 1.5,
                    _ => {
                        self.booths.push(l);
                        continue;
                    }
                };
                lending.push((l, share));
            }
            let sum: f64 = lending.iter().map(|(_, s)| s).sum();
            for (_, s) in &mut lending {
                *s /= sum;
            }
            self.lending.push(lending);
            self.patron_offset.push(patrons);
            patrons += city.patrons as u32;
            self.patron_city
                .extend(std::iter::repeat_n(c as u16, city.patrons));
        }
        self.patron_offset.push(patrons);
        self.shelf = vec![HashMap::new(); self.libs.len()];
        self.shelf_titles = vec![Vec::new(); self.libs.len()];
        self.booth_stock = vec![Vec::new(); self.libs.len()];
        self.kiosk = self
            .libs
            .iter()
            .position(|l| l.tier == LibraryTier::SelfService)
            .expect("a self-service library");
    }

    /// The network administration that comes before any item: cities join, libraries register,
    /// the smaller ones float returns within their city.
    pub(crate) fn setup_network(&mut self) {
        let at = self.start - Duration::days(1);
        for city in self.scale.cities.clone() {
            self.exec_system(
                at,
                Command::JoinCity {
                    city: city.code.into(),
                    name: city.name.into(),
                    time_zone: "Asia/Shanghai".into(),
                },
            );
        }
        for l in 0..self.libs.len() {
            let lib = self.libs[l].clone();
            let parent = match lib.tier {
                LibraryTier::Central => None,
                // A branch's code is its parent's with a `-Bnn` suffix.
                LibraryTier::Branch => {
                    let code = lib.code.as_str();
                    Some(code[..code.len() - 4].into())
                }
                _ => Some(self.libs[lib.central].code.clone()),
            };
            self.exec_system(
                at,
                Command::RegisterLibrary {
                    library: lib.code.clone(),
                    name: lib.code.as_str().to_owned(),
                    city: self.scale.cities[lib.city].code.into(),
                    tier: lib.tier,
                    parent,
                },
            );
            if matches!(
                lib.tier,
                LibraryTier::Branch | LibraryTier::ServicePoint | LibraryTier::SelfService
            ) {
                self.exec_system(
                    at,
                    Command::SetReturnPolicy {
                        library: lib.code.clone(),
                        policy: ReturnPolicy::FloatInCity,
                    },
                );
            }
            if lib.tier != LibraryTier::Booth {
                self.set_up_acquisitions(at, &lib);
            }
            // Holds travel through the central library, the city's distribution centre (配送
            // 中心); service points and 24-hour libraries are delivery points (ADR 0013).
            let (centre, delivery) = match lib.tier {
                LibraryTier::Central => (true, false),
                LibraryTier::ServicePoint | LibraryTier::SelfService => (false, true),
                _ => (false, false),
            };
            if centre || delivery {
                self.exec_system(
                    at,
                    Command::SetLibraryRoles {
                        library: lib.code.clone(),
                        delivery_point: delivery,
                        distribution_centre: centre,
                    },
                );
            }
        }
        self.license_eresources(at);
    }

    /// A library's acquisition budget for the simulated years (the default 20 % share for
    /// patron-driven books) and its partner bookstore (ADR 0019).
    fn set_up_acquisitions(&mut self, at: DateTime<Utc>, lib: &Lib) {
        let budget_fen = if lib.tier == LibraryTier::Central {
            10_000_000
        } else {
            2_000_000
        };
        // Budget years are calendar years in the libraries' time (UTC+8, as the simulation's).
        let local_year = |at: DateTime<Utc>| (at + Duration::hours(8)).year();
        let first = local_year(at);
        let last = local_year(self.start + Duration::days(i64::from(self.days)));
        for year in first..=last {
            self.exec_system(
                at,
                Command::SetAcquisitionBudget {
                    library: lib.code.clone(),
                    year,
                    budget_fen: Fen(budget_fen),
                    patron_driven_share_bp: None,
                },
            );
        }
        self.exec_system(
            at,
            Command::RegisterBookstore {
                library: lib.code.clone(),
                bookstore: bookstore_of(&lib.code),
                name: format!("{} 新华书店", lib.code),
            },
        );
    }

    /// E-resources: each city's central library shares an e-book with the network (14-day
    /// loans), and the network has an e-book of its own (7 days) and an open-access database
    /// (a day's access).
    fn license_eresources(&mut self, at: DateTime<Utc>) {
        type Licence = (String, EResourceKind, Option<LibraryCode>, u32, u32);
        let mut licences: Vec<Licence> = self
            .libs
            .iter()
            .filter(|l| l.tier == LibraryTier::Central)
            .map(|l| {
                let resource = format!("EB-{}", l.code);
                (resource, EResourceKind::Ebook, Some(l.code.clone()), 3, 14)
            })
            .collect();
        licences.push(("EB-NETWORK".into(), EResourceKind::Ebook, None, 5, 7));
        licences.push(("OA-GUJI".into(), EResourceKind::OpenAccess, None, 0, 1));
        for (resource, kind, owner_library, licences, loan_days) in licences {
            self.exec_system(
                at,
                Command::LicenseEResource {
                    resource: resource.clone(),
                    title: format!("{resource} 电子资源"),
                    kind,
                    owner_library,
                    shared: true,
                    licences,
                    loan_days,
                },
            );
            self.eresources.push(resource);
        }
    }

    /// The sweep: the digital loans whose time is up end (the server's own ExpireDigitalLoans).
    pub(crate) fn expire_digital_loans(&mut self, at: i64) {
        let now = time(at);
        loop {
            let due = self
                .history
                .ledger()
                .network
                .eresources
                .values()
                .flat_map(|r| r.loans.values())
                .filter(|expires| **expires <= now)
                .count();
            if due == 0 || !self.exec(at, None, Command::ExpireDigitalLoans, None, 0, &[]) {
                return;
            }
            self.stats.digital_expired +=
                due.min(readnet_domain::MAX_DIGITAL_EXPIRIES_PER_SWEEP) as u64;
        }
    }

    /// A reader borrows an e-resource through `library` (never the kiosk, whose steps may be
    /// held back: an expiry must not come out before its loan).
    pub(crate) fn borrow_digital(&mut self, at: i64, library: usize, patron: u32) {
        if library == self.kiosk || self.eresources.is_empty() {
            return;
        }
        let resource = self.eresources[self.rng.random_range(0..self.eresources.len())].clone();
        let (patron_ref, card) = self.patron(patron);
        let command = Command::BorrowDigital {
            resource,
            patron: patron_ref,
        };
        if self.exec(at, Some(library), command, Some(card), 0, &[]) {
            self.stats.digital_loans += 1;
        }
    }

    /// A branch closes for [`CLOSURE_DAYS`] days from now. Not while the kiosk is offline: a
    /// loan it extends could have later events the kiosk still holds back.
    pub(crate) fn close_for_a_while(&mut self, at: i64, library: usize) {
        if self.kiosk_offline {
            return;
        }
        let code = self.libs[library].code.clone();
        let Some(until) = self
            .history
            .ledger()
            .network
            .calendar(code.as_str())
            .map(|c| c.local_date(time(at)))
            .and_then(|today| today.checked_add_days(chrono::Days::new(CLOSURE_DAYS - 1)))
        else {
            return;
        };
        let command = Command::CloseLibraryTemporarily {
            library: code,
            reason: "renovation".into(),
            from: None,
            until,
        };
        if self.exec(at, None, command, None, 0, &[]) {
            self.stats.closures += 1;
        }
    }

    pub(crate) fn library_index(&self, code: &str) -> Option<usize> {
        // Codes are few; a linear scan is fine next to deciding a command.
        self.libs.iter().position(|l| l.code == code)
    }
}
