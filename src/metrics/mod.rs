//! Prometheus metrics: per-shard blocks written only by their shard, read
//! and rendered by a small HTTP thread on scrape (`http.listener`).
//!
//! - [`histogram`]: single-writer counters, gauges and latency histograms.
//! - [`ticker`]: the loop behind the periodic per-shard tasks (the shard
//!   layer's gauge refresh, `shard::metrics_feed`, and the stall probe).
//! - [`lag`]: consumer group lag, joined at scrape from those copies.
//! - [`prometheus`]: the text exposition format writer.
//! - [`http`]: `/metrics`, `/health` and `/ready` over HTTP/1.1.
//! - [`stall`]: reactor stalls, measured as timer lateness.
//! - [`replication`]: under-replicated and offline partitions, ISR changes,
//!   leader elections, follower lag.
//!
//! The hot path only touches its own shard's block through [`with_local`]:
//! a thread-local lookup and a few relaxed atomic increments, no allocation
//! and no lock.

pub mod histogram;
pub mod http;
pub mod lag;
pub mod prometheus;
pub mod replication;
pub mod stall;
pub mod ticker;

use histogram::{Counter, Gauge, LatencyHistogram};
use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Kafka API keys tracked per API (keys at or above go to the last slot).
pub const API_KEY_SLOTS: usize = 80;
/// Kafka error codes tracked per code (codes outside go to the last slot).
pub const ERROR_CODE_SLOTS: usize = 128;

/// Request metrics of one API on one shard.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    /// Requests received.
    pub requests: Counter,
    /// Requests the broker could not answer (malformed, unsupported version).
    pub errors: Counter,
    /// From the request's arrival to its answer being written.
    pub latency: LatencyHistogram,
}

/// The APIs whose per-partition error codes are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionApi {
    /// Produce partition responses.
    Produce = 0,
    /// Fetch partition responses.
    Fetch = 1,
}

/// Gauges copied by the shard's refresh task.
#[derive(Debug, Default)]
pub struct ShardGauges {
    /// Partitions open on the shard.
    pub partitions: Gauge,
    /// Segments of those partitions.
    pub segments: Gauge,
    /// Logical bytes of those segments.
    pub log_bytes: Gauge,
    /// Logs offline after a failed write or fdatasync.
    pub failed_logs: Gauge,
    /// Open client connections.
    pub connections: Gauge,
    /// Cross-shard calls waiting for an answer from another shard.
    pub cross_shard_pending: Gauge,
    /// Recent record batches held in memory for fetches.
    pub recent_bytes: Gauge,
    /// The shard's room for recent batches now: grown by reads that missed
    /// it (`log.recent.bytes.per.shard.initial`), shrunk while memory is
    /// short (`log.recent.memory.available.min.bytes`).
    pub recent_room_bytes: Gauge,
    /// Appended bytes not written yet (`log.unwritten.bytes.per.shard.max`).
    pub unwritten_bytes: Gauge,
    /// Incremental fetch sessions (KIP-227) open on the shard.
    pub fetch_sessions: Gauge,
}

/// Executor time and work, accumulated from glommio's resetting stats.
#[derive(Debug, Default)]
pub struct ExecutorCounters {
    /// Microseconds spent running tasks.
    pub task_runtime_us: Counter,
    /// Microseconds running tasks or polling I/O.
    pub total_runtime_us: Counter,
    /// Tasks run.
    pub tasks: Counter,
    /// Times the scheduler picked a task queue.
    pub scheduler_runs: Counter,
}

