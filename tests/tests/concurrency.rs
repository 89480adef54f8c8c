//! 200 clients, each on its own connection and logged in, race for the
//! last 50 seats: exactly 50 are sold and nobody exceeds max_per_user.

use std::collections::HashMap;

use coliseum_protocol::{ErrorCode, Push};
use coliseum_tests::{Options, PASSWORD, expect_push, start_server_with};

const BUYERS: usize = 200;
const MAX_PER_USER: u32 = 2;
const EARLY_BIRDS: usize = 5;
const LAST_SEATS: u32 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_race_for_the_last_fifty_seats() {
    // Every buyer connects from 127.0.0.1: lift the per-address cap.
    let server = start_server_with(Options {
        tune: |c| c.max_connections_per_ip = 0,
        ..Options::default()
    })
    .await;
    let (admin, mut admin_pushes, _) = server.admin().await;
    let capacity = LAST_SEATS + MAX_PER_USER * u32::try_from(EARLY_BIRDS).expect("small");
    let event = admin
        .create_event(
            "Sold Out Show",
            "2027-12-31",
            "Arena",
            capacity,
            Some(MAX_PER_USER),
        )
        .await
        .expect("create");
    for i in 0..EARLY_BIRDS {
        let (early, _pushes, _) = server.user(&format!("early{i}")).await;
        early
            .book(&event.id, MAX_PER_USER, None)
            .await
            .expect("early bird");
    }
    assert_eq!(
        admin
            .list_events()
            .await
            .expect("list")
            .iter()
            .find(|e| e.id == event.id)
            .expect("event")
            .available,
        LAST_SEATS
    );

    // Register and log in 200 buyers concurrently, one connection each.
    let buyers = futures::future::join_all((0..BUYERS).map(|i| {
        let addr = server.addr();
        tokio::spawn(async move {
            let (client, _pushes) = coliseum_client::Client::connect(addr)
                .await
                .expect("connect");
            let name = format!("buyer{i:03}");
            client
                .register(&name, PASSWORD, &format!("{name}@example.com"))
                .await
                .expect("register");
            client.login(&name, PASSWORD).await.expect("login");
            (name, client)
        })
    }))
    .await;
    let buyers: Vec<_> = buyers.into_iter().map(|b| b.expect("buyer task")).collect();

    // Everyone fires three bookings at once (1 + 2 + 1 seats, more than
    // the limit of 2 allows).
    let results = futures::future::join_all(buyers.iter().map(|(name, client)| {
        let client = client.clone();
        let event_id = event.id.clone();
        let name = name.clone();
        tokio::spawn(async move {
            let attempts = [1, 2, 1].map(|quantity| {
                let client = client.clone();
                let event_id = event_id.clone();
                async move { (quantity, client.book(&event_id, quantity, None).await) }
            });
            (name, futures::future::join_all(attempts).await)
        })
    }))
    .await;

    let mut sold = 0;
    let mut held: HashMap<String, u32> = HashMap::new();
    for result in results {
        let (name, attempts) = result.expect("buyer task");
        for (quantity, outcome) in attempts {
            match outcome {
                Ok(ticket) => {
                    assert_eq!(ticket.quantity, quantity);
                    sold += quantity;
                    *held.entry(name.clone()).or_default() += quantity;
                }
                Err(err) => assert!(
                    matches!(
                        err.code(),
                        Some(ErrorCode::SoldOut | ErrorCode::LimitExceeded)
                    ),
                    "{err:?}"
                ),
            }
        }
    }
    assert_eq!(sold, LAST_SEATS, "exactly the last seats were sold");
    assert!(
        held.values().all(|&seats| seats <= MAX_PER_USER),
        "{held:?}"
    );

    // The store agrees, per user and in total.
    for (name, client) in &buyers {
        let tickets = client.my_tickets().await.expect("tickets");
        let seats: u32 = tickets.iter().map(|t| t.quantity).sum();
        assert_eq!(seats, held.get(name).copied().unwrap_or(0), "{name}");
    }
    let after = admin.list_events().await.expect("list");
    assert_eq!(
        after
            .iter()
            .find(|e| e.id == event.id)
            .expect("event")
            .available,
        0
    );
    // And the last event_update everyone heard says 0.
    expect_push(
        &mut admin_pushes,
        |p| matches!(p, Push::EventUpdate { event_id, available: 0 } if *event_id == event.id),
    )
    .await;
}
