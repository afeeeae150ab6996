//! Truncation past the active segment (issue 13), as Kafka's
//! `LocalLog.truncateTo` and `UnifiedLog.truncateFullyAndStartAt` do:
//! - a cut inside a sealed segment deletes every later segment (the active
//!   one included) with its index, time index and snapshot files, cuts the
//!   segment holding the offset, which becomes the active one, with its
//!   indexes cut too;
//! - a cut below the log start (or a follower below the leader's log start)
//!   deletes every segment and starts an empty log at the offset.
//!
//! Crash safety comes from the order on disk: later segments go newest
//! first, each `.log` after its other files, so a crash leaves a prefix of
//! the old log; the directory is fsynced; then the kept segment's index
//! files are written for the cut (a crash now reloads the old, longer
//! segment, still a prefix); only then is its `.log` truncated and
//! fdatasynced. Whatever the crash point, the next start loads a
//! consistent prefix of the old log, and the follower fetches the rest. An
//! I/O error midway fails the log (the partition goes offline; a restart
//! recovers as above).

use super::appender::ActiveWrite;
use super::error::StorageError;
use super::log::{now_ms, PartitionLog};
use super::recovery::reload_active;
use super::scan::find_batch;
use super::segment::{sync_directory, Segment};
use std::rc::Rc;

impl PartitionLog {
    /// Cuts the log at `offset`, which falls in a sealed segment (the
    /// caller holds the append and flush locks, everything is written and
    /// synced): to the start of the batch holding it. Returns where the log
    /// now ends.
    pub(super) async fn truncate_sealed(&self, offset: i64) -> Result<i64, StorageError> {
        let (reader, base, start, size, next_offset) = {
            let state = self.state.borrow();
            let Some((_, segment)) = state.sealed.range(..=offset).next_back() else {
                return Ok(state.log_end_offset());
            };
            let relative = (offset - segment.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
            let start = u64::from(segment.indexes.offsets.lookup(relative));
            let size = segment.size;
            (
                segment.reader(),
                segment.base_offset,
                start,
                size,
                segment.next_offset,
            )
        };
        let read_bytes = self.limits.recovery_read_bytes;
        let found = find_batch(&reader, start.min(size), size, read_bytes, |info| {
            info.last_offset() >= offset
        })
        .await?;
        let (position, cut) = found.map_or((size, next_offset), |(p, info)| (p, info.base_offset));
        let cut_on_disk = self.cut_segments_on_disk(base, position, cut).await;
        cut_on_disk.map_err(|error| self.fail(error))?;
        let config = self.config.borrow().clone();
        let reloaded = reload_active(&self.dir, &self.name, base, &config, &self.limits, cut).await;
        let (segment, write, tail) = reloaded.map_err(|error| self.fail(error))?;
        let end = segment.next_offset;
        {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            let dropped = state.sealed.split_off(&base);
            state.sealed_bytes -= dropped.values().map(|s| s.size).sum::<u64>();
            state.recent.clear();
            for batch in tail {
                state.recent.push(batch);
            }
            self.install_active(state, segment, write, end);
        }
        self.after_cut(end);
        log::warn!(
            "{}: truncated to offset {end} (asked {offset}), below the active segment: \
             segments from {base} on cut or deleted to match the leader",
            self.name
        );
        Ok(end)
    }

    /// Deletes every segment after `base` (newest first), fsyncs the
    /// directory, writes `base`'s index files as they are below `cut` (at
    /// byte `position`), then truncates and fdatasyncs its `.log` there.
    async fn cut_segments_on_disk(
        &self,
        base: i64,
        position: u64,
        cut: i64,
    ) -> Result<(), StorageError> {
        // Contents taken under the turn: a recovery point writing older ones
        // finishes first.
        let _index = self.index_files_turn().await?;
        let (later, index_files, path) = {
            let state = self.state.borrow();
            let later = later_segment_files(&state.sealed, &state.active, base);
            let kept = state.sealed.get(&base);
            let index_files = kept.map(|segment| segment.index_files_up_to(position, cut));
            (later, index_files, kept.map(|s| s.log_path.to_path_buf()))
        };
        for segment in later.iter().rev() {
            segment.remove_files().await?;
        }
        sync_directory(&self.dir).await?;
        let (Some(index_files), Some(path)) = (index_files, path) else {
            return Ok(());
        };
        index_files.write().await?;
        let writable = Segment::open(path, base, true).await?;
        writable.reader().truncate_synced(position).await
    }

    /// Deletes every segment and starts an empty log at `offset` (Kafka's
    /// `truncateFullyAndStartAt`): a follower below its leader's log start,
    /// or a cut below this log's start. Takes the locks itself.
    pub async fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), StorageError> {
        let _append = self
            .append_lock
            .acquire_permit(1)
            .await
            .map_err(|_| self.closed_error())?;
        let _flush = self.flush_turn().await.map_err(|_| self.closed_error())?;
        self.check_open()?;
        self.restart_at(offset).await
    }

