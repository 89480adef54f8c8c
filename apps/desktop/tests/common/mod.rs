//! Shared by the integration tests: a real server in-process.
// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use coliseum_client::Client;
use coliseum_server::{Server, ServerConfig, ServerHandle, open_embedded_store};
use coliseum_store::Store;

/// Password of every member account the tests create.
pub const PASSWORD: &str = "correct horse";

/// A server on `127.0.0.1:<free port>` with its own data directory.
pub struct TestServer {
    pub runtime: tokio::runtime::Runtime,
    handle: Option<ServerHandle>,
    store: Option<Arc<dyn Store>>,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    /// The MongoDB URI and database, for a store on MongoDB.
    mongo: Option<(String, String)>,
    /// TLS identity served with (from the next [`TestServer::serve`]);
    /// `None` = plaintext.
    pub identity: Option<coliseum_tls::ServerIdentity>,
}

impl TestServer {
    pub fn start() -> Self {
        let runtime = server_runtime();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self {
            runtime,
            handle: None,
            store: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir,
            mongo: None,
            identity: None,
        };
        server.serve();
        server
    }

    /// As [`TestServer::start`], on the MongoDB store at `uri` (a fresh,
    /// uniquely named database, seeded with the default events) instead of
    /// the embedded one.
    pub fn start_on_mongo(uri: &str) -> Self {
        let database = format!(
            "coliseum_desktop_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        Self::start_on_mongo_database(uri, &database, true)
    }

    /// A server on the MongoDB store of `database` at `uri`, seeded with
    /// the default events when `seed`.
    fn start_on_mongo_database(uri: &str, database: &str, seed: bool) -> Self {
        let runtime = server_runtime();
        let store: Arc<dyn Store> = runtime.block_on(async {
            let store =
                coliseum_store_mongo::MongoStore::connect(coliseum_store_mongo::MongoOptions {
                    uri: uri.to_owned(),
                    database: database.to_owned(),
                    timeout: std::time::Duration::from_secs(30),
                })
                .await
                .expect("connect to the MongoDB test server");
            if seed {
                let events = coliseum_store::seed::default_events().expect("seed list");
                store.seed_events(events).await.expect("seed");
            }
            Arc::new(store) as Arc<dyn Store>
        });
        let mut server = Self {
            runtime,
            handle: None,
            store: Some(store),
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir: tempfile::tempdir().expect("temp dir"),
            mongo: Some((uri.to_owned(), database.to_owned())),
            identity: None,
        };
        server.serve();
        server
    }

    /// A second server on its own port serving the *same* store as `self`,
    /// as two instances of one deployment share one database (issue 15):
    /// accounts and sessions made on one are valid on the other. Live
    /// pushes do not cross between the two (no message bus in-process).
    /// On MongoDB the second opens the database anew, so either may stop;
    /// on the embedded store both serve one store object, and stopping
    /// either closes it for both (a server closes its store on shutdown):
    /// to take one away, reach it through a [`Front`] and cut that.
    pub fn start_sharing(&self) -> Self {
        if let Some((uri, database)) = &self.mongo {
            return Self::start_on_mongo_database(uri, database, false);
        }
        let runtime = server_runtime();
        let mut server = Self {
            runtime,
            handle: None,
            store: Some(Arc::clone(self.store.as_ref().expect("store is open"))),
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir: tempfile::tempdir().expect("temp dir"),
            mongo: None,
            identity: None,
        };
        server.serve();
        server
    }

    /// As [`TestServer::start`], serving TLS with the identity kept in
    /// `tls_dir` (created there on first use).
    pub fn start_tls(tls_dir: &std::path::Path) -> Self {
        let mut server = Self::start();
        server.stop();
        server.identity = Some(identity(tls_dir));
        server.serve();
        server
    }

    /// Opens the store (if closed) and serves it on `self.addr`.
    pub fn serve(&mut self) {
        let store = match &self.store {
            Some(store) => Arc::clone(store),
            None => self
                .runtime
                .block_on(open_embedded_store(self.dir.path()))
                .expect("store"),
        };
        let config = ServerConfig {
            listen: self.addr,
            tls: self
                .identity
                .as_ref()
                .map(coliseum_tls::ServerIdentity::acceptor),
            ..ServerConfig::default()
        };
        let handle = self
            .runtime
            .block_on(async {
                Server::bind(config, Arc::clone(&store))
                    .await
                    .map(Server::spawn)
            })
            .expect("bind");
        self.addr = handle.local_addr();
        self.handle = Some(handle);
        self.store = Some(store);
    }

    /// Stops serving and closes the store (the data stays on disk).
    pub fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.runtime.block_on(handle.shutdown()).expect("shutdown");
        }
        self.store = None;
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_deref().expect("store is open")
    }

    pub fn add_admin(&self, username: &str, password: &str) {
        self.runtime
            .block_on(coliseum_server::admin::add_admin(
                self.store(),
                username,
                password,
                None,
            ))
            .expect("admin add");
    }

    /// Runs `future` on the server's runtime (e.g. a request of a
    /// [`TestServer::member`] client).
    pub fn runtime_block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A protocol client logged in as a new account `username`.
    pub fn member(&self, username: &str) -> Client {
        self.runtime.block_on(async {
            let (client, _pushes) = Client::connect(self.addr).await.expect("connect");
            client
                .register(username, PASSWORD, &format!("{username}@example.com"))
                .await
                .expect("register");
            client.login(username, PASSWORD).await.expect("login");
            client
        })
    }
}

/// A TCP relay on its own port to a server, which can be cut: to the
/// clients it is a server instance going away (connections closed, the
/// port refusing), while the server behind it keeps running.
pub struct Front {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Front {
    /// Relays `127.0.0.1:<free port>` to `upstream`, on `runtime`.
    pub fn start(runtime: &tokio::runtime::Runtime, upstream: SocketAddr) -> Self {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind front");
        let addr = listener.local_addr().expect("front addr");
        let task = runtime.spawn(async move {
            // Dropped with this task: every relay is aborted, its sockets closed.
            let mut relays = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                relays.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { addr, task }
    }

    /// Stops listening and closes every relayed connection.
    pub fn cut(&self) {
        self.task.abort();
    }
}

/// The MongoDB test server's URI from `COLISEUM_TEST_MONGODB_URI`, or
/// `None` (the test is skipped, saying so) when it is not set — which CI
/// (`CI=true`, where it is always set) does not accept.
pub fn mongo_uri(test: &str) -> Option<String> {
    const URI_VAR: &str = "COLISEUM_TEST_MONGODB_URI";
    let uri = std::env::var(URI_VAR).ok().filter(|u| !u.trim().is_empty());
    if uri.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{URI_VAR} is not set but CI=true: this MongoDB test must run in CI"
        );
        eprintln!("skipping: set {URI_VAR} to run {test} on MongoDB");
    }
    uri
}

/// The runtime a test server runs on.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The TLS identity kept in `dir` (generated on first use).
pub fn identity(dir: &std::path::Path) -> coliseum_tls::ServerIdentity {
    coliseum_tls::load_or_create_server_identity(dir, None, None).expect("TLS identity")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = self.runtime.block_on(handle.shutdown());
        }
    }
}
