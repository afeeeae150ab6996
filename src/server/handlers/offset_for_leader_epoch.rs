//! OffsetForLeaderEpoch (key 23): where a leader epoch ends in a partition's
//! log. Consumers ask after a seek or a leader change to find out whether
//! the log they read was truncated (KIP-320), followers to find where to
//! truncate (KIP-101). Answered on the owning shard by the partition layer
//! ([`crate::partition::epochs`]): the current epoch checked
//! (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH), then Kafka's answer from
//! the epoch cache, (-1, -1) for an epoch it cannot place.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::partition::epochs::{EpochQuery, EpochQueryPart};
use crate::partition::leader_epochs::EpochEnd;
use crate::protocol::piece::Piece;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::ShardContext;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use std::rc::Rc;
use std::sync::Arc;

/// Versions served: Kafka 4's range (KIP-896 removed v0-1); librdkafka asks
/// for v2, the Java client and franz-go for v4.
pub const VERSIONS: VersionRange = VersionRange { min: 2, max: 4 };

/// Answers an OffsetForLeaderEpoch request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: OffsetForLeaderEpochRequest,
) -> Option<Vec<Piece>> {
    let (parts, slots) = plan(ctx, &request);
    let mut answers: Vec<Vec<Result<EpochEnd, i16>>> =
        (0..ctx.nr_shards).map(|_| Vec::new()).collect();
    for (shard, part) in parts.into_iter().enumerate() {
        let Some(part) = part else {
            continue;
        };
        let request = ShardRequest::EpochEnds(part);
        if let Ok(ShardResponse::EpochEnds(ends)) = ctx.router.call(ctx, shard, request).await {
            answers[shard] = ends;
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
                    let answer = EpochEndOffset::default().with_partition(partition.partition);
                    match found {
                        Ok(end) => answer
                            .with_leader_epoch(end.epoch)
                            .with_end_offset(end.end_offset),
                        Err(code) => answer.with_error_code(code),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    respond(
        meta,
        &OffsetForLeaderEpochResponse::default().with_topics(topics),
    )
}

/// A shard's questions, and where each partition's answer will be (`None`:
/// the partition does not exist).
type Plan = (Vec<Option<EpochQueryPart>>, Vec<Option<(usize, usize)>>);

/// Splits the request's partitions by owning shard, in request order.
fn plan(ctx: &ShardContext, request: &OffsetForLeaderEpochRequest) -> Plan {
    let table = ctx.topic_table();
    let mut parts: Vec<Option<EpochQueryPart>> = (0..ctx.nr_shards).map(|_| None).collect();
    let mut slots = Vec::new();
    for topic in &request.topics {
        let name = topic.topic.0.as_str();
        let topic_name: Arc<str> = Arc::from(name);
        for partition in &topic.partitions {
            let index = partition.partition;
            if !table.has_partition(name, index) {
                slots.push(None);
                continue;
            }
            let shard = ctx.owner_of(name, index);
            let part = parts[shard].get_or_insert_with(|| EpochQueryPart {
                partitions: Vec::new(),
            });
            part.partitions.push(EpochQuery {
                topic: topic_name.clone(),
                partition: index,
                current_leader_epoch: partition.current_leader_epoch,
                leader_epoch: partition.leader_epoch,
            });
            slots.push(Some((shard, part.partitions.len() - 1)));
        }
    }
    (parts, slots)
}
