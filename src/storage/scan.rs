//! Walking the batches of a segment file with aligned O_DIRECT reads (never
//! a blocking read on the reactor): headers only to find a batch
//! ([`find_batch`]), or every batch checked for recovery ([`scan_segment`]).

use super::error::StorageError;
use super::index::{IndexedBatch, SegmentIndexes};
use super::segment::{align_down, Segment, SegmentReader};
use crate::protocol::record_batch::{
    peek_batch, peek_batch_header, BatchInfo, LOG_OVERHEAD_BYTES, RECORD_BATCH_HEADER_BYTES,
};

/// What a walk over headers reads past a batch at least as large as its
/// window: the next header's block, not the batch's data.
const HEADER_READ_BYTES: usize = 4096;

/// A window of a segment file read through O_DIRECT.
pub struct ScanWindow {
    start: u64,
    data: glommio::io::ReadResult,
    read_bytes: usize,
    read_bytes_max: usize,
    /// The counter of its reads.
    reads: fn(&crate::metrics::ShardMetrics) -> &crate::metrics::histogram::Counter,
}

impl ScanWindow {
    /// An empty window that reads `read_bytes` at a time.
    pub fn new(read_bytes: usize) -> Self {
        ScanWindow {
            start: 0,
            data: Default::default(),
            read_bytes,
            read_bytes_max: read_bytes,
            reads: |m| &m.segment_scan_reads,
        }
    }

    /// A window whose reads count as a base offset fill's
    /// (`millrace_index_base_fill_reads_total`), not a scan's.
    pub fn for_base_fill(read_bytes: usize) -> Self {
        ScanWindow {
            reads: |m| &m.index_base_fill_reads,
            ..ScanWindow::new(read_bytes)
        }
    }

    /// Sizes the next reads of a walk over headers after a batch of `len`
    /// bytes: large batches' data is skipped (one block read per header),
    /// small ones are read many at a time.
    fn follow_batch(&mut self, len: usize) {
        self.read_bytes = match len >= self.read_bytes_max {
            true => HEADER_READ_BYTES.min(self.read_bytes_max),
            false => self.read_bytes_max,
        };
    }

    /// Bytes `[position, min(position + need, limit))`, reading if the window
    /// does not hold them. Fewer bytes only if the file is shorter.
    pub async fn bytes(
        &mut self,
        reader: &SegmentReader,
        position: u64,
        need: u64,
        limit: u64,
    ) -> Result<&[u8], StorageError> {
        let want_end = (position + need).min(limit);
        let have_end = self.start + self.data.len() as u64;
        if position < self.start || want_end > have_end {
            let read_start = align_down(position);
            let read_len = (self.read_bytes as u64)
                .max(want_end - read_start)
                .min(limit - read_start);
            let reads = self.reads;
            crate::metrics::with_local(|m| reads(m).inc());
            self.data = reader.read_at(read_start, read_len as usize).await?;
            self.start = read_start;
        }
        let from = ((position - self.start) as usize).min(self.data.len());
        let to = ((want_end.max(position) - self.start) as usize).min(self.data.len());
        Ok(&self.data[from..to])
    }
}

/// The first batch at or after `start_position` (a batch start) for which
/// `is_target` holds, reading headers only, below `limit`. `None` if none.
pub async fn find_batch(
    reader: &SegmentReader,
    start_position: u64,
    limit: u64,
    read_bytes: usize,
    mut is_target: impl FnMut(&BatchInfo) -> bool,
) -> Result<Option<(u64, BatchInfo)>, StorageError> {
    let mut window = ScanWindow::new(read_bytes);
    let mut position = start_position;
    while position < limit {
        let bytes = window
            .bytes(reader, position, RECORD_BATCH_HEADER_BYTES as u64, limit)
            .await?;
        let info = match peek_batch_header(bytes) {
            Ok(Some(info)) => info,
            Ok(None) => return Ok(None),
            Err(error) => {
                return Err(StorageError::Corrupt {
                    path: reader.log_path.to_path_buf(),
                    reason: format!("{error} at position {position}"),
                })
            }
        };
        if position + info.len as u64 > limit {
            return Ok(None);
        }
        if is_target(&info) {
            return Ok(Some((position, info)));
        }
        position += info.len as u64;
        window.follow_batch(info.len);
    }
    Ok(None)
}

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

/// Where a scan starts: a batch start, and the indexes of the batches
/// before it (empty from position 0).
#[derive(Debug, Default)]
pub struct ScanStart {
    /// File position of a batch start.
    pub position: u64,
    /// Indexes of the segment up to `position`; the scan adds the rest.
    pub indexes: SegmentIndexes,
}

/// Scans the batches of `segment` from `start` up to `limit` bytes, calling
/// `on_batch` for each valid one (with its file position).
pub async fn scan_segment(
    segment: &Segment,
    start: ScanStart,
    limit: u64,
    options: ScanOptions,
    mut on_batch: impl FnMut(&BatchInfo, u64),
) -> Result<ScanOutcome, StorageError> {
    let reader = segment.reader();
    let mut window = ScanWindow::new(options.read_bytes);
    let mut outcome = ScanOutcome {
        end_position: start.position,
        next_offset: segment.base_offset,
        indexes: start.indexes,
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
                relative_base_offset: (info.base_offset - segment.base_offset) as u32,
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
