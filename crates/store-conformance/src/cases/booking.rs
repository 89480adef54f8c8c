//! Booking, idempotency, ticket lists and cancellation (one caller at a
//! time; see `concurrency.rs` for races).

use coliseum_store::{BookingRequest, Cancellation, StoreError};

use crate::TestStore;
use crate::support::{at, available, booking, finish, held, make_event, make_user};

/// A booking takes its seats from `available` and returns the ticket with
/// every field, `booked_at` exactly as given (millisecond precision).
pub async fn book_success_decrements_and_returns_ticket(test: TestStore) {
    let store = test.store.as_ref();
    let user = make_user(store, "booker").await;
    let event = make_event(store, "Show ", 10, 4).await;
    let booked_at = at(42);
    let result = store
        .book(BookingRequest {
            booked_at,
            ..booking(&user, &event.id, 3)
        })
        .await
        .expect("book");
    assert!(!result.replayed);
    assert_eq!(result.available, 7, "available right after the booking");
    let ticket = &result.ticket;
    assert!(!ticket.id.is_empty());
    assert_eq!(ticket.event_id, event.id);
    assert_eq!(ticket.event_name, event.name);
    assert_eq!(ticket.quantity, 3);
    assert_eq!(ticket.booked_at, booked_at, "booked_at round-trips exactly");
    assert_eq!(available(store, &event.id).await, 7);
    assert_eq!(
        store.tickets_for_user(&user.id).await,
        Ok(vec![result.ticket.clone()])
    );

    let second = store
        .book(booking(&user, &event.id, 1))
        .await
        .expect("second booking");
    assert_eq!(second.available, 6);
    assert_ne!(second.ticket.id, result.ticket.id, "a new ticket each time");
    assert_eq!(held(store, &user, &event.id).await, 4);
    finish(test).await;
}

/// Asking for more seats than remain is `SoldOut { available }` and changes
/// nothing; the remaining seats can still be booked exactly.
pub async fn book_sold_out_reports_available_and_changes_nothing(test: TestStore) {
    let store = test.store.as_ref();
    let first = make_user(store, "early").await;
    let late = make_user(store, "late").await;
    let event = make_event(store, "Tiny ", 5, 5).await;
    store
        .book(booking(&first, &event.id, 4))
        .await
        .expect("first booking");
    assert_eq!(
        store.book(booking(&late, &event.id, 2)).await,
        Err(StoreError::SoldOut { available: 1 })
    );
    assert_eq!(available(store, &event.id).await, 1, "nothing taken");
    assert_eq!(store.tickets_for_user(&late.id).await, Ok(Vec::new()));

    let last = store
        .book(booking(&late, &event.id, 1))
        .await
        .expect("the last seat");
    assert_eq!(last.available, 0);
    assert_eq!(
        store.book(booking(&late, &event.id, 1)).await,
        Err(StoreError::SoldOut { available: 0 })
    );
    assert_eq!(available(store, &event.id).await, 0);
    assert_eq!(held(store, &late, &event.id).await, 1);
    finish(test).await;
}

/// Exceeding `max_per_user` across tickets is `LimitExceeded` with the seats
/// already held; nothing changes; booking up to the limit works.
pub async fn book_limit_exceeded_reports_held(test: TestStore) {
    let store = test.store.as_ref();
    let user = make_user(store, "greedy").await;
    let other = make_user(store, "modest").await;
    let event = make_event(store, "Limited ", 10, 3).await;
    assert_eq!(
        store.book(booking(&user, &event.id, 4)).await,
        Err(StoreError::LimitExceeded {
            max_per_user: 3,
            held: 0
        }),
        "one ticket above the limit"
    );
    store
        .book(booking(&user, &event.id, 2))
        .await
        .expect("two seats");
    assert_eq!(
        store.book(booking(&user, &event.id, 2)).await,
        Err(StoreError::LimitExceeded {
            max_per_user: 3,
            held: 2
        })
    );
    assert_eq!(available(store, &event.id).await, 8, "nothing taken");
    store
        .book(booking(&user, &event.id, 1))
        .await
        .expect("up to the limit");
    assert_eq!(
        store.book(booking(&user, &event.id, 1)).await,
        Err(StoreError::LimitExceeded {
            max_per_user: 3,
            held: 3
        })
    );
    store
        .book(booking(&other, &event.id, 3))
        .await
        .expect("the limit is per user");
    assert_eq!(available(store, &event.id).await, 4);
    finish(test).await;
}

