//! The owner side of Fetch: read the partitions of one part, and if fewer
//! than `min_bytes` are there, wait for the read bound to move, the
//! deadline, a cancel from the connection's shard (sent once the shards of
//! the same fetch together have `min_bytes`), or shutdown.
//!
//! Kafka's limits are per request: `max_bytes` over all partitions in
//! request order, `min_bytes` over all of them. A fetch spanning several
//! shards keeps them without a round trip more on the common path: each
//! shard reads up to the whole `max_bytes` (pieces are zero-copy handles,
//! so over-reading costs no copy) and the connection's shard cuts the
//! answers in request order ([`FetchBudget`]); a shard waiting with some but
//! not enough bytes tells the connection's shard how many it has, which
//! cancels every wait once the total reaches `min_bytes`
//! ([`FetchWaits::track`]).

use super::leader_epochs::NO_EPOCH;
use super::replica::leader::{FetchAnswer, FollowerFetch, Registration};
use super::replication::{LeaderHint, ReadRefusal};
use super::{Partition, ShardPartitions};
use crate::local::notify::{first_of, LocalEvent};
use crate::protocol::error_code;
use crate::protocol::fetch_response::DivergingEpoch;
use crate::protocol::piece::{pieces_len, truncate_pieces, Piece};
use crate::storage::parked_readers::ParkedReader;
use crate::storage::{ReadError, ReadLimits};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// The fetch has parts on other shards too: while waiting, report the
    /// bytes found to the origin shard, which counts `min_bytes` over all.
    pub report_progress: bool,
}

/// Which read of a fetch this is: a fetch that waits for records is read
/// again each time they may have come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadPass {
    /// Its first read: a follower's position is counted.
    First,
    /// A read after a wait: a follower's position is not counted again
    /// (Kafka's read from the fetch purgatory).
    Again,
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
    /// The fetcher's idea of the leader epoch (KIP-320; -1: no check).
    pub current_leader_epoch: i32,
    /// The epoch of the last batch the fetcher has (v12+; -1: none):
    /// checked for divergence before reading.
    pub last_fetched_epoch: i32,
    /// The fetching follower's broker id (Fetch's ReplicaState), -1 for a
    /// consumer: a replica reads up to the log end, not the high watermark.
    pub replica_id: i32,
    /// The fetching follower's broker epoch (ReplicaState's ReplicaEpoch,
    /// KIP-903; -1: unknown or a consumer).
    pub replica_epoch: i64,
    /// The fetching follower's broker as the cluster metadata registers it
    /// (unknown for a consumer, on a single node, before the shard's first
    /// cluster view, and for a broker the view does not list).
    pub replica_registration: Registration,
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
    /// Where the fetcher's log diverges from this one (no records then).
    pub diverging_epoch: Option<DivergingEpoch>,
    /// Record batches, zero-copy.
    pub records: Vec<Piece>,
    /// The leader a NOT_LEADER_OR_FOLLOWER refusal names (KIP-951).
    pub current_leader: Option<LeaderHint>,
    /// Records were there but no read descriptor was free: the fetch reads
    /// again after [`DESCRIPTOR_RETRY`] rather than its whole wait.
    pub waits_for_descriptor: bool,
}

impl FetchedPartition {
    /// An answer carrying only `error_code`.
    pub fn error(error_code: i16) -> Self {
        FetchedPartition {
            error_code,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            diverging_epoch: None,
            records: Vec::new(),
            current_leader: None,
            waits_for_descriptor: false,
        }
    }

    /// A client's read refused here ([`Partition::check_client_read`]):
    /// its error code, and the leader to ask when it names one.
    pub fn refused(refusal: ReadRefusal) -> Self {
        FetchedPartition {
            current_leader: refusal.leader_hint(),
            ..FetchedPartition::error(refusal.wire_error_code())
        }
    }
}

/// Fetch waits on this shard, by globally unique fetch id: the waits served
/// here (to cancel), and the multi-shard fetches sent from here (to count
/// their bytes).
#[derive(Default)]
pub struct FetchWaits {
    next_local_id: Cell<u64>,
    waits: RefCell<HashMap<u64, LocalEvent>>,
    tracked: RefCell<HashMap<u64, TrackedFetch>>,
}

/// What the shards of one multi-shard long poll reported having.
struct TrackedFetch {
    min_bytes: usize,
    /// (shard, bytes it last reported).
    bytes_by_shard: Vec<(usize, usize)>,
    enough: LocalEvent,
}

/// Bits of a fetch id that carry the origin shard.
const FETCH_ID_SHARD_SHIFT: u32 = 48;

