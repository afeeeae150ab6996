//! The shard's bound on recent batches (`log.recent.bytes.per.shard.max`),
//! whatever its partition count.
//!
//! The room is shared by demand: a partition has no bound of its own by
//! default (`log.recent.bytes.per.partition` = -1), so one busy partition
//! may hold the shard's whole room and a consumer that lags reads from
//! memory. Each log trims its own recent batches after each write round
//! ([`PartitionLog::evict_recent`]). While the shard is over its bound:
//! - logs idle for [`RECENT_IDLE_MS`] give theirs up first
//!   ([`RecentBudget::sweep_idle`]): idleness by time, since every write
//!   round of a busy shard starts a pass;
//! - then the log just written gives back what the shard is over by, its
//!   oldest batches first, never below a floor;
//! - then a clock hand walks the shard's logs, at most
//!   [`RECENT_SWEEP_LOGS_PER_PASS_MAX`] per pass and each once (a pass runs
//!   after a write round, so 10,000 partitions never stall the reactor): a
//!   log appended to or read from since the hand last passed gives back the
//!   overage down to its floor, a cold one goes down to nothing and gives
//!   back its header arena block.
//!
//! The room is also sized by demand. A shard starts with
//! `log.recent.bytes.per.shard.initial` (128 MiB) and grows it, up to
//! `log.recent.bytes.per.shard.max`, when a reader's read goes to the disk
//! for data that a larger room would have held
//! ([`PartitionLog::note_read_from_disk`], [`RecentBudget::grow_for_miss`]):
//! each such read by at most four times what it serves (plus a quarter's
//! headroom), and never past what
//! would have served it. Filling a room of an eighth of memory costs a
//! fresh broker's first gigabytes of produce about a quarter of their rate
//! (each page the kernel hands out is faulted in and zeroed:
//! perf/RESULTS.md, "The room's first fill"), and holds that memory whether
//! or not any consumer lags. With no consumer behind the room, a producer
//! pays neither. The demand never shrinks; memory pressure lowers the room
//! below it for a while ([`RecentBudget::set_room`]), and reads that miss
//! meanwhile do not add to it.
//!
//! A fixed floor (`log.recent.bytes.per.partition.min`, 256 KiB) on every
//! partition does not bound the shard: 5,000 partitions on a shard kept
//! 1.3 GB under a 512 MiB bound (perf/RESULTS.md, item 13). So the floor
//! shrinks with the partition count, so that the floors of all partitions
//! together take at most half the shard bound
//! ([`RecentBudget::partition_floor`]).
//!
//! Only written batches are evicted (`RecentBatches::evict_written`):
//! unwritten ones are bounded by `log.unwritten.bytes.per.shard.max`, so the
//! bound is met once everything is written. How far into the active segment
//! depends on the pressure ([`EvictReach`]):
//! - within the per-partition budget, the batches over the partial last
//!   block stay: a tailing consumer reads them from memory, not from a block
//!   whose cached pages each write round drops (the writer rewrites it from
//!   its own copy, `ActiveWrite::tail_block`, not from these batches);
//! - while the shard is over its bound, the evictions above take them too,
//!   and reads of them go to the file (`log_read.rs` reads the active
//!   segment up to its written end). Keeping them bounded nothing:
//!   with 10,000 partitions writing a batch or two each, they were nearly
//!   all the data, 1.06 GB per shard under a 512 MiB bound; and a used
//!   partition whose newest batch is larger than the floor kept that whole
//!   batch, however many such partitions (perf/RESULTS.md).

use super::config::StorageLimits;
use super::log::{LogState, PartitionLog};
use super::log_read::ReadFromDisk;
use super::segment::align_down;
use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

