//! The embedded store: one SQLite file in the data directory.
//!
//! # Design: one writer, group commit, a pool of readers
//!
//! SQLite allows one writer at a time per database. Letting every request
//! open its own write transaction would make them queue on the file lock
//! (busy-waiting with `busy_timeout`), and each would pay its own fsync: with
//! `synchronous = FULL` that is one disk flush per booking, a few hundred per
//! second at best. So:
//!
//! - **One writer thread** (`coliseum-sqlite-writer`) owns the only
//!   read-write connection. Every write (`book`, `cancel_ticket`,
//!   `append_message`, `create_user`, ...) is a closure sent to it over a
//!   bounded channel together with a oneshot reply; callers `await` the
//!   reply, so no async worker thread ever blocks on SQLite. A full queue
//!   makes callers wait asynchronously (back-pressure).
//! - **Group commit.** The writer takes the first queued command and then
//!   everything else already queued (up to 512), and runs them in *one*
//!   transaction with a `SAVEPOINT` per command. A command that fails (sold
//!   out, limit exceeded, username taken, an error) rolls back to its
//!   savepoint, undoing only itself. (Bookings, the hot path, check every
//!   rule before writing and so need no savepoint; the seat count of an
//!   event booked many times in a batch is kept in memory and written once:
//!   see `writer.rs`.) One `COMMIT` (one fsync) then makes the
//!   whole group durable, and only then is every reply sent: a booking is
//!   acknowledged only once it is on disk. If the commit fails, every command
//!   of the group is answered `Internal` and nothing of it is kept.
//! - **Correctness comes from the single writer**, not from locks: each
//!   booking's checks (event exists, idempotency key, per-user limit, seats
//!   left via `UPDATE … WHERE available >= ?`) and its changes run on the
//!   writer, one command after another, so they cannot interleave with
//!   another booking. The same makes chat sequence numbers
//!   (`MAX(seq) + 1` per room) gap-free and unique.
//! - **Reads** (`list_events`, `event`, user and session lookups,
//!   `tickets_for_user`, `chat_history`, `recent_audit`) run on a small pool
//!   of read-only connections through `tokio::task::spawn_blocking`. WAL
//!   mode lets them proceed while the writer writes; they see the last
//!   committed state.
//!
//! A write call whose future is dropped after it was queued (e.g. its
//! client disconnected) is not cancelled: it still runs and commits, only
//! its reply is discarded. Callers that retry should use `request_key`.
//!
//! Under load the queue fills while the writer flushes, so the next batch is
//! larger: the cost of the fsync is shared by more bookings exactly when it
//! matters, while a lone request still commits right away (no timer).
//!
//! # Layout
//! - this file: [`SqliteStore`] and its [`Store`] implementation;
//! - `sqlite/writer.rs`: the writer thread and group commit;
//! - `sqlite/readers.rs`: the reader pool;
//! - `sqlite/schema.rs`: connection settings and versioned migrations;
//! - `sqlite/sql.rs`: the SQL of each operation;
//! - `sqlite/convert.rs`: ids, times and error mapping.

mod convert;
mod readers;
mod rooms;
mod schema;
mod sql;
mod ticketing;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coliseum_protocol::{
    Attendee, ChatMessage, Event, Offer, RoomInfo, RoomRole, Ticket, WaitlistEntry,
};

use self::readers::ReaderPool;
pub use self::writer::WriteStats;
use self::writer::{Writer, closed};
use crate::{
    AuditEntry, Booking, BookingRequest, Cancellation, CheckIn, EventCancellation, EventChange,
    EventUpdate, LoginFailures, Membership, NewEvent, NewMessage, NewOffers, NewRoom, NewUser,
    OfferPolicy, OfferSweep, Room, SessionRecord, SessionUser, Store, StoreError, StoreResult,
    User, UserUpdate,
};

/// Read-only connections in the pool (concurrent reads). Small: the machine
/// has few cores and every read is a short indexed query.
const READERS: usize = 4;

