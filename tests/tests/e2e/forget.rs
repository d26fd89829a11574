//! Forgetting a reader (ADR 0018) end to end: after the demo's story, ForgetPatron of its Jinan
//! reader leaves every digest and every statement `readnet replay` prints as it was, the log's
//! tree verifies across it with only the public key, and nothing lists that reader's loans or
//! ties them to the card or to one another.

use std::path::Path;
use std::process::Command;

use readnet_domain::PatronKey;
use readnet_domain::personal::{FORGOTTEN_PATRON, activity_token, is_sealed, patron_ids_mut};
use readnet_e2e::v1::{
    self, account_service_client::AccountServiceClient, audit_service_client::AuditServiceClient,
};
use readnet_e2e::*;
use tonic::Code;

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

/// `readnet replay`'s report (digests and statements), through `through` if given.
fn replay_report(data: &Path, through: Option<u64>) -> String {
    let through = through.map(|p| p.to_string());
    let mut args = vec!["replay", "--data", path(data)];
    if let Some(through) = &through {
        args.extend(["--through", through]);
    }
    let (code, out, err) = readnet(&args);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("replayed through position"), "{out}");
    out
}

/// Moves the data directory's key store aside (as an auditor's copy has none); where it went.
fn scratch_keys(data: &Path) -> std::path::PathBuf {
    let aside = data.join("patron-keys.aside");
    std::fs::rename(data.join("patron-keys"), &aside).unwrap();
    aside
}

/// `readnet export events`: the log as stored, one JSON line per event.
fn export(data: &Path) -> String {
    let (code, out, err) = readnet(&["export", "events", "--data", path(data)]);
    assert_eq!(code, Some(0), "{err}");
    out
}

/// Every patron id of an export, each checked to be sealed and not to hold `plain`.
fn sealed_ids(export: &str, plain: &str) -> Vec<String> {
    assert!(
        !export.contains(plain),
        "the export holds the card's patron id"
    );
    let mut ids = Vec::new();
    for line in export.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(id) = event["data"]["patron_id"].as_str()
            && !id.is_empty()
        {
            assert!(is_sealed(id), "{line}");
            ids.push(id.to_owned());
        }
    }
    ids
}

async fn sign_checkpoint(net: &Net) -> String {
    AuditServiceClient::new(net.channel.clone())
        .sign_checkpoint(v1::SignCheckpointRequest {})
        .await
        .expect("a checkpoint")
        .into_inner()
        .checkpoint
        .expect("a checkpoint")
        .note
}

