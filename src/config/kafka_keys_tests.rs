//! Every broker key of Kafka 4.4 (the list generated from Kafka's jars,
//! `tests/fixtures/kafka-broker-keys`) is known to millrace: honoured,
//! taken as a topic default, ignored with a reason, or refused away from
//! Kafka's default; a file setting them all at Kafka's default loads.

use super::*;

/// Kafka 4.4.0's broker keys: (name, type, default) with `<null>` and
/// `<none>` as the generator writes them.
const KAFKA_KEYS: &str = include_str!("../../tests/fixtures/kafka-broker-keys/kafka-4.4.0.tsv");

/// Keys of Kafka before 4.0 that shipped files still set (ignored).
const FORMER_KAFKA_KEYS: &[&str] = &["zookeeper.connect", "zookeeper.connection.timeout.ms"];

fn kafka_keys() -> Vec<(&'static str, &'static str, &'static str)> {
    let lines = KAFKA_KEYS.lines().filter(|line| !line.starts_with('#'));
    let keys: Vec<_> = lines
        .map(|line| {
            let mut fields = line.split('\t');
            let mut next = || fields.next().unwrap_or_else(|| panic!("{line:?}"));
            (next(), next(), next())
        })
        .collect();
    assert!(keys.len() > 300, "{} keys", keys.len());
    keys
}

/// How millrace takes key `name`, each key exactly one way.
fn taken_as(name: &str) -> Vec<&'static str> {
    let ways = [
        ("honoured", keys::broker_key(name).is_some()),
        ("topic default", topic_default_key(name).is_some()),
        ("ignored", ignored_key(name).is_some()),
        ("refused unless default", refused_key(name).is_some()),
    ];
    ways.iter()
        .filter(|(_, is)| *is)
        .map(|(way, _)| *way)
        .collect()
}

#[test]
fn every_kafka_broker_key_is_taken_exactly_one_way() {
    for (name, _, _) in kafka_keys() {
        assert_eq!(taken_as(name).len(), 1, "{name}: {:?}", taken_as(name));
    }
}

#[test]
fn every_ignored_or_refused_key_is_kafkas() {
    let kafka: Vec<&str> = kafka_keys().iter().map(|(name, _, _)| *name).collect();
    let names = ignored_kafka_keys().map(|key| key.name);
    for name in names.chain(refused_kafka_keys().map(|key| key.name)) {
        assert!(
            kafka.contains(&name) || FORMER_KAFKA_KEYS.contains(&name),
            "{name} is not a Kafka 4.4 broker key"
        );
        assert_eq!(taken_as(name).len(), 1, "{name}");
    }
}

#[test]
fn refused_keys_carry_kafkas_default_and_type() {
    for (name, kind, default) in kafka_keys() {
        let Some(key) = refused_key(name) else {
            continue;
        };
        let default = if default == "<null>" { "" } else { default };
        assert_eq!(key.kafka_default, default, "{name}");
        assert!(key.accepts(default), "{name}");
        assert_eq!(is_password(name), kind == "PASSWORD", "{name}");
    }
}

/// Kafka types whose parser refuses an empty value: a key of one of them
/// with a null default can only be left out.
const NOT_EMPTY_TYPES: &[&str] = &["INT", "LONG", "CLASS", "SHORT", "DOUBLE", "BOOLEAN"];

/// `key=value` for every Kafka key at Kafka's default (a null default
/// written empty where Kafka takes an empty value), bar the KRaft keys
/// Kafka requires (no default).
fn every_key_at_kafkas_default() -> Vec<String> {
    let keys = kafka_keys()
        .into_iter()
        .filter(|(_, kind, default)| match *default {
            "<none>" => false,
            "<null>" => !NOT_EMPTY_TYPES.contains(kind),
            _ => true,
        });
    let lines = keys.map(|(name, _, default)| match default {
        "<null>" => format!("{name}="),
        default => format!("{name}={default}"),
    });
    lines.collect()
}

