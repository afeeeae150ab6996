//! Disk use of preallocation (`preallocation.rs`): it follows each
//! partition's writes, not the partition count, and idle partitions give it
//! back without losing anything.

use super::segment::align_up;
use super::tests::{
    file_sizes, new_storage, open, plain_batch, read_all, run, segment_files, TempDir, TOPIC,
};
use super::*;
use std::time::Duration;

const PARTITIONS: i32 = 50;
/// `st_blocks` also counts extent tree blocks of a file extended in many
/// steps: allowed on top of the data's blocks.
const EXTENT_BLOCKS_SLACK_BYTES: u64 = 16 << 10;

#[test]
fn many_partitions_reserve_disk_by_their_data_not_their_count() {
    let dir = TempDir::new("prealloc-many");
    run(async move {
        let limits = StorageLimits::default();
        let step_min = limits.preallocate_step_bytes_min;
        let storage = new_storage(&dir, limits);
        let mut data_bytes = 0;
        for partition in 0..PARTITIONS {
            let log = storage
                .open_partition(TOPIC, partition, None, LogConfig::default(), true)
                .await
                .unwrap();
            for _ in 0..3 {
                let result = log.append(vec![plain_batch(1, 1000, 1)], 0).await.unwrap();
                log.wait_durable(result.last_offset, Durability::Written)
                    .await
                    .unwrap();
            }
            data_bytes += log.size_bytes();
        }
        let allocated: u64 = (0..PARTITIONS)
            .map(|partition| {
                let path = dir
                    .0
                    .join(format!("{TOPIC}-{partition}"))
                    .join("00000000000000000000.log");
                file_sizes(&path).1
            })
            .sum();
        // Each partition holds ~3 KB in one block and reserves at most one
        // small step past it (the old 64 MiB steps: 3.2 GB here).
        let per_partition = align_up(data_bytes / PARTITIONS as u64) + step_min;
        let bound = PARTITIONS as u64 * (per_partition + EXTENT_BLOCKS_SLACK_BYTES);
        assert!(
            allocated <= bound,
            "allocated {allocated} bytes for {data_bytes} bytes of data (bound {bound})"
        );
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_busy_partition_grows_its_steps_and_a_roll_gives_the_rest_back() {
    let dir = TempDir::new("prealloc-busy");
    run(async move {
        let limits = StorageLimits {
            preallocate_step_bytes_min: 64 << 10,
            preallocate_step_bytes_max: 1 << 20,
            ..StorageLimits::default()
        };
        let storage = new_storage(&dir, limits);
        let config = LogConfig {
            segment_bytes: 4 << 20,
            ..LogConfig::default()
        };
        let log = open(&storage, config, true).await;
        let mut largest_ahead = 0;
        while segment_files(&dir).len() < 2 {
            let result = log.append(vec![plain_batch(10, 6000, 1)], 0).await.unwrap();
            log.wait_durable(result.last_offset, Durability::Written)
                .await
                .unwrap();
            // Measured on the first segment only: after a roll the old
            // file keeps its preallocation until its seal cuts it (`roll.rs`),
            // so the bytes past the data are not known from file sizes.
            let files = segment_files(&dir);
            if let [active] = &files[..] {
                let (file_len, _) = file_sizes(active);
                largest_ahead = largest_ahead.max(file_len.saturating_sub(log.size_bytes()));
            }
        }
        // The step grew past the first one, and never beyond the largest.
        assert!(largest_ahead > 128 << 10, "{largest_ahead}");
        assert!(largest_ahead <= (1 << 20) + 4096, "{largest_ahead}");
        // The sealed segment was cut to its data by its seal, which the
        // flusher does after the roll (`roll.rs`): done once synced.
        let end = log.log_end_offset() - 1;
        log.wait_durable(end, Durability::Synced).await.unwrap();
        let sealed = segment_files(&dir)[0].clone();
        let (len, blocks) = file_sizes(&sealed);
        assert_eq!(len, sealed_bytes(&dir));
        assert!(
            blocks <= align_up(len) + EXTENT_BLOCKS_SLACK_BYTES,
            "{blocks} blocks for {len} bytes"
        );
        storage.shutdown().await.unwrap();
    });
}

fn sealed_bytes(dir: &TempDir) -> u64 {
    let files = segment_files(dir);
    files[..files.len() - 1]
        .iter()
        .map(|path| file_sizes(path).0)
        .sum()
}

/// The idle limit of the give-back test.
const IDLE_TEST_MS: u64 = 1_500;

#[test]
fn an_idle_partition_gives_its_preallocation_back_and_loses_nothing() {
    let dir = TempDir::new("prealloc-idle");
    run(async move {
        // Idle long enough that five appends on a loaded CI machine never
        // look idle (50 ms did, once), short enough for a unit test.
        let limits = StorageLimits {
            preallocation_idle_ms: IDLE_TEST_MS,
            ..StorageLimits::default()
        };
        let storage = new_storage(&dir, limits.clone());
        let log = open(&storage, LogConfig::default(), true).await;
        for _ in 0..5 {
            let result = log.append(vec![plain_batch(1, 3000, 7)], 0).await.unwrap();
            log.wait_durable(result.last_offset, Durability::Synced)
                .await
                .unwrap();
        }
        let active = segment_files(&dir).pop().unwrap();
        let written = log.size_bytes();
        assert!(file_sizes(&active).0 > align_up(written));
        // Not idle yet: nothing given back.
        storage.give_back_idle_preallocations().await;
        assert!(file_sizes(&active).0 > align_up(written));
        glommio::timer::sleep(Duration::from_millis(IDLE_TEST_MS + 100)).await;
        storage.give_back_idle_preallocations().await;
        let (len, blocks) = file_sizes(&active);
        assert_eq!(len, align_up(written));
        assert!(
            blocks <= align_up(written) + EXTENT_BLOCKS_SLACK_BYTES,
            "{blocks} blocks for {written} bytes"
        );
        // Appends go on (the file is extended again) and everything reads.
        let more = log.append(vec![plain_batch(1, 3000, 7)], 0).await.unwrap();
        log.wait_durable(more.last_offset, Durability::Synced)
            .await
            .unwrap();
        assert_eq!(read_all(&log, 0).await.len(), 6);
        // After a crash (no shutdown), recovery finds the same end.
        drop((log, storage));
        let storage = new_storage(&dir, limits);
        let log = open(&storage, LogConfig::default(), false).await;
        assert_eq!(log.log_end_offset(), 6);
        // Opening reserves nothing past the data.
        assert_eq!(file_sizes(&active).0, log.size_bytes());
        storage.shutdown().await.unwrap();
    });
}
