//! AuditService end to end, over gRPC, with the server's clock injected so a month can end and
//! close: an auditor holding only the log's public key checks the November line "Jinan owes
//! Zibo" down to its loan events, and that a later checkpoint extends the period's.
//!
//! The server runs in this process (the same `serve_on` and keeper `readnet serve` runs) because
//! only there can its clock be moved to the next month.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use readnet_domain::{Clock, PatronKey};
use readnet_e2e::v1::{
    self, ChargeKind, audit_service_client::AuditServiceClient,
    settlement_service_client::SettlementServiceClient,
};
use readnet_e2e::*;
use readnet_projection::Snapshots;
use readnet_server::Access;
use readnet_server::access::tokens::TokenStore;
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_tlog::{
    Hash, NoteSigner, NoteVerifier, leaf_hash, verify_consistency, verify_inclusion,
};
use tokio::sync::oneshot;
use tonic::Code;

/// A clock the test moves.
#[derive(Clone)]
struct Movable(Arc<Mutex<DateTime<Utc>>>);

impl Clock for Movable {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl Movable {
    fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap() = to;
    }
}

struct InProcess {
    net: Net,
    url: String,
    verifier_text: String,
    clock: Movable,
    verifier: NoteVerifier,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    store: Arc<EmbeddedStore>,
}

