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

/// A storage whose room starts at `initial` and may grow to `bound`, with
/// one partition open and `appends` batches of about 1 KiB written to it.
async fn demand_room_log(
    dir: &TempDir,
    initial: usize,
    bound: usize,
    appends: usize,
) -> (Rc<ShardStorage>, Rc<PartitionLog>) {
    let limits = StorageLimits {
        recent_bytes_per_shard_initial: initial,
        ..shared_room_limits(bound)
    };
    let storage = new_storage(dir, limits);
    let log = storage
        .open_partition(TOPIC, 0, None, LogConfig::default(), true)
        .await
        .unwrap();
    for _ in 0..appends {
        append_until(&log, plain_batch(1, 1000, 1), Durability::Written).await;
    }
    (storage, log)
}

/// Bytes the log misses for a read from `position` of its first segment.
fn missed_from(log: &PartitionLog, position: u64) -> usize {
    let first = log.state.borrow().recent.front().unwrap().position;
    (first - position) as usize
}

fn with_headroom(bytes: usize) -> usize {
    bytes + bytes / 4
}

#[test]
fn the_room_starts_small_and_grows_by_what_a_read_from_disk_missed() {
    let dir = TempDir::new("shard-memory-demand");
    run(async move {
        let initial = 16 * 1024;
        let (storage, log) = demand_room_log(&dir, initial, 256 * 1024, 60).await;
        // No read asked for more: a producer alone fills only the start.
        assert_eq!(storage.recent_limit(), initial);
        assert!(storage.recent_bytes() <= initial);
        // Reads from memory do not grow it.
        let newest = log.read(59, up_to_log_end(100_000, true)).await.unwrap();
        assert!(newest.pieces.iter().all(|p| matches!(p, Piece::Mem(_))));
        assert_eq!(storage.recent_limit(), initial);
        // Loading a partition's state is not a reader's demand.
        let load = log.read_for_load(0, up_to_log_end(64 * 1024, true));
        assert!(matches!(load.await.unwrap().pieces[..], [Piece::File(_)]));
        assert_eq!(storage.recent_limit(), initial);
        // A consumer from the start reads the file, and the room grows by
        // what it missed (the bytes before the oldest batch held) and a
        // quarter more, over what the shard holds: the read serves more
        // than a quarter of the miss, so its step is the whole miss.
        let held = storage.recent_bytes();
        let missed = missed_from(&log, 0);
        let oldest = log.read(0, up_to_log_end(64 * 1024, true)).await.unwrap();
        assert!(matches!(oldest.pieces[..], [Piece::File(_)]));
        assert_eq!(storage.recent_limit(), held + with_headroom(missed));
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
        assert_eq!(read_all(&log, 0).await.len(), 120);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_small_read_of_an_old_offset_grows_the_room_by_a_few_times_what_it_read() {
    let dir = TempDir::new("shard-memory-demand-probe");
    run(async move {
        let initial = 8 * 1024;
        let (storage, log) = demand_room_log(&dir, initial, 256 * 1024, 60).await;
        // A lag probe: one batch at offset 0, some 50 KiB behind the memory.
        let probe = log.read(0, up_to_log_end(1, true)).await.unwrap();
        let [Piece::File(region)] = &probe.pieces[..] else {
            panic!("{:?}", probe.pieces.len())
        };
        let step = region.len as usize * super::recent_budget::MISS_GROWTH_PER_BYTE_READ;
        assert!(step < missed_from(&log, 0));
        assert_eq!(storage.recent_limit(), initial + with_headroom(step));
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn data_no_room_could_hold_does_not_grow_it_and_it_stops_at_the_bound() {
    let dir = TempDir::new("shard-memory-demand-bound");
    run(async move {
        let initial = 8 * 1024;
        let bound = 24 * 1024;
        let (storage, log) = demand_room_log(&dir, initial, bound, 30).await;
        // From the start: what the log holds and what it missed together
        // exceed the bound, so no room would have served it.
        let held = storage.recent_bytes();
        assert!(held + missed_from(&log, 0) > bound);
        log.read(0, up_to_log_end(64 * 1024, true)).await.unwrap();
        assert_eq!(storage.recent_limit(), initial);
        // From a batch whose miss fits the bound with what the log holds,
        // but not with the headroom: the room grows to the bound, no further.
        let mut offset = 0;
        while held + missed_from(&log, position_of(&log, offset).await) > bound {
            offset += 1;
        }
        let position = position_of(&log, offset).await;
        assert!(held + with_headroom(missed_from(&log, position)) > bound);
        let read = log
            .read(offset, up_to_log_end(64 * 1024, true))
            .await
            .unwrap();
        assert!(matches!(read.pieces[..], [Piece::File(_)]));
        assert_eq!(storage.recent_limit(), bound);
        storage.shutdown().await.unwrap();
    });
}

/// Where the batch holding `offset` starts in the first segment.
async fn position_of(log: &PartitionLog, offset: i64) -> u64 {
    let read = log
        .read_for_load(offset, up_to_log_end(1, true))
        .await
        .unwrap();
    match &read.pieces[..] {
        [Piece::File(region)] => region.position,
        _ => panic!("offset {offset} is not on disk"),
    }
}

#[test]
fn misses_while_memory_is_short_do_not_grow_the_room() {
    let dir = TempDir::new("shard-memory-demand-pressure");
    run(async move {
        let initial = 16 * 1024;
        let (storage, log) = demand_room_log(&dir, initial, 256 * 1024, 60).await;
        storage.set_recent_room(8 * 1024).await;
        log.read(0, up_to_log_end(64 * 1024, true)).await.unwrap();
        assert_eq!(storage.recent_limit(), 8 * 1024);
        // Memory back: the room is what reads had asked for before.
        storage.set_recent_room(usize::MAX).await;
        assert_eq!(storage.recent_limit(), initial);
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_read_past_a_logs_own_cap_does_not_grow_the_room() {
    let dir = TempDir::new("shard-memory-demand-capped");
    run(async move {
        let initial = 16 * 1024;
        let (storage, log) = demand_room_log(&dir, initial, 256 * 1024, 0).await;
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

#[test]
fn a_read_from_an_older_segment_misses_every_segment_up_to_the_memory() {
    let dir = TempDir::new("shard-memory-demand-segments");
    run(async move {
        let initial = 8 * 1024;
        let limits = StorageLimits {
            recent_bytes_per_shard_initial: initial,
            ..shared_room_limits(256 * 1024)
        };
        let storage = new_storage(&dir, limits);
        let log = storage
            .open_partition(TOPIC, 0, None, small_config(), true)
            .await
            .unwrap();
        for _ in 0..60 {
            append_until(&log, plain_batch(1, 1000, 1), Durability::Written).await;
        }
        // Three sealed segments behind the memory, which begins inside the
        // active one: a larger room would have held all of them.
        let missed = {
            let state = log.state.borrow();
            let first = state.recent.front().unwrap();
            assert_eq!(first.segment_base, state.active.base_offset);
            assert!(state.sealed.len() >= 3, "{}", state.sealed.len());
            let sealed: u64 = state.sealed.values().map(|segment| segment.size).sum();
            (sealed + first.position) as usize
        };
        let held = storage.recent_bytes();
        let oldest = log.read(0, up_to_log_end(64 * 1024, true)).await.unwrap();
        let [Piece::File(region)] = &oldest.pieces[..] else {
            panic!("{}", oldest.pieces.len())
        };
        // The read serves its whole first segment, more than a quarter of
        // the miss: the step is the whole miss.
        let step_bound = region.len as usize * super::recent_budget::MISS_GROWTH_PER_BYTE_READ;
        assert!(step_bound >= missed, "{step_bound} < {missed}");
        assert_eq!(storage.recent_limit(), held + with_headroom(missed));
        storage.shutdown().await.unwrap();
    });
}

#[test]
fn a_long_polls_re_reads_of_one_position_grow_the_room_once() {
    let dir = TempDir::new("shard-memory-demand-re-read");
    run(async move {
        let initial = 8 * 1024;
        let (storage, log) = demand_room_log(&dir, initial, 256 * 1024, 60).await;
        // A probe whose growth is bound by its step, read again as a long
        // poll's passes do: the second pass is the same read.
        log.read(0, up_to_log_end(1, true)).await.unwrap();
        let grown = storage.recent_limit();
        assert!(grown > initial);
        log.read(0, up_to_log_end(1, true)).await.unwrap();
        assert_eq!(storage.recent_limit(), grown);
        // The reader moving on is a new read.
        log.read(1, up_to_log_end(1, true)).await.unwrap();
        assert!(storage.recent_limit() > grown);
        storage.shutdown().await.unwrap();
    });
}
