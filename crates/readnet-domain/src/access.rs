//! Who may do what: principals, their roles and scopes, and the rules that check an act against
//! them.
//!
//! A principal is a named caller with one [`Role`] over a [`Scope`]. Every act a caller can ask
//! for is an [`Act`]; [`Act::roles`] is the table of which roles may ever ask for it, and a
//! scoped role may ask only for acts whose [`Target`] its scope covers. Commands are checked by
//! [`authorize`] (called first by [`crate::decide`], so the check and the decision see the same
//! state); reads and the other edges call [`authorize_act`] with the target they serve.
//!
//! The grants themselves are events in the `network` stream (`PrincipalAdded`,
//! `PrincipalChanged`, `PrincipalRevoked`, `TokenIssued`), folded into
//! [`crate::Network::principals`]. Token secrets never reach this crate.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::ids::{CityCode, LibraryCode, PrincipalName, TokenId};
use crate::pb::{self, Channel};
use crate::{Command, CommandContext, Ledger, Rejection};

/// A principal's role. [`Role::as_str`] gives the names the contract uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Join cities, set tariffs, manage every principal, and anything below, anywhere.
    NetworkAdmin,
    /// One city's libraries, their return policies, its patrons' tiers, its principals.
    CityAdmin,
    /// Circulation at one or more libraries; cataloguing and withdrawing what they own.
    Desk,
    /// Checkout, renew and return at one library, on the kiosk channel.
    Kiosk,
    /// Swaps at one book-exchange booth, and the shipments that restock it.
    Booth,
    /// Closes settlement periods; reads statements.
    SettlementClerk,
    /// Reads everything, writes nothing.
    Auditor,
    /// Reads projections and the event feed, with patron ids pseudonymised.
    Analytics,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::NetworkAdmin,
        Role::CityAdmin,
        Role::Desk,
        Role::Kiosk,
        Role::Booth,
        Role::SettlementClerk,
        Role::Auditor,
        Role::Analytics,
    ];

    /// The role's name in the contract (`network-admin`, `desk`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::NetworkAdmin => "network-admin",
            Role::CityAdmin => "city-admin",
            Role::Desk => "desk",
            Role::Kiosk => "kiosk",
            Role::Booth => "booth",
            Role::SettlementClerk => "settlement-clerk",
            Role::Auditor => "auditor",
            Role::Analytics => "analytics",
        }
    }

    /// The role of a contract name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn from_pb(role: pb::Role) -> Option<Role> {
        Some(match role {
            pb::Role::Unspecified => return None,
            pb::Role::NetworkAdmin => Role::NetworkAdmin,
            pb::Role::CityAdmin => Role::CityAdmin,
            pb::Role::Desk => Role::Desk,
            pb::Role::Kiosk => Role::Kiosk,
            pb::Role::Booth => Role::Booth,
            pb::Role::SettlementClerk => Role::SettlementClerk,
            pb::Role::Auditor => Role::Auditor,
            pb::Role::Analytics => Role::Analytics,
        })
    }

    pub fn to_pb(self) -> pb::Role {
        match self {
            Role::NetworkAdmin => pb::Role::NetworkAdmin,
            Role::CityAdmin => pb::Role::CityAdmin,
            Role::Desk => pb::Role::Desk,
            Role::Kiosk => pb::Role::Kiosk,
            Role::Booth => pb::Role::Booth,
            Role::SettlementClerk => pb::Role::SettlementClerk,
            Role::Auditor => pb::Role::Auditor,
            Role::Analytics => pb::Role::Analytics,
        }
    }

    /// The shape of scope the role takes.
    pub fn scope_kind(self) -> ScopeKind {
        match self {
            Role::NetworkAdmin | Role::SettlementClerk | Role::Auditor | Role::Analytics => {
                ScopeKind::Network
            }
            Role::CityAdmin => ScopeKind::City,
            Role::Desk => ScopeKind::Libraries,
            Role::Kiosk | Role::Booth => ScopeKind::OneLibrary,
        }
    }

    /// Whether the role may read patron ids and patron streams.
    pub fn reads_patrons(self) -> bool {
        matches!(self, Role::NetworkAdmin | Role::Auditor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shape of a role's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Network,
    City,
    Libraries,
    OneLibrary,
}

/// Where a principal's rights hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everywhere (the network-wide roles).
    Network,
    /// One city and its libraries (city-admin).
    City(CityCode),
    /// These libraries (desk: one or more; kiosk and booth: one).
    Libraries(BTreeSet<LibraryCode>),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Network => f.write_str("the network"),
            Scope::City(city) => write!(f, "city {city}"),
            Scope::Libraries(libraries) => {
                f.write_str(if libraries.len() == 1 {
                    "library "
                } else {
                    "libraries "
                })?;
                for (i, library) in libraries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(library.as_str())?;
                }
                Ok(())
            }
        }
    }
}

