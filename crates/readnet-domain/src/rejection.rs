//! Why a command was refused: one variant per rule, carrying the facts the rule looked at.
//!
//! The rendered text (`Display`) is what clients read in the gRPC status message; tests and
//! callers match on the variant and its fields instead.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use crate::access::{Act, Denial, Grant, Target, roles_text};
use crate::calendar::ClosedWhy;
use crate::ids::{CityCode, ItemCode, LibraryCode, PrincipalName};
use crate::money::Fen;
use crate::pb::Channel;
use crate::pb::{Acquisition, CreditTier, LibraryTier};

/// Which kind of "no" a rejection is; the server maps it to a gRPC status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The command is malformed (INVALID_ARGUMENT).
    InvalidArgument,
    /// The command is well formed but a rule forbids it now (FAILED_PRECONDITION).
    FailedPrecondition,
    /// Something it names does not exist (NOT_FOUND).
    NotFound,
    /// Something it would create exists already (ALREADY_EXISTS).
    AlreadyExists,
    /// The caller's principal may not do this (PERMISSION_DENIED).
    PermissionDenied,
}

/// Where an item is, as a rejection tells it ("it is on loan from JN-CENTRAL until
/// 2026-04-01").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whereabouts {
    /// On the shelf at `library`; `homebound_to` names the owner it must go back to first.
    OnShelf {
        library: LibraryCode,
        homebound_to: Option<LibraryCode>,
    },
    /// On loan from `library`, due on `due_date` (the lending library's local date).
    OnLoan {
        library: LibraryCode,
        due_date: NaiveDate,
    },
    InTransit {
        from: LibraryCode,
        to: LibraryCode,
    },
    InBooth {
        booth: LibraryCode,
    },
    Lost,
    Withdrawn,
    ExchangedOut,
}

impl fmt::Display for Whereabouts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Whereabouts::OnShelf {
                library,
                homebound_to: None,
            } => write!(f, "it is on the shelf at {library}"),
            Whereabouts::OnShelf {
                library,
                homebound_to: Some(owner),
            } => write!(f, "it is on the shelf at {library}, homebound to {owner}"),
            Whereabouts::OnLoan { library, due_date } => {
                write!(f, "it is on loan from {library} until {due_date}")
            }
            Whereabouts::InTransit { from, to } => {
                write!(f, "it is in transit from {from} to {to}")
            }
            Whereabouts::InBooth { booth } => write!(f, "it is in booth {booth}"),
            Whereabouts::Lost => f.write_str("it is declared lost"),
            Whereabouts::Withdrawn => f.write_str("it is withdrawn"),
            Whereabouts::ExchangedOut => {
                f.write_str("it was taken from a booth and left the network")
            }
        }
    }
}

/// What a desk does that a booth does not, for [`Rejection::BoothIsNotADesk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskWork {
    Loans,
    Returns,
    PatronDrivenAcquisitions,
}

impl fmt::Display for DeskWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeskWork::Loans => "loans",
            DeskWork::Returns => "returns",
            DeskWork::PatronDrivenAcquisitions => "patron-driven acquisitions",
        })
    }
}

