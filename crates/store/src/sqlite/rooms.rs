//! The SQL of rooms, memberships, read markers, mutes and bans (rooms
//! issue). Same rules as `sql.rs`: write functions run on the single
//! writer inside their own savepoint, reads on a pooled read-only
//! connection; [`room`] runs on either.
//!
//! `lobby` and the event rooms have no row until a setting (slow mode) is
//! stored for them; every account is a member of `lobby` with or without
//! a `room_members` row.

use chrono::{DateTime, Utc};
use coliseum_protocol::validate::{EVENT_ROOM_PREFIX, event_of_room, event_room};
use coliseum_protocol::{DEFAULT_ROOM, RoomInfo, RoomKind, RoomRole};
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::convert::{map_err, opt_time_col, parse_id, render_id, to_millis};
use super::sql;
use crate::{Membership, NewRoom, Room, StoreError, StoreResult};

/// `RoomKind` as stored.
const fn kind_str(kind: RoomKind) -> &'static str {
    match kind {
        RoomKind::Public => "public",
        RoomKind::Event => "event",
        RoomKind::Direct => "direct",
    }
}

/// `RoomRole` as stored.
const fn role_str(role: RoomRole) -> &'static str {
    match role {
        RoomRole::Owner => "owner",
        RoomRole::Moderator => "moderator",
        RoomRole::Member => "member",
    }
}

/// A stored role; anything unknown reads as `member` (the CHECK
/// constraint keeps others out).
fn parse_role(role: &str) -> RoomRole {
    match role {
        "owner" => RoomRole::Owner,
        "moderator" => RoomRole::Moderator,
        _ => RoomRole::Member,
    }
}

/// A stored kind.
fn parse_kind(kind: &str) -> RoomKind {
    match kind {
        "event" => RoomKind::Event,
        "direct" => RoomKind::Direct,
        _ => RoomKind::Public,
    }
}

/// A user's row id, or `NotFound` for a malformed id.
fn user_key(user_id: &str) -> StoreResult<i64> {
    parse_id(user_id).ok_or(StoreError::NotFound)
}

/// Whether the account exists.
fn user_exists(conn: &Connection, id: i64) -> StoreResult<bool> {
    conn.prepare_cached("SELECT 1 FROM users WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists([id]))
        .map_err(map_err)
}

/// The stored row of a room: kind, topic, owner, slow mode, direct key.
fn room_row(conn: &Connection, name: &str) -> StoreResult<Option<Room>> {
    conn.prepare_cached(
        "SELECT kind, topic, owner_id, slow_mode_seconds, direct_key FROM rooms WHERE name = ?1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([name], |row: &Row<'_>| {
            let kind: String = row.get(0)?;
            let owner: Option<i64> = row.get(2)?;
            let direct: Option<String> = row.get(4)?;
            Ok(Room {
                name: name.to_owned(),
                kind: parse_kind(&kind),
                topic: row.get(1)?,
                owner_id: owner.map(render_id),
                slow_mode_seconds: row.get(3)?,
                direct: direct.and_then(|key| {
                    key.split_once(':')
                        .map(|(a, b)| (a.to_owned(), b.to_owned()))
                }),
            })
        })
        .optional()
    })
    .map_err(map_err)
}

/// A room by lowercase name (see `Store::room`).
pub(super) fn room(conn: &Connection, name: &str) -> StoreResult<Option<Room>> {
    let stored = room_row(conn, name)?;
    if name == DEFAULT_ROOM {
        return Ok(Some(stored.unwrap_or_else(|| Room {
            name: name.to_owned(),
            kind: RoomKind::Public,
            topic: String::new(),
            owner_id: None,
            slow_mode_seconds: 0,
            direct: None,
        })));
    }
    if let Some(event_id) = event_of_room(name) {
        // An event room exists while its event does, whatever is stored.
        let Some(event) = sql::event(conn, event_id)? else {
            return Ok(None);
        };
        return Ok(Some(Room {
            name: name.to_owned(),
            kind: RoomKind::Event,
            topic: event.name,
            owner_id: None,
            slow_mode_seconds: stored.map_or(0, |r| r.slow_mode_seconds),
            direct: None,
        }));
    }
    Ok(stored)
}

