//! Loading a partition directory: segment discovery, index loading or
//! rebuilding, and recovery of the active segment after an unclean stop.
//!
//! Sealed segments were written, truncated to their size and fdatasynced
//! before their indexes were written and the next segment was created (see
//! `PartitionLog::roll`), so only the active (last) segment can hold a torn
//! tail. It is scanned on every open, every CRC verified; the log ends at the
//! first invalid, torn or zero batch, and the file is truncated there and preallocated again so no stale
//! bytes survive past the new end.

use super::appender::{ActiveWrite, RecentBatch};
use super::config::{LogConfig, StorageLimits};
use super::error::StorageError;
use super::index::{IndexedBatch, SegmentIndexes};
use super::scan::ScanWindow;
use super::segment::{
    align_down, parse_log_file_name, segment_file_name, sync_directory, Segment, SegmentReader,
};
use crate::protocol::record_batch::{
    peek_batch, peek_batch_header, BatchInfo, LOG_OVERHEAD_BYTES, RECORD_BATCH_HEADER_BYTES,
};
use bytes::Bytes;
use std::collections::VecDeque;
use std::path::Path;

/// A batch header claiming more than this is treated as corruption.
pub const RECOVERY_BATCH_BYTES_MAX: u64 = 128 << 20;

/// Why a scan stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// End of the data: end of file or zeroed (preallocated) space.
    Clean,
    /// A batch extends past the end of the data.
    Torn,
    /// An invalid batch.
    Corrupt(String),
}

/// What a segment scan found.
#[derive(Debug)]
pub struct ScanOutcome {
    /// Position after the last valid batch.
    pub end_position: u64,
    /// Offset after the last valid batch (the base offset if none).
    pub next_offset: i64,
    /// Indexes rebuilt from the valid batches.
    pub indexes: SegmentIndexes,
    /// Valid batches found.
    pub batches: u64,
    /// Why the scan stopped.
    pub end: ScanEnd,
}

/// How to scan.
#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    /// Verify every batch's CRC32C (reads whole batches, not only headers).
    pub verify_crc: bool,
    /// `index.interval.bytes` for the rebuilt indexes.
    pub index_interval_bytes: u32,
    /// Size of each read.
    pub read_bytes: usize,
}

/// Scans the batches of `segment` from position 0 up to `limit` bytes,
/// calling `on_batch` for each valid one (with its file position).
pub async fn scan_segment(
    segment: &Segment,
    limit: u64,
    options: ScanOptions,
    mut on_batch: impl FnMut(&BatchInfo, u64),
) -> Result<ScanOutcome, StorageError> {
    let reader = segment.reader();
    let mut window = ScanWindow::new(options.read_bytes);
    let mut outcome = ScanOutcome {
        end_position: 0,
        next_offset: segment.base_offset,
        indexes: SegmentIndexes::default(),
        batches: 0,
        end: ScanEnd::Clean,
    };
    loop {
        let position = outcome.end_position;
        let step = next_batch(&reader, &mut window, position, limit, options).await?;
        let info = match step {
            Ok(info) => info,
            Err(end) => {
                outcome.end = end;
                return Ok(outcome);
            }
        };
        if let Err(reason) = check_offsets(segment.base_offset, outcome.next_offset, &info) {
            outcome.end = ScanEnd::Corrupt(reason);
            return Ok(outcome);
        }
        outcome.indexes.on_batch(
            IndexedBatch {
                relative_last_offset: (info.last_offset() - segment.base_offset) as u32,
                position: position as u32,
                len: info.len as u32,
                max_timestamp: info.max_timestamp,
            },
            options.index_interval_bytes,
        );
        on_batch(&info, position);
        outcome.batches += 1;
        outcome.next_offset = info.last_offset() + 1;
        outcome.end_position = position + info.len as u64;
    }
}

