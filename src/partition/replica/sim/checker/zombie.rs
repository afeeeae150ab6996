//! The invariants of leader-epoch fencing (issue 13), for a leader that
//! acts at an epoch older than the controller's: one that woke from a
//! pause after a new leader was elected (a zombie, [`pause`]), or one the
//! new state has not reached yet.
//! - every record it acknowledges is in the current leader's log at the
//!   acknowledged offset (it acknowledges nothing it could not have
//!   replicated under its stale epoch);
//! - its high watermark rises only over records every member of the
//!   current ISR holds at the same offsets;
//! - no produce is appended under another leader epoch than the one its
//!   client named (KIP-320, modelled on Produce: `SimReplica::produce`).
//!
//! No two replicas' logs below their high watermarks differ (the other
//! invariant the brief names) is [`Checker::committed_prefixes`]: each is
//! the one committed history, zombies' included.
//!
//! [`pause`]: super::super::pause

use super::{Checker, Committed};
use crate::partition::replica::sim::replica::SimReplica;
use crate::partition::replica::PartitionState;

impl Checker {
    /// Leader `replica` acknowledged `acked` (offset, record): if its epoch
    /// is stale, the current leader holds each at its offset (unless
    /// deleted below its log start: only committed records are).
    pub(in crate::partition::replica::sim) fn stale_acks(
        &mut self,
        replica: &SimReplica,
        acked: &[(i64, u64)],
        replicas: &[SimReplica],
        state: &PartitionState,
    ) -> Result<(), String> {
        let Some(epoch) = replica.leader().map(|l| l.leader_epoch()) else {
            return Ok(());
        };
        if epoch >= state.leader_epoch || state.leader < 0 {
            return Ok(());
        }
        let current = &replicas[(state.leader - 1) as usize];
        for &(offset, record) in acked {
            self.stale_acks += 1;
            if offset < current.log.start() {
                continue;
            }
            let held = current.log.get(offset).map(|e| e.record);
            if held != Some(record) {
                return Err(format!(
                    "leader {} at stale epoch {epoch} (controller's {}) acked record {record} at \
                     offset {offset}, where leader {} holds {held:?}",
                    replica.id, state.leader_epoch, state.leader
                ));
            }
        }
        Ok(())
    }

    /// Every leader at an epoch older than the controller's: its high
    /// watermark rises only over what each current ISR member holds.
    pub(super) fn stale_leaders(
        &mut self,
        replicas: &[SimReplica],
        state: &PartitionState,
    ) -> Result<(), String> {
        for replica in replicas.iter().filter(|r| r.alive) {
            let Some(leader) = replica.leader() else {
                continue;
            };
            let epoch = leader.leader_epoch();
            if epoch >= state.leader_epoch {
                continue;
            }
            let hw = leader.high_watermark();
            let key = (replica.id, epoch);
            // Checked from where it stood when first seen stale.
            let before = *self.stale_hw.entry(key).or_insert(hw);
            if hw <= before {
                continue;
            }
            self.stale_hw_advances += 1;
            for &member in &state.isr {
                let holder = &replicas[(member - 1) as usize];
                let from = before.max(holder.log.start()).max(replica.log.start());
                for offset in from..hw {
                    let held = holder.log.get(offset).map(Committed::of);
                    let ours = replica.log.get(offset).map(Committed::of);
                    if held != ours {
                        return Err(format!(
                            "stale leader {} at epoch {epoch} (controller's {}): high watermark \
                             {before} -> {hw}, but ISR member {member} holds {held:?} at offset \
                             {offset} where it holds {ours:?}",
                            replica.id, state.leader_epoch
                        ));
                    }
                }
            }
            self.stale_hw.insert(key, hw);
        }
        Ok(())
    }

