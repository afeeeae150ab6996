//! DescribeConfigs (key 32): a topic's effective configuration (overrides
//! and the broker defaults they replace), and the broker's log defaults.

use super::create_topics::{
    CONFIG_SOURCE_DEFAULT, CONFIG_SOURCE_STATIC_BROKER, CONFIG_SOURCE_TOPIC,
};
use super::{error_code, legacy_versions, respond, RequestMeta, VersionRange};
use crate::config::{
    is_described, topic_config_defaults, topic_config_key, KeySupport, BROKER_KEYS_WITHOUT_DEFAULT,
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

/// One described config, with the synonyms Kafka lists for it (v1+, when the
/// request asks): the sources its value could come from, most specific first
/// (a topic override, then the broker default it replaces). kafka-configs
/// prints them.
struct Described {
    name: String,
    value: String,
    source: i8,
    synonyms: Vec<(String, String, i8)>,
}

impl Described {
    fn into_result(self, include_synonyms: bool) -> DescribeConfigsResourceResult {
        let synonyms = if include_synonyms {
            self.synonyms
                .into_iter()
                .map(|(name, value, source)| {
                    DescribeConfigsSynonym::default()
                        .with_name(StrBytes::from_string(name))
                        .with_value(Some(StrBytes::from_string(value)))
                        .with_source(source)
                })
                .collect()
        } else {
            Vec::new()
        };
        DescribeConfigsResourceResult::default()
            .with_name(StrBytes::from_string(self.name))
            .with_value(Some(StrBytes::from_string(self.value)))
            .with_config_source(self.source)
            .with_synonyms(synonyms)
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
            let wanted = |key: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == key))
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
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
                            // Keys without a broker key (throttled replicas,
                            // tiered storage), or whose broker key has no default
                            // of its own, have no synonym to list (as Kafka).
                            let listed = !broker_key.is_empty()
                                && !BROKER_KEYS_WITHOUT_DEFAULT.contains(&broker_key);
                            let broker_default = listed.then(|| {
                                (
                                    broker_key.to_string(),
                                    default.clone(),
                                    CONFIG_SOURCE_DEFAULT,
                                )
                            });
                            match topic.configs.get(key) {
                                Some(v) => Described {
                                    name: key.to_string(),
                                    value: v.clone(),
                                    source: CONFIG_SOURCE_TOPIC,
                                    synonyms: std::iter::once((
                                        key.to_string(),
                                        v.clone(),
                                        CONFIG_SOURCE_TOPIC,
                                    ))
                                    .chain(broker_default)
                                    .collect(),
                                },
                                None => Described {
                                    name: key.to_string(),
                                    value: default,
                                    source: CONFIG_SOURCE_DEFAULT,
                                    synonyms: broker_default.into_iter().collect(),
                                },
                            }
                        })
                        .collect(),
                },
                RESOURCE_BROKER => topic_config_defaults(&ctx.config)
                    .into_iter()
                    .filter(|(_, _, broker_key)| !broker_key.is_empty())
                    .map(|(_, value, broker_key)| Described {
                        name: broker_key.to_string(),
                        value: value.clone(),
                        source: CONFIG_SOURCE_STATIC_BROKER,
                        synonyms: vec![(
                            broker_key.to_string(),
                            value,
                            CONFIG_SOURCE_STATIC_BROKER,
                        )],
                    })
                    .collect(),
                other => {
                    return result
                        .with_error_code(error_code::INVALID_REQUEST)
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "resource type {other} is not supported"
                        ))))
                }
            };
            let configs = entries
                .into_iter()
                .filter(|entry| wanted(&entry.name))
                .map(|entry| {
                    let documentation = request
                        .include_documentation
                        .then(|| topic_key_documentation(&entry.name))
                        .flatten();
                    // v3+ names each config's type; a broker key's is not in the table.
                    let kind = match topic_config_key(&entry.name) {
                        Some(key) if meta.version >= CONFIG_TYPE_VERSION_MIN => {
                            key.kind.wire_code()
                        }
                        _ => CONFIG_TYPE_UNKNOWN,
                    };
                    entry
                        .into_result(request.include_synonyms)
                        .with_documentation(documentation.map(StrBytes::from_string))
                        .with_config_type(kind)
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
fn topic_key_documentation(key: &str) -> Option<String> {
    let entry = topic_config_key(key)?;
    Some(match entry.support {
        KeySupport::Applied => entry.doc.to_string(),
        KeySupport::Stored { until } => {
            format!(
                "{} millrace stores this key; it is applied with {until}.",
                entry.doc
            )
        }
        KeySupport::Deprecated => entry.doc.to_string(),
    })
}
