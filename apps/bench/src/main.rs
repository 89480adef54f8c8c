//! `coliseum-bench`: the load generator of the Coliseum server (issue 6).
//!
//! ```text
//! coliseum-bench fanout --clients C --senders S --rate R --secs D [--proto irc --addr A]
//! coliseum-bench onsale --buyers B --capacity K --max-per-user M
//! coliseum-bench idle   --clients C
//! coliseum-bench login  --clients C
//! coliseum-bench --addr A1,A2 [--server-pid P1 --server-pid P2] onsale ...
//! ```
//!
//! By default it launches the real `coliseum-server` (next to its own
//! executable, or `--server-bin`) on a free loopback port with a temporary
//! data directory; with `--addr` it drives a running server instead
//! (`--server-pid` for CPU/RSS, `--admin-user`/`--admin-password` for
//! `onsale`). `--addr` may name several instances of one server sharing a
//! store (repeat the flag or separate them with commas): connection `i`
//! (buyer, client, sender, set-up worker) goes to instance `i mod N`; the
//! admin and probes use the first. `--server-pid` then names one pid per
//! address, in the same order, and the report gives server CPU and RSS
//! summed and per instance (`server_cpu_secs_per_instance`,
//! `server.instances`). One process drives every connection on a
//! multi-threaded tokio runtime, using `coliseum_client`.
//!
//! Output: exactly one JSON line on stdout (stable keys: `scenario`, `ok`,
//! `violations`, the scenario's results, `machine`, `server`), and a
//! readable summary plus progress on stderr. Exit status: 0 when every
//! correctness check passed, 1 on a violation (lost messages, oversold
//! seats, ...), 2 when the scenario could not run.
//!
//! # Layout
//! - [`scenarios`]: `fanout`, `onsale`, `idle`, `login` (one file each).
//! - [`setup`]: unique account names, creating accounts, opening many
//!   logged-in connections with bounded concurrency.
//! - [`lean`]: receive-only connections that skip the full push decode.
//! - [`target`]: launching (or naming) the server under test.
//! - [`stats`]: latency histograms, rates, message send stamps.
//! - [`procstat`]: CPU time and RSS from `/proc`.
//! - [`error`]: the bench's error type, [`error::BenchError`].

mod error;
mod lean;
mod procstat;
mod scenarios;
mod setup;
mod stats;
mod target;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::error::{BenchError, Result};
use crate::scenarios::Outcome;
use crate::target::{Target, TargetOptions};

/// Load generator for the Coliseum server: chat fan-out, an on-sale
/// booking surge, idle connections, logins.
///
/// Prints one JSON line on stdout and a readable summary on stderr. Exit
/// status 0: all correctness checks passed; 1: a violation; 2: could not run.
#[derive(Debug, Parser)]
#[command(name = "coliseum-bench", version, about, long_about)]
struct Cli {
    /// A running server to drive (loopback only). Several instances of one
    /// server (sharing its store): repeat the flag or separate addresses
    /// with commas; clients are spread over them round-robin. Default:
    /// launch `coliseum-server` on a free 127.0.0.1 port with a temporary
    /// data dir.
    #[arg(long, global = true, value_name = "HOST:PORT", value_delimiter = ',')]
    addr: Vec<SocketAddr>,
    /// Pid of the running server given by --addr, to report its CPU and RSS;
    /// with several addresses, one pid per address in the same order
    /// (repeat the flag or separate with commas).
    #[arg(long, global = true, value_name = "PID", value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Admin username of the running server (for onsale).
    #[arg(long, global = true, env = "COLISEUM_BENCH_ADMIN_USER")]
    admin_user: Option<String>,
    /// Admin password of the running server (for onsale).
    #[arg(
        long,
        global = true,
        env = "COLISEUM_BENCH_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    admin_password: Option<String>,
    /// The server binary to launch. Default: `coliseum-server` next to
    /// this executable.
    #[arg(long, global = true, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// Data directory of the running server given by --addr (only read, to
    /// report the argon2 parameters of a stored password hash).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Connections being opened at once.
    #[arg(long, global = true, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    connect_concurrency: u64,
    /// Connections creating accounts at once (each register/login is an
    /// argon2 hash on the server).
    #[arg(long, global = true, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    setup_concurrency: u64,
    /// Upper bound on one whole run, set-up and verification included;
    /// past it the bench gives up (exit status 2).
    #[arg(long, global = true, default_value_t = 1800.0)]
    run_timeout_secs: f64,
    /// Worker threads of the bench's tokio runtime (default: one per CPU).
    #[arg(long, global = true)]
    threads: Option<usize>,

    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// C logged-in clients in the lobby, S sending at R msgs/s in total;
    /// delivered msgs/s, end-to-end latency, messages lost.
    Fanout(scenarios::fanout::FanoutArgs),
    /// B buyers race for the K seats of one event (≤ M each); time to
    /// sell out, bookings/s, latency; verifies exactly K seats sold.
    Onsale(scenarios::onsale::OnsaleArgs),
    /// C logged-in idle connections; the server's RSS per connection.
    Idle(scenarios::idle::IdleArgs),
    /// C accounts log in at once; logins/s and the argon2 parameters.
    Login(scenarios::login::LoginArgs),
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Self::Fanout(_) => "fanout",
            Self::Onsale(_) => "onsale",
            Self::Idle(_) => "idle",
            Self::Login(_) => "login",
        }
    }

    fn check(&self) -> Result<()> {
        match self {
            Self::Fanout(a) => a.check(),
            Self::Onsale(a) => a.check(),
            Self::Idle(_) | Self::Login(_) => Ok(()),
        }
    }

    fn connections(&self, setup: u64) -> u64 {
        match self {
            Self::Fanout(a) => a.connections(setup),
            Self::Onsale(a) => a.connections(setup),
            Self::Idle(a) => a.connections(setup),
            Self::Login(a) => a.connections(setup),
        }
    }
}

