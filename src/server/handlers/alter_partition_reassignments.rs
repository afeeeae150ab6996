//! AlterPartitionReassignments (key 45, KIP-455): move partitions to other
//! brokers (`kafka-reassign-partitions.sh --execute`, the Admin client's
//! `alterPartitionReassignments`), or cancel a move in flight (replicas
//! null). In a cluster the request goes to the active controller, which
//! commits the first stage before it answers; the move then completes as
//! the new replicas catch up ([`crate::cluster::controller`]'s
//! `reassignment`). A single node has no other broker to move to: every
//! partition gets INVALID_REPLICA_ASSIGNMENT, or NO_REASSIGNMENT_IN_PROGRESS
//! for a cancellation.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::cluster::controller::api::AlterReassignmentsRequest as Reassignments;
use crate::cluster::member::view::ClusterView;
use crate::cluster::{BrokerId, TopicIdPartition};
use crate::protocol::piece::Piece;
use crate::shard::calls::cluster::alter_reassignments;
use crate::shard::ShardContext;
use kafka_protocol::messages::alter_partition_reassignments_request::ReassignablePartition;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use std::collections::HashMap;
use std::rc::Rc;

/// Versions served (v1: AllowReplicationFactorChange, KIP-860).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };
/// Kafka's NO_REASSIGNMENT_IN_PROGRESS.
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

/// Per partition of the request, in order: where its answer comes from.
enum Slot {
    /// Answered here with this code.
    Local(i16),
    /// Sent to the controller as this partition.
    Asked(TopicIdPartition),
}

/// Answers an AlterPartitionReassignments request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: AlterPartitionReassignmentsRequest,
) -> Option<Vec<Piece>> {
    let view = ctx.cluster_view();
    let table = ctx.topic_table();
    let mut slots: Vec<(String, Vec<(i32, Slot)>)> = Vec::new();
    let mut asked = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let known = table.get(&name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let index = partition.partition_index;
            let slot = match known.filter(|t| (0..t.partitions).contains(&index)) {
                None => Slot::Local(error_code::UNKNOWN_TOPIC_OR_PARTITION),
                Some(t) => {
                    let tp = TopicIdPartition {
                        topic_id: t.id,
                        partition: index,
                    };
                    let view = ctx.cluster.enabled.then_some(view.as_deref());
                    match check(view, tp, partition, &request) {
                        Some(code) => Slot::Local(code),
                        None => {
                            let target = partition.replicas.as_deref().map(to_ids);
                            asked.push((tp, target));
                            Slot::Asked(tp)
                        }
                    }
                }
            };
            partitions.push((index, slot));
        }
        slots.push((name, partitions));
    }
    let mut top_error = error_code::NONE;
    let mut outcomes = HashMap::new();
    if !asked.is_empty() {
        let partitions = asked.clone();
        match alter_reassignments(ctx, Reassignments { partitions }).await {
            Ok(list) => outcomes.extend(list),
            Err(code) => top_error = code,
        }
    }
    let code_of = |slot: &Slot| match slot {
        Slot::Local(code) => *code,
        Slot::Asked(tp) => outcomes.get(tp).copied().unwrap_or(top_error),
    };
    let responses = slots
        .iter()
        .map(|(name, partitions)| {
            ReassignableTopicResponse::default()
                .with_name(kafka_protocol::messages::TopicName(name.clone().into()))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|(index, slot)| {
                            ReassignablePartitionResponse::default()
                                .with_partition_index(*index)
                                .with_error_code(code_of(slot))
                        })
                        .collect(),
                )
        })
        .collect();
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_error_code(top_error)
        .with_responses(responses);
    respond(meta, &response)
}

fn to_ids(replicas: &[kafka_protocol::messages::BrokerId]) -> Vec<BrokerId> {
    replicas.iter().map(|b| b.0).collect()
}

/// What is refused before the controller is asked: anything on a single
/// node (`view` `None`), and (v1) a change of replication factor the client
/// did not allow.
fn check(
    view: Option<Option<&ClusterView>>,
    tp: TopicIdPartition,
    partition: &ReassignablePartition,
    request: &AlterPartitionReassignmentsRequest,
) -> Option<i16> {
    let Some(view) = view else {
        return Some(match partition.replicas {
            None => NO_REASSIGNMENT_IN_PROGRESS,
            Some(_) => error_code::INVALID_REPLICA_ASSIGNMENT,
        });
    };
    let target = partition.replicas.as_ref()?;
    let current = view?.partition(&tp.topic_id, tp.partition)?;
    let current_rf = current.replicas.len() - current.removing.len();
    if !request.allow_replication_factor_change && target.len() != current_rf {
        return Some(error_code::INVALID_REPLICATION_FACTOR);
    }
    None
}
