//! One store per data directory.

use readnet_store::StoreError;
use readnet_store::embedded::EmbeddedStore;

use crate::common::{open, options};

#[tokio::test]
async fn a_second_open_of_a_directory_in_use_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).await;
    match EmbeddedStore::open(dir.path(), options()).await {
        Err(StoreError::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    // Dropping the store released the lock.
    open(dir.path()).await;
}
