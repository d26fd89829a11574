//! The edge: request metadata, field validation, and requests turned into domain commands.
//! Everything a client sends is checked here once; a malformed field is an INVALID_ARGUMENT
//! naming it.

use chrono::{DateTime, TimeZone, Utc};
use readnet_domain::pb::{self, Channel};
use readnet_domain::{
    CityCode, Command, Fen, Grant, HoldTarget, ItemCode, LibraryCode, NewBook, PatronKey,
    PatronRef, PrincipalName, Role, Scope,
};
use readnet_projection::access::Authenticated;
use readnet_proto::Timestamp;
use tonic::metadata::MetadataMap;
use uuid::Uuid;

use crate::error::ServerError;

/// Request metadata naming the acting library.
pub const LIBRARY_HEADER: &str = "x-readnet-library";
/// Request metadata naming the channel (desk, kiosk, booth, app, system).
pub const CHANNEL_HEADER: &str = "x-readnet-channel";

/// How far in the future an `occurred_at` may be (clock skew between desk and ledger).
pub const MAX_FUTURE_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Where and through what the caller acts: the acting library and the channel, from the
/// caller's grant and the request metadata, read in this one place. Whether the caller may act
/// there is the domain's to decide (`readnet_domain::access::authorize`), with the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub library: Option<LibraryCode>,
    pub channel: Channel,
}

impl Actor {
    /// The acting library is the one `x-readnet-library` names; a principal over exactly one
    /// library acts there without naming it, one over several must name one. The channel is
    /// the one `x-readnet-channel` names, else the role's own (kiosk, booth, desk).
    pub fn resolve(caller: &Authenticated, metadata: &MetadataMap) -> Result<Self, ServerError> {
        let text = |name: &str| -> Result<Option<String>, ServerError> {
            match metadata.get(name) {
                None => Ok(None),
                Some(value) => value
                    .to_str()
                    .map(|s| Some(s.trim().to_owned()))
                    .map_err(|_| {
                        ServerError::invalid(format!("{name}: metadata value is not ASCII text"))
                    }),
            }
        };
        let named = match text(LIBRARY_HEADER)? {
            Some(code) if !code.is_empty() => Some(library_code(&code, LIBRARY_HEADER)?),
            _ => None,
        };
        let authority = &caller.authority;
        let library = match (&authority.grant.scope, named) {
            (_, Some(named)) => Some(named),
            (Scope::Libraries(libraries), None) if libraries.len() == 1 => {
                libraries.first().cloned()
            }
            (Scope::Libraries(libraries), None) => {
                return Err(ServerError::invalid(format!(
                    "{LIBRARY_HEADER}: principal {} acts for {} libraries ({}); name the one acting",
                    authority.principal,
                    libraries.len(),
                    authority.grant.scope
                )));
            }
            (_, None) => None,
        };
        let channel = match text(CHANNEL_HEADER)?.as_deref() {
            None | Some("") => match authority.role() {
                Role::Kiosk => Channel::Kiosk,
                Role::Booth => Channel::Booth,
                _ => Channel::Desk,
            },
            Some("desk") => Channel::Desk,
            Some("kiosk") => Channel::Kiosk,
            Some("booth") => Channel::Booth,
            Some("app") => Channel::App,
            Some("system") => Channel::System,
            Some(other) => {
                return Err(ServerError::invalid(format!(
                    "{CHANNEL_HEADER}: {} is not one of desk, kiosk, booth, app, system",
                    quote(other)
                )));
            }
        };
        Ok(Self { library, channel })
    }
}

fn is_code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// An item or library code: 1–64 characters of ASCII letters, digits, `-`, `_`, `.`.
fn code(value: &str, field: &str, what: &str) -> Result<String, ServerError> {
    if value.is_empty() {
        return Err(ServerError::invalid(format!("{field}: {what} is required")));
    }
    if value.len() > 64 || !value.chars().all(is_code_char) {
        return Err(ServerError::invalid(format!(
            "{field}: {} is not a valid {what} (1-64 ASCII letters, digits, '-', '_', '.')",
            quote(value)
        )));
    }
    Ok(value.to_owned())
}

pub fn item_code(value: &str, field: &str) -> Result<ItemCode, ServerError> {
    code(value, field, "item id").map(ItemCode::from)
}

pub fn library_code(value: &str, field: &str) -> Result<LibraryCode, ServerError> {
    code(value, field, "library code").map(LibraryCode::from)
}

