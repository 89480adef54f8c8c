//! TLS on the wire (security issue: "A plaintext connection to a default
//! server fails; a TLS client with the pinned fingerprint works; a changed
//! certificate is refused"): in-process servers with
//! `ServerConfig { tls: Some(identity.acceptor()), .. }` and an identity
//! generated in a temporary directory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coliseum_client::{Client, ClientError, Transport};
use coliseum_protocol::Push;
use coliseum_server::{Server, ServerConfig, ServerHandle, open_embedded_store};
use coliseum_tests::{WAIT, expect_push};
use coliseum_tls::{PinStore, ServerIdentity, TlsError, Trust};
use tempfile::TempDir;
use tokio::io::AsyncReadExt as _;

/// The handshake timeout of these servers: short, so the timeout tests end soon.
const HANDSHAKE: Duration = Duration::from_secs(2);

/// A TLS server on `127.0.0.1:0` with its own data dir and identity.
struct TlsServer {
    handle: ServerHandle,
    identity: ServerIdentity,
    _dir: TempDir,
}

impl TlsServer {
    fn addr(&self) -> String {
        self.handle.local_addr().to_string()
    }

    fn pinned(&self) -> Transport {
        Transport::Tls(Trust::Pinned(self.identity.fingerprint()))
    }
}

async fn start_tls() -> TlsServer {
    start_tls_with(|_| {}).await
}

/// As [`start_tls`], with `tune` applied to the configuration last.
async fn start_tls_with(tune: fn(&mut ServerConfig)) -> TlsServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let identity =
        coliseum_tls::load_or_create_server_identity(dir.path(), None, None).expect("identity");
    let store = open_embedded_store(dir.path()).await.expect("store");
    let mut config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        handshake_timeout: HANDSHAKE,
        tls: Some(identity.acceptor()),
        ..ServerConfig::default()
    };
    tune(&mut config);
    let server = Server::bind(config, Arc::clone(&store))
        .await
        .expect("bind");
    TlsServer {
        handle: server.spawn(),
        identity,
        _dir: dir,
    }
}

