//! `coliseum-server`: runs the Coliseum server, or manages its admins.
//!
//! ```text
//! coliseum-server [--listen ADDR] [--data-dir DIR] [--max-connections N]
//!                 [--max-connections-per-ip N] [--session-ttl SECONDS]
//!                 [--handshake-timeout SECONDS] [--idle-timeout SECONDS]
//!                 [--chat-rate MSGS] [--chat-burst MSGS] [--register-rate N]
//!                 [--register-burst N] [--log FILTER]
//!                 [--tls-cert PEM --tls-key PEM | --insecure-plaintext]
//!                 [--offer-minutes MINUTES]
//! coliseum-server [--data-dir DIR] admin add <USERNAME> [--email EMAIL]
//! coliseum-server [--data-dir DIR] admin add-staff <USERNAME>
//! ```
//!
//! Ticket codes are signed with `DATA_DIR/ticket-signing.key` (Ed25519),
//! created on first start; `server_info` publishes its public key.
//!
//! TLS is the default: with neither `--tls-cert` nor `--tls-key`, a
//! self-signed certificate is generated in `DATA_DIR/tls/` on first start
//! and reused after. The first stdout line is `coliseum-server listening on
//! ADDR (...)`; with TLS the second is `TLS certificate fingerprint (SHA-256):
//! FP (generated|reused|provided: PATH)`, which clients pin.
//!
//! Start-up problems print one line on stderr and exit with status 1.
//! SIGINT (Ctrl-C) and SIGTERM stop the server gracefully.
//!
//! # Layout
//! - this file: the command line ([`Cli`]), logging, store selection
//!   ([`open_store`]), signals, and `admin add`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use coliseum_server::admin::{AdminOutcome, StaffOutcome, add_admin, add_staff};
use coliseum_server::config::defaults;
use coliseum_server::logging::Lossy;
use coliseum_server::{
    ClusterConfig, DataDirLock, Server, ServerConfig, TicketKey, default_data_dir,
    open_embedded_store,
};
use coliseum_store::{OfferPolicy, Store};
use tracing_subscriber::EnvFilter;

/// Coliseum server: members chat in rooms and book event tickets.
///
/// Serves the Coliseum wire protocol (docs/protocol.md) over TLS on the
/// embedded SQLite store. Logs go to stderr; every change is also written to
/// the audit log (tracing target `audit`).
///
/// TLS (1.2 and 1.3) is on by default. Without --tls-cert/--tls-key the
/// server generates a self-signed certificate on first start, keeps it in
/// DATA_DIR/tls/ (cert.pem, key.pem) and reuses it on every later start. At
/// start it prints the certificate's SHA-256 fingerprint on stdout and in the
/// log, e.g. `TLS certificate fingerprint (SHA-256): AB:CD:...`. Clients pin
/// that value: the desktop app shows the fingerprint on the first connection
/// and asks (trust on first use, as SSH does) — compare it with the printed
/// one — and refuses later connections if the certificate changes. To rotate
/// the certificate, delete DATA_DIR/tls/ (or pass new files) and restart;
/// clients then have to re-pin the new fingerprint. Plaintext only with
/// --insecure-plaintext (tests, load generation on loopback).
#[derive(Debug, Parser)]
#[command(name = "coliseum-server", version, about, long_about)]
struct Cli {
    /// Address and port to listen on. The default accepts connections from
    /// this computer only; use 0.0.0.0:7878 to accept other machines.
    #[arg(long, env = "COLISEUM_LISTEN", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,

    /// Directory of the embedded store (created if missing). Default: the
    /// platform's data directory for Coliseum, e.g. ~/.local/share/coliseum.
    #[arg(long, env = "COLISEUM_DATA_DIR", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Keep the data in MongoDB instead of the embedded store, e.g.
    /// mongodb://db.example.org:27017. The URI may hold credentials; it is
    /// never logged. See docs/storage.md for the guarantees per deployment.
    #[arg(long, env = "COLISEUM_MONGODB_URI", global = true, value_name = "URI")]
    mongodb_uri: Option<String>,

