//! The metadata quorum's own requests: DescribeQuorum (KIP-595) and
//! AddRaftVoter / RemoveRaftVoter (KIP-853). As in Kafka, the Raft leader
//! answers them: only it tracks each replica's log end offset and last
//! fetch, and only it can change the voter set. Any other node forwards them
//! to the leader over the CONTROLLER listener, following its hints.

use super::rpc::{decode, encode, RpcRequest, RpcResponse};
use super::Member;
use crate::config::listener::ListenerAddr;
use crate::protocol::error_code;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Deadline of one exchange with the leader (a voter change may take a
/// learner's whole catch-up: that is bounded by the request's own timeout).
const FORWARD_DEADLINE_MS: u64 = 5_000;
/// Leaders tried for one request before giving up (an election may be on).
const FORWARD_ATTEMPTS_MAX: usize = 6;
/// Pause between attempts.
const FORWARD_BACKOFF_MS: u64 = 200;
/// Kafka's DUPLICATE_VOTER: the node already votes.
const DUPLICATE_VOTER: i16 = 126;
/// Kafka's VOTER_NOT_FOUND: the node does not vote.
const VOTER_NOT_FOUND: i16 = 127;
/// Kafka's NOT_LEADER_OR_FOLLOWER: no quorum leader could be reached.
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

/// A request about the quorum itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuorumOp {
    /// DescribeQuorum.
    Describe,
    /// AddRaftVoter: node `id`, whose CONTROLLER listener is `addr`
    /// (`host:port`), becomes a voter within `timeout_ms`.
    AddVoter {
        /// `node.id`.
        id: i32,
        /// Its CONTROLLER listener.
        addr: String,
        /// The request's timeout.
        timeout_ms: u64,
    },
    /// RemoveRaftVoter: node `id` stops voting (it still follows the log).
    RemoveVoter {
        /// `node.id`.
        id: i32,
    },
}

/// One replica of the quorum as the leader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaState {
    /// `node.id`.
    pub id: i32,
    /// The last log index it holds, or -1 when unknown.
    pub log_end_offset: i64,
    /// Wall-clock ms of its last acknowledgement to the leader, or -1.
    pub last_fetch_ms: i64,
    /// Wall-clock ms it last held every committed entry, or -1.
    pub last_caught_up_ms: i64,
}

/// The quorum as the leader sees it (DescribeQuorum's partition data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumState {
    /// The leader's `node.id`.
    pub leader: i32,
    /// The Raft term (KRaft's leader epoch).
    pub term: i64,
    /// The committed index (KRaft's high watermark).
    pub high_watermark: i64,
    /// Voters.
    pub voters: Vec<ReplicaState>,
    /// Learners (KRaft's observers).
    pub observers: Vec<ReplicaState>,
    /// DescribeQuorum v2's `Nodes`: each voter's CONTROLLER endpoint as the
    /// node the client asked knows it. Filled there, never sent between
    /// nodes, so the Raft RPC's layout stays that of older nodes.
    #[serde(skip)]
    pub voter_endpoints: Vec<VoterEndpoint>,
}

