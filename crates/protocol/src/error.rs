//! Stable error codes. Clients switch on [`ErrorCode`]; the `message` is for
//! people and may change between releases.

use serde::{Deserialize, Serialize};

/// Machine-readable error code carried in `error.code`. The wire names are
/// the snake_case forms (`bad_request`, `sold_out`, ...) and never change;
/// new codes may be added, so clients must tolerate unknown ones
/// (they decode as [`ErrorCode::Unknown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed: not JSON, not an object, missing or
    /// wrongly typed field, unknown op, or a value breaking a validation rule.
    BadRequest,
    /// The op needs a logged-in session (or the credentials/token are wrong).
    Unauthenticated,
    /// Logged in, but the role does not allow the op (e.g. `create_event` as `user`).
    Forbidden,
    /// The thing named does not exist, or belongs to someone else.
    NotFound,
    /// The change collides with existing data (e.g. username or e-mail taken).
    Conflict,
    /// Fewer seats remain than the quantity asked for.
    SoldOut,
    /// The booking would take the user over the event's `max_per_user`.
    LimitExceeded,
    /// A frame's announced length exceeded 1,048,576 bytes; the connection closes.
    FrameTooLarge,
    /// The server's connection cap is reached; the connection closes.
    ServerFull,
    /// Too many failed logins on this connection; the connection closes.
    TooManyAttempts,
    /// Slow down; `error.retry_after_ms` says for how long.
    RateLimited,
    /// The store is unreachable or timed out; retry later.
    Unavailable,
    /// A bug or unexpected failure on the server.
    Internal,
    /// The event is cancelled or has started: no booking, waiting list or
    /// change any more (ticketing issue).
    EventClosed,
    /// A code this client version does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The wire name of the code, e.g. `"sold_out"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::SoldOut => "sold_out",
            Self::LimitExceeded => "limit_exceeded",
            Self::FrameTooLarge => "frame_too_large",
            Self::ServerFull => "server_full",
            Self::TooManyAttempts => "too_many_attempts",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::EventClosed => "event_closed",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` object of a failed response:
/// `{"code":"sold_out","message":"only 3 seats left"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation, suitable to show next to the form field.
    pub message: String,
    /// For `rate_limited`: milliseconds to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// For validation errors: the request field the message concerns
    /// (e.g. `"username"`), so a form can show it beside that field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    /// An error with the given code and message and no extra fields.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
            field: None,
        }
    }

    /// Names the request field this error concerns.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}
