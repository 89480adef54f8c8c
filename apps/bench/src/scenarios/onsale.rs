//! `onsale`: an admin creates one event of `--capacity` seats (at most
//! `--max-per-user` each); `--buyers` accounts connect and log in first,
//! then all start booking at the same instant (a [`tokio::sync::Barrier`]).
//!
//! Each buyer asks for a random 1..=Q seats (Q = `--max-quantity`,
//! default M = `--max-per-user`; never more than it may still hold), and
//! keeps booking until it holds M seats or a request for one seat is
//! `sold_out`; after `sold_out` for q > 1 seats it retries with
//! fewer (random 1..q−1), so the last seats sell too. Other errors are
//! retried a bounded number of times; `--timeout-secs` bounds the run.
//!
//! Afterwards the bench verifies, from the server: `list_events` shows
//! `available == 0`; the sum of every buyer's `my_tickets` for the event is
//! exactly the capacity; nobody holds more than M; and each buyer's stored
//! seats equal the seats the server acknowledged to it. Any mismatch is a
//! violation (exit status 1).

use std::time::{Duration, Instant};

use coliseum_client::{Client, ClientError};
use coliseum_protocol::ErrorCode;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use tokio::sync::Barrier;

use super::{CpuReport, Outcome, Stopwatch};
use crate::error::{BenchError, Result};
use crate::setup::{self, RunNames};
use crate::stats::{Latencies, LatencySummary, per_sec};
use crate::target::Target;

/// Transient errors (`unavailable`, `rate_limited`) one buyer retries
/// before giving up.
const MAX_BUYER_ERRORS: u32 = 20;

/// Arguments of `coliseum-bench onsale`.
#[derive(Debug, Clone, clap::Args)]
pub struct OnsaleArgs {
    /// Concurrent buyers (one account and one connection each).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub buyers: u64,
    /// Seats of the event. Must be ≤ buyers × max-per-user, or it cannot sell out.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub capacity: u32,
    /// Most seats one buyer may hold.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_user: u32,
    /// Most seats one request asks for (default: --max-per-user). Each
    /// request asks for a random 1..=min(this, seats the buyer may still
    /// hold); `--max-quantity 1` makes every booking one seat, so a sale of
    /// K seats is exactly K bookings.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_quantity: Option<u32>,
    /// Give up booking after this many seconds (a violation if not sold out).
    #[arg(long, default_value_t = 120.0)]
    pub timeout_secs: f64,
    /// Seed of the buyers' random quantities (default: random).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Crash test (launched server only): SIGKILL the server this many
    /// seconds into the sale, start it again on the same data directory,
    /// and verify that every booking acknowledged before the crash is
    /// still there (and nothing is oversold). The sale does not finish.
    #[arg(long, value_name = "SECS")]
    pub kill_after_secs: Option<f64>,
}

impl OnsaleArgs {
    /// Refuses arguments that cannot work: B × M < K can never sell out.
    ///
    /// # Errors
    /// [`BenchError::Setup`] naming the problem.
    pub fn check(&self) -> Result<()> {
        if self.buyers.saturating_mul(u64::from(self.max_per_user)) < u64::from(self.capacity) {
            return Err(BenchError::Setup(format!(
                "{} buyers × {} seats each cannot buy {} seats: raise --buyers or --max-per-user",
                self.buyers, self.max_per_user, self.capacity
            )));
        }
        if self.max_per_user > self.capacity {
            return Err(BenchError::Setup(
                "--max-per-user cannot exceed --capacity".into(),
            ));
        }
        Ok(())
    }

    /// Connections the server must accept.
    #[must_use]
    pub fn connections(&self, setup_concurrency: u64) -> u64 {
        self.buyers + setup_concurrency + 1
    }
}

#[derive(Debug, Serialize)]
struct OnsaleReport {
    buyers: u64,
    capacity: u32,
    max_per_user: u32,
    max_quantity: u32,
    seed: u64,
    event_id: String,
    sellout_secs: f64,
    bookings: u64,
    seats_acknowledged: u64,
    bookings_per_sec: f64,
    seats_per_sec: f64,
    book_requests: u64,
    sold_out_answers: u64,
    limit_exceeded_answers: u64,
    retried_answers: u64,
    other_errors: u64,
    latency: LatencySummary,
    request_latency: LatencySummary,
    verified_available: Option<u32>,
    verified_seats_sold: u64,
    oversold: u64,
    max_held_by_one_buyer: u32,
    disconnected_buyers: u64,
    killed_after_secs: Option<f64>,
    acknowledged_seats_lost: u64,
    setup_secs: f64,
    #[serde(flatten)]
    cpu: CpuReport,
}