/// The batch at `position`, or why there is none.
async fn next_batch(
    reader: &SegmentReader,
    window: &mut ScanWindow,
    position: u64,
    limit: u64,
    options: ScanOptions,
) -> Result<Result<BatchInfo, ScanEnd>, StorageError> {
    let overhead = LOG_OVERHEAD_BYTES as u64;
    let head = window.bytes(reader, position, overhead, limit).await?;
    if head.len() < LOG_OVERHEAD_BYTES {
        let end = match head.iter().all(|&b| b == 0) {
            true => ScanEnd::Clean,
            false => ScanEnd::Torn,
        };
        return Ok(Err(end));
    }
    let batch_length = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    if batch_length == 0 {
        return Ok(Err(ScanEnd::Clean));
    }
    let total = overhead + batch_length.max(0) as u64;
    if batch_length < 0 || total > RECOVERY_BATCH_BYTES_MAX {
        return Ok(Err(ScanEnd::Corrupt(format!(
            "batch length {batch_length} at position {position}"
        ))));
    }
    if position + total > limit {
        return Ok(Err(ScanEnd::Torn));
    }
    let need = match options.verify_crc {
        true => total,
        false => (RECORD_BATCH_HEADER_BYTES as u64).min(total),
    };
    let bytes = window.bytes(reader, position, need, limit).await?;
    if (bytes.len() as u64) < need {
        return Ok(Err(ScanEnd::Torn));
    }
    let parsed = match options.verify_crc {
        true => peek_batch(bytes, true),
        false => peek_batch_header(bytes),
    };
    Ok(match parsed {
        Ok(Some(info)) => Ok(info),
        Ok(None) => Err(ScanEnd::Torn),
        Err(error) => Err(ScanEnd::Corrupt(format!("{error} at position {position}"))),
    })
}

fn check_offsets(base_offset: i64, next_offset: i64, info: &BatchInfo) -> Result<(), String> {
    if info.base_offset < next_offset {
        return Err(format!(
            "batch offset {} below expected {next_offset}",
            info.base_offset
        ));
    }
    // baseOffset is outside the CRC: a corrupt one can be anything.
    let distance = info
        .base_offset
        .checked_add(i64::from(info.last_offset_delta))
        .and_then(|last| last.checked_sub(base_offset));
    if distance.is_none_or(|d| d > i64::from(i32::MAX)) {
        return Err(format!(
            "batch offset {} too far from segment base {base_offset}",
            info.base_offset
        ));
    }
    Ok(())
}

/// A loaded partition directory.
#[derive(Debug)]
pub struct LoadedLog {
    /// Sealed segments, oldest first.
    pub sealed: Vec<Segment>,
    /// The segment appends go to.
    pub active: Segment,
    /// Write progress of the active segment (all of it is on disk).
    pub active_write: ActiveWrite,
    /// Batches overlapping the active segment's partial last block, to be
    /// served from memory.
    pub tail_batches: Vec<RecentBatch>,
}

/// Bytes a new or reopened active segment file is preallocated to.
pub fn preallocate_bytes(config: &LogConfig, limits: &StorageLimits) -> u64 {
    (config.effective_segment_bytes() + limits.write_chunk_bytes as u64).min(
        limits
            .preallocate_step_bytes
            .max(limits.write_chunk_bytes as u64),
    )
}

/// The allocation a segment needs before writes reaching `write_end`: the
/// next whole step past it.
pub fn allocation_for(write_end: u64, limits: &StorageLimits) -> u64 {
    let step = limits
        .preallocate_step_bytes
        .max(limits.write_chunk_bytes as u64);
    write_end.div_ceil(step) * step
}

