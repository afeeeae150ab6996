//! A partition's replica role on its owning shard (issue 13): the I/O side
//! of the sans-IO state machines in [`replica`](super::replica). Cluster
//! metadata makes the partition a leader or a follower at an epoch; the
//! leader answers replica fetches and holds acks=all answers until the
//! high watermark passes them; a follower appends the leader's batches as
//! they were written.
//!
//! The high watermark is computed lazily: the leader's own durable offset
//! is read from its log whenever the watermark is asked for, so a leader
//! fsync that lets it advance needs no task: whoever waits for it (a long
//! poll, an acks=all answer) wakes on the log's sync and asks again. A
//! follower's fetch that moves it fires [`ReplicaState`]'s listeners.

use super::fetch::ReadPass;
use super::replica::follower::{FollowerReplica, LeaderLogBounds, OutOfRange};
use super::replica::leader::{AckState, FetchAnswer, FollowerFetch, LeaderReplica};
use super::replica::{AlterPartitionProposal, PartitionState, ReplicaConfig, ReplicaId};
use super::snapshots::reload_after_cut;
use super::Partition;
use crate::partition::leader_epochs::{check_current_epoch, EpochEnd, EpochMismatch};
use crate::protocol::error_code;
use crate::storage::notify::AppendListeners;
use crate::storage::{
    AppendBatch, AppendError, AppendListener, Durability, DurableWait, TruncateError,
};
use glommio::sync::Semaphore;
use std::cell::{Cell, RefCell};
use std::sync::OnceLock;
use std::time::Instant;

/// What a follower keeps in memory of the data it just replicated (its
/// log's recent batches): it serves no consumer until it leads, then it
/// keeps up to its shard's room again. The old fixed per-partition default.
pub const FOLLOWER_RECENT_BYTES_MAX: usize = 8 << 20;

/// What a partition is in the cluster.
#[derive(Debug)]
enum Role {
    /// A single node (no cluster): the read bound is the log's.
    Single,
    /// A cluster member's partition between its open and the first role
    /// the cluster view gives it: it serves no client and no follower, and
    /// its high watermark is the checkpointed one.
    Unassigned,
    /// This broker leads it.
    Leader(LeaderReplica),
    /// This broker follows another (or no) leader.
    Follower(FollowerReplica),
}

/// A partition's replica state.
pub struct ReplicaState {
    role: RefCell<Role>,
    /// An ISR expansion a follower's fetch earned, for the shard's ticker
    /// to send (AlterPartition); the leader has it pending meanwhile.
    outbox: RefCell<Option<AlterPartitionProposal>>,
    /// Fired when the high watermark moves (or the role changes).
    moved: AppendListeners,
    /// One role change or follower append at a time: an epoch's entry in
    /// the cache is never placed among another role's appends.
    turn: Semaphore,
    /// The high watermark `replication-offset-checkpoint` named when the
    /// log was opened: where the first role starts from (bounded by the log
    /// end), as in Kafka.
    checkpointed_high_watermark: Cell<i64>,
}

impl ReplicaState {
    /// The state of a partition just opened: `Single` on a single node;
    /// in a cluster no role until the cluster view gives it one.
    pub(super) fn at_open(in_cluster: bool) -> Self {
        let role = match in_cluster {
            true => Role::Unassigned,
            false => Role::Single,
        };
        ReplicaState {
            role: RefCell::new(role),
            outbox: RefCell::new(None),
            moved: AppendListeners::default(),
            turn: Semaphore::new(1),
            checkpointed_high_watermark: Cell::new(0),
        }
    }
}

/// Milliseconds on the replication clock (monotonic, process-wide).
pub fn clock_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// What a follower sends for one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerPosition {
    /// The leader it follows.
    pub leader: ReplicaId,
    /// The leader epoch it follows at.
    pub leader_epoch: i32,
    /// Its log end offset (durable: it fsyncs before fetching again).
    pub fetch_offset: i64,
    /// The epoch of its last batch (-1: none).
    pub last_fetched_epoch: i32,
    /// Its log start offset.
    pub log_start_offset: i64,
}

