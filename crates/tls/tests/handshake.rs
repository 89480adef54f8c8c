//! Real TLS handshakes over 127.0.0.1 between a tokio-rustls server using a
//! `ServerIdentity` and the crate's `connect` with each `Trust` mode.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use coliseum_tls::{
    CERT_FILE, Fingerprint, IdentityOrigin, KEY_FILE, PROTOCOL_VERSIONS, PinStore, ServerIdentity,
    TLS_DIR, TlsError, Trust, connect, load_or_create_server_identity,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Upper bound for any one network step, so a broken test fails instead of hanging.
const STEP: Duration = Duration::from_secs(20);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .expect("step finished within the time limit")
}

/// Accepts one TCP connection, runs the TLS handshake with `acceptor`, then
/// echoes what it reads until the client closes. Resolves to the handshake
/// result (the negotiated protocol version) or its error.
async fn echo_server(
    acceptor: tokio_rustls::TlsAcceptor,
) -> (
    SocketAddr,
    JoinHandle<std::io::Result<rustls::ProtocolVersion>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let version = tls
            .get_ref()
            .1
            .protocol_version()
            .expect("version after handshake");
        let mut buf = [0u8; 256];
        loop {
            let n = tls.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            tls.write_all(&buf[..n]).await?;
            tls.flush().await?;
        }
        Ok(version)
    });
    (addr, task)
}

/// Connects with `trust`, sends a message, checks the echo, closes.
/// Returns the client-side negotiated version.
async fn echo_through(
    addr: SocketAddr,
    name: &str,
    trust: &Trust,
) -> Result<rustls::ProtocolVersion, TlsError> {
    let tcp = TcpStream::connect(addr).await.expect("tcp connect");
    let mut tls = within(connect(tcp, name, trust)).await?;
    let version = tls.get_ref().1.protocol_version().expect("version");
    let message = b"hello over TLS";
    tls.write_all(message).await.expect("write");
    tls.flush().await.expect("flush");
    let mut echoed = vec![0u8; message.len()];
    within(tls.read_exact(&mut echoed)).await.expect("echo");
    assert_eq!(&echoed, message);
    tls.shutdown().await.expect("close_notify");
    Ok(version)
}

/// Runs one client against a fresh echo server for `identity`; returns both
/// sides' outcomes.
async fn handshake(
    identity: &ServerIdentity,
    name: &str,
    trust: &Trust,
) -> (
    Result<rustls::ProtocolVersion, TlsError>,
    std::io::Result<rustls::ProtocolVersion>,
) {
    let (addr, server) = echo_server(identity.acceptor()).await;
    let client = echo_through(addr, name, trust).await;
    let server = within(server).await.expect("server task");
    (client, server)
}

fn generated(dir: &Path) -> ServerIdentity {
    load_or_create_server_identity(dir, None, None).expect("generated identity")
}

fn cert_der(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).expect("certificate PEM")
}

/// A CA and a leaf for `localhost`/127.0.0.1 signed by it, written as PEM
/// files into `dir`: (ca.pem, leaf chain.pem, leaf key.pem).
fn ca_and_leaf(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Coliseum test CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");

    let ca_path = dir.join("ca.pem");
    let chain_path = dir.join("chain.pem");
    let key_path = dir.join("leaf-key.pem");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write ca");
    std::fs::write(&chain_path, format!("{}{}", leaf.pem(), ca_cert.pem())).expect("write chain");
    std::fs::write(&key_path, leaf_key.serialize_pem()).expect("write key");
    (ca_path, chain_path, key_path)
}

#[tokio::test]
async fn generated_identity_is_created_once_and_reused() {
    let data = tempfile::tempdir().expect("tempdir");
    let first = generated(data.path());
    assert_eq!(first.origin(), IdentityOrigin::Generated);
    let cert_path = data.path().join(TLS_DIR).join(CERT_FILE);
    let key_path = data.path().join(TLS_DIR).join(KEY_FILE);
    assert_eq!(first.cert_path(), cert_path);
    assert_eq!(
        first.fingerprint(),
        Fingerprint::of_der(&cert_der(&cert_path))
    );
    let key_pem = std::fs::read(&key_path).expect("key file");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&key_path), 0o600, "key file mode");
        assert_eq!(mode(&data.path().join(TLS_DIR)), 0o700, "tls dir mode");
    }

    let again = generated(data.path());
    assert_eq!(again.origin(), IdentityOrigin::Reused);
    assert_eq!(again.fingerprint(), first.fingerprint());
    assert_eq!(
        std::fs::read(&key_path).expect("key file"),
        key_pem,
        "key unchanged"
    );
    let entries = std::fs::read_dir(data.path().join(TLS_DIR))
        .expect("ls")
        .count();
    assert_eq!(entries, 2, "only cert.pem and key.pem, no temporary files");

    // The reloaded identity really serves the same certificate.
    let (client, server) =
        handshake(&again, "localhost", &Trust::Pinned(first.fingerprint())).await;
    client.expect("pinned to the first fingerprint");
    server.expect("server handshake");
}

