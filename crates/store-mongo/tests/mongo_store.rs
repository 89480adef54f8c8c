//! MongoDB-specific behaviour beyond the shared conformance suite: fast
//! failure when MongoDB is unreachable and recovery when it is back, crash
//! recovery of the non-transactional booking path, request-key races, and
//! the stored shapes (ObjectIds, indexes).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use coliseum_protocol::Role;
use coliseum_store::{BookingRequest, NewEvent, NewUser, Store, StoreError};
use coliseum_store_mongo::{
    Fault, FaultPoint, LeaseTiming, MongoOptions, MongoStore, Recovery, RecoveryReport, STALE_AFTER,
};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{name}@example.test"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash".to_owned(),
        role: Role::User,
        created_at: coliseum_store::now(),
    }
}

fn new_event(capacity: u32, max_per_user: u32) -> NewEvent {
    NewEvent {
        name: format!("Test {:08x}", rand::random::<u32>()),
        starts_at: chrono::DateTime::parse_from_rfc3339("2031-05-01T20:00:00+02:00")
            .expect("valid start"),
        location: "Test Arena".to_owned(),
        description: String::new(),
        capacity,
        max_per_user,
    }
}

fn booking(user_id: &str, event_id: &str, quantity: u32, key: Option<&str>) -> BookingRequest {
    BookingRequest {
        user_id: user_id.to_owned(),
        event_id: event_id.to_owned(),
        quantity,
        request_key: key.map(str::to_owned),
        booked_at: coliseum_store::now(),
        audit_actor: None,
    }
}

// ----- unreachable MongoDB ---------------------------------------------------

/// Connecting to a port where nothing listens fails within the timeout with
/// one `Unavailable` line naming the host (and not the URI's password).
#[tokio::test]
async fn connect_to_a_closed_port_fails_fast_with_one_line() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let timeout = Duration::from_millis(800);
    let started = Instant::now();
    let result = MongoStore::connect(MongoOptions {
        uri: format!("mongodb://coliseum:s3cret@{address}/?authSource=admin"),
        database: "coliseum".to_owned(),
        timeout,
    })
    .await;
    let elapsed = started.elapsed();
    let Err(StoreError::Unavailable(message)) = result else {
        panic!("expected Unavailable, got {result:?}");
    };
    eprintln!(
        "start-up error line: {}",
        StoreError::Unavailable(message.clone())
    );
    assert!(
        elapsed < timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        message.contains(&address.to_string()),
        "names the host: {message}"
    );
    assert!(
        !message.contains("s3cret"),
        "never prints the password: {message}"
    );
}

/// A server that accepts connections but never answers (hung) is also
/// `Unavailable` within the timeout.
#[tokio::test]
async fn connect_to_a_silent_server_fails_within_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: the driver opens a handful of connections at most.
        for _ in 0..64 {
            match listener.accept().await {
                Ok((socket, _)) => held.push(socket),
                Err(_) => break,
            }
        }
    });
    let timeout = Duration::from_millis(800);
    let started = Instant::now();
    let result = MongoStore::connect(MongoOptions {
        uri: format!("mongodb://{address}"),
        database: "coliseum".to_owned(),
        timeout,
    })
    .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
    assert!(
        started.elapsed() < timeout + Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    silent.abort();
}

/// A TCP proxy in front of the test server that can be cut and restored,
/// to play "MongoDB went away" without touching the shared server.
struct Proxy {
    address: std::net::SocketAddr,
    upstream: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(address: &str, upstream: String) -> Self {
        let listener = TcpListener::bind(address).await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let stop = CancellationToken::new();
        let token = stop.clone();
        let target = upstream.clone();
        let task = tokio::spawn(async move {
            let mut links = JoinSet::new();
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { break };
                        let target = target.clone();
                        links.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(&target).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                }
            }
            // Cut: every open connection dies with the listener.
            links.abort_all();
        });
        Self {
            address,
            upstream,
            stop,
            task,
        }
    }

    /// Closes the listener and every connection through it.
    async fn cut(self) -> (std::net::SocketAddr, String) {
        self.stop.cancel();
        let _ = self.task.await;
        (self.address, self.upstream)
    }
}

