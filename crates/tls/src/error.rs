//! [`TlsError`]: everything that can go wrong setting up or completing TLS.

use std::path::PathBuf;

use crate::Fingerprint;

/// Why a server identity could not be loaded or created, a client trust
/// could not be built, or a handshake was refused. Every message is one
/// line, fit for a log or a dialog, and names the file or host concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Only one of the certificate and key files was given: a real
    /// certificate needs both (`--tls-cert` and `--tls-key` on the server).
    #[error(
        "a TLS certificate and its private key must be given together: got the {given} but no {missing}"
    )]
    HalfIdentity {
        /// `"certificate"` or `"private key"`: the one that was given.
        given: &'static str,
        /// The one that is missing.
        missing: &'static str,
    },

    /// The generated identity in `data_dir/tls` is half there (one of
    /// `cert.pem`/`key.pem` exists, the other not). Nothing is overwritten;
    /// delete the remaining file to have a new identity generated.
    #[error(
        "{present} exists but {missing} does not; delete {present} to generate a new TLS identity"
    )]
    IncompleteIdentity {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },

    /// A file or directory could not be read, created or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done: `"cannot read"`, `"cannot write"`, ...
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A PEM file is malformed (bad base64, a section without its end line).
    #[error("{path} is not valid PEM: {reason}")]
    Pem {
        /// The file concerned.
        path: PathBuf,
        /// The PEM parser's explanation.
        reason: String,
    },

    /// A PEM file holds no `CERTIFICATE` section.
    #[error("{path} holds no PEM certificate")]
    NoCertificate {
        /// The file concerned.
        path: PathBuf,
    },

    /// A PEM file holds no private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY` section).
    #[error("{path} holds no PEM private key")]
    NoPrivateKey {
        /// The file concerned.
        path: PathBuf,
    },

    /// rustls refused the certificate and key, e.g. the key does not match
    /// the certificate's public key or uses an unsupported algorithm.
    #[error("the TLS certificate and key cannot be used: {0}")]
    BadIdentity(#[source] rustls::Error),

    /// rcgen failed to generate the self-signed certificate.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),

    /// A certificate in a CA file could not be used as a trust anchor.
    #[error("{path}: cannot use a certificate as a trust anchor: {source}")]
    BadCaCertificate {
        /// The CA file.
        path: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },

    /// The platform's certificate store gave no usable root certificate.
    #[error("no usable root certificate found in the platform's certificate store{detail}")]
    NoPlatformRoots {
        /// Extra detail from the loader (starts with `": "`, or is empty).
        detail: String,
    },

    /// The client configuration could not be built (rustls refused it).
    #[error("cannot build the TLS client configuration: {0}")]
    ClientConfig(#[source] rustls::Error),

    /// The name to connect to is neither a DNS name nor an IP address.
    #[error("{name:?} is not a valid server name (a DNS name or an IP address)")]
    InvalidServerName {
        /// The name given.
        name: String,
    },

    /// Trust on first use: the server's certificate differs from the one
    /// pinned for this host. This is what an interception (man-in-the-middle)
    /// looks like, and also what a deliberate certificate rotation looks like;
    /// only the server's operator can tell which.
    #[error(
        "the certificate of {host} changed: expected {expected}, got {actual} — if the server's \
         certificate was rotated on purpose, check the new fingerprint with its operator, then remove \
         the pin for {host} (the line \"{host} ...\" in {store}) and connect again"
    )]
    PinMismatch {
        /// The pinned host, `host:port`.
        host: String,
        /// The pinned fingerprint.
        expected: Fingerprint,
        /// The fingerprint the server presented.
        actual: Fingerprint,
        /// The pin store file holding the pin.
        store: PathBuf,
    },

    /// Trust on first use: no pin exists for this host yet. Show
    /// `fingerprint` to the user; if they accept it, call
    /// [`PinStore::pin`](crate::PinStore::pin) and connect again.
    #[error(
        "{host} is not a known server: its certificate fingerprint is {fingerprint}; accept it only if the server's operator confirms it"
    )]
    UnknownHost {
        /// The host, `host:port`.
        host: String,
        /// The fingerprint the server presented.
        fingerprint: Fingerprint,
    },

    /// [`Trust::Pinned`](crate::Trust::Pinned): the server presented
    /// another certificate than the configured one.
    #[error("the server's certificate fingerprint is {actual}, not the configured {expected}")]
    FingerprintMismatch {
        /// The configured fingerprint.
        expected: Fingerprint,
        /// The fingerprint the server presented.
        actual: Fingerprint,
    },

    /// The TLS handshake failed for another reason (certificate not trusted,
    /// name mismatch, protocol error, the peer closed the connection...).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] std::io::Error),

    /// Text that is not a SHA-256 fingerprint.
    #[error("not a SHA-256 fingerprint (expected 32 hex bytes, colon-separated or not): {0:?}")]
    InvalidFingerprint(String),

    /// A host key for the pin store that is empty or contains white space.
    #[error(
        "{0:?} cannot be used as a pinned host (it must be non-empty \"host:port\" without white space)"
    )]
    InvalidHost(String),

    /// A line of the pin store file is malformed. The file is not silently
    /// ignored: a lost pin would turn a certificate change into a
    /// first-use question.
    #[error("{path}:{line}: {reason}")]
    PinFileSyntax {
        /// The pin store file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },

    /// The platform has no configuration directory for the pin store
    /// (no home directory).
    #[error("cannot locate a configuration directory for the pin store (no home directory)")]
    NoConfigDir,
}

impl TlsError {
    /// Shorthand for [`TlsError::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
