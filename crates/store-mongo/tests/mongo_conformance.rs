//! The shared store conformance suite, unchanged, against MongoDB (the
//! server named by `COLISEUM_TEST_MONGODB_URI`; in CI the mongo-java-server
//! started by `scripts/mongo-test-server.sh`). Each case gets a fresh,
//! uniquely named database, dropped when the case ends.

mod common;

use std::sync::Arc;

/// The suite's factory: a fresh store, or `None` (skip) when no MongoDB is
/// configured outside CI.
async fn mongo_store() -> Option<coliseum_store_conformance::TestStore> {
    let (store, guard) = common::fresh_store().await?;
    let (uri, database) = (guard.uri.clone(), guard.name.clone());
    Some(coliseum_store_conformance::TestStore {
        store: Arc::new(store),
        guard: Box::new(guard),
        // A second store on the same database, as a restarted server.
        reopen: Some(Box::new(move || {
            let (uri, database) = (uri.clone(), database.clone());
            Box::pin(async move {
                let store = common::store_on(uri, database).await;
                Arc::new(store) as Arc<dyn coliseum_store::Store>
            })
        })),
    })
}

coliseum_store_conformance::conformance_suite!(mongo_store);
