//! What the app remembers between runs (through eframe's persistence): the
//! server address, how the user connects, the host settings and the theme.
//! Never the password or the session token.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::network::Security;

/// Default server address (the server's default `--listen`).
pub const DEFAULT_SERVER: &str = "127.0.0.1:7878";
/// Default listening address when hosting: every interface, so that others on
/// the network can join.
pub const DEFAULT_HOST_LISTEN: &str = "0.0.0.0:7878";
/// Key under which [`Settings`] live in eframe's storage.
pub const STORAGE_KEY: &str = "coliseum-settings";

/// How the connect screen connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ConnectMode {
    /// Join a server someone else runs.
    #[default]
    Join,
    /// Start the server inside this app and connect to it.
    Host,
}

/// The connect screen's "Security" choice (issue 5, "Client trust").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SecurityChoice {
    /// TLS; the server's certificate is pinned on first use after the user
    /// compared its fingerprint.
    #[default]
    TrustOnFirstUse,
    /// TLS, trusting the operating system's root certificates.
    SystemCas,
    /// TLS, trusting the CA certificates in [`Settings::ca_file`].
    CaFile,
    /// Unencrypted, for servers run with `--insecure-plaintext`.
    Plaintext,
}

/// Light, dark, or whatever the system uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ThemeChoice {
    /// Follow the operating system's preference.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl ThemeChoice {
    /// The matching egui preference.
    #[must_use]
    pub const fn preference(self) -> egui::ThemePreference {
        match self {
            Self::System => egui::ThemePreference::System,
            Self::Light => egui::ThemePreference::Light,
            Self::Dark => egui::ThemePreference::Dark,
        }
    }
}

/// Persisted settings. `#[serde(default)]`: fields added later, or missing
/// from an older save, take their defaults instead of discarding the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `host:port` of the server to join.
    pub server_address: String,
    /// Join or host, as last chosen.
    pub mode: ConnectMode,
    /// Listening address when hosting.
    pub host_listen: String,
    /// Data directory when hosting; `None` means the server's default
    /// (`coliseum_server::default_data_dir`).
    pub host_data_dir: Option<PathBuf>,
    /// How joining secures the connection.
    pub security: SecurityChoice,
    /// The CA certificate file (PEM) for [`SecurityChoice::CaFile`].
    pub ca_file: Option<PathBuf>,
    /// Theme.
    pub theme: ThemeChoice,
    /// Last username that logged in, to prefill the login form.
    pub last_username: String,
}

impl Settings {
    /// The [`Security`] of [`Settings::security`]; a CA file choice without
    /// a file falls back to trust on first use.
    #[must_use]
    pub fn join_security(&self) -> Security {
        match (self.security, &self.ca_file) {
            (SecurityChoice::TrustOnFirstUse, _) | (SecurityChoice::CaFile, None) => {
                Security::TrustOnFirstUse
            }
            (SecurityChoice::SystemCas, _) => Security::SystemCas,
            (SecurityChoice::CaFile, Some(path)) => Security::CaFile(path.clone()),
            (SecurityChoice::Plaintext, _) => Security::Plaintext,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server_address: DEFAULT_SERVER.to_owned(),
            mode: ConnectMode::Join,
            host_listen: DEFAULT_HOST_LISTEN.to_owned(),
            host_data_dir: None,
            security: SecurityChoice::TrustOnFirstUse,
            ca_file: None,
            theme: ThemeChoice::System,
            last_username: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_defaults() {
        let settings: Settings =
            serde_json::from_str(r#"{"server_address":"10.0.0.2:9000"}"#).expect("parse");
        assert_eq!(settings.server_address, "10.0.0.2:9000");
        assert_eq!(settings.host_listen, DEFAULT_HOST_LISTEN);
        assert_eq!(settings.theme, ThemeChoice::System);
        assert_eq!(settings.security, SecurityChoice::TrustOnFirstUse);
    }
}
