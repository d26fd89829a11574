//! The command line: [`Cli`] and its top-level [`Command`]s. The write subcommands and the
//! requests they build are in [`write`], the read subcommands in [`read`], the words their
//! enum arguments take in [`args`]; `replay` and `export` are `audit`'s.

pub mod args;
pub mod models;
pub mod principal;
pub mod read;
pub mod write;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{ArgAction, Args, Parser, Subcommand};
use readnet_server::Limits;
use readnet_server::sip2::Sip2Limits;
use readnet_store::bounded::Delivery;
use tonic::Status;

use crate::tls::{ClientTls, ServerTlsFiles};
use crate::{audit, backup, doctor, output, tree, verify};

/// The public-library network ledger: server, staff commands and a demo.
#[derive(Debug, Parser)]
#[command(name = "readnet", version, about)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG takes precedence.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// How log lines on stderr are written: text for people, json (one object a line, with the
    /// span's fields such as a call's method and command id) for log collectors.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What `readnet` is asked to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (on the embedded store, or KurrentDB with --store) until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Play a Jinan–Zibo story through the gRPC API and say what happened (a smoke test too).
    Demo(DemoArgs),
    /// Fold every projection from the log, offline, and print digests and settlement statements.
    Replay(audit::ReplayArgs),
    /// Export events (JSON Lines or Parquet), settlement statements (JSON, CSV) or the
    /// projection tables (Parquet), offline.
    #[command(subcommand)]
    Export(audit::ExportCommand),
    /// Follow a server's log into hourly Parquet partitions (OUT/date=…/hour=…/), resuming
    /// from OUT/_checkpoint.json: a growing dataset for Spark, Trino or DuckDB.
    ExportHourly(crate::hourly::HourlyArgs),
    /// The log as a Merkle tree (RFC 6962), offline: its size and root, and proofs of inclusion
    /// and consistency for auditors to check.
    Tree(tree::TreeArgs),
    /// Sign the head of the log (size and root) with the data directory's checkpoint key, as a
    /// C2SP signed note; --public-key prints the key auditors verify with.
    Checkpoint(verify::CheckpointArgs),
    /// Check a signed checkpoint against a log, trusting only the public key; exit 0 verified,
    /// 1 tampered, 2 could not check.
    Verify(verify::VerifyArgs),
    /// Check one line of a closed settlement statement down to its events, against the
    /// period's signed checkpoint, trusting only the public key; exit 0 verified, 1 tampered,
    /// 2 could not check.
    ProveLine(crate::prove::ProveLineArgs),
    /// Copy a data directory, the server running or not, into a new directory: the log through
    /// its acknowledged head, the keys, tokens and snapshots, and a manifest checked by replay.
    Backup(backup::BackupArgs),
    /// Copy a data directory whose log holds patron ids in the clear (written before they were
    /// sealed) into a new data directory with every id sealed under its patron's key, offline
    /// (ADR 0018); the new directory records the old log's tree head it was cut from.
    CutOver(crate::cut_over::CutOverArgs),
    /// Check a backup (every file's SHA-256 and a replay of its log) and restore it into a new
    /// data directory.
    Restore(backup::RestoreArgs),
    /// Report the state of a data directory's log, index files, checkpoint and snapshots, and
    /// whether the server starts on it; exit 1 when the log is damaged. Changes nothing.
    Doctor(doctor::DoctorArgs),
    /// Truncate a damaged log after its last intact append (server stopped); what is cut is
    /// moved aside and the repair logged. Without --keep-through, print the plan.
    Repair(doctor::RepairArgs),
    /// Principals (who may call the server) and their tokens.
    #[command(subcommand)]
    Principal(principal::PrincipalCommand),
    /// Availability: an item, a title across the network, a library's shelf, a booth's stock.
    #[command(subcommand)]
    Availability(models::AvailabilityCommand),
    /// Statistics: library, city and network days, cross-city flows, top titles, holds.
    #[command(subcommand)]
    Stats(models::StatsCommand),
    /// The monitoring centre's view of every library (监测中心), live until Ctrl-C, or --once.
    Monitor(models::MonitorArgs),
    /// Take notices to patrons as a gateway (due soon, overdue, hold ready, ...): print each and
    /// acknowledge it once printed; the server keeps the gateway's checkpoint (ADR 0016).
    Notices(models::NoticesArgs),
    /// A settlement period's statement: who owes whom, by kind, and each city's net.
    Statement(models::StatementArgs),
    /// Close a settlement period: its statement becomes final (settlement clerks).
    ClosePeriod(models::ClosePeriodArgs),
    #[command(flatten)]
    Write(write::WriteCommand),
    #[command(flatten)]
    Read(read::ReadCommand),
}

