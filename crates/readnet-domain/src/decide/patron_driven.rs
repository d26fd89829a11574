//! Patron-driven acquisition: a bookstore purchase catalogued and lent at once.

use super::{Decider, catalogued, item_event};
use crate::pb::Acquisition;
use crate::rejection::DeskWork;
use crate::state::Item;
use crate::{NewBook, NewEvent, PatronRef, Payload, Rejection};

impl Decider<'_> {
    pub(super) fn patron_driven(
        &self,
        patron_ref: &PatronRef,
        book: &NewBook,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.desk_library(DeskWork::PatronDrivenAcquisitions)?;
        if book.price_fen.is_none_or(|p| !p.is_positive()) {
            return Err(Rejection::PurchasePriceRequired {
                price_fen: book.price_fen,
            });
        }
        self.new_item_id(book, "book")?;
        let (patron, enrol) = self.patron_or_enrol(patron_ref)?;
        if let Some(patron) = patron {
            self.check_not_blocked(patron, &patron_ref.masked_card)?;
            self.check_below_limit(patron, &patron_ref.masked_card)?;
        }
        let catalogued = catalogued(book, library, Acquisition::PatronDriven);
        let item = Item::catalogued(&catalogued);
        let mut events: Vec<NewEvent> = enrol.into_iter().collect();
        events.push(item_event(&book.item, Payload::ItemCatalogued(catalogued)));
        events.push(self.loan_event(&item, patron_ref, library));
        Ok(events)
    }
}
