//! The read side of [`PartitionLog`]: Fetch reads (recent tail from memory,
//! older data as file regions) up to a read bound. Lookups by time are in
//! `log_time.rs`.

use super::error::{ReadError, StorageError};
use super::index::IndexedStart;
use super::log::PartitionLog;
use super::read_handles::{read_access, ReadAccess, ReadHandleSlot};
use super::scan::find_batch;
use super::segment::{Segment, SegmentReader};
use crate::protocol::piece::{FileRegion, Piece};
use std::rc::Rc;

/// Record batches for a Fetch.
#[derive(Clone, Debug)]
pub struct ReadResult {
    /// Batches: `Piece::Mem` (header, body) pairs or one `Piece::File` region.
    pub pieces: Vec<Piece>,
    /// Total bytes of `pieces`.
    pub bytes: usize,
    /// Offset after the last readable batch when the read began.
    pub readable_end_offset: i64,
    /// Log start offset.
    pub log_start_offset: i64,
    /// Records were there, but every read descriptor of the shard is held
    /// (`read_handles.rs`): none were returned; read again shortly.
    pub waits_for_descriptor: bool,
}

/// What one read may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// At most this many bytes...
    pub max_bytes: usize,
    /// ...except that the first batch is whole when true (KIP-74).
    pub min_one_batch: bool,
    /// No batch at or past this offset: the partition's read bound (above
    /// the log end offset, the log end offset).
    pub end_offset: i64,
}

/// A segment's handles and bounds, copied out of the log state so a read
/// never holds a borrow across an `.await`.
pub(super) struct SegmentView {
    pub(super) reader: SegmentReader,
    read_slot: Rc<ReadHandleSlot>,
    pub(super) base_offset: i64,
    /// Offset after the segment's last batch.
    end_offset: i64,
    /// Bytes of the segment already on disk.
    pub(super) on_disk_bytes: u64,
    /// Batch start from which to scan.
    pub(super) start_position: u64,
    pub(super) is_active: bool,
    /// The batch holding the read's offset, when the offset index knows it.
    indexed: Option<IndexedStart>,
    /// The segment's offset index has entries without base offset (loaded
    /// from a file): a scan here starts their fill (`base_fill.rs`).
    unknown_bases: bool,
}

impl SegmentView {
    pub(super) fn new(
        segment: &Segment,
        on_disk_bytes: u64,
        start_position: u64,
        is_active: bool,
    ) -> Self {
        SegmentView {
            reader: segment.reader(),
            read_slot: segment.read_handle.clone(),
            base_offset: segment.base_offset,
            end_offset: segment.next_offset,
            on_disk_bytes,
            start_position: start_position.min(on_disk_bytes),
            is_active,
            indexed: None,
            unknown_bases: segment.indexes.offsets.has_unknown_bases(),
        }
    }

    /// The position and a length bound of the batch holding the read's
    /// offset, from the offset index, when that is enough to answer: the
    /// batch lies wholly below `readable_end`, and its length is not needed
    /// (its bound is within `max_bytes`, or the first batch need not be
    /// whole). `None`: scan the headers.
    fn indexed_batch(&self, readable_end: u64, limits: ReadLimits) -> Option<(u64, u64)> {
        let indexed = self.indexed?;
        let position = u64::from(indexed.position);
        let batch_end_bound = u64::from(indexed.next_position?);
        if batch_end_bound > readable_end || position < self.start_position {
            return None;
        }
        let len_bound = batch_end_bound - position;
        (!limits.min_one_batch || len_bound <= limits.max_bytes as u64)
            .then_some((position, len_bound))
    }
}

/// Whether a read is a reader's (a Fetch: its misses grow the shard's room
/// for recent batches) or the broker's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadDemand {
    Reader,
    Load,
}

/// Where a read that the recent batches could not serve went to the disk.
pub(super) struct ReadFromDisk {
    /// Base offset of the segment read.
    pub segment_base: i64,
    /// Where in it the read starts.
    pub position: u64,
    /// The segment's bytes on disk.
    pub segment_end: u64,
    /// Bytes the read serves from the file.
    pub len: u64,
}

