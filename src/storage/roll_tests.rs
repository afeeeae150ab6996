//! Segment rolls leave their syncs to the flusher (`roll.rs`, issue 14 §2):
//! no append waits for them, and the durability promises hold, through a
//! failed sync and through a crash before the seal.

use super::fault_tests::{assert_failed_and_refusing, produce, reopen_after_crash, with_plan};
use super::io::{install_fault_plan, Fault, FaultPlan, FaultRule};
use super::segment::{segment_file_name, OFFSET_INDEX_EXTENSION, TIME_INDEX_EXTENSION};
use super::tests::{new_storage, open, partition_dir, read_all, run, small_config, TempDir};
use super::*;
use crate::protocol::error_code::KAFKA_STORAGE_ERROR;
use std::time::{Duration, Instant};

/// Each fdatasync of a segment file under the slow-sync fault.
const SLOW_SYNC_MS: u64 = 3_000;
/// Far longer than the tests: a seal that never ends before the crash.
const STUCK_SYNC_MS: u64 = 600_000;
/// Fills most of a `small_config` segment (16 KiB), unsynced.
const FILLED_BYTES: u64 = 12 << 10;
/// Batches of this value size do not fit in what is left: they roll.
const ROLLING_VALUE_BYTES: usize = 6_000;
/// Value size of the batches filling the segment.
const VALUE_BYTES: usize = 1_000;

fn on_segment_files(fault: Fault) -> FaultRule {
    FaultRule {
        file_contains: ".log".to_string(),
        fault,
    }
}

/// Appends acks=1 batches until the active segment holds `FILLED_BYTES`.
async fn fill_first_segment(log: &PartitionLog) {
    while log.size_bytes() < FILLED_BYTES {
        produce(log, VALUE_BYTES, Durability::Written)
            .await
            .unwrap();
    }
    assert_eq!(log.segment_count(), 1);
}

/// An acks=1 append that rolls the segment is answered once written: the
/// old segment's fdatasync, index files and the directory fsync come after,
/// off the append path; acks=all of that append still waits for all of it.
/// On main, the rolling append waited for two slow syncs.
#[test]
fn a_rolling_append_waits_for_no_sync() {
    let dir = TempDir::new("roll-slow-sync");
    run(async move {
        with_plan(FaultPlan::new(vec![on_segment_files(Fault::SlowSync {
            from_nth: 1,
            ms: SLOW_SYNC_MS,
        })]));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        fill_first_segment(&log).await;
        let old_end = log.log_end_offset();
        let started = Instant::now();
        let rolled = produce(&log, ROLLING_VALUE_BYTES, Durability::Written)
            .await
            .unwrap();
        let answered_after = started.elapsed();
        assert_eq!(log.segment_count(), 2);
        assert_eq!(rolled.base_offset, old_end);
        assert!(
            answered_after < Duration::from_millis(SLOW_SYNC_MS / 2),
            "the rolling acks=1 append waited {answered_after:?} (each sync takes {SLOW_SYNC_MS} ms)"
        );
        assert!(log.synced_end_offset() < old_end, "nothing synced yet");
        log.wait_durable(rolled.last_offset, Durability::Synced)
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(SLOW_SYNC_MS));
        assert_eq!(log.synced_end_offset(), rolled.last_offset + 1);
        for extension in [OFFSET_INDEX_EXTENSION, TIME_INDEX_EXTENSION] {
            let path = partition_dir(&dir).join(segment_file_name(0, extension));
            assert!(path.exists(), "the seal wrote {}", path.display());
        }
        storage.shutdown().await.unwrap();
        install_fault_plan(None);
    });
}

/// A failed fdatasync in a seal fails the log: acks=all of what it covers
/// gets the error and appends are refused.
#[test]
fn a_failed_seal_fails_the_log() {
    let dir = TempDir::new("roll-failed-sync");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        fill_first_segment(&log).await;
        // The fault comes after the filled bytes are synced, so the seal's is
        // the first fdatasync it sees (the flusher also syncs acks=1 data
        // within `log.flush.visibility.ms`, which failed the filling itself).
        let filled_end = log.log_end_offset() - 1;
        log.wait_durable(filled_end, Durability::Synced)
            .await
            .unwrap();
        with_plan(FaultPlan::new(vec![on_segment_files(Fault::FailSync {
            nth: 1,
        })]));
        let rolled = produce(&log, ROLLING_VALUE_BYTES, Durability::Written)
            .await
            .unwrap();
        assert_eq!(log.segment_count(), 2);
        let synced = log
            .wait_durable(rolled.last_offset, Durability::Synced)
            .await;
        assert_eq!(
            synced.map_err(|e| e.wire_error_code()),
            Err(KAFKA_STORAGE_ERROR)
        );
        assert_failed_and_refusing(&log).await;
        assert_eq!(log.stats().sync_errors, 1);
        drop((log, storage));
        install_fault_plan(None);
    });
}

/// A crash while the old segment's seal is in flight, the new segment's
/// write having reached the device and the old segment's unsynced tail not:
/// recovery keeps everything acknowledged as synced, finds the old segment
/// short of the new one's base and removes the new one, so the log is a
/// dense prefix and the next append continues it.
#[test]
fn a_crash_before_the_seal_recovers_a_dense_prefix() {
    let dir = TempDir::new("roll-crash");
    run(async move {
        let first_segment = segment_file_name(0, "log");
        // The first two syncs (acks=all) are honest; the seal's never ends.
        // The lie never fires: it makes the plan track what a crash loses.
        let plan = with_plan(FaultPlan::new(vec![
            FaultRule {
                file_contains: first_segment,
                fault: Fault::SlowSync {
                    from_nth: 3,
                    ms: STUCK_SYNC_MS,
                },
            },
            on_segment_files(Fault::LyingSync { from_nth: u64::MAX }),
        ]));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        for _ in 0..2 {
            produce(&log, VALUE_BYTES, Durability::Synced)
                .await
                .unwrap();
        }
        assert_eq!(log.stats().fdatasyncs, 2);
        let synced_end = log.synced_end_offset();
        fill_first_segment(&log).await;
        let rolled = produce(&log, ROLLING_VALUE_BYTES, Durability::Written)
            .await
            .unwrap();
        assert_eq!(log.segment_count(), 2);
        assert_eq!(log.synced_end_offset(), synced_end);
        let new_segment = partition_dir(&dir).join(segment_file_name(rolled.base_offset, "log"));
        let landed = std::fs::read(&new_segment).unwrap();
        plan.crash().unwrap();
        // The device kept the new segment's blocks, not the old one's tail.
        std::fs::write(&new_segment, &landed).unwrap();
        drop((log, storage));
        let (storage, log) = reopen_after_crash(&dir).await;
        assert_eq!(log.log_end_offset(), synced_end);
        assert_eq!(log.segment_count(), 1);
        assert!(!new_segment.exists(), "the segment past the gap is removed");
        let offsets: Vec<i64> = read_all(&log, 0)
            .await
            .iter()
            .map(|b| b.base_offset)
            .collect();
        assert_eq!(offsets, (0..synced_end).collect::<Vec<_>>());
        let next = produce(&log, VALUE_BYTES, Durability::Synced)
            .await
            .unwrap();
        assert_eq!(next.base_offset, synced_end);
        storage.shutdown().await.unwrap();
    });
}
