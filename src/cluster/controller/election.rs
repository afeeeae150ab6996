//! Builds one partition's change record: a port of KRaft's
//! `PartitionChangeBuilder` (ISR target, leader election, ELR and last known
//! leader upkeep, leader recovery state, reassignment).
//!
//! Reassignment (KIP-455): while `adding`/`removing` are set, every change
//! first checks whether the target ISR (without the removed replicas) holds
//! every target replica; then the reassignment completes in that same
//! record: the removed replicas leave the replicas and the ISR, and the
//! leader moves if it was one of them. A replica list losing a member bumps
//! the leader epoch (KRaft's `triggerLeaderEpochBumpForReplicaReassignment`).
//!
//! Election order: the current leader if still valid, then the replicas in
//! preference order that are in the target ISR, or in the ELR when the ISR is
//! empty (KIP-966); with an unclean election (topic config or an explicit
//! unclean ElectLeaders) the last known leader, then any acceptable replica.
//! Only an acceptable broker (unfenced, not shutting down) is ever elected.
//!
//! Epochs follow from the record (see `PartitionRegistration::merge`): a leader
//! field bumps the leader epoch; any change bumps the partition epoch. An ISR
//! shrink alone does not bump the leader epoch (Kafka since metadata 3.6).

use crate::cluster::records::{
    LeaderChange, LeaderRecoveryState, PartitionChangeRecord, PartitionRegistration,
};
use crate::cluster::{BrokerId, TopicIdPartition};

/// The kind of election a change may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Election {
    /// Prefer the first replica when it is valid.
    Preferred,
    /// Keep the partition online from the ISR (then ELR).
    Online,
    /// As `Online`, then out-of-sync replicas if nothing else is left.
    Unclean,
}

/// One partition change under construction.
pub(crate) struct PartitionChange<'a, F: Fn(BrokerId) -> bool> {
    partition: &'a PartitionRegistration,
    tp: TopicIdPartition,
    acceptable: F,
    min_isr: usize,
    elr_enabled: bool,
    election: Election,
    target_isr: Vec<BrokerId>,
    target_elr: Vec<BrokerId>,
    target_last_known_elr: Vec<BrokerId>,
    unclean_shutdown: Option<BrokerId>,
    target_recovery: LeaderRecoveryState,
    target_replicas: Vec<BrokerId>,
    target_adding: Vec<BrokerId>,
    target_removing: Vec<BrokerId>,
    /// Planted bug for the simulator's self-test: elect out-of-ISR replicas.
    #[cfg(test)]
    pub(crate) ignore_isr: bool,
    /// Planted bug: complete a reassignment before its replicas are in sync.
    #[cfg(test)]
    pub(crate) skip_sync: bool,
}

impl<'a, F: Fn(BrokerId) -> bool> PartitionChange<'a, F> {
    /// A change of `partition` that elects only brokers `acceptable` accepts.
    pub(crate) fn new(
        partition: &'a PartitionRegistration,
        tp: TopicIdPartition,
        acceptable: F,
        min_isr: usize,
        elr_enabled: bool,
    ) -> Self {
        PartitionChange {
            partition,
            tp,
            acceptable,
            min_isr,
            elr_enabled,
            election: Election::Online,
            target_isr: partition.isr.clone(),
            target_elr: partition.elr.clone(),
            target_last_known_elr: partition.last_known_elr.clone(),
            unclean_shutdown: None,
            target_recovery: partition.leader_recovery_state,
            target_replicas: partition.replicas.clone(),
            target_adding: partition.adding.clone(),
            target_removing: partition.removing.clone(),
            #[cfg(test)]
            ignore_isr: false,
            #[cfg(test)]
            skip_sync: false,
        }
    }

    /// Sets the kind of election.
    pub(crate) fn election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    /// Sets the ISR wanted.
    pub(crate) fn target_isr(mut self, isr: Vec<BrokerId>) -> Self {
        self.target_isr = isr;
        self
    }

    /// Names a broker that restarted after a crash: it leaves the ELR too.
    pub(crate) fn unclean_shutdown(mut self, broker: Option<BrokerId>) -> Self {
        self.unclean_shutdown = broker;
        self
    }

    /// Sets the leader recovery state wanted (AlterPartition).
    pub(crate) fn target_recovery(mut self, state: LeaderRecoveryState) -> Self {
        self.target_recovery = state;
        self
    }

