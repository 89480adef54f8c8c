//! Signed ticket codes (ticketing issue): `C1.<ticket_id>.<event_id>.<sig>`
//! where `sig` is the unpadded base64url Ed25519 signature of
//! [`validate::ticket_code_message`]. A door app verifies a code offline
//! with the public key from `server_info`; the server checks it again at
//! `check_in`, so a forged or altered code is refused before any lookup.
//!
//! The key is kept in the data directory as `ticket-signing.key` (the 32
//! secret bytes in hex, mode 0600 on Unix), created on first start. Losing
//! it invalidates every code issued so far; codes are re-derived from the
//! ticket on every `my_tickets`, so members get new ones at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coliseum_protocol::validate;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// File name of the key inside the data directory.
pub const TICKET_KEY_FILE: &str = "ticket-signing.key";

/// The server's ticket-signing key. Cheap to clone; `Debug` shows only the
/// public half.
#[derive(Clone)]
pub struct TicketKey {
    /// The Ed25519 key pair.
    key: Arc<SigningKey>,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKey")
            .field("public_key", &self.public_key())
            .finish()
    }
}

impl Default for TicketKey {
    /// A fresh random key that lives as long as the process (tests, and
    /// servers embedded without a data directory).
    fn default() -> Self {
        Self::from_secret(rand::random())
    }
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketKeyError {
    /// Reading or writing the file failed.
    #[error("ticket-signing key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file exists but does not hold 64 hex digits.
    #[error(
        "ticket-signing key {0} is damaged (expected 64 hex digits); restore it from a backup, \
         or delete it to make a new key (every ticket code issued so far stops verifying)"
    )]
    Damaged(PathBuf),
}

impl TicketKey {
    /// The key with these 32 secret bytes.
    #[must_use]
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self {
            key: Arc::new(SigningKey::from_bytes(&secret)),
        }
    }

    /// Loads `dir/ticket-signing.key`, creating it (and `dir`) with a new
    /// random key when it does not exist.
    ///
    /// # Errors
    /// [`TicketKeyError::Io`] when the file cannot be read or written,
    /// [`TicketKeyError::Damaged`] when it holds anything but 64 hex digits
    /// (never silently replaced: that would void every issued ticket).
    pub fn load_or_create(dir: &Path) -> Result<Self, TicketKeyError> {
        Self::load_or_create_file(&dir.join(TICKET_KEY_FILE))
    }

    /// Loads the key file at `path`, creating it (and its directory) with a
    /// new random key when it does not exist. Several instances of one
    /// deployment must use the same key (`coliseum-server --ticket-key`):
    /// a ticket booked on one is checked in on another. Instances starting
    /// at once on one new file agree on one key: the file appears whole or
    /// not at all (written aside, then linked into place), and the
    /// instance that loses the race reads the winner's key.
    ///
    /// # Errors
    /// As [`TicketKey::load_or_create`].
    pub fn load_or_create_file(path: &Path) -> Result<Self, TicketKeyError> {
        let path = path.to_path_buf();
        let io = |source| TicketKeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let key = Self::default();
                match publish_private(&path, &hex::encode(key.key.to_bytes())) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "created a new ticket-signing key");
                        Ok(key)
                    }
                    // Another instance created it first: use theirs.
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(&path).map_err(io)?;
                        Self::parse(&text, &path)
                    }
                    Err(err) => Err(io(err)),
                }
            }
            Err(err) => Err(io(err)),
        }
    }

    /// The key in a key file's text (64 hex digits).
    fn parse(text: &str, path: &Path) -> Result<Self, TicketKeyError> {
        let mut secret = [0_u8; 32];
        hex::decode_to_slice(text.trim(), &mut secret)
            .map_err(|_| TicketKeyError::Damaged(path.to_path_buf()))?;
        Ok(Self::from_secret(secret))
    }

    /// The public key, unpadded base64url of its 32 bytes (`server_info`).
    #[must_use]
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// The code of a ticket: `C1.<ticket_id>.<event_id>.<signature>`.
    #[must_use]
    pub fn code(&self, ticket_id: &str, event_id: &str) -> String {
        let message = validate::ticket_code_message(ticket_id, event_id);
        let signature = self.key.sign(message.as_bytes());
        format!(
            "C1.{ticket_id}.{event_id}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// The `(ticket_id, event_id)` a code names, if its signature is this
    /// key's.
    ///
    /// # Errors
    /// A message for people when the code is malformed, forged or altered.
    pub fn verify<'a>(&self, code: &'a str) -> Result<(&'a str, &'a str), String> {
        verify_with(&self.key.verifying_key(), code)
    }
}

/// Verifies `code` against `public_key` (what a door app does with
/// `server_info`'s key).
///
/// # Errors
/// A message when the code is malformed, forged or altered.
pub fn verify_with<'a>(
    public_key: &VerifyingKey,
    code: &'a str,
) -> Result<(&'a str, &'a str), String> {
    let (ticket_id, event_id, signature) = validate::ticket_code(code)?;
    let forged =
        || "this ticket code is forged or altered: its signature does not match".to_owned();
    let bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(forged)?;
    let message = validate::ticket_code_message(ticket_id, event_id);
    public_key
        .verify_strict(message.as_bytes(), &Signature::from_bytes(&bytes))
        .map_err(|_| forged())?;
    Ok((ticket_id, event_id))
}

/// Writes a new file readable by its owner only (0600 on Unix).
/// Writes `contents` to a new private file beside `path`, then links it
/// to `path`, which therefore never exists half-written; `AlreadyExists`
/// when `path` exists (another process won).
fn publish_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(
        ".{}.{:08x}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let aside = std::path::PathBuf::from(aside);
    write_private(&aside, contents)?;
    let linked = std::fs::hard_link(&aside, path);
    // The name aside goes either way; the linked file stays.
    let _ = std::fs::remove_file(&aside);
    linked
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_verifies_and_names_its_ticket() {
        let key = TicketKey::default();
        let code = key.code("42", "7");
        assert!(code.starts_with("C1.42.7."), "{code}");
        assert_eq!(key.verify(&code), Ok(("42", "7")));
    }

    #[test]
    fn altered_forged_and_foreign_codes_are_refused() {
        let key = TicketKey::default();
        let code = key.code("42", "7");
        let altered = code.replacen("C1.42.", "C1.43.", 1);
        assert!(
            key.verify(&altered)
                .expect_err("altered")
                .contains("forged")
        );
        let other = TicketKey::default().code("42", "7");
        assert!(key.verify(&other).is_err(), "another server's key");
        assert!(key.verify("C1.42.7.AAAA").is_err(), "short signature");
        assert!(
            key.verify("hello")
                .expect_err("not a code")
                .contains("not a Coliseum")
        );
        assert!(key.verify("").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = TicketKey::load_or_create(dir.path()).expect("created");
        let again = TicketKey::load_or_create(dir.path()).expect("loaded");
        assert_eq!(first.public_key(), again.public_key());
        let code = first.code("1", "2");
        assert_eq!(again.verify(&code), Ok(("1", "2")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(TICKET_KEY_FILE))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(TICKET_KEY_FILE), "not hex").expect("write");
        let err = TicketKey::load_or_create(dir.path()).expect_err("damaged");
        assert!(matches!(err, TicketKeyError::Damaged(_)), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(TICKET_KEY_FILE)).expect("read"),
            "not hex",
            "left as it was"
        );
    }

    #[test]
    fn instances_starting_at_once_agree_on_one_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shared").join("ticket.key");
        let keys: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| TicketKey::load_or_create_file(&path)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("a key").public_key())
                .collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["ticket.key"], "no file left aside");
    }
}
