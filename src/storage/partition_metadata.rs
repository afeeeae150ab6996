//! Kafka's `partition.metadata`: the topic id a partition directory belongs
//! to (`version: 0`, then `topic_id: ` and the id in URL-safe base64
//! without padding, as `PartitionMetadataFile` writes it), compared with
//! the cluster metadata's id when the partition is opened. A topic deleted
//! and created again under the same name while a replica's broker was down
//! leaves that broker a directory of the same name holding the old topic's
//! records, offsets and epochs: only the id tells it apart from the new
//! partition.
//!
//! When it is written, as Kafka does (`PartitionMetadataFile.record` at log
//! creation, `maybeFlush` from a scheduled task and, at the latest, from
//! `UnifiedLog.maybeFlushMetadataFile` before an append): opening a
//! directory that lacks the file only records the id on the log
//! ([`PartitionLog::record_topic_id`]), which queues the log for a flusher
//! round. Every write round (`flusher.rs`, `write_round`) first makes the
//! recorded id durable ([`PartitionLog::flush_topic_id`]: a temporary file
//! written and fdatasynced, renamed over the file, the directory fsynced)
//! and only then writes batches. Creating a partition thus waits for no
//! fsync of the file (two per partition when it was written at open:
//! 1.7-2.5x the time of a 1,000-partition creation, perf/RESULTS.md), and
//! the rounds of the shard's logs run side by side, so the fsyncs of many
//! new partitions are in flight together through io_uring and share the
//! file system's journal commits.
//!
//! Why a directory without the file may be adopted: a record reaches a
//! segment file only through a write round, whether a leader's or a
//! follower's append; a round writes nothing before the id is durable, and
//! a failure to make it durable fails the log (nothing written, nothing
//! acknowledged). So a directory holding any record (acknowledged, or only
//! written: a crash may keep that too) has its topic id on disk, and one
//! found without the file after a crash holds no record of this build (the
//! crash came between its creation, or its replacement as a stray, and its
//! first round) or was made by a build older than the file, whose only
//! identity was its name. Giving it the cluster metadata's id mixes no two
//! topics' records. Kafka's `UnifiedLog.initializeTopicId` likewise writes
//! the id it is given when the file is missing.
//!
//! Read and written through io_uring on the shard's reactor: on the
//! blocking pool (two threads a shard) the fsyncs ran a few at a time
//! (perf/create_partitions.py, 2.2 s against 7.3 s for 1,000 partitions).

use super::atomic_file::TEMP_SUFFIX;
use super::error::StorageError;
use super::io::{rename_file, sync_dir};
use super::log::PartitionLog;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use glommio::io::BufferedFile;
use std::io;
use std::path::Path;
use uuid::Uuid;

/// The file's name in each partition directory (Kafka's).
pub const PARTITION_METADATA_FILE_NAME: &str = "partition.metadata";
/// The only version Kafka writes and reads.
const PARTITION_METADATA_VERSION: &str = "0";
/// Largest file read: the two lines are about 45 bytes.
const PARTITION_METADATA_BYTES_MAX: usize = 4096;

/// The file's contents for `topic_id`, byte for byte as Kafka writes them
/// (no newline after the id).
pub fn format_partition_metadata(topic_id: Uuid) -> String {
    format!(
        "version: {PARTITION_METADATA_VERSION}\ntopic_id: {}",
        URL_SAFE_NO_PAD.encode(topic_id.as_bytes())
    )
}

/// The topic id of a file's contents. Like Kafka's reader: each line is a
/// key, a colon, white space and a value; a version other than 0, a
/// malformed line or the zero id is an error.
pub fn parse_partition_metadata(text: &str) -> Result<Uuid, String> {
    let mut lines = text.lines();
    let version = value_of(lines.next(), "version")?;
    if version != PARTITION_METADATA_VERSION {
        return Err(format!("unknown version {version:?}"));
    }
    let encoded = value_of(lines.next(), "topic_id")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| format!("bad topic id {encoded:?}: {e}"))?;
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| format!("bad topic id {encoded:?}: not 16 bytes"))?;
    let id = Uuid::from_bytes(bytes);
    match id.is_nil() {
        true => Err("the zero topic id".to_string()),
        false => Ok(id),
    }
}

/// The value of a `key: value` line.
fn value_of<'a>(line: Option<&'a str>, key: &str) -> Result<&'a str, String> {
    let line = line.ok_or_else(|| format!("no {key} line"))?;
    let value = line
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::trim)
        .filter(|value| !value.is_empty());
    value.ok_or_else(|| format!("malformed line {line:?}, expected {key}: <value>"))
}

