//! `idle`: C logged-in connections that do nothing; reports the server's
//! resident memory per connection: (VmRSS after all are logged in − VmRSS
//! before connecting) / C, read from `/proc/<server pid>/status`.
//!
//! The accounts (by default one per connection, as real users have;
//! `--accounts` for fewer) are created and logged in first on temporary
//! connections, which are closed before the baseline is read, so the
//! server's password hashing memory is already part of the baseline. Each
//! of the C connections then attaches its account's session with
//! `resume`. Each RSS reading waits (bounded) until the value stops
//! changing; the server's CPU is then measured over `--hold-secs` of
//! idleness.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{CpuReport, Outcome, Stopwatch};
use crate::error::{BenchError, Result};
use crate::procstat::rss_bytes;
use crate::setup::{self, RunNames};
use crate::stats::per_sec;
use crate::target::Target;

/// Arguments of `coliseum-bench idle`.
#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// Idle logged-in connections.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub clients: u64,
    /// Distinct accounts the connections are logged in as (default: one
    /// per connection; issue 12 — one account for all hid the cost of
    /// per-user state and of hashing).
    #[arg(long)]
    pub accounts: Option<u64>,
    /// Before each RSS reading, wait up to this long for the server's RSS
    /// to stop changing (two equal readings 250 ms apart).
    #[arg(long, default_value_t = 3.0)]
    pub settle_secs: f64,
    /// Seconds to hold the idle connections while measuring server CPU.
    #[arg(long, default_value_t = 2.0)]
    pub hold_secs: f64,
}

impl IdleArgs {
    /// Connections the server must accept.
    #[must_use]
    pub fn connections(&self, setup_concurrency: u64) -> u64 {
        self.clients + setup_concurrency + 1
    }
}

#[derive(Debug, Serialize)]
struct IdleReport {
    clients: u64,
    accounts: u64,
    server_rss_before_bytes: Option<u64>,
    server_rss_after_bytes: Option<u64>,
    server_rss_per_connection_bytes: Option<f64>,
    bench_rss_per_connection_bytes: Option<f64>,
    connected_reported_by_server: u64,
    connect_secs: f64,
    connections_per_sec: f64,
    hold_secs: f64,
    server_cpu_secs_while_idle: Option<f64>,
    setup_secs: f64,
    #[serde(flatten)]
    cpu: CpuReport,
}

/// Runs the scenario against `target`.
///
/// # Errors
/// Set-up failures (connect, register, login, resume).
pub async fn run(
    target: &Target,
    args: &IdleArgs,
    connect_concurrency: usize,
    setup_concurrency: usize,
) -> Result<Outcome> {
    let clients = usize::try_from(args.clients).unwrap_or(usize::MAX);
    let accounts_n = args.accounts.unwrap_or(args.clients).clamp(1, args.clients);
    let names = RunNames::random();
    let settle = Duration::from_secs_f64(args.settle_secs.max(0.0));
    let setup_started = Instant::now();
    let accounts = setup::create_accounts(
        &target.addrs,
        &names,
        usize::try_from(accounts_n).unwrap_or(usize::MAX),
        setup_concurrency,
        true,
    )
    .await?;
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let own_pid = std::process::id();
    let before = settled_rss_sum(&target.pids, settle).await;
    let bench_before = rss_bytes(own_pid);

    eprintln!("idle: connecting {clients} clients ...");
    let watch = Stopwatch::start(&target.pids);
    let started = Instant::now();
    let conns =
        setup::connect_resumed(&target.addrs, &accounts, 0, clients, connect_concurrency).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    let cpu = watch.stop();
    // Presence pushes are not needed; drop the receivers, keep the clients.
    let clients_kept: Vec<_> = conns.into_iter().map(|(client, _)| client).collect();
    let after = settled_rss_sum(&target.pids, settle).await;
    let bench_after = rss_bytes(own_pid);

    // One more connection per instance: its welcome says how many that
    // instance counts.
    let mut connected = 0;
    for addr in &target.addrs {
        let (probe, _) = setup::connect(*addr).await?;
        connected += probe.welcome().online;
    }
    let probes = target.addrs.len() as u64;

    let hold = Stopwatch::start(&target.pids);
    tokio::time::sleep(Duration::from_secs_f64(args.hold_secs.max(0.0))).await;
    let held = hold.stop();
    let closed = clients_kept.iter().filter(|c| c.is_closed()).count();

    let per_conn = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some((a as f64 - b as f64) / args.clients as f64),
        _ => None,
    };
    let report = IdleReport {
        clients: args.clients,
        accounts: accounts_n,
        server_rss_before_bytes: before,
        server_rss_after_bytes: after,
        server_rss_per_connection_bytes: per_conn(after, before),
        bench_rss_per_connection_bytes: per_conn(bench_after, bench_before),
        connected_reported_by_server: connected,
        connect_secs,
        connections_per_sec: per_sec(args.clients, connect_secs),
        hold_secs: held.wall_secs,
        server_cpu_secs_while_idle: held.server_cpu_secs,
        setup_secs,
        cpu: cpu.clone(),
    };
    let mut violations = Vec::new();
    if connected < args.clients + probes {
        violations.push(format!(
            "the server counts {connected} connections, expected at least {}",
            args.clients + probes
        ));
    }
    if closed > 0 {
        violations.push(format!(
            "{closed} idle connections were closed by the server"
        ));
    }
    if target.pids.iter().any(Option::is_some) && before.is_none() {
        return Err(BenchError::Setup("cannot read the server's VmRSS".into()));
    }
    let kib =
        |b: Option<f64>| b.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1} KiB", b / 1024.0));
    let mib = |b: Option<u64>| {
        b.map_or_else(
            || "n/a".to_owned(),
            |b| format!("{:.1} MiB", b as f64 / 1_048_576.0),
        )
    };
    let summary = format!(
        "idle: {} logged-in connections ({} accounts), connected in {:.2} s ({:.0}/s)\n\
         server RSS {} → {}: {} per connection (bench: {} per connection)\n\
         server counts {} connections; server CPU while idle for {:.1} s: {}\n\
         {}",
        args.clients,
        accounts_n,
        connect_secs,
        report.connections_per_sec,
        mib(before),
        mib(after),
        kib(report.server_rss_per_connection_bytes),
        kib(report.bench_rss_per_connection_bytes),
        connected,
        held.wall_secs,
        held.server_cpu_secs
            .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2} s")),
        cpu.line(),
    );
    drop(clients_kept);
    Ok(Outcome::new(&report, summary, violations))
}

/// The RSS of every instance (see [`settled_rss`]), summed; `None` unless
/// every one is known.
async fn settled_rss_sum(pids: &[Option<u32>], max: Duration) -> Option<u64> {
    let mut each = Vec::with_capacity(pids.len());
    for pid in pids {
        each.push(settled_rss(*pid, max).await);
    }
    super::sum_known(&each)
}

/// The RSS of `pid` once two readings 250 ms apart agree, or the last
/// reading after `max` (`None` without a pid or when unreadable).
async fn settled_rss(pid: Option<u32>, max: Duration) -> Option<u64> {
    let pid = pid?;
    let deadline = Instant::now() + max;
    let mut last = rss_bytes(pid)?;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss_bytes(pid)?;
        if now == last {
            break;
        }
        last = now;
    }
    Some(last)
}
