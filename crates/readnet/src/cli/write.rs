//! The write subcommands — network administration and circulation — the request each one
//! builds, and sending it.

use chrono::{DateTime, FixedOffset};
use clap::{Args, Subcommand};
use readnet_proto::v1::{
    self, Acquisition, Card, ChargeKind, CreditTier, LibraryTier, ReturnPolicy, TransferReason,
};
use uuid::Uuid;

use crate::cli::args::{
    AcquisitionArg, ChannelArg, ChargeKindArg, CreditTierArg, EResourceKindArg, PolicyArg,
    ReasonArg, TierArg,
};
use crate::cli::{ServerOpts, reported};
use crate::client::{self, Actor, Call, Envelope};
use crate::output;

/// What every command carries: the actor, the command id and when it happened.
#[derive(Debug, Args)]
pub struct CommandOpts {
    #[command(flatten)]
    server: ServerOpts,
    /// The acting library: where it happens (lending, returning, dispatching library, booth).
    #[arg(long, value_name = "CODE")]
    library: Option<String>,
    /// The channel it came through [default: the one the caller's role implies: desk, kiosk
    /// or booth].
    #[arg(long, value_enum)]
    channel: Option<ChannelArg>,
    /// The command's id; send the same id again to retry safely [default: a fresh UUID].
    #[arg(long, value_name = "UUID")]
    command_id: Option<Uuid>,
    /// When it happened at the desk, kiosk or booth (RFC 3339) [default: now, by the server].
    #[arg(long, value_name = "RFC3339", value_parser = DateTime::parse_from_rfc3339)]
    occurred_at: Option<DateTime<FixedOffset>>,
}

impl CommandOpts {
    fn actor(&self) -> Actor {
        // Without --channel the server takes the caller's role's own channel.
        Actor {
            library: self.library.clone(),
            channel: self.channel.map_or(v1::Channel::Unspecified, Into::into),
        }
    }

    /// The command id and occurred-at time every request starts with.
    fn envelope(&self) -> Envelope {
        Envelope {
            command_id: self.command_id.unwrap_or_else(Uuid::new_v4).to_string(),
            occurred_at: self.occurred_at.map(client::timestamp),
            correlation_id: String::new(),
        }
    }
}