/// Why a follower append failed.
#[derive(Debug)]
pub enum FollowerAppendError {
    /// No longer a follower of that leader at that epoch: dropped.
    NotFollowing,
    /// The log refused it.
    Log(AppendError),
}

/// The leader a refusal names (Kafka's CurrentLeader, KIP-951): as this
/// broker knows it, -1 for either when it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderHint {
    /// The leader's broker id (-1: unknown).
    pub leader_id: ReplicaId,
    /// Its leader epoch (-1: unknown).
    pub leader_epoch: i32,
}

impl LeaderHint {
    /// No leader known.
    pub const UNKNOWN: LeaderHint = LeaderHint {
        leader_id: -1,
        leader_epoch: -1,
    };
}

/// Why a client's read of a partition (Fetch, ListOffsets,
/// OffsetForLeaderEpoch) is refused here: Kafka's
/// `getLocalLog(currentLeaderEpoch, requireLeader = true)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadRefusal {
    /// The request's current leader epoch is not this partition's (KIP-320).
    Epoch(EpochMismatch),
    /// This broker does not lead the partition (a follower, or no role
    /// yet): the client refreshes its metadata and asks the leader.
    NotLeader(LeaderHint),
}

impl ReadRefusal {
    /// The Kafka error code.
    pub fn wire_error_code(self) -> i16 {
        match self {
            ReadRefusal::Epoch(mismatch) => mismatch.wire_error_code(),
            ReadRefusal::NotLeader(_) => error_code::NOT_LEADER_OR_FOLLOWER,
        }
    }

    /// The leader to name with the refusal, if it is a leadership one.
    pub fn leader_hint(self) -> Option<LeaderHint> {
        match self {
            ReadRefusal::NotLeader(hint) => Some(hint),
            ReadRefusal::Epoch(_) => None,
        }
    }
}

impl Partition {
    /// True on a cluster member (with a role from cluster metadata, or
    /// none yet).
    pub fn is_replicated(&self) -> bool {
        !matches!(*self.replica.role.borrow(), Role::Single)
    }

    /// True when this broker leads it at `leader_epoch`.
    pub fn leads_at(&self, leader_epoch: i32) -> bool {
        matches!(&*self.replica.role.borrow(), Role::Leader(l) if l.leader_epoch() == leader_epoch)
    }

    /// The high watermark of a replicated partition (leader: over the ISR's
    /// durable offsets; follower: as the leader last said, within its log).
    pub(super) fn replicated_bound(&self) -> Option<i64> {
        let mut role = self.replica.role.borrow_mut();
        match &mut *role {
            Role::Single => None,
            Role::Unassigned => Some(self.checkpointed_high_watermark()),
            Role::Leader(leader) => {
                self.sync_leader(leader);
                Some(leader.high_watermark())
            }
            Role::Follower(follower) => Some(follower.high_watermark()),
        }
    }

    /// Whether a client may read the partition here (Kafka's `getLocalLog`
    /// with `requireLeader`): `current_leader_epoch` checked first (-1: no
    /// check), then the role; only the leader answers (or a single node).
    /// A follower's high watermark is the leader's as it last heard it, and
    /// a replica with no role yet has only its checkpoint's: answering from
    /// either gave consumers an empty or short partition after a restart.
    pub fn check_client_read(&self, current_leader_epoch: i32) -> Result<(), ReadRefusal> {
        check_current_epoch(current_leader_epoch, self.leader_epoch())
            .map_err(ReadRefusal::Epoch)?;
        match &*self.replica.role.borrow() {
            Role::Single | Role::Leader(_) => Ok(()),
            Role::Follower(f) => Err(ReadRefusal::NotLeader(LeaderHint {
                leader_id: f.leader(),
                leader_epoch: f.leader_epoch(),
            })),
            Role::Unassigned => Err(ReadRefusal::NotLeader(LeaderHint::UNKNOWN)),
        }
    }