#[tokio::test]
async fn explicit_cert_and_key_are_loaded_and_chain_to_the_ca_file() {
    let files = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let (ca, chain, key) = ca_and_leaf(files.path());
    let identity =
        load_or_create_server_identity(data.path(), Some(&chain), Some(&key)).expect("load");
    assert_eq!(identity.origin(), IdentityOrigin::Provided);
    assert_eq!(identity.cert_path(), chain);
    // The fingerprint is the leaf's (the first certificate of the chain file).
    assert_eq!(
        identity.fingerprint(),
        Fingerprint::of_der(&cert_der(&chain))
    );
    assert_ne!(identity.fingerprint(), Fingerprint::of_der(&cert_der(&ca)));
    assert!(
        !data.path().join(TLS_DIR).exists(),
        "nothing is generated when files are given"
    );

    let trust = Trust::CaFile(ca);
    for name in ["localhost", "127.0.0.1"] {
        let (client, server) = handshake(&identity, name, &trust).await;
        client.unwrap_or_else(|e| panic!("{name}: {e}"));
        server.expect("server handshake");
    }
    // The name is checked in CaFile mode.
    let (client, server) = handshake(&identity, "coliseum.example", &trust).await;
    assert!(
        matches!(&client, Err(TlsError::Handshake(e)) if format!("{e:?}").contains("NotValidForName")),
        "{client:?}"
    );
    assert!(server.is_err());
}

#[tokio::test]
async fn generated_certificate_can_be_its_own_anchor_in_a_ca_file() {
    let data = tempfile::tempdir().expect("tempdir");
    let identity = generated(data.path());
    let trust = Trust::CaFile(identity.cert_path().to_path_buf());
    for name in ["localhost", "127.0.0.1", "::1"] {
        // ::1 is a SAN; the connection itself goes over 127.0.0.1.
        let (client, server) = handshake(&identity, name, &trust).await;
        client.unwrap_or_else(|e| panic!("{name}: {e}"));
        server.expect("server handshake");
    }
    let (client, _) = handshake(&identity, "coliseum.example", &trust).await;
    assert!(matches!(client, Err(TlsError::Handshake(_))), "{client:?}");
}

