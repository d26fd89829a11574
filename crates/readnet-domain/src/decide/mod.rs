//! `decide`: the rules of domain.md, as a pure function of the state and a command.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::pb::{self, Acquisition, CreditTier};
use crate::policy::due_at;
use crate::state::{Item, ItemStatus, Library, Network, Patron};
use crate::{
    Command, CommandContext, Ledger, NewBook, NewEvent, PatronRef, Payload, Rejection, StreamId,
};

mod booth;
mod catalogue;
mod circulation;
mod lost;
mod network;
mod patron_driven;
mod transfer;

/// Decides what a command records, or why it is refused.
///
/// Pure: the state, the command and its context (which carries the time) in; events or a
/// rejection out. The caller appends the events with the stream versions of `ledger` as
/// expectations, then applies them.
pub fn decide(
    ledger: &Ledger,
    command: &Command,
    ctx: &CommandContext,
) -> Result<Vec<NewEvent>, Rejection> {
    let d = Decider { ledger, ctx };
    match command {
        Command::JoinCity {
            city,
            name,
            time_zone,
        } => d.join_city(city, name, time_zone),
        Command::RegisterLibrary {
            library,
            name,
            city,
            tier,
            parent,
        } => d.register_library(library, name, city, *tier, parent.as_deref()),
        Command::CloseLibrary { library, reason } => d.close_library(library, reason),
        Command::SetReturnPolicy { library, policy } => d.set_return_policy(library, *policy),
        Command::SetTariff {
            kind,
            amount_fen,
            effective_from,
        } => d.set_tariff(*kind, *amount_fen, *effective_from),
        Command::SetPatronTier { patron, tier } => d.set_patron_tier(patron, *tier),
        Command::CatalogueItem {
            book,
            owner_library,
            acquisition,
        } => d.catalogue(book, owner_library, *acquisition),
        Command::Checkout { item, patron } => d.checkout(item, patron),
        Command::Renew { item, patron } => d.renew(item, patron),
        Command::Return { item } => d.return_item(item),
        Command::DispatchTransfer {
            item,
            to_library,
            reason,
        } => d.dispatch(item, to_library, *reason),
        Command::ReceiveTransfer { item } => d.receive(item),
        Command::BoothSwap {
            take_item,
            patron,
            deposit,
        } => d.booth_swap(take_item, patron, deposit),
        Command::PatronDrivenAcquisition { patron, book } => d.patron_driven(patron, book),
        Command::DeclareLost { item } => d.declare_lost(item),
        Command::PayLostItem { item, amount_fen } => d.pay_lost(item, *amount_fen),
        Command::WaiveLostItemDebt { item, reason } => d.waive_lost(item, reason),
        Command::Withdraw { item, reason } => d.withdraw(item, reason),
    }
}

struct Decider<'a> {
    ledger: &'a Ledger,
    ctx: &'a CommandContext,
}

fn network_event(payload: Payload) -> NewEvent {
    NewEvent {
        stream: StreamId::Network,
        payload,
    }
}

fn item_event(item: &str, payload: Payload) -> NewEvent {
    NewEvent {
        stream: StreamId::Item(item.to_owned()),
        payload,
    }
}

fn patron_event(patron_id: &str, payload: Payload) -> NewEvent {
    NewEvent {
        stream: StreamId::Patron(patron_id.to_owned()),
        payload,
    }
}

