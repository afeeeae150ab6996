//! Scenario tests of the storage engine on a real glommio executor, in a
//! temporary directory.

use super::*;
use crate::protocol::piece::Piece;
use crate::protocol::record_batch::{
    build_test_batch, peek_batch, BatchInfo, TestBatch, RECORD_BATCH_HEADER_BYTES,
};
use crate::storage::segment::{segment_file_name, LOG_EXTENSION};
use bytes::Bytes;
use glommio::LocalExecutorBuilder;
use std::future::Future;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Registered I/O memory per test executor (the memlock limit is 8 MiB and
/// tests run in parallel).
const TEST_IO_MEMORY_BYTES: usize = 1 << 20;
pub(crate) const TOPIC: &str = "events";

pub(crate) struct TempDir(pub(super) PathBuf);

impl TempDir {
    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Not /tmp (possibly tmpfs, no O_DIRECT): the target dir's filesystem.
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/storage-tests");
        let path = base.join(format!("{name}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn run<F: Future<Output = ()> + 'static>(future: F) {
    LocalExecutorBuilder::default()
        .io_memory(TEST_IO_MEMORY_BYTES)
        .make()
        .unwrap()
        .run(future);
}

/// Read limits without a read bound below the log end offset.
pub(crate) fn up_to_log_end(max_bytes: usize, min_one_batch: bool) -> ReadLimits {
    ReadLimits {
        max_bytes,
        min_one_batch,
        end_offset: i64::MAX,
    }
}

/// (base offset, max timestamp) of the first batch reaching `timestamp_ms`.
pub(crate) async fn batch_at_time(
    log: &PartitionLog,
    timestamp_ms: i64,
) -> Result<Option<(i64, i64)>, StorageError> {
    let search = TimeSearch {
        timestamp_ms,
        from_offset: log.log_start_offset(),
        end_offset: i64::MAX,
    };
    let found = log.batch_reaching_timestamp(search).await?;
    Ok(found.map(|batch| (batch.info.base_offset, batch.info.max_timestamp)))
}

/// Appends one batch and waits until it reached `durability`.
pub(crate) async fn append_until(
    log: &PartitionLog,
    batch: AppendBatch,
    durability: Durability,
) -> AppendResult {
    let result = log.append(vec![batch], 0).await.unwrap();
    log.wait_durable(result.last_offset, durability)
        .await
        .unwrap();
    result
}

pub(crate) fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 * 1024,
        index_interval_bytes: 1024,
        ..LogConfig::default()
    }
}

pub(crate) fn test_batch(spec: TestBatch) -> AppendBatch {
    let bytes = build_test_batch(&spec);
    let info = peek_batch(&bytes, true).unwrap().unwrap();
    let mut header = [0u8; RECORD_BATCH_HEADER_BYTES];
    header.copy_from_slice(&bytes[..RECORD_BATCH_HEADER_BYTES]);
    AppendBatch {
        header,
        body: Bytes::copy_from_slice(&bytes[RECORD_BATCH_HEADER_BYTES..]),
        pinned_bytes: bytes.len(),
        info,
    }
}

pub(crate) fn plain_batch(records: i32, value_bytes: usize, timestamp: i64) -> AppendBatch {
    test_batch(TestBatch {
        record_count: records,
        value_bytes,
        base_timestamp: timestamp,
        ..TestBatch::default()
    })
}

pub(crate) fn producer_batch(
    producer_id: i64,
    epoch: i16,
    sequence: i32,
    records: i32,
) -> AppendBatch {
    test_batch(TestBatch {
        record_count: records,
        producer_id,
        producer_epoch: epoch,
        base_sequence: sequence,
        ..TestBatch::default()
    })
}

/// The bytes of a read, pieces concatenated (file regions read with pread).
pub(crate) fn piece_bytes(pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Mem(bytes) => out.extend_from_slice(bytes),
            Piece::File(region) => {
                let mut buf = vec![0u8; region.len as usize];
                region
                    .file
                    .read_exact_at(&mut buf, region.position)
                    .unwrap();
                out.extend_from_slice(&buf);
            }
        }
    }
    out
}