#[test]
fn a_file_with_every_kafka_key_at_its_default_loads() {
    let mut lines = every_key_at_kafkas_default();
    lines.extend(
        [
            "process.roles=broker,controller",
            "node.id=1",
            "controller.listener.names=CONTROLLER",
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
            "controller.quorum.voters=1@localhost:9093",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs=/tmp/millrace-every-kafka-key",
        ]
        .map(str::to_string),
    );
    let config = Config::load(None, &lines).unwrap_or_else(|e| panic!("{e}"));
    let ignored = ignored_kafka_keys().map(|key| key.name);
    let ignored: Vec<&str> = ignored
        .chain(refused_kafka_keys().map(|k| k.name))
        .collect();
    // One entry (one log line) per ignored key set, each key once.
    let mut logged: Vec<&str> = config.ignored_keys.iter().map(String::as_str).collect();
    logged.sort_unstable();
    logged.dedup();
    assert_eq!(logged.len(), config.ignored_keys.len());
    let written: Vec<&str> = lines.iter().filter_map(|l| l.split('=').next()).collect();
    let set_and_ignored = ignored.iter().filter(|name| written.contains(name));
    assert_eq!(logged.len(), set_and_ignored.count());
    assert!(logged.len() > 250, "{}", logged.len());
    for name in &config.ignored_keys {
        assert!(
            ignored_why(name).is_some_and(|why| !why.is_empty()),
            "{name}"
        );
    }
}

#[test]
fn an_ignored_key_set_twice_is_logged_once_and_unset_ones_not_at_all() {
    let config = Config::load(
        None,
        &overrides(&[
            "num.replica.fetchers=4",
            "metric.reporters=",
            "num.replica.fetchers=2",
        ]),
    )
    .unwrap();
    assert_eq!(
        config.ignored_keys,
        ["num.replica.fetchers", "metric.reporters"]
    );
    assert!(Config::default().ignored_keys.is_empty());
}

#[test]
fn a_security_key_away_from_kafkas_default_is_refused_naming_it() {
    for line in [
        "ssl.keystore.location=/etc/kafka/broker.jks",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "security.inter.broker.protocol=SSL",
        "ssl.client.auth=required",
        "create.topic.policy.class.name=com.example.Policy",
    ] {
        let error = Config::load(None, &overrides(&[line])).unwrap_err();
        let key = line.split('=').next().unwrap();
        assert!(
            matches!(error, ConfigError::Refused { .. }),
            "{line}: {error}"
        );
        assert!(error.to_string().contains(key), "{error}");
    }
    // The last value decides: a default written after a refused value is accepted.
    let last = ["ssl.keystore.type=PKCS12", "ssl.keystore.type=JKS"];
    assert!(Config::load(None, &overrides(&last)).is_ok());
    // A secret is never echoed.
    let secret = Config::load(None, &overrides(&["ssl.keystore.password=hunter2"])).unwrap_err();
    assert!(!secret.to_string().contains("hunter2"), "{secret}");
    assert!(
        secret.to_string().contains("ssl.keystore.password"),
        "{secret}"
    );
}

#[test]
fn a_mistyped_key_is_still_unknown() {
    let error = Config::load(None, &overrides(&["log.retention.hourz=1"])).unwrap_err();
    assert!(
        matches!(
            &error,
            ConfigError::UnknownKey {
                suggestion: Some("log.retention.hours"),
                ..
            }
        ),
        "{error}"
    );
}

fn overrides(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[test]
fn every_kafka_password_key_is_kept_secret() {
    let passwords = kafka_keys()
        .into_iter()
        .filter(|(_, kind, _)| *kind == "PASSWORD");
    let names: Vec<&str> = passwords.map(|(name, _, _)| name).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    for name in names {
        assert!(is_password(name), "{name} is a PASSWORD key");
        assert!(
            refused_key(name).is_some(),
            "{name} is handled as a refused key only"
        );
    }
}

#[test]
fn no_key_is_listed_twice_in_the_ignored_or_refused_tables() {
    let mut seen = std::collections::BTreeSet::new();
    let names = ignored_kafka_keys().map(|key| key.name);
    for name in names.chain(refused_kafka_keys().map(|key| key.name)) {
        assert!(seen.insert(name), "{name} is listed twice");
    }
}
