//! DescribeQuorum (key 55, KIP-595/KIP-853): the metadata quorum as its
//! Raft leader sees it (Kafka's answer): the leader and term, the committed
//! offset, each voter and observer (learner) with the log end offset and
//! last fetch the leader tracks. A broker that does not lead asks the
//! leader through shard 0's cluster member. A single node is its own
//! quorum of one.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::cluster::member::quorum::{QuorumAnswer, QuorumOp, QuorumState, ReplicaState};
use crate::protocol::piece::Piece;
use crate::shard::calls::quorum;
use crate::shard::ShardContext;
use kafka_protocol::messages::describe_quorum_response::{
    PartitionData, ReplicaState as WireReplica, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served (Kafka 4.x serves 0-2).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };
/// The metadata log's topic, the only one with a quorum.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// Answers a DescribeQuorum request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DescribeQuorumRequest,
) -> Option<Vec<Piece>> {
    let asks_quorum = request.topics.iter().any(|t| {
        t.topic_name.0.as_str() == METADATA_TOPIC
            && t.partitions.iter().any(|p| p.partition_index == 0)
    });
    let quorum = match ctx.cluster_view() {
        None => QuorumAnswer::State(single_node(ctx.identity.node_id)),
        Some(_) if asks_quorum => quorum::request(ctx, QuorumOp::Describe).await,
        Some(_) => QuorumAnswer::Done,
    };
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| describe(&topic.topic_name, p.partition_index, &quorum))
                .collect();
            TopicData::default()
                .with_topic_name(topic.topic_name.clone())
                .with_partitions(partitions)
        })
        .collect();
    respond(meta, &DescribeQuorumResponse::default().with_topics(topics))
}

fn single_node(node_id: i32) -> QuorumState {
    let me = ReplicaState {
        id: node_id,
        log_end_offset: -1,
        last_fetch_ms: -1,
        last_caught_up_ms: -1,
    };
    QuorumState {
        leader: node_id,
        term: 1,
        high_watermark: -1,
        voters: vec![me],
        observers: Vec::new(),
    }
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
