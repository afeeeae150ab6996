//! KIP-226 synonyms of a broker key as Kafka builds them
//! (`DynamicBrokerConfig.brokerConfigSynonyms`, `ConfigHelper.configSynonyms`):
//! the static values of every key of the key's family in family order, then
//! their defaults in the same order, then everything before the first entry
//! of the key itself dropped. A topic key's broker synonyms are those of its
//! broker key.

use super::described::{BrokerConfigSource, BrokerSynonym};
use super::keys::broker_key;
use super::topic::TopicDefault;
use super::{topic_default_key, Config};

/// Kafka's synonym families, most specific first. Every other key is a
/// family of its own (`log.dir` and `log.dirs`, `broker.id` and `node.id`
/// are separate keys in Kafka).
const SYNONYM_FAMILIES: &[&[&str]] = &[
    &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ],
    &["log.roll.ms", "log.roll.hours"],
    &["log.roll.jitter.ms", "log.roll.jitter.hours"],
    &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
];

/// Keys whose Kafka default is not where the broker table keeps it: a
/// family's default lives on its coarsest key (`log.retention.hours=168`),
/// and the finer keys have none (`None`).
const KAFKA_DEFAULTS: &[(&str, Option<&str>)] = &[
    ("log.retention.ms", None),
    ("log.retention.minutes", None),
    ("log.retention.hours", Some("168")),
    ("log.roll.ms", None),
    ("log.roll.hours", Some("168")),
    ("log.roll.jitter.ms", None),
    ("log.flush.interval.ms", None),
];

/// The family of `name`, most specific first.
fn family(name: &'static str) -> Vec<&'static str> {
    let found = SYNONYM_FAMILIES
        .iter()
        .find(|family| family.contains(&name));
    found.map_or_else(|| vec![name], |family| family.to_vec())
}

/// Whether `name` shares a Kafka synonym family with other keys.
pub fn in_family(name: &str) -> bool {
    SYNONYM_FAMILIES.iter().any(|family| family.contains(&name))
}

/// The default Kafka lists for a broker key (a DEFAULT_CONFIG synonym), if
/// it has one: an alias has none; a broker-level topic default has its
/// topic key's.
pub fn kafka_default(name: &str) -> Option<&'static str> {
    if let Some((_, default)) = KAFKA_DEFAULTS.iter().find(|(key, _)| *key == name) {
        return *default;
    }
    if let Some(key) = broker_key(name) {
        return key.default_value();
    }
    match topic_default_key(name)?.default {
        TopicDefault::Fixed(value) => Some(value),
        TopicDefault::Broker(_) => None,
    }
}

/// The value `name` was set to in the file or by `--override`.
pub fn written(config: &Config, name: &str) -> Option<String> {
    let found = config.static_keys.iter().find(|(key, _)| key == name);
    found.map(|(_, value)| value.clone())
}

/// The synonyms of broker key `name` (values hidden when `sensitive`).
pub fn broker_synonyms(config: &Config, name: &'static str, sensitive: bool) -> Vec<BrokerSynonym> {
    let family = family(name);
    let shown = |value: String| (!sensitive).then_some(value);
    let statics = family.iter().filter_map(|key| {
        Some(BrokerSynonym {
            name: key,
            value: shown(written(config, key)?),
            source: BrokerConfigSource::Static,
        })
    });
    let defaults = family.iter().filter_map(|key| {
        Some(BrokerSynonym {
            name: key,
            value: shown(kafka_default(key)?.to_string()),
            source: BrokerConfigSource::Default,
        })
    });
    statics
        .chain(defaults)
        .skip_while(|synonym| synonym.name != name)
        .collect()
}
