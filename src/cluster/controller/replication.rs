//! Partition leadership and ISR on the controller (KRaft's
//! `ReplicationControlManager`): what fencing, unfencing, controlled and
//! unclean shutdown do to partitions; AlterPartition; ElectLeaders; periodic
//! unclean elections and preferred-leader balancing.

use super::api::*;
use super::config::ELECTIONS_PER_ROUND_MAX;
use super::election::{Election, PartitionChange};
use super::Controller;
use crate::cluster::records::{
    FenceBrokerRecord, LeaderChange, LeaderRecoveryState, MetadataRecord, PartitionRegistration,
};
use crate::cluster::{BrokerId, TopicIdPartition};
use std::collections::BTreeSet;

/// The broker a batch of partition updates is about (KRaft's
/// `generateLeaderAndIsrUpdates` arguments).
#[derive(Clone, Copy, Debug, Default)]
struct Update {
    /// Leaves the ISR and may not lead.
    remove: Option<BrokerId>,
    /// May lead although the image still has it fenced (being unfenced).
    add: Option<BrokerId>,
    /// Crashed: leaves the ISR and the ELR and may not lead.
    unclean_shutdown: Option<BrokerId>,
}

impl Controller {
    /// Move leadership and ISR membership away from `broker_id`, then fence it.
    pub(super) fn fence_records(&self, broker_id: BrokerId) -> Vec<MetadataRecord> {
        let Some(registration) = self.image.broker(broker_id) else {
            return Vec::new();
        };
        let mut records = self.leave_isr_records(broker_id);
        #[cfg(test)]
        if self.bugs.fence_keeps_leadership {
            records.clear();
        }
        records.push(MetadataRecord::FenceBroker(FenceBrokerRecord {
            broker_id,
            broker_epoch: registration.broker_epoch,
        }));
        records
    }

    /// `broker_id` leaves every ISR and every leadership.
    pub(super) fn leave_isr_records(&self, broker_id: BrokerId) -> Vec<MetadataRecord> {
        let update = Update {
            remove: Some(broker_id),
            ..Update::default()
        };
        self.partition_updates(update, self.image.isr_partitions_of(broker_id))
    }

    /// A broker back from a crash (KIP-966's unclean shutdown) leaves every
    /// ISR, joining the ELR where that leaves the ISR below min ISR, as a
    /// clean stop does. Kafka also takes it out of every ELR, because a Kafka
    /// broker may lose acknowledged records it never fsynced. A millrace
    /// replica reports only fsynced offsets and the high watermark is the
    /// least of them, so a crash loses nothing below the high watermark; and
    /// Kafka's rule could leave a partition with neither ISR nor ELR, offline
    /// for good without an unclean election (issue 13's Jepsen runs).
    pub(super) fn unclean_shutdown_records(&self, broker_id: BrokerId) -> Vec<MetadataRecord> {
        if !self.config.eligible_leader_replicas_enable {
            return Vec::new();
        }
        #[cfg(test)]
        if self.bugs.crash_leaves_elr {
            return self.crash_leaves_elr_records(broker_id);
        }
        self.leave_isr_records(broker_id)
    }

    /// Kafka's KIP-966 rule, kept as a planted bug for the simulator.
    #[cfg(test)]
    fn crash_leaves_elr_records(&self, broker_id: BrokerId) -> Vec<MetadataRecord> {
        let mut partitions = self.image.isr_partitions_of(broker_id).clone();
        partitions.extend(self.image.elr_partitions_of(broker_id));
        let update = Update {
            unclean_shutdown: Some(broker_id),
            ..Update::default()
        };
        self.partition_updates(update, &partitions)
    }

    /// Elections for leaderless partitions, counting `broker_id` as active.
    pub(super) fn leaderless_election_records(&self, broker_id: BrokerId) -> Vec<MetadataRecord> {
        let update = Update {
            add: Some(broker_id),
            ..Update::default()
        };
        self.partition_updates(update, self.image.leaderless_partitions())
    }

    fn partition_updates(
        &self,
        update: Update,
        partitions: &BTreeSet<TopicIdPartition>,
    ) -> Vec<MetadataRecord> {
        let excluded = [update.remove, update.unclean_shutdown];
        let mut records = Vec::new();
        for &tp in partitions {
            let Some(partition) = self.image.partition(tp) else {
                continue;
            };
            let acceptable = |r: BrokerId| {
                !excluded.contains(&Some(r))
                    && (Some(r) == update.add || self.may_lead(r, partition.leader))
            };
            let target_isr = partition
                .isr
                .iter()
                .copied()
                .filter(|r| !excluded.contains(&Some(*r)))
                .collect();
            let change = self
                .change(tp, partition, acceptable, None)
                .unclean_shutdown(update.unclean_shutdown)
                .target_isr(target_isr);
            if let Some(record) = change.build() {
                records.push(MetadataRecord::PartitionChange(record));
            }
        }
        records
    }