/// Why a command was refused: the rule, with the facts it found. [`Rejection::kind`] says which
/// kind of "no" it is; the message (`Display`) names the rule and the facts for people.
///
/// `field` members name the request field the rule is about (`owner_library`, `deposit`…),
/// because clients see them at the start of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    // ---- access ----
    /// The principal's role may not ask for the act, or its scope does not cover the target.
    #[error("{0}")]
    NotPermitted(Box<NotPermitted>),
    /// A kiosk acts on the kiosk channel, a booth on the booth channel; nobody on `system`.
    #[error("x-readnet-channel: principal {principal} ({grant}) may not act on the {} channel", channel_word(*channel))]
    ChannelNotPermitted {
        principal: PrincipalName,
        grant: Grant,
        channel: Channel,
    },
    #[error(
        "principal: {principal:?} is not a valid principal name (1-64 lowercase ASCII letters, digits, '-', '_', '.', '@')"
    )]
    InvalidPrincipalName { principal: String },
    #[error("principal {principal} exists already (names of revoked principals are not reused)")]
    PrincipalExists { principal: PrincipalName },
    #[error("principal {principal} does not exist")]
    PrincipalNotFound { principal: PrincipalName },
    #[error("principal {principal} is revoked")]
    PrincipalIsRevoked { principal: PrincipalName },
    #[error("grant: {reason}")]
    InvalidGrant { reason: String },
    #[error(
        "principal {principal} is the last network-admin: add another before revoking or changing it"
    )]
    LastNetworkAdmin { principal: PrincipalName },
    #[error("expires_at: {expires_at} is not after the command's time {now}")]
    TokenExpiryNotInFuture {
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },

    // ---- the acting library ----
    /// A command acted at a desk needs the acting library in request metadata.
    #[error("x-readnet-library: this command needs the acting library in request metadata")]
    ActingLibraryMissing,
    /// A library the command names is not registered.
    #[error("{field}: library {library} is not registered")]
    LibraryNotRegistered {
        field: &'static str,
        library: LibraryCode,
    },
    /// The library is closed: it neither lends nor takes in new stock.
    #[error("library {library} is closed")]
    LibraryClosed { library: LibraryCode },
    /// Booths only swap; loans, returns and acquisitions happen at desks.
    #[error("{booth} is a book-exchange booth: booths take no {work}, only swaps")]
    BoothIsNotADesk { booth: LibraryCode, work: DeskWork },
    /// A swap was asked of a library that is not a booth.
    #[error("{library} is not a book-exchange booth: swaps happen only at booths")]
    NotABooth { library: LibraryCode },

    // ---- network administration ----
    #[error("city {city} has already joined the network")]
    CityAlreadyJoined { city: CityCode },
    #[error("time_zone: {time_zone:?} is not an IANA time zone name")]
    UnknownTimeZone { time_zone: String },
    #[error("tier: a library tier is required")]
    LibraryTierRequired,
    #[error("library {library} is already registered")]
    LibraryAlreadyRegistered { library: LibraryCode },
    #[error("city: city {city} has not joined the network")]
    CityNotJoined { city: CityCode },
    #[error("policy: return_home or float_in_city is required")]
    ReturnPolicyRequired,
    #[error("kind: a charge kind (loan, return, shipping, lost) is required")]
    ChargeKindRequired,
    #[error("amount_fen: {amount_fen} is negative")]
    NegativeTariff { amount_fen: Fen },
    /// Bounds keep every sum of money far from overflow (`money::MAX_TARIFF_FEN`).
    #[error("amount_fen: {amount_fen} fen is more than the maximum tariff of {max_fen} fen")]
    TariffTooHigh { amount_fen: Fen, max_fen: Fen },
    /// A tariff set today for last week would price the same day two ways.
    #[error(
        "effective_from: {} is before the tariff is set ({}); a tariff takes effect from now on, never in the past",
        .effective_from.to_rfc3339(),
        .set_at.to_rfc3339()
    )]
    TariffInThePast {
        effective_from: DateTime<Utc>,
        set_at: DateTime<Utc>,
    },
    #[error("tier: restricted, standard or trusted is required")]
    CreditTierRequired,

    // ---- patrons ----
    /// Only cards of member cities are honoured.
    #[error("card {card} was issued by {city}, which is not a member city of the network")]
    CardCityNotMember { card: String, city: CityCode },
    /// A tier is set on an enrolled patron only.
    #[error("card {card} has not been used yet: a patron is enrolled by their first checkout")]
    PatronNotEnrolled { card: String },
    /// An unsettled lost-item debt blocks a patron.
    #[error("patron {card} is blocked: item {item} was declared lost and {owed_fen} fen is unpaid")]
    PatronBlockedLost {
        card: String,
        item: ItemCode,
        owed_fen: Fen,
    },
    /// An item overdue by more than `days` days blocks its borrower.
    #[error(
        "patron {card} is blocked: item {item} was due {due_date} and is overdue by more than {days} days"
    )]
    PatronBlockedOverdue {
        card: String,
        item: ItemCode,
        due_date: NaiveDate,
        days: i64,
    },
    /// A patron has as many items on loan as their credit tier allows.
    #[error(
        "patron {card} has {on_loan} items on loan, the limit of a {} patron is {limit}",
        tier_word(*.tier)
    )]
    LoanLimitReached {
        card: String,
        on_loan: usize,
        limit: usize,
        tier: CreditTier,
    },

    /// A patron is forgotten only once nothing of theirs is open (ADR 0018).
    #[error(
        "patron {card} cannot be forgotten: {open} (rule: a patron with loans, open holds or debts is not forgotten)"
    )]
    PatronHasOpenBusiness { card: String, open: String },
    #[error("reason: say why the patron is forgotten (request or retention)")]
    ForgetReasonRequired,
    /// Checked by the command bus, which knows how the log stores ids (ADR 0018).
    #[error(
        "patron {card} cannot be forgotten: their history was recorded before patron ids were sealed, in the clear (rule: a legacy log is cut over before its patrons can be forgotten, ADR 0018)"
    )]
    PatronRecordedInTheClear { card: String },

    // ---- cataloguing ----
    #[error("item {item} is not catalogued")]
    ItemNotCatalogued { item: ItemCode },
    #[error("{field}: item {item} is already catalogued")]
    ItemAlreadyCatalogued { field: &'static str, item: ItemCode },
    #[error("{field}.title: a title is required")]
    TitleRequired { field: &'static str },
    #[error("{field}.price_fen: must not be negative")]
    NegativePrice { field: &'static str, price_fen: Fen },
    /// Bounds keep every sum of money far from overflow (`money::MAX_PRICE_FEN`).
    #[error("{field}.price_fen: {price_fen} fen is more than the maximum price of {max_fen} fen")]
    PriceTooHigh {
        field: &'static str,
        price_fen: Fen,
        max_fen: Fen,
    },
    #[error("acquisition: purchase or donation is required")]
    AcquisitionRequired,
    /// Patron-driven books and booth deposits have commands of their own.
    #[error(
        "acquisition: patron-driven books and booth deposits are catalogued by PatronDrivenAcquisition and BoothSwap"
    )]
    AcquisitionHasItsOwnCommand { acquisition: Acquisition },

    // ---- circulation ----
    /// A checkout takes an item from the shelf of the lending library.
    #[error("item {item} is not on the shelf at {library}: {whereabouts}")]
    ItemNotOnShelf {
        item: ItemCode,
        library: LibraryCode,
        whereabouts: Whereabouts,
    },
    /// A homebound item is not lent until it is back at its owner.
    #[error("item {item} is homebound to {owner}: it is not lent again until it is back home")]
    HomeboundNotLent { item: ItemCode, owner: LibraryCode },
    /// Renewals and returns need a loan (a return also takes a lost item back).
    #[error("item {item} is not on loan: {whereabouts}")]
    ItemNotOnLoan {
        item: ItemCode,
        whereabouts: Whereabouts,
    },
    #[error("item {item} is on loan to another patron: only the borrower may renew it")]
    NotTheBorrower { item: ItemCode },
    #[error("item {item} has been renewed {renewals} times, the most allowed is {max}")]
    RenewalLimitReached {
        item: ItemCode,
        renewals: u32,
        max: u32,
    },

    // ---- transfers ----
    #[error("reason: repatriation, hold or rebalance is required")]
    TransferReasonRequired,
    /// A library dispatches only what is on its shelf or in its booth.
    #[error("item {item} is not at {library} to dispatch: {whereabouts}")]
    ItemNotAtLibrary {
        item: ItemCode,
        library: LibraryCode,
        whereabouts: Whereabouts,
    },
    #[error("to_library: {library} is where the item already is")]
    TransferToItself { library: LibraryCode },
    #[error("a repatriation goes to the item's owner {owner}, not to {to}")]
    RepatriationNotToOwner { owner: LibraryCode, to: LibraryCode },
    #[error("item {item} is homebound to {owner}: it can only be dispatched home (repatriation)")]
    HomeboundOnlyRepatriation { item: ItemCode, owner: LibraryCode },
    #[error("item {item} is not in transit: {whereabouts}")]
    ItemNotInTransit {
        item: ItemCode,
        whereabouts: Whereabouts,
    },
    #[error("item {item} is in transit to {to}, not to {library}")]
    InTransitElsewhere {
        item: ItemCode,
        to: LibraryCode,
        library: LibraryCode,
    },

    // ---- booths ----
    #[error("item {item} is not in booth {booth}: {whereabouts}")]
    ItemNotInBooth {
        item: ItemCode,
        booth: LibraryCode,
        whereabouts: Whereabouts,
    },
    #[error("deposit.item: the deposited book needs an id of its own")]
    DepositIsTakenItem { item: ItemCode },

    // ---- patron-driven acquisition ----
    #[error("book.price_fen: what the library paid the bookstore is required and must be positive")]
    PurchasePriceRequired { price_fen: Option<Fen> },

    // ---- acquisition budgets and digital lending (ADR 0019) ----
    #[error(
        "bookstore: library {library} buys patron-driven books from its partner bookstores ({partners}): name the one this book was bought at"
    )]
    BookstoreRequired {
        library: LibraryCode,
        partners: String,
    },
    #[error(
        "bookstore: {bookstore} is not a partner bookstore of library {library} (rule: patron-driven books are bought at the library's partners; RegisterBookstore)"
    )]
    BookstoreNotPartner {
        library: LibraryCode,
        bookstore: String,
    },
    #[error("bookstore: {bookstore} is a partner of library {library} already")]
    BookstoreAlreadyPartner {
        library: LibraryCode,
        bookstore: String,
    },
    #[error(
        "book.price_fen: {price_fen} fen is above library {library}'s cap of {max_fen} fen for one patron-driven book (rule: per-item price cap)"
    )]
    PurchaseAboveCap {
        library: LibraryCode,
        price_fen: Fen,
        max_fen: Fen,
    },
    #[error(
        "card {card} has had {bought} patron-driven books bought at library {library} in {month}, its quota for a reader in a month is {quota} (rule: per-reader monthly quota)"
    )]
    PurchaseQuotaReached {
        card: String,
        library: LibraryCode,
        month: String,
        bought: u32,
        quota: u32,
    },
    #[error(
        "library {library}'s patron-driven share for {year} is {share_fen} fen, {spent_fen} fen of it spent: a book of {price_fen} fen does not fit (rule: patron-driven purchases stop when the share is spent)"
    )]
    PatronDrivenShareSpent {
        library: LibraryCode,
        year: i32,
        share_fen: Fen,
        spent_fen: Fen,
        price_fen: Fen,
    },
    #[error(
        "library {library} has no acquisition budget for {year}, so no patron-driven share to spend (rule: once a library has budgets, each year needs one; SetAcquisitionBudget)"
    )]
    NoAcquisitionBudget { library: LibraryCode, year: i32 },
    #[error("year: {year} is not a budget year readnet takes (2000 to 2100)")]
    BudgetYearOutOfRange { year: i32 },
    #[error("budget_fen: {budget_fen} is not a budget: from 0 to {max_fen} fen")]
    BudgetOutOfRange { budget_fen: Fen, max_fen: Fen },
    #[error(
        "patron_driven_share_bp: {share_bp} is not a share: from 0 to 10000 basis points (2000: 20 %)"
    )]
    ShareOutOfRange { share_bp: u32 },
    #[error(
        "library {library} has spent {spent_fen} fen on patron-driven books in {year} already; a patron-driven share of {share_fen} fen would be below it"
    )]
    BudgetBelowSpend {
        library: LibraryCode,
        year: i32,
        share_fen: Fen,
        spent_fen: Fen,
    },
    #[error("{field}: {why}")]
    AcquisitionPolicyInvalid { field: &'static str, why: String },
    #[error("resource: e-resource {resource} is licensed already")]
    EResourceExists { resource: String },
    #[error("resource: no e-resource {resource} is licensed in the network")]
    EResourceNotLicensed { resource: String },
    #[error("{field}: {why}")]
    EResourceInvalid { field: &'static str, why: String },
    #[error(
        "e-resource {resource} is library {owner}'s and not shared with the network: it is lent to readers of {owner_city} only, not to card {card}"
    )]
    EResourceNotShared {
        resource: String,
        owner: LibraryCode,
        owner_city: CityCode,
        card: String,
    },
    #[error("e-resource {resource} has all its {licences} licences on loan; the first comes free at {} (rule: digital loans count against the licence)", next_free.to_rfc3339())]
    NoLicenceFree {
        resource: String,
        licences: u32,
        next_free: DateTime<Utc>,
    },
    #[error("card {card} has e-resource {resource} on loan already, until {}", expires_at.to_rfc3339())]
    DigitalLoanExists {
        card: String,
        resource: String,
        expires_at: DateTime<Utc>,
    },
    #[error("card {card} has no loan of e-resource {resource} to give back")]
    NoDigitalLoan { card: String, resource: String },
    #[error("no digital loan is due to end at {at}")]
    NoDigitalLoanDue { at: DateTime<Utc> },

    // ---- losses and withdrawal ----
    #[error("item {item} is not on loan, so it cannot be declared lost: {whereabouts}")]
    LostItemNotOnLoan {
        item: ItemCode,
        whereabouts: Whereabouts,
    },
    #[error("item {item} has no unsettled lost-item debt")]
    NoLostItemDebt { item: ItemCode },
    #[error("amount_fen: {amount_fen} is not a positive amount")]
    PaymentNotPositive { amount_fen: Fen },
    /// Bounds keep every sum of money far from overflow (`money::MAX_PAYMENT_FEN`).
    #[error("amount_fen: {amount_fen} fen is more than the maximum payment of {max_fen} fen")]
    PaymentTooHigh { amount_fen: Fen, max_fen: Fen },
    #[error("amount_fen: {amount_fen} is more than the {owed_fen} fen owed for item {item}")]
    PaymentExceedsDebt {
        item: ItemCode,
        amount_fen: Fen,
        owed_fen: Fen,
    },
    /// Only an item on a shelf, in a booth or lost can be withdrawn.
    #[error("item {item} cannot be withdrawn now: {whereabouts}")]
    NotWithdrawable {
        item: ItemCode,
        whereabouts: Whereabouts,
    },

    // ---- the library tree (docs/rules.md) ----
    #[error(
        "library {library}: city {city} has its central library already, {central} (rule: one central library per city)"
    )]
    SecondCentralLibrary {
        library: LibraryCode,
        city: CityCode,
        central: LibraryCode,
    },
    #[error(
        "parent: {parent} is in city {parent_city}, {library} in {city} (rule: a library's parent is in its own city)"
    )]
    ParentInOtherCity {
        library: LibraryCode,
        city: CityCode,
        parent: LibraryCode,
        parent_city: CityCode,
    },
    #[error(
        "parent: a {} library cannot be under {parent}, a {} library (rule: {})",
        tier_name(*tier),
        tier_name(*parent_tier),
        parent_rule(*tier)
    )]
    ParentTierNotAllowed {
        library: LibraryCode,
        tier: LibraryTier,
        parent: LibraryCode,
        parent_tier: LibraryTier,
    },
    #[error(
        "parent: {parent} is {library} itself or below it (rule: the library tree has no cycles)"
    )]
    TreeCycle {
        library: LibraryCode,
        parent: LibraryCode,
    },
    #[error(
        "tier: {library} cannot become a {} library: {child}, a {} library, is under it (rule: {})",
        tier_name(*tier),
        tier_name(*child_tier),
        parent_rule(*child_tier)
    )]
    ChildTierNotAllowed {
        library: LibraryCode,
        tier: LibraryTier,
        child: LibraryCode,
        child_tier: LibraryTier,
    },
    #[error("{library}: {what} is already {value}; nothing to change")]
    LibraryUnchanged {
        library: LibraryCode,
        what: &'static str,
        value: String,
    },
    #[error("name: a library's name is required")]
    LibraryNameRequired,

    // ---- calendars and closures (docs/rules.md) ----
    #[error("city or library: a calendar is a city's default (city) or a library's own (library)")]
    CalendarOwnerRequired,
    #[error(
        "week: {weekday}'s opening hours {open_minute}-{close_minute} are not minutes 0-1440 with the opening first (equal: closed that day)"
    )]
    OpeningHoursInvalid {
        weekday: &'static str,
        open_minute: u32,
        close_minute: u32,
    },
    #[error("until_date: {until} is before the closure's first day {from}")]
    ClosureEndsBeforeItStarts { from: NaiveDate, until: NaiveDate },
    #[error(
        "from_date: {from} is in the past (today is {today} at {library}); a closure starts today or later"
    )]
    ClosureInThePast {
        library: LibraryCode,
        from: NaiveDate,
        today: NaiveDate,
    },
    #[error("library {library} is not closed temporarily, and no closure of it is planned")]
    NotClosedTemporarily { library: LibraryCode },
    #[error(
        "library {library} is closed {}: no {work} until it opens again{}",
        closed_text(why),
        next_open.map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M %Z"))).unwrap_or_else(|| " (no opening within a year)".into())
    )]
    ClosedNow {
        library: LibraryCode,
        work: DeskWork,
        why: ClosedWhy,
        next_open: Option<DateTime<chrono_tz::Tz>>,
    },

    // ---- honest time (docs/rules.md) ----
    #[error(
        "occurred_at: {} is before {what} {name} {verb} ({}); nothing of it happens before that",
        occurred_at.to_rfc3339(),
        since.to_rfc3339()
    )]
    BeforeItExisted {
        what: &'static str,
        name: String,
        verb: &'static str,
        since: DateTime<Utc>,
        occurred_at: DateTime<Utc>,
    },

    // ---- small rules ----
    #[error(
        "{field}: {isbn:?} is not a valid ISBN: {why} (rule: ISBN-10 and ISBN-13 check digits are checked)"
    )]
    InvalidIsbn {
        field: &'static str,
        isbn: String,
        why: &'static str,
    },
    #[error(
        "item {item} is due {due_date} already: a renewal now would not move its due date (rule: a renewal that changes nothing is not recorded)"
    )]
    RenewalChangesNothing { item: ItemCode, due_date: NaiveDate },

    // ---- holds (ADR 0013) ----
    #[error("a hold names a title (isbn, or title and author) or an item")]
    HoldTargetRequired,
    #[error("title {title_key}: no copy of it is catalogued in the network")]
    TitleNotCatalogued { title_key: String },
    #[error(
        "item {item} cannot be held: {whereabouts} (rule: a hold is placed on an item the network still has)"
    )]
    ItemNotHoldable {
        item: ItemCode,
        whereabouts: Whereabouts,
    },
    #[error(
        "pickup_library: {library} is not a pickup point (rule: holds are picked up at an open central, general or branch library, or at one marked as a delivery point; never at a booth)"
    )]
    NotAPickupPoint { library: LibraryCode },
    #[error(
        "card {card} has {open} open holds, the most a patron may have (rule: at most {limit} open holds per patron)"
    )]
    HoldLimitReached {
        card: String,
        open: usize,
        limit: usize,
    },
    #[error(
        "card {card} already has item {item} of this title on loan (rule: no hold on an item the patron already has)"
    )]
    AlreadyHasItem { card: String, item: ItemCode },
    #[error("card {card} already has hold {hold} for this (rule: one open hold per title or item)")]
    HoldAlreadyPlaced { card: String, hold: u64 },
    #[error("hold {hold} is not open (never placed, or filled, cancelled or expired)")]
    HoldNotFound { hold: u64 },
    #[error("hold {hold} is another patron's: only its holder's card or staff may cancel it")]
    NotTheHolder { hold: u64 },
    #[error(
        "card: cancelling hold {hold} without the holder's card is staff work, at a desk (channel {})",
        channel_word(*channel)
    )]
    HolderCardRequired { hold: u64, channel: Channel },
    #[error(
        "item {item} is set aside for hold {hold} (pickup at {pickup}): only the holder may check it out (rule: a held copy is lent to its holder only)"
    )]
    HeldForAnother {
        item: ItemCode,
        hold: u64,
        pickup: LibraryCode,
    },
    #[error(
        "item {item}: a hold transfer needs a hold behind it, and no hold has this copy (rule: no hold transfer without a hold)"
    )]
    HoldTransferWithoutHold { item: ItemCode },
    #[error(
        "item {item} is set aside for hold {hold}: it travels only as a hold transfer (reason hold)"
    )]
    HeldItemOnlyHoldTransfer { item: ItemCode, hold: u64 },
    #[error(
        "to_library: item {item} travels for hold {hold} to {pickup}{}, not to {to} (rule: a hold leg goes to the pickup library or through the city's distribution centre)",
        centre.as_ref().map(|c| format!(" or through {c}")).unwrap_or_default()
    )]
    HoldLegNotOnRoute {
        item: ItemCode,
        hold: u64,
        to: LibraryCode,
        pickup: LibraryCode,
        centre: Option<LibraryCode>,
    },
    #[error("no hold is due to expire at {at}")]
    NoHoldDue { at: DateTime<Utc> },
    #[error("the clock ticked at {last} already, not before {at}")]
    ClockNotLater {
        at: DateTime<Utc>,
        last: DateTime<Utc>,
    },
    #[error(
        "gateway: {gateway:?} is not a gateway name (lower-case letters, digits and hyphens, 1 to 64)"
    )]
    BadGatewayName { gateway: String },
    #[error("gate: {gate:?} is not a gate name (lower-case letters, digits and hyphens, 1 to 64)")]
    BadGateName { gate: String },
    #[error(
        "interval_end: {to} must be after interval_start {from}, at most a day later and not after the report"
    )]
    BadFootfallInterval {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error(
        "interval_start: gate {gate} of library {library} has reported through {reported_through} \
         already; an interval from {from} would count visits twice (a gate reports its intervals \
         in order, each once)"
    )]
    FootfallAlreadyReported {
        library: LibraryCode,
        gate: String,
        from: DateTime<Utc>,
        reported_through: DateTime<Utc>,
    },
    #[error(
        "through_sequence: gateway {gateway} acknowledged notices through {acked} already, not back to {through_sequence} (rule: a gateway's checkpoint only moves forward)"
    )]
    NoticeAckBackwards {
        gateway: String,
        through_sequence: u64,
        acked: u64,
    },
}