fn forget_request(number: &str) -> v1::ForgetPatronRequest {
    v1::ForgetPatronRequest {
        card: Some(card("jinan", number)),
        reason: v1::ForgetReason::Request as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn forgetting_the_demos_jinan_reader_changes_no_digest_or_statement_and_unlinks_their_loans()
{
    let mut fixture = Fixture::start().await;
    let (ok, stdout, stderr) = crate::service::play_demo(&fixture.server).await;
    assert!(ok, "the demo ran\n{stdout}\n{stderr}");
    let number = stdout
        .split("the Jinan reader jinan ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("the demo names its Jinan reader's card\n{stdout}"))
        .to_owned();
    let data = fixture.server.data_dir().to_path_buf();
    let secret = std::fs::read(data.join("patron.key")).unwrap();
    let plain = PatronKey::new(&secret)
        .patron_id("jinan", &number)
        .to_string();

    // Over gRPC the network's administrator sees the reader's events under their patron id.
    let events = fixture.net.read_all().await;
    let theirs: Vec<u64> = events
        .iter()
        .filter(|e| {
            let mut payload = e.event.clone().unwrap().payload.unwrap();
            patron_ids_mut(&mut payload).iter().any(|id| **id == plain)
        })
        .map(|e| e.position)
        .collect();
    assert!(
        theirs.len() >= 4,
        "enrolment, loans, return, loss: {theirs:?}"
    );

    let (code, public_key, err) = readnet(&["checkpoint", "--data", path(&data), "--public-key"]);
    assert_eq!(code, Some(0), "{err}");
    let before_note = sign_checkpoint(&fixture.net).await;
    let account = |net: &Net| {
        let net = net.clone();
        let number = number.clone();
        async move {
            AccountServiceClient::new(net.channel.clone())
                .get_account(net.system().request_as_is(v1::GetAccountRequest {
                    card: Some(card("jinan", &number)),
                }))
                .await
        }
    };
    let shown = accepted(account(&fixture.net).await, "the reader's account before");
    assert!(shown.into_inner().loans.is_empty(), "nothing on loan");

    fixture.server.kill_hard();
    let before = replay_report(&data, None);
    assert!(before.contains("net jinan:"), "{before}");
    let head: u64 = before
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("replayed through position "))
        .and_then(|p| p.trim().parse().ok())
        .expect("the head");
    // What the log stores, as an auditor's export shows it: every patron id sealed, none alike,
    // none the card's id.
    let exported_before = export(&data);
    let stored_ids = sealed_ids(&exported_before, &plain);
    let mut distinct = stored_ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), stored_ids.len(), "no two sealed ids alike");
    let tokens: std::collections::HashSet<&str> =
        stored_ids.iter().map(|id| activity_token(id)).collect();
    assert!(tokens.len() > 1, "tokens differ between patrons");
    fixture.crash_and_restart().await;

    // The network's administrator forgets the reader (who may is in tests/access/matrix.txt).
    let system = fixture.net.system();
    let receipt = accepted(
        system
            .admin()
            .forget_patron(system.request(forget_request(&number)))
            .await,
        "ForgetPatron",
    )
    .into_inner()
    .receipt
    .unwrap();
    let forgotten = only_event(&receipt, "PatronForgotten");
    let Some(v1::event::Payload::PatronForgotten(event)) = forgotten.event.clone().unwrap().payload
    else {
        panic!("a PatronForgotten");
    };
    assert_eq!(event.city, "jinan");
    assert_eq!(
        event.patron_id, FORGOTTEN_PATRON,
        "the key is gone before the answer"
    );
    assert!(!forgotten.stream.contains(&plain));

    // Nothing answers for the card any more.
    refused(
        account(&fixture.net).await,
        Code::NotFound,
        "",
        "the forgotten card's account",
    );
    refused(
        system
            .admin()
            .forget_patron(system.request(forget_request(&number)))
            .await,
        Code::NotFound,
        "has not been used yet",
        "forgetting the card again",
    );
    let after_note = sign_checkpoint(&fixture.net).await;

    // The reader's events are all still there, read now as a forgotten patron's.
    let now = fixture.net.read_all().await;
    assert_eq!(
        now.len(),
        events.len() + 2,
        "PatronForgotten, and the second ForgetPatron's refusal"
    );
    for event in &now {
        let mut payload = event.event.clone().unwrap().payload.unwrap();
        let ids = patron_ids_mut(&mut payload);
        assert!(
            ids.iter().all(|id| **id != plain),
            "event {}",
            event.position
        );
        if theirs.contains(&event.position) {
            assert!(
                ids.iter().all(|id| *id == FORGOTTEN_PATRON),
                "event {}",
                event.position
            );
        }
    }

    fixture.server.kill_hard();
    // The history the auditors replayed reads exactly as before: every digest and statement
    // through the same position, byte for byte.
    let after = replay_report(&data, Some(head));
    assert_eq!(before, after, "every digest and statement is unchanged");
    // And the whole log, PatronForgotten included, replays to the same digests with the key
    // store or without it: no projection an auditor replays reads an id opened.
    let with_keys = replay_report(&data, None);
    let aside = scratch_keys(&data);
    let without_keys = replay_report(&data, None);
    std::fs::rename(&aside, data.join("patron-keys")).unwrap();
    assert_eq!(with_keys, without_keys, "the same digests without the keys");
    assert!(with_keys.contains(&format!("replayed through position {}", head + 2)));
    let exported_after = export(&data);
    assert!(
        exported_after.starts_with(&exported_before),
        "the stored events are unchanged, byte for byte"
    );
    sealed_ids(&exported_after, &plain);

    // The tree: the checkpoint before and the one after both verify against the log, the
    // second consistent with the first.
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("seen.checkpoint");
    for (name, note) in [("before", &before_note), ("after", &after_note)] {
        let file = scratch.path().join(format!("{name}.checkpoint"));
        std::fs::write(&file, note).unwrap();
        let (code, out, err) = readnet(&[
            "verify",
            "--key",
            public_key.trim(),
            "--checkpoint",
            path(&file),
            "--data",
            path(&data),
            "--state",
            path(&state),
        ]);
        assert_eq!(code, Some(0), "{name}: {out}{err}");
        assert!(out.starts_with("VERIFIED"), "{name}: {out}");
    }

    // The doctor finds the key store sound, with one patron forgotten.
    let (code, out, err) = readnet(&["doctor", "--data", path(&data)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(", 1 forgotten;"), "{out}");

    // A backup carries the key store with the log, and restores to a directory the doctor
    // finds the same.
    let backup = scratch.path().join("backup");
    let (code, out, err) = readnet(&["backup", "--data", path(&data), path(&backup)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(backup.join("patron-keys/index.key").is_file());
    let restored = scratch.path().join("restored");
    let (code, out, err) = readnet(&["restore", path(&backup), "--data", path(&restored)]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = readnet(&["doctor", "--data", path(&restored)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(", 1 forgotten;"), "{out}");
    // Without its key store the log's sealed ids are damage, not forgotten readers.
    std::fs::remove_dir_all(restored.join("patron-keys")).unwrap();
    let (code, out, _) = readnet(&["doctor", "--data", path(&restored)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("patron keys     DAMAGED"), "{out}");
}

/// The `PatronForgotten` events of the log, as the network's administrator reads them.
async fn forgettings(net: &Net) -> Vec<v1::PatronForgotten> {
    net.read_all()
        .await
        .into_iter()
        .filter_map(|e| match e.event?.payload? {
            v1::event::Payload::PatronForgotten(forgotten) => Some(forgotten),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_retention_sweep_forgets_the_reader_inactive_for_a_year_and_nobody_else() {
    use chrono::{Duration, Utc};
    // The server's clock is the system's: the readers' history is dated years back (commands
    // may be dated up to 1100 days back here), and the policy forgets after a year without
    // activity, sweeping every second.
    let fixture = Fixture::start_with_args(&[
        "--max-backdate-hours",
        "26400",
        "--forget-inactive-years",
        "1",
        "--retention-sweep-secs",
        "1",
    ])
    .await;
    let net = &fixture.net;
    let set_up_at = Utc::now() - Duration::days(3 * 365);
    let two_years_ago = Utc::now() - Duration::days(2 * 365);
    let system = net.system().dated(set_up_at);
    accepted(system.join_city(JINAN, "济南").await, "JoinCity");
    accepted(
        system
            .register_library(JN_CENTRAL, JINAN, v1::LibraryTier::Central, "")
            .await,
        "RegisterLibrary",
    );
    let desk = net.at(JN_CENTRAL).dated(set_up_at);
    for item in JN_BOOKS {
        accepted(desk.catalogue(item, JN_CENTRAL).await, "CatalogueItem");
    }
    let (inactive, with_a_loan, active) = (
        "370102199001011111",
        "370102199001012222",
        "370102199001013333",
    );
    // Two years ago: one reader borrows and returns, another borrows and keeps the book.
    let then = net.at(JN_CENTRAL).dated(two_years_ago);
    accepted(
        then.checkout(JN_BOOKS[0], card(JINAN, inactive)).await,
        "the inactive reader's loan",
    );
    accepted(then.return_item(JN_BOOKS[0]).await, "its return");
    accepted(
        then.checkout(JN_BOOKS[1], card(JINAN, with_a_loan)).await,
        "a loan never returned",
    );
    // Today: a reader borrows and returns.
    let now = net.at(JN_CENTRAL);
    accepted(
        now.checkout(JN_BOOKS[2], card(JINAN, active)).await,
        "the active reader's loan",
    );
    accepted(now.return_item(JN_BOOKS[2]).await, "its return");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut forgotten = forgettings(net).await;
    while forgotten.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        forgotten = forgettings(net).await;
    }
    assert_eq!(forgotten.len(), 1, "{forgotten:?}");
    assert_eq!(forgotten[0].city, JINAN);
    assert_eq!(forgotten[0].reason, v1::ForgetReason::Retention as i32);
    assert_eq!(forgotten[0].patron_id, FORGOTTEN_PATRON);

    let account = |number: &'static str| {
        let net = net.clone();
        async move {
            AccountServiceClient::new(net.channel.clone())
                .get_account(net.system().request_as_is(v1::GetAccountRequest {
                    card: Some(card(JINAN, number)),
                }))
                .await
        }
    };
    refused(
        account(inactive).await,
        Code::NotFound,
        "",
        "the forgotten reader's account",
    );
    // Three more sweeps: nobody else goes.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(forgettings(net).await.len(), 1, "one reader forgotten");
    let kept = accepted(account(with_a_loan).await, "the reader with a loan").into_inner();
    assert_eq!(kept.loans.len(), 1, "{kept:?}");
    accepted(account(active).await, "the active reader");
}
