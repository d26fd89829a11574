//! Honest time: nothing is dated before the item, library or city it is about existed
//! (docs/rules.md, "Honest time"). How far back a command may be dated at all is the server's
//! bound (`--max-backdate-hours`), checked where the server's clock is.

use chrono::{DateTime, Utc};

use super::Decider;
use crate::ids::{CityCode, ItemCode, LibraryCode};
use crate::{Command, HoldTarget, Rejection};

impl Decider<'_> {
    /// The command's `occurred_at` is not before the cataloguing of any item it names, the
    /// registration of any library it names or acts at, or the joining of their cities and of
    /// the card's city. Times the state was not told (events folded without their time) are
    /// not checked.
    pub(super) fn check_not_before_existence(&self, command: &Command) -> Result<(), Rejection> {
        let at = self.ctx.occurred_at;
        let mut libraries: Vec<&LibraryCode> = self.ctx.acting_library.iter().collect();
        let mut items: Vec<&ItemCode> = Vec::new();
        let mut cities: Vec<&CityCode> = Vec::new();
        match command {
            Command::RegisterLibrary { city, parent, .. } => {
                cities.push(city);
                libraries.extend(parent);
            }
            Command::CatalogueItem { owner_library, .. } => libraries.push(owner_library),
            Command::Checkout { item, patron } | Command::Renew { item, patron } => {
                items.push(item);
                cities.push(&patron.city);
            }
            Command::BoothSwap {
                take_item, patron, ..
            } => {
                items.push(take_item);
                cities.push(&patron.city);
            }
            Command::DispatchTransfer {
                item, to_library, ..
            } => {
                items.push(item);
                libraries.push(to_library);
            }
            Command::Return { item }
            | Command::ReceiveTransfer { item }
            | Command::DeclareLost { item }
            | Command::PayLostItem { item, .. }
            | Command::WaiveLostItemDebt { item, .. }
            | Command::Withdraw { item, .. } => items.push(item),
            Command::PatronDrivenAcquisition { patron, .. }
            | Command::SetPatronTier { patron, .. }
            | Command::ForgetPatron { patron, .. } => cities.push(&patron.city),
            Command::PlaceHold {
                patron,
                target,
                pickup_library,
            } => {
                cities.push(&patron.city);
                libraries.push(pickup_library);
                if let HoldTarget::Item(item) = target {
                    items.push(item);
                }
            }
            Command::CloseLibrary { library, .. }
            | Command::SetReturnPolicy { library, .. }
            | Command::SetLibraryRoles { library, .. }
            | Command::RenameLibrary { library, .. }
            | Command::ChangeLibraryTier { library, .. }
            | Command::CloseLibraryTemporarily { library, .. }
            | Command::ReopenLibrary { library }
            | Command::SetAcquisitionBudget { library, .. }
            | Command::SetAcquisitionPolicy { library, .. }
            | Command::RegisterBookstore { library, .. } => libraries.push(library),
            Command::LicenseEResource { owner_library, .. } => libraries.extend(owner_library),
            Command::BorrowDigital { patron, .. } | Command::ReturnDigital { patron, .. } => {
                cities.push(&patron.city);
            }
            Command::MoveLibrary { library, parent } => {
                libraries.push(library);
                libraries.extend(parent);
            }
            Command::SetCalendar { city, library, .. } => {
                cities.extend(city);
                libraries.extend(library);
            }
            _ => {}
        }
        let network = self.network();
        for code in items {
            if let Some(item) = self.ledger.items.get(code) {
                check(
                    at,
                    "item",
                    code.as_str(),
                    "was catalogued",
                    item.catalogued_at,
                )?;
            }
        }
        for code in libraries {
            if let Some(library) = network.libraries.get(code) {
                check(
                    at,
                    "library",
                    code.as_str(),
                    "was registered",
                    library.registered_at,
                )?;
                cities.push(&library.city);
            }
        }
        for code in cities {
            if let Some(city) = network.cities.get(code) {
                check(
                    at,
                    "city",
                    code.as_str(),
                    "joined the network",
                    city.joined_at,
                )?;
            }
        }
        Ok(())
    }
}

fn check(
    occurred_at: DateTime<Utc>,
    what: &'static str,
    name: &str,
    verb: &'static str,
    since: Option<DateTime<Utc>>,
) -> Result<(), Rejection> {
    match since {
        Some(since) if occurred_at < since => Err(Rejection::BeforeItExisted {
            what,
            name: name.to_owned(),
            verb,
            since,
            occurred_at,
        }),
        _ => Ok(()),
    }
}
