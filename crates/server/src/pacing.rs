//! In-memory pacing per (room, user): slow mode and typing notices (rooms
//! issue). Neither needs to survive a restart: after one, a member may post
//! once more or be announced as typing once more.
//!
//! Memory is bounded: entries older than [`FORGET_AFTER`] are dropped
//! whenever the table passes [`PRUNE_AT`] entries, and no entry is needed
//! longer than the longest slow-mode interval (1 hour).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most one `typing` push per user and room per this interval.
pub(crate) const TYPING_INTERVAL: Duration = Duration::from_secs(3);

/// Entries older than this are useless (longest slow mode: 1 hour).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Table size that triggers a prune.
const PRUNE_AT: usize = 100_000;

/// Last time each (room, user id) did something paced.
#[derive(Debug, Default)]
pub(crate) struct Pacing {
    last: Mutex<HashMap<(String, String), Instant>>,
}

impl Pacing {
    /// Takes a turn for `user_id` in `room` if `interval` has passed since
    /// their last one (or they have none): `Ok(())` and the turn is
    /// recorded. Otherwise `Err(wait)`, how long until the next turn,
    /// and nothing is recorded.
    pub(crate) fn take(
        &self,
        room: &str,
        user_id: &str,
        interval: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (room.to_owned(), user_id.to_owned());
        if let Some(at) = last.get(&key) {
            let since = now.saturating_duration_since(*at);
            if since < interval {
                return Err(interval - since);
            }
        }
        if last.len() >= PRUNE_AT {
            last.retain(|_, at| now.saturating_duration_since(*at) < FORGET_AFTER);
        }
        last.insert(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_per_interval_per_room_and_user() {
        let pacing = Pacing::default();
        let t0 = Instant::now();
        let ten = Duration::from_secs(10);
        assert_eq!(pacing.take("r", "1", ten, t0), Ok(()));
        assert_eq!(
            pacing.take("r", "1", ten, t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(pacing.take("r", "2", ten, t0), Ok(()), "another user");
        assert_eq!(pacing.take("s", "1", ten, t0), Ok(()), "another room");
        assert_eq!(pacing.take("r", "1", ten, t0 + ten), Ok(()));
    }
}
