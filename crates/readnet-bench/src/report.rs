//! The suite's results, as a table for people and as JSON for scripts.

use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use crate::{
    BytesPerEvent, Counts, GroupCommit, GrpcCheckouts, Latency, OpenTime, PostgresRows, ReplayRate,
    ServerProcessRows, SqliteAppend,
};

/// Everything one run of the suite measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub counts: Counts,
    pub fsync_floor: Latency,
    pub durable_append: Latency,
    pub group_commit: Vec<GroupCommit>,
    pub open_time: OpenTime,
    pub bytes_per_event: BytesPerEvent,
    pub sqlite: Vec<SqliteAppend>,
    /// The same appends on PostgreSQL (pgbench), or why they were not run.
    pub postgres: PostgresRows,
    /// readnet's group-commit appends/s over SQLite's, for each writer count both ran.
    pub readnet_over_sqlite: Vec<Ratio>,
    /// readnet's group-commit appends/s over PostgreSQL's, for each writer count both ran.
    pub readnet_over_postgres: Vec<Ratio>,
    /// Checkouts through the whole server over gRPC, in-process, for each number of clients.
    pub grpc_checkouts: Vec<GrpcCheckouts>,
    /// Checkouts with `readnet serve` in its own process, or why they were not run.
    pub server_process_checkouts: ServerProcessRows,
    /// A generated history folded into the projections.
    pub replay_rate: ReplayRate,
}

/// readnet's append rate over SQLite's with the same writers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    pub writers: usize,
    pub ratio: f64,
}

impl Report {
    /// The ratios of every writer count measured on both readnet and SQLite.
    pub fn ratios(group_commit: &[GroupCommit], sqlite: &[SqliteAppend]) -> Vec<Ratio> {
        sqlite
            .iter()
            .filter_map(|s| {
                let readnet = group_commit.iter().find(|g| g.writers == s.writers)?;
                Some(Ratio {
                    writers: s.writers,
                    ratio: readnet.latency.rate_per_s / s.latency.rate_per_s,
                })
            })
            .collect()
    }

    /// The ratios of every writer count measured on both readnet and PostgreSQL.
    pub fn postgres_ratios(group_commit: &[GroupCommit], postgres: &PostgresRows) -> Vec<Ratio> {
        let PostgresRows::Ran(rows) = postgres else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(|p| {
                let readnet = group_commit.iter().find(|g| g.writers == p.clients)?;
                Some(Ratio {
                    writers: p.clients,
                    ratio: readnet.latency.rate_per_s / p.latency.rate_per_s,
                })
            })
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = String::new();
        let mut row = |name: &str, latency: &Latency, rate: String| {
            let _ = writeln!(
                table,
                "{name:<44} {:>8} {:>9.2} s {:>10} {:>10} {:>20}",
                latency.count,
                latency.elapsed.as_secs_f64(),
                ms(latency.p50),
                ms(latency.p99),
                rate,
            );
        };
        let per_s = |latency: &Latency, unit: &str| format!("{:.0} {unit}/s", latency.rate_per_s);
        row(
            "fsync floor (64 B write + fdatasync)",
            &self.fsync_floor,
            per_s(&self.fsync_floor, "syncs"),
        );
        row(
            "durable append, 1 writer",
            &self.durable_append,
            per_s(&self.durable_append, "appends"),
        );
        for g in &self.group_commit {
            row(
                &format!("group commit, {}", writers(g.writers)),
                &g.latency,
                per_s(&g.latency, "appends"),
            );
        }
        for s in &self.sqlite {
            row(
                &format!("sqlite append, {}", writers(s.writers)),
                &s.latency,
                per_s(&s.latency, "appends"),
            );
        }
        let mut not_run = Vec::new();
        match &self.postgres {
            PostgresRows::Ran(rows) => {
                for p in rows {
                    row(
                        &format!("postgresql insert (pgbench), {}", clients(p.clients)),
                        &p.latency,
                        per_s(&p.latency, "appends"),
                    );
                }
            }
            PostgresRows::NotRun(reason) => {
                not_run.push(format!("postgresql insert (pgbench): not run: {reason}"));
            }
        }
        let server_process = match &self.server_process_checkouts {
            ServerProcessRows::Ran(rows) => rows.as_slice(),
            ServerProcessRows::NotRun(reason) => {
                not_run.push(format!(
                    "gRPC checkout, server in its own process: not run: {reason}"
                ));
                &[]
            }
        };
        for g in self.grpc_checkouts.iter().chain(server_process) {
            row(
                &format!(
                    "gRPC checkout{}, {}, {}",
                    if g.own_process { " (own process)" } else { "" },
                    clients(g.clients),
                    if g.authenticated {
                        "desk token"
                    } else {
                        "no authentication"
                    }
                ),
                &g.latency,
                per_s(&g.latency, "checkouts"),
            );
        }
        let open = &self.open_time;
        let indexed_per_s = open.events as f64 / open.latency.p50.as_secs_f64().max(1e-9);
        row(
            &format!("open a log of {} events", open.events),
            &open.latency,
            format!("{indexed_per_s:.0} events/s"),
        );
        writeln!(
            f,
            "{:<44} {:>8} {:>11} {:>10} {:>10} {:>20}",
            "measurement", "count", "window", "p50", "p99", "rate"
        )?;
        f.write_str(&table)?;
        for line in not_run {
            writeln!(f, "{line}")?;
        }
        let b = &self.bytes_per_event;
        writeln!(
            f,
            "bytes on disk per event: {:.1} in segments ({} segment bytes / {} events of {} data bytes); index files and checkpoint {} bytes more ({:.1} per event)",
            b.bytes_per_event,
            b.segment_bytes,
            b.events,
            crate::EVENT_DATA_BYTES,
            b.index_bytes,
            b.index_bytes as f64 / b.events.max(1) as f64,
        )?;
        let replay = &self.replay_rate;
        writeln!(f, "replay of a generated log of {} events:", replay.events)?;
        for p in &replay.passes {
            writeln!(
                f,
                "  {:<34} {:>10.0} ms {:>18}",
                p.projection,
                p.elapsed.as_secs_f64() * 1e3,
                format!("{:.0} events/s", p.events_per_s),
            )?;
        }
        for r in &self.readnet_over_sqlite {
            writeln!(
                f,
                "readnet / sqlite appends/s, {}: {:.2}x",
                writers(r.writers),
                r.ratio
            )?;
        }
        for r in &self.readnet_over_postgres {
            writeln!(
                f,
                "readnet / postgresql appends/s, {}: {:.2}x",
                writers(r.writers),
                r.ratio
            )?;
        }
        Ok(())
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}

fn clients(count: usize) -> String {
    match count {
        1 => "1 client".to_owned(),
        n => format!("{n} clients"),
    }
}

fn writers(count: usize) -> String {
    match count {
        1 => "1 writer".to_owned(),
        n => format!("{n} writers"),
    }
}
