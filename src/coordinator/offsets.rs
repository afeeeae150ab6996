//! Committed offsets of the groups one shard coordinates, kept durable in a
//! per-shard log `<log.dirs>/__millrace_offsets-<shard>/offsets.log`.
//!
//! # Design
//! - The file is a sequence of records `[u32 body length][u32 crc32c of
//!   body][body]`, body = kind (1 commit, 2 delete), group, topic, partition,
//!   offset, leader epoch, commit time (ms) and metadata. The last record for
//!   a key wins; a delete record removes the key.
//! - Commits are acknowledged only after their records are written and
//!   fdatasync'd (the durability of acks=all data). Concurrent commits are
//!   group-committed: whatever is queued while a write+fdatasync runs goes
//!   out together in the next one.
//! - Start-up replays the file; the first record that is short or fails its
//!   CRC marks a torn tail, which is truncated.
//! - When the file grows past [`COMPACT_RATIO`] times the live data (and
//!   [`COMPACT_BYTES_MIN`]), a snapshot of the live offsets is written to a
//!   temporary file, fsync'd and renamed over the log.
//! - File I/O is blocking `std::fs` run on the shard's control helpers
//!   ([`run_control_job`]), never on the reactor nor behind clients' sends
//!   or segment rolls: the log is small
//!   and written with one pwrite+fdatasync per group commit, so buffered I/O
//!   is simpler than DmaFile's alignment rules at no cost that matters here.
//!   The directory is created by `storage::io::create_dir_durably`, which
//!   fsyncs its parent (shared with partition directories).

use crate::local::helper_pool::run_control_job;
use crate::local::oneshot;
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
/// Directory name prefix (the shard index follows).
pub const OFFSETS_DIR_PREFIX: &str = "__millrace_offsets-";
/// Compact when the file exceeds this many times the live data...
pub const COMPACT_RATIO: u64 = 4;
/// ...and at least this many bytes.
pub const COMPACT_BYTES_MIN: u64 = 1 << 20;
/// Largest metadata string kept with an offset (Kafka's offset.metadata.max.bytes).
pub const METADATA_BYTES_MAX: usize = 4096;
/// Largest record body (group/topic names are bounded by Kafka at 249/32 KiB).
const RECORD_BODY_BYTES_MAX: usize = 128 * 1024;
const RECORD_HEADER_BYTES: usize = 8;
const KIND_COMMIT: u8 = 1;
const KIND_DELETE: u8 = 2;

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
}

impl std::fmt::Display for OffsetStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OffsetStoreError::Io(e) => write!(f, "offsets log I/O: {e}"),
            OffsetStoreError::NotOpen => f.write_str("offsets log is not open"),
            OffsetStoreError::Lost => f.write_str("offsets log write was lost"),
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

