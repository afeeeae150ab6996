//! The KRaft keys: Kafka's shipped files load, Kafka's checks refuse what
//! Kafka refuses, and a quorum with other members is recognised.

use crate::config::listener::ListenerAddr;
use crate::config::{Config, ConfigError};
use std::path::PathBuf;

fn load(items: &[&str]) -> Result<Config, ConfigError> {
    let overrides: Vec<String> = items.iter().map(|item| item.to_string()).collect();
    Config::load(None, &overrides)
}

fn refused(items: &[&str]) -> (String, String) {
    match load(items) {
        Err(ConfigError::Invalid { key, reason }) => (key, reason),
        other => panic!("{items:?}: expected a KRaft error, got {other:?}"),
    }
}

fn fixture(name: &str) -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kafka-config")
        .join(name);
    Config::load(Some(&path), &[]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const COMBINED: &[&str] = &[
    "process.roles=broker,controller",
    "node.id=1",
    "controller.quorum.voters=1@localhost:9093",
    "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
    "controller.listener.names=CONTROLLER",
];

fn combined_with(extra: &[&'static str]) -> Vec<&'static str> {
    COMBINED.iter().chain(extra).copied().collect()
}

#[test]
fn kafkas_combined_server_properties_is_a_single_node() {
    let config = fixture("server.properties");
    assert_eq!(config.node_id, 1);
    // An empty host: `[::]` or `0.0.0.0`, as this machine's sockets allow.
    assert_eq!(
        config.listeners,
        ListenerAddr::parse_host_port(":9092").unwrap()
    );
    assert!(config.listeners.is_unspecified());
    assert_eq!(
        config.advertised_listener().socket_address(),
        "localhost:9092"
    );
    assert_eq!(config.cluster_membership(), None);
    assert_eq!(config.log_retention_ms, 168 * 3_600_000);
    assert_eq!(config.kraft.controller_listener_names, vec!["CONTROLLER"]);
    assert!(config
        .ignored_keys
        .iter()
        .any(|k| k == "num.network.threads"));
    // A real key now (a cluster's __consumer_offsets), not an ignored one.
    assert!(!config
        .ignored_keys
        .iter()
        .any(|k| k == "offsets.topic.replication.factor"));
    assert_eq!(config.offsets_topic_replication_factor, 1);
    let notes = config.kraft.notes(&config.listeners).join("\n");
    let controller = ListenerAddr::parse_host_port(":9093").unwrap();
    assert!(
        notes.contains(&format!(
            "CONTROLLER://{} is not bound",
            controller.socket_address()
        )),
        "{notes}"
    );
}

#[test]
fn kafkas_controller_properties_is_a_dedicated_controller_of_a_cluster() {
    let config = fixture("controller.properties");
    assert_eq!(config.node_id, 1);
    assert_eq!(config.listeners.port, 9093);
    assert!(!config.kraft.serves_clients());
    // Its bootstrap server localhost:9093 is its own controller listener: it
    // starts as the quorum's one voter (Kafka's `format --standalone`), for
    // broker-only nodes to join.
    let cluster = config.cluster_membership().expect("a dedicated controller");
    assert_eq!(cluster.key, "process.roles");
    assert_eq!(
        config.kraft.standalone_voter_address().as_deref(),
        Some("localhost:9093")
    );
    let combined = fixture("server.properties");
    assert!(combined.kraft.serves_clients());
    assert_eq!(combined.kraft.standalone_voter_address(), None);
    let broker = fixture("broker.properties");
    assert!(broker.kraft.serves_clients());
    assert_eq!(broker.kraft.standalone_voter_address(), None);
}

#[test]
fn kafkas_broker_properties_names_a_controller_elsewhere() {
    let config = fixture("broker.properties");
    assert_eq!(config.node_id, 2);
    let cluster = config.cluster_membership().expect("a broker-only node");
    assert_eq!(cluster.key, "controller.quorum.bootstrap.servers");
    assert!(
        cluster.detail.contains("localhost:9093"),
        "{}",
        cluster.detail
    );
    assert!(
        cluster.to_string().contains("multi-node cluster"),
        "{cluster}"
    );
}

#[test]
fn a_quorum_with_other_voters_is_a_cluster() {
    let three = load(&[
        "process.roles=broker,controller",
        "node.id=2",
        "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293",
        "listeners=PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193",
        "controller.listener.names=CONTROLLER",
    ])
    .unwrap();
    let cluster = three.cluster_membership().expect("three voters");
    assert_eq!(cluster.key, "controller.quorum.voters");
    assert!(
        cluster.detail.contains("1@127.0.0.1:9093"),
        "{}",
        cluster.detail
    );
    assert!(!cluster.detail.contains("2@"), "{}", cluster.detail);
    let other_port = load(&combined_with(&[
        "controller.quorum.voters=",
        "controller.quorum.bootstrap.servers=localhost:9093,localhost:9193",
    ]))
    .unwrap();
    let cluster = other_port.cluster_membership().expect("another controller");
    assert_eq!(cluster.key, "controller.quorum.bootstrap.servers");
    assert_eq!(load(&[]).unwrap().cluster_membership(), None);
}

#[test]
fn roles_and_quorum_are_checked_as_kafka_does() {
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &[
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.voters=1@localhost:9093",
            ],
            "controller.listener.names",
            "at least one value",
        ),
        (
            &[
                "process.roles=controller",
                "controller.quorum.voters=1@localhost:9093",
                "listeners=CONTROLLER://:9093",
                "controller.listener.names=CONTROLLER",
            ],
            "node.id",
            "Missing configuration `node.id`",
        ),
        (
            &[
                "process.roles=broker,controller",
                "node.id=1",
                "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
                "controller.listener.names=CONTROLLER",
            ],
            "controller.quorum.voters",
            "either controller.quorum.bootstrap.servers",
        ),
        (
            &[
                "process.roles=controller",
                "node.id=4",
                "controller.quorum.voters=1@localhost:9093",
                "listeners=CONTROLLER://:9093",
                "controller.listener.names=CONTROLLER",
            ],
            "controller.quorum.voters",
            "node id 4 must be included",
        ),
        (
            &[
                "process.roles=broker",
                "node.id=1",
                "controller.quorum.voters=1@localhost:9093",
                "controller.listener.names=CONTROLLER",
            ],
            "controller.quorum.voters",
            "must not be included",
        ),
        (
            &[
                "process.roles=broker",
                "node.id=2",
                "controller.quorum.voters=1@localhost:9093",
                "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
                "controller.listener.names=CONTROLLER",
            ],
            "controller.listener.names",
            "must not contain a value appearing in the 'listeners'",
        ),
        (
            &[
                "process.roles=controller",
                "node.id=1",
                "controller.quorum.voters=1@localhost:9093",
                "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
                "controller.listener.names=CONTROLLER",
            ],
            "listeners",
            "must only contain KRaft controller listeners",
        ),
        (
            &[
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.voters=1@localhost:9093",
                "listeners=PLAINTEXT://:9092",
                "controller.listener.names=CONTROLLER",
            ],
            "controller.listener.names",
            "must only contain values appearing in the 'listeners'",
        ),
        (
            &["controller.quorum.voters=1@localhost:9093"],
            "controller.quorum.voters",
            "process.roles is not set",
        ),
    ];
    for (items, key, words) in cases {
        let (refused_key, reason) = refused(items);
        assert_eq!(&refused_key, key, "{items:?}: {reason}");
        assert!(reason.contains(words), "{items:?}: {reason}");
    }
}

#[test]
fn listeners_are_checked_as_kafka_does() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["inter.broker.listener.name=INTERNAL"], "inter.broker.listener.name", "not found in listener.security.protocol.map"),
        (&["listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT", "inter.broker.listener.name=INTERNAL"], "listener.security.protocol.map", "no security protocol defined for listener PLAINTEXT"),
        (&["listeners=PLAINTEXT://:9092,CONTROLLER://:9092"], "listeners", "different port"),
        (&["listeners=SSL://:9092,CONTROLLER://:9093", "inter.broker.listener.name=SSL"], "listener.security.protocol.map", "only PLAINTEXT"),
        (&["listeners=PLAINTEXT://:9092,OTHER://:9094,CONTROLLER://:9093", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,OTHER:SSL,CONTROLLER:PLAINTEXT"], "listener.security.protocol.map", "listener OTHER uses security protocol SSL"),
        // A controller listener is bound or dialled in the clear: it must be PLAINTEXT too.
        (&["listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL"], "listener.security.protocol.map", "listener CONTROLLER uses security protocol SSL"),
        (&["advertised.listeners=PLAINTEXT://0.0.0.0:9092"], "advertised.listeners", "nonroutable"),
        (&["advertised.listeners=OTHER://h:1", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT,CONTROLLER:PLAINTEXT"], "inter.broker.listener.name", "must be a listener name defined in advertised.listeners"),
    ];
    for (extra, key, words) in cases {
        let (refused_key, reason) = refused(&combined_with(extra));
        assert_eq!(&refused_key, key, "{extra:?}: {reason}");
        assert!(reason.contains(words), "{extra:?}: {reason}");
    }
}

#[test]
fn bad_values_name_the_expected_form() {
    for bad in [
        "process.roles=broker,broker",
        "process.roles=observer",
        "controller.quorum.voters=localhost:9093",
        "controller.quorum.voters=1@localhost:9093,1@localhost:9193",
        "controller.quorum.bootstrap.servers=localhost",
        "listener.security.protocol.map=PLAINTEXT:TLS",
        "listeners=localhost:9092",
    ] {
        assert!(
            matches!(load(&[bad]), Err(ConfigError::BadValue { .. })),
            "{bad}"
        );
    }
}

#[test]
fn a_mistyped_kraft_key_is_an_error_with_a_suggestion() {
    let error = load(&["controller.quorum.voter=1@localhost:9093"]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("did you mean controller.quorum.voters?"),
        "{error}"
    );
}

#[test]
fn advertised_entry_of_the_client_listener_is_used() {
    let config = load(&combined_with(&[
        "advertised.listeners=PLAINTEXT://broker.example:19092,CONTROLLER://ctl.example:9093",
    ]))
    .unwrap();
    assert_eq!(
        config.advertised_listener().socket_address(),
        "broker.example:19092"
    );
    assert_eq!(config.listeners.port, 9092);
}

#[test]
fn several_client_listeners_are_each_served_and_advertised() {
    let config = load(&combined_with(&[
        "listeners=INTERNAL://127.0.0.1:9094,EXTERNAL://:9092,CONTROLLER://:9093",
        "advertised.listeners=INTERNAL://127.0.0.1:9094,EXTERNAL://broker.example:19092",
        "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=INTERNAL",
    ]))
    .unwrap();
    let served: Vec<(&str, String, String)> = config
        .client_listeners
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                l.bind.socket_address(),
                l.advertised.socket_address(),
            )
        })
        .collect();
    assert_eq!(
        served,
        vec![
            ("INTERNAL", "127.0.0.1:9094".into(), "127.0.0.1:9094".into()),
            (
                "EXTERNAL",
                ListenerAddr::parse_host_port(":9092")
                    .unwrap()
                    .socket_address(),
                "broker.example:19092".into()
            ),
        ]
    );
    // The first is the node's main listener.
    assert_eq!(config.listeners.port, 9094);
    assert_eq!(config.client_listener(1).0, "EXTERNAL");
    let single = load(&[]).unwrap();
    assert_eq!(single.client_listeners.len(), 1);
    assert_eq!(single.client_listeners[0].name, "PLAINTEXT");
}
