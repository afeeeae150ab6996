//! The one table of broker keys: name, default, meaning and setter.
//!
//! Help text, defaults, parsing and DescribeConfigs of a broker all read this
//! table so they cannot drift.
//! Keys are applied in table order, so an alias listed before its main key
//! (`log.retention.hours` before `log.retention.ms`) loses to it, as in Kafka.

pub use super::broker_key::{BrokerKey, KeyDefault, Setter};
pub use super::ignored_keys::{ignored_kafka_keys, ignored_key, IgnoredKey};
pub(super) use super::key_values::int;
use super::key_values::*;
pub use super::key_values::{boolean, count_or_never};
use super::kraft;
use super::listener::{parse_advertised_listener_list, parse_listener_list};
pub use super::refused_keys::{refused_kafka_keys, refused_key, RefusedKey};
use super::topic::ConfigType;
use KeyDefault::{AliasOf, Value};

/// Smallest `log.segment.bytes`: one storage block, so tests can roll small
/// segments while every segment still holds at least one aligned write.
pub const LOG_SEGMENT_BYTES_MIN: i64 = 4096;
/// Most offsets partitions (`offsets.topic.num.partitions`).
pub const OFFSETS_PARTITIONS_MAX: i64 = 10_000;
/// Where data goes when neither `log.dirs` nor `log.dir` is set.
pub const LOG_DIRS_DEFAULT: &str = "/tmp/millrace-logs";
/// Most requests one connection may have in flight.
pub const INFLIGHT_REQUESTS_MAX: i64 = 4096;
/// Largest cross-shard channel capacity.
pub const SHARD_CHANNEL_CAPACITY_MAX: i64 = 1 << 20;
/// Shortest `shutdown.timeout.ms`: room for the connection drain and final fsyncs.
pub const SHUTDOWN_TIMEOUT_MS_MIN: i64 = 1_000;
/// Longest `shutdown.timeout.ms` (one hour).
pub const SHUTDOWN_TIMEOUT_MS_MAX: i64 = 3_600_000;
/// Shortest `startup.timeout.ms`.
pub const STARTUP_TIMEOUT_MS_MIN: i64 = 1_000;
/// Longest `startup.timeout.ms` (one hour).
pub const STARTUP_TIMEOUT_MS_MAX: i64 = 3_600_000;
/// Shortest `broker.session.timeout.ms`: two of the shortest heartbeat
/// intervals.
pub const BROKER_SESSION_TIMEOUT_MS_MIN: i64 = 2 * BROKER_HEARTBEAT_INTERVAL_MS_MIN;
/// Shortest `broker.heartbeat.interval.ms`: above the lifecycle's 100 ms poll
/// and a controller round trip on a loaded machine.
pub const BROKER_HEARTBEAT_INTERVAL_MS_MIN: i64 = 250;
/// `broker.id` at Kafka's default: no id of its own (`node.id` gives it).
pub const BROKER_ID_UNSET: i64 = -1;

