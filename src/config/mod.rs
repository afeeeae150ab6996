//! Broker configuration with Kafka's key names.
//!
//! `millrace serve [CONFIG_FILE] [--override key=value]...`: the file (Java
//! properties) is read first, then the overrides in order; for each key the
//! last value wins. Keys are then applied in [`keys::broker_keys`] order, so a
//! more specific key beats its alias regardless of where it was written
//! (`log.retention.ms` over `log.retention.hours`, `node.id` over `broker.id`).

mod broker_key;
pub mod described;
mod error;
mod ignored_keys;
mod key_values;
pub mod keys;
pub mod kraft;
pub mod listener;
pub mod properties;
mod refused_keys;
pub mod synonyms;
pub mod topic;
mod topic_defaults;
mod topic_keys;

pub use described::{describe_broker_keys, BrokerConfigSource, BrokerSynonym, DescribedBrokerKey};
pub use error::ConfigError;
pub use key_values::GROUP_MEMBERS_MAX;
pub use keys::{
    broker_keys, ignored_kafka_keys, ignored_key, refused_kafka_keys, refused_key, BrokerKey,
    IgnoredKey, KeyDefault, RefusedKey,
};
pub use kraft::{ClusterMembership, KraftConfig};
pub use listener::{
    ClientListener, ListenerAddr, ListenerIndex, NamedListener, DEFAULT_CLIENT_LISTENER_NAME,
    MAIN_LISTENER,
};
pub use refused_keys::is_password;
pub use topic::{
    is_described, log_ignored_keys, topic_config_defaults, topic_config_key, validate_topic_config,
    validate_topic_configs, ConfigType, KeySupport, TopicConfigKey, TOPIC_CONFIG_KEYS,
};
pub use topic_defaults::{always_described, topic_default_key, topic_default_keys};

use properties::{parse_properties, split_entry, Property, CONFIG_FILE_BYTES_MAX};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use topic::TopicDefault;

