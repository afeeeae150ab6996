//! The controller's settings, with Kafka's key names and defaults.

use crate::cluster::image::MetadataImage;
use crate::cluster::records::ConfigResource;
use crate::cluster::BrokerId;
use uuid::Uuid;

/// Producer ids per AllocateProducerIds block (Kafka's
/// `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_LEN: i32 = 1000;

/// Most records one user request may write (KRaft's `MAX_RECORDS_PER_USER_OP`);
/// a CreateTopics or CreatePartitions beyond it is refused with
/// POLICY_VIOLATION.
pub const USER_OP_RECORDS_MAX: usize = 10_000;

/// Most partitions one topic may have.
pub const TOPIC_PARTITIONS_MAX: i32 = 100_000;

/// Most config entries per topic in one CreateTopics.
pub const TOPIC_CONFIGS_MAX: usize = 256;

/// Most elections one tick or one balancing round starts (KRaft's
/// `MAX_ELECTIONS_PER_IMBALANCE`).
pub const ELECTIONS_PER_ROUND_MAX: usize = 1000;

/// Most replies waiting for their records to commit; past it, requests are
/// refused with REQUEST_TIMED_OUT until the log catches up.
pub const DEFERRED_REPLIES_MAX: usize = 10_000;

/// The controller's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// The cluster id brokers must present.
    pub cluster_id: String,
    /// `broker.session.timeout.ms`: an unfenced broker silent this long is fenced.
    pub session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`: a broker whose connections were all
    /// lost and that did not come back within it is fenced.
    pub broker_heartbeat_interval_ms: u64,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `min.insync.replicas` (cluster default; topics override it).
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable` (cluster default; topics override it).
    pub unclean_leader_election_enable: bool,
    /// `delete.topic.enable`: false refuses every DeleteTopics with
    /// TOPIC_DELETION_DISABLED (Kafka's `ControllerApis.deleteTopics`; only
    /// the controller's value counts in a cluster).
    pub delete_topic_enable: bool,
    /// Eligible Leader Replicas (KIP-966), on by default in new Kafka 4.1
    /// clusters.
    pub eligible_leader_replicas_enable: bool,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`, in ms.
    pub leader_imbalance_check_interval_ms: u64,
    /// `leader.imbalance.per.broker.percentage`: a broker's partitions are
    /// balanced once more than this share of the ones it is preferred for
    /// are led elsewhere (Kafka's ZooKeeper controller rule; KRaft's
    /// controller balances every partition).
    pub leader_imbalance_per_broker_percentage: u32,
    /// The broker process this controller runs in, on a combined
    /// `process.roles=broker,controller` node: its `node.id` and this
    /// process's incarnation id (`None` on a controller-only node). Any
    /// other incarnation registered under that id is a process that died,
    /// so it need not be waited for (issue 12).
    pub local_broker: Option<(BrokerId, Uuid)>,
}

impl ControllerConfig {
    /// Kafka's defaults for a cluster named `cluster_id`.
    pub fn new(cluster_id: &str) -> Self {
        ControllerConfig {
            cluster_id: cluster_id.to_string(),
            session_timeout_ms: 9000,
            broker_heartbeat_interval_ms: 2000,
            default_replication_factor: 1,
            num_partitions: 1,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            delete_topic_enable: true,
            eligible_leader_replicas_enable: true,
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_ms: 300_000,
            leader_imbalance_per_broker_percentage: 10,
            local_broker: None,
        }
    }

    /// A topic's effective `min.insync.replicas`: topic config, then the
    /// cluster-wide dynamic default, then this config.
    pub fn min_insync_replicas(&self, image: &MetadataImage, topic: &str) -> usize {
        let value = effective(image, topic, "min.insync.replicas")
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(self.min_insync_replicas);
        value.max(1) as usize
    }

    /// A topic's effective `unclean.leader.election.enable`.
    pub fn unclean_leader_election(&self, image: &MetadataImage, topic: &str) -> bool {
        effective(image, topic, "unclean.leader.election.enable")
            .and_then(|v| v.parse::<bool>().ok())
            .unwrap_or(self.unclean_leader_election_enable)
    }
}

fn effective<'a>(image: &'a MetadataImage, topic: &str, key: &str) -> Option<&'a str> {
    image
        .topic_config(topic, key)
        .or_else(|| image.config(&ConfigResource::Broker(None), key))
}
