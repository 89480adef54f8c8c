//! The SQL of every operation, as synchronous functions on a connection.
//!
//! Write functions run on the writer thread inside their own savepoint (see
//! [`super::writer`]): they may leave partial changes behind on `Err`, the
//! savepoint is rolled back then. [`book`] is the exception: it checks
//! before it writes, needs no savepoint, and reports a failed write as a
//! batch failure instead. Read functions run on a pooled read-only
//! connection. Every statement goes through the prepared-statement cache.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use coliseum_protocol::{ChatMessage, Event, EventStatus, Ticket};
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::convert::{
    date_col, id_col, map_err, opt_time_col, parse_id, role_col, time_col, to_millis,
};
use crate::{
    AuditEntry, Booking, BookingRequest, LoginFailures, NewEvent, NewMessage, NewUser,
    SessionRecord, SessionUser, StoreError, StoreResult, User, UserUpdate,
};

// ----- users -----------------------------------------------------------------

/// Columns read by [`user_row`].
const USER_COLUMNS: &str = "id, username, email, password_hash, role, created_at, banned_until";

/// Maps a row of [`USER_COLUMNS`].
fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: id_col(row, 0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        password_hash: row.get(3)?,
        role: role_col(row, 4)?,
        created_at: time_col(row, 5)?,
        banned_until: opt_time_col(row, 6)?,
    })
}

/// Inserts a user.
pub(super) fn create_user(conn: &Connection, user: &NewUser) -> StoreResult<User> {
    let sql = format!(
        "INSERT INTO users (username, email, password_hash, role, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {USER_COLUMNS}"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    user.username,
                    user.email,
                    user.password_hash,
                    user.role.as_str(),
                    to_millis(user.created_at)
                ],
                user_row,
            )
        })
        .map_err(map_err)
}

/// A user by username (case-insensitive through the column's collation).
pub(super) fn user_by_username(conn: &Connection, username: &str) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1");
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row([username], user_row).optional())
        .map_err(map_err)
}

/// A user by id.
pub(super) fn user_by_id(conn: &Connection, user_id: &str) -> StoreResult<Option<User>> {
    let Some(id) = parse_id(user_id) else {
        return Ok(None);
    };
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row([id], user_row).optional())
        .map_err(map_err)
}

/// Applies the `Some` fields of `update`.
pub(super) fn update_user(
    conn: &Connection,
    user_id: &str,
    update: &UserUpdate,
) -> StoreResult<User> {
    let id = parse_id(user_id).ok_or(StoreError::NotFound)?;
    let sql = format!(
        "UPDATE users SET username = COALESCE(?2, username), email = COALESCE(?3, email), \
         password_hash = COALESCE(?4, password_hash), role = COALESCE(?5, role) \
         WHERE id = ?1 RETURNING {USER_COLUMNS}"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    id,
                    update.username,
                    update.email,
                    update.password_hash,
                    update.role.map(coliseum_protocol::Role::as_str)
                ],
                user_row,
            )
            .optional()
        })
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)
}

// ----- sessions --------------------------------------------------------------

/// Inserts a session; `NotFound` when its user does not exist.
pub(super) fn create_session(conn: &Connection, session: &SessionRecord) -> StoreResult<()> {
    let user_id = parse_id(&session.user_id).ok_or(StoreError::NotFound)?;
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            session.token_hash,
            user_id,
            to_millis(session.expires_at)
        ])
    })
    .map(|_| ())
    .map_err(map_err)
}

/// A session (its user and expiry) that expires strictly after `now`.
pub(super) fn session(
    conn: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<SessionUser>> {
    conn.prepare_cached(
        "SELECT u.id, u.username, u.email, u.password_hash, u.role, u.created_at, \
         u.banned_until, s.expires_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = ?1 AND s.expires_at > ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![token_hash, to_millis(now)], |row| {
            Ok(SessionUser {
                user: user_row(row)?,
                expires_at: time_col(row, 7)?,
            })
        })
        .optional()
    })
    .map_err(map_err)
}

/// Deletes one session (absent is fine).
pub(super) fn delete_session(conn: &Connection, token_hash: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")
        .and_then(|mut stmt| stmt.execute([token_hash]))
        .map(|_| ())
        .map_err(map_err)
}

