//! DescribeConfigs (key 32): a topic's effective configuration (overrides
//! and the broker defaults they replace), and a broker's own keys.

use super::create_topics::{
    CONFIG_SOURCE_DEFAULT, CONFIG_SOURCE_STATIC_BROKER, CONFIG_SOURCE_TOPIC,
};
use super::{error_code, legacy_versions, respond, RequestMeta, VersionRange};
use crate::config::synonyms::broker_synonyms;
use crate::config::{
    describe_broker_keys, is_described, topic_config_defaults, topic_config_key,
    BrokerConfigSource, BrokerSynonym, ConfigType, DescribedBrokerKey, KeySupport, TopicConfigKey,
};
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served.
/// v0 (Sarama 1.22's ListTopics) is decoded as v1 by `legacy_versions`.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };
const RESOURCE_TOPIC: i8 = 2;
/// First version whose answer names each config's type.
const CONFIG_TYPE_VERSION_MIN: i16 = 3;
/// `config_type` of a config whose type is not known.
const CONFIG_TYPE_UNKNOWN: i8 = 0;
const RESOURCE_BROKER: i8 = 4;

/// One synonym: key, value (`None` when sensitive) and source.
type Synonym = (String, Option<String>, i8);

/// One described config, with the synonyms Kafka lists for it (v1+, when the
/// request asks): the sources its value could come from, most specific first
/// (a topic override, then the broker default it replaces). kafka-configs
/// prints them.
struct Described {
    name: String,
    value: Option<String>,
    source: i8,
    synonyms: Vec<Synonym>,
    /// Whether the value cannot be changed at runtime (every broker key: no
    /// broker config is dynamic; no topic key).
    read_only: bool,
    sensitive: bool,
    kind: Option<ConfigType>,
    /// The meaning, for v3+ `include_documentation`.
    doc: Option<String>,
}

impl Described {
    /// A topic key's entry; its type and documentation are the topic table's.
    fn topic(name: &str, value: String, source: i8, synonyms: Vec<Synonym>) -> Described {
        let entry = topic_config_key(name);
        Described {
            name: name.to_string(),
            value: Some(value),
            source,
            synonyms,
            read_only: false,
            sensitive: false,
            kind: entry.map(|key| key.kind),
            doc: entry.map(topic_key_documentation),
        }
    }

    /// A broker key's entry.
    fn broker(key: DescribedBrokerKey) -> Described {
        Described {
            name: key.name.to_string(),
            value: key.value,
            source: wire_source(key.source),
            synonyms: key.synonyms.into_iter().map(wire_synonym).collect(),
            // IncrementalAlterConfigs refuses every broker key change.
            read_only: true,
            sensitive: key.sensitive,
            kind: key.kind,
            doc: Some(key.doc.to_string()),
        }
    }

    fn into_result(
        self,
        include_synonyms: bool,
        include_documentation: bool,
        version: i16,
    ) -> DescribeConfigsResourceResult {
        let synonyms = if include_synonyms {
            self.synonyms
                .into_iter()
                .map(|(name, value, source)| {
                    DescribeConfigsSynonym::default()
                        .with_name(StrBytes::from_string(name))
                        .with_value(value.map(StrBytes::from_string))
                        .with_source(source)
                })
                .collect()
        } else {
            Vec::new()
        };
        // v3+ names each config's type.
        let kind = match self.kind {
            Some(kind) if version >= CONFIG_TYPE_VERSION_MIN => kind.wire_code(),
            _ => CONFIG_TYPE_UNKNOWN,
        };
        let documentation = self.doc.filter(|_| include_documentation);
        DescribeConfigsResourceResult::default()
            .with_name(StrBytes::from_string(self.name))
            .with_value(self.value.map(StrBytes::from_string))
            .with_config_source(self.source)
            .with_read_only(self.read_only)
            .with_is_sensitive(self.sensitive)
            .with_synonyms(synonyms)
            .with_documentation(documentation.map(StrBytes::from_string))
            .with_config_type(kind)
    }
}

/// A KIP-226 source's wire code.
fn wire_source(source: BrokerConfigSource) -> i8 {
    match source {
        BrokerConfigSource::Static => CONFIG_SOURCE_STATIC_BROKER,
        BrokerConfigSource::Default => CONFIG_SOURCE_DEFAULT,
    }
}

/// A broker synonym as the answer carries it.
fn wire_synonym(synonym: BrokerSynonym) -> Synonym {
    let source = wire_source(synonym.source);
    (synonym.name.to_string(), synonym.value, source)
}

/// What a BROKER resource names, as Kafka reads it.
enum BrokerResource {
    /// This broker: its keys.
    This,
    /// The empty name: the cluster-wide dynamic defaults, of which millrace
    /// has none.
    ClusterDefaults,
}

