//! Per-topic log settings (Kafka's names and defaults) and per-shard memory
//! and I/O limits of the storage engine.

/// Kafka `segment.bytes` default: 1 GiB.
pub const SEGMENT_BYTES_DEFAULT: u64 = 1 << 30;
/// Kafka `segment.ms` default: 7 days.
pub const SEGMENT_MS_DEFAULT: u64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka `retention.ms` default: 7 days.
pub const RETENTION_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka `index.interval.bytes` default.
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4096;
/// Kafka `max.message.bytes` default (1 MiB + record batch overhead).
pub const MAX_MESSAGE_BYTES_DEFAULT: u32 = 1_048_588;
/// `log.flush.visibility.ms` default.
pub const FLUSH_VISIBILITY_MS_DEFAULT: u64 = 5;
/// Segments never grow past what a u32 index position can address.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;
/// Smallest segment we accept; smaller values are raised to it.
pub const SEGMENT_BYTES_MIN: u64 = 16 * 1024;
/// How long a partition writes nothing before it gives back its
/// preallocated space.
pub const PREALLOCATION_IDLE_MS_DEFAULT: u64 = 10_000;

/// Settings of one partition's log, named after Kafka's topic configs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the next batch would pass this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a non-empty segment older than this.
    pub segment_ms: u64,
    /// `retention.ms`, -1 infinite: delete segments whose newest record is older.
    pub retention_ms: i64,
    /// `retention.bytes`, -1 infinite: delete oldest segments beyond this size.
    pub retention_bytes: i64,
    /// `flush.messages`: fdatasync after this many records (`u64::MAX` never).
    pub flush_messages: u64,
    /// `flush.ms`: fdatasync data older than this (`u64::MAX` never).
    pub flush_ms: u64,
    /// `index.interval.bytes`: bytes between offset/time index entries.
    pub index_interval_bytes: u32,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: u32,
    /// `message.timestamp.type=LogAppendTime`: each appended batch is stamped
    /// with the append time (`log_append_time.rs`).
    pub log_append_time: bool,
    /// `unflushed.read.enable`: consumers may read what is not fdatasynced
    /// yet (Kafka's single-node behaviour). The partition layer bounds reads
    /// by it; when false, storage syncs within `flush_visibility_ms`.
    pub unflushed_read_enable: bool,
    /// `log.flush.visibility.ms`: with unflushed reads off, fdatasync written
    /// data at most this long after the previous fdatasync, so that acks=0/1
    /// data becomes readable soon.
    pub flush_visibility_ms: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: SEGMENT_MS_DEFAULT,
            retention_ms: RETENTION_MS_DEFAULT,
            retention_bytes: -1,
            flush_messages: u64::MAX,
            flush_ms: u64::MAX,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            max_message_bytes: MAX_MESSAGE_BYTES_DEFAULT,
            log_append_time: false,
            unflushed_read_enable: false,
            flush_visibility_ms: FLUSH_VISIBILITY_MS_DEFAULT,
        }
    }
}

impl LogConfig {
    /// `segment_bytes` clamped to what the engine supports.
    pub(crate) fn effective_segment_bytes(&self) -> u64 {
        self.segment_bytes
            .clamp(SEGMENT_BYTES_MIN, SEGMENT_BYTES_MAX)
    }

    /// Longest time written data stays unsynced (`u64::MAX`: no bound):
    /// `flush.ms`, or sooner when readers wait for the fdatasync.
    pub(crate) fn timed_sync_ms(&self) -> u64 {
        match self.unflushed_read_enable {
            true => self.flush_ms,
            false => self.flush_ms.min(self.flush_visibility_ms),
        }
    }
}

/// How far an append must have gone before the producer is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// acks=0: in the log's memory.
    Appended,
    /// acks=1: the O_DIRECT write completed.
    Written,
    /// acks=all: fdatasync completed.
    Synced,
}

