//! `readnet export tables`: the projection tables as Parquet files, offline, from a data
//! directory (as `readnet export statements` is).
//!
//! One pass over the log folds the statistics and settlement projections; each table asked for
//! is then written as `OUT/<table>.parquet` (the statistics' whole tables of
//! [`readnet_statistics::table`], and the settlement's charges, statement lines and nets), each
//! under a hidden temporary name renamed into place. The columns are fixed per table and
//! documented in docs/analytics.md: integers and money (fen) INT64, days DATE, instants
//! TIMESTAMP(MICROS, UTC). No table holds a patron id.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use readnet_projection::{Pipeline, Projection as _};
use readnet_settlement::{Settlement, Statement};
use readnet_statistics::table::{
    city_day_rows, flow_rows, hold_day_rows, library_day_rows, network_day_rows, title_month_rows,
};
use readnet_statistics::{By, Counters, DayFigures, Statistics};
use serde_json::{Map, Value, json};

use crate::parquet_out::{Kind, ParquetFile};

/// A projection table `readnet export tables` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Table {
    /// Each library's figures per local day, in both views (transaction and owning library).
    LibraryDays,
    /// Each city's figures per local day (its libraries summed, patrons united).
    CityDays,
    /// The network's figures per day.
    NetworkDays,
    /// Returns per month by owner city and return city.
    Flows,
    /// Every title's loans per city and month, ranked.
    TopTitles,
    /// Holds per pickup library and local day, with fill times.
    HoldDays,
    /// Settlement charges: one per chargeable event, under the period it is settled in.
    Charges,
    /// Settlement statement lines: who owes whom for what, per period.
    StatementLines,
    /// Each city's net per statement.
    StatementNets,
}

impl Table {
    /// Every table, in the order they are written.
    const ALL: [Table; 9] = [
        Table::LibraryDays,
        Table::CityDays,
        Table::NetworkDays,
        Table::Flows,
        Table::TopTitles,
        Table::HoldDays,
        Table::Charges,
        Table::StatementLines,
        Table::StatementNets,
    ];

    /// The file's name in the output directory.
    fn file_name(self) -> &'static str {
        match self {
            Table::LibraryDays => "library_days.parquet",
            Table::CityDays => "city_days.parquet",
            Table::NetworkDays => "network_days.parquet",
            Table::Flows => "flows.parquet",
            Table::TopTitles => "top_titles.parquet",
            Table::HoldDays => "hold_days.parquet",
            Table::Charges => "charges.parquet",
            Table::StatementLines => "statement_lines.parquet",
            Table::StatementNets => "statement_nets.parquet",
        }
    }
}

/// The one file format the tables are written in (a flag, so that scripts say what they read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Parquet,
}

/// `readnet export tables`'s arguments.
#[derive(Debug, Args)]
pub struct ExportTablesArgs {
    /// The tables to write [default: all of them].
    #[arg(value_enum, value_name = "TABLE")]
    tables: Vec<Table>,
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// The tables as of this position (default: the end of the log).
    #[arg(long, value_name = "POSITION")]
    through: Option<u64>,
    /// The directory to write `<table>.parquet` files into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "parquet")]
    format: TableFormat,
}

