//! Coliseum storage.
//!
//! [`Store`] is shaped around the domain (`book`, `cancel_ticket`,
//! `append_message`), not around SQL or documents, so that every backend can
//! use its own atomic primitives: the embedded SQLite store a transaction on
//! a single writer, MongoDB a guarded `$inc`. Every backend must pass the
//! shared conformance suite in `crates/store-conformance`.
//!
//! # Layout
//! - this file: the trait, its record types and [`StoreError`].
//! - [`sqlite`]: the embedded store (default; nothing to install).
//! - [`seed`]: the first-start event list (`resources/events.json`).

pub mod seed;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use coliseum_protocol::{
    Attendee, ChatMessage, Event, Offer, Role, RoomInfo, RoomKind, RoomRole, Ticket, WaitlistEntry,
};

pub use sqlite::SqliteStore;

/// What a store operation can fail with. Each variant maps to one wire
/// error code (see `docs/protocol.md`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist, or is not the caller's → `not_found`.
    #[error("not found")]
    NotFound,
    /// A unique value is taken; the string names the field (`"username"`,
    /// `"email"`) → `conflict`.
    #[error("{0} is already taken")]
    Conflict(String),
    /// Fewer than the requested seats remain → `sold_out`. The message
    /// never reads "only 0 seats left".
    #[error("{}", sold_out_message(*available))]
    SoldOut {
        /// Seats remaining when the booking was refused.
        available: u32,
    },
    /// The booking would exceed the event's per-user limit → `limit_exceeded`.
    #[error("at most {max_per_user} seats per user; you already hold {held}")]
    LimitExceeded {
        /// The event's `max_per_user`.
        max_per_user: u32,
        /// Seats the user already holds for the event.
        held: u32,
    },
    /// The event is cancelled or has started (`starts_at ≤ now`) →
    /// `event_closed` (ticketing issue).
    #[error("this event is closed: it was cancelled or has started")]
    EventClosed,
    /// The ticket was checked in already → `conflict` naming the time.
    #[error("already checked in at {at}")]
    AlreadyCheckedIn {
        /// The first check-in.
        at: DateTime<Utc>,
    },
    /// The ticket was cancelled → `conflict`.
    #[error("this ticket was cancelled")]
    TicketCancelled,
    /// The backend is unreachable or timed out → `unavailable`.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (corruption, bug) → `internal`.
    #[error("store error: {0}")]
    Internal(String),
}

/// The message of [`StoreError::SoldOut`].
fn sold_out_message(available: u32) -> String {
    match available {
        0 => "sold out: no seats left".to_owned(),
        1 => "only 1 seat left".to_owned(),
        n => format!("only {n} seats left"),
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A stored account. `password_hash` is an argon2id PHC string; the store
/// never sees a plaintext password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Opaque id.
    pub id: String,
    /// Unique (case-insensitive) username.
    pub username: String,
    /// Unique (case-insensitive) e-mail.
    pub email: String,
    /// PHC string, e.g. `$argon2id$v=19$m=19456,t=2,p=1$...`.
    pub password_hash: String,
    /// `user` or `admin`.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Set while the account is banned (`ban`): logins are refused while
    /// `now < banned_until`. A ban "until unban" is [`BAN_FOREVER`].
    pub banned_until: Option<DateTime<Utc>>,
}

impl User {
    /// Whether the account is banned at `now`.
    #[must_use]
    pub fn banned_at(&self, now: DateTime<Utc>) -> bool {
        self.banned_until.is_some_and(|until| now < until)
    }
}

/// The `banned_until` of a ban without an end: 9999-12-31T00:00:00Z
/// (every store can hold it; BSON dates and SQLite integers alike).
pub const BAN_FOREVER: DateTime<Utc> = match DateTime::from_timestamp(253_402_214_400, 0) {
    Some(t) => t,
    None => DateTime::<Utc>::MIN_UTC,
};

/// Input of [`Store::create_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Already validated username.
    pub username: String,
    /// Already validated e-mail.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role of the new account.
    pub role: Role,
    /// Creation time (millisecond precision).
    pub created_at: DateTime<Utc>,
}

/// Input of [`Store::update_user`]; `None` fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserUpdate {
    /// New username.
    pub username: Option<String>,
    /// New e-mail.
    pub email: Option<String>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New role.
    pub role: Option<Role>,
}

