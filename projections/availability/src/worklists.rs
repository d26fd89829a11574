//! A library's staff work lists (issue 10, item 5): copies to send home, copies in transit to
//! or from it, its hold shelf, its overdue loans. Each is a pure function of the state; the two
//! that depend on "now" (the hold shelf's day, overdue) take it from the server's clock.
//!
//! Each list scans the items (or the open holds) once: a query costs O(items), as the pick list
//! does, and answers a page of at most [`crate::query::MAX_PAGE`] rows.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use readnet_projection::Projection;
use readnet_projection::pb::{self, TransitDirection};

use crate::error::AvailabilityError;
use crate::state::{Availability, HoldPhase, ItemId, ItemRecord, ItemState, Place, Spot};

const DAY_US: i64 = 86_400_000_000;

/// A copy as a work list shows it.
fn copy(item: &str, r: &ItemRecord) -> pb::WorkListCopy {
    pb::WorkListCopy {
        item: item.to_owned(),
        title_key: r.title_key.clone(),
        isbn: r.isbn.clone(),
        title: r.title.clone(),
        author: r.author.clone(),
        owner_library: r.owner_library.as_str().to_owned(),
    }
}

impl Availability {
    /// A copy as a work list shows it, from the fold's record.
    fn copy_of(&self, item: &str, r: &ItemState) -> pb::WorkListCopy {
        let (isbn, title, author) = self.spelling(r);
        pb::WorkListCopy {
            item: item.to_owned(),
            title_key: self.item_title_key(r).to_owned(),
            isbn: isbn.to_owned(),
            title: title.to_owned(),
            author: author.to_owned(),
            owner_library: self.library_code(r.owner).to_owned(),
        }
    }

    /// The catalogued items whose place `keep` accepts, with their codes (a scan of the
    /// items, by id: no string is compared or copied until a page is cut).
    fn items_where(&self, mut keep: impl FnMut(Spot) -> bool) -> Vec<(&str, (ItemId, ItemState))> {
        self.item_states()
            .filter(|(_, r)| keep(r.spot))
            .map(|(id, r)| (self.item_code(id), (id, r)))
            .collect()
    }
}

