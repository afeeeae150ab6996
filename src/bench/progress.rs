//! One progress line per second while a run goes (to stderr), and the
//! per-second throughput timeline kept for the result and the chart.

use super::stats::{new_histogram, Counters, RunControl};
use super::workload::Workload;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Characters of the progress bar.
const BAR_WIDTH: usize = 20;
/// Bytes per megabyte in reported MB/s (decimal, as Kafka tools report).
pub const BYTES_PER_MB: f64 = 1_000_000.0;

/// What one second of the run looked like.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimelinePoint {
    /// Seconds since the first intended send (end of this interval).
    pub t_s: f64,
    /// Messages acknowledged per second.
    pub produce_msgs_per_s: f64,
    /// Megabytes acknowledged per second.
    pub produce_mb_per_s: f64,
    /// Messages consumed per second.
    pub consume_msgs_per_s: f64,
    /// Megabytes consumed per second.
    pub consume_mb_per_s: f64,
    /// p99 publish latency of this interval, ms.
    pub publish_p99_ms: f64,
    /// p99 end-to-end latency of this interval, ms.
    pub e2e_p99_ms: f64,
    /// Failed requests in this interval.
    pub errors: u64,
}

/// Collects tick counters from every executor and prints progress.
pub struct Progress {
    control: Arc<RunControl>,
    total_s: f64,
    warmup_s: f64,
    last_tick: Instant,
    timeline: Vec<TimelinePoint>,
}

impl Progress {
    /// Progress of a run of `workload` controlled by `control`.
    pub fn new(workload: &Workload, control: Arc<RunControl>) -> Self {
        Progress {
            control,
            total_s: (workload.warmup + workload.duration).as_secs_f64(),
            warmup_s: workload.warmup.as_secs_f64(),
            last_tick: Instant::now(),
            timeline: Vec::new(),
        }
    }

    /// Ticks when `every` has passed since the last tick.
    pub fn maybe_tick(&mut self, every: Duration) {
        if self.last_tick.elapsed() >= every {
            self.tick();
        }
    }

    /// Collects the interval's counters, prints a line, extends the timeline.
    pub fn tick(&mut self) {
        let interval_s = self.last_tick.elapsed().as_secs_f64().max(1e-3);
        self.last_tick = Instant::now();
        let mut counters = Counters::default();
        let mut publish = new_histogram();
        let mut e2e = new_histogram();
        for index in 0..self.control.stats.len() {
            let mut stats = self.control.stats(index);
            counters.add(&stats.tick);
            stats.tick = Counters::default();
            // Same bounds everywhere: adding cannot fail.
            let _ = publish.add(&stats.tick_publish);
            let _ = e2e.add(&stats.tick_e2e);
            stats.tick_publish.reset();
            stats.tick_e2e.reset();
        }
        let now_ns = self.control.clock.now_ns();
        let t_s = now_ns.saturating_sub(self.control.start_ns) as f64 / 1e9;
        let point = TimelinePoint {
            t_s,
            produce_msgs_per_s: counters.produced_msgs as f64 / interval_s,
            produce_mb_per_s: counters.produced_bytes as f64 / BYTES_PER_MB / interval_s,
            consume_msgs_per_s: counters.consumed_msgs as f64 / interval_s,
            consume_mb_per_s: counters.consumed_bytes as f64 / BYTES_PER_MB / interval_s,
            publish_p99_ms: publish.value_at_quantile(0.99) as f64 / 1000.0,
            e2e_p99_ms: e2e.value_at_quantile(0.99) as f64 / 1000.0,
            errors: counters.errors,
        };
        eprintln!("{}", self.line(&point));
        self.timeline.push(point);
    }

    fn line(&self, point: &TimelinePoint) -> String {
        let fraction = (point.t_s / self.total_s.max(1e-9)).clamp(0.0, 1.0);
        let filled = (fraction * BAR_WIDTH as f64).round() as usize;
        let bar: String = (0..BAR_WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let phase = if point.t_s < self.warmup_s {
            "warm-up"
        } else if point.t_s <= self.total_s {
            "measure"
        } else {
            "drain  "
        };
        format!(
            "[{bar}] {:>5.0}s/{:.0}s {phase} | produce {:>9.0} msg/s {:>8.2} MB/s | consume {:>9.0} msg/s | p99 publish {:>8.2} ms e2e {:>8.2} ms | errors {}",
            point.t_s,
            self.total_s,
            point.produce_msgs_per_s,
            point.produce_mb_per_s,
            point.consume_msgs_per_s,
            point.publish_p99_ms,
            point.e2e_p99_ms,
            point.errors
        )
    }

    /// The per-second timeline.
    pub fn into_timeline(self) -> Vec<TimelinePoint> {
        self.timeline
    }
}