/// The host:port of the test server's URI (`mongodb://host:port[/...]`).
fn upstream_address(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mongodb://")?;
    let hosts = rest.split(['/', '?']).next()?;
    let host = hosts.rsplit('@').next()?;
    if host.contains(',') {
        return None;
    }
    Some(if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:27017")
    })
}

/// While MongoDB is unreachable calls fail with `Unavailable` within the
/// timeout; when it is back the same store works again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_mongodb_is_away_and_recover_after() {
    let Some(uri) = common::test_uri() else {
        return;
    };
    let Some(upstream) = upstream_address(&uri) else {
        eprintln!("skipping: the proxy test needs a single-host mongodb:// URI");
        return;
    };
    let proxy = Proxy::start("127.0.0.1:0", upstream).await;
    let name = common::unique_database();
    let _guard = common::DropDatabase {
        uri: uri.clone(),
        name: name.clone(),
    };
    let timeout = Duration::from_secs(1);
    let store = MongoStore::connect(MongoOptions {
        // directConnection: the proxy address is the only one to use.
        uri: format!("mongodb://{}/?directConnection=true", proxy.address),
        database: name,
        timeout,
    })
    .await
    .expect("connect through the proxy");
    let event = store
        .create_event(new_event(10, 5))
        .await
        .expect("create_event");

    let (address, upstream) = proxy.cut().await;
    let started = Instant::now();
    let result = store.event(&event.id).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected Unavailable while MongoDB is away, got {result:?}"
    );
    assert!(
        started.elapsed() < timeout + Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    let user = store
        .create_user(new_user(&format!("away{:08x}", rand::random::<u32>())))
        .await;
    assert!(
        matches!(user, Err(StoreError::Unavailable(_))),
        "got {user:?}"
    );

    let proxy = Proxy::start(&address.to_string(), upstream).await;
    // Bounded wait for the driver to reconnect on its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    let back = loop {
        match store.event(&event.id).await {
            Ok(found) => break found,
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("store did not recover: {other}"),
        }
    };
    assert_eq!(back.map(|e| e.available), Some(10));
    assert_eq!(store.close().await, Ok(()));
    let _ = proxy.cut().await;
}

// ----- shapes -----------------------------------------------------------------

