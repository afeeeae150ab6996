//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT of
//! topic configs. The request is checked here (resource types, operation
//! codes, duplicates); the topic changes go to the controller, which
//! validates them against the current table, persists the new table and has
//! every shard adopt it, so the owning shards apply the new settings to open
//! partition logs before the answer is sent.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::metadata::alter_configs::{ConfigOp, TopicConfigChange};
use crate::metadata::controller::ControllerRequest;
use crate::protocol::piece::Piece;
use crate::shard::calls::controller;
use crate::shard::ShardContext;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashSet;
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };
pub(super) const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_BROKER_LOGGER: i8 = 8;
/// Operation codes of AlterableConfig.
pub(super) const OP_SET: i8 = 0;
pub(super) const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// A resource's outcome: (error code, message).
pub(super) type Outcome = (i16, Option<String>);

/// Answers an IncrementalAlterConfigs request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: IncrementalAlterConfigsRequest,
) -> Option<Vec<Piece>> {
    let outcomes = alter_resources(ctx, &request.resources, request.validate_only).await;
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
        &IncrementalAlterConfigsResponse::default().with_responses(responses),
    )
}

/// Checks `resources` and has the controller apply the topic changes: one
/// (error code, message) per resource, in order. Also serves AlterConfigs
/// (key 33), whose requests are translated into these operations.
pub(super) async fn alter_resources(
    ctx: &Rc<ShardContext>,
    resources: &[AlterConfigsResource],
    validate_only: bool,
) -> Vec<Outcome> {
    let duplicates = duplicate_resources(resources);
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(resources.len());
    let mut changes = Vec::new();
    for resource in resources {
        let key = (resource.resource_type, resource.resource_name.as_str());
        let checked = if duplicates.contains(&key) {
            Err(invalid_request(
                "Error due to duplicate resources in the request".into(),
            ))
        } else {
            check_resource(resource)
        };
        match checked {
            Ok(change) => {
                changes.push(change);
                outcomes.push(None);
            }
            Err(outcome) => outcomes.push(Some(outcome)),
        }
    }
    let mut controller_outcomes = alter(ctx, changes, validate_only).await.into_iter();
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome
                .or_else(|| controller_outcomes.next())
                .unwrap_or((error_code::KAFKA_STORAGE_ERROR, None))
        })
        .collect()
}

/// Sends the topic changes to the controller; one outcome per change.
async fn alter(
    ctx: &Rc<ShardContext>,
    changes: Vec<TopicConfigChange>,
    validate_only: bool,
) -> Vec<Outcome> {
    if changes.is_empty() {
        return Vec::new();
    }
    let answer = controller::request(
        ctx,
        ControllerRequest::AlterTopicConfigs {
            changes,
            validate_only,
        },
    )
    .await;
    answer
        .outcomes
        .into_iter()
        .map(|o| (o.error_code, o.message))
        .collect()
}

/// (type, name) of resources named more than once: Kafka refuses them all.
fn duplicate_resources(resources: &[AlterConfigsResource]) -> HashSet<(i8, &str)> {
    let mut seen = HashSet::new();
    resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.as_str()))
        .filter(|key| !seen.insert(*key))
        .collect()
}

fn invalid_request(message: String) -> Outcome {
    (error_code::INVALID_REQUEST, Some(message))
}

/// A topic resource as a change for the controller, or why it is refused.
fn check_resource(resource: &AlterConfigsResource) -> Result<TopicConfigChange, Outcome> {
    match resource.resource_type {
        RESOURCE_TOPIC => {}
        // millrace has no dynamic broker config, so deleting one deletes
        // nothing: Kafka answers such a delete NONE too.
        // `kafka-reassign-partitions --verify` clears the replication
        // throttles of every broker this way once a move is done.
        RESOURCE_BROKER
            if !resource.configs.is_empty()
                && resource
                    .configs
                    .iter()
                    .all(|c| c.config_operation == OP_DELETE) =>
        {
            return Err((error_code::NONE, None))
        }
        // Kafka refuses a change of a static broker config as INVALID_REQUEST;
        // every millrace broker config is static.
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => {
            return Err(invalid_request(format!(
                "millrace does not change broker configs at runtime (resource type {}, name {:?}): \
                 set them in the config file and restart",
                resource.resource_type,
                resource.resource_name.as_str()
            )))
        }
        other => {
            return Err(invalid_request(format!(
                "Unexpected resource type {other}: only topics (2) can be altered"
            )))
        }
    }
    let mut keys = HashSet::new();
    let mut ops = Vec::with_capacity(resource.configs.len());
    for config in &resource.configs {
        if !keys.insert(config.name.as_str()) {
            return Err(invalid_request(format!(
                "Error due to duplicate config keys: {}",
                config.name.as_str()
            )));
        }
        ops.push(config_op(config)?);
    }
    Ok(TopicConfigChange {
        topic: resource.resource_name.to_string(),
        ops,
    })
}

fn config_op(config: &AlterableConfig) -> Result<ConfigOp, Outcome> {
    let key = config.name.to_string();
    let value = config.value.as_ref().map(|v| v.to_string());
    let needs_value = |value: Option<String>| {
        value.ok_or_else(|| invalid_request(format!("Null value not supported for : {key}")))
    };
    match config.config_operation {
        OP_SET => Ok(ConfigOp::Set(key.clone(), needs_value(value)?)),
        OP_DELETE => Ok(ConfigOp::Delete(key)),
        OP_APPEND => Ok(ConfigOp::Append(key.clone(), needs_value(value)?)),
        OP_SUBTRACT => Ok(ConfigOp::Subtract(key.clone(), needs_value(value)?)),
        other => Err(invalid_request(format!(
            "Unknown config operation {other} for {key}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(resource_type: i8, configs: Vec<(&str, i8, Option<&str>)>) -> AlterConfigsResource {
        let configs = configs
            .into_iter()
            .map(|(name, op, value)| {
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.into()))
                    .with_config_operation(op)
                    .with_value(value.map(|v| StrBytes::from_string(v.into())))
            })
            .collect();
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_static_str("t"))
            .with_configs(configs)
    }

    #[test]
    fn topic_operations_become_a_change() {
        let r = resource(
            2,
            vec![("retention.ms", 0, Some("5")), ("segment.ms", 1, None)],
        );
        let change = check_resource(&r).unwrap();
        assert_eq!(
            change.ops,
            vec![
                ConfigOp::Set("retention.ms".into(), "5".into()),
                ConfigOp::Delete("segment.ms".into())
            ]
        );
    }

    #[test]
    fn malformed_resources_are_invalid_requests() {
        let cases = [
            resource(4, vec![]),
            resource(9, vec![]),
            resource(2, vec![("retention.ms", 0, None)]),
            resource(2, vec![("retention.ms", 7, Some("1"))]),
            resource(
                2,
                vec![("retention.ms", 0, Some("1")), ("retention.ms", 1, None)],
            ),
        ];
        for r in cases {
            let (code, message) = check_resource(&r).unwrap_err();
            assert_eq!(code, error_code::INVALID_REQUEST);
            assert!(message.is_some());
        }
    }

    #[test]
    fn duplicated_resources_are_found() {
        let resources = [
            resource(2, vec![]),
            resource(2, vec![]),
            resource(4, vec![]),
        ];
        let duplicates = duplicate_resources(&resources);
        assert_eq!(duplicates.len(), 1);
        assert!(duplicates.contains(&(2, "t")));
    }
}
