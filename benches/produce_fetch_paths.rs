//! Micro-benchmarks of the per-request work on the produce and fetch paths
//! that does not touch a socket or a disk: record batch validation (CRC32C
//! over every byte) and encoding a Fetch response around record pieces.
//!
//! `cargo bench --bench produce_fetch_paths` prints medians of repeated runs.
//! It shows that validation runs at crc32c speed and that the fetch encoder's
//! cost does not grow with the bytes of records (they are not copied).

use bytes::Bytes;
use millrace::protocol::fetch_response::{
    encode_fetch_response, FetchPartitionOut, FetchResponseOut, FetchTopicOut,
};
use millrace::protocol::piece::Piece;
use millrace::protocol::record_batch::{build_test_batch, validate_batches, TestBatch};
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 15;

fn median_ns(mut samples: Vec<u128>) -> u128 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn time_it<F: FnMut()>(iterations: usize, mut body: F) -> u128 {
    let samples = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                body();
            }
            start.elapsed().as_nanos() / iterations as u128
        })
        .collect();
    median_ns(samples)
}

fn bench_validation() {
    // One request's records: 16 batches of 64 records of 1 KiB (~1 MiB).
    let mut records = Vec::new();
    for _ in 0..16 {
        records.extend(build_test_batch(&TestBatch {
            record_count: 64,
            value_bytes: 1024,
            ..Default::default()
        }));
    }
    let mut infos = Vec::with_capacity(16);
    let ns = time_it(200, || {
        infos.clear();
        validate_batches(black_box(&records), 2 << 20, &mut infos).expect("valid");
    });
    let gb_s = records.len() as f64 / ns as f64;
    println!(
        "validate_batches: {} bytes in {ns} ns per request = {gb_s:.2} GB/s",
        records.len()
    );
}

fn fetch_response(batch_bytes: usize, batches: usize) -> FetchResponseOut {
    let batch = Bytes::from(vec![7u8; batch_bytes]);
    FetchResponseOut {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        topics: vec![FetchTopicOut {
            name: kafka_protocol::messages::TopicName(
                kafka_protocol::protocol::StrBytes::from_static_str("t"),
            ),
            topic_id: uuid::Uuid::nil(),
            partitions: vec![FetchPartitionOut {
                partition_index: 0,
                error_code: 0,
                high_watermark: 1,
                last_stable_offset: 1,
                log_start_offset: 0,
                records: (0..batches).map(|_| Piece::Mem(batch.clone())).collect(),
            }],
        }],
    }
}

fn bench_fetch_encoding() {
    for batch_bytes in [1024usize, 1 << 20] {
        let ns = time_it(2000, || {
            let pieces = encode_fetch_response(1, 12, fetch_response(batch_bytes, 16));
            black_box(pieces);
        });
        println!(
            "encode_fetch_response: 16 batches of {batch_bytes} bytes: {ns} ns (independent of record bytes)"
        );
    }
}

fn main() {
    bench_validation();
    bench_fetch_encoding();
}
