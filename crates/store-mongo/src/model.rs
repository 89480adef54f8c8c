//! The documents as stored, with serde, and their conversions to the domain
//! types. Ids are `ObjectId`s inside MongoDB and 24-digit hex strings
//! outside; counters are `i64` (BSON has no unsigned integers); times are
//! BSON dates (milliseconds, the precision every Coliseum store keeps).
//!
//! Collections (names in [`names`]):
//! - `users`: [`UserDoc`]; `username_lc`/`email_lc` carry the lowercased
//!   values that the unique indexes compare (case-insensitive uniqueness
//!   without relying on collations).
//! - `sessions`: [`SessionDoc`], `_id` = the token hash.
//! - `events`: [`EventDoc`] with its waiting list ([`WaitEntry`], open
//!   offers included) plus the in-flight marker arrays `holds` and
//!   `releases` ([`Marker`], see `booking.rs` and `ticketing.rs`).
//! - `holdings`: [`HoldingDoc`], one per (user, event): the seats the user
//!   holds or is booking, with the same marker arrays.
//! - `tickets`: [`TicketDoc`] with a [`TicketStatus`].
//! - `messages`: [`MessageDoc`]; `counters`: [`CounterDoc`] (per-room `seq`).
//! - `rooms`: [`RoomDoc`], `_id` = the room's name: created public and
//!   direct rooms, and the settings stored for `lobby` and event rooms.
//! - `memberships`: [`MembershipDoc`], one per (room, user): role and read
//!   marker. `lobby` members need none (every account is one).
//! - `mutes`: [`MuteDoc`], one per (room, user), apart from the membership
//!   so that it outlives it.
//! - `audit`: [`AuditDoc`].

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use coliseum_protocol::{ChatMessage, Event, EventStatus, Offer, Role, RoomKind, RoomRole, Ticket};
use coliseum_store::{AuditEntry, Room, StoreError, StoreResult, User};
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};

/// Collection and index names, in one place.
pub(crate) mod names {
    /// Accounts.
    pub const USERS: &str = "users";
    /// Login sessions.
    pub const SESSIONS: &str = "sessions";
    /// Events with their seat counters.
    pub const EVENTS: &str = "events";
    /// Per-(user, event) seat holdings, for the atomic per-user limit.
    pub const HOLDINGS: &str = "holdings";
    /// Tickets.
    pub const TICKETS: &str = "tickets";
    /// Chat messages.
    pub const MESSAGES: &str = "messages";
    /// Per-room sequence counters and one-off markers.
    pub const COUNTERS: &str = "counters";
    /// The audit log.
    pub const AUDIT: &str = "audit";
    /// Rooms (created ones, and settings of `lobby` and event rooms).
    pub const ROOMS: &str = "rooms";
    /// Room memberships: role and read marker.
    pub const MEMBERSHIPS: &str = "memberships";
    /// Room mutes.
    pub const MUTES: &str = "mutes";
    /// Failed logins per account and address (the login back-off).
    pub const LOGIN_FAILURES: &str = "login_failures";

    /// Unique index on `users.username_lc`; a duplicate → `Conflict("username")`.
    pub const USERNAME_INDEX: &str = "username_lc_unique";
    /// Unique index on `users.email_lc`; a duplicate → `Conflict("email")`.
    pub const EMAIL_INDEX: &str = "email_lc_unique";
    /// Unique sparse index on `tickets.request_ref` (`<user id>:<request key>`).
    pub const REQUEST_INDEX: &str = "request_ref_unique";
    /// Unique sparse index on `rooms.direct_key`: one direct room per pair.
    pub const DIRECT_INDEX: &str = "direct_key_unique";
}

/// Converts a domain time to a BSON date (milliseconds).
pub(crate) fn to_bson_time(time: DateTime<Utc>) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(time.timestamp_millis())
}

/// Converts a BSON date back to a domain time.
pub(crate) fn from_bson_time(time: mongodb::bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or_default()
}

/// Parses an id as the domain hands it over: exactly 24 hex digits, else
/// `None` (callers answer `None` / `NotFound`, never an error).
pub(crate) fn parse_id(id: &str) -> Option<ObjectId> {
    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    ObjectId::parse_str(id).ok()
}

/// A stored `u32` quantity (`i64` in BSON) back to `u32`; a value out of
/// range means a corrupt document.
pub(crate) fn to_u32(value: i64, field: &str) -> StoreResult<u32> {
    u32::try_from(value)
        .map_err(|_| StoreError::Internal(format!("stored {field} {value} is out of range")))
}

