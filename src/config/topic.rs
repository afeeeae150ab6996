//! Per-topic configuration keys (CreateTopics, DescribeConfigs,
//! AlterConfigs, IncrementalAlterConfigs): how each is checked, its default
//! and what millrace does with it. The table itself is in `topic_keys.rs`.

use super::Config;
use std::collections::BTreeMap;

pub use super::topic_keys::{COMPRESSION_TYPES, TOPIC_CONFIG_KEYS};

/// Checks one value; `Err` describes the expected form.
pub type TopicValidator = fn(&str) -> Result<(), String>;

/// Where a key's default comes from.
#[derive(Clone, Copy)]
pub enum TopicDefault {
    /// Kafka's fixed default.
    Fixed(&'static str),
    /// The broker key this broker sets it from.
    Broker(fn(&Config) -> String),
}

/// Kafka's `ConfigDef.Type` of a key, as DescribeConfigs v3+ answers it
/// (`config_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    /// true or false.
    Boolean,
    /// Text.
    String,
    /// A 32-bit integer.
    Int,
    /// A 16-bit integer.
    Short,
    /// A 64-bit integer.
    Long,
    /// A floating-point number.
    Double,
    /// A comma-separated list.
    List,
    /// A secret: DescribeConfigs marks it sensitive and never shows its value.
    Password,
}

impl ConfigType {
    /// Kafka's wire code (`DescribeConfigsResponse.ConfigType`).
    pub fn wire_code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Password => 9,
        }
    }
}

/// What millrace does with a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySupport {
    /// Applied to the topic's partitions (and on change, to open logs).
    Applied,
    /// Validated, stored and described; applied when `until` lands.
    Stored {
        /// The feature that will apply it.
        until: &'static str,
    },
    /// A key Kafka 3.x accepted and ignored (or that 4.0 removed): accepted,
    /// described, logged as ignored when set.
    Deprecated,
}

/// One per-topic key.
pub struct TopicConfigKey {
    /// Topic-level key name.
    pub name: &'static str,
    /// Kafka's type of the key.
    pub kind: ConfigType,
    /// Kafka's broker key for its default (a DescribeConfigs synonym);
    /// empty for topic-only keys.
    pub broker_key: &'static str,
    /// What the key means.
    pub doc: &'static str,
    /// Checks a value given in CreateTopics or AlterConfigs.
    pub validate: TopicValidator,
    /// The value when the topic does not set it.
    pub default: TopicDefault,
    /// What millrace does with it.
    pub support: KeySupport,
}

impl TopicConfigKey {
    /// The default as this broker applies it: a broker-level default set
    /// in the file, else the key's own.
    pub fn default_value(&self, config: &Config) -> String {
        if let Some(value) = config.topic_key_defaults.get(self.name) {
            return value.clone();
        }
        match self.default {
            TopicDefault::Fixed(value) => value.to_string(),
            TopicDefault::Broker(value_of) => value_of(config),
        }
    }
}

/// The table entry of a topic key, if known.
pub fn topic_config_key(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIG_KEYS.iter().find(|key| key.name == name)
}

/// Each topic key's default as this broker would apply it:
/// `(topic key, value, broker key it comes from)`, in table order.
pub fn topic_config_defaults(config: &Config) -> Vec<(&'static str, String, &'static str)> {
    TOPIC_CONFIG_KEYS
        .iter()
        .map(|key| (key.name, key.default_value(config), key.broker_key))
        .collect()
}

/// Whether a topic's config answers (CreateTopics, DescribeConfigs) list
/// `key`: every key Kafka 4.x has, and millrace's own, always; a key 4.x
/// removed only when the topic sets it (Kafka 4.x lists none of them).
pub fn is_described(key: &str, overrides: &BTreeMap<String, String>) -> bool {
    topic_config_key(key).is_some_and(|k| k.support != KeySupport::Deprecated)
        || overrides.contains_key(key)
}

