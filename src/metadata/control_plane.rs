//! One shard's view of the control plane: its copy of the topic table, the
//! lock that serialises topic changes (used on the controller shard), and the
//! producer ids it hands out.

use super::producer_ids::{ProducerIdAllocator, ProducerIdBlocks};
use super::topic_table::TopicTable;
use crate::local::notify::LocalEvent;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// This shard's copy of the topic table: replaced whole when the shard
/// adopts a new table, read by whoever needs it (a cheap `Rc` handle).
#[derive(Clone)]
pub struct TopicView {
    table: Rc<RefCell<Arc<TopicTable>>>,
}

impl TopicView {
    /// A view of `table`.
    pub fn new(table: Arc<TopicTable>) -> Self {
        TopicView {
            table: Rc::new(RefCell::new(table)),
        }
    }

    /// The current table.
    pub fn current(&self) -> Arc<TopicTable> {
        self.table.borrow().clone()
    }

    /// Makes `table` the current one.
    pub fn replace(&self, table: Arc<TopicTable>) {
        *self.table.borrow_mut() = table;
    }
}

/// The control-plane state of one shard.
pub struct ControlPlane {
    /// This shard's copy of the topic table.
    pub topics: TopicView,
    /// Serialises topic changes (used on the controller shard).
    pub controller_lock: glommio::sync::Semaphore,
    /// Producer ids handed out by InitProducerId on this shard (one node).
    pub producer_ids: ProducerIdAllocator,
    /// In a cluster: the blocks of producer ids the controller allotted to
    /// this shard.
    pub producer_id_blocks: RefCell<ProducerIdBlocks>,
    /// In a cluster: fired when the block fetch under way ends (at most one
    /// per shard; InitProducerId calls that find no id wait for it).
    pub producer_id_fetch: RefCell<Option<LocalEvent>>,
}

impl ControlPlane {
    /// The control plane of shard `shard_id`, starting from `topics`.
    pub fn new(shard_id: usize, topics: Arc<TopicTable>) -> Self {
        ControlPlane {
            topics: TopicView::new(topics),
            controller_lock: glommio::sync::Semaphore::new(1),
            producer_ids: ProducerIdAllocator::new(shard_id),
            producer_id_blocks: RefCell::new(ProducerIdBlocks::default()),
            producer_id_fetch: RefCell::new(None),
        }
    }

    /// The current topic table.
    pub fn topic_table(&self) -> Arc<TopicTable> {
        self.topics.current()
    }
}