impl PartitionLog {
    /// Record batches starting at the batch that contains `offset`, none at
    /// or past `limits.end_offset`.
    ///
    /// The recent tail comes from memory as `Piece::Mem` (header and body of
    /// each batch, no copy); older data as one `Piece::File` region of the
    /// segment holding `offset`, limited to what is on disk (the next fetch
    /// continues from there) and cut before the first batch at or past the
    /// end offset. At most `max_bytes`, except that the first batch is whole
    /// when `min_one_batch` (KIP-74). A file region may end inside a batch,
    /// as Kafka's does; clients drop the partial batch. `offset` at or past
    /// the end offset (up to the log end offset) gives no pieces; below the
    /// log start or above the log end, `OffsetOutOfRange`. Only written
    /// batches are read ([`PartitionLog::readable_end_offset`]): a batch
    /// ENOSPC refuses is rolled back before anyone could see it.
    ///
    /// A read the recent batches could not serve grows the shard's room by
    /// what it missed (`recent_budget.rs`): it is a reader's demand.
    pub async fn read(&self, offset: i64, limits: ReadLimits) -> Result<ReadResult, ReadError> {
        self.read_as(offset, limits, ReadDemand::Reader).await
    }

    /// [`PartitionLog::read`] for the broker's own use (loading a
    /// partition's state from its start): no reader waits behind it, so it
    /// never grows the shard's room for recent batches.
    pub async fn read_for_load(
        &self,
        offset: i64,
        limits: ReadLimits,
    ) -> Result<ReadResult, ReadError> {
        self.read_as(offset, limits, ReadDemand::Load).await
    }

    async fn read_as(
        &self,
        offset: i64,
        limits: ReadLimits,
        demand: ReadDemand,
    ) -> Result<ReadResult, ReadError> {
        self.check_open()?;
        let mut result = self.empty_result();
        if offset < result.log_start_offset || offset > self.log_end_offset() {
            return Err(ReadError::OffsetOutOfRange);
        }
        let limits = ReadLimits {
            end_offset: limits.end_offset.min(result.readable_end_offset),
            ..limits
        };
        if offset >= limits.end_offset || self.read_recent(offset, limits, &mut result) {
            return Ok(result);
        }
        let Some(view) = self.segment_for_offset(offset) else {
            return Ok(result);
        };
        let access = read_access(&view.read_slot);
        if matches!(access, ReadAccess::Exhausted) {
            result.waits_for_descriptor = true;
            return Ok(result);
        }
        let readable_end = self
            .readable_end(&view, limits.end_offset)
            .await
            .map_err(|error| ReadError::Storage(self.read_failed(error)))?;
        let indexed = view.indexed_batch(readable_end, limits);
        if indexed.is_none() && view.unknown_bases {
            self.start_base_fill(view.base_offset);
        }
        let found = match indexed {
            Some(found) => Some(found),
            None => find_batch(
                &view.reader,
                view.start_position,
                readable_end,
                self.limits.scan_read_bytes,
                |batch| batch.last_offset() >= offset,
            )
            .await
            .map_err(|error| ReadError::Storage(self.read_failed(error)))?
            .map(|(position, batch)| (position, batch.len as u64)),
        };
        match found {
            Some((position, first_batch_len)) => {
                let available = readable_end - position;
                let mut len = (limits.max_bytes as u64).min(available);
                if limits.min_one_batch {
                    len = len.max(first_batch_len);
                }
                if len < available {
                    len = self.cut_at_batch_start(view.base_offset, position, len);
                }
                if len > 0 {
                    let handle = access
                        .handle(&view.read_slot, &view.reader)
                        .await
                        .map_err(|error| ReadError::Storage(self.read_failed(error)))?;
                    match handle {
                        Some(file) => {
                            result.pieces.push(Piece::File(FileRegion {
                                file,
                                position,
                                len: len as u32,
                            }));
                            result.bytes = len as usize;
                            if demand == ReadDemand::Reader {
                                self.note_read_from_disk(ReadFromDisk {
                                    segment_base: view.base_offset,
                                    position,
                                    segment_end: view.on_disk_bytes,
                                    len,
                                });
                            }
                        }
                        None => result.waits_for_descriptor = true,
                    }
                }
            }
            // Appended meanwhile and not on disk yet: serve it from memory.
            None => {
                self.read_recent(offset, limits, &mut result);
            }
        }
        Ok(result)
    }

