//! [`PinStore`]: the client's `known_servers` file for trust on first use.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::server::write_atomically;
use crate::{Fingerprint, TlsError};

/// File name of the pin store inside the client's configuration directory.
pub const KNOWN_SERVERS_FILE: &str = "known_servers";

const HEADER: &str = "# Coliseum known servers (trust on first use), like SSH's known_hosts.\n\
# One server per line: host:port, then the SHA-256 fingerprint of its certificate.\n\
# Delete a line to forget a server; the next connection asks again.\n";

/// The pins of trust on first use: for each server (`host:port`), the
/// SHA-256 fingerprint of the certificate accepted the first time.
///
/// Stored as a plain text file, one `host:port FINGERPRINT` line per
/// server (fingerprint as [`Fingerprint`] displays it), `#` comments and
/// blank lines allowed. A `PinStore` is only a path: every call reads the
/// file afresh, so several windows or processes see each other's pins, and
/// writes replace the file atomically (temporary file + rename), so a crash
/// never leaves it half-written. Two processes pinning at the same instant
/// may lose one of the two pins (last writer wins); the next connection then
/// asks again, which is safe.
///
/// A malformed file is an error, not an empty store: silently dropping a pin
/// would turn a changed certificate into an innocent-looking first-use question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinStore {
    /// The `known_servers` file; it need not exist yet.
    path: PathBuf,
}

impl PinStore {
    /// A store kept in `path`. The file need not exist (no pins yet); it and
    /// its directory are created by the first [`pin`](Self::pin).
    ///
    /// # Errors
    /// [`TlsError::Io`] or [`TlsError::PinFileSyntax`] if the file exists
    /// but cannot be read or parsed (checked now, so a broken file is found
    /// at start-up rather than at the first connection).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let store = Self { path: path.into() };
        store.entries()?;
        Ok(store)
    }

    /// `known_servers` in the client's configuration directory for
    /// Coliseum, as `directories::ProjectDirs::from("org", "Coliseum",
    /// "coliseum")` names it: `~/.config/coliseum/known_servers` on Linux,
    /// `~/Library/Application Support/org.Coliseum.coliseum/known_servers` on
    /// macOS, `%APPDATA%\Coliseum\coliseum\config\known_servers` on Windows.
    ///
    /// # Errors
    /// [`TlsError::NoConfigDir`] when the platform has no home directory.
    pub fn default_path() -> Result<PathBuf, TlsError> {
        directories::ProjectDirs::from("org", "Coliseum", "coliseum")
            .map(|dirs| dirs.config_dir().join(KNOWN_SERVERS_FILE))
            .ok_or(TlsError::NoConfigDir)
    }

    /// The file this store reads and writes.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every pin, sorted by host.
    ///
    /// # Errors
    /// [`TlsError::Io`] or [`TlsError::PinFileSyntax`].
    pub fn entries(&self) -> Result<BTreeMap<String, Fingerprint>, TlsError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(TlsError::io("cannot read", &self.path, e)),
        };
        let mut pins = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let syntax = |reason: String| TlsError::PinFileSyntax {
                path: self.path.clone(),
                line: index + 1,
                reason,
            };
            let mut fields = line.split_whitespace();
            let (Some(host), Some(fingerprint), None) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(syntax(
                    "expected two fields: host:port and a SHA-256 fingerprint".to_owned(),
                ));
            };
            let fingerprint = fingerprint
                .parse::<Fingerprint>()
                .map_err(|e| syntax(e.to_string()))?;
            if pins.insert(host.to_owned(), fingerprint).is_some() {
                return Err(syntax(format!("{host} is pinned twice")));
            }
        }
        Ok(pins)
    }

    /// The fingerprint pinned for `host` (`host:port`), if any.
    ///
    /// # Errors
    /// [`TlsError::Io`] or [`TlsError::PinFileSyntax`].
    pub fn get(&self, host: &str) -> Result<Option<Fingerprint>, TlsError> {
        Ok(self.entries()?.get(host).copied())
    }

    /// Pins `fingerprint` for `host` (`host:port`), replacing any earlier pin.
    /// Call it only after the user accepted the fingerprint shown with
    /// [`TlsError::UnknownHost`] (or checked a changed one with the operator).
    ///
    /// # Errors
    /// [`TlsError::InvalidHost`] if `host` is empty or holds white space;
    /// [`TlsError::Io`] or [`TlsError::PinFileSyntax`] otherwise.
    pub fn pin(&self, host: &str, fingerprint: Fingerprint) -> Result<(), TlsError> {
        check_host(host)?;
        let mut pins = self.entries()?;
        pins.insert(host.to_owned(), fingerprint);
        self.write(&pins)
    }

    /// Forgets the pin of `host`; returns whether there was one.
    ///
    /// # Errors
    /// [`TlsError::Io`] or [`TlsError::PinFileSyntax`].
    pub fn remove(&self, host: &str) -> Result<bool, TlsError> {
        let mut pins = self.entries()?;
        let removed = pins.remove(host).is_some();
        if removed {
            self.write(&pins)?;
        }
        Ok(removed)
    }

    fn write(&self, pins: &BTreeMap<String, Fingerprint>) -> Result<(), TlsError> {
        let mut text = String::from(HEADER);
        for (host, fingerprint) in pins {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{host} {fingerprint}");
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| TlsError::io("cannot create directory", dir, e))?;
        }
        write_atomically(&self.path, text.as_bytes(), 0o644)
    }
}

