//! The client side: how to trust a server ([`Trust`]) and the handshake
//! ([`connect`]).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::SignatureScheme;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::server::read_certificates;
use crate::{Fingerprint, PROTOCOL_VERSIONS, PinStore, TlsError, provider};

/// How a client decides whether to trust the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The operating system's root certificates (loaded once per process
    /// with `rustls-native-certs`), with the usual chain, validity and name
    /// checks. For servers with a certificate from a public CA.
    Platform,
    /// The root certificates in this PEM file (one or more `CERTIFICATE`
    /// sections), with chain, validity and name checks. For an organisation's
    /// own CA; a self-signed server certificate can also be its own anchor
    /// here, as long as the name connected to is among its subject
    /// alternative names.
    CaFile(PathBuf),
    /// Accept exactly the leaf certificate with this SHA-256 fingerprint and
    /// nothing else. Chain, validity period and name are not checked (the
    /// pin replaces them); the handshake signature still is, so only the
    /// holder of the certificate's private key can pass.
    Pinned(Fingerprint),
    /// Trust on first use, as SSH does: the certificate is accepted if its
    /// fingerprint equals the one pinned for `host` in `store`; a different
    /// one is refused ([`TlsError::PinMismatch`]); with no pin the handshake
    /// stops with [`TlsError::UnknownHost`] carrying the fingerprint, for the
    /// caller to show the user and, if accepted, [`PinStore::pin`] before
    /// connecting again. Signatures are checked as for [`Trust::Pinned`].
    TrustOnFirstUse {
        /// Where pins are kept.
        store: PinStore,
        /// The key of the pin: `host:port` as the user typed it
        /// (e.g. `"example.org:7878"`), so two servers on one machine have
        /// separate pins.
        host: String,
    },
}

/// Connects TLS over an established `stream` (usually a `TcpStream`) to the
/// server named `server_name` (a DNS name or an IP address: sent as SNI and,
/// for [`Trust::Platform`] and [`Trust::CaFile`], checked against the
/// certificate), trusting it as `trust` says. TLS 1.2 and 1.3 only, with
/// rustls' `ring` provider.
///
/// # Errors
/// - [`TlsError::InvalidServerName`]: `server_name` is not a DNS name or IP.
/// - [`TlsError::UnknownHost`]: trust on first use, no pin for the host yet.
/// - [`TlsError::PinMismatch`]: trust on first use, the certificate changed.
/// - [`TlsError::FingerprintMismatch`]: [`Trust::Pinned`] with another certificate.
/// - [`TlsError::Handshake`]: anything else during the handshake (untrusted
///   chain, wrong name, expired, protocol error, connection closed).
/// - Building the configuration: [`TlsError::NoPlatformRoots`],
///   [`TlsError::Io`], [`TlsError::Pem`], [`TlsError::NoCertificate`],
///   [`TlsError::BadCaCertificate`], [`TlsError::PinFileSyntax`].
pub async fn connect<S>(
    stream: S,
    server_name: &str,
    trust: &Trust,
) -> Result<tokio_rustls::client::TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name =
        ServerName::try_from(server_name.to_owned()).map_err(|_| TlsError::InvalidServerName {
            name: server_name.to_owned(),
        })?;
    let connector = tokio_rustls::TlsConnector::from(client_config(trust)?);
    connector
        .connect(name, stream)
        .await
        .map_err(|err| handshake_error(err, trust))
}

/// The rustls client configuration [`connect`] uses for `trust`: TLS 1.2
/// and 1.3 ([`PROTOCOL_VERSIONS`]), the `ring` provider, no client
/// certificate. For trust on first use the pin is read from the store now.
///
/// # Errors
/// As [`connect`]'s configuration errors.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(TlsError::ClientConfig)?;
    let config = match trust {
        Trust::Platform => builder
            .with_root_certificates(platform_roots()?)
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates(path)? {
                roots
                    .add(certificate)
                    .map_err(|source| TlsError::BadCaCertificate {
                        path: path.clone(),
                        source,
                    })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Pinned(fingerprint) => builder
            .dangerous()
            .with_custom_certificate_verifier(PinVerifier::new(Some(*fingerprint)))
            .with_no_client_auth(),
        Trust::TrustOnFirstUse { store, host } => builder
            .dangerous()
            .with_custom_certificate_verifier(PinVerifier::new(store.get(host)?))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The platform's roots, loaded once per process (reading the system store
/// takes a while and it does not change under a running app).
fn platform_roots() -> Result<Arc<RootCertStore>, TlsError> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
            if ignored > 0 || !loaded.errors.is_empty() {
                tracing::debug!(
                    added,
                    ignored,
                    errors = ?loaded.errors,
                    "some platform root certificates were not usable"
                );
            }
            if roots.is_empty() {
                Err(loaded
                    .errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default())
            } else {
                Ok(Arc::new(roots))
            }
        })
        .clone()
        .map_err(|detail| TlsError::NoPlatformRoots { detail })
}

/// Why a [`PinVerifier`] refused a certificate. Travels inside the rustls
/// error ([`CertificateError::Other`]) so [`connect`] can turn it into the
/// precise [`TlsError`].
#[derive(Debug, thiserror::Error)]
enum PinRefusal {
    #[error("certificate fingerprint {actual} does not match the pinned {expected}")]
    Mismatch {
        expected: Fingerprint,
        actual: Fingerprint,
    },
    #[error("no pin for this server; its certificate fingerprint is {actual}")]
    Unknown { actual: Fingerprint },
}

fn handshake_error(err: std::io::Error, trust: &Trust) -> TlsError {
    let refusal = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|rustls_err| match rustls_err {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<PinRefusal>()
            }
            _ => None,
        });
    match (refusal, trust) {
        (
            Some(&PinRefusal::Mismatch { expected, actual }),
            Trust::TrustOnFirstUse { store, host },
        ) => TlsError::PinMismatch {
            host: host.clone(),
            expected,
            actual,
            store: store.path().to_path_buf(),
        },
        (Some(&PinRefusal::Unknown { actual }), Trust::TrustOnFirstUse { host, .. }) => {
            TlsError::UnknownHost {
                host: host.clone(),
                fingerprint: actual,
            }
        }
        (Some(&PinRefusal::Mismatch { expected, actual }), _) => {
            TlsError::FingerprintMismatch { expected, actual }
        }
        _ => TlsError::Handshake(err),
    }
}

/// Accepts the server's leaf certificate when its SHA-256 fingerprint
/// equals `expected`; with `expected == None` (trust on first use, no pin
/// yet) refuses every certificate, reporting its fingerprint. The chain,
/// validity dates and names are deliberately not checked: the pin is the
/// whole trust decision, as with SSH host keys. Handshake signatures are
/// verified with the provider's algorithms, so a pinned certificate is only
/// accepted from whoever holds its private key.
#[derive(Debug)]
struct PinVerifier {
    /// The pinned fingerprint, if any.
    expected: Option<Fingerprint>,
    /// Signature algorithms of the `ring` provider.
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinVerifier {
    fn new(expected: Option<Fingerprint>) -> Arc<Self> {
        Arc::new(Self {
            expected,
            algorithms: provider().signature_verification_algorithms,
        })
    }
}

fn refuse(refusal: PinRefusal) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(refusal))))
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = Fingerprint::of_der(end_entity);
        match self.expected {
            Some(expected) if expected == actual => Ok(ServerCertVerified::assertion()),
            Some(expected) => Err(refuse(PinRefusal::Mismatch { expected, actual })),
            None => Err(refuse(PinRefusal::Unknown { actual })),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
