//! `readnet export-hourly`: hourly Parquet partitions from a server's log, resumed from their
//! checkpoint without a position written twice or left out.

use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use readnet_e2e::*;

fn export(fixture: &Fixture, out: &Path) {
    let data = fixture.server.data_dir().to_str().unwrap();
    let output = std::process::Command::new(readnet_binary())
        .args(["export-hourly", "--until-caught-up", "--out"])
        .arg(out)
        .args(["--server", &fixture.server.url(), "--data", data])
        .output()
        .expect("readnet runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The partitions' files as (first, last, rows), in position order.
fn partitions(out: &Path) -> Vec<(u64, u64, i64)> {
    let mut ranges: Vec<(u64, u64, i64)> = files(out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let mut parts = name.trim_start_matches("events-").split('-');
            let first: u64 = parts.next().unwrap().parse().unwrap();
            let last: u64 = parts.next().unwrap().parse().unwrap();
            let hour = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            assert!(hour.starts_with("hour="), "{}", path.display());
            let rows = SerializedFileReader::new(std::fs::File::open(&path).unwrap())
                .unwrap()
                .metadata()
                .file_metadata()
                .num_rows();
            (first, last, rows)
        })
        .collect();
    ranges.sort();
    ranges
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_partitions_resume_from_their_checkpoint_with_every_position_once() {
    let fixture = network_jinan_zibo().await;
    let out = tempfile::tempdir().unwrap();
    export(&fixture, out.path());
    let head = fixture.net.head_position().await;
    let first = partitions(out.path());
    assert_eq!(first.first().map(|p| p.0), Some(1));
    assert_eq!(first.last().map(|p| p.1), Some(head));

    // More happens; the exporter runs again and writes only what came after its checkpoint.
    let patron = card(JINAN, "370102198805052222");
    for item in JN_BOOKS {
        fixture
            .net
            .at(JN_CENTRAL)
            .checkout(item, patron.clone())
            .await
            .unwrap_or_else(|s| panic!("Checkout {item}: {s:?}"));
    }
    export(&fixture, out.path());
    let head = fixture.net.head_position().await;
    let all = partitions(out.path());
    assert!(all.len() > first.len(), "a new file: {all:?}");
    let mut next = 1;
    for (from, through, rows) in &all {
        assert_eq!(
            *from, next,
            "files follow each other without overlap: {all:?}"
        );
        assert_eq!(
            *rows as u64,
            through - from + 1,
            "every event of the range: {all:?}"
        );
        next = through + 1;
    }
    assert_eq!(next, head + 1, "through the head");
    assert!(
        files(out.path())
            .iter()
            .all(|p| !p.to_str().unwrap().contains(".partial")),
        "no partial file is left"
    );
    let checkpoint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("_checkpoint.json")).unwrap())
            .unwrap();
    assert_eq!(checkpoint["position"], head);
}
