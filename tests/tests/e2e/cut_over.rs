//! `readnet cut-over` (ADR 0018, migration) end to end: a data directory written before patron
//! ids were sealed, cut over into a new one. The new log holds no patron id in the clear, a
//! replay of it answers as the old one did, its readers can be forgotten, and the new directory
//! says which history it was cut from.

use std::path::Path;
use std::process::Command as Process;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use readnet_domain::pb::{Acquisition, Channel, LibraryTier};
use readnet_domain::{
    Caller, Command, CommandContext, Fen, LibraryCode, NewBook, PatronKey, PatronRef,
};
use readnet_e2e::v1;
use readnet_e2e::*;
use readnet_ledger::{CommandBus, REFUSAL_RETRY_WINDOW, Submission, digest};
use readnet_server::projections::AllProjections;
use readnet_statistics::By;
use readnet_statistics::query::{DayRange, city_days, library_days, network_days};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use tonic::Code;
use uuid::Uuid;

const SECRET: &[u8] = b"the network secret of a legacy ledger";
/// Returned everything: may be forgotten once cut over.
const READER_A: &str = "370102199001011234";
/// Still has a loan.
const READER_B: &str = "370102199202025678";

fn readnet(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Process::new(readnet_binary())
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

fn plain_id(number: &str) -> String {
    PatronKey::new(SECRET)
        .patron_id("jinan", number)
        .to_string()
}

fn reader(number: &str) -> PatronRef {
    PatronRef {
        city: "jinan".into(),
        patron_id: PatronKey::new(SECRET).patron_id("jinan", number),
        masked_card: format!("jinan:****{}", &number[number.len() - 4..]),
    }
}

async fn run(bus: &CommandBus, command: Command, library: Option<&str>, at: DateTime<Utc>) {
    let ctx = CommandContext {
        occurred_at: at,
        acting_library: library.map(LibraryCode::from),
        channel: if library.is_some() {
            Channel::Desk
        } else {
            Channel::System
        },
        caller: Caller::Server,
    };
    let submission = Submission {
        command_id: Uuid::new_v4(),
        correlation_id: None,
        digest: digest(
            &PatronKey::new(SECRET),
            command.name(),
            &ctx,
            format!("{command:?}").as_bytes(),
        ),
        command,
        received_at: at,
        ctx,
    };
    bus.submit(submission)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A data directory as a server before sealing left it: the network secret and a log whose
/// patron ids are in the clear (written by the command bus without a key store, as it was).
/// Jinan and Zibo; reader A borrows a Zibo book at Zibo and returns it in Jinan (settlement
/// charges), then a Jinan book the same day; reader B borrows and renews a Jinan book.
async fn legacy_data_dir(data: &Path, start: DateTime<Utc>) {
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(data.join("patron.key"), SECRET).unwrap();
    let store = Arc::new(
        EmbeddedStore::open(data.join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    );
    let bus = CommandBus::start_sealed(store.clone(), REFUSAL_RETRY_WINDOW, None)
        .await
        .unwrap();
    let day = |n: i64| start + Duration::days(n);
    for (city, name) in [("jinan", "济南"), ("zibo", "淄博")] {
        let join = Command::JoinCity {
            city: city.into(),
            name: name.into(),
            time_zone: String::new(),
        };
        run(&bus, join, None, day(0)).await;
    }
    for (library, city) in [("JN-CENTRAL", "jinan"), ("ZB-CENTRAL", "zibo")] {
        let register = Command::RegisterLibrary {
            library: library.into(),
            name: library.into(),
            city: city.into(),
            tier: LibraryTier::Central,
            parent: None,
        };
        run(&bus, register, None, day(0)).await;
    }
    for (item, owner) in [
        ("JN-1", "JN-CENTRAL"),
        ("JN-2", "JN-CENTRAL"),
        ("ZB-1", "ZB-CENTRAL"),
    ] {
        let catalogue = Command::CatalogueItem {
            book: NewBook {
                item: item.into(),
                isbn: String::new(),
                title: format!("书 {item}"),
                author: "作者".into(),
                price_fen: Some(Fen(2500)),
            },
            owner_library: owner.into(),
            acquisition: Acquisition::Purchase,
        };
        run(&bus, catalogue, None, day(0)).await;
    }
    let checkout = |item: &str, number: &str| Command::Checkout {
        item: item.into(),
        patron: reader(number),
    };
    let give_back = |item: &str| Command::Return { item: item.into() };
    run(&bus, checkout("ZB-1", READER_A), Some("ZB-CENTRAL"), day(1)).await;
    run(&bus, give_back("ZB-1"), Some("JN-CENTRAL"), day(4)).await;
    run(&bus, checkout("JN-1", READER_A), Some("JN-CENTRAL"), day(5)).await;
    run(&bus, give_back("JN-1"), Some("JN-CENTRAL"), day(5)).await;
    run(&bus, checkout("JN-2", READER_B), Some("JN-CENTRAL"), day(5)).await;
    let renew = Command::Renew {
        item: "JN-2".into(),
        patron: reader(READER_B),
    };
    run(&bus, renew, Some("JN-CENTRAL"), day(12)).await;
    store.close().await;
}

/// Every byte of every file under `dir`.
fn bytes_under(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(bytes_under(&path));
        } else {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

async fn replayed(data: &Path) -> AllProjections {
    let store = EmbeddedStore::open_read_only(data.join("log"), EmbeddedOptions::default())
        .await
        .unwrap();
    AllProjections::replay(&store, None, |_| {}).await.unwrap()
}

/// The statistics' answers: every day of the network, each city and each library, both ways.
fn statistics_answers(folded: &AllProjections, range: &DayRange) -> String {
    let state = &folded.statistics;
    let mut answers = String::new();
    for by in [By::TransactionLibrary, By::OwningLibrary] {
        answers.push_str(&format!(
            "{by:?} network {:?}\n",
            network_days(state, range, by)
        ));
        for city in ["jinan", "zibo"] {
            let days = city_days(state, city, range, by).unwrap();
            answers.push_str(&format!("{by:?} {city} {days:?}\n"));
        }
        for library in ["JN-CENTRAL", "ZB-CENTRAL"] {
            let days = library_days(state, library, range, by).unwrap();
            answers.push_str(&format!("{by:?} {library} {days:?}\n"));
        }
    }
    answers
}

fn forget_request(number: &str) -> v1::ForgetPatronRequest {
    v1::ForgetPatronRequest {
        card: Some(card("jinan", number)),
        reason: v1::ForgetReason::Request as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_legacy_log_cut_over_holds_no_id_in_the_clear_replays_alike_and_its_readers_can_be_forgotten()
 {
    let scratch = tempfile::tempdir().unwrap();
    let old = scratch.path().join("old");
    let new = scratch.path().join("new");
    let start = Utc::now() - Duration::days(40);
    legacy_data_dir(&old, start).await;
    // The old directory's checkpoint key (its auditors hold the public key).
    let (code, old_public_key, err) =
        readnet(&["checkpoint", "--data", path(&old), "--public-key"]);
    assert_eq!(code, Some(0), "{err}");
    let plain = [plain_id(READER_A), plain_id(READER_B)];
    let old_log = bytes_under(&old.join("log"));
    assert!(
        plain.iter().all(|id| holds(&old_log, id)),
        "ids in the clear"
    );

    // A cut-over interrupted before: its temporary directory is cleared, and it starts over.
    let leftover = scratch.path().join(".new.cut-over-tmp");
    std::fs::create_dir_all(leftover.join("log")).unwrap();
    std::fs::write(leftover.join("log").join("junk"), b"half a cut-over").unwrap();
    let (code, out, err) = readnet(&["cut-over", "--from", path(&old), "--to", path(&new)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        err.contains("left by a cut-over that did not finish"),
        "{err}"
    );
    assert!(!leftover.exists());
    assert!(
        out.contains(
            "8 patron ids sealed in 8 events, 2 new patron keys, 2 patron streams renamed"
        ),
        "two enrolments, three loans, two returns, one renewal: {out}"
    );
    assert_eq!(
        bytes_under(&old.join("log")),
        old_log,
        "the old log is not changed"
    );

    // No file of the new log holds a patron id in the clear.
    let new_log = bytes_under(&new.join("log"));
    for id in &plain {
        assert!(!holds(&new_log, id), "the new log holds {id}");
    }

    // The same answers: availability and settlement to the same digests; statistics to the
    // same figures, its digest not the same, since its state keeps the distinct patrons' day
    // tokens and a plaintext id is its own token.
    let (before, after) = (replayed(&old).await, replayed(&new).await);
    assert_eq!(before.digests.availability, after.digests.availability);
    assert_eq!(before.digests.settlement, after.digests.settlement);
    assert_ne!(before.digests.statistics, after.digests.statistics);
    let range = DayRange::parse(
        &start.date_naive().to_string(),
        &(start + Duration::days(20)).date_naive().to_string(),
    )
    .unwrap();
    let answers = statistics_answers(&before, &range);
    assert!(answers.contains("active_patrons: 2"), "{answers}");
    assert_eq!(answers, statistics_answers(&after, &range));
    let statements = |folded: &AllProjections| {
        folded
            .settlement
            .periods()
            .into_iter()
            .map(|period| format!("{:?}", folded.settlement.statement(period)))
            .collect::<Vec<_>>()
    };
    assert!(!statements(&before).is_empty());
    assert_eq!(statements(&before), statements(&after));
    let (code, old_report, err) = readnet(&["replay", "--data", path(&old)]);
    assert_eq!(code, Some(0), "{err}");
    let (code, new_report, err) = readnet(&["replay", "--data", path(&new)]);
    assert_eq!(code, Some(0), "{err}");
    let without_statistics = |report: &str| {
        report
            .lines()
            .filter(|l| !l.starts_with("statistics "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        without_statistics(&old_report),
        without_statistics(&new_report)
    );
    assert!(old_report.contains("net jinan:"), "{old_report}");

    // The record links the two histories: the old head signed with the old key, and the
    // record itself, naming the new directory's own key.
    let (code, out, err) = readnet(&[
        "verify",
        "--key",
        old_public_key.trim(),
        "--checkpoint",
        path(&new.join("cut-over/from.checkpoint")),
        "--data",
        path(&old),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let record = std::fs::read_to_string(new.join("cut-over/record")).unwrap();
    let verifier = readnet_tlog::NoteVerifier::from_text(old_public_key.trim()).unwrap();
    let body = verifier.open(&record).expect("signed with the old key");
    let (code, new_public_key, err) =
        readnet(&["checkpoint", "--data", path(&new), "--public-key"]);
    assert_eq!(code, Some(0), "{err}");
    assert_ne!(new_public_key, old_public_key, "a new history, a new key");
    assert!(
        body.contains(&format!("to key {}", new_public_key.trim())),
        "{body}"
    );
    let head = old_report
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("replayed through position "))
        .unwrap()
        .to_owned();
    assert!(body.contains(&format!("from size {head}\n")), "{body}");
    assert!(body.contains(&format!("to size {head}\n")), "{body}");

    // The tool refuses to run again: into a directory that holds something, or on its own
    // output.
    let (code, _, err) = readnet(&["cut-over", "--from", path(&old), "--to", path(&new)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not empty"), "{err}");
    let again = scratch.path().join("again");
    let (code, _, err) = readnet(&["cut-over", "--from", path(&new), "--to", path(&again)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("was itself made by a cut-over"), "{err}");
    assert!(!again.exists());

    // Before: a server on (a copy of) the old directory refuses to forget reader A.
    let copy = scratch.path().join("old-copy");
    copy_tree(&old, &copy);
    let server = TestServer::start(&copy);
    let net = Net::connect(&server.url(), Some(&server.admin_token())).await;
    let system = net.system();
    refused(
        system
            .admin()
            .forget_patron(system.request(forget_request(READER_A)))
            .await,
        Code::FailedPrecondition,
        "recorded before patron ids were sealed",
        "ForgetPatron on the old log",
    );
    // Nor is a directory a server is writing to cut over.
    let (code, _, err) = readnet(&["cut-over", "--from", path(&copy), "--to", path(&again)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is locked"), "{err}");
    assert!(!again.exists());
    drop(server);

    // After: on the new directory reader A is forgotten; reader B still has a loan.
    let server = TestServer::start(&new);
    let net = Net::connect(&server.url(), Some(&server.admin_token())).await;
    let system = net.system();
    let receipt = accepted(
        system
            .admin()
            .forget_patron(system.request(forget_request(READER_A)))
            .await,
        "ForgetPatron on the new log",
    )
    .into_inner()
    .receipt
    .unwrap();
    only_event(&receipt, "PatronForgotten");
    refused(
        system
            .admin()
            .forget_patron(system.request(forget_request(READER_B)))
            .await,
        Code::FailedPrecondition,
        "a patron with loans, open holds or debts is not forgotten",
        "reader B, with a loan",
    );
}
