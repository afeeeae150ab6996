//! The broker's keys as DescribeConfigs answers a BROKER resource: every key
//! the config parser accepts (read from the one key table, so the two cannot
//! drift), with its value and, in KIP-226 terms, where that value comes from.
//!
//! Values are the text the key was set to (in the file or by `--override`),
//! else the key's default, never a value resolved at start (a -1 "an eighth
//! of memory" stays -1): what Kafka shows, and text the config parser takes
//! back, so the answer can be written out as a server.properties.

use super::keys::{KeyDefault, BROKER_KEYS, IGNORED_KAFKA_KEYS};
use super::topic::{ConfigType, BROKER_KEYS_WITHOUT_DEFAULT};
use super::{BrokerKey, Config};

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
    /// Its value; `None` for a sensitive key, for an alias that is not set,
    /// and for a key set only through an alias (the alias's entry carries
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

/// Every broker key, in table order, then the ignored Kafka keys that are
/// set (they have no default here, so they are listed only when set).
pub fn describe_broker_keys(config: &Config) -> Vec<DescribedBrokerKey> {
    let written = |name: &str| {
        config
            .static_keys
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let mut described: Vec<DescribedBrokerKey> = BROKER_KEYS
        .iter()
        .map(|key| describe_key(key, &written))
        .collect();
    described.extend(IGNORED_KAFKA_KEYS.iter().filter_map(|key| {
        let value = written(key.name)?;
        Some(DescribedBrokerKey {
            name: key.name,
            value: Some(value.clone()),
            source: BrokerConfigSource::Static,
            sensitive: false,
            kind: None,
            doc: key.why,
            synonyms: vec![BrokerSynonym {
                name: key.name,
                value: Some(value),
                source: BrokerConfigSource::Static,
            }],
        })
    }));
    described
}

/// One table key: its own value if set, else (when no alias of it is set)
/// its default.
fn describe_key(key: &BrokerKey, written: &dyn Fn(&str) -> Option<String>) -> DescribedBrokerKey {
    let sensitive = key.kind == ConfigType::Password;
    let shown = |value: String| (!sensitive).then_some(value);
    let static_synonym = |name: &'static str| {
        written(name).map(|value| BrokerSynonym {
            name,
            value: shown(value),
            source: BrokerConfigSource::Static,
        })
    };
    let own = written(key.name);
    let source = match own {
        Some(_) => BrokerConfigSource::Static,
        None => BrokerConfigSource::Default,
    };
    let mut synonyms: Vec<BrokerSynonym> = static_synonym(key.name).into_iter().collect();
    let value = match key.default {
        KeyDefault::AliasOf(_) => own,
        KeyDefault::Value(default) => {
            // Kafka lists the aliases most specific first (log.retention.ms,
            // .minutes, .hours); the table has them least specific first.
            let aliases = BROKER_KEYS
                .iter()
                .rev()
                .filter(|alias| alias.default == KeyDefault::AliasOf(key.name));
            let set_aliases: Vec<BrokerSynonym> =
                aliases.filter_map(|a| static_synonym(a.name)).collect();
            let through_alias = own.is_none() && !set_aliases.is_empty();
            if through_alias {
                // Kafka drops the synonyms before the key's own: with only
                // an alias set, none is left, and the default is not in effect.
                synonyms.clear();
                None
            } else {
                synonyms.extend(set_aliases);
                // As for a topic's synonyms: keys whose Kafka default lives on
                // an alias (log.retention.ms) list no default of their own.
                if !BROKER_KEYS_WITHOUT_DEFAULT.contains(&key.name) {
                    synonyms.push(BrokerSynonym {
                        name: key.name,
                        value: shown(default.to_string()),
                        source: BrokerConfigSource::Default,
                    });
                }
                Some(own.unwrap_or_else(|| default.to_string()))
            }
        }
    };
    DescribedBrokerKey {
        name: key.name,
        value: value.and_then(shown),
        source,
        sensitive,
        kind: Some(key.kind),
        doc: key.doc,
        synonyms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let ignored: Vec<String> = IGNORED_KAFKA_KEYS
            .iter()
            .map(|k| format!("{}=1", k.name))
            .collect();
        let config = Config::load(None, &ignored).unwrap();
        let described: BTreeSet<&str> = describe_broker_keys(&config)
            .iter()
            .map(|d| d.name)
            .collect();
        let parsed = BROKER_KEYS.iter().map(|k| k.name);
        let accepted: BTreeSet<&str> = parsed
            .chain(IGNORED_KAFKA_KEYS.iter().map(|k| k.name))
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
        reloaded.static_keys.clear();
        assert_eq!(reloaded, defaults);
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

    #[test]
    fn aliases_are_described_as_kafka_does() {
        let described = describe_broker_keys(&loaded(&["log.retention.hours=24", "log.dir=/x"]));
        let hours = entry(&described, "log.retention.hours");
        assert_eq!(
            (hours.value.as_deref(), hours.source),
            (Some("24"), BrokerConfigSource::Static)
        );
        // Set only through an alias: no value of its own, no synonym left.
        let ms = entry(&described, "log.retention.ms");
        assert_eq!(
            (ms.value.as_deref(), ms.source),
            (None, BrokerConfigSource::Default)
        );
        assert!(ms.synonyms.is_empty());
        let minutes = entry(&described, "log.retention.minutes");
        assert_eq!(
            (minutes.value.as_deref(), minutes.source),
            (None, BrokerConfigSource::Default)
        );

        let both = describe_broker_keys(&loaded(&[
            "log.dirs=/a",
            "log.dir=/b",
            "log.retention.ms=5",
            "log.retention.minutes=2",
        ]));
        assert_eq!(
            synonyms(entry(&both, "log.dirs")),
            [
                ("log.dirs", Some("/a"), BrokerConfigSource::Static),
                ("log.dir", Some("/b"), BrokerConfigSource::Static),
                (
                    "log.dirs",
                    Some("/tmp/millrace-logs"),
                    BrokerConfigSource::Default
                ),
            ]
        );
        // log.retention.ms's Kafka default lives on log.retention.hours: none listed.
        assert_eq!(
            synonyms(entry(&both, "log.retention.ms")),
            [
                ("log.retention.ms", Some("5"), BrokerConfigSource::Static),
                (
                    "log.retention.minutes",
                    Some("2"),
                    BrokerConfigSource::Static
                ),
            ]
        );
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
