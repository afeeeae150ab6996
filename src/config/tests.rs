//! Tests of loading, overrides, errors and the help table.

use super::*;
use std::io::Write;

fn overrides(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn load_text(text: &str, extra: &[&str]) -> Result<Config, ConfigError> {
    let dir = std::env::temp_dir().join(format!(
        "millrace-config-test-{}-{}",
        std::process::id(),
        text.len() + extra.len() * 7919
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.properties");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let result = Config::load(Some(&path), &overrides(extra));
    std::fs::remove_dir_all(&dir).unwrap();
    result
}

#[test]
fn defaults_match_kafka() {
    let config = Config::default();
    assert_eq!(config.listeners.socket_address(), "127.0.0.1:9092");
    assert_eq!(config.advertised_listeners, None);
    assert_eq!(config.log_dirs, PathBuf::from("/tmp/millrace-logs"));
    assert_eq!(config.node_id, 0);
    assert_eq!(config.cluster_id, None);
    assert_eq!(config.num_partitions, 1);
    assert_eq!(config.default_replication_factor, 1);
    assert!(config.auto_create_topics_enable);
    assert_eq!(config.log_segment_bytes, 1 << 30);
    assert_eq!(config.log_roll_ms, 7 * 24 * 3_600_000);
    assert_eq!(config.log_retention_ms, 7 * 24 * 3_600_000);
    assert_eq!(config.log_retention_bytes, -1);
    assert_eq!(config.log_flush_interval_messages, u64::MAX);
    assert_eq!(config.log_flush_interval_ms, u64::MAX);
    assert!(!config.log_unflushed_read_enable);
    assert_eq!(config.log_flush_visibility_ms, 5);
    assert_eq!(config.log_index_interval_bytes, 4096);
    assert_eq!(config.log_retention_check_interval_ms, 300_000);
    assert_eq!(config.message_max_bytes, 1_048_588);
    assert_eq!(config.socket_request_max_bytes, 104_857_600);
    assert_eq!(config.num_shards, 0);
    assert_eq!(config.shard_channel_capacity, 1024);
    assert_eq!(config.max_inflight_requests_per_connection, 64);
    assert_eq!(config.io_memory_bytes, 0);
    assert_eq!(config.log_level, "info");
    assert_eq!(Config::load(None, &[]).unwrap(), config);
}

#[test]
fn every_default_parses() {
    let mut config = Config::default();
    for key in broker_keys() {
        if let Some(default) = key.default_value() {
            assert_eq!((key.apply)(&mut config, default), Ok(()), "{}", key.name);
        }
    }
}

#[test]
fn loads_a_file_then_overrides_in_order() {
    let text = "# millrace\nnode.id=4\nlisteners = PLAINTEXT://:19092\n\
                log.dirs=/data/a,/data/b\nauto.create.topics.enable=FALSE\n\
                num.network.threads=3\nlog.retention.hours=1\n";
    let config = load_text(
        text,
        &[
            "num.shards=2",
            "node.id=5",
            "num.shards=1",
            "cluster.id=abc",
        ],
    )
    .unwrap();
    assert_eq!(config.node_id, 5);
    assert_eq!(config.num_shards, 1);
    assert_eq!(config.listeners.port, 19092);
    assert_eq!(
        config.advertised_listener().socket_address(),
        "localhost:19092"
    );
    assert_eq!(config.log_dirs, PathBuf::from("/data/a"));
    assert!(!config.auto_create_topics_enable);
    assert_eq!(config.log_retention_ms, 3_600_000);
    assert_eq!(config.cluster_id.as_deref(), Some("abc"));
    assert_eq!(config.ignored_keys, vec!["num.network.threads".to_string()]);
}

#[test]
fn specific_keys_beat_aliases_wherever_written() {
    let config = Config::load(
        None,
        &overrides(&[
            "log.retention.ms=1000",
            "log.retention.hours=5",
            "node.id=2",
            "broker.id=2",
            "log.roll.hours=2",
            "log.dirs=/x",
            "log.dir=/y",
        ]),
    )
    .unwrap();
    assert_eq!(config.log_retention_ms, 1000);
    assert_eq!(config.node_id, 2);
    assert_eq!(config.log_roll_ms, 2 * 3_600_000);
    assert_eq!(config.log_dirs, PathBuf::from("/x"));
    let minutes = Config::load(None, &overrides(&["log.retention.minutes=-1"])).unwrap();
    assert_eq!(minutes.log_retention_ms, -1);
    let broker = Config::load(None, &overrides(&["broker.id=9"])).unwrap();
    assert_eq!(broker.node_id, 9);
}

#[test]
fn node_id_and_broker_id_set_to_different_ids_are_refused() {
    let error = Config::load(None, &overrides(&["node.id=2", "broker.id=9"])).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("broker.id: is 9 but node.id is 2"), "{text}");
    // broker.id=-1 (Kafka's default, in a dump of its defaults) is taken as
    // unset, though Kafka itself would refuse it beside node.id=2.
    let unset = Config::load(None, &overrides(&["node.id=2", "broker.id=-1"])).unwrap();
    assert_eq!(unset.node_id, 2);
    let same = Config::load(None, &overrides(&["broker.id=4", "node.id=4"])).unwrap();
    assert_eq!(same.node_id, 4);
}

#[test]
fn unknown_keys_name_the_key_and_a_suggestion() {
    let error = Config::load(None, &overrides(&["log.retention.hour=1"])).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("log.retention.hour\""), "{text}");
    assert!(text.contains("did you mean log.retention.hours"), "{text}");
    let error = load_text("node.id=1\nbogus.thing=1\n", &[]).unwrap_err();
    match &error {
        ConfigError::UnknownKey {
            key,
            origin,
            suggestion,
        } => {
            assert_eq!(key, "bogus.thing");
            assert!(origin.ends_with("server.properties:2"), "{origin}");
            assert_eq!(*suggestion, None);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn bad_values_name_the_key_and_the_expected_form() {
    let cases = [
        (
            "num.partitions=0",
            "num.partitions",
            "an integer in 1..=2147483647",
        ),
        (
            "auto.create.topics.enable=yes",
            "auto.create.topics.enable",
            "true or false",
        ),
        ("listeners=:9093", "listeners", "NAME://host:port"),
        ("log.level=loud", "log.level", "error, warn, info"),
        ("log.segment.bytes=100", "log.segment.bytes", "4096..="),
        (
            "connection.max.inflight.requests=0",
            "connection.max.inflight",
            "1..=4096",
        ),
        ("log.dirs=", "log.dirs", "a directory path"),
    ];
    for (item, key, expected) in cases {
        let error = Config::load(None, &overrides(&[item])).unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, ConfigError::BadValue { .. }), "{text}");
        assert!(text.contains(key) && text.contains(expected), "{text}");
    }
    let tls = Config::load(None, &overrides(&["listeners=SSL://:9093"])).unwrap_err();
    assert!(tls.to_string().contains("serves only PLAINTEXT"), "{tls}");
}

#[test]
fn syntax_errors_and_missing_files() {
    let error = Config::load(None, &overrides(&["num.shards"])).unwrap_err();
    assert!(matches!(error, ConfigError::Syntax { .. }), "{error}");
    let error = load_text("node.id=1\nnot a property\n", &[]).unwrap_err();
    assert!(error.to_string().contains(":2"), "{error}");
    // Java's `key value` form is an entry, so a secret is never part of a printed key,
    // even when it holds the separators a base64 value ends with.
    for line in [
        "ssl.keystore.password hunter2\n",
        "ssl.keystore.password c2VjcmV0cGFzcw==\n",
        "ssl.keystore.password hun:ter2\n",
    ] {
        let text = load_text(line, &[]).unwrap_err().to_string();
        let secret = line.split_whitespace().nth(1).unwrap_or_default();
        assert!(
            text.contains("ssl.keystore.password") && !text.contains(secret),
            "{text}"
        );
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("hunter2"),
            "{text}"
        );
    }
    for bad in ["=hunter2", "ssl.keystore.password hunter2"] {
        let text = Config::load(None, &overrides(&[bad]))
            .unwrap_err()
            .to_string();
        assert!(!text.contains("hunter2"), "{text}");
    }
    let text = load_text("=hunter2\n", &[]).unwrap_err().to_string();
    assert!(!text.contains("hunter2"), "{text}");
    let missing = Config::load(Some(Path::new("/nonexistent/millrace.properties")), &[]);
    assert!(matches!(missing, Err(ConfigError::Io { .. })));
}

#[test]
fn flush_never_and_level_case() {
    let config = Config::load(
        None,
        &overrides(&[
            "log.flush.interval.messages=1",
            "log.flush.interval.ms=9223372036854775807",
            "log.level=DEBUG",
            "advertised.listeners=PLAINTEXT://broker.example:9092",
        ]),
    )
    .unwrap();
    assert_eq!(config.log_flush_interval_messages, 1);
    assert_eq!(config.log_flush_interval_ms, u64::MAX);
    assert_eq!(config.log_level, "debug");
    assert_eq!(
        config.advertised_listener().socket_address(),
        "broker.example:9092"
    );
}

#[test]
fn help_lists_every_key() {
    let help = Config::help_text();
    for key in broker_keys() {
        assert!(help.contains(key.name), "{}", key.name);
        assert!(help.contains(key.doc), "{}", key.name);
    }
    for key in TOPIC_CONFIG_KEYS {
        assert!(help.contains(key.name), "{}", key.name);
    }
    for key in ignored_kafka_keys() {
        assert!(help.contains(key.name), "{}", key.name);
        assert!(help.contains(key.why), "{}", key.name);
    }
    for key in refused_kafka_keys() {
        assert!(help.contains(key.name), "{}", key.name);
        assert!(help.contains(key.why), "{}", key.name);
    }
    assert!(help.contains("1073741824"));
}

#[test]
fn table_names_are_unique() {
    for (index, key) in broker_keys().enumerate() {
        assert!(
            broker_keys()
                .skip(index + 1)
                .all(|other| other.name != key.name),
            "{}",
            key.name
        );
        assert!(ignored_key(key.name).is_none(), "{}", key.name);
        assert!(refused_key(key.name).is_none(), "{}", key.name);
    }
}

#[test]
fn relative_log_dirs_become_absolute() {
    let config = Config::load(None, &overrides(&["log.dirs=data/logs"]))
        .expect("a relative path is accepted");
    assert!(config.log_dirs.is_absolute(), "{:?}", config.log_dirs);
    assert!(config.log_dirs.ends_with("data/logs"));
}

#[test]
fn broker_key_defaults_are_the_storage_defaults() {
    let limits = Config::default().storage_limits();
    assert_eq!(limits, crate::storage::StorageLimits::default());
}

#[test]
fn http_listener_defaults_on_and_an_empty_value_turns_it_off() {
    let default = Config::load(None, &[]).unwrap();
    assert_eq!(default.http_listener.as_deref(), Some("127.0.0.1:9644"));
    let off = Config::load(None, &["http.listener=".to_string()]).unwrap();
    assert_eq!(off.http_listener, None);
    let other = Config::load(None, &["http.listener=0.0.0.0:9100".to_string()]).unwrap();
    assert_eq!(other.http_listener.as_deref(), Some("0.0.0.0:9100"));
}

#[test]
fn broker_session_keys_default_to_kafka_and_are_checked_together() {
    let config = Config::load(None, &[]).unwrap();
    assert_eq!(config.broker_session_timeout_ms, 9000);
    assert_eq!(config.broker_heartbeat_interval_ms, 2000);
    let short = [
        "broker.session.timeout.ms=3000",
        "broker.heartbeat.interval.ms=1000",
    ];
    let config = Config::load(None, &overrides(&short)).unwrap();
    assert_eq!(config.broker_session_timeout_ms, 3000);
    assert_eq!(config.broker_heartbeat_interval_ms, 1000);
    let error = Config::load(None, &overrides(&["broker.session.timeout.ms=3000"])).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ConfigError::Invalid { .. }), "{text}");
    assert!(
        text.contains("broker.heartbeat.interval.ms") && text.contains("half"),
        "{text}"
    );
    let low = Config::load(None, &overrides(&["broker.heartbeat.interval.ms=10"])).unwrap_err();
    assert!(matches!(low, ConfigError::BadValue { .. }), "{low}");
}

