//! CI-sized smoke run of every scenario against the real binaries
//! (`coliseum-bench` launching `coliseum-server` from the same target
//! directory), and of one scenario spread over two in-process server
//! instances sharing one store (`--addr A,B`). Asserts only correctness —
//! the exit status, the JSON line, nothing lost, nothing oversold — never
//! speed.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bound on one bench run (they take seconds; argon2 in a debug build and a
/// busy CI machine can make set-up slow).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn bench() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_coliseum-bench"))
}

/// The `coliseum-server` binary next to the bench. `cargo test --workspace`
/// builds it; if it is missing (e.g. `cargo test -p coliseum-bench` on a
/// clean tree) it is built here first, once.
fn server() -> &'static Path {
    static SERVER: OnceLock<PathBuf> = OnceLock::new();
    SERVER.get_or_init(|| {
        let path = bench().with_file_name("coliseum-server");
        if !path.is_file() {
            eprintln!(
                "{} is missing: building it with `cargo build -p coliseum-server-bin`",
                path.display()
            );
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "-p", "coliseum-server-bin"]);
            // Same profile as this test's binaries (target/<profile>/...).
            if bench()
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|p| p == "release")
            {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build");
            assert!(status.success(), "building coliseum-server failed");
        }
        assert!(path.is_file(), "no server binary at {}", path.display());
        path
    })
}

/// Runs the bench with `args` (bounded by [`RUN_TIMEOUT`]), launching the
/// server binary; returns the exit code, the parsed JSON line and stderr.
fn run(args: &[&str]) -> (Option<i32>, Value, String) {
    run_with(args, &["--server-bin".as_ref(), server().as_os_str()])
}

/// [`run`] with `extra` arguments instead of `--server-bin` (none when the
/// bench drives running servers).
fn run_with(args: &[&str], extra: &[&std::ffi::OsStr]) -> (Option<i32>, Value, String) {
    let mut child = Command::new(bench())
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start coliseum-bench");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("coliseum-bench {args:?} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one JSON line on stdout: {stdout}\n{stderr}"
    );
    let json: Value = serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{stderr}", lines[0]));
    (status.code(), json, stderr)
}

fn u(json: &Value, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing or not an integer in {json}"))
}

fn assert_common(json: &Value, scenario: &str, code: Option<i32>, stderr: &str) {
    assert_eq!(json["scenario"], scenario, "{json}");
    assert_eq!(
        json["ok"], true,
        "violations: {}\n{stderr}",
        json["violations"]
    );
    assert_eq!(json["violations"].as_array().map(Vec::len), Some(0));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["server"]["launched"], true);
    assert!(json["machine"]["nproc"].as_u64().unwrap_or(0) >= 1);
}

#[test]
fn fanout_delivers_every_message_to_every_client() {
    let (code, json, stderr) = run(&[
        "fanout",
        "--clients",
        "5",
        "--senders",
        "2",
        "--rate",
        "50",
        "--secs",
        "1",
        "--settle-secs",
        "0.2",
    ]);
    assert_common(&json, "fanout", code, &stderr);
    assert_eq!(json["settle_secs"].as_f64(), Some(0.2), "{json}");
    // The sending phase's own peak: reset when it starts, never above the
    // whole run's.
    let phase_peak = u(&json, "server_phase_vmhwm_bytes");
    let run_peak = u(&json["server"], "vmhwm_bytes");
    assert!(phase_peak > 0 && phase_peak <= run_peak, "{json}");
    let sent = u(&json, "sent");
    assert!(sent > 0, "{json}");
    assert_eq!(u(&json, "expected_deliveries"), sent * 5);
    assert_eq!(u(&json, "delivered"), sent * 5, "{json}");
    assert_eq!(u(&json, "lost"), 0);
    assert_eq!(u(&json, "disconnected_clients"), 0);
    assert_eq!(json["latency"]["count"].as_u64(), Some(sent * 5));
}

#[test]
fn fanout_with_lean_receivers_delivers_every_message_too() {
    let (code, json, stderr) = run(&[
        "fanout",
        "--clients",
        "6",
        "--senders",
        "2",
        "--rate",
        "0",
        "--window",
        "4",
        "--secs",
        "0.5",
        "--receivers",
        "lean",
    ]);
    assert_common(&json, "fanout", code, &stderr);
    assert_eq!(json["receivers"], "lean");
    let sent = u(&json, "sent");
    assert!(sent > 0, "{json}");
    assert_eq!(u(&json, "delivered"), sent * 6, "{json}");
    assert_eq!(u(&json, "lost"), 0);
}

