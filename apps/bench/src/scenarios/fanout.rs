//! `fanout`: C logged-in clients in the lobby, S of them sending chat
//! messages at an aggregate R msgs/s for D seconds; every client (senders
//! included, as the server pushes to every logged-in client) should
//! receive every message.
//!
//! - Each message's text is `"<tag> <sender> <seq> <stamp_ns>"`
//!   ([`crate::stats::stamp_text`]): the stamp is the send time on the
//!   bench's monotonic clock, so each receiver computes end-to-end latency
//!   (send → push decoded) without clock skew. At a fixed rate the stamp is
//!   the *scheduled* send time, so a bench or server that falls behind shows
//!   up as latency instead of silently sending less (no coordinated
//!   omission). At `--rate 0` each sender keeps `--window` requests in
//!   flight and stamps the actual send time.
//! - Expected deliveries = messages acknowledged × C. After sending stops
//!   the bench waits until all have arrived or `--drain-secs` pass; what is
//!   missing then is reported as lost (a violation).
//! - Delivered msgs/s = deliveries / (last delivery − first send).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use coliseum_client::{Client, ClientError, Pushes};
use coliseum_protocol::Push;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{CpuReport, Outcome, Stopwatch};
use crate::error::{BenchError, Result};
use crate::lean::{self, LeanConnection};
use crate::setup::{self, RunNames};
use crate::stats::{
    Latencies, LatencySummary, parse_stamp, per_sec, stamp_of, stamp_text, time_base,
};
use crate::target::Target;

/// Arguments of `coliseum-bench fanout`.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Logged-in clients in the lobby (senders included).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub clients: u64,
    /// How many of the clients send.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub senders: u64,
    /// Aggregate messages per second over all senders; 0 = as fast as
    /// each sender's in-flight window allows.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Requests one sender keeps in flight at most (pipelined on its connection).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub window: u64,
    /// Distinct accounts; connections beyond them resume an account's
    /// session (default: min(clients, 100), at least --senders).
    #[arg(long)]
    pub accounts: Option<u64>,
    /// How non-sending clients read pushes: `client` (coliseum_client, full
    /// decode of every push, as the desktop app does) or `lean` (borrow just
    /// the text out of each frame: less bench CPU per delivery).
    #[arg(long, value_enum, default_value_t = Receivers::Client)]
    pub receivers: Receivers,
    /// After sending stops, how long to wait for missing deliveries.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// Seconds to wait between the set-up and the first message, so that
    /// what the set-up's logins held (the server's hashing workers keep
    /// their argon2 memory for 2 s after the last hash) is given back
    /// before the measured phase: its peak RSS is then the fan-out's own.
    /// Default 0: the measured phase starts at once, as a burst of logins
    /// followed by chat would; a figure from a run with a pause must say
    /// so (`settle_secs` in the report).
    #[arg(long, default_value_t = 0.0)]
    pub settle_secs: f64,
    /// The protocol spoken: `coliseum` (default; launches or drives a
    /// Coliseum server) or `irc` (drives the IRC server given by `--addr`,
    /// e.g. ngIRCd, with `--server-pid` for its CPU; see
    /// [`crate::scenarios::fanout_irc`]).
    #[arg(long, value_enum, default_value_t = Proto::Coliseum)]
    pub proto: Proto,
}

/// The server's protocol (see [`FanoutArgs::proto`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// Coliseum's length-prefixed JSON frames.
    Coliseum,
    /// IRC (RFC 1459 lines): NICK/USER, JOIN, PRIVMSG.
    Irc,
}

/// How fan-out receivers read their pushes (see [`FanoutArgs::receivers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Receivers {
    /// `coliseum_client::Client` and its `Pushes` channel.
    Client,
    /// [`crate::lean`] connections.
    Lean,
}

