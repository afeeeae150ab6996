//! IncrementalAlterConfigs on topics, as the controller plans it: each
//! topic's operations are applied to a copy of its overrides, every result
//! validated, and the topic replaced in the next table only when all of its
//! operations are valid (Kafka applies a resource's operations all or none).

use super::topic_table::{TopicMeta, TopicTable};
use crate::config::topic::TopicDefault;
use crate::config::{
    topic_config_key, validate_topic_config, validate_topic_configs, TopicConfigKey,
};
use std::collections::BTreeMap;

use crate::protocol::error_code;

/// Topic keys whose value is a comma-separated list (Kafka's LIST type):
/// the only ones APPEND and SUBTRACT apply to.
const LIST_KEYS: &[&str] = &[
    "cleanup.policy",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
];

/// One operation of IncrementalAlterConfigs on a topic key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigOp {
    /// SET (0): the key takes this value.
    Set(String, String),
    /// DELETE (1): the override is removed; the broker default applies.
    Delete(String),
    /// APPEND (2): add values to a list key.
    Append(String, String),
    /// SUBTRACT (3): remove values from a list key.
    Subtract(String, String),
}

impl ConfigOp {
    /// The key the operation is on.
    pub fn key(&self) -> &str {
        match self {
            ConfigOp::Set(key, _)
            | ConfigOp::Delete(key)
            | ConfigOp::Append(key, _)
            | ConfigOp::Subtract(key, _) => key,
        }
    }
}

/// The operations asked for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfigChange {
    /// Topic name.
    pub topic: String,
    /// Operations, in request order.
    pub ops: Vec<ConfigOp>,
}

/// Why a topic's alteration is refused: (Kafka error code, message).
pub type Refusal = (i16, String);

/// Applies `changes` to a copy of `current`: the next table and one
/// (error code, message) per change, in order. A change that alters nothing
/// leaves the table (and its version) as is.
pub fn plan_alter(
    current: &TopicTable,
    changes: &[TopicConfigChange],
) -> (TopicTable, Vec<Result<(), Refusal>>) {
    let mut next = current.clone();
    let outcomes = changes
        .iter()
        .map(|change| {
            let Some(meta) = next.get(&change.topic) else {
                return Err((
                    error_code::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("Topic '{}' does not exist.", change.topic),
                ));
            };
            let configs = altered_configs(&meta.configs, &change.ops)
                .map_err(|message| (error_code::INVALID_CONFIG, message))?;
            if configs != meta.configs {
                let altered = TopicMeta {
                    configs,
                    ..(**meta).clone()
                };
                next = next.with_topic(altered);
            }
            Ok(())
        })
        .collect();
    (next, outcomes)
}

/// `configs` with `ops` applied, each resulting value validated.
fn altered_configs(
    configs: &BTreeMap<String, String>,
    ops: &[ConfigOp],
) -> Result<BTreeMap<String, String>, String> {
    let mut next = configs.clone();
    for op in ops {
        let key = op.key();
        let Some(entry) = topic_config_key(key) else {
            return Err(format!("Unknown topic config name: {key}"));
        };
        match op {
            ConfigOp::Set(key, value) => {
                validate_topic_config(key, value)?;
                next.insert(key.clone(), value.clone());
            }
            ConfigOp::Delete(key) => {
                next.remove(key);
            }
            ConfigOp::Append(key, value) | ConfigOp::Subtract(key, value) => {
                let append = matches!(op, ConfigOp::Append(..));
                let list = altered_list(&next, entry, value, append)?;
                validate_topic_config(key, &list)?;
                next.insert(key.clone(), list);
            }
        }
    }
    validate_topic_configs(&next)?;
    Ok(next)
}