/// Ids are ObjectId hex strings; the documents hold ObjectIds, BSON dates
/// and i64 counters; the collections and unique indexes exist.
#[tokio::test]
async fn documents_use_object_ids_dates_and_i64_counters() {
    let Some((store, guard)) = common::fresh_store().await else {
        return;
    };
    let user = store
        .create_user(new_user("Shape"))
        .await
        .expect("create_user");
    let event = store
        .create_event(new_event(7, 3))
        .await
        .expect("create_event");
    let booked = store
        .book(booking(&user.id, &event.id, 2, Some("k1")))
        .await
        .expect("book");
    for id in [&user.id, &event.id, &booked.ticket.id] {
        assert!(ObjectId::parse_str(id).is_ok(), "{id} is an ObjectId");
    }
    let client = common::raw_client(&guard.uri).await;
    let db = client.database(&guard.name);
    let stored_user = db
        .collection::<Document>("users")
        .find_one(doc! {})
        .await
        .expect("read")
        .expect("user doc");
    assert_eq!(stored_user.get_str("username_lc"), Ok("shape"));
    assert!(stored_user.get_datetime("created_at").is_ok());
    let stored_event = db
        .collection::<Document>("events")
        .find_one(doc! {})
        .await
        .expect("read")
        .expect("event doc");
    assert_eq!(stored_event.get_i64("available"), Ok(5));
    assert_eq!(stored_event.get_i64("capacity"), Ok(7));
    let ticket = db
        .collection::<Document>("tickets")
        .find_one(doc! {})
        .await
        .expect("read")
        .expect("ticket doc");
    assert_eq!(ticket.get_str("status"), Ok("active"));
    assert!(ticket.get_object_id("user_id").is_ok());
    assert!(ticket.get_datetime("booked_at").is_ok());
    assert_eq!(
        ticket.get_str("request_ref"),
        Ok(format!("{}:k1", user.id).as_str())
    );
    let names = store.collection_names().await.expect("collections");
    for expected in ["events", "holdings", "tickets", "users"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    // The markers are gone once the booking completed.
    assert!(stored_event.get_array("holds").map_or(true, Vec::is_empty));
    client.shutdown().await;
    assert_eq!(store.close().await, Ok(()));
    assert!(
        matches!(store.list_events().await, Err(StoreError::Unavailable(_))),
        "a closed store answers Unavailable"
    );
}

// ----- message batches -----------------------------------------------------------

/// `append_messages` stores a batch with one ordered `insertMany`: when a
/// document fails (here a `seq` already taken behind the store's back),
/// the messages before it are stored and answered, it gets the error, and
/// the ones after it are stored one by one with new numbers, still in
/// order; the numbers reserved for them are never given out again.
#[tokio::test]
async fn a_failed_batch_insert_fails_only_its_message() {
    let Some((store, guard)) = common::fresh_store().await else {
        return;
    };
    let message = |room: &str, text: &str| coliseum_store::NewMessage {
        room: room.to_owned(),
        from: Some("batcher".to_owned()),
        text: text.to_owned(),
        sent_at: coliseum_store::now(),
    };
    for text in ["one", "two"] {
        store
            .append_message(message("r", text))
            .await
            .expect("append");
    }
    let client = common::raw_client(&guard.uri).await;
    let messages = client
        .database(&guard.name)
        .collection::<Document>("messages");
    messages
        .insert_one(doc! {
            "room": "r",
            "seq": 4_i64,
            "system": false,
            "from": "planter",
            "text": "planted",
            "sent_at": mongodb::bson::DateTime::now(),
            "deleted": false,
        })
        .await
        .expect("plant seq 4");

    let results = store
        .append_messages(vec![
            message("r", "three"),
            message("r", "four"),
            message("r", "five"),
            message("s", "other room"),
        ])
        .await;
    let answers: Vec<_> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|m| (m.room.as_str(), m.seq, m.text.as_str()))
        })
        .collect();
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0], Ok(("r", 3, "three")), "before the failure");
    assert!(
        matches!(results[1], Err(StoreError::Internal(_))),
        "the failed one: {:?}",
        results[1]
    );
    assert_eq!(answers[2], Ok(("r", 6, "five")), "after it, a new number");
    assert_eq!(answers[3], Ok(("s", 2, "other room")), "1 was reserved");
    let history = store.chat_history("r", None, 50).await.expect("history");
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 6], "\"four\" is not stored");
    let next = store
        .append_message(message("r", "seven"))
        .await
        .expect("append");
    assert_eq!(next.seq, 7, "reserved numbers are not given out again");
    client.shutdown().await;
    assert_eq!(store.close().await, Ok(()));
}

// ----- request keys under races -------------------------------------------------

/// Twelve identical requests (same user, same key) at once: one booking,
/// the others replay it; seats are taken once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_request_key_book_once() {
    let Some((store, _guard)) = common::fresh_store().await else {
        return;
    };
    let store = Arc::new(store);
    let user = store.create_user(new_user("retrier")).await.expect("user");
    let event = store.create_event(new_event(20, 4)).await.expect("event");
    let barrier = Arc::new(tokio::sync::Barrier::new(12));
    let mut tasks = JoinSet::new();
    for _ in 0..12 {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        let request = booking(&user.id, &event.id, 2, Some("same-key"));
        tasks.spawn(async move {
            barrier.wait().await;
            store.book(request).await
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("task").expect("book or replay"));
    }
    let originals = results.iter().filter(|b| !b.replayed).count();
    assert_eq!(originals, 1, "exactly one real booking");
    let first = &results[0].ticket;
    assert!(
        results.iter().all(|b| &b.ticket == first),
        "all see the same ticket"
    );
    assert_eq!(
        store
            .event(&event.id)
            .await
            .expect("event")
            .map(|e| e.available),
        Some(18)
    );
    assert_eq!(
        store
            .tickets_for_user(&user.id)
            .await
            .expect("tickets")
            .len(),
        1
    );
    assert_eq!(store.close().await, Ok(()));
}

