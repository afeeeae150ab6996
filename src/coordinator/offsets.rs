//! Committed offsets, kept in the partitions of Kafka's offsets topic: a
//! group's commits go to partition [`partitions::partition_for_group`]
//! (Kafka's `abs(groupId.hashCode) % offsets.topic.num.partitions`), and the
//! shard that owns that partition coordinates the group. Which shard owns a
//! partition follows the shard count, but the partition a group's commits
//! live in does not: a broker restarted with another `num.shards` (or on
//! another number of cores) loads each partition on its new owner and keeps
//! every commit (issue 10, defect 3).
//!
//! # Design
//! - One log per offsets partition, `<log.dirs>/__millrace_consumer_offsets-<p>/offsets.log`,
//!   created at the first commit of one of its groups. Its records are
//!   Kafka's offset commit key and value ([`record`]). The last record for a
//!   key wins; a tombstone removes the key.
//! - Commits are acknowledged only after their records are written and
//!   fdatasync'd (the durability of acks=all data). Concurrent commits are
//!   group-committed: whatever is queued while a write+fdatasync runs goes
//!   out together in the next one.
//! - Start-up replays each partition the shard owns before the shard serves
//!   (so no request sees a partition still loading); the first record that
//!   is short or fails its CRC marks a torn tail, which is truncated.
//! - When a file grows past [`COMPACT_RATIO`] times the live data (and
//!   [`COMPACT_BYTES_MIN`]), a snapshot of the live offsets is written to a
//!   temporary file, fsync'd and renamed over the log (compaction: the
//!   latest record per key).
//! - File I/O is blocking `std::fs` run on the shard's control helpers
//!   ([`run_job`] with [`Helpers::Control`]), never on the reactor nor behind clients' sends
//!   or segment rolls: the log is small and written with one
//!   pwrite+fdatasync per group commit, so buffered I/O is simpler than
//!   DmaFile's alignment rules at no cost that matters here. The directory
//!   is created by `storage::io::create_dir_durably`, which fsyncs its
//!   parent (shared with partition directories).
//! - [`upgrade`]: the partition count is fixed at the first start (as
//!   Kafka's topic is, once created), and the per-shard logs of older
//!   versions are imported once.
//!
//! In a cluster the same stores are backed by the partitions of the
//! replicated internal topic `__consumer_offsets` instead ([`replicated`]):
//! a store exists while this broker leads its partition, is loaded from the
//! partition's log when leadership arrives, writes Kafka record batches with
//! acks=all semantics, and is dropped when leadership goes.

pub mod partitions;
pub mod record;
pub mod replicated;
pub mod upgrade;

#[cfg(test)]
mod tests;

use crate::local::helper_pool::{run_job, Helpers};
use crate::local::oneshot;
use crate::partition::ShardPartitions;
use record::{decode_records, encode_record, record_size};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

/// File name of the offsets log inside its directory.
pub const OFFSETS_FILE: &str = "offsets.log";
/// Directory name prefix of an offsets partition (its index follows).
pub const OFFSETS_DIR_PREFIX: &str = "__millrace_consumer_offsets-";
/// Compact when the file exceeds this many times the live data...
pub const COMPACT_RATIO: u64 = 4;
/// ...and at least this many bytes.
pub const COMPACT_BYTES_MIN: u64 = 1 << 20;
/// Kafka's default `offset.metadata.max.bytes`: the longest metadata string
/// kept with an offset unless the broker sets another.
pub const METADATA_BYTES_MAX: usize = 4096;

/// One committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch given by the client (-1 if none).
    pub leader_epoch: i32,
    /// Client metadata string.
    pub metadata: String,
    /// Commit time, ms since the epoch.
    pub commit_time_ms: i64,
}

/// A change to the offsets of one (group, topic, partition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetChange {
    /// Group id.
    pub group: String,
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The new offset, or `None` to delete.
    pub committed: Option<CommittedOffset>,
}

/// Why the offsets log failed.
#[derive(Debug)]
pub enum OffsetStoreError {
    /// A file operation failed.
    Io(std::io::Error),
    /// The store is not open (start-up failed or shutdown).
    NotOpen,
    /// The helper threads dropped the work.
    Lost,
    /// The replicated offsets partition refused or timed out the write
    /// (its Kafka error code: not leader, not enough replicas, timeout).
    Refused(i16),
    /// The replicated offsets partition could not be read at load.
    Load(String),
}

