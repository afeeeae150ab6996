//! Ignored keys of Kafka features millrace does not serve: transactions,
//! share, streams and consumer-protocol groups, tiered storage, delegation
//! tokens (their secret key is refused: `refused_keys.rs`), ZooKeeper.
//!
//! A key of a feature that is off changes nothing a client can observe: a
//! request of the feature is answered as unsupported, whatever the key says.

use super::IgnoredGroup;

/// Transactions (a transactional producer is refused).
const NO_TRANSACTIONS: &str = "millrace does not support transactions";

/// Share groups (KIP-932) and their state topic.
const NO_SHARE_GROUPS: &str = "share groups (KIP-932) are not served";

/// Streams groups (KIP-1071).
const NO_STREAMS_GROUPS: &str = "streams groups (KIP-1071) are not served";

/// The consumer group protocol (KIP-848).
const NO_CONSUMER_PROTOCOL: &str =
    "the consumer group protocol (KIP-848) is not served: groups use the classic protocol";

/// Tiered storage (KIP-405).
const NO_TIERED_STORAGE: &str =
    "tiered storage is not implemented (a topic's remote.storage.enable=true is refused)";

/// Authentication: every listener is PLAINTEXT without SASL.
const NO_AUTHENTICATION: &str = "millrace serves PLAINTEXT listeners without authentication";

/// Delegation tokens.
const NO_DELEGATION_TOKENS: &str = "delegation tokens are not served";

/// ZooKeeper.
const NO_ZOOKEEPER: &str = "ZooKeeper mode is gone from Kafka 4.0 and millrace never had it";

