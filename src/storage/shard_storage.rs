//! [`ShardStorage`]: the partitions one shard owns, its flusher and its
//! retention loop.

use super::checkpoint::write_checkpoint;
use super::checkpoint::DirCheckpoints;
use super::config::{LogConfig, StorageLimits};
use super::error::StorageError;
use super::flusher::{run_flusher, FlushQueue};
use super::log::{now_ms, PartitionLog};
use super::partition_metadata;
use super::recent_budget::RecentBudget;
use super::recovery::{load_log, LoadStart};
use super::recovery_point::RecoveryCapture;
use super::segment::prime_iopoll_probe;
use super::sync_batch::BatchSync;
use glommio::sync::Semaphore;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;
use uuid::Uuid;

/// Kafka's longest topic name.
const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Shortest retention check interval accepted (a busy loop otherwise).
const RETENTION_CHECK_INTERVAL_MS_MIN: u64 = 100;
/// How often idle partitions are looked for, to give their preallocated
/// space back (`StorageLimits::preallocation_idle_ms`).
const PREALLOCATION_IDLE_CHECK_MS: u64 = 1_000;

type PartitionKey = (String, i32);

/// The storage of one shard. `!Send`; shared as `Rc<ShardStorage>` on it.
pub struct ShardStorage {
    shard_id: usize,
    data_dir: PathBuf,
    limits: StorageLimits,
    /// Topic -> partition -> log (nested so lookups by `&str` allocate nothing).
    logs: RefCell<HashMap<String, HashMap<i32, Rc<PartitionLog>>>>,
    /// Partitions being opened or deleted: later callers wait their turn.
    busy: RefCell<HashMap<PartitionKey, Rc<Semaphore>>>,
    flush_queue: Rc<FlushQueue>,
    /// Recent batch bytes of all logs of the shard, and their bound.
    pub(super) recent_budget: Rc<RecentBudget>,
    stopping: Cell<bool>,
    iopoll_probe_primed: Cell<bool>,
    /// The log directory's checkpoint files (recovery points, high
    /// watermarks, log starts), shared with the other shards.
    pub(super) checkpoints: DirCheckpoints,
    /// Bytes of active segments checked at load (see `checked_bytes`).
    checked_bytes: Cell<u64>,
}

impl ShardStorage {
    /// Storage of shard `shard_id` under `data_dir` (partitions are
    /// `<data_dir>/<topic>-<partition>/`), whose checkpoint files are
    /// `checkpoints` (loaded once for the directory, shared by its shards).
    pub fn new(
        shard_id: usize,
        data_dir: PathBuf,
        limits: StorageLimits,
        checkpoints: DirCheckpoints,
    ) -> Rc<Self> {
        let batch_sync = BatchSync::choose(limits.syncfs_batches);
        let flush_queue = Rc::new(FlushQueue::new(
            limits.unwritten_bytes_per_shard_max,
            batch_sync,
        ));
        let recent_budget = RecentBudget::new(&limits);
        Rc::new(ShardStorage {
            shard_id,
            data_dir,
            limits,
            logs: RefCell::new(HashMap::new()),
            busy: RefCell::new(HashMap::new()),
            flush_queue,
            recent_budget,
            stopping: Cell::new(false),
            iopoll_probe_primed: Cell::new(false),
            checkpoints,
            checked_bytes: Cell::new(0),
        })
    }

    /// The log directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory of a partition.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    /// The partition's recovery point in the checkpoint file, if any.
    pub fn recovery_point(&self, topic: &str, partition: i32) -> Option<i64> {
        self.checkpoints.recovery_points.get(topic, partition)
    }

    /// Names `capture` (persisted: [`PartitionLog::persist_recovery_point`])
    /// as the partition's recovery point in the next checkpoint file.
    pub fn record_recovery_point(
        &self,
        topic: &str,
        partition: i32,
        log: &PartitionLog,
        capture: &RecoveryCapture,
    ) {
        self.checkpoints
            .recovery_points
            .set(topic, partition, capture.offset);
        log.recovery_point_recorded(capture);
    }