impl std::fmt::Display for OffsetStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OffsetStoreError::Io(e) => write!(f, "offsets log I/O: {e}"),
            OffsetStoreError::NotOpen => f.write_str("offsets log is not open"),
            OffsetStoreError::Lost => f.write_str("offsets log write was lost"),
            OffsetStoreError::Refused(code) => {
                write!(f, "offsets partition refused the write (error code {code})")
            }
            OffsetStoreError::Load(e) => write!(f, "offsets partition load: {e}"),
        }
    }
}

type PartitionOffsets = HashMap<(String, i32), CommittedOffset>;

/// Wall-clock time in ms since the epoch (commit times are kept in it, as
/// Kafka does, so they survive restarts).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct QueuedWrite {
    changes: Vec<OffsetChange>,
    done: oneshot::Sender<bool>,
}

/// Where a store's records live.
enum Backing {
    /// Its own file under `log.dirs` (a single node).
    File,
    /// Partition `index` of the replicated `__consumer_offsets`, led by this
    /// broker at `leader_epoch` (a cluster).
    Log {
        partitions: Rc<ShardPartitions>,
        index: i32,
        leader_epoch: i32,
    },
}

/// The committed offsets of the groups of one offsets partition.
pub struct OffsetStore {
    dir: PathBuf,
    backing: Backing,
    /// Set by [`OffsetStore::load`]: writes are refused before.
    loaded: Cell<bool>,
    /// Opened at load when the log exists, else at the first write.
    file: RefCell<Option<Arc<File>>>,
    live: RefCell<HashMap<String, PartitionOffsets>>,
    file_bytes: Cell<u64>,
    /// A failed write could not be cut back: bytes past `file_bytes` may
    /// hold records of it, cut before the next write.
    tail_dirty: Cell<bool>,
    live_bytes: Cell<u64>,
    queue: RefCell<Vec<QueuedWrite>>,
    writing: Cell<bool>,
}

impl OffsetStore {
    /// The store of offsets partition `partition` under `log_dir`;
    /// [`OffsetStore::load`] opens it.
    pub fn new(log_dir: &Path, partition: i32) -> Rc<Self> {
        Self::with_backing(partition_dir(log_dir, partition), Backing::File)
    }

    /// The store of partition `index` of the replicated `__consumer_offsets`,
    /// led here at `leader_epoch`; [`OffsetStore::load`] reads it.
    pub fn replicated(partitions: Rc<ShardPartitions>, index: i32, leader_epoch: i32) -> Rc<Self> {
        let dir = PathBuf::from(format!("{}-{index}", partitions::OFFSETS_TOPIC));
        let backing = Backing::Log {
            partitions,
            index,
            leader_epoch,
        };
        Self::with_backing(dir, backing)
    }

    fn with_backing(dir: PathBuf, backing: Backing) -> Rc<Self> {
        Rc::new(OffsetStore {
            dir,
            backing,
            loaded: Cell::new(false),
            file: RefCell::new(None),
            live: RefCell::new(HashMap::new()),
            file_bytes: Cell::new(0),
            tail_dirty: Cell::new(false),
            live_bytes: Cell::new(0),
            queue: RefCell::new(Vec::new()),
            writing: Cell::new(false),
        })
    }

    /// The leader epoch a replicated store was made for (`None`: a file).
    pub fn leader_epoch(&self) -> Option<i32> {
        match &self.backing {
            Backing::File => None,
            Backing::Log { leader_epoch, .. } => Some(*leader_epoch),
        }
    }

    /// True once loaded: requests are served (before, a replicated store
    /// answers COORDINATOR_LOAD_IN_PROGRESS).
    pub fn is_loaded(&self) -> bool {
        self.loaded.get()
    }

