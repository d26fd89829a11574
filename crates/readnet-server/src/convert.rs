//! Stored events and domain state as API messages.

use readnet_domain::pb;
use readnet_domain::{Fen, Item, ItemStatus, PatronKey, Payload, PrincipalName, Role, StreamId};
use readnet_ledger::{Receipt, envelope};
use readnet_store::RecordedEvent;
use uuid::Uuid;

use crate::edge::to_timestamp_us;
use crate::error::ServerError;

fn uuid_text(id: Option<Uuid>) -> String {
    id.map(|u| u.to_string()).unwrap_or_default()
}

/// A stored event with its envelope, as the API shows it.
pub fn recorded_event(event: &RecordedEvent) -> Result<pb::RecordedEvent, ServerError> {
    let decoded = envelope::decode(event)?;
    Ok(pb::RecordedEvent {
        event_id: event.event_id.to_string(),
        event_type: event.event_type.clone(),
        stream: event.stream.clone(),
        revision: event.revision.get(),
        position: event.position.get(),
        occurred_at: Some(to_timestamp_us(decoded.occurred_at.timestamp_micros())),
        recorded_at: Some(to_timestamp_us(event.recorded_at_us)),
        acting_library: decoded.acting_library,
        channel: decoded.channel as i32,
        command_id: uuid_text(decoded.command_id),
        correlation_id: uuid_text(decoded.correlation_id),
        event: Some(pb::Event {
            payload: Some(decoded.payload),
        }),
        principal: decoded.principal,
    })
}

impl PatronView {
    /// What a reader of `role` named `reader` may see of patrons.
    pub fn for_reader(role: Role, reader: &PrincipalName, key: &PatronKey) -> Self {
        if role.reads_patrons() {
            PatronView::Full
        } else if role == Role::Analytics {
            PatronView::Pseudonym {
                key: key.clone(),
                reader: reader.clone(),
            }
        } else {
            PatronView::Hidden
        }
    }
}

/// How much of a patron a reader may see.
#[derive(Clone)]
pub enum PatronView {
    /// The patron id as recorded (auditor, network-admin).
    Full,
    /// A pseudonym per reader: a hash of the patron id keyed by the network secret and the
    /// reader's name, so two readers' datasets do not join on patrons and nobody without the
    /// secret can compute one from a card (analytics).
    Pseudonym {
        key: PatronKey,
        reader: PrincipalName,
    },
    /// No patron at all (every other role).
    Hidden,
}

impl PatronView {
    /// What `patron_id` reads as to this reader.
    pub fn patron(&self, patron_id: &str) -> String {
        if patron_id.is_empty() {
            return String::new();
        }
        match self {
            PatronView::Full => patron_id.to_owned(),
            PatronView::Pseudonym { key, reader } => {
                let mac = key.mac(&[
                    b"pseudonym",
                    reader.as_str().as_bytes(),
                    patron_id.as_bytes(),
                ]);
                format!("p-{}", hex::encode(&mac[..16]))
            }
            PatronView::Hidden => String::new(),
        }
    }

    /// An event as this reader may see it: every patron id (in the payload and in a patron
    /// stream's name) replaced by what [`PatronView::patron`] gives, and a refusal's message
    /// left out (it may name a masked card, which no pseudonym stands for).
    pub fn event(&self, mut event: pb::RecordedEvent) -> pb::RecordedEvent {
        if matches!(self, PatronView::Full) {
            return event;
        }
        if let Some(patron) = event.stream.strip_prefix(StreamId::PATRON_PREFIX) {
            event.stream = format!("{}{}", StreamId::PATRON_PREFIX, self.patron(patron));
        }
        use readnet_domain::Payload as P;
        let patron_id = match event.event.as_mut().and_then(|e| e.payload.as_mut()) {
            Some(P::CommandRefused(e)) => {
                e.message.clear();
                return event;
            }
            Some(P::PatronEnrolled(e)) => &mut e.patron_id,
            Some(P::PatronTierChanged(e)) => &mut e.patron_id,
            Some(P::ItemLoaned(e)) => &mut e.patron_id,
            Some(P::ItemRenewed(e)) => &mut e.patron_id,
            Some(P::ItemReturned(e)) => &mut e.patron_id,
            Some(P::BoothSwapped(e)) => &mut e.patron_id,
            Some(P::ItemDeclaredLost(e)) => &mut e.patron_id,
            Some(P::LostItemPaid(e)) => &mut e.patron_id,
            Some(P::LostItemDebtWaived(e)) => &mut e.patron_id,
            Some(P::HoldPlaced(e)) => &mut e.patron_id,
            Some(P::HoldAssigned(e)) => &mut e.patron_id,
            Some(P::HoldReady(e)) => &mut e.patron_id,
            Some(P::HoldFilled(e)) => &mut e.patron_id,
            Some(P::HoldReleased(e)) => &mut e.patron_id,
            Some(P::HoldEnded(e)) => &mut e.patron_id,
            Some(P::LoanExtended(e)) => &mut e.patron_id,
            // Named one by one, so that a new event with a patron id cannot pass unnoticed.
            Some(
                P::CityJoined(_)
                | P::LibraryRegistered(_)
                | P::LibraryClosed(_)
                | P::ReturnPolicySet(_)
                | P::LibraryRolesSet(_)
                | P::LibraryMoved(_)
                | P::LibraryRenamed(_)
                | P::LibraryTierChanged(_)
                | P::CalendarSet(_)
                | P::LibraryClosedTemporarily(_)
                | P::LibraryReopened(_)
                | P::TariffSet(_)
                | P::ItemCatalogued(_)
                | P::TransferDispatched(_)
                | P::TransferReceived(_)
                | P::ItemWithdrawn(_)
                | P::SettlementPeriodClosed(_)
                | P::PrincipalAdded(_)
                | P::PrincipalChanged(_)
                | P::PrincipalRevoked(_)
                | P::TokenIssued(_)
                | P::ClockTicked(_)
                | P::NoticesAcknowledged(_)
                | P::FootfallReported(_),
            )
            | None => return event,
        };
        *patron_id = self.patron(patron_id);
        event
    }
}

