//! The leader side of a partition's replication (Kafka's `Partition` as
//! leader, with millrace's durability rule): what each follower has fetched
//! and fsynced, the high watermark over the in-sync replicas, and the ISR
//! changes to propose.

use super::{AlterPartitionProposal, PartitionState, ReplicaConfig, ReplicaId};
use crate::partition::leader_epochs::{
    check_current_epoch, divergence, EpochEnd, LeaderEpochCache,
};
use crate::protocol::error_code;
use std::collections::BTreeMap;

/// A follower's fetch, as the leader needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerFetch {
    /// The fetching replica.
    pub replica: ReplicaId,
    /// The leader epoch it believes current (KIP-320; -1: no check).
    pub current_leader_epoch: i32,
    /// Its log end offset: where it reads from.
    pub fetch_offset: i64,
    /// The epoch of its last batch (-1: an empty log).
    pub last_fetched_epoch: i32,
    /// What of its log is fsynced (millrace: the high watermark counts only
    /// this).
    pub durable_offset: i64,
}

/// What the leader answers a follower's fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchAnswer {
    /// Read from `fetch_offset`, with this high watermark.
    Read {
        /// The high watermark after this fetch counted.
        high_watermark: i64,
    },
    /// The follower's log diverges: it truncates to this epoch's end.
    Diverging(EpochEnd),
    /// Refused with this Kafka error code (epoch fenced or unknown, not a
    /// replica, offset out of range); nothing was recorded.
    Refused(i16),
}

/// Whether an acks=all append can be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckState {
    /// Not replicated (durably) to the ISR yet.
    Pending,
    /// Below the high watermark with enough in-sync replicas: acknowledge.
    Ready,
    /// Below the high watermark, but the ISR shrank below
    /// `min.insync.replicas`: NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    NotEnoughReplicasAfterAppend,
}

/// What the leader knows of one follower.
#[derive(Clone, Copy, Debug)]
struct Progress {
    /// Its log end offset, verified against this leader's log (-1 before
    /// its first fetch in this leader's term).
    log_end_offset: i64,
    /// Its fsynced offset, at most `log_end_offset`.
    durable_offset: i64,
    /// The last time it had everything the leader had.
    last_caught_up_ms: u64,
    /// The leader's log end offset at its previous fetch, and when.
    previous_fetch: (i64, u64),
}

/// The leader of one partition.
#[derive(Debug)]
pub struct LeaderReplica {
    id: ReplicaId,
    config: ReplicaConfig,
    /// As the controller last committed it (this leader's epoch).
    state: PartitionState,
    /// An ISR change sent and not known to have committed or failed yet
    /// (one at a time): the high watermark counts the members it adds.
    pending: Option<AlterPartitionProposal>,
    /// The pending change's answer was lost or ambiguous: it goes out again
    /// at the next [`LeaderReplica::tick`] (Kafka's AlterPartitionManager
    /// re-sends it the same way).
    resend: bool,
    followers: BTreeMap<ReplicaId, Progress>,
    log_end_offset: i64,
    durable_offset: i64,
    high_watermark: i64,
    /// Its log end offset when it became leader: everything committed is
    /// below it (Kafka's `leaderEpochStartOffset`).
    epoch_start_offset: i64,
    /// The latest time it was told (a replica added by a reassignment
    /// starts caught up as of then).
    now_ms: u64,
}

impl LeaderReplica {
    /// Becomes leader of `state` (which names `id` leader) at `now_ms`, with
    /// its log ending at `log_end_offset`, fsynced to `durable_offset`, and
    /// the high watermark it knew. Followers start unverified and caught up
    /// as of now (Kafka's `makeLeader`): each gets the lag time to fetch.
    pub fn new(
        id: ReplicaId,
        config: ReplicaConfig,
        state: PartitionState,
        offsets: (i64, i64, i64),
        now_ms: u64,
    ) -> Self {
        let (log_end_offset, durable_offset, high_watermark) = offsets;
        let followers = state
            .replicas
            .iter()
            .filter(|&&r| r != id)
            .map(|&r| (r, Progress::unverified(now_ms)))
            .collect();
        LeaderReplica {
            id,
            config,
            state,
            pending: None,
            resend: false,
            followers,
            log_end_offset,
            durable_offset,
            high_watermark: high_watermark.min(durable_offset),
            epoch_start_offset: log_end_offset,
            now_ms,
        }
    }