/// Loads (or creates) the log in `dir`. State kept beside the log is rebuilt
/// by its owner afterwards ([`PartitionLog::visit_batch_headers`]).
///
/// [`PartitionLog::visit_batch_headers`]: super::log::PartitionLog::visit_batch_headers
pub async fn load_log(
    dir: &Path,
    name: &str,
    config: &LogConfig,
    limits: &StorageLimits,
    clean_shutdown: bool,
) -> Result<LoadedLog, StorageError> {
    let listed = dir.to_path_buf();
    // A listing can block on a slow device: on the storage pool.
    let bases = glommio::executor()
        .spawn_blocking(move || list_segment_bases(&listed))
        .await?;
    let Some((&last_base, older)) = bases.split_last() else {
        let active = Segment::create(dir, 0, preallocate_bytes(config, limits)).await?;
        sync_directory(dir).await?;
        log::info!("{name}: created new log");
        return Ok(LoadedLog {
            sealed: Vec::new(),
            active,
            active_write: ActiveWrite::default(),
            tail_batches: Vec::new(),
        });
    };
    let mut sealed = Vec::with_capacity(older.len());
    for (i, &base) in older.iter().enumerate() {
        let next_base = bases[i + 1];
        sealed.push(load_sealed(dir, name, base, next_base, config, limits).await?);
    }
    let active = load_active(dir, name, last_base, config, limits, clean_shutdown).await?;
    log::info!(
        "{name}: loaded {} segment(s), log end offset {}",
        sealed.len() + 1,
        active.segment.next_offset
    );
    Ok(LoadedLog {
        sealed,
        active: active.segment,
        active_write: active.write,
        tail_batches: active.tail_batches,
    })
}

fn list_segment_bases(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))?;
    let mut bases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", dir, e))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_log_file_name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

async fn load_sealed(
    dir: &Path,
    name: &str,
    base: i64,
    next_base: i64,
    config: &LogConfig,
    limits: &StorageLimits,
) -> Result<Segment, StorageError> {
    let path = dir.join(segment_file_name(base, "log"));
    let mut segment = Segment::open(path, base, false).await?;
    segment.size = segment.file_size().await?;
    segment.next_offset = next_base;
    if let Some(indexes) = segment.load_index_files().await? {
        segment.indexes = indexes;
        return Ok(segment);
    }
    let options = ScanOptions {
        verify_crc: true,
        index_interval_bytes: config.index_interval_bytes,
        read_bytes: limits.recovery_read_bytes,
    };
    let outcome = scan_segment(&segment, segment.size, options, |_, _| {}).await?;
    if outcome.end_position < segment.size {
        log::warn!(
            "{name}: sealed segment {base}: data ends at position {} of {} ({:?}); truncating",
            outcome.end_position,
            segment.size,
            outcome.end
        );
        reopen_writable_and_truncate(&mut segment, outcome.end_position).await?;
    }
    segment.indexes = outcome.indexes;
    segment.indexes.seal();
    segment.index_files().write().await?;
    log::info!("{name}: rebuilt indexes of segment {base}");
    Ok(segment)
}

async fn reopen_writable_and_truncate(
    segment: &mut Segment,
    size: u64,
) -> Result<(), StorageError> {
    let writable = Segment::open(segment.log_path.to_path_buf(), segment.base_offset, true).await?;
    writable.truncate_file(size).await?;
    writable.sync().await?;
    segment.size = size;
    Ok(())
}

/// The active segment as loaded.
struct ActiveLoad {
    segment: Segment,
    write: ActiveWrite,
    tail_batches: Vec<RecentBatch>,
}

async fn load_active(
    dir: &Path,
    name: &str,
    base: i64,
    config: &LogConfig,
    limits: &StorageLimits,
    clean_shutdown: bool,
) -> Result<ActiveLoad, StorageError> {
    let path = dir.join(segment_file_name(base, "log"));
    let mut segment = Segment::open(path, base, true).await?;
    let file_size = segment.file_size().await?;
    // CRCs are checked even after a clean stop: the segment is read anyway
    // (its indexes and tail), CRC32C costs a few percent of that read, and
    // damage made while the broker was down is then cut instead of served.
    let options = ScanOptions {
        verify_crc: true,
        index_interval_bytes: config.index_interval_bytes,
        read_bytes: limits.recovery_read_bytes,
    };
    // Batches overlapping the partial last block (see `load_tail`).
    let mut tail: VecDeque<(u64, BatchInfo)> = VecDeque::new();
    let outcome = scan_segment(&segment, file_size, options, |info, position| {
        let final_end = align_down(position + info.len as u64);
        while tail
            .front()
            .is_some_and(|(p, b)| p + b.len as u64 <= final_end)
        {
            tail.pop_front();
        }
        tail.push_back((position, *info));
    })
    .await?;
    report_active_scan(name, base, clean_shutdown, file_size, &outcome);
    segment.size = outcome.end_position;
    segment.next_offset = outcome.next_offset;
    segment.indexes = outcome.indexes;
    if segment.size > 0 {
        segment.first_append_ms = Some(super::log::now_ms());
    }
    if !clean_shutdown || file_size != segment.size {
        // Zero everything past the valid data (stale or torn bytes).
        segment.truncate_file(segment.size).await?;
    }
    segment
        .preallocate(preallocate_bytes(config, limits).max(segment.size))
        .await?;
    segment.sync().await?;
    let (tail_batches, tail_block) = load_tail(&segment, tail).await?;
    let write = ActiveWrite {
        written: segment.size,
        synced: segment.size,
        tail_block,
    };
    Ok(ActiveLoad {
        segment,
        write,
        tail_batches,
    })
}