#[test]
fn only_one_of_cert_and_key_is_an_error() {
    let files = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let (_, chain, key) = ca_and_leaf(files.path());
    let err = load_or_create_server_identity(data.path(), Some(&chain), None).expect_err("half");
    assert!(
        matches!(
            err,
            TlsError::HalfIdentity {
                given: "certificate",
                missing: "private key"
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("must be given together"), "{err}");
    let err = load_or_create_server_identity(data.path(), None, Some(&key)).expect_err("half");
    assert!(
        matches!(
            err,
            TlsError::HalfIdentity {
                given: "private key",
                ..
            }
        ),
        "{err}"
    );
    assert!(!data.path().join(TLS_DIR).exists(), "nothing generated");
}

#[test]
fn half_a_generated_identity_is_reported_not_overwritten() {
    let data = tempfile::tempdir().expect("tempdir");
    generated(data.path());
    let key = data.path().join(TLS_DIR).join(KEY_FILE);
    std::fs::remove_file(data.path().join(TLS_DIR).join(CERT_FILE)).expect("rm cert");
    let err = load_or_create_server_identity(data.path(), None, None).expect_err("incomplete");
    assert!(
        matches!(&err, TlsError::IncompleteIdentity { present, .. } if *present == key),
        "{err}"
    );
    assert!(key.exists(), "the key is kept");
}

#[test]
fn bad_files_give_precise_errors() {
    let files = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let (ca, chain, key) = ca_and_leaf(files.path());
    let missing = files.path().join("missing.pem");
    let not_pem = files.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").expect("write");

    let load = |c: &Path, k: &Path| load_or_create_server_identity(data.path(), Some(c), Some(k));
    assert!(matches!(load(&missing, &key), Err(TlsError::Io { .. })));
    assert!(matches!(
        load(&not_pem, &key),
        Err(TlsError::NoCertificate { .. })
    ));
    assert!(matches!(
        load(&chain, &not_pem),
        Err(TlsError::NoPrivateKey { .. })
    ));
    // The key file holds a certificate, not a key.
    assert!(matches!(
        load(&chain, &ca),
        Err(TlsError::NoPrivateKey { .. })
    ));
    // A key that does not belong to the certificate.
    let other = tempfile::tempdir().expect("tempdir");
    let (_, _, other_key) = ca_and_leaf(other.path());
    let err = load(&chain, &other_key).expect_err("mismatched key");
    assert!(matches!(err, TlsError::BadIdentity(_)), "{err}");
}

#[tokio::test]
async fn pinned_fingerprint_connects_and_a_wrong_one_fails() {
    let data = tempfile::tempdir().expect("tempdir");
    let identity = generated(data.path());

    // The pin replaces name checks: any syntactically valid name works.
    for name in ["localhost", "coliseum.example"] {
        let (client, server) =
            handshake(&identity, name, &Trust::Pinned(identity.fingerprint())).await;
        client.unwrap_or_else(|e| panic!("{name}: {e}"));
        server.expect("server handshake");
    }

    let wrong = Fingerprint::from_bytes([0xAB; 32]);
    let (client, server) = handshake(&identity, "localhost", &Trust::Pinned(wrong)).await;
    match client {
        Err(TlsError::FingerprintMismatch { expected, actual }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, identity.fingerprint());
        }
        other => panic!("expected FingerprintMismatch, got {other:?}"),
    }
    assert!(server.is_err(), "the server sees the handshake fail too");
}

#[tokio::test]
async fn trust_on_first_use_asks_then_pins_then_refuses_a_changed_certificate() {
    let data = tempfile::tempdir().expect("tempdir");
    let config = tempfile::tempdir().expect("tempdir");
    let store = PinStore::open(config.path().join("known_servers")).expect("store");
    let identity = generated(data.path());
    let host = "localhost:7878".to_owned();
    let trust = Trust::TrustOnFirstUse {
        store: store.clone(),
        host: host.clone(),
    };

    // First contact: refused with the fingerprint to show the user.
    let (client, server) = handshake(&identity, "localhost", &trust).await;
    match client {
        Err(TlsError::UnknownHost {
            host: h,
            fingerprint,
        }) => {
            assert_eq!(h, host);
            assert_eq!(fingerprint, identity.fingerprint());
        }
        other => panic!("expected UnknownHost, got {other:?}"),
    }
    assert!(server.is_err());
    assert_eq!(
        store.get(&host).expect("get"),
        None,
        "nothing pinned without the user"
    );

    // The user accepts: pin and reconnect.
    store.pin(&host, identity.fingerprint()).expect("pin");
    let (client, server) = handshake(&identity, "localhost", &trust).await;
    client.expect("pinned host connects");
    server.expect("server handshake");

    // Another host:port is a separate pin.
    let other = Trust::TrustOnFirstUse {
        store: store.clone(),
        host: "localhost:7879".to_owned(),
    };
    let (client, _) = handshake(&identity, "localhost", &other).await;
    assert!(
        matches!(client, Err(TlsError::UnknownHost { .. })),
        "{client:?}"
    );

    // The server's certificate is rotated (generated files deleted, restart).
    std::fs::remove_dir_all(data.path().join(TLS_DIR)).expect("rm tls dir");
    let rotated = generated(data.path());
    assert_ne!(rotated.fingerprint(), identity.fingerprint());
    let (client, server) = handshake(&rotated, "localhost", &trust).await;
    let err = client.expect_err("changed certificate refused");
    match &err {
        TlsError::PinMismatch {
            host: h,
            expected,
            actual,
            store: path,
        } => {
            assert_eq!(h, &host);
            assert_eq!(*expected, identity.fingerprint());
            assert_eq!(*actual, rotated.fingerprint());
            assert_eq!(path, store.path());
        }
        other => panic!("expected PinMismatch, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("the certificate of localhost:7878 changed"),
        "{message}"
    );
    assert!(
        message.contains(&rotated.fingerprint().to_string()),
        "{message}"
    );
    assert!(!message.contains('\n'), "one-line message");
    assert!(server.is_err());
    assert_eq!(
        store.get(&host).expect("get"),
        Some(identity.fingerprint()),
        "a mismatch never replaces the pin"
    );

    // After checking with the operator, the user removes the pin and accepts the new one.
    assert!(store.remove(&host).expect("remove"));
    let (client, _) = handshake(&rotated, "localhost", &trust).await;
    assert!(
        matches!(client, Err(TlsError::UnknownHost { fingerprint, .. }) if fingerprint == rotated.fingerprint())
    );
}

/// A server that presents certificate A but signs with key B: a pin on A
/// must not be enough, the handshake signature has to be checked.
#[tokio::test]
async fn pinning_still_checks_the_handshake_signature() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let victim = generated(a.path());
    generated(b.path());
    let chain = vec![cert_der(&a.path().join(TLS_DIR).join(CERT_FILE))];
    let wrong_key =
        PrivateKeyDer::from_pem_file(b.path().join(TLS_DIR).join(KEY_FILE)).expect("key");
    let provider = coliseum_tls::provider();
    let signer = provider
        .key_provider
        .load_private_key(wrong_key)
        .expect("signing key");
    let forged = rustls::sign::CertifiedKey::new(chain, signer);

    for version in PROTOCOL_VERSIONS {
        let config = rustls::ServerConfig::builder_with_provider(coliseum_tls::provider())
            .with_protocol_versions(&[version])
            .expect("versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
                forged.clone(),
            )));
        let (addr, server) = echo_server(tokio_rustls::TlsAcceptor::from(Arc::new(config))).await;
        let client = echo_through(addr, "localhost", &Trust::Pinned(victim.fingerprint())).await;
        let err = client.expect_err("forged signature refused");
        assert!(
            matches!(&err, TlsError::Handshake(e) if e.to_string().contains("BadSignature")),
            "{:?}: {err}",
            version.version
        );
        assert!(within(server).await.expect("task").is_err());
    }
}

