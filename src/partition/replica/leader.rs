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

/// A broker epoch not known (KIP-903: the controller skips its check).
pub const NO_BROKER_EPOCH: i64 = -1;
/// An offset not known yet.
const NO_OFFSET: i64 = -1;

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
    /// The broker epoch of the fetching process (Fetch v15+ ReplicaState's
    /// ReplicaEpoch, KIP-903; -1: unknown, as before its registration).
    pub replica_epoch: i64,
    /// The fetching broker as this leader's metadata registers it: not
    /// sent by the follower, looked up by the leader (Kafka's metadata
    /// cache).
    pub registration: Registration,
}

/// A follower's broker as the leader's metadata registers it: what KIP-903
/// checks a follower's fetch and its return to the ISR against (Kafka's
/// `Replica.updateFetchStateOrThrow` and `Partition.isReplicaIsrEligible`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// Not registered, as far as this leader knows: its fetches are read,
    /// but it joins no ISR.
    Unknown,
    /// Registered at `broker_epoch`.
    Known {
        /// The registration's broker epoch.
        broker_epoch: i64,
        /// Unfenced and not in controlled shutdown.
        active: bool,
    },
}

impl Registration {
    /// Whether a fetch naming `fetch_epoch` comes from a process older than
    /// the one registered (a fetch naming -1, sent before registering, is
    /// never). A fenced registration counts too, unlike Kafka's alive-only
    /// check: a higher epoch is always a later process (epochs only grow),
    /// so the fetch is never the current process's.
    fn outdates(self, fetch_epoch: i64) -> bool {
        match self {
            Registration::Known { broker_epoch, .. } => {
                fetch_epoch != NO_BROKER_EPOCH && fetch_epoch < broker_epoch
            }
            Registration::Unknown => false,
        }
    }

    /// Kafka's `isReplicaIsrEligible`: an active registration, of the
    /// process whose fetches counted (`counted_epoch`), or of any when they
    /// named -1.
    fn admits(self, counted_epoch: i64) -> bool {
        match self {
            Registration::Known {
                broker_epoch,
                active,
            } => active && (counted_epoch == NO_BROKER_EPOCH || counted_epoch == broker_epoch),
            Registration::Unknown => false,
        }
    }
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
    /// replica, offset out of range, a replaced process's fetch); nothing
    /// was recorded.
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
    /// The broker epoch its latest counted fetch named (-1: unknown): a
    /// change means another process, whose log may hold less (KIP-903).
    broker_epoch: i64,
    /// The highest broker epoch a fetch named: a fetch naming a lower one
    /// comes from a process that was replaced.
    newest_broker_epoch: i64,
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

    /// A follower's fetch at `now_ms`, against this leader's epochs
    /// ([`LeaderReplica::check_fetch`]: refused or diverging before
    /// anything is recorded, as a diverging log's offsets mean nothing
    /// here), then its progress recorded, the ISR expansion it earns
    /// proposed, the high watermark advanced.
    pub fn on_fetch(
        &mut self,
        now_ms: u64,
        fetch: FollowerFetch,
        epochs: &LeaderEpochCache,
        log_start_offset: i64,
    ) -> (FetchAnswer, Option<AlterPartitionProposal>) {
        self.now_ms = self.now_ms.max(now_ms);
        if let Some(answer) = self.check_fetch(fetch, epochs, log_start_offset) {
            return (answer, None);
        }
        self.record_progress(now_ms, fetch);
        self.maybe_advance_high_watermark();
        let proposal = self.maybe_expand(fetch.replica, fetch.registration);
        let answer = FetchAnswer::Read {
            high_watermark: self.high_watermark,
        };
        (answer, proposal)
    }

    /// A fetch read again after waiting for records (Kafka's read from the
    /// fetch purgatory, `updateFetchState = false`): checked as at first,
    /// nothing recorded. What it reports was counted at its first read; by
    /// now its process may have been replaced (killed, restarted with a
    /// lost log, fetching again) and counting it again would bring back
    /// what the lost log had.
    pub fn on_fetch_again(
        &self,
        fetch: FollowerFetch,
        epochs: &LeaderEpochCache,
        log_start_offset: i64,
    ) -> FetchAnswer {
        self.check_fetch(fetch, epochs, log_start_offset)
            .unwrap_or(FetchAnswer::Read {
                high_watermark: self.high_watermark,
            })
    }

