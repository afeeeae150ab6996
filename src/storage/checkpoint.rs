//! Kafka's `recovery-point-offset-checkpoint`: the file in the log directory
//! that names, per partition, the offset up to which the log was fdatasynced
//! (its recovery point). A restart after a crash checks only what follows
//! (`recovery.rs`). Kafka's text format:
//!
//! ```text
//! 0                    <- version
//! 2                    <- number of entries
//! orders 0 81920       <- topic partition offset
//! orders 1 40960
//! ```
//!
//! One file serves the whole log directory, so the shards share one
//! [`RecoveryCheckpoint`] (not on the data path: each shard updates its own
//! partitions' entries and writes the file after a pass). The file is
//! replaced atomically (temporary file, fdatasync, rename, fsync of the
//! directory); writers take turns.
//!
//! Kafka's `replication-offset-checkpoint` (each replicated partition's
//! high watermark, issue 13) and `log-start-offset-checkpoint` (a log start
//! offset past the log's first segment, taken from a leader) have the same
//! format and the same sharing, so the same type serves them
//! ([`RecoveryCheckpoint::load_file`], [`DirCheckpoints`]).

use super::atomic_file::write_atomically;
use super::error::StorageError;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Kafka's name for the file.
pub const RECOVERY_POINT_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
/// Kafka's name for the high watermarks' file.
pub const HIGH_WATERMARK_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
/// Kafka's name for the log start offsets' file.
pub const LOG_START_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
/// The only version of the format.
const CHECKPOINT_VERSION: u32 = 0;

/// Recovery points by (topic, partition).
pub type RecoveryPoints = BTreeMap<(String, i32), i64>;