/// Whole batches in `bytes` (a trailing partial batch is dropped, as clients do).
pub(crate) fn batches_in(bytes: &[u8]) -> Vec<BatchInfo> {
    let mut out = Vec::new();
    let mut position = 0;
    while let Ok(Some(mut info)) = peek_batch(&bytes[position..], true) {
        info.position = position;
        position += info.len;
        out.push(info);
    }
    out
}

/// Reads the whole readable log from `from`, fetch by fetch, checking
/// offsets follow.
pub(crate) async fn read_all(log: &PartitionLog, from: i64) -> Vec<BatchInfo> {
    let mut offset = from;
    let mut batches = Vec::new();
    while offset < log.readable_end_offset() {
        let result = log.read(offset, up_to_log_end(4096, true)).await.unwrap();
        let found = batches_in(&piece_bytes(&result.pieces));
        assert!(!found.is_empty(), "no progress at offset {offset}");
        for batch in found {
            if batch.last_offset() < offset {
                continue;
            }
            assert!(batch.base_offset <= offset, "gap at {offset}");
            offset = batch.last_offset() + 1;
            batches.push(batch);
        }
    }
    batches
}

pub(crate) async fn open(
    storage: &ShardStorage,
    config: LogConfig,
    clean: bool,
) -> Rc<PartitionLog> {
    storage
        .open_partition(TOPIC, 0, None, config, clean)
        .await
        .unwrap()
}

/// Logical size and allocated bytes (`st_blocks`) of a file.
pub(crate) fn file_sizes(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).unwrap();
    (metadata.len(), metadata.blocks() * 512)
}

pub(crate) fn new_storage(dir: &TempDir, limits: StorageLimits) -> Rc<ShardStorage> {
    let checkpoints = checkpoint::DirCheckpoints::load(&dir.0);
    let storage = ShardStorage::new(0, dir.0.clone(), limits, checkpoints);
    storage.start_background(60_000);
    storage
}

pub(crate) fn partition_dir(dir: &TempDir) -> PathBuf {
    dir.0.join(format!("{TOPIC}-0"))
}

pub(crate) fn segment_files(dir: &TempDir) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(partition_dir(dir))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == LOG_EXTENSION))
        .collect();
    files.sort();
    files
}

