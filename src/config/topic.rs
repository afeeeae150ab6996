//! Per-topic configuration keys (CreateTopics, DescribeConfigs,
//! IncrementalAlterConfigs) and their broker-level defaults.

use super::keys::{boolean, int};
use super::Config;

const INT_MAX: i64 = i32::MAX as i64;
/// Kafka's smallest `segment.bytes` (a legacy record header).
const TOPIC_SEGMENT_BYTES_MIN: i64 = 14;
/// Kafka writes "never" as Long.MAX_VALUE.
const KAFKA_NEVER: i64 = i64::MAX;

/// Checks one value; `Err` describes the expected form.
pub type TopicValidator = fn(&str) -> Result<(), String>;

/// One per-topic key.
pub struct TopicConfigKey {
    /// Topic-level key name.
    pub name: &'static str,
    /// The broker key its default comes from (a DescribeConfigs synonym).
    pub broker_key: &'static str,
    /// What the key means.
    pub doc: &'static str,
    /// Checks a value given in CreateTopics or AlterConfigs.
    pub validate: TopicValidator,
}

/// Every per-topic key millrace knows.
pub static TOPIC_CONFIG_KEYS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "segment.bytes",
        broker_key: "log.segment.bytes",
        doc: "Segment size at which a new segment is rolled.",
        validate: |v| int(v, TOPIC_SEGMENT_BYTES_MIN, INT_MAX).map(drop),
    },
    TopicConfigKey {
        name: "segment.ms",
        broker_key: "log.roll.ms",
        doc: "Roll a segment after this age even if not full.",
        validate: |v| int(v, 1, i64::MAX).map(drop),
    },
    TopicConfigKey {
        name: "retention.ms",
        broker_key: "log.retention.ms",
        doc: "Delete segments older than this; -1 = keep forever.",
        validate: |v| int(v, -1, i64::MAX).map(drop),
    },
    TopicConfigKey {
        name: "retention.bytes",
        broker_key: "log.retention.bytes",
        doc: "Delete old segments past this partition size; -1 = no limit.",
        validate: |v| int(v, -1, i64::MAX).map(drop),
    },
    TopicConfigKey {
        name: "flush.messages",
        broker_key: "log.flush.interval.messages",
        doc: "fsync after this many messages.",
        validate: |v| int(v, 1, KAFKA_NEVER).map(drop),
    },
    TopicConfigKey {
        name: "flush.ms",
        broker_key: "log.flush.interval.ms",
        doc: "fsync data older than this many ms.",
        validate: |v| int(v, 0, KAFKA_NEVER).map(drop),
    },
    TopicConfigKey {
        name: "unflushed.read.enable",
        broker_key: "log.unflushed.read.enable",
        doc: "Consumers may read records not yet fsynced (Kafka's single-node behaviour).",
        validate: |v| boolean(v).map(drop),
    },
    TopicConfigKey {
        name: "max.message.bytes",
        broker_key: "message.max.bytes",
        doc: "Largest record batch accepted.",
        validate: |v| int(v, 0, INT_MAX).map(drop),
    },
    TopicConfigKey {
        name: "cleanup.policy",
        broker_key: "log.cleanup.policy",
        doc: "delete, compact or compact,delete (compaction is not performed yet).",
        validate: validate_cleanup_policy,
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        broker_key: "log.message.timestamp.type",
        doc: "CreateTime or LogAppendTime.",
        validate: |v| match v.trim() {
            "CreateTime" | "LogAppendTime" => Ok(()),
            _ => Err("CreateTime or LogAppendTime".to_string()),
        },
    },
    TopicConfigKey {
        name: "min.insync.replicas",
        broker_key: "min.insync.replicas",
        doc: "Replicas that must have a record for acks=all (1 on a single node).",
        validate: |v| int(v, 1, INT_MAX).map(drop),
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        broker_key: "log.index.interval.bytes",
        doc: "Bytes of log between two offset index entries.",
        validate: |v| int(v, 0, INT_MAX).map(drop),
    },
];

/// The table entry of a topic key, if known.
pub fn topic_config_key(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIG_KEYS.iter().find(|key| key.name == name)
}

/// Each topic key's default as this broker would apply it:
/// `(topic key, value, broker key it comes from)`, in table order.
pub fn topic_config_defaults(config: &Config) -> Vec<(&'static str, String, &'static str)> {
    TOPIC_CONFIG_KEYS
        .iter()
        .map(|key| {
            (
                key.name,
                topic_default_value(config, key.name),
                key.broker_key,
            )
        })
        .collect()
}