/// The broker configuration. Field meanings and defaults: [`Config::help_text`].
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The listener clients are served on: of `listeners`, the one not
    /// named in `controller.listener.names` ([`KraftConfig::resolve`]).
    pub listeners: ListenerAddr,
    /// Its entry in `advertised.listeners`; `None` = derived from
    /// `listeners` (see [`Config::advertised_listener`]).
    pub advertised_listeners: Option<ListenerAddr>,
    /// Every listener clients are served on, the one above first; a request
    /// names its listener by index ([`ListenerIndex`]).
    pub client_listeners: Vec<ClientListener>,
    /// The KRaft keys and every named listener, as written.
    pub kraft: KraftConfig,
    /// `log.dirs` (first entry) / `log.dir`.
    pub log_dirs: PathBuf,
    /// `node.id` / `broker.id`.
    pub node_id: i32,
    /// `cluster.id`; `None` = generate once and persist.
    pub cluster_id: Option<String>,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `min.insync.replicas` (the topic default).
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable` (the topic default).
    pub unclean_leader_election_enable: bool,
    /// `replica.lag.time.max.ms`: a partition leader proposes taking a
    /// follower out of the ISR once it has not caught up for this long.
    pub replica_lag_time_max_ms: u64,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`, in ms.
    pub leader_imbalance_check_interval_ms: u64,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_per_broker_percentage: u32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// `log.segment.bytes`.
    pub log_segment_bytes: u64,
    /// `log.roll.ms` / `log.roll.hours`.
    pub log_roll_ms: u64,
    /// `log.retention.ms` / `.minutes` / `.hours`; -1 = unlimited.
    pub log_retention_ms: i64,
    /// `log.retention.bytes`; -1 = unlimited.
    pub log_retention_bytes: i64,
    /// `log.flush.interval.messages`; `u64::MAX` = never.
    pub log_flush_interval_messages: u64,
    /// `log.flush.interval.ms`; `u64::MAX` = never.
    pub log_flush_interval_ms: u64,
    /// `log.unflushed.read.enable`: consumers may read records not yet fsynced.
    pub log_unflushed_read_enable: bool,
    /// `log.flush.visibility.ms`: longest wait for the fsync that makes
    /// acks=0/1 data readable (when unflushed reads are off).
    pub log_flush_visibility_ms: u64,
    /// `log.index.interval.bytes`.
    pub log_index_interval_bytes: u32,
    /// `log.retention.check.interval.ms`.
    pub log_retention_check_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms`.
    pub log_flush_offset_checkpoint_interval_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// `message.max.bytes`.
    pub message_max_bytes: u32,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: u32,
    /// `fetch.max.bytes`.
    pub fetch_max_bytes: u32,
    /// `max.incremental.fetch.session.cache.slots`.
    pub max_incremental_fetch_session_cache_slots: usize,
    /// `connections.max.idle.ms`.
    pub connections_max_idle_ms: u64,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: u64,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: u64,
    /// `group.max.size`: members a classic group may have (the coordinator
    /// bounds it further).
    pub group_max_size: usize,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// `producer.id.expiration.ms`.
    pub producer_id_expiration_ms: u64,
    /// `producer.ids.per.partition.max`.
    pub producer_ids_per_partition_max: usize,
    /// `offsets.retention.minutes`, in ms: committed offsets of a group empty
    /// this long since its last commit are deleted.
    pub offsets_retention_ms: u64,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: u64,
    /// `offsets.topic.num.partitions`: the offsets partitions groups are
    /// spread over (fixed by the first start of a data directory).
    pub offsets_topic_num_partitions: usize,
    /// `offsets.topic.replication.factor`: replicas of each offsets partition
    /// in a cluster.
    pub offsets_topic_replication_factor: i16,
    /// `num.shards`; 0 = all online cores.
    pub num_shards: usize,
    /// `shard.channel.capacity`.
    pub shard_channel_capacity: usize,
    /// `connection.max.inflight.requests`.
    pub max_inflight_requests_per_connection: usize,
    /// `connection.max.queued.bytes`.
    pub connection_max_queued_bytes: usize,
    /// `connection.request.read.timeout.ms`.
    pub connection_request_read_timeout_ms: u64,
    /// `max.connections`.
    pub max_connections: usize,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`: the limit of each address named
    /// (host names resolved at start).
    pub max_connections_per_ip_overrides: Vec<(std::net::IpAddr, usize)>,
    /// `io.memory.bytes`; 0 = sized to the memlock limit.
    pub io_memory_bytes: usize,
    /// `log.recent.bytes.per.partition`; `usize::MAX` = up to the shard's
    /// bound.
    pub recent_bytes_per_partition: usize,
    /// `log.recent.bytes.per.partition.min`.
    pub recent_bytes_per_partition_min: usize,
    /// `log.recent.bytes.per.shard.initial`; `usize::MAX` = the whole
    /// room from the start.
    pub recent_bytes_per_shard_initial: usize,
    /// `log.recent.bytes.per.shard.max`; `None` = sized from the memory
    /// the broker may use, once the shard count is known
    /// ([`Config::storage_limits`]).
    pub recent_bytes_per_shard_max: Option<usize>,
    /// `log.recent.memory.available.min.bytes`; `None` = a sixteenth of
    /// the broker's memory (`shard::memory_pressure`).
    pub recent_memory_available_min_bytes: Option<usize>,
    /// `log.unwritten.bytes.per.shard.max`.
    pub unwritten_bytes_per_shard_max: usize,
    /// `log.zero.ahead.bytes`.
    pub zero_ahead_bytes: u64,
    /// `log.flush.syncfs.enable`.
    pub syncfs_batches: bool,
    /// `log.read.handles.per.shard`; 0 = derived from the open-file limit
    /// (the start resolves it: `shard::open_files`).
    pub read_handles_per_shard: usize,
    /// Segment files (partitions' active segments and sealed segments) this
    /// broker's open-file limit leaves room for (not a key: set at start from
    /// RLIMIT_NOFILE, `shard::open_files`); CreateTopics and CreatePartitions
    /// past it are refused. `u64::MAX` until then.
    pub open_files_partitions_max: u64,
    /// `log.level`, lower case.
    pub log_level: String,
    /// `storage.fault.plan`: test-only disk fault injection; empty = none.
    pub storage_fault_plan: String,
    /// `shutdown.timeout.ms`.
    pub shutdown_timeout_ms: u64,
    /// `startup.timeout.ms`.
    pub startup_timeout_ms: u64,
    /// `initial.broker.registration.timeout.ms` (a cluster's brokers).
    pub initial_broker_registration_timeout_ms: u64,
    /// `broker.session.timeout.ms` (a cluster's controllers): an unfenced
    /// broker not heard from this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms` (a cluster's brokers).
    pub broker_heartbeat_interval_ms: u64,
    /// `http.listener`: address of the metrics endpoint; `None` = off.
    pub http_listener: Option<String>,
    /// Kafka keys that were set but mean nothing here, each once, in the
    /// order first set ([`ignored_kafka_keys`], and [`refused_kafka_keys`]
    /// at Kafka's default); the caller logs one line for each, with
    /// [`ignored_why`], once logging is up.
    pub ignored_keys: Vec<String>,
    /// Every key set in the file or by `--override` (ignored Kafka keys
    /// included), with its last value as written: DescribeConfigs reports
    /// these as static broker configs, the others as defaults.
    pub static_keys: Vec<(String, String)>,
    /// Broker-level defaults of topic keys set in the file or by
    /// `--override` (`compression.type`, `log.cleanup.policy`...), keyed by
    /// the topic key: a topic that does not set the key follows them.
    pub topic_key_defaults: BTreeMap<String, String>,
}

