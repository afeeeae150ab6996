//! Producer state snapshots of a partition (Kafka's `<offset>.snapshot`
//! files, [`producer_snapshot`](super::producer_snapshot) format): the state
//! of every batch below the offset.
//!
//! - Taken when a segment rolls (the state then covers exactly the sealed
//!   segments), after a rebuild that had to walk batches, and at a clean
//!   shutdown. Encoded on the reactor (a few bytes per remembered batch),
//!   written by a task of their own on the storage pool, atomically (temp
//!   file, fdatasync, rename, directory fsync): appends never wait for one.
//!   Only the newest snapshot not written yet is kept, so at most one write
//!   and one pending snapshot exist per partition, and the partitions of a
//!   shard take turns ([`SNAPSHOT_WRITES_PER_SHARD_MAX`] at a time), so
//!   that many partitions rolling together never fill the storage pool that
//!   segment rolls need.
//! - At most [`PRODUCER_SNAPSHOTS_RETAINED`] are kept, the newest; retention
//!   also removes the one named like a segment it deletes.
//! - At open, the newest snapshot inside the log, whose version, CRC and
//!   length check out, is loaded, and every batch after it is replayed from
//!   the batch headers on disk (sealed segments included). A damaged snapshot
//!   is reported and removed, and the next older one tried; without any, the
//!   whole log is walked. The state is thus a function of the log and its
//!   snapshots, which any replica can rebuild.

use super::producer_snapshot::{self, SnapshotDamage};
use super::producer_state::{ProducerStateConfig, ProducerStateTable};
use crate::protocol::record_batch::BatchInfo;
use crate::storage::log::now_ms;
use crate::storage::{PartitionLog, StorageError};
use glommio::sync::Semaphore;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Instant;

/// Snapshot files kept per partition (the newest): older ones are fallbacks
/// for a damaged newest one.
pub const PRODUCER_SNAPSHOTS_RETAINED: usize = 3;
/// Background snapshot writes in flight per shard. glommio's blocking pool
/// (`BLOCKING_THREADS_PER_SHARD` threads) also runs segment rolls, which
/// hold a partition's append turn: one thread stays free for them.
pub const SNAPSHOT_WRITES_PER_SHARD_MAX: u64 = 1;

/// The turns of one shard's background snapshot writes, shared by its
/// partitions.
pub struct ShardSnapshotWrites(pub(super) Semaphore);

impl Default for ShardSnapshotWrites {
    fn default() -> Self {
        ShardSnapshotWrites(Semaphore::new(SNAPSHOT_WRITES_PER_SHARD_MAX))
    }
}

/// The snapshot files of one partition and their writer.
#[derive(Default)]
pub struct ProducerSnapshots {
    /// Offsets of the snapshot files written or found, ascending.
    on_disk: RefCell<BTreeSet<i64>>,
    /// The newest snapshot not written yet: `(offset, bytes)`.
    pending: RefCell<Option<(i64, Vec<u8>)>>,
    /// A writer task is spawned and has not started draining `pending`.
    writer_spawned: Cell<bool>,
    /// One write at a time, in order.
    writing: WriterTurn,
    /// No more writes (shutdown done, or the partition is being deleted).
    closed: Cell<bool>,
    /// The shard's turns, taken by each background write.
    shard_writes: Rc<ShardSnapshotWrites>,
}

struct WriterTurn(Semaphore);

impl Default for WriterTurn {
    fn default() -> Self {
        WriterTurn(Semaphore::new(1))
    }
}

impl ProducerSnapshots {
    fn with_files(on_disk: BTreeSet<i64>) -> Self {
        ProducerSnapshots {
            on_disk: RefCell::new(on_disk),
            ..ProducerSnapshots::default()
        }
    }

    /// Takes the shard's turns for background writes (else its own).
    pub fn sharing_writes(self, shard_writes: Rc<ShardSnapshotWrites>) -> Self {
        ProducerSnapshots {
            shard_writes,
            ..self
        }
    }

    /// The newest snapshot file's offset, if any.
    pub fn newest(&self) -> Option<i64> {
        self.on_disk.borrow().last().copied()
    }

    /// Queues the snapshot `bytes` at `offset` for writing (replacing one
    /// that is still waiting), and starts a writer if none is waiting.
    pub fn schedule(self: &Rc<Self>, log: &Rc<PartitionLog>, offset: i64, bytes: Vec<u8>) {
        if self.closed.get() {
            return;
        }
        *self.pending.borrow_mut() = Some((offset, bytes));
        if !self.writer_spawned.replace(true) {
            let snapshots = self.clone();
            let log = log.clone();
            glommio::spawn_local(async move { snapshots.write_pending(&log).await }).detach();
        }
    }

