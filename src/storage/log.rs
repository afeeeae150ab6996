//! [`PartitionLog`]: one partition's log on its owning shard. Appends assign
//! offsets and land in memory synchronously; the shard's flusher writes and
//! syncs them (`flusher.rs`); reads are in `log_read.rs`, retention in
//! `retention.rs`.
//!
//! Interior mutability only; no `RefCell` borrow is ever held across an
//! `.await`. Three FIFO locks order the asynchronous parts: `append_lock`
//! (appends, including a segment roll; held by an [`AppendSlot`] from
//! `begin_append` to `commit`), `flush_lock` (one write round at a time; a
//! roll takes it) and `sync_lock` (one fdatasync at a time, a roll's seal
//! included: `roll.rs`); shutdown and truncation take the last two as the
//! flush turn, which also waits for an fdatasync in flight.

use super::appender::{ActiveWrite, HeaderArena, RecentBatch, RecentBatches};
use super::config::{Durability, LogConfig, StorageLimits};
use super::error::{AppendError, StorageError};
use super::flusher::FlushQueue;
use super::index::IndexedBatch;
use super::notify::{AppendListener, AppendListeners, Completion, DurableWait};
use super::preallocation::Preallocation;
use super::recent_budget::{CountedReads, RecentBudget};
use super::recent_copy::recent_parts;
use super::recovery::LoadedLog;
use super::recovery_point::RecoveryPointState;
use super::roll::Sealing;
use super::segment::Segment;
use crate::protocol::record_batch::{stamp_header, BatchInfo};
use glommio::sync::{Permit, Semaphore};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::{Rc, Weak};

mod append_slot;
use append_slot::Stamp;
pub use append_slot::{AppendBatch, AppendResult, AppendSlot};

/// `logAppendTime` of a CreateTime topic.
pub const NO_LOG_APPEND_TIME: i64 = -1;

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

fn recent_from(batches: Vec<RecentBatch>, shard_bytes: Rc<Cell<usize>>) -> RecentBatches {
    let mut recent = RecentBatches::new(shard_bytes);
    for batch in batches {
        recent.push(batch);
    }
    recent
}

/// Mutable state of a log.
pub(super) struct LogState {
    pub(super) sealed: BTreeMap<i64, Segment>,
    pub(super) sealed_bytes: u64,
    pub(super) active: Segment,
    pub(super) write: ActiveWrite,
    pub(super) recent: RecentBatches,
    pub(super) arena: HeaderArena,
    pub(super) log_start_offset: i64,
    /// Offset after the last batch whose write completed.
    pub(super) written_end_offset: i64,
    /// Offset after the last batch covered by a completed fdatasync.
    pub(super) synced_end_offset: i64,
    /// Records appended since the last fdatasync (`flush.messages`).
    pub(super) unsynced_records: u64,
    pub(super) last_sync_ms: i64,
    pub(super) written_waiters: BTreeMap<(i64, u64), Rc<Completion>>,
    pub(super) synced_waiters: BTreeMap<(i64, u64), Rc<Completion>>,
    pub(super) waiter_sequence: u64,
    /// How far ahead of its writes the active segment is preallocated.
    pub(super) preallocation: Preallocation,
    /// Wall-clock ms of the last completed write (or of the open).
    pub(super) last_write_ms: i64,
    /// ENOSPC stopped the writes: the unwritten batches wait to be rolled
    /// back, and nothing is written or appended until they are.
    pub(super) rollback_pending: bool,
    /// Lowest offset rolled back and not yet reported to the partition layer
    /// ([`PartitionLog::take_truncation`]).
    pub(super) truncated_from: Option<i64>,
    /// What the recovery point policy tracks (`recovery_point.rs`).
    pub(super) recovery_point: RecoveryPointState,
    /// The sealed segment whose seal (fdatasync, index files, directory
    /// fsync) is still to be done (`roll.rs`).
    pub(super) sealing: Option<Sealing>,
}

impl LogState {
    pub(super) fn log_end_offset(&self) -> i64 {
        self.active.next_offset
    }
}