/// Checks a topic key and value; `Err` names the problem for the
/// INVALID_CONFIG error message.
pub fn validate_topic_config(key: &str, value: &str) -> Result<(), String> {
    let Some(entry) = topic_config_key(key) else {
        return Err(format!("Unknown topic config name: {key}"));
    };
    (entry.validate)(value).map_err(|expected| {
        format!("Invalid value {value} for configuration {key}: expected {expected}")
    })
}

/// Kafka's checks of a topic's whole set of overrides (`LogConfig.validate`
/// past the single values): the compaction lags in order, and no tiered
/// storage on a broker without it.
pub fn validate_topic_configs(configs: &BTreeMap<String, String>) -> Result<(), String> {
    let long = |key: &str, default: i64| {
        configs
            .get(key)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(default)
    };
    let min_lag = long("min.compaction.lag.ms", 0);
    let max_lag = long("max.compaction.lag.ms", i64::MAX);
    if min_lag > max_lag {
        return Err(format!(
            "conflict topic config setting min.compaction.lag.ms ({min_lag}) > \
             max.compaction.lag.ms ({max_lag})"
        ));
    }
    let remote = configs.get("remote.storage.enable");
    if remote.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Err(
            "Tiered Storage functionality is disabled in the broker. Topic cannot be \
                    configured with remote log storage."
                .to_string(),
        );
    }
    Ok(())
}

