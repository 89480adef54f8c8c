//! Shared by the MongoDB integration tests: which server to use, and fresh,
//! uniquely named databases that are dropped afterwards.

#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use coliseum_store_mongo::{MongoOptions, MongoStore, Recovery};
use mongodb::Client;
use mongodb::options::ClientOptions;

/// The environment variable naming the MongoDB server the tests use.
pub const URI_VAR: &str = "COLISEUM_TEST_MONGODB_URI";

/// Timeout for test stores: generous, because the concurrency cases run
/// side by side on a 2-core CI machine.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The test server's URI from `COLISEUM_TEST_MONGODB_URI`. Unset: `None`
/// (the test is skipped, with a message) — except under `CI=true`, where the
/// MongoDB tests must run, so it panics.
pub fn test_uri() -> Option<String> {
    match std::env::var(URI_VAR) {
        Ok(uri) if !uri.trim().is_empty() => Some(uri),
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "{URI_VAR} is not set but CI=true: the MongoDB store tests must run in CI. \
                 Start the server with `scripts/mongo-test-server.sh start` and export \
                 {URI_VAR}=mongodb://127.0.0.1:27017"
            );
            eprintln!(
                "skipping MongoDB store test: set {URI_VAR} (e.g. mongodb://127.0.0.1:27017 after \
                 `scripts/mongo-test-server.sh start`) to run it"
            );
            None
        }
    }
}

/// A unique database name for one test.
pub fn unique_database() -> String {
    format!("coliseum_test_{:016x}", rand::random::<u64>())
}

/// Drops its database when dropped (on a thread of its own with its own
/// runtime and client, since `Drop` cannot await).
pub struct DropDatabase {
    /// Server.
    pub uri: String,
    /// Database to drop.
    pub name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (uri, name) = (self.uri.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = raw_client(&uri).await;
                let dropped = client.database(&name).drop().await;
                client.shutdown().await;
                dropped.map_err(|e| e.to_string())
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

/// A plain driver client for looking at (and tampering with) the stored
/// documents directly.
pub async fn raw_client(uri: &str) -> Client {
    let mut options = ClientOptions::parse(uri).await.expect("test URI parses");
    options.server_selection_timeout = Some(Duration::from_secs(10));
    Client::with_options(options).expect("test client")
}

/// A store on a fresh database, its guard, and the URI; `None` when no test
/// server is configured (see [`test_uri`]).
pub async fn fresh_store() -> Option<(MongoStore, DropDatabase)> {
    fresh_store_with(Recovery::Background).await
}

/// A store on an existing database (a restart on the same data), with its
/// start-up recovery in the background, as `coliseum-server` runs it.
///
/// # Panics
/// When it cannot connect.
pub async fn store_on(uri: String, database: String) -> MongoStore {
    store_on_with(uri, database, Recovery::Background).await
}

/// [`store_on`] with the given recovery mode (another instance on the
/// same database).
///
/// # Panics
/// When it cannot connect.
pub async fn store_on_with(uri: String, database: String, recovery: Recovery) -> MongoStore {
    let options = MongoOptions {
        uri,
        database,
        timeout: TEST_TIMEOUT,
    };
    MongoStore::connect_with(options, recovery)
        .await
        .unwrap_or_else(|e| panic!("cannot reconnect to the test MongoDB ({URI_VAR}): {e}"))
}

/// [`fresh_store`] with the given recovery mode.
pub async fn fresh_store_with(recovery: Recovery) -> Option<(MongoStore, DropDatabase)> {
    let uri = test_uri()?;
    let name = unique_database();
    let options = MongoOptions {
        uri: uri.clone(),
        database: name.clone(),
        timeout: TEST_TIMEOUT,
    };
    let store = MongoStore::connect_with(options, recovery)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test MongoDB ({URI_VAR}): {e}"));
    Some((store, DropDatabase { uri, name }))
}
