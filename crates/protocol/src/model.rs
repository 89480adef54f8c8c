//! Domain records as they travel on the wire. Ids are opaque strings: the
//! embedded store uses decimal integers, MongoDB uses 24-hex ObjectIds.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// An account's role. Only `coliseum-server admin add` makes an `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A member: books tickets and chats.
    #[default]
    User,
    /// May also create events.
    Admin,
}

impl Role {
    /// Wire name: `"user"` or `"admin"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

/// An event with a fixed capacity of seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Opaque id (string on the wire).
    pub id: String,
    /// Display name, e.g. "Concerto Rock".
    pub name: String,
    /// Day of the event, ISO 8601 `YYYY-MM-DD` on the wire.
    pub date: NaiveDate,
    /// Venue, e.g. "Stadio Olimpico".
    pub location: String,
    /// Total seats; never changes after creation.
    pub capacity: u32,
    /// Seats still for sale: `capacity` minus seats held by active tickets.
    /// Invariant kept by every store: `0 ≤ available ≤ capacity`.
    pub available: u32,
    /// Most seats one user may hold for this event, across all their tickets.
    pub max_per_user: u32,
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
    pub booked_at: DateTime<Utc>,
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
    pub sent_at: DateTime<Utc>,
    /// Written by the server (event news, moderation), not by a member.
    #[serde(default, skip_serializing_if = "is_false")]
    pub system: bool,
    /// When the author last edited it, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