    /// The leader epoch it leads at.
    pub fn leader_epoch(&self) -> i32 {
        self.state.leader_epoch
    }

    /// Its log end offset when it became leader (Kafka's
    /// `leaderEpochStartOffset`): everything committed before is below it.
    pub fn epoch_start_offset(&self) -> i64 {
        self.epoch_start_offset
    }

    /// The committed partition state it knows.
    pub fn state(&self) -> &PartitionState {
        &self.state
    }

    /// The ISR change in flight, if any.
    pub fn pending(&self) -> Option<&AlterPartitionProposal> {
        self.pending.as_ref()
    }

    /// The high watermark: below it every record is fsynced on every
    /// member of the maximal ISR.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Before an append: acks=all needs `min.insync.replicas` in the ISR
    /// (NOT_ENOUGH_REPLICAS otherwise, nothing appended).
    pub fn check_append(&self, acks_all: bool) -> Result<(), i16> {
        match acks_all && self.state.isr.len() < self.config.min_insync_replicas {
            true => Err(error_code::NOT_ENOUGH_REPLICAS),
            false => Ok(()),
        }
    }

    /// Whether an acks=all append ending at `last_offset` can be answered
    /// (Kafka's `checkEnoughReplicasReachOffset`).
    pub fn ack_state(&self, last_offset: i64) -> AckState {
        if self.high_watermark <= last_offset {
            AckState::Pending
        } else if self.state.isr.len() < self.config.min_insync_replicas {
            AckState::NotEnoughReplicasAfterAppend
        } else {
            AckState::Ready
        }
    }

    /// Its own log grew to `log_end_offset`.
    pub fn on_append(&mut self, log_end_offset: i64) {
        self.log_end_offset = log_end_offset;
    }

    /// Its own log is fsynced to `durable_offset`.
    pub fn on_durable(&mut self, durable_offset: i64) {
        self.durable_offset = durable_offset.min(self.log_end_offset);
        self.maybe_advance_high_watermark();
    }

    /// A follower's fetch at `now_ms`, against this leader's epochs: the
    /// epoch checked, divergence answered before anything is recorded (a
    /// diverging log's offsets mean nothing here), then its progress
    /// recorded, the ISR expansion it earns proposed, the high watermark
    /// advanced.
    pub fn on_fetch(
        &mut self,
        now_ms: u64,
        fetch: FollowerFetch,
        epochs: &LeaderEpochCache,
        log_start_offset: i64,
    ) -> (FetchAnswer, Option<AlterPartitionProposal>) {
        self.now_ms = self.now_ms.max(now_ms);
        if let Err(mismatch) = check_current_epoch(fetch.current_leader_epoch, self.leader_epoch())
        {
            return (FetchAnswer::Refused(mismatch.wire_error_code()), None);
        }
        if !self.followers.contains_key(&fetch.replica) {
            return (
                FetchAnswer::Refused(error_code::NOT_LEADER_OR_FOLLOWER),
                None,
            );
        }
        let diverging = divergence(
            epochs,
            log_start_offset,
            self.log_end_offset,
            fetch.last_fetched_epoch,
            fetch.fetch_offset,
        );
        match diverging {
            Err(code) => return (FetchAnswer::Refused(code), None),
            Ok(Some(end)) => return (FetchAnswer::Diverging(end), None),
            Ok(None) => {}
        }
        if fetch.fetch_offset > self.log_end_offset {
            return (FetchAnswer::Refused(error_code::OFFSET_OUT_OF_RANGE), None);
        }
        self.record_progress(now_ms, fetch);
        self.maybe_advance_high_watermark();
        let proposal = self.maybe_expand(fetch.replica);
        let answer = FetchAnswer::Read {
            high_watermark: self.high_watermark,
        };
        (answer, proposal)
    }