impl FanoutArgs {
    /// Refuses arguments that cannot work.
    ///
    /// # Errors
    /// [`BenchError::Setup`] naming the problem.
    pub fn check(&self) -> Result<()> {
        if self.senders > self.clients {
            return Err(BenchError::Setup(
                "--senders cannot exceed --clients".into(),
            ));
        }
        let rate_ok = self.rate >= 0.0 && self.rate.is_finite();
        let secs_ok = self.secs > 0.0 && self.secs.is_finite();
        let settle_ok = (0.0..=3600.0).contains(&self.settle_secs);
        if !(rate_ok && secs_ok && settle_ok) {
            return Err(BenchError::Setup(
                "--rate must be ≥ 0, --secs > 0 and --settle-secs between 0 and 3600".into(),
            ));
        }
        Ok(())
    }

    /// Connections the server must accept (clients + set-up connections).
    #[must_use]
    pub fn connections(&self, setup_concurrency: u64) -> u64 {
        self.clients + setup_concurrency
    }

    fn accounts(&self) -> u64 {
        self.accounts
            .unwrap_or_else(|| self.clients.min(100))
            .max(self.senders.min(self.clients))
            .clamp(1, self.clients)
    }
}

#[derive(Debug, Serialize)]
struct FanoutReport {
    clients: u64,
    senders: u64,
    accounts: u64,
    offered_rate: f64,
    window: u64,
    receivers: Receivers,
    send_secs: f64,
    sent: u64,
    send_errors: u64,
    send_rate: f64,
    expected_deliveries: u64,
    delivered: u64,
    lost: u64,
    disconnected_clients: u64,
    delivered_per_sec: f64,
    delivery_secs: f64,
    latency: LatencySummary,
    ack_latency: LatencySummary,
    /// Server CPU µs per delivery over the measured phase.
    server_cpu_us_per_delivery: Option<f64>,
    /// Deliveries per server CPU-second (compare with `fanout --proto irc`).
    deliveries_per_server_cpu_sec: Option<f64>,
    setup_secs: f64,
    /// The pause between set-up and sending (`--settle-secs`).
    settle_secs: f64,
    #[serde(flatten)]
    cpu: CpuReport,
}

/// What one receiver saw.
pub(super) struct Received {
    /// This run's messages received.
    pub(super) count: u64,
    /// End-to-end latencies in µs, in arrival order. A plain vector, put
    /// into one histogram after the run: recording into a ~180 KiB
    /// histogram per receiver (1,000 of them) missed the cache on every
    /// delivery (12 % of the bench's CPU, profiled).
    latencies: Vec<u32>,
    last: Option<Instant>,
    /// The connection closed before the end.
    pub(super) closed: bool,
}

impl Received {
    /// Nothing received yet.
    pub(super) fn new() -> Self {
        Self {
            count: 0,
            latencies: Vec::new(),
            last: None,
            closed: false,
        }
    }

    /// Records one delivery of a message stamped `stamp` (ns since the
    /// shared base) arriving now: its end-to-end latency and arrival time.
    /// The caller adds it to `count`.
    pub(super) fn record(&mut self, stamp: u64) {
        let now = Instant::now();
        let micros = stamp_of(now).saturating_sub(stamp) / 1000;
        self.latencies
            .push(u32::try_from(micros).unwrap_or(u32::MAX));
        self.last = Some(now);
    }
}

/// What one sender did.
#[derive(Default)]
struct Sent {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    acks: Latencies,
}

