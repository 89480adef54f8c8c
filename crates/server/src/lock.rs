//! One server per data directory: an exclusive advisory lock on
//! `DATA_DIR/coliseum-server.lock`, holding the owner's process id.
//!
//! Two servers on one embedded store would both serve, and the clients of
//! one would never see the other's pushes (hardening issue). The lock is
//! the operating system's file lock (`flock` on Unix, `LockFileEx` on
//! Windows, through [`std::fs::File::try_lock`]), so it is released when
//! the process ends in any way, `SIGKILL` included: no stale lock to clean
//! up. `coliseum-server admin add` does not take it, so admins can still be
//! added beside a running server (SQLite serialises the writes).

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "coliseum-server.lock";

/// The held lock on a data directory; released when dropped (or when the
/// process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

/// Why [`DataDirLock::acquire`] failed.
#[derive(Debug, thiserror::Error)]
pub enum DataDirLockError {
    /// Another process holds the lock: its pid, as it wrote it (`None` if
    /// the file held no readable pid).
    #[error(
        "data directory {} is in use by another coliseum-server (pid {})",
        .dir.display(),
        .pid.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string())
    )]
    InUse {
        /// The data directory.
        dir: PathBuf,
        /// The owner's process id.
        pid: Option<u32>,
    },
    /// The directory or the lock file could not be created, read or locked.
    #[error("cannot lock data directory {}: {source}", .dir.display())]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl DataDirLock {
    /// Creates `dir` if needed and takes the exclusive lock on its
    /// [`LOCK_FILE`], writing this process's id into it.
    ///
    /// # Errors
    /// [`DataDirLockError::InUse`] (with the holder's pid) when another
    /// process holds it; [`DataDirLockError::Io`] when the directory or the
    /// file cannot be created or locked.
    pub fn acquire(dir: &Path) -> Result<Self, DataDirLockError> {
        let io = |source| DataDirLockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(DataDirLockError::InUse {
                    dir: dir.to_path_buf(),
                    pid,
                });
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(io(err)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self { _file: file, path })
    }

    /// The lock file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let held = DataDirLock::acquire(dir.path()).expect("first lock");
        // A second open file description conflicts even in one process.
        let err = DataDirLock::acquire(dir.path()).expect_err("second lock refused");
        assert_eq!(
            err.to_string(),
            format!(
                "data directory {} is in use by another coliseum-server (pid {})",
                dir.path().display(),
                std::process::id()
            )
        );
        drop(held);
        DataDirLock::acquire(dir.path()).expect("free again once released");
    }
}
