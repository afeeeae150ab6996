//! [`PartitionLog`]: one partition's log on its owning shard. Appends assign
//! offsets and land in memory synchronously; the shard's flusher writes and
//! syncs them (`flusher.rs`); reads are in `log_read.rs`, retention in
//! `retention.rs`.
//!
//! Interior mutability only; no `RefCell` borrow is ever held across an
//! `.await`. Two FIFO locks order the asynchronous parts: `append_lock`
//! (appends, including a segment roll; held by an [`AppendSlot`] from
//! `begin_append` to `commit`) and `flush_lock` (one write/sync round at a
//! time; a roll and shutdown take it too).

use super::appender::{ActiveWrite, HeaderArena, RecentBatch, RecentBatches};
use super::config::{Durability, LogConfig, StorageLimits};
use super::error::{AppendError, StorageError};
use super::flusher::FlushQueue;
use super::index::IndexedBatch;
use super::notify::{AppendListener, AppendListeners, Completion, CompletionFuture};
use super::recent_copy::recent_parts;
use super::recovery::{preallocate_bytes, LoadedLog};
use super::segment::{align_down, sync_directory, Segment};
use crate::protocol::record_batch::{stamp_header, BatchInfo, RECORD_BATCH_HEADER_BYTES};
use bytes::Bytes;
use glommio::sync::{Permit, Semaphore};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::{Rc, Weak};

/// `logAppendTime` of a CreateTime topic.
pub const NO_LOG_APPEND_TIME: i64 = -1;

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

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

/// A log's turn to append, taken by [`PartitionLog::begin_append`]: no other
/// append runs until it is committed or dropped.
pub struct AppendSlot<'a> {
    log: &'a PartitionLog,
    _turn: Permit<'a>,
    batches: Vec<AppendBatch>,
    total_bytes: u64,
    total_offsets: i64,
}

impl AppendSlot<'_> {
    /// The batches to append, in order.
    pub fn batches(&self) -> &[AppendBatch] {
        &self.batches
    }

    /// Appends the batches and assigns their offsets (stamping each header
    /// with its base offset and `leader_epoch`), telling `on_batch` each
    /// batch's header fields and base offset as it goes in (after this, the
    /// append cannot fail). Synchronous except when a segment must roll;
    /// then `on_roll` gets the new segment's base offset once everything
    /// below it is durable, before any of these batches goes in.
    pub async fn commit(
        self,
        leader_epoch: i32,
        on_roll: impl FnOnce(i64),
        on_batch: impl FnMut(&BatchInfo, i64),
    ) -> Result<AppendResult, AppendError> {
        let log = self.log;
        if log.needs_roll(self.total_bytes, self.total_offsets) {
            log.roll().await?;
            on_roll(log.log_end_offset());
        }
        log.check_open()?;
        let result = log.append_in_memory(self.batches, leader_epoch, on_batch);
        log.recount_unwritten();
        log.mark_dirty();
        log.listeners.fire_all();
        Ok(result)
    }
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
    pub(super) listeners: AppendListeners,
    pub(super) flush_queue: Rc<FlushQueue>,
    pub(super) flush_queued: Cell<bool>,
    pub(super) sync_scheduled: Cell<bool>,
    pub(super) self_ref: Weak<PartitionLog>,
    pub(super) stats: Cell<LogStats>,
    /// Recent batch bytes of all logs of the shard.
    pub(super) shard_recent_bytes: Rc<Cell<usize>>,
    /// This log's unwritten bytes as last counted in the shard's sum.
    pub(super) unwritten_counted: Cell<u64>,
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
}

