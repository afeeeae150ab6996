//! The partition layer: the state of each partition a shard owns, between
//! the handlers (which translate the wire format and route to the owning
//! shard) and storage (which keeps the log on disk).
//!
//! A [`Partition`] owns:
//! - its log ([`PartitionLog`]): appends, durability waits, reads;
//! - its read bound ([`Partition::read_bound`]): the offset below which
//!   consumers may read. On one node it is the durable (fdatasynced) end
//!   of the log, or the log end offset with `unflushed.read.enable`; with
//!   replication it becomes the high watermark over the in-sync replicas'
//!   durable offsets (issue 13). Fetch, ListOffsets and long-poll wake-ups
//!   all take it from here, and storage reads stop at it;
//! - its idempotent producer state ([`producer_state`]): every append is
//!   decided here (a retry answered with its original offsets, an epoch or
//!   sequence error refused, a new producer refused while the table is full
//!   of unexpired ones) while the log's append turn is held, so storage only
//!   appends what was accepted; snapshotted at each segment roll and at
//!   shutdown in Kafka's format ([`producer_snapshot`]), and rebuilt from the
//!   newest valid snapshot plus the batches after it ([`snapshots`]);
//! - its leader epoch and leader epoch cache ([`epochs`], the cache in
//!   [`leader_epochs`]): persisted in Kafka's `leader-epoch-checkpoint`,
//!   completed and cut at open, answering OffsetForLeaderEpoch, Fetch's
//!   divergence check and KIP-320's epoch checks;
//! - its replica role ([`replication`]): leader, follower, or (in a
//!   cluster, until the cluster view names one) none; only a leader answers
//!   clients' reads ([`Partition::check_client_read`]).
//!
//! [`ShardPartitions`] holds the partitions of one shard and serves the
//! owner side of the data APIs, one message per shard and request:
//! - [`produce`]: append in arrival order, then wait for the durability the
//!   acks ask for (Produce);
//! - [`fetch`]: read, long-poll waits and their cancel (Fetch);
//! - [`fetch_session`]: incremental fetch sessions (KIP-227), a pure state
//!   machine each shard keeps for the fetches its connections send;
//! - [`list_offsets`]: offsets by position or time (ListOffsets);
//! - [`ShardPartitions::sizes`]: bytes on disk (DescribeLogDirs).
//!
//! And the partitions' recovery points ([`recovery_points`]): the log
//! synced and indexed up to an offset named in the checkpoint file, so a
//! start after a crash checks only what follows.

pub mod epochs;
pub mod fetch;
pub mod fetch_session;
pub mod high_watermarks;
pub mod leader_epochs;
pub mod list_offsets;
mod open_many;
pub mod produce;
pub mod producer_snapshot;
pub mod producer_state;
pub mod recovery_points;
pub mod replica;
pub mod replication;
pub mod snapshots;

#[cfg(test)]
mod replication_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

use crate::local::join_all;
use crate::local::notify::LocalEvent;
use crate::storage::{AppendListener, LogConfig, PartitionLog, ShardStorage, StorageError};
use epochs::{FoundCheckpoint, PartitionEpochs};
use fetch::FetchWaits;
use glommio::sync::Semaphore;
use producer_state::{ProducerStateConfig, ProducerStateTable};
use snapshots::{encode_snapshot, ProducerSnapshots, ShardSnapshotWrites};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use uuid::Uuid;

pub use open_many::{PartitionToOpen, NEW_PARTITION_OPENS_CONCURRENT_MAX};

/// Partitions whose last producer snapshot is written at once at shutdown.
const SHUTDOWN_SNAPSHOTS_CONCURRENT_MAX: usize = 16;

