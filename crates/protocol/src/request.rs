//! Requests: `{"id":<u64>,"op":"<name>", ...arguments}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorBody, ErrorCode};

/// One request frame: a client-chosen `id` (echoed in the response) and the op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Chosen by the client; the response carries the same value.
    pub id: u64,
    /// The operation and its arguments, flattened into the same object.
    #[serde(flatten)]
    pub op: Op,
}

/// Declares [`Op`], one struct variant per op, together with [`OP_NAMES`]
/// and [`Op::name`], so the wire name of each op is written exactly once.
macro_rules! ops {
    ($( $(#[$doc:meta])* $name:literal => $variant:ident($args:ident), )*) => {
        /// Every operation, tagged by `"op"`: each variant holds the op's
        /// typed arguments (as mini-redis's `Command` does). Field names are
        /// the wire names. Optional fields may be omitted or `null`; unknown
        /// fields are ignored.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "op")]
        pub enum Op {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($args), )*
        }

        /// Every op name the protocol defines, in documentation order.
        pub const OP_NAMES: &[&str] = &[$($name),*];

        impl Op {
            /// The op's wire name, e.g. `"book"`.
            #[must_use]
            pub const fn name(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $name, )*
                }
            }
        }

        $(
            impl From<$args> for Op {
                fn from(args: $args) -> Self {
                    Self::$variant(args)
                }
            }
        )*
    };
}

ops! {
    /// Create an account (role `user`). → `RegisterData`.
    "register" => Register(Register),
    /// Log in with a password. → `SessionData`.
    "login" => Login(Login),
    /// Re-attach a session after a reconnect. → `SessionData`.
    "resume" => Resume(Resume),
    /// End the session and revoke its token. → `{}`.
    "logout" => Logout(Logout),
    /// Change username, password and/or e-mail. → `AccountData`.
    "update_account" => UpdateAccount(UpdateAccount),
    /// All events, soonest first. → `EventsData`.
    "list_events" => ListEvents(ListEvents),
    /// Admin only: create an event. → `EventData`.
    "create_event" => CreateEvent(CreateEvent),
    /// Book `quantity` seats. → `TicketData`.
    "book" => Book(Book),
    /// The caller's active tickets. → `TicketsData`.
    "my_tickets" => MyTickets(MyTickets),
    /// Cancel one of the caller's tickets; the seats go back. → `{}`.
    "cancel_ticket" => CancelTicket(CancelTicket),
    /// Post to a room. → `ChatSendData`.
    "chat_send" => ChatSend(ChatSend),
    /// A page of a room's history, oldest first. → `MessagesData`.
    "chat_history" => ChatHistory(ChatHistory),
    /// Who is online. → `OnlineData`.
    "online" => Online(Online),
    /// Every public and event room plus the caller's direct rooms, with
    /// unread counts. → `RoomsData`.
    "rooms" => Rooms(Rooms),
    /// Create a public room; the caller owns it. → `RoomData`.
    "room_create" => RoomCreate(RoomCreate),
    /// Join a public or event room. → `{}`.
    "room_join" => RoomJoin(RoomJoin),
    /// Leave a public or event room. → `{}`.
    "room_leave" => RoomLeave(RoomLeave),
    /// A room's members with their roles and presence. → `MembersData`.
    "room_members" => RoomMembers(RoomMembers),
    /// Send a direct message, creating the direct room on first use.
    /// → `DirectSendData`.
    "dm_send" => DmSend(DmSend),
    /// Move the caller's read marker forward. → `{}`.
    "mark_read" => MarkRead(MarkRead),
    /// Change the text of one's own message. → `{}`.
    "chat_edit" => ChatEdit(ChatEdit),
    /// Delete a message (author, room owner/moderator, admin). → `{}`.
    "chat_delete" => ChatDelete(ChatDelete),
    /// Tell the room the caller is typing. → `{}`.
    "typing" => Typing(Typing),
    /// Owner or admin: make a member moderator, or not. → `{}`.
    "room_moderator" => RoomModerator(RoomModerator),
    /// Owner, moderator or admin: silence a member for some minutes. → `{}`.
    "mute" => Mute(Mute),
    /// Owner, moderator or admin: remove a member from the room. → `{}`.
    "kick" => Kick(Kick),
    /// Owner, moderator or admin: at most one message per `seconds` per
    /// member. → `{}`.
    "slow_mode" => SlowMode(SlowMode),
    /// Admin: end a user's sessions and refuse their logins. → `{}`.
    "ban" => Ban(Ban),
    /// Admin: lift a ban. → `{}`.
    "unban" => Unban(Unban),
    /// Admin: change an event's details or capacity. → `EventData`.
    "update_event" => UpdateEvent(UpdateEvent),
    /// Admin: cancel an event and refund every ticket. → `CancelEventData`.
    "cancel_event" => CancelEvent(CancelEvent),
    /// Wait for seats of a sold-out event. → `PositionData`.
    "waitlist_join" => WaitlistJoin(WaitlistJoin),
    /// Stop waiting. → `{}`.
    "waitlist_leave" => WaitlistLeave(WaitlistLeave),
    /// The caller's waiting-list entries and open offers. → `WaitlistData`.
    "my_waitlist" => MyWaitlist(MyWaitlist),
    /// Take the seats an offer holds. → `TicketData`.
    "offer_accept" => OfferAccept(OfferAccept),
    /// Give an offer up; the seats go to the next in line. → `{}`.
    "offer_decline" => OfferDecline(OfferDecline),
    /// The server's version and ticket-signing public key. → `ServerInfoData`.
    "server_info" => ServerInfo(ServerInfo),
    /// Admin or staff: check a ticket in by its code. → `CheckInData`.
    "check_in" => CheckIn(CheckIn),
    /// Admin or staff: an event's active tickets. → `AttendeesData`.
    "attendees" => Attendees(Attendees),
}