/// A role over a scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    pub role: Role,
    pub scope: Scope,
}

impl Grant {
    /// The grant of a network-wide role.
    pub fn network(role: Role) -> Self {
        Self {
            role,
            scope: Scope::Network,
        }
    }

    /// The grant as events and answers carry it: `(role, city, libraries)`.
    pub fn to_pb(&self) -> (pb::Role, String, Vec<String>) {
        let (city, libraries) = match &self.scope {
            Scope::Network => (String::new(), Vec::new()),
            Scope::City(city) => (city.to_string(), Vec::new()),
            Scope::Libraries(libraries) => (
                String::new(),
                libraries.iter().map(ToString::to_string).collect(),
            ),
        };
        (self.role.to_pb(), city, libraries)
    }

    /// The grant of a recorded event's fields (the events were checked when decided); `None`
    /// for a role this version does not know, which no grant may be read as.
    pub fn from_recorded(role: i32, city: &str, libraries: &[String]) -> Option<Self> {
        let role = pb::Role::try_from(role).ok().and_then(Role::from_pb)?;
        let scope = match role.scope_kind() {
            ScopeKind::Network => Scope::Network,
            ScopeKind::City => Scope::City(city.into()),
            ScopeKind::Libraries | ScopeKind::OneLibrary => {
                Scope::Libraries(libraries.iter().map(|l| l.as_str().into()).collect())
            }
        };
        Some(Self { role, scope })
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            Scope::Network => f.write_str(self.role.as_str()),
            _ => write!(f, "{} of {}", self.role, self.scope),
        }
    }
}

/// A token as the log knows it: its public id and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenGrant {
    pub id: TokenId,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A principal as the `network` stream records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: PrincipalName,
    pub grant: Grant,
    /// Who granted the current grant (`None`: the server, for the first administrator).
    pub granted_by: Option<PrincipalName>,
    pub revoked: bool,
    /// The token that works now (each new token replaces the last).
    pub token: Option<TokenGrant>,
}

impl Principal {
    /// The authority a request carrying this principal's token acts with.
    pub fn authority(&self) -> Authority {
        Authority {
            principal: self.name.clone(),
            grant: self.grant.clone(),
        }
    }
}

/// Who a request acts as: a principal and its grant, as authenticated at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub principal: PrincipalName,
    pub grant: Grant,
}

impl Authority {
    pub fn role(&self) -> Role {
        self.grant.role
    }
}

/// Who a command comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The server itself (the first administrator, tests and histories decided offline). Never
    /// the caller of a request.
    Server,
    /// An authenticated principal (shared: every request of a principal carries the same one).
    Principal(std::sync::Arc<Authority>),
}

impl Caller {
    /// The principal's name, as event metadata records it (empty for the server).
    pub fn principal_name(&self) -> &str {
        match self {
            Caller::Server => "",
            Caller::Principal(authority) => authority.principal.as_str(),
        }
    }
}

