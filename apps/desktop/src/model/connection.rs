//! The connection and trust slice: which server, whether the link is up,
//! the hosted server, and the trust-on-first-use questions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use coliseum_client::Fingerprint;

use crate::network::{ConnectionStatus, NetCommand, NetEvent, Security, ServerChoice};

/// The "Host on this computer" server, once it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosting {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// SHA-256 fingerprint of its TLS certificate.
    pub fingerprint: Fingerprint,
}

/// What trust on first use needs the user to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityPrompt {
    /// First connection to `host`: trust `fingerprint`?
    Unknown {
        /// `host:port`.
        host: String,
        /// The certificate fingerprint the server presented.
        fingerprint: Fingerprint,
    },
    /// The certificate of `host` is not the pinned one.
    Changed {
        /// `host:port`.
        host: String,
        /// The pinned fingerprint.
        expected: Fingerprint,
        /// The fingerprint the server presented.
        actual: Fingerprint,
    },
}

/// Connection state as the UI knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionState {
    /// The last status the network reported.
    pub status: ConnectionStatus,
    /// When that status arrived (a reconnect delay counts from here).
    pub since: Instant,
    /// Address of the server connected to (or being connected to).
    pub server: Option<String>,
    /// The address of the list tried now, or next (issue 15: several
    /// addresses); what the status bar names while connecting.
    pub trying: Option<ServerChoice>,
    /// The hosted server, when this app runs one.
    pub hosting: Option<Hosting>,
    /// Why the last connect (or host) attempt failed.
    pub error: Option<String>,
    /// The last server joined and how it was secured, to connect again
    /// after the user trusted its certificate.
    pub last_connect: Option<(String, Security)>,
    /// A trust-on-first-use question or warning to show on the connect screen.
    pub security_prompt: Option<SecurityPrompt>,
    /// Connecting or starting the hosted server.
    pub busy: bool,
}

impl Default for ConnectionState {
    fn default() -> Self {
        Self {
            status: ConnectionStatus::Offline,
            since: Instant::now(),
            server: None,
            trying: None,
            hosting: None,
            error: None,
            last_connect: None,
            security_prompt: None,
            busy: false,
        }
    }
}

impl ConnectionState {
    /// True while the server answers.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.status == ConnectionStatus::Connected
    }

    /// When the next reconnect attempt starts, while waiting for one.
    #[must_use]
    pub fn reconnect_at(&self) -> Option<Instant> {
        match self.status {
            ConnectionStatus::Reconnecting { delay } => Some(self.since + delay),
            _ => None,
        }
    }

    /// Marks a connect or host request in flight; `false` when one already is.
    pub fn begin(&mut self, command: &NetCommand) -> bool {
        if !matches!(command, NetCommand::Connect { .. } | NetCommand::Host(_)) {
            return true;
        }
        if self.busy {
            return false;
        }
        self.busy = true;
        self.error = None;
        if let NetCommand::Connect { addr, security } = command {
            self.security_prompt = None;
            self.trying = None;
            self.server = Some(addr.clone());
            self.last_connect = Some((addr.clone(), security.clone()));
        }
        true
    }

    /// Follows the network's connection events.
    pub fn apply(&mut self, event: &NetEvent, now: Instant) {
        match event {
            NetEvent::Status(status) => {
                self.status = *status;
                self.since = now;
            }
            NetEvent::Trying(choice) => self.trying = Some(choice.clone()),
            NetEvent::Connected { addr, .. } => {
                self.busy = false;
                self.server = Some(addr.clone());
                self.error = None;
            }
            NetEvent::ConnectFailed(message) => {
                self.busy = false;
                self.server = None;
                self.trying = None;
                self.hosting = None;
                self.error = Some(message.clone());
            }
            NetEvent::UnknownServer { host, fingerprint } => {
                self.busy = false;
                self.server = None;
                self.trying = None;
                self.security_prompt = Some(SecurityPrompt::Unknown {
                    host: host.clone(),
                    fingerprint: *fingerprint,
                });
            }
            NetEvent::ServerChanged {
                host,
                expected,
                actual,
            } => {
                // Refused for good (possibly after a reconnect): back to the
                // connect screen, where the warning is.
                *self = Self {
                    last_connect: self.last_connect.take(),
                    security_prompt: Some(SecurityPrompt::Changed {
                        host: host.clone(),
                        expected: *expected,
                        actual: *actual,
                    }),
                    status: self.status,
                    since: self.since,
                    ..Self::default()
                };
            }
            NetEvent::ServerForgotten { host } => {
                self.security_prompt = None;
                self.error = Some(format!(
                    "Forgot the certificate of {host}. Connect again to check its new fingerprint."
                ));
            }
            NetEvent::PinStoreFailed(message) | NetEvent::HostFailed(message) => {
                self.busy = false;
                self.error = Some(message.clone());
            }
            NetEvent::HostStarted {
                addr,
                data_dir,
                fingerprint,
            } => {
                self.hosting = Some(Hosting {
                    addr: *addr,
                    data_dir: data_dir.clone(),
                    fingerprint: *fingerprint,
                });
            }
            NetEvent::Disconnected => {
                *self = Self {
                    status: self.status,
                    since: self.since,
                    ..Self::default()
                };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reconnecting_sets_a_deadline() {
        let now = Instant::now();
        let mut state = ConnectionState::default();
        state.apply(
            &NetEvent::Status(ConnectionStatus::Reconnecting {
                delay: Duration::from_secs(4),
            }),
            now,
        );
        assert_eq!(state.reconnect_at(), Some(now + Duration::from_secs(4)));
    }
}
