//! A partition's leader epoch and epoch cache on its shard: loaded and
//! completed at open, persisted in `leader-epoch-checkpoint`, and the
//! answers built on them (OffsetForLeaderEpoch, Fetch's divergence check,
//! KIP-320's current-epoch check). The cache itself is a pure structure
//! ([`super::leader_epochs`]).

use super::leader_epochs::{
    check_current_epoch, divergence, CheckpointDamage, EpochEnd, LeaderEpochCache, NO_EPOCH,
    SINGLE_NODE_LEADER_EPOCH,
};
use super::{Partition, ShardPartitions};
use crate::protocol::error_code;
use crate::protocol::fetch_response::DivergingEpoch;
use crate::storage::{PartitionLog, StorageError};
use glommio::sync::Semaphore;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

/// The epoch state of one partition.
pub struct PartitionEpochs {
    /// The partition's current leader epoch.
    leader_epoch: Cell<i32>,
    cache: RefCell<LeaderEpochCache>,
    /// What the checkpoint file holds, as last read or written (`None`:
    /// unknown, after a failed write or with no file): a write that would
    /// leave it as it is is skipped.
    written: RefCell<Option<LeaderEpochCache>>,
    /// One checkpoint write at a time, in order.
    writing: Semaphore,
    /// No more writes: the partition directory is being removed.
    closed: Cell<bool>,
}

/// The checkpoint as found at open: `None` when missing or damaged (the
/// whole log is then walked).
pub async fn read_checkpoint(log: &PartitionLog) -> Result<Option<LeaderEpochCache>, StorageError> {
    let Some(bytes) = log.read_leader_epoch_checkpoint().await? else {
        return Ok(None);
    };
    match LeaderEpochCache::decode(&bytes) {
        Ok(cache) => Ok(Some(cache)),
        Err(damage) => {
            report_damage(log, &damage);
            Ok(None)
        }
    }
}

fn report_damage(log: &PartitionLog, damage: &CheckpointDamage) {
    log::warn!(
        "{}: {}: {damage}; rebuilding the leader epochs from the whole log",
        log.name(),
        log.leader_epoch_checkpoint_path().display()
    );
}

/// A leader epoch checkpoint found at open.
#[derive(Clone, Debug)]
pub struct FoundCheckpoint {
    /// As the file holds it.
    pub on_disk: LeaderEpochCache,
    /// Completed from the batches the producer state rebuild replayed
    /// ([`LeaderEpochCache::assign_if_newer`]): an entry the file lacks
    /// (its write failed) is found there.
    pub completed: LeaderEpochCache,
}

impl PartitionEpochs {
    /// The epochs of a log just opened, becoming its leader at the
    /// single-node epoch. `found` is the checkpoint read before the
    /// producer state rebuild, with its completion; without one, the whole
    /// log's batch headers are walked. The cache is cut to the recovered
    /// log, then the single-node epoch starts at the log end offset (Kafka's
    /// `makeLeader`) unless the log already holds a newer (cluster) epoch.
    /// A cache that differs from the file is written before this returns,
    /// so no batch of a new epoch precedes its entry on disk (in a cluster
    /// ([`ShardPartitions::join_cluster`]), only a difference the next open
    /// would not make again by itself).
    ///
    /// A missing checkpoint file is not written: the second value says it
    /// is missing, for the caller to write with
    /// [`Self::write_missing_checkpoint`] (its absence costs only a walk).
    /// The creation of many partitions writes theirs one after another in
    /// one task, rather than a task each whose writes (two fsyncs apiece)
    /// would fill the shard's blocking pool ahead of the opens still
    /// running.
    pub async fn recover_leaving_missing(
        log: &Rc<PartitionLog>,
        found: Option<FoundCheckpoint>,
        in_cluster: bool,
    ) -> Result<(Rc<Self>, bool), StorageError> {
        let had_file = found.is_some();
        let (mut cache, on_disk) = match found {
            Some(found) => (found.completed, Some(found.on_disk)),
            None => (walk_log(log).await?, None),
        };
        fit_to_log(&mut cache, log);
        let changed = match &on_disk {
            // A replica's file may keep entries past its log end (an empty
            // log's epoch starts at its end): every open cuts them the same
            // way, and the first change of its role or log writes the file
            // whole (`write_checkpoint` compares with what it holds), before
            // any batch is appended. Rewriting it here instead cost a
            // restarted cluster node two fsyncs per empty replica.
            Some(file) if in_cluster => {
                let mut opened = file.clone();
                fit_to_log(&mut opened, log);
                opened != cache
            }
            // On a single node a produce appends without a role change: the
            // file must match the cache from the open on. Compared whole: an
            // empty log's entry is cut and assigned again, the same, and
            // rewriting it (two fsyncs) at every start made opening 3,000
            // empty partitions take 2.9 s instead of 0.8 s; an entry only
            // the completion found is written.
            Some(file) => *file != cache,
            None => false,
        };
        let epochs = Rc::new(PartitionEpochs {
            leader_epoch: Cell::new(SINGLE_NODE_LEADER_EPOCH),
            cache: RefCell::new(cache),
            written: RefCell::new(on_disk),
            writing: Semaphore::new(1),
            closed: Cell::new(false),
        });
        if changed {
            // A failure is logged: the next open completes the file again.
            let _ = epochs.write_checkpoint(log).await;
        }
        Ok((epochs, !had_file))
    }

