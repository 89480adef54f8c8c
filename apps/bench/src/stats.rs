//! Statistics pieces: latency histograms (HdrHistogram, microsecond
//! resolution), their summaries as reported, rates, and the send-time stamp
//! that chat messages carry so receivers can compute end-to-end latency.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency a histogram records: one hour, in microseconds. Longer
/// values are clamped to it (`saturating_record`).
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant digits (0.1 %
/// relative error), from 1 µs to one hour.
#[derive(Debug, Clone)]
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram.
    #[must_use]
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts (low ≥ 1,
        // high ≥ 2·low, sigfig ≤ 5); the fallback is never taken.
        let hist = Histogram::new_with_bounds(1, MAX_MICROS, 3)
            .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()));
        Self { hist }
    }

    /// Records one latency (rounded down to whole microseconds, at least 1).
    pub fn record(&mut self, latency: Duration) {
        self.record_micros(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records one latency given in microseconds (clamped to 1 µs..1 h).
    pub fn record_micros(&mut self, micros: u64) {
        self.hist.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Adds every value of `other` to this histogram.
    pub fn merge(&mut self, other: &Self) {
        // Same bounds on both sides, so adding cannot fail; if it ever did,
        // the values would be missing from the report, not invented.
        let _ = self.hist.add(&other.hist);
    }

    /// How many values were recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The reported summary, in milliseconds.
    #[must_use]
    pub fn summary(&self) -> LatencySummary {
        let ms = |micros: u64| micros as f64 / 1000.0;
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.hist.len(),
            p50_ms: ms(self.hist.value_at_quantile(0.50)),
            p90_ms: ms(self.hist.value_at_quantile(0.90)),
            p99_ms: ms(self.hist.value_at_quantile(0.99)),
            p999_ms: ms(self.hist.value_at_quantile(0.999)),
            max_ms: ms(self.hist.max()),
            mean_ms: self.hist.mean() / 1000.0,
        }
    }
}

/// Percentiles of a [`Latencies`] histogram, milliseconds (HdrHistogram
/// values: each within 0.1 % of the true value). All zero when empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest value.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl std::fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            self.p50_ms, self.p99_ms, self.max_ms, self.count
        )
    }
}

/// `count / secs`, or 0 when no time passed.
#[must_use]
pub fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// The process-wide monotonic time base that send stamps count from. The
/// bench is one process, so senders and receivers share it and their
/// clocks cannot disagree.
#[must_use]
pub fn time_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Nanoseconds from [`time_base`] to `at` (0 if `at` is earlier).
#[must_use]
pub fn stamp_of(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(time_base()).as_nanos()).unwrap_or(u64::MAX)
}

/// The text of a fan-out chat message: `"<tag> <sender> <seq> <stamp_ns>"`,
/// where `stamp_ns` is the send time as nanoseconds since [`time_base`].
/// The run's unique `tag` lets receivers ignore anyone else's messages.
#[must_use]
pub fn stamp_text(tag: &str, sender: usize, seq: u64, stamp_ns: u64) -> String {
    format!("{tag} {sender} {seq} {stamp_ns}")
}

/// The send stamp (ns since [`time_base`]) of a message written by
/// [`stamp_text`] with this `tag`; `None` for any other text.
#[must_use]
pub fn parse_stamp(text: &str, tag: &str) -> Option<u64> {
    let rest = text.strip_prefix(tag)?.strip_prefix(' ')?;
    let mut fields = rest.split(' ');
    let _sender = fields.next()?;
    let _seq = fields.next()?;
    let stamp = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some(stamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut lat = Latencies::new();
        for ms in 1..=100u64 {
            lat.record(Duration::from_millis(ms));
        }
        let s = lat.summary();
        assert_eq!(s.count, 100);
        // HdrHistogram keeps 3 significant digits: within 0.1 %.
        assert!((s.p50_ms - 50.0).abs() <= 0.06, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() <= 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() <= 0.1, "{s:?}");
        assert!((s.mean_ms - 50.5).abs() <= 0.1, "{s:?}");
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_extremes() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_secs(2));
        b.record(Duration::ZERO); // clamped to 1 µs, still counted
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert!((a.summary().max_ms - 2000.0).abs() < 2.0);
    }

    #[test]
    fn empty_histogram_summarizes_to_zeros_and_huge_values_clamp() {
        assert_eq!(Latencies::new().summary(), LatencySummary::default());
        let mut lat = Latencies::new();
        lat.record(Duration::from_secs(10 * 3600));
        assert!((lat.summary().max_ms - 3_600_000.0).abs() / 3_600_000.0 < 0.001);
    }

    #[test]
    fn stamps_round_trip_and_foreign_texts_are_ignored() {
        let text = stamp_text("bk1a2b3c", 7, 42, 123_456_789);
        assert_eq!(text, "bk1a2b3c 7 42 123456789");
        assert_eq!(parse_stamp(&text, "bk1a2b3c"), Some(123_456_789));
        assert_eq!(parse_stamp(&text, "bk1a2b3"), None, "tag must match whole");
        assert_eq!(parse_stamp("hello everyone", "bk1a2b3c"), None);
        assert_eq!(parse_stamp("bk1a2b3c 7 42 x", "bk1a2b3c"), None);
        assert_eq!(parse_stamp("bk1a2b3c 7 42 1 extra", "bk1a2b3c"), None);
    }

    #[test]
    fn stamps_are_monotonic_from_the_shared_base() {
        let before = stamp_of(Instant::now());
        let after = stamp_of(Instant::now() + Duration::from_millis(5));
        assert!(after >= before + 5_000_000);
        assert_eq!(stamp_of(time_base()), 0);
    }

    #[test]
    fn rates_guard_against_zero_time() {
        assert!((per_sec(500, 0.5) - 1000.0).abs() < f64::EPSILON);
        assert!(per_sec(5, 0.0).abs() < f64::EPSILON);
    }
}
