//! Typed helpers for the admin APIs the `millrace group` commands need.
//!
//! Each helper builds the request for whatever version was negotiated
//! (e.g. FindCoordinator v4+ and OffsetFetch v8+ use their batched forms)
//! and turns error codes into [`ClientError::Broker`].

use super::{ClientError, KafkaClient};
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    metadata_request::MetadataRequestTopic, BrokerId, DeleteGroupsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, ListGroupsRequest, ListOffsetsRequest, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Request, StrBytes};
use std::collections::BTreeMap;

/// FindCoordinator key type for consumer groups.
const COORDINATOR_KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator v4 introduced batched `coordinator_keys`.
const FIND_COORDINATOR_BATCHED_VERSION: i16 = 4;
/// OffsetFetch v8 introduced the multi-group form.
const OFFSET_FETCH_MULTI_GROUP_VERSION: i16 = 8;
/// ListOffsets replica id of an ordinary client (not a follower broker).
const CONSUMER_REPLICA_ID: i32 = -1;
/// ListOffsets special timestamp: the log start offset.
const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets special timestamp: the log end offset.
const LATEST_TIMESTAMP: i64 = -1;
/// OffsetCommit "simple" commit: no generation, no member (empty groups only).
const SIMPLE_COMMIT_GENERATION: i32 = -1;
/// OffsetCommit retention: the broker's default.
const DEFAULT_RETENTION_MS: i64 = -1;
/// Committed leader epoch when unknown.
const UNKNOWN_LEADER_EPOCH: i32 = -1;
/// OffsetFetch's answer for a partition without a committed offset.
pub const NO_COMMITTED_OFFSET: i64 = -1;

/// A topic and partition.
pub type TopicPartition = (String, i32);

/// Brokers and topics from a Metadata answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Broker node id to `host:port`.
    pub brokers: BTreeMap<i32, String>,
    /// Topic name to its metadata.
    pub topics: BTreeMap<String, TopicMetadata>,
}

/// One topic in a Metadata answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic-level error code (3 = unknown topic).
    pub error_code: i16,
    /// Partition index to leader node id.
    pub partition_leaders: BTreeMap<i32, i32>,
}

/// Where a group's coordinator is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// Its node id.
    pub node_id: i32,
    /// Its `host:port`.
    pub address: String,
}

/// One group from ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// "consumer" for consumer groups; may be empty.
    pub protocol_type: String,
    /// The state, when the broker reports it (ListGroups v4+).
    pub state: Option<String>,
}

/// One group from DescribeGroups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// Empty, PreparingRebalance, CompletingRebalance, Stable or Dead.
    pub state: String,
    /// The protocol type ("consumer").
    pub protocol_type: String,
    /// The selected protocol (assignor name).
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberDescription>,
}

/// One member of a described group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// The client id.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// Partitions assigned to it, decoded when the group uses the consumer protocol.
    pub assignment: Vec<TopicPartition>,
}

/// Which offset ListOffsets should look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (next offset to be written).
    Latest,
    /// The first offset with a timestamp at or after this many ms since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => EARLIEST_TIMESTAMP,
            OffsetSpec::Latest => LATEST_TIMESTAMP,
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn group_id(s: &str) -> GroupId {
    GroupId(str_bytes(s))
}

fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

