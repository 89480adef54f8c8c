//! Responses (`{"id","ok","data"|"error"}`), the typed `data` of every op,
//! and encoding helpers that serialize a frame body exactly once.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorBody;
use crate::model::{
    Attendee, ChatMessage, Event, Offer, Role, RoomInfo, RoomMember, Ticket, WaitlistEntry,
};
use crate::push::Push;

/// `register` → `{"user_id":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterData {
    /// The new account's id.
    pub user_id: String,
}

/// `login` / `resume` → the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    /// The account's id.
    pub user_id: String,
    /// Current username.
    pub username: String,
    /// Current e-mail.
    pub email: String,
    /// `user` or `admin`.
    pub role: Role,
    /// Session token for `resume`; keep it secret.
    pub token: String,
}

/// `update_account` → the account's current name and e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountData {
    /// Username after the change.
    pub username: String,
    /// E-mail after the change.
    pub email: String,
    /// After a password change only: this connection's new session token.
    /// Every token of the account — the one this connection used included
    /// — is revoked by a password change, so whoever stole it loses access;
    /// store this one for `resume`. Absent when the password did not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `list_events` → `{"events":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsData {
    /// Every event, by date then name.
    pub events: Vec<Event>,
}

/// `create_event` → `{"event":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventData {
    /// The created event.
    pub event: Event,
}

/// `book` → `{"ticket":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketData {
    /// The ticket booked (or, for a retried `request_key`, the original one).
    pub ticket: Ticket,
}

/// `my_tickets` → `{"tickets":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketsData {
    /// The caller's active tickets, newest first.
    pub tickets: Vec<Ticket>,
}

/// `chat_send` → `{"seq":N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSendData {
    /// The stored message's per-room sequence number.
    pub seq: u64,
}

/// `chat_history` → `{"messages":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesData {
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
}

/// `online` → `{"count":N,"users":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineData {
    /// Distinct users logged in.
    pub count: u64,
    /// Their usernames, sorted.
    pub users: Vec<String>,
}

/// `rooms` → `{"rooms":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomsData {
    /// `lobby` first, then public rooms by name, event rooms by event
    /// date, and the caller's direct rooms by name.
    pub rooms: Vec<RoomInfo>,
}

/// `room_create` → `{"room":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomData {
    /// The created room's name.
    pub room: String,
}

/// `room_members` → `{"members":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersData {
    /// Owner first, then moderators, then members; by name within each.
    pub members: Vec<RoomMember>,
}

/// `dm_send` → `{"room":"dm:...","seq":N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectSendData {
    /// The direct room (created by the first message).
    pub room: String,
    /// The stored message's `seq` in it.
    pub seq: u64,
}

/// `cancel_event` → `{"refunded_tickets":N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelEventData {
    /// Active tickets cancelled (each holder got `ticket_cancelled`).
    pub refunded_tickets: u64,
}

/// `waitlist_join` → `{"position":N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionData {
    /// 1-based place in the event's waiting list.
    pub position: u32,
}

/// `my_waitlist` → `{"entries":[...],"offers":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistData {
    /// Events the caller waits for, with their place in line.
    pub entries: Vec<WaitlistEntry>,
    /// Open offers made to the caller (also pushed as `offer`), soonest
    /// expiry first.
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// `server_info` → version and the ticket-signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfoData {
    /// Always `"coliseum"`.
    pub server: String,
    /// The server's version (Cargo package version).
    pub version: String,
    /// [`crate::PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Ed25519 public key verifying ticket codes, unpadded base64url of
    /// the 32 key bytes.
    pub public_key: String,
    /// `"sqlite"` or `"mongodb"`.
    pub store: String,
}

/// `check_in` → the ticket checked in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInData {
    /// The ticket, with `checked_in_at` set.
    pub ticket: Ticket,
    /// Its event.
    pub event: Event,
    /// Its holder's username.
    pub holder: String,
    /// When it was checked in (now).
    #[serde(deserialize_with = "crate::time::utc")]
    pub checked_in_at: chrono::DateTime<chrono::Utc>,
}

/// `attendees` → `{"attendees":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendeesData {
    /// Active tickets, by holder then ticket id.
    pub attendees: Vec<Attendee>,
}

/// `logout` / `cancel_ticket` and the other ops without data → `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Empty {}

#[derive(Serialize)]
struct OkFrame<'a, T: Serialize> {
    id: u64,
    ok: bool,
    data: &'a T,
}

#[derive(Serialize)]
struct ErrFrame<'a> {
    id: Option<u64>,
    ok: bool,
    error: &'a ErrorBody,
}

/// Serializes `{"id":id,"ok":true,"data":data}`.
///
/// # Panics
/// Never for the types in this crate (their `Serialize` cannot fail).
#[must_use]
pub fn encode_ok<T: Serialize>(id: u64, data: &T) -> Bytes {
    to_bytes(&OkFrame { id, ok: true, data })
}

