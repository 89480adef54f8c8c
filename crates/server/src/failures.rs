//! Failed logins counted by every instance together (issue 15): with
//! several instances (`ServerConfig::cluster`), each failed password check
//! is also counted in the store (`Store::record_login_failure`, a MongoDB
//! collection shared by all instances), per account and per address, so an
//! account attacked through three instances backs off as if through one —
//! also on an instance that started after the failures, or that missed the
//! bus's messages while NATS was down.
//!
//! The rules are the login back-off's own (`crate::throttle`: the same
//! thresholds, doubling and window); an instance refuses a check while
//! either its own counts (fed by its connections and by the bus) or the
//! store's say wait. Keys are `account:<lower-case username>` and
//! `address:<address key>` (an IPv6 address by its /64).
//!
//! Bounded waiting: reading the counts is limited to [`READ_TIMEOUT`],
//! counting a failure to [`WRITE_TIMEOUT`]; when the store is slow or down
//! the check goes on with the instance's own counts, and a failure it could
//! not record is logged at debug level (the login itself needs the store,
//! so it fails anyway then).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use coliseum_store::Store;

use crate::config::LoginThrottleConfig;
use crate::throttle::{address_key, delay};

/// Longest a password check waits to read the shared counts.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_millis(250);

/// Longest a failed check waits to count itself in the store.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The store and the rules (see the module docs).
pub(crate) struct SharedFailures {
    store: Arc<dyn Store>,
    cfg: LoginThrottleConfig,
}

/// The store key of an account (lower-cased username).
fn account_key(account: &str) -> String {
    format!("account:{}", account.to_ascii_lowercase())
}

/// The store key of an address (its limit key).
fn address_store_key(ip: IpAddr) -> String {
    format!("address:{}", address_key(ip))
}

/// The keys a check counts under: the address's, then the account's.
fn keys(ip: IpAddr, account: Option<&str>) -> Vec<String> {
    let mut keys = vec![address_store_key(ip)];
    keys.extend(account.map(account_key));
    keys
}

impl SharedFailures {
    /// Counts kept in `store` under the rules `cfg`.
    pub(crate) fn new(store: Arc<dyn Store>, cfg: LoginThrottleConfig) -> Self {
        Self { store, cfg }
    }

    /// How long a check for `account` from `ip` must still wait by the
    /// shared counts (zero when there are none, or when the store does not
    /// answer within [`READ_TIMEOUT`]).
    pub(crate) async fn wait(&self, ip: IpAddr, account: Option<&str>) -> Duration {
        let keys = keys(ip, account);
        let address = &keys[0];
        let found = match tokio::time::timeout(READ_TIMEOUT, self.store.login_failures(&keys)).await
        {
            Ok(Ok(found)) => found,
            Ok(Err(err)) => {
                tracing::debug!(%err, "could not read the shared login failures");
                return Duration::ZERO;
            }
            Err(_) => {
                tracing::debug!("the shared login failures did not answer in time");
                return Duration::ZERO;
            }
        };
        let now = coliseum_store::now();
        found
            .iter()
            .map(|(key, count)| {
                let threshold = if key == address {
                    self.cfg.address_threshold
                } else {
                    self.cfg.account_threshold
                };
                let since = (now - count.last).to_std().unwrap_or(Duration::ZERO);
                if since > self.cfg.window {
                    Duration::ZERO
                } else {
                    delay(count.failures, threshold, &self.cfg).saturating_sub(since)
                }
            })
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Counts a failed check for the address and the account.
    pub(crate) async fn failed(&self, ip: IpAddr, account: Option<&str>) {
        let now = coliseum_store::now();
        for key in keys(ip, account) {
            let counted = tokio::time::timeout(
                WRITE_TIMEOUT,
                self.store.record_login_failure(&key, now, self.cfg.window),
            )
            .await;
            if !matches!(counted, Ok(Ok(_))) {
                tracing::debug!(%key, "could not count a failed login in the store");
            }
        }
    }

    /// A successful login: the account's shared failures are forgotten.
    pub(crate) async fn succeeded(&self, account: &str) {
        let key = account_key(account);
        let cleared =
            tokio::time::timeout(WRITE_TIMEOUT, self.store.clear_login_failures(&key)).await;
        if !matches!(cleared, Ok(Ok(()))) {
            tracing::debug!(%key, "could not clear an account's failures in the store");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_kind_and_count_ipv6_by_network() {
        assert_eq!(account_key("Giulia.R"), "account:giulia.r");
        assert_eq!(
            address_store_key("127.0.0.1".parse().expect("ip")),
            "address:127.0.0.1"
        );
        // An IPv6 address counts by its /64, like the local back-off.
        assert_eq!(
            address_store_key("2001:db8::1".parse().expect("ip")),
            address_store_key("2001:db8::2".parse().expect("ip"))
        );
    }

    fn cfg() -> LoginThrottleConfig {
        LoginThrottleConfig {
            account_threshold: 3,
            address_threshold: 5,
            ..LoginThrottleConfig::default()
        }
    }

    #[tokio::test]
    async fn counts_from_the_store_make_a_check_wait_and_a_success_clears_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> =
            Arc::new(coliseum_store::SqliteStore::open(dir.path()).expect("open"));
        let failures = SharedFailures::new(Arc::clone(&store), cfg());
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let elsewhere: IpAddr = "198.51.100.1".parse().expect("ip");
        for _ in 0..2 {
            failures.failed(ip, Some("Anna")).await;
        }
        assert_eq!(failures.wait(elsewhere, Some("anna")).await, Duration::ZERO);
        failures.failed(ip, Some("anna")).await;
        // Third failure: the account waits from any address, and another
        // account from the same address does not (threshold 5 not reached).
        let wait = failures.wait(elsewhere, Some("ANNA")).await;
        assert!(
            wait > Duration::ZERO && wait <= cfg().backoff_base,
            "{wait:?}"
        );
        assert_eq!(failures.wait(ip, Some("marco")).await, Duration::ZERO);
        // A second instance's view of the same store agrees.
        let other = SharedFailures::new(Arc::clone(&store), cfg());
        assert!(other.wait(elsewhere, Some("anna")).await > Duration::ZERO);
        failures.succeeded("anna").await;
        assert_eq!(other.wait(elsewhere, Some("anna")).await, Duration::ZERO);
        store.close().await.expect("close");
    }
}
