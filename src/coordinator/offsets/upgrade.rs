//! Start-up steps of the offsets partitions, before any shard runs:
//! - the partition count is fixed by the first start (Kafka's
//!   `__consumer_offsets` keeps the count it was created with; a changed
//!   `offsets.topic.num.partitions` would move every group to another
//!   partition and lose its commits);
//! - the per-shard offsets logs of older versions
//!   (`__millrace_offsets-<shard>/offsets.log`) are imported once into the
//!   partitions, then removed, so an upgrade loses no commit.
//!
//! Blocking `std::fs`: it runs on the main thread before the shards start.

use super::partitions::partition_for_group;
use super::record::{decode_legacy_records, encode_record, fits};
use super::{open_and_replay, partition_dir, CommittedOffset, OffsetChange, OFFSETS_FILE};
use crate::config::keys::OFFSETS_PARTITIONS_MAX;
use crate::storage::atomic_file::write_atomically;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// File holding the offsets partition count in effect, in `log.dirs`.
pub const PARTITION_COUNT_FILE: &str = "__millrace_consumer_offsets.partitions";
/// Directory name prefix of the per-shard offsets logs before the partitions.
pub const LEGACY_DIR_PREFIX: &str = "__millrace_offsets-";

/// Fixes the partition count (the stored one, else `configured`, then
/// stored) and imports older per-shard logs; returns the count in effect.
pub fn prepare(log_dir: &Path, configured: usize) -> Result<usize, String> {
    let partitions = partition_count(log_dir, configured)?;
    import_legacy_logs(log_dir, partitions)
        .map_err(|e| format!("importing the offsets of an older version: {e}"))?;
    Ok(partitions)
}

fn partition_count(log_dir: &Path, configured: usize) -> Result<usize, String> {
    let path = log_dir.join(PARTITION_COUNT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored = text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=OFFSETS_PARTITIONS_MAX as usize).contains(n))
                .ok_or_else(|| format!("{}: not a partition count: {text:?}", path.display()))?;
            if stored != configured {
                log::warn!(
                    "offsets.topic.num.partitions={configured} ignored: the offsets partitions \
                     of {} were created with {stored}, and a group's partition depends on it",
                    log_dir.display()
                );
            }
            Ok(stored)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let contents = format!("{configured}\n");
            write_atomically(log_dir, PARTITION_COUNT_FILE, contents.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(configured)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

type LiveOffsets = BTreeMap<(String, String, i32), CommittedOffset>;

fn import_legacy_logs(log_dir: &Path, partitions: usize) -> std::io::Result<()> {
    let mut legacy_dirs = Vec::new();
    for entry in std::fs::read_dir(log_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_legacy = name
            .to_str()
            .and_then(|n| n.strip_prefix(LEGACY_DIR_PREFIX))
            .is_some_and(|shard| shard.parse::<usize>().is_ok());
        if is_legacy && entry.file_type()?.is_dir() {
            legacy_dirs.push(entry.path());
        }
    }
    if legacy_dirs.is_empty() {
        return Ok(());
    }
    legacy_dirs.sort();
    let mut live = LiveOffsets::new();
    for dir in &legacy_dirs {
        replay_legacy(&dir.join(OFFSETS_FILE), &mut live)?;
    }
    let imported = live.len();
    append_to_partitions(log_dir, partitions, live)?;
    // Only once the import is durable: a crash before this imports again,
    // which the last-record-wins replay makes harmless.
    for dir in &legacy_dirs {
        std::fs::remove_dir_all(dir)?;
    }
    File::open(log_dir)?.sync_all()?;
    log::info!(
        "imported {imported} committed offset(s) from {} per-shard offsets log(s) of an older version into the offsets partitions",
        legacy_dirs.len()
    );
    Ok(())
}

/// Applies the records of one legacy log to `live` (a torn tail is ignored,
/// as the older version's own replay cut it).
fn replay_legacy(path: &Path, live: &mut LiveOffsets) -> std::io::Result<()> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let (changes, valid) = decode_legacy_records(&data);
    if valid < data.len() {
        log::warn!(
            "{}: {} byte(s) of torn or corrupt tail not imported",
            path.display(),
            data.len() - valid
        );
    }
    for change in changes {
        let key = (change.group, change.topic, change.partition);
        match change.committed {
            Some(committed) => live.insert(key, committed),
            None => live.remove(&key),
        };
    }
    Ok(())
}

fn append_to_partitions(
    log_dir: &Path,
    partitions: usize,
    live: LiveOffsets,
) -> std::io::Result<()> {
    let mut records: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
    for ((group, topic, partition), committed) in live {
        let change = OffsetChange {
            group,
            topic,
            partition,
            committed: Some(committed),
        };
        if !fits(&change) {
            log::warn!(
                "group {:.64}...: an id or name longer than Kafka's 32767 bytes, not imported",
                change.group
            );
            continue;
        }
        let target = partition_for_group(&change.group, partitions);
        encode_record(&change, records.entry(target).or_default());
    }
    for (partition, bytes) in records {
        let dir = partition_dir(log_dir, partition);
        std::fs::create_dir_all(&dir)?;
        let (file, _, end) = open_and_replay(&dir)?;
        file.write_all_at(&bytes, end)?;
        file.sync_data()?;
        File::open(&dir)?.sync_all()?;
    }
    File::open(log_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_count_sticks() {
        let dir = std::env::temp_dir().join(format!("millrace-upgrade-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(prepare(&dir, 7).unwrap(), 7);
        assert_eq!(prepare(&dir, 50).unwrap(), 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
