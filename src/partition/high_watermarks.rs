//! Kafka's `replication-offset-checkpoint` (issue 13): each replicated
//! partition's high watermark, written for the log directory every
//! `replica.high.watermark.checkpoint.interval.ms` and at a clean shutdown,
//! so a restarted leader or follower starts from it (bounded by its log end)
//! rather than from 0: consumers of a restarted cluster read what was
//! committed before, even while the ISR is too small to move the watermark.
//! The same pass writes `log-start-offset-checkpoint` when it changed.

use super::ShardPartitions;
use std::rc::Rc;
use std::time::Duration;

impl ShardPartitions {
    /// Starts the periodic writes (until shutdown begins; the shutdown
    /// writes the last one). `interval_ms`:
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub fn start_high_watermark_checkpoints(self: &Rc<Self>, interval_ms: u64) {
        let partitions = Rc::downgrade(self);
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(Duration::from_millis(interval_ms.max(1))).await;
                let Some(partitions) = partitions.upgrade() else {
                    return;
                };
                if partitions.shutting_down.is_fired() {
                    return;
                }
                partitions.checkpoint_high_watermarks().await;
            }
        })
        .detach();
    }

    /// Names every replicated partition's high watermark in the directory's
    /// checkpoint, and writes the file when one of this shard's changed;
    /// returns how many changed. Writes `log-start-offset-checkpoint` too
    /// when a log start taken from a leader changed (`storage/log_start.rs`).
    pub async fn checkpoint_high_watermarks(&self) -> usize {
        if let Err(error) = self.storage.write_log_start_checkpoint_if_changed().await {
            log::warn!("log start checkpoint not written: {error}");
        }
        let mut changed = 0;
        for (topic, index, partition) in self.named() {
            let Some(high_watermark) = partition.replicated_bound() else {
                continue;
            };
            if self
                .storage
                .record_high_watermark(&topic, index, high_watermark)
            {
                changed += 1;
            }
        }
        if changed == 0 {
            return 0;
        }
        if let Err(error) = self.storage.write_high_watermark_checkpoint().await {
            log::warn!("high watermark checkpoint not written: {error}");
        }
        changed
    }
}