/// A partition's log. `!Send`: lives on its owning shard as `Rc<PartitionLog>`.
pub struct PartitionLog {
    pub(super) name: String,
    pub(super) dir: PathBuf,
    pub(super) config: RefCell<LogConfig>,
    pub(super) limits: StorageLimits,
    pub(super) state: RefCell<LogState>,
    pub(super) failure: RefCell<Option<StorageError>>,
    /// The ENOSPC that keeps appended batches from being written, if any
    /// (`disk_faults.rs`).
    pub(super) disk_full: RefCell<Option<StorageError>>,
    pub(super) closed: Cell<bool>,
    pub(super) append_lock: Semaphore,
    pub(super) flush_lock: Semaphore,
    /// Held by an fdatasync in flight; the flush turn (`flusher.rs`) waits
    /// for it, a flusher round's writes do not.
    pub(super) sync_lock: Semaphore,
    /// Held while index files of this log are written: they go out in the
    /// order their contents were taken. Taken after the flush turn or
    /// `sync_lock`, never before; a recovery point takes it alone, so its
    /// index writes do not stop the log's writes (`recovery_point.rs`).
    pub(super) index_files_lock: Semaphore,
    /// Fired after each append.
    pub(super) listeners: AppendListeners,
    /// Fired after each fdatasync that moved the synced end offset.
    pub(super) synced_listeners: AppendListeners,
    pub(super) flush_queue: Rc<FlushQueue>,
    pub(super) flush_queued: Cell<bool>,
    /// Consumers parked for the next fdatasync (`parked_readers.rs`).
    pub(super) parked_readers: Cell<usize>,
    pub(super) sync_scheduled: Cell<bool>,
    pub(super) self_ref: Weak<PartitionLog>,
    pub(super) stats: Cell<LogStats>,
    /// Recent batch bytes of all logs of the shard, and their bound.
    pub(super) recent_budget: Rc<RecentBudget>,
    /// Appended to or read from memory since the shard's eviction hand last
    /// passed (`recent_budget.rs`).
    pub(super) recently_used: Cell<bool>,
    /// When it was last appended to or read from memory: a log idle for
    /// [`super::recent_budget::RECENT_IDLE_MS`] gives its room up first.
    pub(super) last_used_at: Cell<std::time::Instant>,
    /// A bound on this log's recent batches below its budget (a follower's:
    /// [`PartitionLog::set_recent_bytes_cap`]); `usize::MAX` for none.
    pub(super) recent_cap_bytes: Cell<usize>,
    /// Reads from the disk that grew the room (`recent_budget.rs`).
    pub(super) counted_disk_reads: CountedReads,
    /// This log's unwritten bytes as last counted in the shard's sum.
    pub(super) unwritten_counted: Cell<u64>,
    /// The topic id its directory's `partition.metadata` must name and does
    /// not durably yet (`partition_metadata.rs`).
    pub(super) unflushed_topic_id: Cell<Option<uuid::Uuid>>,
    /// A base offset fill of loaded index entries runs (`base_fill.rs`).
    pub(super) base_fill_running: Cell<bool>,
    /// The task writing zeros ahead of the data (`zero_ahead.rs`).
    pub(super) zero_ahead: super::zero_ahead::ZeroAhead,
    /// Its checkpointed log start and retention's bound (`log_start.rs`).
    pub(super) start_keeping: super::log_start::StartKeeping,
    /// Counted among the open logs while it lives (the open-file budget).
    pub(super) _counted: super::io::CountedLog,
}

/// Counters of a log's disk activity since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Flush rounds that wrote something.
    pub write_rounds: u64,
    /// Bytes handed to O_DIRECT writes (aligned blocks, rewrites included).
    pub bytes_written: u64,
    /// fdatasyncs of segment files by the flusher.
    pub fdatasyncs: u64,
    /// Failed writes and preallocations (ENOSPC excluded).
    pub write_errors: u64,
    /// Failed fdatasyncs.
    pub sync_errors: u64,
    /// ENOSPC answers to writes, preallocations and rolls.
    pub no_space_errors: u64,
    /// Zeros written ahead of the data (`zero_ahead.rs`).
    pub zeroed_bytes: u64,
    /// Failed zero-ahead writes (the log then stops zeroing ahead).
    pub zero_write_errors: u64,
}

