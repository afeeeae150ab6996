//! Where a Fetch read starts in a segment file: from the offset index when
//! it knows the batch (no header read), else by a header scan. Sequential
//! readers get every batch in order across rolls, truncation and retention,
//! and a sequential reader's next read needs no header read.

use super::config::{SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN};
use super::tests::{
    batches_in, new_storage, open, piece_bytes, plain_batch, run, segment_files, up_to_log_end,
    TempDir,
};
use super::*;
use crate::metrics::{install_local, ShardMetrics};
use crate::protocol::record_batch::BatchInfo;
use std::sync::Arc;

/// Records per test batch.
const RECORDS_PER_BATCH: i32 = 4;
/// Value bytes per record: batches of about 2 KiB, above the index interval,
/// so (as with real producers' batches) nearly every batch has an entry.
const VALUE_BYTES: usize = 500;
/// `index.interval.bytes` of the test logs.
const INDEX_INTERVAL_BYTES: u32 = 1024;
/// An answer of a few batches, cut inside the data.
const FETCH_BYTES: usize = 9000;

/// Every batch is read from its segment file (none kept in memory past
/// what is not wholly on disk yet).
fn file_reads_only() -> StorageLimits {
    StorageLimits {
        recent_bytes_per_partition: 0,
        recent_bytes_per_partition_min: 0,
        ..StorageLimits::default()
    }
}

fn config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: INDEX_INTERVAL_BYTES,
        ..LogConfig::default()
    }
}

/// This thread's metrics block, to count the scans' O_DIRECT reads.
fn shard_metrics() -> Arc<ShardMetrics> {
    let metrics = Arc::new(ShardMetrics::new(0, 1));
    install_local(metrics.clone());
    metrics
}

async fn append_written(log: &PartitionLog, batches: usize, records: i32, value_bytes: usize) {
    for i in 0..batches {
        let batch = plain_batch(records, value_bytes, 1_000 + i as i64);
        let result = log.append(vec![batch], 0).await.unwrap();
        log.wait_durable(result.last_offset, Durability::Written)
            .await
            .unwrap();
    }
}

/// What a sequential reader got.
struct Sequential {
    batches: Vec<BatchInfo>,
    fetches: usize,
}

/// Reads from `from` to the readable end, each read at the offset after
/// the last whole batch of the previous answer (as clients do), checking
/// that each answer starts with the batch holding the offset and that
/// offsets follow.
async fn read_sequentially(log: &PartitionLog, from: i64, max_bytes: usize) -> Sequential {
    let mut offset = from;
    let mut out = Sequential {
        batches: Vec::new(),
        fetches: 0,
    };
    while offset < log.readable_end_offset() {
        let result = log
            .read(offset, up_to_log_end(max_bytes, true))
            .await
            .unwrap();
        out.fetches += 1;
        let found = batches_in(&piece_bytes(&result.pieces));
        let first = found.first().expect("an answer with a whole batch");
        assert!(
            first.base_offset <= offset && offset <= first.last_offset(),
            "read at {offset} starts with batch {}..={}",
            first.base_offset,
            first.last_offset()
        );
        for batch in found {
            assert_eq!(batch.base_offset, offset, "offsets follow");
            offset = batch.last_offset() + 1;
            out.batches.push(batch);
        }
    }
    out
}