/// Runs the scenario against `target`.
///
/// # Errors
/// Set-up failures (connect, register, login, resume).
pub async fn run(
    target: &Target,
    args: &FanoutArgs,
    connect_concurrency: usize,
    setup_concurrency: usize,
) -> Result<Outcome> {
    args.check()?;
    if args.proto == Proto::Irc {
        return super::fanout_irc::run(target, args, connect_concurrency).await;
    }
    let clients = usize::try_from(args.clients).unwrap_or(usize::MAX);
    let senders = usize::try_from(args.senders).unwrap_or(usize::MAX);
    let accounts_n = usize::try_from(args.accounts()).unwrap_or(usize::MAX);
    let names = RunNames::random();
    let setup_started = Instant::now();
    eprintln!("fanout: creating {accounts_n} accounts, connecting {clients} clients ...");
    let accounts =
        setup::create_accounts(&target.addrs, &names, accounts_n, setup_concurrency, true).await?;
    // Senders always use the client library; the other clients use it too
    // unless `--receivers lean`.
    let lean = args.receivers == Receivers::Lean;
    let client_count = if lean { senders } else { clients };
    let conns = setup::connect_resumed(
        &target.addrs,
        &accounts,
        0,
        client_count,
        connect_concurrency,
    )
    .await?;
    let lean_conns = if lean {
        setup::bounded(clients - senders, connect_concurrency, |i| {
            let account = &accounts[(senders + i) % accounts.len()];
            async move { lean::connect_resumed(target.addr_for(senders + i), account.token()?).await }
        })
        .await?
    } else {
        Vec::new()
    };
    let setup_secs = setup_started.elapsed().as_secs_f64();

    let _ = time_base();
    let stop = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let mut receivers = Vec::with_capacity(clients);
    let mut sender_clients = Vec::with_capacity(senders);
    for (i, (client, pushes)) in conns.into_iter().enumerate() {
        if i < senders {
            sender_clients.push(client.clone());
        }
        receivers.push(tokio::spawn(receive(
            pushes,
            names.tag().to_owned(),
            stop.clone(),
            Arc::clone(&delivered),
            client,
        )));
    }
    for conn in lean_conns {
        receivers.push(tokio::spawn(receive_lean(
            conn,
            names.tag().to_owned(),
            stop.clone(),
            Arc::clone(&delivered),
        )));
    }

    if args.settle_secs > 0.0 {
        eprintln!(
            "fanout: {clients} clients ready in {setup_secs:.1} s; settling for {} s ...",
            args.settle_secs
        );
        tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
    }
    eprintln!(
        "fanout: {clients} clients ready in {setup_secs:.1} s; sending for {} s ...",
        args.secs
    );
    let watch = Stopwatch::start(&target.pids);
    let start = Instant::now();
    let send_for = Duration::from_secs_f64(args.secs);
    let per_sender_rate = args.rate / senders as f64;
    let window = usize::try_from(args.window).unwrap_or(usize::MAX);
    let mut sender_tasks = Vec::with_capacity(senders);
    for (i, client) in sender_clients.into_iter().enumerate() {
        // Spread the senders' schedules evenly over one aggregate interval.
        let offset = if args.rate > 0.0 {
            Duration::from_secs_f64(i as f64 / args.rate)
        } else {
            Duration::ZERO
        };
        sender_tasks.push(tokio::spawn(send(
            client,
            i,
            names.tag().to_owned(),
            per_sender_rate,
            window,
            start + offset,
            start + send_for,
        )));
    }
    let mut sent = Sent::default();
    for task in sender_tasks {
        let s = task
            .await
            .map_err(|e| BenchError::Setup(format!("sender task failed: {e}")))?;
        sent.ok += s.ok;
        sent.errors += s.errors;
        if sent.first_error.is_none() {
            sent.first_error = s.first_error;
        }
        sent.acks.merge(&s.acks);
    }
    let send_secs = start.elapsed().as_secs_f64();
    let expected = sent.ok * args.clients;

    drain(&delivered, expected, args.drain_secs).await;
    let cpu = watch.stop();
    stop.cancel();

    let Collected {
        latencies,
        count,
        last,
        disconnected,
    } = collect(receivers).await?;
    let delivery_secs = last.map_or(0.0, |l| l.saturating_duration_since(start).as_secs_f64());
    let lost = expected.saturating_sub(count);
    let (per_delivery, per_cpu_sec) = server_cost(&cpu, count);
    let report = FanoutReport {
        clients: args.clients,
        senders: args.senders,
        accounts: args.accounts(),
        offered_rate: args.rate,
        window: args.window,
        receivers: args.receivers,
        send_secs,
        sent: sent.ok,
        send_errors: sent.errors,
        send_rate: per_sec(sent.ok, send_secs),
        expected_deliveries: expected,
        delivered: count,
        lost,
        disconnected_clients: disconnected,
        delivered_per_sec: per_sec(count, delivery_secs),
        delivery_secs,
        latency: latencies.summary(),
        ack_latency: sent.acks.summary(),
        server_cpu_us_per_delivery: per_delivery,
        deliveries_per_server_cpu_sec: per_cpu_sec,
        setup_secs,
        settle_secs: args.settle_secs,
        cpu: cpu.clone(),
    };
    let mut violations = delivery_violations(lost, expected, disconnected, sent.ok);
    if sent.errors > 0 {
        violations.push(format!(
            "{} chat_send calls failed (first: {})",
            sent.errors,
            sent.first_error.as_deref().unwrap_or("?")
        ));
    }
    let summary = format!(
        "fanout: {} clients, {} senders, offered {} msgs/s for {:.1} s (window {})\n\
         receivers: {}\n\
         sent {} messages ({:.0} msgs/s), {} errors; deliveries {} of {} expected, {} lost, {} clients disconnected\n\
         delivered {:.0} msgs/s (over {:.2} s)\n\
         end-to-end latency: {}\n\
         chat_send ack latency: {}\n\
         {}",
        report.clients,
        report.senders,
        if args.rate > 0.0 {
            format!("{}", args.rate)
        } else {
            "max".to_owned()
        },
        args.secs,
        args.window,
        match args.receivers {
            Receivers::Client => "client (coliseum_client)",
            Receivers::Lean => "lean",
        },
        report.sent,
        report.send_rate,
        report.send_errors,
        report.delivered,
        report.expected_deliveries,
        report.lost,
        report.disconnected_clients,
        report.delivered_per_sec,
        report.delivery_secs,
        report.latency,
        report.ack_latency,
        cpu.line(),
    );
    Ok(Outcome::new(&report, summary, violations))
}

