//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3), or the
//! first offset at or after a time. Resolved on the owning shard.

use super::{error_code, legacy_versions, respond, RequestMeta, VersionRange};
use crate::shard::messages::{ListOffsetsPart, ShardRequest, ShardResponse};
use crate::shard::ShardContext;
use crate::storage::piece::Piece;
use crate::storage::PartitionLog;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::records::RecordBatchDecoder;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::sync::Arc;

/// Versions served.
/// v0 (Sarama's default Version) is decoded as v1 by `legacy_versions`.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 10 };
/// Special timestamps of the request.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-1005: earliest offset held locally (no tiered storage: earliest).
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// KIP-1005: latest tiered offset (no tiered storage: none, answered -1).
const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// Answers a ListOffsets request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: ListOffsetsRequest,
) -> Option<Vec<Piece>> {
    let table = ctx.topic_table();
    let mut parts: Vec<Option<ListOffsetsPart>> = (0..ctx.nr_shards).map(|_| None).collect();
    let mut slots = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let topic_name: Arc<str> = Arc::from(name);
        for partition in &topic.partitions {
            let index = partition.partition_index;
            if !table.has_partition(name, index) {
                slots.push(None);
                continue;
            }
            let shard = ctx.owner_of(name, index);
            let part = parts[shard].get_or_insert_with(|| ListOffsetsPart {
                partitions: Vec::new(),
            });
            part.partitions
                .push((topic_name.clone(), index, partition.timestamp));
            slots.push(Some((shard, part.partitions.len() - 1)));
        }
    }
    let mut answers: Vec<Vec<Result<(i64, i64), i16>>> =
        (0..ctx.nr_shards).map(|_| Vec::new()).collect();
    for (shard, part) in parts.into_iter().enumerate() {
        if let Some(part) = part {
            if let Ok(ShardResponse::ListOffsets(found)) = ctx
                .router
                .call(ctx, shard, ShardRequest::ListOffsets(part))
                .await
            {
                answers[shard] = found;
            }
        }
    }
    let mut slots = slots.into_iter();
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| {
                    let found = match slots.next().flatten() {
                        None => Err(error_code::UNKNOWN_TOPIC_OR_PARTITION),
                        Some((shard, index)) => answers[shard]
                            .get(index)
                            .copied()
                            .unwrap_or(Err(error_code::NOT_LEADER_OR_FOLLOWER)),
                    };
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(partition.partition_index);
                    match found {
                        // leader_epoch exists from v4; the crate refuses it before.
                        Ok((offset, timestamp)) if meta.version >= 4 => response
                            .with_offset(offset)
                            .with_timestamp(timestamp)
                            .with_leader_epoch(0),
                        Ok((offset, timestamp)) => {
                            response.with_offset(offset).with_timestamp(timestamp)
                        }
                        Err(code) => response.with_error_code(code),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let response = ListOffsetsResponse::default().with_topics(topics);
    if meta.version < legacy_versions::LIST_OFFSETS_FLOOR {
        return legacy_versions::list_offsets_v0(meta, &response);
    }
    respond(meta, &response)
}

/// The first record of the batch at `batch_offset` whose timestamp matches,
/// as (offset, timestamp). Storage finds the batch; Kafka answers with the
/// record, so the batch is decoded here (decompressed if need be). Admin
/// path only: this copies the batch, which the produce/fetch paths never do.
async fn refine_in_batch(
    log: &PartitionLog,
    batch_offset: i64,
    matches: impl Fn(i64) -> bool,
) -> Option<(i64, i64)> {
    let read = log.read(batch_offset, 1, true).await.ok()?;
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

/// The owning shard's half: (offset, timestamp) per partition, or an error code.
pub async fn resolve_owned(
    ctx: &Rc<ShardContext>,
    part: ListOffsetsPart,
) -> Vec<Result<(i64, i64), i16>> {
    let mut results = Vec::with_capacity(part.partitions.len());
    for (topic, partition, timestamp) in part.partitions {
        let Some(log) = ctx.storage.partition(&topic, partition) else {
            results.push(Err(error_code::NOT_LEADER_OR_FOLLOWER));
            continue;
        };
        let found = match timestamp {
            LATEST_TIMESTAMP => Ok((log.high_watermark(), -1)),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Ok((log.log_start_offset(), -1)),
            LATEST_TIERED_TIMESTAMP => Ok((-1, -1)),
            MAX_TIMESTAMP => match log.max_timestamp_offset().await {
                Ok(Some((batch_offset, max_ts))) => {
                    Ok(refine_in_batch(&log, batch_offset, |ts| ts == max_ts)
                        .await
                        .unwrap_or((batch_offset, max_ts)))
                }
                Ok(None) => Ok((-1, -1)),
                Err(_) => Err(error_code::KAFKA_STORAGE_ERROR),
            },
            target if target >= 0 => match log.offset_for_timestamp(target).await {
                Ok(Some((batch_offset, batch_ts))) => {
                    Ok(refine_in_batch(&log, batch_offset, |ts| ts >= target)
                        .await
                        .unwrap_or((batch_offset, batch_ts)))
                }
                // No record at or after the time: Kafka answers offset -1.
                Ok(None) => Ok((-1, -1)),
                Err(_) => Err(error_code::KAFKA_STORAGE_ERROR),
            },
            _ => Err(error_code::INVALID_REQUEST),
        };
        results.push(found);
    }
    results
}
