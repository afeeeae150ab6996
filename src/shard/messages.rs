//! Messages between shards. Every payload is an owned `Send` value (`Bytes`,
//! `Arc` snapshots, plain data): no shard ever holds a reference into another
//! shard's memory.

use crate::coordinator::{GroupRequest, GroupResponse};
use crate::metadata::controller::{ControllerRequest, ControllerResponse};
use crate::metadata::topic_table::TopicTable;
use crate::storage::piece::Piece;
use crate::storage::{AppendBatch, AppendResult};
use std::sync::Arc;
use std::time::Instant;

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
    /// Stop a pending fetch wait early (another shard of the same fetch found data).
    CancelFetchWait {
        /// The `FetchWait::fetch_id` to cancel.
        fetch_id: u64,
    },
    /// A new topic table: adopt it, open or delete owned partitions.
    ApplyTopics(Arc<TopicTable>),
    /// Topic changes, for shard 0 only.
    Controller(ControllerRequest),
    /// A consumer group request, for the shard that owns the group.
    Group(GroupRequest),
    /// Sizes of partitions the receiver owns (DescribeLogDirs).
    LogDirSizes(Vec<(Arc<str>, i32)>),
}

/// The answer to a [`ShardRequest`].
pub enum ShardResponse {
    /// One entry per `ProducePart::partitions`, same order.
    Produce(Vec<Result<AppendResult, i16>>),
    /// One entry per `FetchPart::partitions`, same order.
    Fetch(Vec<FetchedPartition>),
    /// One entry per `ListOffsetsPart::partitions`, same order.
    ListOffsets(Vec<Result<(i64, i64), i16>>),
    /// The change was applied (or why not).
    Applied(Result<(), String>),
    /// The controller's answer.
    Controller(ControllerResponse),
    /// The group coordinator's answer.
    Group(GroupResponse),
    /// One entry per `LogDirSizes` partition, same order: its bytes on
    /// disk, or `None` when the receiver does not hold it.
    LogDirSizes(Vec<Option<u64>>),
}

/// How long the producer wants to wait, as acks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// acks=0: no response at all.
    None,
    /// acks=1: after the write completed.
    Leader,
    /// acks=all (-1): after the batch is durable (fdatasync).
    All,
}

/// Batches for the partitions one shard owns, from one Produce request.
pub struct ProducePart {
    /// The acks level of the request.
    pub acks: Acks,
    /// Partitions in request order.
    pub partitions: Vec<PartitionAppend>,
}

/// Batches for one partition.
pub struct PartitionAppend {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
    /// Validated batches, in order.
    pub batches: Vec<AppendBatch>,
}

/// Reads for the partitions one shard owns, from one Fetch request.
pub struct FetchPart {
    /// Partitions in request order.
    pub partitions: Vec<PartitionRead>,
    /// Byte budget for this part (the request's max_bytes).
    pub max_bytes: usize,
    /// Whether the first partition with data returns at least one whole batch (KIP-74).
    pub min_one_batch: bool,
    /// Long-poll parameters; `None` answers at once.
    pub wait: Option<FetchWait>,
}

/// Long-poll parameters of a fetch part.
#[derive(Clone, Copy, Debug)]
pub struct FetchWait {
    /// Answer once this many bytes are available in this part...
    pub min_bytes: usize,
    /// ...or at this instant, whichever comes first.
    pub deadline: Instant,
    /// Identifies the wait for `CancelFetchWait`; unique per origin shard.
    pub fetch_id: u64,
    /// The shard that owns the connection.
    pub origin_shard: usize,
}

/// One partition to read.
#[derive(Clone, Debug)]
pub struct PartitionRead {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
    /// First offset wanted.
    pub fetch_offset: i64,
    /// Byte budget for this partition.
    pub partition_max_bytes: usize,
}

/// What a read of one partition produced.
#[derive(Debug, Default)]
pub struct FetchedPartition {
    /// Kafka error code (0 = none).
    pub error_code: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// Last stable offset.
    pub last_stable_offset: i64,
    /// Log start offset.
    pub log_start_offset: i64,
    /// Record batches, zero-copy.
    pub records: Vec<Piece>,
}

/// Offset lookups for the partitions one shard owns.
pub struct ListOffsetsPart {
    /// (topic, partition, timestamp) where timestamp is -1 latest, -2 earliest,
    /// -3 max timestamp, or a time in ms.
    pub partitions: Vec<(Arc<str>, i32, i64)>,
}