    /// Writes the log directory's checkpoint file (on a blocking thread).
    pub async fn write_recovery_checkpoint(&self) -> Result<(), StorageError> {
        let checkpoint = self.checkpoints.recovery_points.clone();
        write_checkpoint(checkpoint, &self.data_dir).await
    }

    /// The partition's high watermark in `replication-offset-checkpoint`.
    pub fn checkpointed_high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.checkpoints.high_watermarks.get(topic, partition)
    }

    /// Names `high_watermark` as the partition's in the next high watermark
    /// checkpoint; returns whether it changed.
    pub fn record_high_watermark(&self, topic: &str, partition: i32, high_watermark: i64) -> bool {
        self.checkpoints
            .high_watermarks
            .set(topic, partition, high_watermark)
    }

    /// Writes the log directory's `replication-offset-checkpoint` (on a
    /// blocking thread).
    pub async fn write_high_watermark_checkpoint(&self) -> Result<(), StorageError> {
        let checkpoint = self.checkpoints.high_watermarks.clone();
        write_checkpoint(checkpoint, &self.data_dir).await
    }

    /// Opens (loading or creating) `<data_dir>/<topic>-<partition>/`. The
    /// active segment is checked from the partition's recovery point (every
    /// CRC verified, a torn or corrupt tail truncated, index entries past it
    /// rebuilt; `recovery.rs`). Missing or damaged index files of older
    /// segments are rebuilt. Opening an open partition returns it (with
    /// `config` applied).
    ///
    /// With `topic_id` (the cluster metadata's), the directory's
    /// `partition.metadata` is checked first ([`Self::claim_partition_dir`]):
    /// a directory of another topic id is a stray, deleted, and the
    /// partition created fresh. A directory without the file of the id gets
    /// it written by the log's first flusher round, before any batch
    /// ([`PartitionLog::record_topic_id`]). `None` (tests) leaves the file
    /// alone.
    pub async fn open_partition(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Option<Uuid>,
        config: LogConfig,
        clean_shutdown: bool,
    ) -> Result<Rc<PartitionLog>, StorageError> {
        check_topic_name(topic)?;
        let key = (topic.to_string(), partition);
        let _turn = self.take_turn(&key).await;
        if let Some(log) = self.partition(topic, partition) {
            log.set_config(config);
            return Ok(log);
        }
        let name = format!("{topic}-{partition}");
        let dir = self.partition_dir(topic, partition);
        create_dir(&dir).await?;
        let unrecorded_topic_id = match topic_id {
            Some(topic_id) => {
                self.claim_partition_dir(topic, partition, &dir, topic_id)
                    .await?
            }
            None => None,
        };
        self.prime_io().await?;
        let start = LoadStart {
            clean_shutdown,
            recovery_point: self.checkpoints.recovery_points.get(topic, partition),
        };
        let loaded = load_log(&dir, &name, &config, &self.limits, start).await?;
        self.checked_bytes
            .set(self.checked_bytes.get() + loaded.checked_bytes);
        let log = PartitionLog::from_loaded(
            name,
            dir,
            config,
            self.limits.clone(),
            loaded,
            self.flush_queue.clone(),
            self.recent_budget.clone(),
        );
        self.keep_log_start(&log, topic, partition);
        self.recent_budget.register(Rc::downgrade(&log));
        if self.recent_budget.over() {
            // The load read the partial last block's batches into memory;
            // opening many partitions must not take the shard past its
            // bound until a write round evicts them (reads find them in the
            // file too).
            log.evict_cold_recent();
        }
        if let Some(topic_id) = unrecorded_topic_id {
            log.record_topic_id(topic_id);
        }
        self.logs
            .borrow_mut()
            .entry(key.0)
            .or_default()
            .insert(partition, log.clone());
        Ok(log)
    }

    /// Creates the directories of `partitions` (topic, index) that are
    /// missing, then fsyncs the data directory once for all of them: the
    /// batch form of the directory creation in [`Self::open_partition`],
    /// which then finds each directory in place and syncs nothing more for
    /// it. Partition creation (CreateTopics, CreatePartitions, a new cluster
    /// view) calls it before opening the new partitions.
    pub async fn create_partition_dirs(
        &self,
        partitions: &[(&str, i32)],
    ) -> Result<(), StorageError> {
        let mut dirs = Vec::with_capacity(partitions.len());
        for &(topic, partition) in partitions {
            check_topic_name(topic)?;
            dirs.push(self.partition_dir(topic, partition));
        }
        super::io::create_dirs_durably(&dirs)
            .await
            .map_err(|e| StorageError::io("create directory", &self.data_dir, e))
    }

    /// Primes glommio's iopoll probe for the data directory's device once
    /// (see [`prime_iopoll_probe`]). Every O_DIRECT open on the shard must
    /// follow it, so call it before opening partitions concurrently: an open
    /// that ran while the first one awaited the probe made glommio enable its
    /// poll ring, and a snapshot read then failed with EOPNOTSUPP at start.
    pub async fn prime_io(&self) -> Result<(), StorageError> {
        if !self.iopoll_probe_primed.replace(true) {
            prime_iopoll_probe(&self.data_dir, self.shard_id).await?;
        }
        Ok(())
    }

    /// The open partition, if any.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Rc<PartitionLog>> {
        self.logs.borrow().get(topic)?.get(&partition).cloned()
    }

    /// Closes the partition (pending appends and waiters get `Closed`) and
    /// removes its directory. Deleting an unknown partition removes its
    /// directory if one exists. Its recovery point, high watermark and log
    /// start leave the checkpoint files first, so a partition created again under the
    /// name never starts from them.
    pub async fn delete_partition(&self, topic: &str, partition: i32) -> Result<(), StorageError> {
        check_topic_name(topic)?;
        let key = (topic.to_string(), partition);
        let _turn = self.take_turn(&key).await;
        let removed = self.remove_log(topic, partition);
        if let Some(log) = removed {
            log.close_for_delete().await;
        }
        self.forget_checkpoints(topic, partition).await?;
        remove_dir(self.partition_dir(topic, partition)).await
    }

    /// Removes the partition's recovery point, high watermark and log start
    /// from the checkpoint files (written again if they named it), so a partition
    /// created again under the name never starts from them.
    async fn forget_checkpoints(&self, topic: &str, partition: i32) -> Result<(), StorageError> {
        if self.checkpoints.recovery_points.remove(topic, partition) {
            self.write_recovery_checkpoint().await?;
        }
        if self.checkpoints.high_watermarks.remove(topic, partition) {
            self.write_high_watermark_checkpoint().await?;
        }
        if self.checkpoints.log_starts.remove(topic, partition) {
            self.write_log_start_checkpoint().await?;
        }
        Ok(())
    }

    /// Makes the (existing, not open) partition directory `dir` topic
    /// `topic_id`'s. Its `partition.metadata` names the topic id it was
    /// created for: the same id, it is kept; another id, it is a stray log
    /// of a topic deleted and created again under the name while this
    /// broker was down (Kafka's `isStrayKraftReplica` finds it by that id),
    /// so it is deleted, with its checkpoint entries, and made again empty.
    /// Returns the id to record on the log (written by its first flusher
    /// round) when the directory has no file of it: made again empty, or
    /// without the file, which means it holds no record of this build or
    /// was made by an older one (why adopting it is safe:
    /// `partition_metadata.rs`).
    async fn claim_partition_dir(
        &self,
        topic: &str,
        partition: i32,
        dir: &Path,
        topic_id: Uuid,
    ) -> Result<Option<Uuid>, StorageError> {
        let found = partition_metadata::read_topic_id(dir)
            .await
            .map_err(|e| StorageError::io("read partition.metadata", dir, e))?;
        match found {
            Some(id) if id == topic_id => return Ok(None),
            Some(stray_id) => {
                self.forget_checkpoints(topic, partition).await?;
                remove_dir(dir.to_path_buf()).await?;
                create_dir(dir).await?;
                log::warn!(
                    "shard {}: stray log {topic}-{partition} deleted: its topic id {stray_id} \
                     is not the cluster metadata's {topic_id} (the topic was deleted and \
                     created again)",
                    self.shard_id
                );
            }
            None => {}
        }
        Ok(Some(topic_id))
    }

    /// Bytes of active segments checked when this shard's partitions were
    /// loaded (from their recovery points, or whole).
    pub fn checked_bytes(&self) -> u64 {
        self.checked_bytes.get()
    }

    /// Spawns the shard's group-commit flusher, its retention loop and its
    /// loop giving back idle partitions' preallocated space.
    pub fn start_background(self: &Rc<Self>, retention_check_interval_ms: u64) {
        let queue = self.flush_queue.clone();
        let logs_per_round = self.limits.flush_logs_per_round_max;
        glommio::spawn_local(run_flusher(queue, logs_per_round)).detach();
        let interval = retention_check_interval_ms.max(RETENTION_CHECK_INTERVAL_MS_MIN);
        self.spawn_every(interval, |storage| async move {
            storage.run_retention().await;
        });
        self.spawn_every(PREALLOCATION_IDLE_CHECK_MS, |storage| async move {
            storage.give_back_idle_preallocations().await;
        });
    }

    /// Runs `pass` every `interval_ms` until the storage stops or is dropped.
    fn spawn_every<F, Fut>(self: &Rc<Self>, interval_ms: u64, pass: F)
    where
        F: Fn(Rc<ShardStorage>) -> Fut + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let storage = Rc::downgrade(self);
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(Duration::from_millis(interval_ms)).await;
                let Some(storage) = storage.upgrade() else {
                    return;
                };
                if storage.stopping.get() {
                    return;
                }
                pass(storage).await;
            }
        })
        .detach();
    }

    /// Gives back the preallocated space of every idle partition.
    pub async fn give_back_idle_preallocations(&self) {
        let now = now_ms();
        for log in self.all_logs() {
            if let Err(error) = log.give_back_if_idle(now).await {
                log::warn!(
                    "{}: giving back preallocated space failed: {error}",
                    log.name()
                );
            }
        }
    }

    fn remove_log(&self, topic: &str, partition: i32) -> Option<Rc<PartitionLog>> {
        let mut logs = self.logs.borrow_mut();
        let partitions = logs.get_mut(topic)?;
        let removed = partitions.remove(&partition);
        if partitions.is_empty() {
            logs.remove(topic);
        }
        removed
    }

    /// Every open partition of the shard.
    pub fn logs(&self) -> Vec<Rc<PartitionLog>> {
        self.all_logs()
    }

    pub(super) fn all_logs(&self) -> Vec<Rc<PartitionLog>> {
        let logs = self.logs.borrow();
        logs.values()
            .flat_map(|partitions| partitions.values().cloned())
            .collect()
    }

    /// Bytes of recent batches held in memory by all partitions of the shard.
    pub fn recent_bytes(&self) -> usize {
        self.recent_budget.bytes()
    }

    /// The shard's room for recent batches now, and the most it grows back
    /// to (`log.recent.bytes.per.shard.max`).
    pub fn recent_room(&self) -> (usize, usize) {
        (self.recent_budget.room(), self.recent_budget.room_max())
    }

    /// What the shard may hold in recent batches now: its room, or less
    /// while reads have not asked for it all (`recent_budget.rs`).
    pub fn recent_limit(&self) -> usize {
        self.recent_budget.limit()
    }

    /// Sets the shard's room for recent batches (at most
    /// `log.recent.bytes.per.shard.max`) and evicts down to it.
    pub async fn set_recent_room(&self, room_bytes: usize) {
        self.recent_budget.set_room(room_bytes);
        self.recent_budget.evict_to_room().await;
    }

    /// Appended bytes of all partitions of the shard not written yet.
    pub fn unwritten_bytes(&self) -> u64 {
        self.flush_queue.unwritten.bytes()
    }

    /// One retention pass over every partition of the shard.
    pub async fn run_retention(&self) {
        let logs = self.all_logs();
        let now = now_ms();
        for log in logs {
            // Also trims idle logs' memory when the shard is over its bound.
            log.evict_recent();
            if let Err(error) = log.apply_retention(now).await {
                log::warn!("{}: retention failed: {error}", log.name());
            }
        }
    }

    /// Writes and fdatasyncs everything, writes the index files of active
    /// segments and truncates them to their logical size, then stops the
    /// background tasks. Returns the first error (every log is still tried).
    pub async fn shutdown(&self) -> Result<(), StorageError> {
        self.stopping.set(true);
        let logs = self.all_logs();
        let mut first_error = None;
        // Several logs at a time: each close ends with an fdatasync.
        for chunk in logs.chunks(self.limits.flush_logs_per_round_max.max(1)) {
            let closes: Vec<_> = chunk
                .iter()
                .map(|log| {
                    let log = log.clone();
                    glommio::spawn_local(async move { (log.close().await, log) })
                })
                .collect();
            for close in closes {
                if let (Err(error), log) = close.await {
                    log::error!(
                        "shard {}: closing {} failed: {error}",
                        self.shard_id,
                        log.name()
                    );
                    first_error.get_or_insert(error);
                }
            }
        }
        self.flush_queue.stop();
        first_error.map_or(Ok(()), Err)
    }

    /// Waits until no other open/delete of `key` runs; the returned guard
    /// lets the next one in when dropped.
    async fn take_turn(&self, key: &PartitionKey) -> TurnGuard<'_> {
        loop {
            let existing = self.busy.borrow().get(key).cloned();
            match existing {
                // Closed when the holder finishes; then look again.
                Some(semaphore) => {
                    let _ = semaphore.acquire(1).await;
                }
                None => {
                    let semaphore = Rc::new(Semaphore::new(0));
                    self.busy.borrow_mut().insert(key.clone(), semaphore);
                    return TurnGuard {
                        storage: self,
                        key: key.clone(),
                    };
                }
            }
        }
    }
}

