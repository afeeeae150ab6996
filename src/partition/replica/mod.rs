//! Partition replication as sans-IO state machines (issue 13): what a
//! partition's leader and followers decide, driven by the caller with
//! messages and a clock, so the seeded simulator ([`sim`], tests only) can
//! run thousands of fault schedules in seconds and the network part of
//! replication plugs in as a thin driver.
//!
//! - [`leader::LeaderReplica`]: the followers' fetch positions and *durable*
//!   (fsynced) offsets, the high watermark (the minimum durable end offset
//!   over the maximal ISR, held while the ISR is below
//!   `min.insync.replicas`), ISR shrinks after `replica.lag.time.max.ms` and
//!   expansions once a follower is caught up, both proposed to the
//!   controller with the partition epoch (AlterPartition semantics) and
//!   never applied alone; NOT_ENOUGH_REPLICAS before an acks=all append and
//!   NOT_ENOUGH_REPLICAS_AFTER_APPEND before its ack.
//! - [`follower::FollowerReplica`]: the fetch position and last fetched
//!   epoch a follower sends, the truncation a DivergingEpoch answer asks
//!   for, and the high watermark it learns.
//!
//! Both use the partition's [`LeaderEpochCache`](super::leader_epochs) and
//! its [`divergence`](super::leader_epochs::divergence) check, as the
//! single-node broker does.

pub mod follower;
pub mod leader;
#[cfg(test)]
mod sim;

/// A replica's broker id.
pub type ReplicaId = i32;

/// The replication settings of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// `min.insync.replicas`: acks=all needs this many in-sync replicas.
    pub min_insync_replicas: usize,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long
    /// leaves the ISR.
    pub replica_lag_time_max_ms: u64,
}

/// Kafka's `replica.lag.time.max.ms` default.
pub const REPLICA_LAG_TIME_MAX_MS_DEFAULT: u64 = 30_000;

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            min_insync_replicas: 1,
            replica_lag_time_max_ms: REPLICA_LAG_TIME_MAX_MS_DEFAULT,
        }
    }
}

/// A partition's assignment as the controller committed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionState {
    /// The leader (-1: none).
    pub leader: ReplicaId,
    /// Bumped at every leader change.
    pub leader_epoch: i32,
    /// Bumped at every change (leader or ISR): AlterPartition's
    /// compare-and-set version.
    pub partition_epoch: i32,
    /// Every replica.
    pub replicas: Vec<ReplicaId>,
    /// The in-sync replicas.
    pub isr: Vec<ReplicaId>,
}

/// An ISR change a leader asks the controller for (AlterPartition, key 56):
/// applied only once the controller commits it at `partition_epoch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionProposal {
    /// The proposing leader's epoch.
    pub leader_epoch: i32,
    /// The partition epoch the change is based on.
    pub partition_epoch: i32,
    /// The ISR wanted.
    pub new_isr: Vec<ReplicaId>,
    /// Each member's broker epoch as the leader knows it, in `new_isr`'s
    /// order (KIP-903; -1: unknown, not checked).
    pub broker_epochs: Vec<i64>,
}

impl AlterPartitionProposal {
    /// The ISR wanted with each member's broker epoch (AlterPartition v3's
    /// NewIsrWithEpochs).
    pub fn isr_with_epochs(&self) -> impl Iterator<Item = (ReplicaId, i64)> + '_ {
        let unknown = std::iter::repeat(leader::NO_BROKER_EPOCH);
        let epochs = self.broker_epochs.iter().copied().chain(unknown);
        self.new_isr.iter().copied().zip(epochs)
    }
}
