//! Reactor stalls, measured as timer lateness: a probe task on each shard
//! sleeps [`REACTOR_PROBE_INTERVAL_MS`] and records how late it woke up.
//! A wake-up later than [`REACTOR_STALL_THRESHOLD_MS`] counts as a stall
//! (a task that did not yield, or the thread kept off its core).
//!
//! glommio's own stall detector cannot count: its `StallDetection` argument
//! is not exported by glommio 0.9, so a handler cannot override `stall`;
//! it would also arm a timerfd twice and clone a `String` on every
//! scheduler run. The probe costs one timer wake-up per interval.

use super::ticker::every_interval_until_shutdown;
use super::ShardMetrics;
use crate::local::notify::LocalEvent;
use std::sync::Arc;
use std::time::Duration;

/// How often each shard's probe wakes up.
pub const REACTOR_PROBE_INTERVAL_MS: u64 = 20;
/// Lateness from which a wake-up counts as a reactor stall.
pub const REACTOR_STALL_THRESHOLD_MS: u64 = 25;

/// Spawns this shard's probe; it ends when `shutting_down` fires.
pub fn spawn_probe(shutting_down: &LocalEvent, metrics: Arc<ShardMetrics>) {
    let shutting_down = shutting_down.clone();
    glommio::spawn_local(async move {
        let interval = Duration::from_millis(REACTOR_PROBE_INTERVAL_MS);
        every_interval_until_shutdown(&shutting_down, interval, |lateness| {
            record_wake_up(&metrics, lateness)
        })
        .await;
    })
    .detach();
}

/// Records how late one probe woke up.
pub fn record_wake_up(metrics: &ShardMetrics, lateness: Duration) {
    metrics.reactor_delay.observe(lateness);
    if lateness >= Duration::from_millis(REACTOR_STALL_THRESHOLD_MS) {
        metrics.reactor_stalls.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_late_wake_ups_count_as_stalls() {
        let metrics = ShardMetrics::new(0, 1);
        record_wake_up(&metrics, Duration::from_micros(300));
        record_wake_up(&metrics, Duration::from_millis(REACTOR_STALL_THRESHOLD_MS));
        record_wake_up(&metrics, Duration::from_millis(400));
        assert_eq!(metrics.reactor_stalls.get(), 2);
        assert_eq!(metrics.reactor_delay.count(), 3);
    }
}