/// Booking an event that does not exist is `NotFound`.
pub async fn book_unknown_event_is_not_found(test: TestStore) {
    let store = test.store.as_ref();
    let user = make_user(store, "lost").await;
    for id in ["9223372036854775807", "ffffffffffffffffffffffff", "nope"] {
        assert_eq!(
            store.book(booking(&user, id, 1)).await,
            Err(StoreError::NotFound),
            "book(event {id:?})"
        );
    }
    assert_eq!(store.tickets_for_user(&user.id).await, Ok(Vec::new()));
    finish(test).await;
}

/// A `request_key` already used by the same user returns the original ticket
/// with `replayed = true` and takes no seats; the same key for another
/// event or quantity is `Conflict("request_key")` and changes nothing; the
/// same key from another user is a separate booking.
pub async fn request_key_replay_is_idempotent_per_user(test: TestStore) {
    let store = test.store.as_ref();
    let alice = make_user(store, "retry").await;
    let bob = make_user(store, "retry").await;
    let event = make_event(store, "Replay ", 10, 5).await;
    let keyed = |user: &coliseum_store::User, quantity: u32| BookingRequest {
        request_key: Some("key-1".to_owned()),
        ..booking(user, &event.id, quantity)
    };

    let original = store.book(keyed(&alice, 2)).await.expect("first");
    assert!(!original.replayed);
    assert_eq!(original.available, 8);

    let replay = store.book(keyed(&alice, 2)).await.expect("replay");
    assert!(replay.replayed, "same key, same user: a replay");
    assert_eq!(replay.ticket, original.ticket, "the original ticket");
    assert_eq!(replay.available, 8, "the current seats");

    let other_event = make_event(store, "Replay elsewhere ", 10, 5).await;
    assert_eq!(
        store.book(keyed(&alice, 1)).await,
        Err(StoreError::Conflict("request_key".to_owned())),
        "same key, another quantity"
    );
    assert_eq!(
        store
            .book(BookingRequest {
                request_key: Some("key-1".to_owned()),
                ..booking(&alice, &other_event.id, 2)
            })
            .await,
        Err(StoreError::Conflict("request_key".to_owned())),
        "same key, another event"
    );
    assert_eq!(available(store, &other_event.id).await, 10);
    assert_eq!(available(store, &event.id).await, 8, "no second decrement");
    assert_eq!(
        store.tickets_for_user(&alice.id).await,
        Ok(vec![original.ticket.clone()])
    );

    let bobs = store.book(keyed(&bob, 2)).await.expect("bob's booking");
    assert!(!bobs.replayed, "keys are per user");
    assert_ne!(bobs.ticket.id, original.ticket.id);
    assert_eq!(bobs.available, 6);

    let other_key = store
        .book(BookingRequest {
            request_key: Some("key-2".to_owned()),
            ..booking(&alice, &event.id, 1)
        })
        .await
        .expect("another key");
    assert!(!other_key.replayed);
    assert_eq!(available(store, &event.id).await, 5);
    finish(test).await;
}

/// `tickets_for_user` lists only the user's active tickets, newest first.
pub async fn tickets_for_user_newest_first_own_and_active_only(test: TestStore) {
    let store = test.store.as_ref();
    let user = make_user(store, "lister").await;
    let other = make_user(store, "lister").await;
    let first_event = make_event(store, "First ", 20, 10).await;
    let second_event = make_event(store, "Second ", 20, 10).await;
    let mut mine = Vec::new();
    for (i, event_id) in [
        &first_event.id,
        &second_event.id,
        &first_event.id,
        &second_event.id,
    ]
    .into_iter()
    .enumerate()
    {
        let offset = i64::try_from(i).unwrap_or_default() * 1_000;
        let booked = store
            .book(BookingRequest {
                booked_at: at(offset),
                ..booking(&user, event_id, 1)
            })
            .await
            .expect("book");
        mine.push(booked.ticket);
    }
    let theirs = store
        .book(BookingRequest {
            booked_at: at(10_000),
            ..booking(&other, &first_event.id, 2)
        })
        .await
        .expect("other user's booking");

    let cancelled = mine.remove(1);
    crate::support::cancel(store, &user.id, &cancelled.id)
        .await
        .expect("cancel");
    mine.reverse();
    assert_eq!(
        store.tickets_for_user(&user.id).await,
        Ok(mine),
        "own active tickets, newest first"
    );
    assert_eq!(
        store.tickets_for_user(&other.id).await,
        Ok(vec![theirs.ticket])
    );
    finish(test).await;
}

