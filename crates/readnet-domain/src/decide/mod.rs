//! `decide`: the rules of domain.md, as a pure function of the state and a command.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::ids::{ItemCode, LibraryCode, PatronId};
use crate::money::{Fen, MAX_PRICE_FEN};
use crate::pb::{self, Acquisition, CreditTier};
use crate::policy::due_at;
use crate::rejection::{DeskWork, Whereabouts};
use crate::state::{Item, ItemStatus, Library, Network, Patron};
use crate::{
    Command, CommandContext, Ledger, NewBook, NewEvent, PatronRef, Payload, Rejection, StreamId,
};

mod acquisitions;
mod booth;
mod calendar;
mod catalogue;
mod circulation;
mod digital;
mod footfall;
mod forget;
mod holds;
mod lost;
mod network;
mod notices;
mod patron_driven;
mod principals;
mod time;

pub use forget::retention_candidates;
pub use principals::valid_principal_name;
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
    crate::access::authorize(ledger, command, ctx)?;
    let d = Decider { ledger, ctx };
    d.check_not_before_existence(command)?;
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
        } => d.register_library(library, name, city, *tier, parent.as_ref()),
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
        Command::PatronDrivenAcquisition {
            patron,
            book,
            bookstore,
        } => d.patron_driven(patron, book, bookstore.as_deref()),
        Command::DeclareLost { item } => d.declare_lost(item),
        Command::PayLostItem { item, amount_fen } => d.pay_lost(item, *amount_fen),
        Command::WaiveLostItemDebt { item, reason } => d.waive_lost(item, reason),
        Command::Withdraw { item, reason } => d.withdraw(item, reason),
        Command::SetLibraryRoles {
            library,
            delivery_point,
            distribution_centre,
        } => d.set_library_roles(library, *delivery_point, *distribution_centre),
        Command::PlaceHold {
            patron,
            target,
            pickup_library,
        } => d.place_hold(patron, target, pickup_library),
        Command::CancelHold { hold, patron, note } => d.cancel_hold(*hold, patron.as_ref(), note),
        Command::ExpireHolds => d.expire_holds(),
        Command::MoveLibrary { library, parent } => d.move_library(library, parent.as_ref()),
        Command::RenameLibrary { library, name } => d.rename_library(library, name),
        Command::ChangeLibraryTier { library, tier } => d.change_library_tier(library, *tier),
        Command::SetCalendar {
            city,
            library,
            week,
            closed_dates,
        } => d.set_calendar(city.as_ref(), library.as_ref(), week, closed_dates),
        Command::CloseLibraryTemporarily {
            library,
            reason,
            from,
            until,
        } => d.close_temporarily(library, reason, *from, *until),
        Command::ReopenLibrary { library } => d.reopen(library),
        Command::TickClock => d.tick_clock(),
        Command::ReportFootfall {
            gate,
            from,
            to,
            visits,
        } => d.report_footfall(gate, *from, *to, *visits),
        Command::AcknowledgeNotices {
            gateway,
            through_sequence,
        } => d.acknowledge_notices(gateway, *through_sequence),
        Command::SetAcquisitionBudget {
            library,
            year,
            budget_fen,
            patron_driven_share_bp,
        } => d.set_acquisition_budget(library, *year, *budget_fen, *patron_driven_share_bp),
        Command::SetAcquisitionPolicy {
            library,
            max_item_price_fen,
            monthly_quota_per_reader,
        } => d.set_acquisition_policy(library, *max_item_price_fen, *monthly_quota_per_reader),
        Command::RegisterBookstore {
            library,
            bookstore,
            name,
        } => d.register_bookstore(library, bookstore, name),
        Command::LicenseEResource {
            resource,
            title,
            kind,
            owner_library,
            shared,
            licences,
            loan_days,
        } => d.license_eresource(
            resource,
            title,
            *kind,
            owner_library.as_ref(),
            *shared,
            *licences,
            *loan_days,
        ),
        Command::BorrowDigital { resource, patron } => d.borrow_digital(resource, patron),
        Command::ReturnDigital { resource, patron } => d.return_digital(resource, patron),
        Command::ExpireDigitalLoans => d.expire_digital_loans(),
        Command::AddPrincipal {
            principal,
            grant,
            token,
        } => d.add_principal(principal, grant, token),
        Command::ChangePrincipal { principal, grant } => d.change_principal(principal, grant),
        Command::RevokePrincipal { principal, reason } => d.revoke_principal(principal, reason),
        Command::IssueToken { principal, token } => d.issue_token(principal, token),
        Command::ForgetPatron { patron, reason } => d.forget_patron(patron, *reason),
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

fn item_event(item: &ItemCode, payload: Payload) -> NewEvent {
    NewEvent {
        stream: StreamId::Item(item.clone().into()),
        payload,
    }
}

fn patron_event(patron_id: &PatronId, payload: Payload) -> NewEvent {
    NewEvent {
        stream: StreamId::Patron(patron_id.clone().into()),
        payload,
    }
}