/// The topic id in `dir`'s file; `None` when the directory has none (made
/// by a millrace build older than the file, or a crash between the
/// directory's creation and the file's, before any record was written).
pub async fn read_topic_id(dir: &Path) -> io::Result<Option<Uuid>> {
    let path = dir.join(PARTITION_METADATA_FILE_NAME);
    let file = match BufferedFile::open(&path).await.map_err(io::Error::from) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let read = file.read_at(0, PARTITION_METADATA_BYTES_MAX + 1).await;
    let _ = file.close().await; // read only
    let read = read.map_err(io::Error::from)?;
    if read.len() > PARTITION_METADATA_BYTES_MAX {
        return Err(invalid(
            &path,
            format!("over {PARTITION_METADATA_BYTES_MAX} bytes"),
        ));
    }
    let text = std::str::from_utf8(&read).map_err(|e| invalid(&path, e.to_string()))?;
    parse_partition_metadata(text)
        .map(Some)
        .map_err(|reason| invalid(&path, reason))
}

/// Writes `dir`'s file for `topic_id` durably: a temporary file written and
/// fdatasynced, renamed over the file, the directory fsynced (so a crash
/// leaves the old file or the new one, never a torn one).
pub async fn write_topic_id(dir: &Path, topic_id: Uuid) -> io::Result<()> {
    let path = dir.join(PARTITION_METADATA_FILE_NAME);
    let tmp = dir.join(format!("{PARTITION_METADATA_FILE_NAME}{TEMP_SUFFIX}"));
    let contents = format_partition_metadata(topic_id).into_bytes();
    let len = contents.len();
    let file = BufferedFile::create(&tmp).await.map_err(io::Error::from)?;
    let written = file.write_at(contents, 0).await.map_err(io::Error::from);
    let synced = match written {
        Ok(n) if n == len => file.fdatasync().await.map_err(io::Error::from),
        Ok(n) => Err(invalid(&tmp, format!("short write: {n} of {len} bytes"))),
        Err(e) => Err(e),
    };
    let closed = file.close().await.map_err(io::Error::from);
    synced.and(closed)?;
    rename_file(&tmp, &path).await?;
    sync_dir(dir).await
}

impl PartitionLog {
    /// Records `topic_id` as the one to write in the partition's
    /// `partition.metadata` (its directory has no file, or another topic's
    /// was removed with that topic's log), and queues the log for a flusher
    /// round, which writes it durably before any batch (module doc).
    pub fn record_topic_id(&self, topic_id: Uuid) {
        self.unflushed_topic_id.set(Some(topic_id));
        self.mark_dirty();
    }

    /// Makes the recorded topic id durable, if one waits: called at the
    /// start of every write round, so before any batch reaches the segment
    /// file. Caller holds `flush_lock` (one write at a time). A failure
    /// fails the log: writing its batches would leave records in a
    /// directory that a crash could leave without its id.
    pub(super) async fn flush_topic_id(&self) -> Result<(), StorageError> {
        let Some(topic_id) = self.unflushed_topic_id.get() else {
            return Ok(());
        };
        write_topic_id(&self.dir, topic_id)
            .await
            .map_err(|e| self.fail(StorageError::io("write partition.metadata", &self.dir, e)))?;
        // Only this id's: a record of another id meanwhile stays pending.
        if self.unflushed_topic_id.get() == Some(topic_id) {
            self.unflushed_topic_id.set(None);
        }
        Ok(())
    }
}

fn invalid(path: &Path, reason: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {reason}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_and_is_kafkas_format() {
        // Kafka's Uuid.toString of this id (base64url of its 16 bytes).
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let text = format_partition_metadata(id);
        assert_eq!(text, "version: 0\ntopic_id: ASNFZ4mrze_-3LqYdlQyEA");
        assert_eq!(parse_partition_metadata(&text), Ok(id));
        let padded = "version:  0\r\ntopic_id:\tASNFZ4mrze_-3LqYdlQyEA\n";
        assert_eq!(parse_partition_metadata(padded), Ok(id));
    }

    #[test]
    fn malformed_files_are_errors() {
        for text in [
            "",
            "version: 1\ntopic_id: ASNFZ4mrze_-3LqYdlQyEA",
            "version: 0",
            "version: 0\ntopic: ASNFZ4mrze_-3LqYdlQyEA",
            "version: 0\ntopic_id: ASNFZ4mrze",
            "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(parse_partition_metadata(text).is_err(), "{text:?}");
        }
    }
}
