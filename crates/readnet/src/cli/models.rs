//! The read models on the command line: availability (an item, a title, a shelf, a booth's
//! stock), statistics (library, city and network days, flows, top titles, holds), the live
//! monitor, a settlement statement and closing a period.
//!
//! Each answer prints as protobuf's JSON mapping of the gRPC response with `--json` (field names
//! as in the `.proto` files, enums by name, every field present), or as text: the answer's
//! scalar fields as `name: value` lines and each list as a table.

use std::io::IsTerminal as _;

use clap::Subcommand;
use readnet_proto::v1;

use crate::cli::{ServerOpts, reported};
use crate::output;

/// `readnet availability …`: where copies are and what can be lent.
#[derive(Debug, Subcommand)]
pub enum AvailabilityCommand {
    /// One item as availability sees it: its state and title key.
    Item {
        /// The item's barcode, e.g. JN-000001.
        item: String,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A title across the network: its copies' counts, and the libraries that can lend it,
    /// nearest to --from-library first.
    Title {
        #[command(flatten)]
        title: TitleArgs,
        /// The library asking (the patron's): nearest libraries first.
        #[arg(long, value_name = "CODE", default_value = "")]
        from_library: String,
        /// At most this many libraries (0: the server's default).
        #[arg(long, value_name = "N", default_value_t = 0)]
        max_libraries: u32,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A library's shelf: its copies' counts, in total and per title.
    Shelf {
        /// The library's code, e.g. JN-LIXIA-03.
        library: String,
        #[command(flatten)]
        title: TitleArgs,
        /// List each title's counts, not only the totals.
        #[arg(long)]
        per_title: bool,
        /// At most this many titles (0: the server's default).
        #[arg(long, value_name = "N", default_value_t = 0)]
        max_titles: u32,
        /// Go on after this title key (a previous page's `next_title_key`).
        #[arg(long, value_name = "KEY", default_value = "")]
        after_title_key: String,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A booth's stock (书巢): the copies in it.
    Booth {
        /// The booth's library code, e.g. JN-BOOTH-01.
        booth: String,
        /// At most this many copies (0: the server's default).
        #[arg(long, value_name = "N", default_value_t = 0)]
        max_items: u32,
        /// Go on after this item (a previous page's `next_item`).
        #[arg(long, value_name = "ITEM", default_value = "")]
        after_item: String,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
}

/// A title by ISBN, or by title and author.
#[derive(Debug, clap::Args)]
pub struct TitleArgs {
    #[arg(long, value_name = "ISBN", default_value = "")]
    isbn: String,
    #[arg(long, value_name = "TEXT", default_value = "")]
    title: String,
    #[arg(long, value_name = "TEXT", default_value = "")]
    author: String,
}

impl TitleArgs {
    fn to_proto(&self) -> Option<v1::AvailabilityTitle> {
        (!self.isbn.is_empty() || !self.title.is_empty() || !self.author.is_empty()).then(|| {
            v1::AvailabilityTitle {
                isbn: self.isbn.clone(),
                title: self.title.clone(),
                author: self.author.clone(),
            }
        })
    }
}

/// The position an answer must include.
#[derive(Debug, clap::Args)]
pub struct AsOf {
    /// Answer as of at least this position (a receipt's).
    #[arg(long, value_name = "N")]
    min_position: Option<u64>,
}

/// A range of local days.
#[derive(Debug, clap::Args)]
pub struct Days {
    /// First local day (YYYY-MM-DD).
    #[arg(long, value_name = "DAY")]
    from: String,
    /// Last local day (YYYY-MM-DD).
    #[arg(long, value_name = "DAY")]
    to: String,
    /// Count by the owning library instead of where it happened.
    #[arg(long)]
    by_owner: bool,
}

impl Days {
    fn by(&self) -> i32 {
        if self.by_owner {
            v1::StatisticsBy::OwningLibrary.into()
        } else {
            v1::StatisticsBy::TransactionLibrary.into()
        }
    }
}

/// `readnet stats …`: what happened, counted.
#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// A library's days: loans, returns, renewals, transfers, swaps, enrolments.
    LibraryDays {
        /// The library's code, e.g. JN-CENTRAL.
        library: String,
        #[command(flatten)]
        days: Days,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A city's days, its libraries together.
    CityDays {
        /// The city's code, e.g. jinan.
        city: String,
        #[command(flatten)]
        days: Days,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// The whole network's days.
    NetworkDays {
        #[command(flatten)]
        days: Days,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// Cross-city flows in a month: returns by owner city and return city.
    Flows {
        /// The month, YYYY-MM.
        month: String,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A city's most lent titles in a month.
    TopTitles {
        /// The city's code, e.g. zibo.
        city: String,
        /// The month, YYYY-MM.
        month: String,
        /// How many titles (0: 10; at most 100).
        #[arg(long, value_name = "N", default_value_t = 0)]
        limit: u32,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// Holds placed, filled, expired and cancelled, with fill times, at a pickup library or
    /// in a city.
    Holds {
        /// The pickup library.
        #[arg(long, value_name = "CODE", default_value = "", conflicts_with = "city")]
        library: String,
        /// The city (every library of it together).
        #[arg(long, value_name = "CITY", default_value = "")]
        city: String,
        /// First local day (YYYY-MM-DD).
        #[arg(long, value_name = "DAY")]
        from: String,
        /// Last local day (YYYY-MM-DD).
        #[arg(long, value_name = "DAY")]
        to: String,
        #[command(flatten)]
        at: AsOf,
        #[command(flatten)]
        server: ServerOpts,
    },
}

/// `readnet monitor`'s arguments.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// Only this library's subtree [default: the whole network].
    #[arg(long, value_name = "CODE", default_value = "")]
    library: String,
    /// Print the current view once and exit, instead of following it.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    at: AsOf,
    #[command(flatten)]
    server: ServerOpts,
}

/// `readnet notices`'s arguments.
#[derive(Debug, clap::Args)]
pub struct NoticesArgs {
    /// The gateway's name: the server keeps its checkpoint (lower-case letters, digits and
    /// hyphens).
    #[arg(long, value_name = "NAME")]
    gateway: String,
    /// Stop after this many notices.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Stop when no notice has come for this many seconds (drain what is waiting, then exit).
    #[arg(long, value_name = "SECONDS")]
    idle_secs: Option<u64>,
    /// Print without acknowledging: the next run gets the same notices again.
    #[arg(long)]
    no_ack: bool,
    #[command(flatten)]
    server: ServerOpts,
}

/// `readnet statement PERIOD`'s arguments.
#[derive(Debug, clap::Args)]
pub struct StatementArgs {
    /// The settlement period, YYYY-MM.
    period: String,
    #[command(flatten)]
    at: AsOf,
    #[command(flatten)]
    server: ServerOpts,
}

/// `readnet close-period PERIOD`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ClosePeriodArgs {
    /// The settlement period to close, YYYY-MM.
    period: String,
    /// The command's id, to retry a close safely [default: a new one].
    #[arg(long, value_name = "UUID")]
    command_id: Option<uuid::Uuid>,
    #[command(flatten)]
    server: ServerOpts,
}

/// Prints a response: protobuf's JSON mapping with `--json`, else as text.
fn print<M: prost::Message>(json: bool, name: &str, message: &M) -> anyhow::Result<()> {
    let value = output::proto_json(name, message)?;
    if json {
        println!("{value}");
    } else {
        output::text_lines(&value)
            .iter()
            .for_each(|line| println!("{line}"));
    }
    Ok(())
}

/// Runs `readnet availability …`.
pub async fn availability(command: AvailabilityCommand) -> anyhow::Result<()> {
    match command {
        AvailabilityCommand::Item { item, at, server } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .get_item(v1::AvailabilityServiceGetItemRequest {
                    item,
                    min_position: at.min_position,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(
                server.json,
                "readnet.v1.AvailabilityServiceGetItemResponse",
                &response,
            )
        }
        AvailabilityCommand::Title {
            title,
            from_library,
            max_libraries,
            at,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .find_title(v1::FindTitleRequest {
                    title: title.to_proto(),
                    from_library,
                    min_position: at.min_position,
                    max_libraries,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.FindTitleResponse", &response)
        }
        AvailabilityCommand::Shelf {
            library,
            title,
            per_title,
            max_titles,
            after_title_key,
            at,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .library_shelf(v1::LibraryShelfRequest {
                    library,
                    min_position: at.min_position,
                    title: title.to_proto(),
                    per_title,
                    max_titles,
                    after_title_key,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.LibraryShelfResponse", &response)
        }
        AvailabilityCommand::Booth {
            booth,
            max_items,
            after_item,
            at,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .booth_stock(v1::BoothStockRequest {
                    booth,
                    min_position: at.min_position,
                    max_items,
                    after_item,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.BoothStockResponse", &response)
        }
    }
}

/// Runs `readnet stats …`.
pub async fn stats(command: StatsCommand) -> anyhow::Result<()> {
    match command {
        StatsCommand::LibraryDays {
            library,
            days,
            at,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .statistics()
                .library_days(v1::LibraryDaysRequest {
                    min_position: at.min_position,
                    library,
                    from_day: days.from.clone(),
                    to_day: days.to.clone(),
                    by: days.by(),
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.LibraryDaysResponse", &response)
        }
        StatsCommand::CityDays {
            city,
            days,
            at,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .statistics()
                .city_days(v1::CityDaysRequest {
                    min_position: at.min_position,
                    city,
                    from_day: days.from.clone(),
                    to_day: days.to.clone(),
                    by: days.by(),
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.CityDaysResponse", &response)
        }
        StatsCommand::NetworkDays { days, at, server } => {
            let client = server.connect().await?;
            let response = client
                .statistics()
                .network_days(v1::NetworkDaysRequest {
                    min_position: at.min_position,
                    from_day: days.from.clone(),
                    to_day: days.to.clone(),
                    by: days.by(),
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.NetworkDaysResponse", &response)
        }
        StatsCommand::Flows { month, at, server } => {
            let client = server.connect().await?;
            let response = client
                .statistics()
                .flow_matrix(v1::FlowMatrixRequest {
                    min_position: at.min_position,
                    month,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.FlowMatrixResponse", &response)
        }
        StatsCommand::TopTitles {
            city,
            month,
            limit,
            at,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .statistics()
                .top_titles(v1::TopTitlesRequest {
                    min_position: at.min_position,
                    city,
                    month,
                    limit,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.TopTitlesResponse", &response)
        }
        StatsCommand::Holds {
            library,
            city,
            from,
            to,
            at,
            server,
        } => {
            if library.is_empty() && city.is_empty() {
                anyhow::bail!("give --library (a pickup library) or --city");
            }
            let client = server.connect().await?;
            let response = client
                .statistics()
                .hold_statistics(v1::HoldStatisticsRequest {
                    min_position: at.min_position,
                    library,
                    city,
                    from_day: from,
                    to_day: to,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print(server.json, "readnet.v1.HoldStatisticsResponse", &response)
        }
    }
}

/// Runs `readnet monitor`: the monitoring centre's view (监测中心) of each library, once or as
/// it changes.
pub async fn monitor(args: MonitorArgs) -> anyhow::Result<()> {
    let client = args.server.connect().await?;
    if args.once {
        let response = client
            .statistics()
            .monitor(v1::MonitorRequest {
                min_position: args.at.min_position,
                library: args.library,
            })
            .await
            .map_err(|e| reported(args.server.json, e.into()))?
            .into_inner();
        return print_monitor(args.server.json, &response.snapshot.unwrap_or_default());
    }
    let mut stream = client
        .statistics()
        .watch_monitor(v1::WatchMonitorRequest {
            min_position: args.at.min_position,
            library: args.library,
        })
        .await
        .map_err(|e| reported(args.server.json, e.into()))?
        .into_inner();
    // A person watching gets the view redrawn in place; a pipe gets each view after the last.
    let redraw = !args.server.json && std::io::stdout().is_terminal();
    loop {
        tokio::select! {
            message = stream.message() => {
                let Some(update) = message.map_err(|e| reported(args.server.json, e.into()))?
                else {
                    anyhow::bail!("the server ended the monitor's stream");
                };
                if redraw {
                    // Clear the screen and go home (ANSI), then draw.
                    print!("\x1b[2J\x1b[H");
                }
                print_monitor(args.server.json, &update.snapshot.unwrap_or_default())?;
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Notices acknowledged at once, at most: a backlog is acknowledged in steps, not one command
/// per notice.
const ACK_BATCH: u64 = 256;
/// A pause in the stream this long means the backlog is delivered: acknowledge what is printed.
const ACK_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs `readnet notices`: a gateway on the command line (ADR 0016). Each notice is printed
/// (a JSON object a line with --json) and, once stdout is flushed, acknowledged in batches, so
/// a notice is delivered at least once: one printed but not yet acknowledged when the command
/// stops comes again next time, one acknowledged never does.
pub async fn notices(args: NoticesArgs) -> anyhow::Result<()> {
    use std::io::Write as _;

    let client = args.server.connect().await?;
    let json = args.server.json;
    let mut stream = client
        .notices()
        .subscribe_notices(v1::SubscribeNoticesRequest {
            gateway: args.gateway.clone(),
        })
        .await
        .map_err(|e| reported(json, e.into()))?
        .into_inner();
    let (mut printed, mut acknowledged, mut count) = (0u64, 0u64, 0u64);
    let idle = args.idle_secs.map(std::time::Duration::from_secs);
    let acknowledge = |through: u64| {
        let mut notices = client.notices();
        let gateway = args.gateway.clone();
        async move {
            notices
                .acknowledge_notices(v1::AcknowledgeNoticesRequest {
                    command_id: uuid::Uuid::new_v4().to_string(),
                    gateway,
                    through_sequence: through,
                    ..Default::default()
                })
                .await
        }
    };
    loop {
        let wait = if printed > acknowledged && !args.no_ack {
            ACK_PAUSE
        } else {
            idle.unwrap_or(std::time::Duration::MAX)
        };
        let next = tokio::select! {
            next = tokio::time::timeout(wait, stream.message()) => next,
            _ = tokio::signal::ctrl_c() => break,
        };
        let notice = match next {
            Ok(message) => match message.map_err(|e| reported(json, e.into()))? {
                Some(response) => response.notice.unwrap_or_default(),
                None => anyhow::bail!("the server ended the notices' stream"),
            },
            // Quiet: acknowledge what is printed, or stop when quiet for --idle-secs.
            Err(_) if wait == ACK_PAUSE => {
                std::io::stdout().flush()?;
                acknowledge(printed)
                    .await
                    .map_err(|e| reported(json, e.into()))?;
                acknowledged = printed;
                continue;
            }
            Err(_) => break,
        };
        print(json, "readnet.v1.Notice", &notice)?;
        if !json {
            println!();
        }
        printed = notice.sequence;
        count += 1;
        if !args.no_ack && printed - acknowledged >= ACK_BATCH {
            std::io::stdout().flush()?;
            acknowledge(printed)
                .await
                .map_err(|e| reported(json, e.into()))?;
            acknowledged = printed;
        }
        if args.limit.is_some_and(|limit| count >= limit) {
            break;
        }
    }
    if printed > acknowledged && !args.no_ack {
        std::io::stdout().flush()?;
        acknowledge(printed)
            .await
            .map_err(|e| reported(json, e.into()))?;
    }
    Ok(())
}

fn print_monitor(json: bool, snapshot: &v1::MonitorSnapshot) -> anyhow::Result<()> {
    print(json, "readnet.v1.MonitorSnapshot", snapshot)
}

/// Runs `readnet statement PERIOD`.
pub async fn statement(args: StatementArgs) -> anyhow::Result<()> {
    let client = args.server.connect().await?;
    let response = client
        .settlement()
        .get_statement(v1::GetStatementRequest {
            period: args.period,
            min_position: args.at.min_position,
        })
        .await
        .map_err(|e| reported(args.server.json, e.into()))?
        .into_inner();
    print(
        args.server.json,
        "readnet.v1.Statement",
        &response.statement.unwrap_or_default(),
    )
}

/// Runs `readnet close-period PERIOD`.
pub async fn close_period(args: ClosePeriodArgs) -> anyhow::Result<()> {
    let client = args.server.connect().await?;
    let command_id = args.command_id.unwrap_or_else(uuid::Uuid::new_v4);
    let response = client
        .settlement()
        .close_period(v1::ClosePeriodRequest {
            command_id: command_id.to_string(),
            period: args.period,
            correlation_id: String::new(),
        })
        .await
        .map_err(|e| reported(args.server.json, e.into()))?
        .into_inner();
    print(
        args.server.json,
        "readnet.v1.ClosePeriodResponse",
        &response,
    )
}

#[cfg(test)]
mod tests {
    use crate::client::with_scheme;
    use crate::output::{in_flags, text_lines};
    use crate::tls::ClientTls;

    #[test]
    fn a_server_address_without_a_scheme_is_plain_http_unless_tls_files_are_given() {
        let plain = ClientTls::default();
        assert_eq!(
            with_scheme("127.0.0.1:50051", &plain),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            with_scheme("https://lib.example:443", &plain),
            "https://lib.example:443"
        );
        let tls = ClientTls {
            ca: Some("ca.pem".into()),
            ..ClientTls::default()
        };
        assert_eq!(
            with_scheme("lib.example:443", &tls),
            "https://lib.example:443"
        );
    }

    #[test]
    fn the_servers_metadata_names_become_the_flags_that_set_them() {
        let message = in_flags("x-readnet-library: this command needs the acting library");
        assert!(message.starts_with("--library"), "{message}");
        assert_eq!(in_flags("item: unknown"), "item: unknown");
    }

    #[test]
    fn an_answer_prints_its_fields_and_its_lists_as_aligned_tables() {
        let answer = serde_json::json!({
            "month": "2026-12",
            "cells": [
                {"owner_city": "jinan", "return_city": "zibo", "returns": 12},
                {"owner_city": "zibo", "return_city": "jinan", "returns": 3},
            ],
        });
        assert_eq!(
            text_lines(&answer),
            [
                "cells (2):",
                "  owner_city  return_city  returns",
                "  jinan       zibo         12",
                "  zibo        jinan        3",
                "month: 2026-12",
            ]
        );
    }
}