/// Everything a principal may ask for, command or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Act {
    JoinCity,
    RegisterLibrary,
    CloseLibrary,
    SetReturnPolicy,
    SetTariff,
    SetPatronTier,
    CatalogueItem,
    Checkout,
    Renew,
    Return,
    DispatchTransfer,
    ReceiveTransfer,
    BoothSwap,
    PatronDrivenAcquisition,
    DeclareLost,
    PayLostItem,
    WaiveLostItemDebt,
    Withdraw,
    /// Mark a library as a delivery point or a distribution centre.
    SetLibraryRoles,
    /// Correct the library tree: move, rename, change a tier.
    CorrectLibrary,
    /// Set a library's or a city's calendar.
    SetCalendar,
    /// Close a library for a while, or open it again.
    CloseTemporarily,
    PlaceHold,
    CancelHold,
    /// End the holds whose time is up (the sweep).
    ExpireHolds,
    /// Set a library's acquisition budget or policy, register its partner bookstores.
    ManageAcquisitions,
    /// License an e-resource to a library.
    LicenseEResource,
    /// License an e-resource to the whole network.
    LicenseNetworkEResource,
    /// Lend an e-resource to a patron, or take it back early.
    BorrowDigital,
    /// End the digital loans whose time is up (the sweep).
    ExpireDigitalLoans,
    /// A library's pick list, a patron's holds and their queue positions.
    ReadHolds,
    /// Write the server's clock into the log.
    TickClock,
    /// Report a gate counter's visits at a library (footfall).
    ReportFootfall,
    /// Take notices as a gateway and acknowledge them (patron ids included).
    Notices,
    /// A library's staff work lists: copies to send home, in transit, the hold shelf, overdue
    /// loans.
    ReadWorkLists,
    /// A patron's account by card: loans, holds, debts, block. Asked where the card is shown.
    ReadAccount,
    /// Add, change or revoke a principal, or issue it a token.
    ManagePrincipals,
    ListPrincipals,
    ClosePeriod,
    ReadStatements,
    /// Availability, and an item's state (patron ids only to roles that read patrons).
    ReadCatalogue,
    ReadLibraryStatistics,
    ReadCityStatistics,
    ReadNetworkStatistics,
    /// Ledger events: `$all`, a subscription, a stream other than a patron's.
    ReadLog,
    /// A patron's stream: their reading history.
    ReadPatronStream,
    /// The store as KurrentDB's protocol hands it out: raw bytes, patron ids included.
    ReadRawLog,
    /// Append to, delete or tombstone a stream that is not the ledger's (KurrentDB protocol).
    WriteForeignStreams,
    /// Copy the data directory (the log, the network secret, the token hashes).
    Backup,
    /// The log's Merkle tree: checkpoints (signed on demand too), inclusion and consistency
    /// proofs, statement lines proven down to their events.
    Audit,
    /// Forget a patron: destroy the key their personal data is sealed under (ADR 0018).
    ForgetPatron,
}

