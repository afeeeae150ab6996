//! Partition replication over the network (issue 13), on every shard of a
//! cluster member. When a shard adopts a cluster view it hands this module
//! its open partitions: each becomes leader or follower at the view's
//! leader epoch ([`crate::partition::replication`]), and the followed ones
//! are grouped by leader, one [`session::LeaderSession`] per (shard, leader
//! broker): one connection, one task and one KIP-227 fetch session for all
//! of them ([`book`]), never one per partition.
//!
//! The leader side is the ordinary Fetch handler: a fetch carrying a
//! replica id goes through the leader state machine
//! ([`crate::partition::replication`]).

pub mod book;
pub mod isr;
pub mod session;
pub mod wire;

use crate::cluster::member::view::ClusterView;
use crate::cluster::{BrokerId, TopicIdPartition};
use crate::config::Config;
use crate::local::join_all;
use crate::partition::replica::{PartitionState, ReplicaConfig};
use crate::partition::Partition;
use isr::IsrTicker;
use session::{Followed, LeaderSession};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// Fetch version followers send (v15: ReplicaState, KIP-903).
pub const REPLICA_FETCH_VERSION: i16 = 15;
/// `replica.fetch.wait.max.ms` (Kafka's default): a follower's long poll.
pub const REPLICA_FETCH_WAIT_MAX_MS: i32 = 500;
/// `replica.fetch.response.max.bytes` (Kafka's default).
pub const REPLICA_FETCH_MAX_BYTES: i32 = 10 << 20;
/// `replica.fetch.max.bytes` (Kafka's default), per partition.
pub const REPLICA_FETCH_PARTITION_MAX_BYTES: i32 = 1 << 20;
/// `replica.fetch.backoff.ms` (Kafka's default): after an error.
pub const REPLICA_FETCH_BACKOFF_MS: u64 = 1_000;
/// How long a follower waits for a fetch answer: the long poll plus
/// Kafka's `replica.socket.timeout.ms`.
pub const REPLICA_FETCH_TIMEOUT_MS: u64 = 30_000 + REPLICA_FETCH_WAIT_MAX_MS as u64;
/// Role changes run at once, in groups of this many (each may write an
/// epoch checkpoint).
const ROLE_CHANGES_CONCURRENT_MAX: usize = 16;

/// The broker's replication settings for the partitions it leads:
/// `min.insync.replicas` (at least 1; a topic's own value wins) and
/// `replica.lag.time.max.ms`.
pub fn broker_replica_config(config: &Config) -> ReplicaConfig {
    ReplicaConfig {
        min_insync_replicas: config.min_insync_replicas.max(1) as usize,
        replica_lag_time_max_ms: config.replica_lag_time_max_ms,
    }
}

/// A topic's replication settings: its own `min.insync.replicas` when set
/// (raised to 1), else the broker's; `replica.lag.time.max.ms` is the
/// broker's (a broker key only, as in Kafka).
fn topic_replica_config(
    defaults: ReplicaConfig,
    topic_configs: &BTreeMap<String, String>,
) -> ReplicaConfig {
    let min_insync_replicas = topic_configs
        .get("min.insync.replicas")
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(defaults.min_insync_replicas, |min_isr| min_isr.max(1));
    ReplicaConfig {
        min_insync_replicas,
        ..defaults
    }
}

/// One open partition of the shard, by topic name and index.
pub type OpenPartition = (String, i32, Rc<Partition>);

/// The replication side of one shard.
pub struct ShardReplication {
    node_id: BrokerId,
    /// The broker's replication settings: `min.insync.replicas` (a topic's
    /// own value wins) and `replica.lag.time.max.ms`.
    defaults: ReplicaConfig,
    sessions: RefCell<HashMap<BrokerId, Rc<LeaderSession>>>,
    /// The ISR changes of the partitions this shard leads.
    isr: Rc<IsrTicker>,
}

impl ShardReplication {
    /// The replication of broker `node_id`'s shard, with the broker's
    /// settings ([`broker_replica_config`]).
    pub fn new(node_id: BrokerId, defaults: ReplicaConfig) -> Self {
        ShardReplication {
            node_id,
            defaults,
            sessions: RefCell::new(HashMap::new()),
            isr: IsrTicker::start(isr::tick_ms(defaults.replica_lag_time_max_ms)),
        }
    }

