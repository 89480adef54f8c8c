//! Races: many tasks calling the store at the same moment. Every task is
//! `tokio::spawn`ed and released together by a `Barrier`, so the calls
//! really overlap on the multi-threaded runtime; every loop is bounded.

use std::collections::HashMap;
use std::sync::Arc;

use coliseum_protocol::ChatMessage;
use coliseum_store::{Store, StoreError, User};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::TestStore;
use crate::support::{available, booking, finish, make_event, make_user};

/// Creates `count` users concurrently.
async fn make_users(store: &Arc<dyn Store>, prefix: &'static str, count: usize) -> Vec<User> {
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        let store = Arc::clone(store);
        tasks.spawn(async move { make_user(store.as_ref(), prefix).await });
    }
    let mut users = Vec::with_capacity(count);
    while let Some(user) = tasks.join_next().await {
        users.push(user.expect("create task"));
    }
    users
}

/// Waits for every task and returns their results.
async fn join_all<T: 'static>(mut tasks: JoinSet<T>) -> Vec<T> {
    let mut results = Vec::with_capacity(tasks.len());
    while let Some(result) = tasks.join_next().await {
        results.push(result.expect("task panicked"));
    }
    results
}

/// 200 users race for an event of 50 seats (at most 3 each), booking 1–3
/// seats at random and retrying until it is sold out: exactly 50 seats are
/// sold, `available` ends at 0, and nobody holds more than 3.
pub async fn concurrent_bookings_never_oversell(test: TestStore) {
    const USERS: usize = 200;
    const CAPACITY: u32 = 50;
    const MAX: u32 = 3;
    let store = Arc::clone(&test.store);
    let event = make_event(store.as_ref(), "Surge ", CAPACITY, MAX).await;
    let users = make_users(&store, "surge", USERS).await;
    let barrier = Arc::new(Barrier::new(USERS));
    let mut tasks = JoinSet::new();
    for user in users {
        let (store, barrier, event_id) =
            (Arc::clone(&store), Arc::clone(&barrier), event.id.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let mut held = 0;
            // Bounded: each round either books, or learns the event is sold
            // out or that this user reached the limit, or retries a smaller
            // random quantity (expected a handful of rounds).
            for _ in 0..200 {
                if held == MAX {
                    break;
                }
                let quantity = rand::random_range(1..=MAX);
                match store.book(booking(&user, &event_id, quantity)).await {
                    Ok(booked) => {
                        assert!(!booked.replayed);
                        assert_eq!(booked.ticket.quantity, quantity);
                        held += quantity;
                    }
                    Err(StoreError::SoldOut { available }) => {
                        assert!(
                            available < quantity,
                            "SoldOut with {available} ≥ {quantity}"
                        );
                        if available == 0 {
                            break;
                        }
                    }
                    Err(StoreError::LimitExceeded {
                        max_per_user,
                        held: reported,
                    }) => {
                        assert_eq!(max_per_user, MAX);
                        assert_eq!(reported, held, "held as the store counts it");
                        assert!(held + quantity > MAX);
                    }
                    Err(other) => panic!("unexpected booking error: {other}"),
                }
            }
            (user, held)
        });
    }
    let results = join_all(tasks).await;

    let sold: u32 = results.iter().map(|(_, held)| held).sum();
    assert_eq!(sold, CAPACITY, "every seat sold, none twice");
    assert_eq!(available(store.as_ref(), &event.id).await, 0);
    let mut ticket_seats = 0;
    for (user, held) in &results {
        assert!(*held <= MAX, "{} holds {held} > {MAX}", user.username);
        let stored = crate::support::held(store.as_ref(), user, &event.id).await;
        assert_eq!(
            stored, *held,
            "the store agrees with what {} was told",
            user.username
        );
        ticket_seats += stored;
    }
    assert_eq!(
        ticket_seats, CAPACITY,
        "sum of tickets == capacity - available"
    );
    drop(store);
    finish(test).await;
}

/// One user fires 20 one-seat bookings at once against `max_per_user = 5`:
/// exactly 5 succeed, the rest are `LimitExceeded { held: 5 }`.
pub async fn concurrent_bookings_respect_user_limit(test: TestStore) {
    const ATTEMPTS: usize = 20;
    let store = Arc::clone(&test.store);
    let event = make_event(store.as_ref(), "Limit race ", 100, 5).await;
    let user = make_user(store.as_ref(), "racer").await;
    let barrier = Arc::new(Barrier::new(ATTEMPTS));
    let mut tasks = JoinSet::new();
    for _ in 0..ATTEMPTS {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        let request = booking(&user, &event.id, 1);
        tasks.spawn(async move {
            barrier.wait().await;
            store.book(request).await
        });
    }
    let results = join_all(tasks).await;
    let booked = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(booked, 5, "exactly max_per_user bookings succeed");
    for result in &results {
        if let Err(err) = result {
            assert_eq!(
                err,
                &StoreError::LimitExceeded {
                    max_per_user: 5,
                    held: 5
                }
            );
        }
    }
    assert_eq!(available(store.as_ref(), &event.id).await, 95);
    assert_eq!(
        crate::support::held(store.as_ref(), &user, &event.id).await,
        5
    );
    drop(store);
    finish(test).await;
}

