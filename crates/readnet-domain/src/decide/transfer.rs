//! Transfers between libraries: dispatch and receipt.

use super::{Decider, item_event};
use crate::ids::{ItemCode, LibraryCode};
use crate::pb::{self, TransferReason};
use crate::state::ItemStatus;
use crate::{NewEvent, Payload, Rejection};

impl Decider<'_> {
    pub(super) fn dispatch(
        &self,
        code: &ItemCode,
        to: &LibraryCode,
        reason: TransferReason,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if reason == TransferReason::Unspecified {
            return Err(Rejection::TransferReasonRequired);
        }
        let from = self.acting_library_even_closed()?;
        let item = self.item(code)?;
        let homebound = match &item.status {
            ItemStatus::OnShelf { library, homebound } if library == &from.code => *homebound,
            ItemStatus::InBooth { booth } if booth == &from.code => false,
            _ => {
                return Err(Rejection::ItemNotAtLibrary {
                    item: code.to_owned(),
                    library: from.code.clone(),
                    whereabouts: self.whereabouts(item),
                });
            }
        };
        // Anything may go home, even to an owner that has closed (a closed library still
        // takes in its own stock); other transfers go to open libraries only.
        let destination = if reason == TransferReason::Repatriation {
            self.library(to, "to_library")?
        } else {
            self.open_library(to, "to_library")?
        };
        if destination.code == from.code {
            return Err(Rejection::TransferToItself {
                library: to.to_owned(),
            });
        }
        // A homebound copy may go home through its city's distribution centre (ADR 0013): the
        // centre's van takes it on from there.
        let via_centre = homebound && Some(&destination.code) == self.hold_centre(from);
        if reason == TransferReason::Repatriation
            && destination.code != item.owner_library
            && !via_centre
        {
            return Err(Rejection::RepatriationNotToOwner {
                owner: item.owner_library.clone(),
                to: to.to_owned(),
            });
        }
        if homebound && reason != TransferReason::Repatriation {
            return Err(Rejection::HomeboundOnlyRepatriation {
                item: code.to_owned(),
                owner: item.owner_library.clone(),
            });
        }
        let hold = match (item.hold.and_then(|n| self.ledger.holds.get(&n)), reason) {
            (None, TransferReason::Hold) => {
                return Err(Rejection::HoldTransferWithoutHold {
                    item: code.to_owned(),
                });
            }
            (None, _) => 0,
            (Some(hold), TransferReason::Hold) => {
                let centre = self.hold_centre(from);
                if destination.code != hold.pickup_library && Some(&destination.code) != centre {
                    return Err(Rejection::HoldLegNotOnRoute {
                        item: code.to_owned(),
                        hold: hold.number,
                        to: to.to_owned(),
                        pickup: hold.pickup_library.clone(),
                        centre: centre.cloned(),
                    });
                }
                hold.number
            }
            (Some(hold), _) => {
                return Err(Rejection::HeldItemOnlyHoldTransfer {
                    item: code.to_owned(),
                    hold: hold.number,
                });
            }
        };
        Ok(vec![item_event(
            code,
            Payload::TransferDispatched(pb::TransferDispatched {
                item: code.clone().into(),
                from_library: from.code.clone().into(),
                to_library: destination.code.clone().into(),
                reason: reason as i32,
                owner_library: item.owner_library.clone().into(),
                hold,
            }),
        )])
    }

    pub(super) fn receive(&self, code: &ItemCode) -> Result<Vec<NewEvent>, Rejection> {
        let at = self.acting_library_even_closed()?;
        let item = self.item(code)?;
        let ItemStatus::InTransit { from, to, reason } = &item.status else {
            return Err(Rejection::ItemNotInTransit {
                item: code.to_owned(),
                whereabouts: self.whereabouts(item),
            });
        };
        if to != &at.code {
            return Err(Rejection::InTransitElsewhere {
                item: code.to_owned(),
                to: to.clone(),
                library: at.code.clone(),
            });
        }
        // A copy travelling for a hold is ready when it reaches the pickup library, and waits
        // for its next leg elsewhere (a distribution centre). A copy with no hold may be
        // trapped for one here; one whose hold ended on the way goes home if it is away.
        let mut after = Vec::new();
        let mut homebound = false;
        match item.hold.and_then(|n| self.ledger.holds.get(&n)) {
            Some(hold) if hold.pickup_library == at.code => after.push(self.ready(hold, code)),
            Some(_) => {}
            None if at.is_booth() => {}
            None => match self.trap(item, &at.code) {
                Some(events) => after = events,
                None => {
                    // A hold leg whose hold ended on the way, or a copy going home through a
                    // distribution centre: still away from home.
                    homebound =
                        matches!(reason, TransferReason::Hold | TransferReason::Repatriation)
                            && self.homebound_at(item, &at.code);
                }
            },
        }
        let mut events = vec![item_event(
            code,
            Payload::TransferReceived(pb::TransferReceived {
                item: code.clone().into(),
                from_library: from.clone().into(),
                to_library: to.clone().into(),
                in_booth: at.is_booth(),
                homebound,
            }),
        )];
        events.extend(after);
        Ok(events)
    }
}
