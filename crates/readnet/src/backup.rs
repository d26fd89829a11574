//! `readnet backup` copies a ledger's data directory, running or stopped, into a new directory
//! that is itself a data directory; `readnet restore` checks a backup and puts it in place.
//!
//! The log is copied through its acknowledged head as [`cut`] finds it: sealed segments whole,
//! the segment being written up to the end of its last acknowledged append. Writes go on while
//! the copy runs; what they add after the cut is not in the backup. The network secret
//! (`patron.key`), the token hashes (`tokens.json`), the first administrator's token
//! (`admin.token`), the checkpoint signing key (`checkpoint.key`), the patron key store
//! (`patron-keys/`, ADR 0018) and the projection snapshots are copied as they are.
//!
//! A backup is finished when its manifest, `backup.json`, is written, last: every file with its
//! length and SHA-256, the head, and the digests of every projection replayed from the copied
//! log. `restore` checks each file against the manifest and replays the log again: the same
//! digests, or the backup is refused.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use readnet_availability::Availability;
use readnet_domain::access::Act;
use readnet_projection::Projection;
use readnet_proto::v1::backup_service_server::BackupService;
use readnet_proto::v1::{BackupRequest, BackupResponse};
use readnet_server::projections::AllProjections;
use readnet_settlement::Settlement;
use readnet_statistics::Statistics;
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore, cut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::cli::TOKEN_ENV;
use crate::tls::ClientTls;

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "backup.json";
/// The manifest's format.
const FORMAT: u32 = 1;
/// The data directory's files besides the log and the snapshots.
const BESIDE_THE_LOG: [&str; 6] = [
    "patron.key",
    "tokens.json",
    "admin.token",
    "checkpoint.key",
    // The signed checkpoints (the tiles are made again from the log).
    "tlog/checkpoint",
    "tlog/checkpoints",
];

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory to back up (as given to `readnet serve`), on this machine; the server
    /// may be running.
    #[arg(long, value_name = "DIR", required_unless_present = "server")]
    data: Option<PathBuf>,
    /// Back up a running server over gRPC instead (as a network-admin: the token from
    /// --token-file or READNET_TOKEN).
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    server: Option<String>,
    /// A file holding a network-admin's token (with --server).
    #[arg(long, value_name = "FILE", requires = "server")]
    token_file: Option<PathBuf>,
    /// TLS for an https:// --server.
    #[command(flatten)]
    tls: ClientTls,
    /// Where to write the backup: a new or empty directory.
    #[arg(value_name = "BACKUP")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory, as `readnet backup` wrote it.
    #[arg(value_name = "BACKUP")]
    backup: PathBuf,
    /// The data directory to restore into: a new or empty directory.
    #[arg(long, value_name = "DIR", required_unless_present = "check")]
    data: Option<PathBuf>,
    /// Only check the backup (every file, and a replay of its log); change nothing.
    #[arg(long)]
    check: bool,
}

/// `backup.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// When the backup was taken (the machine's clock; for people, not for checks).
    taken_at: String,
    /// The last position of the log in the backup.
    head: u64,
    files: Vec<ManifestFile>,
    /// Each projection's digest after replaying the backup's log (as `readnet replay` prints).
    digests: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestFile {
    /// Relative to the backup directory, `/`-separated.
    name: String,
    bytes: u64,
    sha256: String,
}

/// A file to copy: its name in the backup, where it is now, and how many of its bytes.
struct Source {
    name: String,
    path: PathBuf,
    len: Option<u64>,
}

/// Everything to copy from `data`: the log's cut first, so that the files beside it are at
/// least as new as the log they go with.
fn sources(data: &Path) -> anyhow::Result<(u64, Vec<Source>)> {
    let log = crate::audit::ledger_log(data)?;
    let cut = cut(&log).with_context(|| format!("finding what to copy of {}", log.display()))?;
    let mut sources = Vec::new();
    for (path, len) in cut.segments {
        let relative = path
            .strip_prefix(data)
            .expect("segments are in the data directory");
        sources.push(Source {
            name: slash_name(relative),
            path,
            len: Some(len),
        });
    }
    for name in BESIDE_THE_LOG {
        let path = data.join(name);
        if path.is_file() {
            sources.push(Source {
                name: name.to_owned(),
                path,
                len: None,
            });
        }
    }
    // Saved snapshots, not a save in progress; closed periods' checkpoints.
    let snapshot = |p: &Path| p.extension().is_some_and(|e| e == "snapshot");
    let period = |p: &Path| p.extension().is_none();
    // The patron key store (ADR 0018): keys and tombstones, not a write in progress. Copied
    // after the log's cut, so every key an event of the copy is sealed under is in it.
    let patron_key = |p: &Path| {
        p.extension()
            .is_some_and(|e| e == "key" || e == "forgotten")
    };
    for (dir, keep) in [
        ("projections", &snapshot as &dyn Fn(&Path) -> bool),
        ("tlog/periods", &period),
        (readnet_ledger::keys::KEY_DIR, &patron_key),
    ] {
        let dir = data.join(dir);
        if !dir.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.retain(|p| keep(p));
        files.sort();
        for path in files {
            let relative = path.strip_prefix(data).expect("inside the data directory");
            sources.push(Source {
                name: slash_name(relative),
                path,
                len: None,
            });
        }
    }
    Ok((cut.head, sources))
}

