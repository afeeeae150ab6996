//! Segment rolls without a sync on the append path (issue 14 §2).
//!
//! A roll used to write and fdatasync the old segment, truncate it, write
//! its index files, create the next one and fsync the directory, all under
//! the append lock: every append to the partition waited for two syncs of
//! the device (roll stalls up to 492 ms on the shared VM, the whole produce
//! p99 at the maximum rate). Now a roll, under `append_lock` and
//! `flush_lock` only, writes what the old segment still has unwritten (the
//! O_DIRECT writes an acks=1 answer waits for anyway), creates the next
//! segment file and makes it active: appends go on into it at once. The
//! old segment is left *sealing* ([`Sealing`]); its seal is done by the
//! next flusher round, under `sync_lock` like any fdatasync, before that
//! round syncs anything of the new segment:
//! 1. truncate the old `.log` to its logical size and fdatasync it;
//! 2. write its `.index` / `.timeindex` (each fdatasynced);
//! 3. fsync the directory (the new segment's entry, the index files');
//! 4. only then move the synced end offset to the old segment's end.
//!
//! What stays true:
//! - acks=all is answered only for fdatasynced bytes: the synced end offset
//!   passes the old segment's end at step 4 only, and no sync of the new
//!   segment counts before it (the seal comes first, under the same lock);
//! - the recovery point names synced offsets only (it waits for them);
//! - a crash before the seal's end leaves a sealed segment without index
//!   files, possibly torn, and maybe a later segment with data: recovery
//!   checks such a segment and, when it ends short of the next one's base,
//!   deletes the later segments, as Kafka does (`recovery.rs`); what they
//!   held was never acknowledged as synced;
//! - a failed fdatasync (or any I/O error but ENOSPC) in the seal fails the
//!   log; ENOSPC enters the disk-full state and the seal is retried once
//!   space is back.
//!
//! At most one segment is sealing: a roll that finds the previous seal not
//! done does it itself first (only segments filled faster than a sync can
//! reach that).

use super::appender::ActiveWrite;
use super::error::StorageError;
use super::flusher::{complete_all, take_reached};
use super::log::PartitionLog;
use super::segment::{sync_directory, IndexFiles, Segment, SegmentReader};

/// The segment a roll left behind, not yet made whole on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sealing {
    /// Its base offset (its key among the sealed segments).
    pub(super) base_offset: i64,
    /// Offset after its last batch: the synced end offset once sealed.
    pub(super) end_offset: i64,
    /// Records appended and not synced when it rolled (`flush.messages`).
    pub(super) records: u64,
}

/// What the seal needs, taken from the log state without holding a borrow.
struct SealWork {
    reader: SegmentReader,
    size: u64,
    index_files: IndexFiles,
}

impl PartitionLog {
    /// Seals the active segment and starts a new one at the log end offset,
    /// without waiting for any sync (module doc). Caller holds
    /// `append_lock`.
    pub(super) async fn roll(&self) -> Result<(), StorageError> {
        let _write = self
            .flush_lock
            .acquire_permit(1)
            .await
            .map_err(|_| self.closed_error())?;
        self.check_open()?;
        self.write_everything().await?;
        if self.state.borrow().sealing.is_some() {
            self.seal_now().await?;
        }
        self.state.borrow_mut().active.indexes.seal();
        let next = self
            .create_next_segment()
            .await
            .map_err(|error| self.on_roll_error(error))?;
        let (old_base, base) = self.make_active(next);
        self.recount_unwritten();
        // The next round seals the old segment.
        self.mark_dirty();
        log::info!("{}: rolled segment {old_base} -> {base}", self.name);
        Ok(())
    }

    /// Creates the next segment file, empty: its first write round
    /// preallocates it at the partition's pace (`preallocation.rs`); the
    /// seal of the segment before it fsyncs the directory.
    async fn create_next_segment(&self) -> Result<Segment, StorageError> {
        let base = self.state.borrow().log_end_offset();
        Segment::create(&self.dir, base).await
    }

