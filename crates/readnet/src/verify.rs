//! Signed tree heads, offline. `readnet checkpoint` signs the head of a data directory's log
//! with the directory's checkpoint key (Ed25519, `checkpoint.key`, created on first use) and
//! prints it as a C2SP signed note; `--public-key` prints the key auditors verify with.
//! `readnet verify` checks a signed checkpoint against a log, trusting only that public key, and
//! with `--state FILE` remembers the last checkpoint it accepted, so that a log that shows a
//! different past later (a fork, a rewritten event) is caught.
//!
//! Exit codes of `verify`: 0 verified, 1 tampered (a signature that does not verify, a root or
//! a past that differs, a log shorter than what was signed), 2 could not check (a file missing
//! or unreadable, a malformed key).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use readnet_store::EventStore;
use readnet_tlog::{Checkpoint, NoteError, NoteSigner, NoteVerifier};

use crate::tree::hex;

/// The checkpoint key's file in a data directory.
pub const CHECKPOINT_KEY: &str = "checkpoint.key";

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The data directory (as given to `readnet serve`).
    #[arg(long, value_name = "DIR", default_value = "./readnet-data")]
    data: PathBuf,
    /// The log's name in its checkpoints, and the key's; set when the key is created.
    #[arg(long, value_name = "NAME", default_value = "readnet")]
    origin: String,
    /// Print the public (verifier) key instead of a checkpoint.
    #[arg(long)]
    public_key: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The log's public key (`<name>+<id>+<key>`, as `readnet checkpoint --public-key` prints
    /// it), or a file holding it.
    #[arg(long, value_name = "KEY")]
    key: String,
    /// The signed checkpoint to check.
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// The data directory, or a copy of it, whose log the checkpoint is checked against.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The last checkpoint this auditor accepted: the new one must extend it; kept up to date.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