    /// Writes the checkpoint that [`Self::recover_leaving_missing`] found
    /// missing (a failure is logged; the next open walks the log).
    pub async fn write_missing_checkpoint(&self, log: &PartitionLog) {
        let _ = self.write_checkpoint(log).await;
    }

    /// The current leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.get()
    }

    /// Sets the current leader epoch (a role change from cluster metadata).
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.set(epoch);
    }

    /// The epoch of the last batch in the log (-1: none): a follower's
    /// `LastFetchedEpoch`.
    pub fn latest_epoch(&self) -> i32 {
        self.cache.borrow().latest_epoch().unwrap_or(NO_EPOCH)
    }

    /// The cache after `update`; when it differs from the checkpoint file
    /// (changed now, or cut in memory before), the file is written before
    /// this returns, so no batch of a new epoch is on disk before its entry
    /// (Kafka's `assign` then `flush`). `Ok`: written, already held, or the
    /// partition is closing; an error says the file was not written (and is
    /// logged): a follower then appends nothing.
    pub async fn update_and_persist(
        &self,
        log: &PartitionLog,
        update: impl FnOnce(&mut LeaderEpochCache),
    ) -> Result<(), StorageError> {
        update(&mut self.cache.borrow_mut());
        self.write_checkpoint(log).await
    }

    /// Cuts the cache to a log ending at `end_offset` (in memory; the next
    /// [`Self::update_and_persist`] writes the cut, and the next open cuts
    /// the file the same way).
    pub fn truncate_cache_from_end(&self, end_offset: i64) {
        self.cache.borrow_mut().truncate_from_end(end_offset);
    }

    /// Borrows the cache (the leader's divergence check on a replica fetch).
    pub fn with_cache<T>(&self, f: impl FnOnce(&LeaderEpochCache) -> T) -> T {
        f(&self.cache.borrow())
    }

    /// A copy of the cache (tests, diagnostics).
    pub fn cache(&self) -> LeaderEpochCache {
        self.cache.borrow().clone()
    }

    /// Writes the cache to the checkpoint (after any write in progress),
    /// unless the file already holds it. A failure is logged and returned:
    /// the next write tries again; the next open walks more of the log, or,
    /// with an older file, completes it from the replayed batches.
    async fn write_checkpoint(&self, log: &PartitionLog) -> Result<(), StorageError> {
        let Ok(_turn) = self.writing.acquire_permit(1).await else {
            return Ok(());
        };
        if self.closed.get() {
            return Ok(());
        }
        // Compared once the turn comes: `written` is then what the file holds.
        if self.written.borrow().as_ref() == Some(&*self.cache.borrow()) {
            return Ok(());
        }
        // Taken once the turn comes, so the newest state is written.
        let cache = self.cache.borrow().clone();
        let written = log.write_leader_epoch_checkpoint(cache.encode()).await;
        if let Err(error) = &written {
            log::warn!(
                "{}: leader epoch checkpoint not written: {error}",
                log.name()
            );
        }
        *self.written.borrow_mut() = written.as_ref().ok().map(|()| cache);
        written
    }

    /// Stops writing and waits for a write in progress (before the partition
    /// directory is removed, so no file lands in a new one).
    pub async fn close(&self) {
        self.closed.set(true);
        let _turn = self.writing.acquire_permit(1).await;
    }
}

/// Cuts `cache` to the log as opened, then starts the single-node epoch at
/// its end unless it holds a newer (cluster) epoch: a replica's cluster
/// epochs are kept across restarts, or its first fetch would name epoch 0
/// and truncate it back to where the leader's epoch 0 ended.
fn fit_to_log(cache: &mut LeaderEpochCache, log: &PartitionLog) {
    cache.truncate_from_end(log.log_end_offset());
    cache.truncate_from_start(log.log_start_offset());
    cache.assign_if_newer(SINGLE_NODE_LEADER_EPOCH, log.log_end_offset());
}

