//! Cataloguing: books entering the network by purchase or donation.

use super::{Decider, catalogued, item_event};
use crate::ids::LibraryCode;
use crate::pb::Acquisition;
use crate::{NewBook, NewEvent, Payload, Rejection};

impl Decider<'_> {
    pub(super) fn catalogue(
        &self,
        book: &NewBook,
        owner: &LibraryCode,
        acquisition: Acquisition,
    ) -> Result<Vec<NewEvent>, Rejection> {
        match acquisition {
            Acquisition::Purchase | Acquisition::Donation => {}
            Acquisition::Unspecified => {
                return Err(Rejection::AcquisitionRequired);
            }
            Acquisition::PatronDriven | Acquisition::BoothDeposit => {
                return Err(Rejection::AcquisitionHasItsOwnCommand { acquisition });
            }
        }
        self.new_item_id(book, "item")?;
        let owner = self.open_library(owner, "owner_library")?;
        Ok(vec![item_event(
            &book.item,
            Payload::ItemCatalogued(catalogued(book, owner, acquisition)),
        )])
    }
}
