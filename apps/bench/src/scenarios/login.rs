//! `login`: C accounts are registered (timed, as registrations/s), C
//! connections opened, then all log in at the same instant; reports
//! logins/s and login latency. Both register and login cost one argon2id
//! hash on the server, which dominates; the parameters are read from one
//! stored PHC string when the data directory is known (a launched server),
//! else the configured ones are stated.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Barrier;

use super::{CpuReport, Outcome, Stopwatch};
use crate::error::{BenchError, Result};
use crate::setup::{self, PASSWORD, RunNames};
use crate::stats::{Latencies, LatencySummary, per_sec};
use crate::target::Target;

/// The server's configured argon2id parameters (crates/server/src/auth.rs),
/// stated when no stored hash can be read.
const CONFIGURED_PARAMS: &str = "argon2id v=19 m=19456,t=2,p=1";

/// Arguments of `coliseum-bench login`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoginArgs {
    /// Accounts registered, then logged in at once (one connection each).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub clients: u64,
}

impl LoginArgs {
    /// Connections the server must accept.
    #[must_use]
    pub fn connections(&self, setup_concurrency: u64) -> u64 {
        self.clients + setup_concurrency
    }
}

#[derive(Debug, Serialize)]
struct LoginReport {
    clients: u64,
    register_secs: f64,
    registrations_per_sec: f64,
    login_secs: f64,
    logins: u64,
    failed_logins: u64,
    logins_per_sec: f64,
    latency: LatencySummary,
    password_hash: String,
    password_hash_source: &'static str,
    #[serde(flatten)]
    cpu: CpuReport,
}

/// Runs the scenario against `target`.
///
/// # Errors
/// Set-up failures (connect, register).
pub async fn run(
    target: &Target,
    args: &LoginArgs,
    connect_concurrency: usize,
    setup_concurrency: usize,
) -> Result<Outcome> {
    let clients = usize::try_from(args.clients).unwrap_or(usize::MAX);
    let names = RunNames::random();
    eprintln!("login: registering {clients} accounts ...");
    let registering = Instant::now();
    setup::create_accounts(&target.addrs, &names, clients, setup_concurrency, false).await?;
    let register_secs = registering.elapsed().as_secs_f64();
    let conns = setup::bounded(clients, connect_concurrency, |i| {
        setup::connect(target.addr_for(i))
    })
    .await?;

    eprintln!("login: {clients} clients log in at once ...");
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::with_capacity(clients);
    for (i, (client, _pushes)) in conns.into_iter().enumerate() {
        let barrier = Arc::clone(&barrier);
        let username = names.username(i);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let t0 = Instant::now();
            let result = client.login(&username, PASSWORD).await;
            (result.map(drop), t0.elapsed(), client)
        }));
    }
    let watch = Stopwatch::start(&target.pids);
    barrier.wait().await;
    let started = Instant::now();
    let mut latencies = Latencies::new();
    let mut failed = 0u64;
    let mut first_error = None;
    let mut keep = Vec::with_capacity(clients);
    for task in tasks {
        let (result, took, client) = task
            .await
            .map_err(|e| BenchError::Setup(format!("login task failed: {e}")))?;
        match result {
            Ok(()) => latencies.record(took),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
        keep.push(client);
    }
    let login_secs = started.elapsed().as_secs_f64();
    let cpu = watch.stop();
    drop(keep);

    let (password_hash, password_hash_source) =
        match target.password_hash_params(&names.username(0)) {
            Some(params) => (params, "stored PHC string"),
            None => (
                CONFIGURED_PARAMS.to_owned(),
                "server configuration (crates/server/src/auth.rs)",
            ),
        };
    let logins = latencies.count();
    let report = LoginReport {
        clients: args.clients,
        register_secs,
        registrations_per_sec: per_sec(args.clients, register_secs),
        login_secs,
        logins,
        failed_logins: failed,
        logins_per_sec: per_sec(logins, login_secs),
        latency: latencies.summary(),
        password_hash,
        password_hash_source,
        cpu: cpu.clone(),
    };
    let mut violations = Vec::new();
    if failed > 0 {
        violations.push(format!(
            "{failed} logins failed (first: {})",
            first_error.as_deref().unwrap_or("?")
        ));
    }
    let summary = format!(
        "login: {} accounts registered in {:.2} s ({:.1}/s)\n\
         {} logins at once in {:.2} s: {:.1} logins/s, {} failed\n\
         login latency: {}\n\
         password hash: {} (from the {})\n\
         {}",
        args.clients,
        register_secs,
        report.registrations_per_sec,
        args.clients,
        login_secs,
        report.logins_per_sec,
        failed,
        report.latency,
        report.password_hash,
        report.password_hash_source,
        cpu.line(),
    );
    Ok(Outcome::new(&report, summary, violations))
}
