//! DescribeQuorum's answer (key 55) built from a [`QuorumAnswer`], the same
//! on a broker's client listener and on the CONTROLLER listener (KIP-919).

use super::quorum::{QuorumAnswer, ReplicaState, VoterEndpoint};
use crate::protocol::error_code;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState as WireReplica, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// The metadata log's topic, the only one with a quorum.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// Whether `request` asks for the metadata quorum (`__cluster_metadata-0`),
/// the one partition whose answer needs the quorum's state.
pub fn asks_quorum(request: &DescribeQuorumRequest) -> bool {
    request.topics.iter().any(|t| {
        t.topic_name.0.as_str() == METADATA_TOPIC
            && t.partitions.iter().any(|p| p.partition_index == 0)
    })
}

/// The first version with `Nodes` (KIP-853).
const NODES_VERSION_MIN: i16 = 2;

/// The answer to `request` (of `version`): `quorum` for
/// `__cluster_metadata-0`, an error for any other partition asked; from v2
/// the voters' endpoints, as Kafka lists them.
pub fn describe_quorum_response(
    version: i16,
    request: &DescribeQuorumRequest,
    quorum: &QuorumAnswer,
) -> DescribeQuorumResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| describe(&topic.topic_name, p.partition_index, quorum))
                .collect();
            TopicData::default()
                .with_topic_name(topic.topic_name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let response = DescribeQuorumResponse::default().with_topics(topics);
    match quorum {
        QuorumAnswer::State(state) if version >= NODES_VERSION_MIN => {
            response.with_nodes(state.voter_endpoints.iter().map(node).collect())
        }
        _ => response,
    }
}

fn node(endpoint: &VoterEndpoint) -> Node {
    let listener = Listener::default()
        .with_name(StrBytes::from_string(endpoint.listener.clone()))
        .with_host(StrBytes::from_string(endpoint.host.clone()))
        .with_port(endpoint.port);
    Node::default()
        .with_node_id(BrokerId(endpoint.id))
        .with_listeners(vec![listener])
}

fn describe(topic: &TopicName, partition: i32, answer: &QuorumAnswer) -> PartitionData {
    let data = PartitionData::default().with_partition_index(partition);
    if topic.0.as_str() != METADATA_TOPIC || partition != 0 {
        return data
            .with_error_code(error_code::UNKNOWN_TOPIC_OR_PARTITION)
            .with_error_message(Some(StrBytes::from_static_str(
                "only __cluster_metadata-0 has a quorum",
            )));
    }
    let quorum = match answer {
        QuorumAnswer::State(quorum) => quorum,
        QuorumAnswer::Refused { code, message } => {
            return data
                .with_error_code(*code)
                .with_error_message(Some(StrBytes::from_string(message.clone())))
        }
        QuorumAnswer::Done => return data.with_error_code(error_code::UNKNOWN_SERVER_ERROR),
    };
    let states = |replicas: &[ReplicaState]| {
        replicas
            .iter()
            .map(|r| {
                WireReplica::default()
                    .with_replica_id(BrokerId(r.id))
                    .with_log_end_offset(r.log_end_offset)
                    .with_last_fetch_timestamp(r.last_fetch_ms)
                    .with_last_caught_up_timestamp(r.last_caught_up_ms)
            })
            .collect()
    };
    data.with_leader_id(BrokerId(quorum.leader))
        .with_leader_epoch(quorum.term.clamp(0, i32::MAX as i64) as i32)
        .with_high_watermark(quorum.high_watermark)
        .with_current_voters(states(&quorum.voters))
        .with_observers(states(&quorum.observers))
}