impl Default for Config {
    /// Every key at its table default.
    fn default() -> Self {
        let mut config = Config::unset();
        for key in broker_keys() {
            if let Some(default) = key.default_value() {
                let applied = (key.apply)(&mut config, default);
                debug_assert!(applied.is_ok(), "bad default for {}", key.name);
            }
        }
        let resolved = config.resolve_listeners(false);
        debug_assert!(resolved.is_ok(), "default listeners: {resolved:?}");
        config
    }
}

/// One key=value with where it came from.
struct Entry {
    key: String,
    value: String,
    origin: String,
}

impl Config {
    /// Placeholder values, all overwritten by the table defaults.
    fn unset() -> Config {
        Config {
            listeners: ListenerAddr {
                host: String::new(),
                port: 0,
            },
            advertised_listeners: None,
            client_listeners: Vec::new(),
            kraft: KraftConfig::default(),
            log_dirs: PathBuf::new(),
            node_id: 0,
            cluster_id: None,
            num_partitions: 0,
            default_replication_factor: 0,
            min_insync_replicas: 0,
            unclean_leader_election_enable: false,
            replica_lag_time_max_ms: 0,
            auto_leader_rebalance_enable: false,
            leader_imbalance_check_interval_ms: 0,
            leader_imbalance_per_broker_percentage: 0,
            auto_create_topics_enable: false,
            delete_topic_enable: true,
            log_segment_bytes: 0,
            log_roll_ms: 0,
            log_retention_ms: 0,
            log_retention_bytes: 0,
            log_flush_interval_messages: 0,
            log_flush_interval_ms: 0,
            log_unflushed_read_enable: false,
            log_flush_visibility_ms: 0,
            log_index_interval_bytes: 0,
            log_retention_check_interval_ms: 0,
            log_flush_offset_checkpoint_interval_ms: 0,
            replica_high_watermark_checkpoint_interval_ms: 0,
            message_max_bytes: 0,
            socket_request_max_bytes: 0,
            fetch_max_bytes: 0,
            max_incremental_fetch_session_cache_slots: 0,
            connections_max_idle_ms: 0,
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 0,
            group_max_session_timeout_ms: 0,
            group_max_size: 0,
            offset_metadata_max_bytes: 0,
            producer_id_expiration_ms: 0,
            producer_ids_per_partition_max: 0,
            offsets_retention_ms: 0,
            offsets_retention_check_interval_ms: 0,
            offsets_topic_num_partitions: 0,
            offsets_topic_replication_factor: 0,
            num_shards: 0,
            shard_channel_capacity: 0,
            max_inflight_requests_per_connection: 0,
            connection_max_queued_bytes: 0,
            connection_request_read_timeout_ms: 0,
            max_connections: 0,
            max_connections_per_ip: 0,
            max_connections_per_ip_overrides: Vec::new(),
            io_memory_bytes: 0,
            recent_bytes_per_partition: 0,
            recent_bytes_per_partition_min: 0,
            recent_bytes_per_shard_initial: 0,
            recent_bytes_per_shard_max: None,
            recent_memory_available_min_bytes: None,
            unwritten_bytes_per_shard_max: 0,
            zero_ahead_bytes: 0,
            syncfs_batches: true,
            read_handles_per_shard: 0,
            open_files_partitions_max: u64::MAX,
            log_level: String::new(),
            storage_fault_plan: String::new(),
            shutdown_timeout_ms: 0,
            startup_timeout_ms: 0,
            initial_broker_registration_timeout_ms: 0,
            broker_session_timeout_ms: 0,
            broker_heartbeat_interval_ms: 0,
            http_listener: None,
            ignored_keys: Vec::new(),
            static_keys: Vec::new(),
            topic_key_defaults: BTreeMap::new(),
        }
    }

