//! `millrace bench`: a benchmark harness for any Kafka-compatible broker.
//!
//! It speaks the wire protocol itself (Produce v3, Fetch v4), thread-per-core
//! like the broker: producers and consumers are spread over pinned glommio
//! executors ([`run`]). It measures publish latency (intended send to ack)
//! and end-to-end latency (payload timestamp to consume) with HdrHistogram,
//! corrected for coordinated omission in fixed-rate mode ([`producer`]),
//! prints a progress line per second ([`progress`]) and writes `result.json`
//! and `chart.svg` ([`report`], [`svg`]). `millrace bench compare` draws
//! several results on one chart ([`compare`]).
//!
//! Layout: [`workload`] (options and workload files), [`admin`] (topic setup
//! over the blocking client), [`wire`] (request encoding, answer parsing; batch
//! compression is [`crate::protocol::codec`]'s),
//! [`net`] (async connections), [`producer`], [`consumer`], [`stats`]
//! (clock, shared counters), [`json`] (a small JSON reader/writer).

pub mod admin;
pub mod compare;
pub mod consumer;
pub mod json;
pub mod net;
pub mod producer;
pub mod progress;
pub mod report;
pub mod run;
pub mod stats;
pub mod svg;
pub mod wire;
pub mod workload;
