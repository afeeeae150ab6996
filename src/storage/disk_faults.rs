//! How a partition log reacts to disk errors, and the counters that make
//! them visible.
//!
//! - A failed write or fdatasync (other than ENOSPC) fails the log for good
//!   (`PartitionLog::fail`): after an fdatasync error the kernel may have
//!   dropped dirty data and cleared the error, so nothing written since the
//!   last good sync can be trusted. Every waiter gets `KAFKA_STORAGE_ERROR`
//!   and appends and reads are refused until the broker restarts.
//! - ENOSPC from a write or preallocation leaves the log usable, and what it
//!   refused never becomes visible: appended batches are readable only once
//!   written (`PartitionLog::readable_end_offset`), so no reader has seen
//!   the unwritten ones. The flusher first cuts the file back to the written
//!   end and fdatasyncs the cut (a partial round may have landed blocks of
//!   refused batches; after a crash, recovery would find them), then fails
//!   the waiters of the unwritten batches (their producers get
//!   `KAFKA_STORAGE_ERROR`) and rolls the batches back under the append
//!   turn: offsets, recent batches, index entries, and a truncation point
//!   the partition layer takes to drop the producer state it derived from
//!   them ([`PartitionLog::take_truncation`]). The next good batch gets the
//!   next dense offset; a retry is appended once, not twice.
//! - While the disk is full, appends are refused and reads keep working.
//!   Every [`DISK_FULL_RETRY_MS`] the flusher probes with a preallocation;
//!   the first that succeeds (or any successful write) ends the disk-full
//!   state. ENOSPC from fdatasync is a failed fdatasync (fatal).

use super::error::StorageError;
use super::log::{now_ms, PartitionLog};
use super::segment::WRITE_ALIGNMENT_BYTES;
use super::shard_storage::ShardStorage;
use std::io::ErrorKind;

/// How often a log in the disk-full state probes for space again.
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

/// What a rollback removed: offsets `from_offset..end_offset`.
struct RolledBack {
    from_offset: i64,
    end_offset: i64,
    batches: usize,
}

impl PartitionLog {
    /// True while ENOSPC keeps the log from writing (appends are refused).
    pub fn is_disk_full(&self) -> bool {
        self.disk_full.borrow().is_some()
    }

    /// The ENOSPC error of the disk-full state (or a generic one).
    pub(super) fn disk_full_error(&self) -> StorageError {
        self.disk_full.borrow().clone().unwrap_or_else(|| {
            StorageError::io(
                "write",
                &self.dir,
                std::io::Error::from(ErrorKind::StorageFull),
            )
        })
    }

    /// A write or preallocation of a flush round failed: ENOSPC refuses the
    /// unwritten batches for good (module doc), anything else fails the
    /// log. Caller holds `flush_lock`. Returns `error` for `?` chains.
    pub(super) async fn on_write_error(&self, error: StorageError) -> StorageError {
        if !error.is_no_space() {
            self.count(|stats| stats.write_errors += 1);
            return self.fail(error);
        }
        if let Err(cut_error) = self.cut_to_written().await {
            self.count(|stats| stats.write_errors += 1);
            return self.fail(cut_error);
        }
        self.enter_disk_full(error)
    }