/// Transactions, share, streams and consumer-protocol groups, tiered
/// storage, authentication, delegation tokens, ZooKeeper.
pub(super) const GROUPS: &[IgnoredGroup] = &[
    IgnoredGroup {
        why: NO_TRANSACTIONS,
        names: &[
            "add.partitions.to.txn.retry.backoff.max.ms",
            "add.partitions.to.txn.retry.backoff.ms",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "transaction.max.timeout.ms",
            "transaction.partition.verification.enable",
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            "transaction.state.log.load.buffer.size",
            "transaction.state.log.min.isr",
            "transaction.state.log.num.partitions",
            "transaction.state.log.replication.factor",
            "transaction.state.log.segment.bytes",
            "transaction.two.phase.commit.enable",
            "transactional.id.expiration.ms",
        ],
    },
    IgnoredGroup {
        why: NO_SHARE_GROUPS,
        names: &[
            "errors.deadletterqueue.auto.create.topics.enable",
            "errors.deadletterqueue.topic.name.prefix",
            "group.share.assignment.interval.ms",
            "group.share.assignor.offload.enable",
            "group.share.assignors",
            "group.share.delivery.count.limit",
            "group.share.dlq.manager.class.name",
            "group.share.heartbeat.interval.ms",
            "group.share.initialize.retry.interval.ms",
            "group.share.max.assignment.interval.ms",
            "group.share.max.delivery.count.limit",
            "group.share.max.heartbeat.interval.ms",
            "group.share.max.partition.max.record.locks",
            "group.share.max.record.lock.duration.ms",
            "group.share.max.session.timeout.ms",
            "group.share.max.share.sessions",
            "group.share.max.size",
            "group.share.min.assignment.interval.ms",
            "group.share.min.delivery.count.limit",
            "group.share.min.heartbeat.interval.ms",
            "group.share.min.partition.max.record.locks",
            "group.share.min.record.lock.duration.ms",
            "group.share.min.session.timeout.ms",
            "group.share.partition.max.record.locks",
            "group.share.persister.class.name",
            "group.share.record.lock.duration.ms",
            "group.share.session.timeout.ms",
            "share.coordinator.append.linger.ms",
            "share.coordinator.cached.buffer.max.bytes",
            "share.coordinator.cold.partition.snapshot.interval.ms",
            "share.coordinator.load.buffer.size",
            "share.coordinator.snapshot.update.records.per.snapshot",
            "share.coordinator.state.topic.compression.codec",
            "share.coordinator.state.topic.min.isr",
            "share.coordinator.state.topic.num.partitions",
            "share.coordinator.state.topic.prune.interval.ms",
            "share.coordinator.state.topic.replication.factor",
            "share.coordinator.state.topic.segment.bytes",
            "share.coordinator.threads",
            "share.coordinator.write.timeout.ms",
            "share.fetch.purgatory.purge.interval.requests",
        ],
    },
    IgnoredGroup {
        why: NO_STREAMS_GROUPS,
        names: &[
            "group.streams.acceptable.recovery.lag",
            "group.streams.assignment.interval.ms",
            "group.streams.assignor.offload.enable",
            "group.streams.assignors",
            "group.streams.heartbeat.interval.ms",
            "group.streams.initial.rebalance.delay.ms",
            "group.streams.max.assignment.interval.ms",
            "group.streams.max.heartbeat.interval.ms",
            "group.streams.max.session.timeout.ms",
            "group.streams.max.size",
            "group.streams.max.standby.replicas",
            "group.streams.max.warmup.replicas",
            "group.streams.min.assignment.interval.ms",
            "group.streams.min.heartbeat.interval.ms",
            "group.streams.min.session.timeout.ms",
            "group.streams.min.task.offset.interval.ms",
            "group.streams.num.standby.replicas",
            "group.streams.num.warmup.replicas",
            "group.streams.rack.aware.assignment.tags",
            "group.streams.session.timeout.ms",
            "group.streams.task.offset.interval.ms",
            "group.streams.topology.description.plugin.class",
        ],
    },
    IgnoredGroup {
        why: NO_CONSUMER_PROTOCOL,
        names: &[
            "group.consumer.assignment.interval.ms",
            "group.consumer.assignor.offload.enable",
            "group.consumer.assignors",
            "group.consumer.heartbeat.interval.ms",
            "group.consumer.max.assignment.interval.ms",
            "group.consumer.max.heartbeat.interval.ms",
            "group.consumer.max.session.timeout.ms",
            "group.consumer.max.size",
            "group.consumer.migration.policy",
            "group.consumer.min.assignment.interval.ms",
            "group.consumer.min.heartbeat.interval.ms",
            "group.consumer.min.session.timeout.ms",
            "group.consumer.regex.refresh.interval.ms",
            "group.consumer.session.timeout.ms",
            "group.coordinator.rebalance.protocols",
        ],
    },
    IgnoredGroup {
        why: NO_TIERED_STORAGE,
        names: &[
            "follower.fetch.last.tiered.offset.enable",
            "remote.fetch.max.wait.ms",
            "remote.list.offsets.request.timeout.ms",
            "remote.log.index.file.cache.total.size.bytes",
            "remote.log.index.file.cache.ttl.ms",
            "remote.log.manager.copier.thread.pool.size",
            "remote.log.manager.copy.max.bytes.per.second",
            "remote.log.manager.copy.quota.window.num",
            "remote.log.manager.copy.quota.window.size.seconds",
            "remote.log.manager.expiration.thread.pool.size",
            "remote.log.manager.fetch.max.bytes.per.second",
            "remote.log.manager.fetch.quota.window.num",
            "remote.log.manager.fetch.quota.window.size.seconds",
            "remote.log.manager.follower.thread.pool.size",
            "remote.log.manager.task.interval.ms",
            "remote.log.manager.task.retry.backoff.max.ms",
            "remote.log.manager.task.retry.backoff.ms",
            "remote.log.manager.task.retry.jitter",
            "remote.log.manager.thread.pool.size",
            "remote.log.metadata.custom.metadata.max.bytes",
            "remote.log.metadata.manager.class.name",
            "remote.log.metadata.manager.class.path",
            "remote.log.metadata.manager.impl.prefix",
            "remote.log.metadata.manager.listener.name",
            "remote.log.reader.max.pending.tasks",
            "remote.log.reader.threads",
            "remote.log.storage.manager.class.name",
            "remote.log.storage.manager.class.path",
            "remote.log.storage.manager.impl.prefix",
            "remote.log.storage.system.enable",
        ],
    },
    IgnoredGroup {
        why: NO_AUTHENTICATION,
        names: &[
            "connection.failed.authentication.delay.ms",
            "connections.max.reauth.ms",
        ],
    },
    IgnoredGroup {
        why: NO_DELEGATION_TOKENS,
        names: &[
            "delegation.token.expiry.check.interval.ms",
            "delegation.token.expiry.time.ms",
            "delegation.token.max.lifetime.ms",
        ],
    },
    IgnoredGroup {
        why: NO_ZOOKEEPER,
        names: &["zookeeper.connect", "zookeeper.connection.timeout.ms"],
    },
];