impl Act {
    /// The roles that may ever ask for this act (within their scope).
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Act::JoinCity | Act::SetTariff | Act::WriteForeignStreams | Act::Backup => {
                &[NetworkAdmin]
            }
            Act::RegisterLibrary
            | Act::CloseLibrary
            | Act::SetReturnPolicy
            | Act::SetPatronTier
            | Act::ForgetPatron
            | Act::SetLibraryRoles
            | Act::CorrectLibrary
            | Act::SetCalendar
            | Act::CloseTemporarily
            | Act::ManageAcquisitions
            | Act::LicenseEResource
            | Act::ManagePrincipals => &[NetworkAdmin, CityAdmin],
            Act::BorrowDigital => &[NetworkAdmin, Desk, Kiosk],
            Act::ExpireDigitalLoans | Act::LicenseNetworkEResource => &[NetworkAdmin],
            Act::PlaceHold | Act::CancelHold => &[NetworkAdmin, Desk, Kiosk],
            Act::ExpireHolds | Act::TickClock | Act::Notices => &[NetworkAdmin],
            Act::ReadHolds => &[NetworkAdmin, CityAdmin, Desk, Kiosk, Auditor],
            Act::ReadWorkLists => &[NetworkAdmin, CityAdmin, Desk, Auditor],
            // The roles that serve a patron holding their card (a booth only swaps books).
            Act::ReadAccount => &[NetworkAdmin, CityAdmin, Desk, Kiosk],
            // A self-check kiosk takes payments for lost items (SIP2 fee paid), as a desk does.
            Act::PayLostItem => &[NetworkAdmin, Desk, Kiosk],
            // A booth's machine scans the books a shipment brings in or takes away.
            Act::DispatchTransfer | Act::ReceiveTransfer => &[NetworkAdmin, Desk, Booth],
            Act::CatalogueItem
            | Act::PatronDrivenAcquisition
            | Act::DeclareLost
            | Act::WaiveLostItemDebt
            | Act::Withdraw => &[NetworkAdmin, Desk],
            Act::Checkout | Act::Renew | Act::Return => &[NetworkAdmin, Desk, Kiosk],
            // A gate counter reports as its library's kiosk does (or a desk types it in).
            Act::ReportFootfall => &[NetworkAdmin, Desk, Kiosk],
            Act::BoothSwap => &[NetworkAdmin, Booth],
            Act::ListPrincipals => &[NetworkAdmin, CityAdmin, Auditor],
            Act::ClosePeriod => &[NetworkAdmin, SettlementClerk],
            Act::ReadStatements | Act::ReadNetworkStatistics => {
                &[NetworkAdmin, CityAdmin, SettlementClerk, Auditor, Analytics]
            }
            Act::ReadCatalogue => &Role::ALL,
            Act::ReadLibraryStatistics => &[NetworkAdmin, CityAdmin, Desk, Auditor, Analytics],
            Act::ReadCityStatistics => &[NetworkAdmin, CityAdmin, Auditor, Analytics],
            Act::ReadLog => &[NetworkAdmin, Auditor, Analytics],
            Act::ReadPatronStream | Act::ReadRawLog => &[NetworkAdmin, Auditor],
            Act::Audit => &[NetworkAdmin, SettlementClerk, Auditor],
        }
    }

    /// The act's name in messages: the command's name, or what is read.
    pub fn name(self) -> &'static str {
        match self {
            Act::JoinCity => "JoinCity",
            Act::RegisterLibrary => "RegisterLibrary",
            Act::CloseLibrary => "CloseLibrary",
            Act::SetReturnPolicy => "SetReturnPolicy",
            Act::SetTariff => "SetTariff",
            Act::SetPatronTier => "SetPatronTier",
            Act::CatalogueItem => "CatalogueItem",
            Act::Checkout => "Checkout",
            Act::Renew => "Renew",
            Act::Return => "Return",
            Act::DispatchTransfer => "DispatchTransfer",
            Act::ReceiveTransfer => "ReceiveTransfer",
            Act::BoothSwap => "BoothSwap",
            Act::PatronDrivenAcquisition => "PatronDrivenAcquisition",
            Act::DeclareLost => "DeclareLost",
            Act::PayLostItem => "PayLostItem",
            Act::WaiveLostItemDebt => "WaiveLostItemDebt",
            Act::Withdraw => "Withdraw",
            Act::SetLibraryRoles => "SetLibraryRoles",
            Act::CorrectLibrary => "correct the library tree",
            Act::SetCalendar => "SetCalendar",
            Act::CloseTemporarily => "close a library temporarily or reopen it",
            Act::PlaceHold => "PlaceHold",
            Act::CancelHold => "CancelHold",
            Act::ExpireHolds => "ExpireHolds",
            Act::ManageAcquisitions => "manage acquisition budgets, policies and bookstores",
            Act::LicenseEResource => "LicenseEResource",
            Act::LicenseNetworkEResource => "license an e-resource to the whole network",
            Act::BorrowDigital => "lend e-resources",
            Act::ExpireDigitalLoans => "ExpireDigitalLoans",
            Act::TickClock => "TickClock",
            Act::ReportFootfall => "ReportFootfall",
            Act::Notices => "take and acknowledge notices",
            Act::ReadHolds => "read holds and pick lists",
            Act::ReadWorkLists => "read a library's work lists",
            Act::ReadAccount => "read a patron's account",
            Act::ManagePrincipals => "manage principals",
            Act::ListPrincipals => "list principals",
            Act::Backup => "back up the data directory",
            Act::ClosePeriod => "close a settlement period",
            Act::ReadStatements => "read settlement statements",
            Act::ReadCatalogue => "read the catalogue",
            Act::ReadLibraryStatistics => "read a library's statistics",
            Act::ReadCityStatistics => "read a city's statistics",
            Act::ReadNetworkStatistics => "read the network's statistics",
            Act::ReadLog => "read the event log",
            Act::ReadPatronStream => "read a patron's stream",
            Act::ReadRawLog => "read the store through the KurrentDB protocol",
            Act::WriteForeignStreams => "write streams through the KurrentDB protocol",
            Act::Audit => "audit the log's tree",
            Act::ForgetPatron => "ForgetPatron",
        }
    }
}

