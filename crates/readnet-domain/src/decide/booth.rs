//! Book-exchange booths: a swap takes one book and catalogues the deposited one.

use super::{Decider, catalogued, item_event};
use crate::ids::ItemCode;
use crate::pb::{self, Acquisition};
use crate::state::ItemStatus;
use crate::{NewBook, NewEvent, PatronRef, Payload, Rejection};

impl Decider<'_> {
    pub(super) fn booth_swap(
        &self,
        take: &ItemCode,
        patron_ref: &PatronRef,
        deposit: &NewBook,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let booth = self.acting_library()?;
        if !booth.is_booth() {
            return Err(Rejection::NotABooth {
                library: booth.code.clone(),
            });
        }
        let item = self.item(take)?;
        if !matches!(&item.status, ItemStatus::InBooth { booth: b } if b == &booth.code) {
            return Err(Rejection::ItemNotInBooth {
                item: take.to_owned(),
                booth: booth.code.clone(),
                whereabouts: self.whereabouts(item),
            });
        }
        if &deposit.item == take {
            return Err(Rejection::DepositIsTakenItem {
                item: take.to_owned(),
            });
        }
        self.new_item_id(deposit, "deposit")?;
        let (_, enrol) = self.patron_or_enrol(patron_ref)?;
        let mut events: Vec<NewEvent> = enrol.into_iter().collect();
        events.push(item_event(
            take,
            Payload::BoothSwapped(pb::BoothSwapped {
                booth: booth.code.clone().into(),
                patron_id: patron_ref.patron_id.clone().into(),
                item_taken: take.clone().into(),
                item_deposited: deposit.item.clone().into(),
            }),
        ));
        events.push(item_event(
            &deposit.item,
            Payload::ItemCatalogued(catalogued(deposit, booth, Acquisition::BoothDeposit)),
        ));
        Ok(events)
    }
}
