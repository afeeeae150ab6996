//! The broker's keys as DescribeConfigs answers a BROKER resource: every key
//! the config parser accepts (read from the one key table, so the two cannot
//! drift), with its value and, in KIP-226 terms, where that value comes from.
//!
//! Values are the text the key was set to (in the file or by `--override`),
//! else the key's default, never a value resolved at start (a -1 "an eighth
//! of memory" stays -1): what Kafka shows, and text the config parser takes
//! back, so the answer can be written out as a server.properties.

use super::keys::{broker_keys, ignored_kafka_keys, refused_kafka_keys};
use super::synonyms::{broker_synonyms, kafka_default, written};
use super::topic::ConfigType;
use super::{always_described, ignored_why, is_password, topic_default_keys, Config};

/// Where a broker key's value comes from: the KIP-226 sources a millrace
/// broker has (it has no dynamic broker configs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerConfigSource {
    /// Set in the config file or by `--override` (STATIC_BROKER_CONFIG).
    Static,
    /// The key's default (DEFAULT_CONFIG).
    Default,
}

/// A key whose value could give a described key its value (a KIP-226
/// synonym), most specific first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerSynonym {
    /// The key.
    pub name: &'static str,
    /// Its value; `None` for a sensitive key.
    pub value: Option<String>,
    /// Where that value comes from.
    pub source: BrokerConfigSource,
}

/// One described broker key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedBrokerKey {
    /// The key.
    pub name: &'static str,
    /// Its value; `None` for a sensitive key and for a key not set that has
    /// no Kafka default (an alias such as `log.retention.minutes`, and
    /// `log.dirs` even when set through `log.dir`: the alias's entry carries
    /// the value, in its own unit), as Kafka answers.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: BrokerConfigSource,
    /// A secret: its value is never shown.
    pub sensitive: bool,
    /// Kafka's type; `None` for a Kafka key millrace ignores (its type is
    /// not recorded).
    pub kind: Option<ConfigType>,
    /// What the key means.
    pub doc: &'static str,
    /// Its synonyms, the key itself first when it is set (KIP-226 order:
    /// static broker configs, then defaults).
    pub synonyms: Vec<BrokerSynonym>,
}

/// Every broker key, in table order, then the broker-level defaults of
/// topic keys (those of keys Kafka 4.0 removed only when set), then the
/// ignored Kafka keys that are set (they have no default here, so they are
/// listed only when set).
pub fn describe_broker_keys(config: &Config) -> Vec<DescribedBrokerKey> {
    let mut described: Vec<DescribedBrokerKey> = broker_keys()
        .map(|key| {
            let sensitive = key.kind == ConfigType::Password;
            describe_key(config, key.name, sensitive, Some(key.kind), key.doc)
        })
        .collect();
    let topic_defaults = topic_default_keys()
        .filter(|key| always_described(key) || written(config, key.broker_key).is_some());
    described.extend(
        topic_defaults
            .map(|key| describe_key(config, key.broker_key, false, Some(key.kind), key.doc)),
    );
    // Kafka lists all of its few hundred keys; millrace lists the ones it
    // ignores only when the file sets them, so its answer stays about what
    // it does (and shows the operator the settings that take no effect).
    let accepted_and_ignored = ignored_kafka_keys()
        .map(|key| key.name)
        .chain(refused_kafka_keys().map(|key| key.name));
    described.extend(accepted_and_ignored.filter_map(|name| {
        let value = written(config, name)?;
        let shown = (!is_password(name)).then_some(value);
        Some(DescribedBrokerKey {
            name,
            value: shown.clone(),
            source: BrokerConfigSource::Static,
            sensitive: is_password(name),
            kind: None,
            doc: ignored_why(name).unwrap_or_default(),
            synonyms: vec![BrokerSynonym {
                name,
                value: shown,
                source: BrokerConfigSource::Static,
            }],
        })
    }));
    described
}

