//! The shared conformance suite on [`SqliteStore`], one fresh temporary
//! data directory per case.

use std::sync::Arc;

use coliseum_store::SqliteStore;
use coliseum_store_conformance::{TestStore, conformance_suite};

/// A fresh, empty store in a new temporary directory (removed when the
/// case's guard drops).
async fn fresh_sqlite() -> Option<TestStore> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path()).expect("open a new sqlite store");
    let path = dir.path().to_owned();
    Some(TestStore {
        store: Arc::new(store),
        guard: Box::new(dir),
        reopen: Some(Box::new(move || {
            let path = path.clone();
            Box::pin(async move {
                let store = SqliteStore::open(&path).expect("reopen the sqlite store");
                Arc::new(store) as Arc<dyn coliseum_store::Store>
            })
        })),
    })
}

conformance_suite!(fresh_sqlite);