/// Says in the log, once per change, that `topic` sets deprecated keys
/// millrace ignores (Kafka 3.x warns of `message.format.version` the same way).
pub fn log_ignored_keys(topic: &str, configs: &BTreeMap<String, String>) {
    for key in configs.keys() {
        let deprecated = topic_config_key(key).is_some_and(|k| k.support == KeySupport::Deprecated);
        if deprecated && key != "message.timestamp.difference.max.ms" {
            log::warn!(
                "topic {topic}: configuration {key} is deprecated (removed in Kafka 4.0) and \
                 ignored"
            );
        }
    }
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
        assert_eq!(value("compression.type"), "producer");
        assert_eq!(value("message.timestamp.after.max.ms"), "3600000");
        assert_eq!(value("min.insync.replicas"), "1");
        assert_eq!(value("index.interval.bytes"), "4096");
        assert_eq!(value("unflushed.read.enable"), "false");
        for (key, value, _) in &defaults {
            assert!(validate_topic_config(key, value).is_ok(), "{key}={value}");
        }
    }

    /// Every topic config of Kafka 4.4's `LogConfig`, and the 3.x keys 4.x
    /// removed, is known.
    #[test]
    fn every_kafka_topic_key_is_known() {
        let kafka_4 = [
            "cleanup.policy",
            "compression.gzip.level",
            "compression.lz4.level",
            "compression.type",
            "compression.zstd.level",
            "delete.retention.ms",
            "errors.deadletterqueue.group.enable",
            "file.delete.delay.ms",
            "flush.messages",
            "flush.ms",
            "follower.replication.throttled.replicas",
            "index.interval.bytes",
            "leader.replication.throttled.replicas",
            "local.retention.bytes",
            "local.retention.ms",
            "max.compaction.lag.ms",
            "max.message.bytes",
            "message.timestamp.after.max.ms",
            "message.timestamp.before.max.ms",
            "message.timestamp.type",
            "max.decompressed.message.bytes",
            "min.cleanable.dirty.ratio",
            "min.compaction.lag.ms",
            "min.insync.replicas",
            "preallocate",
            "remote.copy.lag.bytes",
            "remote.copy.lag.ms",
            "remote.log.copy.disable",
            "remote.log.delete.on.disable",
            "remote.storage.enable",
            "retention.bytes",
            "retention.ms",
            "segment.bytes",
            "segment.index.bytes",
            "segment.jitter.ms",
            "segment.ms",
            "unclean.leader.election.enable",
        ];
        let kafka_3_only = [
            "message.downconversion.enable",
            "message.format.version",
            "message.timestamp.difference.max.ms",
        ];
        for key in kafka_4.iter().chain(&kafka_3_only) {
            assert!(topic_config_key(key).is_some(), "{key}");
        }
        let millrace_only = ["unflushed.read.enable"];
        for key in &millrace_only {
            assert!(topic_config_key(key).is_some(), "{key}");
        }
        let all = kafka_4.len() + kafka_3_only.len() + millrace_only.len();
        assert_eq!(TOPIC_CONFIG_KEYS.len(), all);
        for (index, key) in TOPIC_CONFIG_KEYS.iter().enumerate() {
            let later = &TOPIC_CONFIG_KEYS[index + 1..];
            assert!(
                later.iter().all(|other| other.name != key.name),
                "{}",
                key.name
            );
        }
    }

    #[test]
    fn values_are_checked_with_kafkas_rules() {
        let valid = [
            ("retention.ms", "-1"),
            ("retention.bytes", "-5"),
            ("cleanup.policy", "compact,delete"),
            ("message.timestamp.type", "LogAppendTime"),
            ("compression.type", "uncompressed"),
            ("compression.type", "producer"),
            ("compression.gzip.level", "-1"),
            ("compression.gzip.level", "9"),
            ("compression.zstd.level", "-131072"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.cleanable.dirty.ratio", "1"),
            ("preallocate", "TRUE"),
            ("leader.replication.throttled.replicas", "0:1,1:2"),
            ("follower.replication.throttled.replicas", "*"),
            ("follower.replication.throttled.replicas", ""),
            ("local.retention.ms", "-2"),
            ("message.format.version", "2.8"),
            ("message.format.version", "0.10.2-IV0"),
            ("message.format.version", "3.0-IV1"),
            ("message.downconversion.enable", "false"),
            ("message.timestamp.difference.max.ms", "0"),
        ];
        for (key, value) in valid {
            assert!(validate_topic_config(key, value).is_ok(), "{key}={value}");
        }
        let invalid = [
            ("retention.ms", "-2"),
            ("segment.bytes", "10"),
            ("segment.bytes", "3000000000"),
            ("cleanup.policy", "forever"),
            ("cleanup.policy", ""),
            ("message.timestamp.type", "createtime"),
            ("min.insync.replicas", "0"),
            ("flush.ms", "soon"),
            ("compression.type", "brotli"),
            ("compression.type", "GZIP"),
            ("compression.gzip.level", "0"),
            ("compression.gzip.level", "10"),
            ("compression.lz4.level", "18"),
            ("compression.zstd.level", "23"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("min.cleanable.dirty.ratio", "half"),
            ("preallocate", "yes"),
            ("leader.replication.throttled.replicas", "0:1,x"),
            ("local.retention.bytes", "-3"),
            ("max.compaction.lag.ms", "0"),
            ("segment.index.bytes", "3"),
            ("message.format.version", "5.5"),
            ("message.format.version", "banana"),
            ("message.timestamp.before.max.ms", "-1"),
            ("unflushed.read.enable", "yes"),
        ];
        for (key, value) in invalid {
            let error = validate_topic_config(key, value).unwrap_err();
            assert!(error.contains(key), "{key}={value}: {error}");
        }
        let unknown = validate_topic_config("retention.mss", "1").unwrap_err();
        assert!(unknown.contains("Unknown topic config name"), "{unknown}");
    }

    #[test]
    fn whole_config_sets_are_checked_as_kafka_does() {
        let set = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(validate_topic_configs(&set(&[("min.compaction.lag.ms", "10")])).is_ok());
        let lags = set(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5"),
        ]);
        assert!(validate_topic_configs(&lags)
            .unwrap_err()
            .contains("min.compaction.lag.ms"));
        let remote = set(&[("remote.storage.enable", "true")]);
        assert!(validate_topic_configs(&remote)
            .unwrap_err()
            .contains("Tiered Storage"));
        assert!(validate_topic_configs(&set(&[("remote.storage.enable", "false")])).is_ok());
    }
}
