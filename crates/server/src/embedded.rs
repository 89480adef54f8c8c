//! The embedded store: SQLite in a data directory, nothing to install.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coliseum_store::{SqliteStore, Store, StoreError, seed};

/// Opens (creating if needed) the SQLite store in `data_dir` and, on first
/// start with no events, loads the seed events of `resources/events.json`.
///
/// # Errors
/// The store's error if the directory or database cannot be opened or
/// migrated, or `Internal` if the embedded seed list is malformed.
pub async fn open_embedded_store(data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    let dir = data_dir.to_path_buf();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&dir))
        .await
        .map_err(|e| StoreError::Internal(format!("opening the store: {e}")))??;
    let events = seed::default_events().map_err(StoreError::Internal)?;
    let seeded = store.seed_events(events).await?;
    if seeded > 0 {
        tracing::info!(seeded, "first start: loaded the seed events");
    }
    Ok(Arc::new(store))
}

/// Where the server keeps its data by default: the platform's data
/// directory for Coliseum (e.g. `~/.local/share/coliseum` on Linux,
/// `~/Library/Application Support/org.Coliseum.coliseum` on macOS,
/// `%APPDATA%\Coliseum\coliseum\data` on Windows), or `./coliseum-data` when
/// the platform has no home directory.
#[must_use]
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("org", "Coliseum", "coliseum").map_or_else(
        || PathBuf::from("coliseum-data"),
        |dirs| dirs.data_dir().to_path_buf(),
    )
}
