//! The store conformance suite (`readnet_store::conformance`) on the embedded store.

use std::sync::Arc;

use readnet_store::conformance::Subject;
use readnet_store::embedded::{EmbeddedOptions, EmbeddedStore};

/// An empty embedded store in a temporary directory, which lives as long as the store.
async fn fresh() -> Subject {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = EmbeddedStore::open(dir.path().join("log"), EmbeddedOptions::default())
        .await
        .expect("open the embedded store");
    Subject::new(Arc::new(store), dir)
}

readnet_store::conformance_suite!(fresh());
