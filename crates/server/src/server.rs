//! The listener: accept loop, connection cap, graceful shutdown.
//!
//! - The cap is a [`Semaphore`] of `max_connections` permits. A permit is
//!   taken right after `accept` with `try_acquire_owned`; when none is left
//!   the client gets `{"push":"server_full","limit":N}` and is closed
//!   (the issue wants the refusal said on the wire, so the accept happens
//!   first). The permit moves into the connection's task and is released
//!   when its socket closes.
//! - The per-address cap ([`ServerConfig::max_connections_per_ip`]) is
//!   checked first: a client over it gets one error frame,
//!   `{"id":null,"ok":false,"error":{"code":"rate_limited","message":...}}`,
//!   and is closed, without taking a server-wide slot.
//! - The listen backlog is `max_connections` + 1,024 (capped by the
//!   kernel's `net.core.somaxconn`), so a connect burst waits in the
//!   kernel's queue until accepted instead of overflowing it.
//! - Failed accepts (e.g. out of file descriptors) back off exponentially,
//!   1 ms up to 1 s, and the loop keeps going.
//! - With [`ServerConfig::tls`] set, every accepted connection runs the
//!   TLS handshake (bounded by `handshake_timeout`) before its `welcome`,
//!   and so does every refused one before its refusal, so that TLS clients
//!   can read it (at most 1,024 such handshakes at once; more refused TLS
//!   sockets are closed at once).
//! - Shutdown (the future given to [`Server::run`]): stop accepting, push
//!   `shutdown` to everyone, let each connection finish the request it is
//!   handling and flush, wait up to `shutdown_grace` (then drop the rest),
//!   and close the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coliseum_protocol::{ErrorBody, ErrorCode, Push, encode_error, encode_push, frame_codec};
use coliseum_store::Store;
use futures::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::connection;
use crate::context::Shared;
use crate::limits::{ConnectionsPerIp, IpSlot};
use crate::stats::{ServerStats, bump};

/// The reason sent in the `shutdown` push.
pub const SHUTDOWN_REASON: &str = "server is shutting down";

/// How long a refused client gets to receive its `server_full` push.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound, not yet running, server. See the module docs.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("store", &self.shared.store.backend())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `config.listen` and prepares to serve `store`. Nothing is
    /// accepted until [`Server::run`] or [`Server::spawn`].
    ///
    /// # Errors
    /// The bind error (address in use, permission denied, ...);
    /// `InvalidInput` for [`ServerConfig::cluster`] on a store other than
    /// MongoDB (the embedded store belongs to one server).
    pub async fn bind(config: ServerConfig, store: Arc<dyn Store>) -> std::io::Result<Self> {
        if config.cluster.is_some() && store.backend() != "mongodb" {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "several instances (NATS) need the MongoDB store; the {} store belongs to one server",
                    store.backend()
                ),
            ));
        }
        let listener = listen(config.listen, listen_backlog(config.max_connections))?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, store));
        Ok(Self {
            listener,
            local_addr,
            shared,
        })
    }

    /// The address actually bound (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The security counters so far (all zero before [`Server::run`]).
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// Serves until `shutdown` resolves, then stops gracefully (module
    /// docs) and closes the store.
    ///
    /// # Errors
    /// Closing the store failed (reported as `io::ErrorKind::Other`).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            local_addr,
            shared,
        } = self;
        let tracker = TaskTracker::new();
        tracing::info!(
            addr = %local_addr,
            store = shared.store.backend(),
            max_connections = shared.config.max_connections,
            max_connections_per_ip = shared.config.max_connections_per_ip,
            chat_rate = shared.config.chat_rate,
            "server listening"
        );
        // Waiting-list offers lapse on time, also those made before a
        // restart (the sweeper asks the store first thing).
        tracker.spawn(crate::offers::sweeper(Arc::clone(&shared)));
        // The bus outlives the connections: their last pushes still cross.
        let bus_stop = CancellationToken::new();
        let bus_tasks = TaskTracker::new();
        if let Some(mut cluster) = shared.config.cluster.clone() {
            if cluster.instance_name.is_empty() {
                cluster.instance_name =
                    crate::ClusterConfig::default_instance_name(local_addr.port());
            }
            let name = cluster.instance_name.clone();
            if let Err(err) =
                crate::bus::start(&shared, cluster, &bus_tasks, bus_stop.clone()).await
            {
                tracing::error!(%err, instance = %name, "running alone: cannot join the other instances");
            }
        }
        tokio::select! {
            () = accept_loop(&listener, &shared, &tracker) => {}
            () = shutdown => {}
        }
        drop(listener);
        tracing::info!(
            connected = shared.hub.connected(),
            "shutting down: no longer accepting"
        );
        shared.hub.broadcast_all(&Push::Shutdown {
            reason: SHUTDOWN_REASON.to_owned(),
        });
        shared.shutdown.cancel();
        tracker.close();
        if tokio::time::timeout(shared.config.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over: dropping the remaining connections");
            shared.abort.cancel();
            tracker.wait().await;
        }
        bus_stop.cancel();
        bus_tasks.close();
        bus_tasks.wait().await;
        shared.store.close().await.map_err(std::io::Error::other)?;
        tracing::info!("server stopped");
        Ok(())
    }

    /// Runs the server on the current tokio runtime; stop it with
    /// [`ServerHandle::shutdown`].
    #[must_use]
    pub fn spawn(self) -> ServerHandle {
        let local_addr = self.local_addr;
        let trigger = CancellationToken::new();
        let shared = Arc::clone(&self.shared);
        let task = tokio::spawn(self.run(trigger.clone().cancelled_owned()));
        ServerHandle {
            local_addr,
            trigger,
            task,
            shared,
        }
    }
}