    /// Loads the optional properties file, then applies `overrides`
    /// (`key=value` each) in order.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigError> {
        let mut entries = match file {
            Some(path) => read_file_entries(path)?,
            None => Vec::new(),
        };
        for text in overrides {
            entries.push(override_entry(text)?);
        }
        Config::from_entries(entries)
    }

    fn from_entries(entries: Vec<Entry>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut latest: Vec<Entry> = Vec::with_capacity(entries.len());
        for entry in entries {
            if ignored_why(&entry.key).is_some() {
                // One log line per key, however often the file sets it.
                if !config.ignored_keys.contains(&entry.key) {
                    config.ignored_keys.push(entry.key.clone());
                }
            } else if keys::broker_key(&entry.key).is_none()
                && topic_default_key(&entry.key).is_none()
            {
                return Err(ConfigError::UnknownKey {
                    suggestion: closest_key(&entry.key),
                    key: entry.key,
                    origin: entry.origin,
                });
            }
            latest.retain(|seen| seen.key != entry.key);
            latest.push(entry);
        }
        for entry in &latest {
            // The last value decides, as for every key.
            if let Some(key) = refused_key(&entry.key).filter(|key| !key.accepts(&entry.value)) {
                return Err(ConfigError::Refused {
                    key: entry.key.clone(),
                    origin: entry.origin.clone(),
                    accepted: match key.kafka_default {
                        "" => "empty".to_string(),
                        default => default.to_string(),
                    },
                    why: key.why,
                });
            }
        }
        for key in broker_keys() {
            if let Some(entry) = latest.iter().find(|entry| entry.key == key.name) {
                (key.apply)(&mut config, &entry.value).map_err(|expected| {
                    ConfigError::BadValue {
                        key: entry.key.clone(),
                        value: entry.value.clone(),
                        origin: entry.origin.clone(),
                        expected,
                    }
                })?;
            }
        }
        for entry in &latest {
            let Some(topic_key) = topic_default_key(&entry.key) else {
                continue;
            };
            let value = entry.value.trim();
            (topic_key.validate)(value).map_err(|expected| ConfigError::BadValue {
                key: entry.key.clone(),
                value: entry.value.clone(),
                origin: entry.origin.clone(),
                expected,
            })?;
            let default = (topic_key.name.to_string(), value.to_string());
            config.topic_key_defaults.extend([default]);
        }
        check_node_id_matches_broker_id(&latest)?;
        let node_id_set = latest
            .iter()
            .any(|e| e.key == "node.id" || e.key == "broker.id" && !broker_id_unset(&e.value));
        config.resolve_listeners(node_id_set)?;
        config.check_broker_session()?;
        config.check_connections_per_ip()?;
        config.static_keys = latest.into_iter().map(|e| (e.key, e.value)).collect();
        Ok(config)
    }

    /// Kafka's rule: the heartbeat interval is at most half the session
    /// timeout, so one lost heartbeat does not fence a live broker.
    fn check_broker_session(&self) -> Result<(), ConfigError> {
        let (interval_ms, session_ms) = (
            self.broker_heartbeat_interval_ms,
            self.broker_session_timeout_ms,
        );
        if interval_ms.saturating_mul(2) > session_ms {
            return Err(ConfigError::Invalid {
                key: "broker.heartbeat.interval.ms".into(),
                reason: format!(
                    "{interval_ms} ms must be less than or equal to half of \
                     broker.session.timeout.ms ({session_ms} ms)"
                ),
            });
        }
        Ok(())
    }

    /// Kafka's rule: `max.connections.per.ip=0` admits only the addresses
    /// the overrides name, so it needs some.
    fn check_connections_per_ip(&self) -> Result<(), ConfigError> {
        if self.max_connections_per_ip == 0 && self.max_connections_per_ip_overrides.is_empty() {
            return Err(ConfigError::Invalid {
                key: "max.connections.per.ip".into(),
                reason: "max.connections.per.ip.overrides cannot be empty when \
                         max.connections.per.ip is 0"
                    .into(),
            });
        }
        Ok(())
    }

    /// Checks the KRaft and listener keys together and sets the listener
    /// clients are served on.
    fn resolve_listeners(&mut self, node_id_set: bool) -> Result<(), ConfigError> {
        let served =
            self.kraft
                .resolve(self.node_id, node_id_set)
                .map_err(|e| ConfigError::Invalid {
                    key: e.key.to_string(),
                    reason: e.reason,
                })?;
        let client =
            |(listener, advertised): (NamedListener, Option<ListenerAddr>)| ClientListener {
                advertised: advertised.unwrap_or_else(|| listener.addr.advertisable()),
                bind: listener.addr,
                name: listener.name,
            };
        let main = (served.listener.clone(), served.advertised.clone());
        self.client_listeners = std::iter::once(main)
            .chain(served.others)
            .map(client)
            .collect();
        self.listeners = served.listener.addr;
        self.advertised_listeners = served.advertised;
        Ok(())
    }

    /// The client listeners as `NAME://host:port, ...`, for the log.
    pub fn client_listeners_text(&self) -> String {
        let named: Vec<String> = self
            .client_listeners
            .iter()
            .map(|l| format!("{}://{}", l.name, l.bind.socket_address()))
            .collect();
        named.join(", ")
    }

    /// The name of the client listener a connection came in on (no copy:
    /// asked on every cluster Fetch and Produce answer).
    pub fn client_listener_name(&self, index: ListenerIndex) -> &str {
        self.client_listeners
            .get(index)
            .map_or(DEFAULT_CLIENT_LISTENER_NAME, |l| l.name.as_str())
    }

    /// The name and advertised address of the client listener a connection
    /// came in on (the main listener for an index no connection has).
    pub fn client_listener(&self, index: ListenerIndex) -> (&str, ListenerAddr) {
        match self.client_listeners.get(index) {
            Some(listener) => (listener.name.as_str(), listener.advertised.clone()),
            None => (DEFAULT_CLIENT_LISTENER_NAME, self.advertised_listener()),
        }
    }

    /// `Some` when the quorum keys make this node one member of a
    /// multi-node cluster (`millrace serve` then runs `cluster::member`).
    pub fn cluster_membership(&self) -> Option<ClusterMembership> {
        self.kraft.cluster_membership(self.node_id)
    }

    /// The listener to advertise in Metadata: `advertised.listeners`, else
    /// `listeners` with an all-interfaces host replaced by `localhost`.
    pub fn advertised_listener(&self) -> ListenerAddr {
        match &self.advertised_listeners {
            Some(advertised) => advertised.clone(),
            None => self.listeners.advertisable(),
        }
    }

    /// The storage defaults with the broker's `log.recent.bytes.*` and
    /// `log.unwritten.bytes.per.shard.max` settings.
    /// An unset `log.recent.bytes.per.shard.max` (resolved at start from the
    /// memory: `shard::memory_share`) takes the storage default.
    pub fn storage_limits(&self) -> crate::storage::StorageLimits {
        let defaults = crate::storage::StorageLimits::default();
        crate::storage::StorageLimits {
            recent_bytes_per_partition: self.recent_bytes_per_partition,
            recent_bytes_per_partition_min: self.recent_bytes_per_partition_min,
            recent_bytes_per_shard_max: self
                .recent_bytes_per_shard_max
                .unwrap_or(defaults.recent_bytes_per_shard_max),
            recent_bytes_per_shard_initial: self.recent_bytes_per_shard_initial,
            unwritten_bytes_per_shard_max: self.unwritten_bytes_per_shard_max,
            zero_ahead_bytes: self.zero_ahead_bytes,
            syncfs_batches: self.syncfs_batches,
            ..defaults
        }
    }

    /// A table of every key: name, default and meaning.
    pub fn help_text() -> String {
        let name_width = broker_keys().map(|k| k.name.len()).max().unwrap_or(0);
        let default_width = broker_keys()
            .map(|k| default_label(k).len())
            .max()
            .unwrap_or(0);
        let mut text = format!(
            "{:name_width$}  {:default_width$}  MEANING\n",
            "KEY", "DEFAULT"
        );
        for key in broker_keys() {
            text.push_str(&format!(
                "{:name_width$}  {:default_width$}  {}\n",
                key.name,
                default_label(key),
                key.doc
            ));
        }
        for key in topic_default_keys().filter(|key| always_described(key)) {
            text.push_str(&format!(
                "{:name_width$}  {:default_width$}  Default of the topic key {}.\n",
                key.broker_key,
                topic_default_label(key),
                key.name
            ));
        }
        text.push_str("\nAccepted for Kafka compatibility and ignored (logged at start):\n");
        for key in ignored_kafka_keys() {
            text.push_str(&format!("{:name_width$}  {}\n", key.name, key.why));
        }
        for key in topic_default_keys().filter(|key| !always_described(key)) {
            text.push_str(&format!(
                "{:name_width$}  Default of the topic key {}, which Kafka 4.0 removed.\n",
                key.broker_key, key.name
            ));
        }
        text.push_str(
            "\nRefused unless empty or at Kafka's default (then accepted and ignored, logged at \
             start):\n",
        );
        for key in refused_kafka_keys() {
            text.push_str(&format!("{:name_width$}  {}\n", key.name, key.why));
        }
        text.push_str("\n\nPer-topic keys (CreateTopics, DescribeConfigs):\n");
        let synonym_width = TOPIC_CONFIG_KEYS.iter().map(|k| k.broker_key.len()).max();
        let synonym_width = synonym_width.unwrap_or(0);
        for key in TOPIC_CONFIG_KEYS {
            let support = match key.support {
                KeySupport::Applied => String::new(),
                KeySupport::Stored { until } => format!(" [stored; applied with {until}]"),
                KeySupport::Deprecated => " [deprecated; ignored]".to_string(),
            };
            text.push_str(&format!(
                "{:name_width$}  from {:synonym_width$}  {}{support}\n",
                key.name, key.broker_key, key.doc
            ));
        }
        text
    }
}

