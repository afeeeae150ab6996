//! Loading a partition directory: segment discovery, index loading or
//! rebuilding, and recovery of the active segment after an unclean stop.
//!
//! A roll makes the next segment active before the old one is
//! fdatasynced, truncated and given its index files (its seal, `roll.rs`),
//! so after a crash a sealed segment past the recovery point may be torn
//! too: each is checked whole (every CRC verified), and one that ends short
//! of the next segment's base becomes the active segment, the later ones
//! removed (Kafka's rule; nothing in them was acknowledged as synced).
//! After a clean stop, or below the recovery point, sealed segments are
//! whole and their index files are loaded. The active segment's batches are checked (every CRC verified) from the recovery
//! point on: Kafka's recovery point, the offset up to which the log had
//! been fdatasynced when the log directory's checkpoint file was last
//! written (`checkpoint.rs`), together with the active segment's index
//! files up to it (`recovery_point.rs`). Without one (or without those
//! index files) the whole active segment is checked. The log ends at the
//! first invalid, torn or zero batch, and the file is truncated there so
//! no stale bytes survive past the new end; index entries past the
//! recovery point are rebuilt by the check. Nothing is preallocated at load
//! (`preallocation.rs`). State kept beside the log (the partition layer's
//! producer state) is rebuilt by its owner afterwards, from its own
//! snapshot on ([`PartitionLog::visit_batch_headers`]).
//!
//! [`PartitionLog::visit_batch_headers`]: super::log::PartitionLog::visit_batch_headers

use super::appender::{ActiveWrite, RecentBatch};
use super::config::{LogConfig, StorageLimits};
use super::error::StorageError;
use super::scan::{scan_segment, ScanEnd, ScanOptions, ScanOutcome, ScanStart};
use super::segment::{
    align_down, parse_log_file_name, remove_segment_files, segment_file_name, sync_directory,
    Segment, SegmentReader,
};
use crate::protocol::record_batch::{peek_batch_header, BatchInfo, RECORD_BATCH_HEADER_BYTES};
use bytes::Bytes;
use std::collections::VecDeque;
use std::path::Path;

/// Where loading a log starts checking and replaying.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStart {
    /// The previous run stopped cleanly (files were trimmed to their data).
    pub clean_shutdown: bool,
    /// The log's recovery point from the checkpoint file: offsets below it
    /// were fdatasynced, so only what follows is checked.
    pub recovery_point: Option<i64>,
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
    /// Bytes of the active segment that were checked (from the recovery
    /// point, or from the start).
    pub checked_bytes: u64,
    /// Bytes past the recovery point: what a crash now would make the next
    /// start check (none when the recovery point is the log end).
    pub unchecked_bytes: u64,
}

