//! `readnet`: runs the ledger's gRPC server, sends staff commands to it, plays a demo story.
//!
//! Thin glue: `cli` parses the arguments and turns them into protobuf requests; `client` talks
//! to the server, `output` prints, `demo` holds the story. Here: logging, dispatch, exit codes.

mod audit;
mod backup;
mod cli;
mod client;
mod cut_over;
mod demo;
mod doctor;
mod hourly;
mod http;
mod ops;
mod otlp;
mod output;
mod parquet_out;
mod prove;
mod serve;
mod tables;
mod tls;
mod tree;
mod verify;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use tonic::Status;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat, ServeArgs};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Made inside the runtime: the exporter's channel spawns its worker on it.
    let spans = match &cli.command {
        Command::Serve(args) => match args.otlp_endpoint.as_deref().map(otlp::provider) {
            Some(Err(error)) => {
                eprintln!("error: {error:#}");
                return ExitCode::FAILURE;
            }
            Some(Ok(provider)) => Some(provider),
            None => None,
        },
        _ => None,
    };
    init_logging(&cli, spans.as_ref());
    let result = run(cli.command).await;
    // The spans of the server's last calls, still queued, are sent before the process ends.
    if let Some(provider) = spans {
        otlp::shutdown(provider).await;
    }
    match result {
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

/// Logs go to stderr so stdout stays the command's answer; with `spans`, the spans go to an
/// OpenTelemetry collector too (`serve --otlp-endpoint`).
fn init_logging(cli: &Cli, spans: Option<&opentelemetry_sdk::trace::SdkTracerProvider>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
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
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(spans.map(otlp::layer));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match cli.log_format {
        // Colour codes only where a person reads them, not in captured logs.
        LogFormat::Text => subscriber
            .with(logs.with_ansi(std::io::stderr().is_terminal()))
            .init(),
        // One JSON object a line, with the current span and its parents (a call's method and
        // command id) on every line.
        LogFormat::Json => subscriber
            .with(logs.json().with_current_span(true).with_span_list(true))
            .init(),
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match command {
        Command::Serve(args) => done(serve(args).await),
        Command::Demo(args) => {
            let token = args.token()?;
            done(demo::run(args.server, token, args.tls).await)
        }
        Command::Replay(args) => audit::replay_command(args).await,
        Command::Export(command) => audit::export_command(command).await,
        Command::ExportHourly(args) => done(hourly::run(args).await),
        Command::Backup(args) => backup::backup_command(args).await,
        Command::Restore(args) => backup::restore_command(args).await,
        Command::CutOver(args) => cut_over::cut_over_command(args).await,
        Command::Tree(args) => tree::tree_command(args).await,
        Command::Checkpoint(args) => verify::checkpoint_command(args).await,
        Command::Verify(args) => verify::verify_command(args).await,
        Command::ProveLine(args) => prove::prove_line_command(args).await,
        Command::Doctor(args) => doctor::doctor_command(args).await,
        Command::Repair(args) => doctor::repair_command(args).await,
        Command::Principal(command) => done(cli::principal::run(command).await),
        Command::Write(command) => done(cli::write::run(command).await),
        Command::Read(command) => done(cli::read::run(command).await),
        Command::Availability(command) => done(cli::models::availability(command).await),
        Command::Stats(command) => done(cli::models::stats(command).await),
        Command::Monitor(args) => done(cli::models::monitor(args).await),
        Command::Notices(args) => done(cli::models::notices(args).await),
        Command::Statement(args) => done(cli::models::statement(args).await),
        Command::ClosePeriod(args) => done(cli::models::close_period(args).await),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = serve::ServeConfig {
        tls: args.tls(),
        limits: args.limits(),
        http_max_connections: args.http_max_connections,
        data_dir: args.data,
        store: args.store,
        listen: args.listen,
        http_listen: args.http_listen,
        patron_key_file: args.patron_key_file,
        insecure: args.insecure,
        refusal_window: chrono::TimeDelta::seconds(args.refusal_window_secs),
        max_backdate: chrono::TimeDelta::hours(args.max_backdate_hours),
        hold_sweep: (args.hold_sweep_secs > 0)
            .then(|| std::time::Duration::from_secs(args.hold_sweep_secs)),
        notice_tick: (args.notice_tick_secs > 0)
            .then(|| std::time::Duration::from_secs(args.notice_tick_secs)),
        retention: (args.forget_inactive_years > 0 && args.retention_sweep_secs > 0).then(|| {
            readnet_server::Retention {
                inactive_years: args.forget_inactive_years,
                every: std::time::Duration::from_secs(args.retention_sweep_secs),
            }
        }),
        sip2: args.sip2_listen.map(|listen| serve::Sip2Config {
            listen,
            limits: readnet_server::sip2::Sip2Limits {
                max_sessions: args.sip2_max_sessions.max(1),
                idle_timeout: std::time::Duration::from_millis(args.sip2_idle_timeout_ms.max(1)),
            },
        }),
        checkpoint_every: (args.checkpoint_secs > 0)
            .then(|| std::time::Duration::from_secs(args.checkpoint_secs)),
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
