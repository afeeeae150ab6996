//! KIP-226 synonyms of a broker key as Kafka builds them
//! (`DynamicBrokerConfig.brokerConfigSynonyms`, `ConfigHelper.configSynonyms`):
//! the static values of every key of the key's family in family order, then
//! their defaults in the same order, then everything before the first entry
//! of the key itself dropped. A topic key's broker synonyms are those of its
//! broker key.

use super::described::{BrokerConfigSource, BrokerSynonym};
use super::keys::{broker_key, BROKER_ID_UNSET, LOG_DIRS_DEFAULT};
use super::topic::TopicDefault;
use super::{topic_default_key, Config};

/// Kafka's synonym families, most specific first. Every other key is a
/// family of its own (`log.dir` and `log.dirs`, `broker.id` and `node.id`
/// are separate keys in Kafka: no synonyms of each other).
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
/// and the finer keys have none (`None`). Kafka's `log.dirs` has no default
/// either: its default directory is `log.dir`'s (Kafka's /tmp/kafka-logs,
/// here the directory millrace uses when neither is set); `broker.id`'s is
/// -1.
const KAFKA_DEFAULTS: &[(&str, Option<&str>)] = &[
    ("log.retention.ms", None),
    ("log.retention.minutes", None),
    ("log.retention.hours", Some("168")),
    ("log.roll.ms", None),
    ("log.roll.hours", Some("168")),
    ("log.roll.jitter.ms", None),
    ("log.flush.interval.ms", None),
    ("log.dirs", None),
    ("log.dir", Some(LOG_DIRS_DEFAULT)),
    ("broker.id", Some("-1")),
];

/// Keys Kafka has no default for (it does not start without them) that
/// millrace defaults (a single node needs no config file): while unset their
/// millrace default is shown, as there is no Kafka answer to match; once
/// set, no DEFAULT_CONFIG synonym follows, as in Kafka's answer.
const KAFKA_REQUIRED: &[&str] = &["node.id"];

/// Kafka's `KafkaConfig.populateSynonyms`: of `broker.id` and `node.id`, the
/// one set alone is copied to the other before the config is read, so
/// DescribeConfigs shows both as set (STATIC_BROKER_CONFIG).
const POPULATED_PAIRS: &[(&str, &str)] = &[("broker.id", "node.id")];

/// The family of `name`, most specific first.
fn family(name: &'static str) -> Vec<&'static str> {
    let found = SYNONYM_FAMILIES
        .iter()
        .find(|family| family.contains(&name));
    found.map_or_else(|| vec![name], |family| family.to_vec())
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

/// The value `name` was set to in the file or by `--override`, or that of
/// the key Kafka copies to it when it is not set ([`POPULATED_PAIRS`]). An
/// id of -1 is not copied: millrace reads `broker.id=-1` (in dumps of
/// Kafka's defaults) as unset, so the node's id is not -1.
pub fn written(config: &Config, name: &str) -> Option<String> {
    written_as(config, name).or_else(|| {
        let copied = written_as(config, populated_from(name)?)?;
        (copied.trim().parse::<i64>() != Ok(BROKER_ID_UNSET)).then_some(copied)
    })
}

/// The value `name` itself was set to.
fn written_as(config: &Config, name: &str) -> Option<String> {
    let found = config.static_keys.iter().find(|(key, _)| key == name);
    found.map(|(_, value)| value.clone())
}

/// The key Kafka copies to `name` when only that one is set.
fn populated_from(name: &str) -> Option<&'static str> {
    POPULATED_PAIRS.iter().find_map(|&(a, b)| {
        if name == a {
            Some(b)
        } else if name == b {
            Some(a)
        } else {
            None
        }
    })
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
    let required_and_set =
        |key: &&str| KAFKA_REQUIRED.contains(key) && written(config, key).is_some();
    let defaults = family
        .iter()
        .filter(|key| !required_and_set(key))
        .filter_map(|key| {
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