/// `readnet export tables`.
pub async fn export_tables(args: ExportTablesArgs) -> anyhow::Result<ExitCode> {
    let mut tables = if args.tables.is_empty() {
        Table::ALL.to_vec()
    } else {
        args.tables.clone()
    };
    tables.sort_unstable();
    tables.dedup();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let store = crate::audit::open(&args.data).await?;
    let through = crate::audit::through(args.through, &store);
    let bar = crate::audit::progress(through.get(), "replaying");
    let mut pipeline = Pipeline::new();
    let statistics = pipeline.fold::<Statistics>();
    let settlement = pipeline.fold::<Settlement>();
    pipeline
        .run(&store, Some(through), |p| bar.set_position(p.get()))
        .await?;
    let stopped = |name| format!("the replay of {name} stopped");
    let statistics = statistics
        .finish()
        .await
        .with_context(|| stopped(Statistics::NAME))?
        .state;
    let settlement = settlement
        .finish()
        .await
        .with_context(|| stopped(Settlement::NAME))?
        .state;
    bar.finish_and_clear();

    let (statements, uncomputable) = crate::audit::statements_of(&settlement);
    for table in tables {
        let (columns, rows) = match table {
            Table::LibraryDays => library_days(&statistics),
            Table::CityDays => city_days(&statistics),
            Table::NetworkDays => network_days(&statistics),
            Table::Flows => flows(&statistics),
            Table::TopTitles => top_titles(&statistics),
            Table::HoldDays => hold_days(&statistics),
            Table::Charges => charges(&settlement),
            Table::StatementLines => statement_lines(&statements),
            Table::StatementNets => statement_nets(&statements),
        };
        let path = args.out.join(table.file_name());
        let written = write(&path, columns, &rows)?;
        eprintln!("{}: {written} row(s)", path.display());
    }
    Ok(if uncomputable == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {uncomputable} statement(s) could not be computed; their lines and nets are not in the files"
        );
        ExitCode::FAILURE
    })
}

fn write(path: &Path, columns: Vec<(String, Kind)>, rows: &[Value]) -> anyhow::Result<u64> {
    let mut file = ParquetFile::create(path, columns)?;
    for row in rows {
        file.push(row)?;
    }
    file.finish()
}

/// A table's columns and rows.
type Rows = (Vec<(String, Kind)>, Vec<Value>);

fn columns(list: &[(&str, Kind)]) -> Vec<(String, Kind)> {
    list.iter()
        .map(|(name, kind)| ((*name).to_owned(), *kind))
        .collect()
}

/// The two views' words in the `counted_by` column, as `readnet stats --by-owner` chooses them.
const VIEWS: [(By, &str); 2] = [
    (By::TransactionLibrary, "transaction_library"),
    (By::OwningLibrary, "owning_library"),
];

/// The additive counters' columns, in [`Counters`]' order, then the hourly loans.
const COUNTER_COLUMNS: [&str; 15] = [
    "loans",
    "returns",
    "renewals",
    "returns_of_other_libraries_items",
    "cross_city_loans",
    "cross_city_returns",
    "transfers_in",
    "transfers_out",
    "booth_swaps",
    "patron_driven_acquisitions",
    "enrolments",
    "digital_loans",
    "cross_city_digital_loans",
    "patron_driven_spent_fen",
    "visits",
];

/// The columns of a day's figures after the key columns `key`.
fn day_columns(key: &[(&str, Kind)]) -> Vec<(String, Kind)> {
    let mut list = columns(key);
    list.push(("day".to_owned(), Kind::Date));
    list.extend(COUNTER_COLUMNS.iter().map(|c| ((*c).to_owned(), Kind::Int)));
    for column in ["active_patrons", "on_loan_at_day_end", "overdue_at_day_end"] {
        list.push((column.to_owned(), Kind::Int));
    }
    list.extend((0..24).map(|hour| (format!("loans_hour_{hour:02}"), Kind::Int)));
    list
}

/// A day's figures as a row, after the key fields `key`.
fn day_row(mut key: Map<String, Value>, figures: &DayFigures) -> Value {
    let Counters {
        loans,
        returns,
        renewals,
        returns_of_other_libraries_items,
        cross_city_loans,
        cross_city_returns,
        transfers_in,
        transfers_out,
        booth_swaps,
        patron_driven_acquisitions,
        enrolments,
        digital_loans,
        cross_city_digital_loans,
        patron_driven_spent_fen,
        visits,
        loans_by_hour,
    } = figures.counters;
    let values = json!({
        "day": figures.day,
        "loans": loans,
        "returns": returns,
        "renewals": renewals,
        "returns_of_other_libraries_items": returns_of_other_libraries_items,
        "cross_city_loans": cross_city_loans,
        "cross_city_returns": cross_city_returns,
        "transfers_in": transfers_in,
        "transfers_out": transfers_out,
        "booth_swaps": booth_swaps,
        "patron_driven_acquisitions": patron_driven_acquisitions,
        "enrolments": enrolments,
        "digital_loans": digital_loans,
        "cross_city_digital_loans": cross_city_digital_loans,
        "patron_driven_spent_fen": patron_driven_spent_fen,
        "visits": visits,
        "active_patrons": figures.active_patrons,
        "on_loan_at_day_end": figures.on_loan_at_day_end,
        "overdue_at_day_end": figures.overdue_at_day_end,
    });
    if let Value::Object(values) = values {
        key.extend(values);
    }
    for (hour, n) in loans_by_hour.0.iter().enumerate() {
        key.insert(format!("loans_hour_{hour:02}"), json!(n));
    }
    Value::Object(key)
}

