//! Passwords and session tokens.
//!
//! - Passwords are hashed with argon2id, m = 19,456 KiB, t = 2, p = 1 (the
//!   OWASP minimum), stored as PHC strings. Hashing takes tens of
//!   milliseconds of CPU, so it runs on tokio's blocking pool, and a
//!   semaphore bounds how many run at once (a login storm queues instead of
//!   flooding the pool and starving the store's blocking work).
//! - Verification is argon2's `verify_password`, which compares the
//!   computed hash in constant time. Passwords and PHC strings are never
//!   logged, never audited and never sent back (tests: `tests/tests/logs.rs`,
//!   `security.rs`).
//! - A login for an unknown username still verifies against [`DUMMY_HASH`],
//!   so its timing matches a wrong password and does not reveal whether the
//!   username exists.
//! - A session token is 32 random bytes from the OS, hex-encoded (64
//!   characters). Only its SHA-256 (hex) is stored, so a leaked database
//!   does not leak live sessions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use coliseum_protocol::ErrorBody;
use rand::TryRngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::errors::internal;

/// argon2 memory cost, KiB.
pub(crate) const M_COST_KIB: u32 = 19_456;
/// argon2 passes.
pub(crate) const T_COST: u32 = 2;
/// argon2 lanes.
pub(crate) const P_COST: u32 = 1;

/// The hash of a random password nobody knows, with the production
/// parameters; verified against when the username does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRmb3JkdW1teQ$IS4XY0PsSe1Sr4mDlJ8XMwqxPfLf2rlXhNXRBgnEOeo";

fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` into a PHC string (blocking; tens of ms of CPU).
///
/// # Errors
/// A message if the OS random source or argon2 fails.
pub(crate) fn hash_blocking(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| format!("OS random source: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("argon2: {e}"))
}

/// True when `password` matches the PHC string `phc` (blocking). A
/// malformed `phc` never matches.
pub(crate) fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Password hashing and verification off the async workers, at most
/// `concurrency` at once.
pub(crate) struct Passwords {
    permits: Arc<Semaphore>,
    /// Verifications started ([`crate::ServerStats::password_verifications`]).
    verifications: AtomicU64,
}

impl Passwords {
    /// Allows `concurrency` (at least 1) hashes at once.
    pub(crate) fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            verifications: AtomicU64::new(0),
        }
    }

    /// Verifications run so far.
    pub(crate) fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ErrorBody> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| internal("password hashing", e))?;
        // The permit moves into the closure: if the request is abandoned the
        // hash still counts against the limit until it really finishes.
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| internal("password hashing", e))
    }

    /// Hashes a new password.
    ///
    /// # Errors
    /// `internal` if hashing fails.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, ErrorBody> {
        let password = password.to_owned();
        self.run(move || hash_blocking(&password))
            .await?
            .map_err(|e| internal("password hashing", e))
    }

    /// Verifies `password` against `phc`, or against [`DUMMY_HASH`] when
    /// `phc` is `None` (unknown user: same cost, always `false`).
    ///
    /// # Errors
    /// `internal` if the blocking task fails.
    pub(crate) async fn verify(
        &self,
        password: &str,
        phc: Option<&str>,
    ) -> Result<bool, ErrorBody> {
        let password = password.to_owned();
        let known = phc.is_some();
        let phc = phc.unwrap_or(DUMMY_HASH).to_owned();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let matched = self.run(move || verify_blocking(&password, &phc)).await?;
        Ok(known && matched)
    }
}

/// A new session token and the SHA-256 hex of it (what the store keeps).
///
/// # Errors
/// `internal` if the OS random source fails.
pub(crate) fn new_token() -> Result<(String, String), ErrorBody> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| internal("session token", e))?;
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// SHA-256 hex of a session token, as stored by [`coliseum_store::Store::create_session`].
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_documented_parameters_and_verify() {
        let phc = hash_blocking("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking("correct horse", &phc));
        assert!(!verify_blocking("wrong horse", &phc));
        assert!(!verify_blocking("correct horse", "not a phc string"));
    }

    #[test]
    fn the_dummy_hash_has_the_production_cost() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("valid PHC");
        let params = Params::try_from(&parsed).expect("params");
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (M_COST_KIB, T_COST, P_COST)
        );
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let passwords = Passwords::new(1);
        assert!(!passwords.verify("anything", None).await.expect("verify"));
        let phc = passwords.hash("12345678").await.expect("hash");
        assert!(
            passwords
                .verify("12345678", Some(&phc))
                .await
                .expect("verify")
        );
    }

    #[test]
    fn tokens_are_64_hex_chars_and_only_their_hash_is_kept() {
        let (token, hash) = new_token().expect("token");
        assert_eq!(token.len(), 64);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hash, token_hash(&token));
        assert_ne!(hash, token);
        let (other, _) = new_token().expect("token");
        assert_ne!(token, other);
    }
}
