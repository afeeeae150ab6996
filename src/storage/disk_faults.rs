//! How a partition log reacts to disk errors, and the counters that make
//! them visible.
//!
//! - A failed write or fdatasync (other than ENOSPC) fails the log for good
//!   (`PartitionLog::fail`): after an fdatasync error the kernel may have
//!   dropped dirty data and cleared the error, so nothing written since the
//!   last good sync can be trusted. Every waiter gets `KAFKA_STORAGE_ERROR`
//!   and appends and reads are refused until the broker restarts.
//! - ENOSPC from a write or preallocation leaves the log usable: nothing was
//!   acknowledged beyond what is on disk, the unwritten batches stay in
//!   memory and their waiters get the error. Appends are refused while those
//!   batches cannot be written; reads keep working. The flusher retries every
//!   [`DISK_FULL_RETRY_MS`], and the first write that succeeds ends the
//!   disk-full state. ENOSPC from fdatasync is a failed fdatasync (fatal).

use super::error::StorageError;
use super::log::{now_ms, PartitionLog};
use super::shard_storage::ShardStorage;
use std::io::ErrorKind;

/// How often a log in the disk-full state retries writing its batches.
pub const DISK_FULL_RETRY_MS: u64 = 500;

impl StorageError {
    /// True for an I/O error meaning "no space left" (ENOSPC, EDQUOT).
    pub fn is_no_space(&self) -> bool {
        matches!(
            self,
            StorageError::Io {
                kind: ErrorKind::StorageFull | ErrorKind::QuotaExceeded,
                ..
            }
        )
    }
}

/// Disk-error counters of a shard's partitions, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskFaultSummary {
    /// Partitions failed by a write or fdatasync error.
    pub failed_partitions: u64,
    /// Partitions currently refusing appends for lack of space.
    pub disk_full_partitions: u64,
    /// Failed writes (ENOSPC excluded) since the partitions were opened.
    pub write_errors: u64,
    /// Failed fdatasyncs since the partitions were opened.
    pub sync_errors: u64,
    /// ENOSPC answers to writes and preallocations.
    pub no_space_errors: u64,
}

impl ShardStorage {
    /// Disk-error state of every partition of the shard (metrics read this).
    pub fn disk_fault_summary(&self) -> DiskFaultSummary {
        let mut summary = DiskFaultSummary::default();
        for log in self.all_logs() {
            let stats = log.stats();
            summary.failed_partitions += u64::from(log.is_failed());
            summary.disk_full_partitions += u64::from(log.is_disk_full());
            summary.write_errors += stats.write_errors;
            summary.sync_errors += stats.sync_errors;
            summary.no_space_errors += stats.no_space_errors;
        }
        summary
    }
}

impl PartitionLog {
    /// True while ENOSPC keeps the log's appended batches from being written.
    pub fn is_disk_full(&self) -> bool {
        self.disk_full.borrow().is_some()
    }

    /// A write or preallocation failed: ENOSPC enters the disk-full state,
    /// anything else fails the log. Returns `error` for `?` chains.
    pub(super) fn on_write_error(&self, error: StorageError) -> StorageError {
        if error.is_no_space() {
            return self.enter_disk_full(error);
        }
        self.count(|stats| stats.write_errors += 1);
        self.fail(error)
    }

    /// An fdatasync failed: the log fails (whatever the error).
    pub(super) fn on_sync_error(&self, error: StorageError) -> StorageError {
        self.count(|stats| stats.sync_errors += 1);
        self.fail(error)
    }

    /// A segment roll failed after the active segment may have been cut to
    /// its logical size: the next write must preallocate again.
    pub(super) fn on_roll_error(&self, error: StorageError) -> StorageError {
        if !error.is_no_space() {
            return self.fail(error);
        }
        {
            let mut state = self.state.borrow_mut();
            state.active.allocated = state.active.size;
        }
        self.enter_disk_full(error)
    }

    fn enter_disk_full(&self, error: StorageError) -> StorageError {
        self.count(|stats| stats.no_space_errors += 1);
        if self.disk_full.borrow_mut().replace(error.clone()).is_none() {
            log::error!(
                "partition {}: disk full ({error}); appends refused until space is freed, \
                 reads continue",
                self.name
            );
        }
        // Their batches are not on disk and cannot be soon: answer now.
        self.fail_waiters(&error);
        let retry_at_ms = now_ms().saturating_add(DISK_FULL_RETRY_MS as i64);
        self.flush_queue
            .schedule(retry_at_ms, self.self_ref.clone());
        error
    }

    /// A write round succeeded: space is available again.
    pub(super) fn leave_disk_full(&self) {
        if self.disk_full.borrow_mut().take().is_some() {
            log::info!(
                "partition {}: space available again, appends resume",
                self.name
            );
        }
    }

    /// Refuses an append while appended batches wait for space.
    pub(super) fn check_disk_space(&self) -> Result<(), StorageError> {
        let waiting = {
            let state = self.state.borrow();
            state.written_end_offset < state.log_end_offset()
        };
        match self.disk_full.borrow().as_ref() {
            Some(error) if waiting => Err(error.clone()),
            _ => Ok(()),
        }
    }

    fn count(&self, update: impl FnOnce(&mut super::log::LogStats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }
}
