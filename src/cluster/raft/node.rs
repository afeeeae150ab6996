//! One member of the metadata quorum (a KRaft controller voter, or a
//! learner that follows the log): its Raft instance on the current glommio
//! executor, its log and state machine under the node's log dir, and the
//! server side of the CONTROLLER listener.

use super::log_store::{MetadataLogStore, METADATA_LOG_DIR_NAME};
use super::network::{ControllerNetwork, ListenerHandlers};
use super::presence::PeerPresence;
use super::server::{serve, ReadDeadlines};
use super::state_machine::MetadataStateMachine;
use super::{ApplyOutcome, EncodedBatch, MetadataRaft, NodeId};
use crate::cluster::image::MetadataImage;
use crate::cluster::records::{encode_batch, RecordBatch};
use crate::local::notify::LocalEvent;
use glommio::net::TcpListener;
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers, Config, RaftMetrics, SnapshotPolicy};
use std::cell::Ref;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// openraft's name for the metadata quorum.
const CLUSTER_NAME: &str = "millrace-metadata";
/// Largest encoded batch one proposal may carry: far above any controller
/// batch, far below the log's and the wire's frame bounds, so an oversized
/// proposal is refused here instead of failing the log.
pub const PROPOSAL_BYTES_MAX: usize = 1 << 20;

/// How one metadata node runs.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's `node.id`.
    pub node_id: NodeId,
    /// The node's log dir; the metadata log lives in its
    /// `__cluster_metadata-0`.
    pub log_dir: PathBuf,
    /// The controller voters and their CONTROLLER listener addresses
    /// (`controller.quorum.voters`). A node not among them is a learner.
    pub voters: BTreeMap<NodeId, String>,
    /// How often the leader heartbeats.
    pub heartbeat_interval_ms: u64,
    /// A follower that heard no heartbeat for a time drawn in `[min, max)`
    /// starts an election (see [`NodeConfig::openraft_election_timeouts`]
    /// for how this maps onto openraft, whose leader lease adds to it).
    pub election_timeout_min_ms: u64,
    /// See `election_timeout_min_ms`.
    pub election_timeout_max_ms: u64,
    /// The CONTROLLER listener closes a peer connection with no new frame
    /// for this long.
    pub peer_idle_timeout_ms: u64,
    /// A frame whose header arrived must be whole within this.
    pub frame_read_timeout_ms: u64,
    /// Each snapshot chunk sent must be acknowledged within this.
    pub snapshot_chunk_timeout_ms: u64,
    /// A snapshot is taken after this many entries; the log is then purged
    /// up to it (keeping `entries_kept_after_snapshot`).
    pub snapshot_every_entries: u64,
    /// Entries kept below a snapshot for followers slightly behind.
    pub entries_kept_after_snapshot: u64,
    /// Most entries in one replication request.
    pub append_entries_max: u64,
}

impl NodeConfig {
    /// Defaults in the spirit of KRaft's (`controller.quorum.fetch.timeout.ms`
    /// 2000, `election.timeout.ms` 1000) for `node_id` with `voters`.
    pub fn new(node_id: NodeId, log_dir: PathBuf, voters: BTreeMap<NodeId, String>) -> Self {
        NodeConfig {
            node_id,
            log_dir,
            voters,
            heartbeat_interval_ms: 250,
            election_timeout_min_ms: 1_000,
            election_timeout_max_ms: 2_000,
            peer_idle_timeout_ms: 60_000,
            frame_read_timeout_ms: 10_000,
            snapshot_chunk_timeout_ms: 2_000,
            snapshot_every_entries: 10_000,
            entries_kept_after_snapshot: 1_000,
            append_entries_max: 300,
        }
    }

    /// openraft's `(election_timeout_min, election_timeout_max)` for this
    /// node's `[min, max)`.
    ///
    /// openraft starts an election `lease + t` after the last heartbeat,
    /// `t` drawn in its `[min, max)` and the lease being its max. Passing
    /// ours through unchanged (0.5-1 s) made an election start 1.5-2 s after
    /// the leader's loss (a measured failover median of 1.76 s). With
    /// openraft's max at half of ours, elections start within ours: at
    /// `max/2 + max(min - max/2, heartbeat + 1)` at the earliest, `max` at
    /// the latest; and the other followers' leases (openraft's max) have
    /// run out by then, so the first candidate is not refused.
    pub fn openraft_election_timeouts(&self) -> Result<(u64, u64), NodeError> {
        let lease = self.leader_lease_ms();
        let min = self
            .election_timeout_min_ms
            .saturating_sub(lease)
            .max(self.heartbeat_interval_ms + 1);
        if min >= lease {
            return Err(NodeError::Config(format!(
                "election timeouts {}..{} ms are too short for heartbeats every {} ms",
                self.election_timeout_min_ms,
                self.election_timeout_max_ms,
                self.heartbeat_interval_ms
            )));
        }
        Ok((min, lease))
    }