/// Logs one eviction pass visits at most: a pass runs on the reactor after
/// a write round.
pub const RECENT_SWEEP_LOGS_PER_PASS_MAX: usize = 64;
/// A log neither appended to nor read from memory for this long gives its
/// recent batches up before busy logs give up theirs.
pub const RECENT_IDLE_MS: u64 = 1000;
/// The floors of all partitions together take at most the shard bound
/// divided by this.
const FLOORS_SHARE_DIVISOR: usize = 2;
/// A read that missed the room grows it by what it missed plus this
/// fraction (1/N) more, so that a consumer lagging by a steady amount finds
/// its data in memory once the room has caught up with its lag, not just
/// short of it.
const MISS_HEADROOM_DIVISOR: usize = 4;
/// One read from the disk grows the room by at most this many times the
/// bytes it serves.
pub const MISS_GROWTH_PER_BYTE_READ: usize = 4;

/// Recent batch bytes of a shard's logs, and the clock hand that evicts
/// across them.
pub struct RecentBudget {
    /// Bytes held by all the shard's [`super::appender::RecentBatches`].
    bytes: Rc<Cell<usize>>,
    /// The shard's room: `log.recent.bytes.per.shard.max`, or less while
    /// the host is short of memory ([`RecentBudget::set_room`]).
    room_bytes: Cell<usize>,
    /// The room reads have asked for: `log.recent.bytes.per.shard.initial`,
    /// grown by reads that missed it ([`RecentBudget::grow_for_miss`]).
    demand_bytes: Cell<usize>,
    shard_max_bytes: usize,
    partition_min_bytes: usize,
    /// The shard's logs in opening order (closed and dropped ones are
    /// removed as the hand meets them, or when the list must grow).
    logs: RefCell<Vec<Weak<PartitionLog>>>,
    hand: Cell<usize>,
}

impl RecentBudget {
    /// The budget of a shard with `limits`.
    pub fn new(limits: &StorageLimits) -> Rc<Self> {
        Rc::new(RecentBudget {
            bytes: Rc::new(Cell::new(0)),
            room_bytes: Cell::new(limits.recent_bytes_per_shard_max),
            demand_bytes: Cell::new(
                limits
                    .recent_bytes_per_shard_initial
                    .min(limits.recent_bytes_per_shard_max),
            ),
            shard_max_bytes: limits.recent_bytes_per_shard_max,
            partition_min_bytes: limits.recent_bytes_per_partition_min,
            logs: RefCell::new(Vec::new()),
            hand: Cell::new(0),
        })
    }

    /// The counter the logs' recent batches add their bytes to.
    pub fn counter(&self) -> Rc<Cell<usize>> {
        self.bytes.clone()
    }