/// The machine, for the report (figures mean little without it).
#[derive(Debug, Serialize)]
struct Machine {
    nproc: usize,
    load_avg_start: Option<[f64; 3]>,
    load_avg_end: Option<[f64; 3]>,
    bench_threads: usize,
}

/// The server under test, for the report.
#[derive(Debug, Serialize)]
struct ServerInfo {
    /// The first instance's address.
    addr: String,
    /// The first instance's pid.
    pid: Option<u32>,
    launched: bool,
    extra_flags: Vec<String>,
    /// `VmRSS` at the end of the run, bytes, summed over the instances
    /// (`null` unless every one is known).
    vmrss_bytes: Option<u64>,
    /// `VmHWM` (peak RSS since the server started) at the end of the run,
    /// bytes, summed over the instances.
    vmhwm_bytes: Option<u64>,
    /// Every instance, in the order of `--addr` (one when launched).
    instances: Vec<InstanceInfo>,
}

/// One instance of the server under test, for the report.
#[derive(Debug, Serialize)]
struct InstanceInfo {
    addr: String,
    pid: Option<u32>,
    /// Connections the bench opened to it over the whole run.
    connections: u64,
    /// `VmRSS` at the end of the run, bytes.
    vmrss_bytes: Option<u64>,
    /// `VmHWM` at the end of the run, bytes.
    vmhwm_bytes: Option<u64>,
}

impl InstanceInfo {
    /// The instance at `addr` (pid `pid`), measured now.
    fn measure(addr: SocketAddr, pid: Option<u32>) -> Self {
        Self {
            addr: addr.to_string(),
            pid,
            connections: setup::opened(addr),
            vmrss_bytes: pid.and_then(procstat::rss_bytes),
            vmhwm_bytes: pid.and_then(procstat::run_peak_bytes),
        }
    }
}

/// The JSON line.
#[derive(Debug, Serialize)]
struct Line<'a> {
    scenario: &'static str,
    ok: bool,
    violations: &'a [String],
    #[serde(flatten)]
    results: &'a serde_json::Value,
    machine: Machine,
    server: ServerInfo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Many connections need many descriptors; a launched server inherits this.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).ok();
    match run(&cli) {
        Ok((outcome, line)) => {
            eprintln!("{}", outcome.summary);
            if let Some(limit) = nofile {
                eprintln!("(file-descriptor limit {limit})");
            }
            for violation in &outcome.violations {
                eprintln!("VIOLATION: {violation}");
            }
            println!("{line}");
            if outcome.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("coliseum-bench: {err}");
            ExitCode::from(2)
        }
    }
}

/// The report's `server` object: the first instance, sums, and every
/// instance.
fn server_info(target: &Target) -> ServerInfo {
    let instances: Vec<InstanceInfo> = target
        .addrs
        .iter()
        .zip(&target.pids)
        .map(|(addr, pid)| InstanceInfo::measure(*addr, *pid))
        .collect();
    let sum = |field: fn(&InstanceInfo) -> Option<u64>| {
        scenarios::sum_known(&instances.iter().map(field).collect::<Vec<_>>())
    };
    ServerInfo {
        addr: target.addr().to_string(),
        pid: target.pids.first().copied().flatten(),
        launched: target.is_launched(),
        extra_flags: target.extra_flags(),
        vmrss_bytes: sum(|i| i.vmrss_bytes),
        vmhwm_bytes: sum(|i| i.vmhwm_bytes),
        instances,
    }
}