impl Rejection {
    /// Which kind of "no" this is: what the server maps to a gRPC status code.
    pub fn kind(&self) -> RejectionKind {
        use RejectionKind::{
            AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied,
        };
        match self {
            Rejection::ActingLibraryMissing
            | Rejection::UnknownTimeZone { .. }
            | Rejection::LibraryTierRequired
            | Rejection::ReturnPolicyRequired
            | Rejection::ChargeKindRequired
            | Rejection::NegativeTariff { .. }
            | Rejection::TariffTooHigh { .. }
            | Rejection::TariffInThePast { .. }
            | Rejection::CreditTierRequired
            | Rejection::ForgetReasonRequired
            | Rejection::TitleRequired { .. }
            | Rejection::NegativePrice { .. }
            | Rejection::PriceTooHigh { .. }
            | Rejection::AcquisitionRequired
            | Rejection::AcquisitionHasItsOwnCommand { .. }
            | Rejection::TransferReasonRequired
            | Rejection::TransferToItself { .. }
            | Rejection::DepositIsTakenItem { .. }
            | Rejection::PurchasePriceRequired { .. }
            | Rejection::PaymentNotPositive { .. }
            | Rejection::PaymentTooHigh { .. }
            | Rejection::InvalidPrincipalName { .. }
            | Rejection::InvalidGrant { .. }
            | Rejection::TokenExpiryNotInFuture { .. }
            | Rejection::LibraryNameRequired
            | Rejection::CalendarOwnerRequired
            | Rejection::OpeningHoursInvalid { .. }
            | Rejection::ClosureEndsBeforeItStarts { .. }
            | Rejection::ClosureInThePast { .. }
            | Rejection::BeforeItExisted { .. }
            | Rejection::InvalidIsbn { .. } => InvalidArgument,
            Rejection::SecondCentralLibrary { .. }
            | Rejection::ParentInOtherCity { .. }
            | Rejection::ParentTierNotAllowed { .. }
            | Rejection::TreeCycle { .. }
            | Rejection::ChildTierNotAllowed { .. }
            | Rejection::LibraryUnchanged { .. }
            | Rejection::NotClosedTemporarily { .. }
            | Rejection::ClosedNow { .. }
            | Rejection::RenewalChangesNothing { .. } => FailedPrecondition,
            Rejection::NotPermitted(_) | Rejection::ChannelNotPermitted { .. } => PermissionDenied,
            Rejection::PrincipalNotFound { .. } => NotFound,
            Rejection::PrincipalExists { .. } => AlreadyExists,
            Rejection::PrincipalIsRevoked { .. } | Rejection::LastNetworkAdmin { .. } => {
                FailedPrecondition
            }
            Rejection::LibraryNotRegistered { .. }
            | Rejection::CityNotJoined { .. }
            | Rejection::PatronNotEnrolled { .. }
            | Rejection::ItemNotCatalogued { .. } => NotFound,
            Rejection::CityAlreadyJoined { .. }
            | Rejection::LibraryAlreadyRegistered { .. }
            | Rejection::ItemAlreadyCatalogued { .. } => AlreadyExists,
            Rejection::LibraryClosed { .. }
            | Rejection::BoothIsNotADesk { .. }
            | Rejection::NotABooth { .. }
            | Rejection::CardCityNotMember { .. }
            | Rejection::PatronBlockedLost { .. }
            | Rejection::PatronBlockedOverdue { .. }
            | Rejection::PatronHasOpenBusiness { .. }
            | Rejection::PatronRecordedInTheClear { .. }
            | Rejection::LoanLimitReached { .. }
            | Rejection::ItemNotOnShelf { .. }
            | Rejection::HomeboundNotLent { .. }
            | Rejection::ItemNotOnLoan { .. }
            | Rejection::NotTheBorrower { .. }
            | Rejection::RenewalLimitReached { .. }
            | Rejection::ItemNotAtLibrary { .. }
            | Rejection::RepatriationNotToOwner { .. }
            | Rejection::HomeboundOnlyRepatriation { .. }
            | Rejection::ItemNotInTransit { .. }
            | Rejection::InTransitElsewhere { .. }
            | Rejection::ItemNotInBooth { .. }
            | Rejection::LostItemNotOnLoan { .. }
            | Rejection::NoLostItemDebt { .. }
            | Rejection::PaymentExceedsDebt { .. }
            | Rejection::NotWithdrawable { .. }
            | Rejection::ItemNotHoldable { .. }
            | Rejection::NotAPickupPoint { .. }
            | Rejection::HoldLimitReached { .. }
            | Rejection::AlreadyHasItem { .. }
            | Rejection::HoldAlreadyPlaced { .. }
            | Rejection::NotTheHolder { .. }
            | Rejection::HolderCardRequired { .. }
            | Rejection::HeldForAnother { .. }
            | Rejection::HoldTransferWithoutHold { .. }
            | Rejection::HeldItemOnlyHoldTransfer { .. }
            | Rejection::HoldLegNotOnRoute { .. }
            | Rejection::NoHoldDue { .. }
            | Rejection::ClockNotLater { .. }
            | Rejection::NoticeAckBackwards { .. }
            | Rejection::FootfallAlreadyReported { .. } => FailedPrecondition,
            Rejection::BookstoreRequired { .. }
            | Rejection::BudgetYearOutOfRange { .. }
            | Rejection::BudgetOutOfRange { .. }
            | Rejection::ShareOutOfRange { .. }
            | Rejection::AcquisitionPolicyInvalid { .. }
            | Rejection::EResourceInvalid { .. } => InvalidArgument,
            Rejection::BookstoreNotPartner { .. }
            | Rejection::PurchaseAboveCap { .. }
            | Rejection::PurchaseQuotaReached { .. }
            | Rejection::PatronDrivenShareSpent { .. }
            | Rejection::NoAcquisitionBudget { .. }
            | Rejection::BudgetBelowSpend { .. }
            | Rejection::EResourceNotShared { .. }
            | Rejection::NoLicenceFree { .. }
            | Rejection::DigitalLoanExists { .. }
            | Rejection::NoDigitalLoan { .. }
            | Rejection::NoDigitalLoanDue { .. } => FailedPrecondition,
            Rejection::EResourceNotLicensed { .. } => NotFound,
            Rejection::BookstoreAlreadyPartner { .. } | Rejection::EResourceExists { .. } => {
                AlreadyExists
            }
            Rejection::HoldTargetRequired
            | Rejection::BadGatewayName { .. }
            | Rejection::BadGateName { .. }
            | Rejection::BadFootfallInterval { .. } => InvalidArgument,
            Rejection::TitleNotCatalogued { .. } | Rejection::HoldNotFound { .. } => NotFound,
        }
    }