    /// True while a leader's high watermark is below the offset its epoch
    /// started at: it does not know yet what earlier leaders committed, so
    /// a ListOffsets answer bounded by it could name an end below
    /// acknowledged records (Kafka's OFFSET_NOT_AVAILABLE, KIP-207). The
    /// followers' next fetches bring it up.
    pub fn high_watermark_lags_epoch_start(&self) -> bool {
        match &mut *self.replica.role.borrow_mut() {
            Role::Leader(leader) => {
                self.sync_leader(leader);
                leader.high_watermark() < leader.epoch_start_offset()
            }
            _ => false,
        }
    }

    /// Tells the leader state machine its own log end and durable offset.
    fn sync_leader(&self, leader: &mut LeaderReplica) {
        leader.on_append(self.log.log_end_offset());
        leader.on_durable(self.log.synced_end_offset());
    }

    /// Resolves when the high watermark may have moved or the role changed.
    pub(super) fn replica_listener(&self) -> AppendListener {
        self.replica.moved.register()
    }

    /// The high watermark a new role starts from: the previous role's; for
    /// a log just opened, the one `replication-offset-checkpoint` named
    /// (Kafka's rule), bounded by the log end. Its tail may hold records the
    /// ISR never had (a leader's acks=1 appends before a crash), so its end
    /// alone is no bound; the followers' fetches bring the watermark up.
    fn known_high_watermark(&self) -> i64 {
        self.replicated_bound()
            .unwrap_or_else(|| self.checkpointed_high_watermark())
    }

    /// The checkpointed high watermark, bounded by the log end.
    fn checkpointed_high_watermark(&self) -> i64 {
        let checkpointed = self.replica.checkpointed_high_watermark.get();
        checkpointed.clamp(0, self.log.log_end_offset())
    }

    /// The high watermark the checkpoint file named at open (see
    /// [`Partition::known_high_watermark`]).
    pub(super) fn set_checkpointed_high_watermark(&self, high_watermark: i64) {
        self.replica.checkpointed_high_watermark.set(high_watermark);
    }

    /// Becomes leader of `state` (which names `id`): the epoch gets its
    /// cache entry at the log end (persisted before any batch of it is
    /// appended), new batches are stamped with it. The same term again only
    /// updates the committed ISR.
    pub async fn become_leader(&self, id: ReplicaId, config: ReplicaConfig, state: PartitionState) {
        let Ok(_turn) = self.replica.turn.acquire_permit(1).await else {
            return;
        };
        if let Role::Leader(leader) = &mut *self.replica.role.borrow_mut() {
            if leader.leader_epoch() == state.leader_epoch {
                leader.on_metadata(state);
                drop(_turn);
                self.replica.moved.fire_all();
                return;
            }
        }
        let epoch = state.leader_epoch;
        let log_end = self.log.log_end_offset();
        self.epochs
            .update_and_persist(&self.log, |cache| {
                cache.assign(epoch, log_end);
            })
            .await
            .ok(); // logged; the next open completes it from the batches
        self.epochs.set_leader_epoch(epoch);
        let known = self.known_high_watermark();
        let offsets = (log_end, self.log.synced_end_offset(), known);
        let leader = LeaderReplica::new(id, config, state, offsets, clock_ms());
        *self.replica.role.borrow_mut() = Role::Leader(leader);
        self.log.set_recent_bytes_cap(usize::MAX);
        log::info!(
            "{}: leader at epoch {epoch} from offset {log_end}",
            self.log.name()
        );
        self.replica.moved.fire_all();
    }

    /// Follows `leader` (-1: none yet) at `leader_epoch`: produce is refused
    /// from now on, the fetcher fetches from `leader`.
    pub async fn become_follower(&self, id: ReplicaId, leader: ReplicaId, leader_epoch: i32) {
        let Ok(_turn) = self.replica.turn.acquire_permit(1).await else {
            return;
        };
        if let Role::Follower(f) = &*self.replica.role.borrow() {
            if f.leader() == leader && f.leader_epoch() == leader_epoch {
                return;
            }
        }
        let known = self.known_high_watermark().min(self.log.log_end_offset());
        self.epochs.set_leader_epoch(leader_epoch);
        let follower = FollowerReplica::new(id, leader, leader_epoch, known);
        *self.replica.role.borrow_mut() = Role::Follower(follower);
        self.log.set_recent_bytes_cap(FOLLOWER_RECENT_BYTES_MAX);
        log::info!(
            "{}: follower of broker {leader} at epoch {leader_epoch}, log end {}",
            self.log.name(),
            self.log.log_end_offset()
        );
        self.replica.moved.fire_all();
    }