/// Everything one shard reports. Written only by that shard's thread.
#[derive(Debug)]
pub struct ShardMetrics {
    /// The shard.
    pub shard_id: usize,
    /// Indexed by API key.
    pub apis: Box<[ApiMetrics]>,
    /// Request frame bytes received.
    pub request_bytes: Counter,
    /// Response bytes written.
    pub response_bytes: Counter,
    /// Records appended to partitions of this shard.
    pub records_in: Counter,
    /// Record batch bytes appended to partitions of this shard.
    pub record_bytes_in: Counter,
    /// Record batch bytes sent in Fetch answers by this shard's connections.
    pub record_bytes_out: Counter,
    /// Fetch requests served within an incremental fetch session.
    pub incremental_fetches: Counter,
    /// Partition error codes, indexed by [`PartitionApi`] then code.
    pub partition_errors: [Box<[Counter]>; 2],
    /// How long a segment file's sync took (its wait for a batch included).
    pub fsync_latency: LatencyHistogram,
    /// How long each segment roll kept its partition's appends waiting.
    pub segment_roll_wait: LatencyHistogram,
    /// Connections accepted.
    pub connections_accepted: Counter,
    /// Messages sent to other shards (requests, notifications, answers),
    /// indexed by destination shard.
    pub cross_shard_sent_to: Box<[Counter]>,
    /// Messages received from other shards.
    pub cross_shard_received: Counter,
    /// O_DIRECT reads of segment headers by scans (where a Fetch starts,
    /// truncation, time lookups, recovery).
    pub segment_scan_reads: Counter,
    /// O_DIRECT reads of batch headers by base offset fills of offset
    /// index entries loaded from files (`storage/base_fill.rs`).
    pub index_base_fill_reads: Counter,
    /// Flush rounds that wrote data to a segment (one partition each, one
    /// or more O_DIRECT writes: `storage/flusher.rs`).
    pub log_write_rounds: Counter,
    /// Bytes those rounds wrote (whole blocks: a partial last block again).
    pub log_write_bytes: Counter,
    /// Zeros written ahead of the data (`storage/zero_ahead.rs`).
    pub zero_ahead_bytes: Counter,
    /// Failed zero-ahead writes.
    pub zero_ahead_write_errors: Counter,
    /// Batches of two or more segment syncs run as one helper job
    /// (`storage/sync_batch.rs`).
    pub sync_batches: Counter,
    /// Segment files those batches made durable.
    pub sync_batch_files: Counter,
    /// syncfs calls those batches made (one per filesystem per batch).
    pub syncfs_calls: Counter,
    /// Reactor stalls (probe wake-ups later than the stall threshold).
    pub reactor_stalls: Counter,
    /// Lateness of the reactor probe's timer wake-ups.
    pub reactor_delay: LatencyHistogram,
    /// Executor stats.
    pub executor: ExecutorCounters,
    /// Refreshed gauges.
    pub gauges: ShardGauges,
    /// Offsets the lag computation needs, replaced by each refresh.
    pub lag_inputs: Mutex<lag::LagInputs>,
    /// Replication (cluster members only).
    pub replication: replication::ReplicationMetrics,
}

impl ShardMetrics {
    /// An empty block for `shard_id` of `nr_shards`.
    pub fn new(shard_id: usize, nr_shards: usize) -> Self {
        let counters = |n: usize| (0..n).map(|_| Counter::default()).collect::<Box<[_]>>();
        ShardMetrics {
            shard_id,
            apis: (0..API_KEY_SLOTS).map(|_| ApiMetrics::default()).collect(),
            request_bytes: Counter::default(),
            response_bytes: Counter::default(),
            records_in: Counter::default(),
            record_bytes_in: Counter::default(),
            record_bytes_out: Counter::default(),
            incremental_fetches: Counter::default(),
            partition_errors: [counters(ERROR_CODE_SLOTS), counters(ERROR_CODE_SLOTS)],
            fsync_latency: LatencyHistogram::default(),
            segment_roll_wait: LatencyHistogram::default(),
            connections_accepted: Counter::default(),
            cross_shard_sent_to: counters(nr_shards),
            cross_shard_received: Counter::default(),
            segment_scan_reads: Counter::default(),
            index_base_fill_reads: Counter::default(),
            log_write_rounds: Counter::default(),
            log_write_bytes: Counter::default(),
            zero_ahead_bytes: Counter::default(),
            zero_ahead_write_errors: Counter::default(),
            sync_batches: Counter::default(),
            sync_batch_files: Counter::default(),
            syncfs_calls: Counter::default(),
            reactor_stalls: Counter::default(),
            reactor_delay: LatencyHistogram::default(),
            executor: ExecutorCounters::default(),
            gauges: ShardGauges::default(),
            lag_inputs: Mutex::new(lag::LagInputs::default()),
            replication: replication::ReplicationMetrics::default(),
        }
    }

