//! Typed helpers for the topic APIs the `millrace topic` commands need:
//! CreateTopics, DeleteTopics, Metadata with replicas and ISR,
//! DescribeConfigs, IncrementalAlterConfigs and DescribeLogDirs.
//!
//! Every per-topic error code becomes a [`ClientError::Broker`]; an API the
//! broker does not serve becomes a [`ClientError::Protocol`] naming the API.

use super::{ClientError, KafkaClient};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, DescribeLogDirsRequest,
    IncrementalAlterConfigsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use std::collections::BTreeMap;

/// Config resource type of a topic (DescribeConfigs, IncrementalAlterConfigs).
const RESOURCE_TYPE_TOPIC: i8 = 2;
/// DescribeConfigs config source of a value that is only the default.
const CONFIG_SOURCE_DEFAULT: i8 = 5;
/// DeleteTopics v6 names topics in `topics` instead of `topic_names`.
const DELETE_TOPICS_STATE_VERSION: i16 = 6;
pub use crate::protocol::error_code::{TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION};
/// Metadata v10 and later may carry topic ids; v12 is the last version whose
/// semantics this client was written for.
const METADATA_MAX_VERSION: i16 = 12;

/// One partition of a described topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition index.
    pub partition: i32,
    /// The partition-level error code (0 = fine).
    pub error_code: i16,
    /// The leader's node id (-1 = none).
    pub leader: i32,
    /// Node ids of all replicas.
    pub replicas: Vec<i32>,
    /// Node ids of the in-sync replicas.
    pub isr: Vec<i32>,
}

/// One topic from a Metadata answer, with replicas and ISR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic name.
    pub name: String,
    /// The topic-level error code (3 = unknown topic).
    pub error_code: i16,
    /// Whether it is an internal topic such as `__consumer_offsets`.
    pub is_internal: bool,
    /// Its partitions, in index order.
    pub partitions: Vec<PartitionDescription>,
}

/// Brokers and described topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicsMetadata {
    /// Broker node id to `host:port`.
    pub brokers: BTreeMap<i32, String>,
    /// Topic name to its description.
    pub topics: BTreeMap<String, TopicDescription>,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The name.
    pub name: String,
    /// Partitions, or -1 for the broker's default.
    pub partitions: i32,
    /// Replication factor, or -1 for the broker's default.
    pub replication_factor: i16,
    /// Topic configs (`retention.ms` and so on).
    pub configs: Vec<(String, String)>,
}

/// One config entry of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key.
    pub name: String,
    /// The value; `None` when sensitive or unset.
    pub value: Option<String>,
    /// Whether the value is only the broker's default.
    pub is_default: bool,
}

/// One IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set the key to the value.
    Set(String, String),
    /// Remove the topic override, back to the broker default.
    Delete(String),
}

impl ConfigChange {
    /// IncrementalAlterConfigs operation codes: 0 SET, 1 DELETE.
    fn alterable(&self) -> AlterableConfig {
        match self {
            ConfigChange::Set(name, value) => AlterableConfig::default()
                .with_name(str_bytes(name))
                .with_config_operation(0)
                .with_value(Some(str_bytes(value))),
            ConfigChange::Delete(name) => AlterableConfig::default()
                .with_name(str_bytes(name))
                .with_config_operation(1)
                .with_value(None),
        }
    }
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// Names an API for error messages.
fn api_name<Req: Request>() -> String {
    kafka_protocol::messages::ApiKey::try_from(Req::KEY)
        .map(|key| format!("{key:?}"))
        .unwrap_or_else(|_| format!("api key {}", Req::KEY))
}

impl KafkaClient {
    /// The version for `Req`, or an error that names the API the broker lacks.
    pub fn required_version<Req: Request>(&self) -> Result<i16, ClientError> {
        self.versions()
            .negotiate(Req::KEY, Req::VERSIONS)
            .map_err(|e| {
                ClientError::Protocol(format!(
                    "{} (api key {}) is not served by broker {} (UNSUPPORTED_VERSION): {e}",
                    api_name::<Req>(),
                    Req::KEY,
                    self.address()
                ))
            })
    }

