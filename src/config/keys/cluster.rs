//! Broker keys, part of [`super::broker_keys`]: listeners, process roles,
//! the controller quorum, node and cluster ids, replication and
//! topic-creation defaults.

use super::*;

/// These keys, in application order.
pub(super) static CLUSTER_KEYS: &[BrokerKey] = &[
    BrokerKey {
        name: "listeners",
        default: Value("PLAINTEXT://127.0.0.1:9092"),
        kind: ConfigType::List,
        doc: "NAME://host:port,...: clients are served on the one listener not in \
              controller.listener.names (PLAINTEXT only; PLAINTEXT://:9092 = all interfaces).",
        apply: |c, v| store(&mut c.kraft.listeners, parse_listener_list(v)?),
    },
    BrokerKey {
        name: "advertised.listeners",
        default: Value(""),
        kind: ConfigType::List,
        doc: "NAME://host:port,...: the client listener's entry is given to clients in \
              Metadata; empty = listeners (all interfaces -> localhost).",
        apply: |c, v| {
            let listeners = parse_advertised_listener_list(v)?;
            store(&mut c.kraft.advertised_listeners, listeners)
        },
    },
    BrokerKey {
        name: "listener.security.protocol.map",
        default: Value(""),
        kind: ConfigType::String,
        doc: "NAME:PROTOCOL,...; empty = Kafka's (each protocol name maps to itself, controller \
              listeners to PLAINTEXT). A served listener must map to PLAINTEXT.",
        apply: |c, v| store(&mut c.kraft.security_protocol_map, kraft::parse_protocol_map(v)?),
    },
    BrokerKey {
        name: "process.roles",
        default: Value(""),
        kind: ConfigType::List,
        doc: "KRaft: broker, controller or broker,controller; empty = a single node without \
              KRaft keys. A single node is broker and controller in one.",
        apply: |c, v| store(&mut c.kraft.process_roles, kraft::parse_process_roles(v)?),
    },
    BrokerKey {
        name: "controller.quorum.voters",
        default: Value(""),
        kind: ConfigType::List,
        doc: "KRaft static quorum, id@host:port,...; only this node = a single node (other \
              voters are refused until clusters are served).",
        apply: |c, v| store(&mut c.kraft.voters, kraft::parse_voters(v)?),
    },
    BrokerKey {
        name: "controller.quorum.bootstrap.servers",
        default: Value(""),
        kind: ConfigType::List,
        doc: "KRaft dynamic quorum, host:port,...; only this node's controller listener = a \
              single node, no formatting step needed.",
        apply: |c, v| store(&mut c.kraft.bootstrap_servers, kraft::parse_bootstrap_servers(v)?),
    },
    BrokerKey {
        name: "controller.listener.names",
        default: Value(""),
        kind: ConfigType::List,
        doc: "KRaft: names of the controller listeners (required with process.roles).",
        apply: |c, v| store(&mut c.kraft.controller_listener_names, kraft::parse_names(v)),
    },
    BrokerKey {
        name: "inter.broker.listener.name",
        default: Value(""),
        kind: ConfigType::String,
        doc: "Listener brokers use between them; checked as Kafka does (must be advertised), \
              unused by a single node. Empty = PLAINTEXT.",
        apply: |c, v| {
            let name = kraft::parse_names(v).into_iter().next();
            store(&mut c.kraft.inter_broker_listener_name, name)
        },
    },
    BrokerKey {
        name: "log.dir",
        default: AliasOf("log.dirs"),
        kind: ConfigType::List,
        doc: "Alias of log.dirs (log.dirs wins when both are set).",
        apply: set_log_dirs,
    },
    BrokerKey {
        name: "log.dirs",
        default: Value(LOG_DIRS_DEFAULT),
        kind: ConfigType::List,
        doc: "Data directory; of a comma-separated list only the first is used.",
        apply: set_log_dirs,
    },
    BrokerKey {
        name: "broker.id",
        default: AliasOf("node.id"),
        kind: ConfigType::Int,
        doc: "Alias of node.id: both set must be the same id (as Kafka); -1 = not set (Kafka's default).",
        apply: |c, v| match int(v, -1, INT_MAX)? {
            // Kafka's default: a file written from a Kafka broker's defaults has it.
            BROKER_ID_UNSET => Ok(()),
            id => store(&mut c.node_id, id as i32),
        },
    },
    BrokerKey {
        name: "node.id",
        default: Value("0"),
        kind: ConfigType::Int,
        doc: "This broker's id, reported in Metadata.",
        apply: |c, v| store(&mut c.node_id, int(v, 0, INT_MAX)? as i32),
    },
    BrokerKey {
        name: "cluster.id",
        default: Value(""),
        kind: ConfigType::String,
        doc: "Cluster id reported to clients; empty = generated once and kept in log.dirs.",
        apply: |c, v| store(&mut c.cluster_id, non_empty(v).map(str::to_string)),
    },
    BrokerKey {
        name: "num.partitions",
        default: Value("1"),
        kind: ConfigType::Int,
        doc: "Partitions of an auto-created topic or of CreateTopics with -1 partitions.",
        apply: |c, v| store(&mut c.num_partitions, int(v, 1, INT_MAX)? as i32),
    },
    BrokerKey {
        name: "default.replication.factor",
        default: Value("1"),
        kind: ConfigType::Int,
        doc: "Replication factor of auto-created topics and CreateTopics with -1; more than the \
              1 broker of a single node is INVALID_REPLICATION_FACTOR, as in Kafka.",
        apply: |c, v| {
            store(
                &mut c.default_replication_factor,
                int(v, 1, i16::MAX.into())? as i16,
            )
        },
    },
    BrokerKey {
        name: "min.insync.replicas",
        default: Value("1"),
        kind: ConfigType::Int,
        doc: "Default of the topic key min.insync.replicas (stored; applied with replication).",
        apply: |c, v| store(&mut c.min_insync_replicas, int(v, 1, INT_MAX)? as i32),
    },
    BrokerKey {
        name: "unclean.leader.election.enable",
        default: Value("false"),
        kind: ConfigType::Boolean,
        doc: "Default of the topic key unclean.leader.election.enable (stored; applied with \
              replication).",
        apply: |c, v| store(&mut c.unclean_leader_election_enable, boolean(v)?),
    },
    BrokerKey {
        name: "replica.lag.time.max.ms",
        default: Value("30000"),
        kind: ConfigType::Long,
        doc: "In a cluster: a partition leader proposes taking a follower out of the ISR once \
              it has not caught up to the leader's log end for this long; at least \
              replica.fetch.wait.max.ms (500).",
        apply: |c, v| store(&mut c.replica_lag_time_max_ms, replica_lag_time_max_ms(v)?),
    },
    BrokerKey {
        name: "auto.leader.rebalance.enable",
        default: Value("true"),
        kind: ConfigType::Boolean,
        doc: "The active controller moves leadership back to each partition's preferred \
              replica when that replica is in the ISR (checked every \
              leader.imbalance.check.interval.seconds).",
        apply: |c, v| store(&mut c.auto_leader_rebalance_enable, boolean(v)?),
    },
    BrokerKey {
        name: "leader.imbalance.check.interval.seconds",
        default: Value("300"),
        kind: ConfigType::Long,
        doc: "How often the active controller checks leader balance.",
        apply: |c, v| {
            let seconds = int(v, 1, INT_MAX)? as u64;
            store(&mut c.leader_imbalance_check_interval_ms, seconds * 1000)
        },
    },
    BrokerKey {
        name: "leader.imbalance.per.broker.percentage",
        default: Value("10"),
        kind: ConfigType::Int,
        doc: "A broker's partitions are balanced once more than this percentage of the \
              partitions it is the preferred replica of are led by another broker.",
        apply: |c, v| {
            let percentage = int(v, 0, 100)? as u32;
            store(&mut c.leader_imbalance_per_broker_percentage, percentage)
        },
    },
    BrokerKey {
        name: "auto.create.topics.enable",
        default: Value("true"),
        kind: ConfigType::Boolean,
        doc: "Create a topic when a client asks Metadata for an unknown one (as Kafka: Produce \
              never creates).",
        apply: |c, v| store(&mut c.auto_create_topics_enable, boolean(v)?),
    },
    BrokerKey {
        name: "delete.topic.enable",
        default: Value("true"),
        kind: ConfigType::Boolean,
        doc: "false = DeleteTopics is answered TOPIC_DELETION_DISABLED (INVALID_REQUEST before \
              v3), as Kafka's controller answers; in a cluster only the controllers' value counts.",
        apply: |c, v| store(&mut c.delete_topic_enable, boolean(v)?),
    },
];
