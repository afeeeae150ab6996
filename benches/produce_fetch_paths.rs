//! Micro-benchmarks of the per-request work on the produce and fetch paths
//! that does not touch a socket or a disk: record batch validation (CRC32C
//! over every byte) and encoding a Fetch response around record pieces.
//!
//! `cargo bench --bench produce_fetch_paths` prints medians of repeated runs,
//! timed in thread CPU time.
//! It shows what validation costs per byte and per record (the CRC32C reads
//! every byte; uncompressed records are walked by their length prefixes), and
//! that the fetch encoder's cost does not grow with the bytes of records
//! (they are not copied).

use bytes::Bytes;
use millrace::protocol::fetch_response::{
    encode_fetch_response, AbortedTransactions, FetchPartitionOut, FetchResponseOut, FetchTopicOut,
};
use millrace::protocol::piece::Piece;
use millrace::protocol::record_batch::{build_test_batch, validate_batches, TestBatch};
use std::hint::black_box;

const RUNS: usize = 15;

fn median_ns(mut samples: Vec<u128>) -> u128 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Nanoseconds of CPU time this thread has used: on a machine shared with
/// other builds, wall time would count the time the thread was not running.
fn thread_cpu_ns() -> u128 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128
}

fn time_it<F: FnMut()>(iterations: usize, mut body: F) -> u128 {
    let samples = (0..RUNS)
        .map(|_| {
            let start = thread_cpu_ns();
            for _ in 0..iterations {
                body();
            }
            (thread_cpu_ns() - start) / iterations as u128
        })
        .collect();
    median_ns(samples)
}

/// Record shapes of one partition's batch: (records, value bytes). Small
/// records show the per-record cost of walking the lengths; large ones show
/// that validation runs at crc32c speed.
const VALIDATION_SHAPES: [(i32, usize); 3] = [(1000, 10), (100, 100), (64, 1024)];
/// Partitions (one batch each) validated per timed request.
const VALIDATION_PARTITIONS: usize = 16;

fn bench_validation() {
    for (record_count, value_bytes) in VALIDATION_SHAPES {
        let batch = build_test_batch(&TestBatch {
            record_count,
            value_bytes,
            ..Default::default()
        });
        let partitions: Vec<Vec<u8>> = (0..VALIDATION_PARTITIONS).map(|_| batch.clone()).collect();
        let mut infos = Vec::with_capacity(1);
        let ns = time_it(200, || {
            for records in &partitions {
                validate_batches(black_box(records), 2 << 20, &mut infos).expect("valid");
            }
        });
        let bytes = batch.len() * VALIDATION_PARTITIONS;
        let records = record_count as usize * VALIDATION_PARTITIONS;
        println!(
            "validate_batches: {VALIDATION_PARTITIONS} batches of {record_count} x {value_bytes} B = {bytes} bytes in {ns} ns = {:.2} GB/s, {:.2} ns/record",
            bytes as f64 / ns as f64,
            ns as f64 / records as f64
        );
    }
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
                aborted_transactions: AbortedTransactions::Null,
                diverging_epoch: None,
                current_leader: None,
                records: (0..batches).map(|_| Piece::Mem(batch.clone())).collect(),
            }],
        }],
        node_endpoints: Vec::new(),
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
