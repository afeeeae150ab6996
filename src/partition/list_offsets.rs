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
//! the read bound (Kafka's `offset < lastFetchableOffset`). Only the leader
//! answers a client ([`Partition::check_client_read`]).
//!
//! A debugging tool's lookup (replica id -2, Kafka's
//! `ListOffsetsRequest.DEBUGGING_REPLICA_ID`) is not a client's read: as
//! Kafka's `ReplicaManager.fetchOffset` (`fetchOnlyFromLeader = false`, no
//! isolation level), any replica answers it from its own log, bounded by
//! what that log holds rather than by the high watermark
//! ([`OffsetsReader::Debugging`]).

use super::leader_epochs::NO_EPOCH;
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
/// The replica id of a debugging tool's ListOffsets (Kafka's
/// `ListOffsetsRequest.DEBUGGING_REPLICA_ID`).
pub const DEBUGGING_REPLICA_ID: i32 = -2;

/// Who asks, from the request's replica id: what Kafka's
/// `ReplicaManager.fetchOffset` derives `fetchOnlyFromLeader` and the
/// isolation level from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetsReader {
    /// A client (-1, and a follower's id, which millrace's followers never
    /// send): only the leader answers, up to the read bound.
    Consumer,
    /// A debugging tool (-2): any replica answers from its local log, up to
    /// its end, and never OFFSET_NOT_AVAILABLE.
    Debugging,
}

impl OffsetsReader {
    /// The reader a ListOffsets request's `replica_id` names.
    pub fn from_replica_id(replica_id: i32) -> Self {
        match replica_id {
            DEBUGGING_REPLICA_ID => OffsetsReader::Debugging,
            _ => OffsetsReader::Consumer,
        }
    }
}

/// One partition's lookup.
#[derive(Clone, Debug)]
pub struct OffsetQuery {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
    /// -1 latest, -2 earliest, -3 max timestamp, or a time in ms.
    pub timestamp: i64,
    /// The client's idea of the leader epoch (KIP-320, v4+; -1: no check).
    pub current_leader_epoch: i32,
    /// Who asks.
    pub reader: OffsetsReader,
}

/// Offset lookups for the partitions one shard owns.
pub struct ListOffsetsPart {
    /// The lookups, in request order.
    pub partitions: Vec<OffsetQuery>,
}

/// A lookup's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundOffset {
    /// The offset (-1: none).
    pub offset: i64,
    /// Its record's timestamp (-1: none, or a position rather than a time).
    pub timestamp: i64,
    /// The leader epoch of the batch holding it (latest: the current
    /// epoch; -1 when unknown or nothing was found), as Kafka answers.
    pub leader_epoch: i32,
}

