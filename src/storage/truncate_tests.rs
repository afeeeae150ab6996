//! Truncation past the active segment (`truncate_segments.rs`): the cut
//! log holds exactly the batches below the cut, on disk and after a
//! restart, and a failure at each step on disk (standing for a kill -9
//! there) leaves a log that reopens as a consistent prefix.

use super::io::{install_fault_plan, Fault, FaultPlan, FaultRule};
use super::segment::{parse_log_file_name, segment_file_name, LOG_EXTENSION};
use super::tests::{
    new_storage, open, plain_batch, read_all, run, segment_files, small_config, TempDir,
};
use super::*;
use std::rc::Rc;

/// Records per test batch: batches start at multiples of it.
const RECORDS_PER_BATCH: i64 = 3;

/// Appends `batches` batches of 3 records, all fdatasynced.
async fn append_synced(log: &PartitionLog, batches: usize) {
    for i in 0..batches {
        let batch = plain_batch(RECORDS_PER_BATCH as i32, 300, 1_000 + i as i64);
        let result = log.append(vec![batch], 5).await.unwrap();
        log.wait_durable(result.last_offset, Durability::Synced)
            .await
            .unwrap();
    }
}

/// Base offsets of the segment files on disk.
fn bases(dir: &TempDir) -> Vec<i64> {
    segment_files(dir)
        .iter()
        .filter_map(|path| parse_log_file_name(path.file_name()?.to_str()?))
        .collect()
}

/// Offsets read back are contiguous from 0 to the log end.
async fn assert_contiguous(log: &PartitionLog) {
    let batches = read_all(log, 0).await;
    let mut next = 0;
    for batch in &batches {
        assert_eq!(batch.base_offset, next, "gap or overlap at {next}");
        next = batch.last_offset() + 1;
    }
    assert_eq!(next, log.log_end_offset());
}

/// A log of at least three segments; returns (its storage, log, the first
/// two segment bases' successor: the end of the first segment).
async fn three_segments(dir: &TempDir) -> (Rc<ShardStorage>, Rc<PartitionLog>, i64) {
    let storage = new_storage(dir, StorageLimits::default());
    let log = open(&storage, small_config(), true).await;
    append_synced(&log, 60).await;
    let bases = bases(dir);
    assert!(bases.len() >= 3, "segments {bases:?}");
    (storage, log, bases[1])
}

#[test]
fn a_cut_in_a_sealed_segment_deletes_the_later_ones_and_survives_a_restart() {
    let dir = TempDir::new("truncate-sealed");
    run(async move {
        let (storage, log, first_end) = three_segments(&dir).await;
        // Inside a batch of the first segment: cut at that batch's start.
        let asked = first_end / 2 + 1;
        let cut = asked - asked % RECORDS_PER_BATCH;
        assert_eq!(log.truncate_to(asked).await.unwrap(), cut);
        assert_eq!(log.log_end_offset(), cut);
        assert_eq!(bases(&dir), vec![0]);
        assert_contiguous(&log).await;
        append_synced(&log, 20).await;
        let end = log.log_end_offset();
        assert_eq!(end, cut + 20 * RECORDS_PER_BATCH);
        assert_contiguous(&log).await;
        storage.shutdown().await.unwrap();
        drop((log, storage));

        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        assert_eq!(log.log_end_offset(), end);
        assert_contiguous(&log).await;
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_cut_below_the_log_start_starts_an_empty_log_there() {
    let dir = TempDir::new("truncate-fully");
    run(async move {
        let (storage, log, _) = three_segments(&dir).await;
        log.truncate_fully_and_start_at(1_000).await.unwrap();
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (1_000, 1_000)
        );
        assert_eq!(bases(&dir), vec![1_000]);
        append_synced(&log, 2).await;
        storage.shutdown().await.unwrap();
        drop((log, storage));
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (1_000, 1_006)
        );
        assert_eq!(read_all(&log, 1_000).await.len(), 2);
        storage.shutdown().await.unwrap();
    });
}

/// Fails `fault` on the files named `file` during a cut into the first
/// segment, then reopens the directory as after a crash there: the log is
/// a prefix of the old one ending at the cut or at the first segment's
/// end, with no later segment left.
fn crash_during_cut(name: &str, file: String, fault: Fault) {
    let dir = TempDir::new(name);
    run(async move {
        let (_storage, log, first_end) = three_segments(&dir).await;
        let cut = (first_end / 2) - (first_end / 2) % RECORDS_PER_BATCH;
        install_fault_plan(Some(Rc::new(FaultPlan::new(vec![FaultRule {
            file_contains: file,
            fault,
        }]))));
        assert!(log.truncate_to(cut).await.is_err());
        assert!(log.is_failed());
        install_fault_plan(None);
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), false).await;
        assert_eq!(bases(&dir), vec![0]);
        let end = log.log_end_offset();
        assert!(end == cut || end == first_end, "log end {end}");
        assert_contiguous(&log).await;
        // The follower's next truncation then completes.
        assert_eq!(log.truncate_to(cut).await.unwrap(), cut);
        assert_contiguous(&log).await;
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_crash_before_the_kept_segment_is_cut_reopens_its_old_end() {
    let index = segment_file_name(0, "index");
    crash_during_cut("truncate-crash-index", index, Fault::FailWrite { nth: 1 });
}

#[test]
fn a_crash_while_the_kept_segment_is_cut_reopens_a_prefix() {
    let log_file = segment_file_name(0, LOG_EXTENSION);
    crash_during_cut("truncate-crash-log", log_file, Fault::FailSync { nth: 1 });
}

/// A cut inside the active segment, at a batch in a block whose batches
/// were evicted from memory as final: the new partial last block's batches
/// are read again (as a load does), so every offset below the cut reads
/// back at once, before any later append makes that block final again.
#[test]
fn a_cut_in_the_active_segment_reads_back_its_partial_last_block() {
    let dir = TempDir::new("truncate-active-tail");
    run(async move {
        let limits = StorageLimits {
            recent_bytes_per_partition: 0,
            recent_bytes_per_partition_min: 0,
            ..StorageLimits::default()
        };
        let storage = new_storage(&dir, limits);
        let log = open(&storage, LogConfig::default(), true).await;
        append_synced(&log, 20).await;
        assert_eq!(bases(&dir), vec![0]);
        // Batch 10 starts past byte 8192, not on a block boundary.
        let cut = 10 * RECORDS_PER_BATCH;
        assert_eq!(log.truncate_to(cut + 1).await.unwrap(), cut);
        assert_eq!(log.log_end_offset(), cut);
        assert_contiguous(&log).await;
        append_synced(&log, 2).await;
        assert_contiguous(&log).await;
        storage.shutdown().await.unwrap();
    });
}