/// Creates a public room and its owner's membership.
pub(super) fn create_room(conn: &Connection, new: &NewRoom) -> StoreResult<Room> {
    if room(conn, &new.name)?.is_some() || new.name.starts_with(EVENT_ROOM_PREFIX) {
        return Err(StoreError::Conflict("room".to_owned()));
    }
    let owner = user_key(&new.owner_id)?;
    conn.prepare_cached(
        "INSERT INTO rooms (name, kind, topic, owner_id, created_at) \
         VALUES (?1, 'public', ?2, ?3, ?4)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            new.name,
            new.topic,
            owner,
            to_millis(new.created_at)
        ])
    })
    .map_err(map_err)?;
    insert_member(conn, &new.name, owner, RoomRole::Owner)?;
    room(conn, &new.name)?.ok_or(StoreError::NotFound)
}

/// Adds a membership unless there is one; true when added.
fn insert_member(conn: &Connection, room: &str, user: i64, role: RoomRole) -> StoreResult<bool> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO room_members (room, user_id, role) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut stmt| stmt.execute(params![room, user, role_str(role)]))
    .map(|n| n == 1)
    .map_err(map_err)
}

/// The direct room of two users, created on first use (the single writer
/// makes the look-up and the insert atomic).
pub(super) fn direct_room(
    conn: &Connection,
    user_a: &str,
    user_b: &str,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<Room> {
    let (a, b) = if user_a <= user_b {
        (user_a, user_b)
    } else {
        (user_b, user_a)
    };
    let (a_key, b_key) = (user_key(a)?, user_key(b)?);
    let key = format!("{a}:{b}");
    let existing: Option<String> = conn
        .prepare_cached("SELECT name FROM rooms WHERE direct_key = ?1")
        .and_then(|mut stmt| stmt.query_row([&key], |row| row.get(0)).optional())
        .map_err(map_err)?;
    let name = match existing {
        Some(name) => name,
        None => {
            // A name left behind by a room of two renamed users: add a suffix.
            let mut candidate = name.to_owned();
            let mut n = 2;
            while room_row(conn, &candidate)?.is_some() {
                candidate = format!("{name}:{n}");
                n += 1;
            }
            conn.prepare_cached(
                "INSERT INTO rooms (name, kind, direct_key, created_at) \
                 VALUES (?1, 'direct', ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![candidate, key, to_millis(now)]))
            .map_err(map_err)?;
            candidate
        }
    };
    insert_member(conn, &name, a_key, RoomRole::Member)?;
    insert_member(conn, &name, b_key, RoomRole::Member)?;
    room(conn, &name)?.ok_or(StoreError::NotFound)
}

/// Stores a room's slow mode (a row for `lobby` / an event room on first use).
pub(super) fn set_slow_mode(conn: &Connection, name: &str, seconds: u32) -> StoreResult<()> {
    let current = room(conn, name)?.ok_or(StoreError::NotFound)?;
    conn.prepare_cached(
        "INSERT INTO rooms (name, kind, topic, slow_mode_seconds, created_at) \
         VALUES (?1, ?2, '', ?3, 0) \
         ON CONFLICT (name) DO UPDATE SET slow_mode_seconds = excluded.slow_mode_seconds",
    )
    .and_then(|mut stmt| stmt.execute(params![name, kind_str(current.kind), seconds]))
    .map(|_| ())
    .map_err(map_err)
}

/// Columns read by [`member_row`], over `users u`, `room_members m` (left
/// joined for `lobby`) and `room_mutes x` (left joined).
const MEMBER_COLUMNS: &str =
    "u.id, u.username, COALESCE(m.role, 'member'), COALESCE(m.read_seq, 0), x.until";

/// `SELECT` of [`MEMBER_COLUMNS`] for the members of room `?1`, then
/// `tail` (a `WHERE` or `ORDER BY`): every account for `lobby` (its
/// membership rows are optional), the membership rows elsewhere.
fn member_select(room: &str, tail: &str) -> String {
    let join = if room == DEFAULT_ROOM {
        "LEFT JOIN"
    } else {
        "JOIN"
    };
    format!(
        "SELECT {MEMBER_COLUMNS} FROM users u \
         {join} room_members m ON m.room = ?1 AND m.user_id = u.id \
         LEFT JOIN room_mutes x ON x.room = ?1 AND x.user_id = u.id {tail}"
    )
}

/// Maps a row of [`MEMBER_COLUMNS`] in `room`.
fn member_row(room: &str, row: &Row<'_>) -> rusqlite::Result<Membership> {
    let id: i64 = row.get(0)?;
    let role: String = row.get(2)?;
    Ok(Membership {
        room: room.to_owned(),
        user_id: render_id(id),
        username: row.get(1)?,
        role: parse_role(&role),
        read_seq: row.get(3)?,
        muted_until: opt_time_col(row, 4)?,
    })
}

/// A user's membership (every account is in `lobby`).
pub(super) fn membership(
    conn: &Connection,
    room: &str,
    user_id: &str,
) -> StoreResult<Option<Membership>> {
    let Some(id) = parse_id(user_id) else {
        return Ok(None);
    };
    let sql = member_select(room, "WHERE u.id = ?2");
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row(params![room, id], |row| member_row(room, row))
                .optional()
        })
        .map_err(map_err)
}

