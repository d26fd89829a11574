//! Helpers shared by the sealing and cut-over tests: commands through a real bus and store.

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use readnet_domain::pb::Channel;
use readnet_domain::{Caller, Command, CommandContext, LibraryCode, PatronKey};
use readnet_ledger::keys::KeyStore;
use readnet_ledger::{CommandBus, REFUSAL_RETRY_WINDOW, Submission, digest};
use readnet_store::embedded::EmbeddedStore;
use readnet_store::{AllFrom, Direction, EventStore, RecordedEvent};
use uuid::Uuid;

pub fn submission(command: Command, library: Option<&str>, day: u32) -> Submission {
    let ctx = CommandContext {
        occurred_at: Utc.with_ymd_and_hms(2026, 11, day, 2, 0, 0).unwrap(),
        acting_library: library.map(LibraryCode::from),
        channel: if library.is_some() {
            Channel::Desk
        } else {
            Channel::System
        },
        caller: Caller::Server,
    };
    Submission {
        command_id: Uuid::new_v4(),
        correlation_id: None,
        digest: digest(
            &PatronKey::new(b"test"),
            command.name(),
            &ctx,
            format!("{command:?}").as_bytes(),
        ),
        command,
        received_at: ctx.occurred_at,
        ctx,
    }
}

pub async fn start(store: &Arc<EmbeddedStore>, dir: &Path, sealed: bool) -> CommandBus {
    let keys = sealed.then(|| KeyStore::open_or_create(dir).unwrap());
    let store: Arc<dyn EventStore> = store.clone();
    CommandBus::start_sealed(store, REFUSAL_RETRY_WINDOW, keys)
        .await
        .unwrap()
}

pub async fn run(bus: &CommandBus, command: Command, library: Option<&str>, day: u32) {
    bus.submit(submission(command, library, day))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

pub async fn all_events(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store
        .read_all(AllFrom::Start, Direction::Forwards, 10_000)
        .await
        .unwrap()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