    /// Before a produce append: NOT_LEADER_OR_FOLLOWER on a follower,
    /// NOT_ENOUGH_REPLICAS for acks=all with the ISR below
    /// `min.insync.replicas`.
    pub fn check_produce(&self, acks_all: bool) -> Result<(), i16> {
        match &*self.replica.role.borrow() {
            Role::Single => Ok(()),
            Role::Leader(leader) => leader.check_append(acks_all),
            Role::Follower(_) | Role::Unassigned => Err(error_code::NOT_LEADER_OR_FOLLOWER),
        }
    }

    /// After an acks=all append is durable here: waits until the high
    /// watermark passes `last_offset` (the ISR holds it durably), then
    /// answers; NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank under
    /// `min.insync.replicas`, NOT_LEADER_OR_FOLLOWER when leadership moved
    /// (the record may or may not survive: the producer retries). The
    /// caller bounds the wait (the request's timeout).
    pub async fn wait_replicated(&self, last_offset: i64, leader_epoch: i32) -> Result<(), i16> {
        loop {
            // Listeners first: a move between the check and the wait wakes us.
            let synced = self.log.synced_listener();
            let moved = self.replica.moved.register();
            let state = {
                let mut role = self.replica.role.borrow_mut();
                match &mut *role {
                    Role::Single => return Ok(()),
                    Role::Leader(l) if l.leader_epoch() == leader_epoch => {
                        self.sync_leader(l);
                        l.ack_state(last_offset)
                    }
                    _ => return Err(error_code::NOT_LEADER_OR_FOLLOWER),
                }
            };
            match state {
                AckState::Ready => return Ok(()),
                AckState::NotEnoughReplicasAfterAppend => {
                    return Err(error_code::NOT_ENOUGH_REPLICAS_AFTER_APPEND)
                }
                AckState::Pending => futures_lite::future::or(synced, moved).await,
            }
        }
    }

    /// The leader side of a replica's fetch (the leader state machine's
    /// `on_fetch`, or `on_fetch_again` when it is read again after a wait:
    /// counted once): refused, diverging, or read from `fetch_offset` with
    /// the high watermark. `None` on a single node (served as any fetch).
    pub fn on_replica_fetch(&self, fetch: FollowerFetch, pass: ReadPass) -> Option<FetchAnswer> {
        let mut role = self.replica.role.borrow_mut();
        let leader = match &mut *role {
            Role::Single => return None,
            Role::Follower(_) | Role::Unassigned => {
                return Some(FetchAnswer::Refused(error_code::NOT_LEADER_OR_FOLLOWER))
            }
            Role::Leader(leader) => leader,
        };
        self.sync_leader(leader);
        let before = leader.high_watermark();
        let log_start = self.log.log_start_offset();
        let (answer, proposal) = self.epochs.with_cache(|cache| match pass {
            ReadPass::First => leader.on_fetch(clock_ms(), fetch, cache, log_start),
            ReadPass::Again => (leader.on_fetch_again(fetch, cache, log_start), None),
        });
        if let Some(proposal) = proposal {
            *self.replica.outbox.borrow_mut() = Some(proposal);
        }
        let moved = leader.high_watermark() > before;
        drop(role);
        if moved {
            self.replica.moved.fire_all();
        }
        Some(answer)
    }

    /// The leader's ISR change to send now, if any: an expansion a fetch
    /// earned, else the shrink `replica.lag.time.max.ms` asks for at
    /// `now_ms` (one in flight at a time: the state machine holds it
    /// pending until [`Partition::on_alter_partition`]).
    pub fn leader_tick(&self, now_ms: u64) -> Option<AlterPartitionProposal> {
        let earned = self.replica.outbox.borrow_mut().take();
        match &mut *self.replica.role.borrow_mut() {
            Role::Leader(leader) => earned.or_else(|| leader.tick(now_ms)),
            _ => None,
        }
    }

