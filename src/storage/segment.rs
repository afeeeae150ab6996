//! One segment: a `.log` data file (O_DIRECT handle for the engine's own
//! reads and writes; the buffered handle given out in file regions is opened
//! on demand and cached per shard, `read_handles.rs`) and its in-memory
//! indexes, persisted as `.index` / `.timeindex` when it is sealed or at
//! shutdown.

use super::error::StorageError;
use super::index::{OffsetIndex, SegmentIndexes, TimeIndex};
use super::io::{remove_file, remove_segment_file, OpenMode, SegmentFile};
use super::read_handles::ReadHandleSlot;
use glommio::io::DmaFile;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Alignment of every O_DIRECT write position and length.
pub const WRITE_ALIGNMENT_BYTES: u64 = 4096;
/// Digits of the zero-padded base offset in segment file names.
const FILE_NAME_DIGITS: usize = 20;

/// Extension of a segment's data file.
pub const LOG_EXTENSION: &str = "log";
/// Extension of a segment's offset index.
pub const OFFSET_INDEX_EXTENSION: &str = "index";
/// Extension of a segment's time index.
pub const TIME_INDEX_EXTENSION: &str = "timeindex";
/// Extension of a producer state snapshot (Kafka's `<offset>.snapshot`); the
/// one named like a segment holds the state before that segment and goes
/// with it (`snapshot_files.rs`).
pub const SNAPSHOT_EXTENSION: &str = "snapshot";

/// `<20-digit base offset>.<extension>`.
pub fn segment_file_name(base_offset: i64, extension: &str) -> String {
    format!(
        "{base_offset:0width$}.{extension}",
        width = FILE_NAME_DIGITS
    )
}

/// The base offset named by a `.log` file name, if it is one.
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    parse_file_name(name, LOG_EXTENSION)
}

