//! Server settings.
//!
//! Every limit has a production default here; `coliseum-server --help`
//! shows the flags that change them, and `docs/security.md` lists them.
//! Limits that are "off" at 0 say so on their field.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Default TCP port (`127.0.0.1:7878`).
pub const DEFAULT_PORT: u16 = 7878;

/// Production defaults, in the units the command line takes: the one place
/// each is written. [`ServerConfig::default`] is built from them and
/// `coliseum-server --help` shows them.
pub mod defaults {
    /// `--max-connections`.
    pub const MAX_CONNECTIONS: u32 = 1024;
    /// `--max-connections-per-ip`.
    pub const MAX_CONNECTIONS_PER_IP: u32 = 64;
    /// `--session-ttl`, seconds (7 days).
    pub const SESSION_TTL_SECS: u64 = 7 * 24 * 60 * 60;
    /// `--handshake-timeout`, seconds.
    pub const HANDSHAKE_TIMEOUT_SECS: u64 = 30;
    /// `--idle-timeout`, seconds (5 minutes).
    pub const IDLE_TIMEOUT_SECS: u64 = 5 * 60;
    /// `--chat-rate`, messages per second.
    pub const CHAT_RATE: u32 = 5;
    /// `--chat-burst`, messages.
    pub const CHAT_BURST: u32 = 20;
    /// `--register-rate`, accounts per hour per address.
    pub const REGISTER_PER_HOUR: u32 = 60;
    /// `--register-burst`, accounts.
    pub const REGISTER_BURST: u32 = 10;
    /// `--write-coalesce-ms`, milliseconds. 20 since issue 12's session 5
    /// (was 10): with full-decode receivers, 1,000 clients × 1,000 msgs/s
    /// used 25 % less server CPU and had a lower p99 (27–59 ms against
    /// 42–76 ms); a busy room's pushes wait up to 10 ms longer
    /// (docs/performance.md).
    pub const WRITE_COALESCE_MS: u64 = 20;
}

