//! The cut-over of a log written before sealing (ADR 0018, migration), through real embedded
//! stores: every id sealed as the bus would have sealed it, everything else kept, and the
//! patrons recorded in the clear forgettable afterwards.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::NaiveDate;
use common::{all_events, copy_dir, run, start, submission};
use readnet_domain::pb::{ForgetReason, LibraryTier};
use readnet_domain::personal::{activity_token, is_sealed, patron_ids_mut};
use readnet_domain::{Command, Fen, NewBook, PatronKey, PatronRef};
use readnet_ledger::cut_over::{CutOverError, CutOverReport, cut_over};
use readnet_ledger::envelope;
use readnet_ledger::keys::{KEY_DIR, KeyStore, Opened};
use readnet_ledger::{CommandBus, Failure};
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};
use readnet_store::{EventStore, RecordedEvent};

fn reader(number: &str) -> PatronRef {
    PatronRef {
        city: "jinan".into(),
        patron_id: PatronKey::new(b"test").patron_id("jinan", number),
        masked_card: format!("jinan:****{}", &number[number.len() - 4..]),
    }
}

fn li_wei() -> PatronRef {
    reader("370102199001011234")
}

fn wang_fang() -> PatronRef {
    reader("370102199202025678")
}

/// A store whose `recorded_at` is what `clock` holds (a new log), or a counter (an old one).
async fn open_store(dir: &Path, clock: Arc<AtomicI64>, step_us: i64) -> Arc<EmbeddedStore> {
    let options = EmbeddedOptions {
        clock: Arc::new(move || clock.fetch_add(step_us, Ordering::SeqCst)),
        ..EmbeddedOptions::default()
    };
    Arc::new(
        EmbeddedStore::open(&dir.join("log"), options)
            .await
            .unwrap(),
    )
}

async fn set_up(bus: &CommandBus) {
    let join = Command::JoinCity {
        city: "jinan".into(),
        name: "济南".into(),
        time_zone: String::new(),
    };
    run(bus, join, None, 1).await;
    let register = Command::RegisterLibrary {
        library: "JN-CENTRAL".into(),
        name: "济南市图书馆".into(),
        city: "jinan".into(),
        tier: LibraryTier::Central,
        parent: None,
    };
    run(bus, register, None, 1).await;
    for item in ["JN-1", "JN-2", "JN-3"] {
        let book = NewBook {
            item: item.into(),
            isbn: String::new(),
            title: "边城".into(),
            author: "沈从文".into(),
            price_fen: Some(Fen(2500)),
        };
        let catalogue = Command::CatalogueItem {
            book,
            owner_library: "JN-CENTRAL".into(),
            acquisition: readnet_domain::pb::Acquisition::Purchase,
        };
        run(bus, catalogue, None, 1).await;
    }
}

async fn checkout(bus: &CommandBus, item: &str, patron: PatronRef, day: u32) {
    let command = Command::Checkout {
        item: item.into(),
        patron,
    };
    run(bus, command, Some("JN-CENTRAL"), day).await;
}

async fn give_back(bus: &CommandBus, item: &str, day: u32) {
    let command = Command::Return { item: item.into() };
    run(bus, command, Some("JN-CENTRAL"), day).await;
}

