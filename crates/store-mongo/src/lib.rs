//! Coliseum's MongoDB store: [`coliseum_store::Store`] on the official
//! `mongodb` driver (3.x, tokio).
//!
//! ```no_run
//! # async fn demo() -> coliseum_store::StoreResult<()> {
//! use coliseum_store_mongo::{MongoOptions, MongoStore};
//! let store = MongoStore::connect(MongoOptions::new("mongodb://127.0.0.1:27017")).await?;
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//! - Usernames and e-mails are unique case-insensitively (unique indexes on
//!   lowercased copies); ids are ObjectIds, handed out as 24-digit hex.
//! - Booking never oversells and never exceeds the per-user limit, under any
//!   number of concurrent callers and server processes: the seat counter and
//!   the per-(user, event) holding only change through guarded single-document
//!   updates (`available ≥ q`, `held ≤ max − q`). One algorithm on every
//!   deployment (standalone, replica set, sharded): the marker protocol of
//!   `booking.rs` plus reconciliation in `recovery.rs` makes a crash between
//!   steps neither sell a seat twice nor lose one (see `docs/storage.md`).
//! - A write answered `Unavailable` has an unknown outcome (it may have
//!   been applied before the deadline passed): retry it with the same
//!   `request_key`.
//! - Chat `seq` comes from an atomic per-room counter (`findOneAndUpdate` +
//!   `$inc`): never given out twice.
//! - Every call answers within [`MongoOptions::timeout`]: when MongoDB is
//!   unreachable or slow the caller gets [`StoreError::Unavailable`]. The
//!   call itself runs in its own task and is never dropped half-way (a
//!   dropped driver future could leave a booking between steps); the driver
//!   reconnects by itself when MongoDB is back.
//!
//! # Layout
//! - this file: [`MongoOptions`], [`MongoStore`] (connect, the per-call task
//!   and deadline, close) and the `Store` impl;
//! - `setup.rs`: driver options, deployment detection, indexes;
//! - `store.rs`: collections and the simple operations;
//! - `booking.rs`: booking (the marker protocol); `cancel.rs`: cancelling
//!   (whole tickets or part of one);
//! - `ticketing.rs`: waiting list and offers (inside the event document,
//!   versioned updates), event changes and cancellation, check-in;
//! - `rooms.rs`: rooms, memberships, read markers, mutes;
//! - `recovery.rs`: repairs what a crash left of the marker path;
//!   `lease.rs`: the owner and lease each ticket in flight carries, so
//!   recovery in one instance never takes over another's live call;
//! - `model.rs`: the stored documents; `error.rs`: driver error mapping.

mod booking;
mod cancel;
mod error;
mod lease;
mod logins;
mod model;
mod recovery;
mod rooms;
mod setup;
mod store;
mod ticketing;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coliseum_protocol::{
    Attendee, ChatMessage, Event, Offer, RoomInfo, RoomRole, Ticket, WaitlistEntry,
};
use coliseum_store::{
    AuditEntry, Booking, BookingRequest, Cancellation, CheckIn, EventCancellation, EventChange,
    EventUpdate, LoginFailures, Membership, NewEvent, NewMessage, NewOffers, NewRoom, NewUser,
    OfferPolicy, OfferSweep, Room, SessionRecord, SessionUser, Store, StoreError, StoreResult,
    User, UserUpdate,
};
use futures::TryStreamExt as _;
use mongodb::Client;
use mongodb::bson::doc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use lease::{CLOCK_SKEW_MARGIN, LEASE_RENEW_EVERY, LEASE_TTL};
#[doc(hidden)]
pub use lease::{Fault, FaultPoint, LeaseTiming};
pub use recovery::{RECONCILE_EVERY, RecoveryReport, STALE_AFTER};

use crate::error::one_line;
use crate::store::Inner;

/// Default database name (`--mongodb-db`).
pub const DEFAULT_DATABASE: &str = "coliseum";

/// Default [`MongoOptions::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach MongoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoOptions {
    /// Connection string, e.g. `mongodb://127.0.0.1:27017` or
    /// `mongodb://host1,host2/?replicaSet=rs0` (`mongodb+srv://` works too).
    /// It may carry credentials: this crate never prints it.
    pub uri: String,
    /// Database name; default [`DEFAULT_DATABASE`] (`"coliseum"`).
    pub database: String,
    /// Bounds server selection, connecting, and each store call: a call
    /// that has not finished by then answers `Unavailable` (it still runs to
    /// its end in the background). Overrides `serverSelectionTimeoutMS` and
    /// `connectTimeoutMS` in the URI. Default [`DEFAULT_TIMEOUT`] (5 s).
    pub timeout: Duration,
}

