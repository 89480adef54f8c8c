//! The real `coliseum-server` binary: `--help`, `admin add` reading the
//! password from stdin, serving on the embedded store, SIGTERM, start-up
//! errors, and TLS by default (plaintext only with `--insecure-plaintext`,
//! which the tests that are not about TLS pass).

use std::path::Path;
use std::process::{Output, Stdio};

use coliseum_client::{Client, Transport};
use coliseum_protocol::{Push, Role};
use coliseum_tls::{Fingerprint, Trust};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

mod common;
use common::WAIT;

const BIN: &str = env!("CARGO_BIN_EXE_coliseum-server");

fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .env_remove("COLISEUM_LISTEN")
        .env_remove("COLISEUM_DATA_DIR")
        .env_remove("COLISEUM_MAX_CONNECTIONS")
        .env_remove("COLISEUM_MAX_CONNECTIONS_PER_IP")
        .env_remove("COLISEUM_SESSION_TTL")
        .env_remove("COLISEUM_HANDSHAKE_TIMEOUT")
        .env_remove("COLISEUM_IDLE_TIMEOUT")
        .env_remove("COLISEUM_CHAT_RATE")
        .env_remove("COLISEUM_CHAT_BURST")
        .env_remove("COLISEUM_REGISTER_RATE")
        .env_remove("COLISEUM_REGISTER_BURST")
        .env_remove("COLISEUM_TLS_CERT")
        .env_remove("COLISEUM_TLS_KEY")
        .kill_on_drop(true);
    command
}