/// Waits (at most `drain_secs`) until `delivered` reaches `expected`.
pub(super) async fn drain(delivered: &AtomicU64, expected: u64, drain_secs: f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(drain_secs.max(0.0));
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Server CPU µs per delivery, and deliveries per server CPU-second
/// (`None` without the server's CPU or without deliveries).
pub(super) fn server_cost(cpu: &CpuReport, deliveries: u64) -> (Option<f64>, Option<f64>) {
    let per_delivery = cpu
        .server_cpu_secs
        .filter(|_| deliveries > 0)
        .map(|s| s * 1e6 / deliveries as f64);
    (
        per_delivery,
        per_delivery.filter(|u| *u > 0.0).map(|u| 1e6 / u),
    )
}

/// Every receiver's findings together.
pub(super) struct Collected {
    /// End-to-end latencies of every delivery.
    pub latencies: Latencies,
    /// Deliveries.
    pub count: u64,
    /// The last delivery's arrival.
    pub last: Option<Instant>,
    /// Receivers whose connection closed before the end.
    pub disconnected: u64,
}

/// Waits for every receiver task and merges what they saw.
///
/// # Errors
/// [`BenchError::Setup`] if a receiver task panicked.
pub(super) async fn collect(
    receivers: Vec<tokio::task::JoinHandle<Received>>,
) -> Result<Collected> {
    let mut all = Collected {
        latencies: Latencies::new(),
        count: 0,
        last: None,
        disconnected: 0,
    };
    for task in receivers {
        let r = task
            .await
            .map_err(|e| BenchError::Setup(format!("receiver task failed: {e}")))?;
        all.count += r.count;
        r.latencies
            .iter()
            .for_each(|&micros| all.latencies.record_micros(u64::from(micros)));
        all.last = all.last.max(r.last);
        all.disconnected += u64::from(r.closed);
    }
    Ok(all)
}

/// The correctness violations of a fan-out: lost deliveries, disconnected
/// clients, nothing sent.
pub(super) fn delivery_violations(
    lost: u64,
    expected: u64,
    disconnected: u64,
    sent: u64,
) -> Vec<String> {
    let mut violations = Vec::new();
    if lost > 0 {
        violations.push(format!("{lost} of {expected} deliveries lost"));
    }
    if disconnected > 0 {
        violations.push(format!("{disconnected} clients were disconnected"));
    }
    if sent == 0 {
        violations.push("no message was sent".to_owned());
    }
    violations
}

/// Counts this run's chat pushes on one connection and records their
/// latency, until `stop` (or the connection closes). Keeps `client` alive.
async fn receive(
    mut pushes: Pushes,
    tag: String,
    stop: CancellationToken,
    delivered: Arc<AtomicU64>,
    client: Client,
) -> Received {
    let mut out = Received::new();
    // Registered once, not once per frame.
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let first = tokio::select! {
            biased;
            () = &mut stopped => break,
            push = pushes.recv() => push,
        };
        let Some(first) = first else {
            out.closed = true;
            break;
        };
        // Take what is already queued too, then publish the count once.
        let mut batch = 0;
        let mut next = Some(first);
        while let Some(push) = next {
            if let Push::Chat(message) = push
                && let Some(stamp) = parse_stamp(&message.text, &tag)
            {
                out.record(stamp);
                batch += 1;
            }
            next = pushes.try_recv().ok();
        }
        out.count += batch;
        delivered.fetch_add(batch, Ordering::Relaxed);
    }
    drop(client);
    out
}