/// What one buyer did.
#[derive(Debug, Default)]
struct Buyer {
    held: u32,
    bookings: u64,
    requests: u64,
    sold_out: u64,
    limit_exceeded: u64,
    retried: u64,
    errors: u64,
    first_error: Option<String>,
    wrong_quantity: u64,
    timed_out: bool,
    disconnected: bool,
    last_success: Option<Instant>,
    /// Latencies of successful bookings. Plain vectors, not histograms: a
    /// histogram (~180 KiB zeroed) per buyer cost the bench more CPU at
    /// the start of the sale than the bookings themselves (profiled);
    /// they are put into one histogram after the sale.
    latencies: Vec<Duration>,
    /// Latencies of every answered request.
    requests_latencies: Vec<Duration>,
}

/// Runs the scenario against `target`.
///
/// # Errors
/// Set-up failures: no admin credentials, `create_event` refused, a buyer
/// that cannot connect or log in.
pub async fn run(
    target: &mut Target,
    args: &OnsaleArgs,
    connect_concurrency: usize,
    setup_concurrency: usize,
) -> Result<Outcome> {
    let buyers = usize::try_from(args.buyers).unwrap_or(usize::MAX);
    args.check()?;
    let Some((admin_user, admin_password)) = target.admin.clone() else {
        return Err(BenchError::Setup(
            "onsale needs an admin: pass --admin-user and --admin-password with --addr".into(),
        ));
    };
    let kill_after = match args.kill_after_secs {
        Some(secs) if !target.is_launched() => {
            return Err(BenchError::Setup(format!(
                "--kill-after-secs {secs} needs a server the bench launches (no --addr)"
            )));
        }
        Some(secs) => Some(
            Duration::try_from_secs_f64(secs.max(0.0))
                .map_err(|e| BenchError::Setup(format!("--kill-after-secs: {e}")))?,
        ),
        None => None,
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    let names = RunNames::random();
    let setup_started = Instant::now();

    let (admin, _admin_pushes) = setup::connect(target.addr()).await?;
    admin
        .login(&admin_user, &admin_password)
        .await
        .map_err(|e| BenchError::client("admin login", e))?;
    let event = admin
        .create_event(
            &format!("Bench on-sale {}", names.tag()),
            "2031-06-01",
            "Bench Arena",
            args.capacity,
            Some(args.max_per_user),
        )
        .await
        .map_err(|e| BenchError::client("create_event", e))?;

    eprintln!(
        "onsale: event {} created; creating and logging in {buyers} buyers ...",
        event.id
    );
    let accounts =
        setup::create_accounts(&target.addrs, &names, buyers, setup_concurrency, true).await?;
    let conns =
        setup::connect_resumed(&target.addrs, &accounts, 0, buyers, connect_concurrency).await?;
    // Pushes (event_update per booking) are not needed: dropping the
    // receivers keeps them from piling up in memory.
    let clients: Vec<Client> = conns.into_iter().map(|(client, _)| client).collect();
    let setup_secs = setup_started.elapsed().as_secs_f64();

    eprintln!("onsale: {buyers} buyers logged in ({setup_secs:.1} s); booking ...");
    let barrier = std::sync::Arc::new(Barrier::new(buyers + 1));
    let deadline_after = Duration::from_secs_f64(args.timeout_secs.max(0.0));
    let mut tasks = Vec::with_capacity(buyers);
    for (i, client) in clients.iter().enumerate() {
        let client = client.clone();
        let barrier = std::sync::Arc::clone(&barrier);
        let event_id = event.id.clone();
        let max = args.max_per_user;
        let max_quantity = args.max_quantity.unwrap_or(max);
        let rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            buy(
                &client,
                &event_id,
                max,
                max_quantity,
                rng,
                Instant::now() + deadline_after,
            )
            .await
        }));
    }
    let watch = Stopwatch::start(&target.pids);
    barrier.wait().await;
    let start = Instant::now();
    if let Some(after) = kill_after {
        tokio::time::sleep(after).await;
        eprintln!(
            "onsale: killing the server (SIGKILL) {:.3} s into the sale",
            after.as_secs_f64()
        );
        tokio::task::block_in_place(|| target.kill_now())?;
    }
    let mut results = Vec::with_capacity(buyers);
    for task in tasks {
        results.push(
            task.await
                .map_err(|e| BenchError::Setup(format!("buyer task failed: {e}")))?,
        );
    }
    let cpu = watch.stop();

    let mut latencies = Latencies::new();
    let mut request_latencies = Latencies::new();
    let mut last = None;
    let (mut bookings, mut seats, mut requests, mut sold_out, mut limit, mut errors) =
        (0, 0, 0, 0, 0, 0);
    let mut violations = Vec::new();
    let mut first_error = None;
    for b in &results {
        b.latencies.iter().for_each(|l| latencies.record(*l));
        b.requests_latencies
            .iter()
            .for_each(|l| request_latencies.record(*l));
        last = last.max(b.last_success);
        bookings += b.bookings;
        seats += u64::from(b.held);
        requests += b.requests;
        sold_out += b.sold_out;
        limit += b.limit_exceeded;
        errors += b.errors;
        if first_error.is_none() {
            first_error.clone_from(&b.first_error);
        }
    }
    let timed_out = results.iter().filter(|b| b.timed_out).count();
    if timed_out > 0 && kill_after.is_none() {
        violations.push(format!(
            "{timed_out} buyers still booking after {} s",
            args.timeout_secs
        ));
    }
    let wrong = results.iter().map(|b| b.wrong_quantity).sum::<u64>();
    if wrong > 0 {
        violations.push(format!("{wrong} tickets with a quantity other than asked"));
    }
    if errors > 0 {
        violations.push(format!(
            "{errors} buyers stopped on an unexpected error (first: {})",
            first_error.as_deref().unwrap_or("?")
        ));
    }
    if limit > 0 {
        violations.push(format!(
            "{limit} limit_exceeded answers although no buyer asked beyond its allowance"
        ));
    }
    let sellout_secs = last.map_or(0.0, |l: Instant| {
        l.saturating_duration_since(start).as_secs_f64()
    });

    let disconnected = results.iter().filter(|b| b.disconnected).count() as u64;
    let (admin, clients) = if kill_after.is_some() {
        eprintln!("onsale: restarting the server on the same data directory ...");
        tokio::task::block_in_place(|| target.restart())?;
        drop(clients);
        drop(admin);
        let (admin, _) = setup::connect(target.addr()).await?;
        admin
            .login(&admin_user, &admin_password)
            .await
            .map_err(|e| BenchError::client("admin login after restart", e))?;
        let conns =
            setup::connect_resumed(&target.addrs, &accounts, 0, buyers, connect_concurrency)
                .await?;
        (admin, conns.into_iter().map(|(client, _)| client).collect())
    } else {
        if disconnected > 0 {
            violations.push(format!("{disconnected} buyers lost their connection"));
        }
        (admin, clients)
    };

    // Verification from the server's point of view.
    eprintln!("onsale: verifying from list_events and {buyers} buyers' my_tickets ...");
    let events = admin
        .list_events()
        .await
        .map_err(|e| BenchError::client("list_events", e))?;
    let listed = events.iter().find(|e| e.id == event.id);
    let verified_available = listed.map(|e| e.available);
    let held = setup::bounded(buyers, connect_concurrency, |i| {
        let client = clients[i].clone();
        let event_id = event.id.clone();
        async move {
            let tickets = client
                .my_tickets()
                .await
                .map_err(|e| BenchError::client("my_tickets", e))?;
            Ok(tickets
                .iter()
                .filter(|t| t.event_id == event_id)
                .map(|t| u64::from(t.quantity))
                .sum::<u64>())
        }
    })
    .await?;
    let sold: u64 = held.iter().sum();
    let most = held.iter().copied().max().unwrap_or(0);
    let capacity = u64::from(args.capacity);
    let oversold = sold.saturating_sub(capacity);
    let crashed = kill_after.is_some();
    match listed {
        None => violations.push(format!("event {} missing from list_events", event.id)),
        Some(e) if e.capacity != args.capacity => {
            violations.push(format!("capacity changed to {}", e.capacity));
        }
        // After a crash the sale did not finish: the seat count must still
        // agree with the tickets.
        Some(e) if crashed && u64::from(e.available) + sold != capacity => {
            violations.push(format!(
                "after the restart: {} seats available but tickets hold {sold} of {capacity}",
                e.available
            ));
        }
        Some(e) if !crashed && e.available != 0 => {
            violations.push(format!(
                "{} seats still available: not sold out",
                e.available
            ));
        }
        Some(_) => {}
    }
    if oversold > 0 || (!crashed && sold != capacity) {
        violations.push(format!("tickets hold {sold} seats, capacity is {capacity}"));
    }
    if most > u64::from(args.max_per_user) {
        violations.push(format!(
            "a buyer holds {most} seats, the limit is {}",
            args.max_per_user
        ));
    }
    // Seats acknowledged to a buyer must be stored. Without a crash, stored
    // seats must also have been acknowledged; after one, a booking whose
    // answer was lost in the crash may be stored without an acknowledgement.
    let lost: u64 = held
        .iter()
        .zip(&results)
        .map(|(stored, b)| u64::from(b.held).saturating_sub(*stored))
        .sum();
    if lost > 0 {
        violations.push(format!(
            "{lost} acknowledged seats are missing from the tickets"
        ));
    }
    let unacknowledged = held
        .iter()
        .zip(&results)
        .filter(|(stored, b)| **stored > u64::from(b.held))
        .count();
    if !crashed && unacknowledged > 0 {
        violations.push(format!(
            "{unacknowledged} buyers hold more seats than were acknowledged to them"
        ));
    }

    let report = OnsaleReport {
        buyers: args.buyers,
        capacity: args.capacity,
        max_per_user: args.max_per_user,
        max_quantity: args.max_quantity.unwrap_or(args.max_per_user),
        seed,
        event_id: event.id.clone(),
        sellout_secs,
        bookings,
        seats_acknowledged: seats,
        bookings_per_sec: per_sec(bookings, sellout_secs),
        seats_per_sec: per_sec(seats, sellout_secs),
        book_requests: requests,
        sold_out_answers: sold_out,
        limit_exceeded_answers: limit,
        retried_answers: results.iter().map(|b| b.retried).sum(),
        other_errors: errors,
        latency: latencies.summary(),
        request_latency: request_latencies.summary(),
        verified_available,
        verified_seats_sold: sold,
        oversold,
        max_held_by_one_buyer: u32::try_from(most).unwrap_or(u32::MAX),
        disconnected_buyers: disconnected,
        killed_after_secs: args.kill_after_secs,
        acknowledged_seats_lost: lost,
        setup_secs,
        cpu: cpu.clone(),
    };
    let summary = format!(
        "onsale: {} buyers, {} seats, ≤ {} per buyer (seed {})\n\
         {} {:.3} s: {} bookings ({:.0} bookings/s, {:.0} seats/s), {} requests, {} sold_out answers\n\
         booking latency (successful): {}\n\
         request latency (all answers): {}\n\
         verified{}: available {}, tickets hold {} seats, oversold {}, most held by one buyer {}, acknowledged seats lost {}\n\
         {}",
        args.buyers,
        args.capacity,
        args.max_per_user,
        seed,
        if crashed {
            "server killed; last acknowledged booking at"
        } else {
            "sold out in"
        },
        sellout_secs,
        bookings,
        report.bookings_per_sec,
        report.seats_per_sec,
        requests,
        sold_out,
        report.latency,
        report.request_latency,
        if crashed {
            " after SIGKILL and restart"
        } else {
            ""
        },
        verified_available.map_or_else(|| "?".to_owned(), |a| a.to_string()),
        sold,
        oversold,
        most,
        lost,
        cpu.line(),
    );
    drop(clients);
    drop(admin);
    Ok(Outcome::new(&report, summary, violations))
}