/// The list value of `key` with `value`'s items added or removed. Items
/// already present are not added twice (Kafka's rule).
fn altered_list(
    configs: &BTreeMap<String, String>,
    entry: &TopicConfigKey,
    value: &str,
    append: bool,
) -> Result<String, String> {
    let key = entry.name;
    let default = match entry.default {
        TopicDefault::Fixed(default) if LIST_KEYS.contains(&key) => default,
        _ => {
            let verb = if append { "append" } else { "subtract" };
            return Err(format!(
                "Config value {verb} is not allowed for config key: {key} (not a list)"
            ));
        }
    };
    // An absent override starts from the default ("delete" for cleanup.policy).
    let current = configs.get(key).map_or(default, String::as_str);
    let mut items: Vec<&str> = split_list(current).collect();
    for item in split_list(value) {
        if append && !items.contains(&item) {
            items.push(item);
        } else if !append {
            items.retain(|existing| *existing != item);
        }
    }
    Ok(items.join(","))
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn table_with(name: &str, configs: &[(&str, &str)]) -> TopicTable {
        let configs = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TopicTable::default().with_topic(TopicMeta {
            name: name.into(),
            id: Uuid::new_v4(),
            partitions: 1,
            configs,
        })
    }

    fn change(topic: &str, ops: Vec<ConfigOp>) -> TopicConfigChange {
        TopicConfigChange {
            topic: topic.into(),
            ops,
        }
    }

    #[test]
    fn set_and_delete_replace_the_topic() {
        let table = table_with("t", &[("retention.ms", "1000")]);
        let ops = vec![
            ConfigOp::Set("retention.bytes".into(), "4096".into()),
            ConfigOp::Delete("retention.ms".into()),
        ];
        let (next, outcomes) = plan_alter(&table, &[change("t", ops)]);
        assert_eq!(outcomes, vec![Ok(())]);
        assert_eq!(next.version, table.version + 1);
        let configs = &next.get("t").unwrap().configs;
        assert_eq!(
            configs.get("retention.bytes").map(String::as_str),
            Some("4096")
        );
        assert!(!configs.contains_key("retention.ms"));
    }

    #[test]
    fn refusals_leave_the_table_alone() {
        let table = table_with("t", &[]);
        let changes = [
            change("t", vec![ConfigOp::Set("retention.mss".into(), "1".into())]),
            change("t", vec![ConfigOp::Set("retention.ms".into(), "-5".into())]),
            change(
                "t",
                vec![ConfigOp::Append("retention.ms".into(), "1".into())],
            ),
            change("nope", vec![ConfigOp::Delete("retention.ms".into())]),
        ];
        let (next, outcomes) = plan_alter(&table, &changes);
        assert_eq!(next.version, table.version);
        let codes: Vec<i16> = outcomes.iter().map(|o| o.clone().unwrap_err().0).collect();
        assert_eq!(codes, vec![40, 40, 40, 3]);
        let unknown = outcomes[0].clone().unwrap_err().1;
        assert!(unknown.contains("retention.mss"), "{unknown}");
    }

    #[test]
    fn list_keys_append_and_subtract() {
        let table = table_with("t", &[]);
        let append = change(
            "t",
            vec![ConfigOp::Append("cleanup.policy".into(), "compact".into())],
        );
        let (next, _) = plan_alter(&table, &[append]);
        let value = next.get("t").unwrap().configs["cleanup.policy"].clone();
        assert_eq!(value, "delete,compact");
        let subtract = change(
            "t",
            vec![ConfigOp::Subtract("cleanup.policy".into(), "delete".into())],
        );
        let (next, _) = plan_alter(&next, &[subtract]);
        assert_eq!(next.get("t").unwrap().configs["cleanup.policy"], "compact");
    }

    #[test]
    fn deleting_an_absent_key_changes_nothing() {
        let table = table_with("t", &[]);
        let ops = vec![ConfigOp::Delete("retention.ms".into())];
        let (next, outcomes) = plan_alter(&table, &[change("t", ops)]);
        assert_eq!(outcomes, vec![Ok(())]);
        assert_eq!(next.version, table.version);
    }
}
