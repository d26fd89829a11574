//! Sealed patron ids (ADR 0018) through the command bus and a real embedded store: what the log
//! keeps, what a restart knows, forgetting, crashes around the key store, and a legacy log.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{all_events, copy_dir, run, start, submission};
use readnet_domain::pb::{ForgetReason, LibraryTier};
use readnet_domain::personal::{FORGOTTEN_PATRON, activity_token, is_sealed, patron_ids_mut};
use readnet_domain::{Command, Fen, NewBook, PatronKey, PatronRef};
use readnet_ledger::envelope;
use readnet_ledger::keys::{KEY_DIR, KeyStore};
use readnet_ledger::{CommandBus, REFUSAL_RETRY_WINDOW};
use readnet_store::EventStore;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};

fn li_wei() -> PatronRef {
    PatronRef {
        city: "jinan".into(),
        patron_id: PatronKey::new(b"test").patron_id("jinan", "370102199001011234"),
        masked_card: "jinan:****1234".into(),
    }
}

async fn open_store(dir: &Path) -> Arc<EmbeddedStore> {
    Arc::new(
        EmbeddedStore::open(&dir.join("log"), EmbeddedOptions::default())
            .await
            .unwrap(),
    )
}

async fn set_up(bus: &CommandBus) {
    run(
        bus,
        Command::JoinCity {
            city: "jinan".into(),
            name: "济南".into(),
            time_zone: String::new(),
        },
        None,
        1,
    )
    .await;
    run(
        bus,
        Command::RegisterLibrary {
            library: "JN-CENTRAL".into(),
            name: "济南市图书馆".into(),
            city: "jinan".into(),
            tier: LibraryTier::Central,
            parent: None,
        },
        None,
        1,
    )
    .await;
    for item in ["JN-1", "JN-2"] {
        run(
            bus,
            Command::CatalogueItem {
                book: NewBook {
                    item: item.into(),
                    isbn: String::new(),
                    title: "边城".into(),
                    author: "沈从文".into(),
                    price_fen: Some(Fen(2500)),
                },
                owner_library: "JN-CENTRAL".into(),
                acquisition: readnet_domain::pb::Acquisition::Purchase,
            },
            None,
            1,
        )
        .await;
    }
}

async fn borrow_and_return(bus: &CommandBus, item: &str, day: u32) {
    let checkout = Command::Checkout {
        item: item.into(),
        patron: li_wei(),
    };
    run(bus, checkout, Some("JN-CENTRAL"), day).await;
    run(
        bus,
        Command::Return { item: item.into() },
        Some("JN-CENTRAL"),
        day,
    )
    .await;
}

fn forget() -> Command {
    Command::ForgetPatron {
        patron: li_wei(),
        reason: ForgetReason::Request,
    }
}

/// Every patron id the log holds, as stored.
async fn stored_patron_ids(store: &dyn EventStore) -> Vec<String> {
    let mut ids = Vec::new();
    for event in all_events(store).await {
        let mut payload = envelope::decode(&event).unwrap().payload;
        ids.extend(
            patron_ids_mut(&mut payload)
                .into_iter()
                .map(|id| id.clone()),
        );
    }
    ids
}

async fn patron_known(bus: &CommandBus) -> bool {
    let id = li_wei().patron_id;
    bus.read(move |ledger| ledger.patrons.contains_key(&id))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_log_keeps_no_patron_id_and_no_two_events_share_one_and_a_restart_knows_the_patron() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    set_up(&bus).await;
    borrow_and_return(&bus, "JN-1", 2).await;
    run(
        &bus,
        Command::Checkout {
            item: "JN-2".into(),
            patron: li_wei(),
        },
        Some("JN-CENTRAL"),
        3,
    )
    .await;

    let plain = li_wei().patron_id.to_string();
    let ids = stored_patron_ids(store.as_ref()).await;
    assert_eq!(ids.len(), 4, "enrolment, loan, return, loan");
    assert!(ids.iter().all(|id| is_sealed(id)), "{ids:?}");
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "random nonces: no two alike");
    assert_eq!(activity_token(&ids[1]), activity_token(&ids[2]), "same day");
    assert_ne!(activity_token(&ids[2]), activity_token(&ids[3]), "next day");
    for event in all_events(store.as_ref()).await {
        assert!(!event.stream.contains(&plain), "stream {}", event.stream);
        assert!(
            !event
                .data
                .windows(plain.len())
                .any(|w| w == plain.as_bytes()),
            "event {} holds the plaintext id",
            event.position
        );
    }

    store.close().await;
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    assert!(
        patron_known(&bus).await,
        "a restart opens the live patron's ids"
    );
    let loans = {
        let id = li_wei().patron_id;
        bus.read(move |l| l.patrons[&id].loans.len()).await.unwrap()
    };
    assert_eq!(loans, 1, "JN-2 is still on loan after the restart");
    run(
        &bus,
        Command::Return {
            item: "JN-2".into(),
        },
        Some("JN-CENTRAL"),
        4,
    )
    .await;
}

