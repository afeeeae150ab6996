//! A log start taken inside a segment (`log_start.rs`): reads below it are
//! out of range, retention deletes the segments wholly below it, the
//! checkpoint file keeps it across a restart, and a cut below it brings it
//! down; retention stops at the partition layer's bound.

#![cfg(test)]

use super::checkpoint::{RecoveryCheckpoint, LOG_START_CHECKPOINT_FILE};
use super::config::{Durability, LogConfig};
use super::error::ReadError;
use super::log::PartitionLog;
use super::tests::{
    new_storage, open, plain_batch, run, segment_files, small_config, up_to_log_end, TempDir, TOPIC,
};
use super::StorageLimits;

/// Appends `count` one-record batches of 800 bytes, all fsynced.
async fn fill(log: &PartitionLog, count: usize) {
    let mut last = 0;
    for _ in 0..count {
        let batch = plain_batch(1, 800, super::log::now_ms());
        last = log.append(vec![batch], 0).await.unwrap().last_offset;
    }
    log.wait_durable(last, Durability::Synced).await.unwrap();
}

/// The segment base offsets on disk, in order.
fn bases(dir: &TempDir) -> Vec<i64> {
    segment_files(dir)
        .iter()
        .map(|path| {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            stem.parse().unwrap()
        })
        .collect()
}

/// The log start named in the directory's `log-start-offset-checkpoint`.
fn checkpointed_start(dir: &TempDir) -> Option<i64> {
    RecoveryCheckpoint::load_file(&dir.0, LOG_START_CHECKPOINT_FILE).get(TOPIC, 0)
}

#[test]
fn a_log_start_inside_a_segment_is_kept_across_a_restart() {
    let dir = TempDir::new("log-start-taken");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        fill(&log, 60).await;
        let before = bases(&dir);
        assert!(before.len() >= 3, "{before:?}");
        // Inside the third segment: the first two are wholly below it.
        let start = before[2] + 1;
        assert!(log.advance_log_start(start));
        assert!(!log.advance_log_start(start - 1), "never back");
        assert_eq!(log.log_start_offset(), start);
        let below = log.read(start - 1, up_to_log_end(1000, true)).await;
        assert!(matches!(below, Err(ReadError::OffsetOutOfRange)));
        // Retention deletes the segments wholly below the start, even when
        // the topic's settings would keep them.
        storage.run_retention().await;
        assert_eq!(bases(&dir)[0], before[2], "{:?}", bases(&dir));
        assert_eq!(log.log_start_offset(), start);
        assert!(storage
            .write_log_start_checkpoint_if_changed()
            .await
            .unwrap());
        assert!(!storage
            .write_log_start_checkpoint_if_changed()
            .await
            .unwrap());
        assert_eq!(checkpointed_start(&dir), Some(start));
        storage.shutdown().await.unwrap();
        drop(log);
        drop(storage);

        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        assert_eq!(log.log_start_offset(), start, "the checkpoint names it");
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_cut_below_the_start_brings_it_down_and_a_restart_forgets_it() {
    let dir = TempDir::new("log-start-cut");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        fill(&log, 30).await;
        assert!(log.advance_log_start(20));
        // A truncation to the start's batch: nothing below the start shows.
        assert_eq!(log.truncate_to(20).await.unwrap(), 20);
        assert_eq!(log.log_start_offset(), 20);
        // A cut below the start empties the log there; the entry goes.
        storage.write_log_start_checkpoint().await.unwrap();
        assert_eq!(checkpointed_start(&dir), Some(20));
        assert_eq!(log.truncate_to(10).await.unwrap(), 10);
        assert_eq!(log.log_start_offset(), 10);
        assert_eq!(checkpointed_start(&dir), None, "written at once");
        fill(&log, 20).await;
        storage.shutdown().await.unwrap();
        drop(log);
        drop(storage);

        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        assert_eq!(log.log_start_offset(), 10, "no stale entry raises it");
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn retention_stops_at_the_partitions_bound() {
    let dir = TempDir::new("retention-bound");
    run(async move {
        let storage = new_storage(&dir, StorageLimits::default());
        let log = open(&storage, small_config(), true).await;
        fill(&log, 60).await;
        let before = bases(&dir);
        assert!(before.len() >= 4, "{before:?}");
        // What consumers (or an in-sync follower) have not got yet: inside
        // the third segment.
        let bound = before[2] + 1;
        log.bound_retention_by(Box::new(move || Some(bound)));
        log.set_config(LogConfig {
            retention_bytes: 0,
            ..small_config()
        });
        storage.run_retention().await;
        assert_eq!(bases(&dir)[0], before[2], "deleted only below {bound}");
        assert_eq!(log.log_start_offset(), before[2]);
        storage.shutdown().await.unwrap();
    });
}