/// One partition on its owning shard. `!Send`: shared as `Rc<Partition>`.
pub struct Partition {
    log: Rc<PartitionLog>,
    /// `unflushed.read.enable`: the read bound is the log end offset.
    unflushed_read: Cell<bool>,
    producers: RefCell<ProducerStateTable>,
    snapshots: Rc<ProducerSnapshots>,
    /// When a full producer table was last reported (ms), and refusals since.
    producers_full_reported: Cell<(i64, u64)>,
    /// The leader epoch and the epoch cache ([`epochs`]).
    epochs: Rc<PartitionEpochs>,
    /// Its role in a cluster ([`replication`]): the read bound becomes the
    /// high watermark over the in-sync replicas' durable offsets.
    replica: replication::ReplicaState,
}

impl Partition {
    fn new(
        log: Rc<PartitionLog>,
        producers: ProducerStateTable,
        snapshots: ProducerSnapshots,
        epochs: Rc<PartitionEpochs>,
        in_cluster: bool,
    ) -> Self {
        Partition {
            epochs,
            unflushed_read: Cell::new(log.config().unflushed_read_enable),
            log,
            producers: RefCell::new(producers),
            snapshots: Rc::new(snapshots),
            producers_full_reported: Cell::new((i64::MIN, 0)),
            replica: replication::ReplicaState::at_open(in_cluster),
        }
    }

    /// Snapshots the producer state at `offset`, the log end offset (a
    /// segment just rolled there): written in the background.
    fn snapshot_producers(&self, offset: i64) {
        let bytes = encode_snapshot(&mut self.producers.borrow_mut());
        self.snapshots.schedule(&self.log, offset, bytes);
    }

    /// The last snapshot, at the log end offset of the closed log, unless
    /// the newest one is there already.
    async fn snapshot_at_shutdown(&self) {
        let offset = self.log.log_end_offset();
        if self.log.is_failed() || self.snapshots.newest() == Some(offset) {
            return;
        }
        let bytes = encode_snapshot(&mut self.producers.borrow_mut());
        self.snapshots.write_final(&self.log, offset, bytes).await;
    }

    /// The partition's log, for maintenance (configs, retention, metrics).
    pub fn log(&self) -> &Rc<PartitionLog> {
        &self.log
    }

    /// The offset below which consumers may read (Fetch's high watermark
    /// and last stable offset, ListOffsets' latest; storage reads stop there
    /// too). By default what survives a crash, the log's synced end offset:
    /// a consumer never reads, nor commits past, a record that recovery could
    /// erase and whose offset a later record would then reuse. With
    /// `unflushed.read.enable`, Kafka's single-node behaviour: the end of what
    /// was written ([`PartitionLog::readable_end_offset`]; a batch ENOSPC
    /// refuses is rolled back before anyone could read it). Replication will
    /// takes the high watermark over the in-sync replicas ([`replication`]).
    pub fn read_bound(&self) -> i64 {
        if let Some(high_watermark) = self.replicated_bound() {
            return high_watermark;
        }
        match self.unflushed_read.get() {
            true => self.log.readable_end_offset(),
            false => self.log.synced_end_offset(),
        }
    }

    /// Resolves when the read bound may have moved (after the next fdatasync,
    /// or a completed write with unflushed reads), or when the log fails or
    /// closes. Registered when created, so a move between a read and the
    /// first poll is not missed.
    pub fn read_bound_listener(&self) -> futures_lite::future::Or<AppendListener, AppendListener> {
        let log = match self.unflushed_read.get() {
            true => self.log.append_listener(),
            false => self.log.synced_listener(),
        };
        // In a cluster the high watermark also moves on followers' fetches.
        futures_lite::future::or(log, self.replica_listener())
    }

    /// Replaces the topic settings of the log.
    pub fn set_config(&self, config: LogConfig) {
        self.unflushed_read.set(config.unflushed_read_enable);
        self.log.set_config(config);
    }
}

type Registry = HashMap<String, HashMap<i32, Rc<Partition>>>;

