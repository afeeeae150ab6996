//! AlterConfigs (key 33), the pre-KIP-339 form that kafkajs's `alterConfigs`
//! (its only way to change a topic config) and older admin tools send. A
//! resource's configs replace the topic's whole set of overrides: a listed key
//! is set, a key listed with a null value or not listed returns to its
//! default (as Kafka's legacy AlterConfigs does). Each resource is translated
//! into IncrementalAlterConfigs operations (SET for the listed values, DELETE
//! for every other topic key) and checked and applied by that handler's path.

use super::incremental_alter_configs::{alter_resources, OP_DELETE, OP_SET, RESOURCE_TOPIC};
use super::{respond, RequestMeta, VersionRange};
use crate::config::TOPIC_CONFIG_KEYS;
use crate::protocol::piece::Piece;
use crate::shard::ShardContext;
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig,
};
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use std::rc::Rc;

/// Versions served (Kafka 4.x serves 0-2; kafkajs 2.x sends 0-1).
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// Answers an AlterConfigs request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: AlterConfigsRequest,
) -> Option<Vec<Piece>> {
    let translated: Vec<IncrementalResource> =
        request.resources.iter().map(as_incremental).collect();
    let outcomes = alter_resources(ctx, &translated, request.validate_only).await;
    let responses = request
        .resources
        .iter()
        .zip(outcomes)
        .map(|(resource, (code, message))| {
            AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
        })
        .collect();
    respond(
        meta,
        &AlterConfigsResponse::default().with_responses(responses),
    )
}

/// The incremental operations with the same effect: SET each listed value,
/// DELETE each key listed with null, and on a topic DELETE every other key.
fn as_incremental(resource: &AlterConfigsResource) -> IncrementalResource {
    let mut configs: Vec<AlterableConfig> = resource
        .configs
        .iter()
        .map(|config| {
            let operation = if config.value.is_some() {
                OP_SET
            } else {
                OP_DELETE
            };
            AlterableConfig::default()
                .with_name(config.name.clone())
                .with_config_operation(operation)
                .with_value(config.value.clone())
        })
        .collect();
    if resource.resource_type == RESOURCE_TOPIC {
        let listed = |name: &str| resource.configs.iter().any(|c| c.name.as_str() == name);
        configs.extend(
            TOPIC_CONFIG_KEYS
                .iter()
                .filter(|key| !listed(key.name))
                .map(|key| {
                    AlterableConfig::default()
                        .with_name(StrBytes::from_static_str(key.name))
                        .with_config_operation(OP_DELETE)
                        .with_value(None)
                }),
        );
    }
    IncrementalResource::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone())
        .with_configs(configs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::alter_configs_request::AlterableConfig as LegacyConfig;

    fn legacy(resource_type: i8, configs: &[(&str, Option<&str>)]) -> AlterConfigsResource {
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_static_str("t"))
            .with_configs(
                configs
                    .iter()
                    .map(|(name, value)| {
                        LegacyConfig::default()
                            .with_name(StrBytes::from_string((*name).into()))
                            .with_value(value.map(|v| StrBytes::from_string(v.into())))
                    })
                    .collect(),
            )
    }

    fn ops(resource: &IncrementalResource) -> Vec<(String, i8, Option<String>)> {
        resource
            .configs
            .iter()
            .map(|c| {
                let value = c.value.as_ref().map(|v| v.to_string());
                (c.name.to_string(), c.config_operation, value)
            })
            .collect()
    }

    #[test]
    fn a_topic_resource_sets_what_it_lists_and_resets_every_other_key() {
        let translated = as_incremental(&legacy(
            RESOURCE_TOPIC,
            &[("retention.ms", Some("5000")), ("segment.ms", None)],
        ));
        let ops = ops(&translated);
        assert_eq!(ops[0], ("retention.ms".into(), OP_SET, Some("5000".into())));
        assert_eq!(ops[1], ("segment.ms".into(), OP_DELETE, None));
        let deleted: Vec<&str> = ops[2..].iter().map(|(name, _, _)| name.as_str()).collect();
        let expected: Vec<&str> = TOPIC_CONFIG_KEYS
            .iter()
            .map(|key| key.name)
            .filter(|name| !["retention.ms", "segment.ms"].contains(name))
            .collect();
        assert_eq!(deleted, expected);
        assert!(ops[2..]
            .iter()
            .all(|(_, op, value)| *op == OP_DELETE && value.is_none()));
    }

    #[test]
    fn other_resources_keep_only_their_listed_configs() {
        let broker = 4;
        let translated = as_incremental(&legacy(broker, &[("log.retention.ms", Some("1"))]));
        assert_eq!(
            ops(&translated),
            vec![("log.retention.ms".into(), OP_SET, Some("1".into()))]
        );
        assert_eq!(translated.resource_type, broker);
    }
}
