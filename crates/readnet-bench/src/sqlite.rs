//! The same append workload on SQLite, for scale: WAL, `synchronous=FULL`, one transaction per
//! append, a unique (stream, revision) standing in for the expected-revision check.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};
use serde::Serialize;
use uuid::Uuid;

use crate::embedded::payload;
use crate::{BenchError, EVENT_TYPE, Latency};

/// How long a connection waits for another's write lock before SQLite says busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    revision INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (stream, revision)
)";

const INSERT: &str =
    "INSERT INTO events (stream, revision, event_id, type, data) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Appends on SQLite with some concurrent writers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SqliteAppend {
    pub writers: usize,
    /// Over every writer's appends: `count` appends in `elapsed`.
    pub latency: Latency,
    /// Busy answers retried (the write lock was held past the busy timeout).
    pub busy_retries: u64,
}

/// `writers` threads, each with its own connection to a fresh database in `dir`, each append
/// single events to a stream of their own, one transaction per append, until `window` has
/// passed.
pub fn sqlite_append(
    dir: &Path,
    writers: usize,
    window: Duration,
) -> Result<SqliteAppend, BenchError> {
    let path = dir.join("events.sqlite");
    connect(&path)?.execute_batch(SCHEMA)?;
    let started = Instant::now();
    let until = started + window;
    let results: Vec<Result<(Vec<Duration>, u64), BenchError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let path = &path;
                scope.spawn(move || {
                    let mut connection = connect(path)?;
                    append_one_by_one(&mut connection, &format!("bench-{writer}"), until)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(BenchError::Writer("a SQLite writer panicked".into())))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    let mut busy_retries = 0;
    for result in results {
        let (writer_latencies, writer_retries) = result?;
        latencies.extend(writer_latencies);
        busy_retries += writer_retries;
    }
    Ok(SqliteAppend {
        writers,
        latency: Latency::from_samples(latencies, elapsed),
        busy_retries,
    })
}

fn connect(path: &Path) -> Result<Connection, BenchError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // journal_mode answers with the mode set, so it is a query, not a plain pragma update.
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    assert_eq!(mode, "wal", "SQLite accepted WAL mode");
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(connection)
}

/// Appends until `until`; returns each append's latency (retries included) and the busy answers
/// retried.
fn append_one_by_one(
    connection: &mut Connection,
    stream: &str,
    until: Instant,
) -> Result<(Vec<Duration>, u64), BenchError> {
    let mut latencies = Vec::new();
    let mut busy_retries = 0;
    let mut revision = 0;
    while Instant::now() < until {
        let data = payload(revision);
        let event_id = Uuid::new_v4();
        let started = Instant::now();
        loop {
            match append(connection, stream, revision, &event_id, &data) {
                Ok(()) => break,
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                    busy_retries += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        latencies.push(started.elapsed());
        revision += 1;
    }
    Ok((latencies, busy_retries))
}

fn append(
    connection: &mut Connection,
    stream: &str,
    revision: u64,
    event_id: &Uuid,
    data: &[u8],
) -> Result<(), rusqlite::Error> {
    // IMMEDIATE takes the write lock up front, so a busy answer comes before any work.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction.prepare_cached(INSERT)?.execute(params![
        stream,
        revision as i64,
        event_id.as_bytes().as_slice(),
        EVENT_TYPE,
        data
    ])?;
    transaction.commit()
}
