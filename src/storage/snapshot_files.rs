//! Producer state snapshot files in a partition directory, Kafka's
//! `<20-digit offset>.snapshot`: the state of every batch below that offset.
//! Storage keeps the files (listed, read, written atomically, removed); the
//! partition layer owns their content and decides when to write and which to
//! keep. Retention removes the snapshot named like a deleted segment with it
//! ([`Segment::remove_files`](super::segment::Segment::remove_files)).

use super::atomic_file::{write_atomically, TEMP_SUFFIX};
use super::error::StorageError;
use super::io::remove_file;
use super::log::PartitionLog;
use super::segment::{parse_file_name, read_whole_file, segment_file_name, SNAPSHOT_EXTENSION};
use std::path::{Path, PathBuf};

impl PartitionLog {
    /// Offsets of the snapshot files in the partition directory, ascending.
    /// Leftovers of an interrupted write (`.snapshot.tmp`) are removed.
    pub async fn snapshot_offsets(&self) -> Result<Vec<i64>, StorageError> {
        let dir = self.dir.clone();
        // A directory listing is blocking metadata I/O: off the reactor.
        let listed = glommio::executor()
            .spawn_blocking(move || list_snapshot_files(&dir))
            .await
            .map_err(|e| StorageError::io("list", &self.dir, e))?;
        for temp in &listed.temps {
            log::info!(
                "{}: removing unfinished snapshot {}",
                self.name,
                temp.display()
            );
            remove_ignoring_absent(temp).await?;
        }
        Ok(listed.offsets)
    }

    /// Path of the snapshot at `offset`.
    pub fn snapshot_path(&self, offset: i64) -> PathBuf {
        self.dir.join(segment_file_name(offset, SNAPSHOT_EXTENSION))
    }

    /// The bytes of the snapshot at `offset`, `None` if there is none.
    pub async fn read_snapshot(&self, offset: i64) -> Result<Option<Vec<u8>>, StorageError> {
        read_whole_file(&self.snapshot_path(offset)).await
    }

    /// Writes `bytes` as the snapshot at `offset`, atomically
    /// ([`write_atomically`]: temporary file, fdatasync, rename, directory
    /// fsync), on the storage pool: a crash leaves the old file or the new
    /// one whole, and the reactor never waits on the disk.
    pub async fn write_snapshot(&self, offset: i64, bytes: Vec<u8>) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        let name = segment_file_name(offset, SNAPSHOT_EXTENSION);
        glommio::executor()
            .spawn_blocking(move || write_atomically(&dir, &name, &bytes))
            .await
            .map_err(|e| StorageError::io("write", &self.snapshot_path(offset), e))
    }

    /// Removes the snapshot at `offset` (nothing if it is gone already).
    pub async fn remove_snapshot(&self, offset: i64) -> Result<(), StorageError> {
        remove_ignoring_absent(&self.snapshot_path(offset)).await
    }
}

async fn remove_ignoring_absent(path: &Path) -> Result<(), StorageError> {
    match remove_file(path).await {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("remove", path, error))
        }
        _ => Ok(()),
    }
}

/// Snapshot files of a directory.
struct Listed {
    offsets: Vec<i64>,
    temps: Vec<PathBuf>,
}

fn list_snapshot_files(dir: &Path) -> std::io::Result<Listed> {
    let mut listed = Listed {
        offsets: Vec::new(),
        temps: Vec::new(),
    };
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(offset) = parse_snapshot_file_name(name) {
            listed.offsets.push(offset);
        } else if name
            .strip_suffix(TEMP_SUFFIX)
            .and_then(parse_snapshot_file_name)
            .is_some()
        {
            listed.temps.push(dir.join(name));
        }
    }
    listed.offsets.sort_unstable();
    Ok(listed)
}

/// The offset named by a `.snapshot` file name, if it is one.
fn parse_snapshot_file_name(name: &str) -> Option<i64> {
    parse_file_name(name, SNAPSHOT_EXTENSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_file_names() {
        let name = segment_file_name(1234, SNAPSHOT_EXTENSION);
        assert_eq!(name, "00000000000000001234.snapshot");
        assert_eq!(parse_snapshot_file_name(&name), Some(1234));
        assert_eq!(parse_snapshot_file_name("00000000000000001234.log"), None);
        assert_eq!(parse_snapshot_file_name("1234.snapshot"), None);
        assert_eq!(
            parse_snapshot_file_name("00000000000000001234.snapshot.tmp"),
            None
        );
    }
}
