//! What a topic's configs ask of each produced batch: its size bound, the
//! codec it is stored with (`compression.type` and levels), its timestamp
//! type and the CreateTime bounds. Read from the topic table per Produce
//! request and applied on the connection's shard before the batches go to
//! their owner (`server/handlers/produce_policy.rs`); LogAppendTime itself is
//! stamped by the owning log under its append lock ([`super::log_config_for`]),
//! so append times never go backwards along the offsets.

use super::topic_table::TopicMeta;
use crate::config::Config;
use crate::protocol::codec::Codec;

/// Kafka's "no bound" (Long.MAX_VALUE).
const NO_BOUND_MS: i64 = i64::MAX;
/// Kafka 4.x's `message.timestamp.after.max.ms` default: one hour.
const AFTER_MAX_MS_DEFAULT: i64 = 3_600_000;
/// A record without a timestamp (Kafka's `RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;

/// The codec a topic stores batches with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredCodec {
    /// The codec (`Codec::None` for `uncompressed`).
    pub codec: Codec,
    /// `compression.<codec>.level`; `None` = the codec's default.
    pub level: Option<i32>,
}

/// One topic's produce-time rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicPolicy {
    /// `max.message.bytes`: largest batch, before and after recompression.
    pub max_message_bytes: usize,
    /// `compression.type`; `None` = `producer` (batches kept as sent).
    pub compression: Option<StoredCodec>,
    /// `message.timestamp.type=LogAppendTime`.
    pub log_append_time: bool,
    /// `message.timestamp.before.max.ms` (CreateTime only).
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms` (CreateTime only).
    pub timestamp_after_max_ms: i64,
}

impl TopicPolicy {
    /// The rules of `topic` (broker defaults where it sets nothing).
    pub fn for_topic(config: &Config, topic: Option<&TopicMeta>) -> Self {
        // The topic's own value, else a broker-level default set in the file.
        let get = |key: &str| {
            let own = topic.and_then(|t| t.configs.get(key));
            own.or_else(|| config.topic_key_defaults.get(key))
                .map(|v| v.trim())
        };
        let long = |key: &str| get(key).and_then(|v| v.parse::<i64>().ok());
        // Kafka 3.x: the deprecated difference bound stands in for a side not set.
        let difference = long("message.timestamp.difference.max.ms");
        let before = long("message.timestamp.before.max.ms").or(difference);
        let after = long("message.timestamp.after.max.ms").or(difference);
        TopicPolicy {
            max_message_bytes: long("max.message.bytes")
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(config.message_max_bytes as usize),
            compression: get("compression.type").and_then(|name| stored_codec(name, &get)),
            log_append_time: get("message.timestamp.type") == Some("LogAppendTime"),
            timestamp_before_max_ms: before.unwrap_or(NO_BOUND_MS),
            timestamp_after_max_ms: after.unwrap_or(AFTER_MAX_MS_DEFAULT),
        }
    }

    /// The codec a batch written with `codec` must be rewritten to, if any
    /// (Kafka keeps a batch as is when the codecs match, whatever the level).
    pub fn recompression_for(&self, codec: Codec) -> Option<StoredCodec> {
        self.compression.filter(|stored| stored.codec != codec)
    }

    /// Whether every record's timestamp must be read: a CreateTime topic
    /// with a bound on old timestamps. (The bound on future ones is checked
    /// against the batch's maxTimestamp, the largest of its records.)
    pub fn checks_each_record(&self) -> bool {
        !self.log_append_time && self.timestamp_before_max_ms != NO_BOUND_MS
    }

    /// Kafka's INVALID_TIMESTAMP check of a CreateTime batch whose record
    /// timestamps span `min..=max` (records without one are not checked):
    /// the message, or `None` when every timestamp is within bounds.
    pub fn timestamp_error(&self, min: i64, max: i64, now_ms: i64) -> Option<String> {
        if self.log_append_time {
            return None;
        }
        let too_old = min != NO_TIMESTAMP && self.too_old(min, now_ms);
        let too_new = max != NO_TIMESTAMP && self.too_new(max, now_ms);
        let culprit = match (too_old, too_new) {
            (true, _) => min,
            (_, true) => max,
            _ => return None,
        };
        Some(format!(
            "Timestamp {culprit} of a record is out of range. The timestamp should be within \
             [{}, {}]",
            now_ms.saturating_sub(self.timestamp_before_max_ms),
            now_ms.saturating_add(self.timestamp_after_max_ms)
        ))
    }

    /// Whether a CreateTime record stamped `timestamp` is out of bounds.
    pub fn timestamp_refused(&self, timestamp: i64, now_ms: i64) -> bool {
        !self.log_append_time
            && (self.too_old(timestamp, now_ms) || self.too_new(timestamp, now_ms))
    }

    fn too_old(&self, timestamp: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(timestamp) > self.timestamp_before_max_ms
    }

    fn too_new(&self, timestamp: i64, now_ms: i64) -> bool {
        timestamp.saturating_sub(now_ms) > self.timestamp_after_max_ms
    }
}

/// `compression.type` as a codec and its level; `None` for `producer`.
fn stored_codec<'a>(name: &str, get: &impl Fn(&str) -> Option<&'a str>) -> Option<StoredCodec> {
    let codec = match name {
        "uncompressed" => Codec::None,
        other => Codec::parse(other).filter(|codec| *codec != Codec::None)?,
    };
    let level_key = match codec {
        Codec::Gzip => "compression.gzip.level",
        Codec::Lz4 => "compression.lz4.level",
        Codec::Zstd => "compression.zstd.level",
        Codec::None | Codec::Snappy => "",
    };
    let level = get(level_key).and_then(|v| v.parse::<i32>().ok());
    // gzip -1 is zlib's default level.
    let level = level.filter(|level| !(codec == Codec::Gzip && *level == -1));
    Some(StoredCodec { codec, level })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use uuid::Uuid;

    fn topic(configs: &[(&str, &str)]) -> TopicMeta {
        TopicMeta {
            name: "t".into(),
            id: Uuid::nil(),
            partitions: 1,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn policy(configs: &[(&str, &str)]) -> TopicPolicy {
        TopicPolicy::for_topic(&Config::default(), Some(&topic(configs)))
    }

    #[test]
    fn broker_level_topic_defaults_apply_where_the_topic_sets_nothing() {
        let set = [
            "compression.type=gzip",
            "log.message.timestamp.type=LogAppendTime",
        ];
        let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        let config = Config::load(None, &set).unwrap();
        let follows = TopicPolicy::for_topic(&config, Some(&topic(&[])));
        assert_eq!(follows.compression.map(|c| c.codec), Some(Codec::Gzip));
        assert!(follows.log_append_time);
        let own = topic(&[("compression.type", "producer")]);
        assert_eq!(
            TopicPolicy::for_topic(&config, Some(&own)).compression,
            None
        );
    }

    #[test]
    fn defaults_are_kafka_4s() {
        let p = policy(&[]);
        assert_eq!(p.compression, None);
        assert!(!p.log_append_time && !p.checks_each_record());
        assert_eq!(p.timestamp_after_max_ms, 3_600_000);
        assert_eq!(
            p.max_message_bytes,
            Config::default().message_max_bytes as usize
        );
        assert_eq!(p.recompression_for(Codec::Gzip), None);
    }

    #[test]
    fn compression_type_names_the_stored_codec() {
        let zstd = policy(&[
            ("compression.type", "zstd"),
            ("compression.zstd.level", "7"),
        ]);
        let stored = StoredCodec {
            codec: Codec::Zstd,
            level: Some(7),
        };
        assert_eq!(zstd.recompression_for(Codec::Gzip), Some(stored));
        assert_eq!(
            zstd.recompression_for(Codec::Zstd),
            None,
            "same codec: kept as is"
        );
        let plain = policy(&[("compression.type", "uncompressed")]);
        assert_eq!(
            plain.recompression_for(Codec::Lz4).map(|s| s.codec),
            Some(Codec::None)
        );
        assert_eq!(plain.recompression_for(Codec::None), None);
        let gzip = policy(&[
            ("compression.type", "gzip"),
            ("compression.gzip.level", "-1"),
        ]);
        assert_eq!(gzip.compression.and_then(|s| s.level), None);
        assert_eq!(
            policy(&[("compression.type", "producer")]).compression,
            None
        );
    }

    #[test]
    fn timestamp_bounds_as_kafka_checks_them() {
        let now = 1_000_000_000;
        let p = policy(&[("message.timestamp.before.max.ms", "1000")]);
        assert!(p.checks_each_record());
        assert_eq!(p.timestamp_error(now - 1000, now, now), None);
        assert!(p
            .timestamp_error(now - 1001, now, now)
            .unwrap()
            .contains("999999000"));
        assert!(
            p.timestamp_error(now, now + 3_600_001, now).is_some(),
            "after: 1 h"
        );
        assert_eq!(p.timestamp_error(NO_TIMESTAMP, NO_TIMESTAMP, now), None);
        let lat = policy(&[
            ("message.timestamp.type", "LogAppendTime"),
            ("message.timestamp.before.max.ms", "1"),
        ]);
        assert!(lat.log_append_time && !lat.checks_each_record());
        assert_eq!(
            lat.timestamp_error(0, i64::MAX, now),
            None,
            "LogAppendTime: no bound"
        );
        let old_style = policy(&[("message.timestamp.difference.max.ms", "50")]);
        assert_eq!(
            (
                old_style.timestamp_before_max_ms,
                old_style.timestamp_after_max_ms
            ),
            (50, 50)
        );
        let unbounded = policy(&[("message.timestamp.after.max.ms", "9223372036854775807")]);
        assert_eq!(unbounded.timestamp_error(0, i64::MAX - 1, now), None);
    }
}