/// Loads (or creates) the log in `dir`.
pub async fn load_log(
    dir: &Path,
    name: &str,
    config: &LogConfig,
    limits: &StorageLimits,
    start: LoadStart,
) -> Result<LoadedLog, StorageError> {
    let listed = dir.to_path_buf();
    // A listing can block on a slow device: on the storage pool.
    let bases = glommio::executor()
        .spawn_blocking(move || list_segment_bases(&listed))
        .await?;
    let Some((&last_base, older)) = bases.split_last() else {
        let active = Segment::create(dir, 0).await?;
        sync_directory(dir).await?;
        log::info!("{name}: created new log");
        return Ok(LoadedLog {
            sealed: Vec::new(),
            active,
            active_write: ActiveWrite::default(),
            tail_batches: Vec::new(),
            checked_bytes: 0,
            unchecked_bytes: 0,
        });
    };
    let mut sealed = Vec::with_capacity(older.len());
    let mut active_base = last_base;
    for (i, &base) in older.iter().enumerate() {
        let next_base = bases[i + 1];
        let source = SealedSource {
            dir,
            name,
            base,
            next_base,
            config,
            limits,
            seal_unsure: seal_unsure(start, next_base),
        };
        match load_sealed(source).await? {
            LoadedSealed::Whole(segment) => sealed.push(segment),
            LoadedSealed::Torn { end_offset } => {
                remove_later_segments(dir, name, &bases[i + 1..], end_offset).await?;
                active_base = base;
                break;
            }
        }
    }
    let source = ActiveSource {
        dir,
        name,
        base: active_base,
        config,
        limits,
    };
    let active = load_active(source, start).await?;
    log::info!(
        "{name}: loaded {} segment(s), log end offset {}",
        sealed.len() + 1,
        active.segment.next_offset
    );
    let unchecked_bytes = match start.recovery_point {
        Some(offset) if offset == active.segment.next_offset => 0,
        _ => active.checked_bytes,
    };
    Ok(LoadedLog {
        sealed,
        active: active.segment,
        active_write: active.write,
        tail_batches: active.tail_batches,
        checked_bytes: active.checked_bytes,
        unchecked_bytes,
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

fn check_options(config: &LogConfig, limits: &StorageLimits) -> ScanOptions {
    ScanOptions {
        verify_crc: true,
        index_interval_bytes: config.index_interval_bytes,
        read_bytes: limits.recovery_read_bytes,
    }
}

/// What loading a sealed segment needs to know.
struct SealedSource<'a> {
    dir: &'a Path,
    name: &'a str,
    base: i64,
    /// Base offset of the segment after it: where it must end.
    next_base: i64,
    config: &'a LogConfig,
    limits: &'a StorageLimits,
    /// Its seal may not have finished before a crash ([`seal_unsure`]).
    seal_unsure: bool,
}

/// A sealed segment as loaded.
enum LoadedSealed {
    /// Whole: it ends where the next one starts.
    Whole(Segment),
    /// Its seal did not finish before a crash and its data ends at
    /// `end_offset`, short of the next segment's base: the later segments
    /// must go.
    Torn { end_offset: i64 },
}

/// Whether a sealed segment ending at `next_base` may have been left by a
/// roll whose seal (fdatasync, index files) a crash interrupted
/// (`roll.rs`): only after an unclean stop, and only past the recovery
/// point (everything below it was fdatasynced). Its index files then prove
/// nothing (the recovery point's may be there), so it is checked whole, as
/// Kafka recovers every segment past the recovery point.
fn seal_unsure(start: LoadStart, next_base: i64) -> bool {
    !start.clean_shutdown && start.recovery_point.is_none_or(|point| point < next_base)
}

async fn load_sealed(source: SealedSource<'_>) -> Result<LoadedSealed, StorageError> {
    let (name, base) = (source.name, source.base);
    let path = source.dir.join(segment_file_name(base, "log"));
    let mut segment = Segment::open(path, base, false).await?;
    segment.size = segment.file_size().await?;
    segment.next_offset = source.next_base;
    if !source.seal_unsure {
        if let Some(indexes) = segment.load_index_files().await? {
            segment.indexes = indexes;
            return Ok(LoadedSealed::Whole(segment));
        }
    }
    let options = check_options(source.config, source.limits);
    let start = ScanStart::default();
    let outcome = scan_segment(&segment, start, segment.size, options, |_, _| {}).await?;
    if source.seal_unsure && outcome.next_offset < source.next_base {
        log::warn!(
            "{name}: segment {base}, rolled before a crash, ends at offset {} ({:?}), short of \
             the next segment's base {}: its seal did not finish",
            outcome.next_offset,
            outcome.end,
            source.next_base
        );
        return Ok(LoadedSealed::Torn {
            end_offset: outcome.next_offset,
        });
    }
    if outcome.end_position < segment.size || source.seal_unsure {
        if outcome.end_position < segment.size {
            log::warn!(
                "{name}: sealed segment {base}: data ends at position {} of {} ({:?}); truncating",
                outcome.end_position,
                segment.size,
                outcome.end
            );
        }
        // Also syncs: after a crash, what was read may not be on the device.
        reopen_writable_and_truncate(&mut segment, outcome.end_position).await?;
    }
    segment.indexes = outcome.indexes;
    segment.indexes.seal();
    segment.index_files().write().await?;
    log::info!("{name}: rebuilt indexes of segment {base}");
    Ok(LoadedSealed::Whole(segment))
}

/// Removes the segments at `bases` (newest first, each `.log` last, as a
/// truncation does), which follow a torn sealed segment ending at
/// `end_offset`, then fsyncs the directory: what they held was never
/// acknowledged as synced (a seal comes before any later sync counts).
async fn remove_later_segments(
    dir: &Path,
    name: &str,
    bases: &[i64],
    end_offset: i64,
) -> Result<(), StorageError> {
    for &base in bases.iter().rev() {
        let log_path = dir.join(segment_file_name(base, "log"));
        remove_segment_files(&log_path, base).await?;
    }
    sync_directory(dir).await?;
    log::warn!(
        "{name}: removed {} segment(s) from {:?} on, past the log end offset {end_offset} \
         after a crash",
        bases.len(),
        bases.first()
    );
    Ok(())
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

/// Loads segment `base` of `dir` again as the active one, after a
/// truncation cut it to end at `end_offset` and wrote its index files up to
/// there (`truncate_segments.rs`): checked from that point as a recovery
/// point, its partial last block's batches read into memory. Returns the
/// segment, its write progress and those batches.
pub(super) async fn reload_active(
    dir: &Path,
    name: &str,
    base: i64,
    config: &LogConfig,
    limits: &StorageLimits,
    end_offset: i64,
) -> Result<(Segment, ActiveWrite, Vec<RecentBatch>), StorageError> {
    let source = ActiveSource {
        dir,
        name,
        base,
        config,
        limits,
    };
    let start = LoadStart {
        clean_shutdown: true,
        recovery_point: Some(end_offset),
    };
    let loaded = load_active(source, start).await?;
    Ok((loaded.segment, loaded.write, loaded.tail_batches))
}

/// What loading the active segment needs to know.
struct ActiveSource<'a> {
    dir: &'a Path,
    name: &'a str,
    base: i64,
    config: &'a LogConfig,
    limits: &'a StorageLimits,
}

/// The active segment as loaded.
struct ActiveLoad {
    segment: Segment,
    write: ActiveWrite,
    tail_batches: Vec<RecentBatch>,
    checked_bytes: u64,
}

async fn load_active(
    source: ActiveSource<'_>,
    start: LoadStart,
) -> Result<ActiveLoad, StorageError> {
    let (name, base) = (source.name, source.base);
    let path = source.dir.join(segment_file_name(base, "log"));
    let mut segment = Segment::open(path, base, true).await?;
    let file_size = segment.file_size().await?;
    segment.size = file_size;
    let resume = resume_at_recovery_point(&segment, start.recovery_point).await?;
    let mut checked_from = resume.position;
    let options = check_options(source.config, source.limits);
    // Batches overlapping the partial last block (see `load_tail`).
    let mut tail: VecDeque<(u64, BatchInfo)> = VecDeque::new();
    let mut first_batch_timestamp = None;
    let mut outcome = scan_segment(&segment, resume, file_size, options, |info, position| {
        if position == 0 {
            first_batch_timestamp = Some(info.max_timestamp);
        }
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
    if checked_from > 0 && outcome.batches == 0 {
        // The batch at the recovery point is damaged (it was fdatasynced):
        // check the whole segment.
        log::warn!("{name}: segment {base}: no valid batch at the recovery point; checking all");
        let whole = ScanStart::default();
        outcome = scan_segment(&segment, whole, file_size, options, |_, _| {}).await?;
        tail.clear();
        checked_from = 0;
    }
    if checked_from > 0 {
        first_batch_timestamp = first_batch_timestamp_of(&segment).await;
    }
    report_active_scan(name, base, start, file_size, checked_from, &outcome);
    segment.size = outcome.end_position;
    segment.next_offset = outcome.next_offset;
    segment.indexes = outcome.indexes;
    segment.first_batch_timestamp = first_batch_timestamp;
    segment.allocated = file_size;
    // What is past the data may be unwritten extents: zero-ahead starts at its end.
    segment.zeroed = super::segment::align_up(segment.size);
    if !start.clean_shutdown || file_size != segment.size {
        // Zero everything past the valid data (stale or torn bytes). No
        // preallocation: the first write round extends the file at the
        // partition's pace, so opening many partitions reserves no disk.
        segment.truncate_file(segment.size).await?;
        segment.cut_allocation_to(segment.size);
        segment.sync().await?;
    }
    let (tail_batches, tail_block) = load_tail(&segment, tail).await?;
    let write = ActiveWrite {
        written: segment.size,
        synced: segment.size,
        tail_block,
    };
    Ok(ActiveLoad {
        checked_bytes: segment.size.saturating_sub(checked_from),
        segment,
        write,
        tail_batches,
    })
}

/// Where the check of the active segment starts: at a batch start at or
/// before the recovery point, taken from the segment's index files written
/// with it, whose block holds nothing past the recovery point (so the
/// partial last block's batches are all seen again), with those index
/// entries kept. From position 0 when the recovery point is older than the
/// segment or the index files are missing or damaged.
async fn resume_at_recovery_point(
    segment: &Segment,
    recovery_point: Option<i64>,
) -> Result<ScanStart, StorageError> {
    let Some(relative_end) = recovery_point
        .filter(|&offset| offset >= segment.base_offset)
        .map(|offset| (offset - segment.base_offset).min(i64::from(u32::MAX)) as u32)
    else {
        return Ok(ScanStart::default());
    };
    let mut indexes = match segment.read_index_files().await? {
        Ok(indexes) => indexes,
        Err(reason) => {
            log::info!(
                "{}: no index files up to the recovery point ({reason}): checking all of it",
                segment.log_path.display()
            );
            return Ok(ScanStart::default());
        }
    };
    let Some((position, relative_offset)) = indexes.offsets.resume_before(relative_end) else {
        return Ok(ScanStart::default());
    };
    indexes.truncate(u64::from(position), relative_offset);
    Ok(ScanStart {
        position: u64::from(position),
        indexes,
    })
}

/// `maxTimestamp` of the segment's first batch (`segment.ms`), read from
/// its header; `None` if it cannot be read.
async fn first_batch_timestamp_of(segment: &Segment) -> Option<i64> {
    let read = segment
        .reader()
        .read_at(0, RECORD_BATCH_HEADER_BYTES)
        .await
        .ok()?;
    match peek_batch_header(&read) {
        Ok(Some(info)) => Some(info.max_timestamp),
        _ => None,
    }
}

/// Reads the batches that overlap the segment's partial last block into
/// memory, and that block's bytes (the next flush round rewrites the block
/// from them). The batches serve tail reads from memory, as they did before
/// the restart, until evicted; reads find them in the file as well
/// (`log_read.rs` reads the active segment up to its written end).
async fn load_tail(
    segment: &Segment,
    tail: VecDeque<(u64, BatchInfo)>,
) -> Result<(Vec<RecentBatch>, Vec<u8>), StorageError> {
    read_tail(&segment.reader(), segment.base_offset, segment.size, &tail).await
}

/// [`load_tail`] of the segment `reader` reads (based at `base_offset`,
/// `size` bytes long), given the `(position, header)` of its last batches,
/// which reach back at least to the batch overlapping the partial last
/// block: also used by a cut inside the active segment (`truncate.rs`),
/// whose new partial block's batches may have been evicted as final.
pub(super) async fn read_tail(
    reader: &SegmentReader,
    base_offset: i64,
    size: u64,
    tail: &VecDeque<(u64, BatchInfo)>,
) -> Result<(Vec<RecentBatch>, Vec<u8>), StorageError> {
    let final_end = align_down(size);
    let Some(&(start, _)) = tail.iter().find(|(p, b)| p + b.len as u64 > final_end) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let len = (size - start) as usize;
    let read = reader.read_at(start, len).await?;
    if read.len() < len {
        return Err(StorageError::Corrupt {
            path: reader.log_path.to_path_buf(),
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
                segment_base: base_offset,
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
    start: LoadStart,
    file_size: u64,
    checked_from: u64,
    outcome: &ScanOutcome,
) {
    let checked = outcome.end_position.saturating_sub(checked_from);
    match (&outcome.end, start.clean_shutdown) {
        (ScanEnd::Clean, true) if outcome.end_position == file_size => log::debug!(
            "{name}: segment {base}: checked {checked} bytes from position {checked_from}"
        ),
        (ScanEnd::Clean, false) => log::info!(
            "{name}: recovered segment {base}: checked {checked} bytes from position \
             {checked_from} (recovery point {:?}), {} batch(es), next offset {}",
            start.recovery_point,
            outcome.batches,
            outcome.next_offset
        ),
        (end, _) => log::warn!(
            "{name}: segment {base}: log truncated at position {} (next offset {}); \
             checked {checked} bytes from position {checked_from} (recovery point {:?}): \
             {:?}; file had {file_size} bytes",
            outcome.end_position,
            outcome.next_offset,
            start.recovery_point,
            end
        ),
    }
}
