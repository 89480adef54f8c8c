//! Login back-off across connections, per account and per address
//! (rules: [`LoginThrottleConfig`]). The per-connection limit lives on the
//! connection (`ConnState::failed_password_checks`).
//!
//! Failures are counted when a check completes, so concurrent checks that
//! all started before the limit was reached are still evaluated (at most one
//! per open connection: a connection answers its requests one at a time).
//!
//! Memory is bounded: each map holds at most `max_tracked` keys. When a new
//! key does not fit, keys forgotten by the window are purged; if that frees
//! less than an eighth of the room, the stalest eighth goes too, so the
//! O(n) sweep happens at most once per `max_tracked / 8` new keys.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::LoginThrottleConfig;

/// Failures of one key.
#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// Failure counts of one kind of key, bounded.
#[derive(Debug)]
struct Tracker<K> {
    threshold: u32,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Tracker<K> {
    fn new(threshold: u32) -> Self {
        Self {
            threshold,
            entries: HashMap::new(),
        }
    }

    /// How long `key` must still wait at `now` (zero: may try).
    fn wait<Q>(&self, key: &Q, now: Instant, cfg: &LoginThrottleConfig) -> Duration
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(entry) = self.entries.get(key) else {
            return Duration::ZERO;
        };
        let since = now.saturating_duration_since(entry.last);
        if since > cfg.window {
            return Duration::ZERO;
        }
        delay(entry.failures, self.threshold, cfg).saturating_sub(since)
    }

    fn failed(&mut self, key: K, now: Instant, cfg: &LoginThrottleConfig) {
        if !self.entries.contains_key(&key) && self.entries.len() >= cfg.max_tracked.max(1) {
            self.make_room(now, cfg);
        }
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            last: now,
        });
        if now.saturating_duration_since(entry.last) > cfg.window {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = entry.last.max(now);
    }

    fn forget<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.remove(key);
    }

    fn make_room(&mut self, now: Instant, cfg: &LoginThrottleConfig) {
        let cap = cfg.max_tracked.max(1);
        let keep = cap - cap.div_ceil(8);
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last) <= cfg.window);
        if self.entries.len() <= keep {
            return;
        }
        let mut lasts: Vec<Instant> = self.entries.values().map(|e| e.last).collect();
        let excess = self.entries.len() - keep;
        let (_, cutoff, _) = lasts.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        let mut removed = 0;
        self.entries.retain(|_, e| {
            if removed < excess && e.last <= cutoff {
                removed += 1;
                false
            } else {
                true
            }
        });
    }
}

/// The back-off after `failures` failures: zero below `threshold`, then
/// `base × 2^(failures − threshold)`, at most `max`.
pub(crate) fn delay(failures: u32, threshold: u32, cfg: &LoginThrottleConfig) -> Duration {
    if failures < threshold.max(1) {
        return Duration::ZERO;
    }
    let doublings = failures - threshold.max(1);
    let factor = 1_u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX);
    cfg.backoff_base
        .checked_mul(factor)
        .unwrap_or(Duration::MAX)
        .min(cfg.backoff_max)
}

/// The key of an address for limits: an IPv4 address as is (also when
/// written IPv4-mapped in IPv6), an IPv6 address by its /64 network, which
/// one host or household usually gets whole.
#[must_use]
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[derive(Debug)]
struct Maps {
    accounts: Tracker<String>,
    addresses: Tracker<IpAddr>,
}

/// Per-account and per-address login back-off. See the module docs.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    cfg: LoginThrottleConfig,
    maps: Mutex<Maps>,
}

