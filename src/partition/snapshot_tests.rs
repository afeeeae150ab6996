//! Scenario tests of producer snapshots on a real glommio executor: the
//! state of a producer whose batches sit in sealed segments survives a crash
//! and a clean stop, damaged or stray snapshots fall back, old ones go.

use super::snapshots::{rebuild, PRODUCER_SNAPSHOTS_RETAINED, SNAPSHOT_WRITES_PER_SHARD_MAX};
use super::tests::{append, partitions_with, refused, NEVER_EXPIRE};
use super::{Partition, ShardPartitions};
use crate::partition::producer_state::{ProducerStateConfig, SequenceCheck};
use crate::protocol::error_code;
use crate::storage::segment::{segment_file_name, SNAPSHOT_EXTENSION};
use crate::storage::tests::{
    new_storage, partition_dir, plain_batch, producer_batch, run, segment_files, small_config,
    TempDir, TOPIC,
};
use crate::storage::{AppendBatch, Durability, LogConfig, StorageLimits};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

const PRODUCER: i64 = 42;
/// Bytes of each plain batch's value: four fill a 16 KiB test segment.
const FILLER_VALUE_BYTES: usize = 4000;
const WAIT_MS_MAX: u64 = 10_000;

async fn open(partitions: &ShardPartitions, clean: bool) -> Rc<Partition> {
    partitions
        .open(TOPIC, 0, None, small_config(), clean)
        .await
        .unwrap()
}

async fn append_synced(partition: &Partition, batch: AppendBatch) -> (i64, i64, bool) {
    let appended = append(partition, batch).await;
    let log = partition.log();
    log.wait_durable(appended.1, Durability::Synced)
        .await
        .unwrap();
    appended
}

/// Three batches of the producer (sequences 0, 2, 4; two records each),
/// then plain batches until they sit in a sealed segment. Returns their
/// (base, last) offsets.
async fn producer_batches_in_sealed_segment(partition: &Partition) -> Vec<(i64, i64)> {
    let mut offsets = Vec::new();
    for sequence in [0, 2, 4] {
        let (base, last, _) =
            append_synced(partition, producer_batch(PRODUCER, 0, sequence, 2)).await;
        offsets.push((base, last));
    }
    while partition.log().segment_count() < 2 {
        append_synced(partition, plain_batch(1, FILLER_VALUE_BYTES, 7)).await;
    }
    offsets
}

