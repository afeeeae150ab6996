//! One simulated replica: a log of entries with an fsynced prefix, its
//! epoch cache, and the leader or follower state machine it runs.

use super::{Body, Entry, FETCH_ENTRIES_MAX, FETCH_TIMEOUT_MS};
use crate::partition::leader_epochs::LeaderEpochCache;
use crate::partition::replica::follower::FollowerReplica;
use crate::partition::replica::leader::{AckState, FetchAnswer, FollowerFetch, LeaderReplica};
use crate::partition::replica::{AlterPartitionProposal, PartitionState, ReplicaConfig, ReplicaId};

/// What a replica runs.
#[derive(Debug)]
pub(super) enum Role {
    /// Nothing: down, or not told its role yet.
    None,
    Leader(LeaderReplica),
    Follower(FollowerReplica),
}

pub(super) struct SimReplica {
    pub(super) id: ReplicaId,
    config: ReplicaConfig,
    pub(super) alive: bool,
    incarnation: u32,
    pub(super) log: Vec<Entry>,
    pub(super) epochs: LeaderEpochCache,
    /// Entries below this are fsynced.
    pub(super) durable: i64,
    /// The high watermark this replica knows (checkpointed: kept over a
    /// restart, cut to what survived).
    hw: i64,
    pub(super) role: Role,
    /// The newest partition state it was told.
    known: Option<PartitionState>,
    /// acks=all appends waiting: (offset, record).
    waiting: Vec<(i64, u64)>,
    /// Appends ready to acknowledge since the last take.
    acked: Vec<(i64, u64)>,
    /// Planted bug: report the log end as fsynced.
    lie_about_durability: bool,
    /// The number of the latest fetch sent, and when (while unanswered).
    fetch_seq: u64,
    fetch_sent_ms: Option<u64>,
}

impl SimReplica {
    pub(super) fn new(id: ReplicaId, config: ReplicaConfig, lie_about_durability: bool) -> Self {
        SimReplica {
            id,
            config,
            alive: true,
            incarnation: 0,
            log: Vec::new(),
            epochs: LeaderEpochCache::default(),
            durable: 0,
            hw: 0,
            role: Role::None,
            known: None,
            waiting: Vec::new(),
            acked: Vec::new(),
            lie_about_durability,
            fetch_seq: 0,
            fetch_sent_ms: None,
        }
    }

    fn log_end(&self) -> i64 {
        self.log.len() as i64
    }

    /// The high watermark it acts on.
    pub(super) fn high_watermark(&self) -> i64 {
        match &self.role {
            Role::Leader(leader) => leader.high_watermark(),
            Role::Follower(follower) => follower.high_watermark(),
            Role::None => self.hw,
        }
    }

    pub(super) fn leader(&self) -> Option<&LeaderReplica> {
        match &self.role {
            Role::Leader(leader) => Some(leader),
            _ => None,
        }
    }

    /// Loses the unsynced tail and every role.
    pub(super) fn crash(&mut self) {
        if !self.alive {
            return;
        }
        self.hw = self.high_watermark().min(self.durable);
        self.alive = false;
        self.log.truncate(self.durable as usize);
        self.epochs.truncate_from_end(self.durable);
        // The metadata it had is kept (it is durable on a broker): it acts
        // again only on a newer state, which the controller makes when it
        // sees the new incarnation.
        self.role = Role::None;
        self.waiting.clear();
    }

    pub(super) fn restart(&mut self, _now: u64) {
        if !self.alive {
            self.alive = true;
            self.incarnation += 1;
        }
    }

    pub(super) fn heartbeat(&self) -> Option<u32> {
        self.alive.then_some(self.incarnation)
    }

    /// A newer partition state: lead, follow, or stand by. Returns whether
    /// it became leader.
    pub(super) fn on_metadata(&mut self, now: u64, state: PartitionState, registered: u32) -> bool {
        let stale = self
            .known
            .as_ref()
            .is_some_and(|k| k.partition_epoch >= state.partition_epoch);
        if !self.alive || registered != self.incarnation || stale {
            return false;
        }
        self.known = Some(state.clone());
        let hw = self.high_watermark();
        if state.leader == self.id {
            if let Role::Leader(leader) = &mut self.role {
                if leader.leader_epoch() == state.leader_epoch {
                    leader.on_metadata(state);
                    return false;
                }
            }
            // Kafka's makeLeader: the new epoch starts at the log end.
            self.epochs.assign(state.leader_epoch, self.log_end());
            let offsets = (self.log_end(), self.durable, hw);
            self.waiting.clear();
            self.role = Role::Leader(LeaderReplica::new(
                self.id,
                self.config,
                state,
                offsets,
                now,
            ));
            return true;
        }
        self.waiting.clear();
        self.role = match state.leader >= 0 && state.replicas.contains(&self.id) {
            true => Role::Follower(FollowerReplica::new(
                self.id,
                state.leader,
                state.leader_epoch,
                hw,
            )),
            false => Role::None,
        };
        self.hw = hw;
        false
    }

