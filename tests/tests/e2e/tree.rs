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

fn readnet(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(readnet_binary())
        .args(args)
        .output()
        .expect("readnet runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A log of `n` events in `dir/log`; event 5's data is `five`.
async fn log_of(dir: &Path, n: u32, five: &str) {
    let store = EmbeddedStore::open(dir.join("log"), EmbeddedOptions::default())
        .await
        .unwrap();
    for i in 1..=n {
        let data = if i == 5 {
            five.to_owned()
        } else {
            format!("event {i}")
        };
        store
            .append(
                &format!("s-{}", i % 3),
                readnet_store::StreamState::Any,
                vec![readnet_store::EventData {
                    event_id: uuid::Uuid::from_u128(u128::from(i)),
                    event_type: "Tested".into(),
                    content_type: readnet_store::ContentType::Binary,
                    metadata: Vec::new().into(),
                    data: data.into_bytes().into(),
                }],
            )
            .await
            .unwrap();
    }
    store.close().await;
}

#[tokio::test]
async fn verify_trusts_only_the_public_key_and_catches_a_rewritten_past() {
    let scratch = tempfile::tempdir().unwrap();
    let (honest, forked) = (scratch.path().join("honest"), scratch.path().join("forked"));
    let state = scratch.path().join("seen.checkpoint");
    log_of(&honest, 10, "event 5").await;

    let (code, key, stderr) = readnet(&[
        "checkpoint",
        "--data",
        path(&honest),
        "--origin",
        "readnet.test/audit",
        "--public-key",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("readnet.test/audit+"), "{key}");
    let (code, note, stderr) = readnet(&["checkpoint", "--data", path(&honest)]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(note.starts_with("readnet.test/audit\n10\n"), "{note}");
    let checkpoint = scratch.path().join("honest.checkpoint");
    std::fs::write(&checkpoint, &note).unwrap();

    let verify = |checkpoint: &Path, data: &Path| {
        readnet(&[
            "verify",
            "--key",
            &key,
            "--checkpoint",
            path(checkpoint),
            "--data",
            path(data),
            "--state",
            path(&state),
        ])
    };
    let (code, out, _) = verify(&checkpoint, &honest);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("VERIFIED: readnet.test/audit signs 10 events"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), note);

    // The same from an export with leaves: records of streams that are not the ledger's too.
    let export = scratch.path().join("honest.jsonl");
    let (code, _, stderr) = readnet(&[
        "export",
        "events",
        "--leaves",
        "--data",
        path(&honest),
        "--out",
        path(&export),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&export).unwrap().lines().count(),
        10
    );
    let (code, out, _) = readnet(&[
        "verify",
        "--key",
        &key,
        "--checkpoint",
        path(&checkpoint),
        "--export",
        path(&export),
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("and the export"), "{out}");

    // A checkpoint whose size was edited: its signature no longer holds.
    let edited = scratch.path().join("edited.checkpoint");
    std::fs::write(&edited, note.replacen("\n10\n", "\n9\n", 1)).unwrap();
    let (code, out, _) = verify(&edited, &honest);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("TAMPERED:") && out.contains("does not verify"),
        "{out}"
    );

    // The operator rewrites event 5, appends two more and signs the new history with the same
    // key: self-consistent, and caught because the auditor remembers the old head.
    log_of(&forked, 12, "event 5, rewritten").await;
    std::fs::copy(honest.join("checkpoint.key"), forked.join("checkpoint.key")).unwrap();
    let (_, forked_note, _) = readnet(&["checkpoint", "--data", path(&forked)]);
    let forked_checkpoint = scratch.path().join("forked.checkpoint");
    std::fs::write(&forked_checkpoint, &forked_note).unwrap();
    let (code, out, _) = verify(&forked_checkpoint, &forked);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("TAMPERED: the history changed: the first 10 events"),
        "{out}"
    );
    // An auditor without the memory is shown a consistent (forked) log: that is what the state is for.
    let (code, out, _) = readnet(&[
        "verify",
        "--key",
        &key,
        "--checkpoint",
        path(&forked_checkpoint),
        "--data",
        path(&forked),
    ]);
    assert_eq!(code, Some(0), "{out}");
    // The honest checkpoint against the forked log: the root differs.
    let (code, out, _) = readnet(&[
        "verify",
        "--key",
        &key,
        "--checkpoint",
        path(&checkpoint),
        "--data",
        path(&forked),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("the first 10 events of the log in") && out.contains("have root"),
        "{out}"
    );
    // A missing log: could not check.
    let (code, out, _) = readnet(&[
        "verify",
        "--key",
        &key,
        "--checkpoint",
        path(&checkpoint),
        "--data",
        path(&scratch.path().join("nowhere")),
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.starts_with("COULD NOT CHECK:"), "{out}");
}

#[tokio::test]
async fn tiles_written_for_a_mirror_give_the_same_root_and_refuse_another_past() {
    let scratch = tempfile::tempdir().unwrap();
    let (log, forked, out) = (
        scratch.path().join("log-a"),
        scratch.path().join("log-b"),
        scratch.path().join("mirror"),
    );
    log_of(&log, 600, "event 5").await;
    let printed = tree(&log, &["--tiles", path(&out)]);
    assert!(
        printed.contains("tiles in") && printed.contains(": 4 written, 0 already there"),
        "{printed}"
    );
    for tile in [
        "tile/0/000",
        "tile/0/001",
        "tile/0/002.p/88",
        "tile/1/000.p/2",
    ] {
        assert!(out.join(tile).is_file(), "{tile}");
    }
    let root = after(&printed, "root ");
    let tiles = readnet_tlog::TileReader::new(600, |tile: &readnet_tlog::TileId| {
        std::fs::read(out.join(tile.path())).map_err(|e| e.to_string())
    });
    assert_eq!(readnet_tlog::subtree_root(&tiles, 0, 600).unwrap(), root);
    // Again: the full tiles are there and equal.
    let again = tree(&log, &["--tiles", path(&out)]);
    assert!(
        again.contains(": 2 written, 2 already there and equal"),
        "{again}"
    );
    // Another past: refused at the first full tile that differs.
    log_of(&forked, 600, "event 5, rewritten").await;
    let output = Command::new(readnet_binary())
        .args(["tree", "--tiles", path(&out), "--data", path(&forked)])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tile/0/000 holds other hashes"), "{stderr}");
}

/// `GET path` over plain HTTP/1.1: the status and the body.
pub(crate) async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: mirror\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    (status, response[end + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_the_tree_and_a_mirror_checks_its_tiles_across_a_crash() {
    use readnet_e2e::v1::{self, audit_service_client::AuditServiceClient};
    use readnet_tlog::{NoteVerifier, TileReader, subtree_root};

    let mut fixture = Fixture::start_with_args(&["--http-listen", "127.0.0.1:0"]).await;
    let (ok, stdout, stderr) = crate::service::play_demo(&fixture.server).await;
    assert!(ok, "the demo ran\n{stdout}\n{stderr}");
    let data = fixture.server.data_dir().to_path_buf();
    let (code, key, stderr) = readnet(&["checkpoint", "--data", path(&data), "--public-key"]);
    assert_eq!(code, Some(0), "{stderr}");
    let verifier = NoteVerifier::from_text(key.trim()).unwrap();

    let signed = AuditServiceClient::new(fixture.net.channel.clone())
        .sign_checkpoint(v1::SignCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    let http = fixture.server.http_addr();
    let (status, note) = http_get(http, "/tlog/checkpoint").await;
    assert_eq!(status, 200);
    let note = String::from_utf8(note).unwrap();
    assert_eq!(note, signed.note);
    let head = verifier.open_checkpoint(&note).unwrap();
    assert_eq!(head.size, fixture.net.head_position().await);

    // A mirror rebuilds the root from the tiles it fetches, one tile per node.
    let fetch_tiles = |http: std::net::SocketAddr, size: u64| {
        let handle = tokio::runtime::Handle::current();
        TileReader::new(size, move |tile: &readnet_tlog::TileId| {
            let path = format!("/tlog/{}", tile.path());
            let (status, body) =
                tokio::task::block_in_place(|| handle.block_on(http_get(http, &path)));
            if status == 200 {
                Ok(body)
            } else {
                Err(format!("{path}: {status}"))
            }
        })
    };
    assert_eq!(
        subtree_root(&fetch_tiles(http, head.size), 0, head.size).unwrap(),
        head.root
    );
    // A mirror with nothing but the entry bundles and the key rebuilds the tree and reads
    // every record.
    let rebuilt = fetch_entries(http, head.size).await;
    assert_eq!(rebuilt.root(head.size).unwrap(), head.root);
    assert_eq!(
        http_get(http, &format!("/tlog/tile/entries/000.p/{}", head.size + 1))
            .await
            .0,
        404
    );
    assert_eq!(http_get(http, "/tlog/tile/entries/1").await.0, 404);

    // Paths that are not tiles, and tiles the tree has not reached, are not found.
    for bad in [
        "/tlog/tile/0/1".to_owned(),
        "/tlog/tile/9/000".to_owned(),
        format!("/tlog/tile/0/000.p/{}", head.size + 1),
        "/tlog/periods/2026-13x".to_owned(),
        "/tlog/periods/2026-11".to_owned(),
    ] {
        assert_eq!(http_get(http, &bad).await.0, 404, "{bad}");
    }

    // kill -9: the checkpoint is still served, and the next one extends it.
    fixture.crash_and_restart().await;
    let http = fixture.server.http_addr();
    let (status, again) = http_get(http, "/tlog/checkpoint").await;
    assert_eq!((status, String::from_utf8(again).unwrap()), (200, note));
    let desk = fixture.net.at("ZB-CENTRAL");
    desk.catalogue("ZB-AFTER-CRASH", "ZB-CENTRAL")
        .await
        .unwrap();
    let mut audit = AuditServiceClient::new(fixture.net.channel.clone());
    let newer = audit
        .sign_checkpoint(v1::SignCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    let newer_head = verifier.open_checkpoint(&newer.note).unwrap();
    assert_eq!(newer_head.size, head.size + 1);
    let proof: Vec<Hash> = audit
        .prove_consistency(v1::ProveConsistencyRequest {
            old_size: head.size,
            new_size: newer_head.size,
        })
        .await
        .unwrap()
        .into_inner()
        .proof
        .iter()
        .map(|h| h.as_slice().try_into().unwrap())
        .collect();
    verify_consistency(
        head.size,
        newer_head.size,
        &head.root,
        &newer_head.root,
        &proof,
    )
    .unwrap();
    assert_eq!(
        subtree_root(&fetch_tiles(http, newer_head.size), 0, newer_head.size).unwrap(),
        newer_head.root
    );
    let rebuilt = fetch_entries(http, newer_head.size).await;
    assert_eq!(rebuilt.root(newer_head.size).unwrap(), newer_head.root);
}

/// The tree of the first `size` leaves, from the entry bundles served at `http` alone; each
/// entry a record at its position.
async fn fetch_entries(http: std::net::SocketAddr, size: u64) -> Levels {
    let mut tree = Levels::new();
    for index in 0..size.div_ceil(256) {
        let tile = readnet_tlog::TileId {
            level: 0,
            index,
            width: (size - index * 256).min(256),
        };
        let (status, body) = http_get(http, &format!("/tlog/{}", tile.entries_path())).await;
        assert_eq!(status, 200, "{}", tile.entries_path());
        let entries = readnet_tlog::bundle_entries(&body).expect("a bundle");
        assert_eq!(entries.len() as u64, tile.width);
        for entry in entries {
            let record = readnet_tlog::parse_leaf(entry).expect("a record");
            assert_eq!(record.position.get(), tree.size() + 1);
            tree.push(leaf_hash(entry));
        }
    }
    tree
}
