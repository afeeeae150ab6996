//! One simulated replica: a log of entries with an fsynced prefix, its
//! epoch cache, its idempotent producer state, and the leader or follower
//! state machine it runs.
//!
//! The producer state is the partition layer's own
//! ([`ProducerStateTable`]), used as `Partition::append` (leader),
//! `append_as_follower` and `truncate_as_follower` use it: a leader checks
//! every append against it and records what it appends, a follower records
//! what it replicates, a truncation reloads it from the log that remains
//! (or, when that reload fails, drops the cut batches), a restart rebuilds
//! it from the log.

mod following;

use super::client::ProduceRequest;
use super::log::SimLog;
use super::{Body, Entry, Node, Options, ProducerStamp, FETCH_ENTRIES_MAX};
use crate::partition::leader_epochs::{check_current_epoch, EpochMismatch, LeaderEpochCache};
use crate::partition::produce::ProduceError;
use crate::partition::producer_state::{AppendCheck, ProducerStateConfig, ProducerStateTable};
use crate::partition::replica::follower::{FollowerReplica, LeaderLogBounds, OutOfRange};
use crate::partition::replica::leader::{AckState, FetchAnswer, FollowerFetch, LeaderReplica};
use crate::partition::replica::{AlterPartitionProposal, PartitionState, ReplicaConfig, ReplicaId};
use crate::protocol::error_code;
use crate::protocol::record_batch::{BatchInfo, RECORD_BATCH_HEADER_BYTES};
use crate::storage::AppendBatch;

/// A produce request's answer, ready to send.
#[derive(Clone, Copy, Debug)]
pub(super) struct Answer {
    pub(super) request: ProduceRequest,
    /// The batch's first offset, or a Kafka error code.
    pub(super) result: Result<i64, i16>,
    /// When it started waiting for the high watermark (None: answered at
    /// once), to measure acks=all latency.
    pub(super) waited_from_ms: Option<u64>,
}

impl Answer {
    /// An answer given without waiting for the high watermark.
    fn now(request: ProduceRequest, result: Result<i64, i16>) -> Self {
        let waited_from_ms = None;
        Answer {
            request,
            result,
            waited_from_ms,
        }
    }
}

/// An acks=all request waiting for the high watermark to pass
/// `last_offset`; then answered with `offset` (a retry's original one).
#[derive(Clone, Copy, Debug)]
struct Waiting {
    last_offset: i64,
    offset: i64,
    request: ProduceRequest,
    /// When the leader appended it (or took the retry): the latency start.
    since_ms: u64,
}

/// What a follower makes of its latest fetch's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FetchOutcome {
    /// Entries appended: it fetches again once they are fsynced.
    Appended,
    /// Nothing to append (or the answer is stale): it fetches again now.
    Empty,
    /// It truncated its diverging log: it fetches again now.
    Truncated(Cut),
    /// Refused: it fetches again after a backoff.
    Refused,
    /// The leader answered OFFSET_OUT_OF_RANGE and the follower did what
    /// the real follower decides ([`FollowerReplica::on_out_of_range`]):
    /// started over at the leader's log start or cut its log to the
    /// leader's end (then it fetches again now), or retries (after a
    /// backoff). The cut tells what a cut to the leader's end did to the
    /// producer state.
    OutOfRange(OutOfRange, Cut),
}

/// A leader's answer to a follower's fetch, as the fetch response carries
/// it.
#[derive(Clone, Copy, Debug)]
pub(super) struct FetchReply {
    /// The leader's epoch when it answered.
    pub(super) leader_epoch: i32,
    /// The fetch offset it answers.
    pub(super) fetch_offset: i64,
    pub(super) answer: FetchAnswer,
    /// The leader's log start offset (every fetch answer names it).
    pub(super) leader_log_start: i64,
    /// With OFFSET_OUT_OF_RANGE: the leader's log start and end (as
    /// `Partition::replica_error` names them).
    pub(super) leader_log: Option<LeaderLogBounds>,
}

/// What a follower's truncation did to its producer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// Nothing was cut (its log ended at the leader's epoch end already).
    Nothing,
    /// Entries were cut and the producer state reloaded from the log that
    /// remains (`truncate_as_follower` when it can).
    Reloaded,
    /// Entries were cut and the cut batches dropped from the producer state
    /// (`truncate_as_follower`'s fallback when the reload fails);
    /// `differs`: the state left is not the one a reload gives.
    Fallback { differs: bool },
}