fn to_us(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn local_date(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d").to_string()
}

impl<'a> Decider<'a> {
    fn network(&self) -> &'a Network {
        &self.ledger.network
    }

    fn library(&self, code: &str, field: &str) -> Result<&'a Library, Rejection> {
        self.network().libraries.get(code).ok_or_else(|| {
            Rejection::not_found(format!("{field}: library {code} is not registered"))
        })
    }

    fn open_library(&self, code: &str, field: &str) -> Result<&'a Library, Rejection> {
        let library = self.library(code, field)?;
        if library.closed {
            return Err(Rejection::precondition(format!("library {code} is closed")));
        }
        Ok(library)
    }

    /// The acting library (request metadata), which must be registered and open.
    fn acting_library(&self) -> Result<&'a Library, Rejection> {
        self.open_library(self.acting_code()?, "x-readnet-library")
    }

    /// The acting library, which may be closed: a closed library still sends away and takes in
    /// the items it holds, so that closing one strands no book.
    fn acting_library_even_closed(&self) -> Result<&'a Library, Rejection> {
        self.library(self.acting_code()?, "x-readnet-library")
    }

    fn acting_code(&self) -> Result<&'a str, Rejection> {
        self.ctx.acting_library.as_deref().ok_or_else(|| {
            Rejection::invalid(
                "x-readnet-library: this command needs the acting library in request metadata",
            )
        })
    }

    /// An acting library that lends and takes returns: open and not a booth.
    fn desk_library(&self, what: &str) -> Result<&'a Library, Rejection> {
        let library = self.acting_library()?;
        if library.is_booth() {
            return Err(Rejection::precondition(format!(
                "{} is a book-exchange booth: booths take no {what}, only swaps",
                library.code
            )));
        }
        Ok(library)
    }

    fn item(&self, code: &str) -> Result<&'a Item, Rejection> {
        self.ledger
            .items
            .get(code)
            .ok_or_else(|| Rejection::not_found(format!("item {code} is not catalogued")))
    }

    fn new_item_id(&self, book: &NewBook, field: &str) -> Result<(), Rejection> {
        if self.ledger.items.contains_key(&book.item) {
            return Err(Rejection::already_exists(format!(
                "{field}: item {} is already catalogued",
                book.item
            )));
        }
        if book.title.trim().is_empty() {
            return Err(Rejection::invalid(format!(
                "{field}.title: a title is required"
            )));
        }
        if book.price_fen.is_some_and(|p| p < 0) {
            return Err(Rejection::invalid(format!(
                "{field}.price_fen: must not be negative"
            )));
        }
        Ok(())
    }

    /// Where the item is, in words, for rejection messages.
    fn describe(&self, item: &Item) -> String {
        match &item.status {
            ItemStatus::OnShelf { library, homebound } => {
                if *homebound {
                    format!(
                        "it is on the shelf at {library}, homebound to {}",
                        item.owner_library
                    )
                } else {
                    format!("it is on the shelf at {library}")
                }
            }
            ItemStatus::OnLoan {
                library, due_at, ..
            } => format!(
                "it is on loan from {library} until {}",
                local_date(*due_at, self.network().library_time_zone(library))
            ),
            ItemStatus::InTransit { from, to, .. } => {
                format!("it is in transit from {from} to {to}")
            }
            ItemStatus::InBooth { booth } => format!("it is in booth {booth}"),
            ItemStatus::Lost { .. } => "it is declared lost".to_owned(),
            ItemStatus::Withdrawn => "it is withdrawn".to_owned(),
            ItemStatus::ExchangedOut => "it was taken from a booth and left the network".to_owned(),
        }
    }

    /// The card's city must be a member city.
    fn member_card(&self, patron: &PatronRef) -> Result<(), Rejection> {
        if !self.network().cities.contains_key(&patron.city) {
            return Err(Rejection::precondition(format!(
                "card {} was issued by {}, which is not a member city of the network",
                patron.masked_card, patron.city
            )));
        }
        Ok(())
    }

    /// The patron, or the enrolment event their first use of the card records.
    fn patron_or_enrol(
        &self,
        patron: &PatronRef,
    ) -> Result<(Option<&'a Patron>, Option<NewEvent>), Rejection> {
        self.member_card(patron)?;
        match self.ledger.patrons.get(&patron.patron_id) {
            Some(p) => Ok((Some(p), None)),
            None => Ok((
                None,
                Some(patron_event(
                    &patron.patron_id,
                    Payload::PatronEnrolled(pb::PatronEnrolled {
                        patron_id: patron.patron_id.clone(),
                        home_city: patron.city.clone(),
                        tier: CreditTier::Standard as i32,
                    }),
                )),
            )),
        }
    }

    fn loan_event(&self, item: &Item, patron: &PatronRef, library: &Library) -> NewEvent {
        let tz = self.network().library_time_zone(&library.code);
        item_event(
            &item.item,
            Payload::ItemLoaned(pb::ItemLoaned {
                item: item.item.clone(),
                patron_id: patron.patron_id.clone(),
                library: library.code.clone(),
                due_at_us: to_us(due_at(self.ctx.occurred_at, tz)),
                patron_home_city: self
                    .ledger
                    .patrons
                    .get(&patron.patron_id)
                    .map_or_else(|| patron.city.clone(), |p| p.home_city.clone()),
                owner_library: item.owner_library.clone(),
            }),
        )
    }
}

fn catalogued(book: &NewBook, placed_at: &Library, acquisition: Acquisition) -> pb::ItemCatalogued {
    pb::ItemCatalogued {
        item: book.item.clone(),
        isbn: book.isbn.clone(),
        title: book.title.clone(),
        author: book.author.clone(),
        owner_library: placed_at.code.clone(),
        price_fen: book.price_fen,
        acquisition: acquisition as i32,
        placed_at: placed_at.code.clone(),
        in_booth: placed_at.is_booth(),
    }
}

fn tier_word(tier: CreditTier) -> &'static str {
    match tier {
        CreditTier::Restricted => "restricted",
        CreditTier::Trusted => "trusted",
        CreditTier::Standard | CreditTier::Unspecified => "standard",
    }
}