/// `readnet serve`'s arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data directory (created if missing): the embedded store's log, the patron key and
    /// projection snapshots.
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    pub data: PathBuf,
    /// Keep the events in KurrentDB instead of DIR/log: a connection string such as
    /// kurrentdb://host:2113?tls=false, esdb://… or kurrentdb+discover://….
    #[arg(long, value_name = "URL", env = "READNET_STORE")]
    pub store: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Also serve HTTP/1.1 and HTTP/2 on ADDR: the log's tree as static files (C2SP tlog-tiles:
    /// /tlog/checkpoint, /tlog/tile/..., /tlog/periods/YYYY-MM), public by design.
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// The network secret for patron ids (default: DIR/patron.key, created on first start).
    #[arg(long, value_name = "FILE")]
    pub patron_key_file: Option<PathBuf>,
    /// Allow listening on a non-loopback address without TLS (tokens cross the network in the
    /// clear).
    #[arg(long)]
    pub insecure: bool,
    /// Serve gRPC over TLS with this certificate chain (PEM, leaf first); with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM); with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: refuse clients without a certificate this CA (PEM) signed; with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Connections served at once; more wait until one closes.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Connections the HTTP listener (--http-listen: web console, tiles, metrics) serves at
    /// once; more wait until one closes. Its deadlines are the gRPC listener's.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    pub http_max_connections: usize,
    /// Close a connection that has not finished its handshakes and first call within MS.
    #[arg(long, value_name = "MS", default_value_t = millis(Limits::default().handshake_timeout))]
    pub handshake_timeout_ms: u64,
    /// Close a connection with no open call for MS.
    #[arg(long, value_name = "MS", default_value_t = millis(Limits::default().idle_timeout))]
    pub idle_timeout_ms: u64,
    /// Cut off a subscription or read whose client took nothing for MS while its buffer was full.
    #[arg(long, value_name = "MS", default_value_t = millis(Limits::default().delivery.stall_timeout))]
    pub stalled_client_timeout_ms: u64,
    /// How long, in seconds, a retry of a refused command id gets the original refusal
    /// (default a week; at most 366 days). A retry after it is refused as late
    /// (FAILED_PRECONDITION) and never decided again.
    #[arg(
        long,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        default_value_t = REFUSAL_WINDOW_DEFAULT_SECS,
        value_parser = clap::value_parser!(i64).range(1..=REFUSAL_WINDOW_MAX_SECS)
    )]
    pub refusal_window_secs: i64,
    /// How far back, in hours, a command may be dated (an offline kiosk syncing late; default
    /// 30 days, at most 10 years). Earlier is INVALID_ARGUMENT naming occurred_at.
    #[arg(
        long,
        value_name = "HOURS",
        default_value_t = readnet_server::DEFAULT_MAX_BACKDATE.num_hours(),
        value_parser = clap::value_parser!(i64).range(0..=10 * 366 * 24)
    )]
    pub max_backdate_hours: i64,
    /// How often, in seconds, the server ends the holds whose time is up (unfilled after 90
    /// days, not picked up after 7), by its own ExpireHolds; 0: never (send `readnet
    /// expire-holds` instead).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub hold_sweep_secs: u64,
    /// How often, in seconds, the server writes its clock into the log (TickClock), from which
    /// the notices that depend on time are derived (due soon, overdue, a block coming, a hold
    /// expiring); 0: never (an operator sends it).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub notice_tick_secs: u64,
    /// The retention policy (ADR 0018): forget patrons with nothing open and no activity for
    /// this many years; 0: never (patrons are forgotten only by ForgetPatron).
    #[arg(long, value_name = "YEARS", default_value_t = 0)]
    pub forget_inactive_years: u32,
    /// How often the retention policy's sweep runs (with --forget-inactive-years).
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
    pub retention_sweep_secs: u64,
    /// Also serve SIP2 (self-check kiosks) on this address: kiosks log in with a kiosk's (or
    /// desk's) principal name and token. Off unless given. Over TLS with the listener's
    /// certificate (--tls-cert, --tls-key, --client-ca); without one, plain TCP.
    #[arg(long, value_name = "ADDR")]
    pub sip2_listen: Option<SocketAddr>,
    /// SIP2 sessions served at once; a connection beyond them is closed (logged).
    #[arg(long, value_name = "N", default_value_t = Sip2Limits::default().max_sessions)]
    pub sip2_max_sessions: usize,
    /// Close a SIP2 session with no request for MS.
    #[arg(long, value_name = "MS", default_value_t = millis(Sip2Limits::default().idle_timeout))]
    pub sip2_idle_timeout_ms: u64,
    /// How often, in seconds, the server signs a checkpoint of the log's Merkle tree while the
    /// log grows (kept in DIR/tlog, served by AuditService); 0: only on demand and at period
    /// closes. The key is DIR/checkpoint.key, created on first use.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub checkpoint_secs: u64,
    /// Send each call's span (its method and command id, and SIP2 messages' too) to an
    /// OpenTelemetry collector over OTLP/gRPC at URL, e.g. http://127.0.0.1:4317: batched,
    /// and flushed when the server stops. Off unless given.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// `--refusal-window-secs` unless given: the ledger's own default.
