//! The simulator's nodes, messages and timeline.

use crate::cluster::controller::api::{Reply, Request};
use crate::cluster::records::RecordBatch;
use crate::cluster::BrokerId;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;

/// A node of the simulated cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Node {
    /// The controller quorum: whichever controller is active, and the log.
    Quorum,
    /// A broker, whichever process currently runs it.
    Broker(BrokerId),
    /// The admin client.
    Admin,
}

/// A message on the simulated network.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub(crate) from: Node,
    pub(crate) to: Node,
    pub(crate) body: Body,
}

/// What a message carries.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    /// A request to the active controller, with a simulation-wide id.
    Request { id: u64, request: Request },
    /// The controller's reply.
    Reply { id: u64, reply: Reply },
    /// A broker asks for the committed log from `from_offset` on.
    Fetch { from_offset: i64 },
    /// Committed batches, or a snapshot when the log before them is gone.
    FetchReply(FetchData),
}

/// The answer to a fetch.
#[derive(Clone, Debug)]
pub(crate) enum FetchData {
    /// Batches starting exactly at the offset asked for (maybe none yet).
    Batches(Vec<RecordBatch>),
    /// The log was compacted past the offset asked for.
    Snapshot(Rc<Vec<u8>>),
}

/// Something that happens at a point of simulated time.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// A message arrives.
    Deliver(Envelope),
    /// A broker process's tick (ignored when the process has changed since).
    TickBroker { broker: BrokerId, generation: u32 },
    /// The active controller's tick.
    TickController,
    /// The log commits its oldest pending batch (ignored after a failover).
    Commit { term: u64 },
    /// The admin client acts.
    TickAdmin,
    /// Inject a fault.
    Fault,
    /// A controller becomes active.
    ElectController { term: u64 },
    /// A stopped broker starts again.
    Restart { broker: BrokerId },
    /// A network partition heals.
    Heal { partition: u64 },
    /// Faults stop; the cluster must settle.
    EndFaults,
    /// The liveness checks; failing ones are tried again a little later,
    /// `attempt` counting the tries.
    End { attempt: u32 },
}

struct Scheduled {
    at_ms: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Earliest first (the heap is a max-heap); ties in insertion order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ms, other.seq).cmp(&(self.at_ms, self.seq))
    }
}

/// Events by time; same-time events in the order they were scheduled.
#[derive(Default)]
pub(crate) struct Timeline {
    heap: BinaryHeap<Scheduled>,
    seq: u64,
}

impl Timeline {
    pub(crate) fn schedule(&mut self, at_ms: u64, event: Event) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at_ms,
            seq: self.seq,
            event,
        });
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, Event)> {
        self.heap.pop().map(|s| (s.at_ms, s.event))
    }
}