// ----- crash recovery (marker path) ----------------------------------------------

/// Raw access to the test database, to put it into the states a crash
/// between two booking steps leaves behind.
struct Raw {
    db: mongodb::Database,
}

impl Raw {
    fn coll(&self, name: &str) -> mongodb::Collection<Document> {
        self.db.collection(name)
    }

    async fn doc(&self, collection: &str, id: impl Into<mongodb::bson::Bson>) -> Option<Document> {
        self.coll(collection)
            .find_one(doc! { "_id": id.into() })
            .await
            .expect("read")
    }

    async fn available(&self, event: ObjectId) -> i64 {
        self.doc("events", event)
            .await
            .and_then(|d| d.get_i64("available").ok())
            .expect("event available")
    }

    /// The ticket with hex id `id`.
    async fn ticket_doc(&self, id: &str) -> Document {
        let id = ObjectId::parse_str(id).expect("ticket id");
        self.doc("tickets", id).await.expect("ticket")
    }

    async fn held(&self, holding: &str) -> i64 {
        self.doc("holdings", holding)
            .await
            .and_then(|d| d.get_i64("held").ok())
            .unwrap_or(0)
    }

    /// Inserts a ticket in `status` whose state is `age` old.
    async fn ticket(
        &self,
        user: ObjectId,
        event: ObjectId,
        quantity: i64,
        status: &str,
        key: Option<&str>,
    ) -> ObjectId {
        let id = ObjectId::new();
        let since = mongodb::bson::DateTime::from_millis(
            coliseum_store::now().timestamp_millis() - 10 * 60 * 1000,
        );
        let mut ticket = doc! {
            "_id": id, "user_id": user, "event_id": event, "event_name": "Crash",
            "quantity": quantity, "booked_at": since, "status": status, "since": since,
        };
        if let Some(key) = key {
            ticket.insert("request_ref", format!("{}:{key}", user.to_hex()));
        }
        if status == "cancelling" {
            ticket.insert("worker", "dead-worker");
        }
        self.coll("tickets")
            .insert_one(ticket)
            .await
            .expect("insert ticket");
        id
    }

    /// A plain `$inc` (the state a completed step left).
    async fn inc(
        &self,
        collection: &str,
        id: impl Into<mongodb::bson::Bson>,
        counter: &str,
        delta: i64,
    ) {
        self.coll(collection)
            .update_one(
                doc! { "_id": id.into() },
                doc! { "$inc": { counter: delta } },
            )
            .upsert(true)
            .await
            .expect("inc");
    }

    /// Applies a booking or cancel step exactly as the store does (`$inc`
    /// by `delta` + a marker `{t: ticket, q: |delta|}` in `array`), as if the
    /// process died right after it.
    async fn step(
        &self,
        (collection, id): (&str, mongodb::bson::Bson),
        counter: &str,
        delta: i64,
        ticket: ObjectId,
        array: &str,
    ) {
        let marker = doc! { "t": ticket, "q": delta.abs() };
        self.coll(collection)
            .update_one(
                doc! { "_id": id },
                doc! { "$inc": { counter: delta }, "$push": { array: marker } },
            )
            .upsert(true)
            .await
            .expect("apply step");
    }
}