fn slash_name(relative: &Path) -> String {
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// A directory to write into: absent (then created) or empty.
fn empty_directory(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries =
            fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: give a new or empty directory",
                dir.display()
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Copies `len` bytes of `from` (all of it when `None`) to `to`, synced; its length and SHA-256.
fn copy_file(from: &Path, to: &Path, len: Option<u64>) -> anyhow::Result<(u64, String)> {
    let source = File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut reader: Box<dyn Read> = match len {
        Some(len) => Box::new(source.take(len)),
        None => Box::new(source),
    };
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut out = File::create(to).with_context(|| format!("creating {}", to.display()))?;
    let (copied, sha256) = pump(&mut reader, Some(&mut out))?;
    if let Some(len) = len
        && copied != len
    {
        bail!(
            "{} holds {copied} bytes, fewer than the {len} to copy",
            from.display()
        );
    }
    out.sync_all()?;
    Ok((copied, sha256))
}

/// Syncs `dir` and every directory under it, so that the names of the files in them last.
fn sync_tree(dir: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        }
    }
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Replays every projection from the log in `data` and returns the head it reached and the
/// digests, in the order `readnet replay` prints them.
async fn replayed_digests(data: &Path) -> anyhow::Result<(u64, Vec<(String, String)>)> {
    let log = data.join("log");
    let store = EmbeddedStore::open_read_only(&log, EmbeddedOptions::default())
        .await
        .with_context(|| format!("opening the log in {} read-only", log.display()))?;
    let head = store.head_position();
    let folded = AllProjections::replay(&store, Some(head), |_| {}).await?;
    let digests = folded.digests.clone();
    // Only the digests are wanted: the states are left to the process's exit, which follows
    // the check, rather than freed allocation by allocation (see `readnet replay`).
    #[expect(
        clippy::mem_forget,
        reason = "deliberate: the states are left to the exit"
    )]
    std::mem::forget(folded);
    Ok((
        head.get(),
        vec![
            (Availability::NAME.to_owned(), digests.availability),
            (Statistics::NAME.to_owned(), digests.statistics),
            (Settlement::NAME.to_owned(), digests.settlement),
        ],
    ))
}

/// Where a backup's files come from.
enum Origin<'a> {
    /// The data directory, read here.
    Local(&'a Path),
    /// A server's `BackupService`.
    Remote(Box<tonic::Streaming<BackupResponse>>),
}

