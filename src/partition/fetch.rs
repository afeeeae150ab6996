//! The owner side of Fetch: read the partitions of one part, and if fewer
//! than `min_bytes` are there, wait for the read bound to move, the
//! deadline, a cancel from the connection's shard (sent once another shard
//! of the same fetch found data), or shutdown.

use super::{Partition, ShardPartitions};
use crate::local::notify::{first_of, LocalEvent};
use crate::protocol::error_code;
use crate::protocol::piece::{pieces_len, Piece};
use crate::storage::ReadError;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

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
    /// Identifies the wait for a cancel; unique per origin shard.
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
    /// Kafka error code ([`error_code::NONE`] when the read worked).
    pub error_code: i16,
    /// High watermark: the partition's read bound.
    pub high_watermark: i64,
    /// Last stable offset (= high watermark: no transactions yet).
    pub last_stable_offset: i64,
    /// Log start offset.
    pub log_start_offset: i64,
    /// Record batches, zero-copy.
    pub records: Vec<Piece>,
}

impl FetchedPartition {
    /// An answer carrying only `error_code`.
    pub fn error(error_code: i16) -> Self {
        FetchedPartition {
            error_code,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            records: Vec::new(),
        }
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

type Wake<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

impl ShardPartitions {
    /// The ordered phase of a fetch part: its wait is registered now, so a
    /// cancel that follows on the same channel always finds it. The returned
    /// future reads (and waits) and yields one entry per partition of `part`,
    /// in order.
    pub fn start_fetch(
        self: &Rc<Self>,
        part: FetchPart,
    ) -> impl Future<Output = Vec<FetchedPartition>> + 'static {
        let cancel = part.wait.map(|w| self.fetch_waits.register(w.fetch_id));
        let partitions = self.clone();
        async move {
            let fetched = partitions.read_until_ready(&part, cancel).await;
            if let Some(wait) = part.wait {
                partitions.fetch_waits.finish(wait.fetch_id);
            }
            fetched
        }
    }

    async fn read_until_ready(
        &self,
        part: &FetchPart,
        cancel: Option<LocalEvent>,
    ) -> Vec<FetchedPartition> {
        loop {
            // Listeners first, then the read: a move in between still wakes us.
            let listeners: Vec<Wake> = match part.wait {
                Some(_) => part
                    .partitions
                    .iter()
                    .filter_map(|p| self.get(&p.topic, p.partition))
                    .map(|partition| Box::pin(partition.read_bound_listener()) as Wake)
                    .collect(),
                None => Vec::new(),
            };
            let (fetched, bytes, any_error) = self.read_once(part).await;
            let Some(wait) = part.wait else {
                return fetched;
            };
            // Shutdown answers parked long polls at once instead of holding the drain.
            let cancelled =
                cancel.as_ref().is_some_and(LocalEvent::is_fired) || self.shutting_down.is_fired();
            let now = Instant::now();
            if bytes >= wait.min_bytes || any_error || cancelled || now >= wait.deadline {
                return fetched;
            }
            let mut wakers = listeners;
            wakers.push(Box::pin(glommio::timer::sleep(wait.deadline - now)) as Wake);
            if let Some(cancel) = &cancel {
                wakers.push(Box::pin(cancel.wait()));
            }
            wakers.push(Box::pin(self.shutting_down.wait()));
            first_of(wakers).await;
        }
    }

    /// One pass over the partitions: (results, record bytes, whether any errored).
    async fn read_once(&self, part: &FetchPart) -> (Vec<FetchedPartition>, usize, bool) {
        let mut budget = part.max_bytes;
        let mut total = 0;
        let mut any_error = false;
        let mut results = Vec::with_capacity(part.partitions.len());
        for read in &part.partitions {
            let Some(partition) = self.get(&read.topic, read.partition) else {
                any_error = true;
                results.push(FetchedPartition::error(error_code::NOT_LEADER_OR_FOLLOWER));
                continue;
            };
            let max_bytes = read.partition_max_bytes.min(budget);
            let min_one_batch = part.min_one_batch && total == 0;
            let fetched = partition.read(read, max_bytes, min_one_batch).await;
            let bytes = pieces_len(&fetched.records);
            budget = budget.saturating_sub(bytes);
            total += bytes;
            any_error |= fetched.error_code != error_code::NONE;
            results.push(fetched);
        }
        (results, total, any_error)
    }
}

impl Partition {
    /// Reads from `read.fetch_offset`: at most `max_bytes`, or the first
    /// whole batch when `min_one_batch`; nothing when both are zero/false.
    async fn read(
        &self,
        read: &PartitionRead,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> FetchedPartition {
        let read_bound = self.read_bound();
        let mut fetched = FetchedPartition {
            error_code: error_code::NONE,
            high_watermark: read_bound,
            last_stable_offset: read_bound,
            log_start_offset: self.log.log_start_offset(),
            records: Vec::new(),
        };
        if max_bytes == 0 && !min_one_batch {
            return fetched;
        }
        match self
            .log
            .read(read.fetch_offset, max_bytes, min_one_batch)
            .await
        {
            Ok(result) => {
                fetched.log_start_offset = result.log_start_offset;
                fetched.records = result.pieces;
            }
            Err(ReadError::OffsetOutOfRange) => {
                fetched.error_code = error_code::OFFSET_OUT_OF_RANGE;
            }
            Err(ReadError::Storage(e)) => {
                log::error!("read of {}-{} failed: {e}", read.topic, read.partition);
                fetched.error_code = error_code::KAFKA_STORAGE_ERROR;
            }
        }
        fetched
    }
}
