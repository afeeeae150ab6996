//! One node of a millrace cluster, on shard 0: the I/O that runs the sans-IO
//! state machines of this module's siblings.
//!
//! - The metadata log ([`MetadataNode`]) serves the CONTROLLER listener: a
//!   voter when `process.roles` has `controller`, else a learner the active
//!   controller adds when the broker registers (its Raft listener then is a
//!   port of its own, kept in the log dir so a restart reuses it).
//! - `active`: while this node leads the Raft group it runs the
//!   [`Controller`](crate::cluster::controller::Controller), fed by brokers'
//!   requests and a tick, its batches proposed to the log in order.
//! - `lifecycle`: the broker's [`BrokerLifecycle`](crate::cluster::broker)
//!   (register, heartbeat, controlled shutdown), talking to the active
//!   controller through `client`.
//! - [`alter`]: AlterPartition from this broker's partition leaders, batched
//!   into one controller request per round ([`Member::alter_partition`]).
//! - [`elections`]: ElectLeaders forwarded to the controller
//!   ([`Member::elect_leaders`]).
//! - `producer_ids`: blocks of producer ids from the controller
//!   ([`Member::allocate_producer_ids`]).
//! - `publish`: every applied metadata change becomes a [`ClusterView`] handed
//!   to each shard by the caller's `publish` (the shard layer's messages).
//!
//! Files: [`rpc`] (the broker-controller messages), [`view`] (what shards
//! see), [`quorum`] (DescribeQuorum and voter changes, by the Raft leader),
//! `active`, `client`, `lifecycle`, `setup` (configuration, listeners),
//! [`voter_address`] (a voter listens where the voters line names it).

mod active;
pub mod alter;
mod client;
mod configs;
mod controller_api;
pub mod elections;
mod lifecycle;
mod producer_ids;
pub mod quorum;
pub mod quorum_response;
pub mod rpc;
mod setup;
pub mod view;
pub mod voter_address;

pub use setup::{check_voters, derived_cluster_id, is_cluster, MemberConfig};
pub use voter_address::refuse_misplaced_voter;

use crate::cluster::controller::api::{Reply, Request};
use crate::cluster::raft::network::{
    BrokerLink, BrokerRpcHandler, KafkaApiHandler, ListenerHandlers,
};
use crate::cluster::raft::node::{MetadataNode, NodeConfig};
use crate::local::notify::LocalEvent;
use crate::local::oneshot;
use glommio::channels::local_channel::LocalSender;
use rpc::{decode, encode, RpcRequest, RpcResponse, WireReply};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;
use view::{ClusterView, QuorumReplica, QuorumView};

/// How often the applied image is checked for changes to publish.
const PUBLISH_POLL_MS: u64 = 20;

/// Hands a new view to every shard; resolves once all adopted it.
pub type Publish = Box<dyn Fn(Arc<ClusterView>) -> Pin<Box<dyn Future<Output = ()>>>>;

/// A request waiting for the active controller on this node.
struct Asked {
    request: Request,
    answer: oneshot::Sender<(Reply, i64)>,
}

/// A running cluster node (lives on shard 0).
pub struct Member {
    config: MemberConfig,
    node: MetadataNode,
    /// The learner's Raft listener address (broker-only nodes).
    raft_addr: Option<String>,
    /// The active controller's queue, while this node leads.
    inbox: RefCell<Option<Rc<LocalSender<Asked>>>>,
    /// Links to controllers, by address.
    links: RefCell<BTreeMap<String, Rc<BrokerLink>>>,
    /// Learners being added (a registration retried meanwhile adds none).
    learners_adding: RefCell<BTreeSet<u64>>,
    /// The metadata offset every shard adopted.
    published_offset: Cell<i64>,
    /// This broker's registration epoch (-1 until registered).
    broker_epoch: Cell<i64>,
    /// AlterPartition proposals waiting for their round.
    alter: alter::AlterQueue,
    view: RefCell<Option<Arc<ClusterView>>>,
    publish: Publish,
    /// SIGTERM: the lifecycle asks for a controlled shutdown.
    shutdown_requested: Cell<bool>,
    /// The controller let this broker go (or it gave up waiting).
    shutdown_done: LocalEvent,
    /// The broker epoch the controller let exit (a clean shutdown), set
    /// before `shutdown_done` fires.
    exited_epoch: Cell<Option<i64>>,
    stop: LocalEvent,
}