#[test]
fn a_sequential_reader_needs_no_header_read_after_its_first() {
    let dir = TempDir::new("fetch-position-sequential");
    run(async move {
        let metrics = shard_metrics();
        let storage = new_storage(&dir, file_reads_only());
        let log = open(&storage, config(SEGMENT_BYTES_DEFAULT), true).await;
        append_written(&log, 100, RECORDS_PER_BATCH, VALUE_BYTES).await;
        let first = log.read(0, up_to_log_end(FETCH_BYTES, true)).await.unwrap();
        let first = batches_in(&piece_bytes(&first.pieces));
        let next = first.last().unwrap().last_offset() + 1;
        let reads_before = metrics.segment_scan_reads.get();
        let rest = read_sequentially(&log, next, FETCH_BYTES).await;
        let reads = metrics.segment_scan_reads.get() - reads_before;
        assert_eq!(first.len() + rest.batches.len(), 100);
        assert!(rest.fetches >= 20, "{} fetches", rest.fetches);
        // The last batches: the index cannot bound the last one.
        assert!(
            reads <= 2,
            "{reads} header reads for {} sequential fetches",
            rest.fetches
        );
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn sequential_reads_across_rolls_get_every_batch() {
    let dir = TempDir::new("fetch-position-rolls");
    run(async move {
        let metrics = shard_metrics();
        let storage = new_storage(&dir, file_reads_only());
        let log = open(&storage, config(SEGMENT_BYTES_MIN), true).await;
        append_written(&log, 100, RECORDS_PER_BATCH, VALUE_BYTES).await;
        let segments = segment_files(&dir).len() as u64;
        assert!(segments > 5, "{segments} segments");
        // From one batch per answer (KIP-74: beyond max_bytes) to many.
        for max_bytes in [100, FETCH_BYTES, 100_000] {
            let reads_before = metrics.segment_scan_reads.get();
            let read = read_sequentially(&log, 0, max_bytes).await;
            assert_eq!(read.batches.len(), 100, "max_bytes {max_bytes}");
            let reads = metrics.segment_scan_reads.get() - reads_before;
            if max_bytes == FETCH_BYTES {
                // A segment's first batch has no entry; the tail's last one.
                assert!(reads <= segments + 2, "{reads} reads, {segments} segments");
            }
        }
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn after_a_truncation_reads_find_the_new_batches() {
    let dir = TempDir::new("fetch-position-truncation");
    run(async move {
        let storage = new_storage(&dir, file_reads_only());
        let log = open(&storage, config(SEGMENT_BYTES_DEFAULT), true).await;
        append_written(&log, 60, RECORDS_PER_BATCH, VALUE_BYTES).await;
        assert_eq!(
            read_sequentially(&log, 0, FETCH_BYTES).await.batches.len(),
            60
        );
        // Cut at batch 25, then batches of another shape: 7 small records.
        let cut = 25 * i64::from(RECORDS_PER_BATCH);
        assert_eq!(log.truncate_to(cut).await.unwrap(), cut);
        append_written(&log, 40, 7, 300).await;
        let read = read_sequentially(&log, 0, FETCH_BYTES).await;
        assert_eq!(read.batches.len(), 25 + 40);
        assert!(read.batches[25..].iter().all(|b| b.record_count == 7));
        // An old batch start is now inside a new batch: that batch answers.
        for old_start in [cut + 4, cut + 8, cut + 40] {
            let result = log.read(old_start, up_to_log_end(FETCH_BYTES, true)).await;
            let found = batches_in(&piece_bytes(&result.unwrap().pieces));
            let first = found[0];
            assert!(first.base_offset <= old_start && old_start <= first.last_offset());
            assert_eq!((first.base_offset - cut) % 7, 0, "a new batch");
        }
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn after_retention_reads_start_at_the_new_log_start() {
    let dir = TempDir::new("fetch-position-retention");
    run(async move {
        let storage = new_storage(&dir, file_reads_only());
        let log = open(&storage, config(SEGMENT_BYTES_MIN), true).await;
        append_written(&log, 100, RECORDS_PER_BATCH, VALUE_BYTES).await;
        assert_eq!(
            read_sequentially(&log, 0, FETCH_BYTES).await.batches.len(),
            100
        );
        log.set_config(LogConfig {
            retention_bytes: 3 * SEGMENT_BYTES_MIN as i64,
            ..config(SEGMENT_BYTES_MIN)
        });
        assert!(log.apply_retention_now().await.unwrap() > 0);
        let start = log.log_start_offset();
        assert!(start > 0);
        assert!(matches!(
            log.read(start - 1, up_to_log_end(FETCH_BYTES, true)).await,
            Err(ReadError::OffsetOutOfRange)
        ));
        let read = read_sequentially(&log, start, FETCH_BYTES).await;
        let expected = 100 - start / i64::from(RECORDS_PER_BATCH);
        assert_eq!(read.batches.len() as i64, expected);
        storage.shutdown().await.unwrap();
    });
}

/// Longest a test waits for a base offset fill (a loaded CI machine).
const BASE_FILL_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// Header reads of a sequential read of the whole log, after a first one
/// (which starts the base offset fills) and the fills' end.
async fn second_sequential_pass_reads(log: &PartitionLog, metrics: &ShardMetrics) -> u64 {
    assert_eq!(
        read_sequentially(log, 0, FETCH_BYTES).await.batches.len(),
        100
    );
    let started = std::time::Instant::now();
    while log.has_unknown_index_bases() && started.elapsed() < BASE_FILL_WAIT_MAX {
        glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
    }
    let reads_before = metrics.segment_scan_reads.get();
    let read = read_sequentially(log, 0, FETCH_BYTES).await;
    assert_eq!(read.batches.len(), 100);
    metrics.segment_scan_reads.get() - reads_before
}

#[test]
fn sequential_reads_after_a_reopen_scan_no_more_than_before_it() {
    let dir = TempDir::new("fetch-position-reopen");
    run(async move {
        let metrics = shard_metrics();
        let storage = new_storage(&dir, file_reads_only());
        let log = open(&storage, config(SEGMENT_BYTES_MIN), true).await;
        append_written(&log, 100, RECORDS_PER_BATCH, VALUE_BYTES).await;
        let before_restart = second_sequential_pass_reads(&log, &metrics).await;
        storage.shutdown().await.unwrap();
        let segments = segment_files(&dir).len() as u64;
        assert!(segments > 5, "{segments} segments");
        // Without the fill (its step 0), what a restart costs: entries
        // from .index files know no base offset, fetches scan.
        for fill_entries_per_step in [0, StorageLimits::default().base_fill_entries_per_step] {
            let limits = StorageLimits {
                base_fill_entries_per_step: fill_entries_per_step,
                ..file_reads_only()
            };
            let storage = new_storage(&dir, limits);
            let log = open(&storage, config(SEGMENT_BYTES_MIN), true).await;
            assert!(log.has_unknown_index_bases(), "entries loaded from files");
            let fill_reads_before = metrics.index_base_fill_reads.get();
            let reads = second_sequential_pass_reads(&log, &metrics).await;
            let fill_reads = metrics.index_base_fill_reads.get() - fill_reads_before;
            match fill_entries_per_step {
                0 => assert!(
                    reads > before_restart,
                    "no fill: {reads} header reads after the restart, {before_restart} before"
                ),
                _ => {
                    assert!(!log.has_unknown_index_bases());
                    assert!(
                        reads <= before_restart,
                        "{reads} header reads after the restart, {before_restart} before \
                         ({fill_reads} fill reads)"
                    );
                    assert!(fill_reads > 0);
                }
            }
            storage.shutdown().await.unwrap();
        }
    });
}
