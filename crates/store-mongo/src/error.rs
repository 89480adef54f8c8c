//! Driver errors → [`StoreError`].
//!
//! The rule (from the MongoDB store issue): anything that means "MongoDB is
//! not reachable or did not answer in time" becomes
//! [`StoreError::Unavailable`] (wire code `unavailable`), so that the server
//! keeps running and the client may retry; everything else is
//! [`StoreError::Internal`]. Duplicate-key errors are not mapped here: the
//! callers know which unique index means which domain error.

use coliseum_store::StoreError;
use mongodb::error::{Error, ErrorKind, WriteFailure};

/// Server error codes that mean "this node cannot serve the operation right
/// now" (shutdown, step-down, elections, network trouble between nodes,
/// `maxTimeMS` expired). From the server's `error_codes.yml`.
const UNAVAILABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// The server's duplicate-key error code (E11000).
const DUPLICATE_KEY: i32 = 11000;

/// Maps a driver error of operation `what` (e.g. `"book"`) to a store error.
pub(crate) fn map_err(what: &str, error: &Error) -> StoreError {
    if is_unavailable(error) {
        StoreError::Unavailable(format!(
            "MongoDB unreachable during {what}: {}",
            one_line(error)
        ))
    } else {
        StoreError::Internal(format!("MongoDB error during {what}: {}", one_line(error)))
    }
}

/// True for errors that mean "not reachable / not answering / not primary".
pub(crate) fn is_unavailable(error: &Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Shutdown => true,
        ErrorKind::Command(command) => UNAVAILABLE_CODES.contains(&command.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(concern)) => {
            UNAVAILABLE_CODES.contains(&concern.code)
        }
        _ => false,
    }
}

/// The name of the unique index a duplicate-key error names, `Some("")` when
/// it is a duplicate-key error whose message names no index, `None` when it
/// is another error. The server's message has the form
/// `E11000 duplicate key error collection: db.users index: username_lc_unique dup key: { ... }`
/// (MongoDB and mongo-java-server alike).
pub(crate) fn duplicate_key_index(error: &Error) -> Option<String> {
    let (code, message) = match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => (write.code, write.message.as_str()),
        ErrorKind::Command(command) => (command.code, command.message.as_str()),
        _ => return None,
    };
    if code != DUPLICATE_KEY {
        return None;
    }
    let index = message
        .split_once(" index: ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_default();
    Some(index.to_owned())
}

/// The error's reason on one line. The driver's `Display` adds
/// `labels`/`source` noise, and a server-selection error embeds each
/// server's last error, which is the actual reason ("Connection refused",
/// an unknown host, a too-old server): that part is kept.
pub(crate) fn one_line(error: &Error) -> String {
    let text = error.kind.to_string();
    let reason = match text.split_once("Error: Kind: ") {
        Some((_, rest)) => rest.split(", labels:").next().unwrap_or(rest),
        None => text.as_str(),
    };
    reason.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::*;

    /// A driver error built from a server reply, as the driver builds them.
    fn command_error(code: i32, message: &str) -> Error {
        let reply = doc! { "ok": 0, "code": code, "codeName": "X", "errmsg": message };
        let command: mongodb::error::CommandError =
            mongodb::bson::from_document(reply).expect("valid command error");
        Error::from(ErrorKind::Command(command))
    }

    #[test]
    fn duplicate_key_names_the_index() {
        let error = command_error(
            11000,
            "E11000 duplicate key error collection: db.users index: email_lc_unique dup key: { email_lc: \"username_lc_unique@x\" }",
        );
        assert_eq!(
            duplicate_key_index(&error).as_deref(),
            Some("email_lc_unique")
        );
        assert!(!is_unavailable(&error));
        let other = command_error(2, "BadValue");
        assert_eq!(duplicate_key_index(&other), None);
    }

    #[test]
    fn io_errors_and_shutdown_codes_are_unavailable() {
        let refused = Error::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert!(matches!(
            map_err("ping", &refused),
            StoreError::Unavailable(_)
        ));
        assert!(is_unavailable(&command_error(91, "shutting down")));
        assert!(is_unavailable(&command_error(
            50,
            "operation exceeded time limit"
        )));
        assert!(matches!(
            map_err("book", &command_error(2, "bad value")),
            StoreError::Internal(_)
        ));
    }
}