    /// Recent bytes of all the shard's logs.
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }

    /// Whether the shard holds more than it may now ([`RecentBudget::limit`]).
    pub fn over(&self) -> bool {
        self.bytes.get() > self.limit()
    }

    /// The shard's room as memory allows: `log.recent.bytes.per.shard.max`,
    /// or less while the host is short of memory.
    pub fn room(&self) -> usize {
        self.room_bytes.get()
    }

    /// What the shard may hold now: its room, or less while reads have not
    /// asked for it all.
    pub fn limit(&self) -> usize {
        self.room_bytes.get().min(self.demand_bytes.get())
    }

    /// Grows the room reads ask for after one went to the disk for
    /// `missed_bytes` that a larger room would have held: by `step_bytes`
    /// (at most the miss) and its headroom over what the shard may hold now,
    /// but not past what would have served the read (what the shard holds,
    /// within its limit, plus the miss and its headroom), never down, at
    /// most `log.recent.bytes.per.shard.max`. Held bytes count only up to
    /// the limit: unwritten batches may take the shard over it for a round,
    /// and would otherwise count as demand. While memory pressure holds the
    /// room below the demand, a miss is the pressure's doing, not a
    /// reader's: no growth, so that the room does not come back larger.
    pub fn grow_for_miss(&self, missed_bytes: usize, step_bytes: usize) {
        if self.room_bytes.get() < self.demand_bytes.get() {
            return;
        }
        let with_headroom = |bytes: usize| bytes.saturating_add(bytes / MISS_HEADROOM_DIVISOR);
        let limit = self.limit();
        let serving = self
            .bytes
            .get()
            .min(limit)
            .saturating_add(with_headroom(missed_bytes));
        let stepped = limit.saturating_add(with_headroom(step_bytes));
        let wanted = serving.min(stepped).min(self.shard_max_bytes);
        if wanted > self.demand_bytes.get() {
            self.demand_bytes.set(wanted);
        }
    }

    /// `log.recent.bytes.per.shard.max`: the most the room grows back to.
    pub fn room_max(&self) -> usize {
        self.shard_max_bytes
    }

    /// Sets the room (at most `log.recent.bytes.per.shard.max`). A smaller
    /// room is met at once with [`RecentBudget::evict_to_room`]; the write
    /// rounds keep it after that.
    pub fn set_room(&self, room_bytes: usize) {
        self.room_bytes.set(room_bytes.min(self.shard_max_bytes));
    }

    /// Evicts until the shard is within its room, visiting each log at most
    /// twice (idle ones first, then the others), and yielding to the reactor
    /// every [`RECENT_SWEEP_LOGS_PER_PASS_MAX`] logs. Runs when the room
    /// shrinks, which no write round may follow on an idle shard.
    pub async fn evict_to_room(&self) {
        let passes = self
            .logs
            .borrow()
            .len()
            .div_ceil(RECENT_SWEEP_LOGS_PER_PASS_MAX);
        for _ in 0..passes {
            self.sweep_idle();
            glommio::yield_if_needed().await;
        }
        for _ in 0..passes {
            self.sweep();
            glommio::yield_if_needed().await;
        }
    }

    /// Adds a newly opened log to those the hand walks. Dropped logs leave
    /// the list before it grows, so it stays within twice the open logs.
    pub fn register(&self, log: Weak<PartitionLog>) {
        let mut logs = self.logs.borrow_mut();
        if logs.len() == logs.capacity() {
            logs.retain(|log| log.strong_count() > 0);
        }
        logs.push(log);
    }

    /// How far the shard is over what it may hold (0 when within it).
    pub fn over_by(&self) -> usize {
        self.bytes.get().saturating_sub(self.limit())
    }

    /// What a log keeps while the shard is over its room:
    /// `log.recent.bytes.per.partition.min`, lowered so that the floors of
    /// all logs fit in half the room.
    pub fn partition_floor(&self) -> usize {
        let logs = self.logs.borrow().len().max(1);
        let share = self.limit() / FLOORS_SHARE_DIVISOR / logs;
        self.partition_min_bytes.min(share)
    }

    /// While the shard is over its bound, evicts the logs idle for
    /// [`RECENT_IDLE_MS`] among the next [`RECENT_SWEEP_LOGS_PER_PASS_MAX`]
    /// (to nothing); the others keep theirs. Idleness is by time, not by the
    /// hand's passes: with every write round of a busy shard starting a
    /// pass, a partition written every other round would look idle.
    pub fn sweep_idle(&self) {
        let now = Instant::now();
        for _ in 0..self.visits_per_pass() {
            if !self.over() {
                return;
            }
            let Some(log) = self.next_log() else {
                return;
            };
            if log.idle(now) {
                log.evict_cold_recent();
            }
        }
    }

    /// While the shard is over its bound, trims up to
    /// [`RECENT_SWEEP_LOGS_PER_PASS_MAX`] logs from the hand on: one used
    /// since the hand's last visit gives back what the shard is over by (not
    /// below the floor), one not used gives back everything. A used log is
    /// never cut to its floor for another's small overage: a busy partition
    /// holding most of the room loses only what a small one's write added.
    pub fn sweep(&self) {
        for _ in 0..self.visits_per_pass() {
            if !self.over() {
                return;
            }
            let Some(log) = self.next_log() else {
                return;
            };
            match log.take_recently_used() {
                true => log.give_back_overage(self),
                false => log.evict_cold_recent(),
            }
        }
    }

    /// Logs one pass visits: each at most once, so that a log used since
    /// the hand's last visit is not taken for cold when the hand comes round
    /// again within the same pass.
    fn visits_per_pass(&self) -> usize {
        self.logs.borrow().len().min(RECENT_SWEEP_LOGS_PER_PASS_MAX)
    }

    /// The log under the hand, which then moves on; dropped logs met on the
    /// way leave the list.
    fn next_log(&self) -> Option<Rc<PartitionLog>> {
        let mut logs = self.logs.borrow_mut();
        while !logs.is_empty() {
            let at = self.hand.get() % logs.len();
            match logs[at].upgrade() {
                Some(log) => {
                    self.hand.set(at + 1);
                    return Some(log);
                }
                None => {
                    logs.swap_remove(at);
                }
            }
        }
        None
    }
}