/// A city code: 1–32 lowercase ASCII letters, digits or `-`, starting with a letter.
pub fn city_code(value: &str, field: &str) -> Result<CityCode, ServerError> {
    let ok = value.len() <= 32
        && value.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if value.is_empty() {
        return Err(ServerError::invalid(format!(
            "{field}: a city code is required"
        )));
    }
    if !ok {
        return Err(ServerError::invalid(format!(
            "{field}: {} is not a valid city code (lowercase letters, digits, '-')",
            quote(value)
        )));
    }
    Ok(value.into())
}

pub fn uuid(value: &str, field: &str) -> Result<Uuid, ServerError> {
    if value.is_empty() {
        return Err(ServerError::invalid(format!("{field}: a UUID is required")));
    }
    Uuid::parse_str(value)
        .map_err(|_| ServerError::invalid(format!("{field}: {} is not a UUID", quote(value))))
}

pub fn optional_uuid(value: &str, field: &str) -> Result<Option<Uuid>, ServerError> {
    if value.is_empty() {
        Ok(None)
    } else {
        uuid(value, field).map(Some)
    }
}

/// A well-formed timestamp between 2000-01-01 and 2100-01-01.
pub fn valid_timestamp(ts: &Timestamp, field: &str) -> Result<DateTime<Utc>, ServerError> {
    let at = (0..1_000_000_000)
        .contains(&ts.nanos)
        .then(|| Utc.timestamp_opt(ts.seconds, ts.nanos as u32).single())
        .flatten()
        .ok_or_else(|| {
            ServerError::invalid(format!(
                "{field}: {}s {}ns is not a valid timestamp",
                ts.seconds, ts.nanos
            ))
        })?;
    let earliest = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let latest = Utc
        .with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    if at < earliest || at >= latest {
        return Err(ServerError::invalid(format!(
            "{field}: {} is out of range: readnet accepts 2000-01-01 to 2100-01-01",
            at.to_rfc3339()
        )));
    }
    Ok(at)
}

/// When a command happened: absent → `None` (the caller uses now); present → a valid
/// timestamp no later than 5 minutes from now.
pub fn timestamp(
    value: Option<&Timestamp>,
    field: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ServerError> {
    let Some(ts) = value else { return Ok(None) };
    let at = valid_timestamp(ts, field)?;
    if at > now + MAX_FUTURE_SKEW {
        return Err(ServerError::invalid(format!(
            "{field}: {} is in the future: it may be at most 5 minutes after now ({})",
            at.to_rfc3339(),
            now.to_rfc3339()
        )));
    }
    Ok(Some(at))
}

/// Microsecond precision: what the ledger stores.
pub fn to_timestamp_us(us: i64) -> Timestamp {
    Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// An amount of fen, 0 or more.
fn non_negative(value: i64, field: &str) -> Result<Fen, ServerError> {
    if value < 0 {
        return Err(ServerError::invalid(format!(
            "{field}: {value} is negative; amounts are fen, 0 or more"
        )));
    }
    Ok(Fen(value))
}

/// A free-text field (a name, a title, a reason): at most `max` characters, and none that
/// would change how it reads where it is printed: control characters (C0, C1, DEL) and the
/// bidirectional overrides and isolates that can make a title display as something else.
fn text(value: &str, field: &str, max: usize) -> Result<String, ServerError> {
    if value.chars().count() > max {
        return Err(ServerError::invalid(format!(
            "{field}: longer than {max} characters"
        )));
    }
    if let Some((at, c)) = value.chars().enumerate().find(|(_, c)| hidden(*c)) {
        return Err(ServerError::invalid(format!(
            "{field}: character {} is U+{:04X}, a control or bidirectional-formatting \
             character, which names and titles may not hold",
            at + 1,
            u32::from(c)
        )));
    }
    Ok(value.trim().to_owned())
}

/// A character that changes how text displays without being seen itself.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// A client's value as an error message quotes it: at most its first 32 characters, so that a
/// megabyte of bad input does not come back in the answer.
fn quote(value: &str) -> String {
    const SHOWN: usize = 32;
    match value.char_indices().nth(SHOWN) {
        None => format!("{value:?}"),
        Some((end, _)) => format!(
            "{:?}… ({} characters)",
            &value[..end],
            value.chars().count()
        ),
    }
}

fn enum_field<E: TryFrom<i32>>(value: i32, field: &str) -> Result<E, ServerError> {
    E::try_from(value)
        .map_err(|_| ServerError::invalid(format!("{field}: {value} is not a known value")))
}

/// Turns a card into a patron reference; the card number goes no further than the hash.
pub fn patron(
    card: Option<&pb::Card>,
    field: &str,
    key: &PatronKey,
) -> Result<PatronRef, ServerError> {
    let card = card.ok_or_else(|| {
        ServerError::invalid(format!("{field}: a card (city and number) is required"))
    })?;
    let city = city_code(&card.city, &format!("{field}.city"))?;
    // The check character of a resident ID number is written x or X: one card, one patron.
    let number = card.number.trim().to_ascii_uppercase();
    if number.is_empty() || number.len() > 32 || !number.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ServerError::invalid(format!(
            "{field}.number: a card number is 1-32 ASCII letters or digits"
        )));
    }
    // Messages show the last four characters of a long number only.
    let masked = if number.len() >= 10 {
        format!("{city}:****{}", &number[number.len() - 4..])
    } else {
        format!("{city}:****")
    };
    Ok(PatronRef {
        patron_id: key.patron_id(city.as_str(), &number),
        masked_card: masked,
        city,
    })
}