/// The directory's signer, created (0600, synced) when it has none.
pub fn signer(data: &Path, origin: &str) -> anyhow::Result<NoteSigner> {
    let path = data.join(CHECKPOINT_KEY);
    match std::fs::read_to_string(&path) {
        Ok(text) => NoteSigner::from_text(&text)
            .with_context(|| format!("reading the checkpoint key {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = NoteSigner::new(origin, rand::random())?;
            crate::serve::create_secret_file(&path, format!("{}\n", signer.to_text()).as_bytes())
                .with_context(|| format!("creating the checkpoint key {}", path.display()))?;
            eprintln!(
                "created the checkpoint key {}; its public key: {}",
                path.display(),
                signer.verifier_text()
            );
            Ok(signer)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `readnet checkpoint`.
pub async fn checkpoint_command(args: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let signer = signer(&args.data, &args.origin)?;
    if args.public_key {
        println!("{}", signer.verifier_text());
        return Ok(ExitCode::SUCCESS);
    }
    let store = crate::audit::open(&args.data).await?;
    let (size, root) = crate::tree::root(&store, None).await?;
    let checkpoint = Checkpoint {
        origin: signer.name().to_owned(),
        size,
        root,
        time: Some(chrono::Utc::now().timestamp()),
    };
    print!("{}", signer.sign(&checkpoint.body()));
    Ok(ExitCode::SUCCESS)
}

/// What a check concluded (`verify`, `prove-line`).
pub(crate) enum Verdict {
    Verified(String),
    Tampered(String),
}

/// `readnet verify`.
pub async fn verify_command(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    Ok(report(verify(&args).await))
}

/// Prints a check's verdict; its exit code: 0 verified, 1 tampered, 2 could not check.
pub(crate) fn report(verdict: anyhow::Result<Verdict>) -> ExitCode {
    match verdict {
        Ok(Verdict::Verified(what)) => {
            println!("VERIFIED: {what}");
            ExitCode::SUCCESS
        }
        Ok(Verdict::Tampered(what)) => {
            println!("TAMPERED: {what}");
            ExitCode::FAILURE
        }
        Err(error) => {
            println!("COULD NOT CHECK: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// A public key given on the command line, or the file holding it.
pub(crate) fn read_key(key: &str) -> anyhow::Result<String> {
    Ok(match std::fs::read_to_string(key) {
        Ok(text) => text,
        Err(_) => key.to_owned(),
    })
}

/// The checkpoint in `note`, or why it is not to be trusted: a bad or missing signature, or a
/// log name other than the key's (tampered); a note that cannot be read is not checked.
pub(crate) fn opened_checkpoint(
    verifier: &NoteVerifier,
    note: &str,
    what: &str,
) -> anyhow::Result<Result<Checkpoint, Verdict>> {
    match verifier.open_checkpoint(note) {
        Ok(checkpoint) if checkpoint.origin != verifier.name() => {
            Ok(Err(Verdict::Tampered(format!(
                "{what}: it names the log {:?}, but the key is {:?}'s",
                checkpoint.origin,
                verifier.name()
            ))))
        }
        Ok(checkpoint) => Ok(Ok(checkpoint)),
        Err(error @ (NoteError::BadSignature(_) | NoteError::Unsigned(_))) => {
            Ok(Err(Verdict::Tampered(format!("{what}: {error}"))))
        }
        Err(error) => Err(error).context(what.to_owned()),
    }
}

async fn verify(args: &VerifyArgs) -> anyhow::Result<Verdict> {
    let verifier = NoteVerifier::from_text(&read_key(&args.key)?).context("the public key")?;
    let note = std::fs::read_to_string(&args.checkpoint)
        .with_context(|| format!("reading {}", args.checkpoint.display()))?;
    let what = format!("{}: the checkpoint", args.checkpoint.display());
    let checkpoint = match opened_checkpoint(&verifier, &note, &what)? {
        Ok(checkpoint) => checkpoint,
        Err(verdict) => return Ok(verdict),
    };
    let previous = match &args.state {
        Some(path) if path.exists() => {
            let note = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            match verifier.open_checkpoint(&note) {
                Ok(previous) => Some(previous),
                Err(error) => {
                    return Ok(Verdict::Tampered(format!(
                        "the remembered checkpoint {}: {error}",
                        path.display()
                    )));
                }
            }
        }
        _ => None,
    };
    let store = crate::audit::open(&args.data).await?;
    let held = store.head_position().get();
    if held < checkpoint.size {
        return Ok(Verdict::Tampered(format!(
            "the checkpoint signs {} events; the log in {} holds {held}: events were removed \
             (or this is an incomplete copy)",
            checkpoint.size,
            args.data.display()
        )));
    }
    let earlier = previous
        .as_ref()
        .map(|p| p.size)
        .filter(|&s| s <= checkpoint.size);
    let (root, earlier_root) = crate::tree::roots(&store, checkpoint.size, earlier).await?;
    if root != checkpoint.root {
        return Ok(Verdict::Tampered(format!(
            "the first {} events of the log have root {}; the signed checkpoint says {}",
            checkpoint.size,
            hex(&root),
            hex(&checkpoint.root)
        )));
    }
    if let Some(previous) = &previous {
        if previous.size > checkpoint.size {
            return Ok(Verdict::Tampered(format!(
                "the log was rolled back: a checkpoint of {} events was accepted before, this one \
                 signs {}",
                previous.size, checkpoint.size
            )));
        }
        // The past this auditor accepted must be the first part of the tree signed now.
        let old_root = earlier_root.expect("computed on the way");
        if old_root != previous.root {
            return Ok(Verdict::Tampered(format!(
                "the history changed: the first {} events had root {} when last accepted and \
                 have {} now",
                previous.size,
                hex(&previous.root),
                hex(&old_root)
            )));
        }
    }
    if let Some(path) = &args.state {
        remember(path, &note).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Verdict::Verified(format!(
        "{} signs {} events with root {}, and the log in {} has exactly that root{}",
        checkpoint.origin,
        checkpoint.size,
        hex(&checkpoint.root),
        args.data.display(),
        match previous {
            Some(previous) => format!(
                "; it extends the checkpoint of {} events accepted before",
                previous.size
            ),
            None => String::new(),
        }
    )))
}

/// Replaces the state file with `note`, durably: written whole, synced, renamed, directory
/// synced (an empty state after a power cut would read as tampering).
pub(crate) fn remember(path: &Path, note: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(note.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}