    /// Opens the log if it exists, replays it and truncates a torn tail; a
    /// replicated store reads its partition from the log start instead.
    pub async fn load(&self) -> Result<(), OffsetStoreError> {
        if let Backing::Log {
            partitions, index, ..
        } = &self.backing
        {
            let changes = replicated::read_all(partitions, *index)
                .await
                .map_err(OffsetStoreError::Load)?;
            let count = changes.len();
            for change in changes {
                self.apply(change);
            }
            self.loaded.set(true);
            log::info!(
                "{}: {count} offset record(s) loaded, {} group(s)",
                self.dir.display(),
                self.live.borrow().len()
            );
            return Ok(());
        }
        let dir = self.dir.clone();
        let opened = run_job(Helpers::Control, move || match dir.exists() {
            true => open_and_replay(&dir).map(Some),
            false => Ok(None),
        })
        .await
        .map_err(|_| OffsetStoreError::Lost)?
        .map_err(OffsetStoreError::Io)?;
        self.loaded.set(true);
        let Some((file, changes, valid_bytes)) = opened else {
            return Ok(());
        };
        let count = changes.len();
        for change in changes {
            self.apply(change);
        }
        self.file_bytes.set(valid_bytes);
        *self.file.borrow_mut() = Some(Arc::new(file));
        log::info!(
            "{}: {count} offset record(s) replayed, {} group(s)",
            self.dir.display(),
            self.live.borrow().len()
        );
        Ok(())
    }