impl PartitionLog {
    pub(super) fn from_loaded(
        name: String,
        dir: PathBuf,
        config: LogConfig,
        limits: StorageLimits,
        loaded: LoadedLog,
        flush_queue: Rc<FlushQueue>,
        shard_recent_bytes: Rc<Cell<usize>>,
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
            recent: recent_from(loaded.tail_batches, shard_recent_bytes.clone()),
            arena: HeaderArena::new(limits.header_arena_bytes),
            log_start_offset,
            written_end_offset: end,
            synced_end_offset: end,
            unsynced_records: 0,
            last_sync_ms: now_ms(),
            written_waiters: BTreeMap::new(),
            synced_waiters: BTreeMap::new(),
            waiter_sequence: 0,
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
            listeners: AppendListeners::default(),
            flush_queue,
            flush_queued: Cell::new(false),
            sync_scheduled: Cell::new(false),
            self_ref: self_ref.clone(),
            stats: Cell::new(LogStats::default()),
            shard_recent_bytes,
            unwritten_counted: Cell::new(0),
        })
    }

    /// `<topic>-<partition>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends `batches` (validated) in order, with nothing decided between
    /// taking the log's turn and the append: [`PartitionLog::begin_append`]
    /// then [`AppendSlot::commit`].
    pub async fn append(
        &self,
        batches: Vec<AppendBatch>,
        leader_epoch: i32,
    ) -> Result<AppendResult, AppendError> {
        let slot = self.begin_append(batches).await?;
        slot.commit(leader_epoch, |_| {}, |_, _| {}).await
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
        let (total_bytes, total_offsets) = self.check_batches(&batches)?;
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
        })
    }

    fn check_batches(&self, batches: &[AppendBatch]) -> Result<(u64, i64), AppendError> {
        if batches.is_empty() {
            return Err(AppendError::InvalidRecord);
        }
        let max_message_bytes = self.config.borrow().max_message_bytes as usize;
        let mut bytes = 0u64;
        let mut offsets = 0i64;
        for batch in batches {
            if batch.info.len != batch.len() || batch.info.last_offset_delta < 0 {
                return Err(AppendError::InvalidRecord);
            }
            if batch.len() > max_message_bytes {
                return Err(AppendError::RecordTooLarge);
            }
            bytes += batch.len() as u64;
            offsets += batch.info.offset_count();
        }
        Ok((bytes, offsets))
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

    fn needs_roll(&self, total_bytes: u64, total_offsets: i64) -> bool {
        let config = self.config.borrow();
        let state = self.state.borrow();
        let active = &state.active;
        if active.size == 0 {
            return false;
        }
        let too_big = active.size + total_bytes > config.effective_segment_bytes();
        let last_relative = state.log_end_offset() + total_offsets - 1 - active.base_offset;
        let too_many_offsets = last_relative > i64::from(i32::MAX);
        let too_old = active
            .first_append_ms
            .is_some_and(|first| now_ms().saturating_sub(first) >= config.segment_ms as i64);
        too_big || too_many_offsets || too_old
    }

    fn append_in_memory(
        &self,
        batches: Vec<AppendBatch>,
        leader_epoch: i32,
        mut on_batch: impl FnMut(&BatchInfo, i64),
    ) -> AppendResult {
        let interval = self.config.borrow().index_interval_bytes;
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let base_offset = state.log_end_offset();
        for batch in batches {
            let offset = state.active.next_offset;
            let mut header = batch.header;
            stamp_header(&mut header, offset, leader_epoch);
            let position = state.active.size;
            let last_offset = offset + i64::from(batch.info.last_offset_delta);
            state.active.indexes.on_batch(
                IndexedBatch {
                    relative_last_offset: (last_offset - state.active.base_offset) as u32,
                    position: position as u32,
                    len: batch.len() as u32,
                    max_timestamp: batch.info.max_timestamp,
                },
                interval,
            );
            on_batch(&batch.info, offset);
            state.unsynced_records += batch.info.record_count.max(0) as u64;
            state.active.size += batch.len() as u64;
            state.active.next_offset = last_offset + 1;
            state.active.first_append_ms.get_or_insert_with(now_ms);
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
            log_append_time_ms: NO_LOG_APPEND_TIME,
            log_start_offset: state.log_start_offset,
        }
    }

    /// Seals the active segment and starts a new one at the log end offset:
    /// write and fdatasync everything, truncate to the logical size, write
    /// the index files, then create (preallocated) and fsync the directory.
    /// Caller holds `append_lock`.
    async fn roll(&self) -> Result<(), StorageError> {
        let _flush = self
            .flush_lock
            .acquire_permit(1)
            .await
            .map_err(|_| self.closed_error())?;
        self.flush_everything().await?;
        self.state.borrow_mut().active.indexes.seal();
        let sealed = self.persist_active_segment().await;
        let created = match sealed {
            Ok(()) => self.create_next_segment().await,
            Err(error) => Err(error),
        };
        let next = created.map_err(|error| self.on_roll_error(error))?;
        let mut state = self.state.borrow_mut();
        let base = next.base_offset;
        let mut old = std::mem::replace(&mut state.active, next);
        old.indexes.seal();
        state.sealed_bytes += old.size;
        let old_base = old.base_offset;
        state.sealed.insert(old_base, old);
        state.write = ActiveWrite::default();
        drop(state);
        self.recount_unwritten();
        log::info!("{}: rolled segment {old_base} -> {base}", self.name);
        Ok(())
    }

    /// Makes the active segment whole on disk: truncated to its logical
    /// size, fdatasynced, then its index files written. Done when it is
    /// sealed (a roll) and at shutdown; everything must be written already.
    pub(super) async fn persist_active_segment(&self) -> Result<(), StorageError> {
        let (reader, size, index_files) = {
            let state = self.state.borrow();
            (
                state.active.reader(),
                state.active.size,
                state.active.index_files(),
            )
        };
        reader
            .dma
            .truncate(size)
            .await
            .map_err(|e| StorageError::io("truncate", &reader.log_path, e))?;
        reader
            .dma
            .fdatasync()
            .await
            .map_err(|e| StorageError::io("fdatasync", &reader.log_path, e))?;
        index_files.write().await
    }

    async fn create_next_segment(&self) -> Result<Segment, StorageError> {
        let base = self.state.borrow().log_end_offset();
        let bytes = preallocate_bytes(&self.config.borrow(), &self.limits);
        let segment = Segment::create(&self.dir, base, bytes).await?;
        sync_directory(&self.dir).await?;
        Ok(segment)
    }

    /// Resolves when everything up to `last_offset` reached `durability`,
    /// or with the error that prevents it (the log failed or closed).
    pub async fn wait_durable(
        &self,
        last_offset: i64,
        durability: Durability,
    ) -> Result<(), StorageError> {
        if let Some(error) = self.failure.borrow().clone() {
            return Err(error);
        }
        let completion = {
            let mut state = self.state.borrow_mut();
            let last_offset = last_offset.min(state.log_end_offset() - 1);
            let reached = match durability {
                Durability::Appended => return Ok(()),
                Durability::Written => state.written_end_offset,
                Durability::Synced => state.synced_end_offset,
            };
            if reached > last_offset {
                return Ok(());
            }
            if self.closed.get() {
                return Err(self.closed_error());
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
        CompletionFuture(completion).await
    }

    /// A future resolving after the next append (or when the log fails or
    /// closes). Registered now: an append after this call is never missed.
    pub fn append_listener(&self) -> AppendListener {
        let listener = self.listeners.register();
        if self.closed.get() || self.failure.borrow().is_some() {
            self.listeners.fire_all();
        }
        listener
    }

    /// Offset of the first record still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.state.borrow().log_start_offset
    }

    /// Offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.state.borrow().log_end_offset()
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

    /// Evicts recent batches down to this partition's budget, or to its
    /// minimum while the shard is over its bound.
    pub(super) fn evict_recent(&self) {
        let over_shard_bound =
            self.shard_recent_bytes.get() > self.limits.recent_bytes_per_shard_max;
        let budget = match over_shard_bound {
            true => self.limits.recent_bytes_per_partition_min,
            false => self.limits.recent_bytes_per_partition,
        };
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let final_position = align_down(state.write.written);
        state
            .recent
            .evict_final(state.active.base_offset, final_position, budget);
    }

    /// Disk activity counters.
    pub fn stats(&self) -> LogStats {
        self.stats.get()
    }

    /// Replaces the topic settings (they apply from the next append/roll).
    pub fn set_config(&self, config: LogConfig) {
        *self.config.borrow_mut() = config;
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
        self.listeners.fire_all();
        error
    }

    pub(super) fn fail_waiters(&self, error: &StorageError) {
        self.recount_unwritten();
        let waiters: Vec<Rc<Completion>> = {
            let mut state = self.state.borrow_mut();
            let written = std::mem::take(&mut state.written_waiters);
            let synced = std::mem::take(&mut state.synced_waiters);
            written.into_values().chain(synced.into_values()).collect()
        };
        for waiter in waiters {
            waiter.complete(Err(error.clone()));
        }
    }
}