    /// Kafka's `updateFollowerFetchState`: caught up now if it has all the
    /// leader has, or as of its previous fetch if it has what the leader had
    /// then.
    fn record_progress(&mut self, now_ms: u64, fetch: FollowerFetch) {
        let log_end_offset = self.log_end_offset;
        let Some(progress) = self.followers.get_mut(&fetch.replica) else {
            return;
        };
        let (previous_end, previous_ms) = progress.previous_fetch;
        if fetch.fetch_offset >= log_end_offset {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(now_ms);
        } else if fetch.fetch_offset >= previous_end {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(previous_ms);
        }
        progress.previous_fetch = (log_end_offset, now_ms);
        progress.log_end_offset = fetch.fetch_offset;
        // A verified follower never truncates again in this term and a
        // restart keeps what was fsynced: its durable offset only grows, so
        // a fetch overtaken by a later one changes nothing.
        let durable = fetch.durable_offset.min(fetch.fetch_offset);
        progress.durable_offset = progress.durable_offset.max(durable);
    }

    /// A follower outside the ISR joins once it has fsynced everything below
    /// the high watermark and this leader's epoch start offset: it could
    /// then lead without losing an acknowledged record. The start offset
    /// matters: a new leader's high watermark may lag what earlier leaders
    /// committed (the simulator's seed 2098 let a follower join below it).
    fn maybe_expand(&mut self, replica: ReplicaId) -> Option<AlterPartitionProposal> {
        if self.pending.is_some() || self.state.isr.contains(&replica) {
            return None;
        }
        let progress = self.followers.get(&replica)?;
        let needed = self.high_watermark.max(self.epoch_start_offset);
        if progress.durable_offset < needed || progress.log_end_offset < 0 {
            return None;
        }
        let mut new_isr = self.state.isr.clone();
        new_isr.push(replica);
        new_isr.sort_unstable();
        Some(self.propose(new_isr))
    }

    /// Each follower's lag at `now_ms`, as this leader sees it: (follower,
    /// records between its log end and this one's, ms since it was last
    /// caught up: Kafka's `lastCaughtUpTimeMs`). A follower that has not
    /// fetched in this term lags by the whole log.
    pub fn follower_lags(&self, now_ms: u64) -> Vec<(ReplicaId, i64, u64)> {
        self.followers
            .iter()
            .map(|(&replica, progress)| {
                let records = (self.log_end_offset - progress.log_end_offset.max(0)).max(0);
                let ms = now_ms.saturating_sub(progress.last_caught_up_ms);
                (replica, records, ms)
            })
            .collect()
    }

    /// At `now_ms`: the pending change again when its answer was lost or
    /// ambiguous; else followers of the ISR out of sync (Kafka's
    /// `getOutOfSyncReplicas`: not caught up for longer than
    /// `replica.lag.time.max.ms`, [`Progress::in_sync`]) are proposed out of
    /// it.
    pub fn tick(&mut self, now_ms: u64) -> Option<AlterPartitionProposal> {
        self.now_ms = self.now_ms.max(now_ms);
        if self.pending.is_some() {
            return self.take_resend();
        }
        let (end, lag_max_ms) = (self.log_end_offset, self.config.replica_lag_time_max_ms);
        let lagging = |r: &ReplicaId| {
            self.followers
                .get(r)
                .is_some_and(|p| !p.in_sync(end, now_ms, lag_max_ms))
        };
        if !self.state.isr.iter().any(lagging) {
            return None;
        }
        let new_isr: Vec<ReplicaId> = self
            .state
            .isr
            .iter()
            .copied()
            .filter(|r| !lagging(r))
            .collect();
        Some(self.propose(new_isr))
    }

