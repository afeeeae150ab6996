//! Messages between shards. Every payload is an owned `Send` value (`Bytes`,
//! `Arc` snapshots, plain data): no shard ever holds a reference into another
//! shard's memory.

use crate::cluster::controller::api::{AlterReassignmentsRequest, ElectLeadersRequest};
use crate::cluster::member::elections::ElectionOutcome;
use crate::cluster::member::quorum::{QuorumAnswer, QuorumOp};
use crate::cluster::member::view::ClusterView;
use crate::cluster::TopicIdPartition;
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::metadata::controller::{ControllerRequest, ControllerResponse};
use crate::metadata::topic_table::TopicTable;
use crate::partition::epochs::EpochQueryPart;
use crate::partition::fetch::{FetchPart, FetchedPartition};
use crate::partition::leader_epochs::EpochEnd;
use crate::partition::list_offsets::{FoundOffset, ListOffsetsPart};
use crate::partition::produce::{ProducePart, Refused};
use crate::partition::replica::{AlterPartitionProposal, PartitionState};
use crate::storage::AppendResult;
use std::sync::Arc;

/// What travels over the shard mesh.
pub enum ShardMessage {
    /// Work for the receiving shard; answer with a `Response` carrying `id`.
    Request {
        /// Correlates the response; unique per sending shard.
        id: u64,
        /// The shard to answer.
        from: usize,
        /// The work.
        body: ShardRequest,
    },
    /// The answer to a `Request` this shard sent.
    Response {
        /// The id of the request.
        id: u64,
        /// The answer.
        body: ShardResponse,
    },
}

/// Work one shard asks of another.
pub enum ShardRequest {
    /// Append batches to partitions the receiver owns.
    Produce(ProducePart),
    /// Read from partitions the receiver owns, possibly waiting for data.
    Fetch(FetchPart),
    /// Resolve offsets of partitions the receiver owns.
    ListOffsets(ListOffsetsPart),
    /// Where leader epochs end in partitions the receiver owns
    /// (OffsetForLeaderEpoch).
    EpochEnds(EpochQueryPart),
    /// Stop a pending fetch wait early (the fetch's shards together found
    /// enough data).
    CancelFetchWait {
        /// The `FetchWait::fetch_id` to cancel.
        fetch_id: u64,
    },
    /// A waiting fetch part has `bytes`, fewer than its `min_bytes`: for
    /// the shard that owns the connection, which counts them over all shards.
    FetchProgress {
        /// The `FetchWait::fetch_id` of the fetch.
        fetch_id: u64,
        /// The shard reporting.
        shard: usize,
        /// Record bytes it would answer with now.
        bytes: usize,
    },
    /// Close an incremental fetch session this shard holds: a full fetch
    /// on another shard's connection named it (the client reconnected).
    CloseFetchSession {
        /// The session's id.
        session_id: i32,
    },
    /// A new topic table: adopt it, open or delete owned partitions.
    ApplyTopics(Arc<TopicTable>),
    /// A new view of the cluster (a cluster member's shard 0 sends it):
    /// adopt its topic table, open or delete local replicas, then the view.
    ApplyCluster(Arc<ClusterView>),
    /// Topic changes, for shard 0 only.
    Controller(ControllerRequest),
    /// A request about the metadata quorum, for a cluster member's shard 0.
    Quorum(QuorumOp),
    /// A partition leader's ISR change for the active controller, for a
    /// cluster member's shard 0 (AlterPartition).
    AlterPartition {
        /// The partition.
        tp: TopicIdPartition,
        /// The change.
        proposal: AlterPartitionProposal,
    },
    /// A block of producer ids from the active controller, for a cluster
    /// member's shard 0 (AllocateProducerIds).
    AllocateProducerIds,
    /// Leader elections for the active controller, for a cluster member's
    /// shard 0 (ElectLeaders).
    ElectLeaders(ElectLeadersRequest),
    /// Partition reassignments for the active controller, for a cluster
    /// member's shard 0 (AlterPartitionReassignments).
    AlterReassignments(AlterReassignmentsRequest),
    /// A consumer group request, for the shard that owns the group.
    Group(GroupRequest),
    /// Sizes of partitions the receiver owns (DescribeLogDirs).
    LogDirSizes(Vec<(Arc<str>, i32)>),
}

/// The answer to a [`ShardRequest`].
pub enum ShardResponse {
    /// One entry per `ProducePart::partitions`, same order.
    Produce(Vec<Result<AppendResult, Refused>>),
    /// One entry per `FetchPart::partitions`, same order.
    Fetch(Vec<FetchedPartition>),
    /// One entry per `ListOffsetsPart::partitions`, same order.
    ListOffsets(Vec<Result<FoundOffset, i16>>),
    /// One entry per `EpochQueryPart::partitions`, same order.
    EpochEnds(Vec<Result<EpochEnd, i16>>),
    /// The change was applied (or why not).
    Applied(Result<(), String>),
    /// The controller's answer.
    Controller(ControllerResponse),
    /// The quorum leader's answer.
    Quorum(QuorumAnswer),
    /// The committed partition state, or a Kafka error code.
    AlterPartition(Result<PartitionState, i16>),
    /// A block of producer ids (first, length), or a Kafka error code.
    ProducerIds(Result<(i64, i32), i16>),
    /// Each partition's election error code, or the request's error code.
    Elections(Result<Vec<ElectionOutcome>, i16>),
    /// The group coordinator's answer.
    Group(GroupResponse),
    /// One entry per `LogDirSizes` partition, same order: its bytes on
    /// disk, or `None` when the receiver does not hold it.
    LogDirSizes(Vec<Option<u64>>),
}