/// Like [`receive`], on a lean connection.
async fn receive_lean(
    mut conn: LeanConnection,
    tag: String,
    stop: CancellationToken,
    delivered: Arc<AtomicU64>,
) -> Received {
    let mut out = Received::new();
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let frame = tokio::select! {
            biased;
            () = &mut stopped => break,
            frame = conn.next() => frame,
        };
        let Some(Ok(frame)) = frame else {
            out.closed = true;
            break;
        };
        if let Some(text) = lean::chat_text(&frame)
            && let Some(stamp) = parse_stamp(&text, &tag)
        {
            out.record(stamp);
            out.count += 1;
            delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
    out
}

/// Adds one `chat_send` answer (and how long it took) to `out`.
fn account(out: &mut Sent, (result, took): (Result<u64, ClientError>, Duration)) {
    match result {
        Ok(_) => {
            out.ok += 1;
            out.acks.record(took);
        }
        Err(e) => {
            out.errors += 1;
            if out.first_error.is_none() {
                out.first_error = Some(e.to_string());
            }
        }
    }
}

/// Sends stamped messages from `first` until `end`: at `rate` msgs/s on a
/// fixed schedule, or back-to-back within `window` when `rate` is 0.
async fn send(
    client: Client,
    sender: usize,
    tag: String,
    rate: f64,
    window: usize,
    first: Instant,
    end: Instant,
) -> Sent {
    let interval = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let mut next = first;
    let mut seq = 0u64;
    let mut out = Sent::default();
    let mut in_flight = FuturesUnordered::new();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if in_flight.len() >= window {
            // Window full: wait for an answer, but not past the end.
            if let Ok(Some(done)) = tokio::time::timeout_at(end.into(), in_flight.next()).await {
                account(&mut out, done);
            }
            continue;
        }
        let stamp_at = match interval {
            Some(interval) => {
                if next >= end {
                    break;
                }
                if next > now {
                    // Wait for the slot, answering completions meanwhile.
                    tokio::select! {
                        () = tokio::time::sleep_until(next.into()) => {}
                        Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                            account(&mut out, done);
                            continue;
                        }
                    }
                }
                let at = next;
                next += interval;
                at
            }
            None => now,
        };
        let text = stamp_text(&tag, sender, seq, stamp_of(stamp_at));
        seq += 1;
        let client = client.clone();
        in_flight.push(async move {
            let t0 = Instant::now();
            let result = client.chat_send(None, &text).await;
            (result, t0.elapsed())
        });
    }
    // Collect the answers still in flight (bounded: 30 s at most).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline, in_flight.next()).await {
        account(&mut out, done);
    }
    let abandoned = in_flight.len() as u64;
    if abandoned > 0 {
        out.errors += abandoned;
        out.first_error
            .get_or_insert_with(|| "no answer within 30 s".to_owned());
    }
    out
}
