//! Order for the requests other shards send: kept per partition, not per
//! peer shard. A request waits only for the earlier requests that touch one
//! of its partitions, so a Produce waiting for write room or rolling a
//! segment does not delay a heartbeat or a fetch of another partition.
//!
//! Each request gets a [`Place`] when it arrives (synchronously, in arrival
//! order): the earlier requests it must wait for are fixed then, so the
//! order per partition is the arrival order whatever the tasks do after.
//! A topic table change ([`ShardRequest::ApplyTopics`]) is a barrier: it
//! waits for everything before it, and everything after waits for it.

use super::messages::ShardRequest;
use crate::local::notify::LocalEvent;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// Requests from one peer shard whose ordered phase is not over yet; past
/// this the receive loop stops reading that peer's channel (back-pressure).
pub const REQUESTS_IN_LINE_PER_PEER_MAX: usize = 256;

type PartitionKey = (Arc<str>, i32);

/// What a request must stay in order with.
enum Order {
    /// The earlier requests of these partitions.
    Partitions(Vec<PartitionKey>),
    /// Every earlier request, and every later one waits for it.
    Barrier,
    /// Nothing but the last barrier (its ordered phase is empty or its
    /// answer is computed in its own task anyway).
    Free,
}

fn order_of(request: &ShardRequest) -> Order {
    let partitions = match request {
        ShardRequest::Produce(part) => part
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect(),
        ShardRequest::Fetch(part) => part
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect(),
        ShardRequest::ListOffsets(part) => part
            .partitions
            .iter()
            .map(|query| (query.topic.clone(), query.partition))
            .collect(),
        ShardRequest::EpochEnds(part) => part
            .partitions
            .iter()
            .map(|query| (query.topic.clone(), query.partition))
            .collect(),
        ShardRequest::ApplyTopics(_) | ShardRequest::ApplyCluster(_) => return Order::Barrier,
        ShardRequest::CancelFetchWait { .. }
        | ShardRequest::FetchProgress { .. }
        | ShardRequest::CloseFetchSession { .. }
        | ShardRequest::Controller(_)
        | ShardRequest::Quorum(_)
        | ShardRequest::AlterPartition { .. }
        | ShardRequest::AllocateProducerIds
        | ShardRequest::ElectLeaders(_)
        | ShardRequest::AlterReassignments(_)
        | ShardRequest::Group(_)
        | ShardRequest::LogDirSizes(_) => return Order::Free,
    };
    Order::Partitions(partitions)
}

/// The lines of one shard: per partition, the last request in line.
#[derive(Default)]
pub struct OrderedLines {
    /// The event the next request of each partition waits for (fired when
    /// the last request in that partition's line is through its ordered phase).
    tails: RefCell<HashMap<PartitionKey, LocalEvent>>,
    barrier: RefCell<Option<LocalEvent>>,
}

impl OrderedLines {
    /// Puts `request` in line (synchronously: call in arrival order).
    pub fn enter(self: &Rc<Self>, request: &ShardRequest) -> Place {
        let mine = LocalEvent::default();
        let mut after: Vec<LocalEvent> = self.barrier.borrow().iter().cloned().collect();
        let order = order_of(request);
        let mut keys = Vec::new();
        match order {
            Order::Free => {}
            Order::Partitions(partitions) => {
                let mut tails = self.tails.borrow_mut();
                for key in partitions {
                    // A request may name a partition twice: it never waits
                    // for itself.
                    let previous = tails.insert(key.clone(), mine.clone());
                    if let Some(previous) = previous.filter(|p| !p.same_as(&mine)) {
                        after.push(previous);
                    }
                    keys.push(key);
                }
            }
            Order::Barrier => {
                after.extend(self.tails.borrow_mut().drain().map(|(_, tail)| tail));
                *self.barrier.borrow_mut() = Some(mine.clone());
            }
        }
        Place {
            lines: self.clone(),
            after,
            mine,
            keys,
        }
    }

