//! Broker keys, part of [`super::broker_keys`]: the log (segments,
//! retention, flushing, indexes, checkpoints), request and fetch sizes,
//! consumer groups, committed offsets and producer ids.

use super::*;

/// These keys, in application order.
pub(super) static LOG_AND_GROUP_KEYS: &[BrokerKey] = &[
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
        doc:
            "Longest metadata of a committed offset; a longer one gets OFFSET_METADATA_TOO_LARGE. \
              At most 32767 (the offsets record keeps it as a string of i16 length).",
        apply: |c, v| {
            store(
                &mut c.offset_metadata_max_bytes,
                offset_metadata_max_bytes(v)?,
            )
        },
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
];
