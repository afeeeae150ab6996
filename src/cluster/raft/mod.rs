//! The metadata log on openraft, run on glommio: the one module that knows
//! openraft (0.10 alphas change their API between releases; an upgrade
//! touches only here).
//!
//! # Layout
//! - [`runtime`], [`channels`]: openraft's `AsyncRuntime` on the current
//!   glommio executor (spawn_local, glommio timers, `Rc`/`RefCell` channels).
//! - [`log_file`], [`log_store`]: the Raft log and vote on disk under
//!   `<log dir>/__cluster_metadata-0` (fdatasync before an append or a vote
//!   is acknowledged; file I/O on a helper thread, never on the reactor).
//! - [`state_machine`]: applies committed entries (batches of
//!   [`records`](crate::cluster::records)) to the
//!   [`MetadataImage`](crate::cluster::image::MetadataImage); snapshots are
//!   the image's own snapshot format, so a restart loads the snapshot and
//!   replays only the log tail.
//! - [`wire`]: the sans-IO framing of Raft RPCs between controllers;
//!   [`network`]: the client side over TCP (per peer one connection for
//!   replication and one for snapshots in bounded chunks, deadlines);
//!   [`server`]: the CONTROLLER listener (read deadlines, bounded buffers).
//! - [`node`]: one metadata quorum member (voter or learner): start, propose,
//!   observe, stop.

pub mod channels;
pub mod log_file;
pub mod log_store;
pub mod network;
pub mod node;
pub mod presence;
pub mod runtime;
pub mod server;
pub mod state_machine;
#[cfg(test)]
mod storage_suite_tests;
pub mod wire;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node of the metadata quorum: the KRaft `node.id`.
pub type NodeId = u64;

/// One log entry's application data: a [`RecordBatch`](crate::cluster::records::RecordBatch)
/// in its binary encoding ([`encode_batch`](crate::cluster::records::encode_batch)).
/// Its `base_offset` is assigned when applied: the next metadata offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedBatch(pub Vec<u8>);

impl fmt::Display for EncodedBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metadata batch of {} bytes", self.0.len())
    }
}

/// What applying one entry did to the metadata image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// Metadata offset of the batch's first record.
    pub base_offset: i64,
    /// The image's offset after the entry (its last record applied).
    pub image_offset: i64,
    /// Why the batch was refused (not decodable, or a record the image
    /// refuses: the records before it stay applied, on every node alike).
    pub error: Option<String>,
}

openraft::declare_raft_types!(
    /// openraft's types for the metadata log.
    pub MetadataRaftTypes:
        D = EncodedBatch,
        R = ApplyOutcome,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        AsyncRuntime = runtime::GlommioRuntime,
);

/// The Raft handle of a metadata node.
pub type MetadataRaft = openraft::Raft<MetadataRaftTypes, state_machine::MetadataStateMachine>;