/// The `_id` of the holding of `user` for `event`: `<user hex>:<event hex>`.
pub(crate) fn holding_id(user: ObjectId, event: ObjectId) -> String {
    format!("{}:{}", user.to_hex(), event.to_hex())
}

/// The value of `tickets.request_ref` for an idempotency key: the user's
/// hex id (fixed 24 characters, so unambiguous), a colon, the key. One
/// field with a unique sparse index instead of a compound partial index:
/// mongo-java-server ignores `partialFilterExpression`, and a compound
/// sparse index would still index every ticket (it always has `user_id`).
pub(crate) fn request_ref(user: ObjectId, key: &str) -> String {
    format!("{}:{key}", user.to_hex())
}

/// `users` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserDoc {
    /// Primary key; the domain id is its hex form.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// As given.
    pub username: String,
    /// Lowercased; unique index [`names::USERNAME_INDEX`].
    pub username_lc: String,
    /// As given.
    pub email: String,
    /// Lowercased; unique index [`names::EMAIL_INDEX`].
    pub email_lc: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// `"user"` or `"admin"`.
    pub role: Role,
    /// Creation time.
    pub created_at: mongodb::bson::DateTime,
    /// Set while banned (absent in documents written before bans existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banned_until: Option<mongodb::bson::DateTime>,
}

impl UserDoc {
    /// The domain record.
    pub fn into_user(self) -> User {
        User {
            id: self.id.to_hex(),
            username: self.username,
            email: self.email,
            password_hash: self.password_hash,
            role: self.role,
            created_at: from_bson_time(self.created_at),
            banned_until: self.banned_until.map(from_bson_time),
        }
    }
}

/// `sessions` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionDoc {
    /// Hex SHA-256 of the session token (the `_id` index makes it unique).
    #[serde(rename = "_id")]
    pub token_hash: String,
    /// The session's user.
    pub user_id: ObjectId,
    /// Valid while `now < expires_at`.
    pub expires_at: mongodb::bson::DateTime,
}

/// `events` document.
///
/// Documents written before the ticketing issue lack `starts_at`,
/// `starts_utc`, `description`, `held`, `waitlist`, `wseq` and `wv`: they
/// read with defaults (the start is 20:00 local time on `date`), and the
/// first write path that touches one completes it
/// (`Inner::event_for_write`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EventDoc {
    /// Primary key.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Display name.
    pub name: String,
    /// `YYYY-MM-DD`, the date of `starts_at` in its own offset: sorts
    /// chronologically as a string.
    pub date: NaiveDate,
    /// Venue.
    pub location: String,
    /// Total seats.
    pub capacity: i64,
    /// Seats for sale (not sold, not held by offers); lowered only by
    /// guarded `$inc`, raised only by waiting-list-versioned updates.
    pub available: i64,
    /// Per-user limit.
    pub max_per_user: i64,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The start, RFC 3339 with its original offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// The same instant as a BSON date, for guarded comparisons
    /// (`starts_utc > booked_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_utc: Option<mongodb::bson::DateTime>,
    /// Set (to the caller's `now`) when the event was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<mongodb::bson::DateTime>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Server time at which a cancellation's ticket sweep started; removed
    /// when the sweep is done (recovery finishes a stale one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<mongodb::bson::DateTime>,
    /// Seats held by open offers (the sum of the offered entries).
    #[serde(default)]
    pub held: i64,
    /// The waiting list in join order; offered entries carry their offer.
    #[serde(default)]
    pub waitlist: Vec<WaitEntry>,
    /// The last join sequence number given out.
    #[serde(default)]
    pub wseq: i64,
    /// Waiting-list version: bumped by every update that changes
    /// `waitlist` or `held` or raises `available`; read-modify-write
    /// updates are guarded by it. `None` on documents from before the
    /// ticketing issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wv: Option<i64>,
    /// Seats taken for tickets not yet active (`booking.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Marker>,
    /// Seats given back by cancels in flight (`cancel.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<Marker>,
}

/// One person on an event's waiting list (an element of
/// `events.waitlist`). While `offer_id` is set, `quantity` seats are held
/// for them until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WaitEntry {
    /// Who waits.
    pub user_id: ObjectId,
    /// Seats wanted.
    pub quantity: i64,
    /// Join order (from the event's `wseq`).
    pub seq: i64,
    /// When they joined.
    pub joined_at: mongodb::bson::DateTime,
    /// The open offer, once seats were offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<ObjectId>,
    /// When the open offer lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<mongodb::bson::DateTime>,
}

