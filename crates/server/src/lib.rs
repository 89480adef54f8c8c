//! The Coliseum server as a library: the `coliseum-server` binary runs it on
//! its own, the desktop app embeds it for "Host on this computer", and the
//! end-to-end tests start it on `127.0.0.1:0`.
//!
//! The wire contract it serves is `docs/protocol.md` (types in
//! `coliseum_protocol`); storage is any [`coliseum_store::Store`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use coliseum_server::{Server, ServerConfig, open_embedded_store, default_data_dir};
//! let store = open_embedded_store(&default_data_dir()).await?;
//! let server = Server::bind(ServerConfig::default(), store).await?;
//! println!("listening on {}", server.local_addr());
//! let handle = server.spawn();
//! // ... later:
//! handle.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`ServerConfig`], every tunable with its default and why.
//! - [`server`]: [`Server`] (bind, accept loop, connection cap, graceful
//!   shutdown) and [`ServerHandle`].
//! - `connection`: one client: a reader loop answering requests in order
//!   (with the handshake/idle timeouts) and a writer task that writes
//!   everything its outbox holds with one write.
//! - `outbox`: a connection's bounded outbound buffer (frames appended
//!   length-prefixed; pushes never wait, responses do; write coalescing).
//! - `bus`: [`ClusterConfig`]; the message bus (NATS) between several
//!   instances on one MongoDB: pushes, presence and rules cross it.
//! - `failures`: failed logins counted by every instance together, in the
//!   store (with several instances only).
//! - `hub`: every live connection's outbox, presence (who is online), and
//!   broadcasting a push serialized once to many clients.
//! - `seats`: coalesced `event_update` pushes (latest seat count per event,
//!   at most one push per event every 100 ms) so an on-sale surge does not
//!   become a push storm.
//! - `auth`: passwords (argon2id) and session tokens (only their SHA-256 is
//!   stored).
//! - `hashing`: the password hashing pool — a fixed number of workers,
//!   each reusing its own argon2 working memory; logins ahead of
//!   registrations.
//! - `handlers`: one file per domain — `accounts` (register, login, resume,
//!   logout, update_account), `events` (list/create events, book, tickets,
//!   cancel), `chat` (send, history, online), `rooms` (rooms, direct
//!   messages, moderation), `ticketing` (update/cancel events, waiting
//!   list, offers, check-in, attendees) — plus the op dispatcher.
//! - `offers`: announcing waiting-list offers (push + notice) and the
//!   sweeper that lapses them on time, also after a restart.
//! - [`signing`]: [`TicketKey`], the Ed25519 key that signs ticket codes
//!   (kept in the data directory).
//! - `sessions`: which token each logged-in connection uses, so that
//!   logout and password changes also end the revoked sessions on live
//!   connections.
//! - `throttle`: login back-off per account and per address (bounded maps).
//! - `limits`: the per-address connection cap and the per-user chat rate
//!   (token bucket).
//! - [`stats`]: [`ServerStats`], counters of the limits (what was refused,
//!   how many password verifications ran).
//! - `errors`: [`coliseum_store::StoreError`] → wire `ErrorBody`.
//! - `audit`: the audit log (store + `audit` tracing target).
//! - [`admin`]: `admin add` (the only way to make an admin) and
//!   `admin add-staff` (door staff).
//! - [`embedded`]: the embedded SQLite store and its default directory.
//! - [`lock`]: one server per data directory.
//! - [`logging`]: a log writer that drops lines instead of failing.

pub mod admin;
mod audit;
mod auth;
mod bus;
pub mod config;
mod connection;
mod context;
pub mod embedded;
mod errors;
mod failures;
mod handlers;
mod hashing;
mod hub;
mod limits;
pub mod lock;
pub mod logging;
mod news;
mod offers;
mod outbox;
mod pacing;
mod roomcache;
mod seats;
pub mod server;
mod sessions;
pub mod signing;
pub mod stats;
mod throttle;

pub use bus::ClusterConfig;
pub use config::{LoginThrottleConfig, ServerConfig};
pub use embedded::{default_data_dir, open_embedded_store};
pub use lock::{DataDirLock, DataDirLockError};
pub use server::{Server, ServerHandle};
pub use signing::{TicketKey, TicketKeyError};
pub use stats::ServerStats;