    /// The rule's name, as a recorded refusal keeps it (`CommandRefused.rule`): the variant's
    /// name, e.g. `ItemNotOnShelf`. Part of the log's contract: a rule keeps its name.
    pub fn rule(&self) -> &'static str {
        match self {
            Rejection::NotPermitted(_) => "NotPermitted",
            Rejection::ChannelNotPermitted { .. } => "ChannelNotPermitted",
            Rejection::InvalidPrincipalName { .. } => "InvalidPrincipalName",
            Rejection::PrincipalExists { .. } => "PrincipalExists",
            Rejection::PrincipalNotFound { .. } => "PrincipalNotFound",
            Rejection::PrincipalIsRevoked { .. } => "PrincipalIsRevoked",
            Rejection::InvalidGrant { .. } => "InvalidGrant",
            Rejection::LastNetworkAdmin { .. } => "LastNetworkAdmin",
            Rejection::TokenExpiryNotInFuture { .. } => "TokenExpiryNotInFuture",
            Rejection::ActingLibraryMissing => "ActingLibraryMissing",
            Rejection::LibraryNotRegistered { .. } => "LibraryNotRegistered",
            Rejection::LibraryClosed { .. } => "LibraryClosed",
            Rejection::BoothIsNotADesk { .. } => "BoothIsNotADesk",
            Rejection::NotABooth { .. } => "NotABooth",
            Rejection::CityAlreadyJoined { .. } => "CityAlreadyJoined",
            Rejection::UnknownTimeZone { .. } => "UnknownTimeZone",
            Rejection::LibraryTierRequired => "LibraryTierRequired",
            Rejection::LibraryAlreadyRegistered { .. } => "LibraryAlreadyRegistered",
            Rejection::CityNotJoined { .. } => "CityNotJoined",
            Rejection::ReturnPolicyRequired => "ReturnPolicyRequired",
            Rejection::ChargeKindRequired => "ChargeKindRequired",
            Rejection::NegativeTariff { .. } => "NegativeTariff",
            Rejection::TariffTooHigh { .. } => "TariffTooHigh",
            Rejection::TariffInThePast { .. } => "TariffInThePast",
            Rejection::CreditTierRequired => "CreditTierRequired",
            Rejection::CardCityNotMember { .. } => "CardCityNotMember",
            Rejection::PatronNotEnrolled { .. } => "PatronNotEnrolled",
            Rejection::PatronBlockedLost { .. } => "PatronBlockedLost",
            Rejection::PatronBlockedOverdue { .. } => "PatronBlockedOverdue",
            Rejection::PatronHasOpenBusiness { .. } => "PatronHasOpenBusiness",
            Rejection::ForgetReasonRequired => "ForgetReasonRequired",
            Rejection::PatronRecordedInTheClear { .. } => "PatronRecordedInTheClear",
            Rejection::LoanLimitReached { .. } => "LoanLimitReached",
            Rejection::ItemNotCatalogued { .. } => "ItemNotCatalogued",
            Rejection::ItemAlreadyCatalogued { .. } => "ItemAlreadyCatalogued",
            Rejection::TitleRequired { .. } => "TitleRequired",
            Rejection::NegativePrice { .. } => "NegativePrice",
            Rejection::PriceTooHigh { .. } => "PriceTooHigh",
            Rejection::AcquisitionRequired => "AcquisitionRequired",
            Rejection::AcquisitionHasItsOwnCommand { .. } => "AcquisitionHasItsOwnCommand",
            Rejection::ItemNotOnShelf { .. } => "ItemNotOnShelf",
            Rejection::HomeboundNotLent { .. } => "HomeboundNotLent",
            Rejection::ItemNotOnLoan { .. } => "ItemNotOnLoan",
            Rejection::NotTheBorrower { .. } => "NotTheBorrower",
            Rejection::RenewalLimitReached { .. } => "RenewalLimitReached",
            Rejection::TransferReasonRequired => "TransferReasonRequired",
            Rejection::ItemNotAtLibrary { .. } => "ItemNotAtLibrary",
            Rejection::TransferToItself { .. } => "TransferToItself",
            Rejection::RepatriationNotToOwner { .. } => "RepatriationNotToOwner",
            Rejection::HomeboundOnlyRepatriation { .. } => "HomeboundOnlyRepatriation",
            Rejection::ItemNotInTransit { .. } => "ItemNotInTransit",
            Rejection::InTransitElsewhere { .. } => "InTransitElsewhere",
            Rejection::ItemNotInBooth { .. } => "ItemNotInBooth",
            Rejection::DepositIsTakenItem { .. } => "DepositIsTakenItem",
            Rejection::PurchasePriceRequired { .. } => "PurchasePriceRequired",
            Rejection::LostItemNotOnLoan { .. } => "LostItemNotOnLoan",
            Rejection::NoLostItemDebt { .. } => "NoLostItemDebt",
            Rejection::PaymentNotPositive { .. } => "PaymentNotPositive",
            Rejection::PaymentTooHigh { .. } => "PaymentTooHigh",
            Rejection::PaymentExceedsDebt { .. } => "PaymentExceedsDebt",
            Rejection::NotWithdrawable { .. } => "NotWithdrawable",
            Rejection::HoldTargetRequired => "HoldTargetRequired",
            Rejection::TitleNotCatalogued { .. } => "TitleNotCatalogued",
            Rejection::ItemNotHoldable { .. } => "ItemNotHoldable",
            Rejection::NotAPickupPoint { .. } => "NotAPickupPoint",
            Rejection::HoldLimitReached { .. } => "HoldLimitReached",
            Rejection::AlreadyHasItem { .. } => "AlreadyHasItem",
            Rejection::HoldAlreadyPlaced { .. } => "HoldAlreadyPlaced",
            Rejection::HoldNotFound { .. } => "HoldNotFound",
            Rejection::NotTheHolder { .. } => "NotTheHolder",
            Rejection::HolderCardRequired { .. } => "HolderCardRequired",
            Rejection::HeldForAnother { .. } => "HeldForAnother",
            Rejection::HoldTransferWithoutHold { .. } => "HoldTransferWithoutHold",
            Rejection::HeldItemOnlyHoldTransfer { .. } => "HeldItemOnlyHoldTransfer",
            Rejection::HoldLegNotOnRoute { .. } => "HoldLegNotOnRoute",
            Rejection::NoHoldDue { .. } => "NoHoldDue",
            Rejection::SecondCentralLibrary { .. } => "SecondCentralLibrary",
            Rejection::ParentInOtherCity { .. } => "ParentInOtherCity",
            Rejection::ParentTierNotAllowed { .. } => "ParentTierNotAllowed",
            Rejection::TreeCycle { .. } => "TreeCycle",
            Rejection::ChildTierNotAllowed { .. } => "ChildTierNotAllowed",
            Rejection::LibraryUnchanged { .. } => "LibraryUnchanged",
            Rejection::LibraryNameRequired => "LibraryNameRequired",
            Rejection::CalendarOwnerRequired => "CalendarOwnerRequired",
            Rejection::OpeningHoursInvalid { .. } => "OpeningHoursInvalid",
            Rejection::ClosureEndsBeforeItStarts { .. } => "ClosureEndsBeforeItStarts",
            Rejection::ClosureInThePast { .. } => "ClosureInThePast",
            Rejection::NotClosedTemporarily { .. } => "NotClosedTemporarily",
            Rejection::ClosedNow { .. } => "ClosedNow",
            Rejection::BeforeItExisted { .. } => "BeforeItExisted",
            Rejection::InvalidIsbn { .. } => "InvalidIsbn",
            Rejection::RenewalChangesNothing { .. } => "RenewalChangesNothing",
            Rejection::ClockNotLater { .. } => "ClockNotLater",
            Rejection::BadGatewayName { .. } => "BadGatewayName",
            Rejection::NoticeAckBackwards { .. } => "NoticeAckBackwards",
            Rejection::BookstoreRequired { .. } => "BookstoreRequired",
            Rejection::BookstoreNotPartner { .. } => "BookstoreNotPartner",
            Rejection::BookstoreAlreadyPartner { .. } => "BookstoreAlreadyPartner",
            Rejection::PurchaseAboveCap { .. } => "PurchaseAboveCap",
            Rejection::PurchaseQuotaReached { .. } => "PurchaseQuotaReached",
            Rejection::PatronDrivenShareSpent { .. } => "PatronDrivenShareSpent",
            Rejection::NoAcquisitionBudget { .. } => "NoAcquisitionBudget",
            Rejection::BudgetYearOutOfRange { .. } => "BudgetYearOutOfRange",
            Rejection::BudgetOutOfRange { .. } => "BudgetOutOfRange",
            Rejection::ShareOutOfRange { .. } => "ShareOutOfRange",
            Rejection::BudgetBelowSpend { .. } => "BudgetBelowSpend",
            Rejection::AcquisitionPolicyInvalid { .. } => "AcquisitionPolicyInvalid",
            Rejection::EResourceExists { .. } => "EResourceExists",
            Rejection::EResourceNotLicensed { .. } => "EResourceNotLicensed",
            Rejection::EResourceInvalid { .. } => "EResourceInvalid",
            Rejection::EResourceNotShared { .. } => "EResourceNotShared",
            Rejection::NoLicenceFree { .. } => "NoLicenceFree",
            Rejection::DigitalLoanExists { .. } => "DigitalLoanExists",
            Rejection::NoDigitalLoan { .. } => "NoDigitalLoan",
            Rejection::NoDigitalLoanDue { .. } => "NoDigitalLoanDue",
            Rejection::BadGateName { .. } => "BadGateName",
            Rejection::BadFootfallInterval { .. } => "BadFootfallInterval",
            Rejection::FootfallAlreadyReported { .. } => "FootfallAlreadyReported",
        }
    }

    /// Whether a retry of the refused command id is answered with this refusal again, because
    /// the ledger records it (ADR 0010): every refusal but a role's. A principal whose role may
    /// never give the command (an auditor's checkout) writes nothing to the log by asking; its
    /// retries are decided again, and refused the same way until an administrator changes its
    /// role.
    ///
    /// A sweep that finds no hold (or digital loan) due (`NoHoldDue`, `NoDigitalLoanDue`), and a clock tick that is not later than
    /// the last (`ClockNotLater`), are not recorded either: it changed nothing,
    /// and a periodic sweep would otherwise fill the log with its "nothing to do".
    pub fn is_recorded(&self) -> bool {
        !matches!(self, Rejection::NotPermitted(denied) if denied.why == Denial::Role)
            && !matches!(
                self,
                Rejection::NoHoldDue { .. }
                    | Rejection::ClockNotLater { .. }
                    | Rejection::NoDigitalLoanDue { .. }
            )
    }
}