/// A follower's fetch a leader holds until it has something to answer
/// (millrace's `read_until_ready`, Kafka's DelayedFetch purgatory).
#[derive(Clone, Copy, Debug)]
pub(super) struct ParkedFetch {
    pub(super) from: Node,
    pub(super) fetch: FollowerFetch,
    pub(super) seq: u64,
    /// Its number at this leader, for the wait's end.
    pub(super) number: u64,
}

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
    pub(super) log: SimLog,
    /// It once started an empty log at its leader's log start.
    pub(super) started_over: bool,
    pub(super) epochs: LeaderEpochCache,
    /// Entries below this are fsynced.
    pub(super) durable: i64,
    /// The high watermark this replica knows (checkpointed: kept over a
    /// restart, cut to what survived).
    hw: i64,
    pub(super) role: Role,
    /// The newest partition state it was told.
    known: Option<PartitionState>,
    /// Idempotent producers' state: a function of the log.
    producers: ProducerStateTable,
    /// acks=all requests waiting for the high watermark.
    waiting: Vec<Waiting>,
    /// Answers ready since the last take.
    answers: Vec<Answer>,
    /// Planted bug: report the log end as fsynced.
    lie_about_durability: bool,
    /// Planted bug: replicated entries are not recorded in the producer
    /// state.
    skip_replicated_producers: bool,
    /// Planted bug: a batch of an epoch older than its producer's is
    /// appended, not refused INVALID_PRODUCER_EPOCH.
    skip_epoch_fence: bool,
    /// Planted bug: a follower does not take its leader's log start.
    keep_log_start: bool,
    /// Planted bug: a produce's leader epoch is not checked.
    skip_produce_epoch_check: bool,
    /// Produce requests refused with FENCED_LEADER_EPOCH and
    /// UNKNOWN_LEADER_EPOCH (over every incarnation).
    pub(super) epoch_fenced: u64,
    pub(super) epoch_unknown: u64,
    /// Requests refused with INVALID_PRODUCER_EPOCH (over every
    /// incarnation).
    pub(super) fenced: u64,
    /// Retries answered from the producer state (over every incarnation).
    pub(super) duplicates: u64,
    /// Appends refused as out of order (over every incarnation).
    pub(super) out_of_order: u64,
    /// The number of the latest fetch sent, and whether it is unanswered.
    fetch_seq: u64,
    fetch_in_flight: bool,
    /// Entries appended from the latest answer are not fsynced yet: the
    /// next fetch waits for them (millrace's fetcher fsyncs a round before
    /// it fetches again, so its fetch offset is durable).
    fetch_awaits_flush: bool,
    /// Followers' fetches this leader holds (the long poll).
    parked: Vec<ParkedFetch>,
}

impl SimReplica {
    pub(super) fn new(id: ReplicaId, config: ReplicaConfig, options: Options) -> Self {
        SimReplica {
            id,
            config,
            alive: true,
            incarnation: 0,
            log: SimLog::default(),
            started_over: false,
            epochs: LeaderEpochCache::default(),
            durable: 0,
            hw: 0,
            role: Role::None,
            known: None,
            producers: ProducerStateTable::new(ProducerStateConfig::default()),
            waiting: Vec::new(),
            answers: Vec::new(),
            lie_about_durability: options.count_unsynced,
            skip_replicated_producers: options.followers_skip_producer_state,
            skip_epoch_fence: options.skip_epoch_fence,
            keep_log_start: options.followers_keep_log_start,
            skip_produce_epoch_check: options.skip_produce_epoch_check,
            epoch_fenced: 0,
            epoch_unknown: 0,
            fenced: 0,
            duplicates: 0,
            out_of_order: 0,
            fetch_seq: 0,
            fetch_in_flight: false,
            fetch_awaits_flush: false,
            parked: Vec::new(),
        }
    }

    fn log_end(&self) -> i64 {
        self.log.end()
    }

    /// The incarnation of its process (bumped by every restart).
    /// Its log start offset.
    pub(super) fn log_start(&self) -> i64 {
        self.log.start()
    }

    pub(super) fn incarnation(&self) -> u32 {
        self.incarnation
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
        self.log.truncate(self.durable);
        self.epochs.truncate_from_end(self.durable);
        // The metadata it had is kept (it is durable on a broker): it acts
        // again only on a newer state, which the controller makes when it
        // sees the new incarnation.
        self.role = Role::None;
        // The process is gone with its memory and its connections.
        self.waiting.clear();
        self.answers.clear();
        self.parked.clear();
        self.end_fetch_session();
        self.producers = ProducerStateTable::new(ProducerStateConfig::default());
    }

