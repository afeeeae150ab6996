//! What an append hands to a [`PartitionLog`]: the validated batches
//! ([`AppendBatch`]), the log's turn to append ([`AppendSlot`], from
//! `PartitionLog::begin_append` to its commit) and the offsets it got
//! ([`AppendResult`]).

use super::PartitionLog;
use crate::protocol::record_batch::{BatchInfo, RECORD_BATCH_HEADER_BYTES};
use crate::storage::config::Durability;
use crate::storage::error::AppendError;
use crate::storage::notify::DurableWait;
use bytes::Bytes;
use glommio::sync::Permit;

/// One validated batch to append.
#[derive(Clone, Debug)]
pub struct AppendBatch {
    /// Copy of the 61-byte header; storage stamps offset and leader epoch.
    pub header: [u8; RECORD_BATCH_HEADER_BYTES],
    /// The batch after the header: a slice of the request frame, copied only
    /// into the DMA write buffer (and, when `pinned_bytes` is much larger than
    /// the batch, once into its own allocation: `recent_copy.rs`).
    pub body: Bytes,
    /// Size of the buffer `body` slices, i.e. the memory it keeps alive.
    pub pinned_bytes: usize,
    /// What validation learned about the batch.
    pub info: BatchInfo,
}

impl AppendBatch {
    /// Whole batch length.
    pub fn len(&self) -> usize {
        RECORD_BATCH_HEADER_BYTES + self.body.len()
    }

    /// Never true: a batch has a header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Offsets an append got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// -1: CreateTime.
    pub log_append_time_ms: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
}

/// How an append stamps its batches.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stamp {
    /// A leader's append: offsets assigned, this leader epoch stamped.
    Leader(i32),
    /// A follower's: the leader's offsets and epochs kept.
    AsWritten,
}

/// A log's turn to append, taken by [`PartitionLog::begin_append`]: no other
/// append runs until it is committed or dropped.
pub struct AppendSlot<'a> {
    pub(super) log: &'a PartitionLog,
    pub(super) _turn: Permit<'a>,
    pub(super) batches: Vec<AppendBatch>,
    pub(super) total_bytes: u64,
    pub(super) total_offsets: i64,
    /// Largest `maxTimestamp` of the batches (`segment.ms`, Kafka's rule).
    pub(super) max_timestamp: i64,
}

impl AppendSlot<'_> {
    /// The batches to append, in order.
    pub fn batches(&self) -> &[AppendBatch] {
        &self.batches
    }

    /// The lowest offset rolled back (ENOSPC, `disk_faults.rs`) since the
    /// last call: whatever the caller derived from batches at or above it
    /// (producer state) is stale and must be dropped before deciding.
    pub fn take_truncation(&self) -> Option<i64> {
        self.log.take_truncation()
    }

    /// A wait for everything up to `last_offset` (already in the log, e.g.
    /// the original of a producer's retry) to reach `durability`,
    /// registered while the turn is held.
    pub fn wait_for(&self, last_offset: i64, durability: Durability) -> DurableWait {
        self.log.register_wait(last_offset, durability)
    }

    /// Appends the batches and assigns their offsets (stamping each header
    /// with its base offset and `leader_epoch`), telling `on_batch` each
    /// batch's header fields and base offset as it goes in (after this, the
    /// append cannot fail), and registers the wait for `durability`.
    /// Synchronous except when a segment must roll; then `on_roll` gets the
    /// new segment's base offset once everything below it is written (its
    /// sync, the seal, follows off the append path: `roll.rs`), before any
    /// of these batches goes in. The batches become readable once
    /// written (`PartitionLog::readable_end_offset`).
    pub async fn commit(
        self,
        leader_epoch: i32,
        durability: Durability,
        on_roll: impl FnOnce(i64),
        on_batch: impl FnMut(&BatchInfo, i64),
    ) -> Result<(AppendResult, DurableWait), AppendError> {
        self.commit_stamped(Stamp::Leader(leader_epoch), durability, on_roll, on_batch)
            .await
    }

    /// A follower's [`AppendSlot::commit`]: the batches go in as the leader
    /// wrote them (base offsets, leader epochs and append times kept, no
    /// re-stamping). Refused (`InvalidRecord`) unless the first batch starts
    /// at the log end offset and each follows the one before.
    pub async fn commit_replicated(
        self,
        durability: Durability,
        on_roll: impl FnOnce(i64),
        on_batch: impl FnMut(&BatchInfo, i64),
    ) -> Result<(AppendResult, DurableWait), AppendError> {
        let mut next = self.log.log_end_offset();
        for batch in &self.batches {
            if batch.info.base_offset != next {
                return Err(AppendError::InvalidRecord);
            }
            next = batch.info.last_offset() + 1;
        }
        self.commit_stamped(Stamp::AsWritten, durability, on_roll, on_batch)
            .await
    }

    async fn commit_stamped(
        self,
        stamp: Stamp,
        durability: Durability,
        on_roll: impl FnOnce(i64),
        on_batch: impl FnMut(&BatchInfo, i64),
    ) -> Result<(AppendResult, DurableWait), AppendError> {
        let log = self.log;
        if log.needs_roll(self.total_bytes, self.total_offsets, self.max_timestamp) {
            let roll_started = std::time::Instant::now();
            let rolled = log.roll().await;
            crate::metrics::with_local(|m| m.segment_roll_wait.observe(roll_started.elapsed()));
            rolled?;
            on_roll(log.log_end_offset());
        }
        log.check_open()?;
        log.check_disk_space()?;
        let result = log.append_in_memory(self.batches, stamp, on_batch);
        let wait = log.register_wait(result.last_offset, durability);
        log.recount_unwritten();
        log.mark_dirty();
        Ok((result, wait))
    }
}
