//! AlterPartition (key 56) from this broker's partition leaders to the active
//! controller, as Kafka's `AlterPartitionManager` sends it: proposals from
//! every shard queue here (shard 0), and one task sends whatever is queued as
//! one request per round, one round in flight at a time. So an ISR change
//! costs one controller request however many partitions change together,
//! never one per partition per tick.
//!
//! The controller commits the change to the metadata log before it answers
//! (its replies wait for their records to commit), and a caller hears back
//! only once this broker's shards adopted that metadata offset (bounded), so
//! the answer and the shards' cluster view agree.

use super::rpc::WireReply;
use super::Member;
use crate::cluster::controller::api::{
    AlterPartitionItem, AlterPartitionRequest, PartitionState as CommittedState, Reply, Request,
    ResponseError,
};
use crate::cluster::records::LeaderRecoveryState;
use crate::cluster::TopicIdPartition;
use crate::local::oneshot;
use crate::partition::replica::{AlterPartitionProposal, PartitionState};
use crate::protocol::error_code;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

/// Proposals waiting for a round; past it a proposal is refused with
/// REQUEST_TIMED_OUT (the leader proposes again on a later tick).
pub const ALTER_PARTITION_QUEUED_MAX: usize = 8192;
/// Partitions in one AlterPartition request; the rest wait for the next round.
pub const ALTER_PARTITION_BATCH_MAX: usize = 1000;
/// Longest an answered proposal waits for this broker's shards to adopt the
/// metadata offset that holds it.
const ALTER_PARTITION_APPLY_WAIT_MS_MAX: u64 = 10_000;

/// The committed state, and the metadata offset holding it; or an error code.
type Answer = Result<(CommittedState, i64), i16>;

struct Queued {
    item: AlterPartitionItem,
    answer: oneshot::Sender<Answer>,
}

/// Proposals queued for the next AlterPartition round.
pub(super) struct AlterQueue {
    queued: RefCell<VecDeque<Queued>>,
    /// Wakes the sending task (one message at most: it drains everything).
    wake: LocalSender<()>,
    woken: RefCell<Option<LocalReceiver<()>>>,
    /// AlterPartition requests sent so far (each covers a whole round).
    requests_sent: Cell<u64>,
}

impl AlterQueue {
    pub(super) fn new() -> Self {
        let (wake, woken) = local_channel::new_bounded(1);
        AlterQueue {
            queued: RefCell::new(VecDeque::new()),
            wake,
            woken: RefCell::new(Some(woken)),
            requests_sent: Cell::new(0),
        }
    }

    /// The next round: the oldest proposal of each partition, at most
    /// [`ALTER_PARTITION_BATCH_MAX`] (the controller refuses a partition
    /// named twice in one request, so later ones wait for the next round).
    fn take_round(&self) -> Vec<Queued> {
        let mut queued = self.queued.borrow_mut();
        let mut seen = BTreeSet::new();
        let mut round = Vec::new();
        let mut kept = VecDeque::with_capacity(queued.len());
        for entry in queued.drain(..) {
            if round.len() < ALTER_PARTITION_BATCH_MAX && seen.insert(entry.item.tp) {
                round.push(entry);
            } else {
                kept.push_back(entry);
            }
        }
        *queued = kept;
        round
    }
}

impl Member {
    /// Asks the active controller to commit a partition leader's ISR change
    /// (Kafka's AlterPartition, key 56, semantics), from shard 0; other shards
    /// use [`crate::shard::calls::cluster::alter_partition`], which comes
    /// here by message.
    ///
    /// `tp` is the partition this broker leads; `proposal` comes from
    /// [`LeaderReplica`](crate::partition::replica::leader::LeaderReplica)
    /// (its leader epoch, the partition epoch it is based on, the ISR wanted
    /// with each member's broker epoch as its fetches named it, KIP-903).
    ///
    /// Returns the committed [`PartitionState`] (this broker's shards have
    /// adopted the metadata that holds it by then), or a Kafka error code:
    /// - `FENCED_LEADER_EPOCH` (74): the leader epoch is stale;
    /// - `INVALID_UPDATE_VERSION` (95): the partition epoch is stale (another
    ///   change committed first; the metadata brings it);
    /// - `INELIGIBLE_REPLICA` (107): an ISR member is fenced or shutting
    ///   down, or is named with a broker epoch not its registered one (a
    ///   process replaced since);
    /// - `NEW_LEADER_ELECTED` (108): the change committed but moved leadership;
    /// - `INVALID_REQUEST` (42): this broker does not lead the partition, or
    ///   the ISR is malformed (not replicas, leader missing, duplicates);
    /// - `UNKNOWN_TOPIC_ID` (100) / `UNKNOWN_TOPIC_OR_PARTITION` (3);
    /// - retriable, propose again later: `NOT_CONTROLLER` (41: no active
    ///   controller answered, or it is behind), `STALE_BROKER_EPOCH` (77: this
    ///   broker is not registered yet or re-registered), `REQUEST_TIMED_OUT`
    ///   (7: the queue is full).
    pub async fn alter_partition(
        &self,
        tp: TopicIdPartition,
        proposal: &AlterPartitionProposal,
    ) -> Result<PartitionState, i16> {
        let (answer, answered) = oneshot::channel();
        {
            let mut queued = self.alter.queued.borrow_mut();
            if queued.len() >= ALTER_PARTITION_QUEUED_MAX {
                return Err(error_code::REQUEST_TIMED_OUT);
            }
            queued.push_back(Queued {
                item: item_of(tp, proposal),
                answer,
            });
        }
        // Full means the task is already woken: it drains everything.
        let _ = self.alter.wake.try_send(());
        let (state, offset) = answered.await.unwrap_or(Err(error_code::NOT_CONTROLLER))?;
        self.wait_published(offset, ALTER_PARTITION_APPLY_WAIT_MS_MAX)
            .await;
        Ok(replica_state(state))
    }

