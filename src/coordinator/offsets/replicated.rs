//! The offsets partitions of a cluster: partitions of the internal topic
//! `__consumer_offsets`, replicated like any partition (issue 13). The
//! coordinator of a group is the leader of its partition; it writes the
//! group's commits as Kafka record batches (offset-commit key and value,
//! tombstones for deletions) through the partition layer with acks=all
//! semantics, so a commit is answered once the high watermark passes it, and
//! it rebuilds the partition's offsets by reading the log when it becomes
//! leader (Kafka's `GroupMetadataManager` / `CoordinatorLoader`).
//!
//! The topic is created through the controller ([`offsets_topic_request`])
//! with `offsets.topic.num.partitions` partitions and
//! `offsets.topic.replication.factor` replicas. Storage has no cleaner yet,
//! so the topic is created `cleanup.policy=compact` without time or size
//! retention: nothing live is ever deleted, and the log is not compacted.

use super::partitions::OFFSETS_TOPIC;
use super::record::{decode_key_value, encode_key, encode_value};
use super::OffsetChange;
use crate::config::Config;
use crate::local::helper_pool::{run_job, Helpers};
use crate::metadata::controller::{ControllerRequest, NewTopic};
use crate::partition::produce::{Acks, PartitionAppend, ProducePart};
use crate::partition::ShardPartitions;
use crate::protocol::error_code;
use crate::protocol::piece::Piece;
use crate::protocol::record_batch::{peek_batch, RECORD_BATCH_HEADER_BYTES};
use crate::storage::{AppendBatch, ReadLimits};
use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Kafka's `offsets.commit.timeout.ms` default: how long a commit waits for
/// the in-sync replicas before it is answered COORDINATOR_NOT_AVAILABLE.
pub const OFFSETS_COMMIT_TIMEOUT_MS: u64 = 5_000;
/// Bytes read per step while loading a partition (Kafka's
/// `offsets.load.buffer.size` default).
pub const OFFSETS_LOAD_READ_BYTES: usize = 5 << 20;
/// Steps of one load at most (a partition is never read forever).
const OFFSETS_LOAD_STEPS_MAX: usize = 1 << 20;
/// Record batch magic 2.
const RECORD_BATCH_VERSION: i8 = 2;
/// Producer fields of a batch written by no producer.
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;
const NO_SEQUENCE: i32 = -1;
/// Stamped by the partition at append.
const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// The CreateTopics of `__consumer_offsets` (if missing), as Kafka's
/// `AutoTopicCreationManager` makes it at the first FindCoordinator.
pub fn offsets_topic_request(config: &Config) -> ControllerRequest {
    ControllerRequest::CreateTopics {
        topics: vec![offsets_topic(config)],
        validate_only: false,
        if_missing: true,
    }
}

/// `__consumer_offsets` as the internal topic: `offsets.topic.num.partitions`
/// partitions of `offsets.topic.replication.factor` replicas, compacted
/// (FindCoordinator and Metadata's auto-creation both make it so).
pub fn offsets_topic(config: &Config) -> NewTopic {
    let configs = [
        ("cleanup.policy", "compact"),
        // No cleaner yet: keep every segment (a live commit may be in any).
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
        ("compression.type", "producer"),
    ];
    NewTopic {
        name: OFFSETS_TOPIC.to_string(),
        partitions: config.offsets_topic_num_partitions as i32,
        replication_factor: config.offsets_topic_replication_factor,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        assignments: Vec::new(),
    }
}