fn book(b: Option<&pb::BookDescription>, field: &str) -> Result<NewBook, ServerError> {
    let b = b.ok_or_else(|| {
        ServerError::invalid(format!("{field}: the book's description is required"))
    })?;
    Ok(NewBook {
        item: item_code(&b.item, &format!("{field}.item"))?,
        isbn: text(&b.isbn, &format!("{field}.isbn"), 32)?,
        title: text(&b.title, &format!("{field}.title"), 512)?,
        author: text(&b.author, &format!("{field}.author"), 256)?,
        price_fen: b
            .price_fen
            .map(|p| non_negative(p, &format!("{field}.price_fen")))
            .transpose()?,
    })
}

/// The fields every command request carries.
pub struct CommandHeader<'a> {
    pub command_id: &'a str,
    pub occurred_at: Option<&'a Timestamp>,
    pub correlation_id: &'a str,
}

/// A gRPC request that is a command.
pub trait CommandRequest: prost::Message {
    /// The RPC's name, for the command-id reuse check and messages.
    const NAME: &'static str;
    /// Whether `occurred_at` may lie in the past (an offline kiosk syncing late). Commands that
    /// change how the past is priced may not: they happen now.
    const MAY_BE_BACKDATED: bool = true;
    fn header(&self) -> CommandHeader<'_>;
}

/// A command request that is its command alone (AddPrincipal and IssueToken also carry the
/// token the server makes, so the access service builds theirs).
pub trait ToCommand: CommandRequest {
    /// The domain command; `now` is the server clock (for defaults such as a tariff's
    /// effective date).
    fn to_command(
        &self,
        key: &PatronKey,
        occurred_at: DateTime<Utc>,
    ) -> Result<Command, ServerError>;
}

macro_rules! command_header {
    ($request:ident, $name:literal, backdated: $backdated:literal) => {
        impl CommandRequest for pb::$request {
            const NAME: &'static str = $name;
            const MAY_BE_BACKDATED: bool = $backdated;
            fn header(&self) -> CommandHeader<'_> {
                CommandHeader {
                    command_id: &self.command_id,
                    occurred_at: self.occurred_at.as_ref(),
                    correlation_id: &self.correlation_id,
                }
            }
        }
    };
}

macro_rules! command_request {
    ($request:ident, $name:literal, |$r:ident, $key:ident, $at:ident| $body:expr) => {
        command_request!($request, $name, backdated: true, |$r, $key, $at| $body);
    };
    ($request:ident, $name:literal, backdated: $backdated:literal, |$r:ident, $key:ident, $at:ident| $body:expr) => {
        command_header!($request, $name, backdated: $backdated);
        impl ToCommand for pb::$request {
            #[allow(unused_variables)]
            fn to_command(
                &self,
                $key: &PatronKey,
                $at: DateTime<Utc>,
            ) -> Result<Command, ServerError> {
                let $r = self;
                Ok($body)
            }
        }
    };
}

command_request!(JoinCityRequest, "JoinCity", |r, key, at| {
    Command::JoinCity {
        city: city_code(&r.city, "city")?,
        name: text(&r.name, "name", 128)?,
        time_zone: text(&r.time_zone, "time_zone", 64)?,
    }
});

command_request!(RegisterLibraryRequest, "RegisterLibrary", |r, key, at| {
    Command::RegisterLibrary {
        library: library_code(&r.library, "library")?,
        name: text(&r.name, "name", 128)?,
        city: city_code(&r.city, "city")?,
        tier: enum_field(r.tier, "tier")?,
        parent: (!r.parent.is_empty())
            .then(|| library_code(&r.parent, "parent"))
            .transpose()?,
    }
});

command_request!(CloseLibraryRequest, "CloseLibrary", |r, key, at| {
    Command::CloseLibrary {
        library: library_code(&r.library, "library")?,
        reason: text(&r.reason, "reason", 512)?,
    }
});