/// Serializes `{"id":id|null,"ok":false,"error":{...}}`.
#[must_use]
pub fn encode_error(id: Option<u64>, error: &ErrorBody) -> Bytes {
    to_bytes(&ErrFrame {
        id,
        ok: false,
        error,
    })
}

/// Serializes a push once; the resulting bytes are shared by all recipients.
#[must_use]
pub fn encode_push(push: &Push) -> Bytes {
    to_bytes(push)
}

fn to_bytes<T: Serialize>(value: &T) -> Bytes {
    // Serializing our own derive(Serialize) types with string keys into a Vec
    // cannot fail; fall back to an internal error frame rather than panic.
    serde_json::to_vec(value).map_or_else(
        |_| Bytes::from_static(br#"{"id":null,"ok":false,"error":{"code":"internal","message":"serialization failed"}}"#),
        Bytes::from,
    )
}

/// A frame received from the server, as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// Answer to request `id` (`None` when the server could not read the id).
    Response {
        /// The request's id.
        id: Option<u64>,
        /// `data` on success, `error` on failure.
        result: Result<Value, ErrorBody>,
    },
    /// An unsolicited push.
    Push(Push),
    /// A push whose name this client does not know; ignore it.
    UnknownPush(String),
}

/// `event_update`'s fields, read straight from the frame.
#[derive(Deserialize)]
struct EventUpdateFields {
    event_id: String,
    available: u32,
}

/// The two pushes every client receives most (`chat`, `event_update`),
/// decoded straight into their fields when the frame starts as the server
/// writes it (`{"push":"chat",...`). serde's internally tagged enums first
/// buffer the whole object to find the tag, which cost a `chat` push
/// ~560 ns; knowing the tag from the prefix, the fields are read in one
/// pass (the `push` key is skipped as an unknown field). `None` for any
/// other frame, or one that does not parse this way: the general path then
/// decides.
fn decode_common_push(frame: &[u8]) -> Option<Push> {
    if frame.starts_with(br#"{"push":"chat","#) {
        return serde_json::from_slice::<ChatMessage>(frame)
            .ok()
            .map(Push::Chat);
    }
    if frame.starts_with(br#"{"push":"event_update","#) {
        return serde_json::from_slice::<EventUpdateFields>(frame)
            .ok()
            .map(|f| Push::EventUpdate {
                event_id: f.event_id,
                available: f.available,
            });
    }
    None
}

/// The top-level fields a client looks at. Every other field is skipped
/// without being built; `data` is the only part kept as a `Value`.
#[derive(Deserialize)]
struct Envelope {
    /// Push name (any JSON, so that an odd frame is still classified).
    #[serde(default)]
    push: Option<Value>,
    /// Request id (`null` or absent when the server could not read it).
    #[serde(default)]
    id: Option<Value>,
    /// Success flag of a response.
    #[serde(default)]
    ok: Option<Value>,
    /// Payload of a successful response.
    #[serde(default)]
    data: Option<Value>,
    /// Error of a failed response.
    #[serde(default)]
    error: Option<Value>,
}