/// The offset named by `<20-digit offset>.<extension>`, if `name` is one.
pub fn parse_file_name(name: &str, extension: &str) -> Option<i64> {
    let digits = name.strip_suffix(extension)?.strip_suffix('.')?;
    if digits.len() != FILE_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `value` rounded down to the write alignment.
pub fn align_down(value: u64) -> u64 {
    value & !(WRITE_ALIGNMENT_BYTES - 1)
}

/// `value` rounded up to the write alignment.
pub fn align_up(value: u64) -> u64 {
    align_down(value + WRITE_ALIGNMENT_BYTES - 1)
}

/// A segment of a partition log.
#[derive(Debug)]
pub struct Segment {
    /// Offset of the first batch (the file name).
    pub base_offset: i64,
    /// Path of the `.log` file.
    pub log_path: Rc<Path>,
    /// O_DIRECT handle: the engine's writes (active segment) and scans.
    pub dma: Rc<SegmentFile>,
    /// Buffered read handle given out in `Piece::File` regions, while the
    /// shard's cache keeps one open (`read_handles.rs`).
    pub read_handle: Rc<ReadHandleSlot>,
    /// Logical size: bytes of batches appended. Past it the file is zeros.
    pub size: u64,
    /// Offset after the last batch (the base offset while empty).
    pub next_offset: i64,
    /// Offset and time indexes.
    pub indexes: SegmentIndexes,
    /// `maxTimestamp` of the segment's first batch, `None` while empty:
    /// what `segment.ms` counts from (Kafka's rule). It is in the file, so
    /// the roll deadline survives restarts.
    pub first_batch_timestamp: Option<i64>,
    /// Wall-clock ms when this segment was created or loaded: what
    /// `segment.ms` counts from when the first batch has no timestamp.
    pub created_ms: i64,
    /// Bytes preallocated (size set): writes must stay below this.
    pub allocated: u64,
    /// File bytes known written (data or zero-ahead zeros, block aligned):
    /// writes below it overwrite written blocks (`zero_ahead.rs`).
    pub zeroed: u64,
}

impl Segment {
    /// Path of a sibling file of this segment.
    pub fn sibling_path(&self, extension: &str) -> PathBuf {
        self.log_path
            .with_file_name(segment_file_name(self.base_offset, extension))
    }

    /// Creates a new, empty segment file. Nothing is preallocated yet: the
    /// first write round does it, at the partition's pace
    /// (`preallocation.rs`).
    pub async fn create(dir: &Path, base_offset: i64) -> Result<Segment, StorageError> {
        let log_path = dir.join(segment_file_name(base_offset, LOG_EXTENSION));
        let dma = SegmentFile::open(&log_path, OpenMode::Create)
            .await
            .map_err(|e| StorageError::io("create", &log_path, e))?;
        Ok(Segment::empty(log_path, base_offset, dma))
    }

    /// Opens an existing segment file; `writable` for the active segment.
    /// Size, next offset and indexes are filled in by the loader.
    pub async fn open(
        log_path: PathBuf,
        base_offset: i64,
        writable: bool,
    ) -> Result<Segment, StorageError> {
        let mode = match writable {
            true => OpenMode::ReadWrite,
            false => OpenMode::Read,
        };
        let dma = SegmentFile::open(&log_path, mode)
            .await
            .map_err(|e| StorageError::io("open", &log_path, e))?;
        Ok(Segment::empty(log_path, base_offset, dma))
    }

    /// A segment over a freshly opened file, before the loader or the
    /// appender fills in size, next offset and indexes. Its one descriptor
    /// is the O_DIRECT file's: the read handle waits for a fetch.
    fn empty(log_path: PathBuf, base_offset: i64, dma: SegmentFile) -> Segment {
        Segment {
            base_offset,
            log_path: Rc::from(log_path.as_path()),
            dma: Rc::new(dma),
            read_handle: ReadHandleSlot::new(),
            size: 0,
            next_offset: base_offset,
            indexes: SegmentIndexes::default(),
            first_batch_timestamp: None,
            created_ms: super::log::now_ms(),
            allocated: 0,
            zeroed: 0,
        }
    }

    /// How long this segment has waited for a `segment.ms` roll when a batch
    /// whose largest timestamp is `incoming_timestamp` arrives at `now_ms`:
    /// Kafka's `LogSegment.timeWaitedForRoll`, counted in record time from
    /// the first batch's timestamp, or in wall-clock time from the
    /// segment's creation when that batch has none.
    pub fn time_waited_for_roll(&self, now_ms: i64, incoming_timestamp: i64) -> i64 {
        match self.first_batch_timestamp {
            Some(first) if first >= 0 => incoming_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// The file now ends at `end`: nothing is allocated or zeroed past it.
    pub fn cut_allocation_to(&mut self, end: u64) {
        self.allocated = end;
        self.zeroed = self.zeroed.min(end);
    }

    /// Size of the file on disk (including preallocated space).
    pub async fn file_size(&self) -> Result<u64, StorageError> {
        self.dma
            .file_size()
            .await
            .map_err(|e| StorageError::io("stat", &self.log_path, e))
    }

    /// fdatasync of the `.log` file.
    pub async fn sync(&self) -> Result<(), StorageError> {
        self.dma
            .fdatasync()
            .await
            .map_err(|e| StorageError::io("fdatasync", &self.log_path, e))
    }

    /// Truncates the file to `size` (zeroing the rest of the last block).
    pub async fn truncate_file(&self, size: u64) -> Result<(), StorageError> {
        self.dma
            .truncate(size)
            .await
            .map_err(|e| StorageError::io("truncate", &self.log_path, e))
    }

    /// A cheap handle for reads that outlive a borrow of the segment.
    pub fn reader(&self) -> SegmentReader {
        SegmentReader {
            dma: self.dma.clone(),
            log_path: self.log_path.clone(),
        }
    }

    /// The `.index` and `.timeindex` contents as the in-memory indexes are
    /// now, to be written once no borrow of the log is held.
    pub fn index_files(&self) -> IndexFiles {
        IndexFiles {
            offset_path: self.sibling_path(OFFSET_INDEX_EXTENSION),
            offsets: self.indexes.offsets.encode(),
            time_path: self.sibling_path(TIME_INDEX_EXTENSION),
            times: self.indexes.times.encode(),
        }
    }

    /// The index files as they are for the batches below `end_offset`,
    /// which start at `end_position` (a recovery point: entries past it
    /// would be unsynced).
    pub fn index_files_up_to(&self, end_position: u64, end_offset: i64) -> IndexFiles {
        let relative_end = (end_offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        let mut indexes = self.indexes.clone();
        indexes.truncate(end_position, relative_end);
        IndexFiles {
            offset_path: self.sibling_path(OFFSET_INDEX_EXTENSION),
            offsets: indexes.offsets.encode(),
            time_path: self.sibling_path(TIME_INDEX_EXTENSION),
            times: indexes.times.encode(),
        }
    }

    /// Loads both index files; `None` when either is missing or damaged
    /// (the reason is logged).
    pub async fn load_index_files(&self) -> Result<Option<SegmentIndexes>, StorageError> {
        match self.read_index_files().await? {
            Ok(indexes) => Ok(Some(indexes)),
            Err(reason) => {
                log::warn!("{}: {reason}, rebuilding", self.log_path.display());
                Ok(None)
            }
        }
    }

    /// Both index files, checked against the segment's size, or why they
    /// cannot be used (missing or damaged).
    pub async fn read_index_files(&self) -> Result<Result<SegmentIndexes, String>, StorageError> {
        let offset_path = self.sibling_path(OFFSET_INDEX_EXTENSION);
        let time_path = self.sibling_path(TIME_INDEX_EXTENSION);
        let (Some(offset_bytes), Some(time_bytes)) = (
            read_whole_file(&offset_path).await?,
            read_whole_file(&time_path).await?,
        ) else {
            return Ok(Err("index file missing".into()));
        };
        let offsets = match OffsetIndex::decode(&offset_bytes, self.size) {
            Ok(offsets) => offsets,
            Err(damage) => return Ok(Err(format!("{}: {damage}", offset_path.display()))),
        };
        let times = match TimeIndex::decode(&time_bytes) {
            Ok(times) => times,
            Err(damage) => return Ok(Err(format!("{}: {damage}", time_path.display()))),
        };
        Ok(Ok(SegmentIndexes::from_loaded(offsets, times)))
    }

    /// Removes the segment's files, and the producer snapshot named like it
    /// (as Kafka does); open handles keep the data readable. The `.log` goes
    /// last: a crash midway leaves either the whole segment (its indexes
    /// rebuilt at load) or nothing of it, never index files that a later
    /// segment of the same base offset would take for its own.
    pub async fn remove_files(&self) -> Result<(), StorageError> {
        remove_segment_files(&self.log_path, self.base_offset).await
    }
}

/// Removes the files of the segment at `base_offset` whose `.log` is
/// `log_path` ([`Segment::remove_files`]).
pub async fn remove_segment_files(log_path: &Path, base_offset: i64) -> Result<(), StorageError> {
    let extensions = [
        OFFSET_INDEX_EXTENSION,
        TIME_INDEX_EXTENSION,
        SNAPSHOT_EXTENSION,
        LOG_EXTENSION,
    ];
    for extension in extensions {
        let path = log_path.with_file_name(segment_file_name(base_offset, extension));
        let removed = match extension {
            // The data: its blocks are freed off the shard (`io::reaper`).
            LOG_EXTENSION => remove_segment_file(&path).await,
            _ => remove_file(&path).await,
        };
        if let Err(error) = removed {
            if error.kind() != std::io::ErrorKind::NotFound {
                return Err(StorageError::io("remove", &path, error));
            }
        }
    }
    Ok(())
}

/// A segment's index files, encoded (see [`Segment::index_files`]).
#[derive(Debug)]
pub struct IndexFiles {
    offset_path: PathBuf,
    offsets: Vec<u8>,
    time_path: PathBuf,
    times: Vec<u8>,
}

impl IndexFiles {
    /// Writes `.index` and `.timeindex` (created or replaced) and syncs them:
    /// the one place index files are written (a sealed segment, a shutdown,
    /// a rebuild at load).
    pub async fn write(&self) -> Result<(), StorageError> {
        write_whole_file(&self.offset_path, &self.offsets).await?;
        write_whole_file(&self.time_path, &self.times).await
    }
}

/// The O_DIRECT handle and path of a segment, for scans done without holding
/// a borrow of the log (the file stays readable if retention unlinks it).
#[derive(Clone, Debug)]
pub struct SegmentReader {
    /// O_DIRECT handle.
    pub dma: Rc<SegmentFile>,
    /// Path of the `.log` file (for errors).
    pub log_path: Rc<Path>,
}

impl SegmentReader {
    /// Truncates the file to `size`, then fdatasyncs it: the cut is durable
    /// when this returns.
    pub async fn truncate_synced(&self, size: u64) -> Result<(), StorageError> {
        self.dma
            .truncate(size)
            .await
            .map_err(|e| StorageError::io("truncate", &self.log_path, e))?;
        self.dma
            .fdatasync()
            .await
            .map_err(|e| StorageError::io("fdatasync", &self.log_path, e))
    }

    /// Reads up to `len` bytes at `position` (any alignment) through
    /// O_DIRECT. Callers keep `position + len` within the file.
    pub async fn read_at(
        &self,
        position: u64,
        len: usize,
    ) -> Result<glommio::io::ReadResult, StorageError> {
        self.dma
            .read_at(position, len)
            .await
            .map_err(|e| StorageError::io("read", &self.log_path, e))
    }
}

/// Writes `bytes` as the whole content of `path` (created or replaced)
/// with O_DIRECT and fdatasync.
async fn write_whole_file(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let file = SegmentFile::open(path, OpenMode::Create)
        .await
        .map_err(|e| StorageError::io("create", path, e))?;
    let result = write_padded(&file, path, bytes).await;
    let closed = file
        .close()
        .await
        .map_err(|e| StorageError::io("close", path, e));
    result.and(closed)
}

async fn write_padded(file: &SegmentFile, path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    if !bytes.is_empty() {
        let padded_len = align_up(bytes.len() as u64) as usize;
        let mut buffer = file.alloc_dma_buffer(padded_len);
        let out = buffer.as_bytes_mut();
        out[..bytes.len()].copy_from_slice(bytes);
        out[bytes.len()..].fill(0);
        let written = file
            .write_at(buffer, 0)
            .await
            .map_err(|e| StorageError::io("write", path, e))?;
        if written < bytes.len() {
            return Err(short_write(path));
        }
    }
    file.truncate(bytes.len() as u64)
        .await
        .map_err(|e| StorageError::io("truncate", path, e))?;
    file.fdatasync()
        .await
        .map_err(|e| StorageError::io("fdatasync", path, e))
}

/// The error for a write that stored fewer bytes than asked (disk full).
pub fn short_write(path: &Path) -> StorageError {
    StorageError::io(
        "write",
        path,
        std::io::Error::new(std::io::ErrorKind::WriteZero, "short write"),
    )
}

/// The whole content of `path`, or `None` if it does not exist.
pub async fn read_whole_file(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    let file = match SegmentFile::open(path, OpenMode::Read).await {
        Ok(file) => file,
        Err(error) => {
            if error.kind() == std::io::ErrorKind::NotFound {
                return Ok(None);
            }
            return Err(StorageError::io("open", path, error));
        }
    };
    let result = read_all(&file, path).await;
    let _ = file.close().await; // read-only: nothing to lose on a failed close
    result.map(Some)
}

async fn read_all(file: &SegmentFile, path: &Path) -> Result<Vec<u8>, StorageError> {
    let size = file
        .file_size()
        .await
        .map_err(|e| StorageError::io("stat", path, e))? as usize;
    if size == 0 {
        return Ok(Vec::new());
    }
    let read = file
        .read_at(0, size)
        .await
        .map_err(|e| StorageError::io("read", path, e))?;
    Ok(read.to_vec())
}

/// Name of the scratch file of [`prime_iopoll_probe`].
const IOPOLL_PROBE_FILE_NAME: &str = ".millrace-iopoll-probe";

/// Makes glommio's per-thread, per-device iopoll probe come out right.
///
/// glommio probes iopoll support with a read on the first O_DIRECT file a
/// thread opens on a device. If that file is empty the read succeeds without
/// reaching the device, glommio enables its poll ring, and every later
/// O_DIRECT read on the device fails with EOPNOTSUPP (virtio has no poll
/// queues). Opening a write-only file first makes the probe fail (EBADF,
/// logged once by glommio as a harmless error) and keeps I/O on the main
/// ring. Call before any other O_DIRECT open on the thread and device.
pub async fn prime_iopoll_probe(dir: &Path, shard_id: usize) -> Result<(), StorageError> {
    let path = dir.join(format!("{IOPOLL_PROBE_FILE_NAME}-{shard_id}"));
    let file = DmaFile::create(&path)
        .await
        .map_err(|e| StorageError::io("create", &path, e))?;
    let _ = file.close().await; // empty scratch file
    glommio::io::remove(&path)
        .await
        .map_err(|e| StorageError::io("remove", &path, e))
}

/// fsync of a directory, so created or removed entries survive a crash.
pub async fn sync_directory(dir: &Path) -> Result<(), StorageError> {
    super::io::sync_dir(dir)
        .await
        .map_err(|e| StorageError::io("fsync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(0, "log"), "00000000000000000000.log");
        assert_eq!(
            segment_file_name(1234, "index"),
            "00000000000000001234.index"
        );
        assert_eq!(parse_log_file_name("00000000000000001234.log"), Some(1234));
        assert_eq!(parse_log_file_name("00000000000000001234.index"), None);
        assert_eq!(parse_log_file_name("1234.log"), None);
        assert_eq!(parse_log_file_name("0000000000000000123x.log"), None);
    }

    #[test]
    fn alignment() {
        assert_eq!(align_down(4097), 4096);
        assert_eq!(align_up(4097), 8192);
        assert_eq!(align_up(4096), 4096);
        assert_eq!(align_up(0), 0);
    }
}