/// Kafka's rule (`KafkaConfig.validateValues`): `broker.id` is an alias of
/// `node.id`, and both set to different ids is refused rather than one
/// silently winning: a file that says broker 9 must not start node 2.
/// `broker.id=-1` is taken as unset, where Kafka would refuse it beside
/// another `node.id`: a dump of Kafka's defaults has it (millrace is more
/// lenient there, never less).
fn check_node_id_matches_broker_id(latest: &[Entry]) -> Result<(), ConfigError> {
    let id_of = |key: &str| {
        let entry = latest.iter().find(|entry| entry.key == key)?;
        entry.value.trim().parse::<i64>().ok()
    };
    match (id_of("node.id"), id_of("broker.id")) {
        (Some(node_id), Some(broker_id))
            if broker_id != keys::BROKER_ID_UNSET && broker_id != node_id =>
        {
            Err(ConfigError::Invalid {
                key: "broker.id".to_string(),
                reason: format!(
                    "is {broker_id} but node.id is {node_id}: set them to the same id, or \
                     only node.id (as Kafka: \"You must set `node.id` to the same value as \
                     `broker.id`\")"
                ),
            })
        }
        _ => Ok(()),
    }
}

/// Whether a `broker.id` value is Kafka's default, -1: no id.
fn broker_id_unset(value: &str) -> bool {
    value.trim().parse() == Ok(keys::BROKER_ID_UNSET)
}

