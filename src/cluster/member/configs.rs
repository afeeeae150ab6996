//! IncrementalAlterConfigs / AlterConfigs of topics in a cluster: this
//! broker checks the operations against the topics it knows (the same
//! planning as a single node), then the active controller writes the
//! resulting keys as ConfigRecords, which every broker applies from the
//! metadata log. Answers once this broker applied them.

use super::lifecycle::APPLY_WAIT_MS_MAX;
use super::rpc::WireReply;
use super::Member;
use crate::cluster::controller::api::{AlterConfigsRequest, ConfigWrites, Request};
use crate::metadata::alter_configs::{plan_alter, TopicConfigChange};
use crate::metadata::controller::{ControllerResponse, TopicOutcome};
use crate::metadata::topic_table::TopicMeta;
use crate::protocol::error_code;
use std::collections::BTreeMap;
use std::sync::Arc;

/// (key, new value or `None` when removed) of every key `after` changes.
fn changed_keys(before: Option<&Arc<TopicMeta>>, after: Option<&Arc<TopicMeta>>) -> ConfigWrites {
    let empty = BTreeMap::new();
    let old = before.map_or(&empty, |t| &t.configs);
    let new = after.map_or(&empty, |t| &t.configs);
    let set = new
        .iter()
        .filter(|(key, value)| old.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), Some(value.clone())));
    let removed = old
        .keys()
        .filter(|key| !new.contains_key(*key))
        .map(|key| (key.clone(), None));
    set.chain(removed).collect()
}

impl Member {
    /// Carries out topic config `changes` through the active controller;
    /// one outcome per change, in order.
    pub(super) async fn alter_topic_configs(
        &self,
        changes: &[TopicConfigChange],
        validate_only: bool,
    ) -> ControllerResponse {
        let table = self.table();
        let (next, planned) = plan_alter(&table, changes);
        let writes: Vec<(String, ConfigWrites)> = changes
            .iter()
            .zip(&planned)
            .filter(|(_, planned)| planned.is_ok())
            .map(|(c, _)| {
                let keys = changed_keys(table.get(&c.topic), next.get(&c.topic));
                (c.topic.clone(), keys)
            })
            .filter(|(_, keys)| !keys.is_empty())
            .collect();
        let mut written: BTreeMap<String, (i16, Option<String>)> = BTreeMap::new();
        if !validate_only && !writes.is_empty() {
            let request = Request::AlterConfigs(AlterConfigsRequest {
                topics: writes.clone(),
            });
            let failed = |code, message: String| {
                writes
                    .iter()
                    .map(|(name, _)| (name.clone(), (code, Some(message.clone()))))
                    .collect()
            };
            written = match self.call_controller(&request).await {
                Ok((WireReply::Topics(results), offset)) => {
                    self.wait_published(offset, APPLY_WAIT_MS_MAX).await;
                    results
                        .into_iter()
                        .map(|(name, code)| (name, (code, None)))
                        .collect()
                }
                Ok(_) => failed(
                    error_code::UNKNOWN_SERVER_ERROR,
                    "unexpected controller reply".into(),
                ),
                Err(e) => {
                    log::warn!("topic configs not altered: {e}");
                    failed(error_code::NOT_CONTROLLER, e)
                }
            };
        }
        let outcomes = changes
            .iter()
            .zip(planned)
            .map(|(change, planned)| {
                let (error_code, message) = match planned {
                    Err((code, message)) => (code, Some(message)),
                    Ok(()) => written
                        .get(&change.topic)
                        .cloned()
                        .unwrap_or((error_code::NONE, None)),
                };
                TopicOutcome {
                    name: change.topic.clone(),
                    error_code,
                    message,
                }
            })
            .collect();
        ControllerResponse {
            outcomes,
            table: self.table(),
        }
    }
}
