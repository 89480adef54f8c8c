//! The bench's error type.

use coliseum_client::ClientError;

/// Why a scenario could not run (as opposed to running and finding a
/// violation, which is reported in its result and turns the exit status
/// non-zero).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Starting, preparing or reaching the server failed.
    #[error("{0}")]
    Setup(String),
    /// A client call failed where the scenario cannot go on.
    #[error("{context}: {source}")]
    Client {
        /// What the bench was doing.
        context: String,
        /// The client's error (boxed: it is large and rare).
        source: Box<ClientError>,
    },
}

impl BenchError {
    /// A [`BenchError::Client`] for `source` while doing `context`.
    pub fn client(context: impl Into<String>, source: ClientError) -> Self {
        Self::Client {
            context: context.into(),
            source: Box::new(source),
        }
    }
}

/// Result of the bench's fallible steps.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;
