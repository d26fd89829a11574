//! `readnet tree` on a real server's log: the head it prints is the root of the events as the
//! store hands them out, and its proofs verify with nothing but that head.

use std::path::Path;
use std::process::Command;

use readnet_e2e::*;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{AllFrom, Direction, EventStore};
use readnet_tlog::{Hash, Levels, leaf_bytes, leaf_hash, verify_consistency, verify_inclusion};

fn tree(data: &Path, args: &[&str]) -> String {
    let output = Command::new(readnet_binary())
        .arg("tree")
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("readnet runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "{stdout}{stderr}");
    stdout
}

fn hash(text: &str) -> Hash {
    hex::decode(text.trim()).unwrap().try_into().unwrap()
}

/// The hash after `prefix` on its line.
fn after(output: &str, prefix: &str) -> Hash {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("{prefix:?} in\n{output}"));
    hash(line.split(',').next().unwrap())
}

/// The indented hashes after the line starting with `heading`.
fn proof_after(output: &str, heading: &str) -> Vec<Hash> {
    output
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(hash)
        .collect()
}

#[tokio::test]
async fn the_printed_head_is_the_logs_root_and_its_proofs_verify() {
    let mut fixture = Fixture::start().await;
    let (ok, stdout, stderr) = crate::service::play_demo(&fixture.server).await;
    assert!(ok, "the demo ran\n{stdout}\n{stderr}");
    let data = fixture.server.data_dir().to_path_buf();
    fixture.server.kill_hard();

    let events = {
        let store = EmbeddedStore::open_read_only(data.join("log"), EmbeddedOptions::default())
            .await
            .unwrap();
        store
            .read_all(AllFrom::Start, Direction::Forwards, usize::MAX)
            .await
            .unwrap()
    };
    let size = events.len() as u64;
    assert!(size > 40, "the demo wrote {size} events");
    let leaves: Vec<Hash> = events
        .iter()
        .map(|e| {
            let mut bytes = Vec::new();
            leaf_bytes(e, &mut bytes);
            leaf_hash(&bytes)
        })
        .collect();
    // The head, computed here independently of the command.
    let mut expected = Levels::new();
    for leaf in &leaves {
        expected.push(*leaf);
    }

    let (position, old) = (17, size / 2);
    let whole = tree(
        &data,
        &[
            "--prove",
            &position.to_string(),
            "--since",
            &old.to_string(),
        ],
    );
    assert!(whole.starts_with(&format!("tree size {size}\n")), "{whole}");
    let root = after(&whole, "root ");
    assert_eq!(root, expected.root(size).unwrap());

    let inclusion = proof_after(&whole, &format!("inclusion of position {position}"));
    assert!(!inclusion.is_empty());
    verify_inclusion(
        position - 1,
        size,
        &leaves[position as usize - 1],
        &inclusion,
        &root,
    )
    .unwrap();
    // The proof is of that event and no other.
    assert!(
        verify_inclusion(
            position - 1,
            size,
            &leaves[position as usize],
            &inclusion,
            &root
        )
        .is_err()
    );

    // An auditor who kept the head of the first `old` events checks that the log only grew.
    let older = tree(&data, &["--size", &old.to_string()]);
    let old_root = after(&older, "root ");
    assert_eq!(
        after(&whole, &format!("consistency {old} -> {size}: old root ")),
        old_root
    );
    let consistency = proof_after(&whole, &format!("consistency {old} -> {size}"));
    verify_consistency(old, size, &old_root, &root, &consistency).unwrap();
    let mut bent = consistency.clone();
    bent[0][0] ^= 1;
    assert!(verify_consistency(old, size, &old_root, &root, &bent).is_err());
}