#[test]
fn onsale_sells_exactly_the_capacity_and_no_more() {
    let (code, json, stderr) = run(&[
        "onsale",
        "--buyers",
        "20",
        "--capacity",
        "50",
        "--max-per-user",
        "3",
    ]);
    assert_common(&json, "onsale", code, &stderr);
    assert_eq!(u(&json, "verified_seats_sold"), 50, "{json}");
    assert_eq!(u(&json, "seats_acknowledged"), 50);
    assert_eq!(u(&json, "oversold"), 0);
    assert_eq!(u(&json, "verified_available"), 0);
    assert!(u(&json, "max_held_by_one_buyer") <= 3);
    assert!(u(&json, "bookings") >= 17, "50 seats at ≤ 3 each: {json}");
}

#[test]
fn onsale_keeps_every_acknowledged_booking_across_a_server_crash() {
    // Wherever the SIGKILL lands, what was acknowledged must be stored,
    // and the seat count must agree with the tickets.
    let (code, json, stderr) = run(&[
        "onsale",
        "--buyers",
        "30",
        "--capacity",
        "300",
        "--max-per-user",
        "10",
        "--kill-after-secs",
        "0.05",
    ]);
    assert_common(&json, "onsale", code, &stderr);
    assert!(stderr.contains("after SIGKILL and restart"), "{stderr}");
    assert_eq!(u(&json, "acknowledged_seats_lost"), 0, "{json}");
    assert_eq!(u(&json, "oversold"), 0);
    assert_eq!(
        u(&json, "verified_available") + u(&json, "verified_seats_sold"),
        300,
        "{json}"
    );
    assert!(u(&json, "verified_seats_sold") >= u(&json, "seats_acknowledged"));
}

#[test]
fn onsale_refuses_a_capacity_that_cannot_sell_out() {
    // 2 buyers × 3 seats can never buy 50: the bench says so (status 2).
    let (code, _, _) = run_raw(&[
        "onsale",
        "--buyers",
        "2",
        "--capacity",
        "50",
        "--max-per-user",
        "3",
    ]);
    assert_eq!(code, Some(2));
}

#[test]
fn idle_connections_are_counted_and_measured() {
    let (code, json, stderr) = run(&[
        "idle",
        "--clients",
        "20",
        "--hold-secs",
        "0.2",
        "--settle-secs",
        "0.2",
    ]);
    assert_common(&json, "idle", code, &stderr);
    assert!(u(&json, "connected_reported_by_server") > 20, "{json}");
    assert!(
        json["server_rss_before_bytes"].as_u64().unwrap_or(0) > 0,
        "{json}"
    );
    assert!(
        json["server_rss_per_connection_bytes"].is_number(),
        "{json}"
    );
}

#[test]
fn logins_all_succeed_and_report_the_hash_parameters() {
    let (code, json, stderr) = run(&["login", "--clients", "5"]);
    assert_common(&json, "login", code, &stderr);
    assert_eq!(u(&json, "logins"), 5);
    assert_eq!(u(&json, "failed_logins"), 0);
    let params = json["password_hash"].as_str().unwrap_or_default();
    assert!(params.starts_with("argon2id"), "{json}");
    assert!(params.contains("m="), "{json}");
}

/// Like [`run`] but for runs that fail before printing a JSON line.
fn run_raw(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bench())
        .args(args)
        .arg("--server-bin")
        .arg(server())
        .stdin(Stdio::null())
        .output()
        .expect("run coliseum-bench");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tiny IRC server for `fanout --proto irc`: registration (`001`), one
