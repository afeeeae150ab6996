//! Per-partition logs in Kafka's on-disk layout, and the per-shard flusher.
pub mod piece;
