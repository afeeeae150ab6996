//! Per-partition logs in Kafka's on-disk layout, and the per-shard flusher.
//!
//! # Layout
//! - [`config`]: topic log settings, durability levels, shard limits.
//! - [`error`]: one error type per operation family, with wire codes.
//! - [`segment`], [`index`]: a `.log` file and its in-memory offset/time
//!   indexes (`.index` / `.timeindex` in Kafka's formats).
//! - [`appender`]: recent batches in memory and the O_DIRECT write plan;
//!   [`recent_copy`]: why and when a recent batch gets its own allocation;
//!   [`recent_budget`]: the shard's bound on recent batches, met across
//!   partitions.
//! - [`flusher`]: the shard's group-commit task (writes, one fdatasync per
//!   segment per round, waiter completion); `roll`: segment rolls, their
//!   syncs (the seal) left to the flusher, off the append path; [`preallocation`]: how far
//!   ahead of its writes a segment is preallocated, and giving it back.
//! - [`log`]: [`PartitionLog`] (appends, durability waits); reads in
//!   `log_read`, lookups by time in `log_time`, retention in `retention`. An append is a turn
//!   ([`AppendSlot`]) during which the partition layer decides, then a
//!   commit that reports each batch it assigns offsets to.
//! - [`recovery`], [`scan`]: loading a partition directory, repairing a torn
//!   tail past the recovery point, rebuilding indexes; `header_walk`: a
//!   header-only walk of the log from an offset (the partition layer
//!   rebuilds its producer state with it).
//! - [`recovery_point`], [`checkpoint`]: Kafka's recovery points and their
//!   `recovery-point-offset-checkpoint` file; [`atomic_file`]: small files
//!   replaced atomically.
//! - [`snapshot_files`]: Kafka's `<offset>.snapshot` files beside the
//!   segments, written with [`atomic_file`]; the partition layer owns their
//!   content.
//! - [`shard_storage`]: [`ShardStorage`], the partitions of one shard.
//! - [`parked_readers`]: consumers parked for a log's next fdatasync, which
//!   the flusher then syncs at once.
//! - [`read_handles`]: the buffered read handles fetches send from, opened
//!   on demand and kept in a bounded per-shard cache.
//! - [`io`]: the narrow file interface (real O_DIRECT files, or a
//!   fault-injecting layer for tests).
pub mod appender;
pub mod atomic_file;
mod base_fill;
pub mod checkpoint;
pub mod config;
mod disk_faults;
pub mod epoch_checkpoint_file;
pub mod error;
pub mod flusher;
mod header_walk;
pub mod index;
pub mod io;
pub mod log;
mod log_append_time;
mod log_read;
mod log_start;
mod log_time;
pub mod notify;
pub mod parked_readers;
pub mod partition_metadata;
pub mod preallocation;
pub mod read_handles;
pub mod recent_budget;
pub mod recent_copy;
pub mod recovery;
pub mod recovery_point;
mod retention;
mod roll;
#[cfg(test)]
mod roll_tests;
pub mod scan;
pub mod segment;
pub mod shard_storage;
pub mod snapshot_files;
pub mod sync_batch;
mod truncate;
mod truncate_segments;
#[cfg(test)]
mod truncate_tests;
mod unwritten;
mod zero_ahead;
#[cfg(test)]
mod zero_ahead_tests;

#[cfg(test)]
mod delete_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod fetch_position_tests;
mod log_start_tests;
#[cfg(test)]
mod partition_metadata_tests;
#[cfg(test)]
mod preallocation_tests;
#[cfg(test)]
mod read_bound_tests;
#[cfg(test)]
mod recent_budget_tests;
#[cfg(test)]
mod recovery_point_tests;
#[cfg(test)]
pub(crate) mod tests;

pub use config::{Durability, LogConfig, StorageLimits};
pub use disk_faults::{DiskFaultSummary, DISK_FULL_RETRY_MS};
pub use error::{AppendError, ReadError, StorageError};
pub use log::{AppendBatch, AppendResult, AppendSlot, LogStats, PartitionLog};
pub use log_read::{ReadLimits, ReadResult};
pub use log_time::{StoredBatch, TimeSearch};
pub use notify::{AppendListener, DurableWait};
pub use recovery::LoadStart;
pub use recovery_point::RecoveryCapture;
pub use shard_storage::ShardStorage;
pub use truncate::TruncateError;
