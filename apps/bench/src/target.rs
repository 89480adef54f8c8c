//! The server under test: either one or several instances already running
//! (`--addr`, repeatable; clients are spread over them round-robin), or the
//! real `coliseum-server` binary launched as a child process on a free
//! loopback port with a throw-away data directory.
//!
//! Launching mirrors what an operator does (docs/operations in the README):
//! `coliseum-server --data-dir DIR admin add bench-admin` with the password
//! on stdin, then `coliseum-server --listen 127.0.0.1:0 --data-dir DIR
//! --max-connections N`, reading the bound address from the line
//! `coliseum-server listening on ADDR ...` it prints on stdout. Flags that
//! only newer servers have (`--insecure-plaintext`, `--chat-rate 0`,
//! `--max-connections-per-ip 0`, `--log warn`) are passed only when
//! `coliseum-server --help` lists them. The child inherits the bench's
//! raised file-descriptor limit. On drop it gets SIGTERM, then SIGKILL
//! after [`STOP_GRACE`].

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};

/// How long a launched server may take to print its listen address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a launched server gets to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Name of the admin account created in a launched server.
pub const LAUNCHED_ADMIN: &str = "bench-admin";
/// Embedded store file inside a data directory (crates/store's
/// `SqliteStore::DB_FILE_NAME`).
const DB_FILE_NAME: &str = "coliseum.sqlite3";

/// Where and how to reach the server, as chosen on the command line.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// `--addr`: the running server's instances; empty launches one.
    pub addrs: Vec<SocketAddr>,
    /// `--server-pid`: the running instances' pids (none, or one per
    /// address in the same order), for CPU and RSS.
    pub server_pids: Vec<u32>,
    /// `--admin-user` / `--admin-password` of a running server.
    pub admin: Option<(String, String)>,
    /// `--server-bin`: the binary to launch.
    pub server_bin: Option<PathBuf>,
    /// `--data-dir` of a running server (only to read one password hash's
    /// argon2 parameters); a launched server uses a temporary one.
    pub data_dir: Option<PathBuf>,
}

/// A server ready for a scenario: one instance, or several sharing one
/// store.
#[derive(Debug)]
pub struct Target {
    /// Every instance's TCP address (never empty); connection `i` goes to
    /// `addrs[i % len]` ([`Target::addr_for`]).
    pub addrs: Vec<SocketAddr>,
    /// Every instance's pid when known (launched, or `--server-pid`), in
    /// the order of `addrs`.
    pub pids: Vec<Option<u32>>,
    /// An admin's username and password, when known.
    pub admin: Option<(String, String)>,
    /// Its data directory, when known.
    pub data_dir: Option<PathBuf>,
    /// The child process, when the bench launched it.
    launched: Option<Launched>,
}

#[derive(Debug)]
struct Launched {
    child: Child,
    /// The data directory, kept for the server's lifetime (and across a
    /// restart); deleted on drop.
    dir: tempfile::TempDir,
    log: PathBuf,
    flags: Vec<String>,
    bin: PathBuf,
    max_connections: u64,
}

impl Target {
    /// Connects to the server named in `options`, or launches one allowing
    /// `max_connections` clients. `need_admin` creates the launched
    /// server's admin account first.
    ///
    /// # Errors
    /// [`BenchError::Setup`] when the binary is missing, `admin add` fails,
    /// or the server does not print its address within [`START_TIMEOUT`].
    pub fn prepare(
        options: &TargetOptions,
        max_connections: u64,
        need_admin: bool,
    ) -> Result<Self> {
        if !options.addrs.is_empty() {
            let pids = match options.server_pids.len() {
                0 => vec![None; options.addrs.len()],
                n if n == options.addrs.len() => {
                    options.server_pids.iter().copied().map(Some).collect()
                }
                n => {
                    return Err(BenchError::Setup(format!(
                        "{n} --server-pid for {} --addr: give one pid per address, in the same order",
                        options.addrs.len()
                    )));
                }
            };
            return Ok(Self {
                addrs: options.addrs.clone(),
                pids,
                admin: options.admin.clone(),
                data_dir: options.data_dir.clone(),
                launched: None,
            });
        }
        let bin = match &options.server_bin {
            Some(bin) => bin.clone(),
            None => std::env::current_exe()
                .map_err(|e| BenchError::Setup(format!("cannot locate the bench executable: {e}")))?
                .with_file_name("coliseum-server"),
        };
        launch(&bin, max_connections, need_admin)
    }