/// `register`: create an account (role `user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    /// 3–32 of letters, digits, `_`, `-`, `.`.
    pub username: String,
    /// ≥ 8 characters.
    pub password: String,
    /// A valid e-mail address.
    pub email: String,
}

/// `login`: log in with a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// The account's username.
    pub username: String,
    /// The account's password.
    pub password: String,
}

/// `resume`: re-attach a session after a reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The token a previous `login` (or password change) returned.
    pub token: String,
}

/// `logout`: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Logout {}

/// `update_account`: change username, password and/or e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateAccount {
    /// The current password, required for any change.
    pub current_password: String,
    /// New username, if changing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_username: Option<String>,
    /// New password, if changing it: revokes every token of the account
    /// (the caller's too) and the response carries a fresh `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_password: Option<String>,
    /// New e-mail, if changing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_email: Option<String>,
}

/// `list_events`: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ListEvents {}

/// `create_event` (admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CreateEvent {
    /// Display name.
    pub name: String,
    /// `YYYY-MM-DD`: the day, starting at 20:00 in the server's local time.
    /// Ignored when `starts_at` is given; one of the two is required.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date: String,
    /// RFC 3339 with time and offset, e.g. `2027-06-12T20:00:00+02:00`;
    /// not in the past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// Venue.
    pub location: String,
    /// 0–2,000 characters; default empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Total seats, 1–1,000,000.
    pub capacity: u32,
    /// Seats one user may hold; default min(10, capacity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_user: Option<u32>,
}

/// `book`: book `quantity` seats of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    /// The event's id.
    pub event_id: String,
    /// Seats wanted, ≥ 1.
    pub quantity: u32,
    /// Idempotency key: a retry with the same key (and the same event and
    /// quantity) returns the first ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_key: Option<String>,
}

/// `my_tickets`: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MyTickets {}

/// `cancel_ticket`: cancel one of the caller's tickets, or part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelTicket {
    /// The ticket's id.
    pub ticket_id: String,
    /// Seats to give back, 1..=the ticket's quantity; omitted = all (the
    /// ticket is cancelled). Fewer keeps the ticket with the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
}

/// `chat_send`: post to a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSend {
    /// Room name; default `"lobby"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// 1–2,000 characters.
    pub text: String,
}

/// `chat_history`: a page of a room's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatHistory {
    /// Room name; default `"lobby"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Only messages with `seq < before_seq`; omitted = the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_seq: Option<u64>,
    /// Page size, 1–200, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `online`: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Online {}

/// `rooms`: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Rooms {}

/// `room_create`: a new public room owned by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCreate {
    /// 2–32 of lowercase letters, digits, `-`, `_`; not starting with `event-`.
    pub room: String,
    /// Up to 200 characters on one line; default empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// `room_join`: become a member of a public or event room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomJoin {
    /// The room's name.
    pub room: String,
}

/// `room_leave`: stop being a member (not of `lobby` nor a direct room).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomLeave {
    /// The room's name.
    pub room: String,
}