    /// Sets the replicas wanted with the reassignment sets (KIP-455).
    pub(crate) fn target_assignment(
        mut self,
        replicas: Vec<BrokerId>,
        adding: Vec<BrokerId>,
        removing: Vec<BrokerId>,
    ) -> Self {
        self.target_replicas = replicas;
        self.target_adding = adding;
        self.target_removing = removing;
        self
    }

    /// The record, or `None` when nothing changes.
    pub(crate) fn build(mut self) -> Option<PartitionChangeRecord> {
        let mut record = PartitionChangeRecord {
            topic_id: self.tp.topic_id,
            partition_id: self.tp.partition,
            ..Default::default()
        };
        self.complete_reassignment_if_needed();
        self.populate_target_elr();
        self.keep_elr_within_replicas();
        self.try_election(&mut record);
        self.bump_leader_epoch_if_replicas_leave(&mut record);
        self.update_record_elr(&mut record);
        if record.isr.is_none()
            && (!self.target_isr.is_empty() || self.elr_enabled)
            && self.target_isr != self.partition.isr
        {
            record.isr = Some(self.target_isr.clone());
        }
        self.update_last_known_leader(&mut record);
        if record.leader_recovery_state.is_none()
            && self.target_recovery != self.partition.leader_recovery_state
        {
            record.leader_recovery_state = Some(self.target_recovery);
        }
        self.set_assignment_changes(&mut record);
        (!record.is_no_op()).then_some(record)
    }

    /// KRaft's `maybeCompleteReassignment`: once the target ISR, without the
    /// replicas being removed, holds every target replica, the removed ones
    /// leave (replicas and ISR) and the reassignment sets empty.
    fn complete_reassignment_if_needed(&mut self) {
        if self.target_adding.is_empty() && self.target_removing.is_empty() {
            return;
        }
        let removing = &self.target_removing;
        let isr: Vec<BrokerId> = self
            .target_isr
            .iter()
            .copied()
            .filter(|r| !removing.contains(r))
            .collect();
        let replicas: Vec<BrokerId> = self
            .target_replicas
            .iter()
            .copied()
            .filter(|r| !removing.contains(r))
            .collect();
        let in_sync = replicas.iter().all(|r| isr.contains(r));
        #[cfg(test)]
        let in_sync = in_sync || self.skip_sync;
        if isr.is_empty() || replicas.is_empty() || !in_sync {
            return;
        }
        self.target_isr = isr;
        self.target_replicas = replicas;
        self.target_adding.clear();
        self.target_removing.clear();
    }

    /// Replicas that leave the replica set leave the ELR and last known ELR.
    fn keep_elr_within_replicas(&mut self) {
        let replicas = &self.target_replicas;
        self.target_elr.retain(|r| replicas.contains(r));
        self.target_last_known_elr.retain(|r| replicas.contains(r));
    }

    /// A replica list that loses a member gets a new leader epoch, so the
    /// leader stops counting the removed replica and a fetch from it at the
    /// old epoch is fenced.
    fn bump_leader_epoch_if_replicas_leave(&self, record: &mut PartitionChangeRecord) {
        if record.leader != LeaderChange::Unchanged {
            return;
        }
        let replicas = &self.target_replicas;
        if self
            .partition
            .replicas
            .iter()
            .any(|r| !replicas.contains(r))
        {
            record.leader = LeaderChange::Set(self.partition.leader);
        }
    }

    fn set_assignment_changes(&self, record: &mut PartitionChangeRecord) {
        if !self.target_replicas.is_empty() && self.target_replicas != self.partition.replicas {
            record.replicas = Some(self.target_replicas.clone());
            let replicas = &self.target_replicas;
            let last_known = record
                .last_known_elr
                .as_ref()
                .unwrap_or(&self.partition.last_known_elr);
            if last_known.iter().any(|r| !replicas.contains(r)) {
                let kept = last_known.iter().copied().filter(|r| replicas.contains(r));
                record.last_known_elr = Some(kept.collect());
            }
        }
        if self.target_adding != self.partition.adding {
            record.adding = Some(self.target_adding.clone());
        }
        if self.target_removing != self.partition.removing {
            record.removing = Some(self.target_removing.clone());
        }
    }

