//! Walking batch headers of a segment file with aligned O_DIRECT reads
//! (never a blocking read on the reactor), and of a whole log from an offset
//! ([`PartitionLog::visit_batch_headers`]).

use super::error::StorageError;
use super::log::PartitionLog;
use super::segment::{align_down, Segment, SegmentReader};
use crate::protocol::record_batch::{peek_batch_header, BatchInfo, RECORD_BATCH_HEADER_BYTES};

/// A window of a segment file read through O_DIRECT.
pub struct ScanWindow {
    start: u64,
    data: glommio::io::ReadResult,
    read_bytes: usize,
}

impl ScanWindow {
    /// An empty window that reads `read_bytes` at a time.
    pub fn new(read_bytes: usize) -> Self {
        ScanWindow {
            start: 0,
            data: Default::default(),
            read_bytes,
        }
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
    }
    Ok(None)
}

/// The part of one segment a header walk covers.
struct HeaderWalk {
    reader: SegmentReader,
    start_position: u64,
    limit: u64,
}

impl HeaderWalk {
    fn new(segment: &Segment, from_offset: i64, limit: u64) -> Self {
        let relative = (from_offset - segment.base_offset).clamp(0, i64::from(u32::MAX));
        let start = segment.indexes.offsets.lookup(relative as u32);
        HeaderWalk {
            reader: segment.reader(),
            start_position: u64::from(start).min(limit),
            limit,
        }
    }
}

impl PartitionLog {
    /// Hands `visit` the header fields of every batch on disk whose last
    /// offset is at least `from_offset`, in offset order, across sealed
    /// segments and the active one; returns how many. Headers only: no CRC
    /// check and no record read, so state kept beside the log (the partition
    /// layer's producer state) is rebuilt from a checkpoint at little cost,
    /// whatever recovery verified. Meant for a log just loaded (later appends
    /// are in memory until written). A damaged header ends the walk of its
    /// segment with a warning; the later segments are still walked.
    pub async fn visit_batch_headers(
        &self,
        from_offset: i64,
        visit: &mut dyn FnMut(&BatchInfo),
    ) -> Result<u64, StorageError> {
        let mut batches = 0;
        for walk in self.header_walks(from_offset) {
            let mut on_batch = |info: &BatchInfo| {
                if info.last_offset() >= from_offset {
                    visit(info);
                    batches += 1;
                }
                false
            };
            let read_bytes = self.limits.recovery_read_bytes;
            let walked = find_batch(
                &walk.reader,
                walk.start_position,
                walk.limit,
                read_bytes,
                &mut on_batch,
            );
            match walked.await {
                Ok(_) => {}
                Err(error @ StorageError::Corrupt { .. }) => log::warn!(
                    "{}: batch header walk stops early in {}: {error}",
                    self.name,
                    walk.reader.log_path.display()
                ),
                Err(error) => return Err(error),
            }
        }
        Ok(batches)
    }

    /// The segments holding offsets from `from_offset` on, with where to
    /// start in each and how far their data reaches on disk.
    fn header_walks(&self, from_offset: i64) -> Vec<HeaderWalk> {
        let state = self.state.borrow();
        let mut walks: Vec<HeaderWalk> = state
            .sealed
            .values()
            .filter(|segment| segment.next_offset > from_offset)
            .map(|segment| HeaderWalk::new(segment, from_offset, segment.size))
            .collect();
        walks.push(HeaderWalk::new(
            &state.active,
            from_offset,
            state.write.written,
        ));
        walks
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::tests::{new_storage, open, plain_batch, run, small_config, TempDir};
    use crate::storage::{Durability, StorageLimits};

    #[test]
    fn header_walk_visits_every_batch_from_an_offset_across_segments() {
        let dir = TempDir::new("header-walk");
        run(async move {
            let storage = new_storage(&dir, StorageLimits::default());
            let log = open(&storage, small_config(), true).await;
            for i in 0..20 {
                let result = log.append(vec![plain_batch(2, 2000, i)], 0).await.unwrap();
                log.wait_durable(result.last_offset, Durability::Written)
                    .await
                    .unwrap();
            }
            assert!(log.segment_count() > 2);
            for from in [0, 1, 17, 38, 39, 40] {
                let mut bases = Vec::new();
                let visited = log
                    .visit_batch_headers(from, &mut |info| bases.push(info.base_offset))
                    .await
                    .unwrap();
                let expected: Vec<i64> = (0..20).map(|i| i * 2).filter(|b| b + 1 >= from).collect();
                assert_eq!(bases, expected, "from {from}");
                assert_eq!(visited, expected.len() as u64);
            }
            storage.shutdown().await.unwrap();
        });
    }
}