command_request!(SetReturnPolicyRequest, "SetReturnPolicy", |r, key, at| {
    Command::SetReturnPolicy {
        library: library_code(&r.library, "library")?,
        policy: enum_field(r.policy, "policy")?,
    }
});

command_request!(SetTariffRequest, "SetTariff", backdated: false, |r, key, at| {
    Command::SetTariff {
        kind: enum_field(r.kind, "kind")?,
        amount_fen: non_negative(r.amount_fen, "amount_fen")?,
        effective_from: match &r.effective_from {
            None => at,
            Some(ts) => valid_timestamp(ts, "effective_from")?,
        },
    }
});

command_request!(SetPatronTierRequest, "SetPatronTier", |r, key, at| {
    Command::SetPatronTier {
        patron: patron(r.card.as_ref(), "card", key)?,
        tier: enum_field(r.tier, "tier")?,
    }
});

command_request!(ForgetPatronRequest, "ForgetPatron", |r, key, at| {
    Command::ForgetPatron {
        patron: patron(r.card.as_ref(), "card", key)?,
        reason: enum_field(r.reason, "reason")?,
    }
});

command_request!(CatalogueItemRequest, "CatalogueItem", |r, key, at| {
    Command::CatalogueItem {
        book: NewBook {
            item: item_code(&r.item, "item")?,
            isbn: text(&r.isbn, "isbn", 32)?,
            title: text(&r.title, "title", 512)?,
            author: text(&r.author, "author", 256)?,
            price_fen: r
                .price_fen
                .map(|p| non_negative(p, "price_fen"))
                .transpose()?,
        },
        owner_library: library_code(&r.owner_library, "owner_library")?,
        acquisition: enum_field(r.acquisition, "acquisition")?,
    }
});

command_request!(CheckoutRequest, "Checkout", |r, key, at| {
    Command::Checkout {
        item: item_code(&r.item, "item")?,
        patron: patron(r.card.as_ref(), "card", key)?,
    }
});

command_request!(RenewRequest, "Renew", |r, key, at| Command::Renew {
    item: item_code(&r.item, "item")?,
    patron: patron(r.card.as_ref(), "card", key)?,
});

command_request!(ReturnRequest, "Return", |r, key, at| Command::Return {
    item: item_code(&r.item, "item")?,
});

command_request!(DispatchTransferRequest, "DispatchTransfer", |r, key, at| {
    Command::DispatchTransfer {
        item: item_code(&r.item, "item")?,
        to_library: library_code(&r.to_library, "to_library")?,
        reason: enum_field(r.reason, "reason")?,
    }
});

command_request!(ReceiveTransferRequest, "ReceiveTransfer", |r, key, at| {
    Command::ReceiveTransfer {
        item: item_code(&r.item, "item")?,
    }
});

command_request!(BoothSwapRequest, "BoothSwap", |r, key, at| {
    Command::BoothSwap {
        take_item: item_code(&r.take_item, "take_item")?,
        patron: patron(r.card.as_ref(), "card", key)?,
        deposit: book(r.deposit.as_ref(), "deposit")?,
    }
});

command_request!(
    PatronDrivenAcquisitionRequest,
    "PatronDrivenAcquisition",
    |r, key, at| {
        Command::PatronDrivenAcquisition {
            patron: patron(r.card.as_ref(), "card", key)?,
            book: book(r.book.as_ref(), "book")?,
            bookstore: (!r.bookstore.is_empty())
                .then(|| text(&r.bookstore, "bookstore", 64))
                .transpose()?,
        }
    }
);

command_request!(DeclareLostRequest, "DeclareLost", |r, key, at| {
    Command::DeclareLost {
        item: item_code(&r.item, "item")?,
    }
});

command_request!(PayLostItemRequest, "PayLostItem", |r, key, at| {
    Command::PayLostItem {
        item: item_code(&r.item, "item")?,
        amount_fen: non_negative(r.amount_fen, "amount_fen")?,
    }
});

command_request!(
    WaiveLostItemDebtRequest,
    "WaiveLostItemDebt",
    |r, key, at| Command::WaiveLostItemDebt {
        item: item_code(&r.item, "item")?,
        reason: text(&r.reason, "reason", 512)?,
    }
);

command_request!(WithdrawRequest, "Withdraw", |r, key, at| {
    Command::Withdraw {
        item: item_code(&r.item, "item")?,
        reason: text(&r.reason, "reason", 512)?,
    }
});