fn ids_of(event: &RecordedEvent) -> Vec<String> {
    let mut payload = envelope::decode(event).unwrap().payload;
    patron_ids_mut(&mut payload)
        .into_iter()
        .map(|id| id.clone())
        .collect()
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
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

/// Cuts the log of `old` over into `new` (whose key store is a copy of `old`'s, if any).
async fn cut(old: &Path, new: &Path) -> (Arc<EmbeddedStore>, Result<CutOverReport, CutOverError>) {
    let from = Arc::new(
        EmbeddedStore::open_read_only(&old.join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    );
    if old.join(KEY_DIR).is_dir() && !new.join(KEY_DIR).is_dir() {
        copy_dir(&old.join(KEY_DIR), &new.join(KEY_DIR));
    }
    let keys = KeyStore::open_or_create(new).unwrap();
    let clock = Arc::new(AtomicI64::new(0));
    let to = open_store(new, Arc::clone(&clock), 0).await;
    let stamp = move |us| clock.store(us, Ordering::SeqCst);
    let mut last = 0;
    let report = cut_over(from.as_ref(), to.as_ref(), keys, &stamp, |p| {
        assert!(p.get() > last, "progress goes forwards");
        last = p.get();
    })
    .await;
    (to, report)
}

#[tokio::test]
async fn a_mixed_log_cut_over_seals_every_id_as_the_bus_would_have_and_its_reader_can_be_forgotten()
{
    let old = tempfile::tempdir().unwrap();
    let ticks = Arc::new(AtomicI64::new(1_790_000_000_000_000));
    // Before sealing: li_wei's first loans, in the clear, in `patron-<li_wei's id>`.
    let store = open_store(old.path(), Arc::clone(&ticks), 1_000).await;
    let bus = start(&store, old.path(), false).await;
    set_up(&bus).await;
    checkout(&bus, "JN-1", li_wei(), 2).await;
    give_back(&bus, "JN-1", 2).await;
    checkout(&bus, "JN-2", li_wei(), 3).await;
    store.close().await;
    drop(bus);
    // A server started on the legacy log: li_wei gets a key, wang_fang enrols sealed.
    let store = open_store(old.path(), Arc::clone(&ticks), 1_000).await;
    let bus = start(&store, old.path(), true).await;
    give_back(&bus, "JN-2", 3).await;
    let tier = Command::SetPatronTier {
        patron: li_wei(),
        tier: readnet_domain::pb::CreditTier::Trusted,
    };
    run(&bus, tier, None, 3).await;
    checkout(&bus, "JN-3", wang_fang(), 3).await;
    let refused = bus
        .submit(submission(
            Command::ForgetPatron {
                patron: li_wei(),
                reason: ForgetReason::Request,
            },
            None,
            4,
        ))
        .await
        .expect_err("li_wei is recorded in the clear");
    assert_eq!(refused.failure(), Failure::FailedPrecondition);
    store.close().await;
    drop(bus);
    let store = Arc::new(
        EmbeddedStore::open_read_only(&old.path().join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    );
    let before = all_events(store.as_ref()).await;
    drop(store);
    let plain = li_wei().patron_id.to_string();
    let legacy_stream = format!("patron-{plain}");
    assert!(before.iter().any(|e| e.stream == legacy_stream));

    let new = tempfile::tempdir().unwrap();
    let (to, report) = cut(old.path(), new.path()).await;
    let report = report.unwrap();
    assert_eq!(
        report,
        CutOverReport {
            events: before.len() as u64,
            rewritten_events: 4,
            sealed_ids: 4,
            new_keys: 0,
            renamed_streams: 1,
        },
        "li_wei's enrolment and three loans and returns in the clear; li_wei has a key already"
    );
    let after = all_events(to.as_ref()).await;
    assert_eq!(after.len(), before.len());

    let keys = KeyStore::open(new.path()).unwrap();
    let li_wei_keys = keys
        .keys_of(&plain)
        .expect("li_wei's key, from the old store");
    let renamed = format!("patron-{}", li_wei_keys.stream_suffix());
    let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let mut tokens_by_day: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    for (old_event, new_event) in before.iter().zip(&after) {
        let at = old_event.position;
        assert_eq!(new_event.position, at);
        assert_eq!(new_event.revision, old_event.revision, "at {at}");
        assert_eq!(new_event.event_id, old_event.event_id, "at {at}");
        assert_eq!(new_event.event_type, old_event.event_type, "at {at}");
        assert_eq!(
            new_event.recorded_at_us, old_event.recorded_at_us,
            "at {at}"
        );
        assert_eq!(new_event.metadata, old_event.metadata, "at {at}");
        if old_event.stream == legacy_stream {
            assert_eq!(new_event.stream, renamed, "at {at}");
        } else {
            assert_eq!(new_event.stream, old_event.stream, "at {at}");
        }
        let old_ids = ids_of(old_event);
        let new_ids = ids_of(new_event);
        if old_ids.iter().all(|id| id.is_empty() || is_sealed(id)) {
            assert_eq!(
                new_event.data, old_event.data,
                "copied byte for byte at {at}"
            );
        }
        for id in new_ids.iter().filter(|id| !id.is_empty()) {
            assert!(is_sealed(id), "at {at}: {id}");
            let Opened::Patron(patron) = keys.open_sealed(id).unwrap() else {
                panic!("nobody is forgotten here");
            };
            if patron == plain {
                let occurred = envelope::decode(new_event).unwrap().occurred_at;
                let d = occurred.format("%d").to_string().parse().unwrap();
                // The token the bus would have given it that day, under li_wei's one key.
                let expected = keys.seal(&li_wei_keys, &plain, day(d));
                assert_eq!(activity_token(id), activity_token(&expected), "at {at}");
                tokens_by_day
                    .entry(d)
                    .or_default()
                    .push(activity_token(id).to_owned());
            }
        }
        assert!(!new_event.stream.contains(&plain), "at {at}");
        assert!(!holds(&new_event.data, &plain), "at {at}");
    }
    assert_eq!(tokens_by_day.len(), 2, "days 2 and 3: {tokens_by_day:?}");
    for tokens in tokens_by_day.values() {
        assert!(tokens.windows(2).all(|w| w[0] == w[1]), "{tokens:?}");
    }
    to.close().await;
    drop(to);
    let segments = bytes_under(&new.path().join("log"));
    for id in [plain.as_str(), wang_fang().patron_id.as_str()] {
        assert!(!holds(&segments, id), "no file of the new log holds {id}");
    }
    assert!(
        holds(&bytes_under(&old.path().join("log")), &plain),
        "the old log did (the check can fail)"
    );

    // On the new log li_wei is known, and may now be forgotten.
    let store = open_store(
        new.path(),
        Arc::new(AtomicI64::new(1_800_000_000_000_000)),
        1,
    )
    .await;
    let bus = start(&store, new.path(), true).await;
    let id = li_wei().patron_id;
    let known = bus
        .read(move |l| l.patrons.contains_key(&id))
        .await
        .unwrap();
    assert!(known);
    run(
        &bus,
        Command::ForgetPatron {
            patron: li_wei(),
            reason: ForgetReason::Request,
        },
        None,
        4,
    )
    .await;
    store.close().await;
    drop(bus);
    let store = open_store(
        new.path(),
        Arc::new(AtomicI64::new(1_800_000_000_000_000)),
        1,
    )
    .await;
    let bus = start(&store, new.path(), true).await;
    let id = li_wei().patron_id;
    let known = bus
        .read(move |l| l.patrons.contains_key(&id))
        .await
        .unwrap();
    assert!(!known, "forgotten for good");
}

#[tokio::test]
async fn a_log_never_sealed_gets_a_key_store_and_a_used_target_is_refused() {
    let old = tempfile::tempdir().unwrap();
    let store = open_store(old.path(), Arc::new(AtomicI64::new(1)), 1).await;
    let bus = start(&store, old.path(), false).await;
    set_up(&bus).await;
    checkout(&bus, "JN-1", li_wei(), 2).await;
    checkout(&bus, "JN-2", wang_fang(), 2).await;
    store.close().await;
    drop(bus);
    assert!(!old.path().join(KEY_DIR).exists());

    let new = tempfile::tempdir().unwrap();
    let (to, report) = cut(old.path(), new.path()).await;
    let report = report.unwrap();
    assert_eq!(report.new_keys, 2);
    assert_eq!(report.sealed_ids, 4, "two enrolments, two loans");
    assert_eq!(report.renamed_streams, 2);
    to.close().await;
    drop(to);

    let (to, again) = cut(old.path(), new.path()).await;
    match again {
        Err(CutOverError::TargetNotEmpty(n)) => assert_eq!(n, report.events),
        other => panic!("a target with events is refused: {other:?}"),
    }
    assert_eq!(to.head_position().get(), report.events, "nothing appended");
}
