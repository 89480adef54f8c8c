//! Events and bookings end to end: list, create (admins only), book,
//! my_tickets, cancel, request_key replay, and the `event_update` pushes.

use coliseum_protocol::{ErrorCode, Event, Push};
use coliseum_tests::{PASSWORD, code, expect_push, field, start_server};

fn update_for(id: &str) -> impl Fn(&Push) -> bool + '_ {
    move |p| matches!(p, Push::EventUpdate { event_id, .. } if event_id == id)
}

async fn event(client: &coliseum_client::Client, id: &str) -> Event {
    client
        .list_events()
        .await
        .expect("list")
        .into_iter()
        .find(|e| e.id == id)
        .expect("event listed")
}

#[tokio::test]
async fn the_seed_events_are_listed_without_a_session() {
    let server = start_server().await;
    let (client, _pushes) = server.connect().await;
    let events = client.list_events().await.expect("list");
    let names: Vec<_> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["Concerto Rock", "Spettacolo di Magia", "Festival del Cibo"]
    );
    let seats: Vec<_> = events.iter().map(|e| (e.capacity, e.available)).collect();
    assert_eq!(seats, [(150, 150), (200, 200), (300, 300)]);
    assert!(events.iter().all(|e| e.max_per_user == 10));
}

#[tokio::test]
async fn admins_create_events_and_everyone_hears_of_it() {
    let server = start_server().await;
    let (admin, _admin_pushes, _) = server.admin().await;
    let (_anon, mut anon_pushes) = server.connect().await;
    let created = admin
        .create_event("Jazz Night", "2027-10-02", "Blue Room", 80, Some(4))
        .await
        .expect("create");
    assert_eq!(created.name, "Jazz Night");
    assert_eq!(created.date.to_string(), "2027-10-02");
    assert_eq!(
        (created.capacity, created.available, created.max_per_user),
        (80, 80, 4)
    );
    assert_eq!(
        expect_push(&mut anon_pushes, update_for(&created.id)).await,
        Push::EventUpdate {
            event_id: created.id.clone(),
            available: 80
        }
    );
    assert_eq!(event(&admin, &created.id).await, created);
    let default_limit = admin
        .create_event("Open Air", "2027-08-01", "Park", 500, None)
        .await
        .expect("create");
    assert_eq!(default_limit.max_per_user, 10);
}

#[tokio::test]
async fn create_event_is_refused_to_users_and_anonymous_and_checks_fields() {
    let server = start_server().await;
    let (anon, _anon_pushes) = server.connect().await;
    assert_eq!(
        code(anon.create_event("X", "2027-01-01", "Y", 10, None).await),
        ErrorCode::Unauthenticated
    );
    let (user, _user_pushes, _) = server.user("plain").await;
    assert_eq!(
        code(user.create_event("X", "2027-01-01", "Y", 10, None).await),
        ErrorCode::Forbidden
    );
    let (admin, _admin_pushes, _) = server.admin().await;
    let cases = [
        ("", "2027-01-01", "Y", 10, None, "name"),
        ("X", "2027-02-30", "Y", 10, None, "date"),
        ("X", "1 May 2027", "Y", 10, None, "date"),
        ("X", "2027-01-01", "  ", 10, None, "location"),
        ("X", "2027-01-01", "Y", 0, None, "capacity"),
        ("X", "2027-01-01", "Y", 2_000_000, None, "capacity"),
        ("X", "2027-01-01", "Y", 5, Some(6), "max_per_user"),
        ("X", "2027-01-01", "Y", 5, Some(0), "max_per_user"),
        // Hardening issue: years outside 1970–9999, past dates, text with
        // nothing visible or with control characters.
        ("X", "-001-01-01", "Y", 10, None, "date"),
        ("X", "1969-12-31", "Y", 10, None, "date"),
        ("X", "2001-01-01", "Y", 10, None, "date"),
        ("\u{200B}\u{FEFF}", "2027-01-01", "Y", 10, None, "name"),
        ("\0", "2027-01-01", "Y", 10, None, "name"),
        ("X", "2027-01-01", "Hall \u{1b}[31m", 10, None, "location"),
    ];
    for (name, date, location, capacity, max, which) in cases {
        let result = admin
            .create_event(name, date, location, capacity, max)
            .await;
        assert_eq!(
            field(result),
            Some(which.to_owned()),
            "{name}/{date}/{capacity}"
        );
    }
    assert_eq!(admin.list_events().await.expect("list").len(), 3);

    // Without max_per_user a small event gets min(10, capacity); emoji and
    // right-to-left text are ordinary names.
    let small = admin
        .create_event("🎻 Quartet — רביעייה", "2027-01-01", "Salon", 5, None)
        .await
        .expect("a capacity below 10 with the default limit");
    assert_eq!(small.max_per_user, 5);
    let big = admin
        .create_event("Festival", "2027-01-02", "Park", 500, None)
        .await
        .expect("create");
    assert_eq!(big.max_per_user, 10);
}