impl ShardPartitions {
    /// The answer per partition of `part`, in order, or an error code.
    pub async fn resolve_offsets(&self, part: ListOffsetsPart) -> Vec<Result<FoundOffset, i16>> {
        let mut results = Vec::with_capacity(part.partitions.len());
        for query in part.partitions {
            results.push(match self.get(&query.topic, query.partition) {
                Some(partition) => partition.answer_offset_query(&query).await,
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
    /// The answer to `query` here, or the error code refusing it: a client
    /// is answered by the leader only; a debugging tool by any replica,
    /// from its local log (Kafka's `getLocalLog` with `requireLeader`
    /// false: the current epoch is still checked).
    async fn answer_offset_query(&self, query: &OffsetQuery) -> Result<FoundOffset, i16> {
        match query.reader {
            OffsetsReader::Consumer => {
                self.check_client_read(query.current_leader_epoch)
                    .map_err(|refusal| refusal.wire_error_code())?;
                self.resolve_offset(query.timestamp).await
            }
            OffsetsReader::Debugging => {
                self.check_leader_epoch(query.current_leader_epoch)?;
                // What this log holds: a written batch (an append the disk
                // refused is rolled back before it is readable).
                let end_offset = self.log.readable_end_offset();
                self.lookup_offset(query.timestamp, end_offset).await
            }
        }
    }

    /// A client's answer for `timestamp`; OFFSET_NOT_AVAILABLE where Kafka's
    /// `fetchOffsetForTimestamp` gives it while a new leader's watermark
    /// lags its epoch start ([`Partition::high_watermark_lags_epoch_start`]):
    /// for latest, and for a search that found nothing below the watermark
    /// (the earliest offsets need no watermark).
    async fn resolve_offset(&self, timestamp: i64) -> Result<FoundOffset, i16> {
        let found = self.lookup_offset(timestamp, self.read_bound()).await?;
        let by_start = matches!(timestamp, EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP);
        let unbounded = timestamp == LATEST_TIMESTAMP || found.offset == NONE_FOUND.0;
        if !by_start && unbounded && self.high_watermark_lags_epoch_start() {
            return Err(error_code::OFFSET_NOT_AVAILABLE);
        }
        Ok(found)
    }

    /// The answer for `timestamp` with no answer at or past `end_offset`
    /// (latest is `end_offset` itself).
    async fn lookup_offset(&self, timestamp: i64, end_offset: i64) -> Result<FoundOffset, i16> {
        let log = &self.log;
        let at = |(offset, timestamp): (i64, i64), leader_epoch: Option<i32>| FoundOffset {
            offset,
            timestamp,
            leader_epoch: leader_epoch.unwrap_or(NO_EPOCH),
        };
        match timestamp {
            LATEST_TIMESTAMP => Ok(at((end_offset, -1), Some(self.leader_epoch()))),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => {
                let start = log.log_start_offset();
                let epoch = self.epochs().cache().epoch_for_offset(start);
                Ok(at((start, -1), epoch))
            }
            LATEST_TIERED_TIMESTAMP => Ok(at(NONE_FOUND, None)),
            MAX_TIMESTAMP => match log.max_timestamp() {
                Some(max) => {
                    self.offset_for_time(TimeMatch::Exactly(max), end_offset)
                        .await
                }
                None => Ok(at(NONE_FOUND, None)),
            },
            time if time >= 0 => {
                self.offset_for_time(TimeMatch::AtOrAfter(time), end_offset)
                    .await
            }
            _ => Err(error_code::INVALID_REQUEST),
        }
    }

    /// The first record `wanted`, below `end_offset`, with its batch's epoch.
    async fn offset_for_time(
        &self,
        wanted: TimeMatch,
        end_offset: i64,
    ) -> Result<FoundOffset, i16> {
        let mut search = TimeSearch {
            timestamp_ms: wanted.target(),
            from_offset: self.log.log_start_offset(),
            end_offset,
        };
        for _ in 0..BATCHES_INSPECTED_MAX {
            let found = self.log.batch_reaching_timestamp(search).await;
            let batch = match found {
                Ok(Some(batch)) => batch,
                Ok(None) => return Ok(below(NONE_FOUND, NO_EPOCH, search.end_offset)),
                Err(_) => return Err(error_code::KAFKA_STORAGE_ERROR),
            };
            let limits = WalkLimits {
                from_offset: search.from_offset,
                read_bytes_max: DECOMPRESSED_BYTES_MAX as u64,
            };
            let info = batch.info;
            let found = match look_into(batch, limits, wanted).await {
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
            return Ok(below(found, info.partition_leader_epoch, search.end_offset));
        }
        // Batches whose headers promise what their records lack: the next
        // batch's first offset skips nothing.
        let next = (search.from_offset, wanted.target());
        let epoch = self.epochs().cache().epoch_for_offset(next.0);
        Ok(below(next, epoch.unwrap_or(NO_EPOCH), search.end_offset))
    }
}

/// `found` in a batch of `leader_epoch`, or none when its offset is at or
/// past the read bound.
fn below(found: (i64, i64), leader_epoch: i32, end_offset: i64) -> FoundOffset {
    let (offset, timestamp) = match found.0 < end_offset {
        true => found,
        false => NONE_FOUND,
    };
    let leader_epoch = match offset {
        -1 => NO_EPOCH,
        _ => leader_epoch,
    };
    FoundOffset {
        offset,
        timestamp,
        leader_epoch,
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
