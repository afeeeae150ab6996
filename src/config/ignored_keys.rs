//! Kafka keys millrace accepts and ignores, each with the one line logged at
//! start to say why (the keys that mean something are in `keys.rs`).

/// A Kafka key that means nothing to millrace: accepted, and logged once at
/// start with why.
pub struct IgnoredKey {
    /// Kafka key name.
    pub name: &'static str,
    /// Why millrace does without it.
    pub why: &'static str,
}

const NO_INTERNAL_TOPIC: &str =
    "a single node keeps no replicated internal topic (replication comes with the cluster)";

/// Keys of Kafka 4.x's shipped `server.properties`, `broker.properties` and
/// `controller.properties` (and ZooKeeper-era files) that thread-per-core or
/// a single node replaces.
pub const IGNORED_KAFKA_KEYS: &[IgnoredKey] = &[
    IgnoredKey {
        name: "num.network.threads",
        why: "thread-per-core: each shard's reactor does its own network I/O (num.shards sets the cores)",
    },
    IgnoredKey {
        name: "num.io.threads",
        why: "thread-per-core: a request runs on the shard that owns its partition (num.shards sets the cores)",
    },
    IgnoredKey {
        name: "num.recovery.threads.per.data.dir",
        why: "each shard recovers its own partitions at start, all shards at once",
    },
    IgnoredKey {
        name: "socket.send.buffer.bytes",
        why: "millrace leaves SO_SNDBUF to the kernel's autotuning",
    },
    IgnoredKey {
        name: "socket.receive.buffer.bytes",
        why: "millrace leaves SO_RCVBUF to the kernel's autotuning",
    },
    IgnoredKey {
        name: "transaction.state.log.replication.factor",
        why: NO_INTERNAL_TOPIC,
    },
    IgnoredKey {
        name: "transaction.state.log.min.isr",
        why: NO_INTERNAL_TOPIC,
    },
    IgnoredKey {
        name: "share.coordinator.state.topic.replication.factor",
        why: NO_INTERNAL_TOPIC,
    },
    IgnoredKey {
        name: "share.coordinator.state.topic.min.isr",
        why: NO_INTERNAL_TOPIC,
    },
    IgnoredKey {
        name: "zookeeper.connect",
        why: "ZooKeeper mode is gone from Kafka 4.0 and millrace never had it",
    },
    IgnoredKey {
        name: "zookeeper.connection.timeout.ms",
        why: "ZooKeeper mode is gone from Kafka 4.0 and millrace never had it",
    },
];

/// The ignored-key entry of `name`, if it is one.
pub fn ignored_key(name: &str) -> Option<&'static IgnoredKey> {
    IGNORED_KAFKA_KEYS.iter().find(|key| key.name == name)
}
