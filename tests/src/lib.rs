//! Shared helpers of the end-to-end tests in `tests/tests/*.rs`: start a
//! real server on `127.0.0.1:0` with a temporary data directory, make
//! logged-in clients, wait for pushes with a bounded timeout, and speak raw
//! frames.
//!
//! # Layout
//! - this file: [`TestServer`], [`start_server`], client and push helpers.
//! - [`raw`]: a raw framed connection for malformed-input tests.
//! - [`flood`]: slow readers and the chat flood that gets them dropped.
//! - [`faulty`]: a `Store` wrapper that can be told to fail, to reach the
//!   `unavailable` and `internal` error codes.

pub mod faulty;
pub mod flood;
pub mod raw;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coliseum_client::{Client, ClientError, Pushes};
use coliseum_protocol::response::SessionData;
use coliseum_protocol::{ErrorCode, Push};
use coliseum_server::{Server, ServerConfig, ServerHandle, ServerStats, open_embedded_store};
use coliseum_store::Store;
use tempfile::TempDir;

use crate::faulty::FaultyStore;

/// Username of the admin every test server has.
pub const ADMIN: &str = "admin";
/// Password of [`ADMIN`].
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// Password given to every user made by [`TestServer::user`].
pub const PASSWORD: &str = "correct horse battery";
/// The longest any test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// Knobs of [`start_server_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// `ServerConfig::max_connections`.
    pub max_connections: usize,
    /// `ServerConfig::outbound_queue`.
    pub outbound_queue: usize,
    /// Wrap the store in a [`FaultyStore`] (see [`TestServer::faults`]).
    pub faulty: bool,
    /// Changes any other setting, after the ones above are applied, e.g.
    /// `tune: |c| c.chat_rate = 0`. Default: production settings.
    pub tune: fn(&mut ServerConfig),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            outbound_queue: 1024,
            faulty: false,
            tune: |_| {},
        }
    }
}

/// A running server, its data directory and the admin account.
pub struct TestServer {
    handle: Option<ServerHandle>,
    addr: SocketAddr,
    dir: TempDir,
    options: Options,
    faults: Option<Arc<FaultyStore>>,
    store: Arc<dyn Store>,
}

/// Starts a server with default options on a fresh data directory.
///
/// # Panics
/// If the server cannot start (the test fails).
pub async fn start_server() -> TestServer {
    start_server_with(Options::default()).await
}

/// Starts a server with `options` on a fresh data directory.
///
/// # Panics
/// If the server cannot start.
pub async fn start_server_with(options: Options) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    start_in(dir, options).await
}

async fn start_in(dir: TempDir, options: Options) -> TestServer {
    let store = open_embedded_store(dir.path()).await.expect("open store");
    coliseum_server::admin::add_admin(&*store, ADMIN, ADMIN_PASSWORD, None)
        .await
        .expect("add admin");
    let real = Arc::clone(&store);
    let (store, faults): (Arc<dyn Store>, _) = if options.faulty {
        let faulty = Arc::new(FaultyStore::new(store));
        (Arc::clone(&faulty) as Arc<dyn Store>, Some(faulty))
    } else {
        (store, None)
    };
    let mut config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_connections: options.max_connections,
        outbound_queue: options.outbound_queue,
        // Tests register many accounts from 127.0.0.1; the registration
        // rate is tested on its own (security.rs).
        register_per_hour: 0,
        // As the binary does: the key lives in the data directory, so
        // ticket codes survive a restart.
        ticket_key: coliseum_server::TicketKey::load_or_create(dir.path()).expect("ticket key"),
        ..ServerConfig::default()
    };
    (options.tune)(&mut config);
    let server = Server::bind(config, store).await.expect("bind");
    let addr = server.local_addr();
    TestServer {
        handle: Some(server.spawn()),
        addr,
        dir,
        options,
        faults,
        store: real,
    }
}

