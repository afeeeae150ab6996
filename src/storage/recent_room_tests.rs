//! The shard's recent-batch room shared by demand (`recent_budget.rs`):
//! idle partitions give theirs up first, a busy one keeps most of the room,
//! a small one's writes take only what they add, a follower's cap.

use super::*;

/// No bound per partition (the default): partitions share the shard's
/// `bound_bytes`, down to 4 KiB floors.
fn shared_room_limits(bound_bytes: usize) -> StorageLimits {
    StorageLimits {
        recent_bytes_per_partition: usize::MAX,
        recent_bytes_per_partition_min: 4096,
        recent_bytes_per_shard_max: bound_bytes,
        ..StorageLimits::default()
    }
}

/// A storage with [`shared_room_limits`] and two partitions open in it.
async fn two_logs_sharing(
    dir: &TempDir,
    bound_bytes: usize,
) -> (Rc<ShardStorage>, Vec<Rc<PartitionLog>>) {
    let storage = new_storage(dir, shared_room_limits(bound_bytes));
    let mut logs = Vec::new();
    for partition in 0..2 {
        let log = storage.open_partition(TOPIC, partition, None, LogConfig::default(), true);
        logs.push(log.await.unwrap());
    }
    (storage, logs)
}

#[test]
fn shard_memory_bound_evicts_the_idle_partition_before_the_busy_one() {
    let dir = TempDir::new("shard-memory");
    run(async move {
        let bound = 32 * 1024;
        let storage = new_storage(&dir, shared_room_limits(bound));
        let logs = [
            storage
                .open_partition(TOPIC, 0, None, LogConfig::default(), true)
                .await
                .unwrap(),
            storage
                .open_partition(TOPIC, 1, None, LogConfig::default(), true)
                .await
                .unwrap(),
        ];
        for (log, appends) in logs.iter().zip([20, 40]) {
            for _ in 0..appends {
                let result = log.append(vec![plain_batch(1, 1000, 1)], 0).await.unwrap();
                log.wait_durable(result.last_offset, Durability::Written)
                    .await
                    .unwrap();
            }
            let idle = std::time::Duration::from_millis(super::recent_budget::RECENT_IDLE_MS);
            glommio::timer::sleep(idle + std::time::Duration::from_millis(100)).await;
        }
        // Partition 0 went idle: the hand evicted it. Partition 1, appended
        // to all along, kept the shard's room (its oldest batches left
        // first), not just its floor.
        assert!(logs[0].recent_bytes_held() == 0);
        let busy = logs[1].recent_bytes_held();
        assert!(busy > bound - 4 * 1024, "the busy partition holds {busy}");
        assert!(
            storage.recent_bytes() <= bound,
            "{}",
            storage.recent_bytes()
        );
        let newest = logs[1]
            .read(39, up_to_log_end(100_000, true))
            .await
            .unwrap();
        assert!(newest.pieces.iter().all(|p| matches!(p, Piece::Mem(_))));
        storage.run_retention().await;
        assert!(storage.recent_bytes() <= bound);
        for (log, appends) in logs.iter().zip([20, 40]) {
            assert_eq!(read_all(log, 0).await.len(), appends);
        }
        storage.shutdown().await.unwrap();
        drop(logs);
        assert_eq!(storage.recent_bytes(), 0);
    });
}