/// Retries of the three batches get their offsets; a gap is refused; the
/// next sequence goes in.
async fn assert_producer_known(partition: &Partition, offsets: &[(i64, i64)]) {
    for (sequence, &(base, last)) in [0, 2, 4].into_iter().zip(offsets) {
        let retry = append(partition, producer_batch(PRODUCER, 0, sequence, 2)).await;
        assert_eq!(retry, (base, last, true), "retry of sequence {sequence}");
    }
    assert_eq!(
        refused(partition, producer_batch(PRODUCER, 0, 9, 1)).await,
        error_code::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    let end = partition.log().log_end_offset();
    let next = append(partition, producer_batch(PRODUCER, 0, 6, 1)).await;
    assert_eq!(next, (end, end, false));
}

/// Base offsets of the segments, ascending.
fn segment_bases(dir: &TempDir) -> Vec<i64> {
    let names = segment_files(dir)
        .into_iter()
        .map(|path| path.file_stem().map(|s| s.to_owned()));
    names
        .map(|stem| stem.unwrap().to_str().unwrap().parse().unwrap())
        .collect()
}

fn snapshot_path(dir: &TempDir, offset: i64) -> PathBuf {
    partition_dir(dir).join(segment_file_name(offset, SNAPSHOT_EXTENSION))
}

/// Offsets of the snapshot files on disk, ascending.
fn snapshot_files(dir: &TempDir) -> Vec<i64> {
    let mut offsets: Vec<i64> = std::fs::read_dir(partition_dir(dir))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".snapshot")?.parse().ok()
        })
        .collect();
    offsets.sort_unstable();
    offsets
}

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_millis(WAIT_MS_MAX);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn a_retry_of_a_batch_in_a_sealed_segment_is_known_after_a_crash() {
    let dir = TempDir::new("psnap-crash");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, true).await;
        let offsets = producer_batches_in_sealed_segment(&partition).await;
        let active_base = partition.log().log_end_offset() - 1;
        wait_until("the roll's snapshot", || {
            snapshot_files(&dir).contains(&active_base)
        })
        .await;
        drop((partition, partitions)); // no shutdown: a crash

        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, false).await;
        assert_producer_known(&partition, &offsets).await;
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn a_crash_rebuilds_from_the_last_snapshot_and_the_log_after_it() {
    let dir = TempDir::new("psnap-tail");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, true).await;
        let mut offsets = producer_batches_in_sealed_segment(&partition).await;
        // The filler that rolled the segment, then two batches of the
        // producer (whose timestamp may roll the segment again: segment.ms).
        let mut tail_bases = vec![partition.log().log_end_offset() - 1];
        for sequence in [6, 8] {
            let batch = producer_batch(PRODUCER, 0, sequence, 2);
            let (base, last, _) = append_synced(&partition, batch).await;
            offsets.push((base, last));
            tail_bases.push(base);
        }
        let rolled_at = segment_bases(&dir).split_off(1);
        wait_until("every roll's snapshot", || {
            snapshot_files(&dir) == rolled_at
        })
        .await;
        drop((partition, partitions)); // a crash: no snapshot at the log end
        let newest = *rolled_at.last().unwrap();
        assert!(newest < offsets.last().unwrap().1, "{rolled_at:?}");

        let storage = new_storage(&dir, StorageLimits::default());
        let log = storage.open_partition(TOPIC, 0, None, small_config(), false);
        let log = log.await.unwrap();
        let rebuilt = rebuild(&log, NEVER_EXPIRE, |_| {}).await.unwrap();
        // Walked from the newest snapshot only: nothing before it.
        let after_snapshot = tail_bases.iter().filter(|&&base| base >= newest).count();
        assert_eq!(rebuilt.batches_replayed, after_snapshot as u64);
        assert!(after_snapshot > 0);
        let sequences = [0, 2, 4, 6, 8];
        for (sequence, &(base, last)) in sequences.into_iter().zip(&offsets) {
            let info = producer_batch(PRODUCER, 0, sequence, 2).info;
            match rebuilt.producers.check(&info) {
                SequenceCheck::Duplicate(original) => assert_eq!(
                    (original.base_offset, original.last_offset),
                    (base, last),
                    "sequence {sequence}"
                ),
                verdict => panic!("sequence {sequence}: {verdict:?}, not a duplicate"),
            }
        }
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn background_snapshot_writes_take_turns_across_a_shard() {
    let dir = TempDir::new("psnap-turns");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, true).await;
        let turns = &partitions.snapshot_writes.0;
        let held = turns.acquire_permit(SNAPSHOT_WRITES_PER_SHARD_MAX).await;
        producer_batches_in_sealed_segment(&partition).await;
        let snapshot_offset = partition.log().log_end_offset() - 1;
        glommio::timer::sleep(Duration::from_millis(200)).await;
        let written = snapshot_files(&dir);
        assert!(written.is_empty(), "written without a turn: {written:?}");
        drop(held);
        wait_until("the roll's snapshot", || {
            snapshot_files(&dir).contains(&snapshot_offset)
        })
        .await;
        partitions.shutdown().await.unwrap();
    });
}

/// The producer's batches in a sealed segment, then a clean stop. Returns
/// their offsets and the log end offset.
async fn write_sealed_and_stop(dir: &TempDir) -> (Vec<(i64, i64)>, i64) {
    let partitions = partitions_with(dir, NEVER_EXPIRE);
    let partition = open(&partitions, true).await;
    let offsets = producer_batches_in_sealed_segment(&partition).await;
    let end = partition.log().log_end_offset();
    partitions.shutdown().await.unwrap();
    (offsets, end)
}

/// Opens the partition again (after a clean stop) and checks the producer's
/// state came back; returns the open partition.
async fn reopen_and_check(dir: &TempDir, offsets: &[(i64, i64)]) -> Rc<ShardPartitions> {
    let partitions = partitions_with(dir, NEVER_EXPIRE);
    let partition = open(&partitions, true).await;
    assert_producer_known(&partition, offsets).await;
    partitions
}

