//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3), or the
//! first offset at or after a time. Resolved on the owning shard by the
//! partition layer ([`crate::partition::list_offsets`]): a client's by the
//! leader only, a debugging tool's (replica id -2) by any replica.

use super::{error_code, legacy_versions, respond, RequestMeta, VersionRange};
use crate::partition::list_offsets::{FoundOffset, ListOffsetsPart, OffsetQuery, OffsetsReader};
use crate::protocol::piece::Piece;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::ShardContext;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use std::rc::Rc;
use std::sync::Arc;

/// Versions served.
/// v0 (Sarama's default Version) is decoded as v1 by `legacy_versions`.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 10 };
/// Answers a ListOffsets request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: ListOffsetsRequest,
) -> Option<Vec<Piece>> {
    let table = ctx.topic_table();
    let mut parts: Vec<Option<ListOffsetsPart>> = (0..ctx.nr_shards).map(|_| None).collect();
    let mut slots = Vec::new();
    let reader = OffsetsReader::from_replica_id(request.replica_id.0);
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let topic_name: Arc<str> = Arc::from(name);
        for partition in &topic.partitions {
            let index = partition.partition_index;
            let Some(topic_meta) = table.get(name).filter(|_| table.has_partition(name, index))
            else {
                slots.push(Err(error_code::UNKNOWN_TOPIC_OR_PARTITION));
                continue;
            };
            // A debugging tool's lookup goes to the replica's log here, if any.
            if reader == OffsetsReader::Consumer && !ctx.leads(&topic_meta.id, index) {
                slots.push(Err(error_code::NOT_LEADER_OR_FOLLOWER));
                continue;
            }
            let shard = ctx.owner_of(name, index);
            let part = parts[shard].get_or_insert_with(|| ListOffsetsPart {
                partitions: Vec::new(),
            });
            part.partitions.push(OffsetQuery {
                topic: topic_name.clone(),
                partition: index,
                timestamp: partition.timestamp,
                // Before v4 there is no current_leader_epoch: no check.
                current_leader_epoch: partition.current_leader_epoch,
                reader,
            });
            slots.push(Ok((shard, part.partitions.len() - 1)));
        }
    }
    let mut answers: Vec<Vec<Result<FoundOffset, i16>>> =
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
                    let found = match slots.next() {
                        None => Err(error_code::UNKNOWN_TOPIC_OR_PARTITION),
                        Some(Err(code)) => Err(code),
                        Some(Ok((shard, index))) => answers[shard]
                            .get(index)
                            .copied()
                            .unwrap_or(Err(error_code::NOT_LEADER_OR_FOLLOWER)),
                    };
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(partition.partition_index);
                    match found {
                        // leader_epoch exists from v4; the crate refuses it before.
                        Ok(found) if meta.version >= 4 => response
                            .with_offset(found.offset)
                            .with_timestamp(found.timestamp)
                            .with_leader_epoch(found.leader_epoch),
                        Ok(found) => response
                            .with_offset(found.offset)
                            .with_timestamp(found.timestamp),
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