    /// The pending proposal, once, when it is to go out again.
    fn take_resend(&mut self) -> Option<AlterPartitionProposal> {
        match std::mem::take(&mut self.resend) {
            true => self.pending.clone(),
            false => None,
        }
    }

    fn propose(&mut self, new_isr: Vec<ReplicaId>) -> AlterPartitionProposal {
        let proposal = AlterPartitionProposal {
            leader_epoch: self.state.leader_epoch,
            partition_epoch: self.state.partition_epoch,
            new_isr,
        };
        self.pending = Some(proposal.clone());
        self.resend = false;
        proposal
    }

    /// The controller's answer to `proposal`: `Ok` with the committed state
    /// (adopted if it is this leader's term and newer), or a Kafka error
    /// code. Only the answer to the pending proposal ends it: an answer to
    /// an older one (late or duplicated) must not, or the high watermark
    /// would stop counting a member the pending change may still add (Kafka
    /// matches the answer to its proposal the same way).
    ///
    /// An error ends the pending change only when the controller says it
    /// was not applied (INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED). Any
    /// other may hide a commit (a lost answer, a retry refused because the
    /// first attempt committed, NEW_LEADER_ELECTED's committed move), so the
    /// high watermark keeps counting the member it adds, or it could
    /// acknowledge records that member lacks and the controller may elect
    /// it (Kafka's `Partition.handleAlterPartitionError`): a refusal that
    /// names newer metadata waits for it ([`LeaderReplica::on_metadata`]
    /// ends the change, a new term drops this leader); the rest (no
    /// controller, timeouts) go out again at the next tick, so a leader
    /// never waits for ever on an answer that was lost.
    pub fn on_alter_partition(
        &mut self,
        proposal: &AlterPartitionProposal,
        committed: Result<PartitionState, i16>,
    ) {
        if self.pending.as_ref() == Some(proposal) {
            match committed {
                Ok(_) => self.pending = None,
                Err(code) => self.on_alter_partition_error(code),
            }
        }
        if let Ok(state) = committed {
            self.on_metadata(state);
        }
    }

    /// The pending change was refused with `code`
    /// ([`LeaderReplica::on_alter_partition`]).
    fn on_alter_partition_error(&mut self, code: i16) {
        match code {
            error_code::INELIGIBLE_REPLICA | error_code::OPERATION_NOT_ATTEMPTED => {
                self.pending = None;
                // The ISR counted is the committed one again.
                self.maybe_advance_high_watermark();
            }
            error_code::FENCED_LEADER_EPOCH
            | error_code::INVALID_UPDATE_VERSION
            | error_code::UNKNOWN_TOPIC_OR_PARTITION
            | error_code::UNKNOWN_TOPIC_ID
            | error_code::INVALID_REQUEST
            | error_code::NEW_LEADER_ELECTED => {}
            _ => self.resend = true,
        }
    }

    /// A committed state from the controller's metadata: adopted when it
    /// is this leader's epoch and newer than what it has. A pending
    /// proposal based on an older partition epoch can no longer commit.
    /// Replicas a reassignment adds become followers, unverified.
    pub fn on_metadata(&mut self, state: PartitionState) {
        let same_term = state.leader == self.id && state.leader_epoch == self.state.leader_epoch;
        if !same_term || state.partition_epoch <= self.state.partition_epoch {
            return;
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.partition_epoch < state.partition_epoch)
        {
            self.pending = None;
            self.resend = false;
        }
        let now_ms = self.now_ms;
        for &replica in state.replicas.iter().filter(|&&r| r != self.id) {
            self.followers
                .entry(replica)
                .or_insert_with(|| Progress::unverified(now_ms));
        }
        self.followers.retain(|r, _| state.replicas.contains(r));
        self.state = state;
        self.maybe_advance_high_watermark();
    }

