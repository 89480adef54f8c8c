//! Booking throughput of the embedded store through the `Store` trait:
//! 1,000 concurrent tasks book 10,000 seats (10 one-seat bookings each, one
//! after another) on one event, every booking durable before it returns.
//!
//! ```sh
//! cargo run --release -p coliseum-store --example book_bench [-- DATA_DIR]
//! ```
//!
//! Without `DATA_DIR` a temporary directory is used (often tmpfs, where an
//! fsync is nearly free; pass a directory on a real disk to include it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use coliseum_protocol::Role;
use coliseum_store::{BookingRequest, NewEvent, NewUser, SqliteStore, Store};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// Concurrent booking tasks (one user each).
const TASKS: usize = 1_000;
/// One-seat bookings per task.
const PER_TASK: usize = 10;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| temp.path().to_owned(), PathBuf::from);
    let store = Arc::new(SqliteStore::open(&dir)?);
    let seats = u32::try_from(TASKS * PER_TASK)?;
    let event = store
        .create_event(NewEvent {
            name: format!("Bench {}", coliseum_store::now().timestamp_millis()),
            starts_at: coliseum_protocol::validate::evening_of(
                NaiveDate::from_ymd_opt(2030, 1, 1).ok_or("date")?,
            ),
            location: "Bench Arena".to_owned(),
            description: String::new(),
            capacity: seats,
            max_per_user: u32::try_from(PER_TASK)?,
        })
        .await?;

    let mut users = JoinSet::new();
    let tag = coliseum_store::now().timestamp_millis();
    for n in 0..TASKS {
        let store = Arc::clone(&store);
        users.spawn(async move {
            let name = format!("b{tag}x{n}");
            store
                .create_user(NewUser {
                    email: format!("{name}@bench.test"),
                    username: name,
                    password_hash: "$argon2id$bench".to_owned(),
                    role: Role::User,
                    created_at: coliseum_store::now(),
                })
                .await
        });
    }
    let mut user_ids = Vec::with_capacity(TASKS);
    while let Some(user) = users.join_next().await {
        user_ids.push(user??.id);
    }

    let before = store.write_stats();
    let barrier = Arc::new(Barrier::new(TASKS + 1));
    let mut tasks = JoinSet::new();
    for user_id in user_ids {
        let (store, barrier, event_id) =
            (Arc::clone(&store), Arc::clone(&barrier), event.id.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let mut latencies = Vec::with_capacity(PER_TASK);
            for _ in 0..PER_TASK {
                let started = Instant::now();
                store
                    .book(BookingRequest {
                        user_id: user_id.clone(),
                        event_id: event_id.clone(),
                        quantity: 1,
                        request_key: None,
                        booked_at: coliseum_store::now(),
                        audit_actor: None,
                    })
                    .await?;
                latencies.push(started.elapsed());
            }
            Ok::<_, coliseum_store::StoreError>(latencies)
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut latencies: Vec<Duration> = Vec::with_capacity(TASKS * PER_TASK);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = started.elapsed();
    let after = store.write_stats();

    let left = store
        .event(&event.id)
        .await?
        .ok_or("event vanished")?
        .available;
    store.close().await?;

    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    let batches = after.batches - before.batches;
    let operations = after.operations - before.operations;
    println!("data dir:     {}", dir.display());
    println!(
        "bookings:     {} by {TASKS} concurrent tasks in {:.3} s",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "throughput:   {:.0} bookings/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency:      p50 {:?}  p99 {:?}  max {:?}",
        pct(50),
        pct(99),
        latencies.last().copied().unwrap_or_default()
    );
    println!(
        "transactions: {batches} commits, {:.1} operations per commit",
        operations as f64 / batches.max(1) as f64
    );
    println!("seats left:   {left} (expected 0)");
    if left != 0 {
        return Err("not every seat was sold".into());
    }
    Ok(())
}