/// Settings of one server instance. Build it with struct-update syntax:
/// `ServerConfig { listen, ..ServerConfig::default() }`.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:7878` (local only; pass
    /// `0.0.0.0:7878` to accept other machines). Port 0 picks a free port;
    /// [`crate::Server::local_addr`] tells which.
    pub listen: SocketAddr,
    /// Most clients connected at once (issue: `--max-connections`, default
    /// 1,024). The next one gets the `server_full` push and is closed.
    pub max_connections: usize,
    /// Most clients connected at once from one address (an IPv4 address,
    /// or an IPv6 /64 network, as one household or host usually has).
    /// The next one gets `{"id":null,"ok":false,"error":{"code":"rate_limited",...}}`
    /// and is closed. `0` turns the cap off (load tests from one machine).
    /// Default 64 (security issue: `--max-connections-per-ip`).
    pub max_connections_per_ip: usize,
    /// Frames that may wait in one connection's outbound queue. Responses
    /// wait for room (back-pressure on that connection only); a broadcast
    /// push that finds the queue full disconnects the client as a slow
    /// reader, so it never delays anyone else. Default 1,024.
    pub outbound_queue: usize,
    /// Bytes (frames with their 4-byte length prefixes) that may wait in one
    /// connection's outbound queue; a push that would pass it disconnects
    /// the client as a slow reader and frees what was queued for it, so a
    /// client that stops reading holds at most this much queued, plus the
    /// one batch (also at most this much) its writer is stuck writing
    /// (issue 12; documented in `docs/protocol.md`). A response is queued
    /// whenever the queue is below it. Default 1 MiB.
    pub outbound_queue_bytes: usize,
    /// Write coalescing: while pushes keep coming, a connection is written
    /// to at most once per this interval, so a busy room costs each client
    /// one write syscall per interval instead of one per message (measured
    /// in `docs/performance.md`). A connection quiet for this long is
    /// written to at once, and responses never wait for it. At most this
    /// much is added to a push's latency. `Duration::ZERO` = write as soon
    /// as possible. Default 10 ms (`--write-coalesce-ms`).
    pub write_coalesce: Duration,
    /// How long a session token stays valid after `login` (or after the
    /// password change that re-issued it). Default 7 days (security issue;
    /// `--session-ttl`).
    pub session_ttl: Duration,
    /// An anonymous connection (no session yet) that completes no frame for
    /// this long — it sends nothing, or only part of a frame — is closed
    /// without a word. The clock restarts whenever the server starts waiting
    /// for the next request. `Duration::ZERO` = never. Default 30 s
    /// (security issue; `--handshake-timeout`).
    pub handshake_timeout: Duration,
    /// As [`ServerConfig::handshake_timeout`], for a logged-in connection.
    /// Pushes the server sends do not count: a client that only listens
    /// must still send a request (e.g. `online`) now and then.
    /// `Duration::ZERO` = never. Default 5 min (`--idle-timeout`).
    pub idle_timeout: Duration,
    /// Chat messages one user may post per second, across all their
    /// connections (token bucket refill rate); more get `rate_limited` with
    /// `retry_after_ms`. `0` = unlimited (load tests). Default 5
    /// (security issue; `--chat-rate`).
    pub chat_rate: u32,
    /// Chat messages one user may post in a burst before the rate applies
    /// (token bucket size; at least 1 is used). Default 20 (`--chat-burst`).
    pub chat_burst: u32,
    /// Accounts one address may register per hour (token bucket refill;
    /// an address is as for [`ServerConfig::max_connections_per_ip`]); more
    /// get `rate_limited` with `retry_after_ms`, before any password is
    /// hashed. `0` = unlimited (load tests). Default 60 (hardening issue:
    /// "registration flood"; `--register-rate`).
    pub register_per_hour: u32,
    /// Registrations one address may make in a burst before the hourly
    /// rate applies (at least 1 is used). Default 10 (`--register-burst`).
    pub register_burst: u32,
    /// Login throttling: per connection, per account and per address.
    pub login_throttle: LoginThrottleConfig,
    /// On graceful shutdown, how long in-flight requests and the final
    /// flush to each client may take before the remaining connections are
    /// dropped. Default 5 s.
    pub shutdown_grace: Duration,
    /// Password hashing worker threads (argon2id, tens of ms each): each
    /// keeps and reuses its own ~19 MiB of working memory, so hashing never
    /// holds more than this many × 19 MiB; a login storm queues, logins
    /// ahead of registrations. Default: the number of CPUs
    /// (`--hash-workers`).
    pub hash_concurrency: usize,
    /// How long a waiting-list offer holds its seats (`--offer-minutes`,
    /// default 10; ticketing issue).
    pub offers: coliseum_store::OfferPolicy,
    /// Signs ticket codes (ticketing issue). The library default is a
    /// random key for the life of the process; the `coliseum-server`
    /// binary and the desktop's embedded server load
    /// `ticket-signing.key` from the data directory
    /// ([`crate::TicketKey::load_or_create`]).
    pub ticket_key: crate::TicketKey,
    /// The transport: `Some(acceptor)` runs a TLS 1.2/1.3 handshake with it
    /// on every accepted connection before the `welcome` (the handshake is
    /// bounded by [`ServerConfig::handshake_timeout`]; a failed or timed-out
    /// handshake closes the connection without a word and frees its slot).
    /// `None` = plaintext TCP. The library default is `None`, so embedding
    /// (the desktop app's "Host on this computer") and in-process tests are
    /// unchanged; the `coliseum-server` binary defaults to TLS (security
    /// issue: "TLS by default", `--insecure-plaintext` to opt out). Build the
    /// acceptor with `coliseum_tls::load_or_create_server_identity(..)?.acceptor()`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// `Some`: this server is one of several instances on one MongoDB,
    /// joined over NATS (`--nats-url`; `crate::bus`). Refused with the
    /// embedded store, which one server owns. Default `None`: alone.
    pub cluster: Option<crate::ClusterConfig>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("outbound_queue", &self.outbound_queue)
            .field("outbound_queue_bytes", &self.outbound_queue_bytes)
            .field("write_coalesce", &self.write_coalesce)
            .field("session_ttl", &self.session_ttl)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("chat_rate", &self.chat_rate)
            .field("chat_burst", &self.chat_burst)
            .field("register_per_hour", &self.register_per_hour)
            .field("register_burst", &self.register_burst)
            .field("login_throttle", &self.login_throttle)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("hash_concurrency", &self.hash_concurrency)
            .field("tls", &self.tls.as_ref().map(|_| "TlsAcceptor"))
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            max_connections: defaults::MAX_CONNECTIONS as usize,
            max_connections_per_ip: defaults::MAX_CONNECTIONS_PER_IP as usize,
            outbound_queue: 1024,
            outbound_queue_bytes: 1024 * 1024,
            write_coalesce: Duration::from_millis(defaults::WRITE_COALESCE_MS),
            session_ttl: Duration::from_secs(defaults::SESSION_TTL_SECS),
            handshake_timeout: Duration::from_secs(defaults::HANDSHAKE_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(defaults::IDLE_TIMEOUT_SECS),
            chat_rate: defaults::CHAT_RATE,
            chat_burst: defaults::CHAT_BURST,
            register_per_hour: defaults::REGISTER_PER_HOUR,
            register_burst: defaults::REGISTER_BURST,
            login_throttle: LoginThrottleConfig::default(),
            shutdown_grace: Duration::from_secs(5),
            hash_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            offers: coliseum_store::OfferPolicy::default(),
            ticket_key: crate::TicketKey::default(),
            tls: None,
            cluster: None,
        }
    }
}