    /// Each follower's lag at `now_ms` ([`LeaderReplica::follower_lags`]);
    /// empty unless this broker leads the partition.
    pub fn follower_lags(&self, now_ms: u64) -> Vec<(ReplicaId, i64, u64)> {
        match &mut *self.replica.role.borrow_mut() {
            Role::Leader(leader) => {
                self.sync_leader(leader);
                leader.follower_lags(now_ms)
            }
            _ => Vec::new(),
        }
    }

    /// The controller's answer to `proposal` (the committed state, or a
    /// Kafka error code): the leader adopts it; the watermark may move.
    pub fn on_alter_partition(
        &self,
        proposal: &AlterPartitionProposal,
        answer: Result<PartitionState, i16>,
    ) {
        if let Role::Leader(leader) = &mut *self.replica.role.borrow_mut() {
            leader.on_alter_partition(proposal, answer);
        }
        self.replica.moved.fire_all();
    }

    /// The follower's next fetch for this partition; `None` unless it
    /// follows a leader.
    pub fn follower_position(&self) -> Option<FollowerPosition> {
        match &*self.replica.role.borrow() {
            Role::Follower(f) if f.leader() >= 0 => Some(FollowerPosition {
                leader: f.leader(),
                leader_epoch: f.leader_epoch(),
                fetch_offset: self.log.log_end_offset(),
                last_fetched_epoch: self.epochs.latest_epoch(),
                log_start_offset: self.log.log_start_offset(),
            }),
            _ => None,
        }
    }

    /// True while it follows `leader` at `leader_epoch`.
    fn follows(&self, leader: ReplicaId, leader_epoch: i32) -> bool {
        matches!(&*self.replica.role.borrow(),
            Role::Follower(f) if f.leader() == leader && f.leader_epoch() == leader_epoch)
    }

    /// The leader's read answer named its high watermark
    /// `leader_high_watermark` and its log start `leader_log_start`: the
    /// follower's high watermark moves, then its log start
    /// ([`FollowerReplica::log_start_to_take`]), with nothing in between.
    pub fn on_leader_read(&self, leader_high_watermark: i64, leader_log_start: i64) {
        let taken = match &mut *self.replica.role.borrow_mut() {
            Role::Follower(f) => {
                f.on_read(leader_high_watermark, self.log.log_end_offset());
                f.log_start_to_take(leader_log_start, self.log.log_start_offset())
            }
            _ => None,
        };
        if let Some(start) = taken {
            self.log.advance_log_start(start);
        }
    }

    /// Appends `batches` fetched from `leader` at `leader_epoch` as the leader
    /// wrote them: new epochs enter the cache (persisted) before their
    /// batches, the producer state is rebuilt from them (a retry reaching
    /// this broker once it leads is de-duplicated), and the returned wait
    /// resolves once they are fsynced (group-committed with the shard's
    /// other logs).
    pub async fn append_as_follower(
        &self,
        leader: ReplicaId,
        leader_epoch: i32,
        batches: Vec<AppendBatch>,
    ) -> Result<DurableWait, FollowerAppendError> {
        let Ok(_turn) = self.replica.turn.acquire_permit(1).await else {
            return Err(FollowerAppendError::NotFollowing);
        };
        if !self.follows(leader, leader_epoch) {
            return Err(FollowerAppendError::NotFollowing);
        }
        let new_epochs = |cache: &mut crate::partition::leader_epochs::LeaderEpochCache| {
            for batch in &batches {
                let info = &batch.info;
                cache.assign_if_newer(info.partition_leader_epoch, info.base_offset);
            }
        };
        // No batch of a new epoch goes on disk before its entry: the
        // fetcher tries again.
        self.epochs
            .update_and_persist(&self.log, new_epochs)
            .await
            .map_err(|error| {
                // The cache names epochs the log did not get.
                self.epochs
                    .truncate_cache_from_end(self.log.log_end_offset());
                FollowerAppendError::Log(AppendError::Storage(error))
            })?;
        let slot = self
            .log
            .begin_append(batches)
            .await
            .map_err(FollowerAppendError::Log)?;
        if let Some(from_offset) = slot.take_truncation() {
            self.producers.borrow_mut().truncate_from(from_offset);
        }
        let snapshot = |offset| self.snapshot_producers(offset);
        let record =
            |batch: &_, base_offset| self.producers.borrow_mut().record(batch, base_offset);
        let committed = slot.commit_replicated(Durability::Synced, snapshot, record);
        let (_, wait) = committed.await.map_err(|error| {
            // The cache may name an epoch the log did not get.
            let end = self.log.log_end_offset();
            self.epochs.truncate_cache_from_end(end);
            FollowerAppendError::Log(error)
        })?;
        Ok(wait)
    }