/// `readnet backup`.
pub async fn backup_command(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    empty_directory(&args.out)?;
    let (from, (head, files)) = match (&args.data, &args.server) {
        (Some(data), _) => (
            data.display().to_string(),
            copy_files(Origin::Local(data), &args.out).await?,
        ),
        (None, Some(server)) => {
            let token = match &args.token_file {
                Some(file) => Some(
                    fs::read_to_string(file)
                        .with_context(|| format!("cannot read the token file {}", file.display()))?
                        .trim()
                        .to_owned(),
                ),
                None => std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_owned()),
            };
            let client =
                crate::client::Client::connect(server, token.as_deref(), &args.tls).await?;
            let stream = client.backup().backup(BackupRequest {}).await?.into_inner();
            (
                server.clone(),
                copy_files(Origin::Remote(Box::new(stream)), &args.out).await?,
            )
        }
        (None, None) => bail!("give --data DIR or --server URL"),
    };
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    fs::create_dir_all(args.out.join("log"))?;
    sync_tree(&args.out)?;
    let copied = started.elapsed();
    // The copy is checked as a restore would check it, before it is called a backup.
    let (replayed_head, digests) = replayed_digests(&args.out)
        .await
        .context("replaying the copied log")?;
    if replayed_head != head {
        bail!(
            "the copied log ends at position {replayed_head}, the cut at {head}: the copy is \
             not a backup"
        );
    }
    let manifest = Manifest {
        format: FORMAT,
        taken_at: chrono::Utc::now().to_rfc3339(),
        head,
        files,
        digests,
    };
    let path = args.out.join(MANIFEST);
    let mut file = File::create(&path)?;
    serde_json::to_writer_pretty(&mut file, &manifest)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    File::open(&args.out)?.sync_all()?;
    println!(
        "backed up {from} through position {head}: {} file(s), {total} bytes, copied in {:.1} s \
         and checked by replay in {:.1} s",
        manifest.files.len(),
        copied.as_secs_f64(),
        (started.elapsed() - copied).as_secs_f64()
    );
    for (name, digest) in &manifest.digests {
        println!("{name:<13} {digest}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes every file of the copy into `out`, synced; the head and each file's length and
/// SHA-256.
async fn copy_files(origin: Origin<'_>, out: &Path) -> anyhow::Result<(u64, Vec<ManifestFile>)> {
    match origin {
        Origin::Local(data) => {
            let (head, sources) = sources(data)?;
            let mut files = Vec::new();
            for source in sources {
                let (bytes, sha256) = copy_file(&source.path, &out.join(&source.name), source.len)?;
                files.push(ManifestFile {
                    name: source.name,
                    bytes,
                    sha256,
                });
            }
            Ok((head, files))
        }
        Origin::Remote(mut stream) => {
            let first = stream
                .message()
                .await?
                .context("the server sent no backup")?;
            let head = first.head;
            let mut files = Vec::new();
            let mut current: Option<Receiving> = None;
            let mut next = Some(first);
            while let Some(message) = next {
                if !message.file_name.is_empty() {
                    if let Some(done) = current.take() {
                        files.push(done.finish()?);
                    }
                    current = Some(Receiving::start(
                        out,
                        message.file_name,
                        message.file_bytes,
                    )?);
                }
                if !message.data.is_empty() {
                    current
                        .as_mut()
                        .context("the server sent bytes before naming their file")?
                        .write(&message.data)?;
                }
                next = stream.message().await?;
            }
            if let Some(done) = current.take() {
                files.push(done.finish()?);
            }
            Ok((head, files))
        }
    }
}

/// A file arriving from a server.
struct Receiving {
    name: String,
    expected: u64,
    received: u64,
    file: File,
    hash: Sha256,
}

/// A file name from a server or a manifest: relative, `/`-separated, never leaving the
/// directory it is joined to.
fn inside(name: &str) -> anyhow::Result<&Path> {
    let relative = Path::new(name);
    if name.is_empty()
        || relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        bail!("the file name {name:?} is not a path inside a backup");
    }
    Ok(relative)
}

impl Receiving {
    fn start(out: &Path, name: String, expected: u64) -> anyhow::Result<Receiving> {
        let path = out.join(inside(&name).context("from the server")?);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Receiving {
            name,
            expected,
            received: 0,
            file,
            hash: Sha256::new(),
        })
    }

    fn write(&mut self, data: &[u8]) -> anyhow::Result<()> {
        self.file.write_all(data)?;
        self.hash.update(data);
        self.received += data.len() as u64;
        Ok(())
    }

    fn finish(self) -> anyhow::Result<ManifestFile> {
        if self.received != self.expected {
            bail!(
                "{}: the server announced {} bytes and sent {}",
                self.name,
                self.expected,
                self.received
            );
        }
        self.file.sync_all()?;
        Ok(ManifestFile {
            name: self.name,
            bytes: self.received,
            sha256: hex::encode(self.hash.finalize()),
        })
    }
}

/// How many bytes of a file one `BackupResponse` carries at most.
const CHUNK: usize = 1 << 20;

/// The gRPC `BackupService` of `readnet serve`: the copy `readnet backup --data` makes,
/// streamed. `data_dir` is `None` when the events are in KurrentDB.
pub struct BackupServer {
    pub data_dir: Option<PathBuf>,
}

#[tonic::async_trait]
impl BackupService for BackupServer {
    type BackupStream = tokio_stream::wrappers::ReceiverStream<Result<BackupResponse, Status>>;

