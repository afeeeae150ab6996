//! millrace: a Kafka-compatible streaming broker, thread-per-core on io_uring.
//!
//! # Layout
//! Layers, each using only the ones before it (no cycles):
//! - [`protocol`]: sans-io Kafka wire pieces: frames, record batch views,
//!   the zero-copy Fetch response encoder over [`protocol::piece`]s, and the
//!   one table of Kafka error codes ([`protocol::error_code`]).
//! - [`local`]: single-shard async primitives (events, one-shot channel).
//! - [`metrics`]: per-shard Prometheus counters and the `/metrics` endpoint.
//! - [`storage`]: per-partition logs in Kafka's on-disk layout (segments,
//!   indexes, appender, recovery, retention) and the per-shard group-commit
//!   flusher. Appends what it is given; decides nothing about producers.
//! - [`config`]: broker configuration with Kafka's key names.
//! - [`partition`]: each partition's state on its owning shard (log, read
//!   bound, idempotent producer state; later leader epochs and replicas)
//!   and the owner side of Produce, Fetch, ListOffsets, DescribeLogDirs.
//! - [`metadata`]: the topic registry (persisted by the controller on shard
//!   0, copied to every shard) and each shard's control-plane state.
//! - [`cluster`]: the cluster control plane: sans-IO metadata records, the
//!   metadata image, the KRaft-style controller and broker lifecycle, a
//!   seeded deterministic simulator that checks them; and `cluster::raft`,
//!   the metadata log on openraft (glommio runtime, disk log, TCP between
//!   controllers), the only part with I/O.
//! - [`coordinator`]: consumer groups and their committed offsets.
//! - [`shard`]: the runtime (one pinned glommio executor per core),
//!   placement, the cross-shard messages, the router that carries them, and
//!   the service that hands each to the partition, group or metadata layer.
//! - [`server`]: the listener, one task pair per connection, and one handler
//!   file per Kafka API under `server/handlers/` (wire format in and out,
//!   routing to the owning shard).
//!
//! Beside them: [`cli`] (the `millrace` command line), [`client`] (a small
//! blocking Kafka client for the admin commands), [`bench`](mod@bench) (`millrace
//! bench`, a harness for any Kafka broker), [`logging`], [`alloc_stats`].
//!
//! A Produce request travels: `server::connection` (frame, decode) ->
//! `server::handlers::produce` (validate batches, one part per owning shard)
//! -> `shard::router` (to the owning shard, queued in order) ->
//! `shard::service` -> `partition::produce` (the producer state decides, the
//! log appends) -> `storage::log` (offsets assigned, in memory) ->
//! `storage::flusher` (O_DIRECT write, group fsync) -> the durability the
//! acks ask for -> back through the router to the connection, answered in
//! request order. A Fetch goes the same way to `partition::fetch` (read up to
//! the read bound, long-poll until data, deadline or cancel) and comes back
//! as zero-copy pieces for `protocol::fetch_response`.

pub mod alloc_stats;
pub mod bench;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod coordinator;
pub mod local;
pub mod logging;
pub mod metadata;
pub mod metrics;
pub mod partition;
pub mod protocol;
pub mod server;
pub mod shard;
pub mod storage;