impl WaitEntry {
    /// The wire offer of an offered entry (`None` while only waiting).
    pub fn offer(&self, event: &EventDoc) -> Option<Offer> {
        let (offer_id, expires_at) = (self.offer_id?, self.expires_at?);
        Some(Offer {
            offer_id: offer_id.to_hex(),
            event_id: event.id.to_hex(),
            event_name: event.name.clone(),
            quantity: u32::try_from(self.quantity.max(0)).unwrap_or(u32::MAX),
            expires_at: from_bson_time(expires_at),
        })
    }
}

impl EventDoc {
    /// When it starts: the stored RFC 3339 text, else (documents from
    /// before the ticketing issue) 20:00 local time on `date`.
    pub fn starts(&self) -> DateTime<FixedOffset> {
        self.starts_at
            .as_deref()
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .unwrap_or_else(|| coliseum_protocol::validate::evening_of(self.date))
    }

    /// Whether it is closed at `now`: cancelled, or started.
    pub fn closed_at(&self, now: DateTime<Utc>) -> bool {
        self.cancelled_at.is_some() || self.starts() <= now
    }

    /// The entries not yet offered seats.
    pub fn waiting(&self) -> impl Iterator<Item = &WaitEntry> {
        self.waitlist.iter().filter(|e| e.offer_id.is_none())
    }

    /// The domain record; `status` is derived at `Utc::now()`.
    pub fn into_event(self) -> StoreResult<Event> {
        let starts_at = self.starts();
        let available = to_u32(self.available.max(0), "available")?;
        let waitlist = u32::try_from(self.waiting().count()).unwrap_or(u32::MAX);
        Ok(Event {
            id: self.id.to_hex(),
            room: coliseum_protocol::validate::event_room(&self.id.to_hex()),
            status: EventStatus::derive(
                self.cancelled_at.is_some(),
                starts_at,
                available,
                Utc::now(),
            ),
            name: self.name,
            date: self.date,
            location: self.location,
            capacity: to_u32(self.capacity, "capacity")?,
            available,
            max_per_user: to_u32(self.max_per_user, "max_per_user")?,
            description: self.description,
            starts_at,
            waitlist,
            held: to_u32(self.held.max(0), "held")?,
        })
    }
}

/// One in-flight step recorded on an event or holding document in the same
/// atomic update that changed its counter: "ticket `t` moved `q` seats".
/// It makes the step idempotent (the update is guarded by the marker's
/// absence) and tells recovery whether the step happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// The ticket.
    pub t: ObjectId,
    /// Its seats.
    pub q: i64,
    /// `releases` markers only: the cancel operation (one ticket can be
    /// cancelled in parts, each part with its own operation id). Absent
    /// on `holds` markers and on markers from before the ticketing issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<ObjectId>,
}

/// The marker arrays of an event or holding document, for recovery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MarkersDoc {
    /// `events._id` (ObjectId) or `holdings._id` (string).
    #[serde(rename = "_id")]
    pub id: mongodb::bson::Bson,
    /// Seats taken for a ticket that is not yet active.
    #[serde(default)]
    pub holds: Vec<Marker>,
    /// Seats given back for a ticket being cancelled.
    #[serde(default)]
    pub releases: Vec<Marker>,
    /// Holdings only: the release version, bumped by every allowance
    /// return of a cancel (`cancel.rs`); absent until the first.
    #[serde(default)]
    pub rv: Option<i64>,
}

/// `holdings` document: seats one user holds (or is booking) for one event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HoldingDoc {
    /// [`holding_id`].
    #[serde(rename = "_id")]
    pub id: String,
    /// Seats of active tickets plus seats of bookings in flight.
    #[serde(default)]
    pub held: i64,
}

/// Where a ticket is in its life. Only `Active` tickets are listed and
/// count as sold; see `booking.rs` for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TicketStatus {
    /// Written before any seat moves; a booking in flight (or crashed).
    Pending,
    /// Sold.
    Active,
    /// Cancel in flight (or crashed): seats are being given back.
    Cancelling,
    /// Cancelled; its seats are back.
    Cancelled,
    /// A booking that failed; its reservations are being undone, then the
    /// document is deleted.
    Failed,
}