async fn start(dir: &Path, now: DateTime<Utc>) -> InProcess {
    let clock = Movable(Arc::new(Mutex::new(now)));
    let store_clock = clock.clone();
    let options = EmbeddedOptions {
        clock: Arc::new(move || store_clock.now().timestamp_micros()),
        ..EmbeddedOptions::default()
    };
    let store = Arc::new(EmbeddedStore::open(dir.join("log"), options).await.unwrap());
    let signer = NoteSigner::new("readnet.test", [9; 32]).unwrap();
    let verifier_text = signer.verifier_text();
    let verifier = NoteVerifier::from_text(&verifier_text).unwrap();
    let tree = readnet_audit::keep(
        Arc::clone(&store) as Arc<dyn EventStore>,
        readnet_audit::TreeOptions {
            dir: dir.join("tlog"),
            signer,
            every: None,
            clock: Arc::new(clock.clone()),
        },
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tokens = Arc::new(TokenStore::open(dir.join("tokens.json")).unwrap());
    let token_file = dir.join("admin.token");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = readnet_server::Served {
        store: Arc::clone(&store) as Arc<dyn EventStore>,
        key: PatronKey::new(&[3; 32]),
        clock: Arc::new(clock.clone()),
        refusal_window: readnet_server::REFUSAL_RETRY_WINDOW,
        max_backdate: readnet_server::DEFAULT_MAX_BACKDATE,
        snapshots: Snapshots::new(dir.join("projections")),
        routes: tonic::service::Routes::default(),
        access: Access::tokens(tokens, Some(token_file.clone())),
        tls: None,
        hold_sweep: None,
        notice_tick: None,
        limits: readnet_server::Limits::default(),
        tree: Some(tree),
        patron_keys: None,
        retention: None,
        sip2: None,
    };
    let server = tokio::spawn(readnet_server::serve_on(listener, served, async {
        let _ = stopped.await;
    }));
    let token = loop {
        match std::fs::read_to_string(&token_file) {
            Ok(token) if !token.trim().is_empty() => break token.trim().to_owned(),
            _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    };
    InProcess {
        net: Net::connect(&url, Some(&token)).await,
        url,
        verifier_text,
        clock,
        verifier,
        stop: Some(stop),
        server,
        store,
    }
}

fn hash(bytes: &[u8]) -> Hash {
    bytes.try_into().expect("32 bytes")
}

fn hashes(proof: &[Vec<u8>]) -> Vec<Hash> {
    proof.iter().map(|h| hash(h)).collect()
}

fn shanghai(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Two cities in November: two Jinan readers borrow Zibo's books, a Zibo reader borrows
/// Jinan's; an auditor's checkpoint is signed in November, then the period is closed on
/// December 2nd. The server, the November checkpoint and the close.
async fn a_closed_november(dir: &Path) -> (InProcess, v1::SignedCheckpoint, v1::PeriodClose) {
    let server = start(dir, shanghai(2026, 11, 10, 9)).await;
    let net = &server.net;

    // November: two Jinan readers borrow Zibo's books, a Zibo reader borrows Jinan's.
    let system = net.system();
    system.join_city(JINAN, "济南").await.unwrap();
    system.join_city(ZIBO, "淄博").await.unwrap();
    for (library, city) in [(JN_CENTRAL, JINAN), (ZB_CENTRAL, ZIBO)] {
        system
            .register_library(library, city, v1::LibraryTier::Central, "")
            .await
            .unwrap();
    }
    for (books, owner) in [(&JN_BOOKS[..], JN_CENTRAL), (&ZB_BOOKS[..], ZB_CENTRAL)] {
        for item in books {
            net.at(owner).catalogue(item, owner).await.unwrap();
        }
    }
    let zb_desk = net.at(ZB_CENTRAL);
    zb_desk
        .checkout(ZB_BOOKS[0], card(JINAN, "370102199001011234"))
        .await
        .unwrap();
    zb_desk
        .checkout(ZB_BOOKS[1], card(JINAN, "370102199202022345"))
        .await
        .unwrap();
    net.at(JN_CENTRAL)
        .checkout(JN_BOOKS[0], card(ZIBO, "370302198803033456"))
        .await
        .unwrap();

    // An auditor's first checkpoint, taken in November.
    let mut audit = AuditServiceClient::new(net.channel.clone());
    let early = audit
        .sign_checkpoint(v1::SignCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    let early_head = server.verifier.open_checkpoint(&early.note).unwrap();
    assert_eq!(early_head.size, net.head_position().await);

    // An open period has no proven lines.
    let open = audit
        .prove_statement_line(v1::ProveStatementLineRequest {
            period: "2026-11".to_owned(),
            debtor_city: JINAN.to_owned(),
            creditor_city: ZIBO.to_owned(),
            kind: ChargeKind::Loan as i32,
            original_period: "2026-11".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(open.code(), Code::FailedPrecondition, "{open:?}");
    assert!(open.message().contains("not closed"), "{}", open.message());

    // December: November is closed.
    server.clock.set(shanghai(2026, 12, 2, 10));
    let close = SettlementServiceClient::new(net.channel.clone())
        .close_period(v1::ClosePeriodRequest {
            command_id: uuid::Uuid::new_v4().to_string(),
            period: "2026-11".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .close
        .unwrap();
    drop(audit);
    (server, early, close)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_proves_a_closed_statement_line_down_to_its_loans() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, early, close) = a_closed_november(dir.path()).await;
    let net = &server.net;
    let early_head = server.verifier.open_checkpoint(&early.note).unwrap();
    let mut audit = AuditServiceClient::new(net.channel.clone());
    let line_request = v1::ProveStatementLineRequest {
        period: "2026-11".to_owned(),
        debtor_city: JINAN.to_owned(),
        creditor_city: ZIBO.to_owned(),
        kind: ChargeKind::Loan as i32,
        original_period: "2026-11".to_owned(),
        page_size: 1,
        ..Default::default()
    };
    // One charge a page: the auditor pages through the line.
    let mut proven = Vec::new();
    let mut request = line_request.clone();
    let (checkpoint, line) = loop {
        let page = audit
            .prove_statement_line(request.clone())
            .await
            .unwrap()
            .into_inner();
        proven.extend(page.charges);
        if !page.more {
            break (page.checkpoint.unwrap(), page.line.unwrap());
        }
        request.after_position = proven.last().unwrap().charge.as_ref().unwrap().position;
    };

    // What the auditor checks, trusting only the public key.
    let head = server.verifier.open_checkpoint(&checkpoint.note).unwrap();
    assert_eq!(head.size, close.through_position);
    assert_eq!((line.count, line.amount_fen), (2, 200));
    assert_eq!(proven.len() as u64, line.count);
    let mut sum = 0;
    for p in &proven {
        let charge = p.charge.as_ref().unwrap();
        verify_inclusion(
            charge.position - 1,
            head.size,
            &leaf_hash(&p.leaf),
            &hashes(&p.proof),
            &head.root,
        )
        .unwrap();
        // The leaf is the loan itself: its record names the event and the item.
        let text = String::from_utf8_lossy(&p.leaf);
        assert!(text.contains("ItemLoaned"), "{text}");
        assert!(text.contains(&charge.item), "{text}");
        assert_eq!(
            u64::from_be_bytes(p.leaf[1..9].try_into().unwrap()),
            charge.position
        );
        sum += charge.amount_fen;
        // A leaf changed by one bit is not in the tree.
        let mut forged = p.leaf.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert!(
            verify_inclusion(
                charge.position - 1,
                head.size,
                &leaf_hash(&forged),
                &hashes(&p.proof),
                &head.root
            )
            .is_err()
        );
    }
    assert_eq!(sum, line.amount_fen);

    // The period's checkpoint is kept and served as such; it extends the auditor's November one.
    let kept = audit
        .get_checkpoint(v1::GetCheckpointRequest {
            period: "2026-11".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(kept.note, checkpoint.note);
    let consistency = audit
        .prove_consistency(v1::ProveConsistencyRequest {
            old_size: early_head.size,
            new_size: head.size,
        })
        .await
        .unwrap()
        .into_inner();
    verify_consistency(
        early_head.size,
        head.size,
        &early_head.root,
        &head.root,
        &hashes(&consistency.proof),
    )
    .unwrap();

    // Any event's inclusion in the latest checkpoint.
    let latest = audit
        .sign_checkpoint(v1::SignCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    let latest_head = server.verifier.open_checkpoint(&latest.note).unwrap();
    assert_eq!(latest_head.size, net.head_position().await);
    assert_eq!(
        latest_head.time,
        Some(shanghai(2026, 12, 2, 10).timestamp())
    );
    let inclusion = audit
        .prove_inclusion(v1::ProveInclusionRequest {
            position: 1,
            tree_size: latest_head.size,
        })
        .await
        .unwrap()
        .into_inner();
    verify_inclusion(
        0,
        latest_head.size,
        &leaf_hash(&inclusion.leaf),
        &hashes(&inclusion.proof),
        &latest_head.root,
    )
    .unwrap();

    // Bad requests name the field.
    for (request, field) in [
        (
            v1::ProveInclusionRequest {
                position: 0,
                tree_size: 1,
            },
            "position",
        ),
        (
            v1::ProveInclusionRequest {
                position: 5,
                tree_size: 4,
            },
            "tree_size",
        ),
    ] {
        let refused = audit.prove_inclusion(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(
            refused.message().starts_with(field),
            "{}",
            refused.message()
        );
    }
    let mut beyond = tonic::Request::new(v1::ProveInclusionRequest {
        position: 1,
        tree_size: latest_head.size + 100,
    });
    beyond.set_timeout(std::time::Duration::from_millis(500));
    let refused = audit.prove_inclusion(beyond).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let refused = audit
        .prove_statement_line(v1::ProveStatementLineRequest {
            creditor_city: JINAN.to_owned(),
            debtor_city: ZIBO.to_owned(),
            kind: ChargeKind::Shipping as i32,
            ..line_request.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    let refused = audit
        .get_checkpoint(v1::GetCheckpointRequest {
            period: "2026-10".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");

    // The auditor's command does all of the above itself, trusting only the public key.
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("accepted.checkpoint");
    std::fs::write(&state, &early.note).unwrap();
    let prove_line = |state: &Path| {
        let output = std::process::Command::new(readnet_binary())
            .args([
                "prove-line",
                "2026-11",
                "--debtor",
                JINAN,
                "--creditor",
                ZIBO,
            ])
            .args(["--kind", "loan", "--key", &server.verifier_text])
            .args(["--server", &server.url, "--data"])
            .arg(dir.path())
            .arg("--state")
            .arg(state)
            .output()
            .unwrap();
        (
            output.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let (code, stdout) = prove_line(&state);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("VERIFIED: 2026-11"), "{stdout}");
    assert!(stdout.contains("200 fen for 2 loan charge(s)"), "{stdout}");
    assert_eq!(stdout.matches("ItemLoaned of ZB-").count(), 2, "{stdout}");
    // The period ends where the auditor's November checkpoint did: the one accepted before is
    // kept (a newer one would replace it).
    assert_eq!(head.size, early_head.size);
    assert_eq!(std::fs::read_to_string(&state).unwrap(), early.note);
    // An auditor who accepted another November history (same key, same size, another root) is
    // told the server's is not the one they saw.
    let forked = readnet_tlog::Checkpoint {
        root: [7; 32],
        ..early_head.clone()
    };
    let signer = NoteSigner::new("readnet.test", [9; 32]).unwrap();
    std::fs::write(&state, signer.sign(&forked.body())).unwrap();
    let (code, stdout) = prove_line(&state);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("TAMPERED") && stdout.contains("not of one history"),
        "{stdout}"
    );

    let _ = server.stop.take().unwrap().send(());
    server.server.await.unwrap().unwrap();
    server.store.close().await;
}

/// `readnet` with `args`: its exit code and its standard output and error, together.
fn readnet(args: &[&str]) -> (Option<i32>, String) {
    let output = std::process::Command::new(readnet_binary())
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The lines of an export with leaves, each line's JSON changed by `change`.
fn edited(export: &str, change: impl Fn(usize, &mut serde_json::Value) -> bool) -> String {
    let mut out = String::new();
    for (i, line) in export.lines().enumerate() {
        let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
        if change(i, &mut value) {
            out.push_str(&value.to_string());
            out.push('\n');
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_verifies_an_export_and_recomputes_the_closed_statement() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _, _) = a_closed_november(dir.path()).await;
    let latest = AuditServiceClient::new(server.net.channel.clone())
        .sign_checkpoint(v1::SignCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    let size = server.verifier.open_checkpoint(&latest.note).unwrap().size;
    let data = dir.path().to_str().unwrap();
    // The statement the server publishes, and a line proven and recomputed from a copy of the
    // history (the data directory, read beside the running server).
    let (code, published) = readnet(&[
        "statement",
        "2026-11",
        "--json",
        "--server",
        &server.url,
        "--data",
        data,
    ]);
    assert_eq!(code, Some(0), "{published}");
    let (code, out) = readnet(&[
        "prove-line",
        "2026-11",
        "--debtor",
        JINAN,
        "--creditor",
        ZIBO,
        "--kind",
        "loan",
        "--key",
        &server.verifier_text,
        "--server",
        &server.url,
        "--data",
        data,
        "--history",
        data,
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("VERIFIED: 2026-11") && out.contains("each charge recomputed"),
        "{out}"
    );
    let _ = server.stop.take().unwrap().send(());
    server.server.await.unwrap().unwrap();
    server.store.close().await;

    let scratch = tempfile::tempdir().unwrap();
    let checkpoint = scratch.path().join("latest.checkpoint");
    std::fs::write(&checkpoint, &latest.note).unwrap();
    let export = scratch.path().join("events.jsonl");
    let (code, out) = readnet(&[
        "export",
        "events",
        "--leaves",
        "--data",
        data,
        "--out",
        export.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(&export).unwrap();
    assert_eq!(text.lines().count() as u64, size);
    let verify = |file: &str| {
        let path = scratch.path().join("checked.jsonl");
        std::fs::write(&path, file).unwrap();
        readnet(&[
            "verify",
            "--key",
            &server.verifier_text,
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--export",
            path.to_str().unwrap(),
        ])
    };
    let (code, out) = verify(&text);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with(&format!("VERIFIED: readnet.test signs {size} events")),
        "{out}"
    );

    // The November statement recomputed from the export, and from the data directory: the
    // published one, line for line.
    let statement = scratch.path().join("2026-11.json");
    std::fs::write(&statement, &published).unwrap();
    let period = |history: &[&str], statement: &Path| {
        let mut args = vec![
            "verify",
            "--key",
            &server.verifier_text,
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--period",
            "2026-11",
            "--statement",
            statement.to_str().unwrap(),
        ];
        args.extend_from_slice(history);
        readnet(&args)
    };
    for history in [["--export", export.to_str().unwrap()], ["--data", data]] {
        let (code, out) = period(&history, &statement);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.contains("the statement of 2026-11 (digest ")
                && out.contains("is the one its events make"),
            "{out}"
        );
    }
    // One line's amount changed by 1 fen: the line, its cities' nets and the digest differ.
    let mut changed: serde_json::Value = serde_json::from_str(&published).unwrap();
    let line = changed["lines"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| l["debtor_city"] == JINAN && l["creditor_city"] == ZIBO)
        .unwrap();
    line["amount_fen"] = (line["amount_fen"].as_i64().unwrap() + 1).into();
    let inflated = scratch.path().join("2026-11.inflated.json");
    std::fs::write(&inflated, changed.to_string()).unwrap();
    let (code, out) = period(&["--export", export.to_str().unwrap()], &inflated);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("TAMPERED: the statement of 2026-11")
            && out.contains(&format!(
                "line {JINAN} owes {ZIBO} for loan: published 2 charge(s), 201 fen, recomputed 2 \
                 charge(s), 200 fen"
            )),
        "{out}"
    );
    // A period the checkpoint's events have not closed cannot be checked.
    let (code, out) = readnet(&[
        "verify",
        "--key",
        &server.verifier_text,
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--period",
        "2026-12",
        "--statement",
        statement.to_str().unwrap(),
        "--data",
        data,
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("2026-12 is not closed"), "{out}");

    // The second loan, ZB_BOOKS[1] to a Jinan reader: its position.
    let loans: Vec<u64> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event_type"] == "ItemLoaned")
        .map(|v| v["position"].as_u64().unwrap())
        .collect();
    let second = loans[1];
    let at = |i: usize| i as u64 + 1 == second;
    // One byte of the loan's readable data changed: named by its position.
    let (code, out) = verify(&edited(&text, |i, v| {
        if at(i) {
            let item = v["data"]["item"].as_str().unwrap().to_owned();
            v["data"]["item"] = item.replacen("ZB", "ZC", 1).into();
        }
        true
    }));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("TAMPERED:") && out.contains(&format!("position {second}: the line says")),
        "{out}"
    );
    // One byte of the loan's stored data (in its leaf) flipped: the root differs.
    let (code, out) = verify(&edited(&text, |i, v| {
        if at(i) {
            let engine = base64::engine::general_purpose::STANDARD;
            let mut leaf = engine.decode(v["leaf"].as_str().unwrap()).unwrap();
            *leaf.last_mut().unwrap() ^= 1;
            v["leaf"] = engine.encode(&leaf).into();
        }
        true
    }));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with(&format!("TAMPERED: the first {size} events of the export")),
        "{out}"
    );
    // The loan's line dropped: the position is missing.
    let (code, out) = verify(&edited(&text, |i, _| !at(i)));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("position {second} is missing")),
        "{out}"
    );
    // Two lines swapped: out of order.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(second as usize - 1, second as usize);
    let (code, out) = verify(&(lines.join("\n") + "\n"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("position {} is missing", second)),
        "{out}"
    );
    // The last line dropped: the export is short of the checkpoint.
    let (code, out) = verify(&edited(&text, |i, _| i as u64 + 1 != size));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("events were removed"), "{out}");
    // An export without leaves, or no file at all: could not check.
    let (code, out) = verify(&edited(&text, |_, v| {
        v.as_object_mut().unwrap().remove("leaf");
        true
    }));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--leaves"), "{out}");
    let (code, out) = readnet(&[
        "verify",
        "--key",
        &server.verifier_text,
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--export",
        scratch.path().join("nowhere.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.starts_with("COULD NOT CHECK:"), "{out}");
}
