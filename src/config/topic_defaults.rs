//! Broker-level defaults of topic keys that have no entry of their own in
//! the broker key table (`compression.type`, `log.cleanup.policy`,
//! `log.cleaner.delete.retention.ms`...): Kafka's server.properties may set
//! them, so the parser takes them, checks the value with the topic key's
//! rule and keeps it as that topic key's default (a topic that does not set
//! the key then follows it, as in Kafka). Keys a topic applies (compression)
//! are applied through it; keys a topic only stores are stored the same way.
//! The broker keys of the Kafka 3.x topic keys 4.0 dropped
//! (`log.message.format.version`...) are taken and described only when set.

use super::keys::broker_key;
use super::topic::{KeySupport, TopicConfigKey, TOPIC_CONFIG_KEYS};

/// The topic key whose broker-level default `name` is, when `name` is not a
/// key of the broker table itself.
pub fn topic_default_key(name: &str) -> Option<&'static TopicConfigKey> {
    topic_default_keys().find(|key| key.broker_key == name)
}

/// Every topic key whose broker key is not in the broker table, in the
/// topic table's order.
pub fn topic_default_keys() -> impl Iterator<Item = &'static TopicConfigKey> {
    TOPIC_CONFIG_KEYS
        .iter()
        .filter(|key| !key.broker_key.is_empty() && broker_key(key.broker_key).is_none())
}

/// Whether a broker-level default is listed by DescribeConfigs even when not
/// set: every one but those of topic keys Kafka 4.0 removed.
pub fn always_described(key: &TopicConfigKey) -> bool {
    key.support != KeySupport::Deprecated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};

    #[test]
    fn kafka_server_properties_topic_defaults_load() {
        let lines = [
            "log.cleanup.policy=delete",
            "compression.type=producer",
            "log.cleaner.min.cleanable.ratio=0.5",
            "log.message.timestamp.type=LogAppendTime",
            "log.message.format.version=3.0",
        ];
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let config = Config::load(None, &lines).unwrap();
        let defaults = crate::config::topic_config_defaults(&config);
        let value = |name: &str| {
            let found = defaults.iter().find(|(key, _, _)| *key == name);
            found.map(|(_, value, _)| value.as_str())
        };
        assert_eq!(value("min.cleanable.dirty.ratio"), Some("0.5"));
        assert_eq!(value("message.timestamp.type"), Some("LogAppendTime"));
        assert_eq!(value("message.format.version"), Some("3.0"));
        let bad = Config::load(None, &["compression.type=brotli".to_string()]);
        assert!(matches!(bad, Err(ConfigError::BadValue { .. })), "{bad:?}");
    }

    #[test]
    fn each_broker_default_names_one_topic_key() {
        for key in topic_default_keys() {
            assert_eq!(
                topic_default_key(key.broker_key).map(|k| k.name),
                Some(key.name)
            );
        }
        assert!(topic_default_key("log.retention.ms").is_none());
        assert_eq!(
            topic_default_key("compression.type").map(|k| k.name),
            Some("compression.type")
        );
    }
}
