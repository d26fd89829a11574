//! `readnet`: runs the ledger's gRPC server, sends staff commands to it, plays a demo story.
//!
//! Thin glue: the arguments are parsed here and turned into protobuf requests; `client` talks to
//! the server, `output` prints, `demo` holds the story.

mod audit;
mod client;
mod demo;
mod output;
mod serve;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use readnet_proto::v1::{
    self, Acquisition, Card, ChargeKind, CreditTier, LibraryTier, ReadDirection, ReturnPolicy,
    TransferReason, subscribe_all_response::Message,
};
use tonic::Status;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

use crate::client::{Actor, Call, Client, Envelope};

/// The public-library network ledger: server, staff commands and a demo.
#[derive(Debug, Parser)]
#[command(name = "readnet", version, about)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG takes precedence.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server (on the embedded store, or KurrentDB with --store) until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Play a Jinan–Zibo story through the gRPC API and say what happened (a smoke test too).
    Demo(DemoArgs),
    /// Fold every projection from the log, offline, and print digests and settlement statements.
    Replay(audit::ReplayArgs),
    /// Export events (JSON Lines) or settlement statements (JSON, CSV), offline.
    #[command(subcommand)]
    Export(audit::ExportCommand),
    #[command(flatten)]
    Write(WriteCommand),
    #[command(flatten)]
    Read(ReadCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The data directory (created if missing): the embedded store's log, the patron key and
    /// projection snapshots.
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// Keep the events in KurrentDB instead of DIR/log: a connection string such as
    /// kurrentdb://host:2113?tls=false, esdb://… or kurrentdb+discover://….
    #[arg(long, value_name = "URL", env = "READNET_STORE")]
    store: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// The network secret for patron ids (default: DIR/patron.key, created on first start).
    #[arg(long, value_name = "FILE")]
    patron_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Server to play against; without it, the demo starts its own on a temporary directory.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

/// Where to send requests and how to print the answer.
#[derive(Debug, Args)]
struct ServerOpts {
    /// The readnet server.
    #[arg(
        long,
        value_name = "URL",
        env = "READNET_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
}

/// What every command carries: the actor, the command id and when it happened.
#[derive(Debug, Args)]
struct CommandOpts {
    #[command(flatten)]
    server: ServerOpts,
    /// The acting library: where it happens (lending, returning, dispatching library, booth).
    #[arg(long, value_name = "CODE")]
    library: Option<String>,
    /// The channel it came through [default: desk with --library, system without].
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
        // Network administration is the system's doing; anything at a library, the desk's.
        let channel = self.channel.unwrap_or(if self.library.is_some() {
            ChannelArg::Desk
        } else {
            ChannelArg::System
        });
        Actor {
            library: self.library.clone(),
            channel: channel.into(),
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
enum WriteCommand {
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
}

impl WriteCommand {
    /// Splits a command into its options and the request to send.
    fn into_request(self) -> (CommandOpts, Call) {
        let (opts, call) = match self {
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
                    ..Default::default()
                };
                (opts, Call::Acquire(r))
            }
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

/// Commands that read the ledger.
#[derive(Debug, Subcommand)]
enum ReadCommand {
    /// Show one item's current state.
    Item {
        /// The item's barcode.
        item: String,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// Read one stream's events, e.g. `item-ZB-0001` or `network`.
    ReadStream {
        stream: String,
        /// First revision to read [default: the start, or the end with --backwards].
        #[arg(long, value_name = "N")]
        from_revision: Option<u64>,
        #[arg(long)]
        backwards: bool,
        /// At most this many events (the server caps it at 1000).
        #[arg(long, value_name = "N", default_value_t = 100)]
        max_count: u32,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// Read the whole log ($all) in position order.
    ReadAll {
        /// First position to read [default: the start, or the end with --backwards].
        #[arg(long, value_name = "N")]
        from_position: Option<u64>,
        #[arg(long)]
        backwards: bool,
        #[arg(long, value_name = "N", default_value_t = 100)]
        max_count: u32,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// Print events as they are written, until Ctrl-C or --count events.
    Subscribe {
        /// Deliver events after this position (0: from the first event).
        #[arg(long, value_name = "N", default_value_t = 0)]
        after_position: u64,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        #[command(flatten)]
        server: ServerOpts,
    },
}

fn direction(backwards: bool) -> i32 {
    let direction = if backwards {
        ReadDirection::Backwards
    } else {
        ReadDirection::Forwards
    };
    direction.into()
}

/// The channel a command came through.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ChannelArg {
    Desk,
    Kiosk,
    Booth,
    App,
    System,
}

impl From<ChannelArg> for v1::Channel {
    fn from(arg: ChannelArg) -> Self {
        match arg {
            ChannelArg::Desk => Self::Desk,
            ChannelArg::Kiosk => Self::Kiosk,
            ChannelArg::Booth => Self::Booth,
            ChannelArg::App => Self::App,
            ChannelArg::System => Self::System,
        }
    }
}

/// A library's tier in the network.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum TierArg {
    Central,
    General,
    Branch,
    ServicePoint,
    SelfService,
    Booth,
}

impl From<TierArg> for LibraryTier {
    fn from(arg: TierArg) -> Self {
        match arg {
            TierArg::Central => Self::Central,
            TierArg::General => Self::General,
            TierArg::Branch => Self::Branch,
            TierArg::ServicePoint => Self::ServicePoint,
            TierArg::SelfService => Self::SelfService,
            TierArg::Booth => Self::Booth,
        }
    }
}

/// Where an item returned away from its owner goes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum PolicyArg {
    ReturnHome,
    FloatInCity,
}

impl From<PolicyArg> for ReturnPolicy {
    fn from(arg: PolicyArg) -> Self {
        match arg {
            PolicyArg::ReturnHome => Self::ReturnHome,
            PolicyArg::FloatInCity => Self::FloatInCity,
        }
    }
}

/// A patron's credit tier.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CreditTierArg {
    Restricted,
    Standard,
    Trusted,
}

impl From<CreditTierArg> for CreditTier {
    fn from(arg: CreditTierArg) -> Self {
        match arg {
            CreditTierArg::Restricted => Self::Restricted,
            CreditTierArg::Standard => Self::Standard,
            CreditTierArg::Trusted => Self::Trusted,
        }
    }
}

/// Why an item travels.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReasonArg {
    Repatriation,
    Hold,
    Rebalance,
}

impl From<ReasonArg> for TransferReason {
    fn from(arg: ReasonArg) -> Self {
        match arg {
            ReasonArg::Repatriation => Self::Repatriation,
            ReasonArg::Hold => Self::Hold,
            ReasonArg::Rebalance => Self::Rebalance,
        }
    }
}

/// A settlement charge.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ChargeKindArg {
    Loan,
    Return,
    Shipping,
    Lost,
}

impl From<ChargeKindArg> for ChargeKind {
    fn from(arg: ChargeKindArg) -> Self {
        match arg {
            ChargeKindArg::Loan => Self::Loan,
            ChargeKindArg::Return => Self::Return,
            ChargeKindArg::Shipping => Self::Shipping,
            ChargeKindArg::Lost => Self::Lost,
        }
    }
}

/// How a catalogued item came in (booth deposits and patron-driven books have commands of their own).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum AcquisitionArg {
    Purchase,
    Donation,
}