    /// KIP-966: below min ISR, replicas leaving the ISR (cleanly) join the ELR.
    fn populate_target_elr(&mut self) {
        if !self.elr_enabled {
            return;
        }
        if self.target_isr.len() >= self.min_isr {
            self.target_elr.clear();
            self.target_last_known_elr.clear();
            return;
        }
        let mut candidates = self.target_elr.clone();
        candidates.extend(&self.partition.isr);
        candidates.sort_unstable();
        candidates.dedup();
        let unclean = self.unclean_shutdown;
        self.target_elr = candidates
            .iter()
            .copied()
            .filter(|r| !self.target_isr.contains(r) && Some(*r) != unclean)
            .collect();
        candidates.extend(&self.target_last_known_elr);
        candidates.sort_unstable();
        candidates.dedup();
        self.target_last_known_elr = candidates
            .into_iter()
            .filter(|r| !self.target_isr.contains(r) && !self.target_elr.contains(r))
            .collect();
    }

    fn is_valid_leader(&self, replica: BrokerId) -> bool {
        #[cfg(test)]
        if self.ignore_isr {
            return self.target_replicas.contains(&replica) && (self.acceptable)(replica);
        }
        let eligible = self.target_isr.contains(&replica)
            || (self.target_isr.is_empty() && self.target_elr.contains(&replica));
        eligible && self.target_replicas.contains(&replica) && (self.acceptable)(replica)
    }

    /// The leader to have, and whether electing it is unclean.
    fn elect(&self) -> (Option<BrokerId>, bool) {
        let replicas = &self.target_replicas;
        if self.election == Election::Preferred {
            if let Some(&preferred) = replicas.first() {
                if self.is_valid_leader(preferred) {
                    return (Some(preferred), false);
                }
            }
        }
        if let Some(leader) = self.partition.leader {
            if self.is_valid_leader(leader) {
                return (Some(leader), false);
            }
        }
        if let Some(&r) = replicas.iter().find(|r| self.is_valid_leader(**r)) {
            return (Some(r), false);
        }
        if self.election == Election::Unclean {
            return (self.unclean_candidate(), true);
        }
        (None, false)
    }

    /// Unclean: the last known leader if acceptable, else any acceptable replica.
    fn unclean_candidate(&self) -> Option<BrokerId> {
        let last_known = &self.partition.last_known_elr;
        let listed = |r: BrokerId| self.target_replicas.contains(&r);
        if self.elr_enabled
            && last_known.len() == 1
            && listed(last_known[0])
            && (self.acceptable)(last_known[0])
        {
            return Some(last_known[0]);
        }
        let replicas = &self.target_replicas;
        replicas.iter().copied().find(|r| (self.acceptable)(*r))
    }

    fn try_election(&mut self, record: &mut PartitionChangeRecord) {
        let (leader, unclean) = self.elect();
        if leader == self.partition.leader {
            return;
        }
        if let Some(new) = leader {
            if self.target_elr.contains(&new) {
                // Elected from the ELR: it is the ISR now.
                self.target_isr = vec![new];
                self.target_elr.retain(|r| *r != new);
            }
            if unclean {
                record.isr = Some(vec![new]);
                if self.partition.leader_recovery_state != LeaderRecoveryState::Recovering {
                    record.leader_recovery_state = Some(LeaderRecoveryState::Recovering);
                }
            }
        }
        record.leader = LeaderChange::Set(leader);
    }

    fn update_record_elr(&mut self, record: &mut PartitionChangeRecord) {
        let clean = record.isr.is_none();
        if !clean || !self.elr_enabled {
            self.target_elr.clear();
            self.target_last_known_elr.clear();
        }
        if self.target_elr != self.partition.elr {
            record.elr = Some(self.target_elr.clone());
        }
    }

    /// KIP-966's last known leader: set when the ISR first empties, cleared
    /// once the partition has a leader again.
    fn update_last_known_leader(&self, record: &mut PartitionChangeRecord) {
        if !self.elr_enabled {
            return;
        }
        let old = self.partition;
        let isr_emptied = record.isr.as_ref().is_some_and(Vec::is_empty);
        if isr_emptied {
            if let Some(leader) = old.leader {
                if old.last_known_elr != [leader] {
                    record.last_known_elr = Some(vec![leader]);
                }
            }
            return;
        }
        let will_lead = match record.leader {
            LeaderChange::Set(new) => new.is_some(),
            LeaderChange::Unchanged => old.leader.is_some(),
        };
        if will_lead && !old.last_known_elr.is_empty() {
            record.last_known_elr = Some(Vec::new());
        }
    }
}
