//! Server settings.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Default TCP port (`127.0.0.1:7878`).
pub const DEFAULT_PORT: u16 = 7878;

/// Settings of one server instance. Build it with struct-update syntax:
/// `ServerConfig { listen, ..ServerConfig::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:7878` (local only; pass
    /// `0.0.0.0:7878` to accept other machines). Port 0 picks a free port;
    /// [`crate::Server::local_addr`] tells which.
    pub listen: SocketAddr,
    /// Most clients connected at once (issue: `--max-connections`, default
    /// 1,024). The next one gets the `server_full` push and is closed.
    pub max_connections: usize,
    /// Frames that may wait in one connection's outbound queue. Responses
    /// wait for room (back-pressure on that connection only); a broadcast
    /// push that finds the queue full disconnects the client as a slow
    /// reader, so it never delays anyone else. Default 1,024.
    pub outbound_queue: usize,
    /// How long a session token stays valid after `login`. Default 7 days.
    pub session_ttl: Duration,
    /// On graceful shutdown, how long in-flight requests and the final
    /// flush to each client may take before the remaining connections are
    /// dropped. Default 5 s.
    pub shutdown_grace: Duration,
    /// Password hashes (argon2id, ~19 MiB and tens of ms each) computed at
    /// once, so that a login storm queues instead of flooding tokio's
    /// blocking pool. Default: the number of CPUs.
    pub hash_concurrency: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            max_connections: 1024,
            outbound_queue: 1024,
            session_ttl: Duration::from_secs(7 * 24 * 60 * 60),
            shutdown_grace: Duration::from_secs(5),
            hash_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}