/// What an act is aimed at, when a scope must cover it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Library(LibraryCode),
    City(CityCode),
    /// A principal's grant (to add or change it) or a principal's current grant (to change,
    /// revoke or reissue it).
    Grant(PrincipalName, Grant),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Library(library) => write!(f, "library {library}"),
            Target::City(city) => write!(f, "city {city}"),
            Target::Grant(name, grant) => write!(f, "principal {name} ({grant})"),
        }
    }
}

/// Why an act was refused to a principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The role may never ask for the act.
    Role,
    /// The role may, but not for this target: it is outside the principal's scope.
    Scope,
}

/// The roles that may ask for `act`, for messages ("network-admin, city-admin").
pub fn roles_text(act: Act) -> String {
    act.roles()
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the rules know of a library's city, for scope checks.
pub trait LibraryCities {
    fn city_of(&self, library: &str) -> Option<&CityCode>;
}

impl LibraryCities for crate::Network {
    fn city_of(&self, library: &str) -> Option<&CityCode> {
        self.library_city(library)
    }
}

/// Whether `scope` covers `target`.
pub fn covers(scope: &Scope, target: &Target, cities: &impl LibraryCities) -> bool {
    match (scope, target) {
        (Scope::Network, _) => true,
        (Scope::City(city), Target::City(other)) => city == other,
        (Scope::City(city), Target::Library(library)) => {
            cities.city_of(library.as_str()) == Some(city)
        }
        (Scope::City(city), Target::Grant(_, grant)) => match (&grant.role, &grant.scope) {
            (Role::CityAdmin, Scope::City(other)) => city == other,
            (Role::Desk | Role::Kiosk | Role::Booth, Scope::Libraries(libraries)) => libraries
                .iter()
                .all(|l| cities.city_of(l.as_str()) == Some(city)),
            _ => false,
        },
        (Scope::Libraries(libraries), Target::Library(library)) => libraries.contains(library),
        (Scope::Libraries(_), Target::City(_) | Target::Grant(..)) => false,
    }
}

/// Checks that `authority` may ask for `act` on `targets` (every one must be covered; none for
/// an act on the whole network). The rule edges other than the command bus use.
pub fn authorize_act(
    authority: &Authority,
    act: Act,
    targets: &[Target],
    cities: &impl LibraryCities,
) -> Result<(), Rejection> {
    let denied = |target: Option<&Target>, why: Denial| {
        Rejection::NotPermitted(Box::new(crate::rejection::NotPermitted {
            principal: authority.principal.clone(),
            grant: authority.grant.clone(),
            act,
            target: target.cloned(),
            why,
        }))
    };
    if !act.roles().contains(&authority.grant.role) {
        return Err(denied(targets.last(), Denial::Role));
    }
    match targets
        .iter()
        .find(|t| !covers(&authority.grant.scope, t, cities))
    {
        Some(target) => Err(denied(Some(target), Denial::Scope)),
        None => Ok(()),
    }
}

/// The act a command is.
pub fn command_act(command: &Command) -> Act {
    match command {
        Command::JoinCity { .. } => Act::JoinCity,
        Command::RegisterLibrary { .. } => Act::RegisterLibrary,
        Command::CloseLibrary { .. } => Act::CloseLibrary,
        Command::SetReturnPolicy { .. } => Act::SetReturnPolicy,
        Command::SetTariff { .. } => Act::SetTariff,
        Command::SetPatronTier { .. } => Act::SetPatronTier,
        Command::CatalogueItem { .. } => Act::CatalogueItem,
        Command::Checkout { .. } => Act::Checkout,
        Command::Renew { .. } => Act::Renew,
        Command::Return { .. } => Act::Return,
        Command::DispatchTransfer { .. } => Act::DispatchTransfer,
        Command::ReceiveTransfer { .. } => Act::ReceiveTransfer,
        Command::BoothSwap { .. } => Act::BoothSwap,
        Command::PatronDrivenAcquisition { .. } => Act::PatronDrivenAcquisition,
        Command::DeclareLost { .. } => Act::DeclareLost,
        Command::PayLostItem { .. } => Act::PayLostItem,
        Command::WaiveLostItemDebt { .. } => Act::WaiveLostItemDebt,
        Command::Withdraw { .. } => Act::Withdraw,
        Command::SetLibraryRoles { .. } => Act::SetLibraryRoles,
        Command::MoveLibrary { .. }
        | Command::RenameLibrary { .. }
        | Command::ChangeLibraryTier { .. } => Act::CorrectLibrary,
        Command::SetCalendar { .. } => Act::SetCalendar,
        Command::CloseLibraryTemporarily { .. } | Command::ReopenLibrary { .. } => {
            Act::CloseTemporarily
        }
        Command::PlaceHold { .. } => Act::PlaceHold,
        Command::CancelHold { .. } => Act::CancelHold,
        Command::ExpireHolds => Act::ExpireHolds,
        Command::SetAcquisitionBudget { .. }
        | Command::SetAcquisitionPolicy { .. }
        | Command::RegisterBookstore { .. } => Act::ManageAcquisitions,
        Command::LicenseEResource {
            owner_library: None,
            ..
        } => Act::LicenseNetworkEResource,
        Command::LicenseEResource { .. } => Act::LicenseEResource,
        Command::BorrowDigital { .. } | Command::ReturnDigital { .. } => Act::BorrowDigital,
        Command::ExpireDigitalLoans => Act::ExpireDigitalLoans,
        Command::TickClock => Act::TickClock,
        Command::ReportFootfall { .. } => Act::ReportFootfall,
        Command::AcknowledgeNotices { .. } => Act::Notices,
        Command::AddPrincipal { .. }
        | Command::ChangePrincipal { .. }
        | Command::RevokePrincipal { .. }
        | Command::IssueToken { .. } => Act::ManagePrincipals,
        Command::ForgetPatron { .. } => Act::ForgetPatron,
    }
}

/// Checks that the command's caller may give it: the role may ask for the act, the scope covers
/// what the command acts on (the acting library, the library or city it names, the owner of
/// the item it names), and a kiosk or booth acts on its own channel. The server itself may do
/// anything. Targets that do not exist are left to the rules, which answer NOT_FOUND.
pub fn authorize(
    ledger: &Ledger,
    command: &Command,
    ctx: &CommandContext,
) -> Result<(), Rejection> {
    let Caller::Principal(authority) = &ctx.caller else {
        return Ok(());
    };
    let network = &ledger.network;
    let act = command_act(command);
    let mut targets = Vec::with_capacity(2);
    if let Some(acting) = &ctx.acting_library {
        targets.push(Target::Library(acting.clone()));
    }
    let item_owner = |item: &crate::ItemCode| {
        ledger
            .items
            .get(item)
            .map(|i| Target::Library(i.owner_library.clone()))
    };
    let principal_grant = |name: &PrincipalName| {
        network
            .principals
            .get(name)
            .map(|p| Target::Grant(name.clone(), p.grant.clone()))
    };
    match command {
        Command::RegisterLibrary { city, .. } => targets.push(Target::City(city.clone())),
        Command::CloseLibrary { library, .. }
        | Command::SetReturnPolicy { library, .. }
        | Command::SetLibraryRoles { library, .. }
        | Command::RenameLibrary { library, .. }
        | Command::ChangeLibraryTier { library, .. }
        | Command::CloseLibraryTemporarily { library, .. }
        | Command::ReopenLibrary { library }
        | Command::SetAcquisitionBudget { library, .. }
        | Command::SetAcquisitionPolicy { library, .. }
        | Command::RegisterBookstore { library, .. }
        | Command::LicenseEResource {
            owner_library: Some(library),
            ..
        }
        | Command::SetCalendar {
            library: Some(library),
            ..
        } if network.libraries.contains_key(library) => {
            targets.push(Target::Library(library.clone()));
        }
        // A move needs the scope over the library and over its new parent.
        Command::MoveLibrary { library, parent } => {
            for code in std::iter::once(library).chain(parent) {
                if network.libraries.contains_key(code) {
                    targets.push(Target::Library(code.clone()));
                }
            }
        }
        Command::SetCalendar {
            city: Some(city),
            library: None,
            ..
        } => targets.push(Target::City(city.clone())),
        Command::SetPatronTier { patron, .. } | Command::ForgetPatron { patron, .. } => {
            targets.push(Target::City(patron.city.clone()));
        }
        Command::CatalogueItem { owner_library, .. } => {
            targets.push(Target::Library(owner_library.clone()));
        }
        // Staff cancel holds picked up at their libraries; a holder cancels with their card.
        Command::CancelHold {
            hold, patron: None, ..
        } => targets.extend(
            ledger
                .holds
                .get(hold)
                .map(|h| Target::Library(h.pickup_library.clone())),
        ),
        Command::DeclareLost { item }
        | Command::WaiveLostItemDebt { item, .. }
        | Command::Withdraw { item, .. } => targets.extend(item_owner(item)),
        Command::AddPrincipal {
            principal, grant, ..
        } => targets.push(Target::Grant(principal.clone(), grant.clone())),
        Command::ChangePrincipal { principal, grant } => {
            targets.extend(principal_grant(principal));
            targets.push(Target::Grant(principal.clone(), grant.clone()));
        }
        Command::RevokePrincipal { principal, .. } | Command::IssueToken { principal, .. } => {
            targets.extend(principal_grant(principal));
        }
        _ => {}
    }
    authorize_act(authority, act, &targets, network)?;
    let own_channel = match authority.role() {
        Role::Kiosk => Some(Channel::Kiosk),
        Role::Booth => Some(Channel::Booth),
        _ => None,
    };
    if ctx.channel == Channel::System || own_channel.is_some_and(|c| c != ctx.channel) {
        return Err(Rejection::ChannelNotPermitted {
            principal: authority.principal.clone(),
            grant: authority.grant.clone(),
            channel: ctx.channel,
        });
    }
    Ok(())
}

/// What the edges need to know of the grants to authenticate a request and check a read: the
/// principals (revoked ones included) and each library's city. Made from the recorded state by
/// the command bus and shared read-only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessView {
    pub principals: std::collections::BTreeMap<PrincipalName, Principal>,
    /// Each live principal's authority, made once per view so that a request shares it.
    pub authorities: std::collections::HashMap<PrincipalName, std::sync::Arc<Authority>>,
    pub library_cities: std::collections::HashMap<LibraryCode, CityCode>,
}