/// Commands that write to the ledger; each prints the events it wrote.
#[derive(Debug, Subcommand)]
pub enum WriteCommand {
    /// A city joins the network.
    JoinCity {
        /// City code, e.g. jinan.
        city: String,
        /// Display name, e.g. 济南.
        #[arg(long)]
        name: String,
        /// IANA time zone [default: the server's, Asia/Shanghai].
        #[arg(long, value_name = "ZONE")]
        time_zone: Option<String>,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// A library joins a member city.
    RegisterLibrary {
        /// Library code, e.g. JN-LIXIA-03.
        code: String,
        /// Display name, e.g. 历下区图书馆.
        #[arg(long)]
        name: String,
        /// The member city it belongs to.
        #[arg(long)]
        city: String,
        /// Its tier in the network.
        #[arg(long, value_enum)]
        tier: TierArg,
        /// Parent library in the 总分馆 tree.
        #[arg(long, value_name = "CODE")]
        parent: Option<String>,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Put a library under another parent of its city (leave --parent out: it stands alone);
    /// the tier rules are checked again.
    MoveLibrary {
        /// The library's code, e.g. TL-TONGGUAN-B02.
        code: String,
        /// The new parent library.
        #[arg(long, value_name = "CODE")]
        parent: Option<String>,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Correct or change a library's name; its code stays.
    RenameLibrary {
        code: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Correct or change a library's tier; the tier rules are checked again.
    ChangeLibraryTier {
        code: String,
        #[arg(long, value_enum)]
        tier: TierArg,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Set a library's own calendar (--for-library) or its city's default (--city): opening
    /// hours and closed days (a city's public holidays).
    SetCalendar {
        /// The city whose default calendar this is.
        #[arg(long, required_unless_present = "for_library")]
        city: Option<String>,
        /// The library whose own calendar this is.
        #[arg(long, value_name = "CODE")]
        for_library: Option<String>,
        /// Seven days' hours, Monday first, comma-separated: HH:MM-HH:MM or `closed`, e.g.
        /// `closed,09:00-21:00,09:00-21:00,09:00-21:00,09:00-21:00,09:00-17:00,09:00-17:00`.
        /// Left out: open all day every day.
        #[arg(long, value_parser = parse_week)]
        week: Option<Week>,
        /// A closed date (YYYY-MM-DD), e.g. a public holiday; repeat for more.
        #[arg(long = "closed-date", value_name = "DATE")]
        closed_dates: Vec<String>,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Close a library for a while (renovation, an epidemic): its loans due in that time are
    /// extended and their overdue clock stops.
    CloseTemporarily {
        code: String,
        /// Why it closes.
        #[arg(long)]
        reason: String,
        /// The first closed day (YYYY-MM-DD); left out: at once.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// The last closed day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        until: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// End a library's temporary closure now.
    Reopen {
        code: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// A library closes.
    CloseLibrary {
        /// The library's code, e.g. JN-LIXIA-03.
        code: String,
        /// Why it closes.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Set the return policy for the items a library owns.
    SetReturnPolicy {
        /// The library's code, e.g. JN-LIXIA-03.
        code: String,
        /// Where its items go when returned elsewhere.
        #[arg(long, value_enum)]
        policy: PolicyArg,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Set a settlement tariff, in force from a moment on.
    SetTariff {
        /// The charge the tariff is for.
        #[arg(long, value_enum)]
        kind: ChargeKindArg,
        /// The amount, in fen.
        #[arg(long, value_name = "N")]
        amount_fen: i64,
        /// When it comes into force (RFC 3339) [default: occurred-at].
        #[arg(long, value_name = "RFC3339", value_parser = DateTime::parse_from_rfc3339)]
        effective_from: Option<DateTime<FixedOffset>>,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Set a patron's credit tier (how many items they may have on loan).
    SetPatronTier {
        /// The patron's card: issuing city and card number, e.g. jinan:370102000001.
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Card,
        /// The new tier: restricted 3 items, standard 10, trusted 20.
        #[arg(long, value_enum)]
        tier: CreditTierArg,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Catalogue a purchased or donated item.
    Catalogue {
        /// Barcode, unique in the network.
        item: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// Author.
        #[arg(long, default_value = "", hide_default_value = true)]
        author: String,
        /// ISBN, if it has one.
        #[arg(long, default_value = "", hide_default_value = true)]
        isbn: String,
        /// The owner library.
        #[arg(long, value_name = "CODE")]
        owner: String,
        /// Price in fen, if known.
        #[arg(long, value_name = "N")]
        price_fen: Option<i64>,
        /// How it came in.
        #[arg(long, value_enum, default_value_t = AcquisitionArg::Purchase)]
        acquisition: AcquisitionArg,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Lend an item on the shelf at the acting library (enrols the card on first use).
    Checkout {
        /// The item's barcode.
        item: String,
        /// The patron's card: issuing city and card number, e.g. jinan:370102000001.
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Card,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Renew a loan (the borrower's card).
    Renew {
        /// The item's barcode.
        item: String,
        /// The patron's card: issuing city and card number, e.g. jinan:370102000001.
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Card,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Return an item at the acting library.
    Return {
        /// The item's barcode.
        item: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Send an item from the acting library to another.
    Dispatch {
        /// The item's barcode.
        item: String,
        /// The destination library.
        #[arg(long, value_name = "CODE")]
        to: String,
        /// Why it travels.
        #[arg(long, value_enum)]
        reason: ReasonArg,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Receive an item in transit at the acting library.
    Receive {
        /// The item's barcode.
        item: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// At a booth, a patron takes an item and leaves a book of their own.
    BoothSwap {
        /// The item the patron takes.
        item: String,
        /// The patron's card: issuing city and card number, e.g. jinan:370102000001.
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Card,
        /// Barcode for the book the patron leaves.
        #[arg(long, value_name = "ITEM")]
        deposit_item: String,
        /// The left book's title.
        #[arg(long, value_name = "TITLE")]
        deposit_title: String,
        /// The left book's author.
        #[arg(
            long,
            value_name = "AUTHOR",
            default_value = "",
            hide_default_value = true
        )]
        deposit_author: String,
        /// The left book's ISBN, if it has one.
        #[arg(
            long,
            value_name = "ISBN",
            default_value = "",
            hide_default_value = true
        )]
        deposit_isbn: String,
        /// The left book's price in fen, if known.
        #[arg(long, value_name = "N")]
        deposit_price_fen: Option<i64>,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// 你读书我买单: catalogue a book bought at a partner bookstore and lend it to the patron.
    Acquire {
        /// The patron's card: issuing city and card number, e.g. jinan:370102000001.
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Card,
        /// Barcode for the new item.
        #[arg(long)]
        item: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// Author.
        #[arg(long, default_value = "", hide_default_value = true)]
        author: String,
        /// ISBN, if it has one.
        #[arg(long, default_value = "", hide_default_value = true)]
        isbn: String,
        /// What the library paid the bookstore.
        #[arg(long, value_name = "N")]
        price_fen: i64,
        /// The partner bookstore it was bought at (required once the library has partners).
        #[arg(
            long,
            value_name = "CODE",
            default_value = "",
            hide_default_value = true
        )]
        bookstore: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Set a library's acquisition budget for a year and its patron-driven share (你读书我买单).
    SetBudget {
        /// The library's code.
        code: String,
        /// The budget year (a calendar year, the library's local time).
        #[arg(long)]
        year: u32,
        /// The year's acquisition budget, in fen.
        #[arg(long, value_name = "N")]
        budget_fen: i64,
        /// The patron-driven share in basis points (2000: 20 %); left out: 20 %.
        #[arg(long, value_name = "BP")]
        patron_driven_share_bp: Option<u32>,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Set a library's price cap and per-reader monthly quota for patron-driven books.
    SetAcquisitionPolicy {
        code: String,
        /// The most one patron-driven book may cost, in fen.
        #[arg(long, value_name = "N")]
        max_item_price_fen: i64,
        /// How many patron-driven books one reader may have bought in a month.
        #[arg(long, value_name = "N")]
        monthly_quota: u32,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Register a bookstore as a partner of a library.
    RegisterBookstore {
        /// The library's code.
        code: String,
        /// The bookstore's code, e.g. XINHUA-TL-01.
        #[arg(long)]
        bookstore: String,
        /// Its name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// License an e-resource (an e-book, a database, open access) to a library or the network.
    LicenseEresource {
        /// The resource's code, e.g. EB-SANTI.
        resource: String,
        #[arg(long)]
        title: String,
        #[arg(long, value_enum)]
        kind: EResourceKindArg,
        /// The owning library; left out: the whole network owns it.
        #[arg(
            long,
            value_name = "CODE",
            default_value = "",
            hide_default_value = true
        )]
        owner: String,
        /// Lent to readers of every member city (a library's resource).
        #[arg(long)]
        shared: bool,
        /// Concurrent licences or seats.
        #[arg(long, default_value_t = 1)]
        licences: u32,
        /// Days a loan lasts; 0: 14.
        #[arg(long, default_value_t = 0)]
        loan_days: u32,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Lend an e-resource to a patron (against its licences, not the patron's limit).
    BorrowDigital {
        /// The resource's code.
        resource: String,
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Card,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Give a digital loan back before its expiry.
    ReturnDigital {
        resource: String,
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Card,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// End the digital loans whose time is up (the server does it itself every
    /// --hold-sweep-secs).
    ExpireDigitalLoans {
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Declare an item on loan lost; the borrower owes its price.
    DeclareLost {
        /// The item's barcode.
        item: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Record a payment for a lost item.
    PayLost {
        /// The item's barcode.
        item: String,
        /// The amount paid, in fen.
        #[arg(long, value_name = "N")]
        amount_fen: i64,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Waive a lost item's debt.
    WaiveLost {
        /// The item's barcode.
        item: String,
        /// Why the debt is waived.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Withdraw an item from the collection.
    Withdraw {
        /// The item's barcode.
        item: String,
        /// Why it is withdrawn.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// A gate counter's visits at the acting library over one interval (footfall, 人流量). With
    /// --library and without --command-id the command id is derived from the library, gate
    /// and interval start, so a resent report is recognised as the same one.
    Footfall {
        /// The gate's name within the library, e.g. main-door.
        #[arg(long)]
        gate: String,
        /// The interval's start (RFC 3339).
        #[arg(long, value_name = "RFC3339", value_parser = DateTime::parse_from_rfc3339)]
        from: DateTime<FixedOffset>,
        /// The interval's end (RFC 3339): past, at most a day after its start.
        #[arg(long, value_name = "RFC3339", value_parser = DateTime::parse_from_rfc3339)]
        to: DateTime<FixedOffset>,
        /// The people counted coming in.
        #[arg(long)]
        visits: u64,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Place a hold on a title (--isbn, or --title and --author) or on one --item, for pickup
    /// at a library or a delivery point. Any channel: desk, kiosk or app (--channel app).
    PlaceHold {
        /// The patron's card: issuing city and card number, e.g. zibo:370303000001.
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Card,
        /// The title's ISBN.
        #[arg(long, default_value = "", hide_default_value = true)]
        isbn: String,
        /// The title, when there is no ISBN.
        #[arg(long, default_value = "", hide_default_value = true)]
        title: String,
        /// The author, with --title.
        #[arg(long, default_value = "", hide_default_value = true)]
        author: String,
        /// One item instead of any copy of a title.
        #[arg(long, default_value = "", hide_default_value = true)]
        item: String,
        /// Where the patron picks it up.
        #[arg(long, value_name = "CODE")]
        pickup: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Cancel a hold: with the holder's --card, or without one by staff at a desk.
    CancelHold {
        /// The hold's number (PlaceHold's answer).
        hold: u64,
        /// The holder's card; leave it out for a cancellation by staff.
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: Option<Card>,
        /// Why, for a cancellation by staff.
        #[arg(long, default_value = "", hide_default_value = true)]
        note: String,
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// The sweep: end the holds whose time is up now (unfilled past their expiry, ready and not
    /// picked up by their deadline). Refused, and nothing written, when none is due.
    ExpireHolds {
        #[command(flatten)]
        opts: CommandOpts,
    },
    /// Mark a library as a delivery point (a pickup point without a desk) and/or its city's
    /// distribution centre; leaving a flag out clears it.
    SetLibraryRoles {
        /// The library's code, e.g. ZB-READING-01.
        code: String,
        /// Holds may be picked up here.
        #[arg(long)]
        delivery_point: bool,
        /// Hold shipments of its city go through it.
        #[arg(long)]
        distribution_centre: bool,
        #[command(flatten)]
        opts: CommandOpts,
    },
}

impl WriteCommand {
    /// Splits a command into its options and the request to send.
    pub fn into_request(self) -> (CommandOpts, Call) {
        let (opts, call) = match self {
            Self::PlaceHold {
                card,
                isbn,
                title,
                author,
                item,
                pickup,
                opts,
            } => {
                let r = v1::PlaceHoldRequest {
                    card: Some(card),
                    wanted: Some(v1::HoldWanted {
                        isbn,
                        title,
                        author,
                        item,
                    }),
                    pickup_library: pickup,
                    ..Default::default()
                };
                (opts, Call::PlaceHold(r))
            }
            Self::CancelHold {
                hold,
                card,
                note,
                opts,
            } => {
                let r = v1::CancelHoldRequest {
                    hold,
                    card,
                    note,
                    ..Default::default()
                };
                (opts, Call::CancelHold(r))
            }
            Self::ExpireHolds { opts } => {
                (opts, Call::ExpireHolds(v1::ExpireHoldsRequest::default()))
            }
            Self::SetLibraryRoles {
                code,
                delivery_point,
                distribution_centre,
                opts,
            } => {
                let r = v1::SetLibraryRolesRequest {
                    library: code,
                    delivery_point,
                    distribution_centre,
                    ..Default::default()
                };
                (opts, Call::SetLibraryRoles(r))
            }
            Self::JoinCity {
                city,
                name,
                time_zone,
                opts,
            } => {
                let time_zone = time_zone.unwrap_or_default();
                let r = v1::JoinCityRequest {
                    city,
                    name,
                    time_zone,
                    ..Default::default()
                };
                (opts, Call::JoinCity(r))
            }
            Self::RegisterLibrary {
                code,
                name,
                city,
                tier,
                parent,
                opts,
            } => {
                let r = v1::RegisterLibraryRequest {
                    library: code,
                    name,
                    city,
                    tier: LibraryTier::from(tier).into(),
                    parent: parent.unwrap_or_default(),
                    ..Default::default()
                };
                (opts, Call::RegisterLibrary(r))
            }
            Self::MoveLibrary { code, parent, opts } => {
                let r = v1::MoveLibraryRequest {
                    library: code,
                    parent: parent.unwrap_or_default(),
                    ..Default::default()
                };
                (opts, Call::MoveLibrary(r))
            }
            Self::RenameLibrary { code, name, opts } => {
                let r = v1::RenameLibraryRequest {
                    library: code,
                    name,
                    ..Default::default()
                };
                (opts, Call::RenameLibrary(r))
            }
            Self::ChangeLibraryTier { code, tier, opts } => {
                let r = v1::ChangeLibraryTierRequest {
                    library: code,
                    tier: LibraryTier::from(tier).into(),
                    ..Default::default()
                };
                (opts, Call::ChangeLibraryTier(r))
            }
            Self::SetCalendar {
                city,
                for_library,
                week,
                closed_dates,
                opts,
            } => {
                let r = v1::SetCalendarRequest {
                    city: city.unwrap_or_default(),
                    library: for_library.unwrap_or_default(),
                    week: week.map(|w| w.0).unwrap_or_default(),
                    closed_dates,
                    ..Default::default()
                };
                (opts, Call::SetCalendar(r))
            }
            Self::CloseTemporarily {
                code,
                reason,
                from,
                until,
                opts,
            } => {
                let r = v1::CloseLibraryTemporarilyRequest {
                    library: code,
                    reason,
                    from_date: from.unwrap_or_default(),
                    until_date: until,
                    ..Default::default()
                };
                (opts, Call::CloseTemporarily(r))
            }
            Self::Reopen { code, opts } => {
                let r = v1::ReopenLibraryRequest {
                    library: code,
                    ..Default::default()
                };
                (opts, Call::Reopen(r))
            }
            Self::CloseLibrary { code, reason, opts } => {
                let r = v1::CloseLibraryRequest {
                    library: code,
                    reason,
                    ..Default::default()
                };
                (opts, Call::CloseLibrary(r))
            }
            Self::SetReturnPolicy { code, policy, opts } => {
                let policy = ReturnPolicy::from(policy).into();
                let r = v1::SetReturnPolicyRequest {
                    library: code,
                    policy,
                    ..Default::default()
                };
                (opts, Call::SetReturnPolicy(r))
            }
            Self::SetTariff {
                kind,
                amount_fen,
                effective_from,
                opts,
            } => {
                let r = v1::SetTariffRequest {
                    kind: ChargeKind::from(kind).into(),
                    amount_fen,
                    effective_from: effective_from.map(client::timestamp),
                    ..Default::default()
                };
                (opts, Call::SetTariff(r))
            }
            Self::SetPatronTier { card, tier, opts } => {
                let tier = CreditTier::from(tier).into();
                let r = v1::SetPatronTierRequest {
                    card: Some(card),
                    tier,
                    ..Default::default()
                };
                (opts, Call::SetPatronTier(r))
            }
            Self::Catalogue {
                item,
                title,
                author,
                isbn,
                owner,
                price_fen,
                acquisition,
                opts,
            } => {
                let r = v1::CatalogueItemRequest {
                    item,
                    isbn,
                    title,
                    author,
                    owner_library: owner,
                    price_fen,
                    acquisition: Acquisition::from(acquisition).into(),
                    ..Default::default()
                };
                (opts, Call::Catalogue(r))
            }
            Self::Checkout { item, card, opts } => {
                let r = v1::CheckoutRequest {
                    item,
                    card: Some(card),
                    ..Default::default()
                };
                (opts, Call::Checkout(r))
            }
            Self::Renew { item, card, opts } => {
                let r = v1::RenewRequest {
                    item,
                    card: Some(card),
                    ..Default::default()
                };
                (opts, Call::Renew(r))
            }
            Self::Return { item, opts } => (
                opts,
                Call::Return(v1::ReturnRequest {
                    item,
                    ..Default::default()
                }),
            ),
            Self::Dispatch {
                item,
                to,
                reason,
                opts,
            } => {
                let reason = TransferReason::from(reason).into();
                let r = v1::DispatchTransferRequest {
                    item,
                    to_library: to,
                    reason,
                    ..Default::default()
                };
                (opts, Call::Dispatch(r))
            }
            Self::Receive { item, opts } => (
                opts,
                Call::Receive(v1::ReceiveTransferRequest {
                    item,
                    ..Default::default()
                }),
            ),
            Self::BoothSwap {
                item,
                card,
                deposit_item,
                deposit_title,
                deposit_author,
                deposit_isbn,
                deposit_price_fen,
                opts,
            } => {
                let deposit = v1::BookDescription {
                    item: deposit_item,
                    isbn: deposit_isbn,
                    title: deposit_title,
                    author: deposit_author,
                    price_fen: deposit_price_fen,
                };
                let r = v1::BoothSwapRequest {
                    take_item: item,
                    card: Some(card),
                    deposit: Some(deposit),
                    ..Default::default()
                };
                (opts, Call::BoothSwap(r))
            }
            Self::Acquire {
                card,
                item,
                title,
                author,
                isbn,
                price_fen,
                bookstore,
                opts,
            } => {
                let book = v1::BookDescription {
                    item,
                    isbn,
                    title,
                    author,
                    price_fen: Some(price_fen),
                };
                let r = v1::PatronDrivenAcquisitionRequest {
                    card: Some(card),
                    book: Some(book),
                    bookstore,
                    ..Default::default()
                };
                (opts, Call::Acquire(r))
            }
            Self::SetBudget {
                code,
                year,
                budget_fen,
                patron_driven_share_bp,
                opts,
            } => (
                opts,
                Call::SetBudget(v1::SetAcquisitionBudgetRequest {
                    library: code,
                    year,
                    budget_fen,
                    patron_driven_share_bp,
                    ..Default::default()
                }),
            ),
            Self::SetAcquisitionPolicy {
                code,
                max_item_price_fen,
                monthly_quota,
                opts,
            } => (
                opts,
                Call::SetAcquisitionPolicy(v1::SetAcquisitionPolicyRequest {
                    library: code,
                    max_item_price_fen,
                    monthly_quota_per_reader: monthly_quota,
                    ..Default::default()
                }),
            ),
            Self::RegisterBookstore {
                code,
                bookstore,
                name,
                opts,
            } => (
                opts,
                Call::RegisterBookstore(v1::RegisterBookstoreRequest {
                    library: code,
                    bookstore,
                    name,
                    ..Default::default()
                }),
            ),
            Self::LicenseEresource {
                resource,
                title,
                kind,
                owner,
                shared,
                licences,
                loan_days,
                opts,
            } => (
                opts,
                Call::LicenseEResource(v1::LicenseEResourceRequest {
                    resource,
                    title,
                    kind: v1::EResourceKind::from(kind).into(),
                    owner_library: owner,
                    shared,
                    licences,
                    loan_days,
                    ..Default::default()
                }),
            ),
            Self::BorrowDigital {
                resource,
                card,
                opts,
            } => (
                opts,
                Call::BorrowDigital(v1::BorrowDigitalRequest {
                    resource,
                    card: Some(card),
                    ..Default::default()
                }),
            ),
            Self::ReturnDigital {
                resource,
                card,
                opts,
            } => (
                opts,
                Call::ReturnDigital(v1::ReturnDigitalRequest {
                    resource,
                    card: Some(card),
                    ..Default::default()
                }),
            ),
            Self::ExpireDigitalLoans { opts } => (
                opts,
                Call::ExpireDigitalLoans(v1::ExpireDigitalLoansRequest::default()),
            ),
            Self::DeclareLost { item, opts } => (
                opts,
                Call::DeclareLost(v1::DeclareLostRequest {
                    item,
                    ..Default::default()
                }),
            ),
            Self::PayLost {
                item,
                amount_fen,
                opts,
            } => {
                let r = v1::PayLostItemRequest {
                    item,
                    amount_fen,
                    ..Default::default()
                };
                (opts, Call::PayLost(r))
            }
            Self::WaiveLost { item, reason, opts } => {
                let r = v1::WaiveLostItemDebtRequest {
                    item,
                    reason,
                    ..Default::default()
                };
                (opts, Call::WaiveLost(r))
            }
            Self::Footfall {
                gate,
                from,
                to,
                visits,
                mut opts,
            } => {
                if opts.command_id.is_none()
                    && let Some(library) = &opts.library
                {
                    let name = format!("footfall/{library}/{gate}/{}", from.timestamp_micros());
                    opts.command_id = Some(Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()));
                }
                let r = v1::ReportFootfallRequest {
                    gate,
                    interval_start: Some(client::timestamp(from)),
                    interval_end: Some(client::timestamp(to)),
                    visits,
                    ..Default::default()
                };
                (opts, Call::Footfall(r))
            }
            Self::Withdraw { item, reason, opts } => {
                let r = v1::WithdrawRequest {
                    item,
                    reason,
                    ..Default::default()
                };
                (opts, Call::Withdraw(r))
            }
        };
        let envelope = opts.envelope();
        (opts, call.with_envelope(envelope))
    }
}

/// Sends a write command as the actor its options name and prints the receipt.
pub async fn run(command: WriteCommand) -> anyhow::Result<()> {
    let (opts, call) = command.into_request();
    let json = opts.server.json;
    let client = opts.server.connect().await?;
    let receipt = client
        .send(&opts.actor(), call)
        .await
        .map_err(|e| reported(json, e))?;
    if json {
        println!("{}", output::receipt_json(&receipt));
    } else {
        output::receipt_lines(&receipt)
            .iter()
            .for_each(|line| println!("{line}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, parse};

    #[test]
    fn checkout_builds_request_with_card_and_actor() {
        let cli = parse(&[
            "checkout",
            "ZB-0001",
            "--card",
            "jinan:370102000001",
            "--library",
            "ZB-CENTRAL",
            "--command-id",
            "6a1f0c2e-1b7d-4c4e-9b1a-2f0e8d5c7a10",
            "--occurred-at",
            "2026-03-01T09:30:00+08:00",
        ])
        .unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let (opts, call) = command.into_request();
        assert_eq!(
            opts.actor(),
            Actor::at("ZB-CENTRAL", v1::Channel::Unspecified),
            "without --channel, the server takes the caller's role's own"
        );
        let Call::Checkout(request) = call else {
            panic!("not a checkout")
        };
        assert_eq!(request.command_id, "6a1f0c2e-1b7d-4c4e-9b1a-2f0e8d5c7a10");
        assert_eq!(request.item, "ZB-0001");
        assert_eq!(request.card.unwrap().number, "370102000001");
        assert_eq!(request.occurred_at.unwrap().seconds, 1_772_328_600);
    }

    #[test]
    fn admin_command_without_library_names_no_library_or_channel() {
        let cli = parse(&["join-city", "jinan", "--name", "济南"]).unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let (opts, call) = command.into_request();
        assert_eq!(opts.actor(), Actor::network());
        let Call::JoinCity(request) = call else {
            panic!("not join-city")
        };
        assert!(
            Uuid::parse_str(&request.command_id).is_ok(),
            "a fresh command id is a UUID"
        );
    }

    #[test]
    fn price_is_integer_fen() {
        assert!(
            parse(&[
                "catalogue",
                "JN-1",
                "--title",
                "围城",
                "--owner",
                "JN-CENTRAL",
                "--price-fen",
                "39.5"
            ])
            .is_err()
        );
        let cli = parse(&[
            "catalogue",
            "JN-1",
            "--title",
            "围城",
            "--owner",
            "JN-CENTRAL",
            "--price-fen",
            "3950",
        ])
        .unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let Call::Catalogue(request) = command.into_request().1 else {
            panic!("not catalogue")
        };
        assert_eq!(request.price_fen, Some(3950));
        assert_eq!(request.acquisition(), Acquisition::Purchase);
    }

    #[test]
    fn place_hold_names_a_title_or_an_item_and_a_pickup_point() {
        let cli = parse(&[
            "place-hold",
            "--card",
            "zibo:370303199202023456",
            "--isbn",
            "9787532734029",
            "--pickup",
            "ZB-READING-01",
            "--channel",
            "app",
        ])
        .unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let (opts, call) = command.into_request();
        assert_eq!(opts.actor().channel, v1::Channel::App);
        let Call::PlaceHold(request) = call else {
            panic!("not place-hold")
        };
        let wanted = request.wanted.unwrap();
        assert_eq!(
            (wanted.isbn.as_str(), wanted.item.as_str()),
            ("9787532734029", "")
        );
        assert_eq!(request.pickup_library, "ZB-READING-01");
        assert_eq!(request.card.unwrap().city, "zibo");
    }

    #[test]
    fn cancel_hold_without_a_card_is_staffs() {
        let cli = parse(&[
            "cancel-hold",
            "7",
            "--note",
            "damaged",
            "--library",
            "ZB-CENTRAL",
        ])
        .unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let Call::CancelHold(request) = command.into_request().1 else {
            panic!("not cancel-hold")
        };
        assert_eq!(
            (request.hold, request.card, request.note.as_str()),
            (7, None, "damaged")
        );
    }
}

/// A week of opening hours as `--week` gives it.
#[derive(Debug, Clone)]
pub struct Week(Vec<v1::OpeningHours>);

/// Seven comma-separated days, Monday first: `HH:MM-HH:MM` or `closed`.
fn parse_week(value: &str) -> Result<Week, String> {
    let minute = |t: &str| -> Result<u32, String> {
        let (h, m) = t
            .split_once(':')
            .ok_or_else(|| format!("{t:?} is not HH:MM"))?;
        let (h, m): (u32, u32) = (
            h.parse().map_err(|_| format!("{t:?} is not HH:MM"))?,
            m.parse().map_err(|_| format!("{t:?} is not HH:MM"))?,
        );
        if h > 24 || m > 59 || (h == 24 && m > 0) {
            return Err(format!("{t:?} is not a time of day"));
        }
        Ok(h * 60 + m)
    };
    let days: Vec<&str> = value.split(',').map(str::trim).collect();
    if days.len() != 7 {
        return Err(format!(
            "{} days given; a week is 7, Monday first",
            days.len()
        ));
    }
    days.into_iter()
        .map(|day| {
            if day == "closed" {
                return Ok(v1::OpeningHours::default());
            }
            let (open, close) = day
                .split_once('-')
                .ok_or_else(|| format!("{day:?} is not HH:MM-HH:MM or closed"))?;
            Ok(v1::OpeningHours {
                open_minute: minute(open)?,
                close_minute: minute(close)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Week)
}