    /// The metrics of API `api_key` (unknown keys share the last slot).
    #[inline]
    pub fn api(&self, api_key: i16) -> &ApiMetrics {
        let slot = usize::try_from(api_key).map_or(API_KEY_SLOTS - 1, |k| k.min(API_KEY_SLOTS - 1));
        &self.apis[slot]
    }

    /// Counts a partition answered with `code` (0 is not an error; ignored).
    #[inline]
    pub fn partition_error(&self, api: PartitionApi, code: i16) {
        if code == crate::protocol::error_code::NONE {
            return;
        }
        let slot =
            usize::try_from(code).map_or(ERROR_CODE_SLOTS - 1, |c| c.min(ERROR_CODE_SLOTS - 1));
        self.partition_errors[api as usize][slot].inc();
    }
}

/// All shards' blocks and the broker-wide state `/ready` reports.
#[derive(Debug)]
pub struct Registry {
    shards: Vec<Arc<ShardMetrics>>,
    ready: AtomicBool,
    stopping: AtomicBool,
}

impl Registry {
    /// A registry with one block per shard.
    pub fn new(nr_shards: usize) -> Arc<Self> {
        Arc::new(Registry {
            shards: (0..nr_shards)
                .map(|id| Arc::new(ShardMetrics::new(id, nr_shards)))
                .collect(),
            ready: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        })
    }

    /// Every shard's block, by shard id.
    pub fn shards(&self) -> &[Arc<ShardMetrics>] {
        &self.shards
    }

    /// The block of `shard_id`, if it exists.
    pub fn shard(&self, shard_id: usize) -> Option<&Arc<ShardMetrics>> {
        self.shards.get(shard_id)
    }

    /// Marks the broker ready (every shard serves) for `/ready`.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Marks the broker as shutting down: `/ready` answers 503 from now on.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Whether the broker serves and is not shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.stopping.load(Ordering::Acquire)
    }
}

thread_local! {
    /// The block of the shard running on this thread, if any.
    static LOCAL: OnceCell<Arc<ShardMetrics>> = const { OnceCell::new() };
}

/// Makes `metrics` this thread's block (a shard thread, once at start).
pub fn install_local(metrics: Arc<ShardMetrics>) {
    LOCAL.with(|local| {
        if local.set(metrics).is_err() {
            log::warn!("metrics block already installed on this thread");
        }
    });
}

/// Runs `update` on this thread's shard block; nothing off shard threads
/// (unit tests, command-line tools).
#[inline]
pub fn with_local(update: impl FnOnce(&ShardMetrics)) {
    LOCAL.with(|local| {
        if let Some(metrics) = local.get() {
            update(metrics);
        }
    });
}

/// Counts a request of `api_key` that arrived in a `frame_bytes` frame.
#[inline]
pub fn count_request(api_key: i16, frame_bytes: usize) {
    with_local(|m| {
        m.api(api_key).requests.inc();
        m.request_bytes.add(frame_bytes as u64);
    });
}

/// Counts a message sent from this shard to shard `target`.
#[inline]
pub fn count_cross_shard_sent(target: usize) {
    with_local(|m| {
        if let Some(counter) = m.cross_shard_sent_to.get(target) {
            counter.inc();
        }
    });
}

/// Counts a message received from another shard.
#[inline]
pub fn count_cross_shard_received() {
    with_local(|m| m.cross_shard_received.inc());
}

/// Messages sent to each shard and not yet received by it. The counters of
/// different shards are read at slightly different moments, so this is an
/// estimate (never below zero).
pub fn cross_shard_queue_depths(registry: &Registry) -> Vec<u64> {
    registry
        .shards()
        .iter()
        .map(|receiver| {
            let sent: u64 = registry
                .shards()
                .iter()
                .filter_map(|sender| sender.cross_shard_sent_to.get(receiver.shard_id))
                .map(Counter::get)
                .sum();
            sent.saturating_sub(receiver.cross_shard_received.get())
        })
        .collect()
}

