//! The topic registry: an immutable [`topic_table::TopicTable`] copied to every
//! shard, changed only by the controller on shard 0 ([`controller`]), persisted
//! by [`store`], and adopted by each shard in [`apply`]. Each shard's view of
//! it, with the controller lock and the producer id allocator
//! ([`producer_ids`]), is its [`control_plane::ControlPlane`].

pub mod alter_configs;
pub mod apply;
pub mod control_plane;
pub mod controller;
pub mod kafka_uuid;
pub mod producer_ids;
pub mod replica_assignment;
pub mod store;
pub mod topic_deletion;
pub mod topic_policy;
pub mod topic_table;

use crate::config::keys::{boolean, count_or_never};
use crate::config::Config;
use crate::storage::LogConfig;
use topic_table::TopicMeta;

/// The shard that runs the controller.
pub const CONTROLLER_SHARD: usize = 0;

/// The log settings of `topic`: broker defaults overridden by topic configs.
pub fn log_config_for(config: &Config, topic: &TopicMeta) -> LogConfig {
    // Kafka writes "never" as Long.MAX; count_or_never maps it to u64::MAX.
    let get_u64 = |key: &str, default: u64| {
        topic
            .configs
            .get(key)
            .and_then(|v| count_or_never(v, 0).ok())
            .unwrap_or(default)
    };
    let get_i64 = |key: &str, default: i64| {
        topic
            .configs
            .get(key)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    let unflushed_read_enable = topic
        .configs
        .get("unflushed.read.enable")
        .and_then(|v| boolean(v).ok())
        .unwrap_or(config.log_unflushed_read_enable);
    LogConfig {
        segment_bytes: get_u64("segment.bytes", config.log_segment_bytes),
        segment_ms: get_u64("segment.ms", config.log_roll_ms),
        retention_ms: get_i64("retention.ms", config.log_retention_ms),
        retention_bytes: get_i64("retention.bytes", config.log_retention_bytes),
        flush_messages: get_u64("flush.messages", config.log_flush_interval_messages),
        flush_ms: get_u64("flush.ms", config.log_flush_interval_ms),
        index_interval_bytes: get_u64(
            "index.interval.bytes",
            config.log_index_interval_bytes as u64,
        ) as u32,
        max_message_bytes: get_u64("max.message.bytes", config.message_max_bytes as u64) as u32,
        log_append_time: topic_policy::TopicPolicy::for_topic(config, Some(topic)).log_append_time,
        unflushed_read_enable,
        flush_visibility_ms: config.log_flush_visibility_ms,
    }
}
