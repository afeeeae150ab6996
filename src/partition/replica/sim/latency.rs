//! The latency of healthy acks=all answers: from the leader's append (or
//! its taking of a retry) to the answer, for batches appended once the
//! faults have stopped and the partition had [`SETTLED_AFTER_MS`] to
//! recover.
//!
//! Over the CI seeds it is 50 ms mean (p50 under 48 ms, p99 under 128 ms),
//! half the client's request timeout, with the fixed 10 ms fetch timer and
//! with the long poll alike: under the simulated load a leader nearly always
//! has new records when a fetch arrives, so neither loop waits much between
//! rounds. The median follows the network delay (a round is two messages
//! of 1 to 20 ms and an fsync, and an answer waits for the slowest ISR
//! member); the mean and the tail follow lost messages (a lost fetch or
//! answer stalls its follower until its fetch timeout). With messages of
//! 1 to 2 ms the long poll's median is under 16 ms, the timer's under 24.

use super::FAULTS_MS;
use std::fmt;

/// Batches appended this long after the faults stop count as healthy (the
/// restarts at the end of the faults elect a leader and refill the ISR
/// well within it).
pub(super) const SETTLED_AFTER_MS: u64 = 500;
/// Width of one histogram bucket.
const BUCKET_MS: u64 = 4;
/// Buckets; the last one takes everything beyond.
const BUCKETS_MAX: usize = 32;
/// ISR sizes told apart (a run has up to 5 replicas).
const ISR_SIZES_MAX: usize = 5;

/// A histogram of healthy acks=all answer latencies, in simulated ms.
#[derive(Clone, Copy, Default)]
pub struct AckLatency {
    /// Answers counted.
    pub count: u64,
    /// Their latencies' sum.
    pub sum_ms: u64,
    /// The longest.
    pub max_ms: u64,
    buckets: [u64; BUCKETS_MAX],
    /// Answers and their latencies' sum, by the ISR's size (index: size - 1):
    /// the slowest member paces an answer.
    by_isr: [(u64, u64); ISR_SIZES_MAX],
}

impl AckLatency {
    /// Counts an answer to a batch appended at `since_ms`, given at
    /// `now_ms` with `isr` in-sync replicas, if the partition was healthy
    /// by then.
    pub(super) fn record(&mut self, since_ms: u64, now_ms: u64, isr: usize) {
        if since_ms < FAULTS_MS + SETTLED_AFTER_MS {
            return;
        }
        let ms = now_ms - since_ms;
        self.count += 1;
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
        let bucket = ((ms / BUCKET_MS) as usize).min(BUCKETS_MAX - 1);
        self.buckets[bucket] += 1;
        let size = &mut self.by_isr[isr.clamp(1, ISR_SIZES_MAX) - 1];
        *size = (size.0 + 1, size.1 + ms);
    }

    /// Adds `other`'s answers.
    pub fn add(&mut self, other: &AckLatency) {
        self.count += other.count;
        self.sum_ms += other.sum_ms;
        self.max_ms = self.max_ms.max(other.max_ms);
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        for (mine, theirs) in self.by_isr.iter_mut().zip(other.by_isr) {
            *mine = (mine.0 + theirs.0, mine.1 + theirs.1);
        }
    }

    /// The upper bound of the bucket holding the `per_mille`th answer.
    pub fn quantile_ms(&self, per_mille: u64) -> u64 {
        let rank = (self.count * per_mille).div_ceil(1000).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return (i as u64 + 1) * BUCKET_MS;
            }
        }
        self.max_ms
    }

    /// The mean, in ms.
    pub fn mean_ms(&self) -> f64 {
        self.sum_ms as f64 / self.count.max(1) as f64
    }
}

impl fmt::Debug for AckLatency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ count: {}, mean_ms: {:.1}, p50_ms: <={}, p99_ms: <={}, max_ms: {}, \
             mean_ms_by_isr_size: [",
            self.count,
            self.mean_ms(),
            self.quantile_ms(500),
            self.quantile_ms(990),
            self.max_ms
        )?;
        for (i, (count, sum_ms)) in self.by_isr.iter().enumerate() {
            let mean_ms = *sum_ms as f64 / (*count).max(1) as f64;
            write!(f, " {}: {mean_ms:.1} ({count})", i + 1)?;
        }
        write!(f, " ] }}")
    }
}