// ----- login failures --------------------------------------------------------

/// How long an idle count is kept at most, whatever the window asked for:
/// rows whose latest failure is older go when the next failure is counted.
const LOGIN_FAILURES_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

/// Maps a `(failures, last_ms)` row.
fn login_failures_row(row: &Row<'_>) -> rusqlite::Result<LoginFailures> {
    Ok(LoginFailures {
        failures: row.get(0)?,
        last: time_col(row, 1)?,
    })
}

/// See [`crate::Store::record_login_failure`]: one upsert (the writer
/// thread is the only writer, and the statement is atomic anyway).
pub(super) fn record_login_failure(
    conn: &Connection,
    key: &str,
    now: DateTime<Utc>,
    window: std::time::Duration,
) -> StoreResult<LoginFailures> {
    let now_ms = to_millis(now);
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    conn.prepare_cached("DELETE FROM login_failures WHERE last_ms < ?1")
        .and_then(|mut stmt| {
            stmt.execute([now_ms.saturating_sub(LOGIN_FAILURES_KEPT_MS.max(window_ms))])
        })
        .map_err(map_err)?;
    conn.prepare_cached(
        "INSERT INTO login_failures (key, failures, last_ms) VALUES (?1, 1, ?2)
         ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN ?2 - last_ms > ?3 THEN 1 ELSE failures + 1 END,
             last_ms = max(last_ms, ?2)
         RETURNING failures, last_ms",
    )
    .and_then(|mut stmt| stmt.query_row(params![key, now_ms, window_ms], login_failures_row))
    .map_err(map_err)
}

/// See [`crate::Store::login_failures`].
pub(super) fn login_failures(
    conn: &Connection,
    keys: &[String],
) -> StoreResult<Vec<(String, LoginFailures)>> {
    let mut stmt = conn
        .prepare_cached("SELECT failures, last_ms FROM login_failures WHERE key = ?1")
        .map_err(map_err)?;
    let mut found = Vec::new();
    for key in keys {
        let count = stmt
            .query_row([key], login_failures_row)
            .optional()
            .map_err(map_err)?;
        found.extend(count.map(|count| (key.clone(), count)));
    }
    Ok(found)
}

/// See [`crate::Store::clear_login_failures`].
pub(super) fn clear_login_failures(conn: &Connection, key: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM login_failures WHERE key = ?1")
        .and_then(|mut stmt| stmt.execute([key]))
        .map(|_| ())
        .map_err(map_err)
}

/// Deletes a user's sessions; returns how many.
pub(super) fn delete_user_sessions(conn: &Connection, user_id: &str) -> StoreResult<u64> {
    let Some(id) = parse_id(user_id) else {
        return Ok(0);
    };
    conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")
        .and_then(|mut stmt| stmt.execute([id]))
        .map(|n| n as u64)
        .map_err(map_err)
}

// ----- events ----------------------------------------------------------------

/// The columns [`event_row`] reads, as a literal for `concat!` (SQL is
/// built at compile time: no formatting per call on the writer).
macro_rules! event_columns {
    () => {
        "id, name, date, location, capacity, available, max_per_user, description, \
         starts_at, cancelled_at, held, \
         (SELECT COUNT(*) FROM waitlist w WHERE w.event_id = events.id AND w.offer_id IS NULL)"
    };
}

/// Maps a row of `event_columns!()`; `status` is derived as of now.
fn event_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let id = id_col(row, 0)?;
    let text: String = row.get(8)?;
    let starts_at = DateTime::parse_from_rfc3339(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            8,
            rusqlite::types::Type::Text,
            format!("bad starts_at {text:?}: {e}").into(),
        )
    })?;
    let available = row.get(5)?;
    let cancelled = row.get::<_, Option<i64>>(9)?.is_some();
    Ok(Event {
        name: row.get(1)?,
        date: date_col(row, 2)?,
        location: row.get(3)?,
        capacity: row.get(4)?,
        available,
        max_per_user: row.get(6)?,
        description: row.get(7)?,
        starts_at,
        status: EventStatus::derive(cancelled, starts_at, available, Utc::now()),
        room: coliseum_protocol::validate::event_room(&id),
        held: row.get(10)?,
        waitlist: row.get(11)?,
        id,
    })
}