impl KafkaClient {
    /// Metadata for `topics`, or for every topic when `None`.
    pub fn metadata(&mut self, topics: Option<&[&str]>) -> Result<ClusterMetadata, ClientError> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|name| MetadataRequestTopic::default().with_name(Some(topic_name(name))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        let response = self.send(&request)?;
        let brokers = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let partition_leaders = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.leader_id.0))
                    .collect();
                Some((
                    name,
                    TopicMetadata {
                        error_code: t.error_code,
                        partition_leaders,
                    },
                ))
            })
            .collect();
        Ok(ClusterMetadata { brokers, topics })
    }

    /// The coordinator of consumer group `group`.
    pub fn find_coordinator(&mut self, group: &str) -> Result<Coordinator, ClientError> {
        let version = self.version_for::<FindCoordinatorRequest>()?;
        let request = FindCoordinatorRequest::default().with_key_type(COORDINATOR_KEY_TYPE_GROUP);
        let request = if version >= FIND_COORDINATOR_BATCHED_VERSION {
            request.with_coordinator_keys(vec![str_bytes(group)])
        } else {
            request.with_key(str_bytes(group))
        };
        let response = self.send_at(version, &request)?;
        if version < FIND_COORDINATOR_BATCHED_VERSION {
            ClientError::check(response.error_code, response.error_message.as_ref())?;
            return Ok(coordinator(response.node_id, &response.host, response.port));
        }
        let found = response
            .coordinators
            .iter()
            .find(|c| c.key.as_str() == group)
            .ok_or_else(|| ClientError::Protocol(format!("no coordinator entry for {group:?}")))?;
        ClientError::check(found.error_code, found.error_message.as_ref())?;
        Ok(coordinator(found.node_id, &found.host, found.port))
    }

    /// Every group the broker knows (only the groups it coordinates, as Kafka).
    pub fn list_groups(&mut self) -> Result<Vec<GroupListing>, ClientError> {
        let version = self.version_for::<ListGroupsRequest>()?;
        let response = self.send_at(version, &ListGroupsRequest::default())?;
        ClientError::check(response.error_code, None)?;
        // ListGroups v4 added the state; earlier answers leave it empty.
        let has_state = version >= 4;
        Ok(response
            .groups
            .iter()
            .map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: has_state.then(|| g.group_state.to_string()),
            })
            .collect())
    }

    /// Describes one group (send it to the group's coordinator).
    pub fn describe_group(&mut self, group: &str) -> Result<GroupDescription, ClientError> {
        let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
        let response = self.send(&request)?;
        let described = response
            .groups
            .into_iter()
            .find(|g| g.group_id.0.as_str() == group)
            .ok_or_else(|| ClientError::Protocol(format!("no description for {group:?}")))?;
        ClientError::check(described.error_code, described.error_message.as_ref())?;
        let consumer_protocol = described.protocol_type.as_str() == "consumer";
        let members = described
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                assignment: if consumer_protocol {
                    decode_assignment(&m.member_assignment)
                } else {
                    Vec::new()
                },
            })
            .collect();
        Ok(GroupDescription {
            group_id: group.to_string(),
            state: described.group_state.to_string(),
            protocol_type: described.protocol_type.to_string(),
            protocol: described.protocol_data.to_string(),
            members,
        })
    }

    /// Deletes groups; returns each group's error code (0 = deleted).
    pub fn delete_groups(&mut self, groups: &[&str]) -> Result<BTreeMap<String, i16>, ClientError> {
        let request = DeleteGroupsRequest::default()
            .with_groups_names(groups.iter().map(|g| group_id(g)).collect());
        let response = self.send(&request)?;
        Ok(response
            .results
            .iter()
            .map(|r| (r.group_id.0.to_string(), r.error_code))
            .collect())
    }

    /// Committed offsets of `group`; `topics` limits the answer to those
    /// partitions, `None` asks for every committed partition.
    pub fn offset_fetch(
        &mut self,
        group: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        let version = self.version_for::<OffsetFetchRequest>()?;
        if version >= OFFSET_FETCH_MULTI_GROUP_VERSION {
            self.offset_fetch_multi_group(version, group, topics)
        } else {
            self.offset_fetch_single_group(version, group, topics)
        }
    }

    fn offset_fetch_single_group(
        &mut self,
        version: i16,
        group: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        let request = OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(topics.map(|list| {
                list.iter()
                    .map(|(name, partitions)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(topic_name(name))
                            .with_partition_indexes(partitions.clone())
                    })
                    .collect()
            }));
        let response = self.send_at(version, &request)?;
        ClientError::check(response.error_code, None)?;
        let mut offsets = BTreeMap::new();
        for topic in &response.topics {
            for p in &topic.partitions {
                ClientError::check(p.error_code, None)?;
                offsets.insert(
                    (topic.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
        Ok(offsets)
    }

    fn offset_fetch_multi_group(
        &mut self,
        version: i16,
        group: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<BTreeMap<TopicPartition, i64>, ClientError> {
        let request_group = OffsetFetchRequestGroup::default()
            .with_group_id(group_id(group))
            .with_topics(topics.map(|list| {
                list.iter()
                    .map(|(name, partitions)| {
                        OffsetFetchRequestTopics::default()
                            .with_name(topic_name(name))
                            .with_partition_indexes(partitions.clone())
                    })
                    .collect()
            }));
        let request = OffsetFetchRequest::default().with_groups(vec![request_group]);
        let response = self.send_at(version, &request)?;
        let answer = response
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == group)
            .ok_or_else(|| ClientError::Protocol(format!("no offsets entry for {group:?}")))?;
        ClientError::check(answer.error_code, None)?;
        let mut offsets = BTreeMap::new();
        for topic in &answer.topics {
            for p in &topic.partitions {
                ClientError::check(p.error_code, None)?;
                offsets.insert(
                    (topic.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
        Ok(offsets)
    }

    /// Commits `offsets` for `group` as a "simple" commit (generation -1, no
    /// member id), which brokers accept only while the group has no members.
    pub fn offset_commit(
        &mut self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<(), ClientError> {
        let request = OffsetCommitRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id_or_member_epoch(SIMPLE_COMMIT_GENERATION)
            .with_member_id(StrBytes::default())
            .with_retention_time_ms(DEFAULT_RETENTION_MS)
            .with_topics(commit_topics(offsets));
        let response = self.send(&request)?;
        for topic in &response.topics {
            for p in &topic.partitions {
                ClientError::check(p.error_code, None)?;
            }
        }
        Ok(())
    }

    /// Offsets of `partitions` of `topic` by `spec` (send to their leader).
    pub fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<i32, i64>, ClientError> {
        let timeout_ms = i32::try_from(self.timeout().as_millis()).unwrap_or(i32::MAX);
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(CONSUMER_REPLICA_ID))
            .with_timeout_ms(timeout_ms)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*p)
                                .with_current_leader_epoch(UNKNOWN_LEADER_EPOCH)
                                .with_timestamp(spec.timestamp())
                        })
                        .collect(),
                )]);
        let response = self.send(&request)?;
        let mut offsets = BTreeMap::new();
        for t in response
            .topics
            .iter()
            .filter(|t| t.name.0.as_str() == topic)
        {
            for p in &t.partitions {
                ClientError::check(p.error_code, None)?;
                offsets.insert(p.partition_index, p.offset);
            }
        }
        Ok(offsets)
    }
}

