//! The read subcommands: one item's state, one stream, the whole log, a live subscription, a
//! library's work lists (pick list, copies to send home, in transit, hold shelf, overdue loans),
//! one hold and a patron's account.

use clap::Subcommand;
use readnet_proto::v1::{self, ReadDirection, subscribe_all_response::Message};

use crate::cli::{ServerOpts, reported};
use crate::client;
use crate::output;

/// Commands that read the ledger.
#[derive(Debug, Subcommand)]
pub enum ReadCommand {
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
    /// A library's pick list: copies on its shelves set aside for holds, with where each goes
    /// next (dispatch it with reason hold).
    PickList {
        /// The library's code, e.g. JN-LIXIA-03.
        library: String,
        /// Answer as of at least this position (a receipt's).
        #[arg(long, value_name = "N")]
        min_position: Option<u64>,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A library's subtree (e.g. a county's 总馆 network): its libraries as a tree, and the sums
    /// of their days (by transaction library) from --from to --to.
    Subtree {
        /// The subtree's root, e.g. TL-TONGGUAN-G01.
        library: String,
        /// First local day (YYYY-MM-DD).
        #[arg(long, value_name = "DAY")]
        from: String,
        /// Last local day (YYYY-MM-DD), at most 366 days after --from.
        #[arg(long, value_name = "DAY")]
        to: String,
        /// Answer as of at least this position (a receipt's).
        #[arg(long, value_name = "N")]
        min_position: Option<u64>,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// Acquisition budgets of a year (ADR 0019): per library, per city and in all, the budget,
    /// the patron-driven share, what was spent and what remains (fen).
    Budgets {
        /// The budget year.
        #[arg(long)]
        year: u32,
        /// One library.
        #[arg(long, value_name = "CODE", conflicts_with = "city")]
        library: Option<String>,
        /// Every library of a city.
        #[arg(long)]
        city: Option<String>,
        /// Answer as of at least this position (a receipt's).
        #[arg(long, value_name = "N")]
        min_position: Option<u64>,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// One open hold: its phase and, while waiting, its place in its title's queue.
    Hold {
        /// The hold's number.
        hold: u64,
        /// Answer as of at least this position (a receipt's).
        #[arg(long, value_name = "N")]
        min_position: Option<u64>,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A library's copies to send home (homebound), each with its owner.
    Homebound {
        /// The library's code, e.g. JN-LIXIA-03.
        library: String,
        #[command(flatten)]
        page: ItemPage,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// The copies in transit towards a library (--to, the default) or from it (--from).
    Transit {
        /// The library's code, e.g. JN-DC.
        library: String,
        /// Dispatched from the library, not yet received.
        #[arg(long)]
        from: bool,
        #[command(flatten)]
        page: ItemPage,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A library's hold shelf: copies ready for their holders, and those to take off it today.
    HoldShelf {
        /// The library's code, e.g. ZB-READING-01.
        library: String,
        /// Answer as of at least this position (a receipt's).
        #[arg(long, value_name = "N")]
        min_position: Option<u64>,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// The loans from a library that are overdue now, the longest overdue first.
    Overdue {
        /// The library's code, e.g. JN-CENTRAL.
        library: String,
        /// Go on from a previous page (its last line names the token).
        #[arg(long, value_name = "TOKEN", default_value = "")]
        page_token: String,
        /// At most this many loans (0: 100; the server caps it at 1000).
        #[arg(long, value_name = "N", default_value_t = 0)]
        max_items: u32,
        /// Answer as of at least this position (a receipt's).
        #[arg(long, value_name = "N")]
        min_position: Option<u64>,
        #[command(flatten)]
        server: ServerOpts,
    },
    /// A patron's account by card: loans with due dates and renewals left, overdue loans,
    /// holds with their phase and queue position, lost-item debts, and whether and why the
    /// patron is blocked.
    Account {
        /// The patron's card: issuing city and card number, e.g. jinan:370102000001.
        #[arg(long, value_name = "CITY:NUMBER", value_parser = client::parse_card)]
        card: v1::Card,
        /// Where the card is shown: the acting library (a desk or kiosk principal over one
        /// library acts at its own without it).
        #[arg(long, value_name = "CODE")]
        library: Option<String>,
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

/// A page of a work list listed by item id.
#[derive(Debug, clap::Args)]
pub struct ItemPage {
    /// Go on after this item id (a previous page's last line names it).
    #[arg(long, value_name = "ITEM", default_value = "")]
    after_item: String,
    /// At most this many copies (0: 100; the server caps it at 1000).
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_items: u32,
    /// Answer as of at least this position (a receipt's).
    #[arg(long, value_name = "N")]
    min_position: Option<u64>,
}

/// Prints a work list: JSON, or its lines.
fn print_list(
    json: bool,
    as_json: impl FnOnce() -> serde_json::Value,
    lines: impl FnOnce() -> Vec<String>,
) {
    if json {
        println!("{}", as_json());
    } else {
        lines().iter().for_each(|line| println!("{line}"));
    }
}

/// The protobuf direction `--backwards` asks for.
fn direction(backwards: bool) -> i32 {
    let direction = if backwards {
        ReadDirection::Backwards
    } else {
        ReadDirection::Forwards
    };
    direction.into()
}

/// Sends a read and prints what comes back, as lines or as JSON.
pub async fn run(command: ReadCommand) -> anyhow::Result<()> {
    match command {
        ReadCommand::Item { item, server } => {
            let client = server.connect().await?;
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
            let client = server.connect().await?;
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
            let client = server.connect().await?;
            let response = client
                .ledger()
                .read_all(request)
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print_read(&response.events, response.head_position, server.json);
        }
        ReadCommand::PickList {
            library,
            min_position,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .pick_list(v1::PickListRequest {
                    library,
                    min_position,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            if server.json {
                println!("{}", output::pick_list_json(&response));
            } else {
                output::pick_list_lines(&response)
                    .iter()
                    .for_each(|line| println!("{line}"));
            }
        }
        ReadCommand::Subtree {
            library,
            from,
            to,
            min_position,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .statistics()
                .subtree_days(v1::SubtreeDaysRequest {
                    min_position,
                    library,
                    from_day: from,
                    to_day: to,
                    by: v1::StatisticsBy::TransactionLibrary.into(),
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            if server.json {
                println!("{}", output::subtree_json(&response));
            } else {
                output::subtree_lines(&response)
                    .iter()
                    .for_each(|line| println!("{line}"));
            }
        }
        ReadCommand::Budgets {
            year,
            library,
            city,
            min_position,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .statistics()
                .acquisition_budgets(v1::AcquisitionBudgetsRequest {
                    min_position,
                    year,
                    library: library.unwrap_or_default(),
                    city: city.unwrap_or_default(),
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            if server.json {
                println!("{}", output::budgets_json(&response));
            } else {
                output::budgets_lines(&response)
                    .iter()
                    .for_each(|line| println!("{line}"));
            }
        }
        ReadCommand::Hold {
            hold,
            min_position,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .get_hold(v1::GetHoldRequest { hold, min_position })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            if server.json {
                println!("{}", output::hold_json(&response));
            } else {
                println!("{}", output::hold_line(&response));
            }
        }
        ReadCommand::Homebound {
            library,
            page,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .homebound_list(v1::HomeboundListRequest {
                    library,
                    min_position: page.min_position,
                    max_items: page.max_items,
                    after_item: page.after_item,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print_list(
                server.json,
                || output::homebound_json(&response),
                || output::homebound_lines(&response),
            );
        }
        ReadCommand::Transit {
            library,
            from,
            page,
            server,
        } => {
            let direction = if from {
                v1::TransitDirection::From
            } else {
                v1::TransitDirection::To
            };
            let client = server.connect().await?;
            let response = client
                .availability()
                .transit_list(v1::TransitListRequest {
                    library,
                    direction: direction.into(),
                    min_position: page.min_position,
                    max_items: page.max_items,
                    after_item: page.after_item,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print_list(
                server.json,
                || output::transit_json(&response),
                || output::transit_lines(&response),
            );
        }
        ReadCommand::HoldShelf {
            library,
            min_position,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .hold_shelf(v1::HoldShelfRequest {
                    library,
                    min_position,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print_list(
                server.json,
                || output::hold_shelf_json(&response),
                || output::hold_shelf_lines(&response),
            );
        }
        ReadCommand::Overdue {
            library,
            page_token,
            max_items,
            min_position,
            server,
        } => {
            let client = server.connect().await?;
            let response = client
                .availability()
                .overdue_loans(v1::OverdueLoansRequest {
                    library,
                    min_position,
                    max_items,
                    page_token,
                })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            print_list(
                server.json,
                || output::overdue_json(&response),
                || output::overdue_lines(&response),
            );
        }
        ReadCommand::Account {
            card,
            library,
            server,
        } => {
            let client = server.connect().await?;
            let actor = client::Actor {
                library,
                channel: v1::Channel::Unspecified,
            };
            let response = client
                .account(&actor)?
                .get_account(v1::GetAccountRequest { card: Some(card) })
                .await
                .map_err(|e| reported(server.json, e.into()))?
                .into_inner();
            if server.json {
                println!("{}", output::account_json(&response));
            } else {
                output::account_lines(&response)
                    .iter()
                    .for_each(|line| println!("{line}"));
            }
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
    let client = server.connect().await?;
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
    use crate::cli::{Command, parse};

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