    /// The ISR ticker (to give it the AlterPartition sender).
    pub fn isr(&self) -> &IsrTicker {
        &self.isr
    }

    /// Gives each of `partitions` (this shard's open ones) its role in
    /// `view`, then points the fetchers at the leaders: a session per leader
    /// followed, stopped when nothing is followed from it any more.
    pub async fn apply(&self, view: &ClusterView, partitions: Vec<OpenPartition>) {
        let mut by_leader: HashMap<BrokerId, Vec<Followed>> = HashMap::new();
        let mut led = Vec::new();
        let mut changes = Vec::new();
        for (topic, index, partition) in partitions {
            let Some(meta) = view.table.get(&topic) else {
                continue;
            };
            let Some(placement) = view.partition(&meta.id, index) else {
                continue;
            };
            if !placement.replicas.contains(&self.node_id) {
                continue;
            }
            let leader = view.acting_leader(placement.leader);
            let state = PartitionState {
                leader,
                leader_epoch: placement.leader_epoch,
                partition_epoch: placement.partition_epoch,
                replicas: placement.replicas.clone(),
                isr: placement.isr.clone(),
            };
            if leader == self.node_id {
                let tp = TopicIdPartition {
                    topic_id: meta.id,
                    partition: index,
                };
                led.push((tp, Rc::from(topic.as_str()), partition.clone()));
            } else if leader >= 0 {
                by_leader.entry(leader).or_default().push(Followed {
                    topic_id: meta.id,
                    index,
                    partition: partition.clone(),
                });
            }
            let config = topic_replica_config(self.defaults, &meta.configs);
            changes.push((partition, state, config));
        }
        for chunk in changes.chunks(ROLE_CHANGES_CONCURRENT_MAX) {
            join_all(chunk.iter().map(|(p, s, c)| self.change_role(p, s, *c))).await;
        }
        self.isr.set_led(led);
        self.point_sessions(view, by_leader);
    }

    async fn change_role(
        &self,
        partition: &Partition,
        state: &PartitionState,
        config: ReplicaConfig,
    ) {
        if state.leader == self.node_id {
            partition
                .become_leader(self.node_id, config, state.clone())
                .await;
        } else {
            partition
                .become_follower(self.node_id, state.leader, state.leader_epoch)
                .await;
        }
    }

    fn point_sessions(&self, view: &ClusterView, mut by_leader: HashMap<BrokerId, Vec<Followed>>) {
        let mut sessions = self.sessions.borrow_mut();
        sessions.retain(|leader, session| {
            let keep = by_leader.contains_key(leader);
            if !keep {
                session.stop();
            }
            keep
        });
        let broker_epoch = view.own_broker_epoch();
        for (leader, followed) in by_leader.drain() {
            let address = view
                .broker(leader)
                .map(|b| format!("{}:{}", b.inter_broker.0, b.inter_broker.1));
            let session = sessions
                .entry(leader)
                .or_insert_with(|| LeaderSession::start(self.node_id, leader));
            session.update(address, broker_epoch, followed);
        }
    }

    /// Stops every fetcher (shutdown).
    pub fn stop(&self) {
        for (_, session) in self.sessions.borrow_mut().drain() {
            session.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// `replica.lag.time.max.ms` and `min.insync.replicas` from the broker's
    /// file reach the leader's settings; a topic's min.insync.replicas wins.
    #[test]
    fn the_broker_keys_reach_each_led_partitions_settings() {
        let overrides = ["replica.lag.time.max.ms=3000", "min.insync.replicas=2"];
        let overrides: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
        let config = Config::load(None, &overrides).expect("valid keys");
        let defaults = broker_replica_config(&config);
        let expected = ReplicaConfig {
            min_insync_replicas: 2,
            replica_lag_time_max_ms: 3_000,
        };
        assert_eq!(defaults, expected);
        assert_eq!(topic_replica_config(defaults, &configs(&[])), expected);
        let topic = configs(&[("min.insync.replicas", "3")]);
        let own = topic_replica_config(defaults, &topic);
        assert_eq!(own.min_insync_replicas, 3);
        assert_eq!(own.replica_lag_time_max_ms, 3_000);
        let default = broker_replica_config(&Config::default());
        assert_eq!(default, ReplicaConfig::default(), "Kafka's 30 s and 1");
    }
}