/// How far into the active segment an eviction may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EvictReach {
    /// Batches ending in final blocks only: those over the partial last
    /// block stay in memory (within the per-partition budget).
    FinalBlocks,
    /// Every written batch (while the shard is over its bound).
    Written,
}

impl PartitionLog {
    /// Evicts this log's written recent batches down to its budget
    /// (`log.recent.bytes.per.partition`). While the shard is over its
    /// bound: the hand first evicts logs idle for [`RECENT_IDLE_MS`], then
    /// this log gives back what is still over (its oldest batches, not below
    /// the floor), then the hand has other logs give back the rest. So one busy
    /// partition keeps the shard's whole room, its oldest batches leaving
    /// first, rather than dropping to the floor when the shard fills. Runs
    /// after each write round.
    pub(super) fn evict_recent(&self) {
        self.evict_recent_to(self.own_recent_budget(), EvictReach::FinalBlocks);
        if !self.recent_budget.over() {
            return;
        }
        self.recent_budget.sweep_idle();
        self.give_back_overage(&self.recent_budget);
        self.recent_budget.sweep();
    }

    /// What this log may keep whatever its shard's room:
    /// `log.recent.bytes.per.partition`, or less while capped.
    fn own_recent_budget(&self) -> usize {
        self.limits
            .recent_bytes_per_partition
            .min(self.recent_cap_bytes.get())
    }

    /// A reader's read went to the disk (`log_read.rs`): grows the shard's
    /// room by the bytes between the read and this log's oldest batch in
    /// memory, which a larger room would have held, but by at most
    /// [`MISS_GROWTH_PER_BYTE_READ`] times what the read serves, so that a
    /// one-off read of an old offset (a lag probe) does not claim the whole
    /// backlog, while a reader that keeps lagging grows the room fetch by
    /// fetch. Not when no room could hold them with what the log keeps: more
    /// than `log.recent.bytes.per.shard.max`, or than the log's own budget
    /// (`log.recent.bytes.per.partition`, a follower's cap).
    pub(super) fn note_read_from_disk(&self, read: ReadFromDisk) {
        // A long poll re-reads the same position on every pass (and a read
        // waiting for a descriptor retries it): one read, counted once, or
        // a step-bound read would grow the room by a step per pass; several
        // readers' long polls may take turns.
        if !self
            .counted_disk_reads
            .first_time(read.segment_base, read.position)
        {
            return;
        }
        let missed = missed_bytes(&self.state.borrow(), &read);
        let held = self.state.borrow().recent.bytes();
        let missed = usize::try_from(missed).unwrap_or(usize::MAX);
        let wanted = held.saturating_add(missed);
        if missed == 0
            || wanted > self.own_recent_budget()
            || wanted > self.recent_budget.room_max()
        {
            return;
        }
        let served = usize::try_from(read.len).unwrap_or(usize::MAX);
        let step = missed.min(served.saturating_mul(MISS_GROWTH_PER_BYTE_READ));
        self.recent_budget.grow_for_miss(missed, step);
    }