/// One key as Kafka describes it: its own value if set, else its Kafka
/// default; the source is that of its first synonym.
fn describe_key(
    config: &Config,
    name: &'static str,
    sensitive: bool,
    kind: Option<ConfigType>,
    doc: &'static str,
) -> DescribedBrokerKey {
    // A key set only through an alias that is not a Kafka synonym (log.dirs
    // through log.dir) has Kafka's default, none for log.dirs: no value.
    let value = written(config, name).or_else(|| kafka_default(name).map(str::to_string));
    let synonyms = broker_synonyms(config, name, sensitive);
    let source = synonyms
        .first()
        .map_or(BrokerConfigSource::Default, |first| first.source);
    DescribedBrokerKey {
        name,
        value: value.filter(|_| !sensitive),
        source,
        sensitive,
        kind,
        doc,
        synonyms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::LOG_DIRS_DEFAULT;
    use crate::config::{topic_config_defaults, TOPIC_CONFIG_KEYS};
    use std::collections::BTreeSet;

    fn loaded(overrides: &[&str]) -> Config {
        let overrides: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
        Config::load(None, &overrides).unwrap()
    }

    fn entry<'a>(described: &'a [DescribedBrokerKey], name: &str) -> &'a DescribedBrokerKey {
        let found = described.iter().find(|d| d.name == name);
        found.unwrap_or_else(|| panic!("{name} not described"))
    }

    fn synonyms(entry: &DescribedBrokerKey) -> Vec<(&str, Option<&str>, BrokerConfigSource)> {
        let synonyms = entry.synonyms.iter();
        synonyms
            .map(|s| (s.name, s.value.as_deref(), s.source))
            .collect()
    }

    #[test]
    fn every_key_the_parser_accepts_is_described() {
        let ignored = ignored_kafka_keys().map(|k| format!("{}=1", k.name));
        let refused = refused_kafka_keys().map(|k| format!("{}={}", k.name, k.kafka_default));
        // The broker-level defaults of topic keys Kafka 4.0 removed, set to their default.
        let removed = topic_default_keys()
            .filter(|key| !always_described(key))
            .map(|key| {
                format!(
                    "{}={}",
                    key.broker_key,
                    kafka_default(key.broker_key).unwrap()
                )
            });
        let set: Vec<String> = ignored.chain(refused).chain(removed).collect();
        let config = Config::load(None, &set).unwrap();
        let described: BTreeSet<&str> = describe_broker_keys(&config)
            .iter()
            .map(|d| d.name)
            .collect();
        let parsed = broker_keys().map(|k| k.name);
        let accepted: BTreeSet<&str> = parsed
            .chain(topic_default_keys().map(|k| k.broker_key))
            .chain(ignored_kafka_keys().map(|k| k.name))
            .chain(refused_kafka_keys().map(|k| k.name))
            .collect();
        assert_eq!(described, accepted);
        for name in described {
            let accepted = Config::load(None, &[format!("{name}=1")]);
            assert!(
                !matches!(accepted, Err(crate::config::ConfigError::UnknownKey { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn the_described_values_load_back_as_the_same_config() {
        let defaults = Config::default();
        let described = describe_broker_keys(&defaults);
        let text: Vec<String> = described
            .iter()
            .filter_map(|d| Some(format!("{}={}", d.name, d.value.as_ref()?)))
            .collect();
        let mut reloaded = Config::load(None, &text).unwrap();
        let again = describe_broker_keys(&reloaded);
        assert!(again
            .iter()
            .all(|d| d.value.is_none() || d.source == BrokerConfigSource::Static));
        let values = |described: &[DescribedBrokerKey]| -> Vec<(&str, Option<String>)> {
            described
                .iter()
                .map(|d| (d.name, d.value.clone()))
                .collect()
        };
        assert_eq!(values(&again), values(&described));
        assert_eq!(
            topic_config_defaults(&reloaded),
            topic_config_defaults(&defaults)
        );
        reloaded.static_keys.clear();
        reloaded.topic_key_defaults.clear();
        assert_eq!(reloaded, defaults);
    }

    #[test]
    fn broker_defaults_of_topic_keys_are_described() {
        let described = describe_broker_keys(&Config::default());
        for name in [
            "compression.type",
            "log.cleanup.policy",
            "log.cleaner.min.cleanable.ratio",
        ] {
            let entry = entry(&described, name);
            assert_eq!(entry.source, BrokerConfigSource::Default, "{name}");
        }
        let compression = entry(&described, "compression.type");
        assert_eq!(compression.value.as_deref(), Some("producer"));
        assert_eq!(compression.kind, Some(ConfigType::String));
        assert_eq!(
            synonyms(compression),
            [(
                "compression.type",
                Some("producer"),
                BrokerConfigSource::Default
            )]
        );
        // Kafka 4.x has no log.message.format.version: listed only when set.
        assert!(described
            .iter()
            .all(|d| d.name != "log.message.format.version"));
        let set = describe_broker_keys(&loaded(&["compression.type=zstd"]));
        let compression = entry(&set, "compression.type");
        assert_eq!(
            synonyms(compression),
            [
                ("compression.type", Some("zstd"), BrokerConfigSource::Static),
                (
                    "compression.type",
                    Some("producer"),
                    BrokerConfigSource::Default
                ),
            ]
        );
    }

    #[test]
    fn no_documentation_has_a_run_of_spaces() {
        let docs = broker_keys().map(|k| (k.name, k.doc));
        let docs = docs
            .chain(TOPIC_CONFIG_KEYS.iter().map(|k| (k.name, k.doc)))
            .chain(ignored_kafka_keys().map(|k| (k.name, k.why)))
            .chain(refused_kafka_keys().map(|k| (k.name, k.why)));
        for (name, doc) in docs {
            assert!(!doc.contains("  "), "{name}: {doc:?}");
        }
    }

    #[test]
    fn a_set_key_is_static_and_an_unset_key_its_default() {
        let described = describe_broker_keys(&loaded(&["replica.lag.time.max.ms=12345"]));
        let set = entry(&described, "replica.lag.time.max.ms");
        assert_eq!(set.value.as_deref(), Some("12345"));
        assert_eq!(set.source, BrokerConfigSource::Static);
        assert_eq!(set.kind, Some(ConfigType::Long));
        assert_eq!(
            synonyms(set),
            [
                (
                    "replica.lag.time.max.ms",
                    Some("12345"),
                    BrokerConfigSource::Static
                ),
                (
                    "replica.lag.time.max.ms",
                    Some("30000"),
                    BrokerConfigSource::Default
                ),
            ]
        );
        let unset = entry(&described, "default.replication.factor");
        assert_eq!(unset.value.as_deref(), Some("1"));
        assert_eq!(unset.source, BrokerConfigSource::Default);
        assert_eq!(
            synonyms(unset),
            [(
                "default.replication.factor",
                Some("1"),
                BrokerConfigSource::Default
            )]
        );
        // An unresolved -1 stays -1: the configured value, not the one derived at start.
        let derived = entry(&described, "log.recent.bytes.per.shard.max");
        assert_eq!(derived.value.as_deref(), Some("-1"));
        assert!(described.iter().all(|d| !d.sensitive));
    }

    fn value_and_source(
        described: &[DescribedBrokerKey],
        name: &str,
    ) -> (Option<String>, BrokerConfigSource) {
        let found = entry(described, name);
        (found.value.clone(), found.source)
    }

    #[test]
    fn retention_roll_and_flush_synonyms_are_kafkas() {
        use BrokerConfigSource::{Default, Static};
        let unset = describe_broker_keys(&Config::default());
        let hours = entry(&unset, "log.retention.hours");
        assert_eq!(
            (hours.value.as_deref(), hours.source),
            (Some("168"), Default)
        );
        assert_eq!(
            synonyms(hours),
            [("log.retention.hours", Some("168"), Default)]
        );
        for name in [
            "log.retention.ms",
            "log.retention.minutes",
            "log.roll.ms",
            "log.flush.interval.ms",
        ] {
            assert_eq!(value_and_source(&unset, name), (None, Default), "{name}");
            assert!(entry(&unset, name).synonyms.is_empty(), "{name}");
        }
        assert_eq!(
            value_and_source(&unset, "log.roll.hours"),
            (Some("168".to_string()), Default)
        );

        let both =
            describe_broker_keys(&loaded(&["log.retention.ms=5", "log.retention.minutes=2"]));
        assert_eq!(
            synonyms(entry(&both, "log.retention.ms")),
            [
                ("log.retention.ms", Some("5"), Static),
                ("log.retention.minutes", Some("2"), Static),
                ("log.retention.hours", Some("168"), Default),
            ]
        );
        assert_eq!(
            value_and_source(&both, "log.retention.hours"),
            (Some("168".to_string()), Default)
        );

        let hours_only = describe_broker_keys(&loaded(&["log.retention.hours=24"]));
        assert_eq!(
            synonyms(entry(&hours_only, "log.retention.hours")),
            [
                ("log.retention.hours", Some("24"), Static),
                ("log.retention.hours", Some("168"), Default),
            ]
        );
        let ms = entry(&hours_only, "log.retention.ms");
        assert_eq!((ms.value.as_deref(), ms.source), (None, Default));
        assert!(ms.synonyms.is_empty());
    }

    #[test]
    fn log_dir_log_dirs_broker_id_and_node_id_as_kafka_4_4_answers() {
        use BrokerConfigSource::{Default, Static};
        let seen = |described: &[DescribedBrokerKey], name: &str| {
            let found = entry(described, name);
            (found.value.clone(), found.source, synonyms(found).len())
        };
        // node.id and log.dirs set: Kafka copies node.id to broker.id; log.dirs
        // and node.id have no default, log.dir and broker.id have theirs.
        let usual = describe_broker_keys(&loaded(&["node.id=1", "log.dirs=/a"]));
        assert_eq!(
            synonyms(entry(&usual, "broker.id")),
            [
                ("broker.id", Some("1"), Static),
                ("broker.id", Some("-1"), Default)
            ]
        );
        assert_eq!(
            synonyms(entry(&usual, "node.id")),
            [("node.id", Some("1"), Static)]
        );
        assert_eq!(
            synonyms(entry(&usual, "log.dirs")),
            [("log.dirs", Some("/a"), Static)]
        );
        assert_eq!(
            seen(&usual, "log.dir"),
            (Some(LOG_DIRS_DEFAULT.to_string()), Default, 1)
        );
        // broker.id and log.dir set: broker.id copied to node.id; log.dirs
        // shows no value.
        let aliases = describe_broker_keys(&loaded(&["broker.id=3", "log.dir=/b"]));
        assert_eq!(seen(&aliases, "node.id"), (Some("3".into()), Static, 1));
        assert_eq!(seen(&aliases, "broker.id"), (Some("3".into()), Static, 2));
        assert_eq!(
            synonyms(entry(&aliases, "log.dir")),
            [
                ("log.dir", Some("/b"), Static),
                ("log.dir", Some(LOG_DIRS_DEFAULT), Default)
            ]
        );
        assert_eq!(seen(&aliases, "log.dirs"), (None, Default, 0));
        // Neither id set (Kafka does not start so): millrace's node 0.
        let none = describe_broker_keys(&Config::default());
        assert_eq!(seen(&none, "node.id"), (Some("0".into()), Default, 1));
        assert_eq!(seen(&none, "broker.id"), (Some("-1".into()), Default, 1));
        // broker.id=-1 alone (a dump of Kafka's defaults) is unset here: not
        // copied to node.id, which stays the node's 0.
        let dumped = describe_broker_keys(&loaded(&["broker.id=-1"]));
        assert_eq!(seen(&dumped, "node.id"), (Some("0".into()), Default, 1));
    }

    #[test]
    fn an_ignored_kafka_key_is_described_only_when_set() {
        let names = |config: &Config| -> Vec<&str> {
            describe_broker_keys(config)
                .iter()
                .map(|d| d.name)
                .collect()
        };
        assert!(!names(&Config::default()).contains(&"num.io.threads"));
        let described = describe_broker_keys(&loaded(&["num.io.threads=8"]));
        let set = entry(&described, "num.io.threads");
        assert_eq!(
            (set.value.as_deref(), set.source, set.kind),
            (Some("8"), BrokerConfigSource::Static, None)
        );
    }
}