    /// A change of `partition` with this controller's settings for its topic;
    /// `election` defaults to online, or unclean where the topic allows it.
    pub(super) fn change<'a, F: Fn(BrokerId) -> bool>(
        &self,
        tp: TopicIdPartition,
        partition: &'a PartitionRegistration,
        acceptable: F,
        election: Option<Election>,
    ) -> PartitionChange<'a, F> {
        let topic = self
            .image
            .topic(tp.topic_id)
            .map_or("", |t| t.name.as_str());
        let min_isr = self.config.min_insync_replicas(&self.image, topic);
        let elr = self.config.eligible_leader_replicas_enable;
        let election =
            election.unwrap_or(if self.config.unclean_leader_election(&self.image, topic) {
                Election::Unclean
            } else {
                Election::Online
            });
        #[allow(unused_mut)]
        let mut change =
            PartitionChange::new(partition, tp, acceptable, min_isr, elr).election(election);
        #[cfg(test)]
        {
            change.ignore_isr = self.bugs.election_ignores_isr;
            change.skip_sync = self.bugs.reassignment_skips_sync;
        }
        change
    }

    pub(super) fn alter_partition(
        &mut self,
        request: &AlterPartitionRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        if let Err(e) = self.check_broker_epoch(request.broker_id, request.broker_epoch) {
            return Reply::AlterPartition(Err(e));
        }
        let mut seen = BTreeSet::new();
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(request.partitions.len());
        for item in &request.partitions {
            let result = if seen.insert(item.tp) {
                self.alter_one(request.broker_id, item, &mut records)
            } else {
                Err(ResponseError::InvalidRequest)
            };
            results.push(AlterPartitionResult {
                tp: item.tp,
                result,
            });
        }
        self.propose(records, out);
        Reply::AlterPartition(Ok(results))
    }

    fn alter_one(
        &self,
        broker_id: BrokerId,
        item: &AlterPartitionItem,
        records: &mut Vec<MetadataRecord>,
    ) -> Result<PartitionState, ResponseError> {
        let partition = self.validate_alter(broker_id, item)?;
        let target_isr = item.new_isr.iter().map(|(id, _)| *id).collect();
        let acceptable = |r: BrokerId| self.may_lead(r, partition.leader);
        let change = self
            .change(item.tp, partition, acceptable, None)
            .target_isr(target_isr)
            .target_recovery(item.leader_recovery_state)
            .build();
        let Some(change) = change else {
            return Ok(partition_state(partition));
        };
        let merged = partition.merge(&change);
        let moved = change.leader != LeaderChange::Unchanged && merged.leader != Some(broker_id);
        records.push(MetadataRecord::PartitionChange(change));
        if moved {
            return Err(ResponseError::NewLeaderElected);
        }
        Ok(partition_state(&merged))
    }

    /// KRaft's `validateAlterPartitionData`: the partition epoch is the
    /// compare-and-set version; new ISR members must be eligible.
    fn validate_alter(
        &self,
        broker_id: BrokerId,
        item: &AlterPartitionItem,
    ) -> Result<&PartitionRegistration, ResponseError> {
        if self.image.topic(item.tp.topic_id).is_none() {
            return Err(ResponseError::UnknownTopicId);
        }
        let partition = self
            .image
            .partition(item.tp)
            .ok_or(ResponseError::UnknownTopicOrPartition)?;
        if item.leader_epoch > partition.leader_epoch
            || item.partition_epoch > partition.partition_epoch
        {
            // The leader saw a newer state than ours: we are not the controller.
            return Err(ResponseError::NotController);
        }
        if item.leader_epoch < partition.leader_epoch {
            return Err(ResponseError::FencedLeaderEpoch);
        }
        if partition.leader != Some(broker_id) {
            return Err(ResponseError::InvalidRequest);
        }
        if item.partition_epoch < partition.partition_epoch {
            return Err(ResponseError::InvalidUpdateVersion);
        }
        validate_new_isr(partition, item)?;
        let ineligible = item.new_isr.iter().any(|&(id, epoch)| {
            let broker = self.image.broker(id);
            !broker.is_some_and(|b| b.is_active() && (epoch == -1 || epoch == b.broker_epoch))
        });
        #[cfg(test)]
        let ineligible = ineligible && !self.bugs.alter_accepts_ineligible;
        if ineligible {
            return Err(ResponseError::IneligibleReplica);
        }
        Ok(partition)
    }

    pub(super) fn elect_leaders(
        &mut self,
        request: &ElectLeadersRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        let targets: BTreeSet<TopicIdPartition> = match &request.partitions {
            Some(list) => list.iter().copied().collect(),
            None => self.image.partitions().map(|(tp, _)| tp).collect(),
        };
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(targets.len());
        for tp in targets {
            let result = self.elect_one(tp, request.election, &mut records);
            results.push((tp, result));
        }
        self.propose(records, out);
        Reply::ElectLeaders(Ok(results))
    }

    /// KRaft's `electLeader`.
    fn elect_one(
        &self,
        tp: TopicIdPartition,
        election: ElectionType,
        records: &mut Vec<MetadataRecord>,
    ) -> Result<(), ResponseError> {
        let partition = self
            .image
            .partition(tp)
            .ok_or(ResponseError::UnknownTopicOrPartition)?;
        let not_needed = match election {
            ElectionType::Preferred => partition.has_preferred_leader(),
            ElectionType::Unclean => partition.leader.is_some(),
        };
        if not_needed {
            return Err(ResponseError::ElectionNotNeeded);
        }
        let kind = match election {
            ElectionType::Preferred => Election::Preferred,
            ElectionType::Unclean => Election::Unclean,
        };
        let acceptable = |r: BrokerId| self.may_lead(r, partition.leader);
        match self.change(tp, partition, acceptable, Some(kind)).build() {
            Some(record) => {
                records.push(MetadataRecord::PartitionChange(record));
                Ok(())
            }
            None if election == ElectionType::Preferred => {
                Err(ResponseError::PreferredLeaderNotAvailable)
            }
            None => Err(ResponseError::EligibleLeadersNotAvailable),
        }
    }

    /// Unclean elections for leaderless partitions of topics that allow them.
    pub(super) fn elect_unclean_leaders(&mut self, out: &mut Vec<Output>) {
        let mut records = Vec::new();
        for &tp in self.image.leaderless_partitions() {
            if records.len() >= ELECTIONS_PER_ROUND_MAX {
                break;
            }
            let topic = self
                .image
                .topic(tp.topic_id)
                .map_or("", |t| t.name.as_str());
            if self.config.unclean_leader_election(&self.image, topic) {
                // An error here just means no live replica yet.
                let _ = self.elect_one(tp, ElectionType::Unclean, &mut records);
            }
        }
        self.propose(records, out);
    }

    /// Preferred-leader elections where the preferred replica could lead,
    /// for the brokers whose share of partitions led elsewhere is above
    /// `leader.imbalance.per.broker.percentage`.
    pub(super) fn balance_leaders(&mut self, out: &mut Vec<Output>) {
        let imbalanced = self.imbalanced_brokers();
        let mut records = Vec::new();
        for (tp, partition) in self.image.partitions() {
            if records.len() >= ELECTIONS_PER_ROUND_MAX {
                break;
            }
            let preferred = partition.replicas[0];
            let movable = !partition.has_preferred_leader()
                && imbalanced.contains(&preferred)
                && partition.isr.contains(&preferred)
                && self.is_electable(preferred);
            if movable {
                // An error here just means the preferred replica cannot lead yet.
                let _ = self.elect_one(tp, ElectionType::Preferred, &mut records);
            }
        }
        self.propose(records, out);
    }
}

