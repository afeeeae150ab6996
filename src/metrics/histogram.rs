//! Counters and fixed-bucket latency histograms written by one shard thread
//! and read by the scrape thread.
//!
//! Each value has a single writer (the shard that owns the block), so an
//! increment is a relaxed load and store: no locked instruction on the hot
//! path. Readers see each value torn-free (atomics), though a scrape may see
//! a histogram's buckets and its sum a few increments apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds (Prometheus `le`).
pub const LATENCY_BUCKET_BOUNDS_US: [u64; LATENCY_BUCKETS] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
/// Number of finite latency buckets (the `+Inf` bucket is extra).
pub const LATENCY_BUCKETS: usize = 17;
const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// A monotonically increasing count with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning shard thread calls this.
    #[inline]
    pub fn add(&self, n: u64) {
        let value = self.0.load(Ordering::Relaxed);
        self.0.store(value.wrapping_add(n), Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down, set whole by its writer.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Replaces the value.
    #[inline]
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Latencies in fixed buckets ([`LATENCY_BUCKET_BOUNDS_US`] and `+Inf`).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per-bucket (not cumulative) counts; the last one is `+Inf`.
    buckets: [Counter; LATENCY_BUCKETS + 1],
    sum_us: Counter,
}

/// A copy of a histogram, buckets made cumulative as Prometheus wants them.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Observations at or below each bound; the last entry is `+Inf` (= count).
    pub cumulative: [u64; LATENCY_BUCKETS + 1],
    /// Sum of all observations, in seconds.
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.cumulative[LATENCY_BUCKETS]
    }
}

impl LatencyHistogram {
    /// Records one observation: one bucket increment and one sum increment.
    #[inline]
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKET_BOUNDS_US.partition_point(|&bound| bound < micros);
        self.buckets[bucket].inc();
        self.sum_us.add(micros);
    }

    /// Number of observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(Counter::get).sum()
    }

    /// A cumulative copy for the text writer.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = [0u64; LATENCY_BUCKETS + 1];
        let mut running = 0u64;
        for (slot, bucket) in cumulative.iter_mut().zip(self.buckets.iter()) {
            running = running.wrapping_add(bucket.get());
            *slot = running;
        }
        HistogramSnapshot {
            cumulative,
            sum_seconds: self.sum_us.get() as f64 / MICROS_PER_SECOND,
        }
    }
}

/// The `le` label of bucket `index` (`+Inf` past the last bound).
pub fn bucket_label(index: usize) -> String {
    match LATENCY_BUCKET_BOUNDS_US.get(index) {
        Some(&micros) => format!("{}", micros as f64 / MICROS_PER_SECOND),
        None => "+Inf".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_is_not_below_them() {
        let histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_micros(50)); // le=0.00005 (inclusive bound)
        histogram.observe(Duration::from_micros(51)); // le=0.0001
        histogram.observe(Duration::from_secs(60)); // +Inf only
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.cumulative[0], 1);
        assert_eq!(snapshot.cumulative[1], 2);
        assert_eq!(snapshot.cumulative[LATENCY_BUCKETS - 1], 2);
        assert_eq!(snapshot.count(), 3);
        assert!((snapshot.sum_seconds - 60.000101).abs() < 1e-9);
    }

    #[test]
    fn cumulative_counts_never_decrease() {
        let histogram = LatencyHistogram::default();
        for micros in [10, 300, 300, 7_000, 2_000_000] {
            histogram.observe(Duration::from_micros(micros));
        }
        let snapshot = histogram.snapshot();
        assert!(snapshot.cumulative.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(snapshot.count(), 5);
    }

    #[test]
    fn bucket_labels_are_seconds_and_end_with_inf() {
        assert_eq!(bucket_label(0), "0.00005");
        assert_eq!(bucket_label(4), "0.001");
        assert_eq!(bucket_label(LATENCY_BUCKETS - 1), "10");
        assert_eq!(bucket_label(LATENCY_BUCKETS), "+Inf");
    }

    #[test]
    fn bounds_are_strictly_increasing() {
        assert!(LATENCY_BUCKET_BOUNDS_US.windows(2).all(|w| w[0] < w[1]));
    }
}