    /// Caps this log's recent batches below its budget (`usize::MAX`: no
    /// cap), evicting down to it at once: a follower's recent data serves no
    /// consumer until it leads, and its room would come out of the leaders'
    /// on the same shard.
    pub fn set_recent_bytes_cap(&self, cap_bytes: usize) {
        self.recent_cap_bytes.set(cap_bytes);
        self.evict_recent_to(self.own_recent_budget(), EvictReach::FinalBlocks);
    }

    /// Evicts this log's oldest written batches by what the shard is over
    /// its bound, keeping at least the floor.
    fn give_back_overage(&self, budget: &RecentBudget) {
        let over_by = budget.over_by();
        if over_by == 0 {
            return;
        }
        let held = self.state.borrow().recent.bytes();
        let keep = held.saturating_sub(over_by).max(budget.partition_floor());
        self.evict_recent_to(keep, EvictReach::Written);
    }

    /// Evicts written recent batches, up to `reach`, while more than
    /// `budget_bytes` are held.
    pub(super) fn evict_recent_to(&self, budget_bytes: usize, reach: EvictReach) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let written = state.write.written;
        let evictable_end = match reach {
            EvictReach::FinalBlocks => align_down(written),
            EvictReach::Written => written,
        };
        state
            .recent
            .evict_written(state.active.base_offset, evictable_end, budget_bytes);
    }

    /// A cold log's eviction: every written recent batch, and the memory
    /// kept for the next ones (the header arena's block, which the headers
    /// still held keep alive only as long as they stay; the batch list's
    /// spare room), so that an idle partition holds none.
    pub(super) fn evict_cold_recent(&self) {
        self.evict_recent_to(0, EvictReach::Written);
        let mut state = self.state.borrow_mut();
        state.recent.release_room();
        state.arena.release();
    }

    /// Bytes of this log's recent batches (kept in memory for reads).
    pub fn recent_bytes_held(&self) -> usize {
        self.state.borrow().recent.bytes()
    }

    /// Notes an append or a read from memory.
    pub(super) fn mark_used(&self) {
        self.recently_used.set(true);
        self.last_used_at.set(Instant::now());
    }

    /// Whether the log was neither appended to nor read from memory for
    /// [`RECENT_IDLE_MS`].
    fn idle(&self, now: Instant) -> bool {
        now.duration_since(self.last_used_at.get()) >= Duration::from_millis(RECENT_IDLE_MS)
    }

    /// Whether the log was appended to or read from memory since the last
    /// call.
    pub(super) fn take_recently_used(&self) -> bool {
        self.recently_used.replace(false)
    }
}

/// Reads from the disk remembered so as to count each once.
const COUNTED_READS_REMEMBERED: usize = 8;

/// The positions (segment base, position) of a log's last
/// [`COUNTED_READS_REMEMBERED`] reads that grew the room.
#[derive(Default)]
pub(super) struct CountedReads {
    positions: Cell<[Option<(i64, u64)>; COUNTED_READS_REMEMBERED]>,
    next: Cell<usize>,
}

impl CountedReads {
    /// Whether a read at (`segment_base`, `position`) is new; remembers it.
    fn first_time(&self, segment_base: i64, position: u64) -> bool {
        let at = Some((segment_base, position));
        let mut positions = self.positions.get();
        if positions.contains(&at) {
            return false;
        }
        let slot = self.next.get();
        positions[slot] = at;
        self.positions.set(positions);
        self.next.set((slot + 1) % COUNTED_READS_REMEMBERED);
        true
    }
}

