//! Opening connections and the versioned schema.
//!
//! The schema version lives in SQLite's `PRAGMA user_version` (an integer in
//! the database header, 0 in a new file). [`MIGRATIONS`] lists every step
//! ever shipped, oldest first; step `i` brings the database from version `i`
//! to `i + 1`. Opening applies the missing steps in one `IMMEDIATE`
//! transaction (so two processes cannot migrate at once and a failed step
//! leaves the file as it was) and refuses a database whose version is newer
//! than this build knows: an older binary must not write to a schema it does
//! not understand. Shipped steps are never edited, only appended to.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::convert::map_err;
use crate::{StoreError, StoreResult};

/// How long a connection waits for a lock held by another connection or
/// process before failing with `SQLITE_BUSY` (mapped to `Unavailable`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection (every statement of this store
/// fits, so none is re-parsed on the hot path).
const STATEMENT_CACHE: usize = 64;

/// Version 1: the initial schema.
///
/// - `users.username` / `users.email` are `COLLATE NOCASE UNIQUE`: lookups
///   and the uniqueness rule ignore ASCII case (usernames are ASCII by the
///   protocol's rule; e-mails compare ASCII-case-insensitively).
/// - `events.available` is guarded by a `CHECK` so that even a bug cannot
///   oversell or over-return seats; the booking code never relies on it.
/// - `tickets.event_name` keeps the event's name at booking time (the wire
///   `Ticket` carries it). `cancelled_at` is `NULL` while the ticket is
///   active. `UNIQUE (user_id, request_key)` makes the idempotency key unique
///   per user (`NULL` keys never collide).
/// - `messages` is keyed by `(room, seq)`: a duplicate sequence number is
///   impossible even if the single-writer rule were broken.
const SCHEMA_V1: &str = "
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    email         TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    created_at    INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    date         TEXT    NOT NULL,
    location     TEXT    NOT NULL,
    capacity     INTEGER NOT NULL CHECK (capacity >= 1),
    available    INTEGER NOT NULL CHECK (available BETWEEN 0 AND capacity),
    max_per_user INTEGER NOT NULL CHECK (max_per_user >= 1)
);
CREATE INDEX events_by_date ON events (date, name, id);
CREATE TABLE tickets (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    event_id     INTEGER NOT NULL REFERENCES events (id),
    event_name   TEXT    NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity >= 1),
    booked_at    INTEGER NOT NULL,
    cancelled_at INTEGER,
    request_key  TEXT,
    UNIQUE (user_id, request_key)
);
CREATE INDEX tickets_by_user_event ON tickets (user_id, event_id);
CREATE TABLE messages (
    room    TEXT    NOT NULL,
    seq     INTEGER NOT NULL CHECK (seq >= 1),
    sender  TEXT    NOT NULL,
    text    TEXT    NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT,
    action TEXT    NOT NULL,
    detail TEXT    NOT NULL
);
";

/// Version 2: the per-user seat check of `book` (`SUM(quantity)` of the
/// user's active tickets for the event) reads only an index. The index
/// carries `cancelled_at` and `quantity`, so the check no longer visits
/// every ticket row the user holds (profiled: a buyer with 30 tickets made
/// the check most of a booking's cost). It replaces `tickets_by_user_event`
/// (same leading columns, so every query that used it can use this one).
const SCHEMA_V2: &str = "
CREATE INDEX tickets_active_by_user_event
    ON tickets (user_id, event_id, cancelled_at, quantity);
DROP INDEX tickets_by_user_event;
";

