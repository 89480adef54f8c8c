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

/// Everything the handlers need, shared by all connections of one server.
pub(crate) struct Shared {
    /// The storage backend.
    pub store: Arc<dyn Store>,
    /// Live connections, presence and broadcasting.
    pub hub: Hub,
    /// Password hashing with bounded concurrency.
    pub passwords: Passwords,
    /// The settings the server was bound with.
    pub config: ServerConfig,
    /// Cancelled when a graceful shutdown starts: readers stop taking new
    /// requests (the one in progress finishes), writers flush and close.
    pub shutdown: CancellationToken,
    /// Cancelled when the shutdown grace period runs out: every connection
    /// is dropped at once. Each connection's own kill token is a child.
    pub abort: CancellationToken,
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
    /// SHA-256 hex of this session's token: what `logout` deletes and what
    /// a password change keeps valid.
    pub token_hash: String,
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
}
