//! The table of per-topic keys: every topic config of Kafka 4.x's
//! documentation (`TopicConfig`, `LogConfig.configDef`), with Kafka's
//! validation rules and defaults, plus the Kafka 3.x keys 4.0 dropped,
//! accepted for old tools. What millrace does with each is its
//! [`KeySupport`]; `TOPIC-CONFIGS` in the README lists them.

use super::keys::{boolean, int};
use super::topic::{ConfigType, KeySupport, TopicConfigKey, TopicDefault};

const INT_MAX: i64 = i32::MAX as i64;
/// Kafka writes "never" / "no bound" as Long.MAX_VALUE.
const LONG_MAX: i64 = i64::MAX;
/// Kafka's smallest `segment.bytes` (a legacy record header). Kafka 4.0
/// raised it to 1 MiB (KIP-1030); millrace keeps 3.x's floor, which its
/// tests and small deployments use.
const TOPIC_SEGMENT_BYTES_MIN: i64 = 14;
/// Kafka's bound on `max.decompressed.message.bytes` (its largest array).
const DECOMPRESSED_BYTES_MAX: i64 = 2_147_483_639;
/// `local.retention.*` -2: follow `retention.*` (tiered storage).
const LOCAL_RETENTION_FOLLOWS: i64 = -2;
/// Kafka's `compression.type` values (`BrokerCompressionType`).
pub const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
/// gzip: Deflater levels 1-9, or -1 for zlib's default.
const GZIP_LEVEL_DEFAULT: i64 = -1;
const GZIP_LEVEL_MAX: i64 = 9;
/// lz4: LZ4 HC levels (Kafka's `LZ4Constants`).
const LZ4_LEVEL_MIN: i64 = 1;
const LZ4_LEVEL_MAX: i64 = 17;
/// zstd: `ZSTD_minCLevel` to `ZSTD_MAX_CLEVEL`.
const ZSTD_LEVEL_MIN: i64 = -131_072;
const ZSTD_LEVEL_MAX: i64 = 22;
/// Kafka releases `message.format.version` may name (MetadataVersion's).
const KAFKA_RELEASES: &[&str] = &[
    "0.8.0", "0.8.1", "0.8.2", "0.9.0", "0.10.0", "0.10.1", "0.10.2", "0.11.0", "1.0", "1.1",
    "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "3.0", "3.1", "3.2", "3.3",
    "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "4.0",
];

const COMPACTION: KeySupport = KeySupport::Stored {
    until: "log compaction",
};
const REPLICATION: KeySupport = KeySupport::Stored {
    until: "replication (cluster)",
};
const TIERED: KeySupport = KeySupport::Stored {
    until: "tiered storage",
};
const SEGMENTS: KeySupport = KeySupport::Stored {
    until: "a segment-management change",
};

