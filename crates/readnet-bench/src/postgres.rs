//! The group-commit workload on PostgreSQL, for scale: one durable single-row insert per
//! transaction (`fsync` and `synchronous_commit` on, as PostgreSQL ships), each client its own
//! stream, run by `pgbench` against a throw-away cluster in a temporary directory.
//!
//! Only when `pgbench`, `initdb`, `pg_ctl` and `postgres` are on the machine; otherwise the rows
//! say why they were not run. PostgreSQL refuses to run as root, so as root the cluster runs as
//! the `postgres` user (through `runuser`), in a directory handed to that user.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde::Serialize;

use crate::{BenchError, Latency};

/// Where the PostgreSQL programs are looked for, after `PATH`.
const PROGRAM_DIRS: [&str; 2] = ["/usr/local/bin", "/usr/bin"];
/// The database user the throw-away cluster is made with.
const USER: &str = "bench";
/// pgbench worker threads, at most: the machine's cores are shared with the server.
const MAX_THREADS: usize = 4;

const SCHEMA: &str = "DROP TABLE IF EXISTS events;
DROP SEQUENCE IF EXISTS revisions;
CREATE SEQUENCE revisions;
CREATE TABLE events (
    position bigserial PRIMARY KEY,
    stream text NOT NULL,
    revision bigint NOT NULL,
    event_id uuid NOT NULL,
    type text NOT NULL,
    data bytea NOT NULL,
    UNIQUE (stream, revision)
);
";

/// One transaction per append, as the embedded store and SQLite rows do: 100 data bytes, a
/// fresh event id, a revision unique in the stream.
const INSERT: &str = "INSERT INTO events (stream, revision, event_id, type, data) \
VALUES ('bench-' || :client_id, nextval('revisions'), gen_random_uuid(), 'BenchAppended', \
decode(repeat('ab', 100), 'hex'));
";

/// Appends on PostgreSQL with some concurrent clients.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PostgresAppend {
    pub clients: usize,
    /// Over every transaction pgbench logged: `count` in `elapsed` (first start to last end).
    pub latency: Latency,
}

/// The PostgreSQL rows: measured, or why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PostgresRows {
    Ran(Vec<PostgresAppend>),
    NotRun(String),
}

/// Runs the workload for each client count in `clients`, each for `window`, on a fresh table
/// of one throw-away cluster; the rows say why if PostgreSQL is not on the machine. An error
/// is a run that started and failed.
pub fn postgres_append(clients: &[usize], window: Duration) -> Result<PostgresRows, BenchError> {
    let programs = match Programs::find() {
        Ok(programs) => programs,
        Err(reason) => return Ok(PostgresRows::NotRun(reason)),
    };
    let cluster = Cluster::start(programs)?;
    let mut rows = Vec::with_capacity(clients.len());
    for &count in clients {
        cluster.sql(SCHEMA)?;
        rows.push(cluster.pgbench(count, window)?);
    }
    cluster.stop()?;
    Ok(PostgresRows::Ran(rows))
}

struct Programs {
    pgbench: PathBuf,
    initdb: PathBuf,
    pg_ctl: PathBuf,
    /// As root: the user the server runs as (PostgreSQL refuses root).
    run_as: Option<(String, u32, u32)>,
}

impl Programs {
    fn find() -> Result<Programs, String> {
        let find = |name: &str| {
            let path_dirs = std::env::var_os("PATH")
                .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
                .unwrap_or_default();
            path_dirs
                .into_iter()
                .chain(PROGRAM_DIRS.iter().map(PathBuf::from))
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
                .ok_or_else(|| {
                    format!("no PostgreSQL: `{name}` is not on PATH or in /usr/local/bin, /usr/bin")
                })
        };
        let pgbench = find("pgbench")?;
        let initdb = find("initdb")?;
        let pg_ctl = find("pg_ctl")?;
        find("postgres")?;
        let run_as = if running_as_root().map_err(|e| format!("no PostgreSQL run: {e}"))? {
            find("runuser").map_err(|_| {
                "no PostgreSQL run: as root the cluster needs `runuser` to run as `postgres`"
                    .to_owned()
            })?;
            let id = |flag: &str| -> Result<u32, String> {
                let output = Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .map_err(|e| format!("no PostgreSQL run: `id {flag} postgres`: {e}"))?;
                String::from_utf8_lossy(&output.stdout)
                    .trim()
                    .parse()
                    .map_err(|_| {
                        "no PostgreSQL run: as root the cluster needs a `postgres` user".to_owned()
                    })
            };
            Some(("postgres".to_owned(), id("-u")?, id("-g")?))
        } else {
            None
        };
        Ok(Programs {
            pgbench,
            initdb,
            pg_ctl,
            run_as,
        })
    }

    /// `program` as the cluster's owner.
    fn as_owner(&self, program: &Path) -> Command {
        match &self.run_as {
            Some((user, _, _)) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }
}

/// Whether this process runs as root: the owner of a file it creates.
fn running_as_root() -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new()?;
    Ok(probe.as_file().metadata()?.uid() == 0)
}

/// A cluster in a temporary directory, listening only on a Unix socket in it.
struct Cluster {
    programs: Programs,
    dir: tempfile::TempDir,
    running: bool,
}

