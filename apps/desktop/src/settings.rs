//! What the app remembers between runs (through eframe's persistence): the
//! server address, how the user connects, the host settings and the theme.
//! Never the password or the session token.
//!
//! eframe keeps them in [`SETTINGS_FILE`] inside the app's configuration
//! directory, beside the trust-on-first-use pins (`known_servers`); see
//! [`settings_file`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::network::Security;

/// Default server address (the server's default `--listen`).
pub const DEFAULT_SERVER: &str = "127.0.0.1:7878";
/// Default listening address when hosting: loopback, so that nobody else can
/// connect until the user ticks "Let others on my network join".
pub const DEFAULT_HOST_LISTEN: &str = "127.0.0.1:7878";
/// Key under which [`Settings`] live in eframe's storage.
pub const STORAGE_KEY: &str = "coliseum-settings";

/// Name of eframe's settings file inside the configuration directory.
pub const SETTINGS_FILE: &str = "app.ron";

/// The file eframe should keep the settings in: [`SETTINGS_FILE`] inside
/// `config_dir` (e.g. `~/.config/coliseum/app.ron`), creating the directory.
///
/// Earlier versions gave eframe the directory's own path, so the settings
/// became a *file* named like the directory, and the pin store
/// (`config_dir/known_servers`) could no longer be created. Such a file is
/// moved to its place inside the new directory, keeping its values.
///
/// # Errors
/// When the directory cannot be created or the old file cannot be moved.
pub fn settings_file(config_dir: &Path) -> std::io::Result<PathBuf> {
    if config_dir.is_file() {
        let mut aside = config_dir.as_os_str().to_owned();
        aside.push(".migrating");
        let aside = PathBuf::from(aside);
        std::fs::rename(config_dir, &aside)?;
        std::fs::create_dir_all(config_dir)?;
        std::fs::rename(&aside, config_dir.join(SETTINGS_FILE))?;
        tracing::info!(
            dir = %config_dir.display(),
            "moved the settings file into the configuration directory"
        );
    } else {
        std::fs::create_dir_all(config_dir)?;
    }
    Ok(config_dir.join(SETTINGS_FILE))
}

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
    /// `host:port` of the server to join, or several separated by commas
    /// (tried in turn, see [`crate::network::parse_servers`]).
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

    /// Defect 1 of issue 10: settings and pins live side by side, and a
    /// settings file left at the directory's path by an older version is
    /// moved inside with its values.
    #[test]
    fn settings_move_into_the_config_dir_and_pins_fit_beside_them() {
        let root = tempfile::tempdir().expect("temp dir");
        let config = root.path().join("coliseum");
        let old = "(\n    \"coliseum-settings\": \"(server_address:\\\"10.0.0.2:9000\\\")\",\n)";
        std::fs::write(&config, old).expect("old settings file");

        let file = settings_file(&config).expect("migrated");
        assert_eq!(file, config.join(SETTINGS_FILE));
        assert!(config.is_dir());
        assert_eq!(std::fs::read_to_string(&file).expect("read"), old);

        // Pins can now be written beside the settings.
        let store = coliseum_client::PinStore::open(config.join("known_servers")).expect("open");
        store
            .pin(
                "example.org:7878",
                coliseum_client::Fingerprint::from_bytes([1; 32]),
            )
            .expect("pin written after the settings exist");
        assert!(config.join("known_servers").is_file());

        // Settings saved again (as eframe does) and read back after a restart.
        let settings = Settings {
            server_address: "192.168.1.9:7878".into(),
            security: SecurityChoice::Plaintext,
            last_username: "giulia".into(),
            ..Settings::default()
        };
        std::fs::write(&file, serde_json::to_string(&settings).expect("encode")).expect("save");
        let again = settings_file(&config).expect("second start");
        let back: Settings =
            serde_json::from_str(&std::fs::read_to_string(again).expect("read")).expect("decode");
        assert_eq!(back, settings);
        assert!(
            config.join("known_servers").is_file(),
            "the pins are untouched"
        );
    }

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