/// The listen backlog for a server admitting `max_connections` clients:
/// room for all of them plus 1,024 refusals arriving in the same burst, so
/// a connect storm is queued by the kernel until accepted instead of being
/// dropped (listen-queue overflow leaves clients that completed the TCP
/// handshake hanging). The kernel caps it at `net.core.somaxconn` (4,096 on
/// current Linux).
fn listen_backlog(max_connections: usize) -> u32 {
    u32::try_from(max_connections.saturating_add(1024)).unwrap_or(u32::MAX)
}

/// Binds `addr` (with `SO_REUSEADDR`, as [`TcpListener::bind`] does) and
/// listens with `backlog`.
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// A running server started by [`Server::spawn`]. Dropping the handle
/// leaves the server running until the runtime stops.
pub struct ServerHandle {
    local_addr: SocketAddr,
    trigger: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The security counters so far (see [`ServerStats`]).
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// Stops the server gracefully and waits until every connection is
    /// closed and the store is closed.
    ///
    /// # Errors
    /// As [`Server::run`], or if the server task panicked.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.trigger.cancel();
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// A connection's places under the server-wide and per-address caps,
/// given back when its socket is closed.
#[derive(Debug)]
pub(crate) struct Slot {
    _global: OwnedSemaphorePermit,
    _per_ip: IpSlot,
}

impl Slot {
    /// Holds both places until dropped.
    pub(crate) fn new(global: OwnedSemaphorePermit, per_ip: IpSlot) -> Self {
        Self {
            _global: global,
            _per_ip: per_ip,
        }
    }
}

/// Accepts forever, spawning one task per client (or per refusal).
async fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, tracker: &TaskTracker) {
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    let per_ip = ConnectionsPerIp::new(shared.config.max_connections_per_ip);
    let mut refusals = LogSampler::default();
    let refusing = Arc::new(Semaphore::new(TLS_REFUSALS_IN_FLIGHT));
    let mut backoff = Duration::from_millis(1);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(1);
                accepted
            }
            Err(err) => {
                tracing::warn!(%err, retry_in = ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let Some(per_ip_slot) = per_ip.try_acquire(peer.ip()) else {
            let cap = per_ip.limit();
            if refusals.note() {
                tracing::warn!(%peer, cap, suppressed = refusals.take_suppressed(), "per-address connection cap reached: refusing");
            }
            bump(&shared.counters.connections_refused_per_ip);
            let body = ErrorBody::new(
                ErrorCode::RateLimited,
                format!("too many connections from your address (at most {cap}): close one first"),
            );
            refuse_over(
                stream,
                shared,
                tracker,
                &refusing,
                encode_error(None, &body),
            );
            continue;
        };
        match Arc::clone(&limit).try_acquire_owned() {
            Ok(permit) => {
                let slot = Slot::new(permit, per_ip_slot);
                tracker.spawn(accept_tcp(stream, peer, Arc::clone(shared), slot));
            }
            Err(_) => {
                let cap = shared.config.max_connections;
                if refusals.note() {
                    tracing::warn!(%peer, cap, suppressed = refusals.take_suppressed(), "connection cap reached: refusing");
                }
                bump(&shared.counters.connections_refused_full);
                let limit = u64::try_from(cap).unwrap_or(u64::MAX);
                refuse_over(
                    stream,
                    shared,
                    tracker,
                    &refusing,
                    encode_push(&Push::ServerFull { limit }),
                );
            }
        }
    }
}

