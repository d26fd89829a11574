//! `readnet cut-over --from OLD --to NEW` (ADR 0018, migration): a data directory whose log holds
//! patron ids in the clear (written before they were sealed) copied into a new data directory
//! with every id sealed, offline.
//!
//! OLD is opened read-only and never changed. Everything is written into a temporary directory
//! beside NEW, synced, and renamed to NEW at the end: an interrupted cut-over leaves no NEW (its
//! temporary directory is removed by the next run, which starts over). NEW gets the log
//! (`readnet_ledger::cut_over`: the same positions, event ids, types, metadata and commit
//! times), the network secret (`patron.key`), the principals' tokens, and the patron key store:
//! OLD's, if it had one (its keys open the ids sealed already), with keys for the patrons who had
//! none. It does not get OLD's projection snapshots or tree (both are rebuilt from the new log).
//!
//! `NEW/cut-over/record` says which history NEW was cut from: OLD's tree size and root, NEW's,
//! and what was sealed. When OLD has a checkpoint key, NEW gets a checkpoint key of its own (a
//! new history is never signed with the key that signed the old one), the record names its
//! public key and is a signed note under OLD's key, and `NEW/cut-over/from.checkpoint` is OLD's
//! head signed with OLD's key: an auditor holding OLD's public key checks both, and from there
//! trusts NEW's key.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use readnet_ledger::cut_over::{CutOverReport, cut_over};
use readnet_ledger::keys::{KEY_DIR, KeyStore};
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_tlog::{Checkpoint, NoteSigner};

use crate::tree::hex;
use crate::verify::CHECKPOINT_KEY;

/// The folder of a cut-over's record in the new data directory.
pub const CUT_OVER_DIR: &str = "cut-over";
/// The record: what NEW was cut from.
const RECORD: &str = "record";
/// OLD's head, signed with OLD's checkpoint key.
const FROM_CHECKPOINT: &str = "from.checkpoint";
/// Files of a data directory copied as they are (those that exist).
const COPIED: [&str; 3] = ["patron.key", "tokens.json", "admin.token"];

#[derive(Debug, Args)]
pub struct CutOverArgs {
    /// The data directory to cut over (its server stopped); read only, never changed.
    #[arg(long, value_name = "OLD_DIR")]
    from: PathBuf,
    /// The new data directory: must not exist, or be empty.
    #[arg(long, value_name = "NEW_DIR")]
    to: PathBuf,
}