/// Memory and I/O bounds of a shard's storage engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageLimits {
    /// Written batches kept in memory per partition to serve reads of
    /// recent data (`usize::MAX`: up to the shard's bound).
    pub recent_bytes_per_partition: usize,
    /// While the shard is over `recent_bytes_per_shard_max`, the most a
    /// partition used lately keeps (lowered with the partition count; an
    /// idle one keeps none: `recent_budget.rs`).
    pub recent_bytes_per_partition_min: usize,
    /// Bound on recent batches of all partitions of a shard (unwritten ones
    /// are never evicted, so it is soft: met once they are written).
    pub recent_bytes_per_shard_max: usize,
    /// The room a shard starts with (`log.recent.bytes.per.shard.initial`);
    /// reads that go to the disk for data a larger room would have held
    /// grow it, up to `recent_bytes_per_shard_max` (`recent_budget.rs`).
    /// `usize::MAX`: the whole bound from the start.
    pub recent_bytes_per_shard_initial: usize,
    /// Appended but unwritten bytes per partition before appends wait.
    pub unwritten_bytes_per_partition_max: usize,
    /// Appended but unwritten bytes of all partitions of a shard before
    /// appends wait (`log.unwritten.bytes.per.shard.max`).
    pub unwritten_bytes_per_shard_max: usize,
    /// Bytes one flush round writes for one partition.
    pub write_round_bytes_per_partition: usize,
    /// Size of one O_DIRECT write (several are in flight per round).
    pub write_chunk_bytes: usize,
    /// Smallest step by which an active segment is preallocated ahead of its
    /// writes (the first step of every segment): a broker with many
    /// partitions reserves little disk for each (`preallocation.rs`).
    pub preallocate_step_bytes_min: u64,
    /// Largest step, reached by partitions that write fast.
    pub preallocate_step_bytes_max: u64,
    /// A partition that wrote nothing for this long gives back the
    /// preallocated space past its written end.
    pub preallocation_idle_ms: u64,
    /// How far past its data an active segment's preallocated blocks are
    /// written with zeros ahead of the writes (`log.zero.ahead.bytes`,
    /// `zero_ahead.rs`); 0 turns it off.
    pub zero_ahead_bytes: u64,
    /// Syncs that a shard's logs ask for together run as one syncfs per
    /// filesystem (`log.flush.syncfs.enable`, `sync_batch.rs`), not one
    /// fdatasync per file.
    pub syncfs_batches: bool,
    /// Flush rounds (one per dirty partition) in flight per shard; other
    /// dirty partitions wait for a place.
    pub flush_logs_per_round_max: usize,
    /// Size of each arena block that stamped batch headers are cut from.
    pub header_arena_bytes: usize,
    /// Size of one read while scanning batch headers for a fetch.
    pub scan_read_bytes: usize,
    /// Size of one read while recovering or rebuilding an index.
    pub recovery_read_bytes: usize,
    /// Offset index entries loaded from a file whose batch headers one step
    /// of a base offset fill reads (`base_fill.rs`); 0 turns the fill off.
    pub base_fill_entries_per_step: usize,
}

impl Default for StorageLimits {
    fn default() -> Self {
        StorageLimits {
            recent_bytes_per_partition: usize::MAX,
            recent_bytes_per_partition_min: 256 << 10,
            recent_bytes_per_shard_max: 512 << 20,
            recent_bytes_per_shard_initial: 128 << 20,
            unwritten_bytes_per_partition_max: 64 << 20,
            unwritten_bytes_per_shard_max: 256 << 20,
            write_round_bytes_per_partition: 4 << 20,
            write_chunk_bytes: 1 << 20,
            preallocate_step_bytes_min: 64 << 10,
            preallocate_step_bytes_max: 64 << 20,
            preallocation_idle_ms: PREALLOCATION_IDLE_MS_DEFAULT,
            // Off: it costs the latency tail on this platform (`zero_ahead.rs`).
            zero_ahead_bytes: 0,
            syncfs_batches: true,
            flush_logs_per_round_max: 32,
            header_arena_bytes: 64 << 10,
            scan_read_bytes: 16 << 10,
            recovery_read_bytes: 1 << 20,
            base_fill_entries_per_step: 64,
        }
    }
}