    /// AlterPartition requests this broker sent to the controller so far.
    pub fn alter_partition_requests_sent(&self) -> u64 {
        self.alter.requests_sent.get()
    }

    /// Sends the queued proposals, one round at a time, until stopped.
    pub(super) async fn run_alter_partition(self: Rc<Self>) {
        let Some(woken) = self.alter.woken.borrow_mut().take() else {
            return;
        };
        loop {
            if self.alter.queued.borrow().is_empty() {
                let stopped = futures_lite::future::or(
                    async {
                        woken.recv().await;
                        false
                    },
                    async {
                        self.stop.wait().await;
                        true
                    },
                )
                .await;
                if stopped {
                    break;
                }
                continue;
            }
            let round = self.alter.take_round();
            self.send_round(round).await;
        }
        // Dropping the answers tells the callers NOT_CONTROLLER.
        self.alter.queued.borrow_mut().clear();
    }

    async fn send_round(&self, round: Vec<Queued>) {
        let request = AlterPartitionRequest {
            broker_id: self.config.node_id,
            broker_epoch: self.broker_epoch.get(),
            partitions: round.iter().map(|q| q.item.clone()).collect(),
        };
        if request.broker_epoch < 0 {
            let code = ResponseError::StaleBrokerEpoch.code();
            return round.into_iter().for_each(|q| q.answer.send(Err(code)));
        }
        self.alter
            .requests_sent
            .set(self.alter.requests_sent.get() + 1);
        let reply = match self
            .call_controller(&Request::AlterPartition(request))
            .await
        {
            Ok((wire, offset)) => wire_results(wire, offset, round.len()),
            Err(e) => {
                log::info!("AlterPartition not sent to a controller: {e}");
                Err(error_code::NOT_CONTROLLER)
            }
        };
        match reply {
            Ok(results) => {
                for (queued, result) in round.into_iter().zip(results) {
                    queued.answer.send(result);
                }
            }
            Err(code) => round.into_iter().for_each(|q| q.answer.send(Err(code))),
        }
    }
}

/// One answer per proposal of the round, in order; or the error of them all.
fn wire_results(wire: WireReply, offset: i64, len: usize) -> Result<Vec<Answer>, i16> {
    match wire.into_alter_partition_reply() {
        Some(Reply::AlterPartition(Ok(results))) if results.len() == len => Ok(results
            .into_iter()
            .map(|r| r.result.map(|s| (s, offset)).map_err(|e| e.code()))
            .collect()),
        Some(Reply::AlterPartition(Err(e))) => Err(e.code()),
        _ => Err(error_code::UNKNOWN_SERVER_ERROR),
    }
}

fn item_of(tp: TopicIdPartition, proposal: &AlterPartitionProposal) -> AlterPartitionItem {
    AlterPartitionItem {
        tp,
        leader_epoch: proposal.leader_epoch,
        partition_epoch: proposal.partition_epoch,
        // KIP-903: the epochs the followers' fetches named (Fetch v15
        // ReplicaState), so a member restarted since is refused.
        new_isr: proposal.isr_with_epochs().collect(),
        leader_recovery_state: LeaderRecoveryState::Recovered,
    }
}

fn replica_state(state: CommittedState) -> PartitionState {
    PartitionState {
        leader: state.leader.unwrap_or(-1),
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        replicas: state.replicas,
        isr: state.isr,
    }
}