/// Every per-topic key, Kafka's documentation order (deprecated ones last).
pub static TOPIC_CONFIG_KEYS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "cleanup.policy",
        kind: ConfigType::List,
        broker_key: "log.cleanup.policy",
        doc: "delete, compact or compact,delete (compaction is not performed yet).",
        validate: validate_cleanup_policy,
        default: TopicDefault::Fixed("delete"),
        support: COMPACTION,
    },
    TopicConfigKey {
        name: "compression.gzip.level",
        kind: ConfigType::Int,
        broker_key: "compression.gzip.level",
        doc: "gzip level of batches the broker recompresses: 1-9, -1 = default (6).",
        validate: |v| match int(v, GZIP_LEVEL_DEFAULT, GZIP_LEVEL_MAX)? {
            0 => Err("1..=9 or -1".into()),
            _ => Ok(()),
        },
        default: TopicDefault::Fixed("-1"),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "compression.lz4.level",
        kind: ConfigType::Int,
        broker_key: "compression.lz4.level",
        doc: "lz4 level of batches the broker recompresses: 9 = fast, else LZ4 HC.",
        validate: |v| int(v, LZ4_LEVEL_MIN, LZ4_LEVEL_MAX).map(drop),
        default: TopicDefault::Fixed("9"),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "compression.type",
        kind: ConfigType::String,
        broker_key: "compression.type",
        doc: "Codec of stored batches: producer (keep the producer's), uncompressed, gzip, \
              snappy, lz4 or zstd (others are recompressed on produce).",
        validate: |v| one_of(v, COMPRESSION_TYPES),
        default: TopicDefault::Fixed("producer"),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "compression.zstd.level",
        kind: ConfigType::Int,
        broker_key: "compression.zstd.level",
        doc: "zstd level of batches the broker recompresses.",
        validate: |v| int(v, ZSTD_LEVEL_MIN, ZSTD_LEVEL_MAX).map(drop),
        default: TopicDefault::Fixed("3"),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "delete.retention.ms",
        kind: ConfigType::Long,
        broker_key: "log.cleaner.delete.retention.ms",
        doc: "How long tombstones of a compacted topic are kept.",
        validate: |v| int(v, 0, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("86400000"),
        support: COMPACTION,
    },
    TopicConfigKey {
        name: "errors.deadletterqueue.group.enable",
        kind: ConfigType::Boolean,
        broker_key: "",
        doc: "Whether groups may use this topic as a dead-letter queue (Kafka 4.4).",
        validate: |v| boolean(v).map(drop),
        default: TopicDefault::Fixed("false"),
        support: KeySupport::Stored {
            until: "share groups",
        },
    },
    TopicConfigKey {
        name: "file.delete.delay.ms",
        kind: ConfigType::Long,
        broker_key: "log.segment.delete.delay.ms",
        doc: "Delay before a deleted segment's files are removed (millrace removes at once).",
        validate: |v| int(v, 0, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("60000"),
        support: SEGMENTS,
    },
    TopicConfigKey {
        name: "flush.messages",
        kind: ConfigType::Long,
        broker_key: "log.flush.interval.messages",
        doc: "fsync after this many messages.",
        validate: |v| int(v, 1, LONG_MAX).map(drop),
        default: TopicDefault::Broker(|c| never_as_long(c.log_flush_interval_messages)),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "flush.ms",
        kind: ConfigType::Long,
        broker_key: "log.flush.interval.ms",
        doc: "fsync data older than this many ms.",
        validate: |v| int(v, 0, LONG_MAX).map(drop),
        default: TopicDefault::Broker(|c| never_as_long(c.log_flush_interval_ms)),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "follower.replication.throttled.replicas",
        kind: ConfigType::List,
        broker_key: "",
        doc: "Replicas whose follower fetches are throttled: partition:broker,... or *.",
        validate: validate_throttled_replicas,
        default: TopicDefault::Fixed(""),
        support: REPLICATION,
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        kind: ConfigType::Int,
        broker_key: "log.index.interval.bytes",
        doc: "Bytes of log between two offset index entries.",
        validate: |v| int(v, 0, INT_MAX).map(drop),
        default: TopicDefault::Broker(|c| c.log_index_interval_bytes.to_string()),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "leader.replication.throttled.replicas",
        kind: ConfigType::List,
        broker_key: "",
        doc: "Replicas whose leader-side fetches are throttled: partition:broker,... or *.",
        validate: validate_throttled_replicas,
        default: TopicDefault::Fixed(""),
        support: REPLICATION,
    },
    TopicConfigKey {
        name: "local.retention.bytes",
        kind: ConfigType::Long,
        broker_key: "log.local.retention.bytes",
        doc: "Local bytes kept with tiered storage; -2 = retention.bytes.",
        validate: |v| int(v, LOCAL_RETENTION_FOLLOWS, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("-2"),
        support: TIERED,
    },
    TopicConfigKey {
        name: "local.retention.ms",
        kind: ConfigType::Long,
        broker_key: "log.local.retention.ms",
        doc: "Local retention with tiered storage; -2 = retention.ms.",
        validate: |v| int(v, LOCAL_RETENTION_FOLLOWS, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("-2"),
        support: TIERED,
    },
    TopicConfigKey {
        name: "max.compaction.lag.ms",
        kind: ConfigType::Long,
        broker_key: "log.cleaner.max.compaction.lag.ms",
        doc: "Longest a record stays uncompacted.",
        validate: |v| int(v, 1, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("9223372036854775807"),
        support: COMPACTION,
    },
    TopicConfigKey {
        name: "max.decompressed.message.bytes",
        kind: ConfigType::Int,
        broker_key: "max.decompressed.message.bytes",
        doc: "Largest a record batch may inflate to when the broker decompresses it \
              (Kafka 4.4; millrace bounds every decompression at 64 MiB).",
        validate: |v| int(v, 1, DECOMPRESSED_BYTES_MAX).map(drop),
        default: TopicDefault::Fixed("2147483639"),
        support: KeySupport::Stored {
            until: "a per-topic decompression bound",
        },
    },
    TopicConfigKey {
        name: "max.message.bytes",
        kind: ConfigType::Int,
        broker_key: "message.max.bytes",
        doc: "Largest record batch accepted (also after the broker recompresses it).",
        validate: |v| int(v, 0, INT_MAX).map(drop),
        default: TopicDefault::Broker(|c| c.message_max_bytes.to_string()),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "message.timestamp.after.max.ms",
        kind: ConfigType::Long,
        broker_key: "log.message.timestamp.after.max.ms",
        doc: "CreateTime: refuse (INVALID_TIMESTAMP) records this far ahead of the broker's \
              clock (Kafka 4.x default: 1 hour).",
        validate: |v| int(v, 0, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("3600000"),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "message.timestamp.before.max.ms",
        kind: ConfigType::Long,
        broker_key: "log.message.timestamp.before.max.ms",
        doc: "CreateTime: refuse (INVALID_TIMESTAMP) records this far behind the broker's clock.",
        validate: |v| int(v, 0, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("9223372036854775807"),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        kind: ConfigType::String,
        broker_key: "log.message.timestamp.type",
        doc: "CreateTime (the producer's) or LogAppendTime (the broker stamps each batch).",
        validate: |v| one_of(v, &["CreateTime", "LogAppendTime"]),
        default: TopicDefault::Fixed("CreateTime"),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "min.cleanable.dirty.ratio",
        kind: ConfigType::Double,
        broker_key: "log.cleaner.min.cleanable.ratio",
        doc: "Dirty share of the log that makes it eligible for compaction.",
        validate: validate_ratio,
        default: TopicDefault::Fixed("0.5"),
        support: COMPACTION,
    },
    TopicConfigKey {
        name: "min.compaction.lag.ms",
        kind: ConfigType::Long,
        broker_key: "log.cleaner.min.compaction.lag.ms",
        doc: "Shortest a record stays uncompacted.",
        validate: |v| int(v, 0, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("0"),
        support: COMPACTION,
    },
    TopicConfigKey {
        name: "min.insync.replicas",
        kind: ConfigType::Int,
        broker_key: "min.insync.replicas",
        doc: "Replicas that must have a record for acks=all (1 on a single node).",
        validate: |v| int(v, 1, INT_MAX).map(drop),
        default: TopicDefault::Broker(|c| c.min_insync_replicas.to_string()),
        support: REPLICATION,
    },
    TopicConfigKey {
        name: "preallocate",
        kind: ConfigType::Boolean,
        broker_key: "log.preallocate",
        doc: "Preallocate segment files (millrace always preallocates in steps).",
        validate: |v| boolean(v).map(drop),
        default: TopicDefault::Fixed("false"),
        support: SEGMENTS,
    },
    TopicConfigKey {
        name: "remote.copy.lag.bytes",
        kind: ConfigType::Long,
        broker_key: "log.remote.copy.lag.bytes",
        doc: "Tiered storage: bytes a segment may wait before it is copied; -1 = no bound.",
        validate: |v| int(v, -1, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("-1"),
        support: TIERED,
    },
    TopicConfigKey {
        name: "remote.copy.lag.ms",
        kind: ConfigType::Long,
        broker_key: "log.remote.copy.lag.ms",
        doc: "Tiered storage: time a segment may wait before it is copied; -1 = no bound.",
        validate: |v| int(v, -1, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("0"),
        support: TIERED,
    },
    TopicConfigKey {
        name: "remote.log.copy.disable",
        kind: ConfigType::Boolean,
        broker_key: "",
        doc: "Tiered storage: stop copying segments to remote storage.",
        validate: |v| boolean(v).map(drop),
        default: TopicDefault::Fixed("false"),
        support: TIERED,
    },
    TopicConfigKey {
        name: "remote.log.delete.on.disable",
        kind: ConfigType::Boolean,
        broker_key: "",
        doc: "Tiered storage: delete remote data when it is turned off.",
        validate: |v| boolean(v).map(drop),
        default: TopicDefault::Fixed("false"),
        support: TIERED,
    },
    TopicConfigKey {
        name: "remote.storage.enable",
        kind: ConfigType::Boolean,
        broker_key: "",
        doc: "Tiered storage; true is refused, as by a Kafka broker without it.",
        validate: |v| boolean(v).map(drop),
        default: TopicDefault::Fixed("false"),
        support: TIERED,
    },
    TopicConfigKey {
        name: "retention.bytes",
        kind: ConfigType::Long,
        broker_key: "log.retention.bytes",
        doc: "Delete old segments past this partition size; -1 = no limit.",
        validate: |v| int(v, i64::MIN, LONG_MAX).map(drop),
        default: TopicDefault::Broker(|c| c.log_retention_bytes.to_string()),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "retention.ms",
        kind: ConfigType::Long,
        broker_key: "log.retention.ms",
        doc: "Delete segments older than this; -1 = keep forever.",
        validate: |v| int(v, -1, LONG_MAX).map(drop),
        default: TopicDefault::Broker(|c| c.log_retention_ms.to_string()),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "segment.bytes",
        kind: ConfigType::Int,
        broker_key: "log.segment.bytes",
        doc: "Segment size at which a new segment is rolled.",
        validate: |v| int(v, TOPIC_SEGMENT_BYTES_MIN, INT_MAX).map(drop),
        default: TopicDefault::Broker(|c| c.log_segment_bytes.to_string()),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "segment.index.bytes",
        kind: ConfigType::Int,
        broker_key: "log.index.size.max.bytes",
        doc: "Largest offset index file (millrace's indexes grow as needed).",
        validate: |v| int(v, 4, INT_MAX).map(drop),
        default: TopicDefault::Fixed("10485760"),
        support: SEGMENTS,
    },
    TopicConfigKey {
        name: "segment.jitter.ms",
        kind: ConfigType::Long,
        broker_key: "log.roll.jitter.ms",
        doc: "Random jitter subtracted from segment.ms.",
        validate: |v| int(v, 0, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("0"),
        support: SEGMENTS,
    },
    TopicConfigKey {
        name: "segment.ms",
        kind: ConfigType::Long,
        broker_key: "log.roll.ms",
        doc: "Roll a segment after this age even if not full.",
        validate: |v| int(v, 1, LONG_MAX).map(drop),
        default: TopicDefault::Broker(|c| c.log_roll_ms.to_string()),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "unclean.leader.election.enable",
        kind: ConfigType::Boolean,
        broker_key: "unclean.leader.election.enable",
        doc: "Let an out-of-sync replica become leader (a cluster's controller reads the topic's \
              value, then the broker default).",
        validate: |v| boolean(v).map(drop),
        default: TopicDefault::Broker(|c| c.unclean_leader_election_enable.to_string()),
        support: KeySupport::Applied,
    },
    // millrace's own: Kafka's single-node read semantics per topic.
    TopicConfigKey {
        name: "unflushed.read.enable",
        kind: ConfigType::Boolean,
        broker_key: "log.unflushed.read.enable",
        doc: "Consumers may read records not yet fsynced (Kafka's single-node behaviour).",
        validate: |v| boolean(v).map(drop),
        default: TopicDefault::Broker(|c| c.log_unflushed_read_enable.to_string()),
        support: KeySupport::Applied,
    },
    TopicConfigKey {
        name: "message.downconversion.enable",
        kind: ConfigType::Boolean,
        broker_key: "log.message.downconversion.enable",
        doc: "Deprecated (a no-op since Kafka 4.0): accepted and ignored.",
        validate: |v| boolean(v).map(drop),
        default: TopicDefault::Fixed("true"),
        support: KeySupport::Deprecated,
    },
    TopicConfigKey {
        name: "message.format.version",
        kind: ConfigType::String,
        broker_key: "log.message.format.version",
        doc: "Deprecated (removed in Kafka 4.0; ignored since 3.0): accepted and ignored.",
        validate: validate_kafka_version,
        default: TopicDefault::Fixed("3.0-IV1"),
        support: KeySupport::Deprecated,
    },
    TopicConfigKey {
        name: "message.timestamp.difference.max.ms",
        kind: ConfigType::Long,
        broker_key: "log.message.timestamp.difference.max.ms",
        doc: "Deprecated (removed in Kafka 4.0): as in Kafka 3.x, the bound on both sides \
              when message.timestamp.before/after.max.ms are not set.",
        validate: |v| int(v, 0, LONG_MAX).map(drop),
        default: TopicDefault::Fixed("9223372036854775807"),
        support: KeySupport::Deprecated,
    },
];

/// `u64::MAX` ("never") is written back as Kafka's Long.MAX_VALUE.
fn never_as_long(value: u64) -> String {
    i64::try_from(value).unwrap_or(LONG_MAX).to_string()
}

/// Kafka's `ValidString.in`: exactly one of `allowed` (case-sensitive).
fn one_of(value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value.trim()) {
        Ok(())
    } else {
        Err(format!("one of {}", allowed.join(", ")))
    }
}

fn validate_cleanup_policy(value: &str) -> Result<(), String> {
    let mut policies = value.split(',').map(str::trim);
    let known = policies.all(|policy| policy == "delete" || policy == "compact");
    if known && !value.trim().is_empty() {
        Ok(())
    } else {
        Err("delete, compact or compact,delete".to_string())
    }
}

/// Kafka's `between(0, 1)` on a DOUBLE.
fn validate_ratio(value: &str) -> Result<(), String> {
    match value.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(()),
        _ => Err("a number in 0..=1".to_string()),
    }
}

/// Kafka's `ThrottledReplicaListValidator`: `*`, or a (possibly empty) list
/// of `partition:broker` pairs.
fn validate_throttled_replicas(value: &str) -> Result<(), String> {
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    let pair = |item: &str| {
        item.is_empty()
            || item.split_once(':').is_some_and(|(partition, broker)| {
                [partition, broker]
                    .iter()
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
    };
    if items.iter().all(|item| pair(item)) || items.concat() == "*" {
        Ok(())
    } else {
        Err("* or a list of [partitionId]:[brokerId]".to_string())
    }
}

/// Kafka's `MetadataVersionValidator`: a release (`2.8`, `0.10.2`), with or
/// without patch level or an `-IVn` suffix.
fn validate_kafka_version(value: &str) -> Result<(), String> {
    let value = value.trim();
    let (release, iv) = match value.split_once("-IV") {
        Some((release, iv)) => (release, Some(iv)),
        None => (value, None),
    };
    let kept = if release.starts_with("0.") { 3 } else { 2 };
    let key: Vec<&str> = release.split('.').take(kept).collect();
    let known = KAFKA_RELEASES.contains(&key.join(".").as_str());
    let iv_ok = iv.is_none_or(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if known && iv_ok {
        Ok(())
    } else {
        Err(format!(
            "a Kafka version such as 3.0 or 2.8-IV1 (Version {value} is not a valid version)"
        ))
    }
}
