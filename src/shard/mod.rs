//! The thread-per-core layer: the runtime that starts one pinned executor per
//! core, placement of partitions on shards, the messages between shards and
//! the router that carries them.

pub mod messages;
pub mod notify;
pub mod oneshot;
pub mod placement;
pub mod producer_ids;
pub mod router;
pub mod runtime;
pub mod service;
pub mod startup_summary;

use crate::config::Config;
use crate::metadata::store::BrokerIdentity;
use crate::metadata::topic_table::TopicTable;
use crate::storage::ShardStorage;
use notify::LocalEvent;
use router::Router;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
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
    /// This shard's partitions.
    pub storage: Rc<ShardStorage>,
    /// This shard's copy of the topic table; replaced whole by the controller.
    pub topics: RefCell<Arc<TopicTable>>,
    /// Cross-shard calls.
    pub router: Router,
    /// Pending fetch waits that another shard may cancel.
    pub fetch_waits: FetchWaits,
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

/// Fetch waits on this shard, by globally unique fetch id.
#[derive(Default)]
pub struct FetchWaits {
    next_local_id: Cell<u64>,
    waits: RefCell<HashMap<u64, LocalEvent>>,
}

/// Bits of a fetch id that carry the origin shard.
const FETCH_ID_SHARD_SHIFT: u32 = 48;

impl FetchWaits {
    /// A fetch id unique across shards.
    pub fn next_fetch_id(&self, shard_id: usize) -> u64 {
        let local = self.next_local_id.get();
        self.next_local_id
            .set((local + 1) & ((1 << FETCH_ID_SHARD_SHIFT) - 1));
        ((shard_id as u64) << FETCH_ID_SHARD_SHIFT) | local
    }

    /// Registers a wait; the returned event fires on cancel.
    pub fn register(&self, fetch_id: u64) -> LocalEvent {
        let event = LocalEvent::default();
        self.waits.borrow_mut().insert(fetch_id, event.clone());
        event
    }

    /// Forgets a finished wait.
    pub fn finish(&self, fetch_id: u64) {
        self.waits.borrow_mut().remove(&fetch_id);
    }

    /// Cancels a wait if it is still pending.
    pub fn cancel(&self, fetch_id: u64) {
        if let Some(event) = self.waits.borrow_mut().remove(&fetch_id) {
            event.fire();
        }
    }
}