fn run(cli: &Cli) -> Result<(Outcome, String)> {
    if let Some(addr) = cli.addr.iter().find(|addr| !addr.ip().is_loopback()) {
        return Err(BenchError::Setup(format!(
            "{addr} is not a loopback address: the bench only drives servers on 127.0.0.1 or ::1"
        )));
    }
    cli.scenario.check()?;
    if let Scenario::Fanout(args) = &cli.scenario
        && args.proto == scenarios::fanout::Proto::Irc
        && cli.addr.is_empty()
    {
        return Err(BenchError::Setup(
            "fanout --proto irc drives a running IRC server: give its --addr (and --server-pid)"
                .into(),
        ));
    }
    let options = TargetOptions {
        addrs: cli.addr.clone(),
        server_pids: cli.server_pid.clone(),
        admin: cli.admin_user.clone().zip(cli.admin_password.clone()),
        server_bin: cli.server_bin.clone(),
        data_dir: cli.data_dir.clone(),
    };
    let load_avg_start = procstat::load_average();
    let need_admin = matches!(cli.scenario, Scenario::Onsale(_));
    // Room for the scenario, the set-up connections, and a margin.
    let cap = cli.scenario.connections(cli.setup_concurrency) + 64;
    let mut target = Target::prepare(&options, cap, need_admin)?;
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| BenchError::Setup(format!("cannot start the tokio runtime: {e}")))?;
    let connect = usize::try_from(cli.connect_concurrency).unwrap_or(usize::MAX);
    let setup = usize::try_from(cli.setup_concurrency).unwrap_or(usize::MAX);
    let limit = std::time::Duration::try_from_secs_f64(cli.run_timeout_secs.max(1.0))
        .unwrap_or(std::time::Duration::from_secs(1800));
    let result = runtime.block_on(async {
        let scenario = async {
            match &cli.scenario {
                Scenario::Fanout(args) => {
                    scenarios::fanout::run(&target, args, connect, setup).await
                }
                Scenario::Onsale(args) => {
                    scenarios::onsale::run(&mut target, args, connect, setup).await
                }
                Scenario::Idle(args) => scenarios::idle::run(&target, args, connect, setup).await,
                Scenario::Login(args) => scenarios::login::run(&target, args, connect, setup).await,
            }
        };
        tokio::time::timeout(limit, scenario)
            .await
            .unwrap_or_else(|_| {
                Err(BenchError::Setup(format!(
                    "the run took longer than --run-timeout-secs {}",
                    cli.run_timeout_secs
                )))
            })
    });
    drop(runtime);
    let outcome = result.map_err(|err| {
        let tail = target.log_tail(20);
        if tail.is_empty() {
            err
        } else {
            BenchError::Setup(format!("{err}\n--- server log (last lines) ---\n{tail}"))
        }
    })?;
    let line = Line {
        scenario: cli.scenario.name(),
        ok: outcome.violations.is_empty(),
        violations: &outcome.violations,
        results: &outcome.body,
        machine: Machine {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            load_avg_start,
            load_avg_end: procstat::load_average(),
            bench_threads: threads,
        },
        server: server_info(&target),
    };
    let line = serde_json::to_string(&line)
        .map_err(|e| BenchError::Setup(format!("cannot encode the report: {e}")))?;
    Ok((outcome, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).expect("valid command line")
    }

    #[test]
    fn addr_takes_one_address_as_before() {
        let cli = parse(&[
            "coliseum-bench",
            "--addr",
            "127.0.0.1:7878",
            "login",
            "--clients",
            "1",
        ]);
        assert_eq!(cli.addr, vec![SocketAddr::from(([127, 0, 0, 1], 7878))]);
        assert!(cli.server_pid.is_empty());
        assert!(
            parse(&["coliseum-bench", "login", "--clients", "1"])
                .addr
                .is_empty()
        );
    }

    #[test]
    fn addr_and_server_pid_take_several_repeated_or_comma_separated() {
        let cli = parse(&[
            "coliseum-bench",
            "--addr",
            "127.0.0.1:1,127.0.0.1:2",
            "--server-pid",
            "10,20",
            "--addr",
            "[::1]:3",
            "--server-pid",
            "30",
            "login",
            "--clients",
            "1",
        ]);
        let ports: Vec<u16> = cli.addr.iter().map(SocketAddr::port).collect();
        assert_eq!(ports, vec![1, 2, 3]);
        assert_eq!(cli.server_pid, vec![10, 20, 30]);
    }

    #[test]
    fn server_pids_must_match_the_addresses() {
        let options = |pids: Vec<u32>| TargetOptions {
            addrs: vec![
                SocketAddr::from(([127, 0, 0, 1], 1)),
                SocketAddr::from(([127, 0, 0, 1], 2)),
            ],
            server_pids: pids,
            admin: None,
            server_bin: None,
            data_dir: None,
        };
        let none = Target::prepare(&options(Vec::new()), 1, false).expect("no pids");
        assert_eq!(none.pids, vec![None, None]);
        assert_eq!(none.addr_for(3).port(), 2);
        let both = Target::prepare(&options(vec![7, 8]), 1, false).expect("two pids");
        assert_eq!(both.pids, vec![Some(7), Some(8)]);
        assert!(matches!(
            Target::prepare(&options(vec![7]), 1, false),
            Err(BenchError::Setup(m)) if m.contains("one pid per address")
        ));
    }

    #[test]
    fn only_loopback_addresses_are_driven() {
        let cli = parse(&[
            "coliseum-bench",
            "--addr",
            "127.0.0.1:1,10.0.0.1:2",
            "login",
            "--clients",
            "1",
        ]);
        assert!(matches!(
            run(&cli),
            Err(BenchError::Setup(m)) if m.contains("10.0.0.1:2 is not a loopback address")
        ));
    }
}