impl Cluster {
    fn start(programs: Programs) -> Result<Cluster, BenchError> {
        let dir = tempfile::Builder::new().prefix("readnet-pg").tempdir()?;
        if let Some((_, uid, gid)) = &programs.run_as {
            std::os::unix::fs::chown(dir.path(), Some(*uid), Some(*gid))?;
        }
        let mut cluster = Cluster {
            programs,
            dir,
            running: false,
        };
        let data = cluster.data();
        // --no-sync: only initdb's own files, before the measurement; the server syncs as shipped.
        let initdb = cluster
            .programs
            .as_owner(&cluster.programs.initdb)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()?;
        check("initdb", &initdb)?;
        let options = format!(
            "-k {} -c listen_addresses='' -c max_connections=200",
            cluster.dir.path().display()
        );
        let start = cluster
            .programs
            .as_owner(&cluster.programs.pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.path().join("server.log"))
            .args(["-w", "-o", &options, "start"])
            .output()?;
        check("pg_ctl start", &start)?;
        cluster.running = true;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A pgbench run of `script` against the cluster's `postgres` database.
    fn pgbench(&self, clients: usize, window: Duration) -> Result<PostgresAppend, BenchError> {
        let run = self.dir.path().join(format!("run-{clients}"));
        std::fs::create_dir_all(&run)?;
        let script = run.join("insert.sql");
        std::fs::write(&script, INSERT)?;
        let output = self
            .client()
            .args(["-n", "-M", "prepared", "-l", "--log-prefix"])
            .arg(run.join("log"))
            .args([
                "-c",
                &clients.to_string(),
                "-j",
                &clients.min(MAX_THREADS).to_string(),
                "-T",
                &window.as_secs().max(1).to_string(),
                "-f",
            ])
            .arg(&script)
            .arg("postgres")
            .output()?;
        check("pgbench", &output)?;
        let latency = logged_latency(&run)?;
        Ok(PostgresAppend { clients, latency })
    }

    /// Runs `sql` once, through pgbench (one client, one transaction).
    fn sql(&self, sql: &str) -> Result<(), BenchError> {
        let script = self.dir.path().join("schema.sql");
        std::fs::write(&script, sql)?;
        let output = self
            .client()
            .args(["-n", "-t", "1", "-c", "1", "-f"])
            .arg(&script)
            .arg("postgres")
            .output()?;
        check("pgbench (schema)", &output)
    }

    fn client(&self) -> Command {
        let mut command = Command::new(&self.programs.pgbench);
        command.arg("-h").arg(self.dir.path()).args(["-U", USER]);
        command
    }

    fn stop(mut self) -> Result<(), BenchError> {
        self.running = false;
        let stop = self.stop_command("fast").output()?;
        check("pg_ctl stop", &stop)
    }

    fn stop_command(&self, mode: &str) -> Command {
        let mut command = self.programs.as_owner(&self.programs.pg_ctl);
        command
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", mode, "stop"]);
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A run that failed half-way still leaves no server behind.
        if self.running {
            let _ = self.stop_command("immediate").output();
        }
    }
}

fn check(step: &str, output: &Output) -> Result<(), BenchError> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(BenchError::Postgres(format!(
        "{step} failed ({}): {}",
        output.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
    )))
}

/// Reads pgbench's per-transaction logs (`client transaction latency_us script epoch_s
/// epoch_us`, the time being when the transaction ended) in `run`.
fn logged_latency(run: &Path) -> Result<Latency, BenchError> {
    let mut latencies = Vec::new();
    let mut first_start_us = i128::MAX;
    let mut last_end_us = i128::MIN;
    for entry in std::fs::read_dir(run)? {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("log."));
        if !is_log {
            continue;
        }
        for line in BufReader::new(std::fs::File::open(&path)?).lines() {
            let line = line?;
            let fields: Vec<&str> = line.split_whitespace().collect();
            let parse = |i: usize| -> Result<i128, BenchError> {
                fields
                    .get(i)
                    .and_then(|f| f.parse().ok())
                    .ok_or_else(|| BenchError::Postgres(format!("a pgbench log line: {line:?}")))
            };
            let latency_us = parse(2)?;
            let end_us = parse(4)? * 1_000_000 + parse(5)?;
            first_start_us = first_start_us.min(end_us - latency_us);
            last_end_us = last_end_us.max(end_us);
            latencies.push(Duration::from_micros(latency_us as u64));
        }
    }
    if latencies.is_empty() {
        return Err(BenchError::Postgres(format!(
            "pgbench logged no transaction in {}",
            run.display()
        )));
    }
    let elapsed = Duration::from_micros((last_end_us - first_start_us) as u64);
    Ok(Latency::from_samples(latencies, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbench_logs_give_every_transaction_and_the_wall_time_they_span() {
        let run = tempfile::tempdir().unwrap();
        // Two threads' logs: four transactions from 1.000000 s to 3.000000 s.
        std::fs::write(
            run.path().join("log.123"),
            "0 0 500000 0 1 500000\n0 1 1000 0 2 0\n",
        )
        .unwrap();
        std::fs::write(
            run.path().join("log.123.1"),
            "1 0 2000 0 2 500000\n1 1 3000 0 3 0\n",
        )
        .unwrap();
        std::fs::write(run.path().join("insert.sql"), INSERT).unwrap();
        let latency = logged_latency(run.path()).unwrap();
        assert_eq!(latency.count, 4);
        assert_eq!(latency.elapsed, Duration::from_secs(2));
        assert_eq!(latency.max, Duration::from_millis(500));
        assert_eq!(latency.p50, Duration::from_millis(2));
    }
}