    /// Partitions with a request in line (tests, gauges).
    pub fn partitions_in_line(&self) -> usize {
        self.tails.borrow().len()
    }
}

/// A request's place in line; leaving it (or dropping it) lets the next
/// requests of its partitions go.
pub struct Place {
    lines: Rc<OrderedLines>,
    after: Vec<LocalEvent>,
    mine: LocalEvent,
    keys: Vec<PartitionKey>,
}

impl Place {
    /// Resolves when every earlier request this one is ordered after is
    /// through its ordered phase.
    pub async fn turn(&mut self) {
        while let Some(earlier) = self.after.last() {
            earlier.wait().await;
            self.after.pop();
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.mine.fire();
        let same = |tail: &LocalEvent| tail.same_as(&self.mine);
        let mut tails = self.lines.tails.borrow_mut();
        for key in self.keys.drain(..) {
            if tails.get(&key).is_some_and(same) {
                tails.remove(&key);
            }
        }
        let mut barrier = self.lines.barrier.borrow_mut();
        if barrier.as_ref().is_some_and(same) {
            *barrier = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::produce::{Acks, PartitionAppend, ProducePart};
    use futures_lite::future::{block_on, poll_once};

    fn produce(partitions: &[i32]) -> ShardRequest {
        ShardRequest::Produce(ProducePart {
            acks: Acks::All,
            timeout_ms: 30_000,
            partitions: partitions
                .iter()
                .map(|&partition| PartitionAppend {
                    topic: Arc::from("t"),
                    partition,
                    batches: Vec::new(),
                    refused: None,
                })
                .collect(),
        })
    }

    fn is_ready(place: &mut Place) -> bool {
        block_on(poll_once(place.turn())).is_some()
    }

    #[test]
    fn a_request_waits_only_for_earlier_requests_of_its_partitions() {
        let lines = Rc::new(OrderedLines::default());
        let blocked = lines.enter(&produce(&[0]));
        let mut same = lines.enter(&produce(&[0, 1]));
        let mut other = lines.enter(&produce(&[2]));
        let mut free = lines.enter(&ShardRequest::CancelFetchWait { fetch_id: 1 });
        assert!(is_ready(&mut other), "partition 2 waits for nothing");
        assert!(is_ready(&mut free));
        let mut behind_same = lines.enter(&produce(&[1]));
        drop(other);
        drop(blocked);
        assert!(is_ready(&mut same), "partition 0's earlier request left");
        assert!(
            !is_ready(&mut behind_same),
            "partition 1 is still held by `same`"
        );
        drop(same);
        assert!(is_ready(&mut behind_same));
        drop(behind_same);
        drop(free);
        assert_eq!(lines.partitions_in_line(), 0, "lines are pruned");
    }

    #[test]
    fn a_request_naming_a_partition_twice_does_not_wait_for_itself() {
        let lines = Rc::new(OrderedLines::default());
        let mut twice = lines.enter(&produce(&[3, 3]));
        assert!(is_ready(&mut twice));
        let mut next = lines.enter(&produce(&[3]));
        assert!(!is_ready(&mut next));
        drop(twice);
        assert!(is_ready(&mut next));
        drop(next);
        assert_eq!(lines.partitions_in_line(), 0);
    }

    #[test]
    fn a_topic_change_is_a_barrier() {
        let lines = Rc::new(OrderedLines::default());
        let before = lines.enter(&produce(&[0]));
        let table = Arc::new(crate::metadata::topic_table::TopicTable::default());
        let mut barrier = lines.enter(&ShardRequest::ApplyTopics(table));
        let mut after = lines.enter(&produce(&[5]));
        assert!(!is_ready(&mut barrier));
        assert!(!is_ready(&mut after));
        drop(before);
        assert!(is_ready(&mut barrier));
        assert!(!is_ready(&mut after));
        drop(barrier);
        assert!(is_ready(&mut after));
    }
}