/// Input of [`Store::create_event`]; `available` starts at `capacity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Display name.
    pub name: String,
    /// When it starts (the wire `date` is this instant's date in its own
    /// offset). Stores keep the offset.
    pub starts_at: DateTime<FixedOffset>,
    /// Venue.
    pub location: String,
    /// Free text (0–2,000 characters), may be empty.
    pub description: String,
    /// Total seats (≥ 1).
    pub capacity: u32,
    /// Per-user seat limit (1..=capacity).
    pub max_per_user: u32,
}

/// Input of [`Store::update_event`]; `None` fields stay as they are.
/// Already validated by the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventUpdate {
    /// New name (tickets keep the name they were booked under).
    pub name: Option<String>,
    /// New start.
    pub starts_at: Option<DateTime<FixedOffset>>,
    /// New venue.
    pub location: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New capacity (≥ seats sold + seats held, else `Conflict("capacity")`).
    pub capacity: Option<u32>,
    /// New per-user limit.
    pub max_per_user: Option<u32>,
}

/// The waiting-list rules every store applies (ticketing issue):
/// how long an offer holds its seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferPolicy {
    /// An offer made at `t` lapses at `t + hold` (`--offer-minutes`,
    /// default 10 minutes).
    pub hold: chrono::Duration,
}

impl Default for OfferPolicy {
    fn default() -> Self {
        Self {
            hold: chrono::Duration::minutes(10),
        }
    }
}

/// An offer together with the user it is for (the wire [`Offer`] does
/// not name its user; the server needs to know whom to push it to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferGrant {
    /// Who the seats are held for.
    pub user_id: String,
    /// The offer.
    pub offer: Offer,
}

/// What freeing seats set in motion: offers made to people waiting.
/// Returned by every operation that can free seats, so the server can
/// push them; made in the same atomic step as the freeing, so nobody can
/// book the freed seats in between.
pub type NewOffers = Vec<OfferGrant>;

/// Result of [`Store::update_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventChange {
    /// The event after the change.
    pub event: Event,
    /// Offers made because the capacity grew.
    pub offers: NewOffers,
}

/// A ticket ended by [`Store::cancel_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundedTicket {
    /// Its holder.
    pub user_id: String,
    /// The ticket.
    pub ticket_id: String,
    /// Seats it held.
    pub quantity: u32,
}

/// Result of [`Store::cancel_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCancellation {
    /// The event after the change (`status: cancelled`, `available: 0`,
    /// `held: 0`, `waitlist: 0`).
    pub event: Event,
    /// Every ticket that was active, now cancelled.
    pub tickets: Vec<RefundedTicket>,
    /// Every offer that was open, now withdrawn.
    pub offers: Vec<OfferGrant>,
}

/// Result of [`Store::expire_offers`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfferSweep {
    /// Offers that lapsed (their entries left the waiting list).
    pub expired: Vec<OfferGrant>,
    /// Offers made with the seats that came back.
    pub offered: NewOffers,
}

/// Result of a successful [`Store::check_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    /// The ticket, `checked_in_at` set.
    pub ticket: Ticket,
    /// Its event.
    pub event: Event,
    /// The holder's id.
    pub user_id: String,
    /// The holder's current username.
    pub holder: String,
}

/// Input of [`Store::book`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    /// Who books.
    pub user_id: String,
    /// Which event.
    pub event_id: String,
    /// Seats wanted (≥ 1).
    pub quantity: u32,
    /// Idempotency key, unique per user.
    pub request_key: Option<String>,
    /// Booking time (millisecond precision), stored as `booked_at`.
    pub booked_at: DateTime<Utc>,
    /// Username to record in the audit log as the actor of this booking
    /// (see [`booking_audit`] for the record). `None` writes no audit
    /// record (tools, tests). The embedded store writes the record in the
    /// booking's own transaction (both or neither, one commit); MongoDB
    /// writes it right after the booking is confirmed. Refused and
    /// replayed bookings write none.
    pub audit_actor: Option<String>,
}

/// Result of a successful [`Store::book`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The ticket (the original one when `replayed`).
    pub ticket: Ticket,
    /// Seats left for the event right after this booking.
    pub available: u32,
    /// True when `request_key` matched an earlier booking and nothing changed.
    pub replayed: bool,
}

