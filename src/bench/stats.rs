//! Measurement state: the run clock, the shared phase, and per-executor
//! histograms and counters that the progress reporter reads once a second.
//!
//! Each executor owns one `Mutex<ExecutorStats>`; only its own tasks lock it
//! (once per answer, not per record) and the reporter locks it once a second,
//! so the lock is practically uncontended.

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Highest latency a histogram holds (larger values are clamped): 10 minutes.
pub const LATENCY_MAX_US: u64 = 600_000_000;
/// Significant decimal digits kept by every histogram.
pub const HISTOGRAM_SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, HISTOGRAM_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Wall-clock nanoseconds that advance monotonically within the process: the
/// payload carries wall time (so a consumer elsewhere can use it) while
/// intervals here never jump with clock adjustments.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor: Instant,
    anchor_wall_ns: u64,
}

impl Clock {
    /// A clock anchored now.
    pub fn new() -> Self {
        let anchor_wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Clock {
            anchor: Instant::now(),
            anchor_wall_ns,
        }
    }

    /// Wall-clock nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        self.anchor_wall_ns + self.anchor.elapsed().as_nanos() as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts of one kind of traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages acknowledged by the broker (or sent, with acks=0).
    pub produced_msgs: u64,
    /// Payload bytes of those.
    pub produced_bytes: u64,
    /// Record batch bytes of those as sent (after compression, with batch
    /// and record headers); only the measured window keeps it.
    pub produced_wire_bytes: u64,
    /// Messages consumed.
    pub consumed_msgs: u64,
    /// Payload bytes of those.
    pub consumed_bytes: u64,
    /// Failed requests (error code, broken connection, malformed answer).
    pub errors: u64,
    /// Messages in failed produce requests.
    pub failed_msgs: u64,
    /// Requests sent again after a retriable error (the harness does not retry: 0).
    pub retries: u64,
}

impl Counters {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counters) {
        self.produced_msgs += other.produced_msgs;
        self.produced_bytes += other.produced_bytes;
        self.produced_wire_bytes += other.produced_wire_bytes;
        self.consumed_msgs += other.consumed_msgs;
        self.consumed_bytes += other.consumed_bytes;
        self.errors += other.errors;
        self.failed_msgs += other.failed_msgs;
        self.retries += other.retries;
    }
}

/// What one executor measured.
#[derive(Debug)]
pub struct ExecutorStats {
    /// Publish latency (intended send to ack) of measured records, in µs.
    pub publish: Histogram<u64>,
    /// End-to-end latency (payload timestamp to consume) of measured records, in µs.
    pub e2e: Histogram<u64>,
    /// Publish latency since the last progress tick.
    pub tick_publish: Histogram<u64>,
    /// End-to-end latency since the last progress tick.
    pub tick_e2e: Histogram<u64>,
    /// Counts of records sent inside the measured window.
    pub measured: Counters,
    /// Counts since the last progress tick, whatever the window.
    pub tick: Counters,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

impl Default for ExecutorStats {
    fn default() -> Self {
        ExecutorStats {
            publish: new_histogram(),
            e2e: new_histogram(),
            tick_publish: new_histogram(),
            tick_e2e: new_histogram(),
            measured: Counters::default(),
            tick: Counters::default(),
            first_error: None,
        }
    }
}

impl ExecutorStats {
    /// Counts a failed request of `msgs` messages and keeps the first message.
    pub fn record_error(&mut self, msgs: u64, message: String, measured: bool) {
        self.tick.errors += 1;
        self.tick.failed_msgs += msgs;
        if measured {
            self.measured.errors += 1;
            self.measured.failed_msgs += msgs;
        }
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }
}

/// Shared state of a run: the clock, the measured window, and stop signals.
#[derive(Debug)]
pub struct RunControl {
    /// The run's clock.
    pub clock: Clock,
    /// Wall ns when producing starts.
    pub start_ns: u64,
    /// Wall ns when warm-up ends and measuring starts.
    pub measure_start_ns: u64,
    /// Wall ns when producing stops.
    pub end_ns: u64,
    /// Producers still running.
    pub producers_running: AtomicUsize,
    /// Consumers still running.
    pub consumers_running: AtomicUsize,
    /// Messages acknowledged in the whole run (for the consumers' drain).
    pub produced_total: AtomicU64,
    /// Messages consumed in the whole run.
    pub consumed_total: AtomicU64,
    /// Wall ns of the last fetch that returned records (drain time in backlog mode).
    pub last_consume_ns: AtomicU64,
    /// Set when the run must end at once (a fatal error).
    pub abort: AtomicBool,
    /// One stats block per executor.
    pub stats: Vec<Mutex<ExecutorStats>>,
}

impl RunControl {
    /// A run that produces from `start_ns` on for warm-up plus duration.
    pub fn new(
        clock: Clock,
        start_ns: u64,
        warmup_ns: u64,
        duration_ns: u64,
        executors: usize,
    ) -> Arc<Self> {
        Arc::new(RunControl {
            clock,
            start_ns,
            measure_start_ns: start_ns + warmup_ns,
            end_ns: start_ns + warmup_ns + duration_ns,
            producers_running: AtomicUsize::new(0),
            consumers_running: AtomicUsize::new(0),
            produced_total: AtomicU64::new(0),
            consumed_total: AtomicU64::new(0),
            last_consume_ns: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            stats: (0..executors).map(|_| Mutex::default()).collect(),
        })
    }

    /// Whether a record sent at `send_ns` falls in the measured window.
    pub fn measured(&self, send_ns: u64) -> bool {
        send_ns >= self.measure_start_ns && send_ns < self.end_ns
    }

    /// Executor `index`'s stats; a poisoned lock still yields the data.
    pub fn stats(&self, index: usize) -> MutexGuard<'_, ExecutorStats> {
        let slot = &self.stats[index % self.stats.len()];
        slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the run was aborted.
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_excludes_warmup_and_the_tail() {
        let control = RunControl::new(Clock::new(), 1_000, 500, 1_000, 1);
        assert!(!control.measured(1_499));
        assert!(control.measured(1_500));
        assert!(control.measured(2_499));
        assert!(!control.measured(2_500));
    }

    #[test]
    fn histograms_clamp_instead_of_failing() {
        let mut h = new_histogram();
        h.saturating_record(LATENCY_MAX_US * 10);
        assert_eq!(h.len(), 1);
        assert!(h.max() >= LATENCY_MAX_US);
    }
}
