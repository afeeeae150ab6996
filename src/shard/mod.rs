//! The thread-per-core layer: the runtime that starts one pinned executor per
//! core ([`runtime`]), placement of partitions and groups on shards
//! ([`placement`]), the messages between shards ([`messages`]), the router
//! that carries them ([`router`]) and keeps them in order per partition
//! ([`ordering`]), what a shard does with one ([`service`]:
//! it hands it to the partition, group or metadata service that owns the
//! work), and typed calls for the layers above ([`calls`]).
//!
//! A shard's state is split by concern in [`ShardContext`]: who the shard is
//! (its index, the shard count, the configuration, the broker identity), its
//! router, and the services it runs, each of which gets only its own state.

pub mod calls;
pub mod clean_marker;
pub mod data_dir_lock;
pub mod listen_probe;
pub mod memory_pressure;
pub mod memory_share;
pub mod mesh_join;
pub mod messages;
pub mod metrics_feed;
pub mod open_files;
pub mod ordering;
pub mod placement;
pub mod router;
pub mod runtime;
pub mod service;
pub mod startup_summary;
pub mod startup_watch;
pub mod stray_logs;

use crate::cluster::member::view::ClusterView;
use crate::cluster::member::Member;
use crate::cluster::replication::ShardReplication;
use crate::config::Config;
use crate::coordinator::Coordinator;
use crate::local::notify::LocalEvent;
use crate::metadata::control_plane::ControlPlane;
use crate::metadata::store::BrokerIdentity;
use crate::metadata::topic_table::TopicTable;
use crate::partition::fetch_session::FetchSessionCache;
use crate::partition::ShardPartitions;
use router::Router;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

/// Everything a shard's tasks share. Lives on one shard; never sent.
pub struct ShardContext {
    /// This shard's index.
    pub shard_id: usize,
    /// Number of shards.
    pub nr_shards: usize,
    /// Broker configuration (immutable).
    pub config: Arc<Config>,
    /// Cluster id and node id.
    pub identity: BrokerIdentity,
    /// Cross-shard calls.
    pub router: Router,
    /// The partition service: this shard's partitions, their storage and
    /// the fetches waiting on them.
    pub partitions: Rc<ShardPartitions>,
    /// The control plane: the topic table, the controller lock, producer ids.
    pub control: Rc<ControlPlane>,
    /// The consumer groups this shard coordinates and their offsets.
    pub coordinator: Rc<Coordinator>,
    /// The incremental fetch sessions opened by this shard's connections.
    pub fetch_sessions: RefCell<FetchSessionCache>,
    /// Start, connections and shutdown.
    pub lifecycle: Lifecycle,
    /// This shard's part of a cluster (empty on a single node).
    pub cluster: ClusterState,
}

/// A shard's part of a cluster: the view of it this shard adopted, and on
/// shard 0 the cluster node itself.
#[derive(Default)]
pub struct ClusterState {
    /// The cluster node (shard 0 of a cluster member only).
    pub member: RefCell<Option<Rc<Member>>>,
    /// The view adopted last; `None` on a single node (or before the first).
    pub view: RefCell<Option<Arc<ClusterView>>>,
    /// True when this node is one of a cluster.
    pub enabled: bool,
    /// This shard's partition roles and fetchers (made at the first view).
    pub replication: RefCell<Option<Rc<ShardReplication>>>,
    /// Fired when this shard adopts the first view holding this process's
    /// own broker registration (Kafka's broker is caught up then): its
    /// listeners accept clients from then on (`runtime::caught_up_or_shutting_down`).
    pub caught_up: LocalEvent,
}

/// Where a shard is in its life.
pub struct Lifecycle {
    /// Whether the previous run shut down cleanly (recovery is skipped).
    pub clean_start: bool,
    /// The broker epoch the previous run's controller let exit in its
    /// controlled shutdown (the clean-shutdown marker), or -1.
    pub previous_broker_epoch: i64,
    /// Fired when the broker begins shutting down.
    pub shutting_down: LocalEvent,
    /// Open client connections on this shard.
    pub connections: Cell<usize>,
}

impl ShardContext {
    /// The current topic table.
    pub fn topic_table(&self) -> Arc<TopicTable> {
        self.control.topic_table()
    }

    /// The cluster view this shard adopted; `None` on a single node.
    pub fn cluster_view(&self) -> Option<Arc<ClusterView>> {
        self.cluster.view.borrow().clone()
    }

    /// True when this broker leads `partition` of the topic with id
    /// `topic_id`: always on a single node; in a cluster, as the view says
    /// (a broker that does not lead answers NOT_LEADER_OR_FOLLOWER), and
    /// nothing before the first view.
    pub fn leads(&self, topic_id: &uuid::Uuid, partition: i32) -> bool {
        match self.cluster.view.borrow().as_ref() {
            Some(view) => view.leads(topic_id, partition),
            None => !self.cluster.enabled,
        }
    }

    /// True on a cluster node whose process is not registered yet (no view,
    /// or one that does not hold this incarnation): it leads no partition,
    /// those it holds on disk included, and coordinates no group.
    pub fn leads_nothing(&self) -> bool {
        let registered = self.cluster.view.borrow().as_ref().map(|v| v.registered);
        self.cluster.enabled && registered != Some(true)
    }

    /// The shard owning `partition` of `topic`.
    pub fn owner_of(&self, topic: &str, partition: i32) -> usize {
        placement::shard_for(topic, partition, self.nr_shards)
    }
}
