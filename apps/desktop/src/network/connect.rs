//! How the app connects: the connect screen's "Security" choice resolved to
//! the client's transport, in one place.

use coliseum_client::{
    Client, ClientError, Fingerprint, PinStore, Pushes, TlsError, Transport, Trust,
};
use std::path::PathBuf;

/// How a connection is secured: the connect screen's "Security" choice,
/// resolved (issue 5, "Client trust").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// TLS; the server's certificate fingerprint is pinned on the first
    /// connection (after the user accepted it) in the pin store, and must
    /// match on every later one.
    TrustOnFirstUse,
    /// TLS, trusting the operating system's root certificates.
    SystemCas,
    /// TLS, trusting the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// TLS, accepting exactly this certificate (the app's own hosted server).
    Pinned(Fingerprint),
    /// Unencrypted TCP, for servers run with `--insecure-plaintext`.
    Plaintext,
}

/// Opens a protocol connection to `addr` (`host:port`) secured as
/// `security` says; `pins` is the trust-on-first-use pin store file
/// (`None` when the platform has no configuration directory).
///
/// This is the one place where the app connects and maps [`Security`] to
/// the client's [`Transport`].
///
/// # Errors
/// As [`Client::connect_with`]: I/O errors, `server_full`, a bad handshake,
/// and [`ClientError::Tls`], notably [`TlsError::UnknownHost`] (first
/// connection, ask the user) and [`TlsError::PinMismatch`] (the certificate
/// changed). [`TlsError::NoConfigDir`] when trust on first use is chosen
/// without a pin store.
pub async fn connect(
    addr: &str,
    security: &Security,
    pins: Option<&std::path::Path>,
) -> Result<(Client, Pushes), ClientError> {
    let transport = match security {
        Security::TrustOnFirstUse => {
            let path = pins.ok_or(TlsError::NoConfigDir)?;
            Transport::Tls(Trust::TrustOnFirstUse {
                store: PinStore::open(path)?,
                host: addr.to_owned(),
            })
        }
        Security::SystemCas => Transport::Tls(Trust::Platform),
        Security::CaFile(path) => Transport::Tls(Trust::CaFile(path.clone())),
        Security::Pinned(fingerprint) => Transport::Tls(Trust::Pinned(*fingerprint)),
        Security::Plaintext => Transport::Plaintext,
    };
    Client::connect_with(addr, &transport).await
}
