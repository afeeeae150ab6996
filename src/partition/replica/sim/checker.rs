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
//!
//! Retention deletes records below a leader's log start on purpose: a log
//! is checked from its own start, which must never pass the highest log
//! start a leader moved to (the deletion point: a replica starting above
//! it lost records), and a leader deletes only committed records. So every
//! committed record at or above the deletion point must be on any new
//! leader, and a follower that started over at a log start must hold the
//! committed history from there up to its high watermark.
//!
//! And exactly-once for idempotent producers, record by record (a batch's
//! records take consecutive sequences):
//! - no (producer id, epoch, sequence) is committed twice, and in each
//!   (producer id, epoch) the committed sequences run 0, 1, 2, ... with no
//!   gap;
//! - a producer's epochs never go down in the committed history: once a
//!   record of its epoch E + 1 is committed, none of an epoch <= E is
//!   committed after it (the partition fences older epochs);
//! - every replica's log below its high watermark is the committed history
//!   (so holds no duplicate either);
//! - at the end every record acknowledged (under any stamp) is committed,
//!   each acknowledged (producer id, epoch, sequence) exactly once (a record
//!   sent again after an epoch bump may be committed under both epochs:
//!   Kafka's at-least-once across a bump), and no producer is stuck: every
//!   batch it made more than [`PRODUCER_SETTLE_MS`] before the end is
//!   acknowledged.
//!
//! And leader-epoch fencing ([`zombie`]): a leader at a stale epoch
//! acknowledges only what the current leader holds, raises its high
//! watermark only over what the current ISR holds, and no produce is
//! appended under an epoch its client did not name.

mod zombie;

use super::client::SimClient;
use super::replica::SimReplica;
use super::{Entry, ProducerStamp, SETTLE_MS};
use crate::partition::replica::{PartitionState, ReplicaId};
use std::collections::BTreeMap;

/// With the faults over, a producer's record is acknowledged within this
/// long (the partition settles first: re-registrations, elections, ISR
/// expansions).
const PRODUCER_SETTLE_MS: u64 = SETTLE_MS / 2;

/// What one committed offset holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Committed {
    record: u64,
    stamp: ProducerStamp,
}

impl Committed {
    fn of(entry: &Entry) -> Self {
        Committed {
            record: entry.record,
            stamp: entry.stamp,
        }
    }
}