/// Result of a successful [`Store::cancel_ticket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// The event whose seats came back.
    pub event_id: String,
    /// Seats returned.
    pub quantity: u32,
    /// Seats left for the event right after the cancellation (after any
    /// offers were made from them).
    pub available: u32,
    /// Seats still on the ticket (0: the whole ticket was cancelled).
    pub remaining: u32,
    /// Offers made from the returned seats to people waiting.
    pub offers: NewOffers,
}

/// Input of [`Store::append_message`]; the store assigns `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Room name.
    pub room: String,
    /// Sender's username; `None` for a system message (stored with
    /// `system: true`).
    pub from: Option<String>,
    /// Validated text.
    pub text: String,
    /// Time stored (millisecond precision).
    pub sent_at: DateTime<Utc>,
}

/// A room as stored. `lobby` and the event rooms exist without being
/// created: [`Store::room`] answers for them (lobby: always; `event-<id>`:
/// while the event exists), with any settings stored for them since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Lowercase name (`lobby`, `general`, `event-12`, `dm:ada:bob`).
    pub name: String,
    /// Public, event or direct.
    pub kind: RoomKind,
    /// Free text (the event's name for event rooms).
    pub topic: String,
    /// The creator of a public room (its first owner); `None` otherwise.
    pub owner_id: Option<String>,
    /// Slow mode: seconds between two messages of one member (0 = off).
    pub slow_mode_seconds: u32,
    /// For direct rooms: the two members' user ids, sorted.
    pub direct: Option<(String, String)>,
}

/// Input of [`Store::create_room`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoom {
    /// Lowercase name, already validated.
    pub name: String,
    /// Validated topic (may be empty).
    pub topic: String,
    /// The creator: becomes the room's owner and only member.
    pub owner_id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A user's membership of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The room's name.
    pub room: String,
    /// The member's id.
    pub user_id: String,
    /// The member's current username.
    pub username: String,
    /// Owner, moderator or member.
    pub role: RoomRole,
    /// The newest `seq` the member has read (0: none).
    pub read_seq: u64,
    /// Set while muted: no posting while `now < muted_until`.
    pub muted_until: Option<DateTime<Utc>>,
}

/// One audit-log record: who did what, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When (millisecond precision).
    pub at: DateTime<Utc>,
    /// Acting user's username, `None` for anonymous/system actions.
    pub actor: Option<String>,
    /// Action name: `register`, `login`, `logout`, `update_account`,
    /// `create_event`, `book`, `cancel_ticket`, `admin_add`, ...
    pub action: String,
    /// Free-form JSON-ish detail (ids, quantities); never secrets.
    pub detail: String,
}

/// A live session as [`Store::session`] hands it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// The session's account.
    pub user: User,
    /// When the session stops being valid (millisecond precision).
    pub expires_at: DateTime<Utc>,
}

/// A session as stored: only the SHA-256 hash of the token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hex SHA-256 of the session token.
    pub token_hash: String,
    /// The session's user.
    pub user_id: String,
    /// When the session stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// Whether `original`, the ticket booked earlier with a request's
/// `request_key`, is what `request` asks for again (same event and
/// quantity): then the booking is a replay. Shared by every store.
///
/// # Errors
/// `Conflict("request_key")` when the key was used for another event or
/// quantity (hardening issue: it used to return the original ticket
/// silently).
pub fn check_replay(original: &Ticket, request: &BookingRequest) -> StoreResult<()> {
    if original.event_id.eq_ignore_ascii_case(&request.event_id)
        && original.quantity == request.quantity
    {
        Ok(())
    } else {
        Err(StoreError::Conflict("request_key".to_owned()))
    }
}

