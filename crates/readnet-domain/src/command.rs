use chrono::{DateTime, NaiveDate, Utc};

use crate::access::{Caller, Grant, TokenGrant};
use crate::calendar::OpeningHours;
use crate::ids::{CityCode, ItemCode, LibraryCode, PatronId, PrincipalName};
use crate::money::Fen;
use crate::pb::{
    Acquisition, Channel, ChargeKind, CreditTier, EResourceKind, ForgetReason, LibraryTier,
    ReturnPolicy, TransferReason,
};

/// A patron as a command names them: the card's issuing city, the patron id (the keyed hash of
/// the card, see [`crate::PatronKey`]) and a masked card for messages (`jinan:****1234`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatronRef {
    pub city: CityCode,
    pub patron_id: PatronId,
    pub masked_card: String,
}

/// A book entering the network (booth deposit, bookstore purchase, cataloguing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBook {
    pub item: ItemCode,
    pub isbn: String,
    pub title: String,
    pub author: String,
    pub price_fen: Option<Fen>,
}

/// What a hold asks for: any copy of a title, or one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldTarget {
    /// A title: its ISBN, else its title and author (see [`crate::title::title_key`]).
    Title {
        isbn: String,
        title: String,
        author: String,
    },
    Item(ItemCode),
}

/// What a command is about, already checked for form by the edge (ids well formed, amounts
/// non-negative). The rules are checked by [`crate::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    JoinCity {
        city: CityCode,
        name: String,
        time_zone: String,
    },
    RegisterLibrary {
        library: LibraryCode,
        name: String,
        city: CityCode,
        tier: LibraryTier,
        parent: Option<LibraryCode>,
    },
    CloseLibrary {
        library: LibraryCode,
        reason: String,
    },
    SetReturnPolicy {
        library: LibraryCode,
        policy: ReturnPolicy,
    },
    SetTariff {
        kind: ChargeKind,
        amount_fen: Fen,
        effective_from: DateTime<Utc>,
    },
    SetPatronTier {
        patron: PatronRef,
        tier: CreditTier,
    },
    CatalogueItem {
        book: NewBook,
        owner_library: LibraryCode,
        acquisition: Acquisition,
    },
    Checkout {
        item: ItemCode,
        patron: PatronRef,
    },
    Renew {
        item: ItemCode,
        patron: PatronRef,
    },
    Return {
        item: ItemCode,
    },
    DispatchTransfer {
        item: ItemCode,
        to_library: LibraryCode,
        reason: TransferReason,
    },
    ReceiveTransfer {
        item: ItemCode,
    },
    BoothSwap {
        take_item: ItemCode,
        patron: PatronRef,
        deposit: NewBook,
    },
    PatronDrivenAcquisition {
        patron: PatronRef,
        book: NewBook,
        /// The partner bookstore it was bought at.
        bookstore: Option<String>,
    },
    DeclareLost {
        item: ItemCode,
    },
    PayLostItem {
        item: ItemCode,
        amount_fen: Fen,
    },
    WaiveLostItemDebt {
        item: ItemCode,
        reason: String,
    },
    Withdraw {
        item: ItemCode,
        reason: String,
    },
    SetLibraryRoles {
        library: LibraryCode,
        delivery_point: bool,
        distribution_centre: bool,
    },
    PlaceHold {
        patron: PatronRef,
        target: HoldTarget,
        pickup_library: LibraryCode,
    },
    /// Cancels a hold: by its holder (their card), or by staff at a desk (no card).
    CancelHold {
        hold: u64,
        patron: Option<PatronRef>,
        note: String,
    },
    /// Ends the holds whose time is up at the command's `occurred_at`: waiting holds past their
    /// expiry, ready holds past their pickup deadline.
    ExpireHolds,
    /// Puts a library under another parent of its city (`None`: it stands alone).
    MoveLibrary {
        library: LibraryCode,
        parent: Option<LibraryCode>,
    },
    RenameLibrary {
        library: LibraryCode,
        name: String,
    },
    ChangeLibraryTier {
        library: LibraryCode,
        tier: LibraryTier,
    },
    /// Sets a library's own calendar, or (`library` `None`) its city's default.
    SetCalendar {
        city: Option<CityCode>,
        library: Option<LibraryCode>,
        week: [OpeningHours; 7],
        closed_dates: Vec<NaiveDate>,
    },
    /// Closes a library from `from` (a local date; `None`: at once) through `until`.
    CloseLibraryTemporarily {
        library: LibraryCode,
        reason: String,
        from: Option<NaiveDate>,
        until: NaiveDate,
    },
    /// Ends a library's temporary closure now.
    ReopenLibrary {
        library: LibraryCode,
    },
    /// Writes the server's clock into the log, for the notices that depend on time (ADR 0016):
    /// as of the command's `occurred_at`, which must be later than the last tick.
    TickClock,
    /// A gate counter's visits at the acting library over `from`..`to` (footfall, 人流量).
    ReportFootfall {
        gate: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        visits: u64,
    },
    /// A notice gateway has delivered every notice up to `through_sequence`.
    AcknowledgeNotices {
        gateway: String,
        through_sequence: u64,
    },
    /// Sets a library's acquisition budget for a budget year and its patron-driven share
    /// (`None`: the default 20 %).
    SetAcquisitionBudget {
        library: LibraryCode,
        year: i32,
        budget_fen: Fen,
        patron_driven_share_bp: Option<u32>,
    },
    /// Sets a library's price cap and per-reader monthly quota for patron-driven purchases.
    SetAcquisitionPolicy {
        library: LibraryCode,
        max_item_price_fen: Fen,
        monthly_quota_per_reader: u32,
    },
    /// Registers a bookstore as a partner of a library.
    RegisterBookstore {
        library: LibraryCode,
        bookstore: String,
        name: String,
    },
    /// Licenses an e-resource to a library (`owner_library`) or the whole network (`None`).
    LicenseEResource {
        resource: String,
        title: String,
        kind: EResourceKind,
        owner_library: Option<LibraryCode>,
        shared: bool,
        licences: u32,
        loan_days: u32,
    },
    /// Lends an e-resource to a patron, through the acting library.
    BorrowDigital {
        resource: String,
        patron: PatronRef,
    },
    /// Gives a digital loan back before its expiry.
    ReturnDigital {
        resource: String,
        patron: PatronRef,
    },
    /// Ends the digital loans whose time is up at the command's `occurred_at`.
    ExpireDigitalLoans,
    AddPrincipal {
        principal: PrincipalName,
        grant: Grant,
        token: TokenGrant,
    },
    ChangePrincipal {
        principal: PrincipalName,
        grant: Grant,
    },
    RevokePrincipal {
        principal: PrincipalName,
        reason: String,
    },
    IssueToken {
        principal: PrincipalName,
        token: TokenGrant,
    },
    /// Forgets a patron (crypto-shredding, ADR 0018): refused while they have loans, open holds
    /// or debts. `reason` says who asked: the patron (at a desk, by card) or the retention
    /// policy.
    ForgetPatron {
        patron: PatronRef,
        reason: ForgetReason,
    },
}

