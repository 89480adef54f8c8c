//! The pool of read-only connections.
//!
//! Reads run on tokio's blocking thread pool (`spawn_blocking`), never on an
//! async worker. A semaphore with one permit per connection is acquired
//! *before* spawning, so at most [`ReaderPool::size`] blocking threads read
//! at a time and a burst of reads waits asynchronously instead of parking
//! hundreds of blocking threads. In WAL mode readers never wait for the
//! writer, and each sees the last committed state.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::schema::open_reader;
use super::writer::closed;
use crate::{StoreError, StoreResult};

/// Read-only connections shared by every read operation.
pub(super) struct ReaderPool {
    /// Database file, to replace a connection lost to a panic.
    path: PathBuf,
    /// Idle connections.
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection; closed by [`ReaderPool::close`].
    permits: Arc<Semaphore>,
    /// Number of connections.
    size: usize,
}

impl ReaderPool {
    /// Opens `size` (at least 1) read-only connections to `path`.
    ///
    /// # Errors
    /// `Internal` when a connection cannot be opened.
    pub(super) fn open(path: PathBuf, size: usize) -> StoreResult<Self> {
        let size = size.max(1);
        let idle = (0..size)
            .map(|_| open_reader(&path))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            path,
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
            size,
        })
    }

    /// How many reads may run at once.
    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// Runs `read` on an idle connection on the blocking pool and returns
    /// its result.
    ///
    /// # Errors
    /// `read`'s own error; `Unavailable` after [`ReaderPool::close`];
    /// `Internal` when `read` panicked or no connection could be opened.
    pub(super) async fn run<T, F>(self: &Arc<Self>, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            let result = read(&conn);
            pool.put_back(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("sqlite read task failed: {e}")))?
    }

    /// Refuses new reads and closes the idle connections (connections in
    /// use are closed when their read ends).
    pub(super) fn close(&self) {
        self.permits.close();
        self.lock().clear();
    }

    /// An idle connection, or a new one if a panicking read lost one.
    fn take(&self) -> StoreResult<Connection> {
        if self.permits.is_closed() {
            return Err(closed());
        }
        match self.lock().pop() {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    /// Returns a connection to the idle list (or closes it after `close`).
    fn put_back(&self, conn: Connection) {
        if !self.permits.is_closed() {
            self.lock().push(conn);
        }
    }

    /// The idle list; a poisoned lock is still a valid list of connections.
    fn lock(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
