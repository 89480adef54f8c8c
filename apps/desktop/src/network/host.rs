//! "Host on this computer": the server library running inside the app, on
//! the embedded SQLite store, so that one double-click gives a working
//! server that others on the network can join.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use coliseum_client::Fingerprint;
use coliseum_server::{DataDirLock, Server, ServerConfig, ServerHandle, open_embedded_store};

use super::api::HostRequest;

/// A server started by this app; stopped with [`HostedServer::stop`] (or
/// when the network runtime shuts down).
pub struct HostedServer {
    handle: ServerHandle,
    fingerprint: Fingerprint,
    /// One server per data directory, as `coliseum-server` does: held until
    /// the hosted server is dropped.
    _lock: DataDirLock,
}

impl HostedServer {
    /// Opens the store in `request.data_dir` (seeding the default events on
    /// first start), loads or creates the server's TLS identity in
    /// `request.data_dir/tls` (so its fingerprint stays the same across
    /// starts), binds `request.listen` and starts serving over TLS.
    ///
    /// # Errors
    /// A sentence for people when the store cannot be opened, the TLS
    /// identity cannot be loaded or created, or the address cannot be bound
    /// (e.g. the port is taken), or when another server (hosted or
    /// `coliseum-server`) already serves the data directory.
    pub async fn start(request: &HostRequest) -> Result<Self, String> {
        // The same lock `coliseum-server` takes: a hosted server and a
        // standalone one never serve one data directory together.
        let lock = DataDirLock::acquire(&request.data_dir).map_err(|e| e.to_string())?;
        let data_dir = request.data_dir.clone();
        let identity = tokio::task::spawn_blocking(move || {
            coliseum_tls::load_or_create_server_identity(&data_dir, None, None)
        })
        .await
        .map_err(|e| format!("could not create the TLS identity: {e}"))?
        .map_err(|e| format!("could not load or create the TLS identity: {e}"))?;
        let store = open_embedded_store(&request.data_dir).await.map_err(|e| {
            format!(
                "could not open the data directory {}: {e}",
                request.data_dir.display()
            )
        })?;
        // Tickets are signed with the data directory's key, as by
        // `coliseum-server`, so codes stay valid across restarts.
        let key_dir = request.data_dir.clone();
        let ticket_key = tokio::task::spawn_blocking(move || {
            coliseum_server::signing::TicketKey::load_or_create(&key_dir)
        })
        .await
        .map_err(|e| format!("could not load the ticket signing key: {e}"))?
        .map_err(|e| format!("could not load or create the ticket signing key: {e}"))?;
        let config = ServerConfig {
            listen: request.listen,
            tls: Some(identity.acceptor()),
            ticket_key,
            ..ServerConfig::default()
        };
        let server = Server::bind(config, store)
            .await
            .map_err(|e| format!("could not listen on {}: {e}", request.listen))?;
        let fingerprint = identity.fingerprint();
        tracing::info!(
            addr = %server.local_addr(),
            %fingerprint,
            "hosting a server on this computer (TLS certificate SHA-256 fingerprint)"
        );
        Ok(Self {
            handle: server.spawn(),
            fingerprint,
            _lock: lock,
        })
    }

    /// SHA-256 fingerprint of the server's TLS certificate: what joining
    /// members compare on their first connection, and what this app pins.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Where the server listens (with the real port when `:0` was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// Where this app connects: the listening address, with a wildcard IP
    /// (`0.0.0.0`, `::`) replaced by the matching loopback address.
    pub fn connect_addr(&self) -> SocketAddr {
        loopback_for(self.local_addr())
    }

    /// Graceful stop: clients get the `shutdown` push, in-flight requests finish.
    pub async fn stop(self) {
        if let Err(error) = self.handle.shutdown().await {
            tracing::warn!(%error, "hosted server did not stop cleanly");
        }
    }
}

/// `addr` with an unspecified IP replaced by loopback of the same family.
fn loopback_for(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_connect_through_loopback() {
        let any: SocketAddr = "0.0.0.0:7878".parse().expect("addr");
        assert_eq!(loopback_for(any).to_string(), "127.0.0.1:7878");
        let any6: SocketAddr = "[::]:9000".parse().expect("addr");
        assert_eq!(loopback_for(any6).to_string(), "[::1]:9000");
        let lan: SocketAddr = "192.168.1.5:7878".parse().expect("addr");
        assert_eq!(loopback_for(lan), lan);
    }

    /// Hardening issue: one server per data directory, hosted or not.
    #[tokio::test]
    async fn a_second_server_on_the_same_data_dir_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let request = HostRequest {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            data_dir: dir.path().to_path_buf(),
        };
        let first = HostedServer::start(&request).await.expect("first server");
        match HostedServer::start(&request).await {
            Ok(_) => panic!("a second server on the same data directory started"),
            Err(message) => assert!(
                message.contains("is in use by another coliseum-server (pid"),
                "{message}"
            ),
        }
        first.stop().await;
        HostedServer::start(&request)
            .await
            .expect("free again once the first stopped")
            .stop()
            .await;
    }
}