/// An act refused to a principal: who, with which grant, what, for what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPermitted {
    pub principal: PrincipalName,
    pub grant: Grant,
    pub act: Act,
    pub target: Option<Target>,
    pub why: Denial,
}

/// The message names the principal, its role and scope, the act and what it was refused for.
impl fmt::Display for NotPermitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            principal,
            grant,
            act,
            target,
            why,
        } = self;
        write!(f, "principal {principal} ({grant}) may not {}", act.name())?;
        if let Some(target) = target {
            write!(f, " for {target}")?;
        }
        match why {
            Denial::Role => write!(f, ": only {} may", roles_text(*act)),
            Denial::Scope => f.write_str(": it is outside its scope"),
        }
    }
}

fn channel_word(channel: Channel) -> &'static str {
    match channel {
        Channel::Unspecified => "unspecified",
        Channel::Desk => "desk",
        Channel::Kiosk => "kiosk",
        Channel::Booth => "booth",
        Channel::App => "app",
        Channel::System => "system",
    }
}

/// A credit tier as messages name it.
fn tier_word(tier: CreditTier) -> &'static str {
    match tier {
        CreditTier::Restricted => "restricted",
        CreditTier::Trusted => "trusted",
        CreditTier::Standard | CreditTier::Unspecified => "standard",
    }
}