    fn apply(&self, change: OffsetChange) {
        let mut live = self.live.borrow_mut();
        let key = (change.topic, change.partition);
        let old = match change.committed {
            Some(committed) => {
                let size = record_size(&change.group, &key.0, &committed.metadata);
                self.live_bytes.set(self.live_bytes.get() + size);
                let group = live.entry(change.group.clone()).or_default();
                let size_of = |c: &CommittedOffset| record_size(&change.group, &key.0, &c.metadata);
                group
                    .insert(key.clone(), committed)
                    .map(|old| size_of(&old))
            }
            None => {
                let removed = live
                    .get_mut(&change.group)
                    .and_then(|group| group.remove(&key));
                if live
                    .get(&change.group)
                    .is_some_and(|group| group.is_empty())
                {
                    live.remove(&change.group);
                }
                removed.map(|old| record_size(&change.group, &key.0, &old.metadata))
            }
        };
        if let Some(size) = old {
            self.live_bytes
                .set(self.live_bytes.get().saturating_sub(size));
        }
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.live
            .borrow()
            .get(group)?
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// Every committed offset of `group`, sorted by topic and partition.
    pub fn group_offsets(&self, group: &str) -> Vec<(String, i32, CommittedOffset)> {
        let live = self.live.borrow();
        let mut all: Vec<_> = live
            .get(group)
            .map(|offsets| {
                offsets
                    .iter()
                    .map(|((topic, partition), committed)| {
                        (topic.clone(), *partition, committed.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();
        all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        all
    }

    /// Whether `group` has committed offsets.
    pub fn has_group(&self, group: &str) -> bool {
        self.live.borrow().contains_key(group)
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> Vec<String> {
        self.live.borrow().keys().cloned().collect()
    }

    /// Deletion records for every offset of `group`.
    pub fn deletions_for_group(&self, group: &str) -> Vec<OffsetChange> {
        self.group_offsets(group)
            .into_iter()
            .map(|(topic, partition, _)| OffsetChange {
                group: group.to_string(),
                topic,
                partition,
                committed: None,
            })
            .collect()
    }

    /// Deletion records for every offset, of any group, whose topic is `gone`.
    pub fn deletions_for_topics(&self, gone: impl Fn(&str) -> bool) -> Vec<OffsetChange> {
        let live = self.live.borrow();
        let mut deletions = Vec::new();
        for (group, offsets) in live.iter() {
            for (topic, partition) in offsets.keys() {
                if gone(topic) {
                    deletions.push(OffsetChange {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                        committed: None,
                    });
                }
            }
        }
        deletions
    }

    /// Deletion records for every offset of the groups that are not
    /// `active` and whose last commit is at least `retention_ms` before
    /// `now_ms` (Kafka's `offsets.retention.minutes` for empty groups).
    pub fn expired_deletions(
        &self,
        now_ms: i64,
        retention_ms: i64,
        active: impl Fn(&str) -> bool,
    ) -> Vec<OffsetChange> {
        let expired: Vec<String> = self
            .live
            .borrow()
            .iter()
            .filter(|(group, offsets)| {
                let last_commit_ms = offsets.values().map(|c| c.commit_time_ms).max();
                !active(group)
                    && last_commit_ms
                        .is_some_and(|last| now_ms.saturating_sub(last) >= retention_ms)
            })
            .map(|(group, _)| group.clone())
            .collect();
        expired
            .iter()
            .flat_map(|group| self.deletions_for_group(group))
            .collect()
    }

    /// Makes `changes` durable, then visible. Concurrent calls share one
    /// write+fdatasync.
    pub async fn write(
        self: &Rc<Self>,
        changes: Vec<OffsetChange>,
    ) -> Result<(), OffsetStoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        if !self.loaded.get() {
            return Err(OffsetStoreError::NotOpen);
        }
        let (done, written) = oneshot::channel();
        self.queue.borrow_mut().push(QueuedWrite { changes, done });
        if !self.writing.get() {
            self.writing.set(true);
            let store = self.clone();
            glommio::spawn_local(async move { store.write_queued().await }).detach();
        }
        match written.await {
            Some(true) => Ok(()),
            Some(false) => Err(OffsetStoreError::Io(std::io::Error::other(
                "offsets log write failed",
            ))),
            None => Err(OffsetStoreError::Lost),
        }
    }

    /// Resolves once every write queued before this call is done (written
    /// and visible, or failed): for an answer that must not overtake earlier
    /// commits. Free when nothing is queued or being written.
    pub async fn settled(&self) {
        if !self.writing.get() {
            return;
        }
        let (done, written) = oneshot::channel();
        let changes = Vec::new();
        self.queue.borrow_mut().push(QueuedWrite { changes, done });
        // Whether those writes failed is their callers' business.
        let _ = written.await;
    }

    async fn write_queued(self: Rc<Self>) {
        loop {
            let batch: Vec<QueuedWrite> = std::mem::take(&mut *self.queue.borrow_mut());
            if batch.is_empty() {
                break;
            }
            let written = self.write_batch(&batch).await;
            let ok = match written {
                Ok(()) => true,
                Err(e) => {
                    log::error!("{}: {e}", self.dir.display());
                    false
                }
            };
            for queued in batch {
                if ok {
                    for change in queued.changes {
                        self.apply(change);
                    }
                }
                queued.done.send(ok);
            }
            if ok && matches!(self.backing, Backing::File) {
                self.maybe_compact().await;
            }
        }
        self.writing.set(false);
    }

    /// Writes the changes of `batch` (all or none) to the backing log.
    async fn write_batch(&self, batch: &[QueuedWrite]) -> Result<(), OffsetStoreError> {
        let changes = batch.iter().flat_map(|queued| queued.changes.iter());
        // A batch of barriers only (`settled`) has nothing to write.
        if changes.clone().next().is_none() {
            return Ok(());
        }
        match &self.backing {
            Backing::File => {
                let mut bytes = Vec::new();
                for change in changes {
                    encode_record(change, &mut bytes);
                }
                self.append(bytes).await
            }
            Backing::Log {
                partitions, index, ..
            } => {
                let changes: Vec<OffsetChange> = changes.cloned().collect();
                let batch = replicated::encode_batch(&changes, now_ms())
                    .map_err(|e| OffsetStoreError::Io(std::io::Error::other(e)))?;
                replicated::append(partitions, *index, batch)
                    .await
                    .map_err(OffsetStoreError::Refused)
            }
        }
    }

    /// The open log, created with its directory at the first write.
    async fn log_file(&self) -> Result<Arc<File>, OffsetStoreError> {
        if let Some(file) = self.file.borrow().clone() {
            return Ok(file);
        }
        crate::storage::io::create_dir_durably(&self.dir)
            .await
            .map_err(OffsetStoreError::Io)?;
        let dir = self.dir.clone();
        let file = run_job(Helpers::Control, move || open_and_replay(&dir))
            .await
            .map_err(|_| OffsetStoreError::Lost)?
            .map_err(OffsetStoreError::Io)?
            .0;
        let file = Arc::new(file);
        *self.file.borrow_mut() = Some(file.clone());
        Ok(file)
    }

    async fn append(&self, bytes: Vec<u8>) -> Result<(), OffsetStoreError> {
        let file = self.log_file().await?;
        let position = self.file_bytes.get();
        let len = bytes.len() as u64;
        let cut_first = self.tail_dirty.get();
        let appended = run_job(Helpers::Control, move || {
            append_or_cut_back(&file, &bytes, position, cut_first)
        })
        .await
        .map_err(|_| OffsetStoreError::Lost)?;
        // A failed write leaves file_bytes unchanged: the next one starts there.
        match appended {
            Ok(()) => {
                self.tail_dirty.set(false);
                self.file_bytes.set(position + len);
                Ok(())
            }
            Err(AppendFailure { error, cut_back }) => {
                self.tail_dirty.set(!cut_back);
                Err(OffsetStoreError::Io(error))
            }
        }
    }

    async fn maybe_compact(&self) {
        let file_bytes = self.file_bytes.get();
        if file_bytes < COMPACT_BYTES_MIN
            || file_bytes < COMPACT_RATIO * self.live_bytes.get().max(1)
        {
            return;
        }
        let mut snapshot = Vec::new();
        for (group, offsets) in self.live.borrow().iter() {
            for ((topic, partition), committed) in offsets {
                let change = OffsetChange {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    committed: Some(committed.clone()),
                };
                encode_record(&change, &mut snapshot);
            }
        }
        let dir = self.dir.clone();
        let len = snapshot.len() as u64;
        let replaced = run_job(Helpers::Control, move || {
            replace_with_snapshot(&dir, &snapshot)
        })
        .await;
        match replaced.unwrap_or_else(|e| Err(std::io::Error::other(e))) {
            Ok(file) => {
                *self.file.borrow_mut() = Some(Arc::new(file));
                self.file_bytes.set(len);
                log::info!(
                    "{}: compacted {file_bytes} -> {len} bytes",
                    self.dir.display()
                );
            }
            Err(e) => log::warn!("{}: compaction failed (log kept): {e}", self.dir.display()),
        }
    }
}

/// A failed append: its error, and whether the file was cut back to where
/// the append began.
struct AppendFailure {
    error: std::io::Error,
    cut_back: bool,
}

/// Writes `bytes` at `position` (the end of the valid records) and syncs
/// them. If that fails, part of them may be in the file (a short write on a
/// full disk, or a failed fdatasync): the file is cut back to `position` and
/// the cut synced, so no record of a refused commit is replayed at the next
/// start, nor left past a later, shorter write. `cut_first`: an earlier cut
/// failed, so the file is cut before writing.
fn append_or_cut_back(
    file: &File,
    bytes: &[u8],
    position: u64,
    cut_first: bool,
) -> Result<(), AppendFailure> {
    let cut = || file.set_len(position).and_then(|()| file.sync_data());
    if cut_first {
        cut().map_err(|error| AppendFailure {
            error,
            cut_back: false,
        })?;
    }
    let written = file
        .write_all_at(bytes, position)
        .and_then(|()| file.sync_data());
    written.map_err(|error| {
        let cut_back = match cut() {
            Ok(()) => true,
            Err(e) => {
                log::error!("offsets log: cutting a failed write back to {position} failed: {e}");
                false
            }
        };
        AppendFailure { error, cut_back }
    })
}

/// The directory of offsets partition `partition` under `log_dir`.
pub fn partition_dir(log_dir: &Path, partition: i32) -> PathBuf {
    log_dir.join(format!("{OFFSETS_DIR_PREFIX}{partition}"))
}

/// Opens (creating) the log in `dir`, replays it and cuts a torn tail.
pub fn open_and_replay(dir: &Path) -> std::io::Result<(File, Vec<OffsetChange>, u64)> {
    let path = dir.join(OFFSETS_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    let data = std::fs::read(&path)?;
    let (changes, valid) = decode_records(&data);
    if valid < data.len() {
        log::warn!(
            "{}: truncating {} byte(s) of torn or corrupt tail",
            path.display(),
            data.len() - valid
        );
        file.set_len(valid as u64)?;
        file.sync_all()?;
    }
    Ok((file, changes, valid as u64))
}

/// Writes `snapshot` as the whole log of `dir` (temporary file, fsync, rename).
pub fn replace_with_snapshot(dir: &Path, snapshot: &[u8]) -> std::io::Result<File> {
    let tmp = dir.join(format!("{OFFSETS_FILE}.tmp"));
    let path = dir.join(OFFSETS_FILE);
    {
        let mut file = File::create(&tmp)?;
        file.write_all(snapshot)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    File::open(dir)?.sync_all()?;
    OpenOptions::new().read(true).write(true).open(&path)
}
