//! How a change record merges into a partition's registration (KRaft's
//! `PartitionRegistration.merge`), and the structural checks it must pass.

use super::ApplyError;
use crate::cluster::records::{LeaderChange, PartitionChangeRecord, PartitionRegistration};
use crate::cluster::{BrokerId, TopicIdPartition};

impl PartitionRegistration {
    /// This registration with `change` applied: any leader field bumps the
    /// leader epoch, every change bumps the partition epoch.
    pub fn merge(&self, change: &PartitionChangeRecord) -> Self {
        let pick =
            |new: &Option<Vec<BrokerId>>, old: &Vec<BrokerId>| new.as_ref().unwrap_or(old).clone();
        let (leader, leader_epoch) = match change.leader {
            LeaderChange::Unchanged => (self.leader, self.leader_epoch),
            LeaderChange::Set(leader) => (leader, self.leader_epoch + 1),
        };
        PartitionRegistration {
            replicas: pick(&change.replicas, &self.replicas),
            isr: pick(&change.isr, &self.isr),
            elr: pick(&change.elr, &self.elr),
            last_known_elr: pick(&change.last_known_elr, &self.last_known_elr),
            leader,
            leader_recovery_state: change
                .leader_recovery_state
                .unwrap_or(self.leader_recovery_state),
            leader_epoch,
            partition_epoch: self.partition_epoch + 1,
        }
    }

    /// True when the preferred replica (the first) leads.
    pub fn has_preferred_leader(&self) -> bool {
        self.leader.is_some() && self.leader == self.replicas.first().copied()
    }

    /// Structural checks every registration in an image passes: replicas
    /// distinct and non-negative; ISR, ELR and last known ELR distinct members
    /// of the replicas; the leader a replica.
    pub fn validate(&self, tp: TopicIdPartition) -> Result<(), ApplyError> {
        let invalid = |reason| Err(ApplyError::InvalidPartition { tp, reason });
        if self.replicas.is_empty() {
            return invalid("no replicas");
        }
        if !distinct(&self.replicas) || self.replicas.iter().any(|r| *r < 0) {
            return invalid("replicas repeat or are negative");
        }
        for (list, reason) in [
            (&self.isr, "ISR is not a set of replicas"),
            (&self.elr, "ELR is not a set of replicas"),
            (
                &self.last_known_elr,
                "last known ELR is not a set of replicas",
            ),
        ] {
            if !distinct(list) || !list.iter().all(|b| self.replicas.contains(b)) {
                return invalid(reason);
            }
        }
        if let Some(leader) = self.leader {
            if !self.replicas.contains(&leader) {
                return invalid("leader is not a replica");
            }
        }
        Ok(())
    }
}

fn distinct(ids: &[BrokerId]) -> bool {
    ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id))
}