/// `room_members`: who is in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMembers {
    /// The room's name.
    pub room: String,
}

/// `dm_send`: a direct message to one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmSend {
    /// The recipient's username (any case).
    pub to: String,
    /// 1–2,000 characters.
    pub text: String,
}

/// `mark_read`: everything up to `seq` in `room` has been read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRead {
    /// The room's name.
    pub room: String,
    /// The newest message read; the marker never moves back.
    pub seq: u64,
}

/// `chat_edit`: replace the text of one's own message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatEdit {
    /// The message's room.
    pub room: String,
    /// The message's `seq`.
    pub seq: u64,
    /// The new text, 1–2,000 characters.
    pub text: String,
}

/// `chat_delete`: delete a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatDelete {
    /// The message's room.
    pub room: String,
    /// The message's `seq`.
    pub seq: u64,
}

/// `typing`: the caller is typing in `room`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    /// The room's name.
    pub room: String,
}

/// `room_moderator`: grant (`on: true`) or take back moderator rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomModerator {
    /// The room's name.
    pub room: String,
    /// A member's username.
    pub user: String,
    /// `true` to make them moderator, `false` to make them a member again.
    pub on: bool,
}

/// `mute`: the user may not post in `room` for `minutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mute {
    /// The room's name.
    pub room: String,
    /// A member's username.
    pub user: String,
    /// 1–43,200 (30 days); 0 lifts a mute.
    pub minutes: u32,
}

/// `kick`: remove a member from a public or event room (they may join again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kick {
    /// The room's name.
    pub room: String,
    /// A member's username.
    pub user: String,
}

/// `slow_mode`: each member may post at most once per `seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowMode {
    /// The room's name.
    pub room: String,
    /// 0 (off) to 3,600.
    pub seconds: u32,
}

/// `ban`: end every session of `user` and refuse their logins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The username.
    pub user: String,
    /// 1–525,600 (a year); omitted = until `unban`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

/// `unban`: lift a ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unban {
    /// The username.
    pub user: String,
}

/// `update_event` (admins only): `None` fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UpdateEvent {
    /// The event.
    pub event_id: String,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New start, RFC 3339 with offset; not in the past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// New venue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// New description (0–2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New capacity; never below seats sold plus seats held (`conflict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// New per-user limit (applies to later bookings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_user: Option<u32>,
}

/// `cancel_event` (admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelEvent {
    /// The event.
    pub event_id: String,
    /// Why, 1–200 characters; told to every ticket holder.
    pub reason: String,
}

/// `waitlist_join`: wait for `quantity` seats of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistJoin {
    /// The event.
    pub event_id: String,
    /// Seats wanted, ≥ 1, within `max_per_user` counting what the caller holds.
    pub quantity: u32,
}

/// `waitlist_leave`: stop waiting for an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistLeave {
    /// The event.
    pub event_id: String,
}

/// `my_waitlist`: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MyWaitlist {}

/// `offer_accept`: book the seats an offer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferAccept {
    /// From the `offer` push or `my_waitlist`.
    pub offer_id: String,
}

/// `offer_decline`: give an offer up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferDecline {
    /// From the `offer` push or `my_waitlist`.
    pub offer_id: String,
}

/// `server_info`: no arguments; no session needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServerInfo {}

/// `check_in` (admins and staff): check a ticket in at the door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    /// The ticket's code (`Ticket::code`), as scanned or typed.
    pub code: String,
}

/// `attendees` (admins and staff): an event's active tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendees {
    /// The event.
    pub event_id: String,
}

/// Why a frame could not be turned into a [`Request`]. The server answers it
/// with `{"id":<id or null>,"ok":false,"error":...}` and keeps the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The request's id when it could be read, else `None` (sent as `null`).
    pub id: Option<u64>,
    /// What to answer (always `bad_request` today).
    pub error: ErrorBody,
}

fn bad(id: Option<u64>, message: impl Into<String>) -> RequestError {
    RequestError {
        id,
        error: ErrorBody::new(ErrorCode::BadRequest, message),
    }
}

