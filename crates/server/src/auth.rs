//! Passwords and session tokens.
//!
//! - Passwords are hashed with argon2id, m = 19,456 KiB, t = 2, p = 1 (the
//!   OWASP minimum), stored as PHC strings. Hashing takes tens of
//!   milliseconds of CPU and 19 MiB of working memory, so it runs on the
//!   hashing pool (`crate::hashing`): a fixed number of worker threads,
//!   each reusing its own working memory, verifications ahead of new
//!   hashes (a login storm queues instead of flooding anything).
//! - Verification recomputes the hash with the stored parameters and
//!   compares in constant time. Passwords and PHC strings are never
//!   logged, never audited and never sent back (tests: `tests/tests/logs.rs`,
//!   `security.rs`).
//! - A login for an unknown username still verifies against [`DUMMY_HASH`],
//!   so its timing matches a wrong password and does not reveal whether the
//!   username exists.
//! - A session token is 32 random bytes from the OS, hex-encoded (64
//!   characters). Only its SHA-256 (hex) is stored, so a leaked database
//!   does not leak live sessions.

use coliseum_protocol::ErrorBody;
use rand::TryRngCore as _;
use rand::rngs::OsRng;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::errors::internal;
use crate::hashing::{self, HashPool, Memory};

/// The hash of a random password nobody knows, with the production
/// parameters; verified against when the username does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRmb3JkdW1teQ$IS4XY0PsSe1Sr4mDlJ8XMwqxPfLf2rlXhNXRBgnEOeo";

/// Hashes `password` into a PHC string on the calling thread, with working
/// memory of its own (blocking; tens of ms of CPU). For one-off hashes
/// outside a running server (`admin add`); the server uses [`Passwords`].
///
/// # Errors
/// A message if the OS random source or argon2 fails.
pub(crate) fn hash_blocking(password: &str) -> Result<String, String> {
    hashing::hash_with(&mut Memory::default(), password.as_bytes())
}

/// Password hashing and verification on the hashing pool
/// (`crate::hashing`: a fixed number of workers, each reusing its own
/// working memory; verifications ahead of new hashes).
pub(crate) struct Passwords {
    pool: HashPool,
    /// Verifications started ([`crate::ServerStats::password_verifications`]).
    verifications: AtomicU64,
}

impl Passwords {
    /// A pool of `workers` (at least 1) hashing threads.
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            pool: HashPool::new(workers),
            verifications: AtomicU64::new(0),
        }
    }

    /// Verifications run so far.
    pub(crate) fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Hashes a new password (`register`, a password change): queued behind
    /// every waiting verification.
    ///
    /// # Errors
    /// `internal` if hashing fails.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, ErrorBody> {
        self.pool
            .hash(password.to_owned())
            .await
            .map_err(|e| internal("password hashing", e))
    }

    /// Verifies `password` against `phc`, or against [`DUMMY_HASH`] when
    /// `phc` is `None` (unknown user: same cost, always `false`). Queued
    /// ahead of every waiting new hash, so logins of existing users are not
    /// slowed by a registration flood.
    ///
    /// # Errors
    /// `internal` if the hashing workers are gone.
    pub(crate) async fn verify(
        &self,
        password: &str,
        phc: Option<&str>,
    ) -> Result<bool, ErrorBody> {
        let known = phc.is_some();
        let phc = phc.unwrap_or(DUMMY_HASH).to_owned();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let matched = self
            .pool
            .verify(password.to_owned(), phc)
            .await
            .map_err(|e| internal("password hashing", e))?;
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
    fn one_off_hashes_verify() {
        let phc = hash_blocking("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hashing::verify_with(
            &mut Memory::default(),
            b"correct horse",
            &phc
        ));
    }

    #[test]
    fn the_dummy_hash_has_the_production_cost() {
        use argon2::Params;
        use argon2::password_hash::PasswordHash;
        let parsed = PasswordHash::new(DUMMY_HASH).expect("valid PHC");
        let params = Params::try_from(&parsed).expect("params");
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (hashing::M_COST_KIB, hashing::T_COST, hashing::P_COST)
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