    /// The file position up to which `view` may be read: its bytes on disk,
    /// cut before the first batch at or past `end_offset`.
    async fn readable_end(&self, view: &SegmentView, end_offset: i64) -> Result<u64, StorageError> {
        if end_offset >= view.end_offset {
            return Ok(view.on_disk_bytes);
        }
        if let Some(position) = self.known_position(view.base_offset, end_offset) {
            return Ok(position.min(view.on_disk_bytes));
        }
        // Past the recent batches (a bound far behind the log end): scan.
        let found = find_batch(
            &view.reader,
            view.start_position,
            view.on_disk_bytes,
            self.limits.scan_read_bytes,
            |batch| batch.last_offset() >= end_offset,
        )
        .await?;
        Ok(found.map_or(view.on_disk_bytes, |(position, _)| position))
    }

    /// The position in segment `segment_base` of the batch starting at
    /// `offset`, when known without reading: the synced or written end of the
    /// active segment (the usual read bounds), or a recent batch.
    fn known_position(&self, segment_base: i64, offset: i64) -> Option<u64> {
        let state = self.state.borrow();
        if segment_base == state.active.base_offset {
            if offset == state.synced_end_offset {
                return Some(state.write.synced);
            }
            if offset == state.written_end_offset {
                return Some(state.write.written);
            }
        }
        let batch = state.recent.iter_from(state.recent.find(offset)?).next()?;
        (batch.segment_base == segment_base).then_some(batch.position)
    }

    /// The length of an answer from `position` cut below its end: `len`
    /// shortened to the last indexed batch start within it whose base offset
    /// is known. The client then gets whole batches only and asks next for
    /// that batch, which the index finds without reading the file (instead
    /// of a partial batch it drops and asks for again, found by a header
    /// read). `len` when no such batch start lies past the first batch.
    fn cut_at_batch_start(&self, segment_base: i64, position: u64, len: u64) -> u64 {
        let state = self.state.borrow();
        let indexes = match segment_base == state.active.base_offset {
            true => &state.active.indexes,
            false => match state.sealed.get(&segment_base) {
                Some(segment) => &segment.indexes,
                None => return len,
            },
        };
        indexes
            .offsets
            .known_batch_start_in(position, position + len)
            .map_or(len, |batch_start| batch_start - position)
    }

    fn empty_result(&self) -> ReadResult {
        let state = self.state.borrow();
        ReadResult {
            pieces: Vec::new(),
            bytes: 0,
            readable_end_offset: state.written_end_offset,
            log_start_offset: state.log_start_offset,
            waits_for_descriptor: false,
        }
    }

    /// Fills `result` from the recent batches; false if `offset` is not there.
    fn read_recent(&self, offset: i64, limits: ReadLimits, result: &mut ReadResult) -> bool {
        let state = self.state.borrow();
        let Some(first) = state.recent.find(offset) else {
            return false;
        };
        // A partition read from memory keeps its room (`recent_budget.rs`).
        self.mark_used();
        for batch in state.recent.iter_from(first) {
            let whole_first = result.bytes == 0 && limits.min_one_batch;
            let too_big = result.bytes + batch.len() > limits.max_bytes && !whole_first;
            if too_big || batch.last_offset >= limits.end_offset {
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
            // Up to the written end, the partial last block included: its
            // batches may have been evicted (`recent_budget.rs`). The next
            // round rewrites that block with the same bytes below `written`
            // (`ActiveWrite::tail_block`), so any read of them, O_DIRECT or
            // through the page cache, before, during or after the rewrite,
            // gets these bytes; and the O_DIRECT write drops the cached
            // pages it covers, so bytes past `written` are read fresh later.
            let mut view = SegmentView::new(active, state.write.written, u64::from(start), true);
            view.indexed = active
                .indexes
                .offsets
                .batch_holding(relative(offset, active.base_offset));
            return Some(view);
        }
        let (_, segment) = state.sealed.range(..=offset).next_back()?;
        let start = segment
            .indexes
            .offsets
            .lookup(relative(offset, segment.base_offset));
        let mut view = SegmentView::new(segment, segment.size, u64::from(start), false);
        view.indexed = segment
            .indexes
            .offsets
            .batch_holding(relative(offset, segment.base_offset));
        Some(view)
    }

    /// A failed or corrupt read fails that request only: appends go on, as
    /// in Kafka, where only write and sync errors take a log dir offline.
    pub(super) fn read_failed(&self, error: StorageError) -> StorageError {
        log::error!("{}: read failed: {error}", self.name);
        error
    }
}

/// `offset` relative to a segment's base, as its indexes key it.
pub(super) fn relative(offset: i64, base_offset: i64) -> u32 {
    (offset - base_offset).clamp(0, i64::from(u32::MAX)) as u32
}