pub fn receipt(receipt: &Receipt) -> Result<pb::CommandReceipt, ServerError> {
    let events = receipt
        .events
        .iter()
        .map(recorded_event)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(pb::CommandReceipt {
        command_id: receipt.command_id.to_string(),
        duplicate: receipt.duplicate,
        position: events.last().map_or(0, |e| e.position),
        events,
    })
}

/// Folds an item's stream into its state. `None` if the stream does not start with a
/// cataloguing (an item that does not exist).
pub fn item_state(events: &[RecordedEvent]) -> Result<Option<pb::ItemState>, ServerError> {
    let mut item: Option<Item> = None;
    for event in events {
        let payload = envelope::decode(event)?.payload;
        match (&mut item, &payload) {
            (None, Payload::ItemCatalogued(e)) => item = Some(Item::catalogued(e)),
            (Some(i), p) => i.apply(p),
            (None, _) => {
                return Err(ServerError::Unreadable {
                    position: event.position.get(),
                    reason: format!("stream {} does not begin with ItemCatalogued", event.stream),
                });
            }
        }
    }
    let (Some(item), Some(last)) = (item, events.last()) else {
        return Ok(None);
    };
    let mut state = pb::ItemState {
        item: item.item.clone().into(),
        isbn: item.isbn.clone(),
        title: item.title.clone(),
        author: item.author.clone(),
        owner_library: item.owner_library.clone().into(),
        price_fen: item.price_fen.map(Fen::get),
        acquisition: item.acquisition as i32,
        revision: last.revision.get(),
        position: last.position.get(),
        // Saturating: each debt fits an i64, and no real sum of them comes near its end.
        debt_fen: item
            .lost_debts
            .iter()
            .try_fold(Fen::ZERO, |sum, d| sum.checked_add(d.outstanding_fen))
            .map_or(i64::MAX, Fen::get),
        ..Default::default()
    };
    use pb::ItemStatus as S;
    match &item.status {
        ItemStatus::OnShelf { library, homebound } => {
            state.status = S::OnShelf as i32;
            state.library = library.clone().into();
            state.homebound = *homebound;
        }
        ItemStatus::OnLoan {
            patron_id,
            library,
            due_at,
            renewals,
        } => {
            state.status = S::OnLoan as i32;
            state.library = library.clone().into();
            state.patron_id = patron_id.clone().into();
            state.due_at = Some(to_timestamp_us(due_at.timestamp_micros()));
            state.renewal_count = *renewals;
        }
        ItemStatus::InTransit { from, to, reason } => {
            state.status = S::InTransit as i32;
            state.library = to.clone().into();
            state.from_library = from.clone().into();
            state.transfer_reason = *reason as i32;
        }
        ItemStatus::InBooth { booth } => {
            state.status = S::InBooth as i32;
            state.library = booth.clone().into();
        }
        ItemStatus::Lost { patron_id } => {
            state.status = S::Lost as i32;
            state.patron_id = patron_id.clone().into();
        }
        ItemStatus::Withdrawn => state.status = S::Withdrawn as i32,
        ItemStatus::ExchangedOut => state.status = S::ExchangedOut as i32,
    }
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_events_show_no_patron_id_to_a_reader_who_may_not_see_patrons() {
        let placed = pb::RecordedEvent {
            stream: format!("{}abc123", StreamId::PATRON_PREFIX),
            event: Some(pb::Event {
                payload: Some(readnet_domain::Payload::HoldPlaced(pb::HoldPlaced {
                    hold: 1,
                    patron_id: "abc123".to_owned(),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        };
        let seen = PatronView::Hidden.event(placed.clone());
        assert_eq!(seen.stream, StreamId::PATRON_PREFIX);
        let Some(readnet_domain::Payload::HoldPlaced(e)) = seen.event.and_then(|e| e.payload)
        else {
            panic!("still a HoldPlaced")
        };
        assert!(e.patron_id.is_empty(), "{e:?}");
        assert_eq!(PatronView::Full.event(placed.clone()), placed);
    }
}