/// Cancelling returns the seats once; a second cancel, or another user's
/// attempt, is `NotFound` and changes nothing; the seats can be rebooked.
pub async fn cancel_returns_seats_once_and_only_for_owner(test: TestStore) {
    let store = test.store.as_ref();
    let owner = make_user(store, "owner").await;
    let thief = make_user(store, "thief").await;
    let event = make_event(store, "Cancel ", 10, 4).await;
    let booked = store
        .book(booking(&owner, &event.id, 4))
        .await
        .expect("book");
    assert_eq!(booked.available, 6);

    assert_eq!(
        crate::support::cancel(store, &thief.id, &booked.ticket.id).await,
        Err(StoreError::NotFound),
        "another user's ticket"
    );
    assert_eq!(available(store, &event.id).await, 6, "unchanged");
    assert_eq!(
        store.tickets_for_user(&owner.id).await,
        Ok(vec![booked.ticket.clone()]),
        "still the owner's"
    );

    assert_eq!(
        crate::support::cancel(store, &owner.id, &booked.ticket.id).await,
        Ok(Cancellation {
            event_id: event.id.clone(),
            quantity: 4,
            available: 10,
            remaining: 0,
            offers: Vec::new(),
        })
    );
    assert_eq!(available(store, &event.id).await, 10);
    assert_eq!(store.tickets_for_user(&owner.id).await, Ok(Vec::new()));
    assert_eq!(
        crate::support::cancel(store, &owner.id, &booked.ticket.id).await,
        Err(StoreError::NotFound),
        "already cancelled"
    );
    assert_eq!(available(store, &event.id).await, 10, "returned only once");

    let again = store
        .book(booking(&owner, &event.id, 4))
        .await
        .expect("cancelled seats no longer count toward the limit");
    assert_eq!(again.available, 6);
    finish(test).await;
}

/// A booking with `audit_actor` leaves exactly one `book` audit record —
/// actor, event, ticket and quantity, stamped with `booked_at` — the one
/// [`coliseum_store::booking_audit`] describes. Refused (sold out, over
/// the limit) and replayed bookings leave none.
pub async fn booking_writes_its_audit_record(test: TestStore) {
    let store = test.store.as_ref();
    let alice = make_user(store, "audited").await;
    let bob = make_user(store, "refused").await;
    let event = make_event(store, "Audited ", 3, 3).await;
    let audited = |user: &coliseum_store::User, quantity: u32, key: Option<&str>| BookingRequest {
        audit_actor: Some(user.username.clone()),
        request_key: key.map(str::to_owned),
        ..booking(user, &event.id, quantity)
    };
    let booked = store
        .book(audited(&alice, 2, Some("audit-key")))
        .await
        .expect("book");
    let replay = store
        .book(audited(&alice, 2, Some("audit-key")))
        .await
        .expect("replay");
    assert!(replay.replayed);
    assert!(matches!(
        store.book(audited(&alice, 2, None)).await,
        Err(StoreError::LimitExceeded { .. })
    ));
    assert!(matches!(
        store.book(audited(&bob, 2, None)).await,
        Err(StoreError::SoldOut { available: 1 })
    ));

    let recent = store.recent_audit(1_000).await.expect("recent_audit");
    let by = |user: &coliseum_store::User| -> Vec<_> {
        recent
            .iter()
            .filter(|e| e.actor.as_deref() == Some(user.username.as_str()))
            .cloned()
            .collect()
    };
    let expected = coliseum_store::booking_audit(&alice.username, &booked.ticket);
    assert_eq!(
        by(&alice),
        vec![expected.clone()],
        "one record, for the booking only"
    );
    assert_eq!(expected.action, "book");
    assert_eq!(expected.at, booked.ticket.booked_at);
    let detail: serde_json::Value = serde_json::from_str(&expected.detail).expect("JSON detail");
    assert_eq!(
        detail,
        serde_json::json!({
            "event_id": event.id,
            "ticket_id": booked.ticket.id,
            "quantity": 2,
        })
    );
    assert_eq!(by(&bob), Vec::new(), "a refused booking records nothing");
    finish(test).await;
}