impl Controller {
    /// The brokers whose imbalance ratio (partitions they are the preferred
    /// replica of but do not lead, over all partitions they are the
    /// preferred replica of) is above the configured percentage.
    fn imbalanced_brokers(&self) -> BTreeSet<BrokerId> {
        let mut counts: std::collections::BTreeMap<BrokerId, (u64, u64)> = Default::default();
        for (_, partition) in self.image.partitions() {
            let entry = counts.entry(partition.replicas[0]).or_default();
            entry.0 += !partition.has_preferred_leader() as u64;
            entry.1 += 1;
        }
        let percentage = u64::from(self.config.leader_imbalance_per_broker_percentage);
        counts
            .into_iter()
            .filter(|(_, (elsewhere, all))| elsewhere * 100 > percentage * all)
            .map(|(broker, _)| broker)
            .collect()
    }
}

/// The new ISR: distinct replicas, holding the leader; a recovering leader
/// (unclean election) keeps an ISR of itself alone.
fn validate_new_isr(
    partition: &PartitionRegistration,
    item: &AlterPartitionItem,
) -> Result<(), ResponseError> {
    let ids: Vec<BrokerId> = item.new_isr.iter().map(|(id, _)| *id).collect();
    let distinct = ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id));
    let replicas = ids.iter().all(|id| partition.replicas.contains(id));
    let has_leader = partition.leader.is_some_and(|l| ids.contains(&l));
    let recovering = item.leader_recovery_state == LeaderRecoveryState::Recovering;
    let regress = recovering && partition.leader_recovery_state == LeaderRecoveryState::Recovered;
    if !distinct || !replicas || !has_leader || (recovering && ids.len() > 1) || regress {
        return Err(ResponseError::InvalidRequest);
    }
    Ok(())
}

fn partition_state(partition: &PartitionRegistration) -> PartitionState {
    PartitionState {
        leader: partition.leader,
        leader_epoch: partition.leader_epoch,
        partition_epoch: partition.partition_epoch,
        replicas: partition.replicas.clone(),
        isr: partition.isr.clone(),
        leader_recovery_state: partition.leader_recovery_state,
    }
}
