//! Recovery points (`recovery_point.rs`, `checkpoint.rs`, `recovery.rs`):
//! after a crash only what follows the recovery point is checked, a torn
//! tail after it is still cut, index entries before it are loaded and the
//! ones after it rebuilt, and every batch's header can still be walked
//! afterwards (the producer state rebuild's walk).

use super::checkpoint::RECOVERY_POINT_CHECKPOINT_FILE;
use super::index::OffsetIndex;
use super::tests::{
    batch_at_time, new_storage, partition_dir, plain_batch, read_all, run, segment_files, TempDir,
    TOPIC,
};
use super::*;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

fn config() -> LogConfig {
    LogConfig {
        index_interval_bytes: 1024,
        ..LogConfig::default()
    }
}

/// Appends `count` one-record batches of ~1 KB, timestamps from
/// `timestamp`, each fdatasynced.
async fn append_synced(log: &PartitionLog, count: i64, timestamp: i64) {
    for i in 0..count {
        let batch = plain_batch(1, 1000, timestamp + i);
        let result = log.append(vec![batch], 0).await.unwrap();
        log.wait_durable(result.last_offset, Durability::Synced)
            .await
            .unwrap();
    }
}

/// Gives the log a recovery point at its end and writes the checkpoint.
async fn checkpoint(storage: &ShardStorage, log: &PartitionLog) -> i64 {
    let capture = log.capture_recovery_point().unwrap();
    log.persist_recovery_point(&capture).await.unwrap();
    storage.record_recovery_point(TOPIC, 0, log, &capture);
    storage.write_recovery_checkpoint().await.unwrap();
    capture.offset
}

/// Opens partition 0 of a new log directory.
async fn open_new(dir: &TempDir) -> (Rc<ShardStorage>, Rc<PartitionLog>) {
    let storage = new_storage(dir, StorageLimits::default());
    let log = storage
        .open_partition(TOPIC, 0, None, config(), true)
        .await
        .unwrap();
    (storage, log)
}

/// Opens partition 0 after a crash, with the base offsets a header walk
/// of the whole loaded log finds.
async fn reopen(dir: &TempDir) -> (Rc<ShardStorage>, Rc<PartitionLog>, Vec<i64>) {
    let storage = new_storage(dir, StorageLimits::default());
    let log = storage
        .open_partition(TOPIC, 0, None, config(), false)
        .await
        .unwrap();
    let mut walked = Vec::new();
    log.visit_batch_headers(0, &mut |info| walked.push(info.base_offset))
        .await
        .unwrap();
    (storage, log, walked)
}

/// Zeroes the second half of the last batch of the active segment.
fn tear_last_batch(dir: &TempDir, log_end_position: u64, last_batch_len: u64) {
    let active = segment_files(dir).pop().unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(active)
        .unwrap();
    let half = last_batch_len / 2;
    let at = log_end_position - last_batch_len + half;
    file.write_all_at(&vec![0u8; (last_batch_len - half) as usize], at)
        .unwrap();
}

