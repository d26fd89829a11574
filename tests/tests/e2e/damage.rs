//! After a disk fault, as an operator meets it: the server refuses a damaged log and says what
//! to do; `readnet doctor` reports it, `export events --salvage` saves every intact event,
//! `readnet repair` truncates it, and the server starts again. Auditors' commands change
//! nothing in the directory they read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use readnet_e2e::*;
use serde_json::Value;

fn readnet(args: &[&str], data: &Path) -> Output {
    Command::new(readnet_binary())
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("readnet runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// `readnet serve` on `data`, expected to refuse to start: its stderr.
fn serve_refuses(data: &Path) -> String {
    let mut child = Command::new(readnet_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("readnet serve runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            assert!(!status.success(), "serve exited successfully");
            return text(&output.stderr);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("readnet serve started on {}", data.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn positions(jsonl: &[u8]) -> Vec<u64> {
    text(jsonl)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a JSON line")["position"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// The number after `--keep-through ` in `text`.
fn keep_through(text: &str) -> u64 {
    let rest = text
        .split("--keep-through ")
        .nth(1)
        .unwrap_or_else(|| panic!("a --keep-through in\n{text}"));
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_damaged_log_is_refused_examined_salvaged_repaired_and_served_again() {
    let mut fixture = Fixture::start().await;
    let (ok, stdout, stderr) = crate::service::play_demo(&fixture.server).await;
    assert!(ok, "the demo ran\n{stdout}\n{stderr}");
    let data = fixture.server.data_dir().to_path_buf();
    let head = fixture.net.head_position().await;
    fixture.server.kill_hard();

    // A healthy directory: doctor says so; replay, export and doctor change no byte in it.
    let before = files(&data);
    let doctor = readnet(&["doctor"], &data);
    let report = text(&doctor.stdout);
    assert!(doctor.status.success(), "{report}{}", text(&doctor.stderr));
    assert!(
        report.contains(&format!("acknowledged    through position {head}"))
            && report.contains(&format!(
                "verdict         OK: the log opens with head {head}"
            )),
        "{report}"
    );
    for args in [
        &["replay"][..],
        &["replay", "--check"],
        &["export", "events"],
        &["export", "events", "--salvage"],
        &["export", "statements"],
    ] {
        let output = readnet(args, &data);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let whole = readnet(&["export", "events"], &data).stdout;
    assert_eq!(
        readnet(&["export", "events", "--salvage"], &data).stdout,
        whole,
        "a salvage of a healthy log is the export"
    );
    assert!(
        files(&data) == before,
        "auditors' commands changed the directory"
    );

    // One flipped byte in the middle of the only segment.
    let segment = before
        .keys()
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a segment file")
        .clone();
    let mut bytes = before[&segment].clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&segment, &bytes).unwrap();
    let damaged = files(&data);

    let refusal = serve_refuses(&data);
    assert!(
        refusal.contains("the log is damaged")
            && refusal.contains(&segment.display().to_string())
            && refusal.contains("readnet doctor"),
        "{refusal}"
    );
    let replay = readnet(&["replay"], &data);
    assert!(!replay.status.success());
    assert!(
        text(&replay.stderr).contains("the log is damaged"),
        "{}",
        text(&replay.stderr)
    );

    let doctor = readnet(&["doctor"], &data);
    let report = text(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    assert!(
        report.contains("DAMAGED bytes") && report.contains("verdict         DAMAGED"),
        "{report}"
    );
    let intact = keep_through(&report);
    assert!(
        intact > 0 && intact < head,
        "intact through {intact} of {head}"
    );

    // Salvage: every event but the damaged ones, and the gap named.
    let salvage = readnet(&["export", "events", "--salvage"], &data);
    let notes = text(&salvage.stderr);
    assert_eq!(salvage.status.code(), Some(1), "{notes}");
    let saved = positions(&salvage.stdout);
    let missing: Vec<(u64, u64)> = notes
        .lines()
        .filter_map(|l| l.strip_prefix("missing: positions "))
        .map(|r| {
            let (a, b) = r.split_once("..=").unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert!(!missing.is_empty(), "{notes}");
    assert_eq!(missing[0].0, intact + 1, "{notes}");
    let mut covered: Vec<u64> = saved.clone();
    covered.extend(missing.iter().flat_map(|&(a, b)| a..=b));
    covered.sort_unstable();
    assert_eq!(covered, (1..=head).collect::<Vec<_>>(), "{notes}");
    assert!(
        saved.iter().any(|&p| p > intact + 1),
        "events after the damage are salvaged: {notes}"
    );
    // Every salvaged line is the line the healthy export had for that position.
    let whole_text = text(&whole);
    let healthy: BTreeMap<u64, &str> = positions(&whole)
        .into_iter()
        .zip(whole_text.lines())
        .collect();
    for (line, position) in text(&salvage.stdout).lines().zip(&saved) {
        assert_eq!(healthy[position], line);
    }

    // Repair: the plan first, changing nothing; then with the position, and the server starts.
    let plan = readnet(&["repair"], &data);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan.stderr));
    assert_eq!(keep_through(&text(&plan.stdout)), intact);
    let wrong = readnet(&["repair", "--keep-through", &head.to_string()], &data);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains(&format!("intact through position {intact}")),
        "{}",
        text(&wrong.stderr)
    );
    assert!(
        files(&data) == damaged,
        "doctor, salvage and a plan changed the directory"
    );
    let repaired = readnet(&["repair", "--keep-through", &intact.to_string()], &data);
    assert!(repaired.status.success(), "{}", text(&repaired.stderr));
    let log = std::fs::read_to_string(data.join("log/repairs.log")).unwrap();
    assert!(
        log.contains(&format!("kept positions 1..={intact}")),
        "{log}"
    );
    let aside = files(&data)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains("/damaged-"))
        .count();
    assert!(aside > 0, "the cut bytes are kept");

    let server = TestServer::start(&data);
    let net = Net::connect(&server.url(), Some(&server.admin_token())).await;
    assert_eq!(net.head_position().await, intact);
    let exported = positions(&readnet(&["export", "events", "--salvage"], &data).stdout);
    assert_eq!(exported, (1..=intact).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_data_directory_that_lost_its_log_is_not_a_new_ledger() {
    let mut fixture = Fixture::start().await;
    let data = fixture.server.data_dir().to_path_buf();
    fixture.server.kill_hard();
    std::fs::rename(data.join("log"), data.with_extension("moved")).unwrap();

    let refusal = serve_refuses(&data);
    assert!(
        refusal.contains("log is missing") && refusal.contains("patron.key"),
        "{refusal}"
    );
    let doctor = readnet(&["doctor"], &data);
    assert_eq!(doctor.status.code(), Some(1));
    assert!(
        text(&doctor.stdout).contains("verdict         DAMAGED: a patron key without a log"),
        "{}",
        text(&doctor.stdout)
    );
    // Created on purpose, an empty log starts a new ledger.
    std::fs::create_dir(data.join("log")).unwrap();
    let mut server = TestServer::start(&data);
    server.kill_hard();
    let doctor = readnet(&["doctor"], &data);
    assert!(doctor.status.success(), "{}", text(&doctor.stdout));
}

#[tokio::test]
async fn damage_inside_a_part_index_files_cover_is_damage_for_doctor_too() {
    use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
    use readnet_store::{EventStore, StreamState};
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    {
        // Closed cleanly: index files and the index checkpoint cover the whole log.
        let store = EmbeddedStore::open(data.join("log"), EmbeddedOptions::default())
            .await
            .unwrap();
        for i in 0..50u32 {
            store
                .append(
                    "s",
                    StreamState::Any,
                    vec![readnet_store::EventData {
                        event_id: uuid::Uuid::from_u128(u128::from(i) + 1),
                        event_type: "Tested".into(),
                        content_type: readnet_store::ContentType::Binary,
                        metadata: Vec::new().into(),
                        data: format!("{i:0>60}").into_bytes().into(),
                    }],
                )
                .await
                .unwrap();
        }
        store.close().await;
    }
    let segment = files(&data)
        .into_keys()
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();

    let doctor = readnet(&["doctor"], &data);
    let report = text(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    assert!(
        report.contains("verdict         DAMAGED") && report.contains("index files"),
        "{report}"
    );
    // The patron keys are checked as far as the log reads, and the report says where it stopped.
    assert!(report.contains("checked only before position"), "{report}");
}
