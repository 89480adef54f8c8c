//! Behaviour specific to the embedded SQLite store: persistence across
//! reopen, schema versioning, acknowledgement only after commit, group
//! commit, savepoint isolation, and closing.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use coliseum_protocol::Role;
use coliseum_store::{
    AuditEntry, BookingRequest, NewEvent, NewMessage, NewUser, SessionRecord, SqliteStore, Store,
    StoreError, User, UserUpdate,
};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// A fixed time with milliseconds.
fn at(offset_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_900_000_000_321 + offset_ms).expect("valid time")
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{name}@example.test"),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$h-{name}"),
        role: Role::User,
        created_at: at(0),
    }
}

fn new_event(name: &str, capacity: u32, max_per_user: u32) -> NewEvent {
    NewEvent {
        name: name.to_owned(),
        starts_at: coliseum_protocol::validate::evening_of(
            NaiveDate::from_ymd_opt(2030, 5, 17).expect("valid date"),
        ),
        location: "Arena".to_owned(),
        description: String::new(),
        capacity,
        max_per_user,
    }
}

fn booking(user: &User, event_id: &str, quantity: u32) -> BookingRequest {
    BookingRequest {
        user_id: user.id.clone(),
        event_id: event_id.to_owned(),
        quantity,
        request_key: None,
        booked_at: at(5),
        audit_actor: None,
    }
}

/// A raw read-only connection to the store's file, to look behind its back.
fn raw(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("raw connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("nested").join("data");
    let store = SqliteStore::open(&data_dir).expect("open creates the directories");
    assert_eq!(store.path(), data_dir.join(SqliteStore::DB_FILE_NAME));

    let alice = store.create_user(new_user("alice")).await.expect("user");
    let event = store
        .create_event(new_event("Concerto", 10, 4))
        .await
        .expect("event");
    let kept = store
        .book(BookingRequest {
            request_key: Some("k".to_owned()),
            ..booking(&alice, &event.id, 3)
        })
        .await
        .expect("book");
    let dropped = store
        .book(booking(&alice, &event.id, 1))
        .await
        .expect("book");
    store
        .cancel_ticket(
            &alice.id,
            &dropped.ticket.id,
            None,
            coliseum_store::now(),
            coliseum_store::OfferPolicy::default(),
        )
        .await
        .expect("cancel");
    let mut messages = Vec::new();
    for n in 0..3 {
        messages.push(
            store
                .append_message(NewMessage {
                    room: "lobby".to_owned(),
                    from: Some("alice".to_owned()),
                    text: format!("hello {n}"),
                    sent_at: at(n),
                })
                .await
                .expect("message"),
        );
    }
    let expires_at = at(3_600_000);
    store
        .create_session(SessionRecord {
            token_hash: "abc123".to_owned(),
            user_id: alice.id.clone(),
            expires_at,
        })
        .await
        .expect("session");
    let audit = AuditEntry {
        at: at(9),
        actor: Some("alice".to_owned()),
        action: "book".to_owned(),
        detail: "{\"quantity\":3}".to_owned(),
    };
    store.append_audit(audit.clone()).await.expect("audit");
    store.close().await.expect("close");

    let wal = data_dir.join(format!("{}-wal", SqliteStore::DB_FILE_NAME));
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "close checkpoints the WAL into the database");

    let store = SqliteStore::open(&data_dir).expect("reopen");
    assert_eq!(store.user_by_id(&alice.id).await, Ok(Some(alice.clone())));
    assert_eq!(
        store.user_by_username("ALICE").await,
        Ok(Some(alice.clone()))
    );
    let reopened = store
        .event(&event.id)
        .await
        .expect("event")
        .expect("exists");
    assert_eq!(reopened.available, 7);
    assert_eq!(
        store.tickets_for_user(&alice.id).await,
        Ok(vec![kept.ticket.clone()])
    );
    let replay = store
        .book(BookingRequest {
            request_key: Some("k".to_owned()),
            ..booking(&alice, &event.id, 3)
        })
        .await
        .expect("replay after reopen");
    assert!(replay.replayed);
    assert_eq!(replay.ticket, kept.ticket);
    assert_eq!(
        store.chat_history("lobby", None, 50).await,
        Ok(messages.clone())
    );
    let next = store
        .append_message(NewMessage {
            room: "lobby".to_owned(),
            from: Some("alice".to_owned()),
            text: "after reopen".to_owned(),
            sent_at: at(100),
        })
        .await
        .expect("message");
    assert_eq!(next.seq, 4, "sequence numbers continue");
    assert_eq!(
        store.session_user("abc123", at(1)).await,
        Ok(Some(alice.clone()))
    );
    assert_eq!(store.recent_audit(10).await, Ok(vec![audit]));
    store.close().await.expect("close");
}

