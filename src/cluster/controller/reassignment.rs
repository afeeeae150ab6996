//! Partition reassignment on the controller (KIP-455, KRaft's
//! `ReplicationControlManager.alterPartitionReassignments`).
//!
//! A reassignment goes through three stages, each one partition change:
//! 1. the target replicas join the replica list (target first, then the
//!    ones being removed), with `adding` and `removing` recorded; the added
//!    brokers open the partition and fetch from the leader;
//! 2. the leader proposes each added replica into the ISR once it has
//!    caught up (AlterPartition), as for any follower;
//! 3. the change that makes the ISR hold every target replica also
//!    completes the reassignment ([`super::election`]): the removed replicas
//!    leave the replicas and the ISR, the leader moves if it was one of them,
//!    and their brokers delete the partition's data.
//!
//! A reassignment whose target replicas are already in the ISR completes at
//! stage 1. Cancelling (no target) reverts to the replicas before it; a new
//! target replaces the one in flight.

use super::api::*;
use super::config::USER_OP_RECORDS_MAX;
use super::Controller;
use crate::cluster::records::{MetadataRecord, PartitionRegistration};
use crate::cluster::{BrokerId, TopicIdPartition};
use std::collections::BTreeSet;

impl Controller {
    pub(super) fn alter_reassignments(
        &mut self,
        request: &AlterReassignmentsRequest,
        out: &mut Vec<Output>,
    ) -> Reply {
        if request.partitions.len() > USER_OP_RECORDS_MAX {
            return Reply::AlterReassignments(Err(ResponseError::PolicyViolation));
        }
        let mut seen = BTreeSet::new();
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(request.partitions.len());
        for (tp, target) in &request.partitions {
            let result = if seen.insert(*tp) {
                self.reassign_one(*tp, target.as_deref(), &mut records)
            } else {
                Err(ResponseError::InvalidRequest)
            };
            results.push((*tp, result));
        }
        self.propose(records, out);
        Reply::AlterReassignments(Ok(results))
    }

    fn reassign_one(
        &self,
        tp: TopicIdPartition,
        target: Option<&[BrokerId]>,
        records: &mut Vec<MetadataRecord>,
    ) -> Result<(), ResponseError> {
        let partition = self
            .image
            .partition(tp)
            .ok_or(ResponseError::UnknownTopicOrPartition)?;
        let record = match target {
            None => self.cancel_reassignment(tp, partition)?,
            Some(target) => self.change_reassignment(tp, partition, target)?,
        };
        records.extend(record.map(MetadataRecord::PartitionChange));
        Ok(())
    }

    /// KRaft's `PartitionReassignmentRevert`: back to the replicas before
    /// the reassignment, the added ones out of the ISR. If only added
    /// replicas were in sync, the first original replica becomes the ISR:
    /// an unclean election, allowed only where the topic allows those.
    fn cancel_reassignment(
        &self,
        tp: TopicIdPartition,
        partition: &PartitionRegistration,
    ) -> Result<Option<crate::cluster::records::PartitionChangeRecord>, ResponseError> {
        if !partition.is_reassigning() {
            return Err(ResponseError::NoReassignmentInProgress);
        }
        let replicas = partition.original_replicas();
        let mut isr: Vec<BrokerId> = partition
            .isr
            .iter()
            .copied()
            .filter(|r| !partition.adding.contains(r))
            .collect();
        if isr.is_empty() {
            if !self.unclean_allowed(tp) {
                return Err(ResponseError::InvalidReplicaAssignment);
            }
            isr.push(replicas[0]);
        }
        let acceptable = |r: BrokerId| self.may_lead(r, partition.leader);
        let change = self
            .change(tp, partition, acceptable, None)
            .target_isr(isr)
            .target_assignment(replicas, Vec::new(), Vec::new());
        Ok(change.build())
    }

    /// KRaft's `changePartitionReassignment`: the replica list becomes the
    /// target followed by the current replicas it drops; `adding` and
    /// `removing` are the differences (sorted, as KRaft's sets are).
    fn change_reassignment(
        &self,
        tp: TopicIdPartition,
        partition: &PartitionRegistration,
        target: &[BrokerId],
    ) -> Result<Option<crate::cluster::records::PartitionChangeRecord>, ResponseError> {
        self.validate_assignment(target)?;
        let current = &partition.replicas;
        let removing: BTreeSet<BrokerId> = current
            .iter()
            .copied()
            .filter(|r| !target.contains(r))
            .collect();
        let adding: BTreeSet<BrokerId> = target
            .iter()
            .copied()
            .filter(|r| !current.contains(r))
            .collect();
        let mut replicas = target.to_vec();
        replicas.extend(&removing);
        let acceptable = |r: BrokerId| self.may_lead(r, partition.leader);
        let change = self
            .change(tp, partition, acceptable, None)
            .target_assignment(
                replicas,
                adding.into_iter().collect(),
                removing.into_iter().collect(),
            );
        Ok(change.build())
    }

    /// KRaft's `validateManualPartitionAssignment`: not empty, no broker
    /// twice, every broker registered.
    fn validate_assignment(&self, target: &[BrokerId]) -> Result<(), ResponseError> {
        let distinct: BTreeSet<BrokerId> = target.iter().copied().collect();
        let registered = target.iter().all(|r| self.image.broker(*r).is_some());
        if target.is_empty() || distinct.len() != target.len() || !registered {
            return Err(ResponseError::InvalidReplicaAssignment);
        }
        Ok(())
    }

    fn unclean_allowed(&self, tp: TopicIdPartition) -> bool {
        let topic = self
            .image
            .topic(tp.topic_id)
            .map_or("", |t| t.name.as_str());
        self.config.unclean_leader_election(&self.image, topic)
    }
}