    /// The ISR the high watermark counts: the committed one plus any member
    /// a pending expansion adds (Kafka's maximal ISR), so an ISR change in
    /// flight never lets the watermark pass a replica that may be in it.
    fn maximal_isr(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        let pending = self.pending.iter().flat_map(|p| p.new_isr.iter());
        let added = pending.filter(|r| !self.state.isr.contains(r));
        self.state.isr.iter().chain(added).copied()
    }

    /// Advances the high watermark to the least durable offset over the
    /// maximal ISR (the leader's own included), never below its value and
    /// never while the ISR is under `min.insync.replicas`.
    fn maybe_advance_high_watermark(&mut self) {
        if self.state.isr.len() < self.config.min_insync_replicas {
            return;
        }
        let mut candidate = self.durable_offset;
        for replica in self.maximal_isr() {
            if replica == self.id {
                continue;
            }
            let durable = self
                .followers
                .get(&replica)
                .map_or(-1, |p| p.durable_offset);
            candidate = candidate.min(durable);
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
        }
    }
}

impl Progress {
    fn unverified(now_ms: u64) -> Self {
        Progress {
            log_end_offset: -1,
            durable_offset: -1,
            last_caught_up_ms: now_ms,
            previous_fetch: (i64::MAX, now_ms),
        }
    }

    /// Kafka's `Replica.isCaughtUp` at `now_ms`: it has everything the
    /// leader has (here: fsynced, as the high watermark counts only that, so
    /// a silent follower holding the watermark back still leaves), or it had
    /// within `lag_max_ms`. A follower with everything stays however long it
    /// is silent, as in Kafka: an idle partition's ISR does not churn, and a
    /// stopped broker leaves when the controller fences it.
    fn in_sync(&self, leader_end_offset: i64, now_ms: u64, lag_max_ms: u64) -> bool {
        self.durable_offset >= leader_end_offset
            || now_ms.saturating_sub(self.last_caught_up_ms) <= lag_max_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG_MS: u64 = 1000;

    fn leader(isr: &[ReplicaId], min_isr: usize) -> LeaderReplica {
        leader_lagging_after(isr, min_isr, LAG_MS)
    }

    /// Leader 1 of replicas [1, 2, 3] with this `replica.lag.time.max.ms`.
    fn leader_lagging_after(isr: &[ReplicaId], min_isr: usize, lag_ms: u64) -> LeaderReplica {
        let config = ReplicaConfig {
            min_insync_replicas: min_isr,
            replica_lag_time_max_ms: lag_ms,
        };
        let state = PartitionState {
            leader: 1,
            leader_epoch: 3,
            partition_epoch: 10,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
        };
        LeaderReplica::new(1, config, state, (0, 0, 0), 0)
    }

    fn epochs() -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::default();
        cache.assign(3, 0);
        cache
    }

    fn fetch(replica: ReplicaId, offset: i64, durable: i64) -> FollowerFetch {
        FollowerFetch {
            replica,
            current_leader_epoch: 3,
            fetch_offset: offset,
            last_fetched_epoch: if offset > 0 { 3 } else { -1 },
            durable_offset: durable,
        }
    }

    #[test]
    fn the_high_watermark_is_the_least_durable_offset_over_the_isr() {
        let mut l = leader(&[1, 2, 3], 2);
        l.on_append(10);
        l.on_durable(10);
        assert_eq!(l.high_watermark(), 0, "followers not heard from");
        l.on_fetch(1, fetch(2, 10, 4), &epochs(), 0);
        assert_eq!(l.high_watermark(), 0, "follower 3 not heard from");
        let (answer, _) = l.on_fetch(2, fetch(3, 8, 6), &epochs(), 0);
        assert_eq!(answer, FetchAnswer::Read { high_watermark: 4 });
        assert_eq!(l.ack_state(3), AckState::Ready);
        assert_eq!(l.ack_state(4), AckState::Pending);
    }