    /// Metadata with replicas and ISR for `topics`, or every topic when `None`.
    pub fn describe_topics(
        &mut self,
        topics: Option<&[&str]>,
    ) -> Result<TopicsMetadata, ClientError> {
        let version = self
            .required_version::<MetadataRequest>()?
            .min(METADATA_MAX_VERSION);
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|name| MetadataRequestTopic::default().with_name(Some(topic_name(name))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        let response = self.send_at(version, &request)?;
        let brokers = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        let mut described = BTreeMap::new();
        for topic in &response.topics {
            let Some(name) = topic.name.as_ref() else {
                continue;
            };
            let mut partitions: Vec<PartitionDescription> = topic
                .partitions
                .iter()
                .map(|p| PartitionDescription {
                    partition: p.partition_index,
                    error_code: p.error_code,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            described.insert(
                name.0.to_string(),
                TopicDescription {
                    name: name.0.to_string(),
                    error_code: topic.error_code,
                    is_internal: topic.is_internal,
                    partitions,
                },
            );
        }
        Ok(TopicsMetadata {
            brokers,
            topics: described,
        })
    }

    /// Creates one topic; `timeout_ms` is how long the broker may take.
    pub fn create_topic(&mut self, topic: &NewTopic, timeout_ms: i32) -> Result<(), ClientError> {
        let version = self.required_version::<CreateTopicsRequest>()?;
        let configs = topic
            .configs
            .iter()
            .map(|(name, value)| {
                CreatableTopicConfig::default()
                    .with_name(str_bytes(name))
                    .with_value(Some(str_bytes(value)))
            })
            .collect();
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(&topic.name))
                .with_num_partitions(topic.partitions)
                .with_replication_factor(topic.replication_factor)
                .with_configs(configs)]);
        let response = self.send_at(version, &request)?;
        let result = response
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == topic.name)
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "CreateTopics answer has no entry for {:?}",
                    topic.name
                ))
            })?;
        ClientError::check(result.error_code, result.error_message.as_ref())
    }

    /// Deletes one topic; `timeout_ms` is how long the broker may take.
    pub fn delete_topic(&mut self, topic: &str, timeout_ms: i32) -> Result<(), ClientError> {
        let version = self.required_version::<DeleteTopicsRequest>()?;
        let request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
        let request = if version >= DELETE_TOPICS_STATE_VERSION {
            request.with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(topic)))
            ])
        } else {
            request.with_topic_names(vec![topic_name(topic)])
        };
        let response = self.send_at(version, &request)?;
        let result = response
            .responses
            .iter()
            .find(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
            .ok_or_else(|| {
                ClientError::Protocol(format!("DeleteTopics answer has no entry for {topic:?}"))
            })?;
        ClientError::check(result.error_code, result.error_message.as_ref())
    }

    /// Every config of `topic`, sorted by key.
    pub fn describe_topic_configs(&mut self, topic: &str) -> Result<Vec<ConfigEntry>, ClientError> {
        let version = self.required_version::<DescribeConfigsRequest>()?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TYPE_TOPIC)
                .with_resource_name(str_bytes(topic))
                .with_configuration_keys(None),
        ]);
        let response = self.send_at(version, &request)?;
        let result = response
            .results
            .iter()
            .find(|r| r.resource_name.as_str() == topic)
            .ok_or_else(|| {
                ClientError::Protocol(format!("DescribeConfigs answer has no entry for {topic:?}"))
            })?;
        ClientError::check(result.error_code, result.error_message.as_ref())?;
        let mut entries: Vec<ConfigEntry> = result
            .configs
            .iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                is_default: c.config_source == CONFIG_SOURCE_DEFAULT,
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Applies `changes` to `topic`'s configs with IncrementalAlterConfigs.
    pub fn alter_topic_configs(
        &mut self,
        topic: &str,
        changes: &[ConfigChange],
    ) -> Result<(), ClientError> {
        let version = self.required_version::<IncrementalAlterConfigsRequest>()?;
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TYPE_TOPIC)
                .with_resource_name(str_bytes(topic))
                .with_configs(changes.iter().map(ConfigChange::alterable).collect()),
        ]);
        let response = self.send_at(version, &request)?;
        let result = response
            .responses
            .iter()
            .find(|r| r.resource_name.as_str() == topic)
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "IncrementalAlterConfigs answer has no entry for {topic:?}"
                ))
            })?;
        ClientError::check(result.error_code, result.error_message.as_ref())
    }

    /// On-disk size of each partition of `topic` this broker holds, summed
    /// over its log dirs; `None` when the broker does not serve DescribeLogDirs.
    pub fn partition_sizes(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Option<BTreeMap<i32, i64>>, ClientError> {
        let Ok(version) = self.version_for::<DescribeLogDirsRequest>() else {
            return Ok(None);
        };
        let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions.to_vec()),
        ]));
        let response = self.send_at(version, &request)?;
        let mut sizes = BTreeMap::new();
        for dir in &response.results {
            ClientError::check(dir.error_code, None)?;
            for t in dir.topics.iter().filter(|t| t.name.0.as_str() == topic) {
                for p in &t.partitions {
                    *sizes.entry(p.partition_index).or_insert(0) += p.partition_size;
                }
            }
        }
        Ok(Some(sizes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_changes_map_to_kafka_operations() {
        let set = ConfigChange::Set("retention.ms".into(), "1000".into()).alterable();
        assert_eq!(set.config_operation, 0);
        assert_eq!(set.value.as_ref().map(|v| v.as_str()), Some("1000"));
        let delete = ConfigChange::Delete("retention.ms".into()).alterable();
        assert_eq!(delete.config_operation, 1);
        assert!(delete.value.is_none());
    }

    #[test]
    fn api_names_come_from_the_key_table() {
        assert_eq!(
            api_name::<IncrementalAlterConfigsRequest>(),
            "IncrementalAlterConfigs"
        );
        assert_eq!(api_name::<DescribeLogDirsRequest>(), "DescribeLogDirs");
    }
}