#[tokio::test]
async fn dropping_without_close_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open");
    let user = store.create_user(new_user("bob")).await.expect("user");
    drop(store);
    let store = SqliteStore::open(dir.path()).expect("reopen while the old writer winds down");
    assert_eq!(store.user_by_id(&user.id).await, Ok(Some(user)));
    store.close().await.expect("close");
}

#[tokio::test]
async fn schema_version_is_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open");
    store.close().await.expect("close");
    let conn = raw(&dir.path().join(SqliteStore::DB_FILE_NAME));
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version");
    assert_eq!(version, SqliteStore::SCHEMA_VERSION);
    assert!(version >= 1);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal", "WAL mode is persistent in the file");
    drop(conn);
    // Reopening an up-to-date file migrates nothing and keeps the version.
    let store = SqliteStore::open(dir.path()).expect("reopen");
    store.close().await.expect("close");
    let version: u32 = raw(&dir.path().join(SqliteStore::DB_FILE_NAME))
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version");
    assert_eq!(version, SqliteStore::SCHEMA_VERSION);
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(SqliteStore::DB_FILE_NAME);
    let future = SqliteStore::SCHEMA_VERSION + 1;
    {
        let conn = Connection::open(&path).expect("create file");
        conn.execute_batch("CREATE TABLE from_the_future (x INTEGER)")
            .expect("table");
        conn.pragma_update(None, "user_version", future)
            .expect("set version");
    }
    let err = SqliteStore::open(dir.path()).expect_err("a newer schema must be refused");
    let StoreError::Internal(message) = &err else {
        panic!("expected Internal, got {err:?}");
    };
    assert!(message.contains("newer"), "{message}");
    assert!(message.contains(&future.to_string()), "{message}");
    assert!(
        message.contains(&SqliteStore::SCHEMA_VERSION.to_string()),
        "{message}"
    );
    assert!(message.contains(SqliteStore::DB_FILE_NAME), "{message}");

    let conn = raw(&path);
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version");
    assert_eq!(version, future, "the refused file is left as it was");
    let tables: u32 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'users'",
            [],
            |row| row.get(0),
        )
        .expect("schema");
    assert_eq!(tables, 0, "no migration ran");
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join(SqliteStore::DB_FILE_NAME),
        b"this is not sqlite, just some text that is long enough to have a header.......",
    )
    .expect("write");
    let err = SqliteStore::open(dir.path()).expect_err("garbage must be refused");
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
}

