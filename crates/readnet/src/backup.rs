//! `readnet backup` copies a ledger's data directory, running or stopped, into a new directory
//! that is itself a data directory; `readnet restore` checks a backup and puts it in place.
//!
//! The log is copied through its acknowledged head as [`cut`] finds it: sealed segments whole,
//! the segment being written up to the end of its last acknowledged append. Writes go on while
//! the copy runs; what they add after the cut is not in the backup. The network secret
//! (`patron.key`), the token hashes (`tokens.json`), the first administrator's token
//! (`admin.token`) and the projection snapshots are copied as they are.
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
use readnet_projection::{Projection, digest, replay};
use readnet_server::projections::AllProjections;
use readnet_settlement::Settlement;
use readnet_statistics::Statistics;
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore, cut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "backup.json";
/// The manifest's format.
const FORMAT: u32 = 1;
/// The data directory's files besides the log and the snapshots.
const BESIDE_THE_LOG: [&str; 3] = ["patron.key", "tokens.json", "admin.token"];

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory to back up (as given to `readnet serve`); the server may be running.
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
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
    let log = data.join("log");
    if !log.is_dir() {
        bail!(
            "no ledger in {}: {} does not exist",
            data.display(),
            log.display()
        );
    }
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
    let projections = data.join("projections");
    if projections.is_dir() {
        let mut snapshots: Vec<PathBuf> = fs::read_dir(&projections)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        // Only saved snapshots, not a save in progress.
        snapshots.retain(|p| p.extension().is_some_and(|e| e == "json"));
        snapshots.sort();
        for path in snapshots {
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
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
        out.write_all(&buffer[..n])?;
        copied += n as u64;
    }
    if let Some(len) = len
        && copied != len
    {
        bail!(
            "{} holds {copied} bytes, fewer than the {len} to copy",
            from.display()
        );
    }
    out.sync_all()?;
    Ok((copied, hex::encode(hash.finalize())))
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
    let folded: AllProjections = replay(&store, Some(head), |_| {}).await?;
    Ok((
        head.get(),
        vec![
            (Availability::NAME.to_owned(), digest(&folded.availability)),
            (Statistics::NAME.to_owned(), digest(&folded.statistics)),
            (Settlement::NAME.to_owned(), digest(&folded.settlement)),
        ],
    ))
}

/// `readnet backup`.
pub async fn backup_command(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    empty_directory(&args.out)?;
    let (head, sources) = sources(&args.data)?;
    let mut files = Vec::new();
    let mut total = 0u64;
    for source in sources {
        let to = args.out.join(&source.name);
        let (bytes, sha256) = copy_file(&source.path, &to, source.len)?;
        total += bytes;
        files.push(ManifestFile {
            name: source.name,
            bytes,
            sha256,
        });
    }
    fs::create_dir_all(args.out.join("log"))?;
    sync_tree(&args.out)?;
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
        "backed up {} through position {head}: {} file(s), {total} bytes, in {:.1} s",
        args.data.display(),
        manifest.files.len(),
        started.elapsed().as_secs_f64()
    );
    for (name, digest) in &manifest.digests {
        println!("{name:<13} {digest}");
    }
    Ok(ExitCode::SUCCESS)
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
        let path = args.backup.join(&file.name);
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
    let mut file = File::open(path)?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok((bytes, hex::encode(hash.finalize())));
        }
        hash.update(&buffer[..n]);
        bytes += n as u64;
    }
}