impl PartitionLog {
    pub(super) fn from_loaded(
        name: String,
        dir: PathBuf,
        config: LogConfig,
        limits: StorageLimits,
        loaded: LoadedLog,
        flush_queue: Rc<FlushQueue>,
        recent_budget: Rc<RecentBudget>,
    ) -> Rc<Self> {
        let log_start_offset = loaded
            .sealed
            .first()
            .map_or(loaded.active.base_offset, |segment| segment.base_offset);
        let end = loaded.active.next_offset;
        let sealed_bytes = loaded.sealed.iter().map(|segment| segment.size).sum();
        let state = LogState {
            sealed: loaded
                .sealed
                .into_iter()
                .map(|segment| (segment.base_offset, segment))
                .collect(),
            sealed_bytes,
            active: loaded.active,
            write: loaded.active_write,
            recent: recent_from(loaded.tail_batches, recent_budget.counter()),
            arena: HeaderArena::new(limits.header_arena_bytes),
            log_start_offset,
            written_end_offset: end,
            synced_end_offset: end,
            unsynced_records: 0,
            last_sync_ms: now_ms(),
            written_waiters: BTreeMap::new(),
            synced_waiters: BTreeMap::new(),
            waiter_sequence: 0,
            preallocation: Preallocation::new(&limits),
            last_write_ms: now_ms(),
            rollback_pending: false,
            truncated_from: None,
            recovery_point: RecoveryPointState::opened(loaded.unchecked_bytes),
            sealing: None,
        };
        Rc::new_cyclic(|self_ref| PartitionLog {
            name,
            dir,
            config: RefCell::new(config),
            limits,
            state: RefCell::new(state),
            failure: RefCell::new(None),
            disk_full: RefCell::new(None),
            closed: Cell::new(false),
            append_lock: Semaphore::new(1),
            flush_lock: Semaphore::new(1),
            sync_lock: Semaphore::new(1),
            index_files_lock: Semaphore::new(1),
            listeners: AppendListeners::default(),
            synced_listeners: AppendListeners::default(),
            flush_queue,
            flush_queued: Cell::new(false),
            parked_readers: Cell::new(0),
            sync_scheduled: Cell::new(false),
            self_ref: self_ref.clone(),
            stats: Cell::new(LogStats::default()),
            recent_budget,
            recently_used: Cell::new(true),
            last_used_at: Cell::new(std::time::Instant::now()),
            recent_cap_bytes: Cell::new(usize::MAX),
            counted_disk_reads: CountedReads::default(),
            unwritten_counted: Cell::new(0),
            unflushed_topic_id: Cell::new(None),
            base_fill_running: Cell::new(false),
            zero_ahead: Default::default(),
            start_keeping: Default::default(),
            _counted: super::io::CountedLog::new(),
        })
    }

    /// `<topic>-<partition>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends `batches` (validated) in order, with nothing decided between
    /// taking the log's turn and the append: [`PartitionLog::begin_append`]
    /// then [`AppendSlot::commit`], waiting for nothing.
    pub async fn append(
        &self,
        batches: Vec<AppendBatch>,
        leader_epoch: i32,
    ) -> Result<AppendResult, AppendError> {
        let slot = self.begin_append(batches).await?;
        let (result, _) = slot
            .commit(leader_epoch, Durability::Appended, |_| {}, |_, _| {})
            .await?;
        Ok(result)
    }