fn key(fields: Value) -> Map<String, Value> {
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn library_days(state: &Statistics) -> Rows {
    let columns = day_columns(&[
        ("counted_by", Kind::Text),
        ("library", Kind::Text),
        ("city", Kind::Text),
    ]);
    let mut rows = Vec::new();
    for (by, word) in VIEWS {
        for row in library_day_rows(state, by) {
            let fields = json!({"counted_by": word, "library": row.library, "city": row.city});
            rows.push(day_row(key(fields), &row.figures));
        }
    }
    (columns, rows)
}

fn city_days(state: &Statistics) -> Rows {
    let columns = day_columns(&[("counted_by", Kind::Text), ("city", Kind::Text)]);
    let mut rows = Vec::new();
    for (by, word) in VIEWS {
        for (city, figures) in city_day_rows(state, by) {
            rows.push(day_row(
                key(json!({"counted_by": word, "city": city})),
                &figures,
            ));
        }
    }
    (columns, rows)
}

fn network_days(state: &Statistics) -> Rows {
    let columns = day_columns(&[("counted_by", Kind::Text)]);
    let mut rows = Vec::new();
    for (by, word) in VIEWS {
        for figures in network_day_rows(state, by) {
            rows.push(day_row(key(json!({"counted_by": word})), &figures));
        }
    }
    (columns, rows)
}

/// The first day of a month key `YYYY-MM`.
fn month_start(month: &str) -> String {
    format!("{month}-01")
}

fn flows(state: &Statistics) -> Rows {
    let columns = columns(&[
        ("month", Kind::Text),
        ("month_start", Kind::Date),
        ("owner_city", Kind::Text),
        ("return_city", Kind::Text),
        ("returns", Kind::Int),
    ]);
    let rows = flow_rows(state)
        .into_iter()
        .map(|(month, cell)| {
            json!({
                "month_start": month_start(&month),
                "month": month,
                "owner_city": cell.owner_city,
                "return_city": cell.return_city,
                "returns": cell.returns,
            })
        })
        .collect();
    (columns, rows)
}

fn top_titles(state: &Statistics) -> Rows {
    let columns = columns(&[
        ("city", Kind::Text),
        ("month", Kind::Text),
        ("month_start", Kind::Date),
        ("rank", Kind::Int),
        ("title_key", Kind::Text),
        ("isbn", Kind::Text),
        ("title", Kind::Text),
        ("author", Kind::Text),
        ("loans", Kind::Int),
    ]);
    let rows = title_month_rows(state)
        .into_iter()
        .map(|row| {
            json!({
                "city": row.city,
                "month_start": month_start(&row.month),
                "month": row.month,
                "rank": row.rank,
                "title_key": row.title.title_key,
                "isbn": row.title.isbn,
                "title": row.title.title,
                "author": row.title.author,
                "loans": row.title.loans,
            })
        })
        .collect();
    (columns, rows)
}

fn hold_days(state: &Statistics) -> Rows {
    let columns = columns(&[
        ("library", Kind::Text),
        ("city", Kind::Text),
        ("day", Kind::Date),
        ("placed", Kind::Int),
        ("filled", Kind::Int),
        ("expired_unfilled", Kind::Int),
        ("not_picked_up", Kind::Int),
        ("cancelled", Kind::Int),
        ("fill_minutes_total", Kind::Int),
        ("fill_minutes_median", Kind::Int),
        ("fill_minutes_p90", Kind::Int),
    ]);
    let rows = hold_day_rows(state)
        .into_iter()
        .map(|row| {
            let f = row.figures;
            json!({
                "library": row.library,
                "city": row.city,
                "day": row.day,
                "placed": f.placed,
                "filled": f.filled,
                "expired_unfilled": f.expired_unfilled,
                "not_picked_up": f.not_picked_up,
                "cancelled": f.cancelled,
                "fill_minutes_total": row.fill_minutes_total,
                "fill_minutes_median": f.fill_minutes_median,
                "fill_minutes_p90": f.fill_minutes_p90,
            })
        })
        .collect();
    (columns, rows)
}

fn charges(settlement: &Settlement) -> Rows {
    let columns = columns(&[
        ("period", Kind::Text),
        ("position", Kind::Int),
        ("event_id", Kind::Text),
        ("occurred_at", Kind::Timestamp),
        ("kind", Kind::Text),
        ("debtor", Kind::Text),
        ("creditor", Kind::Text),
        ("amount_fen", Kind::Int),
        ("item", Kind::Text),
        ("original_period", Kind::Text),
        ("adjustment", Kind::Bool),
    ]);
    let mut rows = Vec::new();
    for period in settlement.periods() {
        for charge in settlement.charges(period) {
            rows.push(json!({
                "period": period.to_string(),
                "position": charge.position.get(),
                "event_id": charge.event_id.to_string(),
                "occurred_at": charge.occurred_at_us,
                "kind": charge.kind.as_str(),
                "debtor": charge.debtor.as_str(),
                "creditor": charge.creditor.as_str(),
                "amount_fen": charge.amount_fen.get(),
                "item": charge.item.as_str(),
                "original_period": charge.original_period.to_string(),
                "adjustment": charge.adjustment,
            }));
        }
    }
    (columns, rows)
}

/// `provisional` or `final`.
fn status(statement: &Statement) -> Value {
    serde_json::to_value(statement.status).expect("a status serialises")
}

fn statement_lines(statements: &[Statement]) -> Rows {
    let columns = columns(&[
        ("period", Kind::Text),
        ("status", Kind::Text),
        ("debtor", Kind::Text),
        ("creditor", Kind::Text),
        ("kind", Kind::Text),
        ("adjustment_of", Kind::Text),
        ("count", Kind::Int),
        ("amount_fen", Kind::Int),
        ("statement_digest", Kind::Text),
    ]);
    let mut rows = Vec::new();
    for statement in statements {
        let digest = statement.digest();
        for line in &statement.lines {
            rows.push(json!({
                "period": statement.period.to_string(),
                "status": status(statement),
                "debtor": line.debtor.as_str(),
                "creditor": line.creditor.as_str(),
                "kind": line.kind.as_str(),
                "adjustment_of": line.adjustment_of.map(|p| p.to_string()),
                "count": line.count,
                "amount_fen": line.amount_fen.get(),
                "statement_digest": digest,
            }));
        }
    }
    (columns, rows)
}

fn statement_nets(statements: &[Statement]) -> Rows {
    let columns = columns(&[
        ("period", Kind::Text),
        ("status", Kind::Text),
        ("city", Kind::Text),
        ("net_fen", Kind::Int),
        ("statement_digest", Kind::Text),
    ]);
    let mut rows = Vec::new();
    for statement in statements {
        let digest = statement.digest();
        for net in &statement.nets {
            rows.push(json!({
                "period": statement.period.to_string(),
                "status": status(statement),
                "city": net.city.as_str(),
                "net_fen": net.net_fen.get(),
                "statement_digest": digest,
            }));
        }
    }
    (columns, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_row_has_every_day_column_and_no_other() {
        let figures = DayFigures {
            day: "2026-05-04".into(),
            active_patrons: 2,
            ..DayFigures::default()
        };
        let row = day_row(key(json!({"counted_by": "owning_library"})), &figures);
        let mut names: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let columns = day_columns(&[("counted_by", Kind::Text)]);
        let mut expected: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert_eq!(row["active_patrons"], 2);
        assert_eq!(row["loans_hour_23"], 0);
    }

    #[test]
    fn every_table_has_a_file_of_its_own() {
        let mut names: Vec<&str> = Table::ALL.iter().map(|t| t.file_name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Table::ALL.len());
    }
}
