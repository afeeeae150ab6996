//! The invariants of replication, checked as the simulation runs:
//! - a leader's high watermark never decreases in its term;
//! - the current leader's high watermark never exceeds the durable offset of
//!   any member of the committed ISR;
//! - no offset ever holds two different committed records (every leader's
//!   log below its high watermark is the one committed history);
//! - a new leader's log holds every committed record (no acknowledged record
//!   is lost by a leader change from the ISR);
//! - at the end, with the faults over, there is a leader and every ISR
//!   member's log equals the committed history up to its high watermark.

use super::replica::SimReplica;
use crate::partition::replica::{PartitionState, ReplicaId};
use std::collections::BTreeMap;

#[derive(Default)]
pub(super) struct Checker {
    /// Record at each committed offset.
    committed: Vec<u64>,
    /// High watermark of each (leader, epoch) last seen.
    leader_hw: BTreeMap<(ReplicaId, i32), i64>,
    /// Acknowledged appends: (offset, record).
    acked: Vec<(i64, u64)>,
    failure: Option<String>,
}

impl Checker {
    pub(super) fn fail(&mut self, what: String) {
        self.failure.get_or_insert(what);
    }

    pub(super) fn take_failure(&mut self) -> Result<(), String> {
        match self.failure.take() {
            Some(what) => Err(what),
            None => Ok(()),
        }
    }

    /// A replica just became leader: it must hold the committed history.
    pub(super) fn new_leader(&self, replica: &SimReplica) -> Result<(), String> {
        self.holds_committed(replica, self.committed.len())
            .map_err(|what| format!("new leader {}: {what}", replica.id))
    }

    /// `replica`'s log has the committed records below `upto`.
    fn holds_committed(&self, replica: &SimReplica, upto: usize) -> Result<(), String> {
        if replica.log.len() < upto {
            return Err(format!(
                "log ends at {} below committed offset {upto}",
                replica.log.len()
            ));
        }
        for (offset, record) in self.committed.iter().enumerate().take(upto) {
            if replica.log[offset].record != *record {
                return Err(format!(
                    "offset {offset} holds record {} where {record} was committed",
                    replica.log[offset].record
                ));
            }
        }
        Ok(())
    }

    /// A leader acted: acks it gives must be committed.
    pub(super) fn leader_step(
        &mut self,
        replica: &SimReplica,
        acked: &[(i64, u64)],
    ) -> Result<(), String> {
        self.record_leader(replica)?;
        for &(offset, record) in acked {
            if self.committed.get(offset as usize) != Some(&record) {
                return Err(format!(
                    "leader {} acked record {record} at uncommitted offset {offset}",
                    replica.id
                ));
            }
            self.acked.push((offset, record));
        }
        Ok(())
    }

    /// A leader's high watermark: monotonic in its term, and what it covers
    /// is the committed history.
    fn record_leader(&mut self, replica: &SimReplica) -> Result<(), String> {
        let Some(leader) = replica.leader() else {
            return Ok(());
        };
        let hw = leader.high_watermark();
        let key = (replica.id, leader.leader_epoch());
        // A leader first seen is checked from what was committed before it.
        let first_seen = hw.min(self.committed.len() as i64);
        let before = self.leader_hw.get(&key).copied().unwrap_or(first_seen);
        if hw < before {
            return Err(format!(
                "leader {} at epoch {}: high watermark {before} -> {hw}",
                key.0, key.1
            ));
        }
        self.leader_hw.insert(key, hw);
        for offset in before.max(0)..hw {
            let Some(entry) = replica.log.get(offset as usize) else {
                return Err(format!(
                    "leader {}: high watermark {hw} past its log end",
                    replica.id
                ));
            };
            match self.committed.get(offset as usize) {
                Some(&record) if record != entry.record => {
                    return Err(format!(
                        "offset {offset}: leader {} commits record {} over committed {record}",
                        replica.id, entry.record
                    ));
                }
                Some(_) => {}
                None if offset as usize == self.committed.len() => {
                    self.committed.push(entry.record)
                }
                None => return Err(format!("offset {offset} committed out of order")),
            }
        }
        Ok(())
    }

    /// After every event.
    pub(super) fn every_step(
        &mut self,
        replicas: &[SimReplica],
        state: &PartitionState,
    ) -> Result<(), String> {
        for replica in replicas.iter().filter(|r| r.alive) {
            self.record_leader(replica)?;
        }
        let current = replicas
            .iter()
            .find(|r| r.alive && r.id == state.leader)
            .and_then(|r| {
                r.leader()
                    .filter(|l| l.leader_epoch() == state.leader_epoch)
            });
        if let Some(leader) = current {
            let hw = leader.high_watermark();
            for member in &state.isr {
                let durable = replicas[(*member - 1) as usize].durable;
                if hw > durable {
                    return Err(format!(
                        "high watermark {hw} of leader {} past ISR member {member}'s durable offset {durable}",
                        state.leader
                    ));
                }
            }
        }
        Ok(())
    }

    /// With the faults over and time to settle.
    pub(super) fn at_end(
        &mut self,
        replicas: &[SimReplica],
        state: &PartitionState,
    ) -> Result<(), String> {
        if state.leader < 0 {
            return Err("no leader after the faults stopped".to_string());
        }
        let leader = &replicas[(state.leader - 1) as usize];
        self.holds_committed(leader, self.committed.len())
            .map_err(|what| format!("leader {} at the end: {what}", state.leader))?;
        for member in &state.isr {
            let replica = &replicas[(*member - 1) as usize];
            let upto = (replica.high_watermark().max(0) as usize).min(self.committed.len());
            self.holds_committed(replica, upto)
                .map_err(|what| format!("ISR member {member} at the end: {what}"))?;
        }
        let lost = self
            .acked
            .iter()
            .filter(|&&(offset, record)| self.committed.get(offset as usize) != Some(&record))
            .count();
        match lost {
            0 => Ok(()),
            n => Err(format!("{n} acknowledged record(s) lost")),
        }
    }
}
