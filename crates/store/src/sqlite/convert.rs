//! Conversions between domain values and SQLite columns, and the mapping of
//! SQLite errors onto [`StoreError`].
//!
//! - Ids are SQLite `INTEGER PRIMARY KEY`s (`i64`), rendered as canonical
//!   decimal strings. A string that is not one (empty, signs, leading zeros,
//!   letters, out of range) is *malformed*: it cannot name any row, so
//!   callers turn it into `NotFound` / `None`, never an error.
//! - Times are `INTEGER` unix milliseconds (UTC), the precision every store
//!   keeps, so values round-trip exactly.
//! - Dates are `TEXT` `YYYY-MM-DD`, which sorts chronologically.

use chrono::{DateTime, NaiveDate, Utc};
use coliseum_protocol::Role;
use rusqlite::types::Type;
use rusqlite::{Row, ffi};

use crate::StoreError;

/// Parses an opaque id into the row id it names, or `None` when `id` is not
/// a canonical positive decimal integer (no sign, no leading zero, ≤ 19
/// digits, fits `i64`).
pub(super) fn parse_id(id: &str) -> Option<i64> {
    let bytes = id.as_bytes();
    let canonical = !bytes.is_empty()
        && bytes.len() <= 19
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes[0] != b'0';
    if canonical { id.parse().ok() } else { None }
}

/// Renders a row id as the opaque id clients see.
pub(super) fn render_id(id: i64) -> String {
    id.to_string()
}

/// A time as stored: unix milliseconds.
pub(super) fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A column conversion failure, reported like rusqlite's own.
fn conversion_error(idx: usize, ty: Type, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, message.into())
}

/// Reads a unix-milliseconds column as a UTC time.
pub(super) fn time_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let millis: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(millis).ok_or_else(|| {
        conversion_error(
            idx,
            Type::Integer,
            format!("{millis} ms is outside the representable time range"),
        )
    })
}

/// Reads a nullable unix-milliseconds column.
pub(super) fn opt_time_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let millis: Option<i64> = row.get(idx)?;
    millis
        .map(|millis| {
            DateTime::from_timestamp_millis(millis).ok_or_else(|| {
                conversion_error(
                    idx,
                    Type::Integer,
                    format!("{millis} ms is outside the representable time range"),
                )
            })
        })
        .transpose()
}

/// Reads a `YYYY-MM-DD` column.
pub(super) fn date_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<NaiveDate> {
    let text: String = row.get(idx)?;
    text.parse()
        .map_err(|e| conversion_error(idx, Type::Text, format!("bad date {text:?}: {e}")))
}

/// Reads an id column as the opaque string id.
pub(super) fn id_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<String> {
    row.get::<_, i64>(idx).map(render_id)
}

/// Reads a `role` column (`user`, `staff` or `admin`).
pub(super) fn role_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    let text: String = row.get(idx)?;
    match text.as_str() {
        "user" => Ok(Role::User),
        "admin" => Ok(Role::Admin),
        "staff" => Ok(Role::Staff),
        _ => Err(conversion_error(
            idx,
            Type::Text,
            format!("unknown role {text:?}"),
        )),
    }
}

/// The `Unavailable` message of a write refused because the disk is full.
pub(super) const DISK_FULL: &str =
    "the server's disk is full: nothing was saved; retry once space is freed";

/// Maps a SQLite error onto the domain error.
///
/// - a `UNIQUE` violation on `users.username` / `users.email` →
///   `Conflict("username")` / `Conflict("email")`;
/// - a `FOREIGN KEY` violation → `NotFound` (the operation named a user or
///   event that does not exist);
/// - `SQLITE_BUSY` / `SQLITE_LOCKED` (another process holds the database
///   beyond the busy timeout) → `Unavailable`;
/// - anything else → `Internal` with SQLite's message.
pub(super) fn map_err(err: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &err {
        let message = message.as_deref().unwrap_or_default();
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                if message.contains("users.username") {
                    return StoreError::Conflict("username".to_owned());
                }
                if message.contains("users.email") {
                    return StoreError::Conflict("email".to_owned());
                }
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::NotFound,
            _ => {}
        }
        if failure.code == ffi::ErrorCode::DiskFull {
            return StoreError::Unavailable(DISK_FULL.to_owned());
        }
        if matches!(
            failure.code,
            ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked
        ) {
            return StoreError::Unavailable(format!("sqlite database is busy: {err}"));
        }
    }
    StoreError::Internal(format!("sqlite: {err}"))
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn canonical_ids_parse_and_everything_else_is_malformed() {
        assert_eq!(parse_id("1"), Some(1));
        assert_eq!(parse_id("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "0",
            "007",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "abc",
            "9223372036854775808",
            "99999999999999999999",
            "665f1c2e9b1e8a3d4c2b1a09",
            "１",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
    }
}
