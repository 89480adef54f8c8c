//! Logging that can never take the server down (hardening issue).
//!
//! The server logs to stderr. When stderr is a full disk (`2>/dev/full`) or
//! a pipe whose reader has exited, writing fails; `tracing-subscriber` then
//! reports the failure with `eprintln!`, which panics on the same broken
//! stderr — the server exited with status 101, or a connection task died
//! before its `welcome`. [`Lossy`] swallows the failure instead: the log
//! line is dropped and counted in [`dropped_log_writes`] (also
//! [`crate::ServerStats::log_writes_dropped`]), and serving goes on.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Log writes dropped since the process started.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many log writes failed and were dropped since the process started
/// (all [`Lossy`] writers together).
#[must_use]
pub fn dropped_log_writes() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A writer whose writes always succeed: a failed write of the inner
/// writer drops the bytes and counts one in [`dropped_log_writes`]. Give
/// the log subscriber `|| Lossy::new(std::io::stderr())`.
#[derive(Debug)]
pub struct Lossy<W> {
    inner: W,
}

impl<W: Write> Lossy<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }
}

impl<W: Write> Write for Lossy<W> {
    /// Writes all of `buf` or drops it; always `Ok(buf.len())`.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.inner.write_all(buf).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    /// Flushes, ignoring a failure (the write already counted it).
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = self.inner.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails every write, as stderr on a full disk does.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("No space left on device"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("No space left on device"))
        }
    }

    #[test]
    fn a_failing_log_writer_drops_and_counts_instead_of_failing() {
        let before = dropped_log_writes();
        let mut log = Lossy::new(Full);
        assert_eq!(log.write(b"one line\n").expect("never fails"), 9);
        log.write_all(b"another line\n").expect("never fails");
        log.flush().expect("never fails");
        // Other tests may drop lines concurrently: at least these two.
        assert!(dropped_log_writes() >= before + 2);
    }

    #[test]
    fn a_working_writer_gets_every_byte() {
        let mut log = Lossy::new(Vec::new());
        log.write_all(b"kept\n").expect("write");
        assert_eq!(log.inner, b"kept\n");
    }
}