/// The rows of `rows` after `after` (by item id; empty: from the first), at most `max`, and the
/// id to continue after when more follow.
fn page_by_item<'a, T>(
    mut rows: Vec<(&'a str, T)>,
    after: &str,
    max: usize,
) -> (Vec<(&'a str, T)>, String) {
    rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let start = if after.is_empty() {
        0
    } else {
        rows.partition_point(|(id, _)| *id <= after)
    };
    let mut page: Vec<(&'a str, T)> = rows.drain(start..).take(max + 1).collect();
    let mut next = String::new();
    if page.len() > max {
        page.truncate(max);
        next = page
            .last()
            .map(|(id, _)| (*id).to_owned())
            .unwrap_or_default();
    }
    (page, next)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where an overdue-loans page starts: after the loan due at `due_at_us` with this item id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OverdueToken {
    due_at_us: i64,
    item: String,
}

impl OverdueToken {
    fn encode(&self) -> String {
        format!("{}/{}", self.due_at_us, self.item)
    }

    fn decode(token: &str) -> Result<Option<Self>, AvailabilityError> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad = || {
            AvailabilityError::invalid(format!(
                "page_token: {:?} is not a token this query handed out",
                token.chars().take(32).collect::<String>()
            ))
        };
        let (due, item) = token.split_once('/').ok_or_else(bad)?;
        let due_at_us = due.parse().map_err(|_| bad())?;
        if item.is_empty() {
            return Err(bad());
        }
        Ok(Some(Self {
            due_at_us,
            item: item.to_owned(),
        }))
    }
}

impl Availability {
    /// A library's homebound copies, by item id, after `after_item`, each with its next leg
    /// (its owner) and the city's distribution centre it may go through. NOT_FOUND for an
    /// unknown library.
    pub fn homebound_list(
        &self,
        library: &str,
        after_item: &str,
        max_items: usize,
    ) -> Result<pb::HomeboundListResponse, AvailabilityError> {
        self.known_library(library)?;
        let network = self.network();
        let centre = network
            .distribution_centre(network.city_of(library))
            .filter(|c| c.as_str() != library)
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        let at = self.library_id(library);
        let rows = self.items_where(|spot| {
            matches!(spot, Spot::OnShelf { library: l, homebound: true, .. } if Some(l) == at)
        });
        let total = count(rows.len());
        let (page, next_item) = page_by_item(rows, after_item, max_items);
        Ok(pb::HomeboundListResponse {
            library: library.to_owned(),
            total,
            entries: page
                .into_iter()
                .map(|(id, (_, r))| pb::HomeboundEntry {
                    copy: Some(self.copy_of(id, &r)),
                    next_library: self.library_code(r.owner).to_owned(),
                    // Not for a copy whose owner is the centre itself.
                    via_centre: if self.library_code(r.owner) == centre {
                        String::new()
                    } else {
                        centre.clone()
                    },
                })
                .collect(),
            next_item,
            applied_position: self.position().get(),
        })
    }

    /// The copies in transit towards a library, or from it, by item id, after `after_item`,
    /// each with the hold its leg serves. NOT_FOUND for an unknown library.
    pub fn transit_list(
        &self,
        library: &str,
        direction: TransitDirection,
        after_item: &str,
        max_items: usize,
    ) -> Result<pb::TransitListResponse, AvailabilityError> {
        self.known_library(library)?;
        let at = self.library_id(library);
        let rows = self.items_where(|spot| match spot {
            Spot::InTransit { from, to, .. } => match direction {
                TransitDirection::To => Some(to) == at,
                TransitDirection::From => Some(from) == at,
                TransitDirection::Unspecified => false,
            },
            _ => false,
        });
        let total = count(rows.len());
        let (page, next_item) = page_by_item(rows, after_item, max_items);
        let entries = page
            .into_iter()
            .filter_map(|(code, (id, r))| {
                let Spot::InTransit { from, to, reason } = r.spot else {
                    return None;
                };
                let hold = self.item_hold(id);
                let pickup = hold
                    .and_then(|h| self.hold(h))
                    .map(|h| h.pickup_library.as_str().to_owned())
                    .unwrap_or_default();
                Some(pb::TransitEntry {
                    copy: Some(self.copy_of(code, &r)),
                    from_library: self.library_code(from).to_owned(),
                    to_library: self.library_code(to).to_owned(),
                    reason,
                    hold: hold.unwrap_or_default(),
                    pickup_library: pickup,
                })
            })
            .collect();
        Ok(pb::TransitListResponse {
            library: library.to_owned(),
            direction: direction as i32,
            total,
            entries,
            next_item,
            applied_position: self.position().get(),
        })
    }

    /// A library's hold shelf as of `now`: the copies ready there, and the holds that ended on
    /// it during the library's local day of `now`, each with where its copy goes now. NOT_FOUND
    /// for an unknown library.
    pub fn hold_shelf(
        &self,
        library: &str,
        now: DateTime<Utc>,
    ) -> Result<pb::HoldShelfResponse, AvailabilityError> {
        self.known_library(library)?;
        let now_us = now.timestamp_micros();
        let ready = self
            .holds()
            .filter(|(_, h)| h.pickup_library.as_str() == library)
            .filter_map(|(hold, h)| {
                let HoldPhase::Ready { item, pickup_by_us } = &h.phase else {
                    return None;
                };
                let record = self.item(item.as_str())?;
                Some(pb::HoldShelfReady {
                    hold,
                    copy: Some(copy(item.as_str(), &record)),
                    pickup_by_us: *pickup_by_us,
                    past_pickup_by: *pickup_by_us <= now_us,
                })
            })
            .collect();
        let network = self.network();
        let today = network.local_day(library, now);
        let cleared_today = self
            .shelf_cleared(library)
            .filter(|(_, c)| {
                DateTime::from_timestamp_micros(c.ended_at_us)
                    .is_some_and(|at| network.local_day(library, at) == today)
            })
            .filter_map(|(hold, c)| {
                let record = self.item(c.item.as_str())?;
                let next = record.hold.and_then(|n| Some((n, self.hold(n)?)));
                Some(pb::HoldShelfCleared {
                    hold,
                    copy: Some(copy(c.item.as_str(), &record)),
                    reason: c.reason,
                    ended_at_us: c.ended_at_us,
                    next_hold: next.as_ref().map_or(0, |(n, _)| *n),
                    next_pickup_library: next
                        .map(|(_, h)| h.pickup_library.as_str().to_owned())
                        .unwrap_or_default(),
                    homebound: matches!(
                        record.place,
                        Place::OnShelf {
                            homebound: true,
                            ..
                        }
                    ),
                })
            })
            .collect();
        Ok(pb::HoldShelfResponse {
            library: library.to_owned(),
            ready,
            cleared_today,
            applied_position: self.position().get(),
        })
    }

    /// The loans from a library overdue at `now` (due strictly before it), the longest overdue
    /// first (due date, then item id), after `page_token`. NOT_FOUND for an unknown library,
    /// INVALID_ARGUMENT for a token this query did not hand out.
    pub fn overdue_loans(
        &self,
        library: &str,
        now: DateTime<Utc>,
        page_token: &str,
        max_items: usize,
    ) -> Result<pb::OverdueLoansResponse, AvailabilityError> {
        self.known_library(library)?;
        let after = OverdueToken::decode(page_token)?;
        let now_us = now.timestamp_micros();
        let at = self.library_id(library);
        let mut rows: Vec<(i64, &str, ItemState, u32)> = self
            .item_states()
            .filter_map(|(id, r)| match r.spot {
                Spot::OnLoan {
                    library: lent_at,
                    due_at_us,
                    renewals,
                } if Some(lent_at) == at && due_at_us < now_us => {
                    Some((due_at_us, id, r, renewals))
                }
                _ => None,
            })
            .map(|(due, id, r, renewals)| (due, self.item_code(id), r, renewals))
            .collect();
        let total = count(rows.len());
        rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let start = after.map_or(0, |t| {
            rows.partition_point(|(due, id, _, _)| {
                (*due, *id).cmp(&(t.due_at_us, t.item.as_str())) != Ordering::Greater
            })
        });
        let mut page: Vec<_> = rows.drain(start..).take(max_items + 1).collect();
        let mut next_page_token = String::new();
        if page.len() > max_items {
            page.truncate(max_items);
            if let Some((due, id, _, _)) = page.last() {
                next_page_token = OverdueToken {
                    due_at_us: *due,
                    item: (*id).to_owned(),
                }
                .encode();
            }
        }
        Ok(pb::OverdueLoansResponse {
            library: library.to_owned(),
            total,
            loans: page
                .into_iter()
                .map(|(due, id, r, renewals)| pb::OverdueLoan {
                    copy: Some(self.copy_of(id, &r)),
                    due_at_us: due,
                    days_overdue: u32::try_from((now_us - due) / DAY_US).unwrap_or(u32::MAX),
                    renewal_count: renewals,
                })
                .collect(),
            next_page_token,
            applied_position: self.position().get(),
        })
    }

    /// NOT_FOUND for a library that is not registered.
    fn known_library(&self, library: &str) -> Result<(), AvailabilityError> {
        if self.network().libraries.contains_key(library) {
            Ok(())
        } else {
            Err(AvailabilityError::not_found(format!(
                "library: library {library} is not registered"
            )))
        }
    }
}