/// One buyer's loop (see the module docs).
async fn buy(
    client: &Client,
    event_id: &str,
    max: u32,
    max_quantity: u32,
    mut rng: StdRng,
    deadline: Instant,
) -> Buyer {
    let mut out = Buyer::default();
    let mut cap = max_quantity.min(max);
    let mut errors = 0u32;
    while out.held < max {
        if Instant::now() >= deadline {
            out.timed_out = true;
            break;
        }
        let quantity = rng.random_range(1..=cap.min(max - out.held));
        let t0 = Instant::now();
        let Ok(answer) =
            tokio::time::timeout_at(deadline.into(), client.book(event_id, quantity, None)).await
        else {
            out.timed_out = true;
            break;
        };
        let took = t0.elapsed();
        out.requests += 1;
        out.requests_latencies.push(took);
        match answer {
            Ok(ticket) => {
                out.bookings += 1;
                out.held += ticket.quantity;
                out.latencies.push(took);
                out.last_success = Some(Instant::now());
                if ticket.quantity != quantity {
                    out.wrong_quantity += 1;
                }
            }
            Err(err) => match err.code() {
                Some(ErrorCode::SoldOut) => {
                    out.sold_out += 1;
                    if quantity == 1 {
                        break;
                    }
                    cap = quantity - 1;
                }
                Some(ErrorCode::LimitExceeded) => {
                    out.limit_exceeded += 1;
                    break;
                }
                _ if matches!(err, ClientError::Closed | ClientError::Io(_)) => {
                    out.disconnected = true;
                    break;
                }
                _ if retryable(&err) && errors < MAX_BUYER_ERRORS => {
                    errors += 1;
                    out.retried += 1;
                    let wait = match &err {
                        ClientError::Server(body) => body.retry_after_ms.unwrap_or(10).min(1_000),
                        _ => 10,
                    };
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                _ => {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| err.to_string());
                    break;
                }
            },
        }
    }
    out
}

/// Errors worth retrying: store unavailable, rate limited.
fn retryable(err: &ClientError) -> bool {
    matches!(
        err.code(),
        Some(ErrorCode::Unavailable | ErrorCode::RateLimited)
    )
}