/// Adds a membership; true when new.
pub(super) fn join_room(
    conn: &Connection,
    room: &str,
    user_id: &str,
    role: RoomRole,
) -> StoreResult<bool> {
    let id = user_key(user_id)?;
    if !user_exists(conn, id)? {
        return Err(StoreError::NotFound);
    }
    if room == DEFAULT_ROOM {
        // Every account is a member already.
        return Ok(false);
    }
    insert_member(conn, room, id, role)
}

/// Removes a membership (and its marker and role); true when there was one.
pub(super) fn leave_room(conn: &Connection, room: &str, user_id: &str) -> StoreResult<bool> {
    let Some(id) = parse_id(user_id) else {
        return Ok(false);
    };
    if room == DEFAULT_ROOM {
        // Nobody leaves lobby.
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM room_members WHERE room = ?1 AND user_id = ?2")
        .and_then(|mut stmt| stmt.execute(params![room, id]))
        .map(|n| n == 1)
        .map_err(map_err)
}

/// Makes sure a `lobby` member has a row (so that a role or marker can be
/// stored); other rooms need an existing membership. `NotFound` when the
/// user is not a member.
fn member_key(conn: &Connection, room: &str, user_id: &str) -> StoreResult<i64> {
    let id = user_key(user_id)?;
    if room == DEFAULT_ROOM {
        if !user_exists(conn, id)? {
            return Err(StoreError::NotFound);
        }
        insert_member(conn, room, id, RoomRole::Member)?;
    }
    Ok(id)
}

/// Sets a member's role.
pub(super) fn set_room_role(
    conn: &Connection,
    room: &str,
    user_id: &str,
    role: RoomRole,
) -> StoreResult<()> {
    let id = member_key(conn, room, user_id)?;
    let changed = conn
        .prepare_cached("UPDATE room_members SET role = ?3 WHERE room = ?1 AND user_id = ?2")
        .and_then(|mut stmt| stmt.execute(params![room, id, role_str(role)]))
        .map_err(map_err)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// Mutes (or unmutes) a user in a room.
pub(super) fn set_mute(
    conn: &Connection,
    room: &str,
    user_id: &str,
    until: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    let id = user_key(user_id)?;
    if !user_exists(conn, id)? {
        return Err(StoreError::NotFound);
    }
    match until {
        Some(until) => conn
            .prepare_cached(
                "INSERT INTO room_mutes (room, user_id, until) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (room, user_id) DO UPDATE SET until = excluded.until",
            )
            .and_then(|mut stmt| stmt.execute(params![room, id, to_millis(until)])),
        None => conn
            .prepare_cached("DELETE FROM room_mutes WHERE room = ?1 AND user_id = ?2")
            .and_then(|mut stmt| stmt.execute(params![room, id])),
    }
    .map(|_| ())
    .map_err(map_err)
}

/// Moves a read marker forward; returns it.
pub(super) fn mark_read(
    conn: &Connection,
    room: &str,
    user_id: &str,
    seq: u64,
) -> StoreResult<u64> {
    let id = member_key(conn, room, user_id)?;
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "UPDATE room_members SET read_seq = MAX(read_seq, ?3) \
         WHERE room = ?1 AND user_id = ?2 RETURNING read_seq",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![room, id, seq], |row| row.get(0))
            .optional()
    })
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

/// A room's members: owner, moderators, members; by username within each.
pub(super) fn room_members(conn: &Connection, room: &str) -> StoreResult<Vec<Membership>> {
    let sql = member_select(
        room,
        "ORDER BY CASE COALESCE(m.role, 'member') WHEN 'owner' THEN 0 WHEN 'moderator' THEN 1 \
         ELSE 2 END, u.username COLLATE BINARY",
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map([room], |row| member_row(room, row))?
                .collect()
        })
        .map_err(map_err)
}

/// The rooms a user is in: `lobby`, then the others by name.
pub(super) fn rooms_of_user(conn: &Connection, user_id: &str) -> StoreResult<Vec<String>> {
    let mut rooms = vec![DEFAULT_ROOM.to_owned()];
    let Some(id) = parse_id(user_id) else {
        return Ok(rooms);
    };
    let others: Vec<String> = conn
        .prepare_cached(
            "SELECT room FROM room_members WHERE user_id = ?1 AND room <> ?2 ORDER BY room",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![id, DEFAULT_ROOM], |row| row.get(0))?
                .collect()
        })
        .map_err(map_err)?;
    rooms.extend(others);
    Ok(rooms)
}