/// Why a Kafka key set in the file is accepted and ignored: an ignored key,
/// or a refused key at Kafka's default (loading refuses it otherwise).
pub fn ignored_why(name: &str) -> Option<&'static str> {
    let ignored = ignored_key(name).map(|key| key.why);
    ignored.or_else(|| refused_key(name).map(|key| key.why))
}

fn topic_default_label(key: &TopicConfigKey) -> &'static str {
    match key.default {
        TopicDefault::Fixed("") => "(none)",
        TopicDefault::Fixed(default) => default,
        TopicDefault::Broker(_) => "(broker)",
    }
}

fn default_label(key: &BrokerKey) -> &'static str {
    match key.default {
        KeyDefault::Value("") => "(none)",
        KeyDefault::Value(default) => default,
        KeyDefault::AliasOf(_) => "(alias)",
    }
}

fn read_file_entries(path: &Path) -> Result<Vec<Entry>, ConfigError> {
    let io_error = |error: std::io::Error| ConfigError::Io {
        path: path.to_path_buf(),
        reason: error.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut text = String::new();
    // Read one byte past the limit to tell "exactly at" from "over".
    file.take(CONFIG_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(io_error)?;
    if text.len() as u64 > CONFIG_FILE_BYTES_MAX {
        return Err(ConfigError::FileTooLarge {
            path: path.to_path_buf(),
        });
    }
    let properties = parse_properties(&text).map_err(|line| ConfigError::Syntax {
        origin: format!("{}:{line}", path.display()),
        text: key_part(text.lines().nth(line - 1).unwrap_or_default()),
    })?;
    let origin = |property: &Property| format!("{}:{}", path.display(), property.line);
    Ok(properties
        .into_iter()
        .map(|property| Entry {
            origin: origin(&property),
            key: property.key,
            value: property.value,
        })
        .collect())
}

fn override_entry(text: &str) -> Result<Entry, ConfigError> {
    const OVERRIDE_ORIGIN: &str = "--override";
    match split_entry(text, 0) {
        Ok(property) if text.contains('=') => Ok(Entry {
            key: property.key,
            value: property.value,
            origin: OVERRIDE_ORIGIN.to_string(),
        }),
        _ => Err(ConfigError::Syntax {
            origin: OVERRIDE_ORIGIN.to_string(),
            text: key_part(text),
        }),
    }
}

/// The key part of a line that is no entry: its text up to the first `=`,
/// `:` or whitespace, never what follows (it may be a secret, as in
/// `=hunter2` or `--override "ssl.keystore.password hunter2"`).
fn key_part(line: &str) -> String {
    let line = line.trim_start();
    line.split(properties::is_key_end)
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The known key nearest to `key` by edit distance, if near enough to be a typo.
fn closest_key(key: &str) -> Option<&'static str> {
    let candidates = broker_keys().map(|k| k.name);
    let candidates = candidates
        .chain(ignored_kafka_keys().map(|k| k.name))
        .chain(refused_kafka_keys().map(|k| k.name));
    let (distance, best) = candidates
        .map(|name| (edit_distance(key, name), name))
        .min_by_key(|(distance, _)| *distance)?;
    let distance_max = (key.len() / 4).max(2);
    (distance <= distance_max).then_some(best)
}

/// Levenshtein distance (config keys are short: the quadratic cost is nothing).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod kafka_keys_tests;
#[cfg(test)]
mod tests;
