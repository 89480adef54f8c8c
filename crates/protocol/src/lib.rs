//! The Coliseum wire protocol, shared by the server, the client library, the
//! desktop app and the load generator.
//!
//! Everything on the wire is a *frame*: a 4-byte unsigned big-endian length
//! `N` followed by `N` bytes of UTF-8 JSON holding exactly one object, with
//! `N ≤` [`MAX_FRAME_LEN`]. `docs/protocol.md` at the repository root is the
//! normative, human-readable version of this crate.
//!
//! # Layout
//! - [`codec`]: the frame codec (tokio-util's `LengthDelimitedCodec`, configured).
//! - [`request`]: what a client sends: [`Request`] = `id` + [`Op`], and the
//!   tolerant parser the server uses ([`parse_request`]).
//! - [`response`]: what the server answers: `{"id","ok","data"|"error"}` and
//!   the typed `data` payload of every op.
//! - [`push`]: unsolicited server messages ([`Push`]).
//! - [`error`]: the stable error codes ([`ErrorCode`]) and [`ErrorBody`].
//! - [`model`]: the domain records that travel inside responses and pushes.
//! - [`validate`]: input rules shared by the server (authoritative) and the
//!   desktop app (inline form validation).

pub mod codec;
pub mod error;
pub mod model;
pub mod push;
pub mod request;
pub mod response;
mod time;
pub mod validate;

pub use codec::{MAX_FRAME_LEN, frame_codec};
pub use error::{ErrorBody, ErrorCode};
pub use model::{
    Attendee, ChatMessage, Event, EventStatus, Offer, Role, RoomInfo, RoomKind, RoomMember,
    RoomRole, Ticket, WaitlistEntry,
};
pub use push::Push;
pub use request::{Op, Request, RequestError, parse_request};
pub use response::{ServerMessage, decode_server_message, encode_error, encode_ok, encode_push};

/// Protocol version announced in the `welcome` push. Bumped only for
/// incompatible changes; additive fields and ops keep the number.
pub const PROTOCOL_VERSION: u32 = 1;

/// Server name announced in the `welcome` push.
pub const SERVER_NAME: &str = "coliseum";

/// Room used when `chat_send` / `chat_history` omit `room`.
pub const DEFAULT_ROOM: &str = "lobby";