    async fn write_pending(&self, log: &PartitionLog) {
        let Ok(_turn) = self.writing.0.acquire_permit(1).await else {
            return;
        };
        self.writer_spawned.set(false);
        while self.pending.borrow().is_some() {
            // The pending snapshot is taken once the shard's turn comes, so
            // the newest is written.
            let Ok(_shard_turn) = self.shard_writes.0.acquire_permit(1).await else {
                return;
            };
            let pending = self.pending.borrow_mut().take();
            let Some((offset, bytes)) = pending else {
                return;
            };
            if self.closed.get() {
                return;
            }
            self.write(log, offset, bytes).await;
        }
    }

    /// Writes one snapshot now (the caller holds the writer's turn), then
    /// removes the oldest beyond the retained count. A failure is logged: a
    /// restart then starts from an older snapshot and walks more of the log.
    async fn write(&self, log: &PartitionLog, offset: i64, bytes: Vec<u8>) {
        let started = Instant::now();
        let size = bytes.len();
        if let Err(error) = log.write_snapshot(offset, bytes).await {
            log::warn!(
                "{}: producer snapshot at offset {offset} not written: {error}; a restart \
                 rebuilds producer state from an older snapshot and more of the log",
                log.name()
            );
            return;
        }
        log::info!(
            "{}: wrote producer snapshot at offset {offset} ({} bytes) in {} ms",
            log.name(),
            size,
            started.elapsed().as_millis()
        );
        self.on_disk.borrow_mut().insert(offset);
        loop {
            let oldest = {
                let mut on_disk = self.on_disk.borrow_mut();
                match on_disk.len() > PRODUCER_SNAPSHOTS_RETAINED {
                    true => on_disk.pop_first(),
                    false => None,
                }
            };
            let Some(oldest) = oldest else {
                return;
            };
            if let Err(error) = log.remove_snapshot(oldest).await {
                log::warn!("{}: old producer snapshot not removed: {error}", log.name());
            }
        }
    }

    /// Writes the last snapshot, `bytes` at `offset` (the log is closed),
    /// after any write in progress, and stops the writer. Not a background
    /// write: rolls are over, and the caller bounds how many run at once.
    pub async fn write_final(&self, log: &PartitionLog, offset: i64, bytes: Vec<u8>) {
        self.pending.borrow_mut().take(); // superseded
        if let Ok(_turn) = self.writing.0.acquire_permit(1).await {
            if !self.closed.replace(true) {
                self.write(log, offset, bytes).await;
            }
        }
    }

    /// Removes the snapshots at or past offset `from`, the pending one and
    /// the files (newest first), after any write in progress: they hold
    /// batches a follower's cut removed (Kafka's `truncateAndReload`), and
    /// a restart could load one once the log grew past it again. The known
    /// set follows, so retention never counts a file that is gone.
    pub async fn remove_from(&self, log: &PartitionLog, from: i64) -> Result<(), StorageError> {
        // No write runs meanwhile, so none lands past the cut.
        let _turn = self.writing.0.acquire_permit(1).await;
        if matches!(&*self.pending.borrow(), Some((offset, _)) if *offset >= from) {
            self.pending.borrow_mut().take();
        }
        let removed: Vec<i64> = self.on_disk.borrow().range(from..).copied().collect();
        for offset in removed.into_iter().rev() {
            log.remove_snapshot(offset).await?;
            self.on_disk.borrow_mut().remove(&offset);
        }
        Ok(())
    }

    /// Stops the writer and waits for a write in progress (before the
    /// partition directory is removed, so no file lands in a new one).
    pub async fn close(&self) {
        self.closed.set(true);
        self.pending.borrow_mut().take();
        let _turn = self.writing.0.acquire_permit(1).await;
    }
}

/// The snapshot of `producers` as a file's bytes (expired producers are
/// forgotten first).
pub fn encode_snapshot(producers: &mut ProducerStateTable) -> Vec<u8> {
    producers.expire(now_ms());
    producer_snapshot::encode(
        producers.snapshot_entries(),
        producers.snapshot_entry_count(),
    )
}

/// What a rebuild found, for its log line and for the next snapshot.
pub struct Rebuilt {
    /// The state.
    pub producers: ProducerStateTable,
    /// The snapshot files.
    pub snapshots: ProducerSnapshots,
    /// Batches replayed after the snapshot (or from the log start).
    pub batches_replayed: u64,
}