impl MongoOptions {
    /// Options for `uri` with the default database and timeout.
    #[must_use]
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            database: DEFAULT_DATABASE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Default for MongoOptions {
    /// `mongodb://127.0.0.1:27017`, database `coliseum`, 5 s.
    fn default() -> Self {
        Self::new("mongodb://127.0.0.1:27017")
    }
}

/// Whether the store repairs interrupted bookings and cancels on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// A background task runs recovery at start-up and every
    /// [`RECONCILE_EVERY`] (what [`MongoStore::connect`] does).
    #[default]
    Background,
    /// Only [`MongoStore::reconcile`] runs it (tests, maintenance tools).
    Manual,
}

/// The MongoDB-backed [`Store`]. Cheap to share behind an `Arc`; one driver
/// client (connection pool) per store.
pub struct MongoStore {
    /// Collections and operations, shared with the per-call tasks.
    inner: Arc<Inner>,
    /// Every per-call task and the recovery task, so `close` can wait.
    tasks: TaskTracker,
    /// Stops the background recovery loop.
    stop: CancellationToken,
    /// Set by `close`; later calls answer `Unavailable`.
    closed: AtomicBool,
    /// The database name, for logs.
    database: String,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Drop for MongoStore {
    /// Stops the background recovery loop (it would otherwise keep the
    /// client alive); calls in flight finish on their own.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs `future` in its own task and waits at most `timeout` for it; on
/// expiry the task goes on (it is never dropped half-way) and the caller
/// gets `Unavailable` naming `what`.
async fn bounded<T, F>(what: &str, timeout: Duration, future: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: Future<Output = StoreResult<T>> + Send + 'static,
{
    let task = tokio::spawn(future);
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(StoreError::Internal(format!("{what} failed: {join}"))),
        Err(_) => Err(StoreError::Unavailable(format!(
            "MongoDB did not complete {what} within {} ms",
            timeout.as_millis()
        ))),
    }
}

impl MongoStore {
    /// Connects, checks that MongoDB answers (`ping`), creates the indexes
    /// and starts the
    /// background recovery (at once, then every [`RECONCILE_EVERY`]).
    ///
    /// # Errors
    /// `Unavailable` with one line naming the hosts (never the URI, which may
    /// hold a password) when MongoDB cannot be reached within
    /// `options.timeout`, or answers with an error (e.g. a server too old
    /// for the driver); `Internal` for a malformed URI or failed index
    /// creation.
    pub async fn connect(options: MongoOptions) -> StoreResult<Self> {
        Self::connect_with(options, Recovery::Background).await
    }

    /// [`MongoStore::connect`] with a choice of [`Recovery`].
    ///
    /// # Errors
    /// As [`MongoStore::connect`].
    pub async fn connect_with(options: MongoOptions, recovery: Recovery) -> StoreResult<Self> {
        let timeout = options.timeout;
        let uri = options.uri.clone();
        let driver_options = bounded("connect", timeout, async move {
            setup::client_options(&uri, timeout)
                .await
                .map_err(|e| StoreError::Internal(format!("invalid MongoDB URI: {}", one_line(&e))))
        })
        .await?;
        let hosts = driver_options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let client = Client::with_options(driver_options).map_err(|e| {
            StoreError::Internal(format!("invalid MongoDB options: {}", one_line(&e)))
        })?;

        let unreachable = |detail: String| {
            StoreError::Unavailable(format!(
                "cannot reach MongoDB at {hosts} within {} ms: {detail}",
                timeout.as_millis()
            ))
        };
        let probe = client.clone();
        bounded("connect", timeout, async move {
            probe
                .database("admin")
                .run_command(doc! { "ping": 1 })
                .await
                .map_err(|e| StoreError::Unavailable(one_line(&e)))?;
            // A server too old for the driver fails here, with its reason.
            setup::describe_server(&probe)
                .await
                .map(drop)
                .map_err(|e| StoreError::Unavailable(one_line(&e)))
        })
        .await
        .map_err(|e| match e {
            StoreError::Unavailable(detail) | StoreError::Internal(detail) => unreachable(detail),
            other => other,
        })?;

        let db = client.database(&options.database);
        let index_db = db.clone();
        bounded("connect", timeout, async move {
            setup::create_indexes(&index_db).await.map_err(|e| {
                StoreError::Internal(format!("cannot create MongoDB indexes: {}", one_line(&e)))
            })
        })
        .await?;

        let inner = Arc::new(Inner::new(client, db, timeout));
        let store = Self {
            inner,
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            closed: AtomicBool::new(false),
            database: options.database,
        };
        if recovery == Recovery::Background {
            store.start_recovery();
        }
        tracing::info!(
            database = %store.database,
            "MongoDB store ready at {hosts}"
        );
        Ok(store)
    }

    /// The database name.
    #[must_use]
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Runs one recovery pass now (the background task uses
    /// [`STALE_AFTER`]). Bookings and cancels in flight carry their owner's
    /// lease and are taken over only once it has run out by
    /// [`CLOCK_SKEW_MARGIN`], whatever `older_than` is, so even
    /// `Duration::ZERO` never undoes a call another instance is still
    /// running. `older_than` applies to the rest: `failed` tickets,
    /// interrupted event-cancel sweeps, and tickets written before leases
    /// existed (for those, zero is only safe when no older server version
    /// is running).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` as for any call.
    pub async fn reconcile(&self, older_than: Duration) -> StoreResult<RecoveryReport> {
        self.run("reconcile", move |inner| async move {
            inner.reconcile(older_than).await
        })
        .await
    }

    /// This store open's instance id (`<random hex>@<host>`), written as
    /// `owner` on the tickets whose booking or cancel it is running.
    #[must_use]
    pub fn instance_id(&self) -> &str {
        &self.inner.owner
    }

    /// Changes this store's lease timing (tests; see `lease.rs`).
    #[doc(hidden)]
    pub fn set_lease_timing(&self, timing: LeaseTiming) {
        *self
            .inner
            .lease_timing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = timing;
    }

    /// Arms `fault` for the next call that reaches the test seam `point`.
    #[doc(hidden)]
    pub fn inject_fault(&self, point: FaultPoint, fault: Fault) {
        *self
            .inner
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((point, fault));
        self.inner.fault_armed.store(true, Ordering::Release);
    }

    /// The names of the collections the store has created so far (for
    /// diagnostics and tests).
    ///
    /// # Errors
    /// `Unavailable`/`Internal` as for any call.
    pub async fn collection_names(&self) -> StoreResult<Vec<String>> {
        self.run("collection_names", |inner| async move {
            let mut names: Vec<String> = inner
                .db
                .list_collection_names()
                .await
                .map_err(|e| error::map_err("collection_names", &e))?;
            names.sort();
            Ok(names)
        })
        .await
    }

    /// Starts the background recovery loop (see `recovery.rs`).
    fn start_recovery(&self) {
        let inner = Arc::clone(&self.inner);
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            loop {
                if let Err(error) = inner.reconcile(STALE_AFTER).await {
                    tracing::warn!("MongoDB store recovery pass failed: {error}");
                }
                // Only the sleep races the stop signal, never a driver call.
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(RECONCILE_EVERY) => {}
                }
            }
        });
    }

