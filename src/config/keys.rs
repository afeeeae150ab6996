//! The table of broker keys: name, default, meaning and setter, kept in
//! three parts by subject (`cluster`, `log_and_groups`, `runtime`).
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

mod cluster;
mod log_and_groups;
mod runtime;

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

/// The parts of the key table, in application order.
static KEY_TABLES: [&[BrokerKey]; 3] = [
    cluster::CLUSTER_KEYS,
    log_and_groups::LOG_AND_GROUP_KEYS,
    runtime::RUNTIME_KEYS,
];

/// Every broker key, in application order.
pub fn broker_keys() -> impl Iterator<Item = &'static BrokerKey> + Clone {
    KEY_TABLES.iter().flat_map(|table| table.iter())
}

/// The table entry of a key, if known.
pub fn broker_key(name: &str) -> Option<&'static BrokerKey> {
    broker_keys().find(|key| key.name == name)
}
