//! Domain records as they travel on the wire. Ids are opaque strings: the
//! embedded store uses decimal integers, MongoDB uses 24-hex ObjectIds.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// An account's role. Only `coliseum-server admin add` makes an `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A member: books tickets and chats.
    #[default]
    User,
    /// May also create, change and cancel events, moderate anywhere and
    /// check tickets in.
    Admin,
    /// Door staff (ticketing issue): checks tickets in (`check_in`) and
    /// lists attendees; otherwise a member. Granted with
    /// `coliseum-server admin add-staff <username>`.
    Staff,
}

impl Role {
    /// Wire name: `"user"` or `"admin"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
            Self::Staff => "staff",
        }
    }

    /// Whether the role may check tickets in and list attendees (admins
    /// and staff).
    #[must_use]
    pub const fn checks_in(self) -> bool {
        matches!(self, Self::Admin | Self::Staff)
    }
}

/// Where an event stands, derived by the server whenever it reads one
/// ([`EventStatus::derive`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Seats are for sale.
    #[default]
    OnSale,
    /// No seat is free (seats held by waiting-list offers count as taken):
    /// `waitlist_join` is open.
    SoldOut,
    /// Cancelled by an admin (`cancel_event`): every ticket was refunded.
    Cancelled,
    /// It has started (`starts_at` is not in the future): closed to booking.
    Past,
}

impl EventStatus {
    /// The status of an event: cancelled first, then past (`starts_at ≤
    /// now`), then sold out (`available == 0`), else on sale.
    #[must_use]
    pub fn derive(
        cancelled: bool,
        starts_at: DateTime<FixedOffset>,
        available: u32,
        now: DateTime<Utc>,
    ) -> Self {
        if cancelled {
            Self::Cancelled
        } else if starts_at <= now {
            Self::Past
        } else if available == 0 {
            Self::SoldOut
        } else {
            Self::OnSale
        }
    }

    /// Whether the event still takes bookings, waiting-list entries and
    /// updates (not cancelled, not past).
    #[must_use]
    pub const fn is_open(self) -> bool {
        matches!(self, Self::OnSale | Self::SoldOut)
    }
}

/// An event with a fixed capacity of seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Opaque id (string on the wire).
    pub id: String,
    /// Display name, e.g. "Concerto Rock".
    pub name: String,
    /// Day of the event, ISO 8601 `YYYY-MM-DD` on the wire: the date of
    /// `starts_at` in its own offset.
    pub date: NaiveDate,
    /// Venue, e.g. "Stadio Olimpico".
    pub location: String,
    /// Total seats; `update_event` may change it, never below the seats
    /// sold plus the seats held by offers.
    pub capacity: u32,
    /// Seats still for sale: `capacity` minus seats of active tickets minus
    /// seats held by open waiting-list offers (`held`).
    /// Invariant kept by every store: `0 ≤ available ≤ capacity`.
    pub available: u32,
    /// Most seats one user may hold for this event, across all their tickets.
    pub max_per_user: u32,
    /// Free text, 0–2,000 characters (ticketing issue).
    #[serde(default)]
    pub description: String,
    /// When doors open / the show starts: RFC 3339 with time and offset,
    /// e.g. `2027-06-12T20:00:00+02:00` (ticketing issue).
    #[serde(deserialize_with = "crate::time::fixed")]
    pub starts_at: DateTime<FixedOffset>,
    /// On sale, sold out, cancelled or past.
    #[serde(default)]
    pub status: EventStatus,
    /// The event's chat room, `event-<id>`.
    #[serde(default)]
    pub room: String,
    /// People on the waiting list (entries not yet offered seats).
    #[serde(default)]
    pub waitlist: u32,
    /// Seats held right now for waiting-list offers (not in `available`).
    #[serde(default)]
    pub held: u32,
}

/// A booking: `quantity` seats of one event held by one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Opaque id (string on the wire).
    pub id: String,
    /// The event booked.
    pub event_id: String,
    /// The event's name at booking time, so lists need no second lookup.
    pub event_name: String,
    /// Seats held, ≥ 1.
    pub quantity: u32,
    /// When the booking was made, RFC 3339 UTC (millisecond precision).
    #[serde(deserialize_with = "crate::time::utc")]
    pub booked_at: DateTime<Utc>,
    /// The signed ticket code a door app scans (ticketing issue):
    /// `C1.<ticket_id>.<event_id>.<signature>`, the signature being
    /// Ed25519 over `coliseum-ticket:v1:<ticket_id>:<event_id>` in
    /// unpadded base64url; verify with `server_info`'s `public_key`.
    /// Filled in by the server; empty in store records.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    /// When the ticket was checked in at the door, if it was.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::time::utc_option"
    )]
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// One entry of `my_waitlist`: the caller waits for seats of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistEntry {
    /// The event.
    pub event_id: String,
    /// Seats wanted.
    pub quantity: u32,
    /// 1-based place among the people waiting for the event, in the order
    /// they joined.
    pub position: u32,
}

