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
            adding: pick(&change.adding, &self.adding),
            removing: pick(&change.removing, &self.removing),
        }
    }

    /// True while a reassignment is in flight (KIP-455).
    pub fn is_reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// The replicas a reassignment in flight ends with (all of them when
    /// none is): `replicas` without `removing`, in order.
    pub fn target_replicas(&self) -> Vec<BrokerId> {
        let kept = self.replicas.iter().filter(|r| !self.removing.contains(r));
        kept.copied().collect()
    }

    /// The replicas before the reassignment in flight (what a cancellation
    /// returns to): `replicas` without `adding`, in order.
    pub fn original_replicas(&self) -> Vec<BrokerId> {
        let kept = self.replicas.iter().filter(|r| !self.adding.contains(r));
        kept.copied().collect()
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
            (&self.adding, "adding replicas are not a set of replicas"),
            (
                &self.removing,
                "removing replicas are not a set of replicas",
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
        if self.adding.iter().any(|r| self.removing.contains(r)) {
            return invalid("a replica is both added and removed");
        }
        if self.target_replicas().is_empty() || self.original_replicas().is_empty() {
            return invalid("a reassignment leaves no replica");
        }
        Ok(())
    }
}

fn distinct(ids: &[BrokerId]) -> bool {
    ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id))
}
