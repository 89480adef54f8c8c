//! State shared by every connection ([`Shared`]) and state of one
//! connection ([`ConnState`]).

use std::net::SocketAddr;
use std::sync::Arc;

use coliseum_protocol::Role;
use coliseum_store::Store;
use tokio_util::sync::CancellationToken;

use crate::auth::Passwords;
use crate::config::ServerConfig;
use crate::hub::{ConnId, Hub};
use crate::limits::RateLimiter;
use crate::news::News;
use crate::pacing::Pacing;
use crate::roomcache::RoomCache;
use crate::seats::SeatUpdates;
use crate::sessions::LiveSessions;
use crate::stats::{Counters, ServerStats};
use crate::throttle::LoginThrottle;

/// Everything the handlers need, shared by all connections of one server.
pub(crate) struct Shared {
    /// The storage backend.
    pub store: Arc<dyn Store>,
    /// Live connections, presence and broadcasting.
    pub hub: Arc<Hub>,
    /// Coalesced `event_update` pushes after bookings and cancellations.
    pub seats: SeatUpdates,
    /// Password hashing with bounded concurrency.
    pub passwords: Passwords,
    /// Which token each logged-in connection uses (revocation).
    pub live: LiveSessions,
    /// Per-account and per-address login back-off.
    pub throttle: LoginThrottle,
    /// Per-user chat rate.
    pub chat: RateLimiter,
    /// System messages (event news, moderation).
    pub news: Arc<News>,
    /// Slow mode: last message per (room, user).
    pub slow_mode: Pacing,
    /// `typing` pushes: last one per (room, user).
    pub typing: Pacing,
    /// Room settings and mutes for `chat_send` without store reads.
    pub room_cache: RoomCache,
    /// Wakes the offer sweeper when a new waiting-list offer is made.
    pub offer_clock: crate::offers::OfferClock,
    /// Failed logins of every instance, counted in the store
    /// (`crate::failures`); only with several instances (`config.cluster`).
    pub failures: Option<Arc<crate::failures::SharedFailures>>,
    /// Per-address registration rate (keyed by `throttle::address_key`).
    pub registrations: RateLimiter,
    /// Counters of the limits ([`ServerStats`]).
    pub counters: Counters,
    /// The settings the server was bound with.
    pub config: ServerConfig,
    /// Cancelled when a graceful shutdown starts: readers stop taking new
    /// requests (the one in progress finishes), writers flush and close.
    pub shutdown: CancellationToken,
    /// Cancelled when the shutdown grace period runs out: every connection
    /// is dropped at once. Each connection's own kill token is a child.
    pub abort: CancellationToken,
}

impl Shared {
    /// Everything for a server with `config` on `store`, nothing running.
    pub(crate) fn new(config: ServerConfig, store: Arc<dyn Store>) -> Self {
        let hub = Hub::new();
        let shutdown = CancellationToken::new();
        let news = Arc::new(News::new(Arc::clone(&store), Arc::clone(&hub)));
        let failures = config.cluster.is_some().then(|| {
            Arc::new(crate::failures::SharedFailures::new(
                Arc::clone(&store),
                config.login_throttle.clone(),
            ))
        });
        Self {
            seats: SeatUpdates::new(Arc::clone(&store), Arc::clone(&hub), shutdown.clone()),
            store,
            hub,
            live: LiveSessions::default(),
            passwords: Passwords::new(config.hash_concurrency),
            throttle: LoginThrottle::new(config.login_throttle.clone()),
            chat: RateLimiter::new(config.chat_rate, config.chat_burst),
            news,
            slow_mode: Pacing::default(),
            typing: Pacing::default(),
            room_cache: RoomCache::default(),
            offer_clock: crate::offers::OfferClock::default(),
            failures,
            registrations: RateLimiter::per(
                config.register_per_hour,
                std::time::Duration::from_secs(3600),
                config.register_burst,
            ),
            counters: Counters::default(),
            config,
            shutdown,
            abort: CancellationToken::new(),
        }
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> ServerStats {
        let mut stats = self.counters.snapshot();
        stats.password_verifications = self.passwords.verifications();
        stats.presence_pushes = self.hub.presence_pushes();
        if let Some(bus) = self.hub.bus() {
            let get =
                |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            stats.bus_published = get(&bus.queued);
            stats.bus_dropped = get(&bus.dropped);
            stats.bus_received = get(&bus.received);
        }
        stats
    }
}

/// The logged-in session of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The account's id.
    pub user_id: String,
    /// Current username (updated by `update_account`).
    pub username: String,
    /// Current e-mail (updated by `update_account`).
    pub email: String,
    /// Role read from the store at `login`/`resume`.
    pub role: Role,
    /// SHA-256 hex of this session's token: what `logout` deletes.
    pub token_hash: String,
    /// When the session expires: checked before every request, which then
    /// runs anonymous (hardening issue: "sessions that really end").
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Per-connection state the handlers read and change.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// This connection's id in the hub.
    pub id: ConnId,
    /// The peer's address, for logs.
    pub peer: SocketAddr,
    /// `Some` once `login`/`resume` succeeded; at most one per connection.
    pub session: Option<Session>,
    /// Failed password checks on this connection (wrong `login`, wrong
    /// `current_password`); never reset while the connection lives.
    pub failed_password_checks: u32,
    /// Set by a handler whose response must be the connection's last
    /// (`too_many_attempts`): the reader sends it, then closes.
    pub close_after_reply: bool,
    /// A push to send just before the current response (e.g.
    /// `session_expired`); the reader takes it.
    pub push_before_reply: Option<bytes::Bytes>,
}

impl ConnState {
    /// A fresh, anonymous connection.
    pub(crate) fn new(id: ConnId, peer: SocketAddr) -> Self {
        Self {
            id,
            peer,
            session: None,
            failed_password_checks: 0,
            close_after_reply: false,
            push_before_reply: None,
        }
    }
}
