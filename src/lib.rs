//! millrace: a Kafka-compatible streaming broker, thread-per-core on io_uring.
//!
//! # Layout
//! - [`protocol`]: sans-io Kafka wire pieces: frames, record batch views, the
//!   zero-copy Fetch response encoder, the supported API version table.
//! - [`storage`]: per-partition logs (segments, indexes, appender, recovery,
//!   retention, producer state) and the per-shard group-commit flusher.
//! - [`shard`]: the runtime (one pinned glommio executor per core), partition
//!   placement, and the cross-shard messages that carry work to an owning shard.
//! - [`server`]: the listener, one task pair per connection, and one handler
//!   file per Kafka API under `server/handlers/`.
//! - [`metadata`]: the topic registry, persisted by shard 0 and copied to all.
//! - [`cluster`]: the cluster control plane, sans-IO: metadata records, the
//!   metadata image, the KRaft-style controller and broker lifecycle, and a
//!   seeded deterministic simulator that checks them.
//! - [`config`]: broker configuration with Kafka's key names.
//! - [`cli`]: the `millrace` command line.
//! - [`client`]: a small blocking Kafka client used by the admin commands.
//! - [`bench`]: `millrace bench`, a benchmark harness for any Kafka broker.
//! - [`metrics`]: per-shard Prometheus metrics served on `http.listener`.
//!
//! A Produce request travels: `server::connection` (frame, decode) ->
//! `server::handlers::produce` (validate batches, split by owning shard) ->
//! `shard::router` (one message per destination shard) -> `storage::log`
//! (append to the partition) -> `storage::flusher` (O_DIRECT write, group fsync)
//! -> back through the router to the connection, answered in request order.

pub mod alloc_stats;
pub mod bench;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod coordinator;
pub mod logging;
pub mod metadata;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod shard;
pub mod storage;
