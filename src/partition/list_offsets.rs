//! The owner side of ListOffsets: earliest (-2), latest (-1), max timestamp
//! (-3), or the first offset at or after a time.
//!
//! By time, as Kafka answers (`FileRecords.searchForTimestamp`): storage
//! finds the first batch whose max timestamp reaches the time (time index,
//! then batch headers), and the answer is its first record at or after the
//! time, found by walking record headers. A compressed batch is opened on a
//! helper thread, never on the reactor, and inflated at most
//! [`DECOMPRESSED_BYTES_MAX`]: past that, the answer is the first record not
//! looked at, which skips nothing a consumer wants. No answer lies at or past
//! the read bound (Kafka's `offset < lastFetchableOffset`).

use super::{Partition, ShardPartitions};
use crate::protocol::codec::stream::decoder;
use crate::protocol::codec::{Codec, DECOMPRESSED_BYTES_MAX};
use crate::protocol::error_code;
use crate::protocol::record_batch::RECORD_BATCH_HEADER_BYTES;
use crate::protocol::record_walk::{find_record, RecordSearch, WalkError, WalkLimits};
use crate::storage::{StoredBatch, TimeSearch};
use std::io::{self, BufReader};
use std::sync::Arc;

/// Special timestamps of the request.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-1005: earliest offset held locally (no tiered storage: earliest).
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// KIP-1005: latest tiered offset (no tiered storage: none, answered -1).
const LATEST_TIERED_TIMESTAMP: i64 = -5;
/// Batches looked into for one answer: a batch whose header claims a max
/// timestamp its records lack sends the search on to the next one; past
/// this many, the next batch's first offset is the answer.
const BATCHES_INSPECTED_MAX: usize = 64;
/// Buffer between a decompressor and the record walk.
const WALK_BUFFER_BYTES: usize = 64 << 10;
/// No offset, no timestamp: what Kafka answers when nothing matches.
const NONE_FOUND: (i64, i64) = (-1, -1);

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

/// Which records a search by time wants.
#[derive(Clone, Copy, Debug)]
enum TimeMatch {
    /// The first at or after a time (a time in the request).
    AtOrAfter(i64),
    /// The first with exactly the log's largest timestamp (`MAX_TIMESTAMP`).
    Exactly(i64),
}

impl TimeMatch {
    fn target(self) -> i64 {
        match self {
            TimeMatch::AtOrAfter(time) | TimeMatch::Exactly(time) => time,
        }
    }

    fn matches(self, timestamp: i64) -> bool {
        match self {
            TimeMatch::AtOrAfter(time) => timestamp >= time,
            TimeMatch::Exactly(time) => timestamp == time,
        }
    }
}

impl Partition {
    async fn resolve_offset(&self, timestamp: i64) -> Result<(i64, i64), i16> {
        let log = &self.log;
        match timestamp {
            LATEST_TIMESTAMP => Ok((self.read_bound(), -1)),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Ok((log.log_start_offset(), -1)),
            LATEST_TIERED_TIMESTAMP => Ok(NONE_FOUND),
            MAX_TIMESTAMP => match log.max_timestamp() {
                Some(max) => self.offset_for_time(TimeMatch::Exactly(max)).await,
                None => Ok(NONE_FOUND),
            },
            time if time >= 0 => self.offset_for_time(TimeMatch::AtOrAfter(time)).await,
            _ => Err(error_code::INVALID_REQUEST),
        }
    }

    /// (offset, timestamp) of the first record `wanted`, below the read bound.
    async fn offset_for_time(&self, wanted: TimeMatch) -> Result<(i64, i64), i16> {
        let mut search = TimeSearch {
            timestamp_ms: wanted.target(),
            from_offset: self.log.log_start_offset(),
            end_offset: self.read_bound(),
        };
        for _ in 0..BATCHES_INSPECTED_MAX {
            let found = self.log.batch_reaching_timestamp(search).await;
            let batch = match found {
                Ok(Some(batch)) => batch,
                Ok(None) => return Ok(NONE_FOUND),
                Err(_) => return Err(error_code::KAFKA_STORAGE_ERROR),
            };
            let limits = WalkLimits {
                from_offset: search.from_offset,
                read_bytes_max: DECOMPRESSED_BYTES_MAX as u64,
            };
            let info = batch.info;
            let answer = match look_into(batch, limits, wanted).await {
                Ok(RecordSearch::Found { offset, timestamp }) => (offset, timestamp),
                Ok(RecordSearch::NotFound) => {
                    search.from_offset = info.last_offset().saturating_add(1);
                    continue;
                }
                // The records before `next_offset` are older: the rest of the
                // batch reaches the time (its max timestamp says so).
                Ok(RecordSearch::Stopped { next_offset }) => (next_offset, info.max_timestamp),
                Err(error) => {
                    log::warn!("{}: ListOffsets by time: {error}", self.log.name());
                    (info.base_offset.max(search.from_offset), info.max_timestamp)
                }
            };
            return Ok(below(answer, search.end_offset));
        }
        // Batches whose headers promise what their records lack: the next
        // batch's first offset skips nothing.
        Ok(below(
            (search.from_offset, wanted.target()),
            search.end_offset,
        ))
    }
}

/// `answer`, or none when its offset is at or past the read bound.
fn below(answer: (i64, i64), end_offset: i64) -> (i64, i64) {
    match answer.0 < end_offset {
        true => answer,
        false => NONE_FOUND,
    }
}

/// Walks `batch`'s records for the first one `wanted`: on the reactor when
/// they are plain (one pass over bytes already in memory), on a helper
/// thread when they must be decompressed.
async fn look_into(
    batch: StoredBatch,
    limits: WalkLimits,
    wanted: TimeMatch,
) -> Result<RecordSearch, WalkError> {
    let bits = batch.info.compression_codec();
    let codec = Codec::from_attribute(i16::from(bits)).ok_or_else(|| {
        let unknown = format!("unknown compression codec {bits}");
        WalkError::Io(io::Error::new(io::ErrorKind::InvalidData, unknown))
    })?;
    if codec == Codec::None {
        let records = batch
            .bytes
            .get(RECORD_BATCH_HEADER_BYTES..)
            .unwrap_or_default();
        return find_record(records, &batch.info, limits, |ts| wanted.matches(ts));
    }
    glommio::executor()
        .spawn_blocking(move || {
            let compressed = batch
                .bytes
                .get(RECORD_BATCH_HEADER_BYTES..)
                .unwrap_or_default();
            let records = decoder(codec, compressed).map_err(|error| {
                WalkError::Io(io::Error::new(io::ErrorKind::InvalidData, error))
            })?;
            let records = BufReader::with_capacity(WALK_BUFFER_BYTES, records);
            find_record(records, &batch.info, limits, |ts| wanted.matches(ts))
        })
        .await
}