/// A library tier as messages name it.
pub(crate) fn tier_name(tier: LibraryTier) -> &'static str {
    match tier {
        LibraryTier::Unspecified => "unspecified",
        LibraryTier::Central => "central",
        LibraryTier::General => "general",
        LibraryTier::Branch => "branch",
        LibraryTier::ServicePoint => "service point",
        LibraryTier::SelfService => "24-hour",
        LibraryTier::Booth => "booth",
    }
}

/// Which parents a tier may have, as the tree rule says it.
fn parent_rule(tier: LibraryTier) -> &'static str {
    match tier {
        LibraryTier::Central => "a central library has no parent",
        LibraryTier::General => "a general library is under its city's central library",
        LibraryTier::Branch => "a branch is under a general or the central library",
        LibraryTier::ServicePoint => {
            "a service point is under a branch, a general or the central library"
        }
        LibraryTier::SelfService | LibraryTier::Booth | LibraryTier::Unspecified => {
            "24-hour libraries and booths are under any library but a 24-hour library or a booth"
        }
    }
}

fn closed_text(why: &ClosedWhy) -> String {
    match why {
        ClosedWhy::ClosedDay { date } => format!("on {date} (a closed day of its calendar)"),
        ClosedWhy::Closure { reason, last_day } => {
            format!("temporarily through {last_day} ({reason})")
        }
    }
}