impl AccessView {
    pub fn of(network: &crate::Network) -> Self {
        Self {
            authorities: network
                .principals
                .values()
                .filter(|p| !p.revoked)
                .map(|p| (p.name.clone(), std::sync::Arc::new(p.authority())))
                .collect(),
            principals: network.principals.clone(),
            library_cities: network
                .libraries
                .iter()
                .map(|(code, library)| (code.clone(), library.city.clone()))
                .collect(),
        }
    }
}

impl LibraryCities for AccessView {
    fn city_of(&self, library: &str) -> Option<&CityCode> {
        self.library_cities.get(library)
    }
}

/// The authenticated caller of a request and the grants as they stood when it arrived: what
/// the server's authentication layer leaves in each request's extensions for the services.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub authority: std::sync::Arc<Authority>,
    pub view: std::sync::Arc<AccessView>,
}

impl Authenticated {
    pub fn role(&self) -> Role {
        self.authority.role()
    }

    /// A principal `name` of a network-wide `role`, over no recorded grants (for tests and for
    /// a server that runs without authentication).
    pub fn network_wide(name: &str, role: Role) -> Self {
        Self {
            authority: std::sync::Arc::new(Authority {
                principal: name.into(),
                grant: Grant::network(role),
            }),
            view: std::sync::Arc::new(AccessView::default()),
        }
    }
}