fn check_host(host: &str) -> Result<(), TlsError> {
    if host.is_empty() || host.chars().any(char::is_whitespace) || host.starts_with('#') {
        return Err(TlsError::InvalidHost(host.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(byte: u8) -> Fingerprint {
        Fingerprint::from_bytes([byte; 32])
    }

    #[test]
    fn missing_file_is_an_empty_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PinStore::open(dir.path().join("sub/known_servers")).expect("open");
        assert_eq!(store.get("localhost:7878").expect("get"), None);
        assert!(!store.remove("localhost:7878").expect("remove"));
        assert!(!store.path().exists(), "remove of nothing must not write");
    }

    #[test]
    fn pin_get_replace_remove_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/known_servers");
        let store = PinStore::open(&path).expect("open");
        store.pin("localhost:7878", fp(1)).expect("pin");
        store.pin("[::1]:7878", fp(2)).expect("pin");
        let reopened = PinStore::open(&path).expect("reopen");
        assert_eq!(reopened.get("localhost:7878").expect("get"), Some(fp(1)));
        assert_eq!(reopened.get("[::1]:7878").expect("get"), Some(fp(2)));
        assert_eq!(reopened.get("localhost:7879").expect("get"), None);

        store.pin("localhost:7878", fp(3)).expect("re-pin");
        assert_eq!(reopened.get("localhost:7878").expect("get"), Some(fp(3)));
        assert!(store.remove("localhost:7878").expect("remove"));
        assert_eq!(reopened.get("localhost:7878").expect("get"), None);
        assert_eq!(reopened.entries().expect("entries").len(), 1);

        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(&format!("[::1]:7878 {}\n", fp(2))), "{text}");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != KNOWN_SERVERS_FILE)
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn bad_hosts_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PinStore::open(dir.path().join("known_servers")).expect("open");
        for host in ["", "a b:1", "a\n:1", "#x:1"] {
            assert!(
                matches!(store.pin(host, fp(1)), Err(TlsError::InvalidHost(_))),
                "{host:?}"
            );
        }
    }

    #[test]
    fn malformed_files_are_errors_with_line_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_servers");
        let good = fp(7).to_string();
        for (text, line) in [
            (format!("# c\n\nh:1 {good}\nh:2\n"), 4),
            (format!("h:1 {good} extra\n"), 1),
            ("h:1 AB:CD\n".to_owned(), 1),
            (format!("h:1 {good}\nh:1 {good}\n"), 2),
        ] {
            std::fs::write(&path, &text).expect("write");
            match PinStore::open(&path) {
                Err(TlsError::PinFileSyntax { line: got, .. }) => assert_eq!(got, line, "{text}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn default_path_is_in_the_config_dir() {
        // Every CI platform has a home directory.
        let path = PinStore::default_path().expect("config dir");
        assert!(path.ends_with(KNOWN_SERVERS_FILE), "{}", path.display());
    }
}