/// Login throttling (security issue: "after 3 failed logins on one
/// connection the server replies `too_many_attempts` and closes it;
/// per-account and per-IP exponential back-off across connections").
///
/// A *failed password check* is a `login` whose username/password pair is
/// wrong, or an `update_account` whose `current_password` is wrong. Checks
/// refused before being evaluated (`rate_limited`, `too_many_attempts`) do
/// not count.
///
/// Back-off: once a key (an account, or an address as in
/// [`ServerConfig::max_connections_per_ip`]) has `threshold` failures, each
/// further check waits `backoff_base × 2^(failures − threshold)` (capped at
/// `backoff_max`) after the last failure; a check sooner gets `rate_limited`
/// with `retry_after_ms`. A key with no failure for `window` is forgotten;
/// a successful login forgets its account (but not its address, or anyone
/// could clear their address by logging into an account of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginThrottleConfig {
    /// Failed password checks one connection may make; the next `login` or
    /// `update_account` on it is answered `too_many_attempts` without being
    /// evaluated, and the connection is closed. Default 3.
    pub per_connection: u32,
    /// Failures of one account (by lower-cased username) before back-off
    /// starts. Default 5.
    pub account_threshold: u32,
    /// Failures from one address before back-off starts. Higher than the
    /// account's because many people may share one address (NAT). Default 20.
    pub address_threshold: u32,
    /// First back-off delay. Default 1 s.
    pub backoff_base: Duration,
    /// Longest back-off delay. Default 5 min.
    pub backoff_max: Duration,
    /// A key with no failure for this long is forgotten. Default 15 min.
    pub window: Duration,
    /// Most accounts, and separately most addresses, remembered at once;
    /// past it, forgotten keys are purged first, then the stalest. Bounds
    /// the memory an attacker can make the server use. Default 65,536.
    pub max_tracked: usize,
}

impl Default for LoginThrottleConfig {
    fn default() -> Self {
        Self {
            per_connection: 3,
            account_threshold: 5,
            address_threshold: 20,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            window: Duration::from_secs(15 * 60),
            max_tracked: 65_536,
        }
    }
}