#[test]
fn append_read_round_trip_across_roll() {
    let dir = TempDir::new("round-trip");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        let mut expected = 0;
        for i in 0..40 {
            let result = log
                .append(vec![plain_batch(3, 300, 1000 + i)], 5)
                .await
                .unwrap();
            assert_eq!(result.base_offset, expected);
            assert_eq!(result.last_offset, expected + 2);
            log.wait_durable(result.last_offset, Durability::Written)
                .await
                .unwrap();
            expected += 3;
        }
        assert_eq!(log.log_end_offset(), 120);
        assert!(segment_files(&dir).len() > 1, "expected a roll");
        let batches = read_all(&log, 0).await;
        assert_eq!(batches.len(), 40);
        assert!(batches.iter().all(|b| b.partition_leader_epoch == 5));
        // Reading from the middle of a batch returns that batch.
        let result = log.read(61, up_to_log_end(1, true)).await.unwrap();
        let first = batches_in(&piece_bytes(&result.pieces))[0];
        assert_eq!(first.base_offset, 60);
        assert_eq!(
            log.read(120, up_to_log_end(1000, true))
                .await
                .unwrap()
                .bytes,
            0
        );
        assert!(matches!(
            log.read(121, up_to_log_end(1000, true)).await,
            Err(ReadError::OffsetOutOfRange)
        ));
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn read_serves_old_data_from_file_and_recent_from_memory() {
    let dir = TempDir::new("pieces");
    run(async move {
        let limits = StorageLimits {
            recent_bytes_per_partition: 2048,
            ..StorageLimits::default()
        };
        let storage = new_storage(&dir, limits);
        let log = open(&storage, LogConfig::default(), true).await;
        for _ in 0..20 {
            let result = log.append(vec![plain_batch(1, 500, 1)], 0).await.unwrap();
            log.wait_durable(result.last_offset, Durability::Written)
                .await
                .unwrap();
        }
        let old = log.read(0, up_to_log_end(100_000, true)).await.unwrap();
        assert!(matches!(old.pieces[..], [Piece::File(_)]));
        let recent = log.read(19, up_to_log_end(100_000, true)).await.unwrap();
        assert!(recent.pieces.iter().all(|p| matches!(p, Piece::Mem(_))));
        assert_eq!(batches_in(&piece_bytes(&recent.pieces))[0].base_offset, 19);
        // An append is readable once written (from memory), not before: a
        // write that ENOSPC refuses must never have been seen.
        let listener = log.append_listener();
        let unwritten = log.append(vec![plain_batch(1, 500, 1)], 0).await.unwrap();
        assert_eq!(log.readable_end_offset(), 20);
        assert!(log
            .read(20, up_to_log_end(100_000, true))
            .await
            .unwrap()
            .pieces
            .is_empty());
        listener.await;
        assert_eq!(log.readable_end_offset(), unwritten.last_offset + 1);
        let tail = log.read(20, up_to_log_end(100_000, true)).await.unwrap();
        assert!(tail.pieces.iter().all(|p| matches!(p, Piece::Mem(_))));
        assert_eq!(batches_in(&piece_bytes(&tail.pieces))[0].base_offset, 20);
        // min_one_batch returns a whole first batch beyond max_bytes.
        let one = log.read(0, up_to_log_end(10, true)).await.unwrap();
        assert_eq!(batches_in(&piece_bytes(&one.pieces)).len(), 1);
        let none = log.read(19, up_to_log_end(10, false)).await.unwrap();
        assert!(none.pieces.is_empty());
        assert_eq!(read_all(&log, 0).await.len(), 21);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn reopen_after_clean_shutdown() {
    let dir = TempDir::new("reopen");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        for sequence in 0..30 {
            let batch = producer_batch(42, 0, sequence * 2, 2);
            let result = log.append(vec![batch], 0).await.unwrap();
            log.wait_durable(result.last_offset, Durability::Synced)
                .await
                .unwrap();
        }
        let size = log.size_bytes();
        storage.shutdown().await.unwrap();
        assert!(log.append(vec![plain_batch(1, 1, 1)], 0).await.is_err());
        // The active segment was trimmed to its data.
        let active = segment_files(&dir).pop().unwrap();
        let trimmed = std::fs::metadata(&active).unwrap().len();
        assert!(trimmed < small_config().segment_bytes);

        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        assert_eq!(log.log_end_offset(), 60);
        assert_eq!(log.size_bytes(), size);
        assert_eq!(read_all(&log, 0).await.len(), 30);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn retention_by_bytes_and_time() {
    let dir = TempDir::new("retention");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        let now = log::now_ms();
        for i in 0..60 {
            // The first 30 batches are two days old.
            let timestamp = if i < 30 { now - 2 * 86_400_000 } else { now };
            let result = log
                .append(vec![plain_batch(1, 800, timestamp)], 0)
                .await
                .unwrap();
            log.wait_durable(result.last_offset, Durability::Written)
                .await
                .unwrap();
        }
        let segments_before = segment_files(&dir).len();
        assert!(segments_before > 3);
        log.set_config(LogConfig {
            retention_ms: 86_400_000,
            ..small_config()
        });
        storage.run_retention().await;
        let start = log.log_start_offset();
        assert!(start > 0 && start <= 30, "log start {start}");
        assert!(segment_files(&dir).len() < segments_before);
        assert!(matches!(
            log.read(0, up_to_log_end(1000, true)).await,
            Err(ReadError::OffsetOutOfRange)
        ));
        assert_eq!(
            log.read(start, up_to_log_end(1000, true))
                .await
                .unwrap()
                .log_start_offset,
            start
        );

        log.set_config(LogConfig {
            retention_bytes: 20_000,
            ..small_config()
        });
        storage.run_retention().await;
        assert!(log.size_bytes() >= 20_000);
        assert!(log.size_bytes() < 20_000 + small_config().segment_bytes);
        assert!(log.log_start_offset() > start);
        let first = segment_files(&dir)[0].clone();
        let expected_name = segment_file_name(log.log_start_offset(), LOG_EXTENSION);
        assert_eq!(first.file_name().unwrap().to_str().unwrap(), expected_name);
        assert_eq!(
            read_all(&log, log.log_start_offset()).await.len() as i64,
            60 - log.log_start_offset()
        );
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn listeners_durability_and_timestamps() {
    let dir = TempDir::new("listeners");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        let listener = log.append_listener();
        for ts in [100, 200, 300] {
            let result = log.append(vec![plain_batch(2, 10, ts)], 0).await.unwrap();
            log.wait_durable(result.last_offset, Durability::Synced)
                .await
                .unwrap();
        }
        listener.await;
        assert_eq!(batch_at_time(&log, 150).await.unwrap(), Some((2, 201)));
        assert_eq!(batch_at_time(&log, 0).await.unwrap(), Some((0, 101)));
        assert_eq!(batch_at_time(&log, 302).await.unwrap(), None);
        assert_eq!(log.max_timestamp(), Some(301));
        assert_eq!(batch_at_time(&log, 301).await.unwrap(), Some((4, 301)));
        log.wait_durable(5, Durability::Appended).await.unwrap();
        storage.delete_partition(TOPIC, 0).await.unwrap();
        assert!(!partition_dir(&dir).exists());
        assert!(storage.partition(TOPIC, 0).is_none());
        log.append_listener().await;
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn write_failure_takes_the_partition_offline() {
    let dir = TempDir::new("write-failure");
    run(async move {
        // Segment data writes: the first succeeds, the second fails.
        let plan = io::FaultPlan::new(vec![io::FaultRule {
            file_contains: ".log".to_string(),
            fault: io::Fault::FailWrite { nth: 2 },
        }]);
        io::install_fault_plan(Some(Rc::new(plan)));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        let first = log.append(vec![plain_batch(1, 10, 1)], 0).await.unwrap();
        log.wait_durable(first.last_offset, Durability::Synced)
            .await
            .unwrap();
        let listener = log.append_listener();
        let second = log.append(vec![plain_batch(1, 10, 1)], 0).await.unwrap();
        let waited = log
            .wait_durable(second.last_offset, Durability::Written)
            .await;
        assert_eq!(waited.unwrap_err().wire_error_code(), 56);
        assert!(log.is_failed());
        listener.await;
        let refused = log
            .append(vec![plain_batch(1, 10, 1)], 0)
            .await
            .unwrap_err();
        assert_eq!(refused.wire_error_code(), 56);
        assert_eq!(
            log.read(0, up_to_log_end(1000, true))
                .await
                .unwrap_err()
                .wire_error_code(),
            56
        );
        // A failed log answers every durability wait with the error.
        assert!(log
            .wait_durable(first.last_offset, Durability::Synced)
            .await
            .is_err());
        assert!(storage.shutdown().await.is_err());
        io::install_fault_plan(None);
    });
}

#[test]
fn group_commit_shares_fdatasyncs() {
    let dir = TempDir::new("group-commit");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        let producers: Vec<_> = (0..50)
            .map(|_| {
                let log = log.clone();
                glommio::spawn_local(async move {
                    let result = log.append(vec![plain_batch(1, 100, 1)], 0).await.unwrap();
                    log.wait_durable(result.last_offset, Durability::Synced)
                        .await
                        .unwrap();
                })
            })
            .collect();
        for producer in producers {
            producer.await;
        }
        let stats = log.stats();
        assert!(stats.fdatasyncs >= 1 && stats.fdatasyncs < 10, "{stats:?}");
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn flush_policies_sync_without_waiters() {
    let dir = TempDir::new("flush-policy");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let by_messages = LogConfig {
            flush_messages: 3,
            unflushed_read_enable: true,
            ..LogConfig::default()
        };
        let log = open(&storage, by_messages, true).await;
        for _ in 0..2 {
            let result = log.append(vec![plain_batch(1, 10, 1)], 0).await.unwrap();
            log.wait_durable(result.last_offset, Durability::Written)
                .await
                .unwrap();
        }
        assert_eq!(log.stats().fdatasyncs, 0);
        let result = log.append(vec![plain_batch(1, 10, 1)], 0).await.unwrap();
        log.wait_durable(result.last_offset, Durability::Written)
            .await
            .unwrap();
        glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(log.stats().fdatasyncs, 1);

        log.set_config(LogConfig {
            flush_ms: 30,
            unflushed_read_enable: true,
            ..LogConfig::default()
        });
        let result = log.append(vec![plain_batch(1, 10, 1)], 0).await.unwrap();
        log.wait_durable(result.last_offset, Durability::Written)
            .await
            .unwrap();
        glommio::timer::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(log.stats().fdatasyncs, 2);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn oversized_batch_gets_its_own_segment() {
    let dir = TempDir::new("oversized");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        log.append(vec![plain_batch(1, 100, 1)], 0).await.unwrap();
        let big = log
            .append(vec![plain_batch(2, 20_000, 1)], 0)
            .await
            .unwrap();
        let after = log.append(vec![plain_batch(1, 100, 1)], 0).await.unwrap();
        log.wait_durable(after.last_offset, Durability::Synced)
            .await
            .unwrap();
        assert_eq!(big.base_offset, 1);
        assert_eq!(segment_files(&dir).len(), 3);
        let mut offset = 0;
        while offset < log.log_end_offset() {
            let result = log.read(offset, up_to_log_end(100, true)).await.unwrap();
            let batches = batches_in(&piece_bytes(&result.pieces));
            offset = batches[0].last_offset() + 1;
        }
        storage.shutdown().await.unwrap();
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), false).await;
        assert_eq!(log.log_end_offset(), 4);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn concurrent_appends_long_polls_and_backpressure() {
    let dir = TempDir::new("concurrent");
    run(async move {
        let limits = StorageLimits {
            unwritten_bytes_per_partition_max: 4096,
            recent_bytes_per_partition: 4096,
            write_round_bytes_per_partition: 8192,
            ..StorageLimits::default()
        };
        let storage = new_storage(&dir, limits);
        let log = open(&storage, small_config(), true).await;
        const PRODUCERS: i64 = 4;
        const APPENDS: i64 = 50;
        let consumer = {
            let log = log.clone();
            glommio::spawn_local(async move {
                let mut offset = 0;
                let mut batches = 0;
                while offset < PRODUCERS * APPENDS * 2 {
                    let listener = log.append_listener();
                    let result = log.read(offset, up_to_log_end(3000, true)).await.unwrap();
                    if result.pieces.is_empty() {
                        listener.await;
                        continue;
                    }
                    for batch in batches_in(&piece_bytes(&result.pieces)) {
                        if batch.last_offset() >= offset {
                            assert!(batch.base_offset <= offset);
                            offset = batch.last_offset() + 1;
                            batches += 1;
                        }
                    }
                }
                batches
            })
        };
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let log = log.clone();
                glommio::spawn_local(async move {
                    for _ in 0..APPENDS {
                        log.append(vec![plain_batch(2, 300, 1)], 0).await.unwrap();
                        glommio::yield_if_needed().await;
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await;
        }
        assert_eq!(consumer.await, PRODUCERS * APPENDS);
        assert!(segment_files(&dir).len() > 2);
        storage.shutdown().await.unwrap();
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        assert_eq!(read_all(&log, 0).await.len() as i64, PRODUCERS * APPENDS);
        storage.shutdown().await.unwrap();
    });
}

/// Latency of sequential acks=all appends (run by hand: `--ignored --nocapture`).
#[test]
#[ignore]
fn measure_synced_append_latency() {
    let dir = TempDir::new("latency");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, LogConfig::default(), true).await;
        let value_bytes: usize = std::env::var("MILLRACE_LATENCY_VALUE_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        let mut micros = Vec::new();
        for _ in 0..500 {
            let start = std::time::Instant::now();
            let result = log
                .append(vec![plain_batch(1, value_bytes, 1)], 0)
                .await
                .unwrap();
            log.wait_durable(result.last_offset, Durability::Synced)
                .await
                .unwrap();
            micros.push(start.elapsed().as_micros());
        }
        micros.sort_unstable();
        eprintln!(
            "synced append p50 {} us, p90 {} us, p99 {} us, {:?}",
            micros[250],
            micros[450],
            micros[495],
            log.stats()
        );
        storage.shutdown().await.unwrap();
    });
}

#[path = "recent_room_tests.rs"]
mod recent_room;

#[path = "recovery_tests.rs"]
mod recovery;
