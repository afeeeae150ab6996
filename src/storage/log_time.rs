//! Lookups by time on [`PartitionLog`] (ListOffsets by timestamp): the
//! time index narrows each segment to where the target time can start, the
//! batch headers' max timestamps find the batch, and its bytes go to the
//! caller, which looks at its records. Storage never opens a batch.

use super::error::StorageError;
use super::log::PartitionLog;
use super::log_read::{relative, SegmentView};
use super::scan::find_batch;
use crate::protocol::record_batch::{peek_batch_header, BatchInfo};
use bytes::{Bytes, BytesMut};

/// What a search by time looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeSearch {
    /// A batch whose max timestamp is at least this...
    pub timestamp_ms: i64,
    /// ...holding offsets at or after this...
    pub from_offset: i64,
    /// ...and starting below this (the read bound).
    pub end_offset: i64,
}

/// A stored batch found by time, with its bytes.
#[derive(Clone, Debug)]
pub struct StoredBatch {
    /// Its header fields (offsets as stored).
    pub info: BatchInfo,
    /// The whole batch, header included.
    pub bytes: Bytes,
}

impl PartitionLog {
    /// The first batch that `search` asks for, and its bytes (one copy, of
    /// one batch: an admin path); `None` if there is none.
    pub async fn batch_reaching_timestamp(
        &self,
        search: TimeSearch,
    ) -> Result<Option<StoredBatch>, StorageError> {
        self.check_open()?;
        for view in self.segments_reaching(search) {
            let found = find_batch(
                &view.reader,
                view.start_position,
                view.on_disk_bytes,
                self.limits.scan_read_bytes,
                |batch| batch.base_offset >= search.end_offset || is_wanted(batch, search),
            )
            .await
            .map_err(|error| self.read_failed(error))?;
            match found {
                Some((_, batch)) if batch.base_offset >= search.end_offset => return Ok(None),
                Some((position, batch)) => {
                    return self.stored_batch(&view, position, batch).await.map(Some)
                }
                None if view.is_active => return Ok(self.recent_reaching(view.base_offset, search)),
                None => {}
            }
        }
        Ok(None)
    }

    /// The largest timestamp of the log (ListOffsets `MAX_TIMESTAMP`,
    /// KIP-734), from the segments' time indexes; `None` when no batch has one.
    pub fn max_timestamp(&self) -> Option<i64> {
        let state = self.state.borrow();
        let sealed = state
            .sealed
            .values()
            .map(|segment| segment.indexes.max_timestamp());
        sealed
            .chain(std::iter::once(state.active.indexes.max_timestamp()))
            .flatten()
            .max()
    }

    /// Segments that may hold the batch `search` asks for, oldest first, with
    /// the scan start from their time and offset indexes.
    fn segments_reaching(&self, search: TimeSearch) -> Vec<SegmentView> {
        let state = self.state.borrow();
        let sealed = state
            .sealed
            .values()
            .map(|segment| (segment, segment.size, false));
        let active = std::iter::once((&state.active, state.write.written, true));
        sealed
            .chain(active)
            .filter(|(segment, _, _)| {
                let reaches = segment.indexes.max_timestamp() >= Some(search.timestamp_ms);
                reaches
                    && segment.next_offset > search.from_offset
                    && segment.base_offset < search.end_offset
            })
            .map(|(segment, on_disk, is_active)| {
                let indexes = &segment.indexes;
                // Every batch before the time index entry is older than the
                // target (the entries are the max timestamps so far).
                let by_time = indexes
                    .times
                    .lookup(search.timestamp_ms)
                    .map_or(0, |relative_offset| indexes.offsets.lookup(relative_offset));
                let by_offset = indexes
                    .offsets
                    .lookup(relative(search.from_offset, segment.base_offset));
                let start = by_time.max(by_offset);
                SegmentView::new(segment, on_disk, u64::from(start), is_active)
            })
            .collect()
    }

    async fn stored_batch(
        &self,
        view: &SegmentView,
        position: u64,
        info: BatchInfo,
    ) -> Result<StoredBatch, StorageError> {
        let read = view
            .reader
            .read_at(position, info.len)
            .await
            .map_err(|error| self.read_failed(error))?;
        if read.len() < info.len {
            return Err(self.read_failed(StorageError::Corrupt {
                path: view.reader.log_path.to_path_buf(),
                reason: format!("batch at position {position} ends past the file"),
            }));
        }
        let bytes = Bytes::copy_from_slice(&read[..info.len]);
        Ok(StoredBatch { info, bytes })
    }

    /// The batch `search` asks for among the recent (unwritten) batches of
    /// the active segment.
    fn recent_reaching(&self, segment_base: i64, search: TimeSearch) -> Option<StoredBatch> {
        let state = self.state.borrow();
        let batch = state
            .recent
            .iter_from(0)
            .filter(|batch| batch.segment_base == segment_base)
            .take_while(|batch| batch.base_offset < search.end_offset)
            .find(|batch| {
                batch.last_offset >= search.from_offset
                    && batch.max_timestamp >= search.timestamp_ms
            })?;
        let info = peek_batch_header(&batch.header).ok()??;
        let mut bytes = BytesMut::with_capacity(batch.len());
        bytes.extend_from_slice(&batch.header);
        bytes.extend_from_slice(&batch.body);
        Some(StoredBatch {
            info,
            bytes: bytes.freeze(),
        })
    }
}

fn is_wanted(batch: &BatchInfo, search: TimeSearch) -> bool {
    batch.last_offset() >= search.from_offset && batch.max_timestamp >= search.timestamp_ms
}
