//! Client errors.

use coliseum_protocol::{ErrorBody, ErrorCode};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered with an error; switch on `.0.code`.
    #[error("{}", .0.message)]
    Server(ErrorBody),
    /// The server refused the connection: its cap of `limit` clients is reached.
    #[error("server is full ({limit} clients connected)")]
    ServerFull {
        /// The server's connection cap.
        limit: u64,
    },
    /// The connection closed before the answer arrived.
    #[error("connection closed")]
    Closed,
    /// The TLS handshake failed or the server's certificate is not trusted
    /// (unknown host for trust on first use, changed certificate, ...).
    #[error(transparent)]
    Tls(#[from] coliseum_tls::TlsError),
    /// The server sent something this client cannot understand.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The wire error code, for server errors and `server_full`.
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server(body) => Some(body.code),
            Self::ServerFull { .. } => Some(ErrorCode::ServerFull),
            _ => None,
        }
    }

    /// True when retrying on a new connection may succeed (transport trouble
    /// or `unavailable`), as opposed to a definitive answer.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Io(_) | Self::Closed | Self::ServerFull { .. })
            || self.code() == Some(ErrorCode::Unavailable)
    }
}