fn to_us(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The local date of `at` in `tz`: the day rejections name.
fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

impl<'a> Decider<'a> {
    fn network(&self) -> &'a Network {
        &self.ledger.network
    }

    /// A registered library, named by request field `field`.
    fn library(&self, code: &LibraryCode, field: &'static str) -> Result<&'a Library, Rejection> {
        self.network()
            .libraries
            .get(code)
            .ok_or_else(|| Rejection::LibraryNotRegistered {
                field,
                library: code.to_owned(),
            })
    }

    /// A registered library that is open.
    fn open_library(
        &self,
        code: &LibraryCode,
        field: &'static str,
    ) -> Result<&'a Library, Rejection> {
        let library = self.library(code, field)?;
        if library.closed {
            return Err(Rejection::LibraryClosed {
                library: code.to_owned(),
            });
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

    fn acting_code(&self) -> Result<&'a LibraryCode, Rejection> {
        self.ctx
            .acting_library
            .as_ref()
            .ok_or(Rejection::ActingLibraryMissing)
    }

    /// An acting library that lends and takes returns: open (not closed for good, not on a
    /// closed day or in a temporary closure) and not a booth.
    fn desk_library(&self, work: DeskWork) -> Result<&'a Library, Rejection> {
        let library = self.acting_library()?;
        if library.is_booth() {
            return Err(Rejection::BoothIsNotADesk {
                booth: library.code.clone(),
                work,
            });
        }
        self.check_open_now(library, work)?;
        Ok(library)
    }

    fn item(&self, code: &ItemCode) -> Result<&'a Item, Rejection> {
        self.ledger
            .items
            .get(code)
            .ok_or_else(|| Rejection::ItemNotCatalogued {
                item: code.to_owned(),
            })
    }

    /// A book about to be catalogued (request field `field`): a new id, a title, a price that
    /// is not negative and at most [`MAX_PRICE_FEN`].
    fn new_item_id(&self, book: &NewBook, field: &'static str) -> Result<(), Rejection> {
        if self.ledger.items.contains_key(&book.item) {
            return Err(Rejection::ItemAlreadyCatalogued {
                field,
                item: book.item.clone(),
            });
        }
        if book.title.trim().is_empty() {
            return Err(Rejection::TitleRequired { field });
        }
        // A typo in an ISBN would make a title of its own; an empty ISBN keys by title.
        if !book.isbn.trim().is_empty()
            && let Err(why) = crate::calendar::check_isbn(book.isbn.trim())
        {
            return Err(Rejection::InvalidIsbn {
                field: match field {
                    "deposit" => "deposit.isbn",
                    "book" => "book.isbn",
                    _ => "isbn",
                },
                isbn: book.isbn.clone(),
                why,
            });
        }
        if let Some(price_fen) = book.price_fen.filter(|p| p.is_negative()) {
            return Err(Rejection::NegativePrice { field, price_fen });
        }
        if let Some(price_fen) = book.price_fen.filter(|p| *p > MAX_PRICE_FEN) {
            return Err(Rejection::PriceTooHigh {
                field,
                price_fen,
                max_fen: MAX_PRICE_FEN,
            });
        }
        Ok(())
    }

    /// Where the item is, for rejections.
    fn whereabouts(&self, item: &Item) -> Whereabouts {
        match &item.status {
            ItemStatus::OnShelf { library, homebound } => Whereabouts::OnShelf {
                library: library.clone(),
                homebound_to: homebound.then(|| item.owner_library.clone()),
            },
            ItemStatus::OnLoan {
                library, due_at, ..
            } => Whereabouts::OnLoan {
                library: library.clone(),
                due_date: local_date(*due_at, self.network().library_time_zone(library.as_str())),
            },
            ItemStatus::InTransit { from, to, .. } => Whereabouts::InTransit {
                from: from.clone(),
                to: to.clone(),
            },
            ItemStatus::InBooth { booth } => Whereabouts::InBooth {
                booth: booth.clone(),
            },
            ItemStatus::Lost { .. } => Whereabouts::Lost,
            ItemStatus::Withdrawn => Whereabouts::Withdrawn,
            ItemStatus::ExchangedOut => Whereabouts::ExchangedOut,
        }
    }

    /// The card's city must be a member city.
    fn member_card(&self, patron: &PatronRef) -> Result<(), Rejection> {
        if !self.network().cities.contains_key(&patron.city) {
            return Err(Rejection::CardCityNotMember {
                card: patron.masked_card.clone(),
                city: patron.city.clone(),
            });
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
                        patron_id: patron.patron_id.clone().into(),
                        home_city: patron.city.clone().into(),
                        tier: CreditTier::Standard as i32,
                    }),
                )),
            )),
        }
    }

    /// The due date of a loan or renewal made now at `library`: 30 days on, moved to the end
    /// of the library's next open day if it falls on a closed one.
    fn due_at(&self, library: &LibraryCode) -> DateTime<Utc> {
        let tz = self.network().library_time_zone(library.as_str());
        let due = due_at(self.ctx.occurred_at, tz);
        self.network()
            .calendar(library.as_str())
            .map_or(due, |calendar| calendar.due_on_open_day(due))
    }

    fn loan_event(&self, item: &Item, patron: &PatronRef, library: &Library) -> NewEvent {
        item_event(
            &item.item,
            Payload::ItemLoaned(pb::ItemLoaned {
                item: item.item.clone().into(),
                patron_id: patron.patron_id.clone().into(),
                library: library.code.clone().into(),
                due_at_us: to_us(self.due_at(&library.code)),
                patron_home_city: self
                    .ledger
                    .patrons
                    .get(&patron.patron_id)
                    .map_or_else(|| patron.city.clone(), |p| p.home_city.clone())
                    .into(),
                owner_library: item.owner_library.clone().into(),
            }),
        )
    }
}

fn catalogued(book: &NewBook, placed_at: &Library, acquisition: Acquisition) -> pb::ItemCatalogued {
    pb::ItemCatalogued {
        item: book.item.clone().into(),
        isbn: book.isbn.clone(),
        title: book.title.clone(),
        author: book.author.clone(),
        owner_library: placed_at.code.clone().into(),
        price_fen: book.price_fen.map(Fen::get),
        acquisition: acquisition as i32,
        placed_at: placed_at.code.clone().into(),
        in_booth: placed_at.is_booth(),
    }
}