async fn admin_add(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(data_dir)
        .args(["--log", "warn", "admin", "add"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("admin add finishes")
        .expect("output")
}

/// Starts the server on a free port over plaintext (`--insecure-plaintext`);
/// returns the child and its address, read from the "listening on" line it
/// prints.
async fn serve(data_dir: &Path) -> (Child, String) {
    serve_with(data_dir, &[]).await
}

/// As [`serve`], with extra flags.
async fn serve_with(data_dir: &Path, flags: &[&str]) -> (Child, String) {
    let mut all = vec!["--insecure-plaintext"];
    all.extend_from_slice(flags);
    let (child, addr, second) = start(data_dir, &all, false).await;
    assert!(second.is_none());
    (child, addr)
}

/// A server started with TLS: its address, the fingerprint it printed and
/// where the certificate came from (`generated`, `reused`, `provided`).
struct TlsServer {
    child: Child,
    addr: String,
    fingerprint: Fingerprint,
    origin: String,
}

/// Starts the server on a free port with its default transport (TLS) and
/// parses the fingerprint line it prints after the address line.
async fn serve_tls(data_dir: &Path, flags: &[&str]) -> TlsServer {
    let (child, addr, second) = start(data_dir, flags, true).await;
    let line = second.expect("a fingerprint line");
    let rest = line
        .strip_prefix("TLS certificate fingerprint (SHA-256): ")
        .unwrap_or_else(|| panic!("unexpected second line: {line}"));
    let (fingerprint, origin) = rest
        .split_once(' ')
        .unwrap_or_else(|| panic!("no origin in {line}"));
    let fingerprint: Fingerprint = fingerprint
        .parse()
        .unwrap_or_else(|e| panic!("bad fingerprint in {line}: {e}"));
    let origin = origin
        .trim_start_matches('(')
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    TlsServer {
        child,
        addr,
        fingerprint,
        origin,
    }
}

/// Spawns the server, reads the address line and, when `tls`, the next line.
async fn start(data_dir: &Path, flags: &[&str], tls: bool) -> (Child, String, Option<String>) {
    let mut all = vec!["--log", "warn"];
    all.extend_from_slice(flags);
    start_logging_to(data_dir, &all, tls, Stdio::inherit()).await
}

/// As [`start`] (but without a `--log` level of its own), with the server's
/// stderr (its log) going to `stderr`.
async fn start_logging_to(
    data_dir: &Path,
    flags: &[&str],
    tls: bool,
    stderr: Stdio,
) -> (Child, String, Option<String>) {
    let mut child = command(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = common::next_line(&mut lines, "its address").await;
    let addr = common::listening_addr(&line);
    let expected = if tls {
        "transport: TLS)"
    } else {
        "transport: PLAINTEXT)"
    };
    assert!(line.ends_with(expected), "{line}");
    let second = if tls {
        Some(common::next_line(&mut lines, "its fingerprint").await)
    } else {
        None
    };
    // Keep draining stdout so that the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr, second)
}

#[test]
fn help_explains_every_flag() {
    let output = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--max-connections",
        "--max-connections-per-ip",
        "--session-ttl",
        "--handshake-timeout",
        "--idle-timeout",
        "--chat-rate",
        "--chat-burst",
        "--log",
        "--tls-cert",
        "--tls-key",
        "--insecure-plaintext",
        "--offer-minutes",
        "--nats-url",
        "--instance-name",
        "--ticket-key",
        "admin",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    // Units and defaults are spelled out.
    for text in [
        "[default: 604800]",
        "7 days",
        "0 = unlimited",
        "0 turns the cap off",
        "[default: 30]",
        "[default: 300]",
        "5 minutes",
        "[default: 64]",
        "[default: 20]",
        "self-signed certificate",
        "SHA-256 fingerprint",
        "trust on first use",
        "rotate",
        "[default: 10]",
        "next in line",
    ] {
        assert!(help.contains(text), "--help lacks {text:?}:\n{help}");
    }
    assert!(
        help.contains("127.0.0.1:7878"),
        "default listen address shown"
    );
    let output = std::process::Command::new(BIN)
        .args(["admin", "add", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--email"), "{help}");
    assert!(help.contains("standard input"), "{help}");
}

#[tokio::test]
async fn admin_add_from_stdin_makes_an_admin_who_can_create_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = admin_add(
        dir.path(),
        &["boss", "--email", "boss@example.com"],
        "boss-password-1\n",
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "created admin account boss"
    );

    let (mut child, addr) = serve(dir.path()).await;
    let (client, mut pushes) = Client::connect(addr.as_str()).await.expect("connect");
    let session = client
        .login("boss", "boss-password-1")
        .await
        .expect("login");
    assert_eq!(session.role, Role::Admin);
    assert_eq!(session.email, "boss@example.com");
    let event = client
        .create_event("Premiere", "2027-04-04", "Main Hall", 100, None)
        .await
        .expect("admin creates an event");
    assert_eq!(event.available, 100);
    // First start loaded the seed events too.
    assert_eq!(client.list_events().await.expect("list").len(), 4);

    #[cfg(unix)]
    {
        // SIGTERM: graceful stop, shutdown push, exit status 0.
        let pid = child.id().expect("pid").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let shutdown = tokio::time::timeout(WAIT, async {
            while let Some(push) = pushes.recv().await {
                if let Push::Shutdown { .. } = push {
                    return true;
                }
            }
            false
        })
        .await
        .expect("push or close in time");
        assert!(shutdown, "the shutdown push arrives before the close");
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .expect("exits")
            .expect("status");
        assert!(status.success(), "{status:?}");
    }
    #[cfg(not(unix))]
    {
        drop(pushes);
        child.kill().await.expect("kill");
    }

    // Promoting again (an existing account) sets the new password.
    let output = admin_add(dir.path(), &["boss"], "another-password\r\n").await;
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("now an admin"));
    let (_child, addr) = serve(dir.path()).await;
    let (client, _pushes) = Client::connect(addr.as_str()).await.expect("connect");
    client
        .login("boss", "another-password")
        .await
        .expect("new password");
}

#[tokio::test]
async fn the_limit_flags_reach_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_child, addr) = serve_with(
        dir.path(),
        &["--max-connections-per-ip", "1", "--handshake-timeout", "1"],
    )
    .await;
    let (_first, mut first_pushes) = Client::connect(addr.as_str()).await.expect("connect");
    // The second connection from 127.0.0.1 is over the cap: one error frame.
    let mut second = tokio::net::TcpStream::connect(addr.as_str())
        .await
        .expect("connect");
    let mut frame = Vec::new();
    tokio::time::timeout(WAIT, second.read_to_end(&mut frame))
        .await
        .expect("refused promptly")
        .expect("read");
    let body: serde_json::Value = serde_json::from_slice(frame.get(4..).unwrap_or_default())
        .unwrap_or_else(|e| panic!("one JSON frame, got {frame:?}: {e}"));
    assert_eq!(body["id"], serde_json::Value::Null);
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // The first, anonymous and silent, is closed after about a second.
    tokio::time::timeout(WAIT, async { while first_pushes.recv().await.is_some() {} })
        .await
        .expect("closed by the handshake timeout");
}

#[tokio::test]
async fn admin_add_refuses_a_bad_password_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = admin_add(dir.path(), &["boss"], "short\n").await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("password"), "{stderr}");
    let output = admin_add(dir.path(), &["boss"], "").await;
    assert!(!output.status.success());
}