/// Seats held for a waiting-list member until `expires_at` (the `offer`
/// push, `my_waitlist`'s `offers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Opaque id, for `offer_accept` / `offer_decline`.
    pub offer_id: String,
    /// The event.
    pub event_id: String,
    /// The event's name, for display.
    #[serde(default)]
    pub event_name: String,
    /// Seats held (what the member asked for when joining).
    pub quantity: u32,
    /// When the hold lapses and the seats go to the next in line
    /// (RFC 3339 UTC).
    #[serde(deserialize_with = "crate::time::utc")]
    pub expires_at: DateTime<Utc>,
}

/// One row of `attendees`: an active ticket of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    /// The ticket.
    pub ticket_id: String,
    /// Its holder's username.
    pub holder: String,
    /// Seats on the ticket.
    pub quantity: u32,
    /// When it was checked in; `null` while not yet.
    #[serde(default, deserialize_with = "crate::time::utc_option")]
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// One chat message in a room.
///
/// Since the rooms issue: `from` is `null` for system messages (which also
/// carry `"system": true`); an edited message carries `edited_at`; a
/// deleted one carries `"deleted": true` and no `text`. Absent `system` /
/// `deleted` mean `false`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Room name, e.g. `"lobby"`, `"event-12"`, `"dm:ada:bob"`.
    pub room: String,
    /// Per-room sequence number: 1, 2, 3, ... in the order the server stored them.
    pub seq: u64,
    /// Sender's username (as it was when sent); `null` for system messages.
    pub from: Option<String>,
    /// Message text, 1–2,000 characters; empty (absent on the wire) once
    /// the message is deleted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// When the server stored it, RFC 3339 UTC (millisecond precision).
    #[serde(deserialize_with = "crate::time::utc")]
    pub sent_at: DateTime<Utc>,
    /// Written by the server (event news, moderation), not by a member.
    #[serde(default, skip_serializing_if = "is_false")]
    pub system: bool,
    /// When the author last edited it, if ever.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::time::utc_option"
    )]
    pub edited_at: Option<DateTime<Utc>>,
    /// Deleted by its author or a moderator: `text` is gone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

/// `skip_serializing_if` helper: flags are sent only when set.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
const fn is_false(flag: &bool) -> bool {
    !*flag
}

/// What a room is for (`rooms` lists them with this `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// Created by a member with `room_create` (and `lobby`): anyone may join.
    Public,
    /// `event-<event_id>`, one per event; anyone may join; the server
    /// writes the event's news into it.
    Event,
    /// `dm:<a>:<b>` between two users; only they see and read it.
    Direct,
}

/// A member's standing in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RoomRole {
    /// Created the room: appoints moderators, moderates.
    Owner,
    /// Appointed by the owner (or an admin): mutes, kicks, deletes, slow mode.
    Moderator,
    /// Reads and writes.
    #[default]
    Member,
}

impl RoomRole {
    /// True for owners and moderators.
    #[must_use]
    pub const fn moderates(self) -> bool {
        matches!(self, Self::Owner | Self::Moderator)
    }
}

/// One entry of `rooms`: a room as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room's name.
    pub room: String,
    /// Public, event or direct.
    pub kind: RoomKind,
    /// Free text set at creation (the event's name for event rooms; the
    /// other user's name for direct rooms); may be empty.
    pub topic: String,
    /// How many accounts are members (every account, for `lobby`).
    pub members: u64,
    /// Whether the caller is a member.
    pub joined: bool,
    /// Messages after the caller's read marker, not counting their own
    /// and deleted ones (0 when not joined).
    pub unread: u64,
    /// Of those, how many contain `@<caller's username>` (any case).
    pub mentions: u64,
    /// The newest message's `seq` (0 for an empty room).
    pub last_seq: u64,
}

/// One entry of `room_members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMember {
    /// Username.
    pub user: String,
    /// Owner, moderator or member.
    pub role: RoomRole,
    /// Logged in right now (on any connection).
    pub online: bool,
}
