//! Typed helpers for the cluster APIs `millrace cluster status` needs:
//! DescribeCluster (key 60) and DescribeQuorum (key 55, the KRaft metadata
//! quorum of `__cluster_metadata`). Both are Apache Kafka's: a broker
//! forwards DescribeQuorum to the active controller.

use super::{ClientError, KafkaClient};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::ReplicaState;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeQuorumRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

/// The metadata log's topic and partition in DescribeQuorum.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// DescribeCluster v2 carries each broker's fenced state and can include
/// fenced brokers.
const DESCRIBE_CLUSTER_FENCED_VERSION: i16 = 2;
/// DescribeCluster's `endpoint_type` for brokers.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

/// One broker of a DescribeCluster answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBroker {
    /// Its `node.id`.
    pub node_id: i32,
    /// Its advertised `host:port`.
    pub address: String,
    /// Its rack, if any.
    pub rack: Option<String>,
    /// Whether the controller fences it; `None` when the broker answered a
    /// DescribeCluster version without the field (below v2).
    pub fenced: Option<bool>,
}

/// A DescribeCluster answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The node the answer names as controller (-1 when none).
    pub controller_id: i32,
    /// The brokers, fenced ones included where the version allows.
    pub brokers: Vec<ClusterBroker>,
}

/// One member of the metadata quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    /// Its `node.id`.
    pub node_id: i32,
    /// The end of its metadata log, as the leader last saw it (-1 unknown).
    pub log_end_offset: i64,
    /// When it last fetched from the leader (ms since the epoch; -1 unknown).
    pub last_fetch_timestamp_ms: i64,
    /// When it was last caught up (ms since the epoch; -1 unknown).
    pub last_caught_up_timestamp_ms: i64,
}

/// A DescribeQuorum answer for the metadata log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    /// The controller leader (-1 when none).
    pub leader_id: i32,
    /// Its epoch.
    pub leader_epoch: i32,
    /// The metadata log's high watermark: the committed metadata offset.
    pub high_watermark: i64,
    /// The voters.
    pub voters: Vec<QuorumReplica>,
    /// The observers (brokers following the log without voting).
    pub observers: Vec<QuorumReplica>,
}

fn replicas(states: &[ReplicaState]) -> Vec<QuorumReplica> {
    states
        .iter()
        .map(|r| QuorumReplica {
            node_id: r.replica_id.0,
            log_end_offset: r.log_end_offset,
            last_fetch_timestamp_ms: r.last_fetch_timestamp,
            last_caught_up_timestamp_ms: r.last_caught_up_timestamp,
        })
        .collect()
}

impl KafkaClient {
    /// The cluster id, controller and brokers (fenced ones too, from v2).
    pub fn describe_cluster(&mut self) -> Result<ClusterDescription, ClientError> {
        let version = self.version_for::<DescribeClusterRequest>()?;
        let mut request = DescribeClusterRequest::default();
        if version >= 1 {
            request = request.with_endpoint_type(ENDPOINT_TYPE_BROKERS);
        }
        if version >= DESCRIBE_CLUSTER_FENCED_VERSION {
            request = request.with_include_fenced_brokers(true);
        }
        let response = self.send_at(version, &request)?;
        ClientError::check(response.error_code, response.error_message.as_ref())?;
        let brokers = response
            .brokers
            .iter()
            .map(|b| ClusterBroker {
                node_id: b.broker_id.0,
                address: format!("{}:{}", b.host.as_str(), b.port),
                rack: b.rack.as_ref().map(|r| r.to_string()),
                fenced: (version >= DESCRIBE_CLUSTER_FENCED_VERSION).then_some(b.is_fenced),
            })
            .collect();
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.to_string(),
            controller_id: response.controller_id.0,
            brokers,
        })
    }

    /// The metadata quorum: leader, epoch, high watermark, voters and
    /// observers with their log end offsets.
    pub fn describe_quorum(&mut self) -> Result<QuorumDescription, ClientError> {
        let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
        let response = self.send(&request)?;
        ClientError::check(response.error_code, response.error_message.as_ref())?;
        let partition = response
            .topics
            .iter()
            .filter(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == 0)
            .ok_or_else(|| {
                ClientError::Protocol(format!("DescribeQuorum answered no {METADATA_TOPIC}-0"))
            })?;
        ClientError::check(partition.error_code, partition.error_message.as_ref())?;
        Ok(QuorumDescription {
            leader_id: partition.leader_id.0,
            leader_epoch: partition.leader_epoch,
            high_watermark: partition.high_watermark,
            voters: replicas(&partition.current_voters),
            observers: replicas(&partition.observers),
        })
    }
}