/// The partitions one shard owns, over that shard's storage. `!Send`;
/// shared as `Rc<ShardPartitions>` on it.
pub struct ShardPartitions {
    storage: Rc<ShardStorage>,
    producer_config: ProducerStateConfig,
    /// Topic -> partition -> state (nested so lookups by `&str` allocate nothing).
    partitions: RefCell<Registry>,
    fetch_waits: FetchWaits,
    /// Fired when the broker begins shutting down: parked long polls answer.
    shutting_down: LocalEvent,
    /// One recovery point pass (or the shutdown's) at a time.
    recovery_turn: Semaphore,
    /// The turns of the partitions' background producer snapshot writes.
    snapshot_writes: Rc<ShardSnapshotWrites>,
    /// A cluster member's: partitions open with no role until the cluster
    /// view gives them one ([`ShardPartitions::join_cluster`]).
    in_cluster: Cell<bool>,
}

impl ShardPartitions {
    /// The partition service over `storage`, with the limits of each
    /// partition's producer state; `shutting_down` ends long polls.
    pub fn new(
        storage: Rc<ShardStorage>,
        producer_config: ProducerStateConfig,
        shutting_down: LocalEvent,
    ) -> Rc<Self> {
        Rc::new(ShardPartitions {
            storage,
            producer_config,
            partitions: RefCell::new(HashMap::new()),
            fetch_waits: FetchWaits::default(),
            shutting_down,
            recovery_turn: Semaphore::new(1),
            snapshot_writes: Rc::default(),
            in_cluster: Cell::new(false),
        })
    }

    /// Makes this shard a cluster member's, before any partition opens:
    /// each partition then opens with no role, refusing clients and
    /// followers until the cluster view makes it a leader or a follower
    /// (rather than serving its whole log as a single node's does).
    pub fn join_cluster(&self) {
        self.in_cluster.set(true);
    }

    /// The shard's storage (background tasks, shutdown, gauges).
    pub fn storage(&self) -> &Rc<ShardStorage> {
        &self.storage
    }

    /// Long-poll waits of fetches served by this shard.
    pub fn fetch_waits(&self) -> &FetchWaits {
        &self.fetch_waits
    }

    /// The open partition, if this shard holds it.
    pub fn get(&self, topic: &str, partition: i32) -> Option<Rc<Partition>> {
        self.partitions
            .borrow()
            .get(topic)?
            .get(&partition)
            .cloned()
    }

    /// Opens (loading or creating) a partition, see
    /// [`ShardStorage::open_partition`], and rebuilds its producer state
    /// ([`snapshots::rebuild`]). An open partition gets `config`. A missing
    /// leader epoch checkpoint is written in the background. `topic_id` is
    /// the metadata's id of the topic: a directory left by another topic of
    /// the name is deleted first (`None`, tests: not checked).
    pub async fn open(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Option<Uuid>,
        config: LogConfig,
        clean_shutdown: bool,
    ) -> Result<Rc<Partition>, StorageError> {
        let (opened, epochs_missing) = self
            .open_leaving_epochs(topic, partition, topic_id, config, clean_shutdown)
            .await?;
        if epochs_missing {
            let partition = opened.clone();
            glommio::spawn_local(async move { partition.write_missing_epochs().await }).detach();
        }
        Ok(opened)
    }

