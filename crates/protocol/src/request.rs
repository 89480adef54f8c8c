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

/// Every operation, tagged by `"op"`. Field names are the wire names.
/// Optional fields may be omitted or `null`; unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create an account (role `user`). → `RegisterData`.
    Register {
        /// 3–32 of letters, digits, `_`, `-`, `.`.
        username: String,
        /// ≥ 8 characters.
        password: String,
        /// A valid e-mail address.
        email: String,
    },
    /// Log in with a password. → `SessionData`.
    Login {
        /// The account's username.
        username: String,
        /// The account's password.
        password: String,
    },
    /// Re-attach a session after a reconnect. → `SessionData`.
    Resume {
        /// The token a previous `login` returned.
        token: String,
    },
    /// End the session and revoke its token. → `{}`.
    Logout {},
    /// Change username, password and/or e-mail. → `AccountData`.
    UpdateAccount {
        /// The current password, required for any change.
        current_password: String,
        /// New username, if changing it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_username: Option<String>,
        /// New password, if changing it (revokes other sessions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_password: Option<String>,
        /// New e-mail, if changing it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_email: Option<String>,
    },
    /// All events, soonest first. → `EventsData`.
    ListEvents {},
    /// Admin only: create an event. → `EventData`.
    CreateEvent {
        /// Display name.
        name: String,
        /// `YYYY-MM-DD`.
        date: String,
        /// Venue.
        location: String,
        /// Total seats, 1–1,000,000.
        capacity: u32,
        /// Seats one user may hold; default 10.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_per_user: Option<u32>,
    },
    /// Book `quantity` seats. → `TicketData`.
    Book {
        /// The event's id.
        event_id: String,
        /// Seats wanted, ≥ 1.
        quantity: u32,
        /// Idempotency key: a retry with the same key returns the first ticket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_key: Option<String>,
    },
    /// The caller's active tickets. → `TicketsData`.
    MyTickets {},
    /// Cancel one of the caller's tickets; the seats go back. → `{}`.
    CancelTicket {
        /// The ticket's id.
        ticket_id: String,
    },
    /// Post to a room. → `ChatSendData`.
    ChatSend {
        /// Room name; default `"lobby"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// 1–2,000 characters.
        text: String,
    },
    /// A page of a room's history, oldest first. → `MessagesData`.
    ChatHistory {
        /// Room name; default `"lobby"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Only messages with `seq < before_seq`; omitted = the newest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<u64>,
        /// Page size, 1–200, default 50.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Who is online. → `OnlineData`.
    Online {},
}

/// Every op name the protocol defines, in documentation order.
pub const OP_NAMES: &[&str] = &[
    "register",
    "login",
    "resume",
    "logout",
    "update_account",
    "list_events",
    "create_event",
    "book",
    "my_tickets",
    "cancel_ticket",
    "chat_send",
    "chat_history",
    "online",
];

impl Op {
    /// The op's wire name, e.g. `"book"`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Register { .. } => "register",
            Self::Login { .. } => "login",
            Self::Resume { .. } => "resume",
            Self::Logout {} => "logout",
            Self::UpdateAccount { .. } => "update_account",
            Self::ListEvents {} => "list_events",
            Self::CreateEvent { .. } => "create_event",
            Self::Book { .. } => "book",
            Self::MyTickets {} => "my_tickets",
            Self::CancelTicket { .. } => "cancel_ticket",
            Self::ChatSend { .. } => "chat_send",
            Self::ChatHistory { .. } => "chat_history",
            Self::Online {} => "online",
        }
    }
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
            Op::Book {
                event_id: "3".into(),
                quantity: 2,
                request_key: None
            }
        );
    }

    #[test]
    fn serializes_flat() {
        let req = Request {
            id: 1,
            op: Op::Login {
                username: "bob".into(),
                password: "pw".into(),
            },
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
        for name in ["logout", "list_events", "my_tickets", "online"] {
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