/// `tickets` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TicketDoc {
    /// Primary key.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Owner.
    pub user_id: ObjectId,
    /// The event booked.
    pub event_id: ObjectId,
    /// The event's name at booking time.
    pub event_name: String,
    /// Seats.
    pub quantity: i64,
    /// As given by the caller.
    pub booked_at: mongodb::bson::DateTime,
    /// Life-cycle state.
    pub status: TicketStatus,
    /// When `status` last changed (recovery only touches old states).
    pub since: mongodb::bson::DateTime,
    /// [`request_ref`] when the booking had a request key; unique sparse
    /// index [`names::REQUEST_INDEX`]; removed when a booking fails so the
    /// key can be used again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_ref: Option<String>,
    /// Random token of whoever is currently cancelling the ticket (the
    /// owner's call, or recovery after taking over a stale cancel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// While `pending` or `cancelling`: the instance id of the store
    /// running the operation (`lease.rs`); absent in documents written
    /// before leases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// While `pending` or `cancelling`: until when (the owner's clock) the
    /// owner's lease runs; renewed while the operation runs. Absent in
    /// documents written before leases (recovery then goes by `since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<mongodb::bson::DateTime>,
    /// While `cancelling`: the seats being given back (all of them when
    /// absent, as before partial cancels existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_q: Option<i64>,
    /// While `cancelling`: the cancel operation's id, carried by its
    /// `releases` markers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_op: Option<ObjectId>,
    /// The waiting-list offer this ticket was booked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<ObjectId>,
    /// The `cancel_event` sweep that cancelled it (to list its refunds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<ObjectId>,
    /// When it was checked in (set once, by a conditional update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<mongodb::bson::DateTime>,
}

impl TicketDoc {
    /// The domain record.
    pub fn to_ticket(&self) -> StoreResult<Ticket> {
        Ok(Ticket {
            id: self.id.to_hex(),
            event_id: self.event_id.to_hex(),
            event_name: self.event_name.clone(),
            quantity: to_u32(self.quantity, "quantity")?,
            booked_at: from_bson_time(self.booked_at),
            code: String::new(),
            checked_in_at: self.checked_in_at.map(from_bson_time),
        })
    }
}

/// `messages` document. Documents written before the rooms issue lack
/// `system`, `edited_at` and `deleted`; they read as a plain message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MessageDoc {
    /// Primary key (not exposed).
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Room name.
    pub room: String,
    /// Per-room sequence number from [`CounterDoc`]; unique with `room`.
    pub seq: i64,
    /// Sender's username; `null` for a system message.
    #[serde(default)]
    pub from: Option<String>,
    /// Text; empty once deleted.
    #[serde(default)]
    pub text: String,
    /// Storage time.
    pub sent_at: mongodb::bson::DateTime,
    /// Written by the server, not by a member (stored only when set).
    #[serde(default, skip_serializing_if = "is_false")]
    pub system: bool,
    /// Last edit (or the deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<mongodb::bson::DateTime>,
    /// Deleted: the text is gone (stored only when set).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

/// `skip_serializing_if` helper: flags are stored only when set.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
const fn is_false(flag: &bool) -> bool {
    !*flag
}

impl MessageDoc {
    /// The domain record.
    pub fn into_message(self) -> ChatMessage {
        ChatMessage {
            room: self.room,
            seq: u64::try_from(self.seq).unwrap_or_default(),
            from: self.from,
            text: if self.deleted {
                String::new()
            } else {
                self.text
            },
            sent_at: from_bson_time(self.sent_at),
            system: self.system,
            edited_at: self.edited_at.map(from_bson_time),
            deleted: self.deleted,
        }
    }
}

/// `counters` document: `_id` = `room:<name>` with the last `seq` given
/// out, or a one-off marker such as `seed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CounterDoc {
    /// Counter name.
    #[serde(rename = "_id")]
    pub id: String,
    /// Last value given out.
    #[serde(default)]
    pub seq: i64,
}

/// `rooms` document, `_id` = the room's lowercase name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoomDoc {
    /// The room's name.
    #[serde(rename = "_id")]
    pub name: String,
    /// `public`, `event` or `direct`.
    pub kind: RoomKind,
    /// Free text (event rooms take the event's name instead).
    #[serde(default)]
    pub topic: String,
    /// The creator of a public room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<ObjectId>,
    /// Slow mode in seconds (0 = off).
    #[serde(default)]
    pub slow_mode_seconds: i64,
    /// Direct rooms only: [`direct_key`] of the pair; unique sparse index
    /// [`names::DIRECT_INDEX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_key: Option<String>,
    /// Creation time (first stored setting for `lobby` and event rooms).
    pub created_at: mongodb::bson::DateTime,
}