/// Every broker key, in application order.
pub static BROKER_KEYS: &[BrokerKey] = &[
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
    BrokerKey {
        name: "log.segment.bytes",
        default: Value("1073741824"),
        kind: ConfigType::Int,
        doc: "Segment size at which a new segment is rolled (topic key segment.bytes).",
        apply: |c, v| {
            store(
                &mut c.log_segment_bytes,
                int(v, LOG_SEGMENT_BYTES_MIN, INT_MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "log.roll.hours",
        default: AliasOf("log.roll.ms"),
        kind: ConfigType::Int,
        doc: "Roll a segment after this many hours (log.roll.ms wins when both are set).",
        apply: |c, v| {
            store(
                &mut c.log_roll_ms,
                (int(v, 1, INT_MAX)? * MS_PER_HOUR) as u64,
            )
        },
    },
    BrokerKey {
        name: "log.roll.ms",
        default: Value("604800000"),
        kind: ConfigType::Long,
        doc: "Roll a segment after this age in ms even if not full (topic key segment.ms).",
        apply: |c, v| store(&mut c.log_roll_ms, int(v, 1, i64::MAX)? as u64),
    },
    BrokerKey {
        name: "log.retention.hours",
        default: AliasOf("log.retention.ms"),
        kind: ConfigType::Int,
        doc: "Retention in hours (log.retention.minutes and log.retention.ms win).",
        apply: |c, v| {
            store(
                &mut c.log_retention_ms,
                duration_or_unlimited(v, MS_PER_HOUR)?,
            )
        },
    },
    BrokerKey {
        name: "log.retention.minutes",
        default: AliasOf("log.retention.ms"),
        kind: ConfigType::Int,
        doc: "Retention in minutes (log.retention.ms wins).",
        apply: |c, v| {
            store(
                &mut c.log_retention_ms,
                duration_or_unlimited(v, MS_PER_MINUTE)?,
            )
        },
    },
    BrokerKey {
        name: "log.retention.ms",
        default: Value("604800000"),
        kind: ConfigType::Long,
        doc: "Delete segments older than this; -1 = keep forever (topic key retention.ms).",
        apply: |c, v| store(&mut c.log_retention_ms, duration_or_unlimited(v, 1)?),
    },
    BrokerKey {
        name: "log.retention.bytes",
        default: Value("-1"),
        kind: ConfigType::Long,
        doc: "Delete old segments past this partition size; -1 = no limit (retention.bytes).",
        apply: |c, v| store(&mut c.log_retention_bytes, int(v, -1, i64::MAX)?),
    },
    BrokerKey {
        name: "log.flush.interval.messages",
        default: Value("9223372036854775807"),
        kind: ConfigType::Long,
        doc: "fsync after this many messages; 9223372036854775807 = never, acks=all still syncs.",
        apply: |c, v| store(&mut c.log_flush_interval_messages, count_or_never(v, 1)?),
    },
    BrokerKey {
        name: "log.flush.interval.ms",
        default: Value("9223372036854775807"),
        kind: ConfigType::Long,
        doc: "fsync data older than this many ms; 9223372036854775807 = never (flush.ms).",
        apply: |c, v| store(&mut c.log_flush_interval_ms, count_or_never(v, 0)?),
    },
    BrokerKey {
        name: "log.unflushed.read.enable",
        default: Value("false"),
        kind: ConfigType::Boolean,
        doc: "Consumers may read records not yet fsynced, as in Kafka on one node (topic key \
              unflushed.read.enable); false = only fsynced records (high watermark = fsynced end).",
        apply: |c, v| store(&mut c.log_unflushed_read_enable, boolean(v)?),
    },
    BrokerKey {
        name: "log.flush.visibility.ms",
        default: Value("5"),
        kind: ConfigType::Long,
        doc: "With unflushed reads off: fsync acks=0/1 data at most this many ms after the last \
              fsync, so consumers see it; a consumer's parked fetch has it fsynced at once.",
        apply: |c, v| store(&mut c.log_flush_visibility_ms, int(v, 0, INT_MAX)? as u64),
    },
    BrokerKey {
        name: "log.index.interval.bytes",
        default: Value("4096"),
        kind: ConfigType::Int,
        doc: "Bytes of log between two offset index entries (index.interval.bytes).",
        apply: |c, v| store(&mut c.log_index_interval_bytes, int(v, 0, INT_MAX)? as u32),
    },
    BrokerKey {
        name: "log.flush.offset.checkpoint.interval.ms",
        default: Value("60000"),
        kind: ConfigType::Int,
        doc: "How old a partition's recovery point (recovery-point-offset-checkpoint) may get \
              while data arrives; partitions with 32 MiB past theirs get a new one sooner.",
        apply: |c, v| {
            store(
                &mut c.log_flush_offset_checkpoint_interval_ms,
                int(v, 1, i64::MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "replica.high.watermark.checkpoint.interval.ms",
        default: Value("5000"),
        kind: ConfigType::Long,
        doc: "How often each replicated partition's high watermark is written to the log \
              directory's replication-offset-checkpoint (also at a clean shutdown); a restarted \
              replica starts from it, bounded by its log end.",
        apply: |c, v| {
            store(
                &mut c.replica_high_watermark_checkpoint_interval_ms,
                int(v, 1, i64::MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "log.retention.check.interval.ms",
        default: Value("300000"),
        kind: ConfigType::Long,
        doc: "How often retention looks for segments to delete.",
        apply: |c, v| {
            store(
                &mut c.log_retention_check_interval_ms,
                int(v, 1, i64::MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "message.max.bytes",
        default: Value("1048588"),
        kind: ConfigType::Int,
        doc: "Largest record batch accepted (topic key max.message.bytes).",
        apply: |c, v| store(&mut c.message_max_bytes, int(v, 0, INT_MAX)? as u32),
    },
    BrokerKey {
        name: "socket.request.max.bytes",
        default: Value("104857600"),
        kind: ConfigType::Int,
        doc: "Largest request frame; a bigger size prefix closes the connection.",
        apply: |c, v| store(&mut c.socket_request_max_bytes, int(v, 1, INT_MAX)? as u32),
    },
    BrokerKey {
        name: "fetch.max.bytes",
        default: Value("57671680"),
        kind: ConfigType::Int,
        doc: "Most record bytes one Fetch response carries (caps the client's own limit).",
        apply: |c, v| store(&mut c.fetch_max_bytes, int(v, 1024, INT_MAX)? as u32),
    },
    BrokerKey {
        name: "max.incremental.fetch.session.cache.slots",
        default: Value("1000"),
        kind: ConfigType::Int,
        doc: "Incremental fetch sessions (KIP-227) the broker keeps, shared out among the shards.",
        apply: |c, v| {
            store(
                &mut c.max_incremental_fetch_session_cache_slots,
                int(v, 0, INT_MAX)? as usize,
            )
        },
    },
    BrokerKey {
        name: "connections.max.idle.ms",
        default: Value("600000"),
        kind: ConfigType::Long,
        doc: "Close a connection idle for this long.",
        apply: |c, v| store(&mut c.connections_max_idle_ms, int(v, 1, i64::MAX)? as u64),
    },
    BrokerKey {
        name: "group.initial.rebalance.delay.ms",
        default: Value("3000"),
        kind: ConfigType::Int,
        doc: "Wait this long for more members before the first rebalance of an empty group.",
        apply: |c, v| {
            store(
                &mut c.group_initial_rebalance_delay_ms,
                int(v, 0, INT_MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "group.min.session.timeout.ms",
        default: Value("6000"),
        kind: ConfigType::Int,
        doc: "Smallest session timeout a group member may ask for.",
        apply: |c, v| {
            store(
                &mut c.group_min_session_timeout_ms,
                int(v, 1, INT_MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "group.max.session.timeout.ms",
        default: Value("1800000"),
        kind: ConfigType::Int,
        doc: "Largest session timeout a group member may ask for.",
        apply: |c, v| {
            store(
                &mut c.group_max_session_timeout_ms,
                int(v, 1, INT_MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "group.max.size",
        default: Value("2147483647"),
        kind: ConfigType::Int,
        doc: "Most members (joined or joining) of a classic group; one more gets \
              GROUP_MAX_SIZE_REACHED. At most 1000; Kafka's default (2147483647) means 1000.",
        apply: |c, v| store(&mut c.group_max_size, group_max_size(v)?),
    },
    BrokerKey {
        name: "offset.metadata.max.bytes",
        default: Value("4096"),
        kind: ConfigType::Int,
        doc: "Longest metadata of a committed offset; a longer one gets OFFSET_METADATA_TOO_LARGE. \
              At most 32767 (the offsets record keeps it as a string of i16 length).",
        apply: |c, v| store(&mut c.offset_metadata_max_bytes, offset_metadata_max_bytes(v)?),
    },
    BrokerKey {
        name: "offsets.retention.minutes",
        default: Value("10080"),
        kind: ConfigType::Int,
        doc: "Delete the committed offsets of a group empty this long since its last commit.",
        apply: |c, v| {
            store(
                &mut c.offsets_retention_ms,
                (int(v, 1, INT_MAX)? * MS_PER_MINUTE) as u64,
            )
        },
    },
    BrokerKey {
        name: "offsets.topic.num.partitions",
        default: Value("50"),
        kind: ConfigType::Int,
        doc: "Partitions of the offsets topic; a group's commits live in partition \
              abs(hashCode(group id)) % this, on the shard that owns it. Fixed by the first \
              start of a data directory, as Kafka's __consumer_offsets keeps its count.",
        apply: |c, v| {
            store(
                &mut c.offsets_topic_num_partitions,
                int(v, 1, OFFSETS_PARTITIONS_MAX)? as usize,
            )
        },
    },
    BrokerKey {
        name: "offsets.topic.replication.factor",
        default: Value("3"),
        kind: ConfigType::Short,
        doc: "Replicas of each __consumer_offsets partition in a cluster (the topic is created at \
              the first FindCoordinator; while fewer brokers are alive, groups get \
              COORDINATOR_NOT_AVAILABLE, as in Kafka). A single node keeps its offsets partitions \
              in local files and does not use it.",
        apply: |c, v| {
            store(
                &mut c.offsets_topic_replication_factor,
                int(v, 1, i16::MAX.into())? as i16,
            )
        },
    },
    BrokerKey {
        name: "offsets.retention.check.interval.ms",
        default: Value("600000"),
        kind: ConfigType::Long,
        doc: "How often each shard looks for expired committed offsets.",
        apply: |c, v| {
            store(
                &mut c.offsets_retention_check_interval_ms,
                int(v, 1, i64::MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "producer.id.expiration.ms",
        default: Value("86400000"),
        kind: ConfigType::Int,
        doc: "Forget an idempotent producer once its last batch's max timestamp is this old.",
        apply: |c, v| store(&mut c.producer_id_expiration_ms, int(v, 1, INT_MAX)? as u64),
    },
    BrokerKey {
        name: "producer.ids.per.partition.max",
        default: Value("100000"),
        kind: ConfigType::Int,
        doc: "Idempotent producers a partition remembers; while it remembers this many that \
              have not expired, a new producer's batches get THROTTLING_QUOTA_EXCEEDED.",
        apply: |c, v| {
            store(
                &mut c.producer_ids_per_partition_max,
                int(v, 1, INT_MAX)? as usize,
            )
        },
    },
    BrokerKey {
        name: "num.shards",
        default: Value("0"),
        kind: ConfigType::Int,
        doc: "Shards (pinned threads, one per core); 0 = every online core.",
        apply: |c, v| store(&mut c.num_shards, int(v, 0, 4096)? as usize),
    },
    BrokerKey {
        name: "shard.channel.capacity",
        default: Value("1024"),
        kind: ConfigType::Int,
        doc: "Capacity of each cross-shard message channel.",
        apply: |c, v| {
            store(
                &mut c.shard_channel_capacity,
                int(v, 1, SHARD_CHANNEL_CAPACITY_MAX)? as usize,
            )
        },
    },
    BrokerKey {
        name: "connection.max.inflight.requests",
        default: Value("64"),
        kind: ConfigType::Int,
        doc: "Requests one connection may have in flight before reading pauses.",
        apply: |c, v| {
            let limit = int(v, 1, INFLIGHT_REQUESTS_MAX)?;
            store(&mut c.max_inflight_requests_per_connection, limit as usize)
        },
    },
    BrokerKey {
        name: "connection.max.queued.bytes",
        default: Value("67108864"),
        kind: ConfigType::Int,
        doc: "Request and answer bytes one connection may queue before reading pauses.",
        apply: |c, v| {
            store(
                &mut c.connection_max_queued_bytes,
                int(v, 1, INT_MAX)? as usize,
            )
        },
    },
    BrokerKey {
        name: "connection.request.read.timeout.ms",
        default: Value("30000"),
        kind: ConfigType::Int,
        doc: "Close a connection that takes longer than this to send one whole request.",
        apply: |c, v| {
            store(
                &mut c.connection_request_read_timeout_ms,
                int(v, 1, INT_MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "max.connections",
        default: Value("2147483647"),
        kind: ConfigType::Int,
        doc: "Most client connections the broker holds; more are closed at accept.",
        apply: |c, v| store(&mut c.max_connections, int(v, 0, INT_MAX)? as usize),
    },
    BrokerKey {
        name: "max.connections.per.ip",
        default: Value("2147483647"),
        kind: ConfigType::Int,
        doc: "Most client connections from one IP address; more are closed at accept.",
        apply: |c, v| store(&mut c.max_connections_per_ip, int(v, 0, INT_MAX)? as usize),
    },
    BrokerKey {
        name: "max.connections.per.ip.overrides",
        default: Value(""),
        kind: ConfigType::String,
        doc: "host:count,ip:count,...: those addresses' limit instead (host names resolved at start).",
        apply: |c, v| store(&mut c.max_connections_per_ip_overrides, ip_overrides(v)?),
    },
    BrokerKey {
        name: "io.memory.bytes",
        default: Value("0"),
        kind: ConfigType::Long,
        doc: "glommio registered I/O buffer pool per shard; 0 = sized to the memlock limit.",
        apply: |c, v| store(&mut c.io_memory_bytes, int(v, 0, i64::MAX)? as usize),
    },
    BrokerKey {
        name: "log.recent.bytes.per.partition",
        default: Value("-1"),
        kind: ConfigType::Long,
        doc: "Written batches a partition keeps in memory to serve reads of recent data; -1 = no \
              bound of its own: a partition may use all of its shard's room \
              (log.recent.bytes.per.shard.initial, grown by lagging reads up to \
              log.recent.bytes.per.shard.max), so a lagging consumer of a busy partition reads \
              from memory.",
        apply: |c, v| store(&mut c.recent_bytes_per_partition, bytes_or_unbounded(v)?),
    },
    BrokerKey {
        name: "log.recent.bytes.per.partition.min",
        default: Value("262144"),
        kind: ConfigType::Long,
        doc: "While its shard is over its room (log.recent.bytes.per.shard.initial, grown by lagging \
              reads up to log.recent.bytes.per.shard.max), the most a partition appended to or read \
              from lately keeps in memory, lowered so that all partitions' floors fit in half that \
              room; an idle partition then keeps none.",
        apply: |c, v| store(&mut c.recent_bytes_per_partition_min, bytes_key(v)?),
    },
    BrokerKey {
        name: "log.recent.bytes.per.shard.initial",
        default: Value("134217728"),
        kind: ConfigType::Long,
        doc: "The room for recent batches a shard starts with. It grows, up to \
              log.recent.bytes.per.shard.max, by what reads that went to the disk would have found \
              in memory (each by at most four times what it reads, plus a quarter), so memory beyond it is spent \
              on recent data only once a consumer lags behind what the room holds; -1 = the whole \
              log.recent.bytes.per.shard.max from the start.",
        apply: |c, v| store(&mut c.recent_bytes_per_shard_initial, bytes_or_unbounded(v)?),
    },
    BrokerKey {
        name: "log.recent.bytes.per.shard.max",
        default: Value("-1"),
        kind: ConfigType::Long,
        doc: "Bound on the recent batches all partitions of one shard keep in memory; -1 = an \
              eighth of the memory the broker may use (MemTotal, or its cgroup's memory.max if \
              lower), divided among the shards, and at least 512 MiB.",
        apply: |c, v| store(&mut c.recent_bytes_per_shard_max, bytes_or_unset(v)?),
    },
    BrokerKey {
        name: "log.recent.memory.available.min.bytes",
        default: Value("-1"),
        kind: ConfigType::Long,
        doc: "While the memory still available (MemAvailable, or the cgroup's room under its \
              memory.max) is below this, each shard gives back recent data, its share of the \
              shortfall, at most 32 MiB every 250 ms and down to 32 MiB, and grows its room back \
              once twice this is available, as the kernel does with Kafka's page cache; -1 = a \
              sixteenth of the broker's memory, 0 = never.",
        apply: |c, v| store(&mut c.recent_memory_available_min_bytes, bytes_or_unset(v)?),
    },
    BrokerKey {
        name: "log.unwritten.bytes.per.shard.max",
        default: Value("268435456"),
        kind: ConfigType::Long,
        doc: "Appended but not yet written bytes of all partitions of one shard; past it appends wait \
              (acks=0 producers included: their connections stop being read).",
        apply: |c, v| store(&mut c.unwritten_bytes_per_shard_max, bytes_key(v)?),
    },
    BrokerKey {
        name: "log.zero.ahead.bytes",
        default: Value("0"),
        kind: ConfigType::Long,
        doc: "How far past its data an active segment's preallocated blocks are written with zeros \
              ahead of the data, off the write path (e.g. 33554432): data writes then overwrite \
              written blocks, which io_uring finishes without a worker thread (less broker CPU per \
              byte, more throughput when the CPU is the limit), at the price of writing each byte \
              twice to the device and a longer latency tail (fdatasyncs also flush the zeros). 0 = off.",
        apply: |c, v| store(&mut c.zero_ahead_bytes, bytes_key(v)? as u64),
    },
    BrokerKey {
        name: "log.flush.syncfs.enable",
        default: Value("true"),
        kind: ConfigType::Boolean,
        doc: "When several partitions of a shard need an fdatasync at once, one syncfs per \
              filesystem makes them all durable (one device flush, one helper-thread wake-up) \
              instead of one fdatasync each; false = an fdatasync per partition, still in one \
              helper job. Used on kernels 5.17 and later (syncfs reports every error there).",
        apply: |c, v| store(&mut c.syncfs_batches, boolean(v)?),
    },
    BrokerKey {
        name: "log.read.handles.per.shard",
        default: Value("0"),
        kind: ConfigType::Int,
        doc: "Buffered segment read handles (open files) one shard keeps for fetches, least recently \
              used closed first; 0 = a quarter of the open-file limit left after 1024 reserved, split \
              over the shards (8..=4096 each).",
        apply: |c, v| store(&mut c.read_handles_per_shard, int(v, 0, INT_MAX)? as usize),
    },
    BrokerKey {
        name: "log.level",
        default: Value("info"),
        kind: ConfigType::String,
        doc: "error|warn|info|debug|trace|off; the MILLRACE_LOG variable overrides it.",
        apply: |c, v| {
            crate::logging::parse_level(v)?;
            store(&mut c.log_level, v.trim().to_ascii_lowercase())
        },
    },
    BrokerKey {
        name: "storage.fault.plan",
        default: Value(""),
        kind: ConfigType::String,
        doc: "TEST ONLY: disk faults to inject (see storage::io::plan_text); refused unless \
              MILLRACE_ALLOW_FAULT_INJECTION=1.",
        apply: set_storage_fault_plan,
    },
    BrokerKey {
        name: "shutdown.timeout.ms",
        default: Value("30000"),
        kind: ConfigType::Int,
        doc: "Bound on a clean shutdown after SIGTERM/SIGINT; past it the broker exits 1 without the clean marker.",
        apply: |c, v| {
            let bound = int(v, SHUTDOWN_TIMEOUT_MS_MIN, SHUTDOWN_TIMEOUT_MS_MAX)?;
            store(&mut c.shutdown_timeout_ms, bound as u64)
        },
    },
    BrokerKey {
        name: "initial.broker.registration.timeout.ms",
        default: Value("60000"),
        kind: ConfigType::Int,
        doc: "In a cluster: how long a starting broker may go unregistered with the active \
              controller (unreachable controllers, a duplicate node.id) before it exits 1.",
        apply: |c, v| {
            store(
                &mut c.initial_broker_registration_timeout_ms,
                int(v, 1, INT_MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "broker.session.timeout.ms",
        default: Value("9000"),
        kind: ConfigType::Int,
        doc: "In a cluster: an unfenced broker the active controller has not heard from this long \
              is fenced (its leaderships move); one whose connections to the controller all \
              closed is fenced sooner, after broker.heartbeat.interval.ms without a reconnect.",
        apply: |c, v| {
            let bound = int(v, BROKER_SESSION_TIMEOUT_MS_MIN, INT_MAX)?;
            store(&mut c.broker_session_timeout_ms, bound as u64)
        },
    },
    BrokerKey {
        name: "broker.heartbeat.interval.ms",
        default: Value("2000"),
        kind: ConfigType::Int,
        doc: "In a cluster: how often a broker heartbeats the active controller; at most half of \
              broker.session.timeout.ms.",
        apply: |c, v| {
            let bound = int(v, BROKER_HEARTBEAT_INTERVAL_MS_MIN, INT_MAX)?;
            store(&mut c.broker_heartbeat_interval_ms, bound as u64)
        },
    },
    BrokerKey {
        name: "startup.timeout.ms",
        default: Value("30000"),
        kind: ConfigType::Int,
        doc: "Longest a start-up may go without progress (a shard joining, a partition opened); past it the broker exits 1 naming where each shard stands.",
        apply: |c, v| {
            let bound = int(v, STARTUP_TIMEOUT_MS_MIN, STARTUP_TIMEOUT_MS_MAX)?;
            store(&mut c.startup_timeout_ms, bound as u64)
        },
    },
    BrokerKey {
        name: "http.listener",
        default: Value("127.0.0.1:9644"),
        kind: ConfigType::String,
        doc: "host:port of the HTTP endpoint (/metrics, /health, /ready); empty = off.",
        apply: |c, v| store(&mut c.http_listener, non_empty(v).map(str::to_string)),
    },
];

/// The table entry of a key, if known.
pub fn broker_key(name: &str) -> Option<&'static BrokerKey> {
    BROKER_KEYS.iter().find(|key| key.name == name)
}
