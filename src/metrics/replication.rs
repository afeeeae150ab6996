//! Replication metrics of one broker (Kafka's `ReplicaManager` and
//! controller gauges, by millrace's names):
//! - under-replicated partitions: partitions this broker leads whose ISR is
//!   smaller than their replicas (Kafka's `UnderReplicatedPartitions`);
//! - offline partitions: partitions without a leader, cluster-wide (Kafka's
//!   `OfflinePartitionsCount`);
//! - ISR shrinks and expands of partitions this broker leads, and leader
//!   elections (every leader change) cluster-wide, counted from the metadata
//!   changes this broker applies (two changes of one partition inside one
//!   publication interval count once);
//! - whether this node is the active controller (Kafka's
//!   `ActiveControllerCount`);
//! - follower lag in records and milliseconds, per partition and follower,
//!   fed by the replication data path through [`record_follower_lag`].
//!
//! Shard 0 of a cluster member sets the first four from each cluster view;
//! the lag entries live in the block of the shard that reports them.

use super::histogram::{Counter, Gauge};
use super::with_local;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Follower lag entries one shard keeps; past it new partitions are not
/// tracked (bounded memory; a broker follows at most this many per shard).
pub const FOLLOWER_LAG_ENTRIES_MAX: usize = 100_000;

/// Follower lag by topic, then (partition, follower broker id): looked up
/// by `&str`, so an update allocates only for a topic new to the shard.
#[derive(Debug, Default)]
pub struct FollowerLagTable {
    /// The entries.
    pub topics: BTreeMap<String, BTreeMap<(i32, i32), FollowerLag>>,
    /// How many (bounded by [`FOLLOWER_LAG_ENTRIES_MAX`]).
    entries: usize,
}

/// How far a follower is behind its leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FollowerLag {
    /// Records between the follower's log end and the leader's.
    pub records: i64,
    /// Milliseconds since the follower was last caught up.
    pub ms: u64,
}

/// One shard's replication metrics.
#[derive(Debug, Default)]
pub struct ReplicationMetrics {
    /// Led partitions whose ISR is smaller than their replicas.
    pub under_replicated_partitions: Gauge,
    /// Partitions with no leader (cluster-wide).
    pub offline_partitions: Gauge,
    /// ISR shrinks of led partitions.
    pub isr_shrinks: Counter,
    /// ISR expansions of led partitions.
    pub isr_expands: Counter,
    /// Leader changes (cluster-wide).
    pub leader_elections: Counter,
    /// 1 while this node is the active controller, else 0.
    pub active_controller: Gauge,
    /// Follower lag by topic, partition and follower.
    pub follower_lag: Mutex<FollowerLagTable>,
}

/// What one metadata change did to replication, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicationCounts {
    /// Led partitions with an ISR smaller than their replicas, now.
    pub under_replicated: u64,
    /// Partitions without a leader, now.
    pub offline: u64,
    /// ISR shrinks of led partitions since the previous view.
    pub shrinks: u64,
    /// ISR expansions of led partitions since the previous view.
    pub expands: u64,
    /// Leader changes since the previous view.
    pub elections: u64,
}

/// Records `counts` in this shard's block (shard 0 of a cluster member).
pub fn record_counts(counts: &ReplicationCounts) {
    with_local(|m| {
        let r = &m.replication;
        r.under_replicated_partitions.set(counts.under_replicated);
        r.offline_partitions.set(counts.offline);
        r.isr_shrinks.add(counts.shrinks);
        r.isr_expands.add(counts.expands);
        r.leader_elections.add(counts.elections);
    });
}

/// Records whether this node is the active controller now (shard 0).
pub fn record_active_controller(active: bool) {
    with_local(|m| m.replication.active_controller.set(u64::from(active)));
}

/// Sets the lag of `follower` on `topic`-`partition` (from the leader's or
/// the follower's side; the replication data path calls it when it learns a
/// new position).
pub fn record_follower_lag(topic: &str, partition: i32, follower: i32, lag: FollowerLag) {
    with_local(|m| {
        let Ok(mut table) = m.replication.follower_lag.lock() else {
            return;
        };
        let key = (partition, follower);
        if let Some(entry) = table.topics.get_mut(topic).and_then(|t| t.get_mut(&key)) {
            *entry = lag;
            return;
        }
        if table.entries < FOLLOWER_LAG_ENTRIES_MAX {
            table.entries += 1;
            let partitions = table.topics.entry(topic.to_string()).or_default();
            partitions.insert(key, lag);
        }
    });
}

/// Drops the lag entries of `topic`-`partition` (no longer replicated here).
pub fn forget_follower_lag(topic: &str, partition: i32) {
    with_local(|m| {
        let Ok(mut table) = m.replication.follower_lag.lock() else {
            return;
        };
        let Some(partitions) = table.topics.get_mut(topic) else {
            return;
        };
        let before = partitions.len();
        partitions.retain(|(p, _), _| *p != partition);
        let removed = before - partitions.len();
        if partitions.is_empty() {
            table.topics.remove(topic);
        }
        table.entries = table.entries.saturating_sub(removed);
    });
}