/// Decodes one server frame body.
///
/// One pass over the bytes for the common frames: a push as the server
/// writes it (`{"push":...` first) is parsed straight into [`Push`], a
/// response into its envelope with only `data` built as a `Value` (the
/// former parse-into-`Value`-then-convert cost a client about twice as
/// much per push; see `docs/performance.md`).
///
/// # Errors
/// A message when the frame is not a well-formed response or push.
pub fn decode_server_message(frame: &[u8]) -> Result<ServerMessage, String> {
    if let Some(push) = decode_common_push(frame) {
        return Ok(ServerMessage::Push(push));
    }
    if frame.starts_with(br#"{"push":"#)
        && let Ok(push) = serde_json::from_slice::<Push>(frame)
    {
        return Ok(ServerMessage::Push(push));
    }
    // Only an object is a frame (serde would also read a struct from an
    // array); anything else is classified for the error message only.
    if frame.trim_ascii_start().first() != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(frame) {
                Ok(_) => "frame is not a JSON object".to_owned(),
                Err(e) => format!("invalid JSON: {e}"),
            },
        );
    }
    let envelope: Envelope =
        serde_json::from_slice(frame).map_err(|e| format!("invalid JSON: {e}"))?;
    if let Some(name) = envelope.push {
        let name = name.as_str().unwrap_or_default().to_owned();
        return Ok(serde_json::from_slice::<Push>(frame)
            .map_or(ServerMessage::UnknownPush(name), ServerMessage::Push));
    }
    let id = envelope.id.as_ref().and_then(Value::as_u64);
    let ok = envelope
        .ok
        .as_ref()
        .and_then(Value::as_bool)
        .ok_or("response without boolean \"ok\"")?;
    let result = if ok {
        Ok(envelope
            .data
            .unwrap_or(Value::Object(serde_json::Map::new())))
    } else {
        let error = envelope.error.ok_or("error response without \"error\"")?;
        Err(serde_json::from_value::<ErrorBody>(error)
            .map_err(|e| format!("bad error object: {e}"))?)
    };
    Ok(ServerMessage::Response { id, result })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn ok_and_error_frames_have_the_documented_shape() {
        let ok: Value =
            serde_json::from_slice(&encode_ok(3, &ChatSendData { seq: 9 })).expect("json");
        assert_eq!(ok, serde_json::json!({"id":3,"ok":true,"data":{"seq":9}}));
        let err: Value = serde_json::from_slice(&encode_error(
            None,
            &ErrorBody::new(ErrorCode::SoldOut, "no seats"),
        ))
        .expect("json");
        assert_eq!(
            err,
            serde_json::json!({"id":null,"ok":false,"error":{"code":"sold_out","message":"no seats"}})
        );
    }

    #[test]
    fn decodes_pushes_responses_and_unknown_pushes() {
        let push = encode_push(&Push::EventUpdate {
            event_id: "1".into(),
            available: 4,
        });
        assert_eq!(
            decode_server_message(&push).expect("decode"),
            ServerMessage::Push(Push::EventUpdate {
                event_id: "1".into(),
                available: 4
            })
        );
        assert_eq!(
            decode_server_message(br#"{"push":"confetti","n":1}"#).expect("decode"),
            ServerMessage::UnknownPush("confetti".into())
        );
        let resp = decode_server_message(
            br#"{"id":5,"ok":false,"error":{"code":"brand_new","message":"x"}}"#,
        )
        .expect("decode");
        let ServerMessage::Response { id, result } = resp else {
            panic!("not a response")
        };
        assert_eq!(id, Some(5));
        assert_eq!(result.expect_err("error").code, ErrorCode::Unknown);
    }

    /// The one-pass path for `chat` / `event_update` decodes exactly what
    /// the general (tagged enum) path does, every optional field included.
    #[test]
    fn common_pushes_decode_like_the_general_path() {
        let at = chrono::DateTime::from_timestamp_millis(1_764_712_345_123).expect("time");
        let pushes = [
            Push::Chat(ChatMessage {
                room: "lobby".into(),
                seq: 9,
                from: Some("ada".into()),
                text: "hi \"there\" ✓".into(),
                sent_at: at,
                system: false,
                edited_at: None,
                deleted: false,
            }),
            Push::Chat(ChatMessage {
                room: "event-3".into(),
                seq: 10,
                from: None,
                text: String::new(),
                sent_at: at,
                system: true,
                edited_at: Some(at),
                deleted: true,
            }),
            Push::EventUpdate {
                event_id: "65a1f0c2e4b0a1b2c3d4e5f6".into(),
                available: 0,
            },
        ];
        for push in pushes {
            let frame = encode_push(&push);
            assert_eq!(
                decode_common_push(&frame).as_ref(),
                Some(&push),
                "{}",
                String::from_utf8_lossy(&frame)
            );
            assert_eq!(
                serde_json::from_slice::<Push>(&frame).expect("general"),
                push
            );
            assert_eq!(
                decode_server_message(&frame).expect("decode"),
                ServerMessage::Push(push)
            );
        }
        // A broken chat frame is left to the general path's verdict.
        assert_eq!(decode_common_push(br#"{"push":"chat","seq":"x"}"#), None);
        assert_eq!(
            decode_server_message(br#"{"push":"chat","seq":"x"}"#).expect("decode"),
            ServerMessage::UnknownPush("chat".into())
        );
    }

    #[test]
    fn odd_frames_decode_like_canonical_ones_or_fail_clearly() {
        // `push` not first: still a push.
        assert_eq!(
            decode_server_message(br#"{"available":4,"event_id":"1","push":"event_update"}"#)
                .expect("decode"),
            ServerMessage::Push(Push::EventUpdate {
                event_id: "1".into(),
                available: 4
            })
        );
        // A known push name with a broken body, a non-string name.
        assert_eq!(
            decode_server_message(br#"{"push":"event_update","available":"many"}"#)
                .expect("decode"),
            ServerMessage::UnknownPush("event_update".into())
        );
        assert_eq!(
            decode_server_message(br#"{"push":7}"#).expect("decode"),
            ServerMessage::UnknownPush(String::new())
        );
        // Responses: unreadable id, missing data, extra fields.
        assert_eq!(
            decode_server_message(br#"{"id":"x","ok":true,"extra":[1,{"a":2}]}"#).expect("decode"),
            ServerMessage::Response {
                id: None,
                result: Ok(serde_json::json!({}))
            }
        );
        for (frame, message) in [
            (&b"[1,2]"[..], "frame is not a JSON object"),
            (b" 17", "frame is not a JSON object"),
            (b"nope", "invalid JSON"),
            (b"{\"id\":1", "invalid JSON"),
            (b"{\"id\":1,\"ok\":\"yes\"}", "response without boolean"),
            (b"{\"id\":1,\"ok\":false}", "error response without"),
            (b"{\"id\":1,\"ok\":false,\"error\":5}", "bad error object"),
        ] {
            let err = decode_server_message(frame).expect_err("refused");
            assert!(err.starts_with(message), "{err}");
        }
    }
}