    /// MongoDB database name (with --mongodb-uri).
    #[arg(
        long,
        env = "COLISEUM_MONGODB_DB",
        global = true,
        default_value = "coliseum",
        value_name = "NAME"
    )]
    mongodb_db: String,

    /// Seconds a MongoDB call may take before the request fails with
    /// `unavailable` (with --mongodb-uri); also bounds start-up.
    #[arg(long, env = "COLISEUM_MONGODB_TIMEOUT", global = true, default_value_t = 5, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=60))]
    mongodb_timeout: u64,

    /// Run as one of several instances on one MongoDB: join the others
    /// through this NATS server (or cluster: several URLs separated by
    /// commas), e.g. nats://127.0.0.1:4222. Chat, presence, seat counts,
    /// event changes, bans and revocations then reach the clients of every
    /// instance. Needs --mongodb-uri (the embedded store belongs to one
    /// server). See docs/scaling.md.
    #[arg(long, env = "COLISEUM_NATS_URL", value_name = "URL")]
    nats_url: Option<String>,

    /// This instance's name in logs and on the bus (with --nats-url).
    /// Default: this host's name and the listening port, e.g. venue-a:7878.
    #[arg(
        long,
        env = "COLISEUM_INSTANCE_NAME",
        value_name = "NAME",
        requires = "nats_url"
    )]
    instance_name: Option<String>,

    /// The ticket-signing key file (created with a new key if missing).
    /// Every instance of one deployment must use the same key, so that a
    /// ticket booked on one is checked in on another: copy the file to each
    /// host. Default: DATA_DIR/ticket-signing.key.
    #[arg(long, env = "COLISEUM_TICKET_KEY", value_name = "FILE")]
    ticket_key: Option<PathBuf>,

    /// Most clients connected at once; the next one is refused with
    /// `server_full`.
    #[arg(long, env = "COLISEUM_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// Most clients connected at once from one address (an IPv4 address, or
    /// an IPv6 /64 network); the next one gets a `rate_limited` error frame
    /// and is closed. 0 turns the cap off (load tests from one machine).
    #[arg(
        long,
        env = "COLISEUM_MAX_CONNECTIONS_PER_IP",
        default_value_t = defaults::MAX_CONNECTIONS_PER_IP,
        value_name = "N"
    )]
    max_connections_per_ip: u32,

    /// How long a session token stays valid after login, in seconds.
    /// The default is 7 days; logout and a password change revoke tokens
    /// sooner.
    #[arg(long, env = "COLISEUM_SESSION_TTL", default_value_t = defaults::SESSION_TTL_SECS, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    session_ttl: u64,

    /// Seconds a connection that is not logged in may take to send each
    /// complete request (sending nothing, or half a frame, counts alike);
    /// then it is closed without a word. 0 = never.
    #[arg(
        long,
        env = "COLISEUM_HANDSHAKE_TIMEOUT",
        default_value_t = defaults::HANDSHAKE_TIMEOUT_SECS,
        value_name = "SECONDS"
    )]
    handshake_timeout: u64,

    /// Seconds a logged-in connection may stay without sending a complete
    /// request (pushes it receives do not count); then it is closed without
    /// a word and the client should reconnect and `resume`. 0 = never. The
    /// default is 5 minutes.
    #[arg(
        long,
        env = "COLISEUM_IDLE_TIMEOUT",
        default_value_t = defaults::IDLE_TIMEOUT_SECS,
        value_name = "SECONDS"
    )]
    idle_timeout: u64,

    /// Chat messages one user may send per second, across all their
    /// connections; more get `rate_limited` with `retry_after_ms`.
    /// 0 = unlimited (load tests).
    #[arg(
        long,
        env = "COLISEUM_CHAT_RATE",
        default_value_t = defaults::CHAT_RATE,
        value_name = "MSGS_PER_SECOND"
    )]
    chat_rate: u32,

    /// Chat messages one user may send in a burst before --chat-rate
    /// applies (the token bucket's size).
    #[arg(long, env = "COLISEUM_CHAT_BURST", default_value_t = defaults::CHAT_BURST, value_name = "MSGS", value_parser = clap::value_parser!(u32).range(1..))]
    chat_burst: u32,

    /// Accounts one address (an IPv4 address, or an IPv6 /64) may register
    /// per hour; more are refused with `rate_limited` and `retry_after_ms`
    /// before any password is hashed. 0 = unlimited (load tests).
    #[arg(long, env = "COLISEUM_REGISTER_RATE", default_value_t = defaults::REGISTER_PER_HOUR, value_name = "ACCOUNTS_PER_HOUR")]
    register_rate: u32,

    /// Accounts one address may register in a burst before --register-rate
    /// applies (the token bucket's size).
    #[arg(long, env = "COLISEUM_REGISTER_BURST", default_value_t = defaults::REGISTER_BURST, value_name = "ACCOUNTS", value_parser = clap::value_parser!(u32).range(1..))]
    register_burst: u32,

    /// While chat and seat pushes keep coming, write to each client at
    /// most once per this many milliseconds, so a busy room costs one write
    /// per client per interval instead of one per message (adds at most
    /// this much to a push's latency; answers to requests never wait).
    /// 0 = write every push at once.
    #[arg(
        long,
        env = "COLISEUM_WRITE_COALESCE_MS",
        default_value_t = defaults::WRITE_COALESCE_MS,
        value_name = "MILLISECONDS",
        value_parser = clap::value_parser!(u64).range(0..=1_000)
    )]
    write_coalesce_ms: u64,

    /// Password hashing worker threads (argon2id, ~19 MiB of working memory
    /// each, kept and reused; logins are served before registrations).
    /// Default: the number of CPUs.
    #[arg(long, env = "COLISEUM_HASH_WORKERS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    hash_workers: Option<u16>,

    /// How long the seats offered to the first person on a waiting list
    /// stay held for them; then they go to the next in line.
    #[arg(
        long,
        env = "COLISEUM_OFFER_MINUTES",
        default_value_t = 10,
        value_name = "MINUTES",
        value_parser = clap::value_parser!(u32).range(1..=10_080)
    )]
    offer_minutes: u32,

    /// PEM file with the server's certificate chain (leaf first), e.g. from
    /// a public CA; requires --tls-key. Without both, a self-signed
    /// certificate is generated in DATA_DIR/tls/ and reused.
    #[arg(
        long,
        env = "COLISEUM_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key",
        conflicts_with = "insecure_plaintext"
    )]
    tls_cert: Option<PathBuf>,

    /// PEM file with the private key of --tls-cert (PKCS#8, PKCS#1 or SEC1);
    /// requires --tls-cert.
    #[arg(
        long,
        env = "COLISEUM_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert",
        conflicts_with = "insecure_plaintext"
    )]
    tls_key: Option<PathBuf>,

    /// Serve unencrypted TCP instead of TLS: passwords, session tokens and
    /// chat cross the network in the clear. Only for tests and load
    /// generation on loopback; logs a warning at start.
    #[arg(long)]
    insecure_plaintext: bool,

    /// Log filter in tracing's env-filter syntax, e.g. `info`, `debug`,
    /// `warn,audit=info`. Defaults to the RUST_LOG variable, else `info`.
    #[arg(
        long,
        env = "RUST_LOG",
        default_value = "info",
        global = true,
        value_name = "FILTER"
    )]
    log: String,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage administrators (the only way an account becomes admin).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