impl LoginThrottle {
    /// An empty throttle with the given rules.
    pub(crate) fn new(cfg: LoginThrottleConfig) -> Self {
        let maps = Maps {
            accounts: Tracker::new(cfg.account_threshold),
            addresses: Tracker::new(cfg.address_threshold),
        };
        Self {
            cfg,
            maps: Mutex::new(maps),
        }
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long a password check for `account` (a lower-cased username,
    /// `None` when the name cannot exist) from `ip` must still wait; zero
    /// when it may be evaluated now.
    pub(crate) fn wait(&self, ip: IpAddr, account: Option<&str>, now: Instant) -> Duration {
        let maps = self.maps();
        let by_address = maps.addresses.wait(&address_key(ip), now, &self.cfg);
        let by_account = account.map_or(Duration::ZERO, |a| maps.accounts.wait(a, now, &self.cfg));
        by_address.max(by_account)
    }

    /// Records a failed check.
    pub(crate) fn failed(&self, ip: IpAddr, account: Option<&str>, now: Instant) {
        let mut maps = self.maps();
        maps.addresses.failed(address_key(ip), now, &self.cfg);
        if let Some(account) = account {
            maps.accounts.failed(account.to_owned(), now, &self.cfg);
        }
    }

    /// Records a successful login: the account's failures are forgotten.
    pub(crate) fn succeeded(&self, account: &str) {
        self.maps().accounts.forget(account);
    }

    /// Keys remembered (accounts, addresses), for tests.
    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let maps = self.maps();
        (maps.accounts.entries.len(), maps.addresses.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SEC: Duration = Duration::from_secs(1);

    fn cfg() -> LoginThrottleConfig {
        LoginThrottleConfig {
            account_threshold: 5,
            address_threshold: 20,
            ..LoginThrottleConfig::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn delay_doubles_from_the_threshold_and_is_capped() {
        let cfg = cfg();
        let delays: Vec<u64> = (0..=16).map(|f| delay(f, 5, &cfg).as_secs()).collect();
        assert_eq!(
            delays,
            [
                0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300
            ]
        );
        assert_eq!(delay(u32::MAX, 5, &cfg), cfg.backoff_max);
    }

    #[test]
    fn an_account_backs_off_after_five_failures_and_success_resets_it() {
        let throttle = LoginThrottle::new(cfg());
        let t0 = Instant::now();
        for i in 0..4 {
            throttle.failed(ip(i), Some("anna"), t0);
            assert_eq!(throttle.wait(ip(9), Some("anna"), t0), Duration::ZERO);
        }
        throttle.failed(ip(4), Some("anna"), t0);
        // From any address: the account is what is limited.
        assert_eq!(throttle.wait(ip(9), Some("anna"), t0), SEC);
        assert_eq!(
            throttle.wait(ip(9), Some("anna"), t0 + SEC / 4),
            SEC * 3 / 4
        );
        assert_eq!(throttle.wait(ip(9), Some("anna"), t0 + SEC), Duration::ZERO);
        assert_eq!(throttle.wait(ip(9), Some("marco"), t0), Duration::ZERO);
        throttle.failed(ip(9), Some("anna"), t0 + SEC);
        assert_eq!(throttle.wait(ip(9), Some("anna"), t0 + SEC), 2 * SEC);
        throttle.failed(ip(9), Some("anna"), t0 + 3 * SEC);
        assert_eq!(throttle.wait(ip(9), Some("anna"), t0 + 3 * SEC), 4 * SEC);
        throttle.succeeded("anna");
        assert_eq!(
            throttle.wait(ip(9), Some("anna"), t0 + 3 * SEC),
            Duration::ZERO
        );
    }

    #[test]
    fn an_address_backs_off_across_accounts_and_success_does_not_reset_it() {
        let throttle = LoginThrottle::new(cfg());
        let t0 = Instant::now();
        for i in 0..20 {
            throttle.failed(ip(1), Some(&format!("user{i}")), t0);
        }
        assert_eq!(throttle.wait(ip(1), Some("fresh"), t0), SEC);
        assert_eq!(throttle.wait(ip(1), None, t0), SEC);
        assert_eq!(throttle.wait(ip(2), Some("fresh"), t0), Duration::ZERO);
        throttle.succeeded("mine");
        assert_eq!(throttle.wait(ip(1), Some("mine"), t0), SEC);
    }

    #[test]
    fn failures_are_forgotten_after_the_window() {
        let cfg = cfg();
        let window = cfg.window;
        let throttle = LoginThrottle::new(cfg);
        let t0 = Instant::now();
        for _ in 0..5 {
            throttle.failed(ip(1), Some("anna"), t0);
        }
        assert_eq!(throttle.wait(ip(1), Some("anna"), t0), SEC);
        let later = t0 + window + SEC;
        assert_eq!(throttle.wait(ip(1), Some("anna"), later), Duration::ZERO);
        // The next failure starts a fresh count: no back-off yet.
        throttle.failed(ip(1), Some("anna"), later);
        assert_eq!(throttle.wait(ip(1), Some("anna"), later), Duration::ZERO);
    }

    #[test]
    fn the_maps_never_grow_past_their_cap() {
        let throttle = LoginThrottle::new(LoginThrottleConfig {
            max_tracked: 64,
            ..cfg()
        });
        let t0 = Instant::now();
        for i in 0..10_000_u32 {
            let [a, b, c, d] = i.to_be_bytes();
            let addr = IpAddr::V4(Ipv4Addr::new(10, b ^ a, c, d));
            throttle.failed(
                addr,
                Some(&format!("user{i}")),
                t0 + Duration::from_millis(i.into()),
            );
            let (accounts, addresses) = throttle.tracked();
            assert!(accounts <= 64 && addresses <= 64, "{accounts} {addresses}");
        }
        // The newest key survived the sweeps.
        let now = t0 + Duration::from_millis(10_000);
        for _ in 0..4 {
            throttle.failed(ip(7), Some("user9999"), now);
        }
        assert_eq!(throttle.wait(ip(8), Some("user9999"), now), SEC);
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64_bit_network() {
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().expect("v6");
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::9".parse().expect("v6");
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().expect("v6");
        assert_eq!(address_key(a.into()), address_key(b.into()));
        assert_ne!(address_key(a.into()), address_key(c.into()));
        let mapped: Ipv6Addr = "::ffff:192.0.2.7".parse().expect("v6");
        assert_eq!(address_key(mapped.into()), ip(7));
    }
}
