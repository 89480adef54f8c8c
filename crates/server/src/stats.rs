//! Counters of the security limits, and of presence pushes, readable while
//! the server runs ([`crate::Server::stats`], [`crate::ServerHandle::stats`]):
//! what tests assert on (e.g. that a throttled login never reached argon2,
//! that a mass departure caused few pushes) and what an operator can watch.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the server's counters since it was bound. Every field
/// counts events (not a current level) and only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Password verifications run (argon2id), for `login` (including the
    /// dummy verification for unknown usernames) and for `update_account`'s
    /// `current_password`.
    pub password_verifications: u64,
    /// Password checks refused with `too_many_attempts` (the connection was
    /// then closed).
    pub too_many_attempts: u64,
    /// Password checks refused with `rate_limited` (account or address
    /// back-off).
    pub logins_rate_limited: u64,
    /// `chat_send` requests refused with `rate_limited`.
    pub chats_rate_limited: u64,
    /// `register` requests refused with `rate_limited` (per-address rate).
    pub registrations_rate_limited: u64,
    /// Connections refused by the per-address cap.
    pub connections_refused_per_ip: u64,
    /// Connections refused by the server-wide cap (`server_full`).
    pub connections_refused_full: u64,
    /// Connections closed by the handshake or idle timeout.
    pub connections_timed_out: u64,
    /// Log lines dropped because the log could not be written (a full
    /// disk, a closed pipe), process-wide: see [`crate::logging`].
    pub log_writes_dropped: u64,
    /// `presence` frames queued to clients (one per logged-in client per
    /// announced change; merged per user, `docs/protocol.md`).
    pub presence_pushes: u64,
    /// Messages queued for the other instances (`--nats-url`; 0 alone).
    pub bus_published: u64,
    /// Messages to the other instances dropped: the queue was full (NATS
    /// slow or down for long).
    pub bus_dropped: u64,
    /// Messages from the other instances applied here.
    pub bus_received: u64,
}

/// The live counters behind [`ServerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub password_verifications: AtomicU64,
    pub too_many_attempts: AtomicU64,
    pub logins_rate_limited: AtomicU64,
    pub chats_rate_limited: AtomicU64,
    pub registrations_rate_limited: AtomicU64,
    pub connections_refused_per_ip: AtomicU64,
    pub connections_refused_full: AtomicU64,
    pub connections_timed_out: AtomicU64,
}

/// Adds one to `counter`.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// The current values.
    pub(crate) fn snapshot(&self) -> ServerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerStats {
            password_verifications: get(&self.password_verifications),
            too_many_attempts: get(&self.too_many_attempts),
            logins_rate_limited: get(&self.logins_rate_limited),
            chats_rate_limited: get(&self.chats_rate_limited),
            registrations_rate_limited: get(&self.registrations_rate_limited),
            connections_refused_per_ip: get(&self.connections_refused_per_ip),
            connections_refused_full: get(&self.connections_refused_full),
            connections_timed_out: get(&self.connections_timed_out),
            log_writes_dropped: crate::logging::dropped_log_writes(),
            presence_pushes: 0,
            bus_published: 0,
            bus_dropped: 0,
            bus_received: 0,
        }
    }
}