    /// The answer to `fetch` when it is not read: its leader epoch fenced
    /// or unknown, its replica not one of this partition's, its log
    /// diverging, its offset past the log end, or its process replaced.
    fn check_fetch(
        &self,
        fetch: FollowerFetch,
        epochs: &LeaderEpochCache,
        log_start_offset: i64,
    ) -> Option<FetchAnswer> {
        if let Err(mismatch) = check_current_epoch(fetch.current_leader_epoch, self.leader_epoch())
        {
            return Some(FetchAnswer::Refused(mismatch.wire_error_code()));
        }
        if !self.followers.contains_key(&fetch.replica) {
            return Some(FetchAnswer::Refused(error_code::NOT_LEADER_OR_FOLLOWER));
        }
        let diverging = divergence(
            epochs,
            log_start_offset,
            self.log_end_offset,
            fetch.last_fetched_epoch,
            fetch.fetch_offset,
        );
        match diverging {
            Err(code) => return Some(FetchAnswer::Refused(code)),
            Ok(Some(end)) => return Some(FetchAnswer::Diverging(end)),
            Ok(None) => {}
        }
        if fetch.fetch_offset > self.log_end_offset {
            return Some(FetchAnswer::Refused(error_code::OFFSET_OUT_OF_RANGE));
        }
        if self.is_from_replaced_process(fetch) {
            // As Kafka's `Replica.updateFetchStateOrThrow`, which checks
            // the first read against an unfenced registration only; here
            // any registration, at every read, and also the newest epoch
            // fetched, which the metadata may not show yet.
            return Some(FetchAnswer::Refused(error_code::NOT_LEADER_OR_FOLLOWER));
        }
        None
    }

    /// Whether `fetch` names a broker epoch below the registered one, or
    /// below one a fetch of the same replica named before: a late request
    /// of a process since restarted.
    fn is_from_replaced_process(&self, fetch: FollowerFetch) -> bool {
        let seen_newer = self.followers.get(&fetch.replica).is_some_and(|progress| {
            fetch.replica_epoch != NO_BROKER_EPOCH
                && fetch.replica_epoch < progress.newest_broker_epoch
        });
        seen_newer || fetch.registration.outdates(fetch.replica_epoch)
    }

    /// Kafka's `updateFollowerFetchState`: caught up now if it has all the
    /// leader has, or as of its previous fetch if it has what the leader had
    /// then.
    fn record_progress(&mut self, now_ms: u64, fetch: FollowerFetch) {
        let log_end_offset = self.log_end_offset;
        let Some(progress) = self.followers.get_mut(&fetch.replica) else {
            return;
        };
        if fetch.replica_epoch != progress.broker_epoch {
            // Another process (or the same one, registered since): what the
            // previous one fsynced says nothing of this one's log, which
            // may have lost its disk (KIP-903). Only this fetch counts.
            progress.durable_offset = NO_OFFSET;
            progress.broker_epoch = fetch.replica_epoch;
            progress.newest_broker_epoch = progress.newest_broker_epoch.max(fetch.replica_epoch);
        }
        let (previous_end, previous_ms) = progress.previous_fetch;
        if fetch.fetch_offset >= log_end_offset {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(now_ms);
        } else if fetch.fetch_offset >= previous_end {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(previous_ms);
        }
        progress.previous_fetch = (log_end_offset, now_ms);
        progress.log_end_offset = fetch.fetch_offset;
        // A verified follower never truncates again in this term and a
        // restart of the same disk keeps what was fsynced: within one
        // process (one epoch) its durable offset only grows, so a fetch
        // overtaken by a later one changes nothing. (A stray -1 fetch of a
        // process registered since resets it to that fetch's offset, which
        // only holds the watermark until the next fetch.)
        let durable = fetch.durable_offset.min(fetch.fetch_offset);
        progress.durable_offset = progress.durable_offset.max(durable);
    }

    /// A follower outside the ISR joins once it has fsynced everything below
    /// the high watermark and this leader's epoch start offset: it could
    /// then lead without losing an acknowledged record. The start offset
    /// matters: a new leader's high watermark may lag what earlier leaders
    /// committed (the simulator's seed 2098 let a follower join below it).
    /// Its broker must be eligible ([`Registration::admits`]): else the
    /// controller would refuse the change (INELIGIBLE_REPLICA) and the
    /// leader would propose it again at every fetch.
    fn maybe_expand(
        &mut self,
        replica: ReplicaId,
        registration: Registration,
    ) -> Option<AlterPartitionProposal> {
        if self.pending.is_some() || self.state.isr.contains(&replica) {
            return None;
        }
        let progress = self.followers.get(&replica)?;
        if !registration.admits(progress.broker_epoch) {
            return None;
        }
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
        let broker_epochs = new_isr.iter().map(|r| self.broker_epoch_of(*r)).collect();
        let proposal = AlterPartitionProposal {
            leader_epoch: self.state.leader_epoch,
            partition_epoch: self.state.partition_epoch,
            new_isr,
            broker_epochs,
        };
        self.pending = Some(proposal.clone());
        self.resend = false;
        proposal
    }

    /// The broker epoch to send for ISR member `replica` (Kafka's
    /// `addBrokerEpochToIsr`): the one its counted fetches named, so the
    /// controller refuses the change if that process was replaced since
    /// (INELIGIBLE_REPLICA); -1 (no check) for this leader itself and for a
    /// follower it has not heard from in this term.
    fn broker_epoch_of(&self, replica: ReplicaId) -> i64 {
        self.followers
            .get(&replica)
            .map_or(NO_BROKER_EPOCH, |p| p.broker_epoch)
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
            log_end_offset: NO_OFFSET,
            durable_offset: NO_OFFSET,
            last_caught_up_ms: now_ms,
            previous_fetch: (i64::MAX, now_ms),
            broker_epoch: NO_BROKER_EPOCH,
            newest_broker_epoch: NO_BROKER_EPOCH,
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
#[path = "leader_tests.rs"]
mod tests;