fn coordinator(node_id: BrokerId, host: &StrBytes, port: i32) -> Coordinator {
    Coordinator {
        node_id: node_id.0,
        address: format!("{}:{port}", host.as_str()),
    }
}

fn commit_topics(offsets: &BTreeMap<TopicPartition, i64>) -> Vec<OffsetCommitRequestTopic> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    // BTreeMap order keeps each topic's partitions together.
    for ((topic, partition), offset) in offsets {
        let entry = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(UNKNOWN_LEADER_EPOCH);
        match topics.last_mut() {
            Some(last) if last.name.0.as_str() == topic => last.partitions.push(entry),
            _ => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    topics
}

/// The partitions in a consumer-protocol assignment; empty when it does not decode.
pub fn decode_assignment(bytes: &bytes::Bytes) -> Vec<TopicPartition> {
    let mut buf = bytes.clone();
    if buf.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    bytes::Buf::advance(&mut buf, 2);
    // Decode at most the highest version the crate knows; newer ones only append fields.
    let version = version
        .min(<ConsumerProtocolAssignment as kafka_protocol::protocol::Message>::VERSIONS.max);
    match ConsumerProtocolAssignment::decode(&mut buf, version) {
        Ok(assignment) => assignment
            .assigned_partitions
            .iter()
            .flat_map(|tp| {
                let topic = tp.topic.0.to_string();
                tp.partitions.iter().map(move |p| (topic.clone(), *p))
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Whether `Req` is supported by the broker at a version this client can send.
pub fn supports<Req: Request>(client: &KafkaClient) -> bool {
    client.version_for::<Req>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn commit_topics_group_partitions_by_topic() {
        let offsets: BTreeMap<TopicPartition, i64> = [
            (("a".to_string(), 0), 5),
            (("a".to_string(), 1), 6),
            (("b".to_string(), 0), 7),
        ]
        .into_iter()
        .collect();
        let topics = commit_topics(&offsets);
        assert_eq!(topics.len(), 2);
        assert_eq!(topics[0].name.0.as_str(), "a");
        assert_eq!(topics[0].partitions.len(), 2);
        assert_eq!(topics[1].partitions[0].committed_offset, 7);
    }

    #[test]
    fn decodes_a_consumer_assignment() {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            AssignedPartitions::default()
                .with_topic(topic_name("t"))
                .with_partitions(vec![0, 1]),
        ]);
        let mut buf = bytes::BytesMut::new();
        buf.extend_from_slice(&1i16.to_be_bytes());
        assignment.encode(&mut buf, 1).unwrap();
        let decoded = decode_assignment(&buf.freeze());
        assert_eq!(decoded, vec![("t".to_string(), 0), ("t".to_string(), 1)]);
        assert!(decode_assignment(&bytes::Bytes::from_static(b"\x00")).is_empty());
    }

    #[test]
    fn offset_specs_map_to_kafka_timestamps() {
        assert_eq!(OffsetSpec::Earliest.timestamp(), -2);
        assert_eq!(OffsetSpec::Latest.timestamp(), -1);
        assert_eq!(OffsetSpec::Timestamp(1234).timestamp(), 1234);
    }
}