    /// [`Self::open`] without writing a missing leader epoch checkpoint;
    /// the second value says whether the caller must
    /// ([`Partition::write_missing_epochs`]).
    async fn open_leaving_epochs(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Option<Uuid>,
        config: LogConfig,
        clean_shutdown: bool,
    ) -> Result<(Rc<Partition>, bool), StorageError> {
        if let Some(open) = self.get(topic, partition) {
            open.set_config(config);
            return Ok((open, false));
        }
        let log = self
            .storage
            .open_partition(topic, partition, topic_id, config, clean_shutdown)
            .await?;
        let on_disk = epochs::read_checkpoint(&log).await?;
        let mut completed = on_disk.clone();
        let complete_epochs = |info: &crate::protocol::record_batch::BatchInfo| {
            if let Some(cache) = completed.as_mut() {
                cache.assign_if_newer(info.partition_leader_epoch, info.base_offset);
            }
        };
        let rebuilt = snapshots::rebuild(&log, self.producer_config, complete_epochs).await?;
        let found = on_disk
            .zip(completed)
            .map(|(on_disk, completed)| FoundCheckpoint { on_disk, completed });
        let in_cluster = self.in_cluster.get();
        let (epochs, epochs_missing) =
            PartitionEpochs::recover_leaving_missing(&log, found, in_cluster).await?;
        // A concurrent open of the same partition may have finished first.
        if let Some(open) = self.get(topic, partition) {
            return Ok((open, false));
        }
        let snapshots = rebuilt
            .snapshots
            .sharing_writes(self.snapshot_writes.clone());
        let opened = Rc::new(Partition::new(
            log,
            rebuilt.producers,
            snapshots,
            epochs,
            in_cluster,
        ));
        if let Some(hw) = self.storage.checkpointed_high_watermark(topic, partition) {
            opened.set_checkpointed_high_watermark(hw);
        }
        // Retention deletes nothing a consumer or a follower may still need.
        let weak = Rc::downgrade(&opened);
        let bound = move || weak.upgrade().map(|partition| partition.read_bound());
        opened.log.bound_retention_by(Box::new(bound));
        if rebuilt.batches_replayed > 0 {
            // The next start replays only what is appended from now on.
            opened.snapshot_producers(opened.log.log_end_offset());
        }
        self.partitions
            .borrow_mut()
            .entry(topic.to_string())
            .or_default()
            .insert(partition, opened.clone());
        Ok((opened, epochs_missing))
    }

    /// Forgets the partition (requests for it fail from now on), then closes
    /// it and removes its directory ([`ShardStorage::delete_partition`]).
    /// Waits for a recovery point pass in flight, so none names it again.
    pub async fn delete(&self, topic: &str, partition: i32) -> Result<(), StorageError> {
        let _turn = self.recovery_turn.acquire_permit(1).await;
        let removed = {
            let mut registry = self.partitions.borrow_mut();
            let removed = registry
                .get_mut(topic)
                .and_then(|partitions| partitions.remove(&partition));
            if registry.get(topic).is_some_and(HashMap::is_empty) {
                registry.remove(topic);
            }
            removed
        };
        if let Some(removed) = removed {
            removed.snapshots.close().await;
            removed.epochs.close().await;
        }
        self.storage.delete_partition(topic, partition).await
    }

    /// Stops the shard's storage (every log written, fdatasynced and trimmed,
    /// its index files written), then makes each log's end its recovery
    /// point ([`recovery_points`]) and writes each partition's producer
    /// snapshot there: a start after a clean stop checks nothing and replays
    /// no batch. Without a clean storage shutdown no snapshot is written (the
    /// data may not all be on disk): the next start rebuilds from older
    /// snapshots. Returns the first error.
    pub async fn shutdown(&self) -> Result<(), StorageError> {
        let _turn = self.recovery_turn.acquire_permit(1).await;
        let closed = self.storage.shutdown().await;
        let partitions = self.named();
        self.record_end_recovery_points(&partitions).await;
        self.checkpoint_high_watermarks().await;
        if closed.is_ok() {
            for chunk in partitions.chunks(SHUTDOWN_SNAPSHOTS_CONCURRENT_MAX) {
                let writes = chunk
                    .iter()
                    .map(|(_, _, partition)| partition.snapshot_at_shutdown());
                join_all(writes).await;
            }
        }
        closed
    }

    /// Every open partition: (topic, index, partition).
    pub fn open_partitions(&self) -> Vec<(String, i32, Rc<Partition>)> {
        self.named()
    }

    /// Each partition's bytes on disk, `None` if not held here (DescribeLogDirs).
    pub fn sizes(&self, partitions: &[(Arc<str>, i32)]) -> Vec<Option<u64>> {
        partitions
            .iter()
            .map(|(topic, partition)| {
                self.get(topic, *partition)
                    .map(|partition| partition.log.size_bytes())
            })
            .collect()
    }
}