command_request!(PlaceHoldRequest, "PlaceHold", |r, key, at| {
    Command::PlaceHold {
        patron: patron(r.card.as_ref(), "card", key)?,
        target: hold_target(r.wanted.as_ref())?,
        pickup_library: library_code(&r.pickup_library, "pickup_library")?,
    }
});

command_request!(CancelHoldRequest, "CancelHold", |r, key, at| {
    Command::CancelHold {
        hold: hold_number(r.hold, "hold")?,
        patron: r
            .card
            .as_ref()
            .map(|card| patron(Some(card), "card", key))
            .transpose()?,
        note: text(&r.note, "note", 512)?,
    }
});

// A sweep decides from its `occurred_at`: it happens now, never backdated.
command_request!(ExpireHoldsRequest, "ExpireHolds", backdated: false, |r, key, at| {
    Command::ExpireHolds
});

// A gateway's checkpoint moves when it says so: never backdated.
command_request!(AcknowledgeNoticesRequest, "AcknowledgeNotices", backdated: false, |r, key, at| {
    Command::AcknowledgeNotices {
        gateway: r.gateway.clone(),
        through_sequence: r.through_sequence,
    }
});

command_request!(ReportFootfallRequest, "ReportFootfall", |r, key, at| {
    let instant = |ts: Option<&Timestamp>, field: &str| match ts {
        Some(ts) => valid_timestamp(ts, field),
        None => Err(ServerError::invalid(format!("{field}: required"))),
    };
    Command::ReportFootfall {
        gate: text(&r.gate, "gate", 64)?,
        from: instant(r.interval_start.as_ref(), "interval_start")?,
        to: instant(r.interval_end.as_ref(), "interval_end")?,
        visits: r.visits,
    }
});

command_request!(SetLibraryRolesRequest, "SetLibraryRoles", |r, key, at| {
    Command::SetLibraryRoles {
        library: library_code(&r.library, "library")?,
        delivery_point: r.delivery_point,
        distribution_centre: r.distribution_centre,
    }
});

command_request!(MoveLibraryRequest, "MoveLibrary", |r, key, at| {
    Command::MoveLibrary {
        library: library_code(&r.library, "library")?,
        parent: (!r.parent.is_empty())
            .then(|| library_code(&r.parent, "parent"))
            .transpose()?,
    }
});

command_request!(RenameLibraryRequest, "RenameLibrary", |r, key, at| {
    Command::RenameLibrary {
        library: library_code(&r.library, "library")?,
        name: text(&r.name, "name", 128)?,
    }
});

command_request!(
    ChangeLibraryTierRequest,
    "ChangeLibraryTier",
    |r, key, at| {
        Command::ChangeLibraryTier {
            library: library_code(&r.library, "library")?,
            tier: enum_field(r.tier, "tier")?,
        }
    }
);

command_request!(SetCalendarRequest, "SetCalendar", |r, key, at| {
    Command::SetCalendar {
        city: (!r.city.is_empty())
            .then(|| city_code(&r.city, "city"))
            .transpose()?,
        library: (!r.library.is_empty())
            .then(|| library_code(&r.library, "library"))
            .transpose()?,
        week: week(&r.week)?,
        closed_dates: bounded_dates(&r.closed_dates, "closed_dates")?,
    }
});

// A closure is decided now: it starts today or later by the server's clock, never in the past.
command_request!(
    CloseLibraryTemporarilyRequest,
    "CloseLibraryTemporarily",
    backdated: false,
    |r, key, at| Command::CloseLibraryTemporarily {
        library: library_code(&r.library, "library")?,
        reason: text(&r.reason, "reason", 512)?,
        from: (!r.from_date.is_empty())
            .then(|| date(&r.from_date, "from_date"))
            .transpose()?,
        until: date(&r.until_date, "until_date")?,
    }
);

// Reopening happens now: the closure ends at the server's time, never earlier.
command_request!(ReopenLibraryRequest, "ReopenLibrary", backdated: false, |r, key, at| {
    Command::ReopenLibrary {
        library: library_code(&r.library, "library")?,
    }
});

command_request!(
    SetAcquisitionBudgetRequest,
    "SetAcquisitionBudget",
    |r, key, at| {
        Command::SetAcquisitionBudget {
            library: library_code(&r.library, "library")?,
            year: i32::try_from(r.year).unwrap_or(i32::MAX),
            budget_fen: Fen(r.budget_fen),
            patron_driven_share_bp: r.patron_driven_share_bp,
        }
    }
);

command_request!(
    SetAcquisitionPolicyRequest,
    "SetAcquisitionPolicy",
    |r, key, at| {
        Command::SetAcquisitionPolicy {
            library: library_code(&r.library, "library")?,
            max_item_price_fen: Fen(r.max_item_price_fen),
            monthly_quota_per_reader: r.monthly_quota_per_reader,
        }
    }
);

