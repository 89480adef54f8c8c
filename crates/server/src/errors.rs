//! Mapping failures to wire errors. Every handler returns
//! `Result<_, ErrorBody>`; these helpers build the bodies so the codes and
//! messages stay uniform.

use std::fmt::Display;
use std::time::Duration;

use coliseum_protocol::{ErrorBody, ErrorCode};
use coliseum_store::StoreError;

/// Maps a store failure to its wire error (table in `docs/protocol.md`).
/// `Internal` is logged here and answered with a generic message, so that
/// no internal detail reaches clients; `Unavailable` is logged as a warning.
pub(crate) fn from_store(err: StoreError) -> ErrorBody {
    match err {
        // The store's own messages (written once, in `StoreError`).
        StoreError::NotFound => ErrorBody::new(ErrorCode::NotFound, err.to_string()),
        StoreError::Conflict(ref field) => {
            let field = field.clone();
            ErrorBody::new(ErrorCode::Conflict, err.to_string()).with_field(field)
        }
        StoreError::SoldOut { .. } => ErrorBody::new(ErrorCode::SoldOut, err.to_string()),
        StoreError::LimitExceeded { .. } => {
            ErrorBody::new(ErrorCode::LimitExceeded, err.to_string())
        }
        StoreError::EventClosed => ErrorBody::new(ErrorCode::EventClosed, err.to_string()),
        StoreError::AlreadyCheckedIn { at } => ErrorBody::new(
            ErrorCode::Conflict,
            format!(
                "already checked in at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ),
        StoreError::TicketCancelled => ErrorBody::new(ErrorCode::Conflict, err.to_string()),
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "store unavailable");
            ErrorBody::new(
                ErrorCode::Unavailable,
                "the server's database is unavailable; try again shortly",
            )
        }
        StoreError::Internal(detail) => internal("store", detail),
    }
}

/// An `internal` error: logs `detail` with `what` failed, answers a generic
/// message.
pub(crate) fn internal(what: &str, detail: impl Display) -> ErrorBody {
    tracing::error!(%detail, "{what} failed");
    ErrorBody::new(ErrorCode::Internal, "internal server error")
}

/// `bad_request` for a value breaking an input rule, naming the field.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadRequest, message).with_field(field)
}

/// `unauthenticated` with `message`.
pub(crate) fn unauthenticated(message: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::Unauthenticated, message)
}

/// `rate_limited` with `retry_after_ms` = `retry_after` rounded up to a
/// whole millisecond (at least 1, so "retry now" is never said).
pub(crate) fn rate_limited(message: impl Into<String>, retry_after: Duration) -> ErrorBody {
    let millis = u64::try_from(retry_after.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    let mut body = ErrorBody::new(ErrorCode::RateLimited, message);
    body.retry_after_ms = Some(millis.max(1));
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_their_codes() {
        let cases = [
            (StoreError::NotFound, ErrorCode::NotFound),
            (StoreError::Conflict("email".into()), ErrorCode::Conflict),
            (StoreError::SoldOut { available: 2 }, ErrorCode::SoldOut),
            (
                StoreError::LimitExceeded {
                    max_per_user: 4,
                    held: 3,
                },
                ErrorCode::LimitExceeded,
            ),
            (
                StoreError::Unavailable("down".into()),
                ErrorCode::Unavailable,
            ),
            (
                StoreError::Internal("disk on fire".into()),
                ErrorCode::Internal,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(from_store(err).code, code);
        }
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_milliseconds() {
        let ms = |d| rate_limited("slow down", d).retry_after_ms;
        assert_eq!(ms(Duration::from_millis(200)), Some(200));
        assert_eq!(ms(Duration::from_micros(200_001)), Some(201));
        assert_eq!(ms(Duration::ZERO), Some(1));
        assert_eq!(
            rate_limited("x", Duration::ZERO).code,
            ErrorCode::RateLimited
        );
    }

    #[test]
    fn details_are_kept_where_useful_and_hidden_where_internal() {
        let conflict = from_store(StoreError::Conflict("email".into()));
        assert_eq!(conflict.field.as_deref(), Some("email"));
        assert_eq!(
            from_store(StoreError::SoldOut { available: 3 }).message,
            "only 3 seats left"
        );
        let internal = from_store(StoreError::Internal("secret path /x".into()));
        assert!(!internal.message.contains("/x"));
    }
}
