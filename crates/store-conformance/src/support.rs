//! Unique names and record builders shared by the cases.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use coliseum_protocol::Role;
use coliseum_store::{BookingRequest, NewEvent, NewUser, Store, User};

use crate::TestStore;

/// `prefix` plus 8 random hex digits: unique across cases and runs, so that
/// cases never collide even on a shared database. Keep `prefix` ≤ 20
/// characters so that usernames stay within the protocol's 32.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

/// A fixed time with a non-zero millisecond part, to check exact
/// round-trips; `offset_ms` moves it.
pub(crate) fn at(offset_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_123 + offset_ms).unwrap_or_default()
}

/// A `NaiveDate` from a literal known to be valid.
pub(crate) fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default()
}

/// A plausible (never verified by stores) argon2id PHC string.
pub(crate) fn phc(tag: &str) -> String {
    format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$hash-{tag}")
}

/// The input for a user named `username`, e-mail `<username>@example.test`.
pub(crate) fn new_user(username: &str) -> NewUser {
    NewUser {
        username: username.to_owned(),
        email: format!("{username}@example.test"),
        password_hash: phc(username),
        role: Role::User,
        created_at: at(0),
    }
}

/// Creates a user with a unique name starting with `prefix`.
///
/// # Panics
/// When the store refuses.
pub(crate) async fn make_user(store: &dyn Store, prefix: &str) -> User {
    let input = new_user(&unique(prefix));
    store
        .create_user(input.clone())
        .await
        .unwrap_or_else(|e| panic!("create_user({}) failed: {e}", input.username))
}

/// `y-m-d` at `hour`:00 in the fixed offset `offset_hours` east of UTC
/// (a time known to be valid; stores must keep the offset).
pub(crate) fn starts(
    y: i32,
    m: u32,
    d: u32,
    hour: u32,
    offset_hours: i32,
) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(offset_hours * 3600)
        .and_then(|offset| {
            date(y, m, d)
                .and_hms_opt(hour, 0, 0)?
                .and_local_timezone(offset)
                .single()
        })
        .unwrap_or_default()
}

/// An event input starting 2031-06-15 at 20:00 (+02:00) at a test venue.
pub(crate) fn new_event(name: &str, capacity: u32, max_per_user: u32) -> NewEvent {
    NewEvent {
        name: name.to_owned(),
        starts_at: starts(2031, 6, 15, 20, 2),
        location: "Conformance Arena".to_owned(),
        description: format!("About {name}."),
        capacity,
        max_per_user,
    }
}

/// Cancels a whole ticket now (default offer policy).
pub(crate) async fn cancel(
    store: &dyn Store,
    user_id: &str,
    ticket_id: &str,
) -> coliseum_store::StoreResult<coliseum_store::Cancellation> {
    store
        .cancel_ticket(
            user_id,
            ticket_id,
            None,
            coliseum_store::now(),
            coliseum_store::OfferPolicy::default(),
        )
        .await
}

/// Creates an event with a unique name starting with `prefix`.
///
/// # Panics
/// When the store refuses.
pub(crate) async fn make_event(
    store: &dyn Store,
    prefix: &str,
    capacity: u32,
    max_per_user: u32,
) -> coliseum_protocol::Event {
    store
        .create_event(new_event(&unique(prefix), capacity, max_per_user))
        .await
        .unwrap_or_else(|e| panic!("create_event failed: {e}"))
}

/// A booking request without idempotency key, booked now.
pub(crate) fn booking(user: &User, event_id: &str, quantity: u32) -> BookingRequest {
    BookingRequest {
        user_id: user.id.clone(),
        event_id: event_id.to_owned(),
        quantity,
        request_key: None,
        booked_at: coliseum_store::now(),
        audit_actor: None,
    }
}

/// Seats currently available for `event_id`.
///
/// # Panics
/// When the event is missing or the store fails.
pub(crate) async fn available(store: &dyn Store, event_id: &str) -> u32 {
    store
        .event(event_id)
        .await
        .unwrap_or_else(|e| panic!("event({event_id}) failed: {e}"))
        .unwrap_or_else(|| panic!("event {event_id} disappeared"))
        .available
}

/// Sum of the seats of `user`'s active tickets for `event_id`.
///
/// # Panics
/// When the store fails.
pub(crate) async fn held(store: &dyn Store, user: &User, event_id: &str) -> u32 {
    store
        .tickets_for_user(&user.id)
        .await
        .unwrap_or_else(|e| panic!("tickets_for_user failed: {e}"))
        .iter()
        .filter(|t| t.event_id == event_id)
        .map(|t| t.quantity)
        .sum()
}

/// Ends a case: closes the store (expecting success), then drops the guard.
///
/// # Panics
/// When `close` fails.
pub(crate) async fn finish(test: TestStore) {
    let TestStore { store, guard, .. } = test;
    let closed = store.close().await;
    assert_eq!(closed, Ok(()), "close() must succeed");
    drop(store);
    drop(guard);
}
