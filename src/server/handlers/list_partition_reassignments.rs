//! ListPartitionReassignments (key 46, KIP-455): the moves in flight
//! (`kafka-reassign-partitions.sh --verify` and `--list`, the Admin
//! client's `listPartitionReassignments`), answered from this broker's view
//! of the committed metadata: each reassigning partition with its replicas
//! and the ones being added and removed. Asked for named topics, unknown
//! ones and partitions not moving are left out, as Kafka does.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::cluster::member::view::{ClusterView, PartitionView};
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

/// Answers a ListPartitionReassignments request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: ListPartitionReassignmentsRequest,
) -> Option<Vec<Piece>> {
    let mut topics = Vec::new();
    if let Some(view) = ctx.cluster_view() {
        match &request.topics {
            None => {
                let mut names: Vec<String> = view.table.iter().map(|t| t.name.clone()).collect();
                names.sort();
                for name in names {
                    topics.extend(ongoing(&view, &name, None));
                }
            }
            Some(asked) => {
                for topic in asked {
                    let name = topic.name.0.to_string();
                    topics.extend(ongoing(&view, &name, Some(&topic.partition_indexes)));
                }
            }
        }
    }
    let response = ListPartitionReassignmentsResponse::default()
        .with_error_code(error_code::NONE)
        .with_topics(topics);
    respond(meta, &response)
}

/// The reassigning partitions of topic `name` (of `only` when given).
fn ongoing(
    view: &ClusterView,
    name: &str,
    only: Option<&Vec<i32>>,
) -> Option<OngoingTopicReassignment> {
    let topic = view.table.get(name)?;
    let partitions = view.partitions.get(&topic.id)?;
    let moving: Vec<OngoingPartitionReassignment> = partitions
        .iter()
        .enumerate()
        .filter(|(index, p)| {
            let asked = only.is_none_or(|list| list.contains(&(*index as i32)));
            asked && is_reassigning(p)
        })
        .map(|(index, p)| {
            let ids =
                |list: &[i32]| -> Vec<BrokerId> { list.iter().map(|b| BrokerId(*b)).collect() };
            OngoingPartitionReassignment::default()
                .with_partition_index(index as i32)
                .with_replicas(ids(&p.replicas))
                .with_adding_replicas(ids(&p.adding))
                .with_removing_replicas(ids(&p.removing))
        })
        .collect();
    (!moving.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(name.to_string().into()))
            .with_partitions(moving)
    })
}

fn is_reassigning(p: &PartitionView) -> bool {
    !p.adding.is_empty() || !p.removing.is_empty()
}