#[tokio::test]
async fn booking_and_cancelling_move_seats_and_push_updates() {
    let server = start_server().await;
    let (admin, _admin_pushes, _) = server.admin().await;
    let jazz = admin
        .create_event("Jazz Night", "2027-10-02", "Blue Room", 10, Some(4))
        .await
        .expect("create");
    let (buyer, mut buyer_pushes, _) = server.user("buyer").await;
    let (_watcher, mut watcher_pushes) = server.connect().await;

    let ticket = buyer.book(&jazz.id, 3, None).await.expect("book");
    assert_eq!(ticket.event_id, jazz.id);
    assert_eq!(ticket.event_name, "Jazz Night");
    assert_eq!(ticket.quantity, 3);
    let update = Push::EventUpdate {
        event_id: jazz.id.clone(),
        available: 7,
    };
    assert_eq!(
        expect_push(&mut watcher_pushes, update_for(&jazz.id)).await,
        update
    );
    assert_eq!(
        expect_push(&mut buyer_pushes, update_for(&jazz.id)).await,
        update
    );
    assert_eq!(event(&buyer, &jazz.id).await.available, 7);

    let second = buyer.book(&jazz.id, 1, None).await.expect("book more");
    let mine = buyer.my_tickets().await.expect("tickets");
    assert_eq!(
        mine.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [second.id.as_str(), ticket.id.as_str()],
        "newest first"
    );

    buyer.cancel_ticket(&ticket.id).await.expect("cancel");
    // 10 - 3 - 1 = 6, then 3 come back.
    expect_push(&mut watcher_pushes, |p| {
        matches!(p, Push::EventUpdate { available: 9, .. })
    })
    .await;
    assert_eq!(event(&buyer, &jazz.id).await.available, 9);
    assert_eq!(buyer.my_tickets().await.expect("tickets"), [second]);
    assert_eq!(
        code(buyer.cancel_ticket(&ticket.id).await),
        ErrorCode::NotFound,
        "already cancelled"
    );
}

#[tokio::test]
async fn booking_errors() {
    let server = start_server().await;
    let (admin, _admin_pushes, _) = server.admin().await;
    let small = admin
        .create_event("Tiny Gig", "2027-03-03", "Cellar", 5, Some(3))
        .await
        .expect("create");
    let (anon, _anon_pushes) = server.connect().await;
    assert_eq!(
        code(anon.book(&small.id, 1, None).await),
        ErrorCode::Unauthenticated
    );
    assert_eq!(code(anon.my_tickets().await), ErrorCode::Unauthenticated);
    assert_eq!(
        code(anon.cancel_ticket("1").await),
        ErrorCode::Unauthenticated
    );

    let (a, _a_pushes, _) = server.user("alpha").await;
    let (b, _b_pushes, _) = server.user("bravo").await;
    assert_eq!(
        field(a.book(&small.id, 0, None).await),
        Some("quantity".into())
    );
    assert_eq!(
        field(a.book(&small.id, 1, Some(&"k".repeat(129))).await),
        Some("request_key".into())
    );
    assert_eq!(code(a.book("999999", 1, None).await), ErrorCode::NotFound);
    assert_eq!(
        code(a.book("not-an-id", 1, None).await),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(a.book(&small.id, 4, None).await),
        ErrorCode::LimitExceeded
    );
    a.book(&small.id, 3, None).await.expect("book 3");
    assert_eq!(
        code(a.book(&small.id, 1, None).await),
        ErrorCode::LimitExceeded
    );
    let sold_out = b.book(&small.id, 3, None).await;
    match sold_out {
        Err(coliseum_client::ClientError::Server(body)) => {
            assert_eq!(body.code, ErrorCode::SoldOut);
            assert_eq!(body.message, "only 2 seats left");
        }
        other => panic!("expected sold_out, got {other:?}"),
    }
    let ticket = b.book(&small.id, 2, None).await.expect("last two");
    match b.book(&small.id, 1, None).await {
        Err(coliseum_client::ClientError::Server(body)) => {
            assert_eq!(body.code, ErrorCode::SoldOut);
            assert_eq!(
                body.message, "sold out: no seats left",
                "never 'only 0 seats left'"
            );
        }
        other => panic!("expected sold_out, got {other:?}"),
    }

    // Someone else's ticket is "not found", and stays booked.
    assert_eq!(code(a.cancel_ticket(&ticket.id).await), ErrorCode::NotFound);
    assert_eq!(
        code(a.cancel_ticket("no-such-ticket").await),
        ErrorCode::NotFound
    );
    assert_eq!(b.my_tickets().await.expect("tickets"), [ticket]);
    assert_eq!(event(&a, &small.id).await.available, 0);
}

#[tokio::test]
async fn a_retried_booking_with_the_same_request_key_books_once() {
    let server = start_server().await;
    let (client, _pushes, _) = server.user("retry").await;
    let concert = client.list_events().await.expect("list").remove(0);
    let first = client
        .book(&concert.id, 2, Some("booking-1"))
        .await
        .expect("book");
    // After a reconnect, on a new connection, the same key.
    let (again, _again_pushes) = server.connect().await;
    again.login("retry", PASSWORD).await.expect("login");
    let replayed = again
        .book(&concert.id, 2, Some("booking-1"))
        .await
        .expect("replay");
    assert_eq!(replayed, first);
    assert_eq!(
        client.my_tickets().await.expect("tickets"),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        event(&client, &concert.id).await.available,
        concert.capacity - 2
    );
    // The same key for another quantity or event is a conflict, not a
    // silent replay, and books nothing.
    let elsewhere = client.list_events().await.expect("list").remove(1);
    for (event_id, quantity) in [(&concert.id, 1), (&elsewhere.id, 2)] {
        let reused = again.book(event_id, quantity, Some("booking-1")).await;
        assert_eq!(code(reused), ErrorCode::Conflict);
    }
    assert_eq!(
        again.my_tickets().await.expect("tickets"),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        event(&client, &elsewhere.id).await.available,
        elsewhere.capacity
    );
    // The same key from another user is another booking.
    let (other, _other_pushes, _) = server.user("other").await;
    let theirs = other
        .book(&concert.id, 1, Some("booking-1"))
        .await
        .expect("book");
    assert_ne!(theirs.id, replayed.id);
}
