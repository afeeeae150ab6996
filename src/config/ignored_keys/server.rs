//! Ignored keys that tune work a Kafka broker does one way and millrace
//! another: threads and queues (thread-per-core), sockets, metrics, the
//! KRaft metadata log, replica fetching, log directories.

use super::IgnoredGroup;

/// Thread pools: a shard is one pinned thread doing all of its own work.
const THREAD_PER_CORE: &str =
    "thread-per-core: each shard does this work on its own reactor (num.shards sets the cores)";

/// Kafka's request queue between network and I/O threads.
const NO_REQUEST_QUEUE: &str = "no shared request queue: back-pressure is per connection \
     (connection.max.inflight.requests, connection.max.queued.bytes)";

/// Kafka's purgatories of delayed requests.
const NO_PURGATORY: &str =
    "no purgatory to purge: a parked request is dropped by its shard as soon as it is answered";

/// Metrics reporters and JMX.
const NO_JMX: &str = "metrics are served at http.listener's /metrics, not by reporters or JMX";

/// Client, replication and controller quotas.
const NO_QUOTAS: &str = "millrace enforces no client, replication or controller quotas";

/// Timeouts of the connections a Kafka broker opens to other nodes.
const NODE_CONNECTIONS: &str =
    "connections between millrace nodes use millrace's own connect and request timeouts";

/// The KRaft metadata log and quorum's tuning.
const KRAFT_INTERNALS: &str = "millrace's controller quorum and metadata log keep their own \
     timing and sizes (under log.dirs)";

/// Kafka's replica fetcher threads and their request sizes.
const REPLICA_FETCHING: &str = "followers fetch over one session per pair of shards with \
     Kafka's default sizes and waits, fixed (replica.fetch.wait.max.ms=500, \
     replica.fetch.max.bytes=1 MiB, replica.fetch.response.max.bytes=10 MiB, \
     replica.fetch.backoff.ms=1000)";

/// Moves between log directories and their failure handling.
const ONE_LOG_DIR: &str =
    "millrace uses one log directory (the first of log.dirs): nothing moves between directories";

/// Log compaction (`cleanup.policy=compact` is stored, not applied).
const NO_COMPACTION: &str =
    "log compaction is not implemented (cleanup.policy=compact is stored, not applied)";

/// The offsets partitions' own settings.
const OFFSETS_PARTITIONS: &str = "millrace's group coordinator writes and loads its offsets \
     partitions its own way (uncompressed records, its own segments)";