#[tokio::test]
async fn a_pinned_tls_client_registers_logs_in_books_and_gets_pushes() {
    let server = start_tls().await;
    let (alice, mut alice_pushes) = Client::connect_with(&server.addr(), &server.pinned())
        .await
        .expect("pinned TLS connects");
    alice
        .register("alice", "alice-password-1", "alice@example.com")
        .await
        .expect("register");
    alice
        .login("alice", "alice-password-1")
        .await
        .expect("login");
    let (bob, _bob_pushes) = Client::connect_with(&server.addr(), &server.pinned())
        .await
        .expect("second client");
    bob.register("bob_b", "bob-password-1", "bob@example.com")
        .await
        .expect("register");
    bob.login("bob_b", "bob-password-1").await.expect("login");

    let event = bob.list_events().await.expect("list").remove(0);
    let ticket = bob.book(&event.id, 2, None).await.expect("book over TLS");
    assert_eq!(ticket.quantity, 2);
    let push = expect_push(&mut alice_pushes, |p| matches!(p, Push::EventUpdate { .. })).await;
    assert!(matches!(push, Push::EventUpdate { .. }), "{push:?}");

    bob.chat_send(None, "hello over TLS").await.expect("chat");
    let push = expect_push(&mut alice_pushes, |p| matches!(p, Push::Chat(_))).await;
    let Push::Chat(message) = push else {
        unreachable!()
    };
    assert_eq!(message.text, "hello over TLS");
    server.handle.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn trust_on_first_use_reports_unknown_hosts_and_refuses_a_changed_certificate() {
    let first = start_tls().await;
    let second = start_tls().await;
    assert_ne!(first.identity.fingerprint(), second.identity.fingerprint());
    let pins = tempfile::tempdir().expect("temp dir");
    let store = PinStore::open(pins.path().join("known_servers")).expect("pin store");
    let host = "coliseum.example:7878".to_owned();
    let tofu = Transport::Tls(Trust::TrustOnFirstUse {
        store: store.clone(),
        host: host.clone(),
    });

    // Unknown host: the error carries the fingerprint to show the user.
    match Client::connect_with(&first.addr(), &tofu).await {
        Err(ClientError::Tls(TlsError::UnknownHost {
            host: reported,
            fingerprint,
        })) => {
            assert_eq!(reported, host);
            assert_eq!(fingerprint, first.identity.fingerprint());
        }
        other => panic!("expected UnknownHost, got {:?}", other.map(|_| ())),
    }

    // Pinned: the same server is accepted.
    store.pin(&host, first.identity.fingerprint()).expect("pin");
    Client::connect_with(&first.addr(), &tofu)
        .await
        .expect("the pinned server is accepted");

    // Another certificate under the same host key: refused.
    match Client::connect_with(&second.addr(), &tofu).await {
        Err(ClientError::Tls(TlsError::PinMismatch {
            host: reported,
            expected,
            actual,
            ..
        })) => {
            assert_eq!(reported, host);
            assert_eq!(expected, first.identity.fingerprint());
            assert_eq!(actual, second.identity.fingerprint());
        }
        other => panic!("expected PinMismatch, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_plaintext_client_fails_and_the_server_stays_healthy() {
    let server = start_tls().await;
    let started = tokio::time::Instant::now();
    let plaintext = tokio::time::timeout(WAIT, Client::connect(server.addr().as_str()))
        .await
        .expect("the plaintext client gives up in time");
    assert!(plaintext.is_err(), "plaintext must fail against TLS");
    // The server closed it at its handshake timeout (2 s), well before the
    // client's own welcome timeout (10 s) would have.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );

    let (client, _pushes) = Client::connect_with(&server.addr(), &server.pinned())
        .await
        .expect("the next TLS client is served");
    client.list_events().await.expect("a request works");
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_after_the_timeout() {
    let server = start_tls().await;
    let mut silent = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    let started = tokio::time::Instant::now();
    let mut buf = Vec::new();
    // EOF or a reset: either way the server closed it.
    let _closed = tokio::time::timeout(WAIT, silent.read_to_end(&mut buf))
        .await
        .expect("closed by the server in time");
    assert!(buf.is_empty(), "no bytes before a ClientHello: {buf:?}");
    assert!(
        started.elapsed() >= HANDSHAKE - Duration::from_millis(100),
        "closed at the timeout, not before: {:?}",
        started.elapsed()
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.handle.stats().connections_timed_out < 1 {
        assert!(tokio::time::Instant::now() < deadline, "counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Hardening issue: refusals are said after the TLS handshake, so a TLS
/// client at the server-wide cap reads the `server_full` push (it used to
/// get plaintext bytes and fail with `WRONG_VERSION_NUMBER`).
#[tokio::test]
async fn a_tls_client_past_the_cap_reads_server_full() {
    let server = start_tls_with(|c| c.max_connections = 1).await;
    let (_first, _first_pushes) = Client::connect_with(&server.addr(), &server.pinned())
        .await
        .expect("the first client is admitted");
    let refused = Client::connect_with(&server.addr(), &server.pinned()).await;
    assert!(
        matches!(refused, Err(ClientError::ServerFull { limit: 1 })),
        "{refused:?}"
    );
}

/// As above, at the per-address cap: the `rate_limited` refusal is read
/// over TLS.
#[tokio::test]
async fn a_tls_client_past_the_per_address_cap_reads_rate_limited() {
    let server = start_tls_with(|c| c.max_connections_per_ip = 1).await;
    let (_first, _first_pushes) = Client::connect_with(&server.addr(), &server.pinned())
        .await
        .expect("the first client is admitted");
    let refused = Client::connect_with(&server.addr(), &server.pinned()).await;
    match refused {
        Err(ClientError::Server(body)) => {
            assert_eq!(
                body.code,
                coliseum_protocol::ErrorCode::RateLimited,
                "{body:?}"
            );
        }
        other => panic!("expected rate_limited over TLS, got {other:?}"),
    }
}