/// 100 messages appended to one room at once get exactly the sequence
/// numbers 1..=100, and the history holds them all in that order.
pub async fn concurrent_chat_appends_are_gap_free(test: TestStore) {
    const MESSAGES: usize = 100;
    let store = Arc::clone(&test.store);
    let room = crate::support::unique("race-");
    let barrier = Arc::new(Barrier::new(MESSAGES));
    let mut tasks = JoinSet::new();
    for n in 0..MESSAGES {
        let (store, barrier, room) = (Arc::clone(&store), Arc::clone(&barrier), room.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store
                .append_message(coliseum_store::NewMessage {
                    room,
                    from: Some(format!("sender{n}")),
                    text: format!("racing message {n}"),
                    sent_at: coliseum_store::now(),
                })
                .await
                .expect("append_message")
        });
    }
    let mut stored: Vec<ChatMessage> = join_all(tasks).await;
    stored.sort_by_key(|m| m.seq);
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    let expected: Vec<u64> = (1..=100).collect();
    assert_eq!(seqs, expected, "no gaps, no duplicates");
    let history = store.chat_history(&room, None, 200).await.expect("history");
    assert_eq!(
        history, stored,
        "history holds exactly what was acknowledged"
    );
    drop(store);
    finish(test).await;
}

/// `append_messages` (what the server uses for pipelined `chat_send`s):
/// batches spanning two rooms, raced against each other and against single
/// appends. Each batch answers in its own order (a room's messages get
/// increasing `seq`s in list order), every room stays gap-free, and the
/// history holds exactly what was acknowledged. An empty batch is a no-op.
pub async fn concurrent_message_batches_keep_their_order(test: TestStore) {
    const BATCHES: usize = 4;
    const PER_BATCH: usize = 24;
    const SINGLES: usize = 20;
    let store = Arc::clone(&test.store);
    let rooms = [
        crate::support::unique("batch-a-"),
        crate::support::unique("batch-b-"),
    ];
    assert_eq!(store.append_messages(Vec::new()).await, Vec::new());
    let barrier = Arc::new(Barrier::new(BATCHES + SINGLES));
    let mut batches = JoinSet::new();
    for b in 0..BATCHES {
        let (store, barrier, rooms) = (Arc::clone(&store), Arc::clone(&barrier), rooms.clone());
        batches.spawn(async move {
            let messages: Vec<_> = (0..PER_BATCH)
                .map(|n| coliseum_store::NewMessage {
                    room: rooms[n % 2].clone(),
                    from: Some(format!("batcher{b}")),
                    text: format!("batch {b} message {n}"),
                    sent_at: coliseum_store::now(),
                })
                .collect();
            barrier.wait().await;
            let results = store.append_messages(messages.clone()).await;
            assert_eq!(results.len(), PER_BATCH, "one result per message");
            let stored: Vec<ChatMessage> = results
                .into_iter()
                .map(|r| r.expect("append_messages"))
                .collect();
            for (message, input) in stored.iter().zip(&messages) {
                assert_eq!(
                    (&message.room, &message.text),
                    (&input.room, &input.text),
                    "answers in list order"
                );
            }
            for room in &rooms {
                let seqs: Vec<u64> = stored
                    .iter()
                    .filter(|m| &m.room == room)
                    .map(|m| m.seq)
                    .collect();
                assert!(
                    seqs.windows(2).all(|w| w[0] < w[1]),
                    "a batch's messages keep their order in {room}: {seqs:?}"
                );
            }
            stored
        });
    }
    let mut singles = JoinSet::new();
    for n in 0..SINGLES {
        let (store, barrier, room) = (
            Arc::clone(&store),
            Arc::clone(&barrier),
            rooms[n % 2].clone(),
        );
        singles.spawn(async move {
            barrier.wait().await;
            store
                .append_message(coliseum_store::NewMessage {
                    room,
                    from: Some(format!("single{n}")),
                    text: format!("single message {n}"),
                    sent_at: coliseum_store::now(),
                })
                .await
                .expect("append_message")
        });
    }
    let mut stored: Vec<ChatMessage> = join_all(batches).await.into_iter().flatten().collect();
    stored.extend(join_all(singles).await);
    let per_room = (BATCHES * PER_BATCH + SINGLES) / 2;
    for room in &rooms {
        let mut mine: Vec<ChatMessage> =
            stored.iter().filter(|m| &m.room == room).cloned().collect();
        mine.sort_by_key(|m| m.seq);
        let seqs: Vec<u64> = mine.iter().map(|m| m.seq).collect();
        let expected: Vec<u64> = (1..=per_room as u64).collect();
        assert_eq!(seqs, expected, "no gaps, no duplicates in {room}");
        let history = store.chat_history(room, None, 200).await.expect("history");
        assert_eq!(history, mine, "history holds exactly what was acknowledged");
    }
    drop(store);
    finish(test).await;
}