/// The audit-log record of a successful booking: action `book`, detail
/// `{"event_id":..,"ticket_id":..,"quantity":..}` (JSON), stamped with the
/// ticket's `booked_at`. Shared by every store so the log reads the same
/// whichever store wrote it.
#[must_use]
pub fn booking_audit(actor: &str, ticket: &Ticket) -> AuditEntry {
    /// The detail's shape. A struct rather than `serde_json::json!`: this
    /// runs on the SQLite writer for every booking, and building a `Value`
    /// map first cost 10 % of the writer's time (profiled).
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        event_id: &'a str,
        ticket_id: &'a str,
        quantity: u32,
    }
    let detail = Detail {
        event_id: &ticket.event_id,
        ticket_id: &ticket.id,
        quantity: ticket.quantity,
    };
    AuditEntry {
        at: ticket.booked_at,
        actor: Some(actor.to_owned()),
        action: "book".to_owned(),
        // Serializing borrowed strings and an integer cannot fail.
        detail: serde_json::to_string(&detail).unwrap_or_default(),
    }
}

/// The `book` audit record of a ticket made by accepting a waiting-list
/// offer (ticketing issue): [`booking_audit`]'s detail plus `offer_id`.
#[must_use]
pub fn offer_booking_audit(actor: &str, ticket: &Ticket, offer_id: &str) -> AuditEntry {
    /// The detail's shape.
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        event_id: &'a str,
        ticket_id: &'a str,
        quantity: u32,
        offer_id: &'a str,
    }
    let detail = Detail {
        event_id: &ticket.event_id,
        ticket_id: &ticket.id,
        quantity: ticket.quantity,
        offer_id,
    };
    AuditEntry {
        at: ticket.booked_at,
        actor: Some(actor.to_owned()),
        action: "book".to_owned(),
        // Serializing borrowed strings and an integer cannot fail.
        detail: serde_json::to_string(&detail).unwrap_or_default(),
    }
}

/// Whether `username` may edit `message` (rooms issue): only its author,
/// and only while it is not deleted. System messages have no author.
/// Authors are known by username as it was when they wrote: after a
/// rename, older messages can no longer be edited (they can be deleted by
/// a moderator).
#[must_use]
pub fn may_edit(message: &ChatMessage, username: &str) -> bool {
    !message.deleted
        && message
            .from
            .as_deref()
            .is_some_and(|from| from.eq_ignore_ascii_case(username))
}

/// Whether a user may delete `message`: its author, an owner or moderator
/// of its room (`membership` is the actor's membership of that room, if
/// any), or an admin. Never an already deleted message.
#[must_use]
pub fn may_delete(
    message: &ChatMessage,
    username: &str,
    role: Role,
    membership: Option<&Membership>,
) -> bool {
    !message.deleted
        && (may_edit(message, username)
            || role == Role::Admin
            || membership.is_some_and(|m| m.role.moderates()))
}

impl Membership {
    /// Whether the member is muted at `now` (a mute lapses by itself).
    #[must_use]
    pub fn muted_at(&self, now: DateTime<Utc>) -> bool {
        self.muted_until.is_some_and(|until| now < until)
    }
}

/// Failed password checks counted against one key, an account or an
/// address (the login back-off, shared by every server instance on one
/// store: issue 15). The back-off rules themselves live in the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// Failures since the count last started over (at least 1).
    pub failures: u32,
    /// When the latest of them happened (milliseconds precision).
    pub last: DateTime<Utc>,
}

/// The current time truncated to whole milliseconds, the precision every
/// store keeps (BSON dates are milliseconds), so values round-trip exactly.
#[must_use]
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default()
}