enum AdminAction {
    /// Create USERNAME as an admin, or promote the existing account and set
    /// its password. The password is asked twice on a terminal, or read from
    /// the first line of standard input when that is not a terminal (for
    /// scripts: `echo "$PW" | coliseum-server admin add alice`).
    Add {
        /// The account's username (3–32 letters, digits, '_', '-', '.').
        username: String,
        /// E-mail address of the account. A new account without one gets
        /// USERNAME@coliseum.invalid.
        #[arg(long)]
        email: Option<String>,
    },
    /// Make the existing account USERNAME door staff: it may check tickets
    /// in (`check_in`) and list an event's attendees. Takes effect at its
    /// next login.
    AddStaff {
        /// The account's username.
        username: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = init_logging(&cli.log) {
        complain(format_args!("coliseum-server: {err}"));
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            complain(format_args!(
                "coliseum-server: cannot start the async runtime: {err}"
            ));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            None => serve(&cli).await,
            Some(Command::Admin {
                action: AdminAction::Add { username, email },
            }) => admin_add(&cli, username, email.as_deref()).await,
            Some(Command::Admin {
                action: AdminAction::AddStaff { username },
            }) => admin_add_staff(&cli, username).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            complain(format_args!("coliseum-server: {err}"));
            ExitCode::FAILURE
        }
    }
}