impl TestServer {
    /// Where the server listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's security counters ([`ServerStats`]).
    ///
    /// # Panics
    /// After [`TestServer::stop`].
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.handle.as_ref().expect("server running").stats()
    }

    /// The server's store, to check what it recorded (e.g. the audit log).
    #[must_use]
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The fault switch, when started with `faulty: true`.
    ///
    /// # Panics
    /// When the server was started without `faulty`.
    #[must_use]
    pub fn faults(&self) -> &FaultyStore {
        self.faults.as_deref().expect("started with faulty: true")
    }

    /// A new anonymous connection.
    ///
    /// # Panics
    /// If connecting fails.
    pub async fn connect(&self) -> (Client, Pushes) {
        Client::connect(self.addr).await.expect("connect")
    }

    /// Registers `name` (e-mail `name@example.com`, password [`PASSWORD`]),
    /// logs in on a new connection, and returns it with its session.
    ///
    /// # Panics
    /// If any step fails.
    pub async fn user(&self, name: &str) -> (Client, Pushes, SessionData) {
        let (client, pushes) = self.connect().await;
        client
            .register(name, PASSWORD, &format!("{name}@example.com"))
            .await
            .expect("register");
        let session = client.login(name, PASSWORD).await.expect("login");
        (client, pushes, session)
    }

    /// A new connection logged in as [`ADMIN`].
    ///
    /// # Panics
    /// If logging in fails.
    pub async fn admin(&self) -> (Client, Pushes, SessionData) {
        let (client, pushes) = self.connect().await;
        let session = client
            .login(ADMIN, ADMIN_PASSWORD)
            .await
            .expect("admin login");
        (client, pushes, session)
    }

    /// Registers `name`, makes it door staff (`admin add-staff`), and logs
    /// in on a new connection.
    ///
    /// # Panics
    /// If any step fails.
    pub async fn staff(&self, name: &str) -> (Client, Pushes, SessionData) {
        let (client, pushes) = self.connect().await;
        client
            .register(name, PASSWORD, &format!("{name}@example.com"))
            .await
            .expect("register");
        let outcome = coliseum_server::admin::add_staff(self.store(), name)
            .await
            .expect("add staff");
        assert_eq!(outcome, coliseum_server::admin::StaffOutcome::Granted);
        let session = client.login(name, PASSWORD).await.expect("login");
        (client, pushes, session)
    }

    /// Stops the server gracefully (waits until the store is closed).
    ///
    /// # Panics
    /// If the shutdown fails.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.expect("graceful shutdown");
        }
    }

    /// Stops the server and starts a new one on the same data directory.
    ///
    /// # Panics
    /// If either step fails.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let options = self.options.clone();
        start_in(self.dir, options).await
    }
}

/// Waits (at most [`WAIT`]) for the next push matching `want`, skipping
/// others.
///
/// # Panics
/// If none arrives in time or the connection closes first.
pub async fn expect_push(pushes: &mut Pushes, want: impl Fn(&Push) -> bool) -> Push {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(push) = pushes.recv().await {
            if want(&push) {
                return Some(push);
            }
        }
        None
    })
    .await
    .expect("timed out waiting for a push");
    found.expect("connection closed before the push arrived")
}

/// Waits (at most [`WAIT`]) until the connection behind `pushes` closes.
///
/// # Panics
/// If it stays open.
pub async fn expect_closed(pushes: &mut Pushes) {
    tokio::time::timeout(WAIT, async { while pushes.recv().await.is_some() {} })
        .await
        .expect("connection still open");
}

/// The wire error code of a failed call.
///
/// # Panics
/// If the call succeeded or failed without a code.
#[must_use]
pub fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    let err = result.expect_err("expected an error");
    err.code()
        .unwrap_or_else(|| panic!("no error code: {err:?}"))
}

/// The `field` of a failed call's error body.
///
/// # Panics
/// If the call succeeded or the error is not a server error.
#[must_use]
pub fn field<T: std::fmt::Debug>(result: Result<T, ClientError>) -> Option<String> {
    match result.expect_err("expected an error") {
        ClientError::Server(body) => body.field,
        other => panic!("not a server error: {other:?}"),
    }
}