/// The embedded SQLite store (the default backend). See the [module
/// docs](self) for the writer/group-commit design.
///
/// Cheap to share behind an `Arc`; every method takes `&self`. Dropping it
/// without [`Store::close`] still lets the writer finish the queued commands
/// (in the background) before the connection closes.
pub struct SqliteStore {
    /// The database file.
    path: PathBuf,
    /// The single writer thread.
    writer: Writer,
    /// Read-only connections.
    readers: Arc<ReaderPool>,
    /// Set by `close`; later calls fail with `Unavailable`.
    closed: AtomicBool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("readers", &self.readers.size())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Name of the database file inside the data directory. SQLite keeps two
    /// companions beside it while open: `coliseum.sqlite3-wal` and `-shm`.
    pub const DB_FILE_NAME: &'static str = "coliseum.sqlite3";

    /// The schema version this build writes, kept in the file's
    /// `PRAGMA user_version`. Opening a file with a higher version fails.
    pub const SCHEMA_VERSION: u32 = schema::SCHEMA_VERSION;

    /// Opens (creating if needed) the store in `data_dir`: creates the
    /// directory, opens `data_dir/coliseum.sqlite3` in WAL mode with
    /// `synchronous = FULL` and foreign keys on, applies pending schema
    /// migrations, opens the reader pool and starts the writer thread.
    ///
    /// Blocking (file I/O, usually milliseconds): call it at start-up or
    /// from `spawn_blocking`. It needs no tokio runtime; the returned store's
    /// methods must be awaited inside one (reads use `spawn_blocking`).
    ///
    /// # Errors
    /// `Internal` with a message naming the path when the directory or file
    /// cannot be created or opened, when the file is not a SQLite database,
    /// when a migration fails, or when the file's schema version is newer
    /// than [`SqliteStore::SCHEMA_VERSION`] (written by a newer Coliseum).
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Internal(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(Self::DB_FILE_NAME);
        let conn = schema::open_writer(&path)?;
        let readers = Arc::new(ReaderPool::open(path.clone(), READERS)?);
        let writer = Writer::start(conn)?;
        tracing::debug!(path = %path.display(), "sqlite store open");
        Ok(Self {
            path,
            writer,
            readers,
            closed: AtomicBool::new(false),
        })
    }

    /// The database file (`<data_dir>/coliseum.sqlite3`).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many write transactions (and operations in them) the writer has
    /// committed so far: `operations / batches` is the average group size.
    /// For measurements and tests; cheap (three atomic loads).
    #[must_use]
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// Fault injection for tests: caps the database at `pages` pages
    /// (SQLite's `max_page_count` on the writer connection; a cap below the
    /// current size means "the current size"), so that the next write
    /// needing a new page fails as on a full disk. `None` lifts the cap (as
    /// freeing space would).
    ///
    /// # Errors
    /// As any write.
    #[doc(hidden)]
    pub async fn limit_pages(&self, pages: Option<u64>) -> StoreResult<()> {
        // SQLite's own default maximum.
        let pages = pages.unwrap_or(4_294_967_294);
        self.write(move |conn| {
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(convert::map_err)
        })
        .await
    }

