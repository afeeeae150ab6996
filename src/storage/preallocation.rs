//! How far ahead of its writes an active segment is preallocated.
//!
//! O_DIRECT writes are fast only below `i_size` in a preallocated file
//! (PLATFORM.md: 3-7x the speed of size-extending writes), so every write
//! round first extends the file past its end. How far past follows the
//! partition's write rate: the step starts at
//! [`StorageLimits::preallocate_step_bytes_min`] and doubles each time the
//! previous step was used up within [`PREALLOCATE_GROW_WINDOW_MS`], up to
//! [`StorageLimits::preallocate_step_bytes_max`]; it halves when extensions
//! come further apart than [`PREALLOCATE_SHRINK_AFTER_MS`]. A busy partition
//! reaches large steps in a few rounds; a slow one keeps small steps, so the
//! disk a broker reserves follows the data, not the partition count. What a
//! segment does not use is given back when it rolls (cut to its size) and
//! when the partition goes idle (`PartitionLog::give_back_if_idle`).

use super::config::StorageLimits;
use super::error::StorageError;
use super::log::PartitionLog;
use super::segment::align_up;

/// A step used up faster than this doubles the next one.
pub const PREALLOCATE_GROW_WINDOW_MS: i64 = 1_000;
/// A step lasting longer than this halves the next one.
pub const PREALLOCATE_SHRINK_AFTER_MS: i64 = 4 * PREALLOCATE_GROW_WINDOW_MS;

/// The preallocation pace of one partition's active segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preallocation {
    step_bytes: u64,
    /// When the file was last extended (wall-clock ms); `None` before that.
    last_extend_ms: Option<i64>,
}

impl Preallocation {
    /// The pace of a partition that has not written yet: the smallest step.
    pub fn new(limits: &StorageLimits) -> Self {
        Preallocation {
            step_bytes: step_min(limits),
            last_extend_ms: None,
        }
    }

    /// Bytes the next extension adds past the write end.
    pub fn step_bytes(&self) -> u64 {
        self.step_bytes
    }

    /// The file size to preallocate to before writes reaching `write_end`
    /// (block aligned), or `None` when `allocated` already covers them.
    /// Never beyond `size_max` (the segment's largest size), unless the
    /// write itself goes further.
    pub fn extend_to(
        &mut self,
        write_end: u64,
        allocated: u64,
        size_max: u64,
        now_ms: i64,
        limits: &StorageLimits,
    ) -> Option<u64> {
        if write_end <= allocated {
            return None;
        }
        if let Some(last) = self.last_extend_ms {
            let since = now_ms.saturating_sub(last);
            if since < PREALLOCATE_GROW_WINDOW_MS {
                self.step_bytes = (self.step_bytes * 2).min(step_max(limits));
            } else if since > PREALLOCATE_SHRINK_AFTER_MS {
                self.step_bytes = (self.step_bytes / 2).max(step_min(limits));
            }
        }
        self.last_extend_ms = Some(now_ms);
        let wanted = align_up(write_end + self.step_bytes);
        Some(wanted.min(align_up(size_max)).max(write_end))
    }

    /// The partition went idle and gave its preallocation back: start
    /// small again.
    pub fn on_idle(&mut self, limits: &StorageLimits) {
        *self = Preallocation::new(limits);
    }
}

impl PartitionLog {
    /// Gives back the preallocated space of an idle partition (nothing
    /// written for `preallocation_idle_ms`, nothing waiting to be): cuts the
    /// active segment to its written end rounded up to a block, and starts
    /// the pace over. Crash-safe: past the written end the file holds only
    /// zeros, so recovery finds the same end whether or not the cut reached
    /// the disk. Skipped (false) while a flush round or roll runs.
    pub(super) async fn give_back_if_idle(&self, now_ms: i64) -> Result<bool, StorageError> {
        if !self.idle_with_space_to_give_back(now_ms) {
            return Ok(false);
        }
        let Some(_flush) = self.try_flush_turn() else {
            return Ok(false);
        };
        if !self.idle_with_space_to_give_back(now_ms) {
            return Ok(false);
        }
        let (reader, keep) = {
            let state = self.state.borrow();
            (state.active.reader(), align_up(state.write.written))
        };
        reader
            .dma
            .truncate(keep)
            .await
            .map_err(|e| StorageError::io("truncate", &reader.log_path, e))?;
        let mut state = self.state.borrow_mut();
        state.active.cut_allocation_to(keep);
        state.preallocation.on_idle(&self.limits);
        Ok(true)
    }

