//! OffsetFetch (key 9): committed offsets, read on each group's owning shard.
//! v1-7 ask for one group; v8+ for several (each routed to its owner).
//! Partitions without a commit answer offset -1.

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::group::error_code;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 9 };

type TopicPartitions = Option<Vec<(TopicName, Vec<i32>)>>;

async fn fetch_group(
    ctx: &Rc<ShardContext>,
    group_id: GroupId,
    topics: TopicPartitions,
) -> OffsetFetchResponseGroup {
    let name = group_id.0.to_string();
    let routed = GroupRequest::FetchOffsets {
        group_id: group_id.clone(),
        topics,
    };
    match call_owner(ctx, &name, routed).await {
        Ok(GroupResponse::FetchOffsets(group)) => group,
        Ok(_) => OffsetFetchResponseGroup::default()
            .with_group_id(group_id)
            .with_error_code(error_code::COORDINATOR_NOT_AVAILABLE),
        Err(code) => OffsetFetchResponseGroup::default()
            .with_group_id(group_id)
            .with_error_code(code),
    }
}

/// The v1-7 form of one group's answer.
fn single_group_form(meta: RequestMeta, group: OffsetFetchResponseGroup) -> OffsetFetchResponse {
    let topics = group
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_committed_offset(p.committed_offset)
                        .with_committed_leader_epoch(p.committed_leader_epoch)
                        .with_metadata(p.metadata)
                        .with_error_code(p.error_code)
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetFetchResponse::default().with_topics(topics);
    if meta.version >= 2 {
        response.with_error_code(group.error_code)
    } else {
        response
    }
}

/// Answers an OffsetFetch request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: OffsetFetchRequest,
) -> Option<Vec<Piece>> {
    if meta.version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in request.groups {
            let topics = group.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|t| (t.name, t.partition_indexes))
                    .collect()
            });
            groups.push(fetch_group(ctx, group.group_id, topics).await);
        }
        return respond(meta, &OffsetFetchResponse::default().with_groups(groups));
    }
    let topics = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    let group = fetch_group(ctx, request.group_id, topics).await;
    respond(meta, &single_group_form(meta, group))
}