/// Where a voter's CONTROLLER listener is (KIP-853's voter endpoint).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VoterEndpoint {
    /// `node.id`.
    pub id: i32,
    /// The listener's name: the first of `controller.listener.names`, as
    /// Kafka names the endpoints of `controller.quorum.voters`.
    pub listener: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The answer to a [`QuorumOp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuorumAnswer {
    /// DescribeQuorum's answer.
    State(QuorumState),
    /// The voter change is committed.
    Done,
    /// Refused or failed, with Kafka's error code and why.
    Refused {
        /// Kafka error code.
        code: i16,
        /// Why.
        message: String,
    },
}

fn refused(code: i16, message: impl Into<String>) -> QuorumAnswer {
    QuorumAnswer::Refused {
        code,
        message: message.into(),
    }
}

fn wall_ms(at: Instant) -> i64 {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now_ms - at.elapsed().as_millis() as i64
}

impl Member {
    /// Whether this node leads the metadata quorum now.
    pub(super) fn leads_quorum(&self) -> bool {
        self.node.metrics().state == openraft::ServerState::Leader
    }

    /// Answers `op`: here when this node leads the quorum, else at the
    /// leader it knows of (following "not the leader" hints).
    pub async fn quorum(&self, op: QuorumOp) -> QuorumAnswer {
        match self.quorum_at_leader(op).await {
            QuorumAnswer::State(mut state) => {
                state.voter_endpoints = self.voter_endpoints(&state.voters);
                QuorumAnswer::State(state)
            }
            other => other,
        }
    }

    /// The CONTROLLER endpoint of each of `voters` this node knows.
    fn voter_endpoints(&self, voters: &[ReplicaState]) -> Vec<VoterEndpoint> {
        voters
            .iter()
            .filter_map(|voter| {
                let addr = self.raft_addr_of(u64::try_from(voter.id).ok()?)?;
                let addr = ListenerAddr::parse_host_port(&addr).ok()?;
                Some(VoterEndpoint {
                    id: voter.id,
                    listener: self.config.controller_listener_name.clone(),
                    host: addr.host,
                    port: addr.port,
                })
            })
            .collect()
    }

    /// [`Member::quorum`] as the leader answers it.
    async fn quorum_at_leader(&self, op: QuorumOp) -> QuorumAnswer {
        let body = encode(&RpcRequest::Quorum(op.clone()));
        let mut last_error = "no leader of the metadata quorum is known".to_string();
        let mut hint = None;
        for _ in 0..FORWARD_ATTEMPTS_MAX {
            if self.leads_quorum() {
                return self.serve_quorum(op).await;
            }
            let leader = hint.take().or_else(|| self.node.leader());
            if let Some(addr) = leader.and_then(|id| self.raft_addr_of(id)) {
                let deadline = FORWARD_DEADLINE_MS.max(op_timeout_ms(&op));
                match self
                    .link(&addr)
                    .call(body.clone(), Duration::from_millis(deadline))
                    .await
                {
                    Ok(answer) => match decode::<RpcResponse>(&answer) {
                        Ok(RpcResponse::Quorum(answer)) => return answer,
                        Ok(RpcResponse::NotController { leader }) => {
                            last_error = format!("{addr} does not lead the metadata quorum");
                            hint = leader;
                        }
                        Ok(other) => last_error = format!("{addr}: unexpected answer {other:?}"),
                        Err(e) => last_error = format!("{addr}: {e}"),
                    },
                    Err(e) => last_error = format!("{addr}: {e}"),
                }
            }
            glommio::timer::sleep(Duration::from_millis(FORWARD_BACKOFF_MS)).await;
        }
        refused(NOT_LEADER_OR_FOLLOWER, last_error)
    }

    /// The Raft listener of node `id` as the membership records it.
    pub(super) fn raft_addr_of(&self, id: u64) -> Option<String> {
        let metrics = self.node.metrics();
        let membership = metrics.membership_config.membership();
        membership
            .get_node(&id)
            .map(|n| n.addr.clone())
            .or_else(|| self.config.voters.get(&id).cloned())
    }

    /// Carries out `op` on this node, which leads the quorum.
    pub(super) async fn serve_quorum(&self, op: QuorumOp) -> QuorumAnswer {
        match op {
            QuorumOp::Describe => QuorumAnswer::State(self.replication_state()),
            QuorumOp::AddVoter {
                id,
                addr,
                timeout_ms,
            } => self.add_voter(id, &addr, timeout_ms).await,
            QuorumOp::RemoveVoter { id } => self.remove_voter(id).await,
        }
    }

    async fn add_voter(&self, id: i32, addr: &str, timeout_ms: u64) -> QuorumAnswer {
        let Ok(node_id) = u64::try_from(id) else {
            return refused(
                error_code::INVALID_REQUEST,
                format!("voter id {id} is negative"),
            );
        };
        if self.node.voters().contains(&node_id) {
            return refused(DUPLICATE_VOTER, format!("node {id} is already a voter"));
        }
        let added = futures_lite::future::or(
            async { Some(self.node.add_voter(node_id, addr).await) },
            async {
                glommio::timer::sleep(Duration::from_millis(timeout_ms)).await;
                None
            },
        )
        .await;
        match added {
            Some(Ok(())) => {
                log::info!("node {id} ({addr}) is a voter of the metadata quorum");
                QuorumAnswer::Done
            }
            Some(Err(e)) => refused(error_code::UNKNOWN_SERVER_ERROR, e.to_string()),
            None => refused(
                error_code::REQUEST_TIMED_OUT,
                format!("node {id} at {addr} did not catch up within {timeout_ms} ms"),
            ),
        }
    }

    async fn remove_voter(&self, id: i32) -> QuorumAnswer {
        let voters = self.node.voters();
        let node_id = u64::try_from(id).unwrap_or(u64::MAX);
        if !voters.contains(&node_id) {
            return refused(VOTER_NOT_FOUND, format!("node {id} is not a voter"));
        }
        if voters.len() == 1 {
            return refused(
                error_code::INVALID_REQUEST,
                format!("node {id} is the only voter"),
            );
        }
        match self.node.remove_voter(node_id, true).await {
            Ok(()) => {
                log::info!("node {id} no longer votes in the metadata quorum");
                QuorumAnswer::Done
            }
            Err(e) => refused(error_code::UNKNOWN_SERVER_ERROR, e.to_string()),
        }
    }

    /// The quorum from this node's replication state: complete on the
    /// leader; elsewhere the other replicas' offsets and fetches are -1.
    pub(super) fn replication_state(&self) -> QuorumState {
        let metrics = self.node.metrics();
        let membership = metrics.membership_config.membership();
        let committed = metrics
            .cluster_committed
            .as_ref()
            .map_or(-1, |l| l.index as i64);
        let now_ms = wall_ms(Instant::now());
        let replica = |id: u64| {
            if id == metrics.id {
                let end = metrics.last_log_index.map_or(-1, |i| i as i64);
                return ReplicaState {
                    id: id as i32,
                    log_end_offset: end,
                    last_fetch_ms: now_ms,
                    last_caught_up_ms: now_ms,
                };
            }
            let end = metrics
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).cloned().flatten())
                .map_or(-1, |log_id| log_id.index as i64);
            let fetched = metrics
                .heartbeat
                .as_ref()
                .and_then(|h| h.get(&id).cloned().flatten())
                .map_or(-1, |at| wall_ms(*at));
            ReplicaState {
                id: id as i32,
                log_end_offset: end,
                last_fetch_ms: fetched,
                // Acknowledged while holding every committed entry.
                last_caught_up_ms: if end >= committed { fetched } else { -1 },
            }
        };
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        QuorumState {
            leader: metrics.current_leader.map_or(-1, |id| id as i32),
            term: metrics.current_term as i64,
            high_watermark: committed,
            voters: voters.iter().map(|id| replica(*id)).collect(),
            observers: membership
                .nodes()
                .map(|(id, _)| *id)
                .filter(|id| !voters.contains(id))
                .map(replica)
                .collect(),
            voter_endpoints: Vec::new(),
        }
    }
}

fn op_timeout_ms(op: &QuorumOp) -> u64 {
    match op {
        QuorumOp::AddVoter { timeout_ms, .. } => *timeout_ms,
        _ => 0,
    }
}