/// Crashes at every step of a booking and of a cancel are repaired by one
/// recovery pass: seats and allowances come back exactly once, finished
/// bookings keep their seats, interrupted cancels are completed; a second
/// pass finds nothing; young in-flight bookings are left alone.
#[tokio::test]
async fn recovery_repairs_every_crash_point_exactly_once() {
    let Some((store, guard)) = common::fresh_store_with(Recovery::Manual).await else {
        return;
    };
    let client = common::raw_client(&guard.uri).await;
    let raw = Raw {
        db: client.database(&guard.name),
    };
    let user = store.create_user(new_user("crasher")).await.expect("user");
    let user_oid = ObjectId::parse_str(&user.id).expect("oid");
    let event = store.create_event(new_event(10, 10)).await.expect("event");
    let event_oid = ObjectId::parse_str(&event.id).expect("oid");
    let holding = format!("{}:{}", user.id, event.id);

    // A completed booking (2 seats) that must survive recovery untouched.
    let kept = store
        .book(booking(&user.id, &event.id, 2, None))
        .await
        .expect("book");
    assert_eq!(raw.available(event_oid).await, 8);

    // Crash after step 1 (pending ticket only), with a request key.
    let only_ticket = raw
        .ticket(user_oid, event_oid, 1, "pending", Some("retry-me"))
        .await;
    // Crash after step 2 (allowance reserved).
    let after_allowance = raw.ticket(user_oid, event_oid, 1, "pending", None).await;
    raw.step(
        ("holdings", holding.as_str().into()),
        "held",
        1,
        after_allowance,
        "holds",
    )
    .await;
    // Crash after step 3 (seats taken, not yet active).
    let after_seats = raw.ticket(user_oid, event_oid, 2, "pending", None).await;
    raw.step(
        ("holdings", holding.as_str().into()),
        "held",
        2,
        after_seats,
        "holds",
    )
    .await;
    raw.step(
        ("events", event_oid.into()),
        "available",
        -2,
        after_seats,
        "holds",
    )
    .await;
    // Crash after activation, before the markers were pulled.
    let after_commit = raw.ticket(user_oid, event_oid, 1, "active", None).await;
    raw.step(
        ("holdings", holding.as_str().into()),
        "held",
        1,
        after_commit,
        "holds",
    )
    .await;
    raw.step(
        ("events", event_oid.into()),
        "available",
        -1,
        after_commit,
        "holds",
    )
    .await;
    // Crash during a rollback: ticket gone, seat marker still there.
    let vanished = ObjectId::new();
    raw.step(
        ("events", event_oid.into()),
        "available",
        -1,
        vanished,
        "holds",
    )
    .await;
    // Crash after a cancel's commit point and its seat return, before the
    // allowance went back: a 1-seat ticket that was active.
    let cancelling = raw.ticket(user_oid, event_oid, 1, "cancelling", None).await;
    raw.inc("holdings", holding.as_str(), "held", 1).await; // it was held
    raw.inc("events", event_oid, "available", -1).await; // it was sold
    raw.step(
        ("events", event_oid.into()),
        "available",
        1,
        cancelling,
        "releases",
    )
    .await; // seat returned
    // A young in-flight booking: recovery must not touch it.
    let young = ObjectId::new();
    let now = mongodb::bson::DateTime::now();
    raw.coll("tickets")
        .insert_one(doc! {
            "_id": young, "user_id": user_oid, "event_id": event_oid, "event_name": "Young",
            "quantity": 1_i64, "booked_at": now, "status": "pending", "since": now,
        })
        .await
        .expect("young ticket");

    // Before: 10 − 2 (kept) − 2 (after_seats) − 1 (after_commit) − 1
    // (vanished) − 1 (cancelling sold) + 1 (cancelling returned) = 4.
    assert_eq!(raw.available(event_oid).await, 4);
    // held: 2 (kept) + 1 + 2 + 1 + 1 (cancelling) = 7.
    assert_eq!(raw.held(&holding).await, 7);

    let report = store.reconcile(STALE_AFTER).await.expect("recovery");
    assert_eq!(
        report,
        RecoveryReport {
            bookings_rolled_back: 3,
            cancels_finished: 1,
            accepts_finished: 0,
            event_cancels_finished: 0,
            // after_allowance (1), after_seats (2), vanished (1).
            markers_undone: 4,
            // after_commit's two markers.
            markers_cleared: 2,
        }
    );
    // Seats: kept (2) and after_commit (1) stay sold; everything else is back.
    assert_eq!(raw.available(event_oid).await, 7);
    assert_eq!(
        store
            .event(&event.id)
            .await
            .expect("event")
            .map(|e| e.available),
        Some(7)
    );
    // Allowance: the user holds kept (2) + after_commit (1) = 3.
    assert_eq!(raw.held(&holding).await, 3);
    for gone in [only_ticket, after_allowance, after_seats] {
        assert!(
            raw.doc("tickets", gone).await.is_none(),
            "rolled-back ticket deleted"
        );
    }
    let cancelled = raw
        .doc("tickets", cancelling)
        .await
        .expect("cancelled ticket");
    assert_eq!(cancelled.get_str("status"), Ok("cancelled"));
    let event_doc = raw.doc("events", event_oid).await.expect("event");
    assert!(
        event_doc.get_array("holds").map_or(true, Vec::is_empty),
        "{event_doc}"
    );
    assert!(
        event_doc.get_array("releases").map_or(true, Vec::is_empty),
        "{event_doc}"
    );
    let young_doc = raw
        .doc("tickets", young)
        .await
        .expect("young ticket untouched");
    assert_eq!(young_doc.get_str("status"), Ok("pending"));

    let mut active: Vec<String> = store
        .tickets_for_user(&user.id)
        .await
        .expect("tickets")
        .into_iter()
        .map(|t| t.id)
        .collect();
    active.sort();
    let mut expected = vec![kept.ticket.id.clone(), after_commit.to_hex()];
    expected.sort();
    assert_eq!(active, expected);

    // The request key of the rolled-back booking can be used again.
    let retried = store
        .book(booking(&user.id, &event.id, 1, Some("retry-me")))
        .await
        .expect("retry with the same key");
    assert!(!retried.replayed, "the crashed booking never happened");
    assert_eq!(retried.available, 6);

    // Idempotent: a second pass finds nothing to do.
    assert_eq!(
        store.reconcile(STALE_AFTER).await,
        Ok(RecoveryReport::default())
    );
    assert_eq!(raw.available(event_oid).await, 6);
    client.shutdown().await;
    assert_eq!(store.close().await, Ok(()));
}