#[tokio::test]
async fn forgetting_destroys_the_key_and_a_restart_reads_the_patrons_events_as_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    set_up(&bus).await;
    borrow_and_return(&bus, "JN-1", 2).await;
    run(&bus, forget(), None, 5).await;
    assert!(!patron_known(&bus).await);
    let keys = KeyStore::open(dir.path()).unwrap();
    assert!(
        keys.keys_of(li_wei().patron_id.as_str()).is_none(),
        "the key is gone"
    );

    store.close().await;
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    assert!(
        !patron_known(&bus).await,
        "nothing links the card to its history"
    );
    let anonymous = bus
        .read(|l| l.patrons.get(FORGOTTEN_PATRON).map(|p| p.loans.len()))
        .await
        .unwrap();
    assert_eq!(anonymous, Some(0), "the forgotten loans load, all closed");
    // The card comes back: a new patron, in a new stream.
    run(
        &bus,
        Command::Checkout {
            item: "JN-1".into(),
            patron: li_wei(),
        },
        Some("JN-CENTRAL"),
        6,
    )
    .await;
    let streams: std::collections::BTreeSet<String> = all_events(store.as_ref())
        .await
        .into_iter()
        .map(|e| e.stream)
        .filter(|s| s.starts_with("patron-"))
        .collect();
    assert_eq!(streams.len(), 2, "{streams:?}");
}

#[tokio::test]
async fn a_key_made_durable_for_an_append_that_never_happened_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    set_up(&bus).await;
    store.close().await;
    drop(bus);
    // The crash: the key was persisted, the append never came.
    let keys = KeyStore::open_or_create(dir.path()).unwrap();
    keys.persist(&[(li_wei().patron_id.to_string(), KeyStore::fresh())])
        .unwrap();
    drop(keys);

    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    assert!(!patron_known(&bus).await, "a key alone enrols nobody");
    borrow_and_return(&bus, "JN-1", 2).await;
    store.close().await;
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    assert!(patron_known(&bus).await);
}

#[tokio::test]
async fn a_crash_between_patron_forgotten_and_the_keys_destruction_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    set_up(&bus).await;
    borrow_and_return(&bus, "JN-1", 2).await;
    let saved = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join(KEY_DIR), saved.path());
    run(&bus, forget(), None, 5).await;
    store.close().await;
    drop(bus);
    // As if the process died after the append and before the key was destroyed.
    std::fs::remove_dir_all(dir.path().join(KEY_DIR)).unwrap();
    copy_dir(saved.path(), &dir.path().join(KEY_DIR));
    assert!(
        KeyStore::open(dir.path())
            .unwrap()
            .keys_of(li_wei().patron_id.as_str())
            .is_some()
    );

    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    assert!(!patron_known(&bus).await);
    assert!(
        KeyStore::open(dir.path())
            .unwrap()
            .keys_of(li_wei().patron_id.as_str())
            .is_none(),
        "the start destroyed the key the PatronForgotten names"
    );
}

#[tokio::test]
async fn a_log_with_sealed_ids_does_not_load_without_its_key_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    set_up(&bus).await;
    borrow_and_return(&bus, "JN-1", 2).await;
    store.close().await;
    drop(bus);
    let store = open_store(dir.path()).await;
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let error = CommandBus::start_sealed(dyn_store, REFUSAL_RETRY_WINDOW, None)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("patron key store"), "{error}");

    // A key store whose patron's key file is gone: a clear error naming the key, not data.
    let kid_file = std::fs::read_dir(dir.path().join(KEY_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap() != "index.key")
        .unwrap();
    std::fs::remove_file(&kid_file).unwrap();
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let keys = KeyStore::open(dir.path()).unwrap();
    let error = CommandBus::start_sealed(dyn_store, REFUSAL_RETRY_WINDOW, Some(keys))
        .await
        .err()
        .expect("refused");
    assert!(
        error
            .to_string()
            .contains("no key and no record of forgetting"),
        "{error}"
    );
}

#[tokio::test]
async fn a_legacy_log_with_plaintext_ids_goes_on_under_sealing_in_the_same_streams() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), false).await;
    set_up(&bus).await;
    run(
        &bus,
        Command::Checkout {
            item: "JN-1".into(),
            patron: li_wei(),
        },
        Some("JN-CENTRAL"),
        2,
    )
    .await;
    store.close().await;
    drop(bus);
    let plain = li_wei().patron_id.to_string();
    // The cut-over: the same log, now with a key store.
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    assert!(patron_known(&bus).await, "plaintext ids read as they are");
    run(
        &bus,
        Command::Return {
            item: "JN-1".into(),
        },
        Some("JN-CENTRAL"),
        3,
    )
    .await;
    run(
        &bus,
        Command::SetPatronTier {
            patron: li_wei(),
            tier: readnet_domain::pb::CreditTier::Trusted,
        },
        None,
        3,
    )
    .await;
    let events = all_events(store.as_ref()).await;
    let last = envelope::decode(events.last().unwrap()).unwrap();
    assert_eq!(
        last.stream,
        format!("patron-{plain}"),
        "the legacy stream goes on"
    );
    let mut payload = last.payload;
    assert!(
        is_sealed(patron_ids_mut(&mut payload)[0]),
        "new events are sealed"
    );
    let refused = bus
        .submit(submission(forget(), None, 4))
        .await
        .expect_err("a patron recorded in the clear is not forgotten");
    assert_eq!(
        refused.failure(),
        readnet_ledger::Failure::FailedPrecondition
    );
    assert!(
        refused
            .to_string()
            .contains("recorded before patron ids were sealed"),
        "{refused}"
    );
    store.close().await;
    let store = open_store(dir.path()).await;
    let bus = start(&store, dir.path(), true).await;
    assert!(patron_known(&bus).await, "old and new events load together");
}