command_request!(
    RegisterBookstoreRequest,
    "RegisterBookstore",
    |r, key, at| {
        Command::RegisterBookstore {
            library: library_code(&r.library, "library")?,
            bookstore: text(&r.bookstore, "bookstore", 64)?,
            name: text(&r.name, "name", 128)?,
        }
    }
);

command_request!(LicenseEResourceRequest, "LicenseEResource", |r, key, at| {
    Command::LicenseEResource {
        resource: text(&r.resource, "resource", 64)?,
        title: text(&r.title, "title", 512)?,
        kind: enum_field(r.kind, "kind")?,
        owner_library: (!r.owner_library.is_empty())
            .then(|| library_code(&r.owner_library, "owner_library"))
            .transpose()?,
        shared: r.shared,
        licences: r.licences,
        loan_days: r.loan_days,
    }
});

command_request!(BorrowDigitalRequest, "BorrowDigital", |r, key, at| {
    Command::BorrowDigital {
        resource: text(&r.resource, "resource", 64)?,
        patron: patron(r.card.as_ref(), "card", key)?,
    }
});

command_request!(ReturnDigitalRequest, "ReturnDigital", |r, key, at| {
    Command::ReturnDigital {
        resource: text(&r.resource, "resource", 64)?,
        patron: patron(r.card.as_ref(), "card", key)?,
    }
});

// The sweep ends what is due now, by the server's clock: never backdated.
command_request!(ExpireDigitalLoansRequest, "ExpireDigitalLoans", backdated: false, |r, key, at| {
    Command::ExpireDigitalLoans
});

/// Most closed dates one calendar lists (a city's holidays for some years).
pub const MAX_CLOSED_DATES: usize = 1024;

/// A local date, `YYYY-MM-DD`.
fn date(value: &str, field: &str) -> Result<chrono::NaiveDate, ServerError> {
    if value.is_empty() {
        return Err(ServerError::invalid(format!(
            "{field}: a date (YYYY-MM-DD) is required"
        )));
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        ServerError::invalid(format!(
            "{field}: {} is not a date (YYYY-MM-DD)",
            quote(value)
        ))
    })
}

fn bounded_dates(values: &[String], field: &str) -> Result<Vec<chrono::NaiveDate>, ServerError> {
    if values.len() > MAX_CLOSED_DATES {
        return Err(ServerError::invalid(format!(
            "{field}: {} dates; at most {MAX_CLOSED_DATES}",
            values.len()
        )));
    }
    values.iter().map(|d| date(d, field)).collect()
}

/// A calendar's week: 7 days' hours, Monday first; none given: open all day every day.
fn week(hours: &[pb::OpeningHours]) -> Result<[readnet_domain::OpeningHours; 7], ServerError> {
    let mut week = [readnet_domain::OpeningHours::ALL_DAY; 7];
    match hours.len() {
        0 => {}
        7 => {
            for (slot, h) in week.iter_mut().zip(hours) {
                *slot = readnet_domain::OpeningHours {
                    open_minute: h.open_minute,
                    close_minute: h.close_minute,
                };
            }
        }
        n => {
            return Err(ServerError::invalid(format!(
                "week: {n} days of opening hours; a week is 7, Monday first (or none: open all day)"
            )));
        }
    }
    Ok(week)
}

/// What a hold asks for: one item, or a title by ISBN or by title (and author); not both.
fn hold_target(wanted: Option<&pb::HoldWanted>) -> Result<HoldTarget, ServerError> {
    let w = wanted.ok_or_else(|| {
        ServerError::invalid("wanted: a title (isbn, or title and author) or an item is required")
    })?;
    let isbn = text(&w.isbn, "wanted.isbn", 32)?;
    let title = text(&w.title, "wanted.title", 512)?;
    let author = text(&w.author, "wanted.author", 256)?;
    let names_title = !isbn.trim().is_empty() || !title.trim().is_empty();
    match (w.item.is_empty(), names_title) {
        (false, false) => Ok(HoldTarget::Item(item_code(&w.item, "wanted.item")?)),
        (true, true) => Ok(HoldTarget::Title {
            isbn,
            title,
            author,
        }),
        (false, true) => Err(ServerError::invalid(
            "wanted: name a title or an item, not both",
        )),
        (true, false) => Err(ServerError::invalid(
            "wanted: a title (isbn, or title and author) or an item is required",
        )),
    }
}

