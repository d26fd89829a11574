//! `decide`: the rules of domain.md, as a pure function of the state and a command.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::pb::{
    self, Acquisition, ChargeKind, CreditTier, LibraryTier, ReturnPolicy, TransferReason,
};
use crate::policy::{BLOCK_AFTER_OVERDUE_DAYS, MAX_RENEWALS, due_at, loan_limit};
use crate::state::{Item, ItemStatus, Library, Network, Patron};
use crate::{
    Command, CommandContext, Ledger, NewBook, NewEvent, PatronRef, Payload, Rejection, StreamId,
};

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

    /// Blocked: an item overdue by more than 30 days, or a lost item not settled.
    fn check_not_blocked(&self, patron: &Patron, card: &str) -> Result<(), Rejection> {
        if let Some(item) = patron.unsettled_lost.iter().next() {
            let owed = self
                .ledger
                .items
                .get(item)
                .map_or(0, |i| i.owed_by(&patron.patron_id));
            return Err(Rejection::precondition(format!(
                "patron {card} is blocked: item {item} was declared lost and {owed} fen is unpaid"
            )));
        }
        let limit = chrono::Duration::days(BLOCK_AFTER_OVERDUE_DAYS);
        for code in &patron.loans {
            if let Some(ItemStatus::OnLoan {
                due_at, library, ..
            }) = self.ledger.items.get(code).map(|i| &i.status)
                && self.ctx.occurred_at > *due_at + limit
            {
                return Err(Rejection::precondition(format!(
                    "patron {card} is blocked: item {code} was due {} and is overdue by more than {BLOCK_AFTER_OVERDUE_DAYS} days",
                    local_date(*due_at, self.network().library_time_zone(library))
                )));
            }
        }
        Ok(())
    }

    fn check_below_limit(&self, patron: &Patron, card: &str) -> Result<(), Rejection> {
        let limit = loan_limit(patron.tier);
        if patron.loans.len() >= limit {
            return Err(Rejection::precondition(format!(
                "patron {card} has {} items on loan, the limit of a {} patron is {limit}",
                patron.loans.len(),
                tier_word(patron.tier)
            )));
        }
        Ok(())
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

    // ---- network ----

    fn join_city(
        &self,
        city: &str,
        name: &str,
        time_zone: &str,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if self.network().cities.contains_key(city) {
            return Err(Rejection::already_exists(format!(
                "city {city} has already joined the network"
            )));
        }
        let time_zone = if time_zone.is_empty() {
            "Asia/Shanghai"
        } else {
            time_zone
        };
        if time_zone.parse::<Tz>().is_err() {
            return Err(Rejection::invalid(format!(
                "time_zone: {time_zone:?} is not an IANA time zone name"
            )));
        }
        Ok(vec![network_event(Payload::CityJoined(pb::CityJoined {
            city: city.to_owned(),
            name: name.to_owned(),
            time_zone: time_zone.to_owned(),
        }))])
    }

    fn register_library(
        &self,
        library: &str,
        name: &str,
        city: &str,
        tier: LibraryTier,
        parent: Option<&str>,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if tier == LibraryTier::Unspecified {
            return Err(Rejection::invalid("tier: a library tier is required"));
        }
        if self.network().libraries.contains_key(library) {
            return Err(Rejection::already_exists(format!(
                "library {library} is already registered"
            )));
        }
        if !self.network().cities.contains_key(city) {
            return Err(Rejection::not_found(format!(
                "city: city {city} has not joined the network"
            )));
        }
        if let Some(parent) = parent {
            self.library(parent, "parent")?;
        }
        Ok(vec![network_event(Payload::LibraryRegistered(
            pb::LibraryRegistered {
                library: library.to_owned(),
                name: name.to_owned(),
                city: city.to_owned(),
                tier: tier as i32,
                parent: parent.unwrap_or_default().to_owned(),
            },
        ))])
    }

    fn close_library(&self, library: &str, reason: &str) -> Result<Vec<NewEvent>, Rejection> {
        self.open_library(library, "library")?;
        Ok(vec![network_event(Payload::LibraryClosed(
            pb::LibraryClosed {
                library: library.to_owned(),
                reason: reason.to_owned(),
            },
        ))])
    }

    fn set_return_policy(
        &self,
        library: &str,
        policy: ReturnPolicy,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if policy == ReturnPolicy::Unspecified {
            return Err(Rejection::invalid(
                "policy: return_home or float_in_city is required",
            ));
        }
        self.library(library, "library")?;
        Ok(vec![network_event(Payload::ReturnPolicySet(
            pb::ReturnPolicySet {
                library: library.to_owned(),
                policy: policy as i32,
            },
        ))])
    }

    fn set_tariff(
        &self,
        kind: ChargeKind,
        amount_fen: i64,
        effective_from: DateTime<Utc>,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if kind == ChargeKind::Unspecified {
            return Err(Rejection::invalid(
                "kind: a charge kind (loan, return, shipping, lost) is required",
            ));
        }
        if amount_fen < 0 {
            return Err(Rejection::invalid(format!(
                "amount_fen: {amount_fen} is negative"
            )));
        }
        // A tariff set today for last week would price the same day two ways: charges already
        // made at the old rate, late-synced events of that week at the new one.
        if effective_from < self.ctx.occurred_at {
            return Err(Rejection::invalid(format!(
                "effective_from: {} is before the tariff is set ({}); a tariff takes effect from now on, never in the past",
                effective_from.to_rfc3339(),
                self.ctx.occurred_at.to_rfc3339()
            )));
        }
        Ok(vec![network_event(Payload::TariffSet(pb::TariffSet {
            kind: kind as i32,
            amount_fen,
            effective_from_us: to_us(effective_from),
        }))])
    }

    fn set_patron_tier(
        &self,
        patron: &PatronRef,
        tier: CreditTier,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if tier == CreditTier::Unspecified {
            return Err(Rejection::invalid(
                "tier: restricted, standard or trusted is required",
            ));
        }
        self.member_card(patron)?;
        if !self.ledger.patrons.contains_key(&patron.patron_id) {
            return Err(Rejection::not_found(format!(
                "card {} has not been used yet: a patron is enrolled by their first checkout",
                patron.masked_card
            )));
        }
        Ok(vec![patron_event(
            &patron.patron_id,
            Payload::PatronTierChanged(pb::PatronTierChanged {
                patron_id: patron.patron_id.clone(),
                tier: tier as i32,
            }),
        )])
    }

    // ---- items ----

    fn catalogue(
        &self,
        book: &NewBook,
        owner: &str,
        acquisition: Acquisition,
    ) -> Result<Vec<NewEvent>, Rejection> {
        match acquisition {
            Acquisition::Purchase | Acquisition::Donation => {}
            Acquisition::Unspecified => {
                return Err(Rejection::invalid(
                    "acquisition: purchase or donation is required",
                ));
            }
            Acquisition::PatronDriven | Acquisition::BoothDeposit => {
                return Err(Rejection::invalid(
                    "acquisition: patron-driven books and booth deposits are catalogued by PatronDrivenAcquisition and BoothSwap",
                ));
            }
        }
        self.new_item_id(book, "item")?;
        let owner = self.open_library(owner, "owner_library")?;
        Ok(vec![item_event(
            &book.item,
            Payload::ItemCatalogued(catalogued(book, owner, acquisition)),
        )])
    }

    fn checkout(&self, code: &str, patron_ref: &PatronRef) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.desk_library("loans")?;
        let item = self.item(code)?;
        match &item.status {
            ItemStatus::OnShelf {
                library: at,
                homebound,
            } if at == &library.code => {
                if *homebound {
                    return Err(Rejection::precondition(format!(
                        "item {code} is homebound to {}: it is not lent again until it is back home",
                        item.owner_library
                    )));
                }
            }
            _ => {
                return Err(Rejection::precondition(format!(
                    "item {code} is not on the shelf at {}: {}",
                    library.code,
                    self.describe(item)
                )));
            }
        }
        let (patron, enrol) = self.patron_or_enrol(patron_ref)?;
        if let Some(patron) = patron {
            self.check_not_blocked(patron, &patron_ref.masked_card)?;
            self.check_below_limit(patron, &patron_ref.masked_card)?;
        }
        let mut events: Vec<NewEvent> = enrol.into_iter().collect();
        events.push(self.loan_event(item, patron_ref, library));
        Ok(events)
    }

    fn renew(&self, code: &str, patron_ref: &PatronRef) -> Result<Vec<NewEvent>, Rejection> {
        let item = self.item(code)?;
        let ItemStatus::OnLoan {
            patron_id,
            library,
            renewals,
            ..
        } = &item.status
        else {
            return Err(Rejection::precondition(format!(
                "item {code} is not on loan: {}",
                self.describe(item)
            )));
        };
        if patron_id != &patron_ref.patron_id {
            return Err(Rejection::precondition(format!(
                "item {code} is on loan to another patron: only the borrower may renew it"
            )));
        }
        if *renewals >= MAX_RENEWALS {
            return Err(Rejection::precondition(format!(
                "item {code} has been renewed {renewals} times, the most allowed is {MAX_RENEWALS}"
            )));
        }
        if let Some(patron) = self.ledger.patrons.get(patron_id) {
            self.check_not_blocked(patron, &patron_ref.masked_card)?;
        }
        let tz = self.network().library_time_zone(library);
        Ok(vec![item_event(
            code,
            Payload::ItemRenewed(pb::ItemRenewed {
                item: code.to_owned(),
                patron_id: patron_id.clone(),
                due_at_us: to_us(due_at(self.ctx.occurred_at, tz)),
                renewal_count: renewals + 1,
            }),
        )])
    }

    fn return_item(&self, code: &str) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.desk_library("returns")?;
        let item = self.item(code)?;
        let (patron_id, was_lost) = match &item.status {
            ItemStatus::OnLoan { patron_id, .. } => (patron_id.clone(), false),
            ItemStatus::Lost { patron_id } => (patron_id.clone(), true),
            _ => {
                return Err(Rejection::precondition(format!(
                    "item {code} is not on loan: {}",
                    self.describe(item)
                )));
            }
        };
        let owner = self.library(&item.owner_library, "owner_library")?;
        let homebound = if library.code == owner.code {
            false
        } else {
            !(library.city == owner.city && owner.return_policy == ReturnPolicy::FloatInCity)
        };
        Ok(vec![item_event(
            code,
            Payload::ItemReturned(pb::ItemReturned {
                item: code.to_owned(),
                patron_id,
                library: library.code.clone(),
                owner_library: owner.code.clone(),
                homebound,
                was_lost,
            }),
        )])
    }

    fn dispatch(
        &self,
        code: &str,
        to: &str,
        reason: TransferReason,
    ) -> Result<Vec<NewEvent>, Rejection> {
        if reason == TransferReason::Unspecified {
            return Err(Rejection::invalid(
                "reason: repatriation, hold or rebalance is required",
            ));
        }
        let from = self.acting_library_even_closed()?;
        let item = self.item(code)?;
        let homebound = match &item.status {
            ItemStatus::OnShelf { library, homebound } if library == &from.code => *homebound,
            ItemStatus::InBooth { booth } if booth == &from.code => false,
            _ => {
                return Err(Rejection::precondition(format!(
                    "item {code} is not at {} to dispatch: {}",
                    from.code,
                    self.describe(item)
                )));
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
            return Err(Rejection::invalid(format!(
                "to_library: {to} is where the item already is"
            )));
        }
        if reason == TransferReason::Repatriation && destination.code != item.owner_library {
            return Err(Rejection::precondition(format!(
                "a repatriation goes to the item's owner {}, not to {to}",
                item.owner_library
            )));
        }
        if homebound && reason != TransferReason::Repatriation {
            return Err(Rejection::precondition(format!(
                "item {code} is homebound to {}: it can only be dispatched home (repatriation)",
                item.owner_library
            )));
        }
        Ok(vec![item_event(
            code,
            Payload::TransferDispatched(pb::TransferDispatched {
                item: code.to_owned(),
                from_library: from.code.clone(),
                to_library: destination.code.clone(),
                reason: reason as i32,
                owner_library: item.owner_library.clone(),
            }),
        )])
    }

    fn receive(&self, code: &str) -> Result<Vec<NewEvent>, Rejection> {
        let at = self.acting_library_even_closed()?;
        let item = self.item(code)?;
        let ItemStatus::InTransit { from, to, .. } = &item.status else {
            return Err(Rejection::precondition(format!(
                "item {code} is not in transit: {}",
                self.describe(item)
            )));
        };
        if to != &at.code {
            return Err(Rejection::precondition(format!(
                "item {code} is in transit to {to}, not to {}",
                at.code
            )));
        }
        Ok(vec![item_event(
            code,
            Payload::TransferReceived(pb::TransferReceived {
                item: code.to_owned(),
                from_library: from.clone(),
                to_library: to.clone(),
                in_booth: at.is_booth(),
            }),
        )])
    }

    fn booth_swap(
        &self,
        take: &str,
        patron_ref: &PatronRef,
        deposit: &NewBook,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let booth = self.acting_library()?;
        if !booth.is_booth() {
            return Err(Rejection::precondition(format!(
                "{} is not a book-exchange booth: swaps happen only at booths",
                booth.code
            )));
        }
        let item = self.item(take)?;
        if !matches!(&item.status, ItemStatus::InBooth { booth: b } if b == &booth.code) {
            return Err(Rejection::precondition(format!(
                "item {take} is not in booth {}: {}",
                booth.code,
                self.describe(item)
            )));
        }
        if deposit.item == take {
            return Err(Rejection::invalid(
                "deposit.item: the deposited book needs an id of its own",
            ));
        }
        self.new_item_id(deposit, "deposit")?;
        let (_, enrol) = self.patron_or_enrol(patron_ref)?;
        let mut events: Vec<NewEvent> = enrol.into_iter().collect();
        events.push(item_event(
            take,
            Payload::BoothSwapped(pb::BoothSwapped {
                booth: booth.code.clone(),
                patron_id: patron_ref.patron_id.clone(),
                item_taken: take.to_owned(),
                item_deposited: deposit.item.clone(),
            }),
        ));
        events.push(item_event(
            &deposit.item,
            Payload::ItemCatalogued(catalogued(deposit, booth, Acquisition::BoothDeposit)),
        ));
        Ok(events)
    }

    fn patron_driven(
        &self,
        patron_ref: &PatronRef,
        book: &NewBook,
    ) -> Result<Vec<NewEvent>, Rejection> {
        let library = self.desk_library("patron-driven acquisitions")?;
        match book.price_fen {
            Some(p) if p > 0 => {}
            _ => {
                return Err(Rejection::invalid(
                    "book.price_fen: what the library paid the bookstore is required and must be positive",
                ));
            }
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

    fn declare_lost(&self, code: &str) -> Result<Vec<NewEvent>, Rejection> {
        let item = self.item(code)?;
        let ItemStatus::OnLoan { patron_id, .. } = &item.status else {
            return Err(Rejection::precondition(format!(
                "item {code} is not on loan, so it cannot be declared lost: {}",
                self.describe(item)
            )));
        };
        let debt_fen = item.price_fen.unwrap_or_else(|| {
            self.network()
                .tariff_fen(ChargeKind::Lost, self.ctx.occurred_at)
        });
        let patron_home_city = self
            .ledger
            .patrons
            .get(patron_id)
            .map(|p| p.home_city.clone())
            .unwrap_or_default();
        Ok(vec![item_event(
            code,
            Payload::ItemDeclaredLost(pb::ItemDeclaredLost {
                item: code.to_owned(),
                patron_id: patron_id.clone(),
                owner_library: item.owner_library.clone(),
                patron_home_city,
                debt_fen,
            }),
        )])
    }

    fn outstanding_debt(&self, code: &str) -> Result<(&'a Item, &'a crate::LostDebt), Rejection> {
        let item = self.item(code)?;
        let debt = item.lost_debt().ok_or_else(|| {
            Rejection::precondition(format!("item {code} has no unsettled lost-item debt"))
        })?;
        Ok((item, debt))
    }

    fn pay_lost(&self, code: &str, amount_fen: i64) -> Result<Vec<NewEvent>, Rejection> {
        if amount_fen <= 0 {
            return Err(Rejection::invalid(format!(
                "amount_fen: {amount_fen} is not a positive amount"
            )));
        }
        let (_, debt) = self.outstanding_debt(code)?;
        if amount_fen > debt.outstanding_fen {
            return Err(Rejection::precondition(format!(
                "amount_fen: {amount_fen} is more than the {} fen owed for item {code}",
                debt.outstanding_fen
            )));
        }
        Ok(vec![item_event(
            code,
            Payload::LostItemPaid(pb::LostItemPaid {
                item: code.to_owned(),
                patron_id: debt.patron_id.clone(),
                amount_fen,
            }),
        )])
    }

    fn waive_lost(&self, code: &str, reason: &str) -> Result<Vec<NewEvent>, Rejection> {
        let (_, debt) = self.outstanding_debt(code)?;
        Ok(vec![item_event(
            code,
            Payload::LostItemDebtWaived(pb::LostItemDebtWaived {
                item: code.to_owned(),
                patron_id: debt.patron_id.clone(),
                reason: reason.to_owned(),
            }),
        )])
    }

    fn withdraw(&self, code: &str, reason: &str) -> Result<Vec<NewEvent>, Rejection> {
        let item = self.item(code)?;
        match &item.status {
            ItemStatus::OnShelf { .. } | ItemStatus::InBooth { .. } | ItemStatus::Lost { .. } => {}
            _ => {
                return Err(Rejection::precondition(format!(
                    "item {code} cannot be withdrawn now: {}",
                    self.describe(item)
                )));
            }
        }
        Ok(vec![item_event(
            code,
            Payload::ItemWithdrawn(pb::ItemWithdrawn {
                item: code.to_owned(),
                reason: reason.to_owned(),
            }),
        )])
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