impl Command {
    /// The command's name, for logs and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::JoinCity { .. } => "JoinCity",
            Command::RegisterLibrary { .. } => "RegisterLibrary",
            Command::CloseLibrary { .. } => "CloseLibrary",
            Command::SetReturnPolicy { .. } => "SetReturnPolicy",
            Command::SetTariff { .. } => "SetTariff",
            Command::SetPatronTier { .. } => "SetPatronTier",
            Command::CatalogueItem { .. } => "CatalogueItem",
            Command::Checkout { .. } => "Checkout",
            Command::Renew { .. } => "Renew",
            Command::Return { .. } => "Return",
            Command::DispatchTransfer { .. } => "DispatchTransfer",
            Command::ReceiveTransfer { .. } => "ReceiveTransfer",
            Command::BoothSwap { .. } => "BoothSwap",
            Command::PatronDrivenAcquisition { .. } => "PatronDrivenAcquisition",
            Command::DeclareLost { .. } => "DeclareLost",
            Command::PayLostItem { .. } => "PayLostItem",
            Command::WaiveLostItemDebt { .. } => "WaiveLostItemDebt",
            Command::Withdraw { .. } => "Withdraw",
            Command::SetLibraryRoles { .. } => "SetLibraryRoles",
            Command::PlaceHold { .. } => "PlaceHold",
            Command::CancelHold { .. } => "CancelHold",
            Command::ExpireHolds => "ExpireHolds",
            Command::MoveLibrary { .. } => "MoveLibrary",
            Command::RenameLibrary { .. } => "RenameLibrary",
            Command::ChangeLibraryTier { .. } => "ChangeLibraryTier",
            Command::SetCalendar { .. } => "SetCalendar",
            Command::CloseLibraryTemporarily { .. } => "CloseLibraryTemporarily",
            Command::ReopenLibrary { .. } => "ReopenLibrary",
            Command::TickClock => "TickClock",
            Command::AcknowledgeNotices { .. } => "AcknowledgeNotices",
            Command::SetAcquisitionBudget { .. } => "SetAcquisitionBudget",
            Command::SetAcquisitionPolicy { .. } => "SetAcquisitionPolicy",
            Command::RegisterBookstore { .. } => "RegisterBookstore",
            Command::LicenseEResource { .. } => "LicenseEResource",
            Command::BorrowDigital { .. } => "BorrowDigital",
            Command::ReturnDigital { .. } => "ReturnDigital",
            Command::ExpireDigitalLoans => "ExpireDigitalLoans",
            Command::ReportFootfall { .. } => "ReportFootfall",
            Command::AddPrincipal { .. } => "AddPrincipal",
            Command::ChangePrincipal { .. } => "ChangePrincipal",
            Command::RevokePrincipal { .. } => "RevokePrincipal",
            Command::IssueToken { .. } => "IssueToken",
            Command::ForgetPatron { .. } => "ForgetPatron",
        }
    }
}

/// When, where and through what a command happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// When it happened at the desk, kiosk or booth.
    pub occurred_at: DateTime<Utc>,
    /// The library acting (request metadata `x-readnet-library`).
    pub acting_library: Option<LibraryCode>,
    pub channel: Channel,
    /// Who gives the command: the principal its credential proved, or the server itself.
    pub caller: Caller,
}