#[test]
fn replica_lag_time_defaults_to_kafka_and_is_at_least_the_followers_long_poll() {
    assert_eq!(Config::default().replica_lag_time_max_ms, 30_000);
    let set = Config::load(None, &overrides(&["replica.lag.time.max.ms=3000"])).unwrap();
    assert_eq!(set.replica_lag_time_max_ms, 3_000);
    let from_file = load_text("replica.lag.time.max.ms = 10000\n", &[]).unwrap();
    assert_eq!(from_file.replica_lag_time_max_ms, 10_000);
    assert!(ignored_key("replica.lag.time.max.ms").is_none());
    for bad in ["100", "0", "-1", "3s", ""] {
        let error = Config::load(
            None,
            &overrides(&[&format!("replica.lag.time.max.ms={bad}")]),
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(error, ConfigError::BadValue { .. }),
            "{bad}: {text}"
        );
        assert!(
            text.contains("for replica.lag.time.max.ms")
                && text.contains("replica.fetch.wait.max.ms"),
            "{bad}: {text}"
        );
    }
    let least = Config::load(None, &overrides(&["replica.lag.time.max.ms=500"])).unwrap();
    assert_eq!(least.replica_lag_time_max_ms, 500);
}

#[test]
fn connections_per_ip_overrides_parse_and_zero_needs_them() {
    let set = ["max.connections.per.ip.overrides=127.0.0.1:0, [::1]:3,localhost:2"];
    let config = Config::load(None, &overrides(&set)).unwrap();
    let found = &config.max_connections_per_ip_overrides;
    assert_eq!(
        found[..2],
        [
            ("127.0.0.1".parse().unwrap(), 0),
            ("::1".parse().unwrap(), 3)
        ]
    );
    assert!(found[2..].iter().any(|(ip, n)| ip.is_loopback() && *n == 2));
    for bad in ["127.0.0.1", "127.0.0.1:x", "127.0.0.1:-1"] {
        let key = format!("max.connections.per.ip.overrides={bad}");
        let error = Config::load(None, &overrides(&[&key])).unwrap_err();
        assert!(matches!(error, ConfigError::BadValue { .. }), "{error}");
    }
    let zero = Config::load(None, &overrides(&["max.connections.per.ip=0"])).unwrap_err();
    assert!(zero.to_string().contains("cannot be empty"), "{zero}");
    let allow = [
        "max.connections.per.ip=0",
        "max.connections.per.ip.overrides=127.0.0.1:5",
    ];
    assert!(Config::load(None, &overrides(&allow)).is_ok());
}

#[test]
fn group_and_metadata_bounds_are_refused_above_millraces_own() {
    let kafka_default = Config::load(None, &overrides(&["group.max.size=2147483647"])).unwrap();
    assert_eq!(kafka_default.group_max_size, 2_147_483_647);
    let set = Config::load(None, &overrides(&["group.max.size=1000"])).unwrap();
    assert_eq!(set.group_max_size, 1000);
    for bad in ["group.max.size=1001", "offset.metadata.max.bytes=32768"] {
        let text = Config::load(None, &overrides(&[bad]))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(bad.split('=').next().unwrap_or_default()),
            "{text}"
        );
    }
    let most = Config::load(None, &overrides(&["offset.metadata.max.bytes=32767"])).unwrap();
    assert_eq!(most.offset_metadata_max_bytes, 32767);
}