/// Kafka's text for `points`.
pub fn encode(points: &RecoveryPoints) -> String {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", points.len());
    for ((topic, partition), offset) in points {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// Parses Kafka's text; the error says what is wrong.
pub fn decode(text: &str) -> Result<RecoveryPoints, String> {
    let mut lines = text.lines();
    let version = lines.next().ok_or("empty file")?.trim();
    if version != CHECKPOINT_VERSION.to_string() {
        return Err(format!("unsupported version {version:?}"));
    }
    let count: usize = lines
        .next()
        .ok_or("no entry count")?
        .trim()
        .parse()
        .map_err(|_| "bad entry count")?;
    let mut points = RecoveryPoints::new();
    for line in lines.by_ref().take(count) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [topic, partition, offset] = fields[..] else {
            return Err(format!("bad entry {line:?}"));
        };
        let partition = partition
            .parse()
            .map_err(|_| format!("bad partition in {line:?}"))?;
        let offset = offset
            .parse()
            .map_err(|_| format!("bad offset in {line:?}"))?;
        points.insert((topic.to_string(), partition), offset);
    }
    if points.len() != count || lines.any(|line| !line.trim().is_empty()) {
        return Err(format!("expected {count} entries"));
    }
    Ok(points)
}

/// The recovery points (or high watermarks) of one log directory, shared
/// by its shards.
#[derive(Debug)]
pub struct RecoveryCheckpoint {
    dir: PathBuf,
    file_name: &'static str,
    points: Mutex<RecoveryPoints>,
    /// Held while the file is written (one temporary file name).
    writing: Mutex<()>,
    /// An entry changed since the file was last written.
    changed: AtomicBool,
}

/// The checkpoint files of one log directory, loaded once and shared by
/// its shards.
#[derive(Clone, Debug)]
pub struct DirCheckpoints {
    /// `recovery-point-offset-checkpoint`.
    pub recovery_points: Arc<RecoveryCheckpoint>,
    /// `replication-offset-checkpoint`.
    pub high_watermarks: Arc<RecoveryCheckpoint>,
    /// `log-start-offset-checkpoint`.
    pub log_starts: Arc<RecoveryCheckpoint>,
}

impl DirCheckpoints {
    /// Reads the three files in `dir` (each missing or malformed: empty).
    pub fn load(dir: &Path) -> Self {
        DirCheckpoints {
            recovery_points: Arc::new(RecoveryCheckpoint::load(dir)),
            high_watermarks: Arc::new(RecoveryCheckpoint::load_file(
                dir,
                HIGH_WATERMARK_CHECKPOINT_FILE,
            )),
            log_starts: Arc::new(RecoveryCheckpoint::load_file(
                dir,
                LOG_START_CHECKPOINT_FILE,
            )),
        }
    }
}

impl RecoveryCheckpoint {
    /// Reads the file in `dir`. Missing: no recovery points (every active
    /// segment is checked whole). Unreadable or malformed: the same, and
    /// the reason is logged, as recovery from the start is always safe.
    pub fn load(dir: &Path) -> Self {
        Self::load_file(dir, RECOVERY_POINT_CHECKPOINT_FILE)
    }

    /// Reads `file_name` in `dir` as [`RecoveryCheckpoint::load`] does
    /// (missing, unreadable or malformed: empty, the reason logged); writes
    /// go to that file.
    pub fn load_file(dir: &Path, file_name: &'static str) -> Self {
        let path = dir.join(file_name);
        let points = match std::fs::read_to_string(&path) {
            Ok(text) => decode(&text).unwrap_or_else(|reason| {
                log::warn!("{}: {reason}; its offsets are not used", path.display());
                RecoveryPoints::new()
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => RecoveryPoints::new(),
            Err(error) => {
                log::warn!("{}: {error}; its offsets are not used", path.display());
                RecoveryPoints::new()
            }
        };
        RecoveryCheckpoint {
            dir: dir.to_path_buf(),
            file_name,
            points: Mutex::new(points),
            writing: Mutex::new(()),
            changed: AtomicBool::new(false),
        }
    }

    /// The recovery point of a partition, if the file names it.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.points().get(&(topic.to_string(), partition)).copied()
    }

    /// Sets a partition's recovery point (written by the next
    /// [`RecoveryCheckpoint::write`]); returns whether it changed.
    pub fn set(&self, topic: &str, partition: i32, offset: i64) -> bool {
        let mut points = self.points();
        let changed = match points.get_mut(&(topic.to_string(), partition)) {
            Some(known) => std::mem::replace(known, offset) != offset,
            None => points
                .insert((topic.to_string(), partition), offset)
                .is_none(),
        };
        if changed {
            self.changed.store(true, Ordering::Release);
        }
        changed
    }

    /// Forgets a partition (deleted); returns whether it was named.
    pub fn remove(&self, topic: &str, partition: i32) -> bool {
        let removed = self.points().remove(&(topic.to_string(), partition));
        if removed.is_some() {
            self.changed.store(true, Ordering::Release);
        }
        removed.is_some()
    }

    /// Writes the file atomically. Blocking: run on a blocking thread.
    pub fn write(&self) -> io::Result<()> {
        let _turn = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.changed.store(false, Ordering::Release);
        let text = encode(&self.points());
        let written = write_atomically(&self.dir, self.file_name, text.as_bytes());
        if written.is_err() {
            self.changed.store(true, Ordering::Release);
        }
        written
    }

    /// Whether an entry changed since the file was last written.
    pub fn changed(&self) -> bool {
        self.changed.load(Ordering::Acquire)
    }

    fn points(&self) -> MutexGuard<'_, RecoveryPoints> {
        // A panic elsewhere cannot leave the map half-updated: every change
        // is one insert or remove.
        self.points.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes `checkpoint`'s file on a blocking thread.
pub(super) async fn write_checkpoint(
    checkpoint: Arc<RecoveryCheckpoint>,
    dir: &Path,
) -> Result<(), StorageError> {
    glommio::executor()
        .spawn_blocking(move || checkpoint.write())
        .await
        .map_err(|e| StorageError::io("write checkpoint", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_format_round_trips() {
        let mut points = RecoveryPoints::new();
        points.insert(("orders".into(), 1), 40960);
        points.insert(("orders".into(), 0), 81920);
        let text = encode(&points);
        assert_eq!(text, "0\n2\norders 0 81920\norders 1 40960\n");
        assert_eq!(decode(&text), Ok(points));
        assert_eq!(decode("0\n0\n"), Ok(RecoveryPoints::new()));
    }

    #[test]
    fn malformed_files_are_refused() {
        for text in [
            "",
            "1\n0\n",
            "0\nx\n",
            "0\n2\nt 0 1\n",
            "0\n1\nt 0\n",
            "0\n1\nt x 1\n",
            "0\n1\nt 0 1\nt 1 2\n",
        ] {
            assert!(decode(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_file_is_written_and_read_back() {
        let dir = std::env::temp_dir().join(format!("millrace-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let checkpoint = RecoveryCheckpoint::load(&dir);
        assert_eq!(checkpoint.get("t", 0), None);
        checkpoint.set("t", 0, 7);
        checkpoint.set("u", 3, 9);
        checkpoint.remove("u", 3);
        checkpoint.write().unwrap();
        let text = std::fs::read_to_string(dir.join(RECOVERY_POINT_CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n1\nt 0 7\n");
        assert_eq!(RecoveryCheckpoint::load(&dir).get("t", 0), Some(7));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