/// Every batch's epoch, from the log start.
async fn walk_log(log: &PartitionLog) -> Result<LeaderEpochCache, StorageError> {
    let mut cache = LeaderEpochCache::default();
    let mut assign = |info: &crate::protocol::record_batch::BatchInfo| {
        cache.assign_if_newer(info.partition_leader_epoch, info.base_offset);
    };
    let batches = log
        .visit_batch_headers(log.log_start_offset(), &mut assign)
        .await?;
    // A new (empty) log has nothing to report.
    if batches > 0 {
        log::info!(
            "{}: leader epochs rebuilt from {batches} batch(es): {:?}",
            log.name(),
            cache.entries()
        );
    }
    Ok(cache)
}

/// One partition's OffsetForLeaderEpoch question.
#[derive(Clone, Debug)]
pub struct EpochQuery {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
    /// The client's idea of the leader epoch (KIP-320; -1: no check).
    pub current_leader_epoch: i32,
    /// The epoch whose end is asked for.
    pub leader_epoch: i32,
}

/// OffsetForLeaderEpoch questions for the partitions one shard owns.
pub struct EpochQueryPart {
    /// The questions, in request order.
    pub partitions: Vec<EpochQuery>,
}

impl ShardPartitions {
    /// The answer per question of `part`, in order, or an error code.
    pub fn epoch_ends(&self, part: EpochQueryPart) -> Vec<Result<EpochEnd, i16>> {
        part.partitions
            .iter()
            .map(|query| match self.get(&query.topic, query.partition) {
                Some(partition) => {
                    partition.epoch_end(query.current_leader_epoch, query.leader_epoch)
                }
                None => Err(error_code::NOT_LEADER_OR_FOLLOWER),
            })
            .collect()
    }
}

impl Partition {
    /// The partition's current leader epoch (Metadata, ListOffsets).
    pub fn leader_epoch(&self) -> i32 {
        self.epochs.leader_epoch()
    }

    /// The partition's epochs.
    pub fn epochs(&self) -> &PartitionEpochs {
        &self.epochs
    }

    /// KIP-320: `current_leader_epoch` of a request against this partition's
    /// (-1: no check), as a Kafka error code.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), i16> {
        check_current_epoch(current_leader_epoch, self.leader_epoch())
            .map_err(|mismatch| mismatch.wire_error_code())
    }

    /// OffsetForLeaderEpoch for one partition (Kafka's
    /// `lastOffsetForLeaderEpoch`, which always requires the leader): the
    /// current epoch and the leadership checked
    /// ([`Partition::check_client_read`]), then the end of `leader_epoch` in
    /// this log, or (-1, -1) when unknown.
    pub fn epoch_end(&self, current_leader_epoch: i32, leader_epoch: i32) -> Result<EpochEnd, i16> {
        self.check_client_read(current_leader_epoch)
            .map_err(|refusal| refusal.wire_error_code())?;
        let mut cache = self.epochs.cache.borrow_mut();
        // Retention moves the log start; the cache follows it here.
        cache.truncate_from_start(self.log.log_start_offset());
        Ok(cache.end_offset_for(leader_epoch, self.log.log_end_offset()))
    }

    /// Fetch's checks before reading (Kafka's `readRecords`): the current
    /// epoch (KIP-320), then, when the fetcher names its last fetched epoch,
    /// whether its log diverges from this one ([`divergence`]: `Some` says
    /// where it must truncate).
    pub fn divergence(
        &self,
        current_leader_epoch: i32,
        last_fetched_epoch: i32,
        fetch_offset: i64,
    ) -> Result<Option<DivergingEpoch>, i16> {
        // Fetch reads any negative epoch as none (Kafka's `optionalEpoch`).
        self.check_leader_epoch(current_leader_epoch.max(NO_EPOCH))?;
        let log_start_offset = self.log.log_start_offset();
        let mut cache = self.epochs.cache.borrow_mut();
        cache.truncate_from_start(log_start_offset);
        let diverging = divergence(
            &cache,
            log_start_offset,
            self.log.log_end_offset(),
            last_fetched_epoch,
            fetch_offset,
        )?;
        Ok(diverging.map(|end| DivergingEpoch {
            epoch: end.epoch,
            end_offset: end.end_offset,
        }))
    }
}