    #[test]
    fn the_isr_changes_only_through_the_controller() {
        let mut l = leader(&[1, 2, 3], 2);
        l.on_append(10);
        l.on_durable(10);
        l.on_fetch(100, fetch(2, 10, 10), &epochs(), 0);
        let shrink = l.tick(100 + LAG_MS).expect("follower 3 lags");
        assert_eq!(shrink.new_isr, vec![1, 2]);
        assert_eq!(l.state().isr, vec![1, 2, 3], "not applied alone");
        assert_eq!(l.tick(5000), None, "one proposal at a time");
        let older = AlterPartitionProposal {
            new_isr: vec![1],
            ..shrink.clone()
        };
        l.on_alter_partition(&older, Err(error_code::INELIGIBLE_REPLICA));
        assert!(l.pending().is_some(), "an answer to another proposal");
        // A lost answer: the same change goes out again, once.
        l.on_alter_partition(&shrink, Err(error_code::NOT_CONTROLLER));
        assert_eq!(l.tick(5000), Some(shrink.clone()), "sent again");
        assert_eq!(l.tick(5000), None, "once per answer");
        // The retry is refused as stale: the first attempt may have
        // committed, so it stays pending until the metadata says.
        l.on_alter_partition(&shrink, Err(error_code::INVALID_UPDATE_VERSION));
        assert_eq!(l.pending(), Some(&shrink));
        assert_eq!(l.tick(5000), None, "waits for the metadata");
        let committed = PartitionState {
            isr: vec![1, 2],
            partition_epoch: 11,
            ..l.state().clone()
        };
        l.on_metadata(committed);
        assert_eq!(l.pending(), None);
        assert_eq!(l.state().isr, vec![1, 2]);
        assert_eq!(l.high_watermark(), 10);
        // Follower 3 comes back: it joins once it has fsynced the watermark.
        let (_, none) = l.on_fetch(6000, fetch(3, 10, 9), &epochs(), 0);
        assert_eq!(none, None);
        let (_, expand) = l.on_fetch(6001, fetch(3, 10, 10), &epochs(), 0);
        assert_eq!(expand.expect("caught up").new_isr, vec![1, 2, 3]);
    }

    /// Kafka's `Replica.isCaughtUp` with the configured lag: a follower of
    /// the ISR leaves once it has not had everything the leader has for
    /// longer than `replica.lag.time.max.ms`, not sooner.
    #[test]
    fn a_follower_behind_leaves_the_isr_after_the_configured_lag() {
        const LAG_3S_MS: u64 = 3_000;
        let mut l = leader_lagging_after(&[1, 2, 3], 1, LAG_3S_MS);
        l.on_append(10);
        l.on_durable(10);
        l.on_fetch(100, fetch(2, 10, 10), &epochs(), 0);
        l.on_fetch(100, fetch(3, 10, 10), &epochs(), 0);
        // The log grows; follower 2 keeps up, follower 3 stops fetching.
        l.on_append(11);
        l.on_durable(11);
        l.on_fetch(2_000, fetch(2, 11, 11), &epochs(), 0);
        assert_eq!(l.tick(100 + LAG_3S_MS), None, "behind for exactly the lag");
        let shrink = l
            .tick(101 + LAG_3S_MS)
            .expect("follower 3 is behind past the lag");
        assert_eq!(shrink.new_isr, vec![1, 2]);
    }

    /// As in Kafka, a follower with everything the leader has stays in the
    /// ISR however long it is silent (an idle partition's ISR does not
    /// churn; a stopped broker leaves when fenced). Millrace counts what it
    /// has fsynced: one whose fsync it never reported holds the high
    /// watermark back, so it leaves after the lag.
    #[test]
    fn a_silent_follower_with_everything_fsynced_stays_in_the_isr() {
        let mut l = leader(&[1, 2, 3], 1);
        l.on_append(10);
        l.on_durable(10);
        l.on_fetch(100, fetch(2, 10, 10), &epochs(), 0);
        l.on_fetch(100, fetch(3, 10, 9), &epochs(), 0);
        assert_eq!(l.high_watermark(), 9);
        let shrink = l.tick(100 + 10 * LAG_MS).expect("3 has not fsynced it all");
        assert_eq!(shrink.new_isr, vec![1, 2], "2 has everything fsynced");
    }

