//! The simulated controller of one partition: brokers heartbeat it, one
//! silent for a session is fenced (out of the ISR unless it is the last
//! member; a new leader from the ISR if it led), a restarted one (a new
//! incarnation) gets a new epoch, and AlterPartition commits only at the
//! current leader and partition epochs with unfenced members.

use super::SESSION_TIMEOUT_MS;
use crate::partition::replica::leader::Registration;
use crate::partition::replica::{AlterPartitionProposal, PartitionState, ReplicaId};
use crate::protocol::error_code;
use std::collections::BTreeMap;

/// No leader.
const NO_LEADER: ReplicaId = -1;

#[derive(Clone, Copy, Debug)]
struct Broker {
    incarnation: u32,
    last_heartbeat_ms: u64,
    fenced: bool,
}

pub(super) struct SimController {
    state: PartitionState,
    brokers: BTreeMap<ReplicaId, Broker>,
    /// Planted bug: elect any live replica, in the ISR or not.
    unclean_election: bool,
}

impl SimController {
    pub(super) fn new(replicas: Vec<ReplicaId>, unclean_election: bool) -> Self {
        let brokers = replicas
            .iter()
            .map(|&id| {
                let broker = Broker {
                    incarnation: 0,
                    last_heartbeat_ms: 0,
                    fenced: false,
                };
                (id, broker)
            })
            .collect();
        let state = PartitionState {
            leader: replicas[0],
            leader_epoch: 0,
            partition_epoch: 0,
            isr: replicas.clone(),
            replicas,
        };
        SimController {
            state,
            brokers,
            unclean_election,
        }
    }

    pub(super) fn state(&self) -> &PartitionState {
        &self.state
    }

    /// The incarnation of `id` the controller registered last.
    pub(super) fn incarnation(&self, id: ReplicaId) -> u32 {
        self.brokers.get(&id).map_or(0, |b| b.incarnation)
    }

    /// How the metadata registers `id`: at its latest incarnation (the
    /// broker epoch its fetches name), active unless fenced.
    pub(super) fn registration(&self, id: ReplicaId) -> Registration {
        self.brokers
            .get(&id)
            .map_or(Registration::Unknown, |b| Registration::Known {
                broker_epoch: i64::from(b.incarnation),
                active: !b.fenced,
            })
    }

    /// A heartbeat; returns whether the partition changed.
    pub(super) fn heartbeat(&mut self, now_ms: u64, id: ReplicaId, incarnation: u32) -> bool {
        let Some(broker) = self.brokers.get_mut(&id) else {
            return false;
        };
        if incarnation < broker.incarnation {
            return false; // an old process's heartbeat, overtaken
        }
        let restarted = incarnation > broker.incarnation;
        let was_fenced = broker.fenced;
        *broker = Broker {
            incarnation,
            last_heartbeat_ms: now_ms,
            fenced: false,
        };
        if restarted || was_fenced {
            // A new registration: it leads no more at its old epoch, and
            // learns its role from a new state.
            if self.state.leader == id {
                self.elect(Some(id));
            } else if self.state.leader == NO_LEADER {
                self.elect(None);
            } else {
                self.bump(false);
            }
            return true;
        }
        false
    }

    /// Fences brokers silent for a session; returns whether the partition
    /// changed.
    pub(super) fn tick(&mut self, now_ms: u64) -> bool {
        let silent: Vec<ReplicaId> = self
            .brokers
            .iter()
            .filter(|(_, b)| {
                !b.fenced && now_ms.saturating_sub(b.last_heartbeat_ms) > SESSION_TIMEOUT_MS
            })
            .map(|(&id, _)| id)
            .collect();
        for &id in &silent {
            if let Some(broker) = self.brokers.get_mut(&id) {
                broker.fenced = true;
            }
            if self.state.isr.len() > 1 {
                self.state.isr.retain(|&r| r != id);
            }
            if self.state.leader == id {
                self.elect(None);
            } else {
                self.bump(false);
            }
        }
        !silent.is_empty()
    }

    /// A new leader: an unfenced ISR member (`last_resort` only if no other
    /// is), or none; a new leader epoch either way.
    fn elect(&mut self, last_resort: Option<ReplicaId>) {
        let eligible = |id: &ReplicaId, brokers: &BTreeMap<ReplicaId, Broker>| {
            brokers.get(id).is_some_and(|b| !b.fenced)
        };
        let pool = match self.unclean_election {
            true => &self.state.replicas,
            false => &self.state.isr,
        };
        let others = pool.iter().copied().filter(|id| Some(*id) != last_resort);
        let leader = others
            .chain(last_resort)
            .find(|id| eligible(id, &self.brokers))
            .unwrap_or(NO_LEADER);
        if self.unclean_election && leader >= 0 && !self.state.isr.contains(&leader) {
            self.state.isr = vec![leader];
        }
        self.state.leader = leader;
        self.bump(true);
    }

    fn bump(&mut self, leader_changed: bool) {
        self.state.partition_epoch += 1;
        if leader_changed {
            self.state.leader_epoch += 1;
        }
    }

    /// AlterPartition: committed at the current epochs with unfenced new
    /// members and every member's broker epoch (incarnation) current, else
    /// INVALID_UPDATE_VERSION / FENCED_LEADER_EPOCH / INELIGIBLE_REPLICA.
    pub(super) fn alter_partition(
        &mut self,
        proposal: &AlterPartitionProposal,
    ) -> Result<PartitionState, i16> {
        if proposal.leader_epoch != self.state.leader_epoch {
            return Err(error_code::FENCED_LEADER_EPOCH);
        }
        if proposal.partition_epoch != self.state.partition_epoch {
            return Err(error_code::INVALID_UPDATE_VERSION);
        }
        let fenced = |id: &ReplicaId| self.brokers.get(id).is_none_or(|b| b.fenced);
        let added_fenced = proposal
            .new_isr
            .iter()
            .any(|id| !self.state.isr.contains(id) && fenced(id));
        let replaced = proposal
            .isr_with_epochs()
            .any(|(id, epoch)| epoch != -1 && epoch != i64::from(self.incarnation(id)));
        if added_fenced || replaced || proposal.new_isr.is_empty() {
            return Err(INELIGIBLE_REPLICA);
        }
        self.state.isr = proposal.new_isr.clone();
        self.bump(false);
        Ok(self.state.clone())
    }
}

/// AlterPartition: a new member is fenced or shutting down.
const INELIGIBLE_REPLICA: i16 = 107;