    /// openraft's leader lease: a leader no majority of voters acknowledged
    /// for this long refuses writes (its election timeout max).
    pub fn leader_lease_ms(&self) -> u64 {
        self.election_timeout_max_ms / 2
    }

    fn read_deadlines(&self) -> ReadDeadlines {
        ReadDeadlines {
            idle: Duration::from_millis(self.peer_idle_timeout_ms),
            frame: Duration::from_millis(self.frame_read_timeout_ms),
        }
    }

    fn raft_config(&self) -> Result<Config, NodeError> {
        let (election_timeout_min, election_timeout_max) = self.openraft_election_timeouts()?;
        Config {
            cluster_name: CLUSTER_NAME.to_string(),
            heartbeat_interval: self.heartbeat_interval_ms,
            election_timeout_min,
            election_timeout_max,
            install_snapshot_timeout: self.snapshot_chunk_timeout_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every_entries),
            max_in_snapshot_log_to_keep: self.entries_kept_after_snapshot,
            max_payload_entries: self.append_entries_max,
            // A restarted or cut-off voter asks before it bumps its term, so
            // it cannot make a healthy leader step down (KIP-996's pre-vote).
            enable_pre_vote: Some(true),
            // A restarted leader stands for election like any voter, as a
            // KRaft controller resigns at restart: restored at once, it served
            // controller requests from its own (possibly stale) image until a
            // newer leader's messages reached it, and told a restarted broker
            // that its fresh registration, made with the real leader, was
            // stale.
            enable_leader_restore: Some(false),
            ..Default::default()
        }
        .validate()
        .map_err(|e| NodeError::Config(e.to_string()))
    }
}

/// Why a node did not start or a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// The timing or limits are not a valid Raft configuration.
    Config(String),
    /// The metadata log or snapshot could not be read or written.
    Storage(String),
    /// This node does not lead; the leader when known.
    NotLeader(Option<NodeId>),
    /// Raft stopped (shut down or a fatal error).
    Stopped(String),
    /// The proposal's encoded size exceeds [`PROPOSAL_BYTES_MAX`].
    TooLarge(usize),
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Config(why) => write!(f, "metadata quorum configuration: {why}"),
            NodeError::Storage(why) => write!(f, "metadata log: {why}"),
            NodeError::NotLeader(Some(leader)) => {
                write!(f, "not the controller leader (node {leader} is)")
            }
            NodeError::NotLeader(None) => write!(f, "not the controller leader (none known)"),
            NodeError::Stopped(why) => write!(f, "metadata quorum stopped: {why}"),
            NodeError::TooLarge(len) => {
                write!(
                    f,
                    "metadata batch of {len} bytes exceeds {PROPOSAL_BYTES_MAX}"
                )
            }
        }
    }
}

impl std::error::Error for NodeError {}

fn write_error(
    e: RaftError<super::MetadataRaftTypes, ClientWriteError<super::MetadataRaftTypes>>,
) -> NodeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            NodeError::NotLeader(forward.leader_id)
        }
        other => NodeError::Stopped(other.to_string()),
    }
}

/// A running member of the metadata quorum.
pub struct MetadataNode {
    node_id: NodeId,
    leader_lease: Duration,
    raft: MetadataRaft,
    state_machine: MetadataStateMachine,
    recovered_snapshot: Option<u64>,
    presence: PeerPresence,
    stop: LocalEvent,
}

impl MetadataNode {
    /// Opens the node's metadata log, starts Raft and serves the
    /// CONTROLLER `listener`. A voter of a pristine quorum proposes the
    /// initial membership (every voter proposes the same one, so whichever
    /// lands first is the one all hold).
    pub async fn start(config: &NodeConfig, listener: TcpListener) -> Result<Self, NodeError> {
        Self::start_serving(config, listener, ListenerHandlers::default()).await
    }

    /// [`start`](Self::start), with brokers' and Kafka clients' requests on
    /// the same listener handed to `handlers` (see [`ListenerHandlers`]).
    pub async fn start_serving(
        config: &NodeConfig,
        listener: TcpListener,
        handlers: ListenerHandlers,
    ) -> Result<Self, NodeError> {
        let dir = config.log_dir.join(METADATA_LOG_DIR_NAME);
        let storage = |e: std::io::Error| NodeError::Storage(format!("{}: {e}", dir.display()));
        let log_store = MetadataLogStore::open(&dir).await.map_err(storage)?;
        let state_machine = MetadataStateMachine::open(&dir).await.map_err(storage)?;
        let recovered_snapshot = state_machine.last_applied().map(|id| id.index);
        let raft = MetadataRaft::new(
            config.node_id,
            Arc::new(config.raft_config()?),
            ControllerNetwork::new(Duration::from_millis(config.peer_idle_timeout_ms)),
            log_store,
            state_machine.clone(),
        )
        .await
        .map_err(|e| NodeError::Stopped(e.to_string()))?;
        let stop = LocalEvent::default();
        let deadlines = config.read_deadlines();
        let presence = PeerPresence::default();
        glommio::spawn_local(serve(
            listener,
            raft.clone(),
            handlers,
            presence.clone(),
            stop.clone(),
            deadlines,
        ))
        .detach();
        let node = MetadataNode {
            node_id: config.node_id,
            leader_lease: Duration::from_millis(config.leader_lease_ms()),
            raft,
            state_machine,
            recovered_snapshot,
            presence,
            stop,
        };
        if config.voters.contains_key(&config.node_id) {
            node.initialize(&config.voters).await?;
        }
        Ok(node)
    }