#[tokio::test]
async fn a_busy_port_is_one_clear_line_and_a_failure_status() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let output = tokio::time::timeout(
        WAIT,
        command(dir.path())
            .args(["--listen", &addr, "--log", "off"])
            .output(),
    )
    .await
    .expect("exits")
    .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_default_server_speaks_tls_only_and_keeps_its_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = serve_tls(dir.path(), &[]).await;
    assert_eq!(server.origin, "generated");
    assert!(dir.path().join("tls").join("cert.pem").is_file());

    // A plaintext client gets no welcome: an error, not a hang.
    let plaintext = tokio::time::timeout(WAIT, Client::connect(server.addr.as_str()))
        .await
        .expect("the plaintext client gives up in time");
    assert!(plaintext.is_err(), "plaintext must not work against TLS");

    // The printed fingerprint, pinned, works.
    let pinned = Transport::Tls(Trust::Pinned(server.fingerprint));
    let (client, _pushes) = Client::connect_with(&server.addr, &pinned)
        .await
        .expect("pinned TLS connects");
    client
        .register("tls_user", "tls-password-1", "tls_user@example.com")
        .await
        .expect("register over TLS");
    client
        .login("tls_user", "tls-password-1")
        .await
        .expect("login over TLS");
    drop(client);

    // Another fingerprint is refused.
    let wrong = Transport::Tls(Trust::Pinned(Fingerprint::of_der(b"not this certificate")));
    let refused = Client::connect_with(&server.addr, &wrong).await;
    assert!(refused.is_err(), "a wrong pin must be refused");

    // A restart on the same data dir reuses the certificate.
    server.child.kill().await.expect("kill");
    let again = serve_tls(dir.path(), &[]).await;
    assert_eq!(again.origin, "reused");
    assert_eq!(again.fingerprint, server.fingerprint);
    let (client, _pushes) = Client::connect_with(&again.addr, &pinned)
        .await
        .expect("the same pin works after a restart");
    client
        .login("tls_user", "tls-password-1")
        .await
        .expect("login after restart");
}

#[tokio::test]
async fn given_certificate_files_are_used_and_reported_as_provided() {
    let generated = tempfile::tempdir().expect("temp dir");
    let identity = coliseum_tls::load_or_create_server_identity(generated.path(), None, None)
        .expect("generate an identity");
    let cert = generated.path().join("tls").join("cert.pem");
    let key = generated.path().join("tls").join("key.pem");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve_tls(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
        ],
    )
    .await;
    assert_eq!(server.origin, "provided");
    assert_eq!(server.fingerprint, identity.fingerprint());
    assert!(!dir.path().join("tls").exists(), "nothing generated");
    Client::connect_with(
        &server.addr,
        &Transport::Tls(Trust::Pinned(server.fingerprint)),
    )
    .await
    .expect("pinned TLS connects");
}

#[tokio::test]
async fn tls_flags_come_in_pairs_and_exclude_plaintext() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &["--tls-cert", "cert.pem"][..],
        &["--tls-key", "key.pem"][..],
        &[
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--insecure-plaintext",
        ][..],
    ] {
        let output = tokio::time::timeout(
            WAIT,
            command(dir.path())
                .args(["--listen", "127.0.0.1:0", "--log", "off"])
                .args(args)
                .output(),
        )
        .await
        .expect("exits")
        .expect("run");
        assert!(!output.status.success(), "{args:?} must be refused");
        assert!(output.stdout.is_empty(), "{args:?}: nothing served");
    }
}

/// Hardening issue: a second server on the same `--data-dir` exits non-zero
/// with one line naming the directory and the first server's pid, while
/// `admin add` still works beside the running server.
#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut first, addr) = serve(dir.path()).await;
    let pid = first.id().expect("first server's pid");
    let output = tokio::time::timeout(
        WAIT,
        command(dir.path())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log",
                "off",
                "--insecure-plaintext",
            ])
            .output(),
    )
    .await
    .expect("the second server exits")
    .expect("run");
    assert!(!output.status.success(), "the second server must not serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "coliseum-server: data directory {} is in use by another coliseum-server (pid {pid})",
            dir.path().display()
        )
    );

    let added = admin_add(dir.path(), &["boss"], "boss-password-1\n").await;
    assert!(added.status.success(), "{added:?}");
    let (client, _pushes) = Client::connect(addr.as_str())
        .await
        .expect("first still serves");
    let session = client
        .login("boss", "boss-password-1")
        .await
        .expect("the admin added beside the server logs in");
    assert_eq!(session.role, Role::Admin);
    first.kill().await.expect("stop the first server");
}