/// Kafka answers only for its own id or the empty name, else INVALID_REQUEST
/// with these messages.
fn broker_resource(name: &str, node_id: i32) -> Result<BrokerResource, String> {
    if name.is_empty() {
        return Ok(BrokerResource::ClusterDefaults);
    }
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(BrokerResource::This),
        Ok(_) => Err(format!(
            "Unexpected broker id, expected {node_id} or empty string, but received {name}"
        )),
        Err(_) => Err(format!("Broker id must be an integer, but it is: {name}")),
    }
}

/// Answers a DescribeConfigs request.
pub fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DescribeConfigsRequest,
) -> Option<Vec<Piece>> {
    let table = ctx.topic_table();
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            // Requested names the resource does not have are left out, as
            // Kafka; no list and an empty one both ask for every key.
            let wanted = |key: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    .filter(|keys| !keys.is_empty())
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == key))
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let invalid = |result: DescribeConfigsResult, message: String| {
                result
                    .with_error_code(error_code::INVALID_REQUEST)
                    .with_error_message(Some(StrBytes::from_string(message)))
            };
            let entries: Vec<Described> = match resource.resource_type {
                RESOURCE_TOPIC => match table.get(name) {
                    None => {
                        return result
                            .with_error_code(error_code::UNKNOWN_TOPIC_OR_PARTITION)
                            .with_error_message(Some(StrBytes::from_string(format!(
                                "Topic {name} does not exist"
                            ))))
                    }
                    Some(topic) => topic_config_defaults(&ctx.config)
                        .into_iter()
                        .filter(|(key, _, _)| is_described(key, &topic.configs))
                        .map(|(key, default, broker_key)| {
                            // The broker key's synonyms, as Kafka builds them
                            // (none for topic-only keys).
                            let broker: Vec<Synonym> = if broker_key.is_empty() {
                                Vec::new()
                            } else {
                                let synonyms = broker_synonyms(&ctx.config, broker_key, false);
                                synonyms.into_iter().map(wire_synonym).collect()
                            };
                            match topic.configs.get(key) {
                                Some(v) => Described::topic(
                                    key,
                                    v.clone(),
                                    CONFIG_SOURCE_TOPIC,
                                    std::iter::once((
                                        key.to_string(),
                                        Some(v.clone()),
                                        CONFIG_SOURCE_TOPIC,
                                    ))
                                    .chain(broker)
                                    .collect(),
                                ),
                                None => {
                                    let source = broker
                                        .first()
                                        .map_or(CONFIG_SOURCE_DEFAULT, |first| first.2);
                                    Described::topic(key, default, source, broker)
                                }
                            }
                        })
                        .collect(),
                },
                RESOURCE_BROKER => match broker_resource(name, ctx.config.node_id) {
                    Ok(BrokerResource::This) => describe_broker_keys(&ctx.config)
                        .into_iter()
                        .map(Described::broker)
                        .collect(),
                    Ok(BrokerResource::ClusterDefaults) => Vec::new(),
                    Err(message) => return invalid(result, message),
                },
                other => return invalid(result, format!("resource type {other} is not supported")),
            };
            let configs = entries
                .into_iter()
                .filter(|entry| wanted(&entry.name))
                .map(|entry| {
                    entry.into_result(
                        request.include_synonyms,
                        request.include_documentation,
                        meta.version,
                    )
                })
                .collect();
            result.with_configs(configs)
        })
        .collect();
    let response = DescribeConfigsResponse::default().with_results(results);
    if meta.version < legacy_versions::DESCRIBE_CONFIGS_FLOOR {
        return legacy_versions::describe_configs_v0(meta, &response);
    }
    respond(meta, &response)
}

/// A topic key's meaning (v3+ `include_documentation`), with what millrace
/// does with it when that is less than Kafka does.
fn topic_key_documentation(entry: &TopicConfigKey) -> String {
    match entry.support {
        KeySupport::Applied => entry.doc.to_string(),
        KeySupport::Stored { until } => {
            format!(
                "{} millrace stores this key; it is applied with {until}.",
                entry.doc
            )
        }
        KeySupport::Deprecated => entry.doc.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_resource_names_this_broker_or_the_cluster_defaults() {
        assert!(matches!(broker_resource("3", 3), Ok(BrokerResource::This)));
        assert!(matches!(
            broker_resource("", 3),
            Ok(BrokerResource::ClusterDefaults)
        ));
        assert_eq!(
            broker_resource("4", 3).err().as_deref(),
            Some("Unexpected broker id, expected 3 or empty string, but received 4")
        );
        assert_eq!(
            broker_resource("one", 3).err().as_deref(),
            Some("Broker id must be an integer, but it is: one")
        );
    }
}
