//! Group commit: one flusher task per shard.
//!
//! Appends mark their log dirty and wake the flusher. For each dirty log the
//! flusher starts a round of its own, with at most
//! `flush_logs_per_round_max` rounds in flight per shard: a round writes the
//! log's unwritten batches (O_DIRECT, several writes in flight), then issues
//! one fdatasync if a producer waits for `Synced` or the `flush.messages` /
//! `flush.ms` policy is due, or, when readers see only synced data, a
//! consumer is parked for the next sync (`parked_readers.rs`) or written
//! data is `log.flush.visibility.ms` old; then it completes the waiters up to
//! what was reached and wakes the listeners of the synced offset. Rounds of
//! different logs do not wait for each other, so a slow device under one
//! partition, or a partition rolling its segment, does not hold back the
//! writes and syncs of the others. Appends arriving during a round mark the
//! log dirty again: one more round of that log waits for the current one
//! (never more). A round's fdatasync does not hold up the log's next
//! writes: it runs under `sync_lock` alone, so acks=1 answers and newly
//! readable batches never queue behind the device's sync latency; one sync
//! per log is in flight at a time. Syncs that several logs ask for at once
//! run as one job on the shard's sync helper (`sync_batch.rs`). A segment a roll left behind is sealed
//! (truncated, fdatasynced, its index files written, the directory fsynced:
//! `roll.rs`) by the next round's sync, before anything of the new segment
//! counts as synced. A failed write or fdatasync fails the log (see
//! `PartitionLog::fail`); nothing not written/synced is acknowledged.
//! Completed writes make their batches readable and wake the log's
//! listeners (Fetch long polls); ENOSPC rolls the unwritten batches back
//! instead (`disk_faults.rs`).

use super::appender::{plan_write, PlanInput};
use super::error::StorageError;
use super::log::{now_ms, PartitionLog};
use super::notify::{Completion, WakeSignal};
use super::sync_batch::{BatchSync, SyncBatcher};
use super::unwritten::ShardUnwritten;
use glommio::sync::{Permit, Semaphore};
use glommio::GlommioError;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Longest the flusher sleeps when no timed sync is pending (it is woken by
/// appends; this only bounds a lost wake-up).
const FLUSHER_IDLE_WAIT_MS: u64 = 1000;

/// The shard's dirty logs, timed-sync deadlines and unwritten bytes.
pub(crate) struct FlushQueue {
    /// Appended bytes of all the shard's logs not written yet, and their bound.
    pub(super) unwritten: ShardUnwritten,
    dirty: RefCell<VecDeque<Weak<PartitionLog>>>,
    /// Logs with written but unsynced data and a finite `flush.ms`.
    timed: RefCell<Vec<(i64, Weak<PartitionLog>)>>,
    signal: WakeSignal,
    stopped: Cell<bool>,
    /// The shard's fdatasyncs, batched (`sync_batch.rs`).
    pub(super) syncs: Rc<SyncBatcher>,
}

impl FlushQueue {
    /// An empty queue; appends wait while more than `unwritten_bytes_max`
    /// are unwritten, and batched syncs use `batch_sync`.
    pub(crate) fn new(unwritten_bytes_max: usize, batch_sync: BatchSync) -> Self {
        FlushQueue {
            unwritten: ShardUnwritten::new(unwritten_bytes_max),
            dirty: RefCell::default(),
            timed: RefCell::default(),
            signal: WakeSignal::default(),
            stopped: Cell::new(false),
            syncs: Rc::new(SyncBatcher::new(batch_sync)),
        }
    }

    /// Queues a log (callers keep at most one entry per log).
    pub(crate) fn enqueue(&self, log: Weak<PartitionLog>) {
        self.dirty.borrow_mut().push_back(log);
        self.signal.notify();
    }

    /// Asks for a check of `log` at `deadline_ms` (`flush.ms`).
    pub(super) fn schedule(&self, deadline_ms: i64, log: Weak<PartitionLog>) {
        self.timed.borrow_mut().push((deadline_ms, log));
        self.signal.notify();
    }

    /// Stops the flusher task after its current round.
    pub(crate) fn stop(&self) {
        self.stopped.set(true);
        self.signal.notify();
    }

    fn take_round(&self, max_logs: usize) -> Vec<Rc<PartitionLog>> {
        let now = now_ms();
        let due: Vec<Weak<PartitionLog>> = {
            let mut timed = self.timed.borrow_mut();
            let (due, later) = timed.drain(..).partition(|(deadline, _)| *deadline <= now);
            *timed = later;
            due.into_iter().map(|(_, log)| log).collect()
        };
        for log in due.iter().filter_map(Weak::upgrade) {
            log.sync_scheduled.set(false);
            log.mark_dirty();
        }
        let mut dirty = self.dirty.borrow_mut();
        let take = dirty.len().min(max_logs.max(1));
        dirty
            .drain(..take)
            .filter_map(|log| log.upgrade())
            .collect()
    }

    fn next_deadline_wait(&self) -> Duration {
        let now = now_ms();
        let wait_ms = self
            .timed
            .borrow()
            .iter()
            .map(|(deadline, _)| deadline.saturating_sub(now).max(0) as u64)
            .min()
            .unwrap_or(FLUSHER_IDLE_WAIT_MS)
            .min(FLUSHER_IDLE_WAIT_MS);
        Duration::from_millis(wait_ms)
    }
}

/// The shard's flusher task: starts a round for each dirty log, at most
/// `max_rounds_in_flight` at once, until [`FlushQueue::stop`]; then waits
/// for the rounds in flight.
pub(crate) async fn run_flusher(queue: Rc<FlushQueue>, max_rounds_in_flight: usize) {
    let in_flight_max = max_rounds_in_flight.max(1) as u64;
    let places = Rc::new(Semaphore::new(in_flight_max));
    while !queue.stopped.get() {
        let free = (places.available() as usize).max(1);
        let logs = queue.take_round(free);
        if logs.is_empty() {
            let wait = queue.next_deadline_wait();
            futures_lite::future::or(queue.signal.wait(), glommio::timer::sleep(wait)).await;
            continue;
        }
        for log in logs {
            let Ok(place) = places.acquire_static_permit(1).await else {
                return;
            };
            glommio::spawn_local(async move {
                log.flush_round().await;
                drop(place);
            })
            .detach();
        }
        // A spawned round runs at once and may finish without awaiting I/O;
        // give the reactor its turn so a busy queue never starves it.
        glommio::yield_if_needed().await;
    }
    let _ = places.acquire(in_flight_max).await;
}

/// The flush turn: no write round, roll, truncation or fdatasync of the log
/// runs while it is held ([`PartitionLog::flush_turn`]).
pub(super) struct FlushTurn<'a> {
    _write: Permit<'a>,
    _sync: Permit<'a>,
}