/// Rebuilds the producer state of a log just loaded: the newest valid
/// snapshot inside the log, then every batch after it, each also shown to
/// `observe` (the leader epochs are completed from them).
pub async fn rebuild(
    log: &PartitionLog,
    config: ProducerStateConfig,
    mut observe: impl FnMut(&BatchInfo),
) -> Result<Rebuilt, StorageError> {
    let started = Instant::now();
    let usable = usable_snapshots(log).await?;
    let mut kept = BTreeSet::new();
    let mut loaded = None;
    for &offset in usable.iter().rev() {
        if loaded.is_some() {
            kept.insert(offset);
            continue;
        }
        match load_snapshot(log, offset, config).await? {
            Ok(producers) => {
                loaded = Some((producers, offset));
                kept.insert(offset);
            }
            Err(damage) => {
                log::warn!(
                    "{}: producer snapshot {}: {damage}; falling back to an older snapshot \
                     or a full scan of the log",
                    log.name(),
                    log.snapshot_path(offset).display()
                );
                log.remove_snapshot(offset).await?;
            }
        }
    }
    let from = loaded.as_ref().map(|(_, offset)| *offset);
    let mut producers = match loaded {
        Some((producers, _)) => producers,
        None => ProducerStateTable::new(config),
    };
    let start = from.unwrap_or_else(|| log.log_start_offset());
    let mut record = |info: &BatchInfo| {
        observe(info);
        producers.record(info, info.base_offset)
    };
    let batches_replayed = log.visit_batch_headers(start, &mut record).await?;
    producers.expire(now_ms());
    let source = match from {
        Some(offset) => format!("snapshot at offset {offset}"),
        None => "no snapshot".to_string(),
    };
    log::info!(
        "{}: producer state of {} producer(s) from {source} and {batches_replayed} batch(es) \
         from offset {start}, in {} ms",
        log.name(),
        producers.len(),
        started.elapsed().as_millis()
    );
    Ok(Rebuilt {
        producers,
        snapshots: ProducerSnapshots::with_files(kept),
        batches_replayed,
    })
}

/// Rebuilds the producer state of a log whose tail was just cut (a
/// follower's truncation), as Kafka's `truncateAndReload` does: the
/// snapshots past the new log end are dropped (pending or on disk), then the
/// state is the newest remaining snapshot (the pending one first: it is the
/// newest) plus every batch after it, so it is again a function of the log.
/// Popping the cut batches from the table instead would forget a producer
/// whose last 5 batches were all cut, although its earlier ones are still in
/// the log: its retry of one of them would be appended again.
pub async fn reload_after_cut(
    log: &PartitionLog,
    snapshots: &ProducerSnapshots,
    config: ProducerStateConfig,
) -> Result<ProducerStateTable, StorageError> {
    let cut = log.log_end_offset();
    snapshots.remove_from(log, cut + 1).await?;
    let mut loaded = snapshots
        .pending
        .borrow()
        .as_ref()
        .and_then(|(offset, bytes)| {
            let mut producers = ProducerStateTable::new(config);
            let decoded = producer_snapshot::decode(bytes, |entry| producers.restore(entry));
            decoded.ok().map(|_| (producers, *offset))
        });
    let on_disk: Vec<i64> = snapshots.on_disk.borrow().iter().rev().copied().collect();
    for offset in on_disk {
        if loaded.is_some() {
            break;
        }
        // A damaged one is skipped: the next start removes it.
        if let Ok(producers) = load_snapshot(log, offset, config).await? {
            loaded = Some((producers, offset));
        }
    }
    let (mut producers, start) = match loaded {
        Some(found) => found,
        None => (ProducerStateTable::new(config), log.log_start_offset()),
    };
    let mut record = |info: &BatchInfo| producers.record(info, info.base_offset);
    let replayed = log.visit_batch_headers(start, &mut record).await?;
    producers.expire(now_ms());
    log::info!(
        "{}: producer state of {} producer(s) reloaded after the cut at offset {cut}, from \
         offset {start} ({replayed} batch(es) replayed)",
        log.name(),
        producers.len()
    );
    Ok(producers)
}

/// The snapshot files whose offset is inside the log (`log start..=log
/// end`), ascending; the others are removed (below the start: their
/// segments are gone; past the end: the log was cut below them).
async fn usable_snapshots(log: &PartitionLog) -> Result<Vec<i64>, StorageError> {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let mut usable = Vec::new();
    for offset in log.snapshot_offsets().await? {
        if (start..=end).contains(&offset) {
            usable.push(offset);
            continue;
        }
        log::warn!(
            "{}: producer snapshot at offset {offset} is outside the log ({start}..={end}); \
             removing it",
            log.name()
        );
        log.remove_snapshot(offset).await?;
    }
    Ok(usable)
}

/// The state in the snapshot at `offset`, or why it cannot be used.
async fn load_snapshot(
    log: &PartitionLog,
    offset: i64,
    config: ProducerStateConfig,
) -> Result<Result<ProducerStateTable, SnapshotDamage>, StorageError> {
    let bytes = log.read_snapshot(offset).await?.unwrap_or_default();
    let mut producers = ProducerStateTable::new(config);
    let decoded = producer_snapshot::decode(&bytes, |entry| producers.restore(entry));
    Ok(decoded.map(|_| producers))
}