/// `readnet cut-over`.
pub async fn cut_over_command(args: CutOverArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = (&args.from, &args.to);
    let old_log = crate::audit::ledger_log(from)?;
    if from.join(CUT_OVER_DIR).join(RECORD).is_file() {
        bail!(
            "{} was itself made by a cut-over ({}): its patron ids are sealed already, there is nothing to cut over",
            from.display(),
            from.join(CUT_OVER_DIR).join(RECORD).display()
        );
    }
    refuse_a_running_server(&old_log)?;
    refuse_a_used_target(from, to)?;
    let tmp = temporary_beside(to)?;
    if tmp.exists() {
        eprintln!(
            "removing {}, left by a cut-over that did not finish; starting over",
            tmp.display()
        );
        fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;

    let old = crate::audit::open(from).await?;
    let keys = key_store(from, &tmp)?;
    for name in COPIED {
        let source = from.join(name);
        if source.is_file() {
            // fs::copy keeps the permissions: secrets stay owner-only.
            fs::copy(&source, tmp.join(name))
                .with_context(|| format!("copying {}", source.display()))?;
            fsync(&tmp.join(name))?;
        }
    }

    let recorded_at = Arc::new(AtomicI64::new(0));
    let clock = Arc::clone(&recorded_at);
    let new = EmbeddedStore::open(
        tmp.join("log"),
        EmbeddedOptions {
            clock: Arc::new(move || clock.load(Ordering::SeqCst)),
            ..EmbeddedOptions::default()
        },
    )
    .await
    .with_context(|| format!("creating the new log in {}", tmp.join("log").display()))?;
    let head = old.head_position().get();
    let bar = progress(head);
    // Off a terminal, a line on stderr at every tenth of the log.
    let mut next_line = head.div_ceil(10).max(1);
    let report = cut_over(
        &old,
        &new,
        keys,
        &|us| recorded_at.store(us, Ordering::SeqCst),
        |position| {
            bar.set_position(position.get());
            if bar.is_hidden() && position.get() >= next_line {
                eprintln!("cut over {position} of {head} events");
                next_line = position.get() + head.div_ceil(10).max(1);
            }
        },
    )
    .await
    .context("cutting the log over")?;
    bar.finish_and_clear();

    eprintln!("copied {head} events; computing both trees' roots");
    let (old_size, old_root) = crate::tree::root(&old, None).await?;
    let (new_size, new_root) = crate::tree::root(&new, None).await?;
    new.close().await;
    drop(new);

    let record_dir = tmp.join(CUT_OVER_DIR);
    fs::create_dir_all(&record_dir)?;
    let old_signer = match from.join(CHECKPOINT_KEY).is_file() {
        true => Some(crate::verify::signer(from, "readnet")?),
        false => None,
    };
    let mut body = format!(
        "readnet cut-over 1\nfrom {}\nfrom size {old_size}\nfrom root {}\nto size {new_size}\nto root {}\n",
        fs::canonicalize(from)?.display(),
        hex(&old_root),
        hex(&new_root),
    );
    let record = match &old_signer {
        Some(old_signer) => {
            let checkpoint = Checkpoint {
                origin: old_signer.name().to_owned(),
                size: old_size,
                root: old_root,
                time: Some(chrono::Utc::now().timestamp()),
            };
            let from_checkpoint = record_dir.join(FROM_CHECKPOINT);
            fs::write(&from_checkpoint, old_signer.sign(&checkpoint.body()))?;
            fsync(&from_checkpoint)?;
            // A new history gets a key of its own, under the same log name.
            let new_signer = NoteSigner::new(old_signer.name(), rand::random())?;
            crate::serve::create_secret_file(
                &tmp.join(CHECKPOINT_KEY),
                format!("{}\n", new_signer.to_text()).as_bytes(),
            )?;
            body.push_str(&format!("to key {}\n", new_signer.verifier_text()));
            body.push_str(&summary(&report));
            old_signer.sign(&body)
        }
        None => {
            body.push_str(&summary(&report));
            body
        }
    };
    fs::write(record_dir.join(RECORD), &record)?;
    fsync(&record_dir.join(RECORD))?;
    fsync(&record_dir)?;
    fsync(&tmp)?;

    // Atomic from here: NEW appears whole, or not at all.
    fs::rename(&tmp, to)
        .with_context(|| format!("renaming {} to {}", tmp.display(), to.display()))?;
    fsync(parent_of(to))?;
    println!(
        "cut over {} into {}: {} events, {} patron ids sealed in {} events, {} new patron keys, {} patron streams renamed",
        from.display(),
        to.display(),
        report.events,
        report.sealed_ids,
        report.rewritten_events,
        report.new_keys,
        report.renamed_streams
    );
    println!("old tree: size {old_size}, root {}", hex(&old_root));
    println!("new tree: size {new_size}, root {}", hex(&new_root));
    match old_signer {
        Some(_) => println!(
            "the record, signed with the old checkpoint key: {}",
            to.join(CUT_OVER_DIR).join(RECORD).display()
        ),
        None => println!(
            "the record: {} (the old directory had no checkpoint key to sign it with)",
            to.join(CUT_OVER_DIR).join(RECORD).display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(report: &CutOverReport) -> String {
    format!(
        "events {}\nsealed {} patron ids in {} events\nnew keys {}\nrenamed streams {}\n",
        report.events,
        report.sealed_ids,
        report.rewritten_events,
        report.new_keys,
        report.renamed_streams
    )
}

/// NEW's key store: a copy of OLD's (keys and records of forgetting; a key whose forgetting a
/// crash interrupted is not copied), or a new one.
fn key_store(from: &Path, tmp: &Path) -> anyhow::Result<Arc<KeyStore>> {
    let old_keys = from.join(KEY_DIR);
    if old_keys.is_dir() {
        // Opened first: a damaged key store is refused before anything is copied.
        KeyStore::open_read_only(from).context("opening the old patron key store")?;
        let new_keys = tmp.join(KEY_DIR);
        fs::create_dir_all(&new_keys)?;
        let mut names: Vec<String> = fs::read_dir(&old_keys)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in &names {
            let forgotten = name
                .strip_suffix(".key")
                .is_some_and(|kid| names.contains(&format!("{kid}.forgotten")));
            let kept = name.ends_with(".forgotten") || name.ends_with(".key");
            if kept && !forgotten {
                fs::copy(old_keys.join(name), new_keys.join(name))
                    .with_context(|| format!("copying {}", old_keys.join(name).display()))?;
                fsync(&new_keys.join(name))?;
            }
        }
        fsync(&new_keys)?;
        Ok(KeyStore::open(tmp).context("opening the new patron key store")?)
    } else {
        Ok(KeyStore::open_or_create(tmp).context("creating the new patron key store")?)
    }
}

/// A server holding OLD's log would go on writing after the cut-over read it.
fn refuse_a_running_server(log: &Path) -> anyhow::Result<()> {
    let Ok(lock) = fs::File::open(log.join("LOCK")) else {
        return Ok(());
    };
    match lock.try_lock_shared() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => bail!(
            "{} is locked: a server (or another tool) has the log open; stop it before the cut-over, so that no event is written after the copy",
            log.display()
        ),
        // A file system without locks: the operator was told to stop the server.
        Err(fs::TryLockError::Error(_)) => Ok(()),
    }
}

/// NEW must be a new directory: never the old one, never one with anything in it.
fn refuse_a_used_target(from: &Path, to: &Path) -> anyhow::Result<()> {
    if !to.exists() {
        return Ok(());
    }
    if fs::canonicalize(to)? == fs::canonicalize(from)? {
        bail!(
            "--to {} is the directory being cut over: the cut-over writes a new data directory",
            to.display()
        );
    }
    let mut entries = fs::read_dir(to).with_context(|| format!("reading --to {}", to.display()))?;
    if entries.next().is_some() {
        bail!(
            "--to {} is not empty: the cut-over writes a new data directory and never into one that holds anything; give a path that does not exist",
            to.display()
        );
    }
    Ok(())
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `.<NEW's name>.cut-over-tmp` beside NEW: on the same file system, so the rename is atomic.
fn temporary_beside(to: &Path) -> anyhow::Result<PathBuf> {
    let name = to
        .file_name()
        .with_context(|| format!("--to {} has no directory name", to.display()))?;
    Ok(parent_of(to).join(format!(".{}.cut-over-tmp", name.to_string_lossy())))
}

fn fsync(path: &Path) -> anyhow::Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", path.display()))
}

fn progress(length: u64) -> ProgressBar {
    // On a terminal, a bar; otherwise (a script, a log), nothing until the summary.
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template(
            "cutting over [{bar:40}] {pos}/{len} events ({per_sec}, {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}