    #[test]
    fn min_insync_replicas_guards_appends_acks_and_the_watermark() {
        let mut l = leader(&[1], 2);
        assert_eq!(l.check_append(true), Err(error_code::NOT_ENOUGH_REPLICAS));
        assert_eq!(l.check_append(false), Ok(()));
        l.on_append(5);
        l.on_durable(5);
        assert_eq!(l.high_watermark(), 0, "never advances under min ISR");
        let mut l = leader(&[1, 2], 2);
        l.on_append(5);
        l.on_durable(5);
        l.on_fetch(1, fetch(2, 5, 5), &epochs(), 0);
        assert_eq!(l.high_watermark(), 5);
        let shrunk = PartitionState {
            isr: vec![1],
            partition_epoch: 11,
            ..l.state().clone()
        };
        l.on_metadata(shrunk);
        assert_eq!(l.ack_state(4), AckState::NotEnoughReplicasAfterAppend);
    }

    #[test]
    fn a_replica_a_reassignment_adds_fetches_and_joins_once_caught_up() {
        let mut l = leader(&[1, 2, 3], 2);
        l.on_append(10);
        l.on_durable(10);
        l.on_fetch(1, fetch(2, 10, 10), &epochs(), 0);
        l.on_fetch(1, fetch(3, 10, 10), &epochs(), 0);
        let (refused, _) = l.on_fetch(2, fetch(4, 0, 0), &epochs(), 0);
        assert_eq!(
            refused,
            FetchAnswer::Refused(error_code::NOT_LEADER_OR_FOLLOWER)
        );
        let adding = PartitionState {
            replicas: vec![1, 2, 4, 3],
            partition_epoch: 11,
            ..l.state().clone()
        };
        l.on_metadata(adding);
        let (read, none) = l.on_fetch(3, fetch(4, 0, 0), &epochs(), 0);
        assert!(matches!(read, FetchAnswer::Read { .. }), "{read:?}");
        assert_eq!(none, None, "not caught up yet");
        assert_eq!(
            l.high_watermark(),
            10,
            "an added replica holds nothing back"
        );
        let (_, expand) = l.on_fetch(4, fetch(4, 10, 10), &epochs(), 0);
        assert_eq!(expand.expect("caught up").new_isr, vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_completed_move_that_takes_leadership_keeps_counting_the_new_replica() {
        let mut l = leader(&[1], 1);
        let moving = PartitionState {
            replicas: vec![4, 1],
            partition_epoch: 11,
            ..l.state().clone()
        };
        l.on_metadata(moving);
        l.on_append(10);
        l.on_durable(10);
        let (_, expand) = l.on_fetch(1, fetch(4, 6, 6), &epochs(), 0);
        assert_eq!(expand, None, "below the high watermark");
        l.on_append(20);
        l.on_durable(20);
        assert_eq!(l.high_watermark(), 20, "replica 4 is not in the ISR yet");
        let (_, expand) = l.on_fetch(3, fetch(4, 20, 20), &epochs(), 0);
        let proposal = expand.expect("caught up");
        l.on_append(30);
        l.on_durable(30);
        l.on_alter_partition(&proposal, Err(error_code::NEW_LEADER_ELECTED));
        assert_eq!(l.pending(), Some(&proposal));
        assert_eq!(
            l.high_watermark(),
            20,
            "never past what the new leader has: it may never get the rest"
        );
    }

    /// Leader 1 of ISR [1, 2] at offset 20 (durable), follower 3 caught up
    /// to 10 and proposed into the ISR, the proposal not answered yet.
    fn leader_expanding_to_3() -> (LeaderReplica, AlterPartitionProposal) {
        let mut l = leader(&[1, 2], 1);
        l.on_append(10);
        l.on_durable(10);
        l.on_fetch(1, fetch(2, 10, 10), &epochs(), 0);
        let (_, expand) = l.on_fetch(2, fetch(3, 10, 10), &epochs(), 0);
        let proposal = expand.expect("follower 3 caught up");
        l.on_append(20);
        l.on_durable(20);
        l.on_fetch(3, fetch(2, 20, 20), &epochs(), 0);
        (l, proposal)
    }

    /// An expansion whose answer never came (the broker's controller call
    /// gave up: NOT_CONTROLLER) may have committed all the same: until
    /// the metadata says, the high watermark must keep counting the member
    /// it adds, or a leader cut off from the controller acknowledges
    /// records that member lacks, and the controller may elect it. Kafka
    /// resets to the committed ISR only on INELIGIBLE_REPLICA and
    /// OPERATION_NOT_ATTEMPTED (`Partition.handleAlterPartitionError`).
    /// The replication simulator found it: seed 942 with
    /// `cut_controller_both_ways` (`sim::tests`).
    #[test]
    fn an_unanswered_expansion_keeps_counting_the_member_it_adds() {
        let (mut l, proposal) = leader_expanding_to_3();
        assert_eq!(l.high_watermark(), 10, "the pending expansion counts 3");
        // The controller committed ISR [1, 2, 3]; its answer was lost.
        l.on_alter_partition(&proposal, Err(error_code::NOT_CONTROLLER));
        l.on_fetch(4, fetch(2, 20, 20), &epochs(), 0);
        assert_eq!(
            l.high_watermark(),
            10,
            "3 may be in the ISR: never past what it has fsynced"
        );
        assert_eq!(l.tick(5), Some(proposal.clone()), "sent again");
        // The retry finds the first attempt committed; the metadata brings it.
        l.on_alter_partition(&proposal, Err(error_code::INVALID_UPDATE_VERSION));
        assert_eq!(l.high_watermark(), 10);
        let expanded = PartitionState {
            isr: vec![1, 2, 3],
            partition_epoch: 11,
            ..l.state().clone()
        };
        l.on_metadata(expanded);
        assert_eq!(l.pending(), None);
        l.on_fetch(6, fetch(3, 20, 20), &epochs(), 0);
        assert_eq!(l.high_watermark(), 20);
    }

    /// Only a refusal that says the change was not applied ends it at once
    /// (Kafka's INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED): the high
    /// watermark counts the committed ISR again.
    #[test]
    fn a_refused_expansion_stops_counting_the_member() {
        for code in [
            error_code::INELIGIBLE_REPLICA,
            error_code::OPERATION_NOT_ATTEMPTED,
        ] {
            let (mut l, proposal) = leader_expanding_to_3();
            assert_eq!(l.high_watermark(), 10);
            l.on_alter_partition(&proposal, Err(code));
            assert_eq!(l.pending(), None, "{code}");
            assert_eq!(l.high_watermark(), 20, "{code}");
            assert_eq!(l.tick(4), None, "{code}: not sent again");
        }
    }

    #[test]
    fn fenced_unknown_and_diverging_fetches_record_nothing() {
        let mut l = leader(&[1, 2, 3], 1);
        l.on_append(10);
        l.on_durable(10);
        let stale = FollowerFetch {
            current_leader_epoch: 2,
            ..fetch(2, 10, 10)
        };
        let (answer, _) = l.on_fetch(1, stale, &epochs(), 0);
        assert_eq!(
            answer,
            FetchAnswer::Refused(error_code::FENCED_LEADER_EPOCH)
        );
        let diverging = FollowerFetch {
            last_fetched_epoch: 2,
            ..fetch(2, 12, 12)
        };
        let (answer, _) = l.on_fetch(1, diverging, &epochs(), 0);
        assert!(matches!(answer, FetchAnswer::Diverging(_)), "{answer:?}");
        assert_eq!(l.high_watermark(), 0);
    }
}