impl Member {
    /// Starts the metadata log on the CONTROLLER listener (or the learner's
    /// own), then the controller, lifecycle and publishing tasks.
    pub async fn start(config: MemberConfig, publish: Publish) -> Result<Rc<Self>, String> {
        let (listener, raft_addr) = setup::bind_raft_listener(&config).await?;
        let slot: Rc<RefCell<Weak<Member>>> = Rc::new(RefCell::new(Weak::new()));
        let handler_slot = slot.clone();
        let handler: BrokerRpcHandler = Rc::new(move |bytes| {
            let member = handler_slot.borrow().upgrade();
            Box::pin(async move {
                match member {
                    Some(member) => member.serve_rpc(bytes).await,
                    None => (encode(&RpcResponse::NotController { leader: None }), None),
                }
            })
        });
        let node_config = NodeConfig::new(
            config.node_id as u64,
            config.log_dir.clone(),
            config.voters.clone(),
        );
        let kafka_slot = slot.clone();
        let kafka: KafkaApiHandler = Rc::new(move |frame| {
            let member = kafka_slot.borrow().upgrade();
            Box::pin(async move { member?.serve_controller_api(frame).await })
        });
        // KIP-919: a controller's listener answers Kafka admin clients too.
        let handlers = ListenerHandlers {
            brokers: Some(handler),
            kafka: config.controller_listener.is_some().then_some(kafka),
        };
        let node = MetadataNode::start_serving(&node_config, listener, handlers)
            .await
            .map_err(|e| format!("metadata quorum: {e}"))?;
        let member = Rc::new(Member {
            config,
            node,
            raft_addr,
            inbox: RefCell::new(None),
            links: RefCell::new(BTreeMap::new()),
            learners_adding: RefCell::new(BTreeSet::new()),
            published_offset: Cell::new(-1),
            broker_epoch: Cell::new(-1),
            alter: alter::AlterQueue::new(),
            view: RefCell::new(None),
            publish,
            shutdown_requested: Cell::new(false),
            shutdown_done: LocalEvent::default(),
            exited_epoch: Cell::new(None),
            stop: LocalEvent::default(),
        });
        *slot.borrow_mut() = Rc::downgrade(&member);
        if member.config.is_voter {
            glommio::spawn_local(active::run(member.clone())).detach();
        }
        glommio::spawn_local(member.clone().run_publisher()).detach();
        if member.config.is_broker {
            glommio::spawn_local(lifecycle::run(member.clone())).detach();
            glommio::spawn_local(member.clone().run_alter_partition()).detach();
        } else {
            member.shutdown_done.fire();
        }
        log::info!(
            "node {}: metadata quorum started as a {} (voters {:?})",
            member.config.node_id,
            if member.config.is_voter {
                "voter"
            } else {
                "learner"
            },
            member.config.voters
        );
        Ok(member)
    }

    /// The view every shard adopted last.
    pub fn view(&self) -> Option<Arc<ClusterView>> {
        self.view.borrow().clone()
    }

    /// SIGTERM: asks the controller to move this broker's leaderships away;
    /// resolves once it allowed the exit (or the lifecycle gave up), with
    /// the broker epoch it let exit: `None` when it did not (no quorum, a
    /// refused or never registered broker), so that the next process does
    /// not claim a clean succession.
    pub async fn controlled_shutdown(&self) -> Option<i64> {
        self.shutdown_requested.set(true);
        self.shutdown_done.wait().await;
        self.exited_epoch.get()
    }

    /// Stops the metadata log and the tasks (after the shards drained).
    pub async fn stop(&self) {
        self.stop.fire();
        self.node.shutdown().await;
    }

    /// Answers a broker's request on the CONTROLLER listener, naming the
    /// broker when the request carries its id (the connection is its own).
    async fn serve_rpc(self: Rc<Self>, bytes: Vec<u8>) -> (Vec<u8>, Option<u64>) {
        let request: RpcRequest = match decode(&bytes) {
            Ok(request) => request,
            Err(e) => {
                log::warn!("broker request refused: {e}");
                let leader = self.node.leader();
                return (encode(&RpcResponse::NotController { leader }), None);
            }
        };
        let broker = match &request {
            RpcRequest::Register { broker_id, .. }
            | RpcRequest::Heartbeat { broker_id, .. }
            | RpcRequest::AlterPartition { broker_id, .. }
            | RpcRequest::AllocateProducerIds { broker_id, .. } => u64::try_from(*broker_id).ok(),
            _ => None,
        };
        (self.answer_rpc(request).await, broker)
    }