/// Every event by start, name, id.
pub(super) fn list_events(conn: &Connection) -> StoreResult<Vec<Event>> {
    let sql = concat!(
        "SELECT ",
        event_columns!(),
        " FROM events ORDER BY starts_ms, name, id"
    );
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_map([], event_row)?.collect())
        .map_err(map_err)
}

/// One event by id.
pub(super) fn event(conn: &Connection, event_id: &str) -> StoreResult<Option<Event>> {
    let Some(id) = parse_id(event_id) else {
        return Ok(None);
    };
    event_by_rowid(conn, id)
}

/// One event by row id.
pub(super) fn event_by_rowid(conn: &Connection, id: i64) -> StoreResult<Option<Event>> {
    let sql = concat!("SELECT ", event_columns!(), " FROM events WHERE id = ?1");
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row([id], event_row).optional())
        .map_err(map_err)
}

/// Inserts an event with `available = capacity`.
pub(super) fn create_event(conn: &Connection, event: &NewEvent) -> StoreResult<Event> {
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO events (name, date, location, capacity, available, max_per_user, \
                 description, starts_at, starts_ms) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    event.name,
                    event.starts_at.date_naive().to_string(),
                    event.location,
                    event.capacity,
                    event.max_per_user,
                    event.description,
                    event.starts_at.to_rfc3339(),
                    event.starts_at.timestamp_millis(),
                ],
                |row| row.get(0),
            )
        })
        .map_err(map_err)?;
    event_by_rowid(conn, id)?.ok_or(StoreError::NotFound)
}

/// Inserts `events` if there is no event yet; returns how many.
pub(super) fn seed_events(conn: &Connection, events: &[NewEvent]) -> StoreResult<usize> {
    let any: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM events)")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(map_err)?;
    if any {
        return Ok(0);
    }
    for event in events {
        create_event(conn, event)?;
    }
    Ok(events.len())
}

// ----- tickets ---------------------------------------------------------------

/// The columns [`ticket_row`] reads, as a literal for `concat!`.
macro_rules! ticket_columns {
    () => {
        "id, event_id, event_name, quantity, booked_at, checked_in_at"
    };
}

/// Maps a row of `ticket_columns!()`.
fn ticket_row(row: &Row<'_>) -> rusqlite::Result<Ticket> {
    Ok(Ticket {
        id: id_col(row, 0)?,
        event_id: id_col(row, 1)?,
        event_name: row.get(2)?,
        quantity: row.get(3)?,
        booked_at: time_col(row, 4)?,
        code: String::new(),
        checked_in_at: opt_time_col(row, 5)?,
    })
}

/// One ticket by row id, cancelled or not.
pub(super) fn ticket_by_rowid(conn: &Connection, id: i64) -> StoreResult<Option<Ticket>> {
    let sql = concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE id = ?1");
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row([id], ticket_row).optional())
        .map_err(map_err)
}

/// Seats a user holds for an event (`?1` user, `?2` event): an index-only
/// read of `tickets_active_by_user_event` (schema version 2).
pub(super) const HELD_SQL: &str = "SELECT COALESCE(SUM(quantity), 0) FROM tickets \
     WHERE user_id = ?1 AND event_id = ?2 AND cancelled_at IS NULL";

/// Seat counts of the events booked in the writer's current batch, kept
/// in memory between bookings and written back once ([`SeatLedger::settle`]):
/// a batch of 500 bookings of one hot event reads and writes its row once,
/// not 500 times. Only the writer thread has one; it settles the ledger
/// before any other kind of write runs (so that write sees the true count)
/// and before the batch commits.
#[derive(Debug, Default)]
pub(super) struct SeatLedger {
    /// By event rowid.
    events: HashMap<i64, LedgerEntry>,
}

/// One event as the current batch sees it.
#[derive(Debug)]
struct LedgerEntry {
    /// The event as read at its first booking in the batch.
    event: Event,
    /// Seats left after the batch's bookings so far.
    available: u32,
    /// `available` differs from the stored row.
    changed: bool,
}