/// Reads the batches that overlap the segment's partial last block into
/// memory, and that block's bytes. The block is rewritten by the next flush
/// round, so reads never serve it from the page cache: these batches are
/// served from memory until later writes make their blocks final.
async fn load_tail(
    segment: &Segment,
    tail: VecDeque<(u64, BatchInfo)>,
) -> Result<(Vec<RecentBatch>, Vec<u8>), StorageError> {
    let final_end = align_down(segment.size);
    let Some(&(start, _)) = tail.iter().find(|(p, b)| p + b.len as u64 > final_end) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let len = (segment.size - start) as usize;
    let read = segment.reader().read_at(start, len).await?;
    if read.len() < len {
        return Err(StorageError::Corrupt {
            path: segment.log_path.to_path_buf(),
            reason: format!("cannot reread the tail at position {start}"),
        });
    }
    let bytes = Bytes::copy_from_slice(&read[..len]);
    let tail_block = bytes[(final_end - start) as usize..].to_vec();
    let batches = tail
        .iter()
        .filter(|(p, _)| *p >= start)
        .map(|&(position, info)| {
            let from = (position - start) as usize;
            let header_end = from + RECORD_BATCH_HEADER_BYTES;
            RecentBatch {
                base_offset: info.base_offset,
                last_offset: info.last_offset(),
                max_timestamp: info.max_timestamp,
                segment_base: segment.base_offset,
                position,
                header: bytes.slice(from..header_end),
                body: bytes.slice(header_end..from + info.len),
            }
        })
        .collect();
    Ok((batches, tail_block))
}

fn report_active_scan(
    name: &str,
    base: i64,
    clean_shutdown: bool,
    file_size: u64,
    outcome: &ScanOutcome,
) {
    match (&outcome.end, clean_shutdown) {
        (ScanEnd::Clean, true) if outcome.end_position == file_size => {}
        (ScanEnd::Clean, false) => log::info!(
            "{name}: recovered segment {base}: {} batch(es), {} bytes, next offset {}",
            outcome.batches,
            outcome.end_position,
            outcome.next_offset
        ),
        (end, _) => log::warn!(
            "{name}: segment {base}: log truncated at position {} (next offset {}) \
             after {} valid batch(es): {:?}; file had {file_size} bytes",
            outcome.end_position,
            outcome.next_offset,
            outcome.batches,
            end
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_preallocated_by_steps_not_whole() {
        let limits = StorageLimits::default();
        let step = limits.preallocate_step_bytes;
        let big = LogConfig {
            segment_bytes: 1 << 30,
            ..LogConfig::default()
        };
        assert_eq!(preallocate_bytes(&big, &limits), step);
        let small = LogConfig {
            segment_bytes: 1 << 20,
            ..LogConfig::default()
        };
        // A segment smaller than a step is preallocated whole (plus one write chunk).
        assert_eq!(
            preallocate_bytes(&small, &limits),
            (1 << 20) + limits.write_chunk_bytes as u64
        );
        assert_eq!(allocation_for(1, &limits), step);
        assert_eq!(allocation_for(step, &limits), step);
        assert_eq!(allocation_for(step + 1, &limits), 2 * step);
    }
}