    async fn answer_rpc(self: Rc<Self>, request: RpcRequest) -> Vec<u8> {
        let not_controller = || RpcResponse::NotController {
            leader: self.node.leader(),
        };
        let learner = match &request {
            RpcRequest::Register {
                broker_id,
                raft_addr: Some(addr),
                ..
            } => Some((*broker_id as u64, addr.clone())),
            _ => None,
        };
        let request = match request {
            RpcRequest::Quorum(op) if self.leads_quorum() => {
                return encode(&RpcResponse::Quorum(self.serve_quorum(op).await));
            }
            request => request,
        };
        let Some(request) = request.into_request() else {
            return encode(&not_controller());
        };
        let answer = match self.ask_local(request).await {
            Some((reply, offset)) => {
                if let (Some((id, addr)), Reply::RegisterBroker(Ok(_))) = (learner, &reply) {
                    self.add_learner_soon(id, addr);
                }
                RpcResponse::Reply {
                    reply: WireReply::from_reply(&reply),
                    offset,
                }
            }
            None => not_controller(),
        };
        encode(&answer)
    }

    /// Hands `request` to the active controller on this node; `None` when
    /// this node is not it (or stopped being it meanwhile).
    async fn ask_local(&self, request: Request) -> Option<(Reply, i64)> {
        let inbox = self.inbox.borrow().clone()?;
        let (answer, received) = oneshot::channel();
        inbox.try_send(Asked { request, answer }).ok()?;
        received.await
    }

    /// Makes a registered broker-only node a learner of the metadata log.
    fn add_learner_soon(self: &Rc<Self>, id: u64, addr: String) {
        let known = self
            .node
            .metrics()
            .membership_config
            .membership()
            .get_node(&id)
            .is_some();
        if known || !self.learners_adding.borrow_mut().insert(id) {
            return;
        }
        let member = self.clone();
        glommio::spawn_local(async move {
            match member.node.add_learner(id, &addr).await {
                Ok(()) => log::info!("node {id} follows the metadata log as a learner at {addr}"),
                Err(e) => log::warn!("cannot add node {id} ({addr}) as a learner: {e}"),
            }
            member.learners_adding.borrow_mut().remove(&id);
        })
        .detach();
    }

    /// The quorum as Raft reports it now (log end offsets of others are
    /// known only while this node leads).
    fn quorum_view(&self) -> QuorumView {
        let state = self.replication_state();
        let replicas = |all: &[quorum::ReplicaState]| {
            all.iter()
                .map(|r| QuorumReplica {
                    id: r.id,
                    log_end_offset: r.log_end_offset,
                })
                .collect()
        };
        QuorumView {
            leader: (state.leader >= 0).then_some(state.leader),
            term: state.term,
            high_watermark: state.high_watermark,
            voters: replicas(&state.voters),
            observers: replicas(&state.observers),
        }
    }

    /// Publishes every change of the applied image (or of the quorum) to the
    /// shards, in order, until stopped.
    async fn run_publisher(self: Rc<Self>) {
        let mut last_quorum = QuorumView::default();
        while !self.stop.is_fired() {
            let quorum = self.quorum_view();
            let offset = self.node.image().offset();
            let changed = self.view.borrow().is_none()
                || offset != self.published_offset.get()
                || quorum != last_quorum;
            if changed {
                let incarnation_id = self.config.lifecycle.registration.incarnation_id;
                let view = Arc::new(ClusterView::build(
                    &self.node.image(),
                    (self.config.node_id, incarnation_id),
                    (
                        &self.config.listener_name,
                        &self.config.inter_broker_listener_name,
                    ),
                    quorum.clone(),
                ));
                let counts = view.replication_counts(self.view.borrow().as_deref());
                crate::metrics::replication::record_counts(&counts);
                (self.publish)(view.clone()).await;
                self.published_offset.set(view.offset);
                *self.view.borrow_mut() = Some(view);
                last_quorum = quorum;
            }
            glommio::timer::sleep(Duration::from_millis(PUBLISH_POLL_MS)).await;
        }
    }

    /// Waits (bounded) until the shards adopted metadata offset `offset`.
    async fn wait_published(&self, offset: i64, wait_ms_max: u64) -> bool {
        let mut waited_ms = 0;
        while self.published_offset.get() < offset {
            if waited_ms >= wait_ms_max {
                return false;
            }
            glommio::timer::sleep(Duration::from_millis(PUBLISH_POLL_MS)).await;
            waited_ms += PUBLISH_POLL_MS;
        }
        true
    }
}
