//! How the app connects: the connect screen's "Security" choice resolved to
//! the client's transport, in one place, for an address or one target of an
//! address list.

use coliseum_client::{
    Client, ClientError, Fingerprint, PinStore, Pushes, TlsError, Transport, Trust,
};
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpStream;

use super::addresses::Target;

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
    Client::connect_with(addr, &transport(addr, security, pins)?).await
}

/// Longest wait for a TCP connection to one address: an instance whose
/// machine is gone would otherwise hold the move to the next address for
/// the system's SYN timeout (minutes).
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// As [`connect`], to one socket address of an address list (issue 15):
/// the TCP connection goes to `target.socket`, while the TLS server name
/// and the trust-on-first-use pin are those of the entry as typed
/// (`target.entry`), so every address a name resolves to is checked
/// against the one pin of that name.
///
/// # Errors
/// As [`connect`]; a TCP connection that takes longer than 10 s fails as
/// timed out.
pub async fn connect_target(
    target: &Target,
    security: &Security,
    pins: Option<&std::path::Path>,
) -> Result<(Client, Pushes), ClientError> {
    let transport = transport(&target.entry.addr, security, pins)?;
    let stream = tokio::time::timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect(target.socket))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    stream.set_nodelay(true)?;
    match transport {
        Transport::Plaintext => Client::connect_stream(stream).await,
        Transport::Tls(trust) => {
            let tls = coliseum_tls::connect(stream, &target.entry.host, &trust).await?;
            Client::connect_stream(tls).await
        }
    }
}

/// The client's [`Transport`] for `security`; trust on first use keys its
/// pin by `addr`.
fn transport(
    addr: &str,
    security: &Security,
    pins: Option<&std::path::Path>,
) -> Result<Transport, ClientError> {
    Ok(match security {
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
    })
}