/// One line on stdout; a stdout that cannot be written (closed, full disk)
/// is ignored rather than a panic (`println!` panics).
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_fmt(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

/// One line on stderr, as [`say`] (`eprintln!` panics on a broken stderr).
fn complain(line: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line).and_then(|()| err.write_all(b"\n"));
}

fn init_logging(filter: &str) -> Result<(), String> {
    let filter =
        EnvFilter::try_new(filter).map_err(|e| format!("invalid --log filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // A log that cannot be written never stops the server: the line is
        // dropped and counted (coliseum_server::logging).
        .with_writer(|| Lossy::new(std::io::stderr()))
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))
}

/// Opens the store the command line selects. The one place that knows
/// about backends: MongoDB with `--mongodb-uri`, else the embedded SQLite
/// store in `--data-dir`. Either way the seed events are loaded into an
/// empty store.
async fn open_store(cli: &Cli) -> Result<(Arc<dyn Store>, String), String> {
    if let Some(uri) = &cli.mongodb_uri {
        let options = coliseum_store_mongo::MongoOptions {
            uri: uri.clone(),
            database: cli.mongodb_db.clone(),
            timeout: Duration::from_secs(cli.mongodb_timeout),
        };
        let store = coliseum_store_mongo::MongoStore::connect(options)
            .await
            .map_err(|e| format!("cannot open the MongoDB store: {e}"))?;
        let store: Arc<dyn Store> = Arc::new(store);
        let events = coliseum_store::seed::default_events()?;
        store
            .seed_events(events)
            .await
            .map_err(|e| format!("cannot seed the MongoDB store: {e}"))?;
        return Ok((
            store,
            format!(
                "mongodb database {} (booking with guarded single-document updates)",
                cli.mongodb_db
            ),
        ));
    }
    let dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    let store = open_embedded_store(&dir)
        .await
        .map_err(|e| format!("cannot open the store in {}: {e}", dir.display()))?;
    Ok((store, format!("sqlite in {}", dir.display())))
}

/// The transport the command line selects: `None` for
/// `--insecure-plaintext`, else the TLS identity from `--tls-cert`/`--tls-key`
/// or generated/reused in `DATA_DIR/tls/` (also with `--mongodb-uri`).
fn load_identity(cli: &Cli) -> Result<Option<coliseum_tls::ServerIdentity>, String> {
    if cli.insecure_plaintext {
        return Ok(None);
    }
    let dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    coliseum_tls::load_or_create_server_identity(
        &dir,
        cli.tls_cert.as_deref(),
        cli.tls_key.as_deref(),
    )
    .map(Some)
    .map_err(|e| format!("cannot set up TLS: {e}"))
}

/// How the start-up line names where the identity came from.
fn origin_word(origin: coliseum_tls::IdentityOrigin) -> &'static str {
    match origin {
        coliseum_tls::IdentityOrigin::Generated => "generated",
        coliseum_tls::IdentityOrigin::Reused => "reused",
        coliseum_tls::IdentityOrigin::Provided => "provided",
    }
}

