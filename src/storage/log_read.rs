//! The read side of [`PartitionLog`]: Fetch reads (recent tail from memory,
//! older data as file regions) and ListOffsets by timestamp.

use super::error::{ReadError, StorageError};
use super::log::PartitionLog;
use super::scan::find_batch;
use super::segment::{align_down, Segment, SegmentReader};
use crate::protocol::piece::{FileRegion, Piece};
use std::fs::File;
use std::sync::Arc;

/// Record batches for a Fetch.
#[derive(Clone, Debug)]
pub struct ReadResult {
    /// Batches: `Piece::Mem` (header, body) pairs or one `Piece::File` region.
    pub pieces: Vec<Piece>,
    /// Total bytes of `pieces`.
    pub bytes: usize,
    /// Log end offset when the read began.
    pub log_end_offset: i64,
    /// Log start offset.
    pub log_start_offset: i64,
}

/// A segment's handles and bounds, copied out of the log state so a read
/// never holds a borrow across an `.await`.
struct SegmentView {
    reader: SegmentReader,
    read_file: Arc<File>,
    base_offset: i64,
    /// Bytes of the segment already on disk.
    on_disk_bytes: u64,
    /// Batch start from which to scan.
    start_position: u64,
    is_active: bool,
}

impl SegmentView {
    fn new(segment: &Segment, on_disk_bytes: u64, start_position: u64, is_active: bool) -> Self {
        SegmentView {
            reader: segment.reader(),
            read_file: segment.read_file.clone(),
            base_offset: segment.base_offset,
            on_disk_bytes,
            start_position: start_position.min(on_disk_bytes),
            is_active,
        }
    }
}

