use thiserror::Error;

/// Why a measurement could not be taken.
#[derive(Debug, Error)]
pub enum BenchError {
    #[error("file I/O in the benchmark directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("event store: {0}")]
    Store(#[from] readnet_store::StoreError),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a benchmark writer stopped: {0}")]
    Writer(String),
    #[error("the in-process server: {0}")]
    Server(String),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("a gRPC call: {0}")]
    Grpc(String),
    #[error("replaying the log: {0}")]
    Replay(#[from] readnet_projection::RunnerError),
}