#[tokio::test]
async fn malformed_ids_never_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open");
    let user = store.create_user(new_user("carol")).await.expect("user");
    let event = store
        .create_event(new_event("Magia", 5, 5))
        .await
        .expect("event");
    let ticket = store
        .book(booking(&user, &event.id, 1))
        .await
        .expect("book")
        .ticket;
    // Decimal-looking forms of real ids are not those ids: only the
    // canonical rendering names a row.
    for id in [
        format!("0{}", user.id),
        format!("+{}", user.id),
        format!("{} ", user.id),
        format!("{}.0", user.id),
        format!("{} OR 1=1", user.id),
        "1e0".to_owned(),
        "18446744073709551616".to_owned(),
        "-9223372036854775808".to_owned(),
    ] {
        assert_eq!(store.user_by_id(&id).await, Ok(None), "{id:?}");
        assert_eq!(store.event(&id).await, Ok(None), "{id:?}");
        assert_eq!(store.tickets_for_user(&id).await, Ok(Vec::new()), "{id:?}");
        assert_eq!(store.delete_user_sessions(&id).await, Ok(0), "{id:?}");
        assert_eq!(
            store.update_user(&id, UserUpdate::default()).await,
            Err(StoreError::NotFound),
            "{id:?}"
        );
        assert_eq!(
            store
                .cancel_ticket(
                    &user.id,
                    &id,
                    None,
                    coliseum_store::now(),
                    coliseum_store::OfferPolicy::default()
                )
                .await,
            Err(StoreError::NotFound),
            "{id:?}"
        );
        assert_eq!(
            store.book(booking(&user, &id, 1)).await,
            Err(StoreError::NotFound),
            "{id:?}"
        );
        assert_eq!(
            store
                .create_session(SessionRecord {
                    token_hash: format!("t-{id}"),
                    user_id: id.clone(),
                    expires_at: at(1),
                })
                .await,
            Err(StoreError::NotFound),
            "{id:?}"
        );
    }
    let ids: Vec<_> = store
        .tickets_for_user(&user.id)
        .await
        .expect("tickets")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [ticket.id], "nothing was cancelled");
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_operation_rolls_back_only_itself() {
    // Bookings by a user that does not exist, mixed into the same groups as
    // valid ones: each is refused (`NotFound`) having changed nothing — no
    // seats taken — while the valid bookings of the same group commit, and
    // no group fails.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open"));
    let event = store
        .create_event(new_event("Cibo", 1_000, 1_000))
        .await
        .expect("event");
    let real = store.create_user(new_user("dave")).await.expect("user");
    let ghost = User {
        id: "424242".to_owned(),
        ..real.clone()
    };
    const TASKS: usize = 200;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for n in 0..TASKS {
        let store = Arc::clone(&store);
        let barrier = Arc::clone(&barrier);
        let user = if n % 2 == 0 {
            real.clone()
        } else {
            ghost.clone()
        };
        let request = booking(&user, &event.id, 2);
        tasks.spawn(async move {
            barrier.wait().await;
            (n % 2 == 0, store.book(request).await)
        });
    }
    let mut booked = 0;
    while let Some(joined) = tasks.join_next().await {
        let (real_user, result) = joined.expect("task");
        if real_user {
            assert!(result.is_ok(), "{result:?}");
            booked += 2;
        } else {
            assert_eq!(result, Err(StoreError::NotFound));
        }
    }
    let event = store
        .event(&event.id)
        .await
        .expect("event")
        .expect("exists");
    assert_eq!(event.available, 1_000 - booked);
    let stats = store.write_stats();
    assert_eq!(stats.failed_batches, 0);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replies_come_after_commit_and_writes_are_grouped() {
    // Every acknowledged booking must already be visible to a fresh
    // connection (it is committed), and concurrent writes must share
    // transactions (group commit).
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open"));
    let event = store
        .create_event(new_event("Gruppo", 10_000, 10_000))
        .await
        .expect("event");
    let user = store.create_user(new_user("erin")).await.expect("user");
    let before = store.write_stats();
    const TASKS: usize = 400;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        let barrier = Arc::clone(&barrier);
        let request = booking(&user, &event.id, 1);
        let path = store.path().to_owned();
        tasks.spawn(async move {
            barrier.wait().await;
            let booked = store.book(request).await.expect("book");
            let id = booked.ticket.id.clone();
            let visible = tokio::task::spawn_blocking(move || {
                raw(&path)
                    .query_row(
                        "SELECT COUNT(*) FROM tickets WHERE id = ?1",
                        [id.parse::<i64>().expect("decimal id")],
                        |row| row.get::<_, i64>(0),
                    )
                    .expect("query")
            })
            .await
            .expect("blocking task");
            assert_eq!(
                visible, 1,
                "acknowledged ticket {} is committed",
                booked.ticket.id
            );
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task");
    }
    let after = store.write_stats();
    let operations = after.operations - before.operations;
    let batches = after.batches - before.batches;
    assert_eq!(operations, TASKS as u64);
    assert!(
        batches < operations,
        "{operations} concurrent writes should share transactions, took {batches}"
    );
    assert_eq!(
        store
            .event(&event.id)
            .await
            .expect("event")
            .map(|e| e.available),
        Some(10_000 - TASKS as u32)
    );
    store.close().await.expect("close");
}

#[tokio::test]
async fn calls_after_close_are_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open");
    let user = store.create_user(new_user("frank")).await.expect("user");
    let event = store
        .create_event(new_event("Fine", 3, 3))
        .await
        .expect("event");
    store.close().await.expect("close");
    store.close().await.expect("close is idempotent");

    let unavailable = |r: Result<(), StoreError>, what: &str| {
        assert!(
            matches!(r, Err(StoreError::Unavailable(_))),
            "{what} after close: {r:?}"
        );
    };
    unavailable(
        store.create_user(new_user("gina")).await.map(drop),
        "create_user",
    );
    unavailable(
        store.user_by_username("frank").await.map(drop),
        "user_by_username",
    );
    unavailable(store.user_by_id(&user.id).await.map(drop), "user_by_id");
    unavailable(
        store.user_by_id("bogus").await.map(drop),
        "user_by_id(bogus)",
    );
    unavailable(store.event(&event.id).await.map(drop), "event");
    unavailable(store.list_events().await.map(drop), "list_events");
    unavailable(
        store.book(booking(&user, &event.id, 1)).await.map(drop),
        "book",
    );
    unavailable(store.tickets_for_user(&user.id).await.map(drop), "tickets");
    unavailable(
        store.chat_history("lobby", None, 10).await.map(drop),
        "chat_history",
    );
    unavailable(store.recent_audit(10).await.map(drop), "recent_audit");
    unavailable(store.delete_session("x").await, "delete_session");
}

#[tokio::test]
async fn odd_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open");
    let user = store.create_user(new_user("hana")).await.expect("user");
    let event = store
        .create_event(new_event("Zero", 2, 2))
        .await
        .expect("event");
    // Quantity 0 breaks the schema's CHECK: an error, not a panic, and no
    // seats move.
    let zero = store.book(booking(&user, &event.id, 0)).await;
    assert!(matches!(zero, Err(StoreError::Internal(_))), "{zero:?}");
    // A capacity of 0 is refused by the schema too.
    let empty = store.create_event(new_event("None", 0, 1)).await;
    assert!(matches!(empty, Err(StoreError::Internal(_))), "{empty:?}");
    // Text with NULs and quotes is stored verbatim.
    let odd = "it's \"quoted\" \0 and ünïcödé";
    let msg = store
        .append_message(NewMessage {
            room: "odd".to_owned(),
            from: Some(odd.to_owned()),
            text: odd.to_owned(),
            sent_at: at(0),
        })
        .await
        .expect("odd text");
    assert_eq!(msg.text, odd);
    assert_eq!(
        store
            .chat_history("odd", None, 1)
            .await
            .map(|m| m[0].text.clone()),
        Ok(odd.to_owned())
    );
    assert_eq!(
        store
            .event(&event.id)
            .await
            .expect("event")
            .map(|e| e.available),
        Some(2)
    );
    store.close().await.expect("close");
}