    /// Truncates the active segment to its written end and fdatasyncs it, so
    /// no block of a refused batch stays in the file (and the space is
    /// freed). Caller holds `flush_lock`.
    async fn cut_to_written(&self) -> Result<(), StorageError> {
        self.zero_task_done().await;
        let (reader, written) = {
            let state = self.state.borrow();
            (state.active.reader(), state.write.written)
        };
        reader
            .dma
            .truncate(written)
            .await
            .map_err(|e| StorageError::io("truncate", &reader.log_path, e))?;
        self.state.borrow_mut().active.cut_allocation_to(written);
        reader
            .dma
            .fdatasync()
            .await
            .map_err(|e| StorageError::io("fdatasync", &reader.log_path, e))
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
            let size = state.active.size;
            state.active.cut_allocation_to(size);
        }
        self.enter_disk_full(error)
    }

    /// Writing a sealing segment's index files or fsyncing the directory
    /// failed (`roll.rs`): ENOSPC enters the disk-full state, and the seal
    /// is retried once space is back; anything else fails the log.
    pub(super) fn on_seal_error(&self, error: StorageError) -> StorageError {
        if !error.is_no_space() {
            self.count(|stats| stats.write_errors += 1);
            return self.fail(error);
        }
        self.enter_disk_full(error)
    }

    /// Enters the disk-full state: the waiters of unwritten batches get the
    /// error now, their batches are rolled back as soon as the append turn
    /// is free, and the probe for space is scheduled.
    fn enter_disk_full(&self, error: StorageError) -> StorageError {
        self.count(|stats| stats.no_space_errors += 1);
        if self.disk_full.borrow_mut().replace(error.clone()).is_none() {
            log::error!(
                "partition {}: disk full ({error}); appends refused until space is freed, \
                 reads continue",
                self.name
            );
        }
        let (first_unwritten, already_pending) = {
            let mut state = self.state.borrow_mut();
            let pending = std::mem::replace(&mut state.rollback_pending, true);
            (state.written_end_offset, pending)
        };
        self.fail_waiters_from(first_unwritten, &error);
        if let (false, Some(log)) = (already_pending, self.self_ref.upgrade()) {
            glommio::spawn_local(async move { log.roll_back_unwritten().await }).detach();
        }
        self.schedule_space_probe();
        error
    }

    fn schedule_space_probe(&self) {
        let probe_at_ms = now_ms().saturating_add(DISK_FULL_RETRY_MS as i64);
        self.flush_queue
            .schedule(probe_at_ms, self.self_ref.clone());
    }

    /// Rolls back every batch not written when ENOSPC came, under the append
    /// turn (no append or decision in between) and the flush turn.
    async fn roll_back_unwritten(&self) {
        let Ok(_append) = self.append_lock.acquire_permit(1).await else {
            return;
        };
        let Ok(_flush) = self.flush_turn().await else {
            return;
        };
        let rolled_back = self.truncate_unwritten();
        self.state.borrow_mut().rollback_pending = false;
        // The rolled-back bytes no longer count against the shard's bound.
        self.recount_unwritten();
        let Some(rolled_back) = rolled_back else {
            return;
        };
        self.fail_waiters_from(rolled_back.from_offset, &self.disk_full_error());
        log::warn!(
            "partition {}: rolled back {} unwritten batch(es), offsets {}..{}, refused for lack \
             of space; the next append gets offset {}",
            self.name,
            rolled_back.batches,
            rolled_back.from_offset,
            rolled_back.end_offset,
            rolled_back.from_offset
        );
        let waiters_left = {
            let state = self.state.borrow();
            !state.synced_waiters.is_empty() || !state.written_waiters.is_empty()
        };
        if waiters_left {
            self.mark_dirty();
        }
    }

    /// Removes the unwritten batches from memory (all in the active segment:
    /// a roll writes everything first), so the log ends at its written end
    /// again; `None` when nothing was unwritten.
    fn truncate_unwritten(&self) -> Option<RolledBack> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let from_offset = state.written_end_offset;
        let end_offset = state.log_end_offset();
        if from_offset >= end_offset {
            return None;
        }
        let position = state.write.written;
        let batches = state.cut_active_tail(from_offset, position);
        Some(RolledBack {
            from_offset,
            end_offset,
            batches,
        })
    }

    /// Nothing to write while the disk is full: probe for space with a
    /// preallocation one block past the written end. Success ends the
    /// disk-full state; ENOSPC schedules the next probe. Caller holds
    /// `flush_lock`.
    pub(super) async fn probe_space(&self) -> Result<(), StorageError> {
        if !self.is_disk_full() || self.state.borrow().rollback_pending {
            return Ok(());
        }
        let (dma, path, probe_end) = {
            let state = self.state.borrow();
            let written = state.write.written;
            let probe_end = super::segment::align_up(written) + WRITE_ALIGNMENT_BYTES;
            (
                state.active.dma.clone(),
                state.active.log_path.clone(),
                probe_end.max(state.active.allocated),
            )
        };
        match dma.pre_allocate(probe_end).await {
            Ok(()) => {
                let mut state = self.state.borrow_mut();
                state.active.allocated = state.active.allocated.max(probe_end);
                drop(state);
                self.leave_disk_full();
                Ok(())
            }
            Err(error) => {
                let error = StorageError::io("preallocate", &path, error);
                if !error.is_no_space() {
                    self.count(|stats| stats.write_errors += 1);
                    return Err(self.fail(error));
                }
                self.count(|stats| stats.no_space_errors += 1);
                self.schedule_space_probe();
                Ok(())
            }
        }
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

    /// Refuses an append while the disk is full.
    pub(super) fn check_disk_space(&self) -> Result<(), StorageError> {
        match self.disk_full.borrow().as_ref() {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    fn count(&self, update: impl FnOnce(&mut super::log::LogStats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }
}