    /// [`PartitionLog::truncate_fully_and_start_at`], the locks held.
    pub(super) async fn restart_at(&self, offset: i64) -> Result<(), StorageError> {
        let offset = offset.max(0);
        // A recovery point writing index files finishes before they go.
        let _index = self.index_files_turn().await?;
        let all = {
            let state = self.state.borrow();
            later_segment_files(&state.sealed, &state.active, i64::MIN)
        };
        let created = async {
            for segment in all.iter().rev() {
                segment.remove_files().await?;
            }
            sync_directory(&self.dir).await?;
            let segment = Segment::create(&self.dir, offset).await?;
            sync_directory(&self.dir).await?;
            Ok::<Segment, StorageError>(segment)
        };
        let segment = created.await.map_err(|error| self.fail(error))?;
        {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            state.sealed.clear();
            state.sealed_bytes = 0;
            state.recent.clear();
            state.log_start_offset = offset;
            self.install_active(state, segment, ActiveWrite::default(), offset);
            // Everything before is gone, whatever the new start.
            state.truncated_from = Some(i64::MIN);
        }
        self.after_cut(i64::MIN);
        log::warn!(
            "{}: every segment deleted, the log starts empty at offset {offset}",
            self.name
        );
        self.forget_log_start_entry().await
    }

    /// Makes `segment` (ending at `end`, written and synced up to `write`)
    /// the active one, forgetting the unsynced counts of what was cut.
    fn install_active(
        &self,
        state: &mut super::log::LogState,
        mut segment: Segment,
        write: ActiveWrite,
        end: i64,
    ) {
        segment.created_ms = now_ms();
        state.active = segment;
        state.write = write;
        state.written_end_offset = end;
        state.synced_end_offset = end;
        state.unsynced_records = 0;
        // A seal left pending was of a segment now cut or deleted.
        state.sealing = None;
        // The checkpoint's recovery point may lie past the new end: a crash
        // before the next one checks from the last index entry it finds.
        state.recovery_point.appended_bytes = 0;
        state.recovery_point.recorded_bytes = 0;
        self.truncated_at(state, end);
    }

    fn truncated_at(&self, state: &mut super::log::LogState, end: i64) {
        state.truncated_from = Some(state.truncated_from.map_or(end, |t| t.min(end)));
    }

    /// Waiters for the removed offsets fail; the unwritten count is redone.
    fn after_cut(&self, from: i64) {
        let error = StorageError::Corrupt {
            path: self.dir.clone(),
            reason: format!("offsets from {from} truncated: the leader's log diverges"),
        };
        self.fail_waiters_from(from, &error);
        self.recount_unwritten();
        self.wake_all_listeners();
    }
}

/// The segments (sealed ones after `base`, and the active one), oldest
/// first, as handles whose files can be removed once no borrow is held.
fn later_segment_files(
    sealed: &std::collections::BTreeMap<i64, Segment>,
    active: &Segment,
    base: i64,
) -> Vec<SegmentFiles> {
    let mut files: Vec<SegmentFiles> = sealed
        .range(base.saturating_add(1)..)
        .map(|(_, segment)| SegmentFiles::of(segment))
        .collect();
    if active.base_offset > base {
        files.push(SegmentFiles::of(active));
    }
    files
}

/// What removing a segment's files needs, held without a borrow of the log.
struct SegmentFiles {
    log_path: Rc<std::path::Path>,
    base_offset: i64,
}

impl SegmentFiles {
    fn of(segment: &Segment) -> Self {
        SegmentFiles {
            log_path: segment.log_path.clone(),
            base_offset: segment.base_offset,
        }
    }

    async fn remove_files(&self) -> Result<(), StorageError> {
        super::segment::remove_segment_files(&self.log_path, self.base_offset).await
    }
}