impl RoomDoc {
    /// Slow mode as the domain has it.
    pub fn slow_mode(&self) -> u32 {
        u32::try_from(self.slow_mode_seconds.max(0)).unwrap_or(u32::MAX)
    }

    /// The domain record.
    pub fn into_room(self) -> Room {
        let direct = self.direct_key.as_deref().and_then(|key| {
            key.split_once(':')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        });
        Room {
            slow_mode_seconds: self.slow_mode(),
            name: self.name,
            kind: self.kind,
            topic: self.topic,
            owner_id: self.owner_id.map(|id| id.to_hex()),
            direct,
        }
    }
}

/// The `direct_key` of two users: their hex ids, sorted, joined by `:`
/// (the same whichever order they are given in).
pub(crate) fn direct_key(a: ObjectId, b: ObjectId) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{}:{}", first.to_hex(), second.to_hex())
}

/// `memberships` document: one user's membership of one room. Unique on
/// `(room, user_id)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MembershipDoc {
    /// The room's name.
    pub room: String,
    /// The member.
    pub user_id: ObjectId,
    /// Owner, moderator or member.
    #[serde(default)]
    pub role: RoomRole,
    /// The newest `seq` read (only ever raised, with `$max`).
    #[serde(default)]
    pub read_seq: i64,
}

/// `mutes` document: the user may not post in `room` before `until`.
/// Unique on `(room, user_id)`; removed when the mute is lifted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MuteDoc {
    /// The room's name.
    pub room: String,
    /// The muted user.
    pub user_id: ObjectId,
    /// End of the mute.
    pub until: mongodb::bson::DateTime,
}

/// A stored `seq` (`i64`) back to `u64` (negative: 0).
pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// A domain `seq` to BSON (`i64`, saturating).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `audit` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuditDoc {
    /// Primary key; with `at`, the order of "newest".
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// When.
    pub at: mongodb::bson::DateTime,
    /// Acting username, absent for anonymous/system actions.
    #[serde(default)]
    pub actor: Option<String>,
    /// Action name.
    pub action: String,
    /// Free-form detail.
    pub detail: String,
}

impl AuditDoc {
    /// The domain record.
    pub fn into_entry(self) -> AuditEntry {
        AuditEntry {
            at: from_bson_time(self.at),
            actor: self.actor,
            action: self.action,
            detail: self.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_as_24_hex_digits() {
        let id = ObjectId::new();
        assert_eq!(parse_id(&id.to_hex()), Some(id));
        assert_eq!(parse_id(&id.to_hex().to_uppercase()), Some(id));
        for bogus in [
            "",
            "abc",
            "0",
            "ffffffffffffffffffffffff0",
            " fffffffffffffffffffffff",
            "\u{1F600}",
        ] {
            assert_eq!(parse_id(bogus), None, "{bogus:?}");
        }
    }

    #[test]
    fn times_round_trip_at_millisecond_precision() {
        let time = DateTime::from_timestamp_millis(1_800_000_000_123).unwrap_or_default();
        assert_eq!(from_bson_time(to_bson_time(time)), time);
    }

    #[test]
    fn direct_keys_ignore_order_and_parse_back() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        assert_eq!(direct_key(a, b), direct_key(b, a));
        let doc = RoomDoc {
            name: "dm:x:y".to_owned(),
            kind: RoomKind::Direct,
            topic: String::new(),
            owner_id: None,
            slow_mode_seconds: 0,
            direct_key: Some(direct_key(b, a)),
            created_at: mongodb::bson::DateTime::from_millis(0),
        };
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        let room = doc.into_room();
        assert_eq!(room.direct, Some((first.to_hex(), second.to_hex())));
    }

    #[test]
    fn old_message_documents_still_read() {
        let old = mongodb::bson::doc! {
            "_id": ObjectId::new(),
            "room": "lobby",
            "seq": 3_i64,
            "from": "ada",
            "text": "hi",
            "sent_at": mongodb::bson::DateTime::from_millis(5),
        };
        let doc: MessageDoc = mongodb::bson::from_document(old).expect("reads");
        let message = doc.into_message();
        assert_eq!(message.from.as_deref(), Some("ada"));
        assert!(!message.system && !message.deleted);
        assert_eq!(message.edited_at, None);
    }

    #[test]
    fn request_refs_are_per_user() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        assert_ne!(request_ref(a, "k"), request_ref(b, "k"));
        assert_eq!(request_ref(a, "k:1"), format!("{}:k:1", a.to_hex()));
    }
}
