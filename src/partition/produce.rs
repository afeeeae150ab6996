//! The owner side of Produce: append each partition's batches in arrival
//! order (the ordered phase), then wait for the durability the acks ask for
//! (acks=all: fdatasync, group-committed across the shard).

use super::{Partition, ShardPartitions};
use crate::protocol::error_code;
use crate::storage::{AppendBatch, AppendResult, Durability};
use std::rc::Rc;
use std::sync::Arc;

/// Leader epoch stamped into every batch (single node: never changes).
pub const LEADER_EPOCH: i32 = 0;

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

impl Acks {
    /// How far an append must have gone before it is acknowledged.
    pub fn durability(self) -> Durability {
        match self {
            Acks::None => Durability::Appended,
            Acks::Leader => Durability::Written,
            Acks::All => Durability::Synced,
        }
    }
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

/// The appends of one [`ProducePart`], done; their answers once durable.
pub struct AppendedPart {
    durability: Durability,
    appended: Vec<Result<(Rc<Partition>, AppendResult), i16>>,
}

impl ShardPartitions {
    /// Appends each partition's batches in arrival order. When this returns,
    /// the batches have their offsets; [`AppendedPart::until_durable`] gives
    /// the answers.
    pub async fn append(&self, part: ProducePart) -> AppendedPart {
        let mut appended = Vec::with_capacity(part.partitions.len());
        for request in part.partitions {
            let Some(partition) = self.get(&request.topic, request.partition) else {
                appended.push(Err(error_code::NOT_LEADER_OR_FOLLOWER));
                continue;
            };
            let batch_bytes: usize = request.batches.iter().map(AppendBatch::len).sum();
            match partition.append(request.batches, LEADER_EPOCH).await {
                Ok(result) => {
                    crate::metrics::count_appended(&result, batch_bytes);
                    appended.push(Ok((partition, result)))
                }
                Err(e) => appended.push(Err(e.wire_error_code())),
            }
        }
        AppendedPart {
            durability: part.acks.durability(),
            appended,
        }
    }
}

impl AppendedPart {
    /// One answer per partition of the part, in order, once each append
    /// reached the durability its acks ask for.
    pub async fn until_durable(self) -> Vec<Result<AppendResult, i16>> {
        let mut results = Vec::with_capacity(self.appended.len());
        for entry in self.appended {
            results.push(match entry {
                Err(code) => Err(code),
                Ok((_, result)) if self.durability == Durability::Appended => Ok(result),
                Ok((partition, result)) => {
                    match partition
                        .log
                        .wait_durable(result.last_offset, self.durability)
                        .await
                    {
                        Ok(()) => Ok(result),
                        Err(_) => Err(error_code::KAFKA_STORAGE_ERROR),
                    }
                }
            });
        }
        results
    }
}