async fn serve(cli: &Cli) -> Result<(), String> {
    if cli.nats_url.is_some() && cli.mongodb_uri.is_none() {
        return Err(
            "--nats-url needs --mongodb-uri: several instances share one MongoDB; \
             the embedded store belongs to one server"
                .to_owned(),
        );
    }
    // Held until the server has stopped: one server per data directory.
    let data_dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    let _lock = DataDirLock::acquire(&data_dir).map_err(|e| e.to_string())?;
    let identity = load_identity(cli)?;
    let ticket_key = match &cli.ticket_key {
        Some(path) => TicketKey::load_or_create_file(path),
        None => TicketKey::load_or_create(&data_dir),
    }
    .map_err(|e| e.to_string())?;
    let (store, described) = open_store(cli).await?;
    // No name: the server names itself after the host and the port bound.
    let cluster = cli
        .nats_url
        .as_ref()
        .map(|url| ClusterConfig::new(url.clone(), cli.instance_name.clone().unwrap_or_default()));
    let config = ServerConfig {
        listen: cli.listen,
        max_connections: usize::try_from(cli.max_connections).unwrap_or(usize::MAX),
        max_connections_per_ip: usize::try_from(cli.max_connections_per_ip).unwrap_or(usize::MAX),
        session_ttl: Duration::from_secs(cli.session_ttl),
        handshake_timeout: Duration::from_secs(cli.handshake_timeout),
        idle_timeout: Duration::from_secs(cli.idle_timeout),
        chat_rate: cli.chat_rate,
        chat_burst: cli.chat_burst,
        register_per_hour: cli.register_rate,
        register_burst: cli.register_burst,
        write_coalesce: Duration::from_millis(cli.write_coalesce_ms),
        hash_concurrency: cli
            .hash_workers
            .map_or(ServerConfig::default().hash_concurrency, usize::from),
        tls: identity
            .as_ref()
            .map(coliseum_tls::ServerIdentity::acceptor),
        offers: OfferPolicy {
            hold: chrono::Duration::minutes(i64::from(cli.offer_minutes)),
        },
        ticket_key,
        cluster: cluster.clone(),
        ..ServerConfig::default()
    };
    let server = match Server::bind(config, Arc::clone(&store)).await {
        Ok(server) => server,
        Err(err) => {
            let _ = store.close().await;
            return Err(format!("cannot listen on {}: {err}", cli.listen));
        }
    };
    let transport = if identity.is_some() {
        "TLS"
    } else {
        "PLAINTEXT"
    };
    say(format_args!(
        "coliseum-server listening on {} (store: {described}; transport: {transport})",
        server.local_addr()
    ));
    if let Some(cluster) = &cluster {
        let name = if cluster.instance_name.is_empty() {
            ClusterConfig::default_instance_name(server.local_addr().port())
        } else {
            cluster.instance_name.clone()
        };
        say(format_args!(
            "instance {name} of several: pushes cross over NATS (see docs/scaling.md)"
        ));
    }
    match &identity {
        Some(identity) => {
            let fingerprint = identity.fingerprint();
            let origin = origin_word(identity.origin());
            let cert = identity.cert_path().display();
            say(format_args!(
                "TLS certificate fingerprint (SHA-256): {fingerprint} ({origin}: {cert})"
            ));
            tracing::info!(%fingerprint, origin, %cert, "TLS certificate fingerprint (SHA-256)");
        }
        None => tracing::warn!(
            "--insecure-plaintext: serving WITHOUT TLS; passwords, session tokens and chat \
             cross the network unencrypted"
        ),
    }
    server
        .run(shutdown_signal())
        .await
        .map_err(|e| format!("stopping the server: {e}"))
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

async fn admin_add(cli: &Cli, username: &str, email: Option<&str>) -> Result<(), String> {
    let password = read_password(username)?;
    let (store, _) = open_store(cli).await?;
    let outcome = add_admin(&*store, username, &password, email).await;
    let closed = store.close().await;
    let outcome = outcome?;
    closed.map_err(|e| format!("closing the store: {e}"))?;
    match outcome {
        AdminOutcome::Created => say(format_args!("created admin account {username}")),
        AdminOutcome::Promoted => say(format_args!(
            "{username} is now an admin (password updated)"
        )),
    }
    Ok(())
}

async fn admin_add_staff(cli: &Cli, username: &str) -> Result<(), String> {
    let (store, _) = open_store(cli).await?;
    let outcome = add_staff(&*store, username).await;
    let closed = store.close().await;
    let outcome = outcome?;
    closed.map_err(|e| format!("closing the store: {e}"))?;
    match outcome {
        StaffOutcome::Granted => say(format_args!(
            "{username} is now door staff (from their next login)"
        )),
        StaffOutcome::AlreadyStaff => say(format_args!("{username} is door staff already")),
        StaffOutcome::AlreadyAdmin => say(format_args!(
            "{username} is an admin, which includes checking tickets in; nothing changed"
        )),
    }
    Ok(())
}

/// Asks twice on a terminal; otherwise reads the first line of stdin.
fn read_password(username: &str) -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {username}: "))
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let second = rpassword::prompt_password("Repeat the password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != second {
            return Err("the passwords do not match".to_owned());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        if password.is_empty() {
            return Err("no password on stdin (expected it on the first line)".to_owned());
        }
        Ok(password.to_owned())
    }
}