impl From<AcquisitionArg> for Acquisition {
    fn from(arg: AcquisitionArg) -> Self {
        match arg {
            AcquisitionArg::Purchase => Self::Purchase,
            AcquisitionArg::Donation => Self::Donation,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match run(cli.command).await {
        Ok(code) => code,
        // `readnet replay | head`: the reader has what it wanted.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            match error.downcast_ref::<Status>() {
                Some(status) => eprintln!("error: {}", output::status_line(status)),
                None => eprintln!("error: {error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr so stdout stays the command's answer.
fn init_logging(cli: &Cli) {
    // A server's operator wants to see it work; a script wants quiet unless something is wrong.
    let quiet = if matches!(cli.command, Command::Serve(_)) {
        1
    } else {
        0
    };
    let level = match cli.verbose + quiet {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only where a person reads them, not in captured logs.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match command {
        Command::Serve(args) => done(serve(args).await),
        Command::Demo(args) => done(demo::run(args.server).await),
        Command::Replay(args) => audit::replay_command(args).await,
        Command::Export(command) => audit::export_command(command).await,
        Command::Write(command) => done(write(command).await),
        Command::Read(command) => done(read(command).await),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = serve::ServeConfig {
        data_dir: args.data,
        store: args.store,
        listen: args.listen,
        patron_key_file: args.patron_key_file,
    };
    serve::serve(config, shutdown_signal()).await
}

/// Completes on Ctrl-C or SIGTERM (what service managers send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop the server with Ctrl-C")
            }
        }
    }
    if let Err(error) = tokio::signal::ctrl_c().await {
        // Without a signal to wait for, run until killed rather than stop at once.
        tracing::warn!(%error, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}

/// With `--json`, a refusal is also printed as JSON on stdout, so scripts read one format.
fn reported(json: bool, error: anyhow::Error) -> anyhow::Error {
    if json && let Some(status) = error.downcast_ref::<Status>() {
        println!("{}", output::status_json(status));
    }
    error
}

async fn write(command: WriteCommand) -> anyhow::Result<()> {
    let (opts, call) = command.into_request();
    let json = opts.server.json;
    let client = Client::connect(&opts.server.server).await?;
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

async fn read(command: ReadCommand) -> anyhow::Result<()> {
    match command {
        ReadCommand::Item { item, server } => {
            let client = Client::connect(&server.server).await?;
            let state = client
                .get_item(&item)
                .await
                .map_err(|e| reported(server.json, e))?;
            if server.json {
                println!("{}", output::item_json(&state));
            } else {
                println!("{}", output::item_line(&state));
            }
        }
        ReadCommand::ReadStream {
            stream,
            from_revision,
            backwards,
            max_count,
            server,
        } => {
            let request = v1::ReadStreamRequest {
                stream,
                from_revision,
                direction: direction(backwards),
                max_count,
            };
            let client = Client::connect(&server.server).await?;
            let response = client
                .ledger()
                .read_stream(request)
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print_read(&response.events, response.head_position, server.json);
        }
        ReadCommand::ReadAll {
            from_position,
            backwards,
            max_count,
            server,
        } => {
            let request = v1::ReadAllRequest {
                from_position,
                direction: direction(backwards),
                max_count,
            };
            let client = Client::connect(&server.server).await?;
            let response = client
                .ledger()
                .read_all(request)
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print_read(&response.events, response.head_position, server.json);
        }
        ReadCommand::Subscribe {
            after_position,
            count,
            server,
        } => {
            tokio::select! {
                result = subscribe(&server, after_position, count) => result?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    }
    Ok(())
}

fn print_read(events: &[v1::RecordedEvent], head_position: u64, json: bool) {
    if json {
        println!("{}", output::read_json(events, head_position));
    } else {
        events
            .iter()
            .for_each(|event| println!("{}", output::event_line(event)));
        println!("head position {head_position}");
    }
}

/// Prints events as they come, one line (or one JSON object) each, until `count` events.
async fn subscribe(
    server: &ServerOpts,
    after_position: u64,
    count: Option<u64>,
) -> anyhow::Result<()> {
    let client = Client::connect(&server.server).await?;
    let request = v1::SubscribeAllRequest { after_position };
    let mut stream = client
        .ledger()
        .subscribe_all(request)
        .await
        .map_err(|e| reported(server.json, e.into()))?
        .into_inner();
    let mut printed: u64 = 0;
    while count.is_none_or(|count| printed < count) {
        let Some(response) = stream
            .message()
            .await
            .map_err(|e| reported(server.json, e.into()))?
        else {
            anyhow::bail!("the server ended the subscription");
        };
        match response.message {
            Some(Message::Event(event)) => {
                printed += 1;
                if server.json {
                    println!(
                        "{}",
                        serde_json::json!({ "event": output::event_json(&event) })
                    );
                } else {
                    println!("{}", output::event_line(&event));
                }
            }
            Some(Message::CaughtUp(caught_up)) => {
                if server.json {
                    println!(
                        "{}",
                        serde_json::json!({ "caught_up": { "position": caught_up.position } })
                    );
                } else {
                    println!(
                        "caught up at position {}; live events follow",
                        caught_up.position
                    );
                }
            }
            None => tracing::warn!("the server sent an empty subscription message"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("readnet").chain(args.iter().copied()))
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_has_defaults() {
        let Command::Serve(args) = parse(&["serve"]).unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(args.data, PathBuf::from("./readnet-data"));
        assert_eq!(args.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(args.patron_key_file, None);
    }

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
        assert_eq!(opts.actor(), Actor::at("ZB-CENTRAL", v1::Channel::Desk));
        let Call::Checkout(request) = call else {
            panic!("not a checkout")
        };
        assert_eq!(request.command_id, "6a1f0c2e-1b7d-4c4e-9b1a-2f0e8d5c7a10");
        assert_eq!(request.item, "ZB-0001");
        assert_eq!(request.card.unwrap().number, "370102000001");
        assert_eq!(request.occurred_at.unwrap().seconds, 1_772_328_600);
    }

    #[test]
    fn admin_command_without_library_acts_as_system() {
        let cli = parse(&["join-city", "jinan", "--name", "济南"]).unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let (opts, call) = command.into_request();
        assert_eq!(opts.actor(), Actor::system());
        let Call::JoinCity(request) = call else {
            panic!("not join-city")
        };
        assert!(
            Uuid::parse_str(&request.command_id).is_ok(),
            "a fresh command id is a UUID"
        );
    }

    #[test]
    fn enums_are_kebab_case_words() {
        let cli = parse(&[
            "set-return-policy",
            "ZB-ZHOUCUN-07",
            "--policy",
            "float-in-city",
        ])
        .unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let Call::SetReturnPolicy(request) = command.into_request().1 else {
            panic!("not set-return-policy")
        };
        assert_eq!(request.policy(), ReturnPolicy::FloatInCity);

        let cli = parse(&[
            "register-library",
            "JN-QUANCHENG-24H",
            "--name",
            "泉城24小时",
            "--city",
            "jinan",
            "--tier",
            "self-service",
        ])
        .unwrap();
        let Command::Write(command) = cli.command else {
            panic!("not a write")
        };
        let Call::RegisterLibrary(request) = command.into_request().1 else {
            panic!("not register-library")
        };
        assert_eq!(request.tier(), LibraryTier::SelfService);
    }

    #[test]
    fn bad_card_and_bad_enum_are_usage_errors() {
        let error = parse(&["checkout", "ZB-0001", "--card", "370102000001"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let error = parse(&[
            "dispatch",
            "ZB-0001",
            "--to",
            "ZB-CENTRAL",
            "--reason",
            "holiday",
        ])
        .unwrap_err();
        assert_eq!(error.exit_code(), 2);
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
    fn subscribe_takes_a_count() {
        let cli = parse(&["subscribe", "--count", "3", "--json"]).unwrap();
        let Command::Read(ReadCommand::Subscribe { count, server, .. }) = cli.command else {
            panic!("not subscribe")
        };
        assert_eq!(count, Some(3));
        assert!(server.json);
    }
}