/// Sets or lifts a ban.
pub(super) fn set_ban(
    conn: &Connection,
    user_id: &str,
    until: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    let id = user_key(user_id)?;
    let changed = conn
        .prepare_cached("UPDATE users SET banned_until = ?2 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![id, until.map(to_millis)]))
        .map_err(map_err)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// One room of `room_list`, counted for the caller.
struct Listed {
    /// Name.
    room: String,
    /// Kind.
    kind: RoomKind,
    /// Topic.
    topic: String,
}

/// What `rooms` shows a user (see `Store::room_list`).
pub(super) fn room_list(
    conn: &Connection,
    user_id: &str,
    username: &str,
) -> StoreResult<Vec<RoomInfo>> {
    let id = parse_id(user_id).unwrap_or(0);
    let mut listed = vec![Listed {
        room: DEFAULT_ROOM.to_owned(),
        kind: RoomKind::Public,
        topic: room(conn, DEFAULT_ROOM)?
            .map(|r| r.topic)
            .unwrap_or_default(),
    }];
    let public: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT name, topic FROM rooms WHERE kind = 'public' AND name <> ?1 ORDER BY name",
        )
        .and_then(|mut stmt| {
            stmt.query_map([DEFAULT_ROOM], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(map_err)?;
    listed.extend(public.into_iter().map(|(room, topic)| Listed {
        room,
        kind: RoomKind::Public,
        topic,
    }));
    listed.extend(sql::list_events(conn)?.into_iter().map(|event| Listed {
        room: event_room(&event.id),
        kind: RoomKind::Event,
        topic: event.name,
    }));
    // Direct rooms: the topic is the other member's name.
    let direct: Vec<(String, Option<String>)> = conn
        .prepare_cached(
            "SELECT r.name, (SELECT u.username FROM room_members o JOIN users u ON u.id = o.user_id \
                             WHERE o.room = r.name AND o.user_id <> ?1 LIMIT 1) \
             FROM rooms r JOIN room_members m ON m.room = r.name AND m.user_id = ?1 \
             WHERE r.kind = 'direct' ORDER BY r.name",
        )
        .and_then(|mut stmt| stmt.query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(map_err)?;
    listed.extend(direct.into_iter().map(|(room, other)| Listed {
        room,
        kind: RoomKind::Direct,
        topic: other.unwrap_or_default(),
    }));
    let mention = format!("@{}", username.to_ascii_lowercase());
    listed
        .into_iter()
        .map(|room| count(conn, room, id, username, &mention))
        .collect()
}

/// Members, the caller's marker, the newest `seq` and the caller's unread
/// and mention counts of one room.
fn count(
    conn: &Connection,
    room: Listed,
    id: i64,
    username: &str,
    mention: &str,
) -> StoreResult<RoomInfo> {
    let lobby = room.room == DEFAULT_ROOM;
    let members: u64 = if lobby {
        conn.prepare_cached("SELECT COUNT(*) FROM users")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
    } else {
        conn.prepare_cached("SELECT COUNT(*) FROM room_members WHERE room = ?1")
            .and_then(|mut stmt| stmt.query_row([&room.room], |row| row.get(0)))
    }
    .map_err(map_err)?;
    let marker: Option<u64> = conn
        .prepare_cached("SELECT read_seq FROM room_members WHERE room = ?1 AND user_id = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![room.room, id], |row| row.get(0))
                .optional()
        })
        .map_err(map_err)?;
    let joined = lobby || marker.is_some();
    let last_seq: u64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room = ?1")
        .and_then(|mut stmt| stmt.query_row([&room.room], |row| row.get(0)))
        .map_err(map_err)?;
    let (unread, mentions) = if joined {
        let after = i64::try_from(marker.unwrap_or(0)).unwrap_or(i64::MAX);
        conn.prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(instr(lower(text), ?3) > 0), 0) FROM messages \
             WHERE room = ?1 AND seq > ?2 AND deleted = 0 \
             AND (system = 1 OR sender <> ?4 COLLATE NOCASE)",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![room.room, after, mention, username], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
        })
        .map_err(map_err)?
    } else {
        (0, 0)
    };
    Ok(RoomInfo {
        room: room.room,
        kind: room.kind,
        topic: room.topic,
        members,
        joined,
        unread,
        mentions,
        last_seq,
    })
}
