//! Holds (ADR 0013): placing, targeting a copy, trapping at return, the hold shelf, cancelling
//! and expiring. The circulation and transfer rules call [`Decider::trap`] and
//! [`Decider::release`] where a copy comes free.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{Decider, item_event, network_event, patron_event, to_us};
use crate::command::HoldTarget;
use crate::ids::{ItemCode, LibraryCode};
use crate::pb::{self, Channel, HoldEndReason, ReturnPolicy};
use crate::policy::{
    HOLD_EXPIRY_DAYS, HOLD_PICKUP_DAYS, MAX_EXPIRIES_PER_SWEEP, MAX_OPEN_HOLDS,
    end_of_local_day_after,
};
use crate::state::{Hold, HoldState, Item, ItemStatus, Library};
use crate::title::title_key;
use crate::{NewEvent, PatronRef, Payload, Rejection, StreamId};

impl Decider<'_> {
    pub(super) fn set_library_roles(
        &self,
        code: &LibraryCode,
        delivery_point: bool,
        distribution_centre: bool,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.library(code, "library")?;
        if library.is_booth() && (delivery_point || distribution_centre) {
            return Err(Rejection::NotAPickupPoint {
                library: code.to_owned(),
            });
        }
        Ok(vec![network_event(Payload::LibraryRolesSet(
            pb::LibraryRolesSet {
                library: code.clone().into(),
                delivery_point,
                distribution_centre,
            },
        ))])
    }

    pub(super) fn place_hold(
        &self,
        patron_ref: &PatronRef,
        target: &HoldTarget,
        pickup_code: &LibraryCode,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let pickup = self.library(pickup_code, "pickup_library")?;
        if !pickup.is_pickup_point() {
            return Err(Rejection::NotAPickupPoint {
                library: pickup_code.to_owned(),
            });
        }
        let (key, wanted_item, isbn, title, author) = match target {
            HoldTarget::Title {
                isbn,
                title,
                author,
            } => {
                if isbn.trim().is_empty() && title.trim().is_empty() {
                    return Err(Rejection::HoldTargetRequired);
                }
                let key = title_key(isbn, title, author);
                let known = self
                    .ledger
                    .copies(&key)
                    .any(|i| !matches!(i.status, ItemStatus::Withdrawn | ItemStatus::ExchangedOut));
                if !known {
                    return Err(Rejection::TitleNotCatalogued { title_key: key });
                }
                (key, None, isbn.clone(), title.clone(), author.clone())
            }
            HoldTarget::Item(code) => {
                let item = self.item(code)?;
                if matches!(
                    item.status,
                    ItemStatus::Withdrawn | ItemStatus::ExchangedOut | ItemStatus::Lost { .. }
                ) {
                    return Err(Rejection::ItemNotHoldable {
                        item: code.to_owned(),
                        whereabouts: self.whereabouts(item),
                    });
                }
                (
                    item.title_key.clone(),
                    Some(code.clone()),
                    item.isbn.clone(),
                    item.title.clone(),
                    item.author.clone(),
                )
            }
        };
        let (patron, enrol) = self.patron_or_enrol(patron_ref)?;
        let card = &patron_ref.masked_card;
        if let Some(patron) = patron {
            if patron.holds.len() >= MAX_OPEN_HOLDS {
                return Err(Rejection::HoldLimitReached {
                    card: card.clone(),
                    open: patron.holds.len(),
                    limit: MAX_OPEN_HOLDS,
                });
            }
            // A blocked patron, or one at their loan limit, may still queue: the rules of
            // checkout apply when the copy is picked up.
            let has = patron.loans.iter().find(|code| {
                self.ledger
                    .items
                    .get(*code)
                    .is_some_and(|i| match &wanted_item {
                        Some(wanted) => wanted == &i.item,
                        None => i.title_key == key,
                    })
            });
            if let Some(item) = has {
                return Err(Rejection::AlreadyHasItem {
                    card: card.clone(),
                    item: item.clone(),
                });
            }
            let same = patron.holds.iter().find(|n| {
                self.ledger
                    .holds
                    .get(*n)
                    .is_some_and(|h| h.item == wanted_item && h.title_key == key)
            });
            if let Some(hold) = same {
                return Err(Rejection::HoldAlreadyPlaced {
                    card: card.clone(),
                    hold: *hold,
                });
            }
        }
        let number = self.ledger.last_hold + 1;
        let tz = self.network().library_time_zone(pickup.code.as_str());
        let home_city = patron.map_or_else(|| patron_ref.city.clone(), |p| p.home_city.clone());
        let hold = Hold {
            number,
            patron_id: patron_ref.patron_id.clone(),
            title_key: key.clone(),
            item: wanted_item.clone(),
            pickup_library: pickup.code.clone(),
            expires_at: end_of_local_day_after(self.ctx.occurred_at, tz, HOLD_EXPIRY_DAYS),
            state: HoldState::Queued,
        };
        let mut events: Vec<NewEvent> = enrol.into_iter().collect();
        events.push(patron_event(
            &patron_ref.patron_id,
            Payload::HoldPlaced(pb::HoldPlaced {
                hold: number,
                patron_id: patron_ref.patron_id.clone().into(),
                patron_home_city: home_city.into(),
                title_key: key,
                isbn,
                title,
                author,
                item: wanted_item.map(Into::into).unwrap_or_default(),
                pickup_library: pickup.code.clone().into(),
                expires_at_us: to_us(hold.expires_at),
            }),
        ));
        if let Some((item, at)) = self.nearest_copy(&hold, &BTreeSet::new()) {
            events.extend(self.assign(&hold, item, at, false));
        }
        Ok(events)
    }

    pub(super) fn cancel_hold(
        &self,
        number: u64,
        patron_ref: Option<&PatronRef>,
        note: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let hold = self
            .ledger
            .holds
            .get(&number)
            .ok_or(Rejection::HoldNotFound { hold: number })?;
        let reason = match patron_ref {
            Some(p) if p.patron_id == hold.patron_id => HoldEndReason::CancelledByPatron,
            Some(_) => return Err(Rejection::NotTheHolder { hold: number }),
            None if self.ctx.channel == Channel::Desk => HoldEndReason::CancelledByStaff,
            None => {
                return Err(Rejection::HolderCardRequired {
                    hold: number,
                    channel: self.ctx.channel,
                });
            }
        };
        let mut events = self.release_for_end(hold, &BTreeSet::new(), &mut BTreeSet::new());
        events.push(self.ended(hold, reason, note));
        Ok(events)
    }

    /// Ends the holds due at `occurred_at`, in queue order, at most
    /// [`MAX_EXPIRIES_PER_SWEEP`]. A hold whose events would touch a stream that an earlier
    /// hold of this sweep already wrote waits for the next sweep, so that each stream's events
    /// in one command stay together and in order.
    pub(super) fn expire_holds(&self) -> Result<Vec<NewEvent>, Rejection> {
        let now = self.ctx.occurred_at;
        let due: Vec<(&Hold, HoldEndReason)> = self
            .ledger
            .holds
            .values()
            .filter_map(|h| match &h.state {
                HoldState::Queued if h.expires_at <= now => {
                    Some((h, HoldEndReason::ExpiredUnfilled))
                }
                HoldState::Ready { pickup_by, .. } if *pickup_by <= now => {
                    Some((h, HoldEndReason::NotPickedUp))
                }
                _ => None,
            })
            .take(MAX_EXPIRIES_PER_SWEEP)
            .collect();
        let ending: BTreeSet<u64> = due.iter().map(|(h, _)| h.number).collect();
        let mut taken = BTreeSet::new();
        let mut touched: BTreeSet<StreamId> = BTreeSet::new();
        let mut events = Vec::new();
        for (hold, reason) in due {
            let mut taken_here = taken.clone();
            let mut group = self.release_for_end(hold, &ending, &mut taken_here);
            group.push(self.ended(hold, reason, ""));
            if group.iter().any(|e| touched.contains(&e.stream)) {
                continue;
            }
            touched.extend(group.iter().map(|e| e.stream.clone()));
            taken = taken_here;
            events.extend(group);
        }
        if events.is_empty() {
            return Err(Rejection::NoHoldDue { at: now });
        }
        Ok(events)
    }

    fn ended(&self, hold: &Hold, reason: HoldEndReason, note: &str) -> NewEvent {
        patron_event(
            &hold.patron_id,
            Payload::HoldEnded(pb::HoldEnded {
                hold: hold.number,
                patron_id: hold.patron_id.clone().into(),
                reason: reason as i32,
                note: note.to_owned(),
            }),
        )
    }

    /// The events that free a hold's copy before the hold ends (none while it waits).
    fn release_for_end(
        &self,
        hold: &Hold,
        skip: &BTreeSet<u64>,
        taken: &mut BTreeSet<u64>,
    ) -> Vec<NewEvent> {
        match &hold.state {
            HoldState::Queued => Vec::new(),
            HoldState::Assigned { item } | HoldState::Ready { item, .. } => {
                match self.ledger.items.get(item) {
                    Some(item) => {
                        let mut skip = skip.clone();
                        skip.insert(hold.number);
                        self.release(item, hold, false, &skip, taken)
                    }
                    None => Vec::new(),
                }
            }
        }
    }

    /// Frees `item` from `hold`: the copy goes to the next hold that wants it if it is on a
    /// shelf (FCFS, holds in `skip` and `taken` passed over), else home when it is away from
    /// its owner. A copy in transit travels on; its receipt decides (see `receive`).
    pub(super) fn release(
        &self,
        item: &Item,
        hold: &Hold,
        requeued: bool,
        skip: &BTreeSet<u64>,
        taken: &mut BTreeSet<u64>,
    ) -> Vec<NewEvent> {
        let at = match &item.status {
            ItemStatus::OnShelf { library, .. } if !requeued => Some(library),
            _ => None,
        };
        let next = at.and_then(|_| self.next_hold(item, skip, taken));
        let homebound = match (at, next) {
            (Some(at), None) => self.homebound_at(item, at),
            _ => false,
        };
        let mut events = vec![item_event(
            &item.item,
            Payload::HoldReleased(pb::HoldReleased {
                hold: hold.number,
                item: item.item.clone().into(),
                patron_id: hold.patron_id.clone().into(),
                requeued,
                homebound,
            }),
        )];
        if let (Some(at), Some(next)) = (at, next) {
            taken.insert(next.number);
            events.extend(self.assign(next, item, at, false));
        }
        events
    }

    /// Sets `item` aside at `at` for `hold` as it comes free there (a return, a receipt): the
    /// first hold in queue order that wants it, if any.
    pub(super) fn trap(&self, item: &Item, at: &LibraryCode) -> Option<Vec<NewEvent>> {
        let next = self.next_hold(item, &BTreeSet::new(), &BTreeSet::new())?;
        Some(self.assign(next, item, at, true))
    }

    /// The first waiting hold, in queue order, that `item` can fill.
    fn next_hold(&self, item: &Item, skip: &BTreeSet<u64>, taken: &BTreeSet<u64>) -> Option<&Hold> {
        self.ledger.holds.values().find(|h| {
            h.state == HoldState::Queued
                && h.wants(item)
                && !skip.contains(&h.number)
                && !taken.contains(&h.number)
        })
    }

    /// The copy on a shelf nearest to the hold's pickup library: same library, then same city,
    /// then other cities; among equals a copy at its owner first (taking it leaves nothing
    /// homebound behind), then the lowest item code. Only lendable copies count (not homebound,
    /// not set aside for another hold) at open libraries that are not booths.
    pub(super) fn nearest_copy(
        &self,
        hold: &Hold,
        excluded: &BTreeSet<ItemCode>,
    ) -> Option<(&Item, &LibraryCode)> {
        let pickup_city = self.network().library_city(hold.pickup_library.as_str());
        self.ledger
            .copies(&hold.title_key)
            .filter(|i| i.hold.is_none() && hold.wants(i) && !excluded.contains(&i.item))
            .filter_map(|i| match &i.status {
                ItemStatus::OnShelf {
                    library,
                    homebound: false,
                } => {
                    let at = self.network().libraries.get(library)?;
                    (!at.closed && !at.is_booth()).then_some((i, library, at))
                }
                _ => None,
            })
            .min_by_key(|(i, library, at)| {
                let distance = if **library == hold.pickup_library {
                    0
                } else if Some(&at.city) == pickup_city {
                    1
                } else {
                    2
                };
                (distance, **library != i.owner_library, i.item.clone())
            })
            .map(|(i, library, _)| (i, library))
    }

    /// `HoldAssigned`, and `HoldReady` when the copy is at the pickup library already.
    pub(super) fn assign(
        &self,
        hold: &Hold,
        item: &Item,
        at: &LibraryCode,
        trapped: bool,
    ) -> Vec<NewEvent> {
        let mut events = vec![item_event(
            &item.item,
            Payload::HoldAssigned(pb::HoldAssigned {
                hold: hold.number,
                item: item.item.clone().into(),
                patron_id: hold.patron_id.clone().into(),
                library: at.clone().into(),
                pickup_library: hold.pickup_library.clone().into(),
                trapped,
            }),
        )];
        if at == &hold.pickup_library {
            events.push(self.ready(hold, &item.item));
        }
        events
    }

    /// `HoldReady`: on the hold shelf at the pickup library until the end of the
    /// [`HOLD_PICKUP_DAYS`]th day (local time).
    pub(super) fn ready(&self, hold: &Hold, item: &ItemCode) -> NewEvent {
        let tz = self
            .network()
            .library_time_zone(hold.pickup_library.as_str());
        let pickup_by: DateTime<Utc> =
            end_of_local_day_after(self.ctx.occurred_at, tz, HOLD_PICKUP_DAYS);
        item_event(
            item,
            Payload::HoldReady(pb::HoldReady {
                hold: hold.number,
                item: item.clone().into(),
                patron_id: hold.patron_id.clone().into(),
                pickup_library: hold.pickup_library.clone().into(),
                pickup_by_us: to_us(pickup_by),
            }),
        )
    }

    /// Whether a copy on the shelf at `at` must travel home: away from its owner, unless its
    /// owner floats its items in its city and `at` is in that city (the return rule).
    pub(super) fn homebound_at(&self, item: &Item, at: &LibraryCode) -> bool {
        if at == &item.owner_library {
            return false;
        }
        let owner = self.network().libraries.get(&item.owner_library);
        let here = self.network().library_city(at.as_str());
        !owner
            .is_some_and(|o| o.return_policy == ReturnPolicy::FloatInCity && Some(&o.city) == here)
    }

    /// The distribution centre a hold's copy at `from` may go through: the open centre of
    /// `from`'s city, unless the copy is there already. (Its other next leg is the pickup.)
    pub(super) fn hold_centre(&self, from: &Library) -> Option<&LibraryCode> {
        self.network()
            .distribution_centre(&from.city)
            .filter(|c| c.code != from.code)
            .map(|c| &c.code)
    }
}