/// Bytes on disk from where `read` starts to this log's oldest batch in
/// memory (to the log's end when none is): what a larger room would have
/// held. They span the rest of the read's segment, every segment after it
/// up to the one the memory begins in, and that one's start.
fn missed_bytes(state: &LogState, read: &ReadFromDisk) -> u64 {
    let rest_of_read_segment = read.segment_end.saturating_sub(read.position);
    let (first_base, first_position) = match state.recent.front() {
        Some(first) if first.segment_base < read.segment_base => return 0,
        Some(first) if first.segment_base == read.segment_base => {
            return first.position.saturating_sub(read.position);
        }
        Some(first) => (first.segment_base, first.position),
        None => (i64::MAX, 0),
    };
    // Strictly after the read's segment (the arms above return otherwise):
    // a range with equal excluded bounds panics.
    debug_assert!(first_base > read.segment_base);
    let after_read = (
        Bound::Excluded(read.segment_base),
        Bound::Excluded(first_base),
    );
    let sealed_between: u64 = state.sealed.range(after_read).map(|(_, s)| s.size).sum();
    let active = &state.active;
    let active_between =
        match active.base_offset > read.segment_base && active.base_offset < first_base {
            true => active.size,
            false => 0,
        };
    rest_of_read_segment + sealed_between + active_between + first_position
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::{new_storage, plain_batch, read_all, run, TempDir, TOPIC};
    use crate::storage::{Durability, LogConfig};

    const PARTITIONS: i32 = 50;
    const APPENDS: usize = 20;
    const SHARD_MAX_BYTES: usize = 128 << 10;

    #[test]
    fn many_partitions_stay_near_the_shard_bound_and_read_back_whole() {
        let dir = TempDir::new("recent-budget");
        run(async move {
            let limits = StorageLimits {
                recent_bytes_per_partition: 64 << 10,
                recent_bytes_per_partition_min: 16 << 10,
                recent_bytes_per_shard_max: SHARD_MAX_BYTES,
                ..StorageLimits::default()
            };
            let storage = new_storage(&dir, limits);
            let mut logs = Vec::new();
            for partition in 0..PARTITIONS {
                let config = LogConfig::default();
                let log = storage.open_partition(TOPIC, partition, None, config, true);
                logs.push(log.await.unwrap());
            }
            for _ in 0..APPENDS {
                for log in &logs {
                    let result = log.append(vec![plain_batch(1, 1000, 1)], 0).await.unwrap();
                    log.wait_durable(result.last_offset, Durability::Written)
                        .await
                        .unwrap();
                }
            }
            // A fixed 16 KiB floor would keep 50 x 16 KiB = 800 KiB. Every
            // batch is written: the bound holds.
            let held = storage.recent_bytes();
            assert!(held <= SHARD_MAX_BYTES, "{held}");
            // A cold log gives back every written batch, its partial last
            // block's too, and its header arena block.
            logs[0].evict_cold_recent();
            {
                let state = logs[0].state.borrow();
                assert_eq!(state.recent.bytes(), 0);
                assert_eq!(state.arena.room_bytes(), 0);
            }
            for log in &logs {
                assert_eq!(read_all(log, 0).await.len(), APPENDS);
            }
            storage.shutdown().await.unwrap();
            drop(logs);
            assert_eq!(storage.recent_bytes(), 0);
        });
    }

    #[test]
    fn the_floor_shrinks_with_the_partition_count() {
        let limits = StorageLimits {
            recent_bytes_per_partition_min: 256 << 10,
            recent_bytes_per_shard_max: 512 << 20,
            recent_bytes_per_shard_initial: usize::MAX,
            ..StorageLimits::default()
        };
        let budget = RecentBudget::new(&limits);
        assert_eq!(budget.partition_floor(), 256 << 10);
        // 5,000 partitions share half the bound (the floor counts the list).
        budget
            .logs
            .borrow_mut()
            .extend((0..5_000).map(|_| Weak::new()));
        assert_eq!(budget.partition_floor(), (256 << 20) / 5_000);
        // Dropped logs leave the list as the hand meets them, or before it
        // grows.
        assert!(budget.next_log().is_none());
        assert_eq!(budget.partition_floor(), 256 << 10);
        let budget = RecentBudget::new(&limits);
        for _ in 0..5_000 {
            budget.register(Weak::new());
        }
        assert!(budget.logs.borrow().len() <= 64);
    }
}