#[tokio::test]
async fn only_tls12_and_tls13_are_enabled() {
    let versions: Vec<_> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
    assert_eq!(
        versions,
        [
            rustls::ProtocolVersion::TLSv1_3,
            rustls::ProtocolVersion::TLSv1_2
        ]
    );

    let data = tempfile::tempdir().expect("tempdir");
    let identity = generated(data.path());
    let pinned = Trust::Pinned(identity.fingerprint());
    // Our client and server agree on TLS 1.3.
    let (client, server) = handshake(&identity, "localhost", &pinned).await;
    assert_eq!(client.expect("client"), rustls::ProtocolVersion::TLSv1_3);
    assert_eq!(server.expect("server"), rustls::ProtocolVersion::TLSv1_3);

    // A TLS 1.2-only client is served TLS 1.2.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der(identity.cert_path())).expect("anchor");
    let tls12_only = rustls::ClientConfig::builder_with_provider(coliseum_tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (addr, server) = echo_server(identity.acceptor()).await;
    let tcp = TcpStream::connect(addr).await.expect("tcp");
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = within(tokio_rustls::TlsConnector::from(Arc::new(tls12_only)).connect(name, tcp))
        .await
        .expect("TLS 1.2 handshake");
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    tls.shutdown().await.expect("close_notify");
    assert_eq!(
        within(server).await.expect("task").expect("server"),
        rustls::ProtocolVersion::TLSv1_2
    );

    // Control: the hand-made hello is acceptable as TLS 1.2 (a ServerHello,
    // content type 22, comes back), so what follows only tests the version.
    let (addr, server) = echo_server(identity.acceptor()).await;
    let mut tcp = TcpStream::connect(addr).await.expect("tcp");
    tcp.write_all(&legacy_client_hello([3, 3]))
        .await
        .expect("hello");
    let mut first = [0u8; 1];
    within(tcp.read_exact(&mut first)).await.expect("reply");
    assert_eq!(
        first,
        [22],
        "TLS 1.2 hello answered with a handshake record"
    );
    drop(tcp);
    assert!(
        within(server).await.expect("task").is_err(),
        "client went away"
    );

    // TLS 1.0 and 1.1 ClientHellos (no supported_versions extension) are refused.
    for (legacy_version, label) in [([3u8, 1u8], "TLS 1.0"), ([3, 2], "TLS 1.1")] {
        let (addr, server) = echo_server(identity.acceptor()).await;
        let mut tcp = TcpStream::connect(addr).await.expect("tcp");
        tcp.write_all(&legacy_client_hello(legacy_version))
            .await
            .expect("hello");
        let mut reply = Vec::new();
        within(tcp.read_to_end(&mut reply))
            .await
            .expect("server closes");
        // Exactly one alert record (content type 21, 2 bytes): fatal (2),
        // protocol_version (70). No ServerHello, no data.
        assert_eq!(reply.len(), 7, "{label}: {reply:?}");
        assert_eq!(
            (reply[0], &reply[3..]),
            (21, &[0, 2, 2, 70][..]),
            "{label}: {reply:?}"
        );
        let err = within(server)
            .await
            .expect("task")
            .expect_err("handshake refused");
        assert!(
            format!("{err:?}").contains("Tls12NotOffered"),
            "{label}: {err:?}"
        );
    }
}

/// A ClientHello as a TLS 1.0/1.1 client sends it: `legacy_version` in the
/// record and the hello, two ECDHE/RSA CBC suites, and the extensions a
/// server needs to go on (signature algorithms, groups, point formats) but
/// no `supported_versions`, so the version is the only thing wrong with it
/// (the same hello with version 3,3 gets a ServerHello).
fn legacy_client_hello(legacy_version: [u8; 2]) -> Vec<u8> {
    fn with_len16(bytes: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(bytes.len())
            .expect("short")
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(bytes);
        out
    }
    fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend(with_len16(data));
        out
    }
    let mut extensions = Vec::new();
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pkcs1_sha256, rsa_pss_rsae_sha256
    extensions.extend(extension(13, &with_len16(&[4, 3, 4, 1, 8, 4])));
    // supported_groups: x25519, secp256r1
    extensions.extend(extension(10, &with_len16(&[0, 0x1D, 0, 0x17])));
    // ec_point_formats: uncompressed
    extensions.extend(extension(11, &[1, 0]));

    let mut body = Vec::new();
    body.extend_from_slice(&legacy_version);
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // no session id
    // ECDHE-ECDSA-AES128-GCM-SHA256 (also valid in TLS 1.2), ECDHE-ECDSA-AES128-SHA
    body.extend(with_len16(&[0xC0, 0x2B, 0xC0, 0x09]));
    body.extend_from_slice(&[1, 0]); // compression: null
    body.extend(with_len16(&extensions));

    let body_len = u32::try_from(body.len()).expect("short").to_be_bytes();
    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&body_len[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![22, legacy_version[0], legacy_version[1]];
    record.extend(with_len16(&handshake));
    record
}

#[tokio::test]
async fn plaintext_bytes_fail_the_handshake() {
    let data = tempfile::tempdir().expect("tempdir");
    let identity = generated(data.path());
    let (addr, server) = echo_server(identity.acceptor()).await;
    let mut tcp = TcpStream::connect(addr).await.expect("tcp");
    // A plaintext protocol frame: 4-byte length + JSON.
    let json = br#"{"id":1,"op":"login","username":"bob","password":"hunter22"}"#;
    let mut frame = u32::try_from(json.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(json);
    tcp.write_all(&frame).await.expect("write");
    let mut reply = Vec::new();
    // The server answers at most an alert, never data, then closes.
    let _ = within(tcp.read_to_end(&mut reply)).await;
    assert!(reply.is_empty() || reply.first() == Some(&21), "{reply:?}");
    let err = within(server)
        .await
        .expect("task")
        .expect_err("plaintext refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err:?}");
}

#[tokio::test]
async fn platform_roots_do_not_trust_a_self_signed_server() {
    let data = tempfile::tempdir().expect("tempdir");
    let identity = generated(data.path());
    let (client, _server) = handshake(&identity, "localhost", &Trust::Platform).await;
    match client {
        Err(TlsError::Handshake(e)) => assert!(e.to_string().contains("UnknownIssuer"), "{e}"),
        // A machine without a certificate store cannot trust anything either.
        Err(TlsError::NoPlatformRoots { .. }) => {}
        other => panic!("expected an untrusted-certificate error, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_server_names_are_refused_before_connecting() {
    let tcp_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tcp = TcpStream::connect(tcp_listener.local_addr().expect("addr"))
        .await
        .expect("tcp");
    let err = connect(
        tcp,
        "not a name!",
        &Trust::Pinned(Fingerprint::from_bytes([0; 32])),
    )
    .await
    .expect_err("invalid name");
    assert!(matches!(err, TlsError::InvalidServerName { .. }), "{err}");
}