    /// Takes this log's turn for appending `batches` (validated by the
    /// caller; their lengths are checked again): refuses them when the log is
    /// failed, closed or its disk full, waits for the appends before, and
    /// while the partition's unwritten bytes, or the shard's
    /// (`log.unwritten.bytes.per.shard.max`), are over their bound. The caller
    /// may then decide (e.g. refuse a producer's duplicate) knowing no other
    /// append comes in between, and [`AppendSlot::commit`]s or drops the slot.
    pub async fn begin_append(
        &self,
        batches: Vec<AppendBatch>,
    ) -> Result<AppendSlot<'_>, AppendError> {
        self.check_open()?;
        let (total_bytes, total_offsets, max_timestamp) = self.check_batches(&batches)?;
        let turn = self
            .append_lock
            .acquire_permit(1)
            .await
            .map_err(|_| self.closed_error())?;
        self.check_open()?;
        self.check_disk_space()?;
        self.wait_for_write_room().await?;
        self.flush_queue.unwritten.wait_for_room().await;
        self.check_open()?;
        Ok(AppendSlot {
            log: self,
            _turn: turn,
            batches,
            total_bytes,
            total_offsets,
            max_timestamp,
        })
    }

    /// (bytes, offsets, largest `maxTimestamp`) of valid batches.
    fn check_batches(&self, batches: &[AppendBatch]) -> Result<(u64, i64, i64), AppendError> {
        if batches.is_empty() {
            return Err(AppendError::InvalidRecord);
        }
        let max_message_bytes = self.config.borrow().max_message_bytes as usize;
        let mut bytes = 0u64;
        let mut offsets = 0i64;
        let mut max_timestamp = i64::MIN;
        for batch in batches {
            if batch.info.len != batch.len() || batch.info.last_offset_delta < 0 {
                return Err(AppendError::InvalidRecord);
            }
            if batch.len() > max_message_bytes {
                return Err(AppendError::RecordTooLarge);
            }
            bytes += batch.len() as u64;
            offsets += batch.info.offset_count();
            max_timestamp = max_timestamp.max(batch.info.max_timestamp);
        }
        Ok((bytes, offsets, max_timestamp))
    }

    /// Backpressure: waits while the unwritten bytes are over their bound.
    async fn wait_for_write_room(&self) -> Result<(), StorageError> {
        let waiting_for = {
            let state = self.state.borrow();
            let unwritten = state.active.size - state.write.written;
            let bound = self.limits.unwritten_bytes_per_partition_max as u64;
            (unwritten > bound).then(|| state.log_end_offset() - 1)
        };
        match waiting_for {
            Some(last_offset) => self.wait_durable(last_offset, Durability::Written).await,
            None => Ok(()),
        }
    }

    /// Whether the active segment must roll before an append of
    /// `total_bytes` and `total_offsets` whose largest timestamp is
    /// `max_timestamp`: `segment.bytes`, the u32 relative offsets, or
    /// `segment.ms` counted as Kafka does (`Segment::time_waited_for_roll`).
    fn needs_roll(&self, total_bytes: u64, total_offsets: i64, max_timestamp: i64) -> bool {
        let config = self.config.borrow();
        let state = self.state.borrow();
        let active = &state.active;
        if active.size == 0 {
            return false;
        }
        let too_big = active.size + total_bytes > config.effective_segment_bytes();
        let last_relative = state.log_end_offset() + total_offsets - 1 - active.base_offset;
        let too_many_offsets = last_relative > i64::from(i32::MAX);
        let waited_ms = active.time_waited_for_roll(now_ms(), max_timestamp);
        let too_old = waited_ms >= config.segment_ms.min(i64::MAX as u64) as i64;
        too_big || too_many_offsets || too_old
    }

    fn append_in_memory(
        &self,
        batches: Vec<AppendBatch>,
        stamp: Stamp,
        mut on_batch: impl FnMut(&BatchInfo, i64),
    ) -> AppendResult {
        let interval = self.config.borrow().index_interval_bytes;
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let base_offset = state.log_end_offset();
        self.mark_used();
        let log_append_time = match stamp {
            Stamp::Leader(_) => self.log_append_time(),
            Stamp::AsWritten => None,
        };
        for mut batch in batches {
            if let Some(now_ms) = log_append_time {
                batch.stamp_log_append_time(now_ms);
            }
            let offset = state.active.next_offset;
            let mut header = batch.header;
            if let Stamp::Leader(leader_epoch) = stamp {
                stamp_header(&mut header, offset, leader_epoch);
            }
            let position = state.active.size;
            let last_offset = offset + i64::from(batch.info.last_offset_delta);
            state.active.indexes.on_batch(
                IndexedBatch {
                    relative_base_offset: (offset - state.active.base_offset) as u32,
                    relative_last_offset: (last_offset - state.active.base_offset) as u32,
                    position: position as u32,
                    len: batch.len() as u32,
                    max_timestamp: batch.info.max_timestamp,
                },
                interval,
            );
            on_batch(&batch.info, offset);
            state.unsynced_records += batch.info.record_count.max(0) as u64;
            state.recovery_point.appended_bytes += batch.len() as u64;
            state.active.size += batch.len() as u64;
            state.active.next_offset = last_offset + 1;
            state
                .active
                .first_batch_timestamp
                .get_or_insert(batch.info.max_timestamp);
            let (header, body) =
                recent_parts(&header, batch.body, batch.pinned_bytes, &mut state.arena);
            state.recent.push(RecentBatch {
                base_offset: offset,
                last_offset,
                max_timestamp: batch.info.max_timestamp,
                segment_base: state.active.base_offset,
                position,
                header,
                body,
            });
        }
        AppendResult {
            base_offset,
            last_offset: state.log_end_offset() - 1,
            log_append_time_ms: log_append_time.unwrap_or(NO_LOG_APPEND_TIME),
            log_start_offset: state.log_start_offset,
        }
    }

    /// Makes the active segment whole on disk: truncated to its logical
    /// size, fdatasynced, then its index files written. Done when it is
    /// sealed (a roll) and at shutdown; everything must be written already.
    pub(super) async fn persist_active_segment(&self) -> Result<(), StorageError> {
        let (reader, size) = {
            let state = self.state.borrow();
            (state.active.reader(), state.active.size)
        };
        reader.truncate_synced(size).await?;
        let _index = self.index_files_turn().await?;
        let index_files = self.state.borrow().active.index_files();
        index_files.write().await
    }

    /// The turn to write this log's index files (`index_files_lock`).
    pub(super) async fn index_files_turn(&self) -> Result<Permit<'_>, StorageError> {
        self.index_files_lock
            .acquire_permit(1)
            .await
            .map_err(|_| self.closed_error())
    }

    /// Resolves when everything up to `last_offset` reached `durability`,
    /// or with the error that prevents it (the log failed or closed).
    /// Producers wait through the [`DurableWait`] their append registered
    /// ([`AppendSlot::commit`]), which a rollback of their offsets fails.
    pub async fn wait_durable(
        &self,
        last_offset: i64,
        durability: Durability,
    ) -> Result<(), StorageError> {
        self.register_wait(last_offset, durability).wait().await
    }

    /// Registers a wait for everything up to `last_offset` to reach
    /// `durability` (see [`PartitionLog::wait_durable`]).
    pub(super) fn register_wait(&self, last_offset: i64, durability: Durability) -> DurableWait {
        if let Some(error) = self.failure.borrow().clone() {
            return DurableWait::ready(Err(error));
        }
        let completion = {
            let mut state = self.state.borrow_mut();
            let last_offset = last_offset.min(state.log_end_offset() - 1);
            let reached = match durability {
                Durability::Appended => return DurableWait::ready(Ok(())),
                Durability::Written => state.written_end_offset,
                Durability::Synced => state.synced_end_offset,
            };
            if reached > last_offset {
                return DurableWait::ready(Ok(()));
            }
            if self.closed.get() {
                return DurableWait::ready(Err(self.closed_error()));
            }
            let completion = Rc::new(Completion::default());
            state.waiter_sequence += 1;
            let key = (last_offset, state.waiter_sequence);
            let waiters = match durability {
                Durability::Synced => &mut state.synced_waiters,
                _ => &mut state.written_waiters,
            };
            waiters.insert(key, completion.clone());
            completion
        };
        self.mark_dirty();
        DurableWait::pending(completion)
    }

    /// A future resolving once appended batches become readable (their
    /// write completed), or when the log fails or closes. Registered now: a
    /// move after this call is never missed.
    pub fn append_listener(&self) -> AppendListener {
        self.register_listener(&self.listeners)
    }

    /// A future resolving after the next fdatasync that moves
    /// [`PartitionLog::synced_end_offset`] (or when the log fails or closes).
    /// Registered now: a sync after this call is never missed.
    pub fn synced_listener(&self) -> AppendListener {
        self.register_listener(&self.synced_listeners)
    }

    fn register_listener(&self, listeners: &AppendListeners) -> AppendListener {
        let listener = listeners.register();
        if self.closed.get() || self.failure.borrow().is_some() {
            listeners.fire_all();
        }
        listener
    }

    /// Wakes every listener: the log failed or closed.
    pub(super) fn wake_all_listeners(&self) {
        self.listeners.fire_all();
        self.synced_listeners.fire_all();
    }

    /// Offset after the last batch covered by a completed fdatasync: what
    /// survives a crash. Never above [`PartitionLog::log_end_offset`].
    pub fn synced_end_offset(&self) -> i64 {
        self.state.borrow().synced_end_offset
    }

    /// Offset of the first record still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.state.borrow().log_start_offset
    }

    /// Offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.state.borrow().log_end_offset()
    }

    /// Offset after the last readable batch: appends become readable once
    /// their write completed, so a batch that ENOSPC keeps from the disk
    /// is rolled back before anyone could read it (`disk_faults.rs`).
    pub fn readable_end_offset(&self) -> i64 {
        self.state.borrow().written_end_offset
    }

    /// Takes the lowest offset rolled back since the last call (see
    /// [`AppendSlot::take_truncation`]).
    pub fn take_truncation(&self) -> Option<i64> {
        self.state.borrow_mut().truncated_from.take()
    }

    /// Bytes of all segments (logical sizes).
    pub fn size_bytes(&self) -> u64 {
        let state = self.state.borrow();
        state.sealed_bytes + state.active.size
    }

    /// Segments of the log, the active one included.
    pub fn segment_count(&self) -> usize {
        self.state.borrow().sealed.len() + 1
    }

    /// True after a failed write or fdatasync: the log refuses appends and reads.
    pub fn is_failed(&self) -> bool {
        self.failure.borrow().is_some()
    }

    /// Disk activity counters.
    pub fn stats(&self) -> LogStats {
        self.stats.get()
    }

    /// Replaces the topic settings (they apply from the next append/roll).
    /// A flush round follows, so a new sync policy applies to data already
    /// written.
    pub fn set_config(&self, config: LogConfig) {
        let changed = *self.config.borrow() != config;
        *self.config.borrow_mut() = config;
        if changed {
            self.mark_dirty();
        }
    }

    /// Current topic settings.
    pub fn config(&self) -> LogConfig {
        self.config.borrow().clone()
    }

    /// Refuses appends and reads once the log failed (a write or fdatasync
    /// error) or was closed.
    pub(super) fn check_open(&self) -> Result<(), StorageError> {
        if self.failure.borrow().is_some() {
            return Err(StorageError::LogFailed {
                partition: self.name.clone(),
            });
        }
        if self.closed.get() {
            return Err(self.closed_error());
        }
        Ok(())
    }

    pub(super) fn closed_error(&self) -> StorageError {
        StorageError::Closed {
            partition: self.name.clone(),
        }
    }

    /// Queues the log for the next flush round.
    pub(super) fn mark_dirty(&self) {
        // A closed (deleted) log never writes again: queueing it would have
        // the flusher find nothing to write, requeue it, and spin.
        if self.closed.get() {
            return;
        }
        if !self.flush_queued.replace(true) {
            self.flush_queue.enqueue(self.self_ref.clone());
        }
    }

    /// Puts the log in the failed state (first error wins), fails every
    /// waiter and wakes listeners. Returns `error` for `?` chains.
    pub(super) fn fail(&self, error: StorageError) -> StorageError {
        if self.failure.borrow().is_none() {
            log::error!(
                "partition {} is offline after an I/O error: {error}",
                self.name
            );
            *self.failure.borrow_mut() = Some(error.clone());
        }
        self.fail_waiters(&error);
        self.wake_all_listeners();
        error
    }

    pub(super) fn fail_waiters(&self, error: &StorageError) {
        self.recount_unwritten();
        self.fail_waiters_from(i64::MIN, error);
    }

    /// Fails every waiter for an offset at or above `first_offset`.
    pub(super) fn fail_waiters_from(&self, first_offset: i64, error: &StorageError) {
        let waiters: Vec<Rc<Completion>> = {
            let mut state = self.state.borrow_mut();
            let written = state.written_waiters.split_off(&(first_offset, 0));
            let synced = state.synced_waiters.split_off(&(first_offset, 0));
            written.into_values().chain(synced.into_values()).collect()
        };
        for waiter in waiters {
            waiter.complete(Err(error.clone()));
        }
    }
}
