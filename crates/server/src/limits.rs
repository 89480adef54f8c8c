//! Flood control: the per-address connection cap, and token-bucket rates
//! (the per-user chat rate, the per-address registration rate). Both are bounded in memory: the cap's map holds one
//! entry per address with a live connection; the chat map drops buckets
//! that have refilled (a full bucket is the same as none).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::throttle::address_key;

/// Live connections per address (keyed by [`address_key`]), at most
/// `limit` each (`0` = no cap).
#[derive(Debug)]
pub(crate) struct ConnectionsPerIp {
    limit: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place under the per-address cap, given back on drop.
#[derive(Debug)]
pub(crate) struct IpSlot {
    owner: Option<(Arc<ConnectionsPerIp>, IpAddr)>,
}

impl ConnectionsPerIp {
    /// A cap of `limit` connections per address; `0` turns it off.
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `ip`, or `None` when that address
    /// already has `limit` connections.
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        if self.limit == 0 {
            return Some(IpSlot { owner: None });
        }
        let key = address_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            owner: Some((Arc::clone(self), key)),
        })
    }

    /// The cap (`0` = off).
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Addresses with at least one live connection (for tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let Some((owner, key)) = self.owner.take() else {
            return;
        };
        let mut counts = owner.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }
}

/// One key's allowance.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A rate per key (a user's chat messages, an address's registrations): a
/// token bucket of `burst` tokens per key, refilled at a steady rate; each
/// action takes one. A rate of 0: unlimited.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Tokens per second.
    rate: f64,
    /// The rule as configured, for messages: (count per period, burst;
    /// the burst is at least 1).
    rule: (u32, u32),
    state: Mutex<ChatState>,
}

#[derive(Debug)]
struct ChatState {
    buckets: HashMap<String, Bucket>,
    /// Size at which refilled buckets are next swept out.
    sweep_at: usize,
}

/// Buckets kept before the first sweep for refilled ones.
const FIRST_SWEEP: usize = 1024;

impl RateLimiter {
    /// `rate` actions per second (`0`: unlimited), bursts of `burst`
    /// (at least 1).
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        Self::per(rate, Duration::from_secs(1), burst)
    }

    /// `count` actions per `period` (`0`: unlimited), bursts of `burst`
    /// (at least 1).
    pub(crate) fn per(count: u32, period: Duration, burst: u32) -> Self {
        let rate = if period.is_zero() {
            0.0
        } else {
            f64::from(count) / period.as_secs_f64()
        };
        Self {
            rate,
            rule: (count, burst.max(1)),
            state: Mutex::new(ChatState {
                buckets: HashMap::new(),
                sweep_at: FIRST_SWEEP,
            }),
        }
    }

    /// The rule as configured: (count per period, `0` = unlimited; burst).
    pub(crate) fn rule(&self) -> (u32, u32) {
        self.rule
    }

    /// Takes one token of `key`'s bucket at `now`, or says how long until
    /// one is there.
    pub(crate) fn try_take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let rate = self.rate;
        let burst = f64::from(self.rule.1);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.buckets.contains_key(key) && state.buckets.len() >= state.sweep_at {
            // Refilled buckets carry no information: drop them. The next
            // sweep waits until the map has doubled, so sweeps stay O(1)
            // per message on average.
            state.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
            state.sweep_at = (state.buckets.len() * 2).max(FIRST_SWEEP);
        }
        let bucket = state.buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn the_cap_refuses_the_next_connection_and_frees_slots_on_drop() {
        let cap = ConnectionsPerIp::new(2);
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let first = cap.try_acquire(a).expect("1st");
        let _second = cap.try_acquire(a).expect("2nd");
        assert!(cap.try_acquire(a).is_none());
        let _other = cap.try_acquire(b).expect("another address");
        drop(first);
        let _third = cap.try_acquire(a).expect("a slot freed");
        assert!(cap.try_acquire(a).is_none());
    }

    #[test]
    fn the_cap_forgets_addresses_without_connections_and_zero_is_off() {
        let cap = ConnectionsPerIp::new(1);
        let slots: Vec<_> = (0..100_u8)
            .map(|i| cap.try_acquire(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i))))
            .collect();
        assert_eq!(cap.tracked(), 100);
        drop(slots);
        assert_eq!(cap.tracked(), 0);
        let off = ConnectionsPerIp::new(0);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let many: Vec<_> = (0..1000).map(|_| off.try_acquire(ip)).collect();
        assert!(many.iter().all(Option::is_some));
        assert_eq!(off.tracked(), 0);
    }

    #[test]
    fn a_bucket_allows_the_burst_then_the_rate() {
        let chat = RateLimiter::new(5, 20);
        let t0 = Instant::now();
        for _ in 0..20 {
            chat.try_take("u1", t0).expect("burst");
        }
        let wait = chat.try_take("u1", t0).expect_err("empty");
        assert_eq!(wait, Duration::from_millis(200));
        // Another user has their own bucket.
        chat.try_take("u2", t0).expect("own bucket");
        // 200 ms later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(200);
        chat.try_take("u1", t1).expect("refilled");
        assert!(chat.try_take("u1", t1).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..20 {
            chat.try_take("u1", t2).expect("burst again");
        }
        assert!(chat.try_take("u1", t2).is_err());
    }

    #[test]
    fn rate_zero_is_unlimited() {
        let chat = RateLimiter::new(0, 1);
        let now = Instant::now();
        for _ in 0..10_000 {
            chat.try_take("u", now).expect("unlimited");
        }
    }

    #[test]
    fn refilled_buckets_are_swept_so_the_map_stays_bounded() {
        let chat = RateLimiter::new(5, 1);
        let t0 = Instant::now();
        for i in 0..50_000_u32 {
            // Each user posts once; a second later their bucket is full again.
            let now = t0 + Duration::from_secs(u64::from(i / 1000));
            chat.try_take(&format!("user{i}"), now)
                .expect("first message");
        }
        let len = chat
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len();
        assert!(len <= 2 * FIRST_SWEEP, "{len} buckets kept");
    }
}
