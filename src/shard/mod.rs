//! The thread-per-core layer: the runtime that starts one pinned executor per
//! core, placement of partitions on shards, the messages between shards and
//! the router that carries them.

pub mod messages;
pub mod placement;
pub mod producer_ids;
pub mod router;
pub mod runtime;
pub mod service;
pub mod startup_summary;

use crate::config::Config;
use crate::local::notify::LocalEvent;
use crate::metadata::store::BrokerIdentity;
use crate::metadata::topic_table::TopicTable;
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
    /// This shard's partitions (and their storage).
    pub partitions: Rc<ShardPartitions>,
    /// This shard's copy of the topic table; replaced whole by the controller.
    pub topics: RefCell<Arc<TopicTable>>,
    /// Cross-shard calls.
    pub router: Router,
    /// Producer ids handed out by InitProducerId on this shard.
    pub producer_ids: producer_ids::ProducerIdAllocator,
    /// Whether the previous run shut down cleanly (recovery is skipped).
    pub clean_start: bool,
    /// Fired when the broker begins shutting down.
    pub shutting_down: LocalEvent,
    /// Open client connections on this shard.
    pub connections: Cell<usize>,
    /// Serialises topic changes (used on the controller shard).
    pub controller_lock: glommio::sync::Semaphore,
    /// The consumer groups this shard coordinates and their offsets.
    pub coordinator: crate::coordinator::Coordinator,
}

impl ShardContext {
    /// The current topic table.
    pub fn topic_table(&self) -> Arc<TopicTable> {
        self.topics.borrow().clone()
    }

    /// The shard owning `partition` of `topic`.
    pub fn owner_of(&self, topic: &str, partition: i32) -> usize {
        placement::shard_for(topic, partition, self.nr_shards)
    }
}