#[tokio::test]
async fn a_booking_write_failing_after_its_checks_rolls_back_its_whole_group() {
    // Bookings take no savepoint (they check before they write). If a write
    // fails after the checks passed — here the audit table has gone — the
    // whole group is rolled back and answered `Internal`: no seats taken,
    // no ticket, nothing half-written. The store stays usable.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open");
    let event = store
        .create_event(new_event("Broken", 10, 10))
        .await
        .expect("event");
    let user = store.create_user(new_user("erin")).await.expect("user");
    Connection::open(dir.path().join(SqliteStore::DB_FILE_NAME))
        .expect("read-write connection")
        .execute_batch("DROP TABLE audit")
        .expect("drop the audit table behind the store's back");

    let audited = BookingRequest {
        audit_actor: Some(user.username.clone()),
        ..booking(&user, &event.id, 3)
    };
    let failed = store.book(audited).await;
    assert!(matches!(failed, Err(StoreError::Internal(_))), "{failed:?}");
    assert_eq!(store.write_stats().failed_batches, 1);
    let after = store
        .event(&event.id)
        .await
        .expect("event")
        .expect("exists");
    assert_eq!(after.available, 10, "no seats taken");
    assert_eq!(store.tickets_for_user(&user.id).await, Ok(Vec::new()));

    let booked = store
        .book(booking(&user, &event.id, 2))
        .await
        .expect("a booking without audit record still works");
    assert_eq!(booked.available, 8);
    store.close().await.expect("close");
}

#[tokio::test]
async fn a_full_disk_answers_unavailable_and_writes_recover_once_space_is_freed() {
    // Hardening issue: on a full disk the writer thread died and writes hung
    // or failed forever. Now a write that finds the disk full is answered
    // `Unavailable` (nothing kept), reads go on, and writes work again as
    // soon as there is room — no restart.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open");
    let event = store
        .create_event(new_event("Full house", 10, 10))
        .await
        .expect("event");
    store.limit_pages(Some(1)).await.expect("cap the size");
    let text = "x".repeat(2_000);
    let mut appended = 0_u32;
    let refused = loop {
        assert!(appended < 10_000, "the capped database never filled up");
        let sent = store
            .append_message(NewMessage {
                room: "lobby".to_owned(),
                from: Some("filler".to_owned()),
                text: text.clone(),
                sent_at: at(i64::from(appended)),
            })
            .await;
        match sent {
            Ok(_) => appended += 1,
            Err(err) => break err,
        }
    };
    assert!(
        matches!(&refused, StoreError::Unavailable(m) if m.contains("disk is full")),
        "{refused:?}"
    );
    // Reads still work while the disk is full.
    let seen = store.event(&event.id).await.expect("read").expect("exists");
    assert_eq!(seen.available, 10);

    store.limit_pages(None).await.expect("space freed");
    let user = store
        .create_user(new_user("after"))
        .await
        .expect("writes work again");
    let booked = store
        .book(booking(&user, &event.id, 2))
        .await
        .expect("bookings work again");
    assert_eq!(booked.available, 8);
    store.close().await.expect("close");
}
