//! The active controller: while this voter leads the metadata log, the
//! sans-IO [`Controller`] takes the queued requests and a periodic tick, and
//! its batches are proposed to the log one after the other (each committed
//! before the next input, so its predicted offsets are the log's). Losing
//! leadership, a failed proposal or a controller fault drops it with its
//! pending requests (their callers hear "not the controller" and retry); the
//! next leader starts from the committed image.

use super::{Asked, Member};
use crate::cluster::controller::{Controller, Input, Output, RequestId};
use crate::cluster::raft::node::NodeError;
use crate::cluster::raft::ApplyOutcome;
use crate::cluster::records::{MetadataRecord, RecordBatch};
use crate::cluster::BrokerId;
use crate::local::oneshot;
use crate::metrics::replication::record_active_controller;
use glommio::channels::local_channel;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often a non-leader looks whether it became the leader, and a
/// proposing leader whether it still leads a quorum.
const LEADER_POLL_MS: u64 = 50;
/// The controller's tick (session expiry, unclean elections, balancing).
const TICK_MS: u64 = 250;
/// Requests queued for the active controller; past it they are refused
/// (the caller retries).
const INBOX_LEN_MAX: usize = 1024;
/// Longest a new leader waits to apply the log before it acts.
const CATCH_UP_WAIT_MS_MAX: u64 = 10_000;

/// Wall-clock milliseconds: the controller's sessions compare them.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether this node may act as the controller: it leads a quorum that
/// acknowledged it lately (a leader cut off from the majority stops).
fn leads(member: &Member) -> bool {
    member.node.leads_with_quorum()
}

/// Runs the controller whenever this node leads, until the member stops.
pub(super) async fn run(member: Rc<Member>) {
    while !member.stop.is_fired() {
        if !leads(&member) || !caught_up(&member).await {
            glommio::timer::sleep(Duration::from_millis(LEADER_POLL_MS)).await;
            continue;
        }
        serve_term(&member).await;
    }
}

/// True once this leader applied every entry in its log (its own blank
/// entry included), so its image is the committed one.
async fn caught_up(member: &Member) -> bool {
    let mut waited_ms = 0;
    while waited_ms < CATCH_UP_WAIT_MS_MAX && leads(member) {
        let metrics = member.node.metrics();
        let applied = metrics.last_applied.map(|l| l.index);
        if applied.is_some() && applied == metrics.last_log_index {
            return true;
        }
        glommio::timer::sleep(Duration::from_millis(LEADER_POLL_MS)).await;
        waited_ms += LEADER_POLL_MS;
    }
    false
}

/// One leadership: the controller serves until it loses it.
async fn serve_term(member: &Rc<Member>) {
    let image = member.node.image().clone();
    let offset = image.offset();
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let mut controller = Controller::new(member.config.controller.clone(), image, now_ms(), seed);
    let (sender, receiver) = local_channel::new_bounded::<Asked>(INBOX_LEN_MAX);
    *member.inbox.borrow_mut() = Some(Rc::new(sender));
    record_active_controller(true);
    log::info!(
        "node {}: active controller from metadata offset {offset}",
        member.config.node_id
    );
    let mut pending: HashMap<RequestId, oneshot::Sender<_>> = HashMap::new();
    let mut next_id: RequestId = 0;
    let mut lost_logged = Vec::new();
    loop {
        let asked = futures_lite::future::or(async { receiver.recv().await }, async {
            glommio::timer::sleep(Duration::from_millis(TICK_MS)).await;
            None
        })
        .await;
        let input = match asked {
            Some(Asked { request, answer }) => {
                next_id += 1;
                pending.insert(next_id, answer);
                Input::Request {
                    id: next_id,
                    request,
                }
            }
            None => {
                let lost = lost_brokers(member, &mut lost_logged);
                // A refused batch leaves the controller's predicted offsets
                // ahead of the log: it must resign, as after any input.
                if !drive(member, &mut controller, lost, &mut pending).await {
                    break;
                }
                Input::Tick
            }
        };
        let kept = drive(member, &mut controller, input, &mut pending).await;
        if !kept || !leads(member) || member.stop.is_fired() {
            break;
        }
    }
    *member.inbox.borrow_mut() = None;
    record_active_controller(false);
    // Dropping the answer senders tells the callers.
    drop(pending);
    drop(receiver);
    log::info!(
        "node {}: no longer the active controller",
        member.config.node_id
    );
}

/// The other brokers whose connections to this node's CONTROLLER listener
/// all closed and did not come back, each with when the last one closed
/// (wall-clock ms); logs each change of that set.
fn lost_brokers(member: &Member, logged: &mut Vec<u64>) -> Input {
    let now = now_ms();
    let lost: Vec<(BrokerId, u64)> = member
        .node
        .presence()
        .lost(Instant::now())
        .into_iter()
        .filter(|(id, _)| *id != member.config.node_id as u64)
        .filter_map(|(id, ago)| {
            let since = now.saturating_sub(ago.as_millis() as u64);
            BrokerId::try_from(id).ok().map(|id| (id, since))
        })
        .collect();
    let ids: Vec<u64> = lost.iter().map(|(id, _)| *id as u64).collect();
    if ids != *logged {
        log::info!(
            "node {}: brokers whose connections to the controller closed and did not come back: {ids:?}",
            member.config.node_id
        );
        *logged = ids;
    }
    Input::ConnectionsLost(lost)
}

/// Proposes `batch`, logging the brokers it fences (failover timelines).
async fn propose_logged(member: &Member, batch: &RecordBatch) -> Result<ApplyOutcome, NodeError> {
    for record in &batch.records {
        if let MetadataRecord::FenceBroker(fence) = record {
            log::info!(
                "node {}: fencing broker {} (epoch {})",
                member.config.node_id,
                fence.broker_id,
                fence.broker_epoch
            );
        }
    }
    // A leader cut off from the majority never commits: stop waiting once it
    // no longer leads a quorum, so its callers hear "not the controller".
    let deposed = async {
        while leads(member) {
            glommio::timer::sleep(Duration::from_millis(LEADER_POLL_MS)).await;
        }
        Err(NodeError::NotLeader(member.node.leader()))
    };
    futures_lite::future::or(member.node.propose(batch), deposed).await
}

/// Hands `input` to the controller and carries out what it asks, in order.
/// False when the controller must resign.
async fn drive(
    member: &Member,
    controller: &mut Controller,
    input: Input,
    pending: &mut HashMap<RequestId, oneshot::Sender<(crate::cluster::controller::Reply, i64)>>,
) -> bool {
    let mut queue: VecDeque<Output> = controller.handle(now_ms(), input).into();
    while let Some(output) = queue.pop_front() {
        match output {
            Output::Append(batch) => match propose_logged(member, &batch).await {
                Ok(outcome) if outcome.error.is_none() => {
                    let committed = Input::Committed {
                        offset: outcome.image_offset,
                    };
                    queue.extend(controller.handle(now_ms(), committed));
                }
                Ok(outcome) => {
                    log::error!(
                        "controller batch at {} refused by the image: {:?}",
                        outcome.base_offset,
                        outcome.error
                    );
                    return false;
                }
                Err(e) => {
                    log::info!("controller proposal not committed: {e}");
                    return false;
                }
            },
            Output::Reply { id, reply } => {
                if let Some(answer) = pending.remove(&id) {
                    answer.send((reply, controller.committed_offset()));
                }
            }
            Output::Fault(why) => {
                log::error!("controller fault, resigning: {why}");
                return false;
            }
        }
    }
    true
}