    /// A new process: the producer state is rebuilt from the log that
    /// survived (the broker rebuilds it from a snapshot and the batches
    /// after it; replaying the whole log gives the same state).
    pub(super) fn restart(&mut self, _now: u64) {
        if !self.alive {
            self.alive = true;
            self.incarnation += 1;
            self.producers = producers_of(&self.log);
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
        // A new leader or epoch is a new fetch session: answers to the old
        // one are not read, and nothing is in flight to the new leader.
        let same_session = match &self.role {
            Role::Follower(f) => {
                (f.leader(), f.leader_epoch()) == (state.leader, state.leader_epoch)
            }
            _ => false,
        };
        if !same_session {
            self.end_fetch_session();
        }
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
            self.fail_waiting();
            self.role = Role::Leader(LeaderReplica::new(
                self.id,
                self.config,
                state,
                offsets,
                now,
            ));
            return true;
        }
        self.fail_waiting();
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

    /// Forgets the fetch in flight and the flush awaited: answers to what
    /// was sent before are stale.
    fn end_fetch_session(&mut self) {
        self.fetch_seq += 1;
        self.fetch_in_flight = false;
        self.fetch_awaits_flush = false;
    }

    /// The follower's next fetch: (leader, request, its number). None when
    /// it does not follow, has a fetch in flight (one per connection), or
    /// waits for its last answer's entries to be fsynced.
    pub(super) fn next_fetch(&mut self) -> Option<(ReplicaId, FollowerFetch, u64)> {
        let Role::Follower(follower) = &self.role else {
            return None;
        };
        if self.fetch_in_flight || self.fetch_awaits_flush {
            return None;
        }
        self.fetch_in_flight = true;
        self.fetch_seq += 1;
        let durable = match self.lie_about_durability {
            true => self.log_end(),
            false => self.durable,
        };
        // The incarnation stands for the broker epoch its registration got.
        let broker_epoch = i64::from(self.incarnation);
        let fetch = follower.fetch(self.log_end(), durable, &self.epochs, broker_epoch);
        Some((follower.leader(), fetch, self.fetch_seq))
    }

    /// Fetch `seq` went unanswered too long: whether it was the one in
    /// flight (now presumed lost, so the next can go).
    pub(super) fn fetch_timed_out(&mut self, seq: u64) -> bool {
        let lost = self.fetch_in_flight && seq == self.fetch_seq;
        self.fetch_in_flight &= !lost;
        lost
    }

    /// After a flush: whether the entries the next fetch waited for are
    /// fsynced now.
    pub(super) fn flushed_for_fetch(&mut self) -> bool {
        let ready = self.fetch_awaits_flush && self.durable >= self.log_end();
        self.fetch_awaits_flush &= !ready;
        ready
    }

    /// Whether `seq` numbers its latest fetch: answers to earlier ones are
    /// stale (a TCP connection answers in order, and a follower keeps one
    /// fetch in flight, so it never acts on an older answer).
    pub(super) fn is_latest_fetch(&mut self, seq: u64) -> bool {
        let latest = seq == self.fetch_seq && self.fetch_in_flight;
        if latest {
            self.fetch_in_flight = false;
        }
        latest
    }

    /// Holds a follower's fetch that has nothing to read yet.
    pub(super) fn park(&mut self, parked: ParkedFetch) {
        self.parked.push(parked);
    }

    /// Every fetch held (its log end moved: they have something to read).
    pub(super) fn take_parked(&mut self) -> Vec<ParkedFetch> {
        std::mem::take(&mut self.parked)
    }

    /// The held fetch `number`, if still held (its wait is over).
    pub(super) fn take_parked_number(&mut self, number: u64) -> Option<ParkedFetch> {
        let index = self.parked.iter().position(|p| p.number == number)?;
        Some(self.parked.remove(index))
    }

    /// The leader's answer to a follower's fetch, and an ISR proposal: as
    /// `Partition::read_for_replica` answers, the fetch counted first, then
    /// the read, which is OFFSET_OUT_OF_RANGE below the log start (the
    /// leader's `on_fetch` refuses past the log end itself).
    pub(super) fn on_fetch(
        &mut self,
        now: u64,
        fetch: FollowerFetch,
        seq: u64,
    ) -> Option<(Body, Option<AlterPartitionProposal>)> {
        let Role::Leader(leader) = &mut self.role else {
            return None;
        };
        let log_start = self.log.start();
        let (mut answer, proposal) = leader.on_fetch(now, fetch, &self.epochs, log_start);
        let below_start = fetch.fetch_offset < log_start;
        if matches!(answer, FetchAnswer::Read { .. }) && below_start {
            answer = FetchAnswer::Refused(error_code::OFFSET_OUT_OF_RANGE);
        }
        let entries = match answer {
            FetchAnswer::Read { .. } => self.log.read(fetch.fetch_offset, FETCH_ENTRIES_MAX),
            _ => Vec::new(),
        };
        let out_of_range = answer == FetchAnswer::Refused(error_code::OFFSET_OUT_OF_RANGE);
        let leader_log = out_of_range.then(|| LeaderLogBounds {
            start_offset: log_start,
            end_offset: self.log.end(),
        });
        let reply = FetchReply {
            leader_epoch: leader.leader_epoch(),
            fetch_offset: fetch.fetch_offset,
            answer,
            leader_log_start: log_start,
            leader_log,
        };
        Some((
            Body::FetchReply {
                seq,
                reply,
                entries,
            },
            proposal,
        ))
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
        for waiting in self.waiting.drain(..) {
            let result = match leader.ack_state(waiting.last_offset) {
                AckState::Pending => {
                    still.push(waiting);
                    continue;
                }
                AckState::Ready => Ok(waiting.offset),
                AckState::NotEnoughReplicasAfterAppend => {
                    Err(error_code::NOT_ENOUGH_REPLICAS_AFTER_APPEND)
                }
            };
            self.answers.push(Answer {
                request: waiting.request,
                result,
                waited_from_ms: Some(waiting.since_ms),
            });
        }
        self.waiting = still;
        proposal
    }

    /// Requests waiting on a term that ended get NOT_LEADER_OR_FOLLOWER (as
    /// `Partition::wait_replicated` answers when leadership moves).
    fn fail_waiting(&mut self) {
        for waiting in self.waiting.drain(..) {
            let result = Err(error_code::NOT_LEADER_OR_FOLLOWER);
            let request = waiting.request;
            self.answers.push(Answer::now(request, result));
        }
    }

    pub(super) fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    /// KIP-320's check of the request's leader epoch against the newest
    /// this replica knows (its own as leader), before its role, as
    /// `Partition::check_client_read` orders them, with the partition
    /// layer's own function ([`check_current_epoch`]).
    ///
    /// A MODEL: Kafka's Produce request carries no leader epoch, so the
    /// partition layer's produce path (`partition::produce`) has no such
    /// check to reuse; fetch, ListOffsets and OffsetForLeaderEpoch do
    /// (`check_client_read`, `check_leader_epoch`, which wrap this
    /// function and are not reachable without a `Partition`). What it
    /// models is the guarantee the fetch check gives: nothing is served
    /// under an epoch the client did not name.
    fn check_produce_epoch(&self, request: &ProduceRequest) -> Result<(), EpochMismatch> {
        let Some(known) = &self.known else {
            return Ok(());
        };
        if self.skip_produce_epoch_check {
            return Ok(());
        }
        check_current_epoch(request.leader_epoch, known.leader_epoch)
    }

    /// An acks=all batch from a client, as `Partition::check_produce` and
    /// `Partition::append` take it: refused unless it leads with
    /// `min.insync.replicas` in the ISR, then checked against the producer
    /// state: a retry of a remembered batch waits to be answered with the
    /// original offset, an older epoch or a sequence that does not follow is
    /// refused, a new record is appended and recorded.
    pub(super) fn produce(&mut self, now_ms: u64, request: ProduceRequest) {
        if let Err(mismatch) = self.check_produce_epoch(&request) {
            self.epoch_fenced += u64::from(mismatch == EpochMismatch::Fenced);
            self.epoch_unknown += u64::from(mismatch == EpochMismatch::Unknown);
            let result = Err(mismatch.wire_error_code());
            self.answers.push(Answer::now(request, result));
            return;
        }
        let Role::Leader(leader) = &mut self.role else {
            let result = Err(error_code::NOT_LEADER_OR_FOLLOWER);
            self.answers.push(Answer::now(request, result));
            return;
        };
        if let Err(code) = leader.check_append(true) {
            self.answers.push(Answer::now(request, Err(code)));
            return;
        }
        let offset = self.log.end();
        let entries = entries_of(&request, leader.leader_epoch());
        let Some(&first) = entries.first() else {
            return;
        };
        let batch = append_batch(&first, offset);
        let refusal = match self.producers.check_append(&[batch], now_ms as i64) {
            AppendCheck::Append => None,
            AppendCheck::Duplicate {
                base_offset,
                last_offset,
                ..
            } => {
                self.duplicates += 1;
                self.waiting.push(Waiting {
                    last_offset,
                    offset: base_offset,
                    request,
                    since_ms: now_ms,
                });
                return;
            }
            // Planted bug: an older epoch is appended, not fenced.
            AppendCheck::InvalidEpoch if self.skip_epoch_fence => None,
            AppendCheck::InvalidEpoch => Some(ProduceError::InvalidProducerEpoch),
            AppendCheck::OutOfOrder => Some(ProduceError::OutOfOrderSequence),
            AppendCheck::ProducersFull => Some(ProduceError::ProducerStateFull),
        };
        if let Some(error) = refusal {
            self.out_of_order += u64::from(error == ProduceError::OutOfOrderSequence);
            self.fenced += u64::from(error == ProduceError::InvalidProducerEpoch);
            let result = Err(error.wire_error_code());
            self.answers.push(Answer::now(request, result));
            return;
        }
        self.log.extend(&entries);
        self.producers.record(&batch_info(&first, offset), offset);
        let last_offset = self.log.end() - 1;
        leader.on_append(last_offset + 1);
        self.waiting.push(Waiting {
            last_offset,
            offset,
            request,
            since_ms: now_ms,
        });
    }
}

/// The entries a produce request's batch appends at leader epoch `epoch`:
/// one per record, each with its record's id and sequence.
fn entries_of(request: &ProduceRequest, epoch: i32) -> Vec<Entry> {
    (0..request.records)
        .map(|index| Entry {
            epoch,
            record: request.record + u64::from(index),
            stamp: ProducerStamp {
                sequence: request.stamp.sequence + index as i32,
                ..request.stamp
            },
            timestamp_ms: request.timestamp_ms,
            batch_index: index,
            batch_records: request.records,
        })
        .collect()
}

/// The batch that holds `entry`, at `offset`, as the log would hold it
/// (its first record's offset and sequence, its record count).
fn batch_info(entry: &Entry, offset: i64) -> BatchInfo {
    BatchInfo {
        position: 0,
        len: RECORD_BATCH_HEADER_BYTES,
        base_offset: offset - i64::from(entry.batch_index),
        last_offset_delta: entry.batch_records as i32 - 1,
        record_count: entry.batch_records as i32,
        base_timestamp: entry.timestamp_ms,
        max_timestamp: entry.timestamp_ms,
        producer_id: entry.stamp.producer_id,
        producer_epoch: entry.stamp.producer_epoch,
        base_sequence: entry.stamp.sequence - entry.batch_index as i32,
        attributes: 0,
        partition_leader_epoch: entry.epoch,
    }
}

/// The batch a produce request appends (only its header fields matter to
/// the producer state).
fn append_batch(entry: &Entry, offset: i64) -> AppendBatch {
    AppendBatch {
        header: [0; RECORD_BATCH_HEADER_BYTES],
        body: bytes::Bytes::new(),
        pinned_bytes: 0,
        info: batch_info(entry, offset),
    }
}

/// What a producer state answers appends with: each remembered batch (or
/// the sequence to follow when none is), with its producer's epoch, in a
/// fixed order. Timestamps are left out: they only expire producers (after
/// a day) and answer retries on LogAppendTime topics, neither of which a
/// run does.
fn answer_fields(producers: &ProducerStateTable) -> Vec<(i64, i16, i32, i64, i32)> {
    let mut fields: Vec<_> = producers
        .snapshot_entries()
        .map(|e| {
            let batch = (e.last_sequence, e.last_offset, e.offset_delta);
            (e.producer_id, e.epoch, batch.0, batch.1, batch.2)
        })
        .collect();
    fields.sort_unstable();
    fields
}

/// The producer state of `log`, rebuilt by replaying every entry (as
/// `snapshots::rebuild` replays the batches after its snapshot).
fn producers_of(log: &SimLog) -> ProducerStateTable {
    let mut producers = ProducerStateTable::new(ProducerStateConfig::default());
    for (offset, entry) in log.iter().filter(|(_, e)| e.ends_batch()) {
        let info = batch_info(entry, offset);
        producers.record(&info, info.base_offset);
    }
    producers
}