/// Domain storage. All methods are atomic: on `Err`, nothing changed.
/// Implementations must never block the async worker threads (use a
/// dedicated thread or `spawn_blocking` for synchronous I/O).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Backend name for logs, e.g. `"sqlite"` or `"mongodb"`.
    fn backend(&self) -> &'static str;

    /// Creates an account. `Err(Conflict("username"|"email"))` when either is
    /// taken, compared case-insensitively.
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    /// Looks an account up by username, case-insensitively.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Looks an account up by id (`Ok(None)` for unknown or malformed ids).
    async fn user_by_id(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// Applies the `Some` fields of `update`. `Err(NotFound)` for an unknown
    /// id, `Err(Conflict(field))` when the new username/e-mail is taken.
    async fn update_user(&self, user_id: &str, update: UserUpdate) -> StoreResult<User>;

    /// Stores a session (token hash → user, expiry).
    async fn create_session(&self, session: SessionRecord) -> StoreResult<()>;
    /// An unexpired session with its user and expiry (so that a live
    /// connection can end it when it expires), `None` if unknown or expired
    /// at `now` (valid while `now < expires_at`).
    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionUser>>;
    /// The user of an unexpired session: [`Store::session`] without the
    /// expiry.
    async fn session_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        Ok(self.session(token_hash, now).await?.map(|s| s.user))
    }
    /// Deletes one session (logout). Deleting an unknown one is `Ok`.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes every session of a user (password change); returns how many.
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64>;

    /// Every event, ordered by date, then name, then id.
    async fn list_events(&self) -> StoreResult<Vec<Event>>;
    /// One event (`Ok(None)` for unknown or malformed ids).
    async fn event(&self, event_id: &str) -> StoreResult<Option<Event>>;
    /// Creates an event with `available = capacity`.
    async fn create_event(&self, event: NewEvent) -> StoreResult<Event>;
    /// Loads `events` only if the store holds no event at all (first start);
    /// returns how many were inserted (0 when events already existed).
    async fn seed_events(&self, events: Vec<NewEvent>) -> StoreResult<usize>;

    /// Books seats atomically. Never oversells: `Err(SoldOut)` when fewer than
    /// `quantity` seats remain; `Err(LimitExceeded)` when the user's active
    /// seats for the event plus `quantity` exceed `max_per_user`;
    /// `Err(NotFound)` for an unknown event. With a `request_key` already used
    /// by this user, returns the original ticket with `replayed = true` and
    /// changes nothing — or `Err(Conflict("request_key"))` when that ticket
    /// was for another event or quantity ([`check_replay`]).
    /// `Err(EventClosed)` when the event is cancelled or has started
    /// (`starts_at ≤ booked_at`). Seats held by waiting-list offers are not
    /// available. Holds under any number of concurrent callers.
    async fn book(&self, request: BookingRequest) -> StoreResult<Booking>;
    /// The user's active (not cancelled) tickets, newest first.
    async fn tickets_for_user(&self, user_id: &str) -> StoreResult<Vec<Ticket>>;
    /// Cancels the user's ticket — or, with `quantity` below its seats,
    /// takes that many seats off it — and returns the seats atomically,
    /// offering them to the waiting list in the same step.
    /// `Err(NotFound)` when the ticket does not exist, is another user's, or
    /// is already cancelled; `Err(Conflict("quantity"))` when `quantity`
    /// exceeds its seats; `Err(AlreadyCheckedIn)` once it was checked in;
    /// `Err(EventClosed)` when the event has started (`now ≥ starts_at`).
    async fn cancel_ticket(
        &self,
        user_id: &str,
        ticket_id: &str,
        quantity: Option<u32>,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<Cancellation>;

    /// Stores a chat message with the room's next `seq` (1, 2, 3, ... with no
    /// gaps or duplicates under concurrency).
    async fn append_message(&self, message: NewMessage) -> StoreResult<ChatMessage>;
    /// Stores several messages as [`Store::append_message`] would one after
    /// another, and returns one result per message, in the same order: the
    /// messages of one room get increasing `seq`s in list order, and one
    /// message's failure does not undo or stop the others. Where the store
    /// cannot tell whether messages were stored (its database unreachable
    /// mid-call), each is answered with the error, as `append_message`
    /// would be. Meant for a client that pipelines `chat_send`s (the server
    /// reads several before answering): a store may then write them
    /// together — the embedded store in one commit, MongoDB with one
    /// `insertMany`. This default stores them one by one.
    async fn append_messages(&self, messages: Vec<NewMessage>) -> Vec<StoreResult<ChatMessage>> {
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            results.push(self.append_message(message).await);
        }
        results
    }
    /// Up to `limit` messages of `room` with `seq < before_seq` (all when
    /// `None`), the newest such, returned oldest first.
    async fn chat_history(
        &self,
        room: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<ChatMessage>>;

    /// Marks the account banned until `until` (`None`: lifts the ban).
    /// `Err(NotFound)` for an unknown id.
    async fn set_ban(&self, user_id: &str, until: Option<DateTime<Utc>>) -> StoreResult<()>;

    /// A room by its lowercase name: a created public or direct room,
    /// `lobby` (always), or `event-<id>` while that event exists. `Ok(None)`
    /// otherwise.
    async fn room(&self, name: &str) -> StoreResult<Option<Room>>;
    /// Creates a public room with `owner_id` as owner and only member.
    /// `Err(Conflict("room"))` when the name is taken (or is `lobby`).
    async fn create_room(&self, room: NewRoom) -> StoreResult<Room>;
    /// The direct room of two users (distinct ids), created with both as
    /// members on first use under `name`; later calls return the same room
    /// whatever name they pass (a rename does not split a conversation).
    /// Safe under concurrent first use: exactly one room results.
    async fn direct_room(
        &self,
        user_a: &str,
        user_b: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Room>;
    /// Sets a room's slow mode (`lobby` and event rooms included).
    /// `Err(NotFound)` when [`Store::room`] does not know the room.
    async fn set_slow_mode(&self, room: &str, seconds: u32) -> StoreResult<()>;

    /// The user's membership of `room`: every account is a member of
    /// `lobby` (role `member` unless stored otherwise). `Ok(None)` when not
    /// a member or unknown.
    async fn membership(&self, room: &str, user_id: &str) -> StoreResult<Option<Membership>>;
    /// Adds the user to `room` with `role`; true when newly added, false
    /// when already a member (nothing changes then; `lobby`: always
    /// false). The caller checks that the room exists and may be joined.
    async fn join_room(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<bool>;
    /// Removes the user from `room` (their read marker and role go too; a
    /// mute stays); true when they were a member (`lobby`: always false,
    /// nothing changes).
    async fn leave_room(&self, room: &str, user_id: &str) -> StoreResult<bool>;
    /// Sets a member's role. `Err(NotFound)` when not a member (`lobby`:
    /// every account is).
    async fn set_room_role(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<()>;
    /// Mutes the user in `room` until `until` (`None`: unmutes). The mute
    /// is kept apart from the membership, so leaving and joining again does
    /// not lift it; [`Membership::muted_until`] shows it. The caller checks
    /// that the room exists.
    async fn set_mute(
        &self,
        room: &str,
        user_id: &str,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    /// Moves the member's read marker to `max(current, seq)` and returns
    /// it. `Err(NotFound)` when not a member (`lobby`: every account is).
    async fn mark_read(&self, room: &str, user_id: &str, seq: u64) -> StoreResult<u64>;
    /// Every member of `room` (every account for `lobby`), owner first, then
    /// moderators, then members, by username within each.
    async fn room_members(&self, room: &str) -> StoreResult<Vec<Membership>>;
    /// The rooms the user is a member of: `lobby` first, then the others by
    /// name (public, event and direct alike).
    async fn rooms_of_user(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// What `rooms` shows `user_id` (whose username is `username`, used
    /// for own messages and mentions): `lobby`, the public rooms by name,
    /// each event's room in event order, then the user's direct rooms by
    /// name. Unread counts messages after the read marker that are not
    /// deleted and not the user's own; mentions counts those containing
    /// `@username` (ASCII case-insensitive).
    async fn room_list(&self, user_id: &str, username: &str) -> StoreResult<Vec<RoomInfo>>;

    /// One message (deleted ones too). `Ok(None)` when there is none.
    async fn message(&self, room: &str, seq: u64) -> StoreResult<Option<ChatMessage>>;
    /// Replaces a message's text and sets `edited_at`; returns it.
    /// `Err(NotFound)` when it does not exist or was deleted.
    async fn edit_message(
        &self,
        room: &str,
        seq: u64,
        text: String,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage>;
    /// Deletes a message: its text is erased, `deleted` set and `edited_at`
    /// stamped; its `seq` stays taken. Returns it. `Err(NotFound)` when it
    /// does not exist or was deleted already.
    async fn delete_message(
        &self,
        room: &str,
        seq: u64,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage>;

    /// Changes an event (ticketing issue). `Err(NotFound)` for an unknown
    /// event; `Err(EventClosed)` when it is cancelled or started at `now`;
    /// `Err(Conflict("capacity"))` when the new capacity is below the
    /// seats sold plus the seats held by offers. A raised capacity frees
    /// seats, which are offered to the waiting list in the same step.
    async fn update_event(
        &self,
        event_id: &str,
        update: EventUpdate,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<EventChange>;
    /// Cancels an event atomically: every active ticket is cancelled, every
    /// open offer withdrawn, the waiting list emptied, and no booking or
    /// offer acceptance succeeds afterwards (they get `EventClosed`).
    /// `reason` is stored. `Err(NotFound)`; `Err(EventClosed)` when it is
    /// already cancelled or started at `now`.
    async fn cancel_event(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<EventCancellation>;
    /// Puts the user on the event's waiting list for `quantity` seats and
    /// returns their 1-based position. Only while fewer than `quantity`
    /// seats are available: else `Err(Conflict("available"))`.
    /// `Err(Conflict("waitlist"))` when the user already waits or holds an
    /// open offer for it; `Err(LimitExceeded)` when their active seats plus
    /// `quantity` exceed `max_per_user`; `Err(EventClosed)`;
    /// `Err(NotFound)`.
    async fn waitlist_join(
        &self,
        event_id: &str,
        user_id: &str,
        quantity: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<u32>;
    /// Takes the user off the event's waiting list; others behind may now
    /// be offered seats (returned). `Err(NotFound)` when not waiting.
    async fn waitlist_leave(
        &self,
        event_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<NewOffers>;
    /// The user's waiting-list entries (not yet offered), by event order.
    async fn waitlist_of_user(&self, user_id: &str) -> StoreResult<Vec<WaitlistEntry>>;
    /// The user's open offers (not lapsed at `now`), soonest expiry first.
    async fn offers_of_user(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<Vec<Offer>>;
    /// Books the seats an offer holds: the ticket is created, the hold and
    /// the waiting-list entry end, all atomically; with `audit_actor` the
    /// `book` audit record is written as [`Store::book`] does (detail also
    /// names the `offer_id`). `Err(NotFound)` for an unknown offer, another
    /// user's, or one already accepted, declined or withdrawn;
    /// `Err(Conflict("offer"))` when it lapsed (`expires_at ≤ now`);
    /// `Err(LimitExceeded)` when the user now holds too many seats (the
    /// offer stays open); `Err(EventClosed)`.
    async fn offer_accept(
        &self,
        offer_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        audit_actor: Option<&str>,
    ) -> StoreResult<Booking>;
    /// Gives an open offer up: its seats go to the next in line (returned)
    /// and the user leaves the waiting list. `Err(NotFound)` as for
    /// [`Store::offer_accept`].
    async fn offer_decline(
        &self,
        offer_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<NewOffers>;
    /// Ends every offer with `expires_at ≤ now` (their users leave the
    /// waiting list) and offers the seats to the next in line. Safe to run
    /// at any time and after a restart; each lapsed offer is reported once.
    async fn expire_offers(
        &self,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<OfferSweep>;
    /// The earliest `expires_at` of any open offer, so the server can sleep
    /// until then.
    async fn next_offer_expiry(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Checks a ticket in at `now`, atomically: exactly one of concurrent
    /// check-ins of one ticket succeeds. `Err(NotFound)` for an unknown
    /// ticket or one of another event than `event_id`;
    /// `Err(TicketCancelled)`; `Err(AlreadyCheckedIn { at })`.
    async fn check_in(
        &self,
        ticket_id: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CheckIn>;
    /// The event's active tickets with holders, by holder (case-insensitive)
    /// then ticket id. `Err(NotFound)` for an unknown event.
    async fn attendees(&self, event_id: &str) -> StoreResult<Vec<Attendee>>;

    /// Appends to the audit log.
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()>;
    /// The newest `limit` audit entries, oldest first.
    async fn recent_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    /// Counts one failed password check against `key` (any string, e.g.
    /// `account:anna`) at `now`, and returns the count after it (with
    /// concurrent calls, one that includes at least this failure). A count
    /// whose latest failure is more than `window` before `now` starts over
    /// at 1. Atomic: concurrent calls, from any number of processes, each
    /// count once.
    async fn record_login_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> StoreResult<LoginFailures>;
    /// The counts of those of `keys` that have one, as `(key, count)` in
    /// `keys`' order, whatever their age (the caller applies its window).
    async fn login_failures(&self, keys: &[String]) -> StoreResult<Vec<(String, LoginFailures)>>;
    /// Forgets `key`'s failures (after a successful login); absent is fine.
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;

    /// Flushes and closes; later calls may fail with `Unavailable`.
    async fn close(&self) -> StoreResult<()>;
}