// ----- several instances on one database (issue 15) -------------------------------

/// A short lease for the instance tests: 3 s, renewed every 300 ms, taken
/// over as soon as it ran out.
const FAST_LEASE: LeaseTiming = LeaseTiming {
    ttl: Duration::from_secs(3),
    renew_every: Duration::from_millis(300),
    skew_margin: Duration::ZERO,
};

/// The start of an instance test: a first store (manual recovery) with
/// `timing`, raw access to its database, a user and a 10-seat event.
struct Instances {
    first: Arc<MongoStore>,
    guard: common::DropDatabase,
    client: mongodb::Client,
    raw: Raw,
    user: coliseum_store::User,
    event: String,
    event_oid: ObjectId,
    holding: String,
}

impl Instances {
    /// `None` when no test MongoDB is configured.
    async fn start(timing: LeaseTiming, username: &str) -> Option<Self> {
        let (first, guard) = common::fresh_store_with(Recovery::Manual).await?;
        first.set_lease_timing(timing);
        let client = common::raw_client(&guard.uri).await;
        let raw = Raw {
            db: client.database(&guard.name),
        };
        let user = first.create_user(new_user(username)).await.expect("user");
        let event = first.create_event(new_event(10, 10)).await.expect("event");
        Some(Self {
            first: Arc::new(first),
            guard,
            client,
            raw,
            holding: format!("{}:{}", user.id, event.id),
            event_oid: ObjectId::parse_str(&event.id).expect("oid"),
            event: event.id,
            user,
        })
    }

