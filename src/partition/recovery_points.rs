//! Advancing the partitions' recovery points (`storage::recovery_point`),
//! so that a start after a crash checks only what was written since the
//! last one, and a start after a clean stop checks nothing.
//!
//! A pass every [`RECOVERY_POINT_CHECK_INTERVAL_MS`] picks the partitions
//! whose recovery point is due (many bytes past it, or some bytes and
//! older than `log.flush.offset.checkpoint.interval.ms`), the largest
//! first and at most [`RECOVERY_POINTS_PER_PASS_MAX`]. For each: the log
//! end is captured, the log is fdatasynced up to there and its active
//! segment's index files written. Then the checkpoint file names the new
//! recovery points. A clean shutdown does the same for every partition
//! once storage closed them.

use super::{Partition, ShardPartitions};
use crate::storage::{RecoveryCapture, StorageError};
use std::rc::Rc;
use std::time::Duration;

/// How often the partitions are looked at.
pub const RECOVERY_POINT_CHECK_INTERVAL_MS: u64 = 250;
/// Partitions given a new recovery point in one pass, at most.
pub const RECOVERY_POINTS_PER_PASS_MAX: usize = 32;
/// Partitions persisting their recovery point at the same time.
const RECOVERY_POINTS_IN_FLIGHT_MAX: usize = 8;

/// A partition named by topic and index.
pub(super) type Named = (String, i32, Rc<Partition>);

impl Partition {
    /// Captures the log end and persists it as a recovery point to be: the
    /// log synced and indexed up to there. `None` when the log cannot have
    /// one now (failed, or rolling back refused batches).
    async fn persist_recovery_point(&self) -> Result<Option<RecoveryCapture>, StorageError> {
        let Some(capture) = self.log.capture_recovery_point() else {
            return Ok(None);
        };
        self.log.persist_recovery_point(&capture).await?;
        Ok(Some(capture))
    }
}

impl ShardPartitions {
    /// Starts the passes (until shutdown begins; [`ShardPartitions::shutdown`]
    /// does the last one). `interval_ms`: `log.flush.offset.checkpoint.interval.ms`.
    pub fn start_recovery_points(self: &Rc<Self>, interval_ms: u64) {
        let partitions = Rc::downgrade(self);
        glommio::spawn_local(async move {
            loop {
                let pause = Duration::from_millis(RECOVERY_POINT_CHECK_INTERVAL_MS);
                glommio::timer::sleep(pause).await;
                let Some(partitions) = partitions.upgrade() else {
                    return;
                };
                if partitions.shutting_down.is_fired() {
                    return;
                }
                partitions.advance_recovery_points(interval_ms).await;
            }
        })
        .detach();
    }

    /// One pass: new recovery points for the partitions where they are due;
    /// returns how many got one.
    pub async fn advance_recovery_points(&self, interval_ms: u64) -> usize {
        let Ok(_turn) = self.recovery_turn.acquire_permit(1).await else {
            return 0;
        };
        let now = crate::storage::log::now_ms();
        let mut due: Vec<(u64, Named)> = self
            .named()
            .into_iter()
            .filter(|(_, _, partition)| partition.log.recovery_point_due(now, interval_ms))
            .map(|named| (named.2.log.unchecked_bytes(), named))
            .collect();
        due.sort_by_key(|(unchecked, _)| std::cmp::Reverse(*unchecked));
        due.truncate(RECOVERY_POINTS_PER_PASS_MAX);
        let due: Vec<Named> = due.into_iter().map(|(_, named)| named).collect();
        self.record_recovery_points(due).await
    }

    /// Persists a recovery point for each partition, then names them all in
    /// the checkpoint file; returns how many were named.
    async fn record_recovery_points(&self, partitions: Vec<Named>) -> usize {
        let mut persisted = Vec::new();
        for chunk in partitions.chunks(RECOVERY_POINTS_IN_FLIGHT_MAX) {
            let attempts = chunk.iter().map(|(topic, index, partition)| async move {
                let outcome = partition.persist_recovery_point().await;
                (topic, *index, partition, outcome)
            });
            for (topic, index, partition, outcome) in crate::local::join_all(attempts).await {
                match outcome {
                    Ok(Some(capture)) => {
                        persisted.push((topic.clone(), index, partition.clone(), capture))
                    }
                    Ok(None) => {}
                    Err(error) => log::warn!("{topic}-{index}: no new recovery point: {error}"),
                }
            }
        }
        if persisted.is_empty() {
            return 0;
        }
        for (topic, index, partition, capture) in &persisted {
            self.storage
                .record_recovery_point(topic, *index, &partition.log, capture);
        }
        if let Err(error) = self.storage.write_recovery_checkpoint().await {
            log::warn!("recovery point checkpoint not written: {error}");
            return 0;
        }
        persisted.len()
    }

    /// Every open partition with its name.
    pub(super) fn named(&self) -> Vec<Named> {
        let registry = self.partitions.borrow();
        registry
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter()
                    .map(|(index, partition)| (topic.clone(), *index, partition.clone()))
            })
            .collect()
    }

    /// At a clean shutdown, once storage closed the logs (written,
    /// fdatasynced and trimmed, index files written): makes each log's end
    /// its recovery point, so a start after a clean stop checks nothing.
    pub(super) async fn record_end_recovery_points(&self, partitions: &[Named]) {
        let total = partitions.len();
        let named = self.record_recovery_points(partitions.to_vec()).await;
        if named < total {
            log::warn!("shutdown: {named} of {total} partition(s) got their end as recovery point");
        }
    }
}