/// Users book and cancel one-seat tickets concurrently on a small event:
/// `available` stays within `0..=capacity` throughout, and at the end
/// `capacity - available` equals the seats of the active tickets.
pub async fn concurrent_cancel_and_book_keep_seats_consistent(test: TestStore) {
    const USERS: usize = 20;
    const ROUNDS: usize = 10;
    const CAPACITY: u32 = 10;
    let store = Arc::clone(&test.store);
    let event = make_event(store.as_ref(), "Churn ", CAPACITY, 3).await;
    let users = make_users(&store, "churn", USERS).await;
    let barrier = Arc::new(Barrier::new(USERS + 1));
    let mut tasks = JoinSet::new();
    for user in users.clone() {
        let (store, barrier, event_id) =
            (Arc::clone(&store), Arc::clone(&barrier), event.id.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let mut active: Vec<String> = Vec::new();
            for _ in 0..ROUNDS {
                // Cancel one of ours half of the time (if we have one),
                // otherwise try to book a seat.
                if !active.is_empty() && rand::random::<bool>() {
                    let ticket_id = active.swap_remove(0);
                    let cancelled = crate::support::cancel(store.as_ref(), &user.id, &ticket_id)
                        .await
                        .expect("cancel own active ticket");
                    assert_eq!(cancelled.quantity, 1);
                    assert!(cancelled.available <= CAPACITY);
                    continue;
                }
                match store.book(booking(&user, &event_id, 1)).await {
                    Ok(booked) => {
                        assert!(booked.available < CAPACITY);
                        active.push(booked.ticket.id);
                    }
                    Err(StoreError::SoldOut { available: 0 }) => {}
                    Err(StoreError::LimitExceeded {
                        max_per_user: 3,
                        held: 3,
                    }) => {
                        assert_eq!(active.len(), 3);
                    }
                    Err(other) => panic!("unexpected booking error: {other}"),
                }
            }
            (user.id, active)
        });
    }
    // A reader watching the invariant while the churn runs.
    let watcher = {
        let (store, barrier, event_id) =
            (Arc::clone(&store), Arc::clone(&barrier), event.id.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..50 {
                let seats = available(store.as_ref(), &event_id).await;
                assert!(seats <= CAPACITY, "available {seats} > capacity");
                tokio::task::yield_now().await;
            }
        })
    };
    let results = join_all(tasks).await;
    watcher.await.expect("watcher");

    let mut active_seats = 0;
    let expected: HashMap<String, Vec<String>> = results.into_iter().collect();
    for user in &users {
        let mut stored: Vec<String> = store
            .tickets_for_user(&user.id)
            .await
            .expect("tickets_for_user")
            .into_iter()
            .filter(|t| t.event_id == event.id)
            .map(|t| t.id)
            .collect();
        stored.sort();
        let mut told = expected.get(&user.id).cloned().unwrap_or_default();
        told.sort();
        assert_eq!(stored, told, "active tickets of {}", user.username);
        active_seats += u32::try_from(stored.len()).unwrap_or(u32::MAX);
    }
    let left = available(store.as_ref(), &event.id).await;
    assert_eq!(
        CAPACITY - left,
        active_seats,
        "capacity - available == active seats"
    );
    drop(store);
    finish(test).await;
}

/// Failed logins counted at once against one new key (as several server
/// instances do) each count: the final count is the number of calls, and
/// no answer leaves out its own failure.
pub async fn concurrent_login_failures_each_count(test: TestStore) {
    const FAILURES: u32 = 40;
    let store = Arc::clone(&test.store);
    let key = crate::support::unique("account:racing");
    let barrier = Arc::new(Barrier::new(FAILURES as usize));
    let mut tasks = JoinSet::new();
    for _ in 0..FAILURES {
        let (store, barrier, key) = (Arc::clone(&store), Arc::clone(&barrier), key.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store
                .record_login_failure(
                    &key,
                    coliseum_store::now(),
                    std::time::Duration::from_secs(900),
                )
                .await
                .expect("record_login_failure")
                .failures
        });
    }
    let counts: Vec<u32> = join_all(tasks).await;
    // The contract: each call's answer includes at least its own failure,
    // so it lies in 1..=FAILURES, and the call that counted last sees all
    // of them. Distinct answers are not promised: MongoDB returns each
    // call's own post-image, but a store may answer with a later one (the
    // MongoDB-wire test server does under load), which only lengthens a
    // back-off that was due anyway.
    assert!(
        counts.iter().all(|&n| (1..=FAILURES).contains(&n)),
        "each answer includes its own failure and no phantom ones: {counts:?}"
    );
    assert_eq!(
        counts.iter().max(),
        Some(&FAILURES),
        "the last call counted sees every failure: {counts:?}"
    );
    let found = store
        .login_failures(std::slice::from_ref(&key))
        .await
        .expect("read");
    assert_eq!(found.first().map(|(_, c)| c.failures), Some(FAILURES));
    finish(test).await;
}