    /// The follower's next fetch: (leader, request, its number).
    pub(super) fn next_fetch(&mut self, now: u64) -> Option<(ReplicaId, FollowerFetch, u64)> {
        let Role::Follower(follower) = &self.role else {
            return None;
        };
        // One fetch in flight; sent again once it is presumed lost.
        if self
            .fetch_sent_ms
            .is_some_and(|sent| now < sent + FETCH_TIMEOUT_MS)
        {
            return None;
        }
        self.fetch_sent_ms = Some(now);
        self.fetch_seq += 1;
        let durable = match self.lie_about_durability {
            true => self.log_end(),
            false => self.durable,
        };
        let fetch = follower.fetch(self.log_end(), durable, &self.epochs);
        Some((follower.leader(), fetch, self.fetch_seq))
    }

    /// Whether `seq` numbers its latest fetch: answers to earlier ones are
    /// stale (a TCP connection answers in order, and a follower keeps one
    /// fetch in flight, so it never acts on an older answer).
    pub(super) fn is_latest_fetch(&mut self, seq: u64) -> bool {
        let latest = seq == self.fetch_seq;
        if latest {
            self.fetch_sent_ms = None;
        }
        latest
    }

    /// The leader's answer to a follower's fetch, and an ISR proposal.
    pub(super) fn on_fetch(
        &mut self,
        now: u64,
        fetch: FollowerFetch,
        seq: u64,
    ) -> Option<(Body, Option<AlterPartitionProposal>)> {
        let Role::Leader(leader) = &mut self.role else {
            return None;
        };
        let (answer, proposal) = leader.on_fetch(now, fetch, &self.epochs, 0);
        let entries = match answer {
            FetchAnswer::Read { .. } => {
                let from = fetch.fetch_offset as usize;
                let to = self.log.len().min(from + FETCH_ENTRIES_MAX);
                self.log[from..to].to_vec()
            }
            _ => Vec::new(),
        };
        let reply = Body::FetchReply {
            seq,
            leader_epoch: leader.leader_epoch(),
            fetch_offset: fetch.fetch_offset,
            answer,
            entries,
        };
        Some((reply, proposal))
    }

    /// A leader's answer: append, truncate, or nothing. Returns whether it
    /// truncated.
    pub(super) fn on_fetch_reply(
        &mut self,
        leader_epoch: i32,
        fetch_offset: i64,
        answer: FetchAnswer,
        entries: &[Entry],
    ) -> bool {
        let log_end = self.log_end();
        let Role::Follower(follower) = &mut self.role else {
            return false;
        };
        // An answer to an older position or an older leader is stale.
        if leader_epoch != follower.leader_epoch() || fetch_offset != log_end {
            return false;
        }
        match answer {
            FetchAnswer::Read { high_watermark } => {
                for (i, entry) in entries.iter().enumerate() {
                    // Followers keep the leader's epochs (they would persist
                    // the checkpoint before appending a new one).
                    self.epochs.assign(entry.epoch, log_end + i as i64);
                    self.log.push(*entry);
                }
                follower.on_read(high_watermark, self.log.len() as i64);
                false
            }
            FetchAnswer::Diverging(end) => {
                let to = follower.truncation_offset(end, log_end, &self.epochs);
                self.log.truncate(to as usize);
                self.epochs.truncate_from_end(to);
                self.durable = self.durable.min(to);
                true
            }
            FetchAnswer::Refused(_) => false,
        }
    }

    /// A leader's ISR proposal answered.
    pub(super) fn on_alter_partition(
        &mut self,
        proposal: &AlterPartitionProposal,
        reply: Result<PartitionState, i16>,
    ) {
        if let Role::Leader(leader) = &mut self.role {
            if let Ok(state) = &reply {
                if self
                    .known
                    .as_ref()
                    .is_none_or(|k| k.partition_epoch < state.partition_epoch)
                {
                    self.known = Some(state.clone());
                }
            }
            leader.on_alter_partition(proposal, reply);
        }
    }

    /// The group commit: the whole log is fsynced.
    pub(super) fn flush(&mut self, _now: u64) -> Option<AlterPartitionProposal> {
        if !self.alive {
            return None;
        }
        self.durable = self.log_end();
        if let Role::Leader(leader) = &mut self.role {
            leader.on_durable(self.durable);
        }
        None
    }

    /// The leader's ISR check; acks that became ready are collected.
    pub(super) fn tick(&mut self, now: u64) -> Option<AlterPartitionProposal> {
        let Role::Leader(leader) = &mut self.role else {
            return None;
        };
        let proposal = leader.tick(now);
        let leader = &*leader;
        let mut still = Vec::new();
        for (offset, record) in self.waiting.drain(..) {
            match leader.ack_state(offset) {
                AckState::Pending => still.push((offset, record)),
                AckState::Ready => self.acked.push((offset, record)),
                AckState::NotEnoughReplicasAfterAppend => {}
            }
        }
        self.waiting = still;
        proposal
    }

    pub(super) fn take_acked(&mut self) -> Vec<(i64, u64)> {
        std::mem::take(&mut self.acked)
    }

    /// An acks=all record from the client: appended unless the ISR is under
    /// `min.insync.replicas` (NOT_ENOUGH_REPLICAS).
    pub(super) fn produce(&mut self, record: u64) {
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        if leader.check_append(true).is_err() {
            return;
        }
        let offset = self.log.len() as i64;
        self.log.push(super::Entry {
            epoch: leader.leader_epoch(),
            record,
        });
        leader.on_append(offset + 1);
        self.waiting.push((offset, record));
    }
}
