//! DescribeQuorum (key 55, KIP-595/KIP-853): the metadata quorum as this
//! broker knows it: the Raft leader and term, the committed offset, each
//! voter and observer (learner) with the log end offset the leader last
//! saw (-1 when this broker does not lead, as it does not track them). A
//! single node is its own quorum of one.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::cluster::member::view::{QuorumReplica, QuorumView};
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::describe_quorum_response::{PartitionData, ReplicaState, TopicData};
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
pub fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DescribeQuorumRequest,
) -> Option<Vec<Piece>> {
    let quorum = match ctx.cluster_view() {
        Some(view) => view.quorum.clone(),
        None => single_node(ctx.identity.node_id),
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

fn single_node(node_id: i32) -> QuorumView {
    let me = QuorumReplica {
        id: node_id,
        log_end_offset: -1,
    };
    QuorumView {
        leader: Some(node_id),
        term: 1,
        high_watermark: -1,
        voters: vec![me],
        observers: Vec::new(),
    }
}

fn describe(topic: &TopicName, partition: i32, quorum: &QuorumView) -> PartitionData {
    let data = PartitionData::default().with_partition_index(partition);
    if topic.0.as_str() != METADATA_TOPIC || partition != 0 {
        return data
            .with_error_code(error_code::UNKNOWN_TOPIC_OR_PARTITION)
            .with_error_message(Some(StrBytes::from_static_str(
                "only __cluster_metadata-0 has a quorum",
            )));
    }
    let states = |replicas: &[QuorumReplica]| {
        replicas
            .iter()
            .map(|r| {
                ReplicaState::default()
                    .with_replica_id(BrokerId(r.id))
                    .with_log_end_offset(r.log_end_offset)
                    .with_last_fetch_timestamp(-1)
                    .with_last_caught_up_timestamp(-1)
            })
            .collect()
    };
    data.with_leader_id(BrokerId(quorum.leader.unwrap_or(-1)))
        .with_leader_epoch(quorum.term.clamp(0, i32::MAX as i64) as i32)
        .with_high_watermark(quorum.high_watermark)
        .with_current_voters(states(&quorum.voters))
        .with_observers(states(&quorum.observers))
}