impl SeatLedger {
    /// Writes every changed seat count back to `events` and forgets all
    /// entries.
    ///
    /// # Errors
    /// A message when an update fails: the batch must then be rolled back.
    pub(super) fn settle(&mut self, conn: &Connection) -> Result<(), String> {
        for (id, entry) in self.events.drain().filter(|(_, e)| e.changed) {
            let updated = conn
                .prepare_cached("UPDATE events SET available = ?2 WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute(params![id, entry.available]))
                .map_err(|e| format!("seat count of event {id} not written: {e}"))?;
            if updated != 1 {
                return Err(format!("event {id} vanished during a booking batch"));
            }
        }
        Ok(())
    }

    /// The event with its seat count as of this batch, read on first use.
    fn entry(&mut self, conn: &Connection, event_id: i64) -> StoreResult<&mut LedgerEntry> {
        Ok(match self.events.entry(event_id) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(slot) => {
                let event = event_by_rowid(conn, event_id)?.ok_or(StoreError::NotFound)?;
                slot.insert(LedgerEntry {
                    available: event.available,
                    event,
                    changed: false,
                })
            }
        })
    }
}

/// Books seats, on the writer thread, as one booking of the current batch.
/// Every rule is checked here, one booking after another, so checks and
/// changes cannot interleave with another booking: the user and the event
/// exist, a reused `request_key` replays its ticket, the user's held seats plus
/// `quantity` stay within `max_per_user`, `quantity` seats are left (the
/// count in `ledger`). Only then does it write (the ticket, its audit
/// record) and take the seats in `ledger`.
///
/// The inner result is the booking's answer; a refused booking has written
/// nothing. The outer `Err` means a write failed *after* the checks passed:
/// the batch's transaction can no longer be trusted and must be rolled
/// back whole (every operation in it is answered `Internal`). That is why
/// bookings need no savepoint of their own.
pub(super) fn book(
    conn: &Connection,
    ledger: &mut SeatLedger,
    request: &BookingRequest,
) -> Result<StoreResult<Booking>, String> {
    let (user_id, event_id, entry) = match check_booking(conn, ledger, request) {
        Ok(Checked::Replay(booking)) => return Ok(Ok(booking)),
        Ok(Checked::Go {
            user_id,
            event_id,
            entry,
        }) => (user_id, event_id, entry),
        Err(refused) => return Ok(Err(refused)),
    };
    let booked_at = to_millis(request.booked_at);
    conn.prepare_cached(
        "INSERT INTO tickets (user_id, event_id, event_name, quantity, booked_at, request_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            user_id,
            event_id,
            entry.event.name,
            request.quantity,
            booked_at,
            request.request_key
        ])
    })
    .map_err(|e| format!("ticket not written: {e}"))?;
    let ticket = Ticket {
        code: String::new(),
        checked_in_at: None,
        id: super::convert::render_id(conn.last_insert_rowid()),
        event_id: entry.event.id.clone(),
        event_name: entry.event.name.clone(),
        quantity: request.quantity,
        // As stored (millisecond precision), as a read would return it.
        booked_at: DateTime::from_timestamp_millis(booked_at).unwrap_or(request.booked_at),
    };
    // In the booking's transaction: the record commits with the booking or
    // not at all, and costs no commit of its own.
    if let Some(actor) = &request.audit_actor {
        append_audit(conn, &crate::booking_audit(actor, &ticket))
            .map_err(|e| format!("audit record not written: {e}"))?;
    }
    entry.available -= request.quantity;
    entry.changed = true;
    Ok(Ok(Booking {
        ticket,
        available: entry.available,
        replayed: false,
    }))
}

/// What the checks of a booking decided.
enum Checked<'a> {
    /// The `request_key` was used before: answer with the original ticket.
    Replay(Booking),
    /// Every rule holds: write it (parsed ids, the event's ledger entry).
    Go {
        user_id: i64,
        event_id: i64,
        entry: &'a mut LedgerEntry,
    },
}