fn hold_number(value: u64, field: &str) -> Result<u64, ServerError> {
    if value == 0 {
        return Err(ServerError::invalid(format!(
            "{field}: a hold number is required"
        )));
    }
    Ok(value)
}

/// A grant as a request carries it: a role, and a city or libraries.
pub fn grant(grant: Option<&pb::Grant>, field: &str) -> Result<Grant, ServerError> {
    let grant = grant.ok_or_else(|| {
        ServerError::invalid(format!("{field}: a grant (role and scope) is required"))
    })?;
    let role = enum_field::<pb::Role>(grant.role, &format!("{field}.role"))
        .ok()
        .and_then(Role::from_pb)
        .ok_or_else(|| {
            ServerError::invalid(format!(
                "{field}.role: a role is required (network-admin, city-admin, desk, kiosk, \
                 booth, settlement-clerk, auditor, analytics)"
            ))
        })?;
    let scope = match (grant.city.is_empty(), grant.libraries.is_empty()) {
        (true, true) => Scope::Network,
        (false, true) => Scope::City(city_code(&grant.city, &format!("{field}.city"))?),
        (true, false) => Scope::Libraries(
            grant
                .libraries
                .iter()
                .map(|l| library_code(l, &format!("{field}.libraries")))
                .collect::<Result<_, _>>()?,
        ),
        (false, false) => {
            return Err(ServerError::invalid(format!(
                "{field}: name a city or libraries, not both"
            )));
        }
    };
    Ok(Grant { role, scope })
}

/// A principal's name as a request carries it (the rules check its form).
pub fn principal(value: &str, field: &str) -> Result<PrincipalName, ServerError> {
    if value.is_empty() {
        return Err(ServerError::invalid(format!(
            "{field}: a principal name is required"
        )));
    }
    Ok(PrincipalName::from(value))
}

/// A grant as answers carry it.
pub fn grant_message(grant: &Grant) -> pb::Grant {
    let (role, city, libraries) = grant.to_pb();
    pb::Grant {
        role: role as i32,
        city,
        libraries,
    }
}

command_request!(ChangePrincipalRequest, "ChangePrincipal", |r, key, at| {
    Command::ChangePrincipal {
        principal: principal(&r.principal, "principal")?,
        grant: grant(r.grant.as_ref(), "grant")?,
    }
});

command_request!(RevokePrincipalRequest, "RevokePrincipal", |r, key, at| {
    Command::RevokePrincipal {
        principal: principal(&r.principal, "principal")?,
        reason: text(&r.reason, "reason", 512)?,
    }
});