    /// Another instance on the database of `guard`, with manual recovery
    /// and [`FAST_LEASE`].
    async fn another_on(guard: &common::DropDatabase) -> MongoStore {
        let store =
            common::store_on_with(guard.uri.clone(), guard.name.clone(), Recovery::Manual).await;
        store.set_lease_timing(FAST_LEASE);
        store
    }
}

/// Arms a [`Fault::Hold`] at `point` of `store`: the first receiver hears
/// when a call got there, the sender lets it go on.
fn hold_at(
    store: &MongoStore,
    point: FaultPoint,
) -> (
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (reached, at_seam) = tokio::sync::oneshot::channel();
    let (resume, resumed) = tokio::sync::oneshot::channel();
    store.inject_fault(
        point,
        Fault::Hold {
            reached,
            resume: resumed,
        },
    );
    (at_seam, resume)
}

/// Recovery in a second instance on the same database, even with a zero
/// cut-off, never undoes a booking the first instance is still completing
/// (held before its commit point for longer than its lease, which it keeps
/// renewing); once the owner is gone and its lease ran out, two recovering
/// instances at once roll it back exactly once.
#[tokio::test]
async fn recovery_in_another_instance_never_undoes_a_live_booking() {
    let Some(Instances {
        first,
        guard,
        client,
        raw,
        user,
        event,
        event_oid,
        holding,
    }) = Instances::start(FAST_LEASE, "owner").await
    else {
        return;
    };

    // A booking held after its seats are reserved, before its commit point.
    let (at_seam, resume) = hold_at(&first, FaultPoint::BookingBeforeCommit);
    let held = tokio::spawn({
        let (first, user, event) = (Arc::clone(&first), user.id.clone(), event.clone());
        async move { first.book(booking(&user, &event, 2, Some("held"))).await }
    });
    at_seam.await.expect("the booking reaches the seam");
    let pending = raw
        .coll("tickets")
        .find_one(doc! { "status": "pending" })
        .await
        .expect("read")
        .expect("the held booking's pending ticket");
    assert_eq!(pending.get_str("owner"), Ok(first.instance_id()));
    assert!(pending.get_datetime("lease_until").is_ok(), "{pending}");
    assert_eq!(raw.available(event_oid).await, 8);

    // A second instance starts on the same database and recovers, with a
    // zero cut-off, for longer than the first lease's ttl.
    let second = common::store_on(guard.uri.clone(), guard.name.clone()).await;
    second.set_lease_timing(FAST_LEASE);
    assert_ne!(second.instance_id(), first.instance_id());
    let until = Instant::now() + FAST_LEASE.ttl + Duration::from_secs(1);
    while Instant::now() < until {
        assert_eq!(
            second.reconcile(Duration::ZERO).await,
            Ok(RecoveryReport::default()),
            "a live booking is never taken over"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    resume.send(()).expect("the booking waits");
    let booked = held
        .await
        .expect("booking task")
        .expect("the held booking completes");
    assert!(!booked.replayed);
    assert_eq!(booked.available, 8);
    let ticket = raw.ticket_doc(&booked.ticket.id).await;
    assert_eq!(ticket.get_str("status"), Ok("active"));
    assert!(!ticket.contains_key("owner") && !ticket.contains_key("lease_until"));

    // A booking whose process dies before its commit point: its lease is
    // no longer renewed, but nothing is taken over before it runs out.
    first.inject_fault(FaultPoint::BookingBeforeCommit, Fault::Crash);
    let crashed = first
        .book(booking(&user.id, &event, 3, Some("crashed")))
        .await;
    assert!(
        matches!(crashed, Err(StoreError::Internal(_))),
        "{crashed:?}"
    );
    assert_eq!(raw.available(event_oid).await, 5);
    assert_eq!(
        second.reconcile(Duration::ZERO).await,
        Ok(RecoveryReport::default())
    );
    tokio::time::sleep(FAST_LEASE.ttl + Duration::from_millis(500)).await;

    // Two instances recover at once: the booking is rolled back once.
    let third = Instances::another_on(&guard).await;
    let (a, b) = tokio::join!(
        second.reconcile(Duration::ZERO),
        third.reconcile(Duration::ZERO)
    );
    let (a, b) = (a.expect("recovery"), b.expect("recovery"));
    assert_eq!(
        a.bookings_rolled_back + b.bookings_rolled_back,
        1,
        "{a:?} {b:?}"
    );
    assert_eq!(a.markers_undone + b.markers_undone, 2, "{a:?} {b:?}");
    assert_eq!(raw.available(event_oid).await, 8);
    assert_eq!(raw.held(&holding).await, 2);
    assert_eq!(
        raw.coll("tickets")
            .count_documents(doc! { "status": { "$ne": "active" } })
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        second.reconcile(Duration::ZERO).await,
        Ok(RecoveryReport::default())
    );
    // The crashed booking never happened: its key books afresh.
    let retried = second
        .book(booking(&user.id, &event, 3, Some("crashed")))
        .await
        .expect("retry");
    assert!(!retried.replayed);
    assert_eq!(retried.available, 5);

    client.shutdown().await;
    for store in [&*first, &second, &third] {
        assert_eq!(store.close().await, Ok(()));
    }
}

/// A cancel whose owner stalls after its last lease check (a process
/// paused between the check and its next write) and cannot renew its
/// lease is taken over and finished by another instance; when the stale
/// owner goes on, the fence stops its seat return: seats and allowance come
/// back exactly once.
#[tokio::test]
async fn a_stale_cancel_owner_never_gives_seats_back_twice() {
    // A lease it does not renew in time: 1 s, renewals every hour.
    let timing = LeaseTiming {
        ttl: Duration::from_secs(1),
        renew_every: Duration::from_secs(3600),
        skew_margin: Duration::ZERO,
    };
    let Some(t) = Instances::start(timing, "stale").await else {
        return;
    };
    let (first, raw) = (&t.first, &t.raw);
    let booked = first
        .book(booking(&t.user.id, &t.event, 4, None))
        .await
        .expect("book");
    assert_eq!(raw.available(t.event_oid).await, 6);

    let (at_seam, resume) = hold_at(first, FaultPoint::CancelBeforeSeats);
    let stale = tokio::spawn({
        let (first, user, ticket) = (
            Arc::clone(first),
            t.user.id.clone(),
            booked.ticket.id.clone(),
        );
        async move {
            first
                .cancel_ticket(
                    &user,
                    &ticket,
                    None,
                    coliseum_store::now(),
                    coliseum_store::OfferPolicy::default(),
                )
                .await
        }
    });
    at_seam.await.expect("the cancel reaches the seam");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Another instance takes the cancel over and finishes it.
    let second = Instances::another_on(&t.guard).await;
    let report = second.reconcile(Duration::ZERO).await.expect("recovery");
    assert_eq!(report.cancels_finished, 1, "{report:?}");
    assert_eq!(raw.available(t.event_oid).await, 10);
    assert_eq!(raw.held(&t.holding).await, 0);

    // The stale owner goes on: it must not give anything back again.
    resume.send(()).expect("the cancel waits");
    let answer = stale.await.expect("cancel task");
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );
    assert_eq!(raw.available(t.event_oid).await, 10);
    assert_eq!(raw.held(&t.holding).await, 0);
    let ticket = raw.ticket_doc(&booked.ticket.id).await;
    assert_eq!(ticket.get_str("status"), Ok("cancelled"));
    assert_eq!(
        second.reconcile(Duration::ZERO).await,
        Ok(RecoveryReport::default())
    );

    t.client.shutdown().await;
    for store in [&**first, &second] {
        assert_eq!(store.close().await, Ok(()));
    }
}