    async fn backup(
        &self,
        request: Request<BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        readnet_projection::access::authorize(&request, Act::Backup, &[])?;
        let Some(data) = self.data_dir.clone() else {
            return Err(Status::failed_precondition(
                "this server keeps its events in KurrentDB: back the cluster up with its own \
                 tools, and the data directory's patron.key and tokens.json beside it",
            ));
        };
        let (head, sources) = tokio::task::spawn_blocking(move || sources(&data))
            .await
            .map_err(|e| Status::internal(format!("the backup stopped: {e}")))?
            .map_err(|e| Status::data_loss(format!("{e:#}")))?;
        tracing::info!(head, files = sources.len(), "backup streamed to a client");
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            if let Err(status) = stream_files(head, &sources, &tx) {
                let _ = tx.blocking_send(Err(status));
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }
}

/// Sends `sources` in order, each announced and then in chunks; stops when the client is gone.
// A handler's own error type: tonic's Status, whatever its size.
#[allow(clippy::result_large_err)]
fn stream_files(
    head: u64,
    sources: &[Source],
    tx: &tokio::sync::mpsc::Sender<Result<BackupResponse, Status>>,
) -> Result<(), Status> {
    let read_error = |path: &Path, e: std::io::Error| {
        Status::internal(format!("reading {}: {e}", path.display()))
    };
    let send = |message: BackupResponse| tx.blocking_send(Ok(message)).is_ok();
    if !send(BackupResponse {
        head,
        ..Default::default()
    }) {
        return Ok(());
    }
    let mut buffer = vec![0u8; CHUNK];
    for source in sources {
        let file = File::open(&source.path).map_err(|e| read_error(&source.path, e))?;
        let len = match source.len {
            Some(len) => len,
            None => file
                .metadata()
                .map_err(|e| read_error(&source.path, e))?
                .len(),
        };
        if !send(BackupResponse {
            file_name: source.name.clone(),
            file_bytes: len,
            ..Default::default()
        }) {
            return Ok(());
        }
        let mut reader = file.take(len);
        loop {
            let n = reader
                .read(&mut buffer)
                .map_err(|e| read_error(&source.path, e))?;
            if n == 0 {
                break;
            }
            if !send(BackupResponse {
                data: buffer[..n].to_vec(),
                ..Default::default()
            }) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// `readnet restore`: exit 1, naming what, when the backup does not check out.
pub async fn restore_command(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let path = args.backup.join(MANIFEST);
    let manifest: Manifest =
        serde_json::from_slice(&fs::read(&path).with_context(|| {
            format!("reading {} (an unfinished backup has none)", path.display())
        })?)
        .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    if manifest.format != FORMAT {
        bail!(
            "{}: backup format {}, this version reads format {FORMAT}",
            path.display(),
            manifest.format
        );
    }
    let mut problems = Vec::new();
    for file in &manifest.files {
        let path = args
            .backup
            .join(inside(&file.name).context("in the manifest")?);
        match sha256_of(&path) {
            Ok((bytes, sha256)) if bytes == file.bytes && sha256 == file.sha256 => {}
            Ok((bytes, sha256)) => problems.push(format!(
                "{}: {bytes} bytes with SHA-256 {sha256}; the manifest says {} bytes with {}",
                file.name, file.bytes, file.sha256
            )),
            Err(error) => problems.push(format!("{}: {error}", file.name)),
        }
    }
    if problems.is_empty() {
        let (head, digests) = replayed_digests(&args.backup)
            .await
            .context("replaying the backup's log")?;
        if head != manifest.head {
            problems.push(format!(
                "the log ends at position {head}; the manifest says {}",
                manifest.head
            ));
        }
        let names = |d: &[(String, String)]| d.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        if names(&manifest.digests) != names(&digests) {
            problems.push(format!(
                "the manifest records digests of {:?}; a replay gives {:?}",
                names(&manifest.digests),
                names(&digests)
            ));
        }
        for ((name, recorded), (_, replayed)) in manifest.digests.iter().zip(&digests) {
            if recorded != replayed {
                problems.push(format!(
                    "{name}: the replay's digest is {replayed}; the manifest says {recorded}"
                ));
            }
        }
    }
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("error: {problem}");
        }
        eprintln!(
            "error: the backup in {} does not check out; nothing was restored",
            args.backup.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "the backup of {} checks out: {} file(s), a log through position {} whose replay gives \
         the recorded digests",
        manifest.taken_at,
        manifest.files.len(),
        manifest.head
    );
    let Some(data) = args.data.filter(|_| !args.check) else {
        return Ok(ExitCode::SUCCESS);
    };
    empty_directory(&data)?;
    for file in &manifest.files {
        let copied = copy_file(&args.backup.join(&file.name), &data.join(&file.name), None)?;
        if copied != (file.bytes, file.sha256.clone()) {
            bail!("{} changed while it was restored; restore again", file.name);
        }
    }
    fs::create_dir_all(data.join("log"))?;
    sync_tree(&data)?;
    println!(
        "restored into {}: start the server with `readnet serve --data {}`",
        data.display(),
        data.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn sha256_of(path: &Path) -> std::io::Result<(u64, String)> {
    pump(&mut File::open(path)?, None)
}

/// Reads `reader` to its end, writing what it reads to `out` if given: the bytes read and
/// their SHA-256 in hex.
fn pump(reader: &mut dyn Read, mut out: Option<&mut File>) -> std::io::Result<(u64, String)> {
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            return Ok((bytes, hex::encode(hash.finalize())));
        }
        hash.update(&buffer[..n]);
        if let Some(out) = out.as_mut() {
            out.write_all(&buffer[..n])?;
        }
        bytes += n as u64;
    }
}
