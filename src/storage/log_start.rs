//! A log start offset past the log's first segment, and what retention may
//! delete (issue 13).
//!
//! - A follower takes its leader's log start from each fetch answer
//!   (Kafka's `maybeIncrementLogStartOffset`): what lies below it was never
//!   checked against the leader's log, so it must not be read, nor served
//!   if this replica leads later. The start can fall inside a segment, so
//!   it is named in the log directory's `log-start-offset-checkpoint`
//!   (Kafka's file and format), read back when the log opens; retention
//!   deletes the segments wholly below it.
//! - Retention deletes only segments wholly below what the partition's
//!   consumers may read (its high watermark in a cluster, else what is
//!   fsynced), as Kafka's `deletableSegments` stops at the high watermark:
//!   a leader never deletes a record a follower still needs to commit it.

use super::checkpoint::{write_checkpoint, RecoveryCheckpoint};
use super::error::StorageError;
use super::log::PartitionLog;
use super::shard_storage::ShardStorage;
use std::cell::OnceCell;
use std::sync::Arc;

/// The highest offset retention may delete below, from the partition layer
/// (its read bound); `None` while the partition has no bound of its own.
pub type RetentionBound = Box<dyn Fn() -> Option<i64>>;

/// A log's entry in `log-start-offset-checkpoint`, and its retention bound.
#[derive(Default)]
pub struct StartKeeping {
    entry: OnceCell<LogStartEntry>,
    retention_bound: OnceCell<RetentionBound>,
}

/// Where a log's start is named.
struct LogStartEntry {
    checkpoint: Arc<RecoveryCheckpoint>,
    topic: String,
    partition: i32,
}

impl PartitionLog {
    /// Raises the log start offset to `offset` (at most the log end), as a
    /// follower does with its leader's: reads below it are out of range
    /// from now on, its entry in the checkpoint (written by the next
    /// [`ShardStorage::write_log_start_checkpoint_if_changed`]) names it,
    /// and the next retention pass deletes the segments wholly below it.
    /// Returns whether it moved.
    pub fn advance_log_start(&self, offset: i64) -> bool {
        let start = {
            let mut state = self.state.borrow_mut();
            let start = offset.min(state.log_end_offset());
            if start <= state.log_start_offset {
                return false;
            }
            state.log_start_offset = start;
            state.recent.evict_below(start);
            start
        };
        if let Some(entry) = self.start_keeping.entry.get() {
            entry.checkpoint.set(&entry.topic, entry.partition, start);
        }
        true
    }

    /// Lets the partition layer bound retention by what its consumers may
    /// read (set once; later calls are ignored).
    pub fn bound_retention_by(&self, bound: RetentionBound) {
        let _ = self.start_keeping.retention_bound.set(bound);
    }

    /// The offset below which retention may delete whole segments: what is
    /// fsynced, and at most the partition layer's bound.
    pub(super) fn retention_end_offset(&self) -> i64 {
        let synced = self.synced_end_offset();
        let bound = self.start_keeping.retention_bound.get();
        match bound.and_then(|bound| bound()) {
            Some(bound) => bound.min(synced),
            None => synced,
        }
    }

    /// The log restarted empty at `offset` or was cut below its start: its
    /// start is its first segment's base again, so its entry goes, and the
    /// file is written now (a lower start must not be raised back by a
    /// stale entry after a crash).
    pub(super) async fn forget_log_start_entry(&self) -> Result<(), StorageError> {
        let Some(entry) = self.start_keeping.entry.get() else {
            return Ok(());
        };
        if !entry.checkpoint.remove(&entry.topic, entry.partition) {
            return Ok(());
        }
        write_checkpoint(entry.checkpoint.clone(), &self.dir).await
    }

    /// A cut inside the batch holding the log start left the log end below
    /// it: the start comes down to the end (nothing below it becomes
    /// readable), named so in the file now.
    pub(super) async fn lower_log_start_to_end(&self) -> Result<(), StorageError> {
        let end = {
            let mut state = self.state.borrow_mut();
            let end = state.log_end_offset();
            if state.log_start_offset <= end {
                return Ok(());
            }
            state.log_start_offset = end;
            end
        };
        let Some(entry) = self.start_keeping.entry.get() else {
            return Ok(());
        };
        entry.checkpoint.set(&entry.topic, entry.partition, end);
        write_checkpoint(entry.checkpoint.clone(), &self.dir).await
    }
}

impl ShardStorage {
    /// Gives `log` its entry in the log start checkpoint and takes the log
    /// start it names, when past the log's first segment (a start past
    /// the log end, which a crash cannot leave, is cut to it).
    pub(super) fn keep_log_start(&self, log: &PartitionLog, topic: &str, partition: i32) {
        let checkpoint = self.checkpoints.log_starts.clone();
        let named = checkpoint.get(topic, partition);
        let entry = LogStartEntry {
            checkpoint,
            topic: topic.to_string(),
            partition,
        };
        let _ = log.start_keeping.entry.set(entry);
        if let Some(start) = named {
            log.advance_log_start(start);
        }
    }

    /// Writes `log-start-offset-checkpoint` (on a blocking thread).
    pub async fn write_log_start_checkpoint(&self) -> Result<(), StorageError> {
        write_checkpoint(self.checkpoints.log_starts.clone(), self.data_dir()).await
    }

    /// Writes `log-start-offset-checkpoint` when an entry changed since it
    /// was last written; returns whether it wrote.
    pub async fn write_log_start_checkpoint_if_changed(&self) -> Result<bool, StorageError> {
        if !self.checkpoints.log_starts.changed() {
            return Ok(false);
        }
        self.write_log_start_checkpoint().await.map(|()| true)
    }
}
