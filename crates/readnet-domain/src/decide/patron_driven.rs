//! Patron-driven acquisition: a bookstore purchase catalogued, charged to the library's budget
//! and lent at once.

use super::{Decider, catalogued, item_event};
use crate::money::Fen;
use crate::pb::{self, Acquisition};
use crate::rejection::DeskWork;
use crate::state::Item;
use crate::{NewBook, NewEvent, PatronRef, Payload, Rejection};

impl Decider<'_> {
    pub(super) fn patron_driven(
        &self,
        patron_ref: &PatronRef,
        book: &NewBook,
        bookstore: Option<&str>,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.desk_library(DeskWork::PatronDrivenAcquisitions)?;
        let price_fen = match book.price_fen {
            Some(price) if price.is_positive() => price,
            _ => {
                return Err(Rejection::PurchasePriceRequired {
                    price_fen: book.price_fen,
                });
            }
        };
        self.new_item_id(book, "book")?;
        let (patron, enrol) = self.patron_or_enrol(patron_ref)?;
        if let Some(patron) = patron {
            self.check_not_blocked(patron, &patron_ref.masked_card)?;
            self.check_below_limit(patron, &patron_ref.masked_card)?;
        }
        let period = self.check_purchase(library, bookstore, patron_ref, price_fen)?;
        let catalogued = catalogued(book, library, Acquisition::PatronDriven);
        let item = Item::catalogued(&catalogued);
        let mut events: Vec<NewEvent> = enrol.into_iter().collect();
        events.push(item_event(&book.item, Payload::ItemCatalogued(catalogued)));
        events.push(item_event(
            &book.item,
            Payload::PatronDrivenPurchaseRecorded(pb::PatronDrivenPurchaseRecorded {
                item: book.item.clone().into(),
                library: library.code.clone().into(),
                bookstore: bookstore.unwrap_or_default().to_owned(),
                patron_id: patron_ref.patron_id.clone().into(),
                price_fen: Fen::get(price_fen),
                budget_year: u32::try_from(period.year).unwrap_or_default(),
                month: period.month,
            }),
        ));
        events.push(self.loan_event(&item, patron_ref, library));
        Ok(events)
    }
}