/// Counts a request the broker could not answer (the connection closes).
#[inline]
pub fn count_request_error(api_key: i16) {
    with_local(|m| m.api(api_key).errors.inc());
}

/// Counts an answer of `response_bytes` (0: none sent, e.g. acks=0) to a
/// request that arrived at `started`.
#[inline]
pub fn count_response(api_key: i16, started: std::time::Instant, response_bytes: usize) {
    with_local(|m| {
        m.api(api_key).latency.observe(started.elapsed());
        m.response_bytes.add(response_bytes as u64);
    });
}

/// Counts an append of `records` records in `batch_bytes` to a partition of
/// this shard.
#[inline]
pub fn count_appended(records: i64, batch_bytes: usize) {
    let records = u64::try_from(records).unwrap_or(0);
    with_local(|m| {
        m.records_in.add(records);
        m.record_bytes_in.add(batch_bytes as u64);
    });
}

/// Counts one partition of a Fetch answer: its error code and record bytes.
#[inline]
pub fn count_fetched(error_code: i16, records: &[crate::protocol::piece::Piece]) {
    with_local(|m| {
        m.partition_error(PartitionApi::Fetch, error_code);
        m.record_bytes_out
            .add(crate::protocol::piece::pieces_len(records) as u64);
    });
}

/// Counts a Fetch request served within an incremental fetch session.
#[inline]
pub fn count_incremental_fetch() {
    with_local(|m| m.incremental_fetches.add(1));
}

/// The registry for `nr_shards` shards, served on `http_listener`
/// (`http.listener`) unless it is `None`. A failed bind is logged, not
/// fatal: the broker serves Kafka without metrics rather than not at all.
pub fn start_endpoint(http_listener: Option<&str>, nr_shards: usize) -> Arc<Registry> {
    let registry = Registry::new(nr_shards);
    if let Some(address) = http_listener {
        match http::start(address, registry.clone()) {
            Ok(()) => log::info!("metrics on http://{address}/metrics"),
            Err(e) => log::error!("{e}: /metrics, /health and /ready are not served"),
        }
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_out_of_range_share_the_last_slot() {
        let metrics = ShardMetrics::new(0, 1);
        metrics.api(-1).requests.inc();
        metrics.api(500).requests.inc();
        metrics.api(0).requests.inc();
        assert_eq!(metrics.apis[API_KEY_SLOTS - 1].requests.get(), 2);
        assert_eq!(metrics.apis[0].requests.get(), 1);
    }

    #[test]
    fn partition_errors_ignore_success_and_bucket_odd_codes() {
        let metrics = ShardMetrics::new(0, 1);
        metrics.partition_error(PartitionApi::Fetch, 0);
        metrics.partition_error(PartitionApi::Fetch, 1);
        metrics.partition_error(PartitionApi::Produce, -1);
        assert_eq!(metrics.partition_errors[1][1].get(), 1);
        assert_eq!(metrics.partition_errors[0][ERROR_CODE_SLOTS - 1].get(), 1);
        let total: u64 = metrics.partition_errors[1].iter().map(Counter::get).sum();
        assert_eq!(total, 1);
    }

    #[test]
    fn queue_depth_is_sent_to_a_shard_minus_received_by_it() {
        let registry = Registry::new(2);
        registry.shards()[0].cross_shard_sent_to[1].add(5);
        registry.shards()[1].cross_shard_received.add(3);
        registry.shards()[1].cross_shard_sent_to[0].add(2);
        registry.shards()[0].cross_shard_received.add(2);
        assert_eq!(cross_shard_queue_depths(&registry), vec![0, 2]);
    }

    #[test]
    fn ready_until_stopping() {
        let registry = Registry::new(2);
        assert!(!registry.is_ready());
        registry.set_ready();
        assert!(registry.is_ready());
        registry.set_stopping();
        assert!(!registry.is_ready());
    }

    #[test]
    fn with_local_is_a_no_op_off_shard_threads() {
        let mut called = false;
        with_local(|_| called = true);
        assert!(!called);
    }
}