/// One uncompressed v2 batch holding `changes` as Kafka's offset-commit
/// records (a deletion is a tombstone), stamped `now_ms`.
pub fn encode_batch(changes: &[OffsetChange], now_ms: i64) -> Result<AppendBatch, String> {
    let records: Vec<Record> = changes
        .iter()
        .zip(0i64..)
        .map(|(change, offset)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset,
            // The encoder starts a new batch when offset - sequence changes.
            sequence: i32::try_from(offset)
                .unwrap_or(i32::MAX)
                .wrapping_add(NO_SEQUENCE),
            timestamp: now_ms,
            key: Some(Bytes::from(encode_key(change))),
            value: change
                .committed
                .as_ref()
                .map(|c| Bytes::from(encode_value(c))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: RECORD_BATCH_VERSION,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)
        .map_err(|e| format!("encoding an offsets batch: {e}"))?;
    let bytes = buf.freeze();
    let info = peek_batch(&bytes, true)
        .map_err(|e| format!("encoded offsets batch: {e}"))?
        .filter(|info| info.len == bytes.len())
        .ok_or("encoded offsets batch is not one whole batch")?;
    let mut header = [0u8; RECORD_BATCH_HEADER_BYTES];
    header.copy_from_slice(&bytes[..RECORD_BATCH_HEADER_BYTES]);
    Ok(AppendBatch {
        header,
        pinned_bytes: bytes.len(),
        body: bytes.slice(RECORD_BATCH_HEADER_BYTES..),
        info,
    })
}

/// Appends `batch` to offsets partition `index` as acks=all and waits until
/// the high watermark passes it, at most [`OFFSETS_COMMIT_TIMEOUT_MS`]; the
/// partition's Kafka error code otherwise.
pub async fn append(
    partitions: &ShardPartitions,
    index: i32,
    batch: AppendBatch,
) -> Result<(), i16> {
    let part = ProducePart {
        acks: Acks::All,
        timeout_ms: OFFSETS_COMMIT_TIMEOUT_MS,
        partitions: vec![PartitionAppend {
            topic: Arc::from(OFFSETS_TOPIC),
            partition: index,
            batches: vec![batch],
            refused: None,
        }],
    };
    let answers = partitions.append(part).await.until_durable().await;
    match answers.into_iter().next() {
        Some(Ok(_)) => Ok(()),
        Some(Err(refused)) => Err(refused.code),
        None => Err(error_code::UNKNOWN_SERVER_ERROR),
    }
}

/// Every offset change in offsets partition `index`, in log order, from its
/// log start to its log end when the load began (a new leader's log holds
/// everything the ISR acknowledged).
pub async fn read_all(
    partitions: &ShardPartitions,
    index: i32,
) -> Result<Vec<OffsetChange>, String> {
    let partition = partitions
        .get(OFFSETS_TOPIC, index)
        .ok_or_else(|| format!("{OFFSETS_TOPIC}-{index} is not open here"))?;
    let log = partition.log().clone();
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    let mut changes = Vec::new();
    for _ in 0..OFFSETS_LOAD_STEPS_MAX {
        if offset >= end {
            return Ok(changes);
        }
        let limits = ReadLimits {
            max_bytes: OFFSETS_LOAD_READ_BYTES,
            min_one_batch: true,
            end_offset: end,
        };
        let read = log
            .read_for_load(offset, limits)
            .await
            .map_err(|e| format!("reading {OFFSETS_TOPIC}-{index} at {offset}: {e:?}"))?;
        let bytes = piece_bytes(read.pieces).await?;
        let next = decode_batches(bytes, offset, &mut changes)?;
        if next <= offset {
            return Err(format!(
                "{OFFSETS_TOPIC}-{index}: no whole batch at offset {offset} below {end}"
            ));
        }
        offset = next;
    }
    Err(format!("{OFFSETS_TOPIC}-{index}: load did not end"))
}

/// The bytes of read pieces, file regions read on a control helper.
async fn piece_bytes(pieces: Vec<Piece>) -> Result<Bytes, String> {
    let mut out = BytesMut::new();
    for piece in pieces {
        match piece {
            Piece::Mem(bytes) => out.extend_from_slice(&bytes),
            Piece::File(region) => {
                let read = run_job(Helpers::Control, move || {
                    let mut buf = vec![0u8; region.len as usize];
                    region
                        .file
                        .read_exact_at(&mut buf, region.position)
                        .map(|()| buf)
                })
                .await
                .map_err(|_| "offsets load: the helper dropped the read".to_string())?
                .map_err(|e| format!("offsets load: {e}"))?;
                out.extend_from_slice(&read);
            }
        }
    }
    Ok(out.freeze())
}

/// Decodes the whole batches of `bytes` into `changes` (records below
/// `from` skipped, control batches and other record kinds ignored); returns
/// the offset after the last whole batch (`from` if none).
fn decode_batches(
    mut bytes: Bytes,
    from: i64,
    changes: &mut Vec<OffsetChange>,
) -> Result<i64, String> {
    let mut next = from;
    while let Some(info) = peek_batch(&bytes, true).map_err(|e| format!("offsets load: {e}"))? {
        let mut batch = bytes.split_to(info.len);
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| format!("offsets load: decoding a batch: {e}"))?;
        for record in set.records {
            if record.control || record.offset < from {
                continue;
            }
            let Some(key) = record.key.as_deref() else {
                continue;
            };
            if let Some(change) = decode_key_value(key, record.value.as_deref()) {
                changes.push(change);
            }
        }
        next = next.max(info.last_offset() + 1);
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::offsets::CommittedOffset;

    fn change(partition: i32, offset: Option<i64>) -> OffsetChange {
        OffsetChange {
            group: "g".into(),
            topic: "t".into(),
            partition,
            committed: offset.map(|offset| CommittedOffset {
                offset,
                leader_epoch: 4,
                metadata: "m".into(),
                commit_time_ms: 5,
            }),
        }
    }

    /// Commits and tombstones go out as one Kafka batch whose records carry
    /// the offset-commit key and value, and read back as the same changes.
    #[test]
    fn a_batch_of_commits_and_tombstones_round_trips() {
        let changes = vec![change(0, Some(10)), change(1, None), change(2, Some(7))];
        let batch = encode_batch(&changes, 99).unwrap();
        assert_eq!(batch.info.record_count, 3);
        let mut whole = BytesMut::from(&batch.header[..]);
        whole.extend_from_slice(&batch.body);
        let mut found = Vec::new();
        let next = decode_batches(whole.freeze(), 0, &mut found).unwrap();
        assert_eq!(next, 3);
        assert_eq!(found, changes);
    }
}
