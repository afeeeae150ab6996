//! The cluster control plane, sans-IO: what KRaft's controller decides and what
//! every broker replays, with no network, disk, clock or runtime inside.
//!
//! # Layout
//! - [`records`]: the metadata records the Raft log carries (brokers, topics,
//!   partitions, configs, producer id blocks) and their compact, versioned
//!   binary encoding, one [`records::RecordBatch`] per log entry.
//! - [`image`]: the metadata image: records applied in offset order, queries,
//!   and snapshots (a record stream that rebuilds the image).
//! - [`controller`]: the active controller as a pure state machine:
//!   `handle(now_ms, input) -> outputs` (batches to append, replies to send).
//! - [`broker`]: the broker side of the lifecycle (register, heartbeat, fence,
//!   controlled shutdown), also a pure state machine.
//! - [`raft`]: the metadata log on openraft, on glommio: the log and vote on
//!   disk, the state machine that applies batches to the image, snapshots,
//!   Raft RPCs over TCP between controllers. The only I/O in this module.
//! - [`member`]: one node of a running cluster (on shard 0): the metadata
//!   log, the active controller while it leads, the broker lifecycle, and
//!   the view of the cluster handed to every shard. I/O, like `raft`.
//! - [`replication`]: partition replication over the network: each shard's
//!   role changes from the cluster view and its fetchers, one per leader
//!   broker. I/O.
//! - `sim` (tests only): a seeded deterministic simulator in the style of
//!   TigerBeetle's VOPR that drives controllers and brokers through a lossy
//!   network, crashes and controller failovers, and checks invariants after
//!   every step.
//!
//! The I/O side (openraft underneath, the network, timers) feeds these state
//! machines and carries out their outputs; it makes no decision of its own.

pub mod broker;
pub mod controller;
pub mod image;
pub mod member;
pub mod prng;
pub mod raft;
pub mod records;
pub mod replication;

#[cfg(test)]
mod sim;

use uuid::Uuid;

/// A broker's `node.id`.
pub type BrokerId = i32;

/// One partition of one topic, named by topic id (names can be reused after a
/// delete; ids cannot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicIdPartition {
    /// The topic's id.
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
}

impl std::fmt::Display for TopicIdPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic_id, self.partition)
    }
}