#[test]
fn a_crash_checks_only_what_follows_the_recovery_point() {
    let dir = TempDir::new("recovery-point");
    run(async move {
        let (storage, log) = open_new(&dir).await;
        append_synced(&log, 200, 1_000).await;
        let recovery_point = checkpoint(&storage, &log).await;
        assert_eq!(recovery_point, 200);
        let text = std::fs::read_to_string(dir.0.join(RECOVERY_POINT_CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, format!("0\n1\n{TOPIC} 0 200\n"));
        let before = log.size_bytes();
        append_synced(&log, 20, 2_000).await;
        let end = log.size_bytes();
        let last_len = (end - before) / 20;
        drop((log, storage));
        // A torn last batch, after the recovery point.
        tear_last_batch(&dir, end, last_len);

        let (storage, log, replayed) = reopen(&dir).await;
        assert_eq!(log.log_end_offset(), 219);
        // Only the tail was checked: the 19 whole batches after the
        // recovery point, the torn one, and at most a block and an index
        // interval before it; not the 200 batches before.
        let checked = storage.checked_bytes();
        assert!(checked >= end - before, "{checked}");
        assert!(checked <= end - before + (16 << 10), "{checked}");
        // Every batch's header is walked: below the recovery point too.
        assert_eq!(replayed, (0..219).collect::<Vec<_>>());
        // Everything reads, and both index halves work: loaded below the
        // recovery point, rebuilt above it.
        let offsets: Vec<i64> = read_all(&log, 0)
            .await
            .iter()
            .map(|b| b.base_offset)
            .collect();
        assert_eq!(offsets, (0..219).collect::<Vec<_>>());
        let at_time = |timestamp_ms| batch_at_time(&log, timestamp_ms);
        assert_eq!(at_time(1_100).await.unwrap(), Some((100, 1_100)));
        assert_eq!(at_time(2_010).await.unwrap(), Some((210, 2_010)));
        assert_eq!(log.max_timestamp(), Some(2_018));
        let next = log
            .append(vec![plain_batch(1, 10, 3_000)], 0)
            .await
            .unwrap();
        assert_eq!(next.base_offset, 219);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn the_index_files_of_a_recovery_point_name_only_batches_below_it() {
    let dir = TempDir::new("recovery-point-index");
    run(async move {
        let (storage, log) = open_new(&dir).await;
        append_synced(&log, 50, 1).await;
        let capture = log.capture_recovery_point().unwrap();
        let position = log.size_bytes();
        // Appended after the capture, before the index files are written.
        for _ in 0..10 {
            log.append(vec![plain_batch(1, 1000, 1)], 0).await.unwrap();
        }
        log.persist_recovery_point(&capture).await.unwrap();
        let index = std::fs::read(partition_dir(&dir).join("00000000000000000000.index")).unwrap();
        let entries = OffsetIndex::decode(&index, u64::MAX).unwrap();
        assert!(!entries.is_empty());
        assert!(u64::from(entries.lookup(u32::MAX)) < position);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_recovery_point_past_the_data_checks_the_whole_segment() {
    let dir = TempDir::new("recovery-point-stale");
    run(async move {
        let (storage, log) = open_new(&dir).await;
        append_synced(&log, 30, 1).await;
        drop((log, storage));
        // A checkpoint naming data this directory never had, no index files.
        std::fs::write(
            dir.0.join(RECOVERY_POINT_CHECKPOINT_FILE),
            format!("0\n1\n{TOPIC} 0 1000000\n"),
        )
        .unwrap();
        let (storage, log, replayed) = reopen(&dir).await;
        assert_eq!(log.log_end_offset(), 30);
        assert_eq!(replayed, (0..30).collect::<Vec<_>>());
        assert_eq!(storage.checked_bytes(), log.size_bytes());
        storage.shutdown().await.unwrap();
    });
}

/// A recovery point's index files are written beside the log's writes and
/// syncs, not under its flush turn: a slow index file sync (here 10 s)
/// delays no acks=1 or acks=all answer of the same partition (issue 14 §2:
/// every 32 MiB of a partition, each of its appends waited for two index
/// file syncs).
#[test]
fn a_recovery_point_holds_up_no_write_or_sync_of_its_log() {
    use super::fault_tests::with_plan;
    use super::io::{Fault, FaultPlan, FaultRule};
    use std::time::{Duration, Instant};
    let dir = TempDir::new("rp-beside-writes");
    run(async move {
        let slow_ms = 10_000;
        with_plan(FaultPlan::new(vec![FaultRule {
            file_contains: ".index".to_string(),
            fault: Fault::SlowSync {
                from_nth: 1,
                ms: slow_ms,
            },
        }]));
        let (_storage, log) = open_new(&dir).await;
        append_synced(&log, 10, 1_000).await;
        let capture = log.capture_recovery_point().unwrap();
        let persisting = log.clone();
        let slow = glommio::spawn_local(async move {
            persisting.persist_recovery_point(&capture).await.unwrap();
        })
        .detach();
        glommio::timer::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        for durability in [Durability::Written, Durability::Synced] {
            let result = log
                .append(vec![plain_batch(1, 1000, 2_000)], 0)
                .await
                .unwrap();
            log.wait_durable(result.last_offset, durability)
                .await
                .unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_millis(slow_ms / 2),
            "appends waited {:?} for the recovery point's index files",
            started.elapsed()
        );
        drop(slow);
    });
}