    /// Runs `call` on its own task, bounded by the timeout (see [`bounded`]).
    async fn run<T, F, Fut>(&self, what: &'static str, call: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = StoreResult<T>> + Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "the MongoDB store is closed".to_owned(),
            ));
        }
        let future = self.tasks.track_future(call(Arc::clone(&self.inner)));
        bounded(what, self.inner.timeout, future).await
    }
}

#[async_trait]
impl Store for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.run("create_user", |i| async move { i.create_user(user).await })
            .await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_owned();
        self.run("user_by_username", |i| async move {
            i.user_by_username(&username).await
        })
        .await
    }

    async fn user_by_id(&self, user_id: &str) -> StoreResult<Option<User>> {
        let user_id = user_id.to_owned();
        self.run(
            "user_by_id",
            |i| async move { i.user_by_id(&user_id).await },
        )
        .await
    }

    async fn update_user(&self, user_id: &str, update: UserUpdate) -> StoreResult<User> {
        let user_id = user_id.to_owned();
        self.run("update_user", |i| async move {
            i.update_user(&user_id, update).await
        })
        .await
    }

    async fn create_session(&self, session: SessionRecord) -> StoreResult<()> {
        self.run("create_session", |i| async move {
            i.create_session(session).await
        })
        .await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionUser>> {
        let token_hash = token_hash.to_owned();
        self.run(
            "session",
            |i| async move { i.session(&token_hash, now).await },
        )
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.run("delete_session", |i| async move {
            i.delete_session(&token_hash).await
        })
        .await
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> StoreResult<LoginFailures> {
        let key = key.to_owned();
        self.run("record_login_failure", |i| async move {
            i.record_login_failure(&key, now, window).await
        })
        .await
    }

    async fn login_failures(&self, keys: &[String]) -> StoreResult<Vec<(String, LoginFailures)>> {
        let keys = keys.to_vec();
        self.run("login_failures", |i| async move {
            i.login_failures(&keys).await
        })
        .await
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.run("clear_login_failures", |i| async move {
            i.clear_login_failures(&key).await
        })
        .await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        let user_id = user_id.to_owned();
        self.run("delete_user_sessions", |i| async move {
            i.delete_user_sessions(&user_id).await
        })
        .await
    }

    async fn list_events(&self) -> StoreResult<Vec<Event>> {
        self.run("list_events", |i| async move { i.list_events().await })
            .await
    }

    async fn event(&self, event_id: &str) -> StoreResult<Option<Event>> {
        let event_id = event_id.to_owned();
        self.run("event", |i| async move { i.event(&event_id).await })
            .await
    }

    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        self.run(
            "create_event",
            |i| async move { i.create_event(event).await },
        )
        .await
    }

    async fn seed_events(&self, events: Vec<NewEvent>) -> StoreResult<usize> {
        self.run(
            "seed_events",
            |i| async move { i.seed_events(events).await },
        )
        .await
    }

    async fn book(&self, request: BookingRequest) -> StoreResult<Booking> {
        self.run("book", |i| async move {
            let actor = request.audit_actor.clone();
            let booking = i.book(request).await?;
            // Written after the booking is confirmed (not in its
            // transaction): a failure here is logged, and the booking,
            // which has happened, still succeeds.
            if let Some(actor) = actor
                && !booking.replayed
                && let Err(err) = i
                    .append_audit(coliseum_store::booking_audit(&actor, &booking.ticket))
                    .await
            {
                tracing::warn!(%err, ticket = %booking.ticket.id, "could not write the audit log");
            }
            Ok(booking)
        })
        .await
    }

    async fn tickets_for_user(&self, user_id: &str) -> StoreResult<Vec<Ticket>> {
        let user_id = user_id.to_owned();
        self.run("tickets_for_user", |i| async move {
            let Some(user) = model::parse_id(&user_id) else {
                return Ok(Vec::new());
            };
            let docs: Vec<model::TicketDoc> = i
                .tickets
                .find(doc! { "user_id": user, "status": "active" })
                .sort(doc! { "booked_at": -1, "_id": -1 })
                .await
                .map_err(|e| error::map_err("tickets_for_user", &e))?
                .try_collect()
                .await
                .map_err(|e| error::map_err("tickets_for_user", &e))?;
            docs.iter().map(model::TicketDoc::to_ticket).collect()
        })
        .await
    }

    async fn cancel_ticket(
        &self,
        user_id: &str,
        ticket_id: &str,
        quantity: Option<u32>,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<Cancellation> {
        let (user_id, ticket_id) = (user_id.to_owned(), ticket_id.to_owned());
        self.run("cancel_ticket", move |i| async move {
            i.cancel_ticket(&user_id, &ticket_id, quantity, now, policy)
                .await
        })
        .await
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<ChatMessage> {
        self.run("append_message", |i| async move {
            i.append_message(message).await
        })
        .await
    }

    async fn append_messages(&self, messages: Vec<NewMessage>) -> Vec<StoreResult<ChatMessage>> {
        let count = messages.len();
        match self
            .run("append_messages", |i| async move {
                Ok(i.append_messages(messages).await)
            })
            .await
        {
            Ok(results) => results,
            Err(error) => (0..count).map(|_| Err(error.clone())).collect(),
        }
    }

    async fn chat_history(
        &self,
        room: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<ChatMessage>> {
        let room = room.to_owned();
        self.run("chat_history", |i| async move {
            i.chat_history(&room, before_seq, limit).await
        })
        .await
    }

    async fn set_ban(&self, user_id: &str, until: Option<DateTime<Utc>>) -> StoreResult<()> {
        let user_id = user_id.to_owned();
        self.run("set_ban", move |i| async move {
            i.set_ban(&user_id, until).await
        })
        .await
    }

    async fn room(&self, name: &str) -> StoreResult<Option<Room>> {
        let name = name.to_owned();
        self.run("room", |i| async move { i.room(&name).await })
            .await
    }

    async fn create_room(&self, room: NewRoom) -> StoreResult<Room> {
        self.run("create_room", |i| async move { i.create_room(room).await })
            .await
    }

    async fn direct_room(
        &self,
        user_a: &str,
        user_b: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Room> {
        let (user_a, user_b, name) = (user_a.to_owned(), user_b.to_owned(), name.to_owned());
        self.run("direct_room", move |i| async move {
            i.direct_room(&user_a, &user_b, &name, now).await
        })
        .await
    }

    async fn set_slow_mode(&self, room: &str, seconds: u32) -> StoreResult<()> {
        let room = room.to_owned();
        self.run("set_slow_mode", move |i| async move {
            i.set_slow_mode(&room, seconds).await
        })
        .await
    }

    async fn membership(&self, room: &str, user_id: &str) -> StoreResult<Option<Membership>> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.run("membership", |i| async move {
            i.membership(&room, &user_id).await
        })
        .await
    }

    async fn join_room(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<bool> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.run("join_room", move |i| async move {
            i.join_room(&room, &user_id, role).await
        })
        .await
    }

    async fn leave_room(&self, room: &str, user_id: &str) -> StoreResult<bool> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.run("leave_room", |i| async move {
            i.leave_room(&room, &user_id).await
        })
        .await
    }

    async fn set_room_role(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<()> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.run("set_room_role", move |i| async move {
            i.set_room_role(&room, &user_id, role).await
        })
        .await
    }

    async fn set_mute(
        &self,
        room: &str,
        user_id: &str,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.run("set_mute", move |i| async move {
            i.set_mute(&room, &user_id, until).await
        })
        .await
    }

    async fn mark_read(&self, room: &str, user_id: &str, seq: u64) -> StoreResult<u64> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.run("mark_read", move |i| async move {
            i.mark_read(&room, &user_id, seq).await
        })
        .await
    }

    async fn room_members(&self, room: &str) -> StoreResult<Vec<Membership>> {
        let room = room.to_owned();
        self.run(
            "room_members",
            |i| async move { i.room_members(&room).await },
        )
        .await
    }

    async fn rooms_of_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let user_id = user_id.to_owned();
        self.run("rooms_of_user", |i| async move {
            i.rooms_of_user(&user_id).await
        })
        .await
    }

    async fn room_list(&self, user_id: &str, username: &str) -> StoreResult<Vec<RoomInfo>> {
        let (user_id, username) = (user_id.to_owned(), username.to_owned());
        self.run("room_list", |i| async move {
            i.room_list(&user_id, &username).await
        })
        .await
    }

    async fn message(&self, room: &str, seq: u64) -> StoreResult<Option<ChatMessage>> {
        let room = room.to_owned();
        self.run(
            "message",
            move |i| async move { i.message(&room, seq).await },
        )
        .await
    }

    async fn edit_message(
        &self,
        room: &str,
        seq: u64,
        text: String,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage> {
        let room = room.to_owned();
        self.run("edit_message", move |i| async move {
            i.edit_message(&room, seq, text, at).await
        })
        .await
    }

    async fn delete_message(
        &self,
        room: &str,
        seq: u64,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage> {
        let room = room.to_owned();
        self.run("delete_message", move |i| async move {
            i.delete_message(&room, seq, at).await
        })
        .await
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.run(
            "append_audit",
            |i| async move { i.append_audit(entry).await },
        )
        .await
    }

    async fn recent_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.run(
            "recent_audit",
            |i| async move { i.recent_audit(limit).await },
        )
        .await
    }

    /// Refuses new calls, stops the recovery loop, waits (at most the
    /// timeout) for calls in flight to finish, then shuts the driver client
    /// down (closing its connections).
    async fn close(&self) -> StoreResult<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop.cancel();
        self.tasks.close();
        let timeout = self.inner.timeout;
        if tokio::time::timeout(timeout, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("MongoDB store closed with calls still in flight");
            return Ok(());
        }
        let client = self.inner.client.clone();
        // `shutdown` waits for sessions and cursors, which no finished call
        // holds; bounded anyway, on its own task.
        bounded("close", timeout, async move {
            client.shutdown().await;
            Ok(())
        })
        .await
        .or_else(|error| {
            tracing::warn!("MongoDB client shutdown: {error}");
            Ok(())
        })
    }

    async fn update_event(
        &self,
        event_id: &str,
        update: EventUpdate,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<EventChange> {
        let event_id = event_id.to_owned();
        self.run("update_event", move |i| async move {
            i.update_event(&event_id, update, now, policy).await
        })
        .await
    }

    async fn cancel_event(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<EventCancellation> {
        let (event_id, reason) = (event_id.to_owned(), reason.to_owned());
        self.run("cancel_event", move |i| async move {
            i.cancel_event(&event_id, &reason, now).await
        })
        .await
    }

    async fn waitlist_join(
        &self,
        event_id: &str,
        user_id: &str,
        quantity: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<u32> {
        let (event_id, user_id) = (event_id.to_owned(), user_id.to_owned());
        self.run("waitlist_join", move |i| async move {
            i.waitlist_join(&event_id, &user_id, quantity, now).await
        })
        .await
    }

    async fn waitlist_leave(
        &self,
        event_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<NewOffers> {
        let (event_id, user_id) = (event_id.to_owned(), user_id.to_owned());
        self.run("waitlist_leave", move |i| async move {
            i.waitlist_leave(&event_id, &user_id, now, policy).await
        })
        .await
    }

    async fn waitlist_of_user(&self, user_id: &str) -> StoreResult<Vec<WaitlistEntry>> {
        let user_id = user_id.to_owned();
        self.run("waitlist_of_user", |i| async move {
            i.waitlist_of_user(&user_id).await
        })
        .await
    }

    async fn offers_of_user(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<Vec<Offer>> {
        let user_id = user_id.to_owned();
        self.run("offers_of_user", move |i| async move {
            i.offers_of_user(&user_id, now).await
        })
        .await
    }

    async fn offer_accept(
        &self,
        offer_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        audit_actor: Option<&str>,
    ) -> StoreResult<Booking> {
        let (offer_id, user_id) = (offer_id.to_owned(), user_id.to_owned());
        let actor = audit_actor.map(str::to_owned);
        self.run("offer_accept", move |i| async move {
            let (booking, offer_id) = i.offer_accept(&offer_id, &user_id, now).await?;
            // As for `book`: written after the ticket is active; a failure
            // is logged and the acceptance, which happened, still succeeds.
            if let Some(actor) = actor
                && let Err(err) = i
                    .append_audit(coliseum_store::offer_booking_audit(
                        &actor,
                        &booking.ticket,
                        &offer_id,
                    ))
                    .await
            {
                tracing::warn!(%err, ticket = %booking.ticket.id, "could not write the audit log");
            }
            Ok(booking)
        })
        .await
    }

    async fn offer_decline(
        &self,
        offer_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<NewOffers> {
        let (offer_id, user_id) = (offer_id.to_owned(), user_id.to_owned());
        self.run("offer_decline", move |i| async move {
            i.offer_decline(&offer_id, &user_id, now, policy).await
        })
        .await
    }

    async fn expire_offers(
        &self,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<OfferSweep> {
        self.run("expire_offers", move |i| async move {
            i.expire_offers(now, policy).await
        })
        .await
    }

    async fn next_offer_expiry(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.run("next_offer_expiry", |i| async move {
            i.next_offer_expiry().await
        })
        .await
    }

    async fn check_in(
        &self,
        ticket_id: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CheckIn> {
        let (ticket_id, event_id) = (ticket_id.to_owned(), event_id.to_owned());
        self.run("check_in", move |i| async move {
            i.check_in(&ticket_id, &event_id, now).await
        })
        .await
    }

    async fn attendees(&self, event_id: &str) -> StoreResult<Vec<Attendee>> {
        let event_id = event_id.to_owned();
        self.run("attendees", |i| async move { i.attendees(&event_id).await })
            .await
    }
}