struct TurnGuard<'a> {
    storage: &'a ShardStorage,
    key: PartitionKey,
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        if let Some(semaphore) = self.storage.busy.borrow_mut().remove(&self.key) {
            semaphore.close();
        }
    }
}

fn check_topic_name(topic: &str) -> Result<(), StorageError> {
    let legal = !topic.is_empty()
        && topic.len() <= TOPIC_NAME_BYTES_MAX
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if legal {
        Ok(())
    } else {
        Err(StorageError::InvalidTopicName(topic.to_string()))
    }
}

/// Creates a partition directory. Its parent, the data directory, is
/// created at start-up (topic names hold no `/`); glommio creates the
/// directory on its blocking pool, off the reactor, and the parent is
/// fsynced so the new directory survives a crash.
async fn create_dir(dir: &Path) -> Result<(), StorageError> {
    super::io::create_dir_durably(dir)
        .await
        .map_err(|e| StorageError::io("create directory", dir, e))
}

async fn remove_dir(dir: PathBuf) -> Result<(), StorageError> {
    let path = dir.clone();
    // A recursive delete can take long: keep it off the reactor, and the
    // segment files' blocks too (`io::reaper`).
    let result = glommio::executor()
        .spawn_blocking(move || super::io::reaper::remove_dir_and_reap(&path))
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StorageError::io("remove directory", &dir, error)),
    }
}

impl PartitionLog {
    /// Closes the log for deletion: waits for in-flight appends and flush
    /// rounds, then fails everything pending with `Closed`.
    async fn close_for_delete(&self) {
        self.closed.set(true);
        let _append = self.append_lock.acquire_permit(1).await;
        let _flush = self.flush_turn().await;
        // A recovery point writing index files finishes before the directory goes.
        let _index = self.index_files_turn().await;
        self.fail_waiters(&self.closed_error());
        self.wake_all_listeners();
        self.state.borrow_mut().recent.clear();
    }
}