fn topic_default_value(config: &Config, topic_key: &str) -> String {
    match topic_key {
        "segment.bytes" => config.log_segment_bytes.to_string(),
        "segment.ms" => config.log_roll_ms.to_string(),
        "retention.ms" => config.log_retention_ms.to_string(),
        "retention.bytes" => config.log_retention_bytes.to_string(),
        "flush.messages" => kafka_count(config.log_flush_interval_messages),
        "flush.ms" => kafka_count(config.log_flush_interval_ms),
        "unflushed.read.enable" => config.log_unflushed_read_enable.to_string(),
        "max.message.bytes" => config.message_max_bytes.to_string(),
        "cleanup.policy" => "delete".to_string(),
        "message.timestamp.type" => "CreateTime".to_string(),
        "min.insync.replicas" => "1".to_string(),
        "index.interval.bytes" => config.log_index_interval_bytes.to_string(),
        _ => String::new(),
    }
}

/// `u64::MAX` ("never") is written back as Kafka's Long.MAX_VALUE.
fn kafka_count(value: u64) -> String {
    i64::try_from(value).unwrap_or(KAFKA_NEVER).to_string()
}

/// Checks a topic key and value; `Err` names the problem for the
/// INVALID_CONFIG error message.
pub fn validate_topic_config(key: &str, value: &str) -> Result<(), String> {
    let Some(entry) = topic_config_key(key) else {
        return Err(format!("unknown topic config {key:?}"));
    };
    (entry.validate)(value).map_err(|expected| {
        format!("invalid value {value:?} for topic config {key}: expected {expected}")
    })
}

fn validate_cleanup_policy(value: &str) -> Result<(), String> {
    let mut policies = value.split(',').map(str::trim);
    let known = policies.all(|policy| policy == "delete" || policy == "compact");
    if known && !value.trim().is_empty() {
        Ok(())
    } else {
        Err("delete, compact or compact,delete".to_string())
    }
}

/// Every topic key's broker synonym is either a broker key of the table or a
/// fixed Kafka default; used by tests to keep the two tables in step.
#[cfg(test)]
fn broker_synonym_known(broker_key: &str) -> bool {
    const FIXED_DEFAULTS: &[&str] = &[
        "log.cleanup.policy",
        "log.message.timestamp.type",
        "min.insync.replicas",
    ];
    super::keys::broker_key(broker_key).is_some() || FIXED_DEFAULTS.contains(&broker_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_broker_config() {
        let config = Config {
            log_retention_ms: 1234,
            ..Config::default()
        };
        let defaults = topic_config_defaults(&config);
        assert_eq!(defaults.len(), TOPIC_CONFIG_KEYS.len());
        let value = |name: &str| {
            let entry = defaults.iter().find(|(key, _, _)| *key == name).unwrap();
            entry.1.clone()
        };
        assert_eq!(value("retention.ms"), "1234");
        assert_eq!(value("segment.bytes"), "1073741824");
        assert_eq!(value("flush.messages"), "9223372036854775807");
        assert_eq!(value("cleanup.policy"), "delete");
        assert_eq!(value("message.timestamp.type"), "CreateTime");
        assert_eq!(value("min.insync.replicas"), "1");
        assert_eq!(value("index.interval.bytes"), "4096");
        assert_eq!(value("unflushed.read.enable"), "false");
        for (key, value, broker_key) in &defaults {
            assert!(validate_topic_config(key, value).is_ok(), "{key}={value}");
            assert!(broker_synonym_known(broker_key), "{broker_key}");
        }
    }

    #[test]
    fn validates_values() {
        assert!(validate_topic_config("retention.ms", "-1").is_ok());
        assert!(validate_topic_config("cleanup.policy", "compact,delete").is_ok());
        assert!(validate_topic_config("message.timestamp.type", "LogAppendTime").is_ok());
        let errors = [
            ("retention.ms", "-2"),
            ("segment.bytes", "10"),
            ("segment.bytes", "3000000000"),
            ("cleanup.policy", "forever"),
            ("cleanup.policy", ""),
            ("message.timestamp.type", "createtime"),
            ("min.insync.replicas", "0"),
            ("flush.ms", "soon"),
            ("unflushed.read.enable", "yes"),
        ];
        for (key, value) in errors {
            let error = validate_topic_config(key, value).unwrap_err();
            assert!(error.contains(key), "{error}");
        }
        let unknown = validate_topic_config("retention.mss", "1").unwrap_err();
        assert!(unknown.contains("unknown"));
    }
}