/// Thread pools, queues and sockets, metrics, quotas, the metadata log,
/// replica fetching and log directories.
pub(super) const GROUPS: &[IgnoredGroup] = &[
    IgnoredGroup {
        why: THREAD_PER_CORE,
        names: &[
            "background.threads",
            "group.coordinator.background.threads",
            "group.coordinator.threads",
        ],
    },
    IgnoredGroup {
        why: "thread-per-core: each shard's reactor does its own network I/O \
              (num.shards sets the cores)",
        names: &["num.network.threads"],
    },
    IgnoredGroup {
        why: "thread-per-core: a request runs on the shard that owns its partition \
              (num.shards sets the cores)",
        names: &["num.io.threads"],
    },
    IgnoredGroup {
        why: "each shard recovers its own partitions at start, all shards at once",
        names: &["num.recovery.threads.per.data.dir"],
    },
    IgnoredGroup {
        why: NO_REQUEST_QUEUE,
        names: &["queued.max.requests", "queued.max.request.bytes"],
    },
    IgnoredGroup {
        why: NO_PURGATORY,
        names: &[
            "delete.records.purgatory.purge.interval.requests",
            "fetch.purgatory.purge.interval.requests",
            "producer.purgatory.purge.interval.requests",
        ],
    },
    IgnoredGroup {
        why: "millrace leaves SO_SNDBUF to the kernel's autotuning",
        names: &["socket.send.buffer.bytes"],
    },
    IgnoredGroup {
        why: "millrace leaves SO_RCVBUF to the kernel's autotuning",
        names: &[
            "socket.receive.buffer.bytes",
            "replica.socket.receive.buffer.bytes",
        ],
    },
    IgnoredGroup {
        why: "millrace's listeners keep the listen backlog it binds them with",
        names: &["socket.listen.backlog.size"],
    },
    IgnoredGroup {
        why: "every listener opens once the broker is ready to serve",
        names: &["early.start.listeners"],
    },
    IgnoredGroup {
        why: "new connections are not rate limited (max.connections and \
              max.connections.per.ip bound how many are open)",
        names: &["max.connection.creation.rate"],
    },
    IgnoredGroup {
        why: NODE_CONNECTIONS,
        names: &[
            "controller.socket.timeout.ms",
            "replica.socket.timeout.ms",
            "request.timeout.ms",
            "socket.connection.setup.timeout.max.ms",
            "socket.connection.setup.timeout.ms",
        ],
    },
    IgnoredGroup {
        why: NO_JMX,
        names: &[
            "kafka.metrics.polling.interval.secs",
            "kafka.metrics.reporters",
            "metric.reporters",
            "metrics.num.samples",
            "metrics.recording.level",
            "metrics.sample.window.ms",
        ],
    },
    IgnoredGroup {
        why: "client telemetry (KIP-714) is not collected",
        names: &["telemetry.max.bytes"],
    },
    IgnoredGroup {
        why: NO_QUOTAS,
        names: &[
            "client.quota.callback.class",
            "controller.quota.window.num",
            "controller.quota.window.size.seconds",
            "quota.window.num",
            "quota.window.size.seconds",
            "replication.quota.window.num",
            "replication.quota.window.size.seconds",
        ],
    },
    IgnoredGroup {
        why: KRAFT_INTERNALS,
        names: &[
            "controller.performance.always.log.threshold.ms",
            "controller.performance.sample.period.ms",
            "controller.quorum.append.linger.ms",
            "controller.quorum.election.backoff.max.ms",
            "controller.quorum.election.timeout.ms",
            "controller.quorum.fetch.max.bytes",
            "controller.quorum.fetch.snapshot.max.bytes",
            "controller.quorum.fetch.timeout.ms",
            "controller.quorum.request.timeout.ms",
            "controller.quorum.retry.backoff.ms",
            "internal.metadata.delete.delay.millis",
            "internal.metadata.log.segment.bytes",
            "internal.metadata.max.batch.size.in.bytes",
            "metadata.log.dir",
            "metadata.log.max.record.bytes.between.snapshots",
            "metadata.log.max.snapshot.interval.ms",
            "metadata.log.segment.bytes",
            "metadata.log.segment.ms",
            "metadata.max.idle.interval.ms",
            "metadata.max.retention.bytes",
            "metadata.max.retention.ms",
        ],
    },
    IgnoredGroup {
        why: "millrace advertises only the API and feature versions it serves",
        names: &[
            "unstable.api.versions.enable",
            "unstable.feature.versions.enable",
        ],
    },
    IgnoredGroup {
        why: "startup.timeout.ms bounds a start that makes no progress instead",
        names: &["server.max.startup.time.ms"],
    },
    IgnoredGroup {
        why: "a cluster broker always hands its leaderships over before it stops",
        names: &["controlled.shutdown.enable"],
    },
    IgnoredGroup {
        why: REPLICA_FETCHING,
        names: &[
            "num.replica.fetchers",
            "replica.fetch.backoff.ms",
            "replica.fetch.max.bytes",
            "replica.fetch.min.bytes",
            "replica.fetch.response.max.bytes",
            "replica.fetch.wait.max.ms",
        ],
    },
    IgnoredGroup {
        why: "consumers fetch from the leader: there is no replica selector (KIP-392)",
        names: &["replica.selector.class"],
    },
    IgnoredGroup {
        why: "replicas are placed and Metadata is answered without racks",
        names: &["broker.rack"],
    },
    IgnoredGroup {
        why: "a cluster's controller makes unclean leader elections for leaderless partitions \
              (unclean.leader.election.enable) on its 250 ms tick",
        names: &["unclean.leader.election.interval.ms"],
    },
    IgnoredGroup {
        why: ONE_LOG_DIR,
        names: &[
            "alter.log.dirs.replication.quota.window.num",
            "alter.log.dirs.replication.quota.window.size.seconds",
            "cordoned.log.dirs",
            "log.dir.failure.timeout.ms",
            "num.replica.alter.log.dirs.threads",
        ],
    },
    IgnoredGroup {
        why: "segment.jitter.ms (log.roll.jitter.ms) is stored, not applied: segments roll at \
              segment.ms",
        names: &["log.roll.jitter.hours"],
    },
    IgnoredGroup {
        why: "each shard checks flush ages on its own timer, and an unset log.flush.interval.ms \
              means never here, not this key's value as in Kafka: set log.flush.interval.ms for \
              a time-based fsync (acks=all is fsynced before it is answered either way)",
        names: &["log.flush.scheduler.interval.ms"],
    },
    IgnoredGroup {
        why: "millrace starts its retention and flush timers with the shards",
        names: &["log.initial.task.delay.ms"],
    },
    IgnoredGroup {
        why: "millrace writes log-start-offset-checkpoint on its own schedule",
        names: &["log.flush.start.offset.checkpoint.interval.ms"],
    },
    IgnoredGroup {
        why: NO_COMPACTION,
        names: &[
            "log.cleaner.backoff.ms",
            "log.cleaner.dedupe.buffer.size",
            "log.cleaner.enable",
            "log.cleaner.io.buffer.load.factor",
            "log.cleaner.io.buffer.size",
            "log.cleaner.io.max.bytes.per.second",
            "log.cleaner.threads",
        ],
    },
    IgnoredGroup {
        why: "a partition forgets expired producer ids once the next one may have expired \
              (producer.id.expiration.ms), without a periodic scan",
        names: &["producer.id.expiration.check.interval.ms"],
    },
    IgnoredGroup {
        why: OFFSETS_PARTITIONS,
        names: &[
            "offsets.load.buffer.size",
            "offsets.topic.compression.codec",
            "offsets.topic.segment.bytes",
            "group.coordinator.append.linger.ms",
            "group.coordinator.cached.buffer.max.bytes",
        ],
    },
    IgnoredGroup {
        why: "an offset commit waits for its replication at most 5000 ms, Kafka's default",
        names: &["offsets.commit.timeout.ms"],
    },
    IgnoredGroup {
        why: "controllers never join the quorum on their own: voters change only through \
              AddRaftVoter and RemoveRaftVoter (kafka-metadata-quorum add-controller)",
        names: &["controller.quorum.auto.join.enable"],
    },
    IgnoredGroup {
        why: "millrace does not limit a request's partitions by this key",
        names: &["max.request.partition.size.limit"],
    },
];
