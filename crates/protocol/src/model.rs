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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Room name, e.g. `"lobby"`.
    pub room: String,
    /// Per-room sequence number: 1, 2, 3, ... in the order the server stored them.
    pub seq: u64,
    /// Sender's username.
    pub from: String,
    /// Message text, 1–2,000 characters.
    pub text: String,
    /// When the server stored it, RFC 3339 UTC (millisecond precision).
    pub sent_at: DateTime<Utc>,
}