/// Registers and logs in a fresh account on a new connection to `addr`:
/// the server is really serving (welcome, a write, a password hash).
async fn serves_a_new_member(addr: &str, name: &str) {
    let (client, _pushes) = Client::connect(addr).await.expect("welcome");
    client
        .register(name, "member-password-1", &format!("{name}@example.com"))
        .await
        .expect("register");
    client
        .login(name, "member-password-1")
        .await
        .expect("login");
}

/// Hardening issue: with its log on a full disk (`2>/dev/full`) the server
/// used to exit 101 without a word; now the lines are dropped and it serves.
#[tokio::test]
async fn a_log_on_a_full_disk_does_not_stop_the_server() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr, _) = start_logging_to(
        dir.path(),
        // Info level: every connection writes log lines.
        &["--insecure-plaintext", "--log", "info"],
        false,
        Stdio::from(full),
    )
    .await;
    for name in ["first", "second", "third"] {
        serves_a_new_member(&addr, name).await;
    }
    assert!(child.try_wait().expect("status").is_none(), "still running");
    child.kill().await.expect("stop");
}

/// Hardening issue: with stderr piped to a process that has exited, new
/// connections were closed before their `welcome` (a log write failed with
/// EPIPE and the connection task panicked).
#[tokio::test]
async fn a_log_pipe_whose_reader_exited_does_not_stop_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr, _) = start_logging_to(
        dir.path(),
        &["--insecure-plaintext", "--log", "info"],
        false,
        Stdio::piped(),
    )
    .await;
    // The reader of the log goes away.
    drop(child.stderr.take().expect("stderr pipe"));
    for name in ["first", "second", "third"] {
        serves_a_new_member(&addr, name).await;
    }
    assert!(child.try_wait().expect("status").is_none(), "still running");
    child.kill().await.expect("stop");
}

/// Runs `admin add-staff USERNAME` to completion.
async fn admin_add_staff(data_dir: &Path, username: &str) -> Output {
    let child = command(data_dir)
        .args(["--log", "warn", "admin", "add-staff", username])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("admin add-staff finishes")
        .expect("output")
}

#[tokio::test]
async fn add_staff_grants_check_in_and_the_ticket_key_survives_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = admin_add_staff(dir.path(), "nobody").await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no account named nobody"), "{stderr}");

    let (mut child, addr) = serve(dir.path()).await;
    let (client, _pushes) = Client::connect(addr.as_str()).await.expect("connect");
    client
        .register("door", "door-password-1", "door@example.com")
        .await
        .expect("register");
    let key = client.server_info().await.expect("info").public_key;
    child.kill().await.expect("stop");
    child.wait().await.expect("stopped");
    assert!(dir.path().join("ticket-signing.key").exists());

    let output = admin_add_staff(dir.path(), "door").await;
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("door is now door staff"));
    let (_child, addr) = serve(dir.path()).await;
    let (client, _pushes) = Client::connect(addr.as_str()).await.expect("connect");
    let session = client
        .login("door", "door-password-1")
        .await
        .expect("login");
    assert_eq!(session.role, Role::Staff);
    assert_eq!(
        client.server_info().await.expect("info").public_key,
        key,
        "same key"
    );
}

#[tokio::test]
async fn a_damaged_ticket_key_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("ticket-signing.key"), "garbage").expect("write");
    let output = command(dir.path())
        .args(["--insecure-plaintext", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let output = tokio::time::timeout(WAIT, output)
        .await
        .expect("exits")
        .expect("output");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ticket-signing key") && stderr.contains("damaged"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ticket-signing.key")).expect("read"),
        "garbage",
        "never replaced silently"
    );
}

#[tokio::test]
async fn several_instances_need_mongodb_and_say_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = command(dir.path())
        .args(["--insecure-plaintext", "--listen", "127.0.0.1:0"])
        .args(["--nats-url", "nats://127.0.0.1:4222"])
        .env_remove("COLISEUM_MONGODB_URI")
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--nats-url needs --mongodb-uri"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("ticket-signing.key").exists(),
        "nothing was created"
    );
}
