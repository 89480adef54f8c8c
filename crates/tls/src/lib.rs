//! TLS for Coliseum: the server's identity and the client's trust, on
//! rustls 0.23 with the `ring` crypto provider, TLS 1.2 and 1.3 only.
//!
//! The issue "Security" (issue 5) asks that everything on the wire be
//! encrypted and the server's identity verified. This crate holds the parts
//! that do not depend on the server or client code:
//!
//! - the server loads a PEM certificate + key (`--tls-cert`/`--tls-key`) or
//!   generates a self-signed certificate on first start and reuses it
//!   ([`load_or_create_server_identity`] → [`ServerIdentity`], whose
//!   [`fingerprint`](ServerIdentity::fingerprint) it prints at start-up);
//! - the client trusts the platform's roots, a CA file, one pinned
//!   fingerprint, or pins on first use as SSH does ([`Trust`], [`connect`],
//!   [`PinStore`]).
//!
//! `docs/security.md` explains the threat model, rotation and trust modes.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), coliseum_tls::TlsError> {
//! use std::path::Path;
//! use coliseum_tls::{PinStore, TlsError, Trust};
//!
//! // Server: load or generate the identity, print its fingerprint, accept.
//! let identity = coliseum_tls::load_or_create_server_identity(Path::new("data"), None, None)?;
//! println!("TLS certificate fingerprint (SHA-256): {}", identity.fingerprint());
//! let acceptor = identity.acceptor();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await.expect("bind");
//! # let _ = (acceptor, listener);
//!
//! // Client: trust on first use.
//! let store = PinStore::open(PinStore::default_path()?)?;
//! let trust = Trust::TrustOnFirstUse { store: store.clone(), host: "localhost:7878".into() };
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:7878").await.expect("connect");
//! match coliseum_tls::connect(tcp, "localhost", &trust).await {
//!     Ok(_tls_stream) => { /* speak the protocol */ }
//!     Err(TlsError::UnknownHost { host, fingerprint }) => {
//!         // Show `fingerprint`; if the user accepts it:
//!         store.pin(&host, fingerprint)?;
//!         // ...and connect again.
//!     }
//!     Err(other) => return Err(other),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - `server`: [`ServerIdentity`] and [`load_or_create_server_identity`].
//! - `client`: [`Trust`], [`connect`], [`client_config`] and the pin verifier.
//! - `pins`: [`PinStore`], the `known_servers` file.
//! - `fingerprint`: [`Fingerprint`] (SHA-256 of the leaf certificate).
//! - `error`: [`TlsError`].

mod client;
mod error;
mod fingerprint;
mod pins;
mod server;

use std::sync::Arc;

pub use client::{Trust, client_config, connect};
pub use error::TlsError;
pub use fingerprint::Fingerprint;
pub use pins::{KNOWN_SERVERS_FILE, PinStore};
pub use server::{
    CERT_FILE, IdentityOrigin, KEY_FILE, ServerIdentity, TLS_DIR, load_or_create_server_identity,
};

/// The protocol versions every configuration of this crate enables, newest
/// first: TLS 1.3 and TLS 1.2. Nothing older: SSL 3, TLS 1.0 and 1.1 are
/// deprecated (RFC 8996) and rustls does not implement them either.
pub static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider used everywhere: rustls' `ring` provider with its
/// default cipher suites and key exchange groups. Passed explicitly to every
/// configuration, so no process-wide default provider needs installing.
#[must_use]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