    /// Leader `id` appended a produce its client sent under
    /// `request_epoch`, at leader epoch `appended_epoch`: the same.
    pub(in crate::partition::replica::sim) fn append_epoch(
        &self,
        id: i32,
        request_epoch: i32,
        appended_epoch: i32,
    ) -> Result<(), String> {
        if request_epoch != appended_epoch {
            return Err(format!(
                "leader {id} appended a produce sent under leader epoch {request_epoch} at \
                 epoch {appended_epoch}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::replica::leader::LeaderReplica;
    use crate::partition::replica::sim::replica::Role;
    use crate::partition::replica::sim::{Entry, Options, ProducerStamp};
    use crate::partition::replica::ReplicaConfig;

    /// The partition's state at `leader_epoch` with `leader` and `isr`.
    fn state(leader: i32, leader_epoch: i32, isr: Vec<i32>) -> PartitionState {
        PartitionState {
            leader,
            leader_epoch,
            partition_epoch: leader_epoch,
            replicas: vec![1, 2, 3],
            isr,
        }
    }

    /// Replica `id` holding records `records` (offsets from 0) at `epoch`.
    fn replica(id: i32, epoch: i32, records: &[u64]) -> SimReplica {
        let mut replica = SimReplica::new(id, ReplicaConfig::default(), Options::default());
        for (sequence, &record) in records.iter().enumerate() {
            replica.log.push(Entry {
                epoch,
                record,
                stamp: ProducerStamp {
                    producer_id: 1_000,
                    producer_epoch: 0,
                    sequence: sequence as i32,
                },
                timestamp_ms: 0,
                batch_index: 0,
                batch_records: 1,
            });
        }
        replica
    }

    /// `replica` leads at `epoch` with its high watermark at `hw`.
    fn leading(mut replica: SimReplica, epoch: i32, hw: i64) -> SimReplica {
        let end = replica.log.end();
        let state = state(replica.id, epoch, vec![1, 2, 3]);
        let leader = LeaderReplica::new(
            replica.id,
            ReplicaConfig::default(),
            state,
            (end, end, hw),
            0,
        );
        replica.role = Role::Leader(leader);
        replica
    }

    /// A zombie (leader 1 at epoch 0, the controller at epoch 1 with leader
    /// 2): its high watermark may rise over what the ISR holds, not past
    /// where the new leader's log differs.
    #[test]
    fn a_stale_leaders_high_watermark_rises_only_over_what_the_isr_holds() {
        let now = state(2, 1, vec![2, 3]);
        let mut checker = Checker::default();
        let replicas = |hw| {
            [
                leading(replica(1, 0, &[10, 11, 99]), 0, hw),
                replica(2, 0, &[10, 11, 12]),
                replica(3, 0, &[10, 11, 12]),
            ]
        };
        checker.stale_leaders(&replicas(1), &now).unwrap();
        checker.stale_leaders(&replicas(2), &now).unwrap();
        assert_eq!(checker.stale_hw_advances, 1);
        let what = checker.stale_leaders(&replicas(3), &now).unwrap_err();
        assert!(what.contains("offset 2"), "{what}");
    }

    /// A zombie's ack is checked against the new leader's log.
    #[test]
    fn a_stale_leader_acks_only_what_the_new_leader_holds() {
        let now = state(2, 1, vec![2, 3]);
        let zombie = leading(replica(1, 0, &[10, 11, 99]), 0, 3);
        let replicas = [
            replica(1, 0, &[]),
            replica(2, 0, &[10, 11]),
            replica(3, 0, &[]),
        ];
        let mut checker = Checker::default();
        checker
            .stale_acks(&zombie, &[(1, 11)], &replicas, &now)
            .unwrap();
        let what = checker
            .stale_acks(&zombie, &[(2, 99)], &replicas, &now)
            .unwrap_err();
        assert!(what.contains("acked record 99"), "{what}");
        // A leader at the controller's epoch is not stale: not checked here.
        let current = leading(replica(2, 1, &[10, 11]), 1, 2);
        checker
            .stale_acks(&current, &[(5, 7)], &replicas, &now)
            .unwrap();
    }
}
