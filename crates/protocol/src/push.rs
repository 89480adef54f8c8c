//! Unsolicited server messages. A push carries `"push":"<name>"` and no `id`.

use serde::{Deserialize, Serialize};

use crate::model::{ChatMessage, Event, Offer};

/// Every push the server sends. Clients must ignore push names they do not
/// know (newer servers may add some).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "push", rename_all = "snake_case")]
pub enum Push {
    /// First frame on every accepted connection.
    Welcome {
        /// Always `"coliseum"`.
        server: String,
        /// [`crate::PROTOCOL_VERSION`].
        protocol: u32,
        /// Connected clients, this one included.
        online: u64,
    },
    /// Sent instead of `welcome` when the connection cap is reached; the
    /// server then closes the connection.
    ServerFull {
        /// The server's `--max-connections`.
        limit: u64,
    },
    /// A chat message, sent to the room's members' clients (the sender's
    /// too): every logged-in client for `lobby`, the two users for a
    /// direct room.
    Chat(ChatMessage),
    /// A message was edited or deleted; sent to the room's members.
    ChatUpdate {
        /// The message's room.
        room: String,
        /// The message's `seq`.
        seq: u64,
        /// The new text; empty (absent) when deleted.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        text: String,
        /// When it was edited or deleted.
        #[serde(deserialize_with = "crate::time::utc")]
        edited_at: chrono::DateTime<chrono::Utc>,
        /// The message was deleted.
        deleted: bool,
    },
    /// The caller's read marker moved on another of their connections.
    Read {
        /// The room.
        room: String,
        /// The new marker.
        seq: u64,
    },
    /// A member is typing in a room (at most once per 3 s per user and room).
    Typing {
        /// The room.
        room: String,
        /// Who types.
        user: String,
    },
    /// This user is no longer a member of `room` (kicked, or left on
    /// another connection); sent to each of their connections.
    RoomLeft {
        /// The room.
        room: String,
        /// Why, for people.
        reason: String,
    },
    /// A user came online (first session) or went offline (last session).
    Presence {
        /// The username.
        user: String,
        /// `true` on login, `false` on leave.
        online: bool,
        /// Distinct users online after the change.
        count: u64,
    },
    /// Instead of `presence`, while more than 1,000 users are online: how
    /// many are online now, once per presence flush (at most every ~100 ms
    /// while people come and go). Per-user announcements would cost every
    /// client a frame per arrival (N² frames for N arrivals); the list of
    /// names stays available through `online`.
    PresenceCount {
        /// Distinct users online.
        count: u64,
    },
    /// Seats of an event changed, or the event was just created.
    EventUpdate {
        /// The event's id.
        event_id: String,
        /// Seats now available.
        available: u32,
    },
    /// An event's details, capacity or status changed (`update_event`,
    /// `cancel_event`); sent to every client.
    EventChanged {
        /// The event as it is now.
        event: Event,
    },
    /// One of this user's tickets was cancelled by the venue (the event was
    /// cancelled); sent to the holder's connections.
    TicketCancelled {
        /// The ticket.
        ticket_id: String,
        /// Its event.
        event_id: String,
        /// The reason the admin gave.
        reason: String,
    },
    /// Seats came back and are held for this user (first in line on the
    /// waiting list) until `expires_at`: `offer_accept` or `offer_decline`.
    Offer(Offer),
    /// Live pushes from other server instances may have been missed (the
    /// message bus between instances was down, or this instance just
    /// rejoined it): fetch `chat_history` for each listed room and merge by
    /// `seq`, and refresh `list_events` and `online`. Only sent by servers
    /// running as one of several instances (`--nats-url`).
    Resync {
        /// The rooms this user is a member of (`lobby` included).
        rooms: Vec<String>,
    },
    /// The server is stopping; the connection will close shortly.
    Shutdown {
        /// Why, for people.
        reason: String,
    },
    /// This connection's session reached its expiry (`--session-ttl`): it
    /// is now anonymous, and the request that found out is answered as
    /// anonymous (`unauthenticated` where a session is needed). Sent just
    /// before that response. Log in again; the old token no longer resumes.
    SessionExpired {
        /// Why, for people.
        reason: String,
    },
}