#[test]
fn a_small_partitions_writes_take_from_a_busy_one_only_what_they_add() {
    let dir = TempDir::new("shard-memory-small-writer");
    run(async move {
        let bound = 64 * 1024;
        let (storage, logs) = two_logs_sharing(&dir, bound).await;
        let batch = || plain_batch(1, 1000, 1);
        for _ in 0..100 {
            append_until(&logs[0], batch(), Durability::Written).await;
        }
        for _ in 0..5 {
            append_until(&logs[1], batch(), Durability::Written).await;
            append_until(&logs[0], batch(), Durability::Written).await;
        }
        // The small partition's batches came out of the busy one's room, a
        // batch at a time; the busy one was never cut to its floor.
        let busy = logs[0].recent_bytes_held();
        let small = logs[1].recent_bytes_held();
        assert!(busy > bound - 12 * 1024, "busy {busy}, small {small}");
        assert!(storage.recent_bytes() <= bound);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_capped_log_keeps_only_its_cap_until_the_cap_is_lifted() {
    let dir = TempDir::new("recent-cap");
    run(async move {
        let storage = new_storage(&dir, shared_room_limits(1 << 20));
        let log = open(&storage, LogConfig::default(), true).await;
        let append = |count: usize| {
            let log = log.clone();
            async move {
                for _ in 0..count {
                    append_until(&log, plain_batch(1, 1000, 1), Durability::Written).await;
                }
            }
        };
        append(40).await;
        assert!(log.recent_bytes_held() > 30 * 1024);
        // A follower's cap: evicted at once, then kept to it (the batches
        // over the partial last block stay, as within any budget).
        let cap = 8 * 1024;
        let partial_block = crate::storage::segment::WRITE_ALIGNMENT_BYTES as usize;
        log.set_recent_bytes_cap(cap);
        assert!(log.recent_bytes_held() <= cap + partial_block);
        append(20).await;
        assert!(log.recent_bytes_held() <= cap + partial_block);
        assert_eq!(read_all(&log, 0).await.len(), 60);
        // Leading again: it keeps what it writes from then on.
        log.set_recent_bytes_cap(usize::MAX);
        append(40).await;
        assert!(log.recent_bytes_held() > 30 * 1024);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn two_busy_partitions_share_the_shard_bound_without_dropping_to_their_floors() {
    let dir = TempDir::new("shard-memory-two-busy");
    run(async move {
        let bound = 64 * 1024;
        let (storage, logs) = two_logs_sharing(&dir, bound).await;
        for _ in 0..200 {
            for log in &logs {
                let result = log.append(vec![plain_batch(1, 1000, 1)], 0).await.unwrap();
                log.wait_durable(result.last_offset, Durability::Written)
                    .await
                    .unwrap();
            }
        }
        let held: Vec<usize> = logs.iter().map(|log| log.recent_bytes_held()).collect();
        assert!(storage.recent_bytes() <= bound, "{held:?}");
        // Both in use: each keeps a large share, far above its 4 KiB floor.
        assert!(held.iter().all(|&h| h > bound / 4), "{held:?}");
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_shrunk_room_is_met_at_once_by_idle_logs_and_kept_until_it_grows_back() {
    let dir = TempDir::new("shard-memory-shrunk-room");
    run(async move {
        let bound = 64 * 1024;
        let (storage, logs) = two_logs_sharing(&dir, bound).await;
        for _ in 0..20 {
            for log in &logs {
                append_until(log, plain_batch(1, 1000, 1), Durability::Written).await;
            }
        }
        assert!(storage.recent_bytes() > bound / 2);
        // Memory ran short: the room shrinks with no write round to follow,
        // and the eviction meets it by itself.
        let small_room = 8 * 1024;
        storage.set_recent_room(small_room).await;
        assert_eq!(storage.recent_room(), (small_room, bound));
        assert!(
            storage.recent_bytes() <= small_room,
            "{}",
            storage.recent_bytes()
        );
        // Writes keep to the small room; every record reads back from disk.
        for _ in 0..20 {
            append_until(&logs[0], plain_batch(1, 1000, 1), Durability::Written).await;
        }
        assert!(
            storage.recent_bytes() <= small_room,
            "{}",
            storage.recent_bytes()
        );
        assert_eq!(read_all(&logs[0], 0).await.len(), 40);
        assert_eq!(read_all(&logs[1], 0).await.len(), 20);
        // Grown back (never past the configured bound), the room fills again.
        storage.set_recent_room(usize::MAX).await;
        assert_eq!(storage.recent_room(), (bound, bound));
        for _ in 0..40 {
            append_until(&logs[0], plain_batch(1, 1000, 1), Durability::Written).await;
        }
        assert!(
            storage.recent_bytes() > bound / 2,
            "{}",
            storage.recent_bytes()
        );
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn the_room_starts_small_and_grows_by_what_a_read_from_disk_missed() {
    let dir = TempDir::new("shard-memory-demand");
    run(async move {
        let initial = 16 * 1024;
        let bound = 256 * 1024;
        let limits = StorageLimits {
            recent_bytes_per_shard_initial: initial,
            ..shared_room_limits(bound)
        };
        let storage = new_storage(&dir, limits);
        let log = storage
            .open_partition(TOPIC, 0, None, LogConfig::default(), true)
            .await
            .unwrap();
        for _ in 0..60 {
            append_until(&log, plain_batch(1, 1000, 1), Durability::Written).await;
        }
        // No read asked for more: a producer alone fills only the start.
        assert_eq!(storage.recent_limit(), initial);
        assert!(storage.recent_bytes() <= initial);
        // Reads from memory do not grow it.
        let newest = log.read(59, up_to_log_end(100_000, true)).await.unwrap();
        assert!(newest.pieces.iter().all(|p| matches!(p, Piece::Mem(_))));
        assert_eq!(storage.recent_limit(), initial);
        // A consumer from the start reads the file, and the room grows by
        // what it missed (the bytes before the oldest batch held) and a
        // quarter more, over what the shard holds.
        let held = storage.recent_bytes();
        let missed = log.state.borrow().recent.front().unwrap().position as usize;
        let oldest = log.read(0, up_to_log_end(4096, true)).await.unwrap();
        assert!(matches!(oldest.pieces[..], [Piece::File(_)]));
        assert_eq!(storage.recent_limit(), held + missed + missed / 4);
        // Later writes fill the grown room.
        for _ in 0..60 {
            append_until(&log, plain_batch(1, 1000, 1), Durability::Written).await;
        }
        assert!(
            storage.recent_bytes() > 2 * initial,
            "{}",
            storage.recent_bytes()
        );
        assert!(storage.recent_bytes() <= storage.recent_limit());
        // Never past the bound, however far behind the read.
        for _ in 0..300 {
            append_until(&log, plain_batch(1, 1000, 1), Durability::Written).await;
        }
        log.read(0, up_to_log_end(4096, true)).await.unwrap();
        assert_eq!(storage.recent_limit(), bound);
        assert_eq!(read_all(&log, 0).await.len(), 420);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_read_past_a_logs_own_cap_does_not_grow_the_room() {
    let dir = TempDir::new("shard-memory-demand-capped");
    run(async move {
        let initial = 16 * 1024;
        let limits = StorageLimits {
            recent_bytes_per_shard_initial: initial,
            ..shared_room_limits(256 * 1024)
        };
        let storage = new_storage(&dir, limits);
        let log = storage
            .open_partition(TOPIC, 0, None, LogConfig::default(), true)
            .await
            .unwrap();
        // A follower's cap: a larger room would not hold more of it.
        log.set_recent_bytes_cap(4096);
        for _ in 0..40 {
            append_until(&log, plain_batch(1, 1000, 1), Durability::Written).await;
        }
        let oldest = log.read(0, up_to_log_end(4096, true)).await.unwrap();
        assert!(matches!(oldest.pieces[..], [Piece::File(_)]));
        assert_eq!(storage.recent_limit(), initial);
        storage.shutdown().await.unwrap();
    });
}