impl PartitionLog {
    /// Waits for the flush turn: `flush_lock`, then the end of any
    /// fdatasync in flight (`sync_lock`), always in that order.
    pub(super) async fn flush_turn(&self) -> Result<FlushTurn<'_>, GlommioError<()>> {
        let write = self.flush_lock.acquire_permit(1).await?;
        // Whoever takes the turn may cut the active file (`zero_ahead.rs`).
        self.zero_task_done().await;
        let sync = self.sync_lock.acquire_permit(1).await?;
        Ok(FlushTurn {
            _write: write,
            _sync: sync,
        })
    }

    /// The flush turn if it is free now (no zero task runs either), else
    /// `None`.
    pub(super) fn try_flush_turn(&self) -> Option<FlushTurn<'_>> {
        if self.zero_task_in_flight() {
            return None;
        }
        let write = self.flush_lock.try_acquire_permit(1).ok()?;
        let sync = self.sync_lock.try_acquire_permit(1).ok()?;
        Some(FlushTurn {
            _write: write,
            _sync: sync,
        })
    }

    /// One flusher round for this log: its writes under `flush_lock`, then
    /// its fdatasync, if due, under `sync_lock` only, so the next round's
    /// writes (acks=1 answers, readable batches) do not queue behind a
    /// sync (issue 14 §2). A round that finds a sync in flight leaves the
    /// next sync to that one's end (`after_round`). Errors already failed
    /// the log.
    async fn flush_round(&self) {
        let Ok(write) = self.flush_lock.acquire_permit(1).await else {
            return;
        };
        if self.closed.get() {
            // Deleted meanwhile: its batches are dropped, never written.
            return;
        }
        // Cleared only now: appends made while this round waited for the
        // lock are written by it, and queue at most one round after it.
        self.flush_queued.set(false);
        if self.failure.borrow().is_some() || self.write_round().await.is_err() {
            return;
        }
        self.zero_ahead_if_due();
        let sync = match self.sync_due() {
            true => self.sync_lock.try_acquire_permit(1).ok(),
            false => None,
        };
        let Some(_sync) = sync else {
            let sync_in_flight = self.sync_lock.available() == 0;
            self.after_round(sync_in_flight);
            return;
        };
        // The sync covers what was written up to here (captured before its
        // first await); later writes go on beside it.
        drop(write);
        if self.sync_written().await.is_ok() {
            // What rounds wrote during the sync, and did not sync, is due now.
            if self.sync_due() {
                self.mark_dirty();
            }
            self.after_round(false);
        }
    }

    /// Writes everything appended and fdatasyncs it. Caller holds the flush
    /// turn and `append_lock` (no append can come in between).
    pub(super) async fn flush_everything(&self) -> Result<(), StorageError> {
        loop {
            let synced_before = self.state.borrow().synced_end_offset;
            self.flush_once(true).await?;
            let state = self.state.borrow();
            if state.synced_end_offset >= state.log_end_offset() {
                return Ok(());
            }
            if state.synced_end_offset == synced_before {
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

    /// Writes one bounded round of unwritten batches, then fdatasyncs when
    /// `force_sync`, a `Synced` waiter, or the flush policy asks for it.
    /// Caller holds the flush turn.
    pub(super) async fn flush_once(&self, force_sync: bool) -> Result<(), StorageError> {
        self.write_round().await?;
        if force_sync || self.sync_due() {
            self.sync_written().await?;
        }
        self.after_round(false);
        Ok(())
    }

    /// Extends the active segment's preallocation at the partition's pace
    /// (`preallocation.rs`) so the round's O_DIRECT writes land below
    /// i_size (PLATFORM.md: 3-7x faster than size-extending writes). Caller
    /// holds `flush_lock`, so no roll replaces the segment meanwhile.
    async fn allocate_for(&self, write_end: u64) -> Result<(), StorageError> {
        let size_max = self.config.borrow().effective_segment_bytes();
        let (target, dma, path) = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            let target = state.preallocation.extend_to(
                write_end,
                state.active.allocated,
                size_max,
                now_ms(),
                &self.limits,
            );
            (
                target,
                state.active.dma.clone(),
                state.active.log_path.clone(),
            )
        };
        let Some(target) = target else {
            return Ok(());
        };
        dma.pre_allocate(target)
            .await
            .map_err(|e| StorageError::io("preallocate", &path, e))?;
        let mut state = self.state.borrow_mut();
        state.active.allocated = state.active.allocated.max(target);
        Ok(())
    }

    pub(super) async fn write_round(&self) -> Result<(), StorageError> {
        if self.state.borrow().rollback_pending {
            // ENOSPC: the unwritten batches are refused and wait to be
            // rolled back; they must never reach the disk.
            return Err(self.disk_full_error());
        }
        // Before any batch reaches the segment: a directory holding records
        // always has its topic id on disk (`partition_metadata.rs`).
        self.flush_topic_id().await?;
        let plan = {
            let state = self.state.borrow();
            plan_write(
                PlanInput {
                    file: &state.active.dma,
                    path: &state.active.log_path,
                    segment_base: state.active.base_offset,
                    write: &state.write,
                    written_end_offset: state.written_end_offset,
                    round_bytes_max: self.limits.write_round_bytes_per_partition,
                    chunk_bytes: self.limits.write_chunk_bytes,
                },
                &state.recent,
            )
        };
        let Some(plan) = plan else {
            return self.probe_space().await;
        };
        let (segment_base, end_position, end_offset) =
            (plan.segment_base, plan.end_position, plan.end_offset);
        let tail_block = plan.tail_block.clone();
        let bytes = plan.bytes();
        let write_end = plan.write_end();
        let outcome = match self.allocate_for(write_end).await {
            Ok(()) => {
                self.zero_task_done_in(segment_base, write_end).await;
                plan.execute().await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            return Err(self.on_write_error(error).await);
        }
        self.leave_disk_full();
        self.update_stats(|stats| {
            stats.write_rounds += 1;
            stats.bytes_written += bytes;
        });
        crate::metrics::with_local(|m| {
            m.log_write_rounds.inc();
            m.log_write_bytes.add(bytes);
        });
        let completed = {
            let mut state = self.state.borrow_mut();
            if state.active.base_offset == segment_base {
                state.write.written = end_position;
                state.write.tail_block = tail_block;
                state.active.zeroed = state.active.zeroed.max(write_end);
            }
            state.written_end_offset = end_offset;
            state.last_write_ms = now_ms();
            take_reached(&mut state.written_waiters, end_offset)
        };
        self.recount_unwritten();
        self.evict_recent();
        complete_all(completed);
        // The batches are readable now: wake long polls.
        self.listeners.fire_all();
        Ok(())
    }

    pub(super) fn update_stats(&self, update: impl FnOnce(&mut super::log::LogStats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }

    /// Whether the round should fdatasync: a segment is sealing
    /// (`roll.rs`), or written data is due by a waiter or the policy.
    fn sync_due(&self) -> bool {
        let config = self.config.borrow();
        let state = self.state.borrow();
        if state.sealing.is_some() {
            return true;
        }
        if state.synced_end_offset >= state.written_end_offset {
            return false;
        }
        let waiter_covered = state
            .synced_waiters
            .keys()
            .next()
            .is_some_and(|(offset, _)| *offset < state.written_end_offset);
        // A parked consumer sees nothing until the next sync: sync now, as
        // group commit does for acks=all (`parked_readers.rs`).
        let reader_waits = self.reader_waits_for_sync();
        let by_messages = state.unsynced_records >= config.flush_messages;
        let timed_sync_ms = config.timed_sync_ms();
        let by_time = timed_sync_ms != u64::MAX
            && now_ms().saturating_sub(state.last_sync_ms) >= timed_sync_ms as i64;
        waiter_covered || reader_waits || by_messages || by_time
    }

    /// Seals the segment a roll left, if any (`roll.rs`), then fdatasyncs
    /// what the active segment has written. Caller holds `sync_lock`.
    async fn sync_written(&self) -> Result<(), StorageError> {
        self.seal_pending().await?;
        let (reader, target_offset, target_position, records) = {
            let state = self.state.borrow();
            if state.synced_end_offset >= state.written_end_offset {
                return Ok(());
            }
            (
                state.active.reader(),
                state.written_end_offset,
                state.write.written,
                state.unsynced_records,
            )
        };
        let sync_started = std::time::Instant::now();
        let synced = self.flush_queue.syncs.sync(&reader.dma).await;
        crate::metrics::with_local(|m| m.fsync_latency.observe(sync_started.elapsed()));
        synced
            .map_err(|e| self.on_sync_error(StorageError::io("fdatasync", &reader.log_path, e)))?;
        self.update_stats(|stats| stats.fdatasyncs += 1);
        let completed = {
            let mut state = self.state.borrow_mut();
            state.synced_end_offset = target_offset;
            if Rc::ptr_eq(&state.active.dma, &reader.dma) {
                state.write.synced = target_position;
            }
            state.unsynced_records = state.unsynced_records.saturating_sub(records);
            state.last_sync_ms = now_ms();
            take_reached(&mut state.synced_waiters, target_offset)
        };
        complete_all(completed);
        self.synced_listeners.fire_all();
        Ok(())
    }

    /// Re-queues the log if unwritten data or waiters remain, and schedules
    /// a timed sync for `flush.ms`. With a sync in flight only unwritten
    /// data re-queues it: that sync's own `after_round` looks at the waiters
    /// and the timed sync when it ends (re-queuing for them now would spin
    /// rounds that cannot sync until it ends).
    fn after_round(&self, sync_in_flight: bool) {
        let (more_to_write, unsynced_waiters, unsynced) = {
            let state = self.state.borrow();
            (
                state.written_end_offset < state.log_end_offset(),
                !state.synced_waiters.is_empty() || !state.written_waiters.is_empty(),
                state.synced_end_offset < state.written_end_offset,
            )
        };
        if more_to_write || (unsynced_waiters && unsynced && !sync_in_flight) {
            self.mark_dirty();
        }
        if sync_in_flight {
            return;
        }
        let timed_sync_ms = self.config.borrow().timed_sync_ms();
        if unsynced && timed_sync_ms != u64::MAX && !self.sync_scheduled.replace(true) {
            let deadline = self
                .state
                .borrow()
                .last_sync_ms
                .saturating_add(timed_sync_ms as i64);
            self.flush_queue.schedule(deadline, self.self_ref.clone());
        }
    }

    /// Shutdown of this log: waits for in-flight appends and rounds, writes
    /// and fdatasyncs everything, writes the active segment's index files and
    /// truncates it to its logical size. Afterwards appends fail with
    /// `Closed`.
    pub(super) async fn close(&self) -> Result<(), StorageError> {
        let append = self.append_lock.acquire_permit(1).await;
        let flush = self.flush_turn().await;
        let result = match (append.is_ok() && flush.is_ok(), self.is_failed()) {
            (_, true) => Err(StorageError::LogFailed {
                partition: self.name.clone(),
            }),
            (false, _) => Err(self.closed_error()),
            (true, false) => self.flush_and_trim().await,
        };
        self.closed.set(true);
        self.fail_waiters(&self.closed_error());
        self.wake_all_listeners();
        // Closed logs serve no reads: give the memory back.
        self.state.borrow_mut().recent.clear();
        result
    }

    async fn flush_and_trim(&self) -> Result<(), StorageError> {
        self.flush_everything().await?;
        self.persist_active_segment().await
    }
}

/// Removes and returns the waiters whose offset is below `end_offset`.
pub(super) fn take_reached(
    waiters: &mut BTreeMap<(i64, u64), Rc<Completion>>,
    end_offset: i64,
) -> Vec<Rc<Completion>> {
    let pending = waiters.split_off(&(end_offset, 0));
    std::mem::replace(waiters, pending).into_values().collect()
}

pub(super) fn complete_all(completions: Vec<Rc<Completion>>) {
    for completion in completions {
        completion.complete(Ok(()));
    }
}