impl PartitionLog {
    /// Record batches starting at the batch that contains `offset`.
    ///
    /// The recent tail comes from memory as `Piece::Mem` (header and body of
    /// each batch, no copy); older data as one `Piece::File` region of the
    /// segment holding `offset`, limited to what is on disk (the next fetch
    /// continues from there). At most `max_bytes`, except that the first
    /// batch is whole when `min_one_batch` (KIP-74). A file region may end
    /// inside a batch, as Kafka's does; clients drop the partial batch.
    /// `offset` equal to the log end offset gives no pieces; below the log
    /// start or above the log end, `OffsetOutOfRange`.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadResult, ReadError> {
        self.check_open()?;
        let mut result = self.empty_result();
        if offset < result.log_start_offset || offset > result.log_end_offset {
            return Err(ReadError::OffsetOutOfRange);
        }
        if offset == result.log_end_offset
            || self.read_recent(offset, max_bytes, min_one_batch, &mut result)
        {
            return Ok(result);
        }
        let Some(view) = self.segment_for_offset(offset) else {
            return Ok(result);
        };
        let found = find_batch(
            &view.reader,
            view.start_position,
            view.on_disk_bytes,
            self.limits.scan_read_bytes,
            |batch| batch.last_offset() >= offset,
        )
        .await
        .map_err(|error| ReadError::Storage(self.read_failed(error)))?;
        match found {
            Some((position, batch)) => {
                let available = view.on_disk_bytes - position;
                let mut len = (max_bytes as u64).min(available);
                if min_one_batch {
                    len = len.max(batch.len as u64);
                }
                if len > 0 {
                    result.pieces.push(Piece::File(FileRegion {
                        file: view.read_file,
                        position,
                        len: len as u32,
                    }));
                    result.bytes = len as usize;
                }
            }
            // Appended meanwhile and not on disk yet: serve it from memory.
            None => {
                self.read_recent(offset, max_bytes, min_one_batch, &mut result);
            }
        }
        Ok(result)
    }

    fn empty_result(&self) -> ReadResult {
        let state = self.state.borrow();
        ReadResult {
            pieces: Vec::new(),
            bytes: 0,
            log_end_offset: state.log_end_offset(),
            log_start_offset: state.log_start_offset,
        }
    }

    /// Fills `result` from the recent batches; false if `offset` is not there.
    fn read_recent(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        result: &mut ReadResult,
    ) -> bool {
        let state = self.state.borrow();
        let Some(first) = state.recent.find(offset) else {
            return false;
        };
        for batch in state.recent.iter_from(first) {
            let whole_first = result.bytes == 0 && min_one_batch;
            if result.bytes + batch.len() > max_bytes && !whole_first {
                break;
            }
            result.pieces.push(Piece::Mem(batch.header.clone()));
            result.pieces.push(Piece::Mem(batch.body.clone()));
            result.bytes += batch.len();
        }
        true
    }

    /// The segment holding `offset`, with the scan start from its offset index.
    fn segment_for_offset(&self, offset: i64) -> Option<SegmentView> {
        let state = self.state.borrow();
        if offset >= state.active.base_offset {
            let active = &state.active;
            let start = active
                .indexes
                .offsets
                .lookup(relative(offset, active.base_offset));
            // Only final blocks: see `RecentBatches::evict_final`.
            return Some(SegmentView::new(
                active,
                align_down(state.write.written),
                u64::from(start),
                true,
            ));
        }
        let (_, segment) = state.sealed.range(..=offset).next_back()?;
        let start = segment
            .indexes
            .offsets
            .lookup(relative(offset, segment.base_offset));
        Some(SegmentView::new(
            segment,
            segment.size,
            u64::from(start),
            false,
        ))
    }

    /// A failed or corrupt read fails that request only: appends go on, as
    /// in Kafka, where only write and sync errors take a log dir offline.
    fn read_failed(&self, error: StorageError) -> StorageError {
        log::error!("{}: read failed: {error}", self.name);
        error
    }

    /// The first batch whose largest timestamp is at least `timestamp_ms`:
    /// `(its base offset, its max timestamp)`, or `None` if there is none.
    ///
    /// Batch granularity: the offset is the batch's first offset, which may
    /// hold records older than `timestamp_ms` (consumers skip nothing, they
    /// see a few earlier records). Kafka answers with the exact record.
    pub async fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        self.check_open()?;
        for view in self.segments_reaching(timestamp_ms) {
            let found = find_batch(
                &view.reader,
                view.start_position,
                view.on_disk_bytes,
                self.limits.scan_read_bytes,
                |batch| batch.max_timestamp >= timestamp_ms,
            )
            .await
            .map_err(|error| self.read_failed(error))?;
            if let Some((_, batch)) = found {
                let offset = batch.base_offset.max(self.log_start_offset());
                return Ok(Some((offset, batch.max_timestamp)));
            }
            if view.is_active {
                return Ok(self.recent_reaching(view.base_offset, timestamp_ms));
            }
        }
        Ok(None)
    }

    /// Segments whose largest timestamp reaches `timestamp_ms`, oldest first,
    /// with the scan start from their time and offset indexes.
    fn segments_reaching(&self, timestamp_ms: i64) -> Vec<SegmentView> {
        let state = self.state.borrow();
        let sealed = state
            .sealed
            .values()
            .map(|segment| (segment, segment.size, false));
        let active = std::iter::once((&state.active, state.write.written, true));
        sealed
            .chain(active)
            .filter(|(segment, _, _)| {
                segment
                    .indexes
                    .max_timestamp()
                    .is_some_and(|max| max >= timestamp_ms)
            })
            .map(|(segment, on_disk, is_active)| {
                let start = match segment.indexes.times.lookup(timestamp_ms) {
                    Some(relative_offset) => segment.indexes.offsets.lookup(relative_offset),
                    None => 0,
                };
                SegmentView::new(segment, on_disk, u64::from(start), is_active)
            })
            .collect()
    }

    fn recent_reaching(&self, segment_base: i64, timestamp_ms: i64) -> Option<(i64, i64)> {
        let state = self.state.borrow();
        let found = state
            .recent
            .iter_from(0)
            .find(|batch| batch.segment_base == segment_base && batch.max_timestamp >= timestamp_ms)
            .map(|batch| (batch.base_offset, batch.max_timestamp));
        found
    }

    /// The batch holding the largest timestamp of the log (ListOffsets
    /// `MAX_TIMESTAMP`, KIP-734): `(its base offset, that timestamp)`, or
    /// `None` when no batch has a timestamp. Batch granularity, like
    /// [`PartitionLog::offset_for_timestamp`]; the first such batch wins.
    pub async fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let max_timestamp = {
            let state = self.state.borrow();
            let sealed = state
                .sealed
                .values()
                .map(|segment| segment.indexes.max_timestamp());
            sealed
                .chain(std::iter::once(state.active.indexes.max_timestamp()))
                .flatten()
                .max()
        };
        match max_timestamp {
            Some(max_timestamp) => self.offset_for_timestamp(max_timestamp).await,
            None => Ok(None),
        }
    }
}

fn relative(offset: i64, base_offset: i64) -> u32 {
    (offset - base_offset).clamp(0, i64::from(u32::MAX)) as u32
}
