//! A header-only walk of a whole log from an offset, across sealed segments
//! and the active one ([`PartitionLog::visit_batch_headers`]): how the
//! partition layer rebuilds its producer state from a snapshot on.

use super::error::StorageError;
use super::log::PartitionLog;
use super::scan::find_batch;
use super::segment::{Segment, SegmentReader};
use crate::protocol::record_batch::BatchInfo;

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
