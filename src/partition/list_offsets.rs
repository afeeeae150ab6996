//! The owner side of ListOffsets: earliest (-2), latest (-1), max timestamp
//! (-3), or the first offset at or after a time.

use super::{Partition, ShardPartitions};
use crate::protocol::error_code;
use crate::protocol::piece::Piece;
use kafka_protocol::records::RecordBatchDecoder;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Special timestamps of the request.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-1005: earliest offset held locally (no tiered storage: earliest).
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// KIP-1005: latest tiered offset (no tiered storage: none, answered -1).
const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// Offset lookups for the partitions one shard owns.
pub struct ListOffsetsPart {
    /// (topic, partition, timestamp) where timestamp is -1 latest, -2 earliest,
    /// -3 max timestamp, or a time in ms.
    pub partitions: Vec<(Arc<str>, i32, i64)>,
}

impl ShardPartitions {
    /// (offset, timestamp) per partition of `part`, in order, or an error code.
    pub async fn resolve_offsets(&self, part: ListOffsetsPart) -> Vec<Result<(i64, i64), i16>> {
        let mut results = Vec::with_capacity(part.partitions.len());
        for (topic, partition, timestamp) in part.partitions {
            results.push(match self.get(&topic, partition) {
                Some(partition) => partition.resolve_offset(timestamp).await,
                None => Err(error_code::NOT_LEADER_OR_FOLLOWER),
            });
        }
        results
    }
}

impl Partition {
    async fn resolve_offset(&self, timestamp: i64) -> Result<(i64, i64), i16> {
        let log = &self.log;
        match timestamp {
            LATEST_TIMESTAMP => Ok((self.read_bound(), -1)),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Ok((log.log_start_offset(), -1)),
            LATEST_TIERED_TIMESTAMP => Ok((-1, -1)),
            MAX_TIMESTAMP => match log.max_timestamp_offset().await {
                Ok(Some((batch_offset, max_ts))) => Ok(self
                    .refine_in_batch(batch_offset, |ts| ts == max_ts)
                    .await
                    .unwrap_or((batch_offset, max_ts))),
                Ok(None) => Ok((-1, -1)),
                Err(_) => Err(error_code::KAFKA_STORAGE_ERROR),
            },
            target if target >= 0 => match log.offset_for_timestamp(target).await {
                Ok(Some((batch_offset, batch_ts))) => Ok(self
                    .refine_in_batch(batch_offset, |ts| ts >= target)
                    .await
                    .unwrap_or((batch_offset, batch_ts))),
                // No record at or after the time: Kafka answers offset -1.
                Ok(None) => Ok((-1, -1)),
                Err(_) => Err(error_code::KAFKA_STORAGE_ERROR),
            },
            _ => Err(error_code::INVALID_REQUEST),
        }
    }

    /// The first record of the batch at `batch_offset` whose timestamp
    /// matches, as (offset, timestamp). Storage finds the batch; Kafka
    /// answers with the record, so the batch is decoded here (decompressed if
    /// need be). Admin path only: this copies the batch, which the
    /// produce/fetch paths never do.
    async fn refine_in_batch(
        &self,
        batch_offset: i64,
        matches: impl Fn(i64) -> bool,
    ) -> Option<(i64, i64)> {
        let read = self.log.read(batch_offset, 1, true).await.ok()?;
        let mut bytes = bytes::BytesMut::new();
        for piece in read.pieces {
            match piece {
                Piece::Mem(chunk) => bytes.extend_from_slice(&chunk),
                Piece::File(region) => {
                    let chunk = glommio::executor()
                        .spawn_blocking(move || {
                            let mut buf = vec![0u8; region.len as usize];
                            region
                                .file
                                .read_exact_at(&mut buf, region.position)
                                .map(|_| buf)
                        })
                        .await
                        .ok()?;
                    bytes.extend_from_slice(&chunk);
                }
            }
        }
        let mut bytes = bytes.freeze();
        let batch = RecordBatchDecoder::decode(&mut bytes).ok()?;
        batch
            .records
            .iter()
            .find(|record| matches(record.timestamp))
            .map(|record| (record.offset, record.timestamp))
    }
}