const REFUSAL_WINDOW_DEFAULT_SECS: i64 = readnet_server::REFUSAL_RETRY_WINDOW.num_seconds();
/// The longest refusal window `serve` takes: a year and a day.
const REFUSAL_WINDOW_MAX_SECS: i64 = 366 * 24 * 60 * 60;

impl ServeArgs {
    /// The listener's bounds: the defaults, with what the flags set.
    pub fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            max_connections: self.max_connections,
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            delivery: Delivery {
                stall_timeout: Duration::from_millis(self.stalled_client_timeout_ms),
                ..defaults.delivery
            },
            ..defaults
        }
    }

    /// The listener's TLS files, if a certificate was given.
    pub fn tls(&self) -> Option<ServerTlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(ServerTlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
            }),
            _ => None,
        }
    }
}

/// `readnet demo`'s arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Server to play against, as a network-admin (its token from --token-file, --data or
    /// READNET_TOKEN); without it, the demo starts its own on a temporary directory.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// A file holding a network-admin's token (with --server).
    #[arg(long, value_name = "FILE", requires = "server")]
    pub token_file: Option<PathBuf>,
    /// The server's data directory: act with its DIR/admin.token (with --server).
    #[arg(long = "data", value_name = "DIR", requires = "server")]
    pub data_dir: Option<PathBuf>,
    /// TLS for an https:// --server.
    #[command(flatten)]
    pub tls: ClientTls,
}

impl DemoArgs {
    /// The token to play with, as [`ServerOpts::token`] finds one.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        ServerOpts {
            server: self.server.clone().unwrap_or_default(),
            json: false,
            token_file: self.token_file.clone(),
            data_dir: self.data_dir.clone(),
            tls: ClientTls::default(),
        }
        .token()
    }
}

/// Where to send requests and how to print the answer.
#[derive(Debug, Args)]
pub struct ServerOpts {
    /// The readnet server.
    #[arg(
        long,
        value_name = "URL",
        env = "READNET_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
    /// A file holding the token to act with [default: $READNET_TOKEN; with --data, the
    /// server's first administrator's token in DIR/admin.token].
    #[arg(long, value_name = "FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// The server's data directory: act with its DIR/admin.token (on the server's machine).
    #[arg(long = "data", value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// TLS for an https:// server.
    #[command(flatten)]
    pub tls: ClientTls,
}

/// The environment variable a token may come in.
pub const TOKEN_ENV: &str = "READNET_TOKEN";

impl ServerOpts {
    /// The token to act with: --token-file, else DIR/admin.token with --data, else
    /// $READNET_TOKEN; none if none is given (the server will refuse most calls).
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        let file = match (&self.token_file, &self.data_dir) {
            (Some(file), _) => Some(file.clone()),
            (None, Some(dir)) => Some(crate::serve::admin_token_file(dir)),
            (None, None) => None,
        };
        if let Some(file) = file {
            let token = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?;
            return Ok(Some(token.trim().to_owned()));
        }
        Ok(std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()))
    }

    /// Connects to the server with the token these options name.
    pub async fn connect(&self) -> anyhow::Result<crate::client::Client> {
        crate::client::Client::connect(&self.server, self.token()?.as_deref(), &self.tls).await
    }
}

/// With `--json`, a refusal is also printed as JSON on stdout, so scripts read one format.
fn reported(json: bool, error: anyhow::Error) -> anyhow::Error {
    if json && let Some(status) = error.downcast_ref::<Status>() {
        println!("{}", output::status_json(status));
    }
    error
}

/// Parses `readnet` followed by `args`, as the binary would.
#[cfg(test)]
fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("readnet").chain(args.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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
        assert_eq!(args.tls(), None);
    }

    #[test]
    fn serve_takes_a_certificate_only_with_its_key_and_a_client_ca_only_with_both() {
        assert!(parse(&["serve", "--tls-cert", "s.pem"]).is_err());
        assert!(parse(&["serve", "--tls-key", "s.key"]).is_err());
        assert!(parse(&["serve", "--client-ca", "ca.pem"]).is_err());
        let Command::Serve(args) = parse(&[
            "serve",
            "--tls-cert",
            "s.pem",
            "--tls-key",
            "s.key",
            "--client-ca",
            "ca.pem",
        ])
        .unwrap()
        .command
        else {
            panic!("not serve")
        };
        assert_eq!(
            args.tls(),
            Some(ServerTlsFiles {
                cert: PathBuf::from("s.pem"),
                key: PathBuf::from("s.key"),
                client_ca: Some(PathBuf::from("ca.pem")),
            })
        );
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let whoami = ["principal", "whoami", "--server", "https://localhost:1"];
        assert!(parse(&[&whoami[..], &["--tls-cert", "c.pem"]].concat()).is_err());
        assert!(parse(&[&whoami[..], &["--tls-ca", "ca.pem"]].concat()).is_ok());
    }
}