/// How soon a fetch reads again when a partition had records but no read
/// descriptor was free: the fetch answers in flight holding them are
/// usually sent within a few milliseconds.
pub const DESCRIPTOR_RETRY: Duration = Duration::from_millis(5);

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

    /// Starts counting the bytes the shards of a long poll sent from here
    /// report; the returned event fires once they reach `min_bytes` together.
    pub fn track(&self, fetch_id: u64, min_bytes: usize) -> LocalEvent {
        let enough = LocalEvent::default();
        let tracked = TrackedFetch {
            min_bytes,
            bytes_by_shard: Vec::new(),
            enough: enough.clone(),
        };
        self.tracked.borrow_mut().insert(fetch_id, tracked);
        enough
    }

    /// `shard` has `bytes` for the tracked fetch (late reports are ignored).
    pub fn progress(&self, fetch_id: u64, shard: usize, bytes: usize) {
        let mut tracked = self.tracked.borrow_mut();
        let Some(fetch) = tracked.get_mut(&fetch_id) else {
            return;
        };
        match fetch.bytes_by_shard.iter_mut().find(|(s, _)| *s == shard) {
            Some(entry) => entry.1 = bytes,
            None => fetch.bytes_by_shard.push((shard, bytes)),
        }
        let total: usize = fetch.bytes_by_shard.iter().map(|(_, b)| b).sum();
        if total >= fetch.min_bytes {
            fetch.enough.fire();
        }
    }

    /// Stops counting for a fetch that was answered.
    pub fn untrack(&self, fetch_id: u64) {
        self.tracked.borrow_mut().remove(&fetch_id);
    }
}

/// Kafka's per-request byte limit, applied on the connection's shard to the
/// partitions of all shards in request order: the first partition with data
/// keeps what its shard read (at most `max_bytes`, or its first batch whole,
/// KIP-74), each later one is cut to what is left of the budget. Cuts never
/// copy: a file region ends early, as Kafka's reads do mid-batch.
#[derive(Debug)]
pub struct FetchBudget {
    left: usize,
    any_data: bool,
}

impl FetchBudget {
    /// A budget of `max_bytes` for one request.
    pub fn new(max_bytes: usize) -> Self {
        FetchBudget {
            left: max_bytes,
            any_data: false,
        }
    }

    /// Cuts `records` (the next partition's, in request order) to the budget
    /// and charges them to it.
    pub fn charge(&mut self, records: &mut Vec<Piece>) {
        if records.is_empty() {
            return;
        }
        if self.any_data {
            truncate_pieces(records, self.left);
        }
        self.any_data = true;
        self.left = self.left.saturating_sub(pieces_len(records));
    }
}

type Wake<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

impl ShardPartitions {
    /// The ordered phase of a fetch part: its wait is registered now, so a
    /// cancel that follows on the same channel always finds it. The returned
    /// future reads (and waits) and yields one entry per partition of `part`,
    /// in order. While waiting with some bytes but fewer than `min_bytes`,
    /// it calls `report_progress` with their number when it changes (only
    /// when the wait asks: `FetchWait::report_progress`).
    pub fn start_fetch(
        self: &Rc<Self>,
        part: FetchPart,
        report_progress: impl Fn(usize) + 'static,
    ) -> impl Future<Output = Vec<FetchedPartition>> + 'static {
        let cancel = part.wait.map(|w| self.fetch_waits.register(w.fetch_id));
        let partitions = self.clone();
        async move {
            let fetched = partitions
                .read_until_ready(&part, cancel, &report_progress)
                .await;
            if let Some(wait) = part.wait {
                partitions.fetch_waits.finish(wait.fetch_id);
            }
            fetched
        }
    }

    /// A consumer's fetch parks: the partitions it reads sync what they
    /// wrote at once while it waits, since a consumer reads only synced
    /// records ([`Partition::read_bound`]). A follower waits for writes.
    fn park_consumer_reads(&self, part: &FetchPart) -> Vec<ParkedReader> {
        part.partitions
            .iter()
            .filter(|read| read.replica_id < 0)
            .filter_map(|read| self.get(&read.topic, read.partition))
            .map(|partition| partition.log.park_reader())
            .collect()
    }

    async fn read_until_ready(
        &self,
        part: &FetchPart,
        cancel: Option<LocalEvent>,
        report_progress: &dyn Fn(usize),
    ) -> Vec<FetchedPartition> {
        let mut reported = 0;
        let mut pass = ReadPass::First;
        loop {
            // Listeners first, then the read: a move in between still wakes us.
            let listeners: Vec<Wake> = match part.wait {
                Some(_) => part
                    .partitions
                    .iter()
                    .filter_map(|p| Some((p, self.get(&p.topic, p.partition)?)))
                    .map(|(read, partition)| match read.replica_id >= 0 {
                        // A follower waits for new batches, not the watermark.
                        true => Box::pin(partition.log.append_listener()) as Wake,
                        false => Box::pin(partition.read_bound_listener()) as Wake,
                    })
                    .collect(),
                None => Vec::new(),
            };
            let (fetched, bytes, any_error) = self.read_once(part, pass).await;
            pass = ReadPass::Again;
            let waits_for_descriptor = fetched.iter().any(|f| f.waits_for_descriptor);
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
            if wait.report_progress && bytes != reported {
                reported = bytes;
                report_progress(bytes);
            }
            let _parked = self.park_consumer_reads(part);
            let mut wakers = listeners;
            let mut sleep = wait.deadline - now;
            if waits_for_descriptor {
                sleep = sleep.min(DESCRIPTOR_RETRY);
            }
            wakers.push(Box::pin(glommio::timer::sleep(sleep)) as Wake);
            if let Some(cancel) = &cancel {
                wakers.push(Box::pin(cancel.wait()));
            }
            wakers.push(Box::pin(self.shutting_down.wait()));
            first_of(wakers).await;
        }
    }

    /// One pass over the partitions: (results, record bytes, whether any errored).
    async fn read_once(
        &self,
        part: &FetchPart,
        pass: ReadPass,
    ) -> (Vec<FetchedPartition>, usize, bool) {
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
            let fetched = partition.read(read, max_bytes, min_one_batch, pass).await;
            let bytes = pieces_len(&fetched.records);
            budget = budget.saturating_sub(bytes);
            total += bytes;
            // A divergence is answered at once, as an error is.
            any_error |=
                fetched.error_code != error_code::NONE || fetched.diverging_epoch.is_some();
            results.push(fetched);
        }
        (results, total, any_error)
    }
}