    /// The first instance: where the admin works and probes go.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The instance connection `i` goes to (round-robin over `addrs`).
    #[must_use]
    pub fn addr_for(&self, i: usize) -> SocketAddr {
        crate::setup::spread(&self.addrs, i)
    }

    /// Flags passed to a launched server beyond the basic ones (for the report).
    #[must_use]
    pub fn extra_flags(&self) -> Vec<String> {
        self.launched
            .as_ref()
            .map(|l| l.flags.clone())
            .unwrap_or_default()
    }

    /// True when the bench launched the server itself.
    #[must_use]
    pub fn is_launched(&self) -> bool {
        self.launched.is_some()
    }

    /// The last lines of a launched server's log (stderr), for error reports.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        let Some(launched) = &self.launched else {
            return String::new();
        };
        let text = std::fs::read_to_string(&launched.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The argon2 parameters of one stored password hash (e.g.
    /// `"argon2id v=19 m=19456,t=2,p=1"`), read from the embedded store's
    /// `users.password_hash` column of `username`; `None` when the data
    /// directory is unknown or the store cannot be read.
    #[must_use]
    pub fn password_hash_params(&self, username: &str) -> Option<String> {
        let path = self.data_dir.as_ref()?.join(DB_FILE_NAME);
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        let phc: String = conn
            .query_row(
                "SELECT password_hash FROM users WHERE username = ?1",
                [username],
                |row| row.get(0),
            )
            .ok()?;
        phc_params(&phc)
    }

    /// Kills a launched server at once (SIGKILL: no graceful shutdown, no
    /// final flush), as a crash or power cut would stop it.
    ///
    /// # Errors
    /// [`BenchError::Setup`] when the server was not launched by the bench.
    pub fn kill_now(&mut self) -> Result<()> {
        let launched = self.launched.as_mut().ok_or_else(|| {
            BenchError::Setup("only a server the bench launched can be killed".into())
        })?;
        let _ = launched.child.kill();
        let _ = launched.child.wait();
        Ok(())
    }

    /// Starts a launched server again on the same data directory (after
    /// [`Target::kill_now`]); `addr` and `pid` change.
    ///
    /// # Errors
    /// As [`Target::prepare`].
    pub fn restart(&mut self) -> Result<()> {
        let launched = self.launched.as_mut().ok_or_else(|| {
            BenchError::Setup("only a server the bench launched can be restarted".into())
        })?;
        let (child, addr) = spawn_server(
            &launched.bin,
            launched.dir.path(),
            launched.max_connections,
            &launched.flags,
            &launched.log,
        )?;
        self.pids = vec![Some(child.id())];
        self.addrs = vec![addr];
        launched.child = child;
        Ok(())
    }

    /// Stops a launched server (SIGTERM, then SIGKILL after [`STOP_GRACE`]).
    /// Returns whether it exited by itself. A running server (`--addr`) is
    /// left alone.
    pub fn stop(&mut self) -> bool {
        match self.launched.as_mut() {
            Some(launched) => stop_child(&mut launched.child),
            None => true,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `"<algorithm> v=<version> <params>"` from a PHC string such as
/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`; `None` if it is not one.
#[must_use]
pub fn phc_params(phc: &str) -> Option<String> {
    let mut parts = phc.strip_prefix('$')?.split('$');
    let algorithm = parts.next()?;
    let version = parts.next()?;
    let params = parts.next()?;
    if !algorithm.starts_with("argon2") || !version.starts_with("v=") || !params.contains("m=") {
        return None;
    }
    Some(format!("{algorithm} {version} {params}"))
}

/// The address in the server's start-up line
/// `coliseum-server listening on 127.0.0.1:40123 (store: ...)`.
#[must_use]
pub fn parse_listen_line(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    rest.split_whitespace().next()?.parse().ok()
}

fn launch(bin: &Path, max_connections: u64, need_admin: bool) -> Result<Target> {
    if !bin.is_file() {
        return Err(BenchError::Setup(format!(
            "server binary {} not found: build it (cargo build --release -p coliseum-server-bin) \
             or pass --server-bin PATH or --addr HOST:PORT",
            bin.display()
        )));
    }
    let help = Command::new(bin)
        .arg("--help")
        .output()
        .map_err(|e| BenchError::Setup(format!("cannot run {} --help: {e}", bin.display())))?;
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut flags = Vec::new();
    for (flag, value) in [
        ("--insecure-plaintext", None),
        ("--chat-rate", Some("0")),
        ("--max-connections-per-ip", Some("0")),
        ("--register-rate", Some("0")),
        ("--log", Some("warn")),
    ] {
        if help.contains(flag) {
            flags.push(flag.to_owned());
            flags.extend(value.map(str::to_owned));
        }
    }

    let dir = tempfile::Builder::new()
        .prefix("coliseum-bench-")
        .tempdir()
        .map_err(|e| BenchError::Setup(format!("cannot create a temporary data dir: {e}")))?;
    let log = dir.path().join("server.log");
    let admin = if need_admin {
        let password = format!("bench-{:016x}", rand::random::<u64>());
        let log_flags: Vec<&str> = if help.contains("--log") {
            vec!["--log", "warn"]
        } else {
            Vec::new()
        };
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path())
            .args(&log_flags)
            .args(["admin", "add", LAUNCHED_ADMIN])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BenchError::Setup(format!("cannot run admin add: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "{password}")
                .map_err(|e| BenchError::Setup(format!("admin add stdin: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| BenchError::Setup(format!("admin add: {e}")))?;
        if !out.status.success() {
            return Err(BenchError::Setup(format!(
                "coliseum-server admin add failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Some((LAUNCHED_ADMIN.to_owned(), password))
    } else {
        None
    };

    let (child, addr) = spawn_server(bin, dir.path(), max_connections, &flags, &log)?;
    Ok(Target {
        addrs: vec![addr],
        pids: vec![Some(child.id())],
        admin,
        data_dir: Some(dir.path().to_path_buf()),
        launched: Some(Launched {
            child,
            dir,
            log,
            flags,
            bin: bin.to_path_buf(),
            max_connections,
        }),
    })
}

/// Starts `bin` serving `dir` on a free loopback port (stderr appended to
/// `log`) and waits for the address it prints.
fn spawn_server(
    bin: &Path,
    dir: &Path,
    max_connections: u64,
    flags: &[String],
    log: &Path,
) -> Result<(Child, SocketAddr)> {
    let log_file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| BenchError::Setup(format!("cannot open {}: {e}", log.display())))?;
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--max-connections"])
        .arg(max_connections.max(1).to_string())
        .arg("--data-dir")
        .arg(dir)
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| BenchError::Setup(format!("cannot start {}: {e}", bin.display())))?;
    let Some(stdout) = child.stdout.take() else {
        stop_child(&mut child);
        return Err(BenchError::Setup("no stdout from the server".into()));
    };
    // A thread reads stdout for the server's whole life (so it never
    // blocks on a full pipe) and hands over the first listening line.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = parse_listen_line(&line)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr);
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(addr) => return Ok((child, addr)),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                if let Ok(Some(status)) = child.try_wait() {
                    let tail = std::fs::read_to_string(log).unwrap_or_default();
                    return Err(BenchError::Setup(format!(
                        "the server exited ({status}) before listening: {}",
                        tail.trim()
                    )));
                }
            }
            Err(_) => {
                stop_child(&mut child);
                return Err(BenchError::Setup(
                    "the server did not print its listen address".into(),
                ));
            }
        }
    }
}

/// SIGTERM, wait up to [`STOP_GRACE`], then SIGKILL. True if it exited in time.
fn stop_child(child: &mut Child) -> bool {
    if let Ok(Some(_)) = child.try_wait() {
        return true;
    }
    let pid = i32::try_from(child.id())
        .ok()
        .map(nix::unistd::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_line_gives_the_bound_address() {
        assert_eq!(
            parse_listen_line(
                "coliseum-server listening on 127.0.0.1:40123 (store: sqlite in /tmp/x)"
            ),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        assert_eq!(
            parse_listen_line("coliseum-server listening on [::1]:7878"),
            "[::1]:7878".parse().ok()
        );
        assert_eq!(
            parse_listen_line("first start: loaded the seed events"),
            None
        );
    }

    #[test]
    fn phc_strings_give_their_argon2_parameters() {
        assert_eq!(
            phc_params("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA").as_deref(),
            Some("argon2id v=19 m=19456,t=2,p=1")
        );
        assert_eq!(phc_params("$2b$12$bcryptstuff"), None);
        assert_eq!(phc_params("plain"), None);
    }
}