/// The read-only half of [`book`]: every rule, nothing written.
fn check_booking<'a>(
    conn: &Connection,
    ledger: &'a mut SeatLedger,
    request: &BookingRequest,
) -> StoreResult<Checked<'a>> {
    let user_id = parse_id(&request.user_id).ok_or(StoreError::NotFound)?;
    let event_id = parse_id(&request.event_id).ok_or(StoreError::NotFound)?;
    if request.quantity == 0 {
        return Err(StoreError::Internal(
            "a booking needs at least one seat".to_owned(),
        ));
    }
    let user_exists = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists([user_id]))
        .map_err(map_err)?;
    if !user_exists {
        // Checked here rather than left to the ticket's foreign key, whose
        // failure after the checks would fail the whole batch.
        return Err(StoreError::NotFound);
    }
    let entry = ledger.entry(conn, event_id)?;

    if let Some(key) = &request.request_key {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE user_id = ?1 AND request_key = ?2"
        );
        let original = conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_row(params![user_id, key], ticket_row).optional())
            .map_err(map_err)?;
        if let Some(ticket) = original {
            crate::check_replay(&ticket, request)?;
            return Ok(Checked::Replay(Booking {
                ticket,
                available: entry.available,
                replayed: true,
            }));
        }
    }

    if entry.event.status == EventStatus::Cancelled || entry.event.starts_at <= request.booked_at {
        return Err(StoreError::EventClosed);
    }
    let held: u64 = conn
        .prepare_cached(HELD_SQL)
        .and_then(|mut stmt| stmt.query_row([user_id, event_id], |row| row.get(0)))
        .map_err(map_err)?;
    let max_per_user = entry.event.max_per_user;
    if held + u64::from(request.quantity) > u64::from(max_per_user) {
        return Err(StoreError::LimitExceeded {
            max_per_user,
            held: u32::try_from(held).unwrap_or(u32::MAX),
        });
    }
    if entry.available < request.quantity {
        return Err(StoreError::SoldOut {
            available: entry.available,
        });
    }
    Ok(Checked::Go {
        user_id,
        event_id,
        entry,
    })
}

/// A user's active tickets, newest first.
pub(super) fn tickets_for_user(conn: &Connection, user_id: &str) -> StoreResult<Vec<Ticket>> {
    let Some(id) = parse_id(user_id) else {
        return Ok(Vec::new());
    };
    let sql = concat!(
        "SELECT ",
        ticket_columns!(),
        " FROM tickets WHERE user_id = ?1 AND cancelled_at IS NULL \
         ORDER BY booked_at DESC, id DESC"
    );
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_map([id], ticket_row)?.collect())
        .map_err(map_err)
}

// ----- chat ------------------------------------------------------------------

/// The columns [`message_row`] reads.
macro_rules! message_columns {
    () => {
        "room, seq, sender, text, sent_at, system, edited_at, deleted"
    };
}

/// Maps a row of `message_columns!()`: a system message has no sender.
fn message_row(row: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    let system: bool = row.get(5)?;
    let sender: String = row.get(2)?;
    Ok(ChatMessage {
        room: row.get(0)?,
        seq: row.get(1)?,
        from: (!system).then_some(sender),
        text: row.get(3)?,
        sent_at: time_col(row, 4)?,
        system,
        edited_at: opt_time_col(row, 6)?,
        deleted: row.get(7)?,
    })
}

/// Stores a message with the room's next sequence number. Only the single
/// writer runs this, so `MAX(seq) + 1` cannot race. A system message
/// (`from: None`) is stored with an empty sender and `system = 1`.
pub(super) fn append_message(conn: &Connection, message: &NewMessage) -> StoreResult<ChatMessage> {
    // Two plain statements rather than `INSERT .. RETURNING` (an ephemeral
    // table per call, see `book`); the single writer makes them atomic.
    let seq: u64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE room = ?1")
        .and_then(|mut stmt| stmt.query_row([&message.room], |row| row.get(0)))
        .map_err(map_err)?;
    let sent_at = to_millis(message.sent_at);
    conn.prepare_cached(
        "INSERT INTO messages (room, seq, sender, text, sent_at, system) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            message.room,
            seq,
            message.from.as_deref().unwrap_or_default(),
            message.text,
            sent_at,
            message.from.is_none()
        ])
    })
    .map_err(map_err)?;
    Ok(ChatMessage {
        room: message.room.clone(),
        seq,
        from: message.from.clone(),
        text: message.text.clone(),
        // As stored (millisecond precision), as a read would return it.
        sent_at: DateTime::from_timestamp_millis(sent_at).unwrap_or(message.sent_at),
        system: message.from.is_none(),
        edited_at: None,
        deleted: false,
    })
}

