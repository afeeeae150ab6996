//! Cutting a log's tail (issue 13): a follower whose log diverges from its
//! leader's truncates to where they agree, then fetches the rest again.
//! Everything is written and fdatasynced first, so a cut inside the active
//! segment is one file truncation plus the in-memory state rolled back to
//! it, the same state an ENOSPC rollback restores (`disk_faults.rs`). A cut
//! further back deletes segments (`truncate_segments.rs`).

use super::appender::RecentBatch;
use super::error::StorageError;
use super::log::{LogState, PartitionLog};
use super::log_read::relative;
use super::recovery::read_tail;
use super::scan::find_batch;
use super::segment::{align_down, SegmentReader};
use crate::protocol::record_batch::BatchInfo;
use std::collections::VecDeque;
use std::fmt;

/// Why a truncation was not done.
#[derive(Debug)]
pub enum TruncateError {
    /// The log failed, closed, or an I/O step failed.
    Storage(StorageError),
}

impl From<StorageError> for TruncateError {
    fn from(error: StorageError) -> Self {
        TruncateError::Storage(error)
    }
}

impl fmt::Display for TruncateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TruncateError::Storage(error) => write!(f, "{error}"),
        }
    }
}

impl PartitionLog {
    /// Truncates the log so it ends at the start of the batch holding
    /// `offset` (at `offset` when a batch starts there); returns the new log
    /// end offset. Waiters for the removed offsets fail; the partition layer
    /// learns the cut through [`PartitionLog::take_truncation`].
    pub async fn truncate_to(&self, offset: i64) -> Result<i64, TruncateError> {
        let _append = self
            .append_lock
            .acquire_permit(1)
            .await
            .map_err(|_| self.closed_error())?;
        let _flush = self.flush_turn().await.map_err(|_| self.closed_error())?;
        self.check_open()?;
        if offset >= self.log_end_offset() {
            return Ok(self.log_end_offset());
        }
        self.flush_everything().await?;
        let (log_start, active_base) = {
            let state = self.state.borrow();
            (state.log_start_offset, state.active.base_offset)
        };
        if offset < log_start {
            self.restart_at(offset).await?;
            return Ok(self.log_end_offset());
        }
        if offset < active_base {
            let end = self.truncate_sealed(offset).await?;
            self.lower_log_start_to_end().await?;
            return Ok(end);
        }
        let (reader, base, start, resume, size) = {
            let state = self.state.borrow();
            let active = &state.active;
            let relative = relative(offset, active.base_offset);
            let offsets = &active.indexes.offsets;
            let start = u64::from(offsets.lookup(relative));
            // A batch start at or before the block holding the cut.
            let resume = offsets
                .resume_before(relative)
                .map_or(0, |(p, _)| u64::from(p));
            (
                active.reader(),
                active.base_offset,
                start,
                resume,
                active.size,
            )
        };
        let read_bytes = self.limits.recovery_read_bytes;
        let found = find_batch(&reader, start.min(size), size, read_bytes, |info| {
            info.last_offset() >= offset
        })
        .await?;
        let Some((position, info)) = found else {
            return Ok(self.log_end_offset());
        };
        let tail =
            batches_over_last_block(&reader, resume.min(position), position, read_bytes).await?;
        let (tail_batches, tail_block) = read_tail(&reader, base, position, &tail).await?;
        reader.truncate_synced(position).await?;
        let cut = info.base_offset;
        self.cut_state(cut, position, tail_block, tail_batches);
        let error = StorageError::Corrupt {
            path: reader.log_path.to_path_buf(),
            reason: format!("offsets from {cut} truncated: the leader's log diverges"),
        };
        self.fail_waiters_from(cut, &error);
        self.recount_unwritten();
        self.lower_log_start_to_end().await?;
        log::warn!(
            "{}: truncated to offset {cut} (asked {offset}) to match the leader",
            self.name
        );
        Ok(cut)
    }

    /// The in-memory side of a cut of the active segment at `position`
    /// (batch `cut`'s start), everything before it written and synced:
    /// `tail_batches`, those overlapping the new partial last block, are
    /// served from memory again, as after a load (they may have been
    /// evicted; reads would find them in the file too).
    fn cut_state(
        &self,
        cut: i64,
        position: u64,
        tail_block: Vec<u8>,
        tail_batches: Vec<RecentBatch>,
    ) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        // The recent batches run contiguously to the log end: when they
        // start past the first batch needed, all they hold below the cut
        // are among those needed.
        let first_needed = tail_batches.first().map(|batch| batch.base_offset);
        let held = state.recent.first_offset();
        if first_needed.is_some_and(|first| held.is_none_or(|held| held > first)) {
            state.recent.clear();
            for batch in tail_batches {
                state.recent.push(batch);
            }
        }
        // Before the cut, so the time index observes the kept batches too.
        state.cut_active_tail(cut, position);
        state.active.cut_allocation_to(position);
        state.write.written = position;
        state.write.synced = state.write.synced.min(position);
        state.write.tail_block = tail_block;
        state.written_end_offset = state.written_end_offset.min(cut);
        state.synced_end_offset = state.synced_end_offset.min(cut);
    }
}

impl LogState {
    /// Forgets the active segment's batches from offset `cut` on, which
    /// start at byte `position`: the recent batches (their count returned), the index
    /// entries (those of the batches kept are observed again), the segment's
    /// size and next offset, the unsynced record and appended byte counts,
    /// and `truncated_from`. Shared by a follower's truncation and an ENOSPC
    /// rollback (`disk_faults.rs`), which differ only in the write position
    /// they restore.
    pub(super) fn cut_active_tail(&mut self, cut: i64, position: u64) -> usize {
        let end_offset = self.log_end_offset();
        let batches = self.recent.truncate_from(cut);
        let active = &mut self.active;
        let base = active.base_offset;
        let end_relative = (cut - base).clamp(0, i64::from(u32::MAX)) as u32;
        let observe_from = active.indexes.truncate(position, end_relative);
        for batch in self
            .recent
            .iter_from(0)
            .filter(|batch| batch.segment_base == base && batch.position >= observe_from)
        {
            let relative_last = (batch.last_offset - base) as u32;
            active
                .indexes
                .observe_timestamp(batch.max_timestamp, relative_last);
        }
        let removed_bytes = active.size.saturating_sub(position);
        active.next_offset = cut;
        active.size = position;
        if position == 0 {
            active.first_batch_timestamp = None;
        }
        let offsets = (end_offset - cut).max(0) as u64;
        self.unsynced_records = self.unsynced_records.saturating_sub(offsets);
        let recovery = &mut self.recovery_point;
        recovery.appended_bytes = recovery.appended_bytes.saturating_sub(removed_bytes);
        self.truncated_from = Some(self.truncated_from.map_or(cut, |t| t.min(cut)));
        batches
    }
}

/// The `(position, header)` of the batches from `resume` (a batch start at
/// or before the block holding `end`) to `end` that overlap that block:
/// headers only, as recovery finds them (`recovery::load_active`).
async fn batches_over_last_block(
    reader: &SegmentReader,
    resume: u64,
    end: u64,
    read_bytes: usize,
) -> Result<VecDeque<(u64, BatchInfo)>, StorageError> {
    let final_end = align_down(end);
    let mut tail = VecDeque::new();
    let mut at = resume;
    find_batch(reader, resume, end, read_bytes, |info| {
        let position = at;
        at += info.len as u64;
        if at > final_end {
            tail.push_back((position, *info));
        }
        false
    })
    .await?;
    Ok(tail)
}