#[test]
fn a_clean_shutdown_snapshots_at_the_log_end_and_nothing_is_replayed() {
    let dir = TempDir::new("psnap-clean");
    run(async move {
        let (offsets, end) = write_sealed_and_stop(&dir).await;
        assert_eq!(snapshot_files(&dir).last(), Some(&end));
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, true).await;
        let again = rebuild(partition.log(), NEVER_EXPIRE, |_| {})
            .await
            .unwrap();
        assert_eq!(again.batches_replayed, 0);
        assert_eq!(again.producers.len(), 1);
        assert_producer_known(&partition, &offsets).await;
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn without_snapshots_the_whole_log_is_replayed() {
    let dir = TempDir::new("psnap-none");
    run(async move {
        let (offsets, _) = write_sealed_and_stop(&dir).await;
        for offset in snapshot_files(&dir) {
            std::fs::remove_file(snapshot_path(&dir, offset)).unwrap();
        }
        reopen_and_check(&dir, &offsets)
            .await
            .shutdown()
            .await
            .unwrap();
    });
}

#[test]
fn a_damaged_snapshot_is_removed_and_an_older_one_used() {
    let dir = TempDir::new("psnap-damaged");
    run(async move {
        let (offsets, _) = write_sealed_and_stop(&dir).await;
        let files = snapshot_files(&dir);
        assert!(files.len() >= 2, "roll and shutdown snapshots: {files:?}");
        let newest = snapshot_path(&dir, *files.last().unwrap());
        let mut bytes = std::fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        std::fs::write(&newest, &bytes).unwrap();
        let partitions = reopen_and_check(&dir, &offsets).await;
        // Removed; the rebuild from the older one (which replayed batches)
        // may have written a good one at the same offset since.
        let now = std::fs::read(&newest).ok();
        assert_ne!(now, Some(bytes), "the damaged snapshot is removed");
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn snapshots_outside_the_log_are_removed() {
    let dir = TempDir::new("psnap-outside");
    run(async move {
        let (offsets, end) = write_sealed_and_stop(&dir).await;
        // A snapshot past the end (the log was cut below it) would claim
        // batches the log does not hold; a temp file is an unfinished write.
        let beyond = snapshot_path(&dir, end + 100);
        std::fs::copy(snapshot_path(&dir, end), &beyond).unwrap();
        let temp = partition_dir(&dir).join("00000000000000000001.snapshot.tmp");
        std::fs::write(&temp, b"x").unwrap();
        let partitions = reopen_and_check(&dir, &offsets).await;
        assert!(!beyond.exists() && !temp.exists());
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn a_bounded_number_of_snapshots_is_kept_and_retention_removes_them() {
    let dir = TempDir::new("psnap-bounded");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, true).await;
        for sequence in 0..40 {
            let batch = producer_batch(PRODUCER, 0, sequence, 1);
            append_synced(&partition, batch).await;
            append_synced(&partition, plain_batch(1, FILLER_VALUE_BYTES, 7)).await;
        }
        let segments = partition.log().segment_count();
        assert!(
            segments > PRODUCER_SNAPSHOTS_RETAINED + 2,
            "{segments} segments"
        );
        let end = partition.log().log_end_offset();
        partitions.shutdown().await.unwrap();
        let files = snapshot_files(&dir);
        assert_eq!(files.len(), PRODUCER_SNAPSHOTS_RETAINED, "{files:?}");
        assert_eq!(files.last(), Some(&end));

        // Retention down to the active segment takes the snapshots named
        // like the deleted segments with them.
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, true).await;
        let keep_one_segment = LogConfig {
            retention_bytes: 0,
            ..small_config()
        };
        partition.set_config(keep_one_segment);
        partition.log().apply_retention_now().await.unwrap();
        let start = partition.log().log_start_offset();
        assert!(snapshot_files(&dir).iter().all(|&offset| offset >= start));
        let retry = append(&partition, producer_batch(PRODUCER, 0, 39, 1)).await;
        assert!(retry.2, "the producer's last batch is still known");
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn producers_idle_past_the_expiration_are_forgotten_at_open() {
    let dir = TempDir::new("psnap-expired");
    run(async move {
        write_sealed_and_stop(&dir).await;
        // The batches carry 2023 timestamps: a day's expiration is long past.
        let partitions = partitions_with(&dir, ProducerStateConfig::default());
        let partition = open(&partitions, true).await;
        let unknown = append(&partition, producer_batch(PRODUCER, 0, 9, 1)).await;
        assert!(!unknown.2, "a forgotten producer starts at any sequence");
        partitions.shutdown().await.unwrap();
    });
}

#[test]
fn a_full_producer_table_refuses_a_new_producer() {
    let dir = TempDir::new("psnap-full");
    run(async move {
        let two = ProducerStateConfig {
            producers_max: 2,
            ..NEVER_EXPIRE
        };
        let partitions = partitions_with(&dir, two);
        let partition = open(&partitions, true).await;
        append(&partition, producer_batch(1, 0, 0, 1)).await;
        append(&partition, producer_batch(2, 0, 0, 1)).await;
        assert_eq!(
            refused(&partition, producer_batch(3, 0, 0, 1)).await,
            error_code::THROTTLING_QUOTA_EXCEEDED
        );
        assert_eq!(
            append(&partition, producer_batch(1, 0, 0, 1)).await,
            (0, 0, true)
        );
        assert_eq!(
            append(&partition, plain_batch(1, 10, 7)).await,
            (2, 2, false)
        );
        partitions.shutdown().await.unwrap();
    });
}

/// Appends filler batches until the log has `count` segments.
async fn fill_to_segments(partition: &Partition, count: usize) {
    while partition.log().segment_count() < count {
        append_synced(partition, plain_batch(1, FILLER_VALUE_BYTES, 7)).await;
    }
}

/// A snapshot at the log end (as a clean stop takes), on disk.
async fn snapshot_at_log_end(dir: &TempDir, partition: &Partition) -> i64 {
    let end = partition.log().log_end_offset();
    partition.snapshot_producers(end);
    wait_until("the snapshot at the log end", || {
        snapshot_files(dir).contains(&end)
    })
    .await;
    end
}

/// A follower's cut into an earlier segment removes every snapshot past
/// it (the later segments' and the one at the old log end, which is no
/// segment base) through the partition's snapshot set, whose newest is
/// then inside the log again; the producer state is the log's.
#[test]
fn a_cut_across_segments_removes_every_snapshot_past_it() {
    let dir = TempDir::new("psnap-cut-segments");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, true).await;
        let offsets = producer_batches_in_sealed_segment(&partition).await;
        fill_to_segments(&partition, 3).await;
        let end = snapshot_at_log_end(&dir, &partition).await;
        // The first filler batch, in the first segment.
        let cut = offsets[2].1 + 1;
        partition.truncate_as_follower(cut).await.unwrap();
        assert_eq!(partition.log().log_end_offset(), cut);
        assert_eq!(segment_bases(&dir), vec![0]);
        let left = snapshot_files(&dir);
        assert!(
            left.iter().all(|&offset| offset <= cut),
            "snapshots {left:?}, cut {cut}, old end {end}"
        );
        let newest = partition.snapshots.newest();
        assert!(
            newest.is_none_or(|offset| offset <= cut),
            "known newest {newest:?}"
        );
        assert_producer_known(&partition, &offsets).await;
        partitions.shutdown().await.unwrap();
    });
}

/// A follower that starts over at its leader's log start (Kafka's
/// `truncateFullyAndStartAt`) keeps no snapshot of the log it deleted.
#[test]
fn a_follower_starting_over_removes_every_snapshot() {
    let dir = TempDir::new("psnap-start-over");
    run(async move {
        let partitions = partitions_with(&dir, NEVER_EXPIRE);
        let partition = open(&partitions, true).await;
        producer_batches_in_sealed_segment(&partition).await;
        let end = snapshot_at_log_end(&dir, &partition).await;
        partition.restart_as_follower_at(end + 100).await.unwrap();
        assert_eq!(snapshot_files(&dir), Vec::<i64>::new());
        assert_eq!(partition.snapshots.newest(), None);
        partitions.shutdown().await.unwrap();
    });
}