    /// Cuts the log where the leader's diverges (at `offset`, or the start
    /// of the batch holding it): the producer state is reloaded from the
    /// log that remains ([`reload_after_cut`]), the epoch cache follows the
    /// cut; the next fetch names the new end.
    pub async fn truncate_as_follower(&self, offset: i64) -> Result<(), TruncateError> {
        let Ok(_turn) = self.replica.turn.acquire_permit(1).await else {
            return Ok(());
        };
        let cut = self.log.truncate_to(offset).await?;
        if let Some(from_offset) = self.log.take_truncation() {
            let config = self.producers.borrow().config();
            match reload_after_cut(&self.log, &self.snapshots, config).await {
                Ok(producers) => *self.producers.borrow_mut() = producers,
                Err(error) => {
                    log::warn!(
                        "{}: producer state not reloaded after the cut at offset {cut}: \
                         {error}; the cut batches are only dropped from it",
                        self.log.name()
                    );
                    self.producers.borrow_mut().truncate_from(from_offset);
                }
            }
        }
        self.epochs
            .update_and_persist(&self.log, |cache| {
                cache.truncate_from_end(cut);
            })
            .await
            .ok(); // logged; the next append writes the cut
        Ok(())
    }

    /// Kafka's `truncateFullyAndStartAt` for a follower whose log ends below
    /// its leader's log start `leader_log_start` (retention deleted the
    /// leader's early segments, or this replica is new): every segment is
    /// deleted and the log starts empty there; the producer state, its
    /// snapshots and the epoch cache are emptied with it.
    pub async fn restart_as_follower_at(&self, leader_log_start: i64) -> Result<(), TruncateError> {
        let Ok(_turn) = self.replica.turn.acquire_permit(1).await else {
            return Ok(());
        };
        self.log
            .truncate_fully_and_start_at(leader_log_start)
            .await?;
        if let Some(from_offset) = self.log.take_truncation() {
            self.producers.borrow_mut().truncate_from(from_offset);
        }
        // Every snapshot is of the log just deleted (Kafka's
        // `truncateFullyAndStartAt` deletes them all).
        if let Err(error) = self.snapshots.remove_from(&self.log, i64::MIN).await {
            log::warn!(
                "{}: producer snapshots of the deleted log not removed: {error}",
                self.log.name()
            );
        }
        self.epochs
            .update_and_persist(&self.log, |cache| {
                cache.truncate_from_end(i64::MIN);
            })
            .await
            .ok(); // logged; the next append writes it
        Ok(())
    }

    /// Where a follower goes when its leader answers OFFSET_OUT_OF_RANGE
    /// naming its log `leader` ([`FollowerReplica::on_out_of_range`]);
    /// `None` when it no longer follows.
    pub fn follower_out_of_range(&self, leader: LeaderLogBounds) -> Option<OutOfRange> {
        let log_end = self.log.log_end_offset();
        let mut role = self.replica.role.borrow_mut();
        let Role::Follower(f) = &mut *role else {
            return None;
        };
        Some(f.on_out_of_range(leader, log_end))
    }

    /// Where a follower truncates when the leader answers `diverging`.
    pub fn follower_truncation_offset(&self, diverging: EpochEnd) -> Option<i64> {
        let log_end = self.log.log_end_offset();
        let mut role = self.replica.role.borrow_mut();
        let Role::Follower(f) = &mut *role else {
            return None;
        };
        Some(
            self.epochs
                .with_cache(|cache| f.truncation_offset(diverging, log_end, cache)),
        )
    }
}