/// Parses one frame body into a request, tolerating nothing silently:
/// not UTF-8 JSON, not an object, a missing/non-u64 `id`, a missing or
/// unknown `op`, or wrongly typed arguments each give a distinct
/// `bad_request` message. Never panics, whatever the bytes.
///
/// # Errors
/// [`RequestError`] carrying the id when it was readable.
pub fn parse_request(frame: &[u8]) -> Result<Request, RequestError> {
    let value: Value = serde_json::from_slice(frame)
        .map_err(|e| bad(None, format!("frame is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(bad(None, "frame must hold a JSON object"));
    };
    let id = match object.get("id") {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| bad(None, "\"id\" must be an unsigned 64-bit integer"))?,
        Some(_) => return Err(bad(None, "\"id\" must be an unsigned 64-bit integer")),
        None => return Err(bad(None, "missing \"id\"")),
    };
    let op_name = match object.get("op") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad(Some(id), "\"op\" must be a string")),
        None => return Err(bad(Some(id), "missing \"op\"")),
    };
    if !OP_NAMES.contains(&op_name.as_str()) {
        let mut shown: String = op_name.chars().take(64).collect();
        if shown.len() < op_name.len() {
            shown.push('…');
        }
        return Err(bad(Some(id), format!("unknown op \"{shown}\"")));
    }
    let op: Op = serde_json::from_value(Value::Object(object)).map_err(|e| {
        bad(
            Some(id),
            format!("invalid arguments for \"{op_name}\": {e}"),
        )
    })?;
    Ok(Request { id, op })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_and_ignores_unknown_fields() {
        let req =
            parse_request(br#"{"id":7,"op":"book","event_id":"3","quantity":2,"extra":true}"#)
                .expect("valid");
        assert_eq!(req.id, 7);
        assert_eq!(
            req.op,
            Op::Book(Book {
                event_id: "3".into(),
                quantity: 2,
                request_key: None
            })
        );
    }

    #[test]
    fn serializes_flat() {
        let req = Request {
            id: 1,
            op: Op::Login(Login {
                username: "bob".into(),
                password: "pw".into(),
            }),
        };
        let v: Value = serde_json::to_value(&req).expect("ser");
        assert_eq!(
            v,
            serde_json::json!({"id":1,"op":"login","username":"bob","password":"pw"})
        );
        let back = parse_request(&serde_json::to_vec(&req).expect("ser")).expect("parse");
        assert_eq!(back, req);
    }

    #[test]
    fn empty_ops_accept_missing_arguments() {
        for name in ["logout", "list_events", "my_tickets", "online", "rooms"] {
            let frame = format!(r#"{{"id":1,"op":"{name}"}}"#);
            assert_eq!(
                parse_request(frame.as_bytes()).expect("parse").op.name(),
                name
            );
        }
    }

    #[test]
    fn every_op_name_is_parseable_or_reports_arguments() {
        for name in OP_NAMES {
            let frame = format!(r#"{{"id":1,"op":"{name}"}}"#);
            match parse_request(frame.as_bytes()) {
                Ok(req) => assert_eq!(req.op.name(), *name),
                Err(e) => assert!(e.error.message.contains("invalid arguments"), "{e:?}"),
            }
        }
    }

    #[test]
    fn malformed_inputs_get_distinct_bad_requests() {
        let cases: &[(&[u8], Option<u64>, &str)] = &[
            (b"{not json", None, "not valid JSON"),
            (b"\xff\xfe", None, "not valid JSON"),
            (b"[1,2]", None, "JSON object"),
            (br#"{"op":"online"}"#, None, "missing \"id\""),
            (br#"{"id":-1,"op":"online"}"#, None, "unsigned"),
            (br#"{"id":"1","op":"online"}"#, None, "unsigned"),
            (br#"{"id":4}"#, Some(4), "missing \"op\""),
            (br#"{"id":4,"op":5}"#, Some(4), "must be a string"),
            (br#"{"id":4,"op":"fly"}"#, Some(4), "unknown op"),
            (
                br#"{"id":4,"op":"book","event_id":"1","quantity":"two"}"#,
                Some(4),
                "invalid arguments",
            ),
            (
                br#"{"id":4,"op":"book","event_id":"1","quantity":-2}"#,
                Some(4),
                "invalid arguments",
            ),
            (
                br#"{"id":4,"op":"login","username":"bob"}"#,
                Some(4),
                "invalid arguments",
            ),
        ];
        for (frame, id, needle) in cases {
            let err = parse_request(frame).expect_err("must fail");
            assert_eq!(err.id, *id, "{}", String::from_utf8_lossy(frame));
            assert_eq!(err.error.code, ErrorCode::BadRequest);
            assert!(
                err.error.message.contains(needle),
                "{}: {}",
                needle,
                err.error.message
            );
        }
    }
}