/// One message, deleted or not.
pub(super) fn message(conn: &Connection, room: &str, seq: u64) -> StoreResult<Option<ChatMessage>> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    conn.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE room = ?1 AND seq = ?2"
    ))
    .and_then(|mut stmt| stmt.query_row(params![room, seq], message_row).optional())
    .map_err(map_err)
}

/// Replaces the text of a message that is not deleted; `NotFound` else.
pub(super) fn edit_message(
    conn: &Connection,
    room: &str,
    seq: u64,
    text: &str,
    at: DateTime<Utc>,
) -> StoreResult<ChatMessage> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    conn.prepare_cached(concat!(
        "UPDATE messages SET text = ?3, edited_at = ?4 \
         WHERE room = ?1 AND seq = ?2 AND deleted = 0 RETURNING ",
        message_columns!()
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![room, seq, text, to_millis(at)], message_row)
            .optional()
    })
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

/// Erases a message's text and marks it deleted; `NotFound` when missing
/// or deleted already.
pub(super) fn delete_message(
    conn: &Connection,
    room: &str,
    seq: u64,
    at: DateTime<Utc>,
) -> StoreResult<ChatMessage> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    conn.prepare_cached(concat!(
        "UPDATE messages SET text = '', deleted = 1, edited_at = ?3 \
         WHERE room = ?1 AND seq = ?2 AND deleted = 0 RETURNING ",
        message_columns!()
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![room, seq, to_millis(at)], message_row)
            .optional()
    })
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

/// Up to `limit` messages with `seq < before_seq`, the newest such, oldest
/// first.
pub(super) fn chat_history(
    conn: &Connection,
    room: &str,
    before_seq: Option<u64>,
    limit: u32,
) -> StoreResult<Vec<ChatMessage>> {
    let before = before_seq.map_or(i64::MAX, |seq| i64::try_from(seq).unwrap_or(i64::MAX));
    let mut messages: Vec<ChatMessage> = conn
        .prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE room = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
        ))
        .and_then(|mut stmt| {
            stmt.query_map(params![room, before, limit], message_row)?
                .collect()
        })
        .map_err(map_err)?;
    messages.reverse();
    Ok(messages)
}

// ----- audit -----------------------------------------------------------------

/// Appends an audit record.
pub(super) fn append_audit(conn: &Connection, entry: &AuditEntry) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO audit (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut stmt| {
            stmt.execute(params![
                to_millis(entry.at),
                entry.actor,
                entry.action,
                entry.detail
            ])
        })
        .map(|_| ())
        .map_err(map_err)
}

/// The newest `limit` audit records (by insertion order), oldest first.
pub(super) fn recent_audit(conn: &Connection, limit: u32) -> StoreResult<Vec<AuditEntry>> {
    let mut entries: Vec<AuditEntry> = conn
        .prepare_cached("SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?1")
        .and_then(|mut stmt| {
            stmt.query_map([limit], |row| {
                Ok(AuditEntry {
                    at: time_col(row, 0)?,
                    actor: row.get(1)?,
                    action: row.get(2)?,
                    detail: row.get(3)?,
                })
            })?
            .collect()
        })
        .map_err(map_err)?;
    entries.reverse();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-user seat check of every booking reads only the covering
    /// index, never the ticket rows.
    #[test]
    fn the_seat_check_is_an_index_only_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn =
            super::super::schema::open_writer(&dir.path().join("plan.sqlite3")).expect("open");
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {HELD_SQL}"))
            .and_then(|mut stmt| stmt.query_map([1, 1], |row| row.get(3))?.collect())
            .expect("plan");
        assert_eq!(
            plan,
            [
                "SEARCH tickets USING COVERING INDEX tickets_active_by_user_event (user_id=? AND event_id=? AND cancelled_at=?)"
            ]
        );
    }
}
