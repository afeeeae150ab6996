//! What feeds a shard's metrics block from the shard's own state: the
//! per-shard task that copies gauges into it (storage: partitions, segments,
//! bytes, failed logs; connections; pending cross-shard calls; executor
//! stats; the offsets lag is computed from), and the stall probe.
//!
//! Gauges are copied on a timer rather than on scrape so that a scrape never
//! sends work into a shard's request channels; they are at most
//! [`GAUGE_REFRESH_INTERVAL_MS`] old.

use super::ShardContext;
use crate::metrics::lag::{CommittedEntry, LagInputs, LAG_SERIES_MAX};
use crate::metrics::ticker::every_interval_until_shutdown;
use crate::metrics::{install_local, stall, Registry, ShardMetrics};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// How often each shard copies its gauges.
pub const GAUGE_REFRESH_INTERVAL_MS: u64 = 500;

/// Makes the shard's block local to its thread and starts its refresh and
/// stall-probe tasks.
pub fn attach(ctx: &Rc<ShardContext>, registry: &Registry) {
    let Some(metrics) = registry.shard(ctx.shard_id) else {
        log::error!("shard {}: no metrics block", ctx.shard_id);
        return;
    };
    install_local(metrics.clone());
    spawn_refresh(ctx, metrics.clone());
    stall::spawn_probe(&ctx.lifecycle.shutting_down, metrics.clone());
}

/// Spawns the refresh loop of this shard; it ends when shutdown begins.
fn spawn_refresh(ctx: &Rc<ShardContext>, metrics: Arc<ShardMetrics>) {
    let ctx = ctx.clone();
    glommio::spawn_local(async move {
        refresh_once(&ctx, &metrics);
        let interval = Duration::from_millis(GAUGE_REFRESH_INTERVAL_MS);
        let shutting_down = ctx.lifecycle.shutting_down.clone();
        every_interval_until_shutdown(&shutting_down, interval, |_| refresh_once(&ctx, &metrics))
            .await;
    })
    .detach();
}

/// One copy of every gauge of the shard.
pub fn refresh_once(ctx: &ShardContext, metrics: &ShardMetrics) {
    let mut inputs = LagInputs::default();
    refresh_storage(ctx, metrics, &mut inputs);
    inputs.committed = committed_offsets(ctx);
    let gauges = &metrics.gauges;
    gauges
        .connections
        .set(ctx.lifecycle.connections.get() as u64);
    gauges
        .cross_shard_pending
        .set(ctx.router.pending_calls() as u64);
    gauges
        .recent_bytes
        .set(ctx.partitions.storage().recent_bytes() as u64);
    gauges
        .recent_room_bytes
        .set(ctx.partitions.storage().recent_limit() as u64);
    gauges
        .unwritten_bytes
        .set(ctx.partitions.storage().unwritten_bytes());
    gauges
        .fetch_sessions
        .set(ctx.fetch_sessions.borrow().len() as u64);
    refresh_executor(metrics);
    let mut published = metrics
        .lag_inputs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *published = inputs;
}

fn refresh_storage(ctx: &ShardContext, metrics: &ShardMetrics, inputs: &mut LagInputs) {
    let logs = ctx.partitions.storage().logs();
    let (mut segments, mut bytes, mut failed) = (0u64, 0u64, 0u64);
    for log in &logs {
        segments += log.segment_count() as u64;
        bytes += log.size_bytes();
        failed += u64::from(log.is_failed());
        if let Some((topic, partition)) = split_log_name(log.name()) {
            // Lag as Kafka counts it: from the high watermark (read bound).
            let high_watermark = ctx
                .partitions
                .get(topic, partition)
                .map_or(log.log_end_offset(), |p| p.read_bound());
            inputs
                .log_end_offsets
                .entry(topic.to_string())
                .or_default()
                .insert(partition, high_watermark);
        }
    }
    let gauges = &metrics.gauges;
    gauges.partitions.set(logs.len() as u64);
    gauges.segments.set(segments);
    gauges.log_bytes.set(bytes);
    gauges.failed_logs.set(failed);
}

/// `<topic>-<partition>` -> (topic, partition); topics may contain '-'.
fn split_log_name(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    Some((topic, partition.parse().ok()?))
}

fn committed_offsets(ctx: &ShardContext) -> Vec<CommittedEntry> {
    let offsets = &ctx.coordinator.offsets;
    let mut entries = Vec::new();
    for group in offsets.groups() {
        for (topic, partition, committed) in offsets.group_offsets(&group) {
            if entries.len() >= LAG_SERIES_MAX {
                return entries;
            }
            entries.push(CommittedEntry {
                group: group.clone(),
                topic,
                partition,
                offset: committed.offset,
            });
        }
    }
    entries
}

/// glommio hands out its executor stats and resets them, so each read is
/// the work done since the previous one.
fn refresh_executor(metrics: &ShardMetrics) {
    let stats = glommio::executor().executor_stats();
    let executor = &metrics.executor;
    executor
        .task_runtime_us
        .add(duration_us(stats.executor_runtime()));
    executor
        .total_runtime_us
        .add(duration_us(stats.total_runtime()));
    executor.tasks.add(stats.tasks_executed());
    executor.scheduler_runs.add(stats.scheduler_runs());
}

fn duration_us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::split_log_name;

    #[test]
    fn log_names_split_at_the_last_dash() {
        assert_eq!(split_log_name("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(split_log_name("t-0"), Some(("t", 0)));
        assert_eq!(split_log_name("nodash"), None);
        assert_eq!(split_log_name("t-x"), None);
    }
}