/// channel (`JOIN` → `366`), `PRIVMSG` relayed to every other member, and
/// `PING` → `PONG`. Enough for the bench's correctness, nothing more.
fn fake_irc_server() -> std::net::SocketAddr {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let members: Arc<Mutex<Vec<(usize, TcpStream)>>> = Arc::default();
    std::thread::spawn(move || {
        for (id, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            let members = Arc::clone(&members);
            std::thread::spawn(move || {
                let Ok(mut out) = stream.try_clone() else {
                    return;
                };
                let mut nick = String::from("*");
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let (command, rest) = line.split_once(' ').unwrap_or((&line, ""));
                    let reply = match command {
                        "NICK" => {
                            nick = rest.to_owned();
                            continue;
                        }
                        "USER" => format!(":fake 001 {nick} :welcome\r\n"),
                        "JOIN" => {
                            if let Ok(clone) = out.try_clone() {
                                members.lock().expect("members").push((id, clone));
                            }
                            format!(":fake 366 {nick} {rest} :End of NAMES list\r\n")
                        }
                        "PING" => format!(":fake PONG fake {rest}\r\n"),
                        "PRIVMSG" => {
                            let relayed = format!(":{nick}!u@h PRIVMSG {rest}\r\n");
                            for (other, stream) in members.lock().expect("members").iter_mut() {
                                if *other != id {
                                    let _ = stream.write_all(relayed.as_bytes());
                                }
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    if out.write_all(reply.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn fanout_over_irc_delivers_every_message_to_every_other_client() {
    let addr = fake_irc_server().to_string();
    let (code, json, stderr) = run(&[
        "--addr",
        &addr,
        "fanout",
        "--proto",
        "irc",
        "--clients",
        "5",
        "--senders",
        "2",
        "--rate",
        "50",
        "--secs",
        "1",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["ok"], true, "{stderr}");
    assert_eq!(json["proto"], "irc");
    let sent = u(&json, "sent");
    assert!(sent > 0, "{json}");
    assert_eq!(
        u(&json, "expected_deliveries"),
        sent * 4,
        "no echo to the sender"
    );
    assert_eq!(u(&json, "delivered"), sent * 4);
    assert_eq!(u(&json, "lost"), 0);
}

#[test]
fn fanout_over_irc_needs_an_address() {
    let (code, _, stderr) = run_raw(&["fanout", "--proto", "irc", "--clients", "2"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--addr"), "{stderr}");
}

/// Two server instances in this process on one embedded store (the store
/// is what makes them one server; chat between them would need their
/// bus, bookings do not): `onsale --addr A,B` spreads the buyers over both
/// and still sells exactly the capacity.
#[test]
fn onsale_spread_over_two_instances_sells_exactly_the_capacity() {
    use std::sync::Arc;

    use coliseum_server::{Server, ServerConfig, TicketKey};

    const ADMIN_PASSWORD: &str = "admin-password-1";
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("data dir");
    let servers = runtime.block_on(async {
        let store = coliseum_server::open_embedded_store(dir.path())
            .await
            .expect("store");
        coliseum_server::admin::add_admin(&*store, "admin", ADMIN_PASSWORD, None)
            .await
            .expect("admin");
        let mut servers = Vec::new();
        for _ in 0..2 {
            let config = ServerConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                register_per_hour: 0,
                ticket_key: TicketKey::load_or_create(dir.path()).expect("ticket key"),
                ..ServerConfig::default()
            };
            let server = Server::bind(config, Arc::clone(&store))
                .await
                .expect("bind");
            servers.push(server.spawn());
        }
        servers
    });
    let addrs: Vec<String> = servers.iter().map(|s| s.local_addr().to_string()).collect();
    let (code, json, stderr) = run_with(
        &[
            "--addr",
            &addrs.join(","),
            "--admin-user",
            "admin",
            "--admin-password",
            ADMIN_PASSWORD,
            "onsale",
            "--buyers",
            "12",
            "--capacity",
            "30",
            "--max-per-user",
            "3",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["ok"], true, "{json}\n{stderr}");
    assert_eq!(u(&json, "verified_seats_sold"), 30, "{json}");
    assert_eq!(u(&json, "seats_acknowledged"), 30);
    assert_eq!(u(&json, "oversold"), 0);
    assert_eq!(u(&json, "verified_available"), 0);
    assert_eq!(u(&json, "acknowledged_seats_lost"), 0);
    // Both instances took buyers: the bench's count, and the servers' own
    // (each verified passwords: the set-up logins were spread too).
    let instances = json["server"]["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 2, "{json}");
    for (instance, addr) in instances.iter().zip(&addrs) {
        assert_eq!(instance["addr"], addr.as_str());
        assert!(u(instance, "connections") >= 6, "{json}");
    }
    assert_eq!(
        json["server_cpu_secs_per_instance"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{json}"
    );
    for server in &servers {
        assert!(server.stats().password_verifications > 0);
    }
    runtime.block_on(async {
        for server in servers {
            server.shutdown().await.expect("shutdown");
        }
    });
}
