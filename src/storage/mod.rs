//! Per-partition logs in Kafka's on-disk layout, and the per-shard flusher.
//!
//! # Layout
//! - [`config`]: topic log settings, durability levels, shard limits.
//! - [`error`]: one error type per operation family, with wire codes.
//! - [`segment`], [`index`]: a `.log` file and its in-memory offset/time
//!   indexes (`.index` / `.timeindex` in Kafka's formats).
//! - [`appender`]: recent batches in memory and the O_DIRECT write plan;
//!   [`recent_copy`]: why and when a recent batch gets its own allocation.
//! - [`flusher`]: the shard's group-commit task (writes, one fdatasync per
//!   segment per round, waiter completion).
//! - [`log`]: [`PartitionLog`] (appends, durability waits); reads in
//!   `log_read`, retention in `retention`. An append is a turn
//!   ([`AppendSlot`]) during which the partition layer decides, then a
//!   commit that reports each batch it assigns offsets to.
//! - [`recovery`], [`scan`]: loading a partition directory, repairing a torn
//!   tail, rebuilding indexes; a header-only walk of the log from an offset
//!   (the partition layer rebuilds its producer state with it).
//! - [`snapshot_files`]: Kafka's `<offset>.snapshot` files beside the
//!   segments, written atomically; the partition layer owns their content.
//!   [`atomic_file`]: small files replaced atomically.
//! - [`shard_storage`]: [`ShardStorage`], the partitions of one shard.
//! - [`io`]: the narrow file interface (real O_DIRECT files, or a
//!   fault-injecting layer for tests).
pub mod appender;
pub mod atomic_file;
pub mod config;
mod disk_faults;
pub mod error;
pub mod flusher;
pub mod index;
pub mod io;
pub mod log;
mod log_read;
pub mod notify;
pub mod recent_copy;
pub mod recovery;
mod retention;
pub mod scan;
pub mod segment;
pub mod shard_storage;
pub mod snapshot_files;
mod unwritten;

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
pub(crate) mod tests;

pub use config::{Durability, LogConfig, StorageLimits};
pub use disk_faults::{DiskFaultSummary, DISK_FULL_RETRY_MS};
pub use error::{AppendError, ReadError, StorageError};
pub use log::{AppendBatch, AppendResult, AppendSlot, LogStats, PartitionLog};
pub use log_read::ReadResult;
pub use notify::AppendListener;
pub use shard_storage::ShardStorage;