/// At most one refusal warning per second, so that a connection flood
/// cannot flood the log too; the next warning says how many were skipped
/// (every refusal is counted in [`ServerStats`] all the same).
#[derive(Debug, Default)]
struct LogSampler {
    last: Option<tokio::time::Instant>,
    suppressed: u64,
}

impl LogSampler {
    /// True when this event should be logged.
    fn note(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return false;
        }
        self.last = Some(now);
        true
    }

    /// How many were skipped since the last logged one (and resets it).
    fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}

/// Turns an accepted TCP stream into a served connection. The one place
/// where a transport layer wraps the stream before the protocol runs: with
/// [`ServerConfig::tls`] set, the TLS handshake runs first, bounded by
/// `handshake_timeout` (when non-zero). A handshake that fails (e.g. a
/// plaintext client, whose first frame is not a `ClientHello`) or times out
/// (counted in [`ServerStats::connections_timed_out`]) closes the socket
/// without a word; dropping `slot` frees the connection's places. A
/// handshake still running when shutdown starts is dropped.
async fn accept_tcp(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, slot: Slot) {
    let Some(acceptor) = shared.config.tls.clone() else {
        connection::serve(stream, peer, shared, slot).await;
        return;
    };
    let timeout = shared.config.handshake_timeout;
    let handshake = async {
        if timeout.is_zero() {
            Some(acceptor.accept(stream).await)
        } else {
            tokio::time::timeout(timeout, acceptor.accept(stream))
                .await
                .ok()
        }
    };
    let accepted = tokio::select! {
        accepted = handshake => accepted,
        // A client still shaking hands when shutdown starts has no welcome
        // to finish: drop it rather than hold up the shutdown.
        () = shared.shutdown.cancelled() => return,
    };
    let Some(accepted) = accepted else {
        tracing::debug!(%peer, ?timeout, "TLS handshake timed out: closing");
        bump(&shared.counters.connections_timed_out);
        return;
    };
    match accepted {
        Ok(tls) => connection::serve(tls, peer, shared, slot).await,
        Err(err) => tracing::debug!(%peer, %err, "TLS handshake failed: closing"),
    }
}

/// TLS handshakes of refused clients at once. A refusal over TLS costs a
/// handshake; past this many in flight, further refused TLS sockets are
/// closed without a word (still counted), so a connection flood cannot make
/// the server spend unbounded CPU and memory on refusing it. Plaintext
/// refusals (one small write) are not capped: a burst of them is always
/// told (`flood.rs`).
const TLS_REFUSALS_IN_FLIGHT: usize = 1024;

/// Tells a refused client why, over the transport it speaks: with
/// [`ServerConfig::tls`] set the TLS handshake is completed first (bounded
/// by [`REFUSAL_TIMEOUT`] and `handshake_timeout`), so a TLS client reads
/// the documented `server_full` push or `rate_limited` error instead of a
/// TLS alert. Runs on `tracker`; a TLS refusal holds one of `refusing`'s
/// permits.
fn refuse_over(
    stream: TcpStream,
    shared: &Shared,
    tracker: &TaskTracker,
    refusing: &Arc<Semaphore>,
    frame: Bytes,
) {
    let Some(acceptor) = shared.config.tls.clone() else {
        tracker.spawn(refuse(stream, frame));
        return;
    };
    let Ok(permit) = Arc::clone(refusing).try_acquire_owned() else {
        tracing::debug!("too many TLS refusals in flight: closing without a word");
        return;
    };
    let timeout = match shared.config.handshake_timeout {
        Duration::ZERO => REFUSAL_TIMEOUT,
        configured => configured.min(REFUSAL_TIMEOUT),
    };
    tracker.spawn(async move {
        let _permit = permit;
        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => refuse(tls, frame).await,
            Ok(Err(err)) => tracing::debug!(%err, "TLS handshake of a refused client failed"),
            Err(_) => tracing::debug!("TLS handshake of a refused client timed out"),
        }
    });
}

/// Sends the one `frame` of a refusal and closes (bounded by
/// [`REFUSAL_TIMEOUT`]).
async fn refuse<S>(stream: S, frame: Bytes)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut framed = FramedWrite::new(stream, frame_codec());
    let refused = async {
        framed.send(frame).await?;
        SinkExt::<Bytes>::close(&mut framed).await
    };
    if let Err(err) = tokio::time::timeout(REFUSAL_TIMEOUT, refused)
        .await
        .unwrap_or_else(|elapsed| Err(elapsed.into()))
    {
        tracing::debug!(%err, "could not tell a refused client");
    }
}