#[derive(Default)]
pub(super) struct Checker {
    /// What each committed offset holds.
    committed: Vec<Committed>,
    /// The committed offset of each (producer id, epoch, sequence).
    committed_sequences: BTreeMap<(i64, i16, i32), i64>,
    /// Each producer's last committed (epoch, sequence).
    last_sequences: BTreeMap<i64, (i16, i32)>,
    /// Each replica's log is known to be the committed history below this
    /// (by replica index).
    verified: Vec<i64>,
    /// High watermark of each (leader, epoch) last seen.
    leader_hw: BTreeMap<(ReplicaId, i32), i64>,
    /// Acknowledged appends: (offset, record).
    acked: Vec<(i64, u64)>,
    /// The highest log start a leader moved to: records below it may be
    /// deleted, none at or above it.
    deleted_below: i64,
    /// High watermark of each stale (leader, epoch) since first seen
    /// stale ([`zombie`]).
    stale_hw: BTreeMap<(ReplicaId, i32), i64>,
    /// Acks of stale leaders checked, and rises of their high watermarks.
    pub(super) stale_acks: u64,
    pub(super) stale_hw_advances: u64,
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
        self.holds_committed_from(replica, 0, upto)
    }

    /// Leader `id` deleted its records below `start`: committed ones only
    /// (Kafka never deletes past the high watermark).
    pub(super) fn records_deleted(&mut self, id: ReplicaId, start: i64) -> Result<(), String> {
        if start > self.committed.len() as i64 {
            return Err(format!(
                "leader {id} deleted records below {start}, past the committed history's end {}",
                self.committed.len()
            ));
        }
        self.deleted_below = self.deleted_below.max(start);
        Ok(())
    }

    /// `replica`'s log has the committed records in `from..upto` that are
    /// not deleted: from its log start, which is at most the deletion
    /// point.
    fn holds_committed_from(
        &self,
        replica: &SimReplica,
        from: usize,
        upto: usize,
    ) -> Result<(), String> {
        let start = replica.log.start();
        if start > self.deleted_below {
            return Err(format!(
                "log starts at {start}, past the deletion point {}: records lost",
                self.deleted_below
            ));
        }
        if replica.log.end() < upto as i64 {
            return Err(format!(
                "log ends at {} below committed offset {upto}",
                replica.log.end()
            ));
        }
        for offset in from.max(start as usize)..upto {
            let committed = self.committed[offset];
            let Some(entry) = replica.log.get(offset as i64) else {
                return Err(format!("offset {offset} missing"));
            };
            let held = Committed::of(entry);
            if held != committed {
                return Err(format!(
                    "offset {offset} holds {held:?} where {committed:?} was committed"
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
            if self.committed.get(offset as usize).map(|c| c.record) != Some(record) {
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
        // Below its log start it holds nothing to check (a deletion
        // passing uncommitted offsets shows as an offset committed out of
        // order).
        for offset in before.max(replica.log.start())..hw {
            let Some(entry) = replica.log.get(offset) else {
                return Err(format!(
                    "leader {}: high watermark {hw} past its log end",
                    replica.id
                ));
            };
            match self.committed.get(offset as usize) {
                Some(&committed) if committed != Committed::of(entry) => {
                    return Err(format!(
                        "offset {offset}: leader {} commits {:?} over committed {committed:?}",
                        replica.id,
                        Committed::of(entry)
                    ));
                }
                Some(_) => {}
                None if offset as usize == self.committed.len() => self.commit(offset, entry)?,
                None => return Err(format!("offset {offset} committed out of order")),
            }
        }
        Ok(())
    }

    /// `entry` is committed at `offset`, the next offset: its producer's
    /// epoch must not go down, and its sequence must be new and the next
    /// one in its epoch (0 for a new producer or a new epoch).
    fn commit(&mut self, offset: i64, entry: &Entry) -> Result<(), String> {
        let ProducerStamp {
            producer_id,
            producer_epoch: epoch,
            sequence,
        } = entry.stamp;
        let key = (producer_id, epoch, sequence);
        if let Some(first) = self.committed_sequences.get(&key) {
            return Err(format!(
                "producer {producer_id} epoch {epoch} sequence {sequence} committed twice: at \
                 offsets {first} and {offset} (record {})",
                entry.record
            ));
        }
        let next = match self.last_sequences.get(&producer_id) {
            Some(&(last_epoch, _)) if epoch < last_epoch => {
                return Err(format!(
                    "producer {producer_id}: epoch {epoch} committed at offset {offset} after \
                     epoch {last_epoch} (not fenced)"
                ));
            }
            Some(&(last_epoch, last)) if epoch == last_epoch => last + 1,
            _ => 0,
        };
        if sequence != next {
            return Err(format!(
                "producer {producer_id} epoch {epoch}: sequence {sequence} committed at offset \
                 {offset} where {next} is next"
            ));
        }
        self.committed_sequences.insert(key, offset);
        self.last_sequences.insert(producer_id, (epoch, sequence));
        self.committed.push(Committed::of(entry));
        Ok(())
    }

    /// Every live replica's log below its high watermark is the committed
    /// history (checked from where it was last known to be).
    fn committed_prefixes(&mut self, replicas: &[SimReplica]) -> Result<(), String> {
        self.verified.resize(replicas.len(), 0);
        for (index, replica) in replicas.iter().enumerate().filter(|(_, r)| r.alive) {
            let hw = replica.high_watermark().max(0);
            // Most events move no high watermark (and the log below one
            // changes only with it): nothing new to check.
            if hw == self.verified[index] {
                continue;
            }
            if hw as usize > self.committed.len() {
                return Err(format!(
                    "replica {}: high watermark {hw} past the committed history's end {}",
                    replica.id,
                    self.committed.len()
                ));
            }
            // A truncation or a crash cuts the high watermark with the log.
            let from = self.verified[index].min(hw);
            self.holds_committed_from(replica, from as usize, hw as usize)
                .map_err(|what| {
                    format!("replica {} below its high watermark: {what}", replica.id)
                })?;
            self.verified[index] = hw;
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
        self.committed_prefixes(replicas)?;
        self.stale_leaders(replicas, state)?;
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
            .filter(|&&(offset, record)| {
                self.committed.get(offset as usize).map(|c| c.record) != Some(record)
            })
            .count();
        if lost > 0 {
            return Err(format!("{lost} acknowledged record(s) lost"));
        }
        self.acked_exactly_once()
    }

    /// Every acknowledged record's stamp is in the committed history once
    /// (the record itself may be there under another epoch's stamp too).
    fn acked_exactly_once(&self) -> Result<(), String> {
        let mut copies: BTreeMap<ProducerStamp, usize> = BTreeMap::new();
        for committed in &self.committed {
            *copies.entry(committed.stamp).or_default() += 1;
        }
        for &(offset, record) in &self.acked {
            let Some(stamp) = self.committed.get(offset as usize).map(|c| c.stamp) else {
                return Err(format!(
                    "acknowledged record {record} (offset {offset}) lost"
                ));
            };
            let count = copies.get(&stamp).copied().unwrap_or(0);
            if count != 1 {
                return Err(format!(
                    "acknowledged record {record} (offset {offset}, {stamp:?}) committed \
                     {count} times"
                ));
            }
        }
        Ok(())
    }

    /// At the end (`now_ms`): no producer is stuck, every batch it made
    /// more than [`PRODUCER_SETTLE_MS`] ago is acknowledged (a retry loop
    /// the producer state cannot resolve, such as OUT_OF_ORDER_SEQUENCE
    /// for ever, or a partition that never settles, shows here).
    pub(super) fn producers_settled(
        &self,
        now_ms: u64,
        clients: &[SimClient],
    ) -> Result<(), String> {
        let settled_by_ms = now_ms.saturating_sub(PRODUCER_SETTLE_MS) as i64;
        for client in clients {
            if let Some(made_ms) = client.oldest_unacked_ms().filter(|&ms| ms < settled_by_ms) {
                return Err(format!(
                    "producer {} stuck: its record made at {made_ms} ms is not acknowledged",
                    client.producer_id()
                ));
            }
        }
        Ok(())
    }
}