    fn idle_with_space_to_give_back(&self, now_ms: i64) -> bool {
        if self.is_failed() || self.closed.get() {
            return false;
        }
        let state = self.state.borrow();
        let idle_ms = self.limits.preallocation_idle_ms.min(i64::MAX as u64) as i64;
        state.active.allocated > align_up(state.write.written)
            && state.written_end_offset == state.log_end_offset()
            && !state.rollback_pending
            && now_ms.saturating_sub(state.last_write_ms) >= idle_ms
    }
}

fn step_min(limits: &StorageLimits) -> u64 {
    align_up(limits.preallocate_step_bytes_min.max(1))
}

fn step_max(limits: &StorageLimits) -> u64 {
    align_up(limits.preallocate_step_bytes_max).max(step_min(limits))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENT_MAX: u64 = 1 << 30;

    fn limits() -> StorageLimits {
        StorageLimits {
            preallocate_step_bytes_min: 64 << 10,
            preallocate_step_bytes_max: 1 << 20,
            ..StorageLimits::default()
        }
    }

    #[test]
    fn a_busy_partition_grows_its_step_up_to_the_max() {
        let limits = limits();
        let mut pace = Preallocation::new(&limits);
        let mut allocated = 0;
        let mut steps = Vec::new();
        // Writes used up each step within 10 ms.
        for round in 0..8 {
            let write_end = allocated + 4096;
            let target = pace
                .extend_to(write_end, allocated, SEGMENT_MAX, round * 10, &limits)
                .unwrap();
            steps.push(target - write_end);
            allocated = target;
        }
        let kib = |n: u64| n << 10;
        assert_eq!(
            steps,
            [
                kib(64),
                kib(128),
                kib(256),
                kib(512),
                kib(1024),
                kib(1024),
                kib(1024),
                kib(1024)
            ]
        );
    }

    #[test]
    fn a_slow_partition_keeps_small_steps_and_idle_resets() {
        let limits = limits();
        let mut pace = Preallocation::new(&limits);
        let first = pace.extend_to(100, 0, SEGMENT_MAX, 0, &limits).unwrap();
        assert_eq!(first, 4096 + (64 << 10));
        // Two seconds later: neither grows nor shrinks below the minimum.
        let second = pace
            .extend_to(first + 1, first, SEGMENT_MAX, 2_000, &limits)
            .unwrap();
        assert_eq!(second - align_up(first + 1), 64 << 10);
        // Fast again: grows; slow: halves back.
        pace.extend_to(second + 1, second, SEGMENT_MAX, 2_010, &limits);
        assert_eq!(pace.step_bytes(), 128 << 10);
        pace.extend_to(u64::MAX / 4, 0, u64::MAX / 2, 10_000, &limits);
        assert_eq!(pace.step_bytes(), 64 << 10);
        pace.extend_to(1, 0, SEGMENT_MAX, 10_001, &limits);
        assert_eq!(pace.step_bytes(), 128 << 10);
        pace.on_idle(&limits);
        assert_eq!(pace, Preallocation::new(&limits));
    }

    #[test]
    fn never_past_the_segment_size_unless_the_write_is() {
        let limits = limits();
        let mut pace = Preallocation::new(&limits);
        assert_eq!(pace.extend_to(4096, 8192, 1 << 20, 0, &limits), None);
        assert_eq!(
            pace.extend_to(40_000, 0, 50_000, 0, &limits),
            Some(align_up(50_000))
        );
        // An oversized batch: exactly its write.
        assert_eq!(
            pace.extend_to(1 << 21, 0, 1 << 20, 5, &limits),
            Some(1 << 21)
        );
    }
}
