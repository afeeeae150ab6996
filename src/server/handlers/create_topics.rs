//! CreateTopics (key 19): forwarded to the controller shard, which persists
//! the new table and has every shard open its partitions before answering.

use super::{error_code, legacy_versions, respond, RequestMeta, VersionRange};
use crate::config::synonyms::broker_synonyms;
use crate::config::{is_described, topic_config_defaults, BrokerConfigSource};
use crate::metadata::controller::{ControllerRequest, NewTopic};
use crate::metadata::kafka_uuid::random_kafka_uuid;
use crate::protocol::piece::Piece;
use crate::shard::calls::controller;
use crate::shard::ShardContext;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served.
/// v0-1 (kafka-go 0.2) are decoded as v2 by `legacy_versions`.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 7 };
/// DescribeConfigs/CreateTopics config source: a topic override.
pub const CONFIG_SOURCE_TOPIC: i8 = 1;
/// Config source: broker default from the configuration file.
pub const CONFIG_SOURCE_STATIC_BROKER: i8 = 4;
/// Config source: built-in default.
pub const CONFIG_SOURCE_DEFAULT: i8 = 5;

/// Answers a CreateTopics request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: CreateTopicsRequest,
) -> Option<Vec<Piece>> {
    let topics: Vec<NewTopic> = request
        .topics
        .iter()
        .map(|t| NewTopic {
            name: t.name.0.as_str().to_string(),
            partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            configs: t
                .configs
                .iter()
                .filter_map(|c| {
                    c.value
                        .as_ref()
                        .map(|v| (c.name.as_str().to_string(), v.as_str().to_string()))
                })
                .collect(),
            assignments: t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
        })
        .collect();
    let asked = topics.clone();
    let answer = controller::request(
        ctx,
        ControllerRequest::CreateTopics {
            topics,
            validate_only: request.validate_only,
            if_missing: false,
        },
    )
    .await;
    let results = request
        .topics
        .iter()
        .zip(answer.outcomes)
        .zip(&asked)
        .map(|((wire, outcome), asked)| {
            let result = CreatableTopicResult::default()
                .with_name(wire.name.clone())
                .with_error_code(outcome.error_code)
                .with_error_message(outcome.message.map(StrBytes::from_string));
            if meta.version < 5 || outcome.error_code != error_code::NONE {
                return result;
            }
            // As Kafka, validate_only answers what the topic would be, with an id drawn
            // for it; a created topic answers what it is.
            let (asked_partitions, asked_replication_factor) = asked_layout(ctx, asked);
            let (id, partitions, configs) = match answer.table.get(&outcome.name) {
                Some(topic) if !request.validate_only => {
                    (topic.id, topic.partitions, topic.configs.clone())
                }
                _ => (
                    random_kafka_uuid(),
                    asked_partitions,
                    asked.configs.iter().cloned().collect(),
                ),
            };
            let replication_factor = ctx
                .cluster_view()
                .and_then(|view| Some(view.partition(&id, 0)?.replicas.len() as i16))
                .unwrap_or(asked_replication_factor);
            let id = if meta.version >= 7 {
                id
            } else {
                uuid::Uuid::nil()
            };
            result
                .with_topic_id(id)
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)
                .with_configs(Some(effective_configs(ctx, &configs)))
        })
        .collect();
    let response = CreateTopicsResponse::default().with_topics(results);
    if meta.version < legacy_versions::CREATE_TOPICS_FLOOR {
        return legacy_versions::create_topics_v0_v1(meta, &response);
    }
    respond(meta, &response)
}

/// The partition count and replication factor a request asks for: those of
/// its manual assignment when it has one, else its counts with the broker's
/// defaults for -1.
fn asked_layout(ctx: &ShardContext, asked: &NewTopic) -> (i32, i16) {
    if let Some((_, replicas)) = asked.assignments.first() {
        return (asked.assignments.len() as i32, replicas.len() as i16);
    }
    let replication_factor = match asked.replication_factor {
        -1 => ctx.config.default_replication_factor,
        asked => asked,
    };
    (
        sized(asked.partitions, ctx.config.num_partitions),
        replication_factor,
    )
}

/// A count the request gave, or the broker's default for -1.
fn sized(asked: i32, default: i32) -> i32 {
    if asked == -1 {
        default
    } else {
        asked
    }
}

fn effective_configs(
    ctx: &ShardContext,
    overrides: &std::collections::BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    topic_config_defaults(&ctx.config)
        .into_iter()
        .filter(|(key, _, _)| is_described(key, overrides))
        .map(|(key, default, broker_key)| {
            // Left to the broker: the source of the broker key's first
            // synonym, as DescribeConfigs answers.
            let broker_static = !broker_key.is_empty()
                && broker_synonyms(&ctx.config, broker_key, false)
                    .first()
                    .is_some_and(|first| first.source == BrokerConfigSource::Static);
            let (value, source) = match overrides.get(key) {
                Some(v) => (v.clone(), CONFIG_SOURCE_TOPIC),
                None if broker_static => (default, CONFIG_SOURCE_STATIC_BROKER),
                None => (default, CONFIG_SOURCE_DEFAULT),
            };
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(key))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source)
        })
        .collect()
}