/// Encodes one change as a log record.
pub fn encode_record(change: &OffsetChange, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(64 + change.group.len() + change.topic.len());
    let empty = CommittedOffset {
        offset: -1,
        leader_epoch: -1,
        metadata: String::new(),
        commit_time_ms: 0,
    };
    let (kind, committed) = match &change.committed {
        Some(committed) => (KIND_COMMIT, committed),
        None => (KIND_DELETE, &empty),
    };
    body.push(kind);
    put_str(&mut body, &change.group);
    put_str(&mut body, &change.topic);
    body.extend_from_slice(&change.partition.to_be_bytes());
    body.extend_from_slice(&committed.offset.to_be_bytes());
    body.extend_from_slice(&committed.leader_epoch.to_be_bytes());
    body.extend_from_slice(&committed.commit_time_ms.to_be_bytes());
    put_str(&mut body, &committed.metadata);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

fn decode_body(body: &[u8]) -> Option<OffsetChange> {
    let mut reader = Reader(body);
    let kind = reader.take(1)?[0];
    let group = reader.string()?;
    let topic = reader.string()?;
    let partition = reader.i32()?;
    let committed = CommittedOffset {
        offset: reader.i64()?,
        leader_epoch: reader.i32()?,
        commit_time_ms: reader.i64()?,
        metadata: reader.string()?,
    };
    let committed = match kind {
        KIND_COMMIT => Some(committed),
        KIND_DELETE => None,
        _ => return None,
    };
    Some(OffsetChange {
        group,
        topic,
        partition,
        committed,
    })
}

/// Decodes records from the start of `data`; returns them and the length
/// of the valid prefix (anything after it is a torn or corrupt tail).
pub fn decode_records(data: &[u8]) -> (Vec<OffsetChange>, usize) {
    let mut changes = Vec::new();
    let mut valid = 0;
    while data.len() - valid >= RECORD_HEADER_BYTES {
        let header = &data[valid..valid + RECORD_HEADER_BYTES];
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let start = valid + RECORD_HEADER_BYTES;
        if len > RECORD_BODY_BYTES_MAX || data.len() - start < len {
            break;
        }
        let body = &data[start..start + len];
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Some(change) = decode_body(body) else {
            break;
        };
        changes.push(change);
        valid = start + len;
    }
    (changes, valid)
}

/// Record size of a live entry, for the compaction estimate.
fn record_size(group: &str, topic: &str, metadata: &str) -> u64 {
    (RECORD_HEADER_BYTES + 1 + 12 + group.len() + topic.len() + metadata.len() + 4 + 8 + 4 + 8)
        as u64
}

struct QueuedWrite {
    changes: Vec<OffsetChange>,
    done: oneshot::Sender<bool>,
}

/// The committed offsets of one shard's groups.
pub struct OffsetStore {
    dir: PathBuf,
    file: RefCell<Option<Arc<File>>>,
    live: RefCell<HashMap<String, PartitionOffsets>>,
    file_bytes: Cell<u64>,
    live_bytes: Cell<u64>,
    queue: RefCell<Vec<QueuedWrite>>,
    writing: Cell<bool>,
}

impl OffsetStore {
    /// A store for shard `shard_id` under `log_dir`; [`OffsetStore::load`] opens it.
    pub fn new(log_dir: &Path, shard_id: usize) -> Rc<Self> {
        Rc::new(OffsetStore {
            dir: log_dir.join(format!("{OFFSETS_DIR_PREFIX}{shard_id}")),
            file: RefCell::new(None),
            live: RefCell::new(HashMap::new()),
            file_bytes: Cell::new(0),
            live_bytes: Cell::new(0),
            queue: RefCell::new(Vec::new()),
            writing: Cell::new(false),
        })
    }

    /// Opens the log, replays it and truncates a torn tail.
    pub async fn load(&self) -> Result<(), OffsetStoreError> {
        crate::storage::io::create_dir_durably(&self.dir)
            .await
            .map_err(OffsetStoreError::Io)?;
        let dir = self.dir.clone();
        let opened = run_control_job(move || open_and_replay(&dir))
            .await
            .map_err(|_| OffsetStoreError::Lost)?
            .map_err(OffsetStoreError::Io)?;
        let (file, changes, valid_bytes) = opened;
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
        if self.file.borrow().is_none() {
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
            let mut bytes = Vec::new();
            for queued in &batch {
                for change in &queued.changes {
                    encode_record(change, &mut bytes);
                }
            }
            // A batch of barriers only (`settled`) has nothing to write.
            let written = match bytes.is_empty() {
                true => Ok(()),
                false => self.append(bytes).await,
            };
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
            if ok {
                self.maybe_compact().await;
            }
        }
        self.writing.set(false);
    }

    async fn append(&self, bytes: Vec<u8>) -> Result<(), OffsetStoreError> {
        let file = self
            .file
            .borrow()
            .clone()
            .ok_or(OffsetStoreError::NotOpen)?;
        let position = self.file_bytes.get();
        let len = bytes.len() as u64;
        run_control_job(move || {
            file.write_all_at(&bytes, position)?;
            file.sync_data()
        })
        .await
        .map_err(|_| OffsetStoreError::Lost)?
        .map_err(OffsetStoreError::Io)?;
        // A failed write leaves file_bytes unchanged: the next one overwrites it.
        self.file_bytes.set(position + len);
        Ok(())
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
        let replaced = run_control_job(move || replace_with_snapshot(&dir, &snapshot)).await;
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

fn open_and_replay(dir: &Path) -> std::io::Result<(File, Vec<OffsetChange>, u64)> {
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

fn replace_with_snapshot(dir: &Path, snapshot: &[u8]) -> std::io::Result<File> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(partition: i32, offset: Option<i64>) -> OffsetChange {
        OffsetChange {
            group: "g".into(),
            topic: "t".into(),
            partition,
            committed: offset.map(|offset| CommittedOffset {
                offset,
                leader_epoch: -1,
                metadata: "m".into(),
                commit_time_ms: 5,
            }),
        }
    }

    #[test]
    fn records_round_trip_and_torn_tail_is_cut() {
        let mut bytes = Vec::new();
        encode_record(&change(0, Some(10)), &mut bytes);
        encode_record(&change(1, None), &mut bytes);
        let whole = bytes.len();
        encode_record(&change(2, Some(7)), &mut bytes);
        bytes.truncate(bytes.len() - 3);
        let (changes, valid) = decode_records(&bytes);
        assert_eq!(changes, vec![change(0, Some(10)), change(1, None)]);
        assert_eq!(valid, whole);
    }

    #[test]
    fn corrupt_record_ends_replay() {
        let mut bytes = Vec::new();
        encode_record(&change(0, Some(10)), &mut bytes);
        let first = bytes.len();
        encode_record(&change(1, Some(11)), &mut bytes);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let (changes, valid) = decode_records(&bytes);
        assert_eq!(changes.len(), 1);
        assert_eq!(valid, first);
    }

    #[test]
    fn last_record_wins_and_delete_removes() {
        let store = OffsetStore::new(Path::new("/nonexistent"), 0);
        store.apply(change(0, Some(1)));
        store.apply(change(0, Some(2)));
        assert_eq!(store.get("g", "t", 0).map(|c| c.offset), Some(2));
        store.apply(change(0, None));
        assert_eq!(store.get("g", "t", 0), None);
        assert!(store.groups().is_empty());
    }

    fn committed_at(group: &str, topic: &str, commit_time_ms: i64) -> OffsetChange {
        OffsetChange {
            group: group.into(),
            topic: topic.into(),
            partition: 0,
            committed: Some(CommittedOffset {
                offset: 1,
                leader_epoch: -1,
                metadata: String::new(),
                commit_time_ms,
            }),
        }
    }

    #[test]
    fn deletions_for_topics_cover_every_group() {
        let store = OffsetStore::new(Path::new("/nonexistent"), 0);
        store.apply(committed_at("g1", "gone", 1));
        store.apply(committed_at("g1", "kept", 1));
        store.apply(committed_at("g2", "gone", 1));
        let mut deletions = store.deletions_for_topics(|topic| topic == "gone");
        deletions.sort_by(|a, b| a.group.cmp(&b.group));
        assert_eq!(deletions.len(), 2);
        assert!(deletions
            .iter()
            .all(|d| d.topic == "gone" && d.committed.is_none()));
        for deletion in deletions {
            store.apply(deletion);
        }
        assert_eq!(store.groups(), vec!["g1".to_string()]);
        assert!(store.get("g1", "kept", 0).is_some());
    }

    #[test]
    fn only_inactive_groups_past_retention_since_last_commit_expire() {
        let store = OffsetStore::new(Path::new("/nonexistent"), 0);
        // Old partition commit, recent one: the group's last commit counts.
        store.apply(committed_at("recent", "a", 100));
        store.apply(committed_at("recent", "b", 950));
        store.apply(committed_at("old", "a", 100));
        store.apply(committed_at("old", "b", 200));
        store.apply(committed_at("active", "a", 0));
        let deletions = store.expired_deletions(1000, 500, |group| group == "active");
        assert_eq!(deletions.len(), 2);
        assert!(deletions.iter().all(|d| d.group == "old"));
        // Exactly at the retention boundary it expires, as in Kafka.
        assert_eq!(store.expired_deletions(700, 500, |_| false).len(), 3);
    }

    #[test]
    fn snapshot_replaces_the_log() {
        let dir = std::env::temp_dir().join(format!("millrace-offsets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = Vec::new();
        encode_record(&change(0, Some(3)), &mut bytes);
        replace_with_snapshot(&dir, &bytes).unwrap();
        let (_, changes, valid) = open_and_replay(&dir).unwrap();
        assert_eq!(changes, vec![change(0, Some(3))]);
        assert_eq!(valid as usize, bytes.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn run(future: impl std::future::Future<Output = ()> + 'static) {
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .unwrap()
            .run(future);
    }

    #[test]
    fn concurrent_commits_are_durable_and_reload_after_compaction() {
        let dir = std::env::temp_dir().join(format!("millrace-offsets-{}", uuid::Uuid::new_v4()));
        let log_dir = dir.clone();
        run(async move {
            let store = OffsetStore::new(&log_dir, 3);
            store.load().await.unwrap();
            let writes = (0..50).map(|i| {
                let store = store.clone();
                glommio::spawn_local(async move {
                    store.write(vec![change(i % 5, Some(i as i64))]).await
                })
            });
            for write in writes.collect::<Vec<_>>() {
                write.await.unwrap();
            }
            assert_eq!(store.group_offsets("g").len(), 5);
            // Enough rewrites of the same keys to pass the compaction threshold.
            let big = "x".repeat(METADATA_BYTES_MAX);
            for round in 0..300 {
                let mut c = change(0, Some(1000 + round));
                if let Some(committed) = c.committed.as_mut() {
                    committed.metadata = big.clone();
                }
                store.write(vec![c]).await.unwrap();
            }
            assert!(store.file_bytes.get() < COMPACT_BYTES_MIN + 8 * 1024);
            store
                .write(store.deletions_for_group("g")[1..].to_vec())
                .await
                .unwrap();
            let reloaded = OffsetStore::new(&log_dir, 3);
            reloaded.load().await.unwrap();
            let offsets = reloaded.group_offsets("g");
            assert_eq!(offsets.len(), 1);
            assert_eq!(offsets[0].2.offset, 1299);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_offsets_directory_survives_a_power_loss() {
        use crate::storage::io::{install_fault_plan, Fault, FaultPlan, FaultRule};
        let dir = std::env::temp_dir().join(format!("millrace-offsets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let log_dir = dir.clone();
        run(async move {
            // A rule that never fires: the plan only tracks what a crash
            // loses (directory entries whose parent was never fsynced).
            let plan = std::rc::Rc::new(FaultPlan::new(vec![FaultRule {
                file_contains: String::new(),
                fault: Fault::LyingSync { from_nth: u64::MAX },
            }]));
            install_fault_plan(Some(plan.clone()));
            let store = OffsetStore::new(&log_dir, 1);
            store.load().await.unwrap();
            store.write(vec![change(0, Some(42))]).await.unwrap();
            plan.crash().unwrap();
            install_fault_plan(None);
            let reloaded = OffsetStore::new(&log_dir, 1);
            reloaded.load().await.unwrap();
            assert_eq!(reloaded.group_offsets("g").len(), 1);
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