command_header!(AddPrincipalRequest, "AddPrincipal", backdated: false);
command_header!(IssueTokenRequest, "IssueToken", backdated: false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_validated_with_the_field_named() {
        assert!(item_code("ZB-000123", "item").is_ok());
        let err = item_code("", "item").unwrap_err().to_string();
        assert!(err.starts_with("item:"), "{err}");
        let err = item_code("ZB 1", "take_item").unwrap_err().to_string();
        assert!(err.starts_with("take_item:"), "{err}");
        assert!(city_code("Jinan", "card.city").is_err());
        assert!(city_code("jinan", "card.city").is_ok());
    }

    #[test]
    fn timestamps_outside_the_accepted_range_are_refused() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        let ts = |seconds| Timestamp { seconds, nanos: 0 };
        assert!(
            timestamp(Some(&ts(now.timestamp())), "occurred_at", now)
                .unwrap()
                .is_some()
        );
        assert!(timestamp(Some(&ts(now.timestamp() + 3600)), "occurred_at", now).is_err());
        assert!(timestamp(Some(&ts(0)), "occurred_at", now).is_err());
        let bad_nanos = Timestamp {
            seconds: now.timestamp(),
            nanos: -1,
        };
        assert!(timestamp(Some(&bad_nanos), "occurred_at", now).is_err());
        assert!(timestamp(None, "occurred_at", now).unwrap().is_none());
    }

    #[test]
    fn a_hold_names_a_title_or_an_item_not_both_nor_neither() {
        let wanted = |isbn: &str, title: &str, item: &str| pb::HoldWanted {
            isbn: isbn.to_owned(),
            title: title.to_owned(),
            item: item.to_owned(),
            ..Default::default()
        };
        assert!(matches!(
            hold_target(Some(&wanted("9787532734029", "", ""))),
            Ok(HoldTarget::Title { .. })
        ));
        assert!(matches!(
            hold_target(Some(&wanted("", "边城", ""))),
            Ok(HoldTarget::Title { .. })
        ));
        assert!(matches!(
            hold_target(Some(&wanted("", "", "JN-1"))),
            Ok(HoldTarget::Item(_))
        ));
        for bad in [wanted("978", "", "JN-1"), wanted("", "", "")] {
            let err = hold_target(Some(&bad)).unwrap_err().to_string();
            assert!(err.starts_with("wanted:"), "{err}");
        }
        let err = hold_target(None).unwrap_err().to_string();
        assert!(err.starts_with("wanted:"), "{err}");
        let err = hold_number(0, "hold").unwrap_err().to_string();
        assert!(err.starts_with("hold:"), "{err}");
    }

    #[test]
    fn cards_are_hashed_and_masked() {
        let key = PatronKey::new(b"k");
        let card = pb::Card {
            city: "jinan".into(),
            number: "370102199001011234".into(),
        };
        let p = patron(Some(&card), "card", &key).unwrap();
        assert_eq!(p.masked_card, "jinan:****1234");
        assert!(!p.patron_id.as_str().contains("370102"));
        let card = |number: &str| pb::Card {
            city: "jinan".into(),
            number: number.into(),
        };
        let id = |number: &str| patron(Some(&card(number)), "card", &key).unwrap().patron_id;
        assert_eq!(id("37010219900101123x"), id("37010219900101123X"));
        assert_ne!(id("37010219900101123X"), id("370102199001011239"));
        let short = patron(Some(&card("1234")), "card", &key).unwrap();
        assert_eq!(short.masked_card, "jinan:****");
        let bad = pb::Card {
            city: "jinan".into(),
            number: "".into(),
        };
        assert!(
            patron(Some(&bad), "card", &key)
                .unwrap_err()
                .to_string()
                .starts_with("card.number")
        );
    }

    fn caller(role: Role, libraries: &[&str]) -> Authenticated {
        let mut caller = Authenticated::network_wide("p", role);
        if !libraries.is_empty() {
            std::sync::Arc::make_mut(&mut caller.authority).grant.scope =
                Scope::Libraries(libraries.iter().map(|l| LibraryCode::from(*l)).collect());
        }
        caller
    }

    #[test]
    fn names_and_titles_refuse_control_and_bidi_characters_naming_the_position() {
        assert_eq!(text("  边城 ", "title", 512).unwrap(), "边城");
        let bidi = text("abc\u{202E}fdp.exe", "title", 512)
            .unwrap_err()
            .to_string();
        assert_eq!(
            bidi,
            "title: character 4 is U+202E, a control or bidirectional-formatting character, \
             which names and titles may not hold"
        );
        for bad in ["a\0b", "a\u{1b}[31mred", "x\u{85}", "\u{2066}x", "a\u{7f}"] {
            let error = text(bad, "name", 128).unwrap_err().to_string();
            assert!(error.starts_with("name: character"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn a_bad_value_is_quoted_by_a_short_prefix_only() {
        let long = "x".repeat(1_000_000);
        let error = item_code(&long, "item").unwrap_err().to_string();
        assert!(error.len() < 200, "{} bytes", error.len());
        assert!(error.contains("(1000000 characters)"), "{error}");
        assert_eq!(quote("JN CENTRAL"), "\"JN CENTRAL\"");
    }

    #[test]
    fn unknown_channel_is_refused_naming_the_header() {
        let mut md = MetadataMap::new();
        md.insert(CHANNEL_HEADER, "carrier-pigeon".parse().unwrap());
        let err = Actor::resolve(&caller(Role::NetworkAdmin, &[]), &md)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(CHANNEL_HEADER), "{err}");
    }

    #[test]
    fn a_principal_over_one_library_acts_there_on_its_roles_channel() {
        let md = MetadataMap::new();
        let kiosk = Actor::resolve(&caller(Role::Kiosk, &["JN-24H"]), &md).unwrap();
        assert_eq!(
            kiosk,
            Actor {
                library: Some("JN-24H".into()),
                channel: Channel::Kiosk
            }
        );
        let admin = Actor::resolve(&caller(Role::NetworkAdmin, &[]), &md).unwrap();
        assert_eq!(
            admin,
            Actor {
                library: None,
                channel: Channel::Desk
            }
        );
    }

    #[test]
    fn a_desk_over_several_libraries_must_name_the_acting_one() {
        let desk = caller(Role::Desk, &["JN-A", "JN-B"]);
        let err = Actor::resolve(&desk, &MetadataMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(LIBRARY_HEADER) && err.contains("JN-A, JN-B"),
            "{err}"
        );
        let mut md = MetadataMap::new();
        md.insert(LIBRARY_HEADER, "JN-B".parse().unwrap());
        assert_eq!(
            Actor::resolve(&desk, &md).unwrap().library,
            Some("JN-B".into())
        );
    }
}