impl Partition {
    /// Reads from `read.fetch_offset`: at most `max_bytes`, or the first
    /// whole batch when `min_one_batch`; nothing when both are zero/false.
    /// A client's read is refused unless this broker leads the partition
    /// ([`Partition::check_client_read`]: a follower's high watermark lags
    /// the leader's). A stale or future `current_leader_epoch` is refused (KIP-320); a
    /// `last_fetched_epoch` this log diverges from answers where (Kafka's
    /// `readRecords`), with no records.
    async fn read(
        &self,
        read: &PartitionRead,
        max_bytes: usize,
        min_one_batch: bool,
        pass: ReadPass,
    ) -> FetchedPartition {
        if read.replica_id >= 0 {
            let replica_read = self.read_for_replica(read, max_bytes, min_one_batch, pass);
            if let Some(fetched) = replica_read.await {
                return fetched;
            }
        }
        // Fetch reads any negative epoch as none (Kafka's `optionalEpoch`).
        if let Err(refusal) = self.check_client_read(read.current_leader_epoch.max(NO_EPOCH)) {
            return FetchedPartition::refused(refusal);
        }
        let read_bound = self.read_bound();
        let mut fetched = FetchedPartition {
            error_code: error_code::NONE,
            high_watermark: read_bound,
            last_stable_offset: read_bound,
            log_start_offset: self.log.log_start_offset(),
            diverging_epoch: None,
            records: Vec::new(),
            current_leader: None,
            waits_for_descriptor: false,
        };
        let divergence = self.divergence(
            read.current_leader_epoch,
            read.last_fetched_epoch,
            read.fetch_offset,
        );
        match divergence {
            Err(code) => return FetchedPartition::error(code),
            Ok(Some(diverging)) => {
                fetched.diverging_epoch = Some(diverging);
                return fetched;
            }
            Ok(None) => {}
        }
        self.read_records(read, max_bytes, min_one_batch, read_bound, fetched)
            .await
    }