    /// `next` becomes the active segment, the old one sealing; returns
    /// their base offsets.
    fn make_active(&self, next: Segment) -> (i64, i64) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let base = next.base_offset;
        let old = std::mem::replace(&mut state.active, next);
        let old_base = old.base_offset;
        state.sealing = Some(Sealing {
            base_offset: old_base,
            end_offset: old.next_offset,
            records: state.unsynced_records,
        });
        state.sealed_bytes += old.size;
        state.sealed.insert(old_base, old);
        state.write = ActiveWrite::default();
        (old_base, base)
    }

    /// Writes every appended batch (no sync). Caller holds `flush_lock`
    /// and `append_lock` (no append comes in between).
    async fn write_everything(&self) -> Result<(), StorageError> {
        loop {
            let written_before = self.state.borrow().written_end_offset;
            self.write_round().await?;
            let state = self.state.borrow();
            if state.written_end_offset >= state.log_end_offset() {
                return Ok(());
            }
            if state.written_end_offset == written_before {
                // Unreachable unless the in-memory state is inconsistent;
                // refuse rather than loop forever.
                let error = StorageError::Corrupt {
                    path: state.active.log_path.to_path_buf(),
                    reason: "unwritten batches missing from memory".into(),
                };
                drop(state);
                return Err(self.fail(error));
            }
        }
    }

    /// Takes `sync_lock` and seals the sealing segment, if any is left.
    async fn seal_now(&self) -> Result<(), StorageError> {
        let _sync = self
            .sync_lock
            .acquire_permit(1)
            .await
            .map_err(|_| self.closed_error())?;
        self.seal_pending().await
    }

    /// Makes the sealing segment whole on disk, then moves the synced end
    /// offset to its end (module doc, steps 1-4). Caller holds `sync_lock`.
    /// Nothing to do without one, or once the log closed for deletion.
    pub(super) async fn seal_pending(&self) -> Result<(), StorageError> {
        let Some(sealing) = self.state.borrow().sealing else {
            return Ok(());
        };
        if self.closed.get() {
            return Ok(());
        }
        let Some(work) = self.seal_work(sealing.base_offset) else {
            self.state.borrow_mut().sealing = None;
            return Ok(());
        };
        // The cut below must come after any zero write into the old file.
        self.zero_task_done_in(sealing.base_offset, u64::MAX).await;
        let sync_started = std::time::Instant::now();
        let synced = work.reader.truncate_synced(work.size).await;
        crate::metrics::with_local(|m| m.fsync_latency.observe(sync_started.elapsed()));
        synced.map_err(|error| self.on_sync_error(error))?;
        self.update_stats(|stats| stats.fdatasyncs += 1);
        let persisted = match self.write_sealed_index_files(&work).await {
            Ok(()) => sync_directory(&self.dir).await,
            Err(error) => Err(error),
        };
        persisted.map_err(|error| self.on_seal_error(error))?;
        self.sealed(sealing);
        Ok(())
    }

    /// A sealed segment's index files are final; a recovery point writing
    /// the same files (taken before the roll) finishes first.
    async fn write_sealed_index_files(&self, work: &SealWork) -> Result<(), StorageError> {
        let _index = self.index_files_turn().await?;
        work.index_files.write().await
    }

    fn seal_work(&self, base_offset: i64) -> Option<SealWork> {
        let state = self.state.borrow();
        let segment = state.sealed.get(&base_offset)?;
        Some(SealWork {
            reader: segment.reader(),
            size: segment.size,
            index_files: segment.index_files(),
        })
    }

    /// The seal of `sealing` is on disk: acks=all waiters up to its end are
    /// answered.
    fn sealed(&self, sealing: Sealing) {
        let completed = {
            let mut state = self.state.borrow_mut();
            state.sealing = None;
            if let Some(segment) = state.sealed.get_mut(&sealing.base_offset) {
                let size = segment.size;
                segment.cut_allocation_to(size);
            }
            state.synced_end_offset = state.synced_end_offset.max(sealing.end_offset);
            state.unsynced_records = state.unsynced_records.saturating_sub(sealing.records);
            state.last_sync_ms = super::log::now_ms();
            take_reached(&mut state.synced_waiters, sealing.end_offset)
        };
        complete_all(completed);
        self.synced_listeners.fire_all();
    }
}