/// Version 3 (rooms issue): rooms, memberships with read markers, mutes,
/// bans, system messages, edits and deletions.
///
/// - `rooms` holds created public rooms, direct rooms (`direct_key` is the
///   sorted pair of user ids, unique: one room per pair) and the stored
///   settings of `lobby` and event rooms, which exist without a row.
/// - `room_members` holds memberships with their role and read marker;
///   every account is a member of `lobby` whether or not it has a row (a
///   row appears when its marker or role is stored).
/// - `room_mutes` is apart from memberships so that leaving and joining
///   again does not lift a mute.
/// - Existing messages keep their room; rooms named by earlier messages
///   (when a room was only a label) become public rooms without an owner,
///   so their history stays reachable. `lobby` needs no row.
const SCHEMA_V3: &str = "
ALTER TABLE users ADD COLUMN banned_until INTEGER;
ALTER TABLE messages ADD COLUMN system INTEGER NOT NULL DEFAULT 0 CHECK (system IN (0, 1));
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));
CREATE TABLE rooms (
    name              TEXT    PRIMARY KEY,
    kind              TEXT    NOT NULL CHECK (kind IN ('public', 'event', 'direct')),
    topic             TEXT    NOT NULL DEFAULT '',
    owner_id          INTEGER REFERENCES users (id),
    slow_mode_seconds INTEGER NOT NULL DEFAULT 0 CHECK (slow_mode_seconds >= 0),
    direct_key        TEXT    UNIQUE,
    created_at        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE room_members (
    room     TEXT    NOT NULL,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT    NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
    read_seq INTEGER NOT NULL DEFAULT 0 CHECK (read_seq >= 0),
    PRIMARY KEY (room, user_id)
) WITHOUT ROWID;
CREATE INDEX room_members_by_user ON room_members (user_id, room);
CREATE TABLE room_mutes (
    room    TEXT    NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    until   INTEGER NOT NULL,
    PRIMARY KEY (room, user_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO rooms (name, kind, topic, created_at)
    SELECT DISTINCT lower(room), 'public', '', 0 FROM messages
    WHERE lower(room) <> 'lobby' AND lower(room) NOT LIKE 'event-%' AND lower(room) NOT LIKE 'dm:%';
";

/// Version 4 (ticketing issue): event details and status, waiting lists,
/// offers, check-in, and the `staff` role.
///
/// - `users` is rebuilt to widen its `role` check to `staff` (SQLite cannot
///   alter a `CHECK`); ids, and so every reference to them, are kept.
///   [`migrate`] turns foreign keys off around the migration, as SQLite's
///   documented table-rebuild procedure asks, and checks them before commit.
/// - `events.starts_at` is RFC 3339 text keeping the event's own offset,
///   `starts_ms` the same instant in unix milliseconds (for ordering and
///   comparisons); `date` stays, the date of `starts_at` in its offset.
///   Existing events start at 20:00 UTC of their date.
/// - `events.held` counts seats held for open offers (not in `available`);
///   `cancelled_at` / `cancel_reason` mark a cancelled event.
/// - `waitlist`: one row per person waiting, in join order (`id`); `offer_id`
///   is set once seats are offered to them. `UNIQUE (event_id, user_id)`:
///   one place in line per event.
/// - `offers`: every offer ever made with its `state`; the open ones, by
///   expiry, are what the sweeper reads after a restart.
const SCHEMA_V4: &str = "
CREATE TABLE users_v4 (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    email         TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('user', 'staff', 'admin')),
    created_at    INTEGER NOT NULL,
    banned_until  INTEGER
);
INSERT INTO users_v4 (id, username, email, password_hash, role, created_at, banned_until)
    SELECT id, username, email, password_hash, role, created_at, banned_until FROM users;
DROP TABLE users;
ALTER TABLE users_v4 RENAME TO users;
ALTER TABLE events ADD COLUMN starts_at TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN starts_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0);
ALTER TABLE events ADD COLUMN cancelled_at INTEGER;
ALTER TABLE events ADD COLUMN cancel_reason TEXT;
UPDATE events SET starts_at = date || 'T20:00:00+00:00',
                  starts_ms = CAST(strftime('%s', date || ' 20:00:00') AS INTEGER) * 1000;
DROP INDEX events_by_date;
CREATE INDEX events_by_start ON events (starts_ms, name, id);
ALTER TABLE tickets ADD COLUMN checked_in_at INTEGER;
CREATE INDEX tickets_by_event ON tickets (event_id, cancelled_at);
CREATE TABLE offers (
    id         INTEGER PRIMARY KEY,
    event_id   INTEGER NOT NULL REFERENCES events (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    quantity   INTEGER NOT NULL CHECK (quantity >= 1),
    offered_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state      TEXT    NOT NULL
               CHECK (state IN ('open', 'accepted', 'declined', 'lapsed', 'withdrawn')),
    ticket_id  INTEGER REFERENCES tickets (id)
);
CREATE INDEX offers_open_by_expiry ON offers (expires_at) WHERE state = 'open';
CREATE INDEX offers_by_user ON offers (user_id, state);
CREATE INDEX offers_by_event ON offers (event_id, state);
CREATE TABLE waitlist (
    id        INTEGER PRIMARY KEY,
    event_id  INTEGER NOT NULL REFERENCES events (id),
    user_id   INTEGER NOT NULL REFERENCES users (id),
    quantity  INTEGER NOT NULL CHECK (quantity >= 1),
    joined_at INTEGER NOT NULL,
    offer_id  INTEGER REFERENCES offers (id),
    UNIQUE (event_id, user_id)
);
CREATE INDEX waitlist_by_event ON waitlist (event_id, offer_id, id);
CREATE INDEX waitlist_by_user ON waitlist (user_id);
";

/// Version 5: failed logins counted for the login back-off (issue 15),
/// one row per key (`account:<name>` or `address:<ip>`); `last_ms` is
/// indexed so that stale rows are cleared cheaply as new ones come.
const SCHEMA_V5: &str = "
CREATE TABLE login_failures (
    key      TEXT    PRIMARY KEY,
    failures INTEGER NOT NULL CHECK (failures >= 1),
    last_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_failures_by_last ON login_failures (last_ms);
";

/// Every schema step, oldest first; the database's `user_version` is the
/// number of steps applied.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5];

/// The schema version this build writes: the number of [`MIGRATIONS`].
pub(super) const SCHEMA_VERSION: u32 = {
    assert!(MIGRATIONS.len() <= u32::MAX as usize);
    MIGRATIONS.len() as u32
};

/// Opens the read-write connection: WAL journal (readers never block the
/// writer nor the writer them), `synchronous = FULL` (a commit returns only
/// once the WAL is fsynced, so an acknowledged booking survives power loss),
/// foreign keys on, busy timeout. Then brings the schema up to date.
///
/// # Errors
/// `Internal` when the file cannot be opened or migrated, or when its schema
/// is newer than [`SCHEMA_VERSION`].
pub(super) fn open_writer(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))?;
    configure(&conn)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(map_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!(
            "{}: SQLite refused WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(map_err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(map_err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens a read-only connection (used by the reader pool). It sees the last
/// committed state; in WAL mode it never waits for the writer.
///
/// # Errors
/// `Internal` when the file cannot be opened.
pub(super) fn open_reader(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))?;
    configure(&conn)?;
    Ok(conn)
}

/// Settings every connection shares.
fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Applies the missing [`MIGRATIONS`] in one transaction.
///
/// # Errors
/// `Internal` naming the file when its version is newer than this build's
/// (or negative), or when a step fails (nothing is changed then).
fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    // Rebuilding a table (version 4) needs foreign keys off, which cannot
    // change inside a transaction; they are checked before the commit
    // instead, and turned back on whatever happens.
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(map_err)?;
    let migrated = migrate_steps(conn, path);
    let restored = conn
        .pragma_update(None, "foreign_keys", true)
        .map_err(map_err);
    migrated.and(restored)
}

/// The transaction of [`migrate`].
fn migrate_steps(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let current: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(map_err)?;
    let current = match usize::try_from(current) {
        Ok(v) if v <= MIGRATIONS.len() => v,
        Ok(_) => {
            return Err(StoreError::Internal(format!(
                "{}: database schema version {current} is newer than the newest this build of \
                 Coliseum knows ({SCHEMA_VERSION}); run a newer Coliseum or use another data \
                 directory",
                path.display()
            )));
        }
        Err(_) => {
            return Err(StoreError::Internal(format!(
                "{}: database schema version {current} is invalid (not a Coliseum database?)",
                path.display()
            )));
        }
    };
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = step + 1;
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Internal(format!(
                "{}: schema migration to version {version} failed: {e}",
                path.display()
            ))
        })?;
        tx.pragma_update(None, "user_version", version)
            .map_err(map_err)?;
        tracing::info!(path = %path.display(), version, "sqlite schema migrated");
    }
    let broken = current < MIGRATIONS.len()
        && tx
            .prepare("PRAGMA foreign_key_check")
            .and_then(|mut stmt| stmt.exists([]))
            .map_err(map_err)?;
    if broken {
        return Err(StoreError::Internal(format!(
            "{}: schema migration left broken references; nothing was changed",
            path.display()
        )));
    }
    tx.commit().map_err(map_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written by a build that knew only version 1 is brought
    /// to the current version on open, its records intact.
    #[test]
    fn a_version_1_database_is_migrated_with_its_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v1.sqlite3");
        {
            let conn = Connection::open(&path).expect("create");
            conn.execute_batch(SCHEMA_V1).expect("v1 schema");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute_batch(
                "INSERT INTO users (id, username, email, password_hash, role, created_at) \
                     VALUES (1, 'ada', 'ada@example.org', 'phc', 'user', 0); \
                 INSERT INTO events (id, name, date, location, capacity, available, max_per_user) \
                     VALUES (1, 'Show', '2031-06-15', 'Arena', 10, 7, 4); \
                 INSERT INTO tickets (user_id, event_id, event_name, quantity, booked_at) \
                     VALUES (1, 1, 'Show', 3, 0);",
            )
            .expect("v1 data");
        }
        let conn = open_writer(&path).expect("open and migrate");
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets' AND sql IS NOT NULL")
            .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
            .expect("indexes");
        assert_eq!(
            indexes,
            ["tickets_active_by_user_event", "tickets_by_event"],
            "version 2's covering index replaced the first; version 4 adds one per event"
        );
        let held: u32 = conn
            .query_row(
                "SELECT SUM(quantity) FROM tickets WHERE user_id = 1 AND event_id = 1",
                [],
                |row| row.get(0),
            )
            .expect("ticket kept");
        assert_eq!(held, 3);
    }

    /// A version 2 database (rooms were labels) keeps its messages in their
    /// rooms; a labelled room becomes a public room without owner.
    #[test]
    fn a_version_2_database_keeps_its_chat() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v2.sqlite3");
        {
            let conn = Connection::open(&path).expect("create");
            conn.execute_batch(SCHEMA_V1).expect("v1 schema");
            conn.execute_batch(SCHEMA_V2).expect("v2 schema");
            conn.pragma_update(None, "user_version", 2)
                .expect("version");
            conn.execute_batch(
                "INSERT INTO messages (room, seq, sender, text, sent_at) VALUES \
                     ('lobby', 1, 'ada', 'hello', 0), ('lobby', 2, 'bob', 'hi', 1), \
                     ('general', 1, 'ada', 'side talk', 2);",
            )
            .expect("v2 data");
        }
        let conn = open_writer(&path).expect("open and migrate");
        let rows: Vec<(String, i64, i64, i64)> = conn
            .prepare("SELECT room, seq, system, deleted FROM messages ORDER BY room, seq")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect()
            })
            .expect("messages");
        assert_eq!(
            rows,
            [
                ("general".to_owned(), 1, 0, 0),
                ("lobby".to_owned(), 1, 0, 0),
                ("lobby".to_owned(), 2, 0, 0)
            ]
        );
        let rooms: Vec<(String, String)> = conn
            .prepare("SELECT name, kind FROM rooms")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .expect("rooms");
        assert_eq!(rooms, [("general".to_owned(), "public".to_owned())]);
    }

    /// A version 3 database (before ticketing) keeps its accounts, events
    /// and tickets: events start at 20:00 UTC of their date, nobody waits,
    /// and the rebuilt `users` table takes the `staff` role with every id
    /// (and so every reference) kept.
    #[test]
    fn a_version_3_database_gains_ticketing_and_keeps_its_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v3.sqlite3");
        {
            let conn = Connection::open(&path).expect("create");
            for step in [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3] {
                conn.execute_batch(step).expect("old schema");
            }
            conn.pragma_update(None, "user_version", 3)
                .expect("version");
            conn.execute_batch(
                "INSERT INTO users (id, username, email, password_hash, role, created_at) \
                     VALUES (7, 'ada', 'ada@example.org', 'phc', 'admin', 0); \
                 INSERT INTO events (id, name, date, location, capacity, available, max_per_user) \
                     VALUES (3, 'Show', '2031-06-15', 'Arena', 10, 7, 4); \
                 INSERT INTO tickets (user_id, event_id, event_name, quantity, booked_at) \
                     VALUES (7, 3, 'Show', 3, 0); \
                 INSERT INTO room_members (room, user_id, role) VALUES ('lobby', 7, 'member');",
            )
            .expect("v3 data");
        }
        let conn = open_writer(&path).expect("open and migrate");
        let event: (String, i64, String, i64) = conn
            .query_row(
                "SELECT starts_at, starts_ms, description, held FROM events WHERE id = 3",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .expect("event kept");
        assert_eq!(
            event,
            (
                "2031-06-15T20:00:00+00:00".to_owned(),
                1_939_320_000_000,
                String::new(),
                0
            )
        );
        let ticket_holder: String = conn
            .query_row(
                "SELECT u.username FROM tickets t JOIN users u ON u.id = t.user_id",
                [],
                |row| row.get(0),
            )
            .expect("ticket still names its holder");
        assert_eq!(ticket_holder, "ada");
        conn.execute("UPDATE users SET role = 'staff' WHERE id = 7", [])
            .expect("staff is a role now");
        let foreign_keys: bool = conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .expect("pragma");
        assert!(foreign_keys, "foreign keys are back on after the migration");
        assert!(
            conn.execute(
                "INSERT INTO tickets (user_id, event_id, event_name, quantity, booked_at) \
                 VALUES (99, 3, 'Show', 1, 0)",
                [],
            )
            .is_err(),
            "references are enforced"
        );
    }
}
