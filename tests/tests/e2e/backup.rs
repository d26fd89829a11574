//! `readnet backup` of a server that keeps writing, and `readnet restore` of it: the backup is
//! exactly a prefix of the log, it checks out by replay, a changed byte is caught, and a server
//! starts on the restored directory.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use readnet_e2e::*;
use serde_json::Value;

fn readnet(args: &[&str]) -> Output {
    Command::new(readnet_binary())
        .args(args)
        .output()
        .expect("readnet runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn manifest(backup: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(backup.join("backup.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn a_backup_of_a_ledger_being_written_is_a_checked_prefix_and_restores() {
    let mut fixture = network_jinan_zibo().await;
    let data = fixture.server.data_dir().to_path_buf();
    let scratch = tempfile::tempdir().unwrap();
    let backup = scratch.path().join("backup");

    // A desk keeps cataloguing while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    // Commands acknowledged, and the last position a receipt named.
    let written = Arc::new(AtomicU64::new(0));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let writer = {
        let (desk, stop) = (fixture.net.at(JN_CENTRAL), stop.clone());
        let (written, acknowledged) = (written.clone(), acknowledged.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let receipt = desk
                    .catalogue(&format!("JN-B{n:06}"), JN_CENTRAL)
                    .await
                    .expect("CatalogueItem during the backup");
                let last = *receipt_positions(&receipt).last().unwrap();
                acknowledged.store(last, Ordering::Relaxed);
                written.store(n, Ordering::Relaxed);
            }
        })
    };
    while written.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let head_before = acknowledged.load(Ordering::Relaxed);
    let backed_up = {
        let (data, backup) = (data.clone(), backup.clone());
        tokio::task::spawn_blocking(move || {
            readnet(&["backup", "--data", path(&data), path(&backup)])
        })
        .await
        .unwrap()
    };
    let during = written.load(Ordering::Relaxed);
    while written.load(Ordering::Relaxed) < during + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(backed_up.status.success(), "{}", text(&backed_up.stderr));
    let head = manifest(&backup)["head"].as_u64().unwrap();
    let final_head = fixture.net.head_position().await;
    assert!(
        head >= head_before && head < final_head,
        "the backup's head {head}: at least {head_before}, and writes went on to {final_head}"
    );
    fixture.server.kill_hard();

    // The backup is exactly the live log's first `head` events.
    let live = readnet(&["export", "events", "--data", path(&data)]);
    let copied = readnet(&["export", "events", "--data", path(&backup)]);
    assert!(copied.status.success(), "{}", text(&copied.stderr));
    let live = text(&live.stdout);
    let prefix: Vec<&str> = live.lines().take(head as usize).collect();
    assert_eq!(text(&copied.stdout).lines().collect::<Vec<_>>(), prefix);
    for file in ["patron.key", "tokens.json", "admin.token"] {
        assert_eq!(
            std::fs::read(backup.join(file)).unwrap(),
            std::fs::read(data.join(file)).unwrap(),
            "{file}"
        );
    }

    let check = readnet(&["restore", "--check", path(&backup)]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains(&format!("a log through position {head}")),
        "{}",
        text(&check.stdout)
    );

    // Restored, the server starts on it at the backup's head, and the admin's token still works.
    let restored = scratch.path().join("restored");
    let restore = readnet(&["restore", path(&backup), "--data", path(&restored)]);
    assert!(restore.status.success(), "{}", text(&restore.stderr));
    {
        let server = TestServer::start(&restored);
        let net = Net::connect(&server.url(), Some(&server.admin_token())).await;
        assert_eq!(net.head_position().await, head);
    }
    let into_used = readnet(&["restore", path(&backup), "--data", path(&restored)]);
    assert!(!into_used.status.success());
    assert!(text(&into_used.stderr).contains("is not empty"));

    // One changed byte in the backup's log: refused, naming the file, and nothing restored.
    let manifest = manifest(&backup);
    let segment = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .find(|name| name.starts_with("log/"))
        .expect("a segment in the backup");
    let mut bytes = std::fs::read(backup.join(&segment)).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 1;
    std::fs::write(backup.join(&segment), &bytes).unwrap();
    let elsewhere = scratch.path().join("elsewhere");
    let refused = readnet(&["restore", path(&backup), "--data", path(&elsewhere)]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains(&format!("error: {segment}:")),
        "{}",
        text(&refused.stderr)
    );
    assert!(!elsewhere.exists(), "a refused backup restores nothing");

    // The byte put back, a manifest whose digest was changed is caught by the replay.
    bytes[at] ^= 1;
    std::fs::write(backup.join(&segment), &bytes).unwrap();
    let mut edited = manifest.clone();
    edited["digests"][0][1] = Value::String("0".repeat(64));
    std::fs::write(
        backup.join("backup.json"),
        serde_json::to_vec(&edited).unwrap(),
    )
    .unwrap();
    let refused = readnet(&["restore", "--check", path(&backup)]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("availability: the replay's digest is"),
        "{}",
        text(&refused.stderr)
    );
}

#[tokio::test]
async fn a_backup_over_grpc_is_the_local_one_and_is_for_network_admins_only() {
    let mut fixture = network_jinan_zibo().await;
    let data = fixture.server.data_dir().to_path_buf();
    let scratch = tempfile::tempdir().unwrap();
    let (remote, local) = (scratch.path().join("remote"), scratch.path().join("local"));
    let url = fixture.server.url();
    let admin_token = data.join("admin.token");

    // A desk may not: the copy holds the network secret.
    let token = fixture
        .net
        .add_principal(
            "backup-desk",
            v1::Grant {
                role: v1::Role::Desk as i32,
                libraries: vec![JN_CENTRAL.to_owned()],
                ..Default::default()
            },
        )
        .await
        .expect("AddPrincipal");
    let desk_token = scratch.path().join("desk.token");
    std::fs::write(&desk_token, token).unwrap();
    let refused = readnet(&[
        "backup",
        "--server",
        &url,
        "--token-file",
        path(&desk_token),
        path(&remote),
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("PERMISSION_DENIED"),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        std::fs::read_dir(&remote).unwrap().next().is_none(),
        "a refused backup writes nothing"
    );

    let over_grpc = readnet(&[
        "backup",
        "--server",
        &url,
        "--token-file",
        path(&admin_token),
        path(&remote),
    ]);
    assert!(over_grpc.status.success(), "{}", text(&over_grpc.stderr));
    let head = fixture.net.head_position().await;
    fixture.server.kill_hard();
    let here = readnet(&["backup", "--data", path(&data), path(&local)]);
    assert!(here.status.success(), "{}", text(&here.stderr));

    // Nothing was written in between: the same files, byte for byte, and the same digests.
    let (remote_manifest, local_manifest) = (manifest(&remote), manifest(&local));
    assert_eq!(remote_manifest["head"].as_u64(), Some(head));
    assert_eq!(remote_manifest["files"], local_manifest["files"]);
    assert_eq!(remote_manifest["digests"], local_manifest["digests"]);
    let check = readnet(&["restore", "--check", path(&remote)]);
    assert!(check.status.success(), "{}", text(&check.stderr));
}