    async fn initialize(&self, voters: &BTreeMap<NodeId, String>) -> Result<(), NodeError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| NodeError::Stopped(e.to_string()))?;
        if initialized {
            return Ok(());
        }
        let members: BTreeMap<NodeId, BasicNode> = voters
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        match self.raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(NodeError::Config(e.to_string())),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Appends `batch` to the metadata log (this node must lead) and
    /// resolves once it is committed and applied here.
    pub async fn propose(&self, batch: &RecordBatch) -> Result<ApplyOutcome, NodeError> {
        let entry = EncodedBatch(encode_batch(batch));
        if entry.0.len() > PROPOSAL_BYTES_MAX {
            return Err(NodeError::TooLarge(entry.0.len()));
        }
        let written = self.raft.client_write(entry).await.map_err(write_error)?;
        Ok(written.data)
    }

    /// Adds node `id` (CONTROLLER listener at `addr`) as a learner: it
    /// receives the log but does not vote. Resolves once it caught up.
    pub async fn add_learner(&self, id: NodeId, addr: &str) -> Result<(), NodeError> {
        self.raft
            .add_learner(id, BasicNode::new(addr), true)
            .await
            .map(|_| ())
            .map_err(write_error)
    }

    /// Makes node `id` (CONTROLLER listener at `addr`) a voter (KIP-853's
    /// AddRaftVoter): it is added as a learner, caught up, then promoted by
    /// a joint-consensus membership change. Resolves once the change is
    /// committed. This node must lead.
    pub async fn add_voter(&self, id: NodeId, addr: &str) -> Result<(), NodeError> {
        self.add_learner(id, addr).await?;
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map(|_| ())
            .map_err(write_error)
    }

    /// Removes voter `id` from the quorum (KIP-853's RemoveRaftVoter); it
    /// stays a learner following the log when `keep_as_learner`. A leader
    /// that removes itself steps down once the change is committed. This
    /// node must lead.
    pub async fn remove_voter(&self, id: NodeId, keep_as_learner: bool) -> Result<(), NodeError> {
        self.raft
            .change_membership(
                ChangeMembers::RemoveVoters(BTreeSet::from([id])),
                keep_as_learner,
            )
            .await
            .map(|_| ())
            .map_err(write_error)
    }

    /// The voters of the membership in effect on this node.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// The metadata image applied so far.
    pub fn image(&self) -> Ref<'_, MetadataImage> {
        self.state_machine.image()
    }

    /// Index of the snapshot this node loaded at start, if any.
    pub fn recovered_snapshot_index(&self) -> Option<u64> {
        self.recovered_snapshot
    }

    /// Raft's view of this node now (leader, term, log, snapshot).
    pub fn metrics(&self) -> RaftMetrics<super::MetadataRaftTypes> {
        self.raft.metrics().borrow_watched().clone()
    }

    /// Which peers hold connections to this node's CONTROLLER listener.
    pub fn presence(&self) -> &PeerPresence {
        &self.presence
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// Whether this node leads and a majority of voters acknowledged it
    /// within the leader lease: KRaft's check-quorum. openraft keeps a leader
    /// cut off from the majority in its role until a newer term reaches it,
    /// refusing writes once its lease ran out; acting on its stale image
    /// meanwhile would make it a second, zombie controller. (Kafka's leader
    /// resigns after 1.5 x `controller.quorum.fetch.timeout.ms`.)
    pub fn leads_with_quorum(&self) -> bool {
        let watched = self.raft.metrics();
        let metrics = watched.borrow_watched();
        if metrics.current_leader != Some(self.node_id) {
            return false;
        }
        let mut voters = metrics.membership_config.membership().voter_ids();
        let sole_voter = voters.next() == Some(self.node_id) && voters.next().is_none();
        sole_voter
            || metrics
                .last_quorum_acked
                .is_some_and(|acked| acked.elapsed() < self.leader_lease)
    }

    /// Stops serving peers and shuts Raft down (the log stays on disk).
    pub async fn stop(self) {
        self.shutdown().await;
    }

    /// [`stop`](Self::stop) for a node that is shared.
    pub async fn shutdown(&self) {
        self.stop.fire();
        if let Err(e) = self.raft.shutdown().await {
            log::warn!("metadata node {}: shutdown: {e}", self.node_id);
        }
    }
}