    /// A follower's fetch on the leader ([`Partition::on_replica_fetch`]):
    /// its position recorded (its fetch offset is durable: a follower
    /// fsyncs before it fetches again), then records up to the log end.
    /// `None` on a single node: served as any fetch.
    async fn read_for_replica(
        &self,
        read: &PartitionRead,
        max_bytes: usize,
        min_one_batch: bool,
        pass: ReadPass,
    ) -> Option<FetchedPartition> {
        let fetch = FollowerFetch {
            replica: read.replica_id,
            current_leader_epoch: read.current_leader_epoch,
            fetch_offset: read.fetch_offset,
            last_fetched_epoch: read.last_fetched_epoch,
            durable_offset: read.fetch_offset,
            replica_epoch: read.replica_epoch,
            registration: read.replica_registration,
        };
        let high_watermark = match self.on_replica_fetch(fetch, pass)? {
            FetchAnswer::Refused(code) => return Some(self.replica_error(code)),
            FetchAnswer::Diverging(end) => {
                let mut fetched = FetchedPartition::error(error_code::NONE);
                fetched.high_watermark = self.read_bound();
                fetched.last_stable_offset = fetched.high_watermark;
                fetched.log_start_offset = self.log.log_start_offset();
                fetched.diverging_epoch = Some(DivergingEpoch {
                    epoch: end.epoch,
                    end_offset: end.end_offset,
                });
                return Some(fetched);
            }
            FetchAnswer::Read { high_watermark } => high_watermark,
        };
        let fetched = FetchedPartition {
            error_code: error_code::NONE,
            high_watermark,
            last_stable_offset: high_watermark,
            log_start_offset: self.log.log_start_offset(),
            diverging_epoch: None,
            records: Vec::new(),
            current_leader: None,
            waits_for_descriptor: false,
        };
        let end = self.log.readable_end_offset();
        let fetched = self
            .read_records(read, max_bytes, min_one_batch, end, fetched)
            .await;
        Some(match fetched.error_code {
            error_code::OFFSET_OUT_OF_RANGE => self.replica_error(fetched.error_code),
            _ => fetched,
        })
    }

    /// An error answer to a follower; OFFSET_OUT_OF_RANGE names this log's
    /// start, so a follower below it starts its log there, and its end, in
    /// the high watermark field (which Kafka leaves -1 on an error), so a
    /// follower past it truncates to it (where Kafka's follower asks for
    /// both with ListOffsets first; a millrace-to-millrace convention).
    fn replica_error(&self, code: i16) -> FetchedPartition {
        let mut fetched = FetchedPartition::error(code);
        if code == error_code::OFFSET_OUT_OF_RANGE {
            fetched.log_start_offset = self.log.log_start_offset();
            fetched.high_watermark = self.log.log_end_offset();
        }
        fetched
    }

    /// Reads records into `fetched` from `read.fetch_offset` up to `end_offset`.
    async fn read_records(
        &self,
        read: &PartitionRead,
        max_bytes: usize,
        min_one_batch: bool,
        end_offset: i64,
        mut fetched: FetchedPartition,
    ) -> FetchedPartition {
        if max_bytes == 0 && !min_one_batch {
            return fetched;
        }
        let limits = ReadLimits {
            max_bytes,
            min_one_batch,
            end_offset,
        };
        match self.log.read(read.fetch_offset, limits).await {
            Ok(result) => {
                fetched.log_start_offset = result.log_start_offset;
                fetched.records = result.pieces;
                fetched.waits_for_descriptor = result.waits_for_descriptor;
            }
            // A failed read answers no offsets (-1), as Kafka's does.
            Err(ReadError::OffsetOutOfRange) => {
                fetched = FetchedPartition::error(error_code::OFFSET_OUT_OF_RANGE);
            }
            Err(ReadError::Storage(e)) => {
                log::error!("read of {}-{} failed: {e}", read.topic, read.partition);
                fetched = FetchedPartition::error(error_code::KAFKA_STORAGE_ERROR);
            }
        }
        fetched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn mem(len: usize) -> Vec<Piece> {
        vec![Piece::Mem(Bytes::from(vec![0u8; len]))]
    }

    #[test]
    fn budget_keeps_the_first_partition_with_data_and_cuts_the_rest() {
        let mut budget = FetchBudget::new(1000);
        let mut empty = Vec::new();
        budget.charge(&mut empty);
        // The first partition with data keeps what its shard read, even a
        // first batch bigger than the whole budget (KIP-74).
        let mut first = mem(1500);
        budget.charge(&mut first);
        assert_eq!(pieces_len(&first), 1500);
        let mut second = mem(10);
        budget.charge(&mut second);
        assert!(second.is_empty());

        let mut budget = FetchBudget::new(1000);
        let (mut a, mut b, mut c) = (mem(600), mem(600), mem(600));
        for records in [&mut a, &mut b, &mut c] {
            budget.charge(records);
        }
        assert_eq!(
            [pieces_len(&a), pieces_len(&b), pieces_len(&c)],
            [600, 400, 0]
        );
    }

    #[test]
    fn tracked_fetch_fires_once_the_shards_together_have_min_bytes() {
        let waits = FetchWaits::default();
        let enough = waits.track(7, 1000);
        waits.progress(7, 0, 600);
        waits.progress(7, 0, 700);
        assert!(
            !enough.is_fired(),
            "a shard's newer report replaces its older one"
        );
        waits.progress(8, 1, 5000);
        assert!(!enough.is_fired(), "another fetch's report");
        waits.progress(7, 1, 300);
        assert!(enough.is_fired());
        waits.untrack(7);
        waits.progress(7, 1, 300);
        assert!(waits.tracked.borrow().is_empty());
    }
}