    /// `Err(Unavailable)` once closed.
    fn check_open(&self) -> StoreResult<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(closed())
        } else {
            Ok(())
        }
    }

    /// Runs a write on the writer thread (see [`Writer::run`]).
    async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        self.check_open()?;
        self.writer.run(op).await
    }

    /// Runs a read on the reader pool (see [`ReaderPool::run`]).
    async fn read<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        self.check_open()?;
        self.readers.run(op).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.write(move |conn| sql::create_user(conn, &user)).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_owned();
        self.read(move |conn| sql::user_by_username(conn, &username))
            .await
    }

    async fn user_by_id(&self, user_id: &str) -> StoreResult<Option<User>> {
        if convert::parse_id(user_id).is_none() {
            self.check_open()?;
            return Ok(None);
        }
        let user_id = user_id.to_owned();
        self.read(move |conn| sql::user_by_id(conn, &user_id)).await
    }

    async fn update_user(&self, user_id: &str, update: UserUpdate) -> StoreResult<User> {
        let user_id = user_id.to_owned();
        self.write(move |conn| sql::update_user(conn, &user_id, &update))
            .await
    }

    async fn create_session(&self, session: SessionRecord) -> StoreResult<()> {
        self.write(move |conn| sql::create_session(conn, &session))
            .await
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionUser>> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| sql::session(conn, &token_hash, now))
            .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| sql::delete_session(conn, &token_hash))
            .await
    }

    async fn record_login_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> StoreResult<LoginFailures> {
        let key = key.to_owned();
        self.write(move |conn| sql::record_login_failure(conn, &key, now, window))
            .await
    }

    async fn login_failures(&self, keys: &[String]) -> StoreResult<Vec<(String, LoginFailures)>> {
        let keys = keys.to_vec();
        self.read(move |conn| sql::login_failures(conn, &keys))
            .await
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |conn| sql::clear_login_failures(conn, &key))
            .await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        let user_id = user_id.to_owned();
        self.write(move |conn| sql::delete_user_sessions(conn, &user_id))
            .await
    }

    async fn list_events(&self) -> StoreResult<Vec<Event>> {
        self.read(sql::list_events).await
    }

    async fn event(&self, event_id: &str) -> StoreResult<Option<Event>> {
        if convert::parse_id(event_id).is_none() {
            self.check_open()?;
            return Ok(None);
        }
        let event_id = event_id.to_owned();
        self.read(move |conn| sql::event(conn, &event_id)).await
    }

    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        self.write(move |conn| sql::create_event(conn, &event))
            .await
    }

    async fn seed_events(&self, events: Vec<NewEvent>) -> StoreResult<usize> {
        self.write(move |conn| sql::seed_events(conn, &events))
            .await
    }

    async fn book(&self, request: BookingRequest) -> StoreResult<Booking> {
        self.check_open()?;
        self.writer.book(request).await
    }

    async fn tickets_for_user(&self, user_id: &str) -> StoreResult<Vec<Ticket>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| sql::tickets_for_user(conn, &user_id))
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
        self.write(move |conn| {
            ticketing::cancel_ticket(conn, &user_id, &ticket_id, quantity, now, policy)
        })
        .await
    }

    async fn append_message(&self, message: NewMessage) -> StoreResult<ChatMessage> {
        self.write(move |conn| sql::append_message(conn, &message))
            .await
    }

    /// All queued to the writer before the first answer is awaited, so that
    /// group commit makes them durable together (usually one commit).
    async fn append_messages(&self, messages: Vec<NewMessage>) -> Vec<StoreResult<ChatMessage>> {
        if let Err(error) = self.check_open() {
            return messages.iter().map(|_| Err(error.clone())).collect();
        }
        let ops = messages
            .into_iter()
            .map(|message| move |conn: &rusqlite::Connection| sql::append_message(conn, &message));
        self.writer.run_all(ops).await
    }

    async fn chat_history(
        &self,
        room: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<ChatMessage>> {
        let room = room.to_owned();
        self.read(move |conn| sql::chat_history(conn, &room, before_seq, limit))
            .await
    }

    async fn set_ban(&self, user_id: &str, until: Option<DateTime<Utc>>) -> StoreResult<()> {
        let user_id = user_id.to_owned();
        self.write(move |conn| rooms::set_ban(conn, &user_id, until))
            .await
    }

    async fn room(&self, name: &str) -> StoreResult<Option<Room>> {
        let name = name.to_owned();
        self.read(move |conn| rooms::room(conn, &name)).await
    }

    async fn create_room(&self, room: NewRoom) -> StoreResult<Room> {
        self.write(move |conn| rooms::create_room(conn, &room))
            .await
    }

    async fn direct_room(
        &self,
        user_a: &str,
        user_b: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Room> {
        let (a, b, name) = (user_a.to_owned(), user_b.to_owned(), name.to_owned());
        self.write(move |conn| rooms::direct_room(conn, &a, &b, &name, now))
            .await
    }

    async fn set_slow_mode(&self, room: &str, seconds: u32) -> StoreResult<()> {
        let room = room.to_owned();
        self.write(move |conn| rooms::set_slow_mode(conn, &room, seconds))
            .await
    }

    async fn membership(&self, room: &str, user_id: &str) -> StoreResult<Option<Membership>> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.read(move |conn| rooms::membership(conn, &room, &user_id))
            .await
    }

    async fn join_room(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<bool> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.write(move |conn| rooms::join_room(conn, &room, &user_id, role))
            .await
    }

    async fn leave_room(&self, room: &str, user_id: &str) -> StoreResult<bool> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.write(move |conn| rooms::leave_room(conn, &room, &user_id))
            .await
    }

    async fn set_room_role(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<()> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.write(move |conn| rooms::set_room_role(conn, &room, &user_id, role))
            .await
    }

    async fn set_mute(
        &self,
        room: &str,
        user_id: &str,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.write(move |conn| rooms::set_mute(conn, &room, &user_id, until))
            .await
    }

    async fn mark_read(&self, room: &str, user_id: &str, seq: u64) -> StoreResult<u64> {
        let (room, user_id) = (room.to_owned(), user_id.to_owned());
        self.write(move |conn| rooms::mark_read(conn, &room, &user_id, seq))
            .await
    }

    async fn room_members(&self, room: &str) -> StoreResult<Vec<Membership>> {
        let room = room.to_owned();
        self.read(move |conn| rooms::room_members(conn, &room))
            .await
    }

    async fn rooms_of_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| rooms::rooms_of_user(conn, &user_id))
            .await
    }

    async fn room_list(&self, user_id: &str, username: &str) -> StoreResult<Vec<RoomInfo>> {
        let (user_id, username) = (user_id.to_owned(), username.to_owned());
        self.read(move |conn| rooms::room_list(conn, &user_id, &username))
            .await
    }

    async fn message(&self, room: &str, seq: u64) -> StoreResult<Option<ChatMessage>> {
        let room = room.to_owned();
        self.read(move |conn| sql::message(conn, &room, seq)).await
    }

    async fn edit_message(
        &self,
        room: &str,
        seq: u64,
        text: String,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage> {
        let room = room.to_owned();
        self.write(move |conn| sql::edit_message(conn, &room, seq, &text, at))
            .await
    }

    async fn delete_message(
        &self,
        room: &str,
        seq: u64,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage> {
        let room = room.to_owned();
        self.write(move |conn| sql::delete_message(conn, &room, seq, at))
            .await
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.write(move |conn| sql::append_audit(conn, &entry))
            .await
    }

    async fn recent_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |conn| sql::recent_audit(conn, limit)).await
    }

    /// Refuses new calls (`Unavailable`), closes the idle readers, lets the
    /// writer run every command already queued, checkpoints the WAL into the
    /// database file, closes the writer connection, then returns.
    /// Idempotent.
    ///
    /// # Errors
    /// `Internal` when the final checkpoint or close failed; committed data
    /// is safe in the WAL regardless and is recovered on the next open.
    async fn close(&self) -> StoreResult<()> {
        self.closed.store(true, Ordering::Release);
        self.readers.close();
        self.writer.shutdown().await
    }

    // ----- ticketing issue (see `sqlite/ticketing.rs`) ----------------------

    async fn update_event(
        &self,
        event_id: &str,
        update: EventUpdate,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<EventChange> {
        let event_id = event_id.to_owned();
        self.write(move |conn| ticketing::update_event(conn, &event_id, &update, now, policy))
            .await
    }

    async fn cancel_event(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<EventCancellation> {
        let (event_id, reason) = (event_id.to_owned(), reason.to_owned());
        self.write(move |conn| ticketing::cancel_event(conn, &event_id, &reason, now))
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
        self.write(move |conn| ticketing::waitlist_join(conn, &event_id, &user_id, quantity, now))
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
        self.write(move |conn| ticketing::waitlist_leave(conn, &event_id, &user_id, now, policy))
            .await
    }

    async fn waitlist_of_user(&self, user_id: &str) -> StoreResult<Vec<WaitlistEntry>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| ticketing::waitlist_of_user(conn, &user_id))
            .await
    }

    async fn offers_of_user(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<Vec<Offer>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| ticketing::offers_of_user(conn, &user_id, now))
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
        self.write(move |conn| {
            ticketing::offer_accept(conn, &offer_id, &user_id, now, actor.as_deref())
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
        self.write(move |conn| ticketing::offer_decline(conn, &offer_id, &user_id, now, policy))
            .await
    }

    async fn expire_offers(
        &self,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<OfferSweep> {
        self.write(move |conn| ticketing::expire_offers(conn, now, policy))
            .await
    }

    async fn next_offer_expiry(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.read(ticketing::next_offer_expiry).await
    }

    async fn check_in(
        &self,
        ticket_id: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CheckIn> {
        let (ticket_id, event_id) = (ticket_id.to_owned(), event_id.to_owned());
        self.write(move |conn| ticketing::check_in(conn, &ticket_id, &event_id, now))
            .await
    }

    async fn attendees(&self, event_id: &str) -> StoreResult<Vec<Attendee>> {
        let event_id = event_id.to_owned();
        self.read(move |conn| ticketing::attendees(conn, &event_id))
            .await
    }
}
